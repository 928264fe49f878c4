"""`cvgallery migrate --dry-run`: the plan of a migration, from reading the legacy tree.

Nothing is written: not the legacy tree, not art/, not cv.db (opened read-only, or not at
all when it does not exist). Name-level problems (yes/, no/ and derived files with no
original, unmapped files, dotfiles) come from the file names; content problems (GIF,
unreadable, duplicate originals, malformed blurhashes) from reading img/ and blur/ once.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..catalog.archive import Archive
from ..catalog.images import Images
from ..config import SiteConfig
from ..errors import CvgalleryError
from ..ingest import batched
from ..probe import probe, probe_data
from .layout import (
    DERIVED,
    VERBATIM_DIR,
    Read,
    bad_name,
    blur_entry,
    check_legacy_dir,
    checked_blurhash,
    classify,
    files_in,
    line_of,
    owner_names,
    read_blur_file,
    read_file,
    walk,
)
from .report import MigrationReport

WORKERS = 4


def plan_migration(config: SiteConfig, legacy_dir: str | os.PathLike[str]) -> MigrationReport:
    """What `migrate` would do, from reading the legacy tree and (read-only) cv.db.

    Writes nothing at all: cv.db is opened read-only, or not at all when it does not exist.
    ``migrated`` holds the counts a run would record; ``already`` what an earlier run did.
    """
    legacy = check_legacy_dir(legacy_dir, config.art_dir)
    report = MigrationReport(str(legacy), dry_run=True)
    archive = _readonly_archive(config.db_path, report)
    try:
        _plan(legacy, archive, report)
    finally:
        if archive is not None:
            archive.conn.close()
    return report


def _readonly_archive(path: Path, report: MigrationReport) -> Archive | None:
    """The archive part of cv.db opened read-only; None when there is nothing to read."""
    if not path.is_file():
        return None
    try:
        return Archive.open_readonly(path)
    except (sqlite3.Error, CvgalleryError) as exc:
        report.note(str(path), "catalog", f"cannot read the catalog ({exc}); plan ignores it")
        return None


def _plan(legacy: Path, archive: Archive | None, report: MigrationReport) -> None:
    images = None if archive is None else Images(archive.conn)

    def known_id(stem: str) -> bool:
        return images is not None and images.exists(stem)

    def recorded(rels: list[str]) -> set[str]:
        return set() if archive is None else archive.recorded(rels)

    originals = {Path(r).stem for r in files_in(legacy, "img")}
    owners = set(originals)  # the names that will be images, as find_image sees them
    for folder in ("yes", "no"):
        for rel in files_in(legacy, folder):
            stem = Path(rel).stem
            owners.add(stem)
            if stem not in originals and not known_id(stem):
                report.note(rel, f"{folder} without original", "will be registered itself")
    # Derived files in migrate's order: the first one with no image becomes that image.
    for folder, stage in DERIVED:
        for chunk in batched(files_in(legacy, folder), 256):
            done = recorded(chunk)
            for rel in (r for r in chunk if r not in done):
                stem = Path(rel).stem
                if not owners.intersection(owner_names(stem, stage)) and not known_id(stem):
                    report.note(rel, "no original", "would be registered as its own image")
                    owners.add(stem)
    seen_sha: set[str] = set()
    with ThreadPoolExecutor(WORKERS) as pool:
        for chunk in batched(walk(legacy), 256):
            names = [r for r in chunk if not bad_name(r)]
            done = recorded(names)
            report.already += len(done)
            todo = []
            for rel in chunk:
                key = line_of(rel)
                report.found[key] = report.found.get(key, 0) + 1
                if key == "skipped":
                    report.skipped(rel)
                if key == "skipped" or rel in done:
                    continue
                todo.append(rel)
                report.count(key)
                if classify(rel)[0] == "other":
                    why = f"would be kept verbatim under art/{VERBATIM_DIR}/"
                    report.note(rel, "unmapped", why)
            img = [r for r in todo if classify(r)[0] == "img"]
            for item in pool.map(lambda r: read_file(legacy, r, False), img):
                _plan_original(item, seen_sha, report)
            for rel in (r for r in todo if classify(r)[0] == "blur"):
                _plan_blur(legacy, rel, owners, known_id, report)


def _plan_original(item: Read, seen_sha: set[str], report: MigrationReport) -> None:
    if item.error:
        report.error(item.rel, item.error)
        return
    if item.sha256 in seen_sha:
        report.note(item.rel, "duplicate", "same bytes as an earlier original")
    seen_sha.add(item.sha256)
    result = probe_data(item.src, item.data) if item.data is not None else probe(item.src)
    if not result.ok:
        report.note(item.rel, "rejected", str(result.reason))


def _plan_blur(
    legacy: Path,
    rel: str,
    owners: set[str],
    known_id: Callable[[str], bool],
    report: MigrationReport,
) -> None:
    """The problems migrate would report for one blur/ file (it keeps the file either way)."""
    try:
        entries = read_blur_file(rel, (legacy / rel).read_bytes())
    except (OSError, ValueError) as exc:
        report.error(rel, str(exc))
        return
    if entries is None:
        report.note(rel, "unmapped", "not a blurhash file; would be kept verbatim")
    for key, value in (entries or {}).items():
        where = blur_entry(rel, key)
        if str(key) not in owners and not known_id(str(key)):
            report.note(where, "blurhash", f"no image {key!r}: hash would not be imported")
            continue
        try:
            checked_blurhash(value)
        except ValueError as exc:
            report.error(where, str(exc))
