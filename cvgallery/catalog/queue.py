"""The jobs table as a queue: planning, atomic claims, completion, failure, retry, recovery.

A job is (image_id, stage, variant): variant is NULL except for a matrix stage (a command
with ``each``), which has one job per (source, each image). Planning is one
INSERT ... SELECT per stage: what to do is decided from the catalog alone, so a no-op
`process` opens no image file, and a stage the plan memo (plan_memo.py) knows to be all
current, with nothing changed since, is not even counted again. The seed's db-start-job /
db-complete-job / db-fail-job are here too, for outside scripts.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable, Iterable
from typing import Any

from .images import NOW
from .plan_memo import PlanMemo, plan_key
from .schema import snapshot, transaction

STATUSES = ("pending", "running", "completed", "failed")

# An artifact is outdated when cvgallery made it (processing_params "generator") from other
# settings (config_key) or another source (source_sha256); one from elsewhere is current.
# CASE fixes the order (json_extract never sees text that is not JSON, which the seed's own
# SQL may store) and IS never yields NULL, so every row counts as current or outdated.
_OUTDATED = """(o.id IS NULL OR CASE WHEN json_valid(o.processing_params) THEN
     json_extract(o.processing_params, '$.generator') IS 'cvgallery'
     AND (json_extract(o.processing_params, '$.config_key') IS NOT ?
          OR json_extract(o.processing_params, '$.source_sha256') IS NOT src.sha256{extra})
     ELSE 0 END)"""

# A cheap test that holds for every current artifact cvgallery made: its processing_params,
# as artifacts.record writes them (json.dumps, sort_keys), hold the expected source and
# config key as text. Rows it holds for skip the JSON parsing of _OUTDATED (a no-op plan of
# 10,000 images parses no JSON); the others go through _OUTDATED, which decides. (Only a
# hand-made params document nesting these two keys could fool it.)
_SURELY_CURRENT = """o.id IS NOT NULL
     AND instr(o.processing_params, '"source_sha256": "' || src.sha256 || '"') > 0
     AND instr(o.processing_params, '"config_key": ' || json_quote(?)) > 0"""

# Part of every plan memo key (plan_memo): a cvgallery whose tests of "current" differ never
# trusts what another found. The fragments above are hashed; bump the tag when a test that
# lives in the methods changes (which sources want a stage: wider_than, edge).
_RULES = hashlib.sha256(f"{_OUTDATED}{_SURELY_CURRENT} wanted-by-width 1".encode()).hexdigest()[:16]

# The pictures written to since a gallery version (gallery_stamps: a picture's row and its
# artifacts stamp it): after a plan memo's version, only these can be missing or outdated.
_CHANGED_SINCE = "AND i.id IN (SELECT image_id FROM gallery_stamps WHERE version > ?)"

# Every (source, each) pair; o is the pair's output artifact, counted only on a row that is
# really the source's child (an unrelated image holding the id gets a job, which then fails).
_PAIRS = """FROM images i
    JOIN artifacts src ON src.image_id = i.id AND src.stage = ?
    JOIN artifacts e ON e.stage = ?
    JOIN images t ON t.id = e.image_id AND t.approved = 1
    LEFT JOIN images c ON c.id = i.id || ? || t.id AND c.parent_id = i.id
    LEFT JOIN artifacts o ON o.image_id = c.id AND o.stage = ?
    WHERE i.approved = 1 AND i.parent_id IS NULL"""

# The pending jobs a run may take: an image un-approved since its job was queued keeps the
# job pending, untouched, until it is approved again.
_CLAIMABLE = """FROM jobs j JOIN images i ON i.id = j.image_id
    WHERE j.status = 'pending' AND j.stage IN ({marks}) AND i.approved = 1"""


def _source(video_input: str | None) -> tuple[str, list[str]]:
    """SQL for the stage a source artifact is taken from: a video's resizes use its poster."""
    if video_input is None:
        return "?", []
    return "CASE WHEN i.mime_type LIKE 'video/%' THEN ? ELSE ? END", [video_input]


