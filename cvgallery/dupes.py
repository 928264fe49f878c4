"""Near-duplicate groups of the catalog's pictures, from their stored perceptual hashes.

A hash is computed once per picture and kept in images.phash: `process` stores it while
the web copy is in memory (the ``phash`` Fingerprint hook, cvgallery.stages.phash);
pictures nobody has processed yet (pending ones, the ones a review decides about) are
hashed on demand here, from a small draft decode of their original, and stored too.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image, ImageOps

from .perceptual import DEFAULT_THRESHOLD, group_near_duplicates, hash_to_hex, perceptual_hash
from .pixels import check_pixel_limit, flattened, pixel_limit, register_plugins

if TYPE_CHECKING:
    from .catalog import Catalog

#: the hash is taken from a picture this small at most (it looks at a 32x32 reduction)
DECODE_EDGE = 256
BATCH = 200


@dataclass
class DupesReport:
    groups: list[list[str]] = field(default_factory=list)
    hashed: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)


def hash_file(path: Path) -> str:
    """The perceptual hash of a stored picture, upright, from a draft decode.

    Any mode is flattened on white as 8-bit, like the web copy the hash is compared with.
    """
    register_plugins()
    with Image.open(path) as im:
        check_pixel_limit(im.size)
        im.draft("RGB", (DECODE_EDGE, DECODE_EDGE))
        upright = ImageOps.exif_transpose(im)
        return hash_to_hex(perceptual_hash(flattened(upright)))


def fill_missing(catalog: Catalog) -> tuple[int, list[tuple[str, str]]]:
    """Hash every reviewable picture that has no hash yet; (how many, failures)."""
    todo = catalog.images.without_phash()
    failed: list[tuple[str, str]] = []
    made = 0
    if not todo:
        return made, failed

    def one(row: Any) -> tuple[str, str | None, str | None]:
        try:
            return row["id"], hash_file(catalog.art_dir / row["file_path"]), None
        except Exception as exc:  # an unreadable picture has no hash; the others go on
            return row["id"], None, f"{row['file_path']}: {type(exc).__name__}: {exc}"

    workers = min(8, (os.cpu_count() or 1) + 1)
    with pixel_limit(catalog.config.max_pixels), ThreadPoolExecutor(workers) as pool:
        for first in range(0, len(todo), BATCH):
            results = list(pool.map(one, todo[first : first + BATCH]))
            with catalog.transaction():
                for image_id, phash, error in results:
                    if phash is not None:
                        catalog.images.set_phash(image_id, phash)
                        made += 1
                    elif error is not None:
                        failed.append((image_id, error))
    return made, failed


def find_groups(catalog: Catalog, threshold: int = DEFAULT_THRESHOLD) -> DupesReport:
    """Groups of near-duplicate pictures (not rejected, not derived), largest first."""
    made, failed = fill_missing(catalog)
    items = [(image_id, int(phash, 16)) for image_id, phash in catalog.images.phashes()]
    groups = group_near_duplicates(items, threshold)
    groups.sort(key=lambda g: (-len(g), g))
    return DupesReport(groups, made, failed)
