"""Benchmark: cvgallery add + process + build against a plain Pillow floor (and sigal).

    python benchmarks/bench_process.py [--count 120] [--noop-count 10000] [--no-sigal]

On one generated corpus of photographic-ish JPEGs (gradients + noise + shapes, 3000x2000,
cached in benchmarks/out/), times in the same run:
  (a) cvgallery: `add --approve`, `process` (every default output: the 400-px thumbnail
      and web copy, display sizes 800/1600/2400 in JPEG and 400/800/1600/2400 in WebP)
      and `build` (BlurHashes and the HTML), from an empty site made by `init`, each a
      real command;
  (b) the floor: a ProcessPool loop, one worker per core, making the same outputs with the
      same settings from one decode of each source (draft mode at the smallest DCT scale
      covering the largest output; each size resized from the smallest larger one that is
      1.5x its size, as cvgallery does): Pillow's own cost of these pictures, without a
      catalog, jobs or atomic writes;
  (c) sigal build with img_size = thumb_size = (400, 400), when installed (it makes only
      the two 400-px outputs: not the same work);
and a no-op `process` over --noop-count catalogued images (rows inserted directly, their
artifacts marked current), timed in-process and as a command.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

OUT = Path(__file__).resolve().parent / "out"


def make_photo(args: tuple[Path, int, int, int]) -> None:
    path, width, height, seed = args
    rng = random.Random(seed)
    sky = (
        Image.linear_gradient("L")
        .resize((width, height))
        .rotate(rng.uniform(-30, 30), expand=False)
    )
    tint = tuple(rng.randrange(60, 255) for _ in range(3))
    base = Image.merge("RGB", [sky.point(lambda v, t=t: v * t // 255) for t in tint])
    draw = ImageDraw.Draw(base)
    for _ in range(rng.randrange(6, 14)):
        x, y = rng.randrange(width), rng.randrange(height)
        r = rng.randrange(width // 20, width // 4)
        fill = tuple(rng.randrange(256) for _ in range(3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(
            (x - r, y - r, x + r, y + r), fill=fill
        )
    base = base.filter(ImageFilter.GaussianBlur(3))
    noise = Image.effect_noise((width // 2, height // 2), 24).resize((width, height))
    grain = Image.merge("RGB", [noise] * 3)
    photo = Image.blend(base, grain, 0.18)
    photo.save(path, "JPEG", quality=88)


def corpus(count: int, width: int, height: int) -> Path:
    folder = OUT / f"corpus-{width}x{height}"
    folder.mkdir(parents=True, exist_ok=True)
    wanted = [folder / f"photo_{i:04d}.jpeg" for i in range(count)]
    missing = [(p, width, height, i) for i, p in enumerate(wanted) if not p.exists()]
    if missing:
        print(f"generating {len(missing)} photos in {folder} ...", flush=True)
        with ProcessPoolExecutor() as pool:
            list(pool.map(make_photo, missing, chunksize=4))
    # Only the first `count` take part (a bigger cached corpus may be there).
    run = OUT / f"corpus-run-{count}"
    if run.exists():
        shutil.rmtree(run)
    run.mkdir()
    for p in wanted:
        os.link(p, run / p.name)
    return run


CPU = {"cvgallery": 0.0, "floor": 0.0, "sigal": 0.0, "noop": 0.0, "setup": 0.0, "process": 0.0}


def cpu_seconds() -> float:
    """User + system time of this process and its finished children: insensitive to other load."""
    own, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def timed(argv: list[str], account: str = "cvgallery", **kw: object) -> float:
    start, cpu = time.perf_counter(), cpu_seconds()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)  # type: ignore[call-overload]
    CPU[account] += cpu_seconds() - cpu
    return time.perf_counter() - start


def bench_cvgallery(photos: Path) -> dict[str, float]:
    site = OUT / "site-cvgallery"
    shutil.rmtree(site, ignore_errors=True)
    cvg = [sys.executable, "-m", "cvgallery"]
    timed([*cvg, "init", site], account="setup")  # the empty site the run starts from
    times = {"add": timed([*cvg, "add", photos, "--approve", "--root", site])}
    cpu = cpu_seconds()
    times["process"] = timed([*cvg, "process", "--root", site])
    CPU["process"] = cpu_seconds() - cpu
    # build then fills the web copies' BlurHashes and renders the HTML.
    times["build"] = timed([*cvg, "build", "--root", site])
    times["total"] = sum(times.values())
    times["noop process"] = timed([*cvg, "process", "--root", site], account="noop")
    times["noop build"] = timed([*cvg, "build", "--root", site], account="noop")
    return times


def bench_sigal(photos: Path) -> float | None:
    if shutil.which("sigal") is None:
        return None
    dest = OUT / "sigal-out"
    shutil.rmtree(dest, ignore_errors=True)
    conf = OUT / "sigal.conf.py"
    conf.write_text(
        f"source = {str(photos)!r}\ndestination = {str(dest)!r}\n"
        "img_size = (400, 400)\nthumb_size = (400, 400)\n"
        "keep_orig = False\nmake_thumbs = True\n"
    )
    return timed(
        ["sigal", "build", "-c", str(conf), "--ncpu", str(os.cpu_count() or 1)],
        "sigal",
    )


def default_outputs() -> list[tuple[str, int, str, str, int, int | None, int]]:
    """(stage, size, fit, format, quality, effort, min_source) of every default resize stage."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from cvgallery.config import parse_config

    config = parse_config(OUT, {})
    return [
        (name, c.settings.size, c.settings.fit, c.settings.format, c.settings.quality,
         c.settings.effort, c.settings.min_source)
        for name, c in sorted(config.stages.items())
        if c.kind == "resize" and c.input == "upstream"
    ]  # fmt: skip


