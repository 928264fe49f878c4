"""A site's catalog session: its config, one open cv.db connection and its art/ folder.

The SQL lives in the table modules beside this one, reached as named parts of the
session: ``catalog.images``, ``catalog.artifacts``, ``catalog.jobs``, ``catalog.gallery``,
``catalog.archive`` (legacy_files: what `migrate` found), ``catalog.checks`` (verify's) and
``catalog.builds`` (what each built page was made from).
Transactions belong to the caller (``with catalog.transaction(): ...``), so two steps that
must happen together (a row and its artifact, a job's result and its completion) do.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .. import store
from ..config import CONFIG_NAME, DEFAULT_SITE_TOML, SiteConfig, load_config
from ..errors import UnknownStage
from . import schema
from .archive import Archive
from .artifacts import Artifacts
from .builds import Builds
from .checks import Checks
from .gallery import Gallery
from .images import Images
from .queue import JobQueue


class Catalog:
    """A site's catalog: ``config``, ``conn`` (cv.db) and ``art_dir``, with the tables as
    named parts."""

    def __init__(self, config: SiteConfig, conn: sqlite3.Connection):
        self.config = config
        self.conn = conn
        self.images = Images(conn)
        self.artifacts = Artifacts(conn)
        self.jobs = JobQueue(conn)
        self.gallery = Gallery(conn, config.sort)
        self.archive = Archive(conn)
        self.checks = Checks(conn)
        self.builds = Builds(conn)

    @classmethod
    def open(cls, root: str | os.PathLike[str] | None = None) -> Catalog:
        config = load_config(root)
        return cls(config, schema.connect(config.db_path))

    @property
    def art_dir(self) -> Path:
        return self.config.art_dir

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT, rolled back on any exception."""
        with schema.transaction(self.conn) as conn:
            yield conn

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def check_stage(self, stage: str) -> str:
        if stage not in self.config.stage_names:
            raise UnknownStage(stage, self.config.stage_names)
        return stage

    def stats(self) -> dict[str, dict[str, int]]:
        """The seed's db-stats: image review counts, artifacts per stage, jobs per status."""
        return {
            "images": self.images.counts(),
            "artifacts": self.artifacts.counts(),
            "jobs": self.jobs.counts(),
        }

    def ready(self, input_stage: str, output_stage: str) -> list[str]:
        """The seed's db-find-ready."""
        return self.artifacts.ready(self.check_stage(input_stage), self.check_stage(output_stage))


def init_site(root: str | os.PathLike[str]) -> SiteConfig:
    """`cvgallery init`: site.toml if missing, art/<stage>/ folders, cv.db at the latest schema."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    config_path = root / CONFIG_NAME
    if not config_path.exists():
        store.write_text(config_path, DEFAULT_SITE_TOML)
    config = load_config(root)
    store.ensure_layout(config.art_dir, config.stage_names)
    schema.connect(config.db_path).close()
    return config
