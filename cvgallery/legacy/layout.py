"""The legacy layout: which folder maps to which stage, walking it, reading a file once,
placing it under art/, and where the bytes of a recorded legacy file live now.

The migration, its plan, its validation and export-legacy share these rules (see
cvgallery.legacy.migration for what becomes of each folder); `verify` reads them too.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image

from .. import store
from ..errors import UsageError
from ..probe import VIDEO_EXTENSIONS

if TYPE_CHECKING:
    import sqlite3

    from ..catalog import Catalog

VERBATIM_DIR = "legacy"  # relative to art/: legacy files kept verbatim (not artifacts)
IN_MEMORY_LIMIT = 16 << 20

# Legacy folder (relative, files directly inside) -> stage, in migration order.
DERIVED: tuple[tuple[str, str], ...] = (
    ("thumbs", "thumbnails-small"),
    ("t2", "web-optimized"),
    ("replicate/img", "ersgan-enhanced"),
    ("replicate/t2", "ersgan-thumbnails"),
    ("pub/W", "face-swap-sources"),
    ("pub/w-*", "face-swap-styles"),
    ("pub/w-*/results", "face-swap-results"),
    ("v/mp4", "video-sources"),
    ("v/img", "video-frames"),
)
SUFFIXED_STAGES = {"video-frames", "face-swap-results"}
NUMBER_SUFFIX = re.compile(r"^(.+?)[-_]\d+$")


def classify(rel: str) -> tuple[str, str | None]:
    """(group, stage) of a legacy path. Groups: img yes no derived html blur other."""
    parts = rel.split("/")
    top, n = parts[0], len(parts)
    if n == 2 and top in ("img", "yes", "no", "blur", "thumbs", "t2"):
        return {"img": ("img", "upstream"), "thumbs": ("derived", "thumbnails-small"),
                "t2": ("derived", "web-optimized")}.get(top, (top, None))  # fmt: skip
    if top in ("g", "W") or (top == "tmp" and n > 2 and parts[1] == "g"):
        return "html", "gallery-html"
    if n == 3 and top in ("replicate", "v", "pub"):
        sub = f"{top}/{parts[1]}"
        for folder, stage in DERIVED:
            if folder == sub:
                return "derived", stage
        if top == "pub" and parts[1].startswith("w-"):
            return "derived", "face-swap-styles"
    if n == 4 and top == "pub" and parts[1].startswith("w-") and parts[2] == "results":
        return "derived", "face-swap-results"
    return "other", None


def walk(legacy: Path) -> Iterator[str]:
    """Every file of the legacy tree as a relative path, sorted, dotfiles included."""
    for folder, dirs, files in os.walk(legacy):
        dirs.sort()
        rel_dir = os.path.relpath(folder, legacy)
        for name in sorted(files):
            yield name if rel_dir == "." else f"{rel_dir}/{name}".replace(os.sep, "/")


def is_skipped(rel: str) -> bool:
    """Dotfiles and dot-folders, and names that are not UTF-8 (SQLite stores text as UTF-8)."""
    return any(part.startswith(".") for part in rel.split("/")) or bad_name(rel)


def bad_name(rel: str) -> bool:
    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def skip_reason(rel: str) -> tuple[str, str]:
    """(shown path, why) for a skipped file; a non-UTF-8 name is shown with U+FFFD."""
    if bad_name(rel):
        shown = rel.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        return shown, "file name is not valid UTF-8: not migrated (rename it, then rerun)"
    return rel, "dotfile or dot-folder: not migrated"


def group_key(group: str, stage: str | None) -> str:
    """The line of the counts table a file falls in: its stage, or yes / no / blur / other."""
    return stage if group in ("img", "derived", "html") and stage else group


def line_of(rel: str) -> str:
    """group_key of a legacy path, or "skipped" for the files migrate leaves out."""
    return "skipped" if is_skipped(rel) else group_key(*classify(rel))


# -- reading a legacy file once: hash, size, dimensions --------------------------------


@dataclass
class Read:
    rel: str
    src: Path
    sha256: str = ""
    size: int = 0
    width: int | None = None
    height: int | None = None
    data: bytes | None = None  # kept for small files, so --copy does not read twice
    error: str | None = None


def read_file(legacy: Path, rel: str, dimensions: bool) -> Read:
    src = legacy / rel
    item = Read(rel, src)
    try:
        item.size = src.stat().st_size
        if item.size <= IN_MEMORY_LIMIT:
            item.data = src.read_bytes()
            item.sha256 = hashlib.sha256(item.data).hexdigest()
        else:
            item.sha256 = store.sha256_file(src)
    except OSError as exc:
        item.error = f"cannot read: {exc.strerror or exc}"
        return item
    if dimensions and src.suffix.lower() not in VIDEO_EXTENSIONS:
        try:
            with Image.open(io.BytesIO(item.data) if item.data is not None else src) as im:
                item.width, item.height = im.size
        except Exception:  # not a picture Pillow knows: no dimensions, still migrated
            pass
    return item


def read_batch(pool: ThreadPoolExecutor, legacy: Path, rels: list[str], dims: bool) -> list[Read]:
    return list(pool.map(lambda rel: read_file(legacy, rel, dims), rels))


def place(item: Read, dest: Path, copy: bool) -> None:
    """Put the legacy file at dest (atomically): hard link, or copy with --copy / across devices."""
    if dest.exists() and store.same_file(item.src, dest):
        return
    if copy:
        if item.data is not None:
            store.write_bytes(dest, item.data)
        else:
            store.copy_hashing(item.src, dest)
    else:
        store.link_or_copy(item.src, dest)


# -- names and marks ------------------------------------------------------------------------


def owner_names(stem: str, stage: str | None = None) -> list[str]:
    """The image names a legacy file name can stand for: its stem, and for video frames and
    face-swap results also the stem without a ``-N`` / ``_N`` suffix."""
    match = NUMBER_SUFFIX.match(stem)
    return [stem, match.group(1)] if stage in SUFFIXED_STAGES and match else [stem]


def params_for(rel: str) -> dict[str, str]:
    return {"migrated_from": rel}


def is_migrated(params_json: str | None) -> bool:
    """Whether an artifact's processing_params (or a blurhash context) came from params_for."""
    return bool(params_json and '"migrated_from"' in params_json)


