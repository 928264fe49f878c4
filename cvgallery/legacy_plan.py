"""`cvgallery migrate --dry-run`: the plan of a migration, from reading the legacy tree.

Nothing is written: not the legacy tree, not art/, not cv.db (opened read-only, or not at
all when it does not exist). Name-level problems (yes/, no/ and derived files with no
original, unmapped files, dotfiles) come from the file names; content problems (GIF,
unreadable, duplicate originals, malformed blurhashes) from reading img/ and blur/ once.
"""

from __future__ import annotations

import json
import os
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from . import db
from .config import SiteConfig
from .errors import CvgalleryError
from .ingest import batched
from .legacy_layout import (
    NUMBER_SUFFIX,
    SUFFIXED_STAGES,
    VERBATIM_DIR,
    MigrationReport,
    Read,
    bad_name,
    check_legacy_dir,
    classify,
    files_in,
    group_key,
    is_skipped,
    read_file,
    recorded,
    skip_reason,
    walk,
)
from .probe import probe, probe_data

WORKERS = 4


def plan_migration(config: SiteConfig, legacy_dir: str | os.PathLike[str]) -> MigrationReport:
    """What `migrate` would do, from reading the legacy tree and (read-only) cv.db.

    Writes nothing at all: cv.db is opened read-only, or not at all when it does not exist.
    ``migrated`` holds the counts a run would record; ``already`` what an earlier run did.
    """
    legacy = check_legacy_dir(legacy_dir, config.art_dir)
    report = MigrationReport(str(legacy), dry_run=True)
    conn = _readonly_catalog(config.db_path, report)
    try:
        _plan(legacy, conn, report)
    finally:
        if conn is not None:
            conn.close()
    return report


def _readonly_catalog(path: Path, report: MigrationReport) -> sqlite3.Connection | None:
    """cv.db for reading only. Without a -wal file everything is in the main file, which is
    then opened immutable: even a read-only WAL connection would create -wal and -shm."""
    if not path.is_file():
        return None
    try:
        if Path(f"{path}-wal").exists():
            conn = db.connect(path, readonly=True)
        else:
            uri = f"{path.resolve().as_uri()}?mode=ro&immutable=1"
            conn = sqlite3.connect(uri, uri=True, isolation_level=None)
    except (sqlite3.Error, CvgalleryError) as exc:
        report.note(str(path), "catalog", f"cannot read the catalog ({exc}); plan ignores it")
        return None
    try:
        conn.execute("SELECT 1 FROM legacy_files LIMIT 1")
    except sqlite3.Error:
        conn.close()
        return None  # an older schema: nothing migrated yet
    return conn


def _plan(legacy: Path, conn: sqlite3.Connection | None, report: MigrationReport) -> None:
    def known_id(stem: str) -> bool:
        return conn is not None and bool(
            conn.execute("SELECT 1 FROM images WHERE id = ?", (stem,)).fetchone()
        )

    originals = {Path(r).stem for sub in ("img", "v/mp4") for r in files_in(legacy, sub)}
    for folder in ("yes", "no"):
        for rel in files_in(legacy, folder):
            stem = Path(rel).stem
            if stem not in originals and not known_id(stem):
                report.note(rel, f"{folder} without original", "will be registered itself")
    seen_sha: set[str] = set()
    with ThreadPoolExecutor(WORKERS) as pool:
        for chunk in batched((r for r in walk(legacy)), 256):
            names = [r for r in chunk if not bad_name(r)]
            done = recorded(conn, names) if conn is not None else set()
            report.already += len(done)
            todo = []
            for rel in chunk:
                group, stage = classify(rel)
                key = "skipped" if is_skipped(rel) else group_key(group, stage)
                report.found[key] = report.found.get(key, 0) + 1
                if key == "skipped":
                    shown, why = skip_reason(rel)
                    if bad_name(rel):
                        report.error(shown, why)
                    else:
                        report.note(shown, "skipped", why)
                if key == "skipped" or rel in done:
                    continue
                todo.append(rel)
                report.count(key)
                if group == "other":
                    report.note(
                        rel, "unmapped", f"would be kept verbatim under art/{VERBATIM_DIR}/"
                    )
                elif group == "derived" and stage != "video-sources":
                    stem = Path(rel).stem
                    base = NUMBER_SUFFIX.match(stem) if stage in SUFFIXED_STAGES else None
                    if not ({stem, base.group(1) if base else stem} & originals) and not known_id(
                        stem
                    ):
                        report.note(rel, "no original", "would be registered as its own image")
            img = [r for r in todo if classify(r)[0] == "img"]
            for item in pool.map(lambda r: read_file(legacy, r, False), img):
                _plan_original(item, seen_sha, report)
            for rel in (r for r in todo if classify(r)[0] == "blur"):
                _plan_blur(legacy, rel, report)


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


def _plan_blur(legacy: Path, rel: str, report: MigrationReport) -> None:
    import blurhash_rs

    path = legacy / rel
    text = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix.lower() == ".json":
        try:
            mapping = json.loads(text)
        except json.JSONDecodeError as exc:
            report.error(rel, f"not JSON ({exc.msg} at char {exc.pos})")
            return
        if not isinstance(mapping, dict):
            report.error(rel, "not a JSON object mapping id to blurhash")
            return
    elif path.suffix.lower() in ("", ".txt", ".blurhash", ".hash"):
        mapping = {path.stem: text.strip()}
    else:
        return
    for key, value in mapping.items():
        try:
            blurhash_rs.blurhash_decode(str(value), 8, 8)
        except Exception as exc:
            where = f"{rel} [{key}]" if path.suffix.lower() == ".json" else rel
            report.error(where, f"malformed blurhash {value!r}: {exc}")
