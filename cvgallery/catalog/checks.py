"""Consistency checks of the catalog's rows, and the row deletions `verify --fix` may make.

The checks read rows only (cvgallery.verify compares them with the files); each finding
is a dict (``kind``, ``table``, ``row`` and what else names it), the shape `verify --json`
prints. Nothing here deletes a file.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

from .queue import STATUSES

# (kind, query) pairs; each query selects (table, row key, image_id, stage).
CONSTRAINT_QUERIES = [
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

# Tables with a stage column, and the column that names one of their rows.
STAGE_TABLES = (("artifacts", "id"), ("jobs", "id"), ("blurhash_cache", "rowid"),
                ("legacy_files", "path"))  # fmt: skip


class Checks:
    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def stage_rows(self, stage: str, batch: int) -> Iterator[list[sqlite3.Row]]:
        """The artifact rows of a stage (id, image_id, file_path, sha256, processing_params)
        by file_path, ``batch`` at a time (a caller hashes each batch's files together)."""
        rows = self.conn.execute(
            """SELECT id, image_id, file_path, sha256, processing_params FROM artifacts
               WHERE stage = ? ORDER BY file_path""",
            (stage,),
        )
        while chunk := rows.fetchmany(batch):
            yield chunk

    def broken_rows(self, stages: tuple[str, ...]) -> list[dict[str, Any]]:
        """Rows the schema's rules forbid: a missing images row or parent, duplicates, an
        image both approved and rejected, a file outside its stage folder, a legacy file
        whose artifact is gone, a stage outside ``stages``, a job status outside STATUSES."""
        out: list[dict[str, Any]] = []
        for kind, sql in CONSTRAINT_QUERIES:
            for table, key, image_id, stage in self.conn.execute(sql):
                out.append({"kind": kind, "table": table, "row": key, "image_id": image_id,
                            "stage": stage})  # fmt: skip
        marks = ",".join("?" * len(stages))
        for table, key in STAGE_TABLES:
            # NULL NOT IN (...) is not true: only legacy_files may hold a NULL stage, and may.
            sql = f"SELECT {key}, stage FROM {table} WHERE stage NOT IN ({marks})"
            for row_key, stage in self.conn.execute(sql, stages):
                out.append({"kind": "unknown stage", "table": table, "row": row_key,
                            "stage": stage})  # fmt: skip
        marks = ",".join("?" * len(STATUSES))
        for row_key, status in self.conn.execute(
            f"SELECT id, status FROM jobs WHERE status NOT IN ({marks})", STATUSES
        ):
            out.append({"kind": "unknown job status", "table": "jobs", "row": row_key,
                        "detail": status})  # fmt: skip
        return out

    # -- verify --fix: rows whose bytes are gone (never a file) --------------------------------

    def drop_artifact(self, artifact_id: int, image_id: str, stage: str) -> int:
        """Delete an artifact row and the legacy_files rows whose bytes it held (so a new
        `migrate` restores them from the legacy tree); return how many legacy rows went."""
        self.conn.execute("DELETE FROM artifacts WHERE id = ?", (artifact_id,))
        return self.conn.execute(
            "DELETE FROM legacy_files WHERE image_id = ? AND stage = ?", (image_id, stage)
        ).rowcount

    def drop_legacy_file(self, path: str) -> None:
        self.conn.execute("DELETE FROM legacy_files WHERE path = ?", (path,))
