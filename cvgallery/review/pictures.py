"""The pictures the review page shows: thumbnails and large views, made on demand.

Pending images usually have no thumbnail yet (`process` only makes copies of approved
ones), so the page cannot wait for one: a thumbnail is the ``thumbnails-small`` artifact
when there is one, else a small JPEG made from the original (a draft decode: a 24 MP
JPEG is decoded at 1/8 scale) and kept in ``<site>/.cvgallery-cache/review/``, named by
the original's sha256, so it is made once and never goes stale. A video shows its
poster (its ``video-frames`` artifact), or a neutral placeholder until it has one.

Only files named by the catalog's artifact rows are read, and only inside art/: the
routes never turn a request path into a file path.
"""

from __future__ import annotations

import hashlib
import io
import os
import sqlite3
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps

from .. import store
from ..catalog import Catalog

CACHE_DIR = ".cvgallery-cache/review"
THUMB_EDGE = 400  # the grid's cells are ~200 CSS px: sharp on a 2x screen
LARGE_EDGE = 1600
GREY = (40, 40, 40)
BROWSER_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
_ORIENTATION_TAG = 0x0112

# Two requests for one missing thumbnail make it once (the second waits for the first).
_LOCKS = [threading.Lock() for _ in range(64)]


@dataclass(frozen=True)
class Picture:
    """Bytes to send, their type, and a validator (``etag``) for the browser's cache."""

    body: bytes
    content_type: str
    etag: str


def placeholder(width: int | None, height: int | None, label: str) -> Picture:
    """A neutral SVG block of the picture's shape with a short label (videos, unreadable)."""
    w, h = (width or 4), (height or 3)
    scale = 400 / max(w, h)
    w, h = max(1, round(w * scale)), max(1, round(h * scale))
    text = label.replace("&", "&amp;").replace("<", "&lt;")
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
        f'viewBox="0 0 {w} {h}"><rect width="100%" height="100%" fill="#3a3a3a"/>'
        f'<text x="50%" y="50%" fill="#d8d8d8" font-family="sans-serif" font-size="24" '
        f'text-anchor="middle" dominant-baseline="middle">{text}</text></svg>'
    )
    body = svg.encode()
    return Picture(body, "image/svg+xml", hashlib.sha256(body).hexdigest()[:16])


