"""Matrix stages: an outside command with ``each``, one output per (source, each image).

Face swap makes one result per source face and style: ``input`` names the sources'
stage, ``each`` the styles' stage. The rule for these outputs, which do not fit the
seed's UNIQUE(image_id, stage):

* for every approved source S (parent_id IS NULL) with an ``input`` artifact and every
  approved image T with an ``each`` artifact, the command runs once, with ``{each}`` the
  path of T's artifact and ``{each_id}`` T's id (``{input}``, ``{id}`` are S's);
* the output is its own images row, id ``<S>--<T>``, parent_id = S, approved = 0 (it
  reaches the site through its parent's page, as video frames do), with the output's
  width, height, file_size, mime_type and sha256, and one artifact of the stage,
  art/<stage>/<S>--<T>.<ext>, whose processing_params name source_sha256 (S's input),
  each_sha256 (T's artifact) and each_id; a change of either, or of the command, remakes
  only the outputs it affects;
* the job is (S, stage, variant = T) in the jobs table. An id ``<S>--<T>`` held by an
  image that is not S's child, or an output that is the same picture as another image
  (images.sha256 is UNIQUE), fails that job with a message naming the other image.
"""

from __future__ import annotations

import json
import mimetypes
import sqlite3
from typing import TYPE_CHECKING, Any

from .. import db
from ..catalog import NOW
from ..config import StageConfig
from . import Made, record_made
from .command import command_params

if TYPE_CHECKING:
    from ..catalog import Catalog

SEPARATOR = "--"


def child_id(source_id: str, each_id: str) -> str:
    return f"{source_id}{SEPARATOR}{each_id}"


def config_key(cfg: StageConfig) -> str:
    return f"command {json.dumps(list(cfg.command))} ext={cfg.ext} each={cfg.each}"


def matrix_params(
    cfg: StageConfig, source_sha256: str | None, each_sha256: str | None, each_id: str
) -> dict[str, Any]:
    return {
        **command_params(cfg, source_sha256),
        "config_key": config_key(cfg),
        "each": cfg.each,
        "each_sha256": each_sha256,
        "each_id": each_id,
    }


# -- planning: catalog only -----------------------------------------------------------------

# Every (source, each) pair; o is the pair's output artifact, counted only on a row that is
# really the source's child (an unrelated image holding the id gets a job, which then fails).
_PAIRS = """FROM images i
    JOIN artifacts src ON src.image_id = i.id AND src.stage = ?
    JOIN artifacts e ON e.stage = ?
    JOIN images t ON t.id = e.image_id AND t.approved = 1
    LEFT JOIN images c ON c.id = i.id || '--' || t.id AND c.parent_id = i.id
    LEFT JOIN artifacts o ON o.image_id = c.id AND o.stage = ?
    WHERE i.approved = 1 AND i.parent_id IS NULL"""

_OUTDATED = """(o.id IS NULL OR (json_valid(o.processing_params)
     AND json_extract(o.processing_params, '$.generator') = 'cvgallery'
     AND (json_extract(o.processing_params, '$.config_key') IS NOT ?
          OR json_extract(o.processing_params, '$.source_sha256') IS NOT src.sha256
          OR json_extract(o.processing_params, '$.each_sha256') IS NOT e.sha256)))"""


def plan(catalog: Catalog, cfg: StageConfig) -> tuple[int, int]:
    """Queue a pending job per missing or outdated (source, each) output, unless that
    (image, stage, variant) already has a pending, running or failed job.

    Returns (up-to-date count, blocked count), like process.plan_stage.
    """
    assert SEPARATOR == "--"  # spelled out in _PAIRS
    pairs = (cfg.input, cfg.each, cfg.name)
    key = config_key(cfg)
    conn = catalog.conn
    with db.transaction(conn):
        conn.execute(
            f"""INSERT INTO jobs (image_id, stage, variant, status, retry_count)
                SELECT i.id, ?, t.id, 'pending', 0 {_PAIRS} AND {_OUTDATED}
                AND NOT EXISTS (SELECT 1 FROM jobs j
                                WHERE j.image_id = i.id AND j.stage = ? AND j.variant = t.id
                                AND j.status IN ('pending', 'running', 'failed'))""",
            (cfg.name, *pairs, key, cfg.name),
        )
        current, blocked = conn.execute(
            f"""SELECT COALESCE(SUM(NOT {_OUTDATED}), 0),
                       COALESCE(SUM({_OUTDATED} AND EXISTS (SELECT 1 FROM jobs j
                           WHERE j.image_id = i.id AND j.stage = ? AND j.variant = t.id
                           AND j.status = 'failed')), 0)
                {_PAIRS}""",
            (key, key, cfg.name, *pairs),
        ).fetchone()
    return int(current), int(blocked)


# -- before the run and after it: main process -------------------------------------------------


def check_child_id(conn: sqlite3.Connection, source_id: str, each_id: str, stage: str) -> str:
    """The child's id, or ValueError when an image that is not S's child holds it."""
    child = child_id(source_id, each_id)
    row = conn.execute("SELECT parent_id FROM images WHERE id = ?", (child,)).fetchone()
    if row is not None and row["parent_id"] != source_id:
        raise ValueError(
            f"image id {child!r} is already taken by another image (not a {stage} output "
            f"of {source_id!r}); rename that image or the style"
        )
    return child


def record_output(
    catalog: Catalog, source_id: str, each_id: str, made: Made
) -> tuple[str | None, list[str]]:
    """Register one output as the child row and its artifact (inside the caller's
    transaction). Returns (error or None, file paths that may no longer be recorded)."""
    conn = catalog.conn
    try:
        child = check_child_id(conn, source_id, each_id, made.stage)
    except ValueError as exc:
        return str(exc), [made.file_path]
    other = conn.execute(
        "SELECT id FROM images WHERE sha256 = ? AND id != ?", (made.sha256, child)
    ).fetchone()
    if other is not None:
        # images.sha256 is UNIQUE: the picture cannot be registered twice. The worker has
        # already replaced the child's file, so its old row goes too (never a row whose
        # file does not match its sha256).
        unused = [made.file_path, *drop_child(conn, child)]
        return (
            f"output {made.file_path} is the same picture as image {other['id']!r} "
            f"(sha256 {made.sha256[:12]}); not registered twice",
            unused,
        )
    mime = mimetypes.guess_type(made.file_path)[0] or "application/octet-stream"
    conn.execute(
        f"""INSERT INTO images (id, sha256, approved, rejected, width, height, file_size,
                                mime_type, parent_id, created_at, updated_at)
            VALUES (?, ?, 0, 0, ?, ?, ?, ?, ?, {NOW}, {NOW})
            ON CONFLICT (id) DO UPDATE SET sha256 = excluded.sha256,
                width = excluded.width, height = excluded.height,
                file_size = excluded.file_size, mime_type = excluded.mime_type""",
        (child, made.sha256, made.width, made.height, made.file_size, mime, source_id),
    )
    old = record_made(catalog, child, made)
    return None, [old] if old else []


def drop_child(conn: sqlite3.Connection, child: str) -> list[str]:
    """Delete a child row and everything recorded about it; return its artifact paths."""
    paths = [
        r[0] for r in conn.execute("SELECT file_path FROM artifacts WHERE image_id = ?", (child,))
    ]
    for table in ("artifacts", "blurhash_cache", "jobs"):
        conn.execute(f"DELETE FROM {table} WHERE image_id = ?", (child,))
    conn.execute("DELETE FROM images WHERE id = ?", (child,))
    return paths
