"""Benchmark `cvgallery migrate` on generated legacy trees (originals + thumbs/ + t2/).

    python benchmarks/bench_migrate.py                 # 5,000 and 20,000 originals
    python benchmarks/bench_migrate.py --count 2000 --small 500

For each size: generate the tree once (cached in benchmarks/out/migrate/), migrate it into a fresh
site in a subprocess, and print files/s and that subprocess's peak RSS (from wait4's
rusage, i.e. RUSAGE_CHILDREN of that one child). Memory must stay flat as the tree grows,
so the two peaks are printed side by side. The baseline, measured in the same run, is the
floor of the work: a subprocess that reads and hashes every file once and hard-links it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "out" / "migrate"  # this script's own cache; other benchmarks share out/
sys.path.insert(0, str(HERE.parent / "tests"))

BASELINE = """
import hashlib, os, sys
src, dest = sys.argv[1], sys.argv[2]
for folder, _dirs, files in os.walk(src):
    rel = os.path.relpath(folder, src)
    os.makedirs(os.path.join(dest, rel), exist_ok=True)
    for name in files:
        path = os.path.join(folder, name)
        with open(path, "rb") as f:
            hashlib.file_digest(f, "sha256").hexdigest()
        os.link(path, os.path.join(dest, rel, name))
"""


def legacy_tree(count: int) -> Path:
    """The generated tree for ``count`` originals, made once and reused."""
    from legacy_tree import make_legacy_tree

    root = OUT / f"legacy-{count}"
    done = OUT / f"legacy-{count}.done"
    if not done.exists():
        shutil.rmtree(root, ignore_errors=True)
        started = time.monotonic()
        make_legacy_tree(root, count, full=False)
        done.write_text("ok\n")
        print(f"generated {root} in {time.monotonic() - started:.1f}s", flush=True)
    return root


def run_child(argv: list[str]) -> tuple[float, float, int, str]:
    """(seconds, peak RSS in MiB, exit status, stdout) of one subprocess."""
    started = time.monotonic()
    with open(OUT / "child.out", "w+b") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.DEVNULL)
        _pid, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.monotonic() - started
        out.seek(0)
        text = out.read().decode()
    return seconds, usage.ru_maxrss / 1024, proc.returncode, text


def measure(count: int, copy: bool) -> dict[str, float]:
    legacy = legacy_tree(count)
    files = sum(len(f) for _d, _s, f in os.walk(legacy))
    scratch = OUT / f"baseline-{count}"
    shutil.rmtree(scratch, ignore_errors=True)
    base_s, base_mb, _, _ = run_child([sys.executable, "-c", BASELINE, str(legacy), str(scratch)])
    shutil.rmtree(scratch, ignore_errors=True)
    site = OUT / f"site-{count}"
    shutil.rmtree(site, ignore_errors=True)
    site.mkdir()
    (site / "site.toml").write_text("")  # a site: commands other than init refuse elsewhere
    cmd = [sys.executable, "-m", "cvgallery", "migrate", "--json", "--root", str(site)]
    cmd += ["--copy"] if copy else []
    seconds, peak, code, text = run_child([*cmd, str(legacy)])
    report = json.loads(text)
    if code != 0 or not report["validation"]["ok"]:
        raise SystemExit(f"migration of {count} failed: exit {code}, {report['errors'][:3]}")
    noop_s, noop_peak, _, text = run_child([*cmd, str(legacy)])
    assert json.loads(text)["migrated"] == {}, "second run changed something"
    return {
        "originals": count, "files": files, "seconds": seconds, "files_per_s": files / seconds,
        "peak_mb": peak, "baseline_s": base_s, "baseline_peak_mb": base_mb,
        "noop_s": noop_s, "noop_peak_mb": noop_peak,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000, help="originals in the large tree")
    parser.add_argument("--small", type=int, default=5_000, help="originals in the small tree")
    parser.add_argument("--copy", action="store_true", help="migrate with --copy")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    results = [measure(n, args.copy) for n in (args.small, args.count)]
    print(f"\nmigrate ({'copy' if args.copy else 'hard links'}), originals + thumbs/ + t2/:")
    print(f"{'originals':>9} {'files':>7} {'seconds':>8} {'files/s':>8} {'peak MiB':>9} "
          f"{'base s':>7} {'x base':>7} {'no-op s':>8}")  # fmt: skip
    for r in results:
        print(
            f"{r['originals']:>9} {r['files']:>7} {r['seconds']:>8.1f} {r['files_per_s']:>8.0f} "
            f"{r['peak_mb']:>9.1f} {r['baseline_s']:>7.1f} {r['seconds'] / r['baseline_s']:>7.1f} "
            f"{r['noop_s']:>8.1f}"
        )
    small, large = results
    print(
        f"\npeak memory {small['peak_mb']:.1f} MiB at {small['originals']} originals, "
        f"{large['peak_mb']:.1f} MiB at {large['originals']}: ratio "
        f"{large['peak_mb'] / small['peak_mb']:.2f} for {large['files'] / small['files']:.1f}x "
        f"the files (flat = close to 1)"
    )


if __name__ == "__main__":
    main()
