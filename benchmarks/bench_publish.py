"""Benchmark `publish` to a local S3-compatible server against an `aws s3 cp --recursive`-style upload.

    python benchmarks/bench_publish.py [--count 10000] [--jobs 8] [--keep]

A catalog of COUNT approved, processed images is made as bench_build.py makes it and
built (about 3 files per image: two media files and a page). moto's S3 server runs in its
own process on 127.0.0.1. Then, in this process, each with a fresh client whose HTTP
requests are counted:

- cvgallery's first publish, its no-op publish, and its publish after one approval;
- the baseline: every file PUT again with the same number of threads, as
  `aws s3 cp --recursive` (or any upload without a manifest) does on every deploy;
- for reference, what an `aws s3 sync`-style no-op costs: a listing of the whole bucket.

The no-op publish is also timed as a fresh `python` process (imports included), as a user
running the command would see it. Targets (issue 13): no-op under 2 s and far fewer
requests than files; one approval: requests proportional to what changed.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import blurhash_rs
from bench_build import make_site, tiny_jpeg
from PIL import Image

from cvgallery import db
from cvgallery.catalog import Catalog
from cvgallery.publish import MANIFEST_NAME, HeaderRules, publish
from cvgallery.publish.s3 import S3Target
from cvgallery.site import build_site


@dataclass
class Row:
    name: str
    seconds: float
    requests: int
    files: int


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start_server(port: int, log: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait for the port to accept connections
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc
        except OSError:
            if proc.poll() is not None:
                raise SystemExit(f"moto server exited: {log.read_text()[-2000:]}") from None
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("moto server did not start within 60 s")


def counted(target: S3Target) -> list[str]:
    sent: list[str] = []
    target.client.meta.events.register("before-send.s3", lambda request, **_: sent.append(request.method))
    return sent


def run_publish(name: str, site: Path, bucket: str, prefix: str, jobs: int) -> Row:
    start = time.perf_counter()
    target = S3Target(bucket, prefix, jobs=jobs)
    sent = counted(target)
    report = publish(site, target, jobs=jobs, max_deletes=-1)
    target.close()
    seconds = time.perf_counter() - start
    if not report.ok:
        raise SystemExit(f"{name}: {report.line()}\n{report.failures[:5]}")
    print(f"  {name}: {report.line()}")
    return Row(name, seconds, len(sent), report.uploaded + report.deleted)


def full_upload(site: Path, bucket: str, prefix: str, jobs: int) -> Row:
    """What `aws s3 cp --recursive` does: every file, every time (same threads, same headers)."""
    files = [p for p in site.rglob("*") if p.is_file() and not p.name.startswith(".")]
    start = time.perf_counter()
    target = S3Target(bucket, prefix, jobs=jobs)
    sent = counted(target)

    rules = HeaderRules()

    def put(path: Path) -> None:
        rel = path.relative_to(site).as_posix()
        headers = rules.for_path(rel)
        with open(path, "rb") as body:
            target.client.put_object(
                Bucket=bucket,
                Key=f"{prefix}/{rel}",
                Body=body,
                ContentType=headers.content_type,
                CacheControl=headers.cache_control,
            )

    with ThreadPoolExecutor(jobs) as pool:
        list(pool.map(put, files))
    target.close()
    return Row("full re-upload (aws s3 cp --recursive style)", time.perf_counter() - start, len(sent), len(files))


def sync_style_noop(bucket: str, prefix: str) -> Row:
    """What an `aws s3 sync`-style no-op needs before it can decide: a listing of every key."""
    start = time.perf_counter()
    target = S3Target(bucket, prefix)
    sent = counted(target)
    keys = 0
    for page in target.client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/"):
        keys += len(page.get("Contents", []))
    target.close()
    return Row(f"sync-style no-op (listing {keys} keys only)", time.perf_counter() - start, len(sent), 0)


def noop_process(site: Path, bucket: str, prefix: str, jobs: int) -> float:
    code = (
        "import sys; from pathlib import Path; from cvgallery.publish import publish; "
        f"r = publish(Path({str(site)!r}), {f's3://{bucket}/{prefix}'!r}, jobs={jobs}); "
        "sys.exit(0 if r.ok and r.uploaded == 0 else 1)"
    )
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - start


def approve_one(root: Path, n: int) -> None:
    """One more approved, processed image, as make_site makes them."""
    image_id = f"img{n:06d}"
    with Catalog.open(root) as catalog, db.transaction(catalog.conn) as conn:
        web, thumb = tiny_jpeg(n, (24, 16), 80), tiny_jpeg(n, (24, 16), 60)
        conn.execute(
            """INSERT INTO images (id, sha256, original_url, username, approved, width, height,
                                   file_size, mime_type, created_at)
               VALUES (?, ?, ?, 'user0', 1, 480, 320, ?, 'image/jpeg', '2027-01-01 00:00:00')""",
            (image_id, hashlib.sha256(web + image_id.encode()).hexdigest(), f"https://example.com/{image_id}", len(web)),
        )
        for stage, data in (("web-optimized", web), ("thumbnails-small", thumb)):
            (catalog.art_dir / stage / f"{image_id}.jpeg").write_bytes(data)
            conn.execute(
                """INSERT INTO artifacts (image_id, stage, file_path, sha256, width, height, file_size)
                   VALUES (?, ?, ?, ?, 24, 16, ?)""",
                (image_id, stage, f"{stage}/{image_id}.jpeg", hashlib.sha256(data).hexdigest(), len(data)),
            )
        with Image.open(io.BytesIO(web)) as im:
            blur = blurhash_rs.blurhash_encode(im, 4, 3)
        conn.execute(
            "INSERT INTO blurhash_cache (image_id, stage, blurhash, width, height) VALUES (?, 'web-optimized', ?, 24, 16)",
            (image_id, blur),
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=10_000, help="images in the site")
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-publish-"))
    port = free_port()
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
            "AWS_CONFIG_FILE": str(work / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(work / "no-aws-credentials"),
            "AWS_EC2_METADATA_DISABLED": "true",
        }
    )
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3"):
        os.environ.pop(name, None)
    server = start_server(port, work / "moto.log")
    try:
        root = work / "site"
        t0 = time.perf_counter()
        make_site(root, args.count, None)
        with Catalog.open(root) as catalog:
            out = build_site(catalog).output
        files = [p for p in out.rglob("*") if p.is_file() and not p.name.startswith(".")]
        size = sum(p.stat().st_size for p in files)
        print(f"site of {args.count} images: {len(files)} files, {size / 1e6:.1f} MB, made in {time.perf_counter() - t0:.1f}s")
        bucket = "bench"
        S3Target(bucket).client.create_bucket(Bucket=bucket)

        full = full_upload(out, bucket, "baseline", args.jobs)
        rows = [run_publish("cvgallery first publish", out, bucket, "site", args.jobs)]
        rows.append(run_publish("cvgallery no-op publish", out, bucket, "site", args.jobs))
        head = S3Target(bucket).client.head_object(Bucket=bucket, Key=f"site/{MANIFEST_NAME}")
        print(f"  (publish manifest: {head['ContentLength'] / 1e6:.2f} MB)")
        noop_cli = noop_process(out, bucket, "site", args.jobs)
        print(f"  no-op publish as a fresh python process (imports included): {noop_cli:.2f} s")
        approve_one(root, args.count)
        with Catalog.open(root) as catalog:
            build_site(catalog)
        rows.append(run_publish("cvgallery after one approval", out, bucket, "site", args.jobs))
        again = full_upload(out, bucket, "baseline", args.jobs)
        print(f"  full re-upload: {full.seconds:.2f} s the first time, {again.seconds:.2f} s again")
        full = Row(full.name, (full.seconds + again.seconds) / 2, full.requests, full.files)
        rows.append(full)
        rows.append(sync_style_noop(bucket, "baseline"))

        print()
        print(f"{'run':48} {'seconds':>8} {'requests':>9} {'files sent':>11} {'time vs full':>13}")
        for row in rows:
            print(
                f"{row.name:48} {row.seconds:8.2f} {row.requests:9d} {row.files:11d} "
                f"{row.seconds / full.seconds:12.3f}x"
            )
        noop = rows[1]
        checks = [
            ("no-op < 2 s (in process)", noop.seconds < 2),
            ("no-op < 2 s (fresh process)", noop_cli < 2),
            ("no-op requests < 1% of files", noop.requests < len(files) / 100),
            ("one approval: requests ~ files changed", rows[2].requests <= rows[2].files + 3),
        ]
        print("targets: " + ", ".join(f"{name} {'ok' if ok else 'MISSED'}" for name, ok in checks))
    finally:
        server.terminate()
        server.wait(timeout=30)
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
