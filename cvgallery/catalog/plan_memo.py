"""What the last plan of a stage found, while the images and artifacts tables are unchanged.

A no-op `process` would otherwise read every approved image and every output artifact
(900,000 rows and half a gigabyte for 100,000 pictures and the default stages) to find
that nothing is missing or outdated. Triggers (schema migration "plan memo") add one to
catalog_changes.changes on every insert and delete of images and artifacts, every update
of an artifact, and every update of the images columns planning reads (id, approved,
parent_id, mime_type). They fire whoever writes, cvgallery or the seed's SQL. A plan
that found every artifact of a stage current stores the counter it read (in the same
snapshot as its count), the stage's plan parameters and the count; while the counter
and the parameters are the same, the catalog is the same for that stage, so the stage is
still all current and the count still holds. Nothing is stored for a stage with work to
do: what it queues depends on the jobs table too.

After a change the memo still says which pictures need a look: every picture was current
at the gallery_version stored with it, and a picture whose rows or artifacts changed
since has a later stamp in gallery_stamps (the site-builds triggers, which fire on every
write to its images row and its artifacts). Only those are planned again; the others are
counted as current without reading their artifacts.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any


def plan_key(*parts: Any) -> str:
    """The text that identifies a stage's plan: every parameter that changes its result."""
    return json.dumps(parts)


class PlanMemo:
    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def changes(self) -> int | None:
        """The change counter (None without one: a hand-emptied table; nothing is
        remembered then)."""
        row = self.conn.execute("SELECT changes FROM catalog_changes WHERE id = 1").fetchone()
        return None if row is None else int(row[0])

    def version(self) -> int | None:
        """The gallery version (see schema: site builds); None without one."""
        row = self.conn.execute("SELECT version FROM gallery_version WHERE id = 1").fetchone()
        return None if row is None else int(row[0])

    def bases(
        self, keys: dict[str, str], changes: int | None, version: int | None
    ) -> dict[str, int]:
        """The stages of ``keys`` known to have been all current at a gallery version
        (their plan key unchanged): stage -> that version, not later than ``version``.
        Nothing without the change counter (a hand-emptied table: nothing is trusted)."""
        if changes is None or version is None or not keys:
            return {}
        marks = ",".join("?" * len(keys))
        rows = self.conn.execute(
            f"""SELECT stage, plan, version FROM plan_memo
                WHERE version IS NOT NULL AND version <= ? AND stage IN ({marks})""",
            (version, *keys),
        )
        return {str(stage): int(v) for stage, plan, v in rows if keys[stage] == plan}

    def current(self, keys: dict[str, str], changes: int | None) -> dict[str, int]:
        """The stages of ``keys`` (stage -> plan key) known to be all current at ``changes``,
        with their count."""
        if changes is None or not keys:
            return {}
        marks = ",".join("?" * len(keys))
        rows = self.conn.execute(
            f"""SELECT stage, plan, current FROM plan_memo
                WHERE changes = ? AND stage IN ({marks})""",
            (changes, *keys),
        )
        return {str(stage): int(n) for stage, plan, n in rows if keys[stage] == plan}

    def holds(self, name: str, key: str, version: int | None) -> int | None:
        """The count remembered for ``name`` with plan ``key`` at gallery ``version``, if
        that is what was remembered: for what depends on the rows the gallery version
        counts writes to (images, artifacts, blurhash_cache), as the BlurHash check does.
        (Version 0: ``key`` holds all the memo depends on.)"""
        if version is None:
            return None
        row = self.conn.execute(
            "SELECT plan, current FROM plan_memo WHERE stage = ? AND version = ?",
            (name, version),
        ).fetchone()
        return int(row[1]) if row is not None and row[0] == key else None

    def remember(
        self, stage: str, key: str, changes: int | None, current: int, version: int | None
    ) -> None:
        """Every ``stage`` artifact was current at ``changes`` and gallery ``version`` (read
        in the same snapshot; the caller holds the transaction)."""
        if changes is None:
            return
        self.conn.execute(
            """INSERT INTO plan_memo (stage, plan, changes, current, version)
               VALUES (?, ?, ?, ?, ?)
               ON CONFLICT (stage) DO UPDATE SET plan = excluded.plan,
                 changes = excluded.changes, current = excluded.current,
                 version = excluded.version""",
            (stage, key, changes, current, version),
        )