class Pictures:
    """Thumbnails and large views of a site's catalog rows, cached under ``cache``."""

    def __init__(self, root: Path):
        self.cache = root / CACHE_DIR

    def thumbnail(self, catalog: Catalog, row: sqlite3.Row) -> Picture:
        thumb = catalog.artifacts.get(row["id"], "thumbnails-small")
        if thumb is not None:
            found = self._read(catalog, thumb["file_path"])
            if found is not None:
                return Picture(found, _type_of(thumb["file_path"]), str(thumb["sha256"]))
        return self._derived(catalog, row, THUMB_EDGE, "thumb")

    def large(self, catalog: Catalog, row: sqlite3.Row) -> Picture:
        """The picture to fit a screen: the original when it is small and needs no turning,
        else a copy downscaled to fit LARGE_EDGE."""
        source = self._source(catalog, row)
        if source is not None and not _is_video(row):
            path, sha = source
            kind = _sent_as_is(path)
            if kind is not None:
                return Picture(path.read_bytes(), kind, sha)
        return self._derived(catalog, row, LARGE_EDGE, "large")

    def _derived(self, catalog: Catalog, row: sqlite3.Row, edge: int, name: str) -> Picture:
        source = self._source(catalog, row)
        if source is None:
            label = "video" if _is_video(row) else "no file"
            return placeholder(row["width"], row["height"], label)
        path, sha = source
        cached = self.cache / f"{name}-{edge}" / f"{sha}.jpeg"
        with _LOCKS[hash(sha) % len(_LOCKS)]:
            try:
                return Picture(cached.read_bytes(), "image/jpeg", sha)
            except FileNotFoundError:
                pass
            try:
                data = downscale(path, edge)
            except Exception as exc:  # an unreadable original shows as such; others go on
                reason = "too large" if "bomb" in type(exc).__name__.lower() else "unreadable"
                return placeholder(row["width"], row["height"], reason)
            try:
                store.write_bytes(cached, data)
            except OSError:
                pass  # a read-only site still gets its pictures, made each time
        return Picture(data, "image/jpeg", sha)

    def _source(self, catalog: Catalog, row: sqlite3.Row) -> tuple[Path, str] | None:
        """(file, its sha256) of the picture to show: the original, or a video's poster."""
        stages = ("video-frames",) if _is_video(row) else ("upstream",)
        for stage in stages:
            artifact = catalog.artifacts.get(row["id"], stage)
            if artifact is None:
                continue
            path = self._inside_art(catalog, artifact["file_path"])
            if path is not None and path.is_file():
                sha = artifact["sha256"] or (row["sha256"] if stage == "upstream" else None)
                return path, str(sha or store.sha256_file(path))
        return None

    def _read(self, catalog: Catalog, file_path: str) -> bytes | None:
        path = self._inside_art(catalog, file_path)
        try:
            return None if path is None else path.read_bytes()
        except OSError:
            return None

    @staticmethod
    def _inside_art(catalog: Catalog, file_path: str) -> Path | None:
        """art/<file_path>, unless the recorded path (or a symlink) leads out of art/."""
        art = os.path.realpath(catalog.art_dir)
        real = os.path.realpath(os.path.join(art, file_path))
        return Path(real) if real.startswith(art + os.sep) else None


def downscale(path: Path, edge: int) -> bytes:
    """A JPEG of the picture at ``path``, upright, within ``edge`` x ``edge`` px."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(path) as im:
            im.draft("RGB", (edge, edge))  # JPEG: DCT-domain scaling, the costly part avoided
            upright = ImageOps.exif_transpose(im)
            upright.thumbnail((edge, edge), Image.Resampling.LANCZOS, reducing_gap=3.0)
            flat = _flatten(upright)
    flat.info = {}  # no comment or other metadata of the upload in the copy
    buf = io.BytesIO()
    flat.save(buf, "JPEG", quality=82)
    return buf.getvalue()


def _flatten(im: Image.Image) -> Image.Image:
    """RGB or L, transparency over the page's grey."""
    if im.mode in ("RGB", "L"):
        return im
    if im.mode in ("P", "PA", "LA", "RGBA", "RGBa", "La") or "transparency" in im.info:
        rgba = im.convert("RGBA")
        flat = Image.new("RGB", im.size, GREY)
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    if im.mode.startswith("I") or im.mode == "F":
        high = float(im.getextrema()[1])  # type: ignore[arg-type]
        scale = 255.0 / 65535.0 if high > 255 else 1.0
        return im.convert("F").point(lambda v: v * scale).convert("L")
    return im.convert("RGB")


def _sent_as_is(path: Path) -> str | None:
    """The type to send an original as, when a browser shows it right as it is: a JPEG,
    PNG or WebP within LARGE_EDGE with no EXIF turn."""
    try:
        with Image.open(path) as im:
            kind = BROWSER_FORMATS.get(im.format or "")
            if kind is None or max(im.size) > LARGE_EDGE:
                return None
            if int(im.getexif().get(_ORIENTATION_TAG, 1) or 1) != 1:
                return None
            return kind
    except Exception:
        return None


def _is_video(row: sqlite3.Row) -> bool:
    return str(row["mime_type"] or "").startswith("video/")


def _type_of(file_path: str) -> str:
    ext = file_path.rsplit(".", 1)[-1].lower()
    return {
        "jpg": "image/jpeg",
        "jpeg": "image/jpeg",
        "png": "image/png",
        "webp": "image/webp",
    }.get(ext, "application/octet-stream")
