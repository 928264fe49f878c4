"""Benchmark: what each display size costs to encode in each format, and what it saves.

    python benchmarks/bench_formats.py [PHOTO ...] [--repeat 3]

For a generated 3000x2000 photo-like picture (and any photos given), resized once to each
display width (400, 800, 1600, 2400), prints per format and setting: the encoding time (CPU
seconds of one core, best of --repeat), the file size and the PSNR against the resized
picture (a rough equal-quality check: the defaults aim at similar PSNR). Then the resize
itself, directly from the decode and cascaded (each size from a larger one), with the PSNR
between the two. The figures behind the defaults in config.py (JPEG q82, WebP q80 at
effort 4 up to 1000 px and 2 above, AVIF only on request).
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from _common import photo_like
from PIL import Image, features

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cvgallery.stages.resize import _resize, _resize_all  # noqa: E402

WIDTHS = (400, 800, 1600, 2400)
ENCODERS: list[tuple[str, str, dict[str, int]]] = [
    ("jpeg q82", "JPEG", {"quality": 82}),
    ("webp q80 effort 4", "WEBP", {"quality": 80, "method": 4}),
    ("webp q80 effort 2", "WEBP", {"quality": 80, "method": 2}),
    ("webp q80 effort 0", "WEBP", {"quality": 80, "method": 0}),
]
if features.check("avif"):
    ENCODERS += [
        ("avif q60 speed 6", "AVIF", {"quality": 60, "speed": 6}),
        ("avif q60 speed 8", "AVIF", {"quality": 60, "speed": 8}),
    ]


def cpu(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.process_time()
        result = fn()
        best = min(best, time.process_time() - start)
    return best, result


def psnr(a: Image.Image, b: Image.Image) -> float:
    x = np.asarray(a.convert("RGB"), dtype=np.float64)
    y = np.asarray(b.convert("RGB"), dtype=np.float64)
    mse = float(((x - y) ** 2).mean())
    return 99.0 if mse == 0 else 10 * float(np.log10(255**2 / mse))


def encode(im: Image.Image, fmt: str, kw: dict[str, int]) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def report(name: str, source: Image.Image, repeat: int) -> None:
    w, h = source.size
    print(f"\n{name} ({w}x{h})")
    print(f"  {'width':>5}  {'format':<18} {'ms':>6} {'KiB':>8} {'PSNR dB':>8}")
    totals: dict[str, float] = {}
    for width in WIDTHS:
        if width > w:
            continue
        small = source.resize((width, round(h * width / w)), Image.Resampling.LANCZOS)
        for label, fmt, kw in ENCODERS:
            seconds, data = cpu(lambda im=small, f=fmt, k=kw: encode(im, f, k), repeat)
            assert isinstance(data, bytes)
            quality = psnr(small, Image.open(io.BytesIO(data)))
            totals[label] = totals.get(label, 0.0) + seconds
            print(
                f"  {width:>5}  {label:<18} {seconds * 1000:6.0f} {len(data) / 1024:8.1f} "
                f"{quality:8.1f}"
            )
    print("  all widths:", ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in totals.items()))
    boxes = {(wd, round(h * wd / w)) for wd in WIDTHS if wd <= w}
    direct_s, direct = cpu(lambda: {b: _resize(source, b) for b in boxes}, repeat)
    cascade_s, cascaded = cpu(lambda: _resize_all(source, boxes), repeat)
    assert isinstance(direct, dict) and isinstance(cascaded, dict)
    worst = min(psnr(direct[b], cascaded[b]) for b in boxes if b != source.size)
    print(
        f"  resize to every width: {direct_s * 1000:.0f} ms from the decode, "
        f"{cascade_s * 1000:.0f} ms cascaded (worst PSNR between them {worst:.1f} dB)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("photos", nargs="*", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    report("generated photo-like picture", photo_like(3000, 2000, 3), args.repeat)
    for path in args.photos:
        with Image.open(path) as im:
            im.load()
            report(str(path), im.convert("RGB"), args.repeat)


if __name__ == "__main__":
    main()
