"""The image items templates see, made from the catalog's gallery rows
(cvgallery.catalog.gallery: the seed's "Gallery generation" query, widened)."""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import re
import struct
import unicodedata
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ..catalog import DerivedRow, GalleryRow
from ..names import utf8_prefix

if TYPE_CHECKING:
    from PIL import Image

SAFE_URL_SCHEMES = ("http", "https")
#: changes when the way a video is remuxed for publishing changes
VIDEO_REMUX = "remux-1"
#: a name of at most this many UTF-8 bytes may be its own page name
SLUG_MAX_BYTES = 200
_PLAIN_EXT = re.compile(r"[a-z0-9]{1,8}")
#: an ASCII name that is its own slug (what _slug_base keeps, nothing it strips)
_PLAIN_NAME = re.compile(r"[A-Za-z0-9-](?:[A-Za-z0-9._-]*[A-Za-z0-9-])?")
_VIDEO_TYPES = {".mp4": "video/mp4", ".webm": "video/webm", ".mov": "video/quicktime"}
#: picture formats a page offers, in the browser's order of preference (<source> order)
PICTURE_TYPES = {"avif": "image/avif", "webp": "image/webp", "jpeg": "image/jpeg"}
_EXT_FORMAT = {"avif": "avif", "webp": "webp", "jpeg": "jpeg", "jpg": "jpeg"}
#: the width a shared picture (og:image) should have: the smallest JPEG at least this wide
SHARE_WIDTH = 1200
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December")  # fmt: skip


def readable_id(image_id: str) -> str:
    """An id as words, for a picture nobody named: "photo-062" -> "Photo 062"."""
    text = " ".join(re.sub(r"[-_]+", " ", image_id).split())
    if text[:1].islower():
        text = text[0].upper() + text[1:]
    return text or image_id


def _slug_char(ch: str) -> bool:
    """Letters, digits and marks of any script, and ``-_.``: safe in a file name and a URL
    path (a browser sends the UTF-8 percent-encoded)."""
    if ch.isascii():
        return ch.isalnum() or ch in "-_."
    return unicodedata.category(ch)[0] in "LNM"


def _slug_base(text: str) -> str:
    chars: list[str] = []
    for ch in unicodedata.normalize("NFC", text):
        if _slug_char(ch):
            chars.append(ch)
        elif not chars or chars[-1] != "_":
            chars.append("_")
    return "".join(chars).strip("._") or "_"


def _hashed(text: str, digits: int = 8) -> str:
    base = utf8_prefix(_slug_base(text)[:60], 120)
    return f"{base}-{hashlib.sha1(text.encode('utf-8', 'surrogatepass')).hexdigest()[:digits]}"


def slugify(text: str) -> str:
    """A file-name-safe, URL-safe form of an id or user name: the name itself when it is
    one (letters and digits of any script, ``-_.``, in NFC, not too long), else the safe
    part of it and a short hash of the name, so changed names stay apart
    (``café-été`` stays, ``a&b`` is ``a_b-<hash>``). :func:`unique_slugs` settles the
    rare clash between an unchanged name and another one's hashed form."""
    if is_own_slug(text):
        return text  # most ids: a build names every picture
    slug = _slug_base(text)
    if slug == text and len(text.encode("utf-8", "surrogatepass")) <= SLUG_MAX_BYTES:
        return slug
    return _hashed(text)


def is_own_slug(name: str) -> bool:
    """Whether ``name`` is its own slug by slugify's fast path (most ids)."""
    return len(name) <= SLUG_MAX_BYTES and _PLAIN_NAME.fullmatch(name) is not None


def slug_key(slug: str) -> str:
    """How a case-insensitive host (macOS, Windows, some buckets) compares page names."""
    if slug.isascii():
        return slug.lower()
    return unicodedata.normalize("NFC", slug).casefold()


def unique_slugs(names: Iterable[str]) -> dict[str, str]:
    """name -> page name, no two the same even compared case-insensitively (``Photo`` and
    ``photo``; an id ``a_b-<hash>`` and the id ``a&b`` whose slug it is).

    In a clash the name that is its own slug, lower case first, keeps it; the others get
    a longer hash. Deterministic: the same names always get the same page names.
    """
    slugs = {name: slugify(name) for name in set(names)}
    for digits in (16, 40, 0):
        groups: dict[str, list[str]] = {}
        for name, slug in slugs.items():
            groups.setdefault(slug_key(slug), []).append(name)
        clashes = [sorted(group) for group in groups.values() if len(group) > 1]
        if not clashes:
            break
        for group in clashes:
            keeper = min(group, key=lambda n: (slugs[n] != n, n != n.lower(), n))
            others = [n for n in group if n != keeper or slugs[n] != n]
            for number, name in enumerate(others, 1):
                # digits 0: hashes did not part them (a name that is another's hashed
                # form at full length): number them, in sorted order
                slugs[name] = _hashed(name, digits) if digits else f"{_hashed(name, 40)}-{number}"
    return slugs


