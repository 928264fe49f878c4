"""The one catalog query behind a build, and the image items templates see.

The query is the seed's "Gallery generation with metadata" (approved ⨝ web-optimized
⨝ blurhash_cache) widened with LEFT JOINs for the thumbnail, the ESRGAN upscale and
the video source, so a whole gallery is read in one statement and a no-op build reads
the catalog, never the image files.
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
import sqlite3
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from urllib.parse import urlsplit

GALLERY_SQL = """
SELECT i.id, i.width, i.height, b.blurhash, a.file_path,
       i.username, i.original_url, i.created_at, i.parent_id, i.mime_type,
       a.sha256 AS web_sha, a.width AS web_w, a.height AS web_h,
       t.file_path AS thumb_path, t.sha256 AS thumb_sha, t.width AS thumb_w, t.height AS thumb_h,
       e.file_path AS big_path, e.sha256 AS big_sha, e.width AS big_w, e.height AS big_h,
       v.file_path AS video_path, v.sha256 AS video_sha
FROM images i
JOIN artifacts a ON i.id = a.image_id AND a.stage = 'web-optimized'
LEFT JOIN blurhash_cache b ON i.id = b.image_id AND b.stage = 'web-optimized'
LEFT JOIN artifacts t ON i.id = t.image_id AND t.stage = 'thumbnails-small'
LEFT JOIN artifacts e ON i.id = e.image_id AND e.stage = 'ersgan-enhanced'
LEFT JOIN artifacts v ON i.id = v.image_id AND v.stage = 'video-sources'
WHERE i.approved = TRUE
ORDER BY i.created_at DESC, i.id
"""

# Derived pictures that are not gallery images themselves (video frames, face-swap
# results: rows with parent_id and no web-optimized copy), shown on their parent's page.
DERIVED_SQL = """
SELECT c.id, c.parent_id, a.stage, a.file_path, a.sha256, a.width, a.height
FROM images c
JOIN images p ON p.id = c.parent_id AND p.approved = TRUE
JOIN artifacts a ON a.image_id = c.id AND a.stage IN ('video-frames', 'face-swap-results')
LEFT JOIN artifacts w ON w.image_id = c.id AND w.stage = 'web-optimized'
WHERE c.parent_id IS NOT NULL AND COALESCE(c.rejected, 0) = 0
  AND NOT (c.approved = TRUE AND w.id IS NOT NULL)
ORDER BY c.parent_id, c.id
"""

SAFE_URL_SCHEMES = ("http", "https")
_SLUG_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_PLAIN_EXT = re.compile(r"[a-z0-9]{1,8}")
_VIDEO_TYPES = {".mp4": "video/mp4", ".webm": "video/webm", ".mov": "video/quicktime"}


def fetch_rows(conn: sqlite3.Connection) -> list[tuple[object, ...]]:
    """Every gallery row as plain tuples (cheap to fingerprint, cheap to hold for 10,000)."""
    return [tuple(r) for r in conn.execute(GALLERY_SQL)]


def fetch_derived(conn: sqlite3.Connection) -> list[tuple[object, ...]]:
    return [tuple(r) for r in conn.execute(DERIVED_SQL)]


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


def placeholder_uri(blurhash: str | None, width: int = 8, height: int = 6) -> str | None:
    """The BlurHash decoded at build time to a tiny PNG data URI (works with JavaScript off)."""
    if not blurhash:
        return None
    import blurhash_rs

    try:
        image = blurhash_rs.blurhash_decode(blurhash, width, height)
    except Exception:  # a corrupt cached hash only loses its placeholder
        return None
    buf = io.BytesIO()
    image.convert("RGB").save(buf, "PNG", compress_level=9)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def media_name(sha256: str | None, file_path: str) -> str:
    """Content-hashed file name under media/: a host may cache it forever.

    The extension is taken from the file name only (a dot in a folder name is not one)
    and kept only when it is a plain short word, so the name is always one safe file.
    """
    ext = PurePosixPath(file_path).suffix[1:].lower()
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


def make_items(rows: list[tuple[object, ...]]) -> list[ImageItem]:
    """Rows → items, in query order; placeholders decoded here once per image."""
    items = []
    for r in rows:
        (iid, w, h, bh, path, user, url, created, parent, _mime) = r[:10]
        (web_sha, web_w, web_h, t_path, t_sha, t_w, t_h) = r[10:17]
        (e_path, e_sha, e_w, e_h, v_path, v_sha) = r[17:23]
        image_id = str(iid)
        web = Media(media_name(_s(web_sha), str(path)), str(path), _i(web_w), _i(web_h))
        width = web.width or _i(w) or 400
        height = web.height or _i(h) or 300
        web.width, web.height = width, height
        thumb = web
        if t_path:
            thumb = Media(media_name(_s(t_sha), str(t_path)), str(t_path), _i(t_w), _i(t_h))
        larger = []
        if e_path:
            larger.append(Media(media_name(_s(e_sha), str(e_path)), str(e_path), _i(e_w), _i(e_h)))
        video = video_type = None
        if v_path:
            video = Media(media_name(_s(v_sha), str(v_path)), str(v_path))
            video_type = _VIDEO_TYPES.get("." + str(v_path).rsplit(".", 1)[-1].lower())
        slug = slugify(image_id)
        username = str(user) if user else None
        items.append(
            ImageItem(
                id=image_id,
                slug=slug,
                url=f"image/{slug}.html",
                width=width,
                height=height,
                web=web,
                thumb=thumb,
                placeholder=placeholder_uri(_s(bh)),
                blurhash=_s(bh),
                username=username,
                user_url=f"user/{slugify(username)}.html" if username else None,
                source_url=safe_source_url(_s(url)),
                created_at=str(created or ""),
                parent_id=_s(parent),
                larger=larger,
                video=video,
                video_type=video_type,
                original_width=_i(w),
                original_height=_i(h),
            )
        )
    return items


def attach_derived(items: list[ImageItem], rows: list[tuple[object, ...]]) -> None:
    """Video frames and other derived files, listed on their parent's page."""
    by_id = {item.id: item for item in items}
    for child_id, parent_id, _stage, path, sha, w, h in rows:
        parent = by_id.get(str(parent_id))
        if parent is not None:
            media = Media(media_name(_s(sha), str(path)), str(path), _i(w), _i(h))
            media.label = str(child_id)
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


def _s(value: object) -> str | None:
    return None if value is None else str(value)


def _i(value: object) -> int | None:
    return value if isinstance(value, int) and value > 0 else None
