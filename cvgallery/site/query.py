"""The image items templates see, made from the catalog's gallery rows
(cvgallery.catalog.gallery: the seed's "Gallery generation" query, widened)."""

from __future__ import annotations

import base64
import functools
import hashlib
import re
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ..catalog import DerivedRow, GalleryRow

if TYPE_CHECKING:
    from PIL import Image

SAFE_URL_SCHEMES = ("http", "https")
#: changes when the way a video is remuxed for publishing changes
VIDEO_REMUX = "remux-1"
_SLUG_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_PLAIN_EXT = re.compile(r"[a-z0-9]{1,8}")
_VIDEO_TYPES = {".mp4": "video/mp4", ".webm": "video/webm", ".mov": "video/quicktime"}


def slugify(text: str) -> str:
    """A file-name-safe, URL-safe form of an id or user name; a hash keeps changed ones unique."""
    slug = _SLUG_UNSAFE.sub("_", text).strip("._") or "_"
    if slug != text:
        slug = f"{slug[:60]}-{hashlib.sha1(text.encode('utf-8')).hexdigest()[:8]}"
    return slug


def safe_source_url(url: str | None) -> str | None:
    """original_url only when it is http(s); javascript:, data: and the like are never links."""
    if not url:
        return None
    url = url.strip()
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        return None
    if scheme not in SAFE_URL_SCHEMES or any(c in url for c in "\x00\r\n\t"):
        return None
    return url


@functools.lru_cache(maxsize=1 << 16)
def placeholder_uri(blurhash: str | None, width: int = 8, height: int = 6) -> str | None:
    """The BlurHash decoded at build time to a tiny PNG data URI (works with JavaScript off).

    Cached: a picture is on its own page, an index page, its user's page and the feed."""
    if not blurhash:
        return None
    import blurhash_rs

    try:
        image = blurhash_rs.blurhash_decode(blurhash, width, height)
    except Exception:  # a corrupt cached hash only loses its placeholder
        return None
    return "data:image/png;base64," + base64.b64encode(tiny_png(image.convert("RGB"))).decode()


def tiny_png(image: Image.Image) -> bytes:
    """An RGB picture of a few pixels as PNG, written directly: Pillow's encoder costs
    five times as much for 8×6 pixels, and a 100,000-picture build makes 100,000."""
    width, height = image.size
    raw = image.tobytes()
    stride = width * 3
    rows = b"".join(b"\0" + raw[y * stride : (y + 1) * stride] for y in range(height))
    # A small window and memLevel: zlib's set-up, not the deflating, is what costs here.
    packer = zlib.compressobj(9, zlib.DEFLATED, 9, 1)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"".join(
        (
            b"\x89PNG\r\n\x1a\n",
            _png_chunk(b"IHDR", header),
            _png_chunk(b"IDAT", packer.compress(rows) + packer.flush()),
            _png_chunk(b"IEND", b""),
        )
    )


def _png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def media_name(sha256: str | None, file_path: str) -> str:
    """Content-hashed file name under media/: a host may cache it forever.

    The extension is taken from the file name only (a dot in a folder name is not one)
    and kept only when it is a plain short word, so the name is always one safe file.
    """
    name = file_path.rpartition("/")[2]
    if name in ("", ".") or file_path == "..":  # a path ending in "/" or "/.": pathlib's rules
        ext = PurePosixPath(file_path).suffix[1:].lower()
    else:  # PurePath.suffix, without building a path (a build names 200,000 of these)
        dot = name.rfind(".")
        ext = name[dot + 1 :].lower() if 0 < dot < len(name) - 1 else ""
    ext = ext if _PLAIN_EXT.fullmatch(ext) else "bin"
    key = sha256 or hashlib.sha256(file_path.encode("utf-8")).hexdigest()
    return f"media/{key[:20]}.{ext}"


@dataclass
class Media:
    """One file placed in the output: ``src`` relative to the site root, ``path`` under art/."""

    src: str
    path: str
    width: int | None = None
    height: int | None = None
    label: str = ""


