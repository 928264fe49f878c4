"""The jobs table: the seed's db-start-job / db-complete-job / db-fail-job, history and retry,
and the runner's atomic claims, owners and recovery of jobs a dead run left `running`."""

from __future__ import annotations

import os
import socket
import sqlite3
from typing import Any

from . import db, store
from .catalog import NOW, Catalog

STATUSES = ("pending", "running", "completed", "failed")


def start_job(catalog: Catalog, image_id: str, stage: str) -> int:
    """The seed's db-start-job: a `running` row; returns its id."""
    catalog.image(image_id)
    catalog.check_stage(stage)
    cur = catalog.conn.execute(
        f"INSERT INTO jobs (image_id, stage, status, started_at) VALUES (?, ?, 'running', {NOW})",
        (image_id, stage),
    )
    return int(cur.lastrowid or 0)


def complete_job(catalog: Catalog, image_id: str, stage: str) -> int:
    """The seed's db-complete-job; returns how many running jobs it closed."""
    cur = catalog.conn.execute(
        f"""UPDATE jobs SET status = 'completed', completed_at = {NOW}
            WHERE image_id = ? AND stage = ? AND status = 'running' AND variant IS NULL""",
        (image_id, stage),
    )
    return cur.rowcount


def fail_job(catalog: Catalog, image_id: str, stage: str, error_message: str) -> int:
    """The seed's db-fail-job: failed, with the message, and one more retry counted."""
    cur = catalog.conn.execute(
        f"""UPDATE jobs SET status = 'failed', completed_at = {NOW},
                            error_message = ?, retry_count = retry_count + 1
            WHERE image_id = ? AND stage = ? AND status = 'running' AND variant IS NULL""",
        (error_message, image_id, stage),
    )
    return cur.rowcount


def list_jobs(
    catalog: Catalog, status: str | None = None, limit: int | None = None
) -> list[dict[str, Any]]:
    sql = "SELECT * FROM jobs"
    params: list[Any] = []
    if status is not None:
        sql += " WHERE status = ?"
        params.append(status)
    sql += " ORDER BY id"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    return [dict(row) for row in catalog.conn.execute(sql, params)]


def retry_failed(catalog: Catalog, max_retries: int | None = None) -> list[sqlite3.Row]:
    """Turn failed jobs with retry_count below the maximum back into pending ones.

    The maximum is the stage's max_retries when site.toml sets one, else [jobs] max_retries.
    """
    requeued = []
    with db.transaction(catalog.conn):
        failed = catalog.conn.execute(
            "SELECT id, image_id, stage, retry_count FROM jobs WHERE status = 'failed' ORDER BY id"
        ).fetchall()
        for job in failed:
            limit = (
                max_retries
                if max_retries is not None
                else catalog.config.max_retries_for(job["stage"])
            )
            if job["retry_count"] < limit:
                catalog.conn.execute(
                    """UPDATE jobs SET status = 'pending', started_at = NULL, completed_at = NULL,
                                      owner = NULL
                       WHERE id = ? AND status = 'failed'""",
                    (job["id"],),
                )
                requeued.append(job)
    return requeued


# -- the runner's side: owners, atomic claims, recovery ----------------------------------------
#
# A job claimed by `process` records its owner as "host:pid:start", where start is the
# process start time from /proc (clock ticks since boot). A running job whose owner is
# on this host and whose pid is gone (or now belongs to a process started at another
# time, i.e. the pid was reused) was left by a dead run; the next run puts it back to
# pending. Owners on other hosts are never judged: a live run's jobs are never taken.


def process_start_time(pid: int) -> str | None:
    """The start time of a live process, None when it is gone (or a zombie)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            stat = f.read()
    except OSError:
        if os.path.isdir("/proc/self"):
            return None
        # No /proc (not Linux): alive or not, with no start time to tell a reused pid.
        return "0" if store.pid_alive(pid) else None
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    fields = stat[stat.rfind(")") + 2 :].split()
    if not fields or fields[0] in ("Z", "X"):
        return None
    return fields[19]  # field 22 of the whole line: starttime


def owner_id(pid: int | None = None) -> str:
    pid = os.getpid() if pid is None else pid
    return f"{socket.gethostname()}:{pid}:{process_start_time(pid) or '0'}"


def owner_alive(owner: str) -> bool:
    """False only when we can tell: same host and the pid is gone or was reused."""
    host, _, rest = owner.partition(":")
    pid_text, _, start = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return True
    current = process_start_time(int(pid_text))
    return current is not None and (start in ("", "0") or current == start)


def recover_dead(catalog: Catalog) -> list[sqlite3.Row]:
    """Put jobs left `running` by dead owners back to pending; return them
    (id, image_id, stage, variant)."""
    conn = catalog.conn
    owners = [
        r[0]
        for r in conn.execute(
            "SELECT DISTINCT owner FROM jobs WHERE status = 'running' AND owner IS NOT NULL"
        )
    ]
    dead = [o for o in owners if not owner_alive(o)]
    recovered: list[sqlite3.Row] = []
    if not dead:
        return recovered
    with db.transaction(conn):
        for owner in dead:
            recovered += conn.execute(
                """UPDATE jobs SET status = 'pending', owner = NULL, started_at = NULL
                   WHERE status = 'running' AND owner = ?
                   RETURNING id, image_id, stage, variant""",
                (owner,),
            ).fetchall()
    return recovered


# The pending jobs a run may take: an image un-approved since its job was queued keeps the
# job pending, untouched, until it is approved again.
_CLAIMABLE = """FROM jobs j JOIN images i ON i.id = j.image_id
    WHERE j.status = 'pending' AND j.stage IN ({marks}) AND i.approved = 1"""


def claimable(catalog: Catalog, stages: list[str]) -> int:
    """How many jobs of ``stages`` :func:`claim` would hand out, all claims together."""
    sql = "SELECT COUNT(*) " + _CLAIMABLE.format(marks=",".join("?" * len(stages)))
    return int(catalog.conn.execute(sql, stages).fetchone()[0])


def claim(catalog: Catalog, stages: list[str], owner: str, units: int) -> list[sqlite3.Row]:
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
    with db.transaction(catalog.conn):
        return catalog.conn.execute(
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


def finish(catalog: Catalog, job_ids: list[int], owner: str) -> None:
    """Mark claimed jobs completed (the caller holds the transaction)."""
    for job_id in job_ids:
        catalog.conn.execute(
            f"""UPDATE jobs SET status = 'completed', completed_at = {NOW}, error_message = NULL
                WHERE id = ? AND status = 'running' AND owner = ?""",
            (job_id, owner),
        )


def fail(catalog: Catalog, job_ids: list[int], owner: str, error_message: str) -> None:
    """Mark claimed jobs failed with the reason and one more retry (the caller holds the
    transaction)."""
    for job_id in job_ids:
        catalog.conn.execute(
            f"""UPDATE jobs SET status = 'failed', completed_at = {NOW}, error_message = ?,
                               retry_count = retry_count + 1
                WHERE id = ? AND status = 'running' AND owner = ?""",
            (error_message, job_id, owner),
        )


def release(catalog: Catalog, owner: str) -> int:
    """Give back jobs still running under ``owner`` (an interrupted run): pending again."""
    with db.transaction(catalog.conn):
        cur = catalog.conn.execute(
            """UPDATE jobs SET status = 'pending', owner = NULL, started_at = NULL
               WHERE status = 'running' AND owner = ?""",
            (owner,),
        )
    return cur.rowcount
