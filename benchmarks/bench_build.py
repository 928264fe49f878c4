"""Benchmark `cvgallery build --no-process` against sigal over the same pictures.

    python benchmarks/bench_build.py [--count 10000] [--no-sigal] [--keep]

A catalog of COUNT approved images, already processed and hashed, is made directly
(rows inserted, tiny real JPEGs written for web-optimized and thumbnails-small,
BlurHashes stored). Then, each in a fresh subprocess (so memory is the build's own):
the full build, the no-op rebuild, and a rebuild after one rejection. The same
pictures are then given to sigal: one full build, then its no-op rebuild, printed as a
ratio against cvgallery's no-op rebuild. Targets (issue 4): full < 10 s, no-op < 1.5 s,
peak memory < 300 MB, home page < 60 KB.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import shutil
import sys
import tempfile
import time
from pathlib import Path

import blurhash_rs
from _common import measured
from PIL import Image

from cvgallery.catalog import Catalog, init_site
from cvgallery.catalog import schema as db

USERS = 50


def tiny_jpeg(n: int, size: tuple[int, int], quality: int) -> bytes:
    im = Image.new("RGB", size, ((n * 37) % 256, (n * 91) % 256, (n * 53) % 256))
    im.putpixel((n % size[0], 0), (255 - (n % 256), n // 256 % 256, 7))
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def make_site(root: Path, count: int, sigal_src: Path | None) -> None:
    """COUNT approved images with web-optimized + thumbnail artifacts and BlurHashes."""
    config = init_site(root)
    art = config.art_dir
    images, artifacts, hashes = [], [], []
    for n in range(count):
        image_id = f"img{n:06d}"
        w, h = (24, 16) if n % 3 else (16, 24)
        web = tiny_jpeg(n, (w, h), 80)
        thumb = tiny_jpeg(n, (w, h), 60)
        for stage, data in (("web-optimized", web), ("thumbnails-small", thumb)):
            (art / stage / f"{image_id}.jpeg").write_bytes(data)
            artifacts.append(
                (
                    image_id,
                    stage,
                    f"{stage}/{image_id}.jpeg",
                    hashlib.sha256(data).hexdigest(),
                    w,
                    h,
                    len(data),
                )
            )
        if sigal_src is not None:
            album = sigal_src / f"album{n // 500:03d}"
            album.mkdir(parents=True, exist_ok=True)
            (album / f"{image_id}.jpeg").write_bytes(web)
        with Image.open(io.BytesIO(web)) as im:
            hashes.append((image_id, "web-optimized", blurhash_rs.blurhash_encode(im, 4, 3), w, h))
        stamp = f"2026-01-01 {n // 3600 % 24:02d}:{n // 60 % 60:02d}:{n % 60:02d}.{n % 1000:03d}"
        images.append(
            (
                image_id,
                hashlib.sha256(web + image_id.encode()).hexdigest(),
                f"https://example.com/{image_id}",
                f"user{n % USERS}",
                w * 20,
                h * 20,
                len(web),
                stamp,
            )
        )
    with Catalog.open(root) as catalog, db.transaction(catalog.conn) as conn:
        conn.executemany(
            """INSERT INTO images (id, sha256, original_url, username, approved, width, height,
                                   file_size, mime_type, created_at)
               VALUES (?, ?, ?, ?, 1, ?, ?, ?, 'image/jpeg', ?)""",
            images,
        )
        conn.executemany(
            """INSERT INTO artifacts (image_id, stage, file_path, sha256, width, height, file_size)
               VALUES (?, ?, ?, ?, ?, ?, ?)""",
            artifacts,
        )
        conn.executemany(
            """INSERT INTO blurhash_cache (image_id, stage, blurhash, width, height)
               VALUES (?, ?, ?, ?, ?)""",
            hashes,
        )


def timed(argv: list[str], cwd: Path | None = None) -> tuple[float, float, str]:
    """Wall seconds, peak RSS in MB (of this child alone, via wait4) and its last line."""
    run = measured(argv, cwd=cwd).checked(argv)
    return run.seconds, run.peak_rss_mb, run.last_line


def cvgallery(root: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "cvgallery", *args, "--root", str(root)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--no-sigal", action="store_true", help="skip the sigal baseline")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    sigal = shutil.which("sigal") if not args.no_sigal else None
    if not args.no_sigal and sigal is None:
        print("sigal is not installed (pip install 'sigal==2.6.*'): no baseline")
    work = Path(tempfile.mkdtemp(prefix="bench-build-"))
    try:
        root = work / "site"
        sigal_src = work / "sigal-src" if sigal else None
        t0 = time.perf_counter()
        make_site(root, args.count, sigal_src)
        print(f"catalog of {args.count} processed images made in {time.perf_counter() - t0:.1f}s")

        full, full_mb, line = timed(cvgallery(root, "build", "--no-process"))
        print(f"cvgallery full build --no-process: {full:6.2f} s  peak {full_mb:5.0f} MB  [{line}]")
        noop, noop_mb, line = timed(cvgallery(root, "build", "--no-process"))
        print(f"cvgallery no-op rebuild:           {noop:6.2f} s  peak {noop_mb:5.0f} MB  [{line}]")
        startup, _mb, _ = timed([sys.executable, "-c", "import cvgallery.cli"])
        print(f"  (of which Python start + imports: {startup:.2f} s)")
        with Catalog.open(root) as catalog:
            catalog.images.reject(["img000005"])
        one, one_mb, line = timed(cvgallery(root, "build", "--no-process"))
        print(f"cvgallery rebuild after 1 reject:  {one:6.2f} s  peak {one_mb:5.0f} MB  [{line}]")
        home = root / "art" / "gallery-html" / "index.html"
        print(f"home page: {home.stat().st_size / 1024:.1f} KB for 60 items")
        checks = [
            ("full < 10 s", full < 10),
            ("no-op < 1.5 s", noop < 1.5),
            ("peak < 300 MB", max(full_mb, noop_mb, one_mb) < 300),
            ("home < 60 KB", home.stat().st_size < 60 * 1024),
        ]
        print("targets: " + ", ".join(f"{name} {'ok' if ok else 'MISSED'}" for name, ok in checks))

        if sigal and sigal_src is not None:
            conf = work / "sigal.conf.py"
            conf.write_text(
                f"source = {str(sigal_src)!r}\ndestination = {str(work / 'sigal-out')!r}\n"
                "theme = 'galleria'\nimg_size = (400, 400)\nthumb_size = (200, 150)\n"
                "use_orig = True\nzip_gallery = False\n"
            )
            s_full, s_mb, _ = timed([sigal, "build", "-c", str(conf)], cwd=work)
            print(f"sigal full build:                  {s_full:6.2f} s  peak {s_mb:5.0f} MB")
            s_noop, s_noop_mb, _ = timed([sigal, "build", "-c", str(conf)], cwd=work)
            print(f"sigal no-op rebuild:               {s_noop:6.2f} s  peak {s_noop_mb:5.0f} MB")
            print(
                f"no-op rebuild ratio sigal / cvgallery: {s_noop / noop:.1f}x "
                f"(cvgallery {'faster' if noop < s_noop else 'SLOWER'})"
            )
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
