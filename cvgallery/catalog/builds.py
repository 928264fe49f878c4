"""What each built site was made from: one row per output folder and per file.

cvgallery.site reads these to render only the pages whose inputs changed. A row of
``site_pages`` is (path, inputs, digest, deps, media): the fingerprint of what the file was
made from, the blake2b-128 digest of its bytes (publish reuses it instead of reading the
file), the site-wide facts its template read (JSON list) and, for an image page, the media
files it placed (space-separated). ``inputs`` NULL means "being rewritten": a build marks
the files it is about to replace or delete before it touches them, so a killed build's
files are made again by the next one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from typing import NamedTuple

from .schema import transaction

#: (path, inputs, digest, deps, media) as stored
PageRow = tuple[str, str | None, str | None, str | None, str | None]


class OutputState(NamedTuple):
    """The last build of one output folder."""

    id: int
    folder: str
    build: str
    settings: str | None
    gallery_version: int | None
    images: int
    complete: bool


class PageRecord(NamedTuple):
    path: str
    inputs: str | None
    digest: str | None
    deps: str | None
    media: str | None


class Builds:
    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def state(self, folder: str) -> OutputState | None:
        row = self.conn.execute(
            """SELECT id, folder, build, settings, gallery_version, images, complete
               FROM site_outputs WHERE folder = ?""",
            (folder,),
        ).fetchone()
        if row is None:
            return None
        return OutputState(row[0], row[1], row[2], row[3], row[4], int(row[5]), bool(row[6]))

    def pages(self, output_id: int) -> Iterator[PageRecord]:
        """Every file recorded for the output, by path (SQLite's byte order = str order).
        Plain tuples in PageRecord's order: a build reads one per file of its site."""
        cursor = self.conn.execute(
            """SELECT path, inputs, digest, deps, media FROM site_pages
               WHERE output_id = ? ORDER BY path""",
            (output_id,),
        )
        cursor.row_factory = None
        return cursor  # type: ignore[return-value]

    def digests(self, folder: str, build: str) -> dict[str, str]:
        """path → digest of the files the build ``build`` of ``folder`` wrote and recorded."""
        state = self.state(folder)
        if state is None or state.build != build:
            return {}
        cursor = self.conn.execute(
            "SELECT path, digest FROM site_pages WHERE output_id = ? AND digest IS NOT NULL",
            (state.id,),
        )
        return dict(cursor)

    def media_users(self, output_id: int, media: set[str]) -> dict[str, list[str]]:
        """For each of these media files, the pages recorded as using it (one pass)."""
        users: dict[str, list[str]] = {m: [] for m in media}
        cursor = self.conn.execute(
            "SELECT path, media FROM site_pages WHERE output_id = ? AND media IS NOT NULL",
            (output_id,),
        )
        for path, used in cursor:
            for m in media.intersection(used.split()):
                users[m].append(path)
        return users

    def replace_all(
        self,
        folder: str,
        build: str,
        settings: str,
        gallery_version: int | None,
        images: int,
        complete: bool,
        pages: Iterable[PageRow],
    ) -> None:
        """A full build: the folder's records are exactly these, under a new build token."""
        with transaction(self.conn) as conn:
            conn.execute("DELETE FROM site_outputs WHERE folder = ?", (folder,))
            cursor = conn.execute(
                """INSERT INTO site_outputs
                   (folder, build, settings, gallery_version, images, complete)
                   VALUES (?, ?, ?, ?, ?, ?)""",
                (folder, build, settings, gallery_version, images, complete),
            )
            output_id = cursor.lastrowid
            conn.executemany(
                """INSERT OR REPLACE INTO site_pages
                   (output_id, path, inputs, digest, deps, media) VALUES (?, ?, ?, ?, ?, ?)""",
                sorted((output_id, *page) for page in pages),
            )

    def mark(self, output_id: int, pages: Iterable[tuple[str, str | None]]) -> None:
        """Before an incremental build touches the folder: these files are being rewritten
        or deleted (inputs NULL), with the media they may use (those from before and those
        now), and the build is not complete."""
        with transaction(self.conn) as conn:
            conn.execute(
                "UPDATE site_outputs SET complete = FALSE, gallery_version = NULL WHERE id = ?",
                (output_id,),
            )
            conn.executemany(
                """INSERT INTO site_pages (output_id, path, inputs, digest, deps, media)
                   VALUES (?, ?, NULL, NULL, NULL, ?)
                   ON CONFLICT (output_id, path)
                   DO UPDATE SET inputs = NULL, digest = NULL, deps = NULL,
                                 media = excluded.media""",
                ((output_id, path, media) for path, media in pages),
            )

    def update(
        self,
        output_id: int,
        *,
        build: str,
        pages: Iterable[PageRow],
        deleted: Iterable[str],
        gallery_version: int | None,
        images: int,
        complete: bool,
    ) -> None:
        """After an incremental build: its token, the files it wrote or checked, those it
        deleted, and the state of the whole."""
        with transaction(self.conn) as conn:
            conn.executemany(
                """INSERT OR REPLACE INTO site_pages
                   (output_id, path, inputs, digest, deps, media) VALUES (?, ?, ?, ?, ?, ?)""",
                ((output_id, *page) for page in pages),
            )
            conn.executemany(
                "DELETE FROM site_pages WHERE output_id = ? AND path = ?",
                ((output_id, path) for path in deleted),
            )
            conn.execute(
                """UPDATE site_outputs SET build = ?, gallery_version = ?, images = ?,
                   complete = ?, built_at = CURRENT_TIMESTAMP WHERE id = ?""",
                (build, gallery_version, images, complete, output_id),
            )
