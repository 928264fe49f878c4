"""The jobs table: the seed's db-start-job / db-complete-job / db-fail-job, history and retry."""

from __future__ import annotations

import sqlite3
from typing import Any

from . import db
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
            WHERE image_id = ? AND stage = ? AND status = 'running'""",
        (image_id, stage),
    )
    return cur.rowcount


def fail_job(catalog: Catalog, image_id: str, stage: str, error_message: str) -> int:
    """The seed's db-fail-job: failed, with the message, and one more retry counted."""
    cur = catalog.conn.execute(
        f"""UPDATE jobs SET status = 'failed', completed_at = {NOW},
                            error_message = ?, retry_count = retry_count + 1
            WHERE image_id = ? AND stage = ? AND status = 'running'""",
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