# -- blur/ files ----------------------------------------------------------------------------

BLURHASH_EXTENSIONS = ("", ".txt", ".blurhash", ".hash")


def read_blur_file(rel: str, data: bytes) -> dict[str, object] | None:
    """The {key: hash} pairs of a blur/ file: blur/<id>[.txt|.blurhash|.hash] holds one
    hash, blur/<name>.json an object. None: not a blurhash file. ValueError: bad JSON."""
    path = Path(rel)
    text = data.decode("utf-8", errors="replace")
    if path.suffix.lower() == ".json":
        try:
            mapping = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not JSON ({exc.msg} at char {exc.pos})") from exc
        if not isinstance(mapping, dict):
            raise ValueError("not a JSON object mapping id to blurhash")
        return mapping
    if path.suffix.lower() in BLURHASH_EXTENSIONS:
        return {path.stem: text.strip()}
    return None


def blur_entry(rel: str, key: str) -> str:
    """How a report names one hash: the file, plus the key inside a JSON file."""
    return f"{rel} [{key}]" if Path(rel).suffix.lower() == ".json" else rel


def checked_blurhash(value: object) -> str:
    """``value`` if it is a blurhash that decodes; else ValueError saying why."""
    import blurhash_rs

    try:
        if not isinstance(value, str):
            raise ValueError("not a string")
        blurhash_rs.blurhash_decode(value, 8, 8)
    except Exception as exc:  # the decoder raises ValueError and others on bad input
        raise ValueError(f"malformed blurhash {value!r}: {exc}") from exc
    return value


def files_in(legacy: Path, sub: str) -> Iterator[str]:
    """Files directly inside legacy/sub ('*' in sub matches folder names), sorted."""
    head, star, rest = sub.partition("*")
    if star:
        parent = legacy / head.rsplit("/", 1)[0]
        prefix = head.rsplit("/", 1)[1]
        if not parent.is_dir():
            return
        for entry in sorted(os.scandir(parent), key=lambda e: e.name):
            if entry.is_dir() and entry.name.startswith(prefix) and not is_skipped(entry.name):
                yield from files_in(legacy, f"{os.path.relpath(entry.path, legacy)}{rest}")
        return
    folder = legacy / sub
    if folder.is_dir():
        # Names only (not DirEntry objects): the one list that grows with a folder's size.
        names = sorted(e.name for e in os.scandir(folder) if e.is_file() and not is_skipped(e.name))
        for name in names:
            yield f"{sub}/{name}"


def check_legacy_dir(legacy_dir: str | os.PathLike[str], art_dir: Path) -> Path:
    legacy = Path(legacy_dir).resolve()
    if not legacy.is_dir():
        raise UsageError(f"{legacy_dir}: not a folder")
    art = art_dir.resolve()
    if legacy == art or art in legacy.parents or legacy in art.parents:
        raise UsageError(f"{legacy_dir}: the legacy folder and the site's art/ must not nest")
    return legacy


def clean_temporaries(art_dir: Path) -> int:
    """Temporaries a killed run left in art/<stage>/ and the verbatim tree."""
    removed = store.clean_art_temp_files(art_dir)
    for folder, dirs, _files in os.walk(art_dir / VERBATIM_DIR):
        dirs[:] = [d for d in dirs if d != store.TEMP_DIR]
        removed += store.clean_temp_files(Path(folder))
    return removed


def stored_location(catalog: Catalog, row: sqlite3.Row) -> Path | None:
    """Where the bytes of a legacy_files row live now: its artifact, or its verbatim copy
    under art/legacy/ (None: the artifact row is gone)."""
    if row["stage"] is None or row["stage"] == "gallery-html":
        return catalog.art_dir / VERBATIM_DIR / row["path"]
    found = catalog.artifacts.get(row["image_id"], row["stage"])
    return None if found is None else catalog.art_dir / found["file_path"]
