"""Sites with processed, hashed images made directly in the catalog (no processing step).

Used by the site tests and benchmarks/bench_build.py: web-optimized and thumbnail JPEGs
written with Pillow, recorded with catalog.artifacts.record, BlurHashes stored with
Catalog.store_blurhash.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from pathlib import Path

import blurhash_rs
from PIL import Image

from cvgallery.catalog import Catalog, FileFacts
from cvgallery.catalog import schema as db


def jpeg_bytes(size: tuple[int, int], seed: int) -> bytes:
    """A small real picture: a two-colour gradient that differs per seed."""
    w, h = size
    a = ((seed * 37) % 200 + 30, (seed * 91) % 200 + 30, (seed * 53) % 200 + 30)
    b = (255 - a[0], 255 - a[1], 255 - a[2])
    im = Image.linear_gradient("L").resize((w, h))
    im = Image.composite(Image.new("RGB", (w, h), a), Image.new("RGB", (w, h), b), im)
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=70)
    return buf.getvalue()


def add_processed(
    catalog: Catalog,
    image_id: str,
    *,
    size: tuple[int, int] = (40, 30),
    seed: int = 0,
    user: str | None = None,
    url: str | None = None,
    approved: bool = True,
    created_at: str | None = None,
    parent_id: str | None = None,
    blurhash: str | None = "compute",
    stages: Sequence[str] = ("web-optimized", "thumbnails-small"),
    video: bytes | None = None,
) -> None:
    """Insert one image row with the given artifacts, as if added and processed."""
    data = jpeg_bytes(size, seed)
    sha = hashlib.sha256(data + image_id.encode()).hexdigest()
    conn = catalog.conn
    with db.transaction(conn):
        conn.execute(
            """INSERT INTO images (id, sha256, original_url, username, approved, width, height,
                                   file_size, mime_type, created_at, parent_id)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'image/jpeg',
                       COALESCE(?, strftime('%Y-%m-%d %H:%M:%f', 'now')), ?)""",
            (
                image_id,
                sha,
                url,
                user,
                int(approved),
                size[0],
                size[1],
                len(data),
                created_at,
                parent_id,
            ),
        )
        for stage in stages:
            name = hashlib.sha1(image_id.encode()).hexdigest()[:16] + ".jpeg"
            path = catalog.art_dir / stage / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            catalog.artifacts.record(
                image_id=image_id,
                stage=stage,
                file_path=f"{stage}/{name}",
                facts=FileFacts(hashlib.sha256(data).hexdigest(), len(data), size[0], size[1]),
            )
        if video is not None:
            name = hashlib.sha1(image_id.encode()).hexdigest()[:16] + ".mp4"
            path = catalog.art_dir / "video-sources" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(video)
            catalog.artifacts.record(
                image_id=image_id,
                stage="video-sources",
                file_path=f"video-sources/{name}",
                facts=FileFacts(hashlib.sha256(video).hexdigest(), len(video)),
            )
        if blurhash == "compute":
            with Image.open(io.BytesIO(data)) as im:
                blurhash = blurhash_rs.blurhash_encode(im, 4, 3)
        if blurhash:
            catalog.artifacts.store_blurhash(image_id, "web-optimized", blurhash, size[0], size[1])


def page_files(output: Path) -> dict[str, tuple[bytes, int]]:
    """Every file of a built site: relative path → (content, mtime_ns)."""
    return {
        p.relative_to(output).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(output.rglob("*"))
        if p.is_file()
    }
