"""The catalog: images, artifacts, review flags, statistics and "ready" queries.

These are the seed's operations (db-log-artifact, db-sync-artifacts, db-stats,
db-find-ready, db-migrate-approval) as parameterised SQL behind a small API.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from . import db, store
from .config import STAGES, SiteConfig, load_config
from .errors import CvgalleryError, UnknownImage, UnknownStage, UsageError
from .probe import VIDEO_EXTENSIONS, is_candidate

NOW = "strftime('%Y-%m-%d %H:%M:%f', 'now')"


class Catalog:
    """A site's catalog: its config, its open cv.db connection and its art/ folder."""

    def __init__(self, config: SiteConfig, conn: sqlite3.Connection):
        self.config = config
        self.conn = conn

    @classmethod
    def open(cls, root: str | os.PathLike[str] | None = None) -> Catalog:
        config = load_config(root)
        return cls(config, db.connect(config.db_path))

    @property
    def art_dir(self) -> Path:
        return self.config.art_dir

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- lookups -------------------------------------------------------------------------

    def check_stage(self, stage: str) -> str:
        if stage not in self.config.stage_names:
            raise UnknownStage(stage, self.config.stage_names)
        return stage

    def image(self, image_id: str) -> sqlite3.Row:
        row = self.conn.execute("SELECT * FROM images WHERE id = ?", (image_id,)).fetchone()
        if row is None:
            raise UnknownImage(image_id)
        return row

    def artifact(self, image_id: str, stage: str) -> sqlite3.Row | None:
        return self.conn.execute(
            "SELECT * FROM artifacts WHERE image_id = ? AND stage = ?", (image_id, stage)
        ).fetchone()

    # -- review (replaces yes/ and no/) ------------------------------------------------------

    def approve(self, ids: Iterable[str]) -> ReviewResult:
        """Approve each id (clearing any rejection); unknown ids are returned, not fatal."""
        return self._review(
            ids,
            "UPDATE images SET approved = 1, rejected = 0, rejection_reason = NULL WHERE id = ?",
            (),
        )

    def reject(self, ids: Iterable[str], reason: str | None = None) -> ReviewResult:
        return self._review(
            ids,
            "UPDATE images SET approved = 0, rejected = 1, rejection_reason = ? WHERE id = ?",
            (reason or "manual",),
        )

    def _review(self, ids: Iterable[str], sql: str, params: tuple[Any, ...]) -> ReviewResult:
        changed: list[str] = []
        unknown: list[str] = []
        with db.transaction(self.conn):
            for image_id in ids:
                cur = self.conn.execute(sql, (*params, image_id))
                (changed if cur.rowcount else unknown).append(image_id)
        return ReviewResult(changed, unknown)

    # -- statistics and queries --------------------------------------------------------------

    def stats(self) -> dict[str, dict[str, int]]:
        """The seed's db-stats: image review counts, artifacts per stage, jobs per status."""
        row = self.conn.execute(
            """SELECT COUNT(*),
                      COALESCE(SUM(approved = 1), 0),
                      COALESCE(SUM(rejected = 1), 0),
                      COALESCE(SUM(approved = 0 AND rejected = 0), 0)
               FROM images"""
        ).fetchone()
        images = dict(zip(("total", "approved", "rejected", "pending"), map(int, row), strict=True))
        artifacts = {
            stage: count
            for stage, count in self.conn.execute(
                "SELECT stage, COUNT(*) FROM artifacts GROUP BY stage ORDER BY stage"
            )
        }
        jobs = {
            status: count
            for status, count in self.conn.execute(
                "SELECT status, COUNT(*) FROM jobs GROUP BY status ORDER BY status"
            )
        }
        return {"images": images, "artifacts": artifacts, "jobs": jobs}

    def ready(self, input_stage: str, output_stage: str) -> list[str]:
        """The seed's db-find-ready: approved images with an input and no output artifact."""
        self.check_stage(input_stage)
        self.check_stage(output_stage)
        rows = self.conn.execute(
            """SELECT i.id FROM images i
               JOIN artifacts a1 ON i.id = a1.image_id AND a1.stage = ?
               LEFT JOIN artifacts a2 ON i.id = a2.image_id AND a2.stage = ?
               WHERE i.approved = TRUE AND a2.id IS NULL
               ORDER BY i.id""",
            (input_stage, output_stage),
        )
        return [r[0] for r in rows]

    # -- artifacts -----------------------------------------------------------------------------

    def record_artifact(
        self,
        image_id: str,
        stage: str,
        file_path: str,
        sha256: str | None,
        width: int | None,
        height: int | None,
        file_size: int | None,
        params: Any = None,
    ) -> str | None:
        """Insert or replace the (image, stage) artifact row; return the path it replaced, if other.

        Callers run this inside a transaction when they batch.
        """
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
            (image_id, stage, file_path, sha256, width, height, file_size, params_json),
        )
        if old is not None and old[0] != file_path:
            return str(old[0])
        return None

    def log_artifact(
        self, image_id: str, stage: str, path: str | os.PathLike[str], params: str | None = None
    ) -> ArtifactInfo:
        """The seed's db-log-artifact: record a file made outside cvgallery.

        A file outside art/<stage>/ is hard-linked (or copied) in as <id><ext>;
        the original stays where it was. A file the row pointed at before, under another
        name, is removed from art/<stage>/ once the new row is committed.
        """
        self.check_stage(stage)
        self.image(image_id)
        parsed = parse_params(params)
        src = Path(path)
        if not src.is_file():
            raise UsageError(f"{path}: no such file")
        folder = store.stage_dir(self.art_dir, stage)
        if src.resolve().parent == folder.resolve():
            dest = folder / src.name
        else:
            dest = folder / (store.safe_name(image_id) + src.suffix.lower())
            if not store.same_file(src, dest):
                store.link_or_copy(src, dest)
        info = describe_file(dest, store.relative_path(stage, dest.name))
        with db.transaction(self.conn):
            replaced = self.record_artifact(
                image_id,
                stage,
                info.file_path,
                info.sha256,
                info.width,
                info.height,
                info.file_size,
                parsed,
            )
        if replaced is not None:
            (self.art_dir / replaced).unlink(missing_ok=True)
        return info

    def sync_artifacts(self, stage: str, directory: str | os.PathLike[str]) -> list[SyncResult]:
        """The seed's db-sync-artifacts: log every image file under ``directory`` as ``stage``."""
        self.check_stage(stage)
        directory = Path(directory)
        if not directory.is_dir():
            raise UsageError(f"{directory}: not a folder")
        results = []
        for file in sorted(p for p in directory.rglob("*") if p.is_file() and is_candidate(p)):
            image_id = file.stem
            try:
                info = self.log_artifact(image_id, stage, file)
            except CvgalleryError as exc:
                results.append(SyncResult(file, image_id, None, str(exc)))
            else:
                results.append(SyncResult(file, image_id, info, None))
        return results

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


