"""What a `process` with nothing to do costs at 10,000 and 100,000 pictures (issue 11).

    python benchmarks/bench_process_noop.py [--counts 10000 100000] [--base REF] [--runs 3]

For each size a catalog is made directly (rows inserted, no image files): COUNT approved
pictures, each with an upstream artifact (3000x2000, so every display size applies) and
an artifact of every resize stage of the default site, whose processing_params are what
cvgallery records for them (resize_params: generator, config_key, source_sha256...), so
every stage counts as current. Then `python -m cvgallery process` runs as a subprocess
with nothing to do, once and then --runs times more; the table shows wall time, CPU time
(user + system, from wait4: that child alone) and peak RSS, for this checkout and
(unless --no-base) for --base (a commit, default the merge base with main) in a
temporary worktree, each on its own copy of the same catalog, with the CPU ratio.

"first" is the first run on the fresh catalog (it may migrate the schema, and it is the
run that reads every artifact to find them current); "again" the best later run. The
issue's target is the CPU of a no-op run at 100,000 pictures: < 1 s.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from _common import measured

HERE = Path(__file__).resolve().parents[1]
TARGET_CPU = 1.0


@dataclass
class Run:
    wall: float
    cpu: float
    peak_mb: float


def make_site(root: Path, count: int) -> None:
    """The catalog of the module docstring, made by the cvgallery on sys.path."""
    from cvgallery.catalog import init_site
    from cvgallery.stages import kind_of
    from cvgallery.stages.resize import resize_params

    config = init_site(root)
    resizes = {
        name: cfg
        for name, cfg in config.stages.items()
        if cfg.kind == "resize" and cfg.input == "upstream"
    }
    assert all(kind_of(cfg).name == "resize" for cfg in resizes.values())
    images, artifacts = [], []
    for n in range(count):
        image_id = f"img{n:06d}"
        sha = hashlib.sha256(image_id.encode()).hexdigest()
        images.append((image_id, sha))
        artifacts.append((image_id, "upstream", f"upstream/{image_id}.jpeg", sha, 3000, 2000, None))
        for name, cfg in resizes.items():
            params = json.dumps(resize_params(cfg, sha), sort_keys=True)
            fmt = cfg.settings.format
            artifacts.append(
                (image_id, name, f"{name}/{image_id}.{fmt}", sha, 400, 267, params)
            )
    conn = sqlite3.connect(config.db_path)
    with conn:
        conn.executemany(
            """INSERT INTO images (id, sha256, approved, width, height, mime_type)
               VALUES (?, ?, 1, 3000, 2000, 'image/jpeg')""",
            images,
        )
        conn.executemany(
            """INSERT INTO artifacts (image_id, stage, file_path, sha256, width, height,
                                      processing_params)
               VALUES (?, ?, ?, ?, ?, ?, ?)""",
            artifacts,
        )
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def timed(argv: list[str], code: Path) -> Run:
    """Wall and CPU seconds and peak RSS (MB) of this child alone, run with ``code``'s
    cvgallery (its folder is the working directory too: `python -m` looks there first)."""
    run = measured(argv, cwd=code, env=env_for(code)).checked(argv)
    return Run(run.seconds, run.cpu, run.peak_rss_mb)


def env_for(code: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(code)}


def noop_runs(code: Path, root: Path, runs: int) -> tuple[Run, Run]:
    """The first no-op process on the catalog, and the best of ``runs`` more; checks that
    none of them queued anything."""
    argv = [sys.executable, "-m", "cvgallery", "process", "--root", str(root)]
    first = timed(argv, code)
    best = min((timed(argv, code) for _ in range(runs)), key=lambda r: r.cpu)
    conn = sqlite3.connect(root / "cv.db")
    jobs = conn.execute("SELECT COUNT(*) FROM jobs").fetchone()[0]
    conn.close()
    if jobs:
        raise SystemExit(f"{root}: the no-op process queued {jobs} jobs: the catalog is not current")
    return first, best


def base_worktree(ref: str, into: Path) -> Path:
    subprocess.run(
        ["git", "-C", str(HERE), "worktree", "add", "--detach", str(into), ref],
        check=True,
        capture_output=True,
    )
    return into


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--base", default=None, help="commit to compare with (default: merge base with main)")
    parser.add_argument("--no-base", action="store_true", help="time this checkout only")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--make-site", nargs=2, metavar=("ROOT", "COUNT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.make_site:
        make_site(Path(args.make_site[0]), int(args.make_site[1]))
        return

    work = Path(tempfile.mkdtemp(prefix="cvg-noop-"))
    try:
        codes = {"this": HERE}
        if not args.no_base:
            ref = args.base or subprocess.run(
                ["git", "-C", str(HERE), "merge-base", "HEAD", "main"],
                check=True, capture_output=True, text=True,
            ).stdout.strip()  # fmt: skip
            codes["base"] = base_worktree(ref, work / "base-code")
            print(f"base: {ref[:10]}", flush=True)
        # The catalog is made by the oldest code compared, so each side migrates it as it would.
        maker = codes.get("base", HERE)
        results: dict[tuple[int, str, str], Run] = {}
        for count in args.counts:
            made = work / f"made-{count}"
            t0 = time.perf_counter()
            subprocess.run(
                [sys.executable, __file__, "--make-site", str(made), str(count)],
                check=True,
                env=env_for(maker),
            )
            print(f"[{count}] catalog made in {time.perf_counter() - t0:.0f} s", flush=True)
            for name, code in codes.items():
                root = work / f"site-{count}-{name}"
                shutil.copytree(made, root)
                first, again = noop_runs(code, root, args.runs)
                results[count, name, "first"], results[count, name, "again"] = first, again
                for which, run in (("first", first), ("again", again)):
                    print(
                        f"[{count}] {name} {which}: {run.wall:.2f} s wall, {run.cpu:.2f} s CPU, "
                        f"{run.peak_mb:.0f} MB",
                        flush=True,
                    )
                shutil.rmtree(root)
            shutil.rmtree(made)
        print(
            f"\nno-op `process`: the first run on a fresh catalog, then the best of {args.runs} "
            f"more (CPU target < {TARGET_CPU:.0f} s at 100,000)"
        )
        print(f"{'pictures':>9} {'code':<5} {'run':<6} {'wall s':>7} {'CPU s':>7} {'peak MB':>8} "
              f"{'CPU vs base':>12}")  # fmt: skip
        for (count, name, which), run in results.items():
            base = results.get((count, "base", which))
            ratio = f"{run.cpu / base.cpu:.2f}x" if base and name != "base" else ""
            print(
                f"{count:>9} {name:<5} {which:<6} {run.wall:>7.2f} {run.cpu:>7.2f} "
                f"{run.peak_mb:>8.0f} {ratio:>12}"
            )
    finally:
        if "base" in locals().get("codes", {}):
            subprocess.run(
                ["git", "-C", str(HERE), "worktree", "remove", "--force", str(work / "base-code")],
                check=False,
                capture_output=True,
            )
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
