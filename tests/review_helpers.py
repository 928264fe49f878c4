"""Sites and servers for tests/test_review.py: pending pictures, a real `cvgallery serve`."""

from __future__ import annotations

import http.client
import io
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from picture_scenes import jpeg, resized, scene
from PIL import Image

from cvgallery.catalog import Catalog, FileFacts
from cvgallery.ingest import add_files

TOKEN = re.compile(r'name="cvgallery-token" content="([^"]+)"')


def add_originals(
    catalog: Catalog, folder: Path, count: int, *, user: str = "ana", first: int = 0
) -> list[str]:
    """``count`` distinct pending photo-like pictures (no thumbnail yet), added as `add`
    does; returns their ids."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for n in range(first, first + count):
        path = folder / f"shot{n:03d}.jpeg"
        scene(n, size=(240, 180)).save(path, quality=80)
        paths.append(path)
    results = add_files(catalog, paths, user=user, url=f"https://photos.example/{user}")
    return [r.image_id for r in results if r.image_id]


def add_copy(catalog: Catalog, folder: Path, seed: int, name: str) -> str:
    """A resized, recompressed copy of scene ``seed``: a near-duplicate of it."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.jpeg"
    jpeg(resized(scene(seed, size=(240, 180)), 0.6), 45).save(path, quality=90)
    (result,) = add_files(catalog, [path], user="ana")
    assert result.image_id
    return result.image_id


def tiny_jpeg(shade: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (24, 18), (shade, 90, 255 - shade)).save(buf, "JPEG", quality=60)
    return buf.getvalue()


def add_many_pending(catalog: Catalog, count: int) -> None:
    """``count`` pending rows with tiny real thumbnails, inserted with the catalog library
    in one transaction (a few shades shared, so setting up 2,000 stays fast)."""
    folder = catalog.art_dir / "thumbnails-small"
    folder.mkdir(parents=True, exist_ok=True)
    shades = []
    for k in range(8):
        data = tiny_jpeg(k * 32)
        (folder / f"shade{k}.jpeg").write_bytes(data)
        shades.append((f"thumbnails-small/shade{k}.jpeg", data))
    with catalog.transaction():
        for n in range(count):
            image_id = f"bulk{n:05d}"
            path, data = shades[n % len(shades)]
            facts = FileFacts(f"{n:064x}", 4_000_000 + n, 4000, 3000, "image/jpeg")
            catalog.images.add(image_id, facts, user=f"user{n % 3}", url="https://x.example/")
            thumb = FileFacts(f"t{n:063x}", len(data), 24, 18, "image/jpeg")
            catalog.artifacts.record(
                image_id=image_id, stage="thumbnails-small", file_path=path, facts=thumb
            )


@dataclass
class Served:
    base: str  # http://127.0.0.1:PORT
    review: str  # the review page's URL as serve printed it
    proc: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)

    @property
    def host(self) -> str:
        return urlsplit(self.base).netloc


@contextmanager
def review_server(root: Path, *options: str) -> Iterator[Served]:
    """A real `cvgallery serve --port 0`; yields once it prints where it listens."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "cvgallery", "serve", "--no-process", "--port", "0", *options]
        + ["--root", str(root)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("serving "):
                break
        else:
            raise AssertionError(f"serve ended early: {''.join(lines)}")
        base = re.search(r" at (http://[^/]+)/", lines[-1])
        review = [
            line.split(": ", 1)[1].strip() for line in lines if line.startswith("review page")
        ]
        assert base and review, lines
        # keep reading, so the server never blocks on a full pipe
        threading.Thread(target=lambda: lines.extend(proc.stdout or ()), daemon=True).start()
        yield Served(base[1], review[0], proc, lines)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def call(
    url: str,
    method: str = "GET",
    *,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    path: str | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP request with exactly these headers (Host too) and ``path`` sent as is."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    target = path if path is not None else parts.path + (f"?{parts.query}" if parts.query else "")
    sent = dict(headers or {})
    try:
        conn.putrequest(method, target, skip_host="Host" in sent, skip_accept_encoding=True)
        if body is not None:
            sent.setdefault("Content-Type", "application/json")
            sent["Content-Length"] = str(len(body))
        for name, value in sent.items():
            conn.putheader(name, value)
        conn.endheaders(body)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def page_token(review_url: str) -> str:
    status, _headers, body = call(review_url)
    assert status == 200, status
    found = TOKEN.search(body.decode())
    assert found
    return found[1]
