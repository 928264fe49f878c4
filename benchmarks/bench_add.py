"""`cvgallery add` throughput against the seed's approach, measured in the same run.

The seed's db-upsert-images runs `sha256sum` and `stat` per file and feeds INSERTs to
the sqlite3 shell; here that is one sha256sum + stat + sqlite3 call per file, run with
one worker per core (as runmany does), without probing dimensions or copying anything.
cvgallery additionally probes every picture (with a draft decode that catches
truncation) and copies it into art/upstream/.

    python benchmarks/bench_add.py [--count 2000] [--size 800x600]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import cvgallery_cmd, jpeg_corpus, measured  # noqa: E402

SEED_ONE_FILE = r"""
f="$1"; id=$(basename "$f" .jpeg)
sha=$(sha256sum "$f" | cut -d" " -f1); size=$(stat -c%s "$f")
sqlite3 "$DB" "PRAGMA busy_timeout=60000; INSERT OR REPLACE INTO images (id, sha256, file_size, approved) VALUES ('$id', '$sha', $size, false);" >/dev/null
"""


def seed_approach(corpus: Path, workdir: Path) -> float:
    db = workdir / "seed.db"
    from cvgallery.catalog.schema import SEED_SCHEMA

    conn = sqlite3.connect(db)
    conn.executescript(SEED_SCHEMA)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.close()
    files = sorted(str(p) for p in corpus.glob("*.jpeg"))
    start = time.perf_counter()
    subprocess.run(
        [
            "xargs",
            "-0",
            "-n",
            "1",
            "-P",
            str(os.cpu_count() or 1),
            "bash",
            "-c",
            SEED_ONE_FILE,
            "_",
        ],
        input="\0".join(files).encode(),
        check=True,
        env={**os.environ, "DB": str(db)},
    )
    elapsed = time.perf_counter() - start
    count = sqlite3.connect(db).execute("SELECT COUNT(*) FROM images").fetchone()[0]
    assert count == len(files), (count, len(files))
    return elapsed


def cvgallery_add(corpus: Path, workdir: Path, *extra: str) -> tuple[float, float]:
    site = workdir / "site"
    subprocess.run(cvgallery_cmd("init", str(site)), check=True, capture_output=True)
    run = measured(cvgallery_cmd("add", str(corpus), "--root", str(site), *extra))
    assert run.returncode == 0, run.stderr[-2000:]
    return run.seconds, run.peak_rss_mb


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument(
        "--size", default="1200x900", help="WxH of the corpus JPEGs (1200x900 ≈ 100 KB)"
    )
    args = parser.parse_args()
    if not shutil.which("sqlite3"):
        sys.exit("the seed's approach needs the sqlite3 shell: apt-get install sqlite3")
    size = tuple(int(v) for v in args.size.split("x"))
    corpus = jpeg_corpus("add", args.count, size)  # type: ignore[arg-type]
    small = jpeg_corpus("add", max(1, args.count // 4), size)  # type: ignore[arg-type]
    mean_kb = sum(p.stat().st_size for p in corpus.glob("*.jpeg")) / args.count / 1024
    print(f"corpus: {args.count} JPEGs of {args.size}, {mean_kb:.0f} KB on average")

    with tempfile.TemporaryDirectory() as tmp:
        seed_s = seed_approach(corpus, Path(tmp))
    with tempfile.TemporaryDirectory() as tmp:
        small_s, small_rss = cvgallery_add(small, Path(tmp))
    with tempfile.TemporaryDirectory() as tmp:
        cv_s, cv_rss = cvgallery_add(corpus, Path(tmp))
    with tempfile.TemporaryDirectory(dir=corpus.parent) as tmp:  # same file system: links work
        link_s, _ = cvgallery_add(corpus, Path(tmp), "--link")

    seed_rate, cv_rate = args.count / seed_s, args.count / cv_s
    print(
        f"seed approach (sha256sum+stat+sqlite3 per file): {seed_s:7.2f} s  {seed_rate:8.0f} files/s"
    )
    print(
        f"cvgallery add (hash+probe+copy, batched):         {cv_s:7.2f} s  {cv_rate:8.0f} files/s"
    )
    link_rate = args.count / link_s
    print(
        f"cvgallery add --link (hash+probe+hard link):      {link_s:7.2f} s  {link_rate:8.0f} files/s"
    )
    print(
        f"ratio cvgallery/seed: {cv_rate / seed_rate:.1f}x copying, {link_rate / seed_rate:.1f}x linking"
        "  (target >= 10x)"
    )
    print(
        f"peak RSS: {small_rss:.0f} MB for {args.count // 4} files, {cv_rss:.0f} MB for {args.count}"
        f"  (ratio {cv_rss / small_rss:.2f}; flat means ~1.0)"
    )


if __name__ == "__main__":
    main()
