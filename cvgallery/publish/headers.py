"""HTTP headers of published files: Content-Type per extension and Cache-Control per kind.

One set of rules for every target; a folder target ignores them (its web server decides),
an S3-compatible bucket stores them with each object and serves them back.

Content-hashed files (``media/<hash>.<ext>``, ``static/<name>.<hash>.<ext>``) never change
under their name, so a browser or CDN may keep them for a year without asking again.
Everything else (pages, feed, sitemap, a user's CNAME or robots.txt) changes in place and
gets a short max-age, so a new publish is seen within minutes.
"""

from __future__ import annotations

import mimetypes
import re
from dataclasses import dataclass, field
from posixpath import basename, splitext

CACHE_IMMUTABLE = "public, max-age=31536000, immutable"
CACHE_DEFAULT = "public, max-age=300"
FALLBACK_TYPE = "application/octet-stream"

#: Extension (lower case, no dot) → Content-Type. Explicit so that a published site does not
#: depend on the publishing machine's /etc/mime.types; text types carry their charset.
CONTENT_TYPES: dict[str, str] = {
    "html": "text/html; charset=utf-8",
    "htm": "text/html; charset=utf-8",
    "css": "text/css; charset=utf-8",
    "js": "text/javascript; charset=utf-8",
    "mjs": "text/javascript; charset=utf-8",
    "json": "application/json",
    "map": "application/json",
    "webmanifest": "application/manifest+json",
    "xml": "application/xml; charset=utf-8",
    "txt": "text/plain; charset=utf-8",
    "md": "text/markdown; charset=utf-8",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "png": "image/png",
    "gif": "image/gif",
    "webp": "image/webp",
    "avif": "image/avif",
    "jxl": "image/jxl",
    "heic": "image/heic",
    "bmp": "image/bmp",
    "tif": "image/tiff",
    "tiff": "image/tiff",
    "svg": "image/svg+xml",
    "ico": "image/x-icon",
    "mp4": "video/mp4",
    "m4v": "video/mp4",
    "webm": "video/webm",
    "mov": "video/quicktime",
    "ogv": "video/ogg",
    "mkv": "video/x-matroska",
    "mp3": "audio/mpeg",
    "ogg": "audio/ogg",
    "woff": "font/woff",
    "woff2": "font/woff2",
    "ttf": "font/ttf",
    "otf": "font/otf",
    "pdf": "application/pdf",
    "wasm": "application/wasm",
    "bin": FALLBACK_TYPE,
}

#: Whole file names whose type is not their extension's.
NAMED_TYPES: dict[str, str] = {
    "feed.xml": "application/atom+xml; charset=utf-8",
}

_HASHED_STATIC = re.compile(r"^static/(?:.+/)?[^/]+\.[0-9a-f]{8,64}\.[A-Za-z0-9]+$")


@dataclass(frozen=True)
class Headers:
    content_type: str
    cache_control: str


@dataclass
class HeaderRules:
    """The header rules of one publish; ``[publish]`` in site.toml may override each field.

    ``content_types`` maps an extension (``"avif"`` or ``".avif"``) or a path from the site
    root (``"feed.xml"``) to a Content-Type, and takes precedence over the built-in tables.
    """

    cache_immutable: str = CACHE_IMMUTABLE
    cache_default: str = CACHE_DEFAULT
    content_types: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._own = {k.lower().lstrip("."): v for k, v in self.content_types.items()}

    def content_type(self, rel: str) -> str:
        """The site's own rule for this path or its extension, then the built-in ones."""
        ext = splitext(basename(rel))[1].lower().lstrip(".")
        for table, key in (
            (self._own, rel.lower()),
            (self._own, ext),
            (NAMED_TYPES, rel),
            (CONTENT_TYPES, ext),
        ):
            if key and key in table:
                return table[key]
        guessed, _encoding = mimetypes.guess_type(basename(rel), strict=False)
        return guessed or FALLBACK_TYPE

    def cache_control(self, rel: str) -> str:
        return self.cache_immutable if is_content_hashed(rel) else self.cache_default

    def for_path(self, rel: str) -> Headers:
        return Headers(self.content_type(rel), self.cache_control(rel))


def is_content_hashed(rel: str) -> bool:
    """Whether the file's name changes whenever its bytes do (so it may be cached forever)."""
    return rel.startswith("media/") or bool(_HASHED_STATIC.match(rel))
