"""Checks of the catalog against the disk: `migrate`'s closing validation and `cvgallery verify`.

Both read every stored file at most once. The migration's validation trusts a hard link
(same inode as the legacy file, whose sha256 migrate computed) without reading it, and
compares the other files' sha256 with the hash recorded in legacy_files. `verify` hashes
each artifact file once (a pool of threads: hashlib and file reads release the GIL).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from . import store
from .catalog import STATUSES, Catalog, file_facts, transaction
from .ingest import batched
from .legacy_layout import VERBATIM_DIR, classify, group_key, is_migrated, is_skipped, walk
from .probe import VIDEO_EXTENSIONS, is_candidate

HASH_BATCH = 64
WORKERS = 4


def stored_location(art_dir: Path, conn: sqlite3.Connection, row: sqlite3.Row) -> Path | None:
    """Where the bytes of a legacy_files row live now (None: no artifact row)."""
    if row["stage"] is None or row["stage"] == "gallery-html":
        return art_dir / VERBATIM_DIR / row["path"]
    found = conn.execute(
        "SELECT file_path FROM artifacts WHERE image_id = ? AND stage = ?",
        (row["image_id"], row["stage"]),
    ).fetchone()
    return None if found is None else art_dir / found[0]


def stage_files(folder: Path) -> Iterator[os.DirEntry[str]]:
    """Regular files of an art/<stage>/ folder, temporaries and dotfiles left out."""
    if folder.is_dir():
        for entry in os.scandir(folder):
            if entry.is_file(follow_symlinks=False) and not entry.name.startswith("."):
                yield entry


# -- migrate's validation --------------------------------------------------------------------


def validate_migration(catalog: Catalog, legacy: Path) -> dict[str, Any]:
    """Per group: files in the legacy tree vs legacy_files rows vs stored files that match.

    Per stage: artifact rows vs files under art/<stage>/. ``ok`` is False if anything differs.
    """
    conn, art = catalog.conn, catalog.art_dir
    groups: dict[str, dict[str, int]] = {}
    problems: list[dict[str, str]] = []

    def bump(key: str, column: str) -> None:
        line = groups.setdefault(key, dict.fromkeys(("found", "recorded", "matching"), 0))
        line[column] += 1

    for chunk in batched((r for r in walk(legacy) if not is_skipped(r)), 500):
        marks = ",".join("?" * len(chunk))
        sizes = dict(
            conn.execute(
                f"SELECT path, file_size FROM legacy_files WHERE path IN ({marks})", chunk
            ).fetchall()
        )
        for rel in chunk:
            key = group_key(*classify(rel))
            bump(key, "found")
            if rel not in sizes:
                problems.append({"path": rel, "problem": "not migrated (no legacy_files row)"})
                continue
            bump(key, "recorded")
            if sizes[rel] != (legacy / rel).stat().st_size:
                problems.append({"path": rel, "problem": "legacy file changed since migration"})

    last: tuple[Path | None, str | None] = (None, None)  # rows sharing bytes are adjacent
    rows = conn.execute("SELECT * FROM legacy_files ORDER BY image_id, stage, path")
    while batch := rows.fetchmany(500):
        for row in batch:
            key = group_key(*classify(row["path"]))
            where = stored_location(art, conn, row)
            if where is None:
                problems.append({"path": row["path"], "problem": f"no {row['stage']} artifact"})
                continue
            if not where.is_file():
                problems.append({"path": row["path"], "problem": f"missing {where}"})
                continue
            if last[0] == where:
                actual = last[1]
            elif store.same_file(legacy / row["path"], where):
                actual = row["sha256"]  # a hard link: the bytes migrate hashed, not read again
            else:
                actual = store.sha256_file(where)
            last = (where, actual)
            if actual != row["sha256"]:
                problems.append({"path": row["path"], "problem": f"sha256 differs: {where}"})
            elif key in groups:
                bump(key, "matching")

    stages = stage_counts(catalog)
    for stage, line in stages.items():
        if line["missing"] or line["orphans"]:
            problems.append(
                {"path": f"art/{stage}/", "problem": f"{line['missing']} rows without a file, "
                 f"{line['orphans']} files without a row"}
            )  # fmt: skip
    return {"groups": groups, "stages": stages, "problems": problems, "ok": not problems}


KEPT_LINE = "legacy (kept)"


def stage_counts(catalog: Catalog) -> dict[str, dict[str, int]]:
    """Per stage: artifact rows (and how many migrated), files in art/<stage>/, rows whose
    file is missing, picture files no row names. gallery-html (the built site) is left out;
    the line "legacy (kept)" compares legacy_files rows kept verbatim with art/legacy/."""
    conn, art, out = catalog.conn, catalog.art_dir, {}
    for stage in catalog.config.stage_names:
        if stage == "gallery-html":
            continue
        line = dict.fromkeys(("artifacts", "migrated", "files", "missing", "orphans"), 0)
        known: set[str] = set()
        for file_path, params in conn.execute(
            "SELECT file_path, processing_params FROM artifacts WHERE stage = ?", (stage,)
        ):
            known.add(file_path)
            line["artifacts"] += 1
            line["migrated"] += is_migrated(params)
            line["missing"] += not (art / file_path).is_file()
        for entry in stage_files(art / stage):
            line["files"] += 1
            rel = store.relative_path(stage, entry.name)
            line["orphans"] += rel not in known and is_candidate(entry.name)
        out[stage] = line
    kept = dict.fromkeys(("artifacts", "migrated", "files", "missing", "orphans"), 0)
    kept["files"] = sum(len(f) for _d, _s, f in os.walk(art / VERBATIM_DIR))
    for (path,) in conn.execute(
        "SELECT path FROM legacy_files WHERE stage IS NULL OR stage = 'gallery-html'"
    ):
        kept["artifacts"] += 1
        kept["migrated"] += 1
        kept["missing"] += not (art / VERBATIM_DIR / path).is_file()
    kept["orphans"] = max(0, kept["files"] - kept["artifacts"] + kept["missing"])
    out[KEPT_LINE] = kept
    return out


# -- cvgallery verify ---------------------------------------------------------------------------


def verify_catalog(catalog: Catalog, fix: bool = False) -> dict[str, Any]:
    """Artifact rows vs files, orphans, constraint breaks. ``fix`` only does what is safe:
    register orphans whose id has a free slot (and orphans of upstream/ and video-sources/
    as new pending images), drop rows whose file is gone (artifacts, and
    legacy_files rows whose stored bytes are gone, which a new `migrate` then restores from
    the legacy tree). No file is ever deleted."""
    problems: list[dict[str, Any]] = []
    with ThreadPoolExecutor(WORKERS) as pool:
        for stage in catalog.config.stage_names:
            problems += _check_stage(catalog, stage, pool)
    problems += _check_constraints(catalog)
    if fix:
        _fix(catalog, problems)
    left = [p for p in problems if not p.get("fixed")]
    return {"problems": problems, "unfixed": len(left), "ok": not left}


def _check_stage(catalog: Catalog, stage: str, pool: ThreadPoolExecutor) -> list[dict[str, Any]]:
    art, out = catalog.art_dir, []
    known: set[str] = set()
    rows = catalog.conn.execute(
        "SELECT id, image_id, file_path, sha256 FROM artifacts WHERE stage = ? ORDER BY file_path",
        (stage,),
    )
    while batch := rows.fetchmany(HASH_BATCH):
        known.update(r["file_path"] for r in batch)
        hashes = pool.map(lambda r: _hash_or_none(art / r["file_path"]), batch)
        for row, actual in zip(batch, hashes, strict=True):
            base = {"stage": stage, "image_id": row["image_id"], "path": row["file_path"]}
            if actual is None:
                out.append({**base, "kind": "missing file", "artifact_id": row["id"]})
            elif row["sha256"] and actual != row["sha256"]:
                out.append({**base, "kind": "sha256 mismatch", "detail": f"file has {actual}"})
    if stage == "gallery-html":  # rendered pages and kept legacy files: not artifacts
        return out
    for entry in sorted(stage_files(art / stage), key=lambda e: e.name):
        rel = store.relative_path(stage, entry.name)
        if rel not in known and is_candidate(entry.name):
            out.append({"kind": "orphan file", "stage": stage, "path": rel})
    return out


def _hash_or_none(path: Path) -> str | None:
    try:
        return store.sha256_file(path)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None


_CONSTRAINT_QUERIES = [
    ("no images row", "SELECT 'artifacts', id, image_id, stage FROM artifacts"
     " WHERE image_id NOT IN (SELECT id FROM images)"),
    ("no images row", "SELECT 'jobs', id, image_id, stage FROM jobs"
     " WHERE image_id NOT IN (SELECT id FROM images)"),
    ("no images row", "SELECT 'blurhash_cache', rowid, image_id, stage FROM blurhash_cache"
     " WHERE image_id NOT IN (SELECT id FROM images)"),
    ("no images row", "SELECT 'legacy_files', path, image_id, stage FROM legacy_files"
     " WHERE image_id IS NOT NULL AND image_id NOT IN (SELECT id FROM images)"),
    ("parent_id has no images row", "SELECT 'images', id, parent_id, NULL FROM images"
     " WHERE parent_id IS NOT NULL AND parent_id NOT IN (SELECT id FROM images)"),
    ("duplicate sha256", "SELECT 'images', GROUP_CONCAT(id, ', '), sha256, NULL FROM images"
     " GROUP BY sha256 HAVING COUNT(*) > 1"),
    ("duplicate (image_id, stage)", "SELECT 'artifacts', GROUP_CONCAT(id, ', '), image_id, stage"
     " FROM artifacts GROUP BY image_id, stage HAVING COUNT(*) > 1"),
    ("both approved and rejected", "SELECT 'images', id, id, NULL FROM images"
     " WHERE approved = 1 AND rejected = 1"),
    ("file outside its stage folder", "SELECT 'artifacts', id, image_id, stage FROM artifacts"
     " WHERE substr(file_path, 1, length(stage) + 1) != stage || '/'"),
    ("legacy file has no artifact", "SELECT 'legacy_files', l.path, l.image_id, l.stage"
     " FROM legacy_files l WHERE l.image_id IS NOT NULL AND l.stage != 'gallery-html'"
     " AND l.stage IS NOT NULL"
     " AND NOT EXISTS (SELECT 1 FROM artifacts a"
     "                 WHERE a.image_id = l.image_id AND a.stage = l.stage)"),
]  # fmt: skip


def _check_constraints(catalog: Catalog) -> list[dict[str, Any]]:
    conn, out = catalog.conn, []
    for kind, sql in _CONSTRAINT_QUERIES:
        for table, key, image_id, stage in conn.execute(sql):
            out.append({"kind": kind, "table": table, "row": key, "image_id": image_id,
                        "stage": stage})  # fmt: skip
    stages = catalog.config.stage_names
    marks = ",".join("?" * len(stages))
    for table, key in (("artifacts", "id"), ("jobs", "id"), ("blurhash_cache", "rowid"),
                       ("legacy_files", "path")):  # fmt: skip
        # NULL NOT IN (...) is not true: only legacy_files may hold a NULL stage, and may.
        sql = f"SELECT {key}, stage FROM {table} WHERE stage NOT IN ({marks})"
        for row_key, stage in conn.execute(sql, stages):
            out.append({"kind": "unknown stage", "table": table, "row": row_key, "stage": stage})
    kept = catalog.art_dir / VERBATIM_DIR
    rows = conn.execute(
        "SELECT path, image_id FROM legacy_files WHERE stage IS NULL OR stage = 'gallery-html'"
    )
    while batch := rows.fetchmany(500):
        for path, image_id in batch:
            if not (kept / path).is_file():  # export-legacy needs these bytes
                out.append(
                    {"kind": "kept legacy file missing", "table": "legacy_files", "row": path,
                     "image_id": image_id, "path": f"{VERBATIM_DIR}/{path}"}
                )  # fmt: skip
    marks = ",".join("?" * len(STATUSES))
    for row_key, status in conn.execute(
        f"SELECT id, status FROM jobs WHERE status NOT IN ({marks})", STATUSES
    ):
        out.append({"kind": "unknown job status", "table": "jobs", "row": row_key,
                    "detail": status})  # fmt: skip
    return out


def _fix(catalog: Catalog, problems: list[dict[str, Any]]) -> None:
    conn = catalog.conn
    with transaction(conn):
        for p in problems:
            if p["kind"] == "missing file":
                conn.execute("DELETE FROM artifacts WHERE id = ?", (p["artifact_id"],))
                # The legacy files whose bytes were there go too, so migrate can restore them.
                legacy = conn.execute(
                    "DELETE FROM legacy_files WHERE image_id = ? AND stage = ?",
                    (p["image_id"], p["stage"]),
                ).rowcount
                p["fixed"] = "row dropped" + (
                    f" (+{legacy} legacy_files: rerun migrate)" * bool(legacy)
                )
            elif p["kind"] in ("kept legacy file missing", "legacy file has no artifact"):
                conn.execute("DELETE FROM legacy_files WHERE path = ?", (p["row"],))
                p["fixed"] = "legacy_files row dropped (rerun migrate to restore it)"
            elif p["kind"] == "orphan file":
                _register_orphan(catalog, p)
    _register_originals(catalog, [p for p in problems if _new_original(p)])


def _register_orphan(catalog: Catalog, p: dict[str, Any]) -> None:
    path = catalog.art_dir / p["path"]
    image_id = Path(p["path"]).stem
    if catalog.conn.execute("SELECT 1 FROM images WHERE id = ?", (image_id,)).fetchone() is None:
        p["detail"] = f"not fixed: no image {image_id!r}"
        return
    taken = catalog.artifacts.get(image_id, p["stage"])
    if taken is not None:
        p["detail"] = f"not fixed: {image_id!r} already has {taken['file_path']}"
        return
    catalog.artifacts.record(
        image_id=image_id, stage=p["stage"], file_path=p["path"], facts=file_facts(path),
        params={"registered_by": "verify --fix"},
    )  # fmt: skip
    p["image_id"] = image_id
    p["fixed"] = "registered"


def _new_original(p: dict[str, Any]) -> bool:
    """An unfixed orphan of upstream/ (a picture) or video-sources/ (a video): a new image."""
    if p["kind"] != "orphan file" or p.get("fixed"):
        return False
    video = Path(p["path"]).suffix.lower() in VIDEO_EXTENSIONS
    return bool(p["stage"] == ("video-sources" if video else "upstream"))


def _register_originals(catalog: Catalog, problems: list[dict[str, Any]]) -> None:
    """Registered in place by add_files, as `build` registers files dropped in those folders;
    pending (never approved here); a duplicate of an image's bytes is left alone."""
    from .ingest import add_files

    if not problems:
        return
    by_path = {catalog.art_dir / p["path"]: p for p in problems}
    for res in add_files(catalog, list(by_path), in_place=True, approve=False):
        p = by_path[res.path]
        if res.status in ("added", "rejected"):
            p.pop("detail", None)
            p["image_id"] = res.image_id
            p["fixed"] = f"registered as image {res.image_id!r}" + (
                f" (rejected: {res.reason})" if res.status == "rejected" else ""
            )
        elif res.status == "duplicate":
            p["detail"] = f"not fixed: same bytes as image {res.image_id!r}"
        else:
            p["detail"] = f"not fixed: {res.reason}"
