"""The legacy_files table: what `migrate` found in a legacy tree and what each file became.

One row per legacy file (its path relative to the legacy folder, its sha256 and size,
and ``(image_id, stage)``: the artifact holding its bytes, or NULL / 'gallery-html' for a
file kept verbatim under art/legacy/). The migration records rows and looks legacy names
up here, its validation compares rows with the disk, export-legacy reads them back.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from .images import NOW
from .schema import connect

BATCH = 500  # rows per fetch, and paths per IN (...) list (SQLite allows 32766 parameters)

# An image whose review is untouched since the migration recorded its last legacy file (its
# own, or one of an image made from it: a yes/ or no/ file with other bytes than the
# original): its yes/ and no/ entries are written back as they were (even an image in
# both), and none are invented. migrate sets a flag before it records the file that caused
# it. reviewed_at is NULL while the review is the one the row was inserted with.
UNCHANGED = """COALESCE(
    COALESCE(i.reviewed_at, '') <= (SELECT MAX(m.migrated_at) FROM legacy_files m
                                    WHERE m.image_id = i.id OR m.image_id IN
                                    (SELECT c.id FROM images c WHERE c.parent_id = i.id)),
    0)"""
REVIEW_COLUMNS = {"yes": "approved", "no": "rejected"}


def stream(cursor: sqlite3.Cursor) -> Iterator[Any]:
    """The rows of a query, fetched BATCH at a time (a legacy tree may have millions)."""
    while batch := cursor.fetchmany(BATCH):
        yield from batch


class Archive:
    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    @classmethod
    def open_readonly(cls, path: Path) -> Archive | None:
        """cv.db for reading only, for a dry run that must not write a byte; None when its
        schema predates legacy_files (nothing migrated yet). Raises sqlite3.Error or
        CatalogError when it cannot be opened.

        Without a -wal file everything is in the main file, which is then opened immutable:
        even a read-only WAL connection would create -wal and -shm.
        """
        if Path(f"{path}-wal").exists():
            conn = connect(path, readonly=True)
        else:
            uri = f"{path.resolve().as_uri()}?mode=ro&immutable=1"
            conn = sqlite3.connect(uri, uri=True, isolation_level=None)
            conn.row_factory = sqlite3.Row
        try:
            conn.execute("SELECT 1 FROM legacy_files LIMIT 1")
        except sqlite3.Error:
            conn.close()
            return None  # an older schema: nothing migrated yet
        return cls(conn)

    # -- migrate ---------------------------------------------------------------------------

    def recorded(self, paths: list[str]) -> set[str]:
        """Which of these legacy paths an earlier run already recorded."""
        found: set[str] = set()
        for i in range(0, len(paths), BATCH):
            chunk = paths[i : i + BATCH]
            marks = ",".join("?" * len(chunk))
            rows = self.conn.execute(
                f"SELECT path FROM legacy_files WHERE path IN ({marks})", chunk
            )
            found.update(str(r[0]) for r in rows)
        return found

    def record(
        self, path: str, image_id: str | None, stage: str | None, sha256: str, file_size: int
    ) -> None:
        self.conn.execute(
            f"""INSERT OR REPLACE INTO legacy_files (path, image_id, stage, sha256, file_size,
                                                     migrated_at)
                VALUES (?, ?, ?, ?, ?, {NOW})""",
            (path, image_id, stage, sha256, file_size),
        )

    def has_rows_for(self, image_id: str) -> bool:
        sql = "SELECT 1 FROM legacy_files WHERE image_id = ? LIMIT 1"
        return self.conn.execute(sql, (image_id,)).fetchone() is not None

    def mark_migrated(self, image_id: str, stage: str, params: dict[str, str]) -> None:
        """Give the artifact its legacy origin, unless it already has processing params."""
        self.conn.execute(
            """UPDATE artifacts SET processing_params = ?
               WHERE image_id = ? AND stage = ? AND processing_params IS NULL""",
            (json.dumps(params, sort_keys=True), image_id, stage),
        )

    def find_image(self, names: Iterable[str]) -> str | None:
        """The image the first of ``names`` stands for: the image of its original in img/,
        else of its yes/ or no/ file, else the image with that id."""
        for name in names:
            for folder in ("img", "yes", "no"):
                # One range scan of the primary key: "folder/name" up to "folder/name/" holds
                # "folder/name" and every "folder/name.<ext>" (and a few longer names, dropped).
                # An image with a parent is a copy made from a yes/ or no/ file, not the
                # original. CROSS JOIN keeps that scan outermost (else SQLite may walk
                # idx_images_parent).
                rows = self.conn.execute(
                    """SELECT l.path, l.image_id FROM legacy_files l CROSS JOIN images i
                       ON i.id = l.image_id
                       WHERE l.path >= ? AND l.path < ? AND i.parent_id IS NULL
                       ORDER BY l.path""",
                    (f"{folder}/{name}", f"{folder}/{name}/"),
                )
                for path, image_id in rows:
                    if path == f"{folder}/{name}" or Path(path).stem == name:
                        return str(image_id)
            row = self.conn.execute("SELECT id FROM images WHERE id = ?", (name,)).fetchone()
            if row is not None:
                return str(row[0])
        return None

    def content_stage(self, image_id: str, sha256: str) -> str | None:
        """The stage whose artifact of image_id holds these bytes (upstream first)."""
        row = self.conn.execute(
            """SELECT stage FROM artifacts WHERE image_id = ? AND sha256 = ?
               ORDER BY stage != 'upstream', stage LIMIT 1""",
            (image_id, sha256),
        ).fetchone()
        return None if row is None else str(row[0])

    def blurhash_slot(self, image_id: str, stage: str) -> tuple[int | None, int | None, bool]:
        """(width, height, cached) for a hash of image_id's ``stage`` artifact: the size of
        that artifact, else of the image; whether blurhash_cache already has one."""
        width, height, cached = self.conn.execute(
            """SELECT COALESCE(a.width, i.width), COALESCE(a.height, i.height), b.image_id
               FROM images i
               LEFT JOIN artifacts a ON a.image_id = i.id AND a.stage = ?
               LEFT JOIN blurhash_cache b ON b.image_id = i.id AND b.stage = ?
               WHERE i.id = ?""",
            (stage, stage, image_id),
        ).fetchone()
        return width, height, cached is not None

    # -- the migration's validation ----------------------------------------------------------

    def sizes(self, paths: list[str]) -> dict[str, int]:
        """{path: recorded file_size} of those paths that have a row."""
        out: dict[str, int] = {}
        for i in range(0, len(paths), BATCH):
            chunk = paths[i : i + BATCH]
            marks = ",".join("?" * len(chunk))
            rows = self.conn.execute(
                f"SELECT path, file_size FROM legacy_files WHERE path IN ({marks})", chunk
            )
            out.update((str(p), int(s)) for p, s in rows)
        return out

    def rows(self) -> Iterator[sqlite3.Row]:
        """Every row, those sharing stored bytes (same image and stage) adjacent."""
        sql = "SELECT * FROM legacy_files ORDER BY image_id, stage, path"
        return stream(self.conn.execute(sql))

    def kept(self) -> Iterator[tuple[str, str | None]]:
        """(path, image_id) of the files kept verbatim under art/legacy/."""
        return stream(
            self.conn.execute(
                """SELECT path, image_id FROM legacy_files
                   WHERE stage IS NULL OR stage = 'gallery-html' ORDER BY path"""
            )
        )

    # -- export-legacy -----------------------------------------------------------------------

    def export_rows(self) -> Iterator[sqlite3.Row]:
        """Every row with its image's ``approved``, ``rejected`` and ``unchanged`` (no review
        since the migration), by path."""
        return stream(
            self.conn.execute(
                f"""SELECT l.*, i.approved, i.rejected, {UNCHANGED} AS unchanged
                    FROM legacy_files l LEFT JOIN images i ON i.id = l.image_id
                    ORDER BY l.path"""
            )
        )

    def unrecorded_artifacts(self, stages: tuple[str, ...]) -> Iterator[tuple[str, str]]:
        """(stage, file_path) of the artifacts of these stages no legacy file stands for."""
        marks = ",".join("?" * len(stages))
        return stream(
            self.conn.execute(
                f"""SELECT a.stage, a.file_path FROM artifacts a WHERE a.stage IN ({marks})
                    AND NOT EXISTS (SELECT 1 FROM legacy_files l
                                    WHERE l.image_id = a.image_id AND l.stage = a.stage)
                    ORDER BY a.stage, a.file_path""",
                stages,
            )
        )

    def reviews_since(self, folder: str) -> Iterator[str]:
        """Original file paths of the images approved (``folder`` yes) or rejected (no) in
        cvgallery since the migration, that have no legacy file in that folder."""
        column = REVIEW_COLUMNS[folder]  # a column name from a fixed set, never input
        rows = self.conn.execute(
            f"""SELECT a.file_path FROM images i
                JOIN artifacts a ON a.image_id = i.id
                     AND a.stage IN ('upstream', 'video-sources')
                WHERE i.{column} = 1 AND NOT ({UNCHANGED}) AND NOT EXISTS (
                    SELECT 1 FROM legacy_files l
                    WHERE l.image_id = i.id AND substr(l.path, 1, ?) = ?)
                ORDER BY a.file_path""",
            (len(folder) + 1, f"{folder}/"),
        )
        return (str(r[0]) for r in stream(rows))

    def blurhashes(self, stage: str) -> Iterator[tuple[str, str, str | None]]:
        """(image_id, blurhash, context) of every cached hash of ``stage``, by id."""
        return stream(
            self.conn.execute(
                """SELECT image_id, blurhash, context FROM blurhash_cache
                   WHERE stage = ? ORDER BY image_id""",
                (stage,),
            )
        )
