"""Peak memory, wall and CPU time of `cvgallery publish DIR --no-build` to a folder (issue 11).

    python benchmarks/bench_publish_memory.py --baseline /tmp/wt-pubbase [--counts 10000 100000]
    python benchmarks/bench_publish_memory.py --site /tmp/s100k [--baseline /tmp/wt-pubbase]

BASELINE is a checkout of the code to compare against (made with
``git worktree add --detach /tmp/wt-pubbase <commit>``); this checkout is the new code.
With ``--site``, an existing built site (a site root; `cvgallery build --no-process` makes
a 100,000-picture one of a million files) is published instead, first and no-op only: it
is only read, never changed.
For each COUNT a built site is made directly, without a catalog of pictures: the output
folder of an empty site holds, per picture, a page and two content-named media files of a
few hundred bytes (as a real build makes them), plus user pages, index pages, feed,
sitemap, a hashed stylesheet and the build manifest with the digest of every page.

Each code then publishes it to its own empty folder, each command in a fresh subprocess
(`python -m cvgallery`, so imports are counted; wall time, CPU time and peak RSS of that
process from wait4): the first publish, a no-op publish, and a publish after 100 pages
changed. The table shows both codes and new/baseline ratios. Target: peak under 500 MB at
100,000 pictures. The machine may be shared: CPU seconds say how much of the wall was work.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import measured

HERE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HERE))

USERS = 50
PER_PAGE = 100
CHANGED = 100
BUILD_MANIFEST = ".cvgallery-build.json"


@dataclass
class Run:
    wall: float
    cpu: float
    peak_mb: float
    line: str


def digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def page(n: int, version: int = 0) -> bytes:
    media = media_names(n)
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>img{n:06d}</title>'
        f'<link rel="stylesheet" href="../static/style.0123abcd.css"></head><body>'
        f'<a href="../index.html">Gallery</a><h1>Picture {n} (v{version})</h1>'
        f'<img src="../{media[0]}" width="480" height="320" alt="">'
        f'<a href="../user/user{n % USERS}.html">user{n % USERS}</a>'
        f'<a href="../{media[1]}">thumbnail</a></body></html>\n'
    ).encode()


def media_names(n: int) -> tuple[str, str]:
    return tuple(  # type: ignore[return-value]
        f"media/{hashlib.sha256(f'{kind}{n}'.encode()).hexdigest()[:20]}.jpeg"
        for kind in ("web", "thumb")
    )


def make_output(out: Path, count: int) -> None:
    """The built site of ``count`` pictures (see the module docstring), build manifest last."""
    for sub in ("media", "image", "user", "static"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}

    def write(rel: str, data: bytes, record: bool = True) -> None:
        (out / rel).write_bytes(data)
        if record:
            files[rel] = digest(data)

    blob = bytes(range(256)) + b"\xff\xd9"
    for n in range(count):
        web, thumb = media_names(n)
        write(web, blob + f"web{n}".encode(), record=False)
        write(thumb, blob[:160] + f"thumb{n}".encode(), record=False)
        write(f"image/img{n:06d}.html", page(n))
    for u in range(USERS):
        write(
            f"user/user{u}.html",
            f"<html><body>user{u}: {count // USERS} pictures</body></html>".encode(),
        )
    pages = max(1, -(-count // PER_PAGE))
    for p in range(1, pages + 1):
        name = "index.html" if p == 1 else f"page-{p}.html"
        write(name, f"<html><body>page {p} of {pages}</body></html>".encode())
    write("feed.xml", b"<feed></feed>")
    write("sitemap.xml", b"<urlset></urlset>")
    write("static/style.0123abcd.css", b"body{margin:0}")
    roots = sorted({*os.listdir(out), BUILD_MANIFEST})
    document = {
        "fingerprint": "bench",
        "images": count,
        "generator": "bench",
        "files": files,
        "roots": roots,
    }
    (out / BUILD_MANIFEST).write_bytes(json.dumps(document, indent=0, sort_keys=True).encode())


def change_pages(out: Path, count: int) -> None:
    """Rewrite CHANGED picture pages spread over the site, and record them as a build does."""
    document = json.loads((out / BUILD_MANIFEST).read_bytes())
    for n in range(0, count, max(1, count // CHANGED))[:CHANGED]:
        data = page(n, version=1)
        rel = f"image/img{n:06d}.html"
        (out / rel).write_bytes(data)
        document["files"][rel] = digest(data)
    (out / BUILD_MANIFEST).write_bytes(json.dumps(document, indent=0, sort_keys=True).encode())


def run_measured(code: Path, root: Path, target: Path) -> Run:
    """One publish in a fresh process: its wall time, CPU time and peak RSS (wait4)."""
    cmd = [
        sys.executable,
        "-m",
        "cvgallery",
        "publish",
        str(target),
        "--no-build",
        "--max-deletes",
        "-1",
    ]
    env = {**os.environ, "PYTHONPATH": str(code)}
    run = measured(cmd, cwd=root, env=env).checked(cmd)  # the summary line is on stderr
    return Run(run.seconds, run.cpu, run.peak_rss_mb, run.last_line)


def bench(work: Path, count: int, codes: dict[str, Path]) -> dict[tuple[str, str], Run]:
    from cvgallery.catalog import init_site
    from cvgallery.site import default_output

    root = work / f"site-{count}"
    config = init_site(root)
    out = default_output(config)
    t0 = time.perf_counter()
    make_output(out, count)
    files = sum(len(f) for _, _, f in os.walk(out))
    print(
        f"\n{count:,} pictures: {files:,} files made in {time.perf_counter() - t0:.1f}s", flush=True
    )
    steps: list[tuple[str, Any]] = [
        ("first publish", None),
        ("no-op publish", None),
        (f"{CHANGED} pages changed", lambda: change_pages(out, count)),
    ]
    return run_steps(work, root, str(count), steps, codes)


def bench_site(work: Path, root: Path, codes: dict[str, Path]) -> dict[tuple[str, str], Run]:
    """First and no-op publish of the built site at ``root``, which is only read."""
    from cvgallery.config import load_config
    from cvgallery.site import default_output

    out = default_output(load_config(root))
    files = sum(len(f) for _, _, f in os.walk(out))
    print(f"\n{root}: {files:,} files in {out}", flush=True)
    steps: list[tuple[str, Any]] = [("first publish", None), ("no-op publish", None)]
    return run_steps(work, root, "site", steps, codes)


def run_steps(
    work: Path, root: Path, tag: str, steps: list[tuple[str, Any]], codes: dict[str, Path]
) -> dict[tuple[str, str], Run]:
    results: dict[tuple[str, str], Run] = {}
    for step, prepare in steps:
        if prepare is not None:
            prepare()
        for label, code in codes.items():
            run = run_measured(code, root, work / f"target-{label}-{tag}")
            results[(step, label)] = run
            print(
                f"  {step:<20} {label:<8} wall {run.wall:7.2f}s  cpu {run.cpu:7.2f}s  "
                f"peak {run.peak_mb:6.0f} MB   {run.line}",
                flush=True,
            )
    return results


def ratios(results: dict[tuple[str, str], Run], step: str) -> str:
    """One row: wall, CPU and peak of both codes and new/baseline (the new code's alone
    when there is no baseline)."""
    new = results[(step, "new")]
    if (step, "baseline") not in results:
        return f"{'':7} {new.wall:7.2f} {'':6}  {'':7} {new.cpu:7.2f} {'':6}  {'':6} {new.peak_mb:6.0f}"
    old = results[(step, "baseline")]
    return (
        f"{old.wall:7.2f} {new.wall:7.2f} {new.wall / old.wall:5.2f}x  "
        f"{old.cpu:7.2f} {new.cpu:7.2f} {new.cpu / old.cpu:5.2f}x  "
        f"{old.peak_mb:6.0f} {new.peak_mb:6.0f} {new.peak_mb / old.peak_mb:5.2f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", type=Path, help="checkout of the old code")
    parser.add_argument("--counts", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--site", type=Path, help="an existing built site root, only read")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    codes = {"baseline": args.baseline.resolve()} if args.baseline else {}
    codes["new"] = HERE
    work = Path(tempfile.mkdtemp(prefix="bench-publish-memory-"))
    table = []
    try:
        runs = (
            [("site", lambda: bench_site(work, args.site.resolve(), codes))]
            if args.site
            else [(count, lambda count=count: bench(work, count, codes)) for count in args.counts]
        )
        for tag, measure in runs:
            results = measure()
            for step in dict.fromkeys(s for s, _ in results):
                table.append(f"{tag:>8} {step:<20} " + ratios(results, step))
            if not args.keep:  # 300,000 files per folder at 100,000 pictures
                for folder in work.glob(f"*-{tag}"):
                    shutil.rmtree(folder, ignore_errors=True)
    finally:
        print(
            f"\n{'pictures':>8} {'step':<20} {'wall s (old new ratio)':<24}  "
            f"{'cpu s (old new ratio)':<24}  peak MB (old new ratio)"
        )
        print("\n".join(table))
        print("target: peak < 500 MB at 100,000 pictures")
        if args.keep:
            print(f"kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
