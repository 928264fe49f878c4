"""What the catalog records about a stored file, computed in one place.

images and artifacts rows both carry sha256, file_size, width, height (and images a
mime_type). Every writer (add, a stage's output, `artifact log`, migrate, verify --fix)
gets those facts from :func:`file_facts` or :func:`bytes_facts`, so they always agree.
"""

from __future__ import annotations

import hashlib
import io
import mimetypes
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from .. import store
from ..probe import VIDEO_EXTENSIONS


@dataclass(frozen=True)
class FileFacts:
    """sha256, size, dimensions (None for a file that is not a picture) and MIME type."""

    sha256: str
    file_size: int
    width: int | None = None
    height: int | None = None
    mime_type: str | None = None


def mime_for(name: str | Path) -> str | None:
    suffix = Path(name).suffix.lower()
    if suffix in VIDEO_EXTENSIONS:
        return VIDEO_EXTENSIONS[suffix]
    return mimetypes.guess_type(f"x{suffix}")[0]


def file_facts(path: Path, sha256: str | None = None) -> FileFacts:
    """Facts of a stored file; reads its bytes once for the hash and its header for the size.

    ``sha256`` skips the hashing when the caller already has it (it just wrote the bytes).
    """
    digest = sha256 or store.sha256_file(path)
    width = height = None
    if path.suffix.lower() not in VIDEO_EXTENSIONS:
        try:
            with Image.open(path) as im:
                width, height = im.size
        except Exception:  # a non-image artifact (a video, an HTML page) has no dimensions
            pass
    return FileFacts(digest, path.stat().st_size, width, height, mime_for(path))


def bytes_facts(data: bytes, name: str, size: tuple[int, int] | None = None) -> FileFacts:
    """Facts of bytes about to be stored as ``name``; ``size`` when the caller knows it."""
    width = height = None
    if size is not None:
        width, height = size
    elif Path(name).suffix.lower() not in VIDEO_EXTENSIONS:
        try:
            with Image.open(io.BytesIO(data)) as im:
                width, height = im.size
        except Exception:
            pass
    return FileFacts(hashlib.sha256(data).hexdigest(), len(data), width, height, mime_for(name))
