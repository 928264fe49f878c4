"""The images table: registering originals and derived children, review flags, statistics.

Two kinds of rows live here. Originals (an upload, a legacy img/ file) have no parent.
Children are outputs that are several per source (a video's frames, one face-swap
result per style): each is its own row with ``parent_id`` set, which keeps the seed's
UNIQUE(image_id, stage) on artifacts; they are never reviewed on their own.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import UnknownImage
from ..metadata import PictureMeta
from .facts import FileFacts

NOW = "strftime('%Y-%m-%d %H:%M:%f', 'now')"

REVIEW_STATES = ("pending", "approved", "rejected")

#: the words shown with a picture: `cvgallery set` option -> images column
WORD_COLUMNS = {"title": "title", "caption": "caption", "alt": "alt_text"}
#: what a picture's file says about itself: PictureMeta field -> images column
META_COLUMNS = {**WORD_COLUMNS, "taken_at": "taken_at", "camera": "camera", "lens": "lens",
                "exposure": "exposure"}  # fmt: skip


@dataclass
class ReviewResult:
    changed: list[str]
    unknown: list[str]


class Images:
    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    # -- lookups ---------------------------------------------------------------------------

    def find(self, image_id: str) -> sqlite3.Row | None:
        return self.conn.execute("SELECT * FROM images WHERE id = ?", (image_id,)).fetchone()

    def get(self, image_id: str) -> sqlite3.Row:
        row = self.find(image_id)
        if row is None:
            raise UnknownImage(image_id)
        return row

    def exists(self, image_id: str) -> bool:
        return (
            self.conn.execute("SELECT 1 FROM images WHERE id = ?", (image_id,)).fetchone()
            is not None
        )

    def by_sha(self, sha256: str, *, other_than: str | None = None) -> str | None:
        """The id of the image with these bytes (images.sha256 is UNIQUE), if any."""
        row = self.conn.execute(
            "SELECT id FROM images WHERE sha256 = ? AND id IS NOT ?", (sha256, other_than)
        ).fetchone()
        return None if row is None else str(row[0])

    def sha256(self, image_id: str) -> str | None:
        row = self.conn.execute("SELECT sha256 FROM images WHERE id = ?", (image_id,)).fetchone()
        return None if row is None else str(row[0])

    def children(self, parent_id: str) -> list[str]:
        rows = self.conn.execute("SELECT id FROM images WHERE parent_id = ?", (parent_id,))
        return [str(r[0]) for r in rows]

    # -- writing rows (inside the caller's transaction when batched) ---------------------------

    def add(
        self,
        image_id: str,
        facts: FileFacts,
        *,
        url: str | None = None,
        user: str | None = None,
        approved: bool = False,
        rejection_reason: str | None = None,
        parent_id: str | None = None,
        meta: PictureMeta | None = None,
    ) -> None:
        """Insert an image row; a ``rejection_reason`` registers it rejected; ``meta`` is
        what the file says about itself (title, caption, alt, capture date, camera)."""
        rejected = rejection_reason is not None
        m = meta or PictureMeta()
        self.conn.execute(
            f"""INSERT INTO images (id, sha256, original_url, username, approved, rejected,
                                    rejection_reason, width, height, file_size, mime_type,
                                    parent_id, title, caption, alt_text, taken_at, camera,
                                    lens, exposure, created_at, updated_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, {NOW}, {NOW})""",
            (
                image_id,
                facts.sha256,
                url,
                user,
                int(approved and not rejected),
                int(rejected),
                rejection_reason,
                facts.width,
                facts.height,
                facts.file_size,
                facts.mime_type,
                parent_id,
                m.title,
                m.caption,
                m.alt,
                m.taken_at,
                m.camera,
                m.lens,
                m.exposure,
            ),
        )

    def set_words(self, image_id: str, words: dict[str, str | None]) -> bool:
        """Set some of title, caption and alt (keys of WORD_COLUMNS; None or "" clears one).
        False when there is no such image."""
        unknown = set(words) - set(WORD_COLUMNS)
        if unknown:
            raise ValueError(f"not a word of a picture: {sorted(unknown)[0]!r}")
        if not words:
            return self.exists(image_id)
        # Column names come from WORD_COLUMNS only; every value is a parameter.
        assignments = ", ".join(f"{WORD_COLUMNS[k]} = ?" for k in words)
        values = [v if v else None for v in words.values()]
        cur = self.conn.execute(
            f"UPDATE images SET {assignments} WHERE id = ?", (*values, image_id)
        )
        return bool(cur.rowcount)

    def words(self, image_id: str) -> dict[str, str | None]:
        row = self.conn.execute(
            "SELECT title, caption, alt_text FROM images WHERE id = ?", (image_id,)
        ).fetchone()
        if row is None:
            raise UnknownImage(image_id)
        return {"title": row[0], "caption": row[1], "alt": row[2]}

    # -- what the original file says (`cvgallery reread`) -----------------------------------

    def originals_page(self, after: str = "", limit: int = 500) -> list[sqlite3.Row]:
        """The next ``limit`` images by id after ``after`` that have an original file
        (upstream or video-sources artifact), with their file and stored words and facts."""
        return self.conn.execute(
            f"""SELECT {_SOURCE_COLUMNS} FROM images i
                WHERE i.id > ? AND EXISTS (SELECT 1 FROM artifacts a WHERE a.image_id = i.id
                                           AND a.stage IN ('upstream', 'video-sources'))
                ORDER BY i.id LIMIT ?""",
            (after, limit),
        ).fetchall()

    def originals_of(self, ids: Sequence[str]) -> list[sqlite3.Row]:
        """:meth:`originals_page`'s rows of these ids (source_path NULL when an image has no
        original file), in the order given; unknown ids are left out."""
        found: dict[str, sqlite3.Row] = {}
        wanted = list(dict.fromkeys(ids))
        for first in range(0, len(wanted), 500):
            chunk = wanted[first : first + 500]
            marks = ",".join("?" * len(chunk))
            sql = f"SELECT {_SOURCE_COLUMNS} FROM images i WHERE i.id IN ({marks})"
            for row in self.conn.execute(sql, chunk):
                found[str(row["id"])] = row
        return [found[i] for i in wanted if i in found]

    def set_meta(self, image_id: str, values: dict[str, str | None]) -> bool:
        """Store words and capture facts (keys of META_COLUMNS). False when no such image."""
        unknown = set(values) - set(META_COLUMNS)
        if unknown:
            raise ValueError(f"not a fact of a picture: {sorted(unknown)[0]!r}")
        if not values:
            return self.exists(image_id)
        # Column names come from META_COLUMNS only; every value is a parameter.
        assignments = ", ".join(f"{META_COLUMNS[k]} = ?" for k in values)
        cur = self.conn.execute(
            f"UPDATE images SET {assignments} WHERE id = ?", (*values.values(), image_id)
        )
        return bool(cur.rowcount)

    def add_child(self, child_id: str, parent_id: str, facts: FileFacts) -> None:
        """Insert or update a derived child (never approved on its own)."""
        self.conn.execute(
            f"""INSERT INTO images (id, sha256, approved, rejected, width, height, file_size,
                                    mime_type, parent_id, created_at, updated_at)
                VALUES (?, ?, 0, 0, ?, ?, ?, ?, ?, {NOW}, {NOW})
                ON CONFLICT (id) DO UPDATE SET sha256 = excluded.sha256,
                    width = excluded.width, height = excluded.height,
                    file_size = excluded.file_size, mime_type = excluded.mime_type""",
            (
                child_id,
                facts.sha256,
                facts.width,
                facts.height,
                facts.file_size,
                facts.mime_type,
                parent_id,
            ),
        )

    def park_children_hashes(self, parent_id: str) -> None:
        """Children about to be re-recorded may trade pictures (sha256 is UNIQUE): move their
        hashes out of the way first."""
        self.conn.execute(
            "UPDATE images SET sha256 = 'replacing:' || id WHERE parent_id = ?", (parent_id,)
        )

    def drop_child(self, child_id: str) -> list[str]:
        """Delete a child row and everything recorded about it; return its artifact paths."""
        paths = [
            str(r[0])
            for r in self.conn.execute(
                "SELECT file_path FROM artifacts WHERE image_id = ?", (child_id,)
            )
        ]
        self.conn.execute("DELETE FROM artifacts WHERE image_id = ?", (child_id,))
        self.conn.execute("DELETE FROM blurhash_cache WHERE image_id = ?", (child_id,))
        self.conn.execute("DELETE FROM jobs WHERE image_id = ?", (child_id,))
        self.conn.execute("DELETE FROM images WHERE id = ?", (child_id,))
        return paths

    def set_parent(self, image_id: str, parent_id: str) -> None:
        self.conn.execute("UPDATE images SET parent_id = ? WHERE id = ?", (parent_id, image_id))

    # -- review (replaces yes/ and no/) ------------------------------------------------------

    def approve(self, ids: Iterable[str]) -> ReviewResult:
        """Approve each id (clearing any rejection); unknown ids are returned, not fatal.
        The caller holds the transaction."""
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
        for image_id in ids:
            cur = self.conn.execute(sql, (*params, image_id))
            (changed if cur.rowcount else unknown).append(image_id)
        return ReviewResult(changed, unknown)

    def set_state(self, image_id: str, state: str, reason: str | None = None) -> bool:
        """Put an image back in a review state (undo): pending, approved or rejected."""
        if state not in REVIEW_STATES:
            raise ValueError(f"unknown review state {state!r}")
        cur = self.conn.execute(
            "UPDATE images SET approved = ?, rejected = ?, rejection_reason = ? WHERE id = ?",
            (
                int(state == "approved"),
                int(state == "rejected"),
                (reason or "manual") if state == "rejected" else None,
                image_id,
            ),
        )
        return bool(cur.rowcount)

    def resolve(self, name: str) -> str | None:
        """The id a user means by ``name``: an id, or the name or path of a registered file
        (``IMG_1043.jpg``, ``yes/IMG_1043.jpg``: the old layout's habit), else None."""
        if self.exists(name):
            return name
        base = name.replace("\\", "/").rsplit("/", 1)[-1]
        row = self.conn.execute(
            """SELECT image_id FROM artifacts
               WHERE stage IN ('upstream', 'video-sources') AND file_path IN (?, ?, ?, ?)
               ORDER BY stage = 'upstream' DESC LIMIT 1""",
            (
                f"upstream/{base}",
                f"video-sources/{base}",
                f"upstream/{base.lower()}",
                f"video-sources/{base.lower()}",
            ),
        ).fetchone()
        if row is not None:
            return str(row[0])
        stem = base.rsplit(".", 1)[0] if "." in base.lstrip(".") else base
        return stem if stem and self.exists(stem) else None

    def listing(
        self,
        state: str | None = None,
        user: str | None = None,
        stage: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[sqlite3.Row]:
        """Reviewable images (no derived children), newest first, filtered by review state,
        user and the presence of a stage's artifact; with their thumbnail and upstream paths."""
        where, params = _listing_filter(state, user, stage)
        sql = f"""SELECT {_LISTING_COLUMNS} FROM images i WHERE {where}
                  ORDER BY i.created_at DESC, i.id LIMIT ? OFFSET ?"""
        params += [-1 if limit is None else limit, offset]
        return self.conn.execute(sql, params).fetchall()

    def listing_ids(self, state: str | None = None, user: str | None = None) -> list[str]:
        """The ids :meth:`listing` would give, in its order (a review page's snapshot)."""
        where, params = _listing_filter(state, user, None)
        sql = f"SELECT i.id FROM images i WHERE {where} ORDER BY i.created_at DESC, i.id"
        return [str(r[0]) for r in self.conn.execute(sql, params)]

    def listing_rows(self, ids: Sequence[str]) -> list[sqlite3.Row]:
        """:meth:`listing`'s rows of these ids, in the order given; unknown ids and derived
        children are left out."""
        found: dict[str, sqlite3.Row] = {}
        wanted = list(dict.fromkeys(ids))
        for first in range(0, len(wanted), 500):
            chunk = wanted[first : first + 500]
            marks = ",".join("?" * len(chunk))
            sql = f"""SELECT {_LISTING_COLUMNS} FROM images i
                      WHERE i.parent_id IS NULL AND i.id IN ({marks})"""
            for row in self.conn.execute(sql, chunk):
                found[str(row["id"])] = row
        return [found[i] for i in wanted if i in found]

    def review_counts(self, user: str | None = None) -> dict[str, int]:
        """Reviewable images per review state (and ``all``), of one user or of everyone."""
        row = self.conn.execute(
            """SELECT COUNT(*),
                      COALESCE(SUM(approved = 0 AND rejected = 0), 0),
                      COALESCE(SUM(approved = 1), 0),
                      COALESCE(SUM(rejected = 1), 0)
               FROM images WHERE parent_id IS NULL AND (? IS NULL OR username = ?)""",
            (user, user),
        ).fetchone()
        keys = ("all", "pending", "approved", "rejected")
        return dict(zip(keys, map(int, row), strict=True))

    def users(self) -> list[str]:
        rows = self.conn.execute(
            "SELECT DISTINCT username FROM images WHERE username IS NOT NULL ORDER BY username"
        )
        return [str(r[0]) for r in rows]

    # -- perceptual hashes -------------------------------------------------------------------------

    def set_phash(self, image_id: str, phash: str) -> None:
        self.conn.execute("UPDATE images SET phash = ? WHERE id = ?", (phash, image_id))

    def without_phash(self) -> list[sqlite3.Row]:
        """Reviewable, not rejected pictures with no perceptual hash yet, and their file."""
        return self.conn.execute(
            """SELECT i.id, a.file_path FROM images i
               JOIN artifacts a ON a.image_id = i.id AND a.stage = 'upstream'
               WHERE i.phash IS NULL AND i.parent_id IS NULL AND i.rejected = 0
                 AND (i.mime_type IS NULL OR i.mime_type NOT LIKE 'video/%')
               ORDER BY i.id"""
        ).fetchall()

    def phashes(self) -> list[tuple[str, str]]:
        """(id, phash) of every reviewable, not rejected image that has one."""
        rows = self.conn.execute(
            """SELECT id, phash FROM images
               WHERE phash IS NOT NULL AND parent_id IS NULL AND rejected = 0 ORDER BY id"""
        )
        return [(str(r[0]), str(r[1])) for r in rows]

    # -- statistics ----------------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """The seed's db-stats image lines: total, approved, rejected, pending; derived
        children (a video's frames, face-swap results) are counted apart, not as pending."""
        row = self.conn.execute(
            """SELECT COUNT(*),
                      COALESCE(SUM(approved = 1), 0),
                      COALESCE(SUM(rejected = 1), 0),
                      COALESCE(SUM(approved = 0 AND rejected = 0 AND parent_id IS NULL), 0),
                      COALESCE(SUM(approved = 0 AND rejected = 0 AND parent_id IS NOT NULL), 0)
               FROM images"""
        ).fetchone()
        keys = ("total", "approved", "rejected", "pending", "derived")
        return dict(zip(keys, map(int, row), strict=True))


_LISTING_COLUMNS = """i.id, i.username, i.original_url, i.width, i.height, i.file_size,
    i.mime_type, i.created_at, i.approved, i.rejected, i.rejection_reason, i.phash,
    i.title, i.caption, i.alt_text, i.taken_at,
    (SELECT file_path FROM artifacts a WHERE a.image_id = i.id
     AND a.stage IN ('upstream', 'video-sources')
     ORDER BY a.stage = 'upstream' DESC LIMIT 1) AS source_path,
    (SELECT file_path FROM artifacts t WHERE t.image_id = i.id
     AND t.stage = 'thumbnails-small') AS thumb_path"""


#: an image, its original file (the upstream artifact, else video-sources) and what is stored
#: of its words and capture facts, under META_COLUMNS' keys
_SOURCE_COLUMNS = """i.id, i.rejected, i.rejection_reason,
    i.title, i.caption, i.alt_text AS alt, i.taken_at, i.camera, i.lens, i.exposure,
    (SELECT a.stage FROM artifacts a WHERE a.image_id = i.id
     AND a.stage IN ('upstream', 'video-sources')
     ORDER BY a.stage = 'upstream' DESC LIMIT 1) AS source_stage,
    (SELECT a.file_path FROM artifacts a WHERE a.image_id = i.id
     AND a.stage IN ('upstream', 'video-sources')
     ORDER BY a.stage = 'upstream' DESC LIMIT 1) AS source_path"""


def _listing_filter(
    state: str | None, user: str | None, stage: str | None
) -> tuple[str, list[Any]]:
    """The WHERE clause (and its parameters) of a listing of reviewable images."""
    where = ["i.parent_id IS NULL"]
    params: list[Any] = []
    if state == "pending":
        where.append("i.approved = 0 AND i.rejected = 0")
    elif state == "approved":
        where.append("i.approved = 1")
    elif state == "rejected":
        where.append("i.rejected = 1")
    elif state is not None:
        raise ValueError(f"unknown review state {state!r}")
    if user is not None:
        where.append("i.username = ?")
        params.append(user)
    if stage is not None:
        where.append("EXISTS (SELECT 1 FROM artifacts s WHERE s.image_id = i.id AND s.stage = ?)")
        params.append(stage)
    return " AND ".join(where), params
