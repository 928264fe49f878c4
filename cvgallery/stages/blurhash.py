"""BlurHash placeholders: blurhash_cache rows for a stage's artifacts (web-optimized by default).

A hash is computed from a small reduction of the artifact (a JPEG is draft-decoded at
1/8 scale, then thumbnailed to fit INPUT_EDGE px) with blurhash-rs. The library, its
version, the input size and the components are recorded in blurhash_cache.context,
since each of them changes the string; a row cvgallery made with another context, or
any row older than its artifact, is recomputed. Rows from elsewhere (the seed's
db-store-blurhash writes no context; `migrate` records where a hash came from) are kept
while their artifact is unchanged: they are hashes of the same picture. `process` fills
the hash of a web-optimized artifact while the picture is still in memory;
`fill_blurhashes` (called by `build` and `cvgallery blurhash`) fills whatever is missing.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import blurhash_rs
from PIL import Image

from ..pixels import eight_bit, flattened
from .base import Fingerprint, Made, register_fingerprint

if TYPE_CHECKING:
    from ..catalog import Catalog
    from ..config import SiteConfig

LIBRARY = "blurhash-rs"
#: the stage whose artifacts the gallery shows, and so the one whose placeholders it needs
STAGE = "web-optimized"
INPUT_EDGE = 32
BATCH = 200


@lru_cache(maxsize=1)
def library_version() -> str:
    import importlib.metadata  # slow to import: only a hashing run needs it

    try:
        return importlib.metadata.version(LIBRARY)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def context(x: int, y: int) -> str:
    """What blurhash_cache.context says for hashes made now, e.g. "blurhash-rs 2.0.0 32px 4x3"."""
    return f"{LIBRARY} {library_version()} {INPUT_EDGE}px {x}x{y}"


def reduce(im: Image.Image) -> Image.Image:
    """The small RGB picture a hash is computed from (alpha flattened on white)."""
    if im.format == "JPEG":
        im.draft("RGB", (INPUT_EDGE, INPUT_EDGE))
    small = im.copy()  # the caller's image stays as it was
    if small.mode not in ("RGB", "RGBA", "L", "LA") or "transparency" in small.info:
        # 16-bit, palette, a colour key...: 8-bit (the key an alpha) before resampling
        small = eight_bit(small)
    small.thumbnail((INPUT_EDGE, INPUT_EDGE), Image.Resampling.BILINEAR)  # never enlarges
    small = flattened(small)  # transparency (alpha or a colour key) on white
    return small if small.mode == "RGB" else small.convert("RGB")


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

    def line(self) -> str:
        return f"made {self.made}, skipped {self.skipped}, failed {len(self.failed)}"


def fill_blurhashes(
    catalog: Catalog,
    stage: str = STAGE,
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
    report = BlurhashReport()
    if ids is None:
        report.skipped, todo = catalog.artifacts.blurhash_stale(stage, ctx, LIBRARY)
    else:
        wanted = set(ids)
        todo = []
        for row in catalog.artifacts.blurhash_candidates(stage, ctx, LIBRARY):
            if row["image_id"] not in wanted:
                continue
            if row["current"]:
                report.skipped += 1
            else:
                todo.append(row)
    if not todo:
        return report
    # Pillow's decoders release the GIL: threads hash several artifacts at once.
    workers = min(8, (os.cpu_count() or 1) + 1)
    with ThreadPoolExecutor(workers) as pool:
        for first in range(0, len(todo), BATCH):
            chunk = todo[first : first + BATCH]
            hashed = list(pool.map(lambda row: _hash_row(catalog.art_dir, row, x, y), chunk))
            _store(catalog, stage, [h for h in hashed if isinstance(h, tuple)], ctx)
            for row, outcome in zip(chunk, hashed, strict=True):
                if isinstance(outcome, str):
                    report.failed.append((row["image_id"], outcome))
                else:
                    report.made += 1
            if on_progress:
                on_progress(first + len(chunk), len(todo))
    return report


def _hash_row(art_dir: Path, row: Any, x: int, y: int) -> tuple[str, str, int, int] | str:
    """(image_id, hash, width, height), or the reason it could not be computed."""
    path = art_dir / row["file_path"]
    try:
        with Image.open(path) as im:
            width, height = row["width"] or im.width, row["height"] or im.height
            return row["image_id"], encode_image(im, x, y), width, height
    except Exception as exc:  # one unreadable artifact never stops the others
        return f"{path}: {type(exc).__name__}: {exc}"


def _store(catalog: Catalog, stage: str, rows: list[tuple[str, str, int, int]], ctx: str) -> None:
    if not rows:
        return
    with catalog.transaction():
        for image_id, blurhash, width, height in rows:
            catalog.artifacts.store_blurhash(image_id, stage, blurhash, width, height, ctx)


# -- computed by `process` on the web copy it has just encoded ---------------------------------


def _options(config: SiteConfig) -> dict[str, Any]:
    return {"x": config.blurhash_x, "y": config.blurhash_y}


def _compute(im: Image.Image, options: dict[str, Any]) -> str:
    return encode_image(im, options["x"], options["y"])


def _store_hook(catalog: Catalog, image_id: str, made: Made, value: Any) -> None:
    if made.width and made.height:
        x, y = catalog.config.blurhash_x, catalog.config.blurhash_y
        catalog.artifacts.store_blurhash(
            image_id, made.stage, str(value), made.width, made.height, context(x, y)
        )


register_fingerprint(
    Fingerprint("blurhash", lambda _config: STAGE, _options, _compute, _store_hook)
)
