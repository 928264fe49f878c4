"""The artifacts and blurhash_cache tables: one file per (image, stage), its placeholder hash.

These are the seed's db-log-artifact, db-find-ready and db-store-blurhash as named
methods. ``file_path`` is relative to art/ (``web-optimized/abc.jpeg``).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from typing import Any

from .facts import FileFacts
from .images import NOW
from .plan_memo import PlanMemo, plan_key
from .schema import snapshot, transaction

# Whether an artifact's cached BlurHash holds (parameters: context, "<library> %"), and
# the join it is read through (parameter: stage): see Artifacts.blurhash_candidates.
_HASH_CURRENT = """(b.image_id IS NOT NULL AND b.created_at >= a.created_at
    AND (b.context IS ? OR b.context IS NULL OR b.context NOT LIKE ?))"""
_STAMPED_SINCE = "SELECT image_id FROM gallery_stamps WHERE version > ?"
_HASH_JOIN = """
FROM artifacts a
LEFT JOIN blurhash_cache b ON b.image_id = a.image_id AND b.stage = a.stage
WHERE a.stage = ? """

class Artifacts:
    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def get(self, image_id: str, stage: str) -> sqlite3.Row | None:
        return self.conn.execute(
            "SELECT * FROM artifacts WHERE image_id = ? AND stage = ?", (image_id, stage)
        ).fetchone()

    def record(
        self,
        *,
        image_id: str,
        stage: str,
        file_path: str,
        facts: FileFacts,
        params: Any = None,
    ) -> str | None:
        """Insert or replace the (image, stage) artifact row; return the path it replaced,
        when that was another file (the caller removes it once the transaction commits)."""
        params_json = None if params is None else json.dumps(params, sort_keys=True)
        old = self.conn.execute(
            "SELECT file_path FROM artifacts WHERE image_id = ? AND stage = ?", (image_id, stage)
        ).fetchone()
        self.conn.execute(
            f"""INSERT INTO artifacts
                  (image_id, stage, file_path, sha256, width, height, file_size,
                   processing_params, created_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, {NOW})
                ON CONFLICT (image_id, stage) DO UPDATE SET
                  file_path = excluded.file_path, sha256 = excluded.sha256,
                  width = excluded.width, height = excluded.height,
                  file_size = excluded.file_size, processing_params = excluded.processing_params,
                  created_at = excluded.created_at""",
            (
                image_id,
                stage,
                file_path,
                facts.sha256,
                facts.width,
                facts.height,
                facts.file_size,
                params_json,
            ),
        )
        if old is not None and old[0] != file_path:
            return str(old[0])
        return None

    def hand_made(self, image_id: str, stage: str) -> bool:
        """Whether the (image, stage) artifact was made outside cvgallery (`artifact log`,
        `migrate`): no generator marker in its processing_params. `process` never
        replaces such a file (queue._OUTDATED counts it as current)."""
        row = self.conn.execute(
            """SELECT CASE WHEN json_valid(processing_params)
                      THEN json_extract(processing_params, '$.generator') IS NOT 'cvgallery'
                      ELSE 1 END
               FROM artifacts WHERE image_id = ? AND stage = ?""",
            (image_id, stage),
        ).fetchone()
        return row is not None and bool(row[0])

    def is_recorded(self, file_path: str) -> bool:
        row = self.conn.execute("SELECT 1 FROM artifacts WHERE file_path = ?", (file_path,))
        return row.fetchone() is not None

    def unrecorded(self, paths: list[str]) -> list[str]:
        """Those of ``paths`` no artifact row names (files that may be removed)."""
        return [p for p in paths if not self.is_recorded(p)]

    def listing_key(self, stage: str, folder: str) -> str:
        """What a listing of art/<stage>/ is compared with: ``folder`` (the folder's
        identity and mtime) and the stage's rows (how many, the highest and the sum of
        their ids: a row added or deleted, by cvgallery or the seed's SQL, changes it), read
        from the stage's index alone (an approval or a new thumbnail does not change it)."""
        count, top, total = self.conn.execute(
            "SELECT count(*), max(id), total(id) FROM artifacts WHERE stage = ?", (stage,)
        ).fetchone()
        return f"{folder}\0{count}:{top}:{total}"

    def listing_seen(self, stage: str, key: str) -> bool:
        """Whether a listing with ``key`` found only recorded files (version 0: the key
        says all the listing depends on)."""
        return PlanMemo(self.conn).holds(f"listing {stage}", key, 0) is not None

    def remember_listing(self, stage: str, key: str) -> None:
        memo = PlanMemo(self.conn)
        with transaction(self.conn):
            memo.remember(f"listing {stage}", key, memo.changes(), 0, 0)

    def names_in(self, stage: str) -> set[str]:
        """The file names recorded under art/<stage>/ (as strings: a build compares a
        folder listing of 100,000 names with them, in one set difference)."""
        cursor = self.conn.execute(
            "SELECT substr(file_path, ?) FROM artifacts WHERE stage = ? AND file_path LIKE ?",
            (len(stage) + 2, stage, f"{stage}/%"),
        )
        cursor.row_factory = None
        return {name for (name,) in cursor if isinstance(name, str)}

    def foreign(self, stages: tuple[str, ...], of: Iterable[str] | None = None) -> set[str]:
        """File paths of ``stages`` that cvgallery did not make (logged, synced, migrated):
        their bytes may carry an upload's metadata. With ``of``: only those of these
        images and their children (a build placing a few pictures' files reads no more)."""
        marks = ",".join("?" * len(stages))
        made_elsewhere = f"""stage IN ({marks})
            AND NOT (json_valid(COALESCE(processing_params, ''))
                     AND COALESCE(json_extract(processing_params, '$.generator'), '')
                         = 'cvgallery')"""
        if of is None:
            rows = self.conn.execute(
                f"SELECT file_path FROM artifacts WHERE {made_elsewhere}", stages
            )
            return {str(r[0]) for r in rows}
        found: set[str] = set()
        ids = list(dict.fromkeys(of))
        for start in range(0, len(ids), 400):
            batch = ids[start : start + 400]
            some = ",".join("?" * len(batch))
            # One set of ids first (the images' key and parent_id index), then their
            # artifacts by (stage, image_id): an OR across the two would scan every row.
            rows = self.conn.execute(
                f"""SELECT file_path FROM artifacts WHERE {made_elsewhere}
                    AND image_id IN (SELECT id FROM images WHERE id IN ({some})
                                     UNION SELECT id FROM images WHERE parent_id IN ({some}))""",
                (*stages, *batch, *batch),
            )
            found.update(str(r[0]) for r in rows)
        return found

    def counts(self) -> dict[str, int]:
        rows = self.conn.execute(
            "SELECT stage, COUNT(*) FROM artifacts GROUP BY stage ORDER BY stage"
        )
        return {str(stage): int(n) for stage, n in rows}

    def ready(self, input_stage: str, output_stage: str) -> list[str]:
        """The seed's db-find-ready: approved images with an input and no output artifact."""
        rows = self.conn.execute(
            """SELECT i.id FROM images i
               JOIN artifacts a1 ON i.id = a1.image_id AND a1.stage = ?
               LEFT JOIN artifacts a2 ON i.id = a2.image_id AND a2.stage = ?
               WHERE i.approved = TRUE AND a2.id IS NULL
               ORDER BY i.id""",
            (input_stage, output_stage),
        )
        return [str(r[0]) for r in rows]

    # -- blurhash_cache ----------------------------------------------------------------------

    def store_blurhash(
        self,
        image_id: str,
        stage: str,
        blurhash: str,
        width: int,
        height: int,
        context: str | None = None,
    ) -> None:
        """The seed's db-store-blurhash."""
        self.conn.execute(
            f"""INSERT OR REPLACE INTO blurhash_cache
                  (image_id, stage, blurhash, width, height, context, created_at)
                VALUES (?, ?, ?, ?, ?, ?, {NOW})""",
            (image_id, stage, blurhash, width, height, context),
        )

    def blurhash_candidates(self, stage: str, context: str, library: str) -> list[sqlite3.Row]:
        """Every ``stage`` artifact with ``current``: whether its cached hash still holds.

        A row made by ``library`` with another context, or any row older than its artifact,
        is not current; rows from elsewhere (no context, or another tool's) are kept.
        """
        return self.conn.execute(
            f"SELECT a.image_id, a.file_path, a.width, a.height, {_HASH_CURRENT} AS current"
            f"{_HASH_JOIN}ORDER BY a.image_id",
            (context, f"{library} %", stage),
        ).fetchall()

    def blurhash_stale(
        self, stage: str, context: str, library: str
    ) -> tuple[int, list[sqlite3.Row]]:
        """(how many hold, the rows that do not) of :meth:`blurhash_candidates`, told apart
        by SQLite. When all held at the gallery version there is now (the plan memo), the
        count remembered then: a build with nothing to hash reads one row, not 100,000.
        When all held at an earlier version, only the pictures stamped since (a write to
        their row, artifacts or hashes) are looked at: the others' hashes still hold."""
        memo = PlanMemo(self.conn)
        name, key = f"blurhash {stage}", plan_key("blurhash", stage, context, library)
        args: tuple[object, ...] = (stage, context, f"{library} %")  # the join's stage first
        with snapshot(self.conn):  # the version and the counts from the same state
            changes, version = memo.changes(), memo.version()
            held = memo.holds(name, key, version)
            if held is not None:
                return held, []
            since = memo.bases({name: key}, changes, version).get(name)
            changed = ""
            if since is not None:
                changed = f"AND a.image_id IN ({_STAMPED_SINCE})"
                args = (*args, since)
            stale = self.conn.execute(
                f"SELECT a.image_id, a.file_path, a.width, a.height, 0 AS current"
                f"{_HASH_JOIN}AND NOT {_HASH_CURRENT} {changed} ORDER BY a.image_id",
                args,
            ).fetchall()
            if since is not None:  # every row but the stale ones holds: count them all
                total = self.conn.execute(
                    "SELECT count(*) FROM artifacts WHERE stage = ?", (stage,)
                ).fetchone()[0]
                current = int(total) - len(stale)
            else:
                current = int(
                    self.conn.execute(
                        f"SELECT count(*){_HASH_JOIN}AND {_HASH_CURRENT}", args
                    ).fetchone()[0]
                )
        if not stale:
            # A write after the counts only makes the version newer than the one kept.
            with transaction(self.conn):
                memo.remember(name, key, changes, current, version)
        return current, stale