OUTPUTS = default_outputs()


def floor_one(args: tuple[Path, Path]) -> None:
    src, out = args
    with Image.open(src) as im:
        w, h = im.size
        boxes = {}
        for stage, size, fit, _fmt, _q, _e, min_source in OUTPUTS:
            if min_source and (w if fit == "width" else max(w, h)) <= min_source:
                continue  # a size that would repeat a smaller one: cvgallery skips it too
            scale = min(1.0, size / w if fit == "width" else min(size / w, size / h))
            boxes[stage] = (max(1, round(w * scale)), max(1, round(h * scale)))
        biggest = max(boxes.values())
        im.draft("RGB", biggest)
        full = im.convert("RGB")
    made: dict[tuple[int, int], Image.Image] = {}
    for box in sorted(set(boxes.values()), key=lambda b: -b[0] * b[1]):
        bases = [p for p in made.values() if p.width >= 1.5 * box[0] and p.height >= 1.5 * box[1]]
        base = min(bases, key=lambda p: p.width, default=full)
        made[box] = full if base.size == box else base.resize(box, Image.Resampling.LANCZOS, reducing_gap=3.0)
    for stage, _size, _fit, fmt, quality, effort, _min in OUTPUTS:
        if stage not in boxes:
            continue
        box = boxes[stage]
        effort = effort if effort is not None else (4 if box[0] <= 1000 else 2)
        kw = {"quality": quality} if fmt == "jpeg" else {"quality": quality, "method": effort}
        made[box].save(out / f"{stage}-{src.stem}.{fmt}", fmt.upper(), **kw)


def bench_floor(photos: Path) -> float:
    out = OUT / "floor-out"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    files = sorted(photos.glob("*.jpeg"))
    start, cpu = time.perf_counter(), cpu_seconds()
    with ProcessPoolExecutor(os.cpu_count()) as pool:
        list(pool.map(floor_one, [(f, out) for f in files], chunksize=4))
    CPU["floor"] += cpu_seconds() - cpu
    return time.perf_counter() - start