@dataclass
class ImageItem:
    """One gallery image as templates see it (see themes/default/README.md)."""

    id: str
    slug: str
    url: str
    width: int
    height: int
    web: Media
    thumb: Media
    placeholder: str | None
    blurhash: str | None
    username: str | None
    user_url: str | None
    source_url: str | None
    created_at: str
    parent_id: str | None
    larger: list[Media] = field(default_factory=list)
    video: Media | None = None
    video_type: str | None = None
    children: list[ImageItem] = field(default_factory=list)
    derived: list[Media] = field(default_factory=list)
    #: the upstream file's dimensions (images.width/height), when known
    original_width: int | None = None
    original_height: int | None = None
    prev: ImageItem | None = None
    next: ImageItem | None = None

    @property
    def alt(self) -> str:
        by = f" by {self.username}" if self.username else ""
        kind = "Video" if self.video else "Image"
        return f"{kind} {self.id}{by}"

    @property
    def aspect(self) -> float:
        return round(self.width / self.height, 4) if self.height else 1.0


def make_items(rows: list[GalleryRow], hidden: frozenset[str] = frozenset()) -> list[ImageItem]:
    """Rows → items, in query order; placeholders decoded here once per image. Files of
    ``hidden`` stages (``publish = false``) are left out."""
    items = []
    for r in rows:
        image_id = str(r.id)
        web = Media(media_name(r.web_sha, r.file_path), r.file_path, _i(r.web_w), _i(r.web_h))
        width = web.width or _i(r.width) or 400
        height = web.height or _i(r.height) or 300
        web.width, web.height = width, height
        thumb = web
        if r.thumb_path and "thumbnails-small" not in hidden:
            thumb = Media(
                media_name(r.thumb_sha, r.thumb_path), r.thumb_path, _i(r.thumb_w), _i(r.thumb_h)
            )
        larger = []
        if r.big_path and "ersgan-enhanced" not in hidden:
            larger.append(
                Media(media_name(r.big_sha, r.big_path), r.big_path, _i(r.big_w), _i(r.big_h))
            )
        video = video_type = None
        if r.video_path:
            # Published as a remux without metadata (scrub.scrub_video): its own name, so a
            # copy of the raw upload under the upload's name is never reused.
            remux_key = hashlib.sha256(f"{r.video_sha}:{VIDEO_REMUX}".encode()).hexdigest()
            video = Media(media_name(remux_key, r.video_path), r.video_path)
            video_type = _VIDEO_TYPES.get("." + r.video_path.rsplit(".", 1)[-1].lower())
        slug = slugify(image_id)
        username = str(r.username) if r.username else None
        items.append(
            ImageItem(
                id=image_id,
                slug=slug,
                url=f"image/{slug}.html",
                width=width,
                height=height,
                web=web,
                thumb=thumb,
                placeholder=placeholder_uri(r.blurhash),
                blurhash=r.blurhash,
                username=username,
                user_url=f"user/{slugify(username)}.html" if username else None,
                source_url=safe_source_url(r.original_url),
                created_at=str(r.created_at or ""),
                parent_id=r.parent_id,
                larger=larger,
                video=video,
                video_type=video_type,
                original_width=_i(r.width),
                original_height=_i(r.height),
            )
        )
    return items


def attach_derived(
    items: list[ImageItem], rows: list[DerivedRow], hidden: frozenset[str] = frozenset()
) -> None:
    """Video frames and other derived files, listed on their parent's page."""
    by_id = {item.id: item for item in items}
    for row in rows:
        parent = by_id.get(row.parent_id)
        if parent is not None and row.stage not in hidden:
            media = Media(media_name(row.sha256, row.file_path), row.file_path)
            media.width, media.height = _i(row.width), _i(row.height)
            media.label = row.id
            parent.derived.append(media)


def arrange(items: list[ImageItem]) -> list[ImageItem]:
    """Top-level items in order, linked prev/next; children attached to their parents."""
    by_id = {item.id: item for item in items}
    top = []
    for item in items:
        parent = by_id.get(item.parent_id) if item.parent_id else None
        if item.parent_id is None:
            top.append(item)
        elif parent is not None:
            parent.children.append(item)
    for before, after in zip(top, top[1:], strict=False):
        before.next, after.prev = after, before
    return top


def _i(value: object) -> int | None:
    return value if isinstance(value, int) and value > 0 else None
