"""Helpers for the publish tests: built sites, link checks, a local S3 server, a stalling target.

The S3-compatible server is moto's server mode on 127.0.0.1 (a real HTTP server speaking
the S3 protocol); credentials are fake and come from the environment only, so no real
~/.aws file or instance metadata service is ever consulted.
"""

from __future__ import annotations

import json
import logging
import os
import posixpath
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from site_helpers import add_processed

from cvgallery.catalog import Catalog
from cvgallery.publish import MANIFEST_NAME
from cvgallery.site import build_site
from cvgallery.site.output import MANIFEST as BUILD_MANIFEST


def add_images(catalog: Catalog, start: int, count: int) -> None:
    for n in range(start, start + count):
        add_processed(
            catalog,
            f"pic{n:03d}",
            seed=n,
            user=("ann", "ben")[n % 2],
            created_at=f"2026-03-01 10:00:{n:02d}",
        )


def build(catalog: Catalog, out: Path) -> Path:
    report = build_site(catalog, out)
    assert not report.failed
    return out


def snapshot(out: Path, dest: Path) -> Path:
    """A copy of a built site (the next build swaps the folder out from under us)."""
    shutil.copytree(out, dest)
    return dest


def site_files(folder: Path) -> dict[str, bytes]:
    """What a publish of ``folder`` must put at the target: every file but dotfiles."""
    files = {}
    for path in folder.rglob("*"):
        rel = path.relative_to(folder).as_posix()
        if path.is_file() and not any(part.startswith(".") for part in rel.split("/")):
            files[rel] = path.read_bytes()
    return files


def folder_files(folder: Path) -> dict[str, bytes]:
    """Every file at a folder target (dotfiles included, except cvgallery's own manifest)."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in folder.rglob("*")
        if p.is_file() and p.name != MANIFEST_NAME
    }


def differing(old: dict[str, bytes], new: dict[str, bytes]) -> set[str]:
    """Paths whose bytes differ or that only ``new`` has."""
    return {rel for rel, data in new.items() if old.get(rel) != data}


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("href", "src", "poster") and value:
                self.links.append(value)
            elif name == "srcset" and value:
                self.links += [part.split()[0] for part in value.split(",") if part.strip()]


def broken_links(files: dict[str, bytes]) -> list[tuple[str, str]]:
    """(page, link) for every relative link of every HTML page that names no file in ``files``."""
    broken = []
    for rel, data in files.items():
        if not rel.endswith(".html"):
            continue
        parser = _Links()
        parser.feed(data.decode("utf-8"))
        for link in parser.links:
            parts = urlsplit(link)
            if parts.scheme or parts.netloc or not parts.path:
                continue
            path = unquote(parts.path)
            path = path + "index.html" if path.endswith("/") else path
            target = posixpath.normpath(posixpath.join(posixpath.dirname(rel), path))
            if target not in files:
                broken.append((rel, link))
    return broken


def manifest_of(data: bytes) -> dict[str, dict[str, Any]]:
    files: dict[str, dict[str, Any]] = json.loads(data)["files"]
    return files


def build_manifest_exists(out: Path) -> bool:
    return (out / BUILD_MANIFEST).is_file()


# --- the local S3-compatible server --------------------------------------------------------


@dataclass
class S3Server:
    url: str

    def env(self, home: Path) -> dict[str, str]:
        """Environment for a client of this server: fake keys, no config file, no IMDS."""
        return {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": self.url,
            "AWS_CONFIG_FILE": str(home / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-aws-credentials"),
            "AWS_EC2_METADATA_DISABLED": "true",
        }


UNSET_AWS = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL_S3")


@contextmanager
def moto_server() -> Iterator[S3Server]:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield S3Server(f"http://{host}:{port}")
    finally:
        server.stop()


def bucket_files(client: Any, bucket: str, prefix: str = "") -> dict[str, bytes]:
    """Every object under ``prefix`` (relative keys), the publish manifest left out."""
    files = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            rel = obj["Key"][len(prefix) :]
            if rel != MANIFEST_NAME:
                files[rel] = client.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
    return files


# --- a publish in a subprocess that stops dead at its Nth upload ----------------------------

STALLING_SCRIPT = """
import sys, threading
from pathlib import Path
from cvgallery.publish import publish, parse_target

source, target_text, stall_at = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
target = parse_target(target_text)
real_put = target.put
count = 0
lock = threading.Lock()

def put(rel, path, headers):
    global count
    with lock:
        count += 1
        n = count
    if n == stall_at:
        print("stalled at", rel, flush=True)
        threading.Event().wait()  # until killed
    real_put(rel, path, headers)

target.put = put
publish(source, target, jobs=1)
print("finished without stalling", flush=True)
"""


def stalling_script(folder: Path) -> Path:
    path = folder / "stalling_publish.py"
    path.write_text(STALLING_SCRIPT)
    return path


def subprocess_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in UNSET_AWS}
    env.update(extra or {})
    return env
