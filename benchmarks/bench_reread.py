"""Benchmark: `cvgallery reread --all` over an archive where most files have nothing to read.

    python benchmarks/bench_reread.py [--count 100000] [--with-words 0.05] [--size 1024x768]

A site under benchmarks/out/reread-<count>/ with ``count`` catalogued JPEGs (--size, one
photo-like picture with a distinct comment segment each; --with-words of them carry an
XMP title and caption and an EXIF date), registered straight through the catalog API with
their words forgotten, as a catalog made before schema 5 has them. Measured in the same run:

* floor: one Python loop opening each file with Pillow and reading its header
  (Image.open + read_image_meta), no catalog;
* `reread --all` as a subprocess, first run (fills the few with words);
* the same again (nothing new: every file is read again, since most still have empty fields);
* `reread --all` once every field is set (nothing left to fill: no file is read).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import shutil
import sys
import time
from pathlib import Path

from _common import OUT, cvgallery_cmd, measured, photo_like
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from picture_files import exif_block, xmp_packet  # noqa: E402

from cvgallery.catalog import Catalog, FileFacts, init_site  # noqa: E402
from cvgallery.commands.reread import FIELDS  # noqa: E402
from cvgallery.metadata import read_image_meta  # noqa: E402


def make_site(count: int, with_words: float, size: tuple[int, int]) -> Path:
    root = OUT / f"reread-{count}"
    if root.exists():
        shutil.rmtree(root)
    config = init_site(root)
    plain, worded = io.BytesIO(), io.BytesIO()
    picture = photo_like(*size, 1)
    picture.save(plain, "JPEG", quality=85)
    picture.save(
        worded,
        "JPEG",
        quality=85,
        exif=exif_block(taken="2020:01:02 03:04:05").tobytes(),
        xmp=xmp_packet(title="A title", description="A caption."),
    )
    every = max(1, round(1 / with_words)) if with_words > 0 else count + 1
    folder = config.art_dir / "upstream"
    with Catalog.open(root) as catalog, catalog.transaction():
        for i in range(count):
            base = (worded if i % every == 0 else plain).getvalue()
            comment = f"n{i:08d}".encode()
            data = base[:2] + b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment
            data += base[2:]
            name = f"img{i:07d}.jpeg"
            (folder / name).write_bytes(data)
            facts = FileFacts(hashlib.sha256(data).hexdigest(), len(data), *size, "image/jpeg")
            catalog.images.add(name[:-5], facts, approved=True)
            catalog.artifacts.record(
                image_id=name[:-5], stage="upstream", file_path=f"upstream/{name}", facts=facts
            )
    return root


def floor(root: Path) -> float:
    start = time.perf_counter()
    for path in sorted((root / "art" / "upstream").iterdir()):
        with Image.open(path) as im:
            read_image_meta(im)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=20000)
    parser.add_argument("--with-words", type=float, default=0.05)
    parser.add_argument("--size", default="1024x768", help="WxH of the pictures")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    root = make_site(args.count, args.with_words, (width, height))
    reread = cvgallery_cmd("reread", "--root", str(root), "--all")
    base = floor(root)
    first = measured(reread)
    again = measured(reread)
    with Catalog.open(root) as catalog, catalog.transaction():
        for (image_id,) in catalog.conn.execute("SELECT id FROM images").fetchall():
            catalog.images.set_meta(image_id, dict.fromkeys(FIELDS, "x"))
    filled = measured(reread)
    per = 1e6 / args.count
    print(f"{args.count} images of {args.size}, {args.with_words:.0%} with words")
    print(f"floor (open + header, one loop): {base:7.2f} s  {base * per:6.0f} us/image")
    for label, run in (("reread --all", first), ("again", again), ("all filled", filled)):
        assert run.returncode == 0, run.stderr[-2000:]
        print(
            f"{label:<32} {run.seconds:7.2f} s  {run.seconds * per:6.0f} us/image  "
            f"x{run.seconds / base:.2f} of floor  peak {run.peak_rss_mb:.0f} MB"
        )
    print(first.stderr.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