class JobQueue:
    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        self.memo = PlanMemo(conn)

    # -- planning ------------------------------------------------------------------------------

    def plan(
        self,
        stage: str,
        input_stage: str,
        config_key: str,
        video_input: str | None = None,
        *,
        wider_than: int = 0,
        edge: str = "width",
    ) -> tuple[int, int]:
        """Queue a pending job per approved original whose ``stage`` artifact is missing or
        outdated, unless it has a pending, running or failed one. Returns (up-to-date,
        blocked by an earlier failure). One transaction: two runs never queue twice.

        ``wider_than``: only sources whose width (``edge`` "longer": longer edge) is larger,
        or unknown, have the stage at all (a display size above the source's own)."""
        source, source_params = _source(video_input)
        size = "max(src.width, src.height)" if edge == "longer" else "src.width"
        base = f"""FROM images i
            JOIN artifacts src ON src.image_id = i.id AND src.stage = {source}
            LEFT JOIN artifacts o ON o.image_id = i.id AND o.stage = ?
            WHERE i.approved = 1 AND i.parent_id IS NULL
              AND (? = 0 OR src.width IS NULL OR {size} > ?)"""
        params = [*source_params, input_stage, stage, wider_than, wider_than]
        outdated = _OUTDATED.format(extra="")
        key = plan_key(_RULES, input_stage, config_key, video_input, wider_than, edge)
        with transaction(self.conn):
            # Known current since nothing planning reads changed: no read of its rows.
            changes, version = self.memo.changes(), self.memo.version()
            known = self.memo.current({stage: key}, changes)
            if stage in known:
                return known[stage], 0
            # Known current at an earlier version: only pictures changed since are looked at.
            since = self.memo.bases({stage: key}, changes, version).get(stage)
            if since is not None:
                base += f" {_CHANGED_SINCE}"
                params.append(since)
            # One pass first: a stage with nothing missing or outdated (a no-op run, every
            # stage but one after a change) costs one read of its rows, not three.
            current, stale = self.conn.execute(
                f"""SELECT COALESCE(SUM(NOT stale), 0), COALESCE(SUM(stale), 0)
                    FROM (SELECT CASE WHEN {_SURELY_CURRENT} THEN 0 ELSE {outdated} END
                          AS stale {base})""",
                (config_key, config_key, *params),
            ).fetchone()
            if since is not None:  # the others are current: count them, cheaply
                output = (stage, config_key, wider_than, edge)
                current = self._wanted(input_stage, [output], video_input)[stage] - stale
            if not stale:
                self.memo.remember(stage, key, changes, int(current), version)
                return int(current), 0
            self.conn.execute(
                f"""INSERT INTO jobs (image_id, stage, status, retry_count)
                    SELECT i.id, ?, 'pending', 0 {base} AND {outdated}
                    AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.image_id = i.id AND j.stage = ?
                                    AND j.variant IS NULL
                                    AND j.status IN ('pending', 'running', 'failed'))""",
                (stage, *params, config_key, stage),
            )
            (blocked,) = self.conn.execute(
                f"""SELECT COALESCE(SUM({outdated} AND EXISTS (SELECT 1 FROM jobs j
                               WHERE j.image_id = i.id AND j.stage = ? AND j.variant IS NULL
                               AND j.status = 'failed')), 0)
                    {base}""",
                (config_key, stage, *params),
            ).fetchone()
        return int(current), int(blocked)

    def stale_counts(
        self,
        input_stage: str,
        outputs: list[tuple[str, str, int, str]],
        video_input: str | None = None,
    ) -> dict[str, tuple[int, int]]:
        """For stages made from one input, (current, missing or outdated) per stage, in one
        read of the images: what :meth:`plan` counts before it queues anything. ``outputs``
        holds (stage, config_key, wider_than, edge) as :meth:`plan` takes them. A stage the
        plan memo knows to be all current is not counted again."""
        keys = {
            stage: plan_key(_RULES, input_stage, config_key, video_input, wider_than, edge)
            for stage, config_key, wider_than, edge in outputs
        }
        with snapshot(self.conn):  # the counter and the counts from the same state
            changes, version = self.memo.changes(), self.memo.version()
            known = self.memo.current(keys, changes)
            todo = [output for output in outputs if output[0] not in known]
            wanted = {output[0]: keys[output[0]] for output in todo}
            bases = self.memo.bases(wanted, changes, version)
            anew = [output for output in todo if output[0] not in bases]
            counts = self._count_stale(input_stage, anew, video_input)
            for since in sorted(set(bases.values())):
                group = [output for output in todo if bases.get(output[0]) == since]
                counts.update(self._count_stale(input_stage, group, video_input, since))
        found = {stage: (n, 0) for stage, n in known.items()}
        found.update(counts)
        if any(not stale for _current, stale in counts.values()):
            with transaction(self.conn):
                for stage, (current, stale) in counts.items():
                    if not stale:
                        self.memo.remember(stage, keys[stage], changes, current, version)
        return {stage: found[stage] for stage, *_rest in outputs}

    def _count_stale(
        self,
        input_stage: str,
        outputs: list[tuple[str, str, int, str]],
        video_input: str | None,
        since: int | None = None,
    ) -> dict[str, tuple[int, int]]:
        """:meth:`stale_counts` without the memo; with ``since``, the stale ones among the
        pictures changed after that gallery version (all others are current)."""
        if not outputs:
            return {}
        source, source_params = _source(video_input)
        outdated = _OUTDATED.format(extra="")
        columns, sums, params = [], [], []
        for n, (stage, config_key, wider_than, edge) in enumerate(outputs):
            size = "max(src.width, src.height)" if edge == "longer" else "src.width"
            columns.append(
                f"""(? = 0 OR src.width IS NULL OR {size} > ?) AS wanted{n},
                    COALESCE((SELECT CASE WHEN {_SURELY_CURRENT} THEN 0 ELSE {outdated} END
                              FROM artifacts o WHERE o.image_id = i.id AND o.stage = ?), 1)
                    AS stale{n}"""
            )
            sums.append(
                f"COALESCE(SUM(wanted{n} AND NOT stale{n}), 0), "
                f"COALESCE(SUM(wanted{n} AND stale{n}), 0)"
            )
            params += [wider_than, wider_than, config_key, config_key, stage]
        # MATERIALIZED: each row's tests run once (a flattened subquery would run them again
        # for every SUM that names them).
        changed = "" if since is None else _CHANGED_SINCE
        row = self.conn.execute(
            f"""WITH t AS MATERIALIZED (
                    SELECT {", ".join(columns)} FROM images i
                    JOIN artifacts src ON src.image_id = i.id AND src.stage = {source}
                    WHERE i.approved = 1 AND i.parent_id IS NULL {changed})
                SELECT {", ".join(sums)} FROM t""",
            (*params, *source_params, input_stage, *([] if since is None else [since])),
        ).fetchone()
        counts = {
            stage: (int(row[2 * n]), int(row[2 * n + 1]))
            for n, (stage, *_rest) in enumerate(outputs)
        }
        if since is None:
            return counts
        wanted = self._wanted(input_stage, outputs, video_input)
        return {stage: (wanted[stage] - stale, stale) for stage, (_n, stale) in counts.items()}

    def _wanted(
        self,
        input_stage: str,
        outputs: list[tuple[str, str, int, str]],
        video_input: str | None,
    ) -> dict[str, int]:
        """How many approved originals want each stage (current or not): one read of the
        images and their source artifacts, none of the outputs."""
        source, source_params = _source(video_input)
        sums, params = [], []
        for _stage, _key, wider_than, edge in outputs:
            size = "max(src.width, src.height)" if edge == "longer" else "src.width"
            sums.append(f"COALESCE(SUM(? = 0 OR src.width IS NULL OR {size} > ?), 0)")
            params += [wider_than, wider_than]
        row = self.conn.execute(
            f"""SELECT {", ".join(sums)} FROM images i
                JOIN artifacts src ON src.image_id = i.id AND src.stage = {source}
                WHERE i.approved = 1 AND i.parent_id IS NULL""",
            (*params, *source_params, input_stage),
        ).fetchone()
        return {stage: int(row[n]) for n, (stage, *_rest) in enumerate(outputs)}

    def plan_pairs(
        self, stage: str, input_stage: str, each: str, separator: str, config_key: str
    ) -> tuple[int, int]:
        """Like :meth:`plan`, one job per (approved source, approved image with an ``each``
        artifact): the output is the child ``<source><separator><each id>``."""
        pairs = (input_stage, each, separator, stage)
        outdated = _OUTDATED.format(
            extra=" OR json_extract(o.processing_params, '$.each_sha256') IS NOT e.sha256"
        )
        with transaction(self.conn):
            self.conn.execute(
                f"""INSERT INTO jobs (image_id, stage, variant, status, retry_count)
                    SELECT i.id, ?, t.id, 'pending', 0 {_PAIRS} AND {outdated}
                    AND NOT EXISTS (SELECT 1 FROM jobs j
                                    WHERE j.image_id = i.id AND j.stage = ? AND j.variant = t.id
                                    AND j.status IN ('pending', 'running', 'failed'))""",
                (stage, *pairs, config_key, stage),
            )
            current, blocked = self.conn.execute(
                f"""SELECT COALESCE(SUM(NOT {outdated}), 0),
                           COALESCE(SUM({outdated} AND EXISTS (SELECT 1 FROM jobs j
                               WHERE j.image_id = i.id AND j.stage = ? AND j.variant = t.id
                               AND j.status = 'failed')), 0)
                    {_PAIRS}""",
                (config_key, config_key, stage, *pairs),
            ).fetchone()
        return int(current), int(blocked)

    def source_of(
        self, image_id: str, input_stage: str, video_input: str | None = None
    ) -> sqlite3.Row | None:
        """The artifact (file_path, sha256) a job of ``image_id`` is made from."""
        source, source_params = _source(video_input)
        return self.conn.execute(
            f"""SELECT src.file_path, src.sha256 FROM images i
                JOIN artifacts src ON src.image_id = i.id AND src.stage = {source}
                WHERE i.id = ?""",
            (*source_params, input_stage, image_id),
        ).fetchone()

    # -- the runner's side: claims, results ------------------------------------------------------

    def claimable(self, stages: list[str]) -> int:
        """How many jobs of ``stages`` :meth:`claim` would hand out, all claims together."""
        sql = "SELECT COUNT(*) " + _CLAIMABLE.format(marks=",".join("?" * len(stages)))
        return int(self.conn.execute(sql, stages).fetchone()[0])

    def claim(self, stages: list[str], owner: str, units: int) -> list[sqlite3.Row]:
        """Atomically turn the pending jobs of up to ``units`` (image, variant) units (in
        ``stages``) into running ones owned by ``owner``. All of an image's jobs with the same
        variant come together, so one decode serves every stage of a group; a matrix stage's
        jobs (one variant per `each` image) are units of their own, so two runs share them.

        One UPDATE ... RETURNING inside BEGIN IMMEDIATE: two runs never claim the same job.
        The units are picked once (a materialised CTE; its subquery streams, no ORDER BY) and
        the unary + keeps the outer UPDATE on the (image_id, stage) index, so a claim costs
        the same with 10 or 100,000 jobs pending.
        """
        marks = ",".join("?" * len(stages))
        with transaction(self.conn):
            return self.conn.execute(
                f"""WITH unit(image_id, variant) AS MATERIALIZED (
                        SELECT DISTINCT j.image_id, j.variant {_CLAIMABLE.format(marks=marks)}
                        LIMIT ?)
                    UPDATE jobs SET status = 'running', owner = ?, started_at = {NOW},
                                   completed_at = NULL
                    WHERE +status = 'pending' AND +stage IN ({marks})
                      AND image_id IN (SELECT image_id FROM unit)
                      AND EXISTS (SELECT 1 FROM unit u
                                  WHERE u.image_id = jobs.image_id AND u.variant IS jobs.variant)
                    RETURNING id, image_id, stage, variant, retry_count""",
                (*stages, units, owner, *stages),
            ).fetchall()

    def finish(self, job_ids: Iterable[int], owner: str) -> None:
        """Mark claimed jobs completed (the caller holds the transaction)."""
        for job_id in job_ids:
            self.conn.execute(
                f"""UPDATE jobs SET status = 'completed', completed_at = {NOW},
                                   error_message = NULL
                    WHERE id = ? AND status = 'running' AND owner = ?""",
                (job_id, owner),
            )

    def fail(self, job_ids: Iterable[int], owner: str, error_message: str) -> None:
        """Mark claimed jobs failed with the reason and one more retry (the caller holds the
        transaction)."""
        for job_id in job_ids:
            self.conn.execute(
                f"""UPDATE jobs SET status = 'failed', completed_at = {NOW}, error_message = ?,
                                   retry_count = retry_count + 1
                    WHERE id = ? AND status = 'running' AND owner = ?""",
                (error_message, job_id, owner),
            )

    def release(self, owner: str) -> int:
        """Give back jobs still running under ``owner`` (an interrupted run): pending again."""
        with transaction(self.conn):
            cur = self.conn.execute(
                """UPDATE jobs SET status = 'pending', owner = NULL, started_at = NULL
                   WHERE status = 'running' AND owner = ?""",
                (owner,),
            )
        return cur.rowcount

    def running_owners(self) -> list[str]:
        rows = self.conn.execute(
            "SELECT DISTINCT owner FROM jobs WHERE status = 'running' AND owner IS NOT NULL"
        )
        return [str(r[0]) for r in rows]

    def requeue_owners(self, owners: list[str]) -> list[sqlite3.Row]:
        """Jobs left `running` by these (dead) owners go back to pending; returns them
        (id, image_id, stage, variant)."""
        requeued: list[sqlite3.Row] = []
        if not owners:
            return requeued
        with transaction(self.conn):
            for owner in owners:
                requeued += self.conn.execute(
                    """UPDATE jobs SET status = 'pending', owner = NULL, started_at = NULL
                       WHERE status = 'running' AND owner = ?
                       RETURNING id, image_id, stage, variant""",
                    (owner,),
                ).fetchall()
        return requeued

    # -- history and retry ----------------------------------------------------------------------

    def history(self, status: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        """Jobs oldest first; with ``limit``, the newest ``limit`` of them (like `tail`)."""
        sql = "SELECT * FROM jobs"
        params: list[Any] = []
        if status is not None:
            sql += " WHERE status = ?"
            params.append(status)
        if limit is not None:
            sql = f"SELECT * FROM ({sql} ORDER BY id DESC LIMIT ?)"
            params.append(limit)
        sql += " ORDER BY id"
        return [dict(row) for row in self.conn.execute(sql, params)]

    def counts(self) -> dict[str, int]:
        rows = self.conn.execute(
            "SELECT status, COUNT(*) FROM jobs GROUP BY status ORDER BY status"
        )
        return {str(status): int(n) for status, n in rows}

    def retry_failed(self, limit_for: Callable[[str], int]) -> list[sqlite3.Row]:
        """Failed jobs with retries left become pending again.

        ``limit_for(stage)`` is max_retries: how many times a job is retried after its
        first attempt (3: four attempts in all). retry_count is the seed's: one more on
        every failure, so a job has had ``retry_count - 1`` retries and may have another
        while ``retry_count <= max_retries``.
        """
        requeued = []
        with transaction(self.conn):
            failed = self.conn.execute(
                "SELECT id, image_id, stage, retry_count FROM jobs WHERE status = 'failed'"
                " ORDER BY id"
            ).fetchall()
            for job in failed:
                if job["retry_count"] <= limit_for(job["stage"]):
                    self._requeue(job["id"])
                    requeued.append(job)
        return requeued

    def exhausted(self, stage: str, max_retries: int) -> int:
        """Failed ``stage`` jobs of approved images that have used up their retries."""
        row = self.conn.execute(
            """SELECT COUNT(*) FROM jobs j JOIN images i ON i.id = j.image_id
               WHERE j.stage = ? AND j.status = 'failed' AND j.retry_count > ?
                 AND i.approved = 1""",
            (stage, max_retries),
        ).fetchone()
        return int(row[0])

    def retry_chosen(
        self, job_ids: Iterable[int] = (), image_ids: Iterable[str] = ()
    ) -> tuple[list[sqlite3.Row], list[str]]:
        """Make the chosen failed jobs pending again, whatever their retry_count: the jobs
        ``job_ids`` and every failed job of ``image_ids``. Returns (requeued, problems),
        a problem naming a job or image that could not be retried and why."""
        requeued: list[sqlite3.Row] = []
        problems: list[str] = []
        with transaction(self.conn):
            for job_id in dict.fromkeys(job_ids):
                row = self.conn.execute(
                    "SELECT id, image_id, stage, variant, status FROM jobs WHERE id = ?",
                    (job_id,),
                ).fetchone()
                if row is None:
                    problems.append(f"no job {job_id}")
                elif row["status"] != "failed":
                    problems.append(f"job {job_id} is {row['status']}, not failed")
                else:
                    self._requeue(row["id"])
                    requeued.append(row)
            for image_id in dict.fromkeys(image_ids):
                rows = self.conn.execute(
                    """SELECT id, image_id, stage, variant, status FROM jobs
                       WHERE image_id = ? AND status = 'failed' ORDER BY id""",
                    (image_id,),
                ).fetchall()
                if not rows:
                    problems.append(f"image {image_id!r} has no failed job")
                for row in rows:
                    self._requeue(row["id"])
                    requeued.append(row)
        return requeued, problems

    def _requeue(self, job_id: int) -> None:
        self.conn.execute(
            """UPDATE jobs SET status = 'pending', started_at = NULL,
                              completed_at = NULL, owner = NULL
               WHERE id = ? AND status = 'failed'""",
            (job_id,),
        )

    def settle(self, stage: str, units: Iterable[tuple[str, str | None]], note: str) -> int:
        """Complete the pending and failed ``stage`` jobs of these (image, variant) units:
        their output was made some other way (`artifact log`). ``note`` goes in
        error_message, so the history says why. Running jobs are a run's: left alone."""
        done = 0
        for image_id, variant in units:
            cur = self.conn.execute(
                f"""UPDATE jobs SET status = 'completed', completed_at = {NOW},
                                   error_message = ?, owner = NULL
                    WHERE image_id = ? AND stage = ? AND variant IS ?
                      AND status IN ('pending', 'failed')""",
                (note, image_id, stage, variant),
            )
            done += cur.rowcount
        return done

    # -- the seed's job functions, for outside scripts ------------------------------------

    def start(self, image_id: str, stage: str) -> int:
        """The seed's db-start-job: a `running` row (no owner: a script works on it)."""
        cur = self.conn.execute(
            f"INSERT INTO jobs (image_id, stage, status, started_at)"
            f" VALUES (?, ?, 'running', {NOW})",
            (image_id, stage),
        )
        return int(cur.lastrowid or 0)

    def complete(self, image_id: str, stage: str) -> int:
        """The seed's db-complete-job; returns how many running jobs it closed."""
        cur = self.conn.execute(
            f"""UPDATE jobs SET status = 'completed', completed_at = {NOW}
                WHERE image_id = ? AND stage = ? AND status = 'running' AND variant IS NULL""",
            (image_id, stage),
        )
        return cur.rowcount

    def fail_running(self, image_id: str, stage: str, error_message: str) -> int:
        """The seed's db-fail-job: failed, with the message, and one more retry counted."""
        cur = self.conn.execute(
            f"""UPDATE jobs SET status = 'failed', completed_at = {NOW},
                                error_message = ?, retry_count = retry_count + 1
                WHERE image_id = ? AND stage = ? AND status = 'running' AND variant IS NULL""",
            (error_message, image_id, stage),
        )
        return cur.rowcount