def bench_noop(count: int) -> tuple[float, float]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from cvgallery.catalog import Catalog, init_site
    from cvgallery.process import process
    from cvgallery.stages.resize import resize_params

    site = OUT / "site-noop"
    shutil.rmtree(site, ignore_errors=True)
    config = init_site(site)
    conn = sqlite3.connect(config.db_path)
    stages = {s: config.stages[s] for s, *_ in OUTPUTS}
    import json

    with conn:
        for i in range(count):
            image_id, sha = f"img{i:05d}", f"{i:064x}"
            conn.execute(
                "INSERT INTO images (id, sha256, approved, width, height, mime_type) "
                "VALUES (?, ?, 1, 3000, 2000, 'image/jpeg')",
                (image_id, sha),
            )
            conn.execute(
                "INSERT INTO artifacts (image_id, stage, file_path, sha256) VALUES (?, 'upstream', ?, ?)",
                (image_id, f"upstream/{image_id}.jpeg", sha),
            )
            for name, cfg in stages.items():
                conn.execute(
                    "INSERT INTO artifacts (image_id, stage, file_path, sha256, width, height, "
                    "processing_params) VALUES (?, ?, ?, ?, 400, 267, ?)",
                    (
                        image_id,
                        name,
                        f"{name}/{image_id}.jpeg",
                        sha,
                        json.dumps(resize_params(cfg, sha), sort_keys=True),
                    ),
                )
    conn.close()
    with Catalog.open(site) as catalog:
        start = time.perf_counter()
        report = process(catalog)
        inproc = time.perf_counter() - start
    assert report.made == 0 and report.skipped == len(stages) * count, report
    cmd = timed([sys.executable, "-m", "cvgallery", "process", "--root", str(site)])
    return inproc, cmd


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=120)
    parser.add_argument("--width", type=int, default=3000)
    parser.add_argument("--height", type=int, default=2000)
    parser.add_argument("--noop-count", type=int, default=10_000)
    parser.add_argument("--no-sigal", action="store_true")
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    photos = corpus(args.count, args.width, args.height)
    n = args.count
    print(f"corpus: {n} JPEGs {args.width}x{args.height}, {os.cpu_count()} cores")

    floor = bench_floor(photos)
    cvg = bench_cvgallery(photos)
    sigal = None if args.no_sigal else bench_sigal(photos)

    def line(name: str, seconds: float) -> None:
        print(f"  {name:<34} {seconds:7.2f} s  {n / seconds:7.1f} images/s")

    print(f"  outputs per photo: {len(OUTPUTS)} ({', '.join(o[0] for o in OUTPUTS)})")
    line("floor (Pillow pool, same outputs)", floor)
    line("cvgallery process", cvg["process"])
    line("cvgallery add + process + build", cvg["total"])
    for step in ("add", "process", "build"):
        print(f"      {step:<30} {cvg[step]:7.2f} s")
    if sigal is not None:
        line("sigal build (400-px outputs only)", sigal)
    print(f"  ratio process/floor     {cvg['process'] / floor:5.2f}  (target <= 1.3)")
    print(f"  ratio all/floor         {cvg['total'] / floor:5.2f}  (add + process + build)")
    print(
        f"  CPU seconds (user+sys, all processes): floor {CPU['floor']:.2f}, "
        f"process {CPU['process']:.2f}, add+process+build {CPU['cvgallery']:.2f}"
        + (f", sigal {CPU['sigal']:.2f}" if sigal is not None else "")
    )
    print(f"  CPU ratio process/floor {CPU['process'] / CPU['floor']:5.2f}")
    print(f"  no-op process over the {n} photos (command): {cvg['noop process']:.2f} s")
    print(f"  no-op build over the {n} photos (command): {cvg['noop build']:.2f} s")
    inproc, cmd = bench_noop(args.noop_count)
    print(
        f"  no-op process over {args.noop_count} catalogued images: {inproc:.3f} s of work, "
        f"{cmd:.2f} s as a command (with interpreter start-up)  (target < 1 s)"
    )


if __name__ == "__main__":
    main()