def renamed_slugs(names: Iterable[str]) -> dict[str, str]:
    """:func:`unique_slugs`'s answer for the names whose page name is not their
    :func:`slugify` (the rare clash), found without settling every name: a build of
    100,000 pictures looks each up once and settles a handful, if any."""
    by_key: dict[str, str] = {}
    clashing: set[str] = set()
    for name in names:
        # A plain ASCII name is its own slug, compared in lower case
        key = name.lower() if is_own_slug(name) else slug_key(slugify(name))
        other = by_key.setdefault(key, name)
        if other != name:
            clashing.update((other, name))
    if not clashing:
        return {}
    settled = unique_slugs(clashing)
    keys = {slug_key(slug) for slug in settled.values()}
    if len(keys) < len(settled) or any(
        by_key.get(key, name) not in clashing
        for name, slug in settled.items()
        if (key := slug_key(slug)) in by_key
    ):  # a settled name meets an unrelated one (hash against name): settle them all
        settled = unique_slugs(set(by_key.values()) | clashing)
    return {name: slug for name, slug in settled.items() if slug != slugify(name)}


def safe_source_url(url: str | None) -> str | None:
    """original_url only when it is http(s); javascript:, data: and the like are never links."""
    if not url:
        return None
    url = url.strip()
    if url.startswith(("https://", "http://")) and url.isprintable() and "[" not in url:
        return url  # the common case, without parsing (no control character, no IPv6 host)
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        return None
    if scheme not in SAFE_URL_SCHEMES or any(c in url for c in "\x00\r\n\t"):
        return None
    return url


@functools.lru_cache(maxsize=1 << 16)
def placeholder_uri(blurhash: str | None, width: int = 4, height: int = 3) -> str | None:
    """The BlurHash decoded at build time to a tiny PNG data URI (works with JavaScript off).

    4x3 pixels, which the theme stretches over the whole picture (smoothly: browsers scale
    backgrounds bilinearly); a 4x3-component hash has no finer detail to show, and it costs
    ~150 bytes an item on an index page instead of ~250 at 8x6. Cached: a picture is on its
    own page, an index page, its user's page and the feed."""
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


_PLAIN_EXTS: set[str] = set()


def _plain_ext(ext: str) -> bool:
    """Whether ``ext`` is a plain short word (remembered: a build asks 900,000 times about
    the same few)."""
    if _PLAIN_EXT.fullmatch(ext):
        if len(_PLAIN_EXTS) < 256:
            _PLAIN_EXTS.add(ext)
        return True
    return False


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
    ext = ext if ext in _PLAIN_EXTS or _plain_ext(ext) else "bin"
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
class Source:
    """One format of a picture: its MIME type and its files by width (a srcset)."""

    type: str
    files: list[Media]

    @property
    def srcset(self) -> str:
        return ", ".join(f"{m.src} {m.width}w" for m in self.files)

    @property
    def largest(self) -> Media:
        return self.files[-1]


