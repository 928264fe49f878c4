"""BlurHash placeholders: blurhash_cache rows for a stage's artifacts (web-optimized by default).

A hash is computed from a small reduction of the artifact (a JPEG is draft-decoded at
1/8 scale, then thumbnailed to fit INPUT_EDGE px) with blurhash-rs. The library, its
version, the input size and the components are recorded in blurhash_cache.context,
since each of them changes the string; a row with another context, or older than its
artifact, is recomputed. `process` fills the hash of a web-optimized artifact while the
picture is still in memory; `fill_blurhashes` (called by `build` and `cvgallery blurhash`)
fills whatever is still missing.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import blurhash_rs
from PIL import Image

from .. import db

if TYPE_CHECKING:
    from ..catalog import Catalog

INPUT_EDGE = 32
BATCH = 200
WHITE = (255, 255, 255)


@lru_cache(maxsize=1)
def library_version() -> str:
    try:
        return importlib.metadata.version("blurhash-rs")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def context(x: int, y: int) -> str:
    """What blurhash_cache.context says for hashes made now, e.g. "blurhash-rs 2.0.0 32px 4x3"."""
    return f"blurhash-rs {library_version()} {INPUT_EDGE}px {x}x{y}"


def reduce(im: Image.Image) -> Image.Image:
    """The small RGB picture a hash is computed from (alpha flattened on white)."""
    if im.format == "JPEG":
        im.draft("RGB", (INPUT_EDGE, INPUT_EDGE))
    small = im.copy() if im.size[0] <= INPUT_EDGE and im.size[1] <= INPUT_EDGE else None
    if small is None:
        small = im.copy()
        small.thumbnail((INPUT_EDGE, INPUT_EDGE), Image.Resampling.BILINEAR)
    if small.mode in ("RGBA", "LA", "PA") or "transparency" in small.info:
        rgba = small.convert("RGBA")
        small = Image.new("RGB", rgba.size, WHITE)
        small.paste(rgba, mask=rgba.getchannel("A"))
    elif small.mode != "RGB":
        small = small.convert("RGB")
    return small


def encode_image(im: Image.Image, x: int, y: int) -> str:
    return str(blurhash_rs.blurhash_encode(reduce(im), x, y))


def encode_file(path: str | Path, x: int, y: int) -> str:
    with Image.open(path) as im:
        return encode_image(im, x, y)


@dataclass
class BlurhashReport:
    made: int = 0
    skipped: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (image_id, reason)


def fill_blurhashes(
    catalog: Catalog,
    stage: str = "web-optimized",
    ids: Iterable[str] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> BlurhashReport:
    """Fill blurhash_cache for every ``stage`` artifact lacking a current hash.

    ``ids`` limits the work to those images. Width and height stored are the artifact's.
    An unreadable artifact is reported in ``failed`` and the others go on.
    """
    config = catalog.config
    x, y = config.blurhash_x, config.blurhash_y
    ctx = context(x, y)
    rows = catalog.conn.execute(
        """SELECT a.image_id, a.file_path, a.width, a.height,
                  (b.image_id IS NOT NULL AND b.context IS ? AND b.created_at >= a.created_at)
                    AS current
           FROM artifacts a
           LEFT JOIN blurhash_cache b ON b.image_id = a.image_id AND b.stage = a.stage
           WHERE a.stage = ?
           ORDER BY a.image_id""",
        (ctx, stage),
    ).fetchall()
    wanted = set(ids) if ids is not None else None
    report = BlurhashReport()
    todo = []
    for row in rows:
        if wanted is not None and row["image_id"] not in wanted:
            continue
        if row["current"]:
            report.skipped += 1
        else:
            todo.append(row)
    pending: list[tuple[str, str, int, int]] = []
    for done, row in enumerate(todo, 1):
        path = catalog.art_dir / row["file_path"]
        try:
            with Image.open(path) as im:
                width, height = row["width"] or im.width, row["height"] or im.height
                pending.append((row["image_id"], encode_image(im, x, y), width, height))
        except Exception as exc:  # one unreadable artifact never stops the others
            report.failed.append((row["image_id"], f"{path}: {type(exc).__name__}: {exc}"))
        if len(pending) >= BATCH or done == len(todo):
            _store(catalog, stage, pending, ctx)
            report.made += len(pending)
            pending = []
        if on_progress:
            on_progress(done, len(todo))
    return report


def _store(catalog: Catalog, stage: str, rows: list[tuple[str, str, int, int]], ctx: str) -> None:
    if not rows:
        return
    with db.transaction(catalog.conn):
        for image_id, blurhash, width, height in rows:
            catalog.store_blurhash(image_id, stage, blurhash, width, height, ctx)
