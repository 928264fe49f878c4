"""What each built site was made from: one row per output folder, per file, per media use.

cvgallery.site reads these to render only the pages whose inputs changed. A row of
``site_pages`` is (path, inputs, digest, deps): the fingerprint of what the file was made
from, the blake2b-128 digest of its bytes (publish reuses it instead of reading the file)
and the site-wide facts its template read (JSON list). ``inputs`` NULL means "being
rewritten": a build marks the files it is about to replace or delete before it touches
them, so a killed build's files are made again by the next one. ``site_media`` says which
page placed which media file; a media file without a row is deleted.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from typing import NamedTuple

from .schema import transaction

BATCH = 500


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
        return OutputState(
            row[0], row[1], row[2], row[3], row[4], int(row[5]), bool(row[6])
        )

    def pages(self, output_id: int) -> Iterator[PageRecord]:
        """Every file recorded for the output, by path (SQLite's byte order = str order)."""
        cursor = self.conn.execute(
            """SELECT path, inputs, digest, deps FROM site_pages
               WHERE output_id = ? ORDER BY path""",
            (output_id,),
        )
        return map(PageRecord._make, cursor)

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

    def media_of(self, output_id: int, page: str) -> list[str]:
        cursor = self.conn.execute(
            "SELECT media FROM site_media WHERE output_id = ? AND page = ?", (output_id, page)
        )
        return [r[0] for r in cursor]

    def users_of(self, output_id: int, media: str) -> list[str]:
        """The pages recorded as using a media file."""
        cursor = self.conn.execute(
            "SELECT page FROM site_media WHERE output_id = ? AND media = ?", (output_id, media)
        )
        return [r[0] for r in cursor]

    def replace_all(
        self,
        folder: str,
        build: str,
        settings: str,
        gallery_version: int | None,
        images: int,
        complete: bool,
        pages: Iterable[tuple[str, str | None, str | None, str | None]],
        media: Iterable[tuple[str, str]],
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
                """INSERT OR REPLACE INTO site_pages (output_id, path, inputs, digest, deps)
                   VALUES (?, ?, ?, ?, ?)""",
                ((output_id, *page) for page in pages),
            )
            conn.executemany(
                "INSERT OR IGNORE INTO site_media (output_id, media, page) VALUES (?, ?, ?)",
                ((output_id, m, page) for m, page in media),
            )

    def mark(
        self, output_id: int, paths: Iterable[str], media: Iterable[tuple[str, str]]
    ) -> None:
        """Before an incremental build touches the folder: these files are being rewritten
        or deleted (inputs NULL), these media uses are added, and the build is not complete."""
        with transaction(self.conn) as conn:
            conn.execute(
                "UPDATE site_outputs SET complete = FALSE, gallery_version = NULL WHERE id = ?",
                (output_id,),
            )
            conn.executemany(
                """INSERT INTO site_pages (output_id, path, inputs, digest, deps)
                   VALUES (?, ?, NULL, NULL, NULL)
                   ON CONFLICT (output_id, path)
                   DO UPDATE SET inputs = NULL, digest = NULL, deps = NULL""",
                ((output_id, path) for path in paths),
            )
            conn.executemany(
                "INSERT OR IGNORE INTO site_media (output_id, media, page) VALUES (?, ?, ?)",
                ((output_id, m, page) for m, page in media),
            )

    def update(
        self,
        output_id: int,
        *,
        pages: Iterable[tuple[str, str | None, str | None, str | None]],
        deleted: Iterable[str],
        media: dict[str, list[str]],
        gallery_version: int | None,
        images: int,
        complete: bool,
    ) -> None:
        """After an incremental build: the files it wrote or checked, those it deleted, the
        media each rendered page uses now, and the state of the whole."""
        with transaction(self.conn) as conn:
            conn.executemany(
                """INSERT OR REPLACE INTO site_pages (output_id, path, inputs, digest, deps)
                   VALUES (?, ?, ?, ?, ?)""",
                ((output_id, *page) for page in pages),
            )
            gone = list(deleted)
            conn.executemany(
                "DELETE FROM site_pages WHERE output_id = ? AND path = ?",
                ((output_id, path) for path in gone),
            )
            conn.executemany(
                "DELETE FROM site_media WHERE output_id = ? AND page = ?",
                ((output_id, path) for path in [*gone, *media]),
            )
            conn.executemany(
                "INSERT OR IGNORE INTO site_media (output_id, media, page) VALUES (?, ?, ?)",
                ((output_id, m, page) for page, uses in media.items() for m in uses),
            )
            conn.execute(
                """UPDATE site_outputs SET gallery_version = ?, images = ?, complete = ?,
                   built_at = CURRENT_TIMESTAMP WHERE id = ?""",
                (gallery_version, images, complete, output_id),
            )

    def forget(self, folder: str) -> None:
        with transaction(self.conn) as conn:
            conn.execute("DELETE FROM site_outputs WHERE folder = ?", (folder,))