@dataclass
class ReviewResult:
    changed: list[str]
    unknown: list[str]


@dataclass(frozen=True)
class ArtifactInfo:
    file_path: str
    sha256: str
    width: int | None
    height: int | None
    file_size: int


@dataclass(frozen=True)
class SyncResult:
    path: Path
    image_id: str
    info: ArtifactInfo | None
    error: str | None


def parse_params(params: str | None) -> Any:
    if params is None:
        return None
    try:
        return json.loads(params)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"--params is not valid JSON ({exc.msg} at char {exc.pos}): {params!r}"
        ) from exc


def describe_file(path: Path, file_path: str) -> ArtifactInfo:
    """sha256, size and (for pictures) dimensions of a stored file; reads headers only."""
    sha = store.sha256_file(path)
    width = height = None
    if path.suffix.lower() not in VIDEO_EXTENSIONS:
        try:
            with Image.open(path) as im:
                width, height = im.size
        except Exception:  # a non-image artifact (a video, an HTML page) has no dimensions
            pass
    return ArtifactInfo(file_path, sha, width, height, path.stat().st_size)


def init_site(root: str | os.PathLike[str]) -> SiteConfig:
    """`cvgallery init`: site.toml if missing, art/<stage>/ folders, cv.db at the latest schema."""
    from .config import CONFIG_NAME, DEFAULT_SITE_TOML

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    config_path = root / CONFIG_NAME
    if not config_path.exists():
        store.write_text(config_path, DEFAULT_SITE_TOML)
    config = load_config(root)
    store.ensure_layout(config.art_dir, config.stage_names)
    db.connect(config.db_path).close()
    return config


__all__ = ["Catalog", "STAGES", "init_site", "describe_file", "parse_params"]