@dataclass
class ImageItem:
    """One gallery image as templates see it (see themes/default/README.md).

    What pages show of it is worked out once (cached properties): a page reads its name,
    alt text and files several times, and a build shows each picture on three pages."""

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
    #: words: the picture's own title, caption and alt text (None when not given)
    title: str | None = None
    caption: str | None = None
    alt_text: str | None = None
    #: capture date, ISO 8601 local time (with "+HH:MM" when known); None when unknown
    taken_at: str | None = None
    camera: str | None = None
    lens: str | None = None
    exposure: str | None = None
    #: the picture in each format, by width: the <source>s (avif, webp) then the <img>'s
    #: (JPEG, the web copy included); see ``sources`` and ``img``
    formats: list[Source] = field(default_factory=list)

    @functools.cached_property
    def name(self) -> str:
        """What the picture is called: its title, else its id as words."""
        return self.title or readable_id(self.id)

    @functools.cached_property
    def alt(self) -> str:
        """Alt text: the one given, else the title, else the id as words."""
        return self.alt_text or self.name

    @functools.cached_property
    def img(self) -> Source:
        """The files of the <img> (JPEG where there is one: every browser shows it)."""
        for source in self.formats:
            if source.type == PICTURE_TYPES["jpeg"]:
                return source
        return self.formats[-1] if self.formats else Source("", [self.web])

    @functools.cached_property
    def sources(self) -> list[Source]:
        """The <source> elements before the <img>: the modern formats, best first."""
        img = self.img
        return [s for s in self.formats if s is not img]

    @property
    def srcset(self) -> str:
        return self.img.srcset

    @functools.cached_property
    def largest(self) -> Media:
        """The widest file of the picture (it is never shown larger than this)."""
        return max((s.largest for s in self.formats), key=_width, default=self.web)

    @functools.cached_property
    def max_width(self) -> int:
        return self.largest.width or self.width

    @functools.cached_property
    def share(self) -> Media:
        """The JPEG for og:image and the feed: the smallest at least SHARE_WIDTH wide."""
        files = self.img.files
        return next((m for m in files if _width(m) >= SHARE_WIDTH), files[-1])

    @functools.cached_property
    def taken_label(self) -> str | None:
        """The capture date as people read it: "28 December 2005, 03:25"."""
        if not self.taken_at:
            return None
        m = re.match(r"(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2}))?", self.taken_at)
        if not m or not 1 <= int(m.group(2)) <= 12:
            return self.taken_at
        year, month, day, hour, minute = m.groups()
        text = f"{int(day)} {_MONTHS[int(month) - 1]} {year}"
        return f"{text}, {hour}:{minute}" if hour else text

    @functools.cached_property
    def camera_line(self) -> str | None:
        """Camera, lens and exposure (shown only with show_exif)."""
        return " · ".join(p for p in (self.camera, self.lens, self.exposure) if p) or None

    def media(self) -> list[Media]:
        """Every file the pages use, to place in the output (the video apart)."""
        return [
            self.web, self.thumb, *self.larger, *self.derived,
            *(m for s in self.formats for m in s.files),
        ]  # fmt: skip

    @functools.cached_property
    def aspect(self) -> float:
        return round(self.width / self.height, 4) if self.height else 1.0


def make_items(
    rows: list[GalleryRow],
    hidden: frozenset[str] = frozenset(),
    renamed: tuple[dict[str, str], dict[str, str]] | None = None,
) -> list[ImageItem]:
    """Rows → items, in query order; placeholders decoded here once per image. Files of
    ``hidden`` stages (``publish = false``) are left out. Page names are settled among
    ``rows``, unless ``renamed`` gives those of the whole gallery (:func:`renamed_slugs`
    of the ids and of the user names)."""
    items = []
    if renamed is None:
        page_of = unique_slugs(str(r.id) for r in rows)
        user_page_of = unique_slugs(str(r.username) for r in rows if r.username)
    else:
        ids, users = renamed
        page_of = {str(r.id): ids.get(str(r.id)) or slugify(str(r.id)) for r in rows}
        user_page_of = {
            str(r.username): users.get(str(r.username)) or slugify(str(r.username))
            for r in rows
            if r.username
        }
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
        slug = page_of[image_id]
        username = str(r.username) if r.username else None
        formats = _formats(web, r.display, hidden)
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
                user_url=f"user/{user_page_of[username]}.html" if username else None,
                source_url=safe_source_url(r.original_url),
                created_at=str(r.created_at or ""),
                parent_id=r.parent_id,
                larger=larger,
                video=video,
                video_type=video_type,
                original_width=_i(r.width),
                original_height=_i(r.height),
                title=r.title or None,
                caption=r.caption or None,
                alt_text=r.alt_text or None,
                taken_at=r.taken_at or None,
                camera=r.camera or None,
                lens=r.lens or None,
                exposure=r.exposure or None,
                formats=formats,
            )
        )
    return items


def _formats(web: Media, display: str | None, hidden: frozenset[str]) -> list[Source]:
    """The web copy and the display-* files grouped by format (by file extension), each
    group by width with one file per width; ordered avif, webp, jpeg."""
    groups: dict[str, dict[int, Media]] = {}
    web_format = _EXT_FORMAT.get(web.path.rsplit(".", 1)[-1].lower())
    if web_format and web.width:
        groups.setdefault(web_format, {})[web.width] = web
    try:
        rows = json.loads(display) if display else []
    except ValueError:
        rows = []
    for stage, path, sha, width, height in sorted(rows, key=lambda r: (str(r[0]), str(r[1]))):
        fmt = _EXT_FORMAT.get(str(path).rsplit(".", 1)[-1].lower())
        w = _i(width)
        if fmt is None or w is None or stage in hidden:
            continue
        groups.setdefault(fmt, {}).setdefault(w, Media(media_name(sha, path), path, w, _i(height)))
    return [
        Source(PICTURE_TYPES[fmt], [files[w] for w in sorted(files)])
        for fmt in PICTURE_TYPES
        if (files := groups.get(fmt))
    ]


def _width(media: Media) -> int:
    return media.width or 0


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
