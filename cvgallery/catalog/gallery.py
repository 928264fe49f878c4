"""The rows a gallery is rendered from, as named records.

The query is the seed's "Gallery generation with metadata" (approved ⨝ web-optimized
⨝ blurhash_cache) widened with LEFT JOINs for the thumbnail, the ESRGAN upscale and
the video source, the words and capture facts of each picture, and its display sizes
(every display-* artifact, as one JSON array per row), so a whole gallery is read in one
statement and a no-op build reads the catalog, never the image files. Rows are
NamedTuples: cheap to hold for 100,000, cheap to fingerprint.

Order, newest first: ``sort = "taken"`` by the capture date where known, else the date
added (taken_at is local time as the camera wrote it: the text before any offset, with
created_at's space for its "T", so both compare as text); ``"added"`` by the date added.

A build streams them (:meth:`Gallery.top_rows`, oldest first, one cursor, nothing held)
and later fetches the few it renders by id (:meth:`Gallery.rows_by_id`); the same
SELECT serves every path, so a column added to it reaches them all.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from typing import NamedTuple

# What the pages are ordered by, newest first; {t} is the images table's alias.
SORT_KEYS = {
    "taken": "COALESCE(replace(substr({t}.taken_at, 1, 19), 'T', ' '), {t}.created_at)",
    "added": "{t}.created_at",
}

GALLERY_SELECT = """
SELECT i.id, i.width, i.height, b.blurhash, a.file_path,
       i.username, i.original_url, i.created_at, i.parent_id, i.mime_type,
       a.sha256 AS web_sha, a.width AS web_w, a.height AS web_h,
       t.file_path AS thumb_path, t.sha256 AS thumb_sha, t.width AS thumb_w, t.height AS thumb_h,
       e.file_path AS big_path, e.sha256 AS big_sha, e.width AS big_w, e.height AS big_h,
       v.file_path AS video_path, v.sha256 AS video_sha,
       i.title, i.caption, i.alt_text, i.taken_at, i.camera, i.lens, i.exposure,
       (SELECT json_group_array(json_array(d.stage, d.file_path, d.sha256, d.width, d.height))
        FROM artifacts d WHERE d.image_id = i.id AND d.stage LIKE 'display-%') AS display
FROM images i
JOIN artifacts a ON i.id = a.image_id AND a.stage = 'web-optimized'
LEFT JOIN blurhash_cache b ON i.id = b.image_id AND b.stage = 'web-optimized'
LEFT JOIN artifacts t ON i.id = t.image_id AND t.stage = 'thumbnails-small'
LEFT JOIN artifacts e ON i.id = e.image_id AND e.stage = 'ersgan-enhanced'
LEFT JOIN artifacts v ON i.id = v.image_id AND v.stage = 'video-sources'
WHERE i.approved = TRUE
"""

#: ids per IN (...) list: far below SQLite's limit on parameters
BATCH = 500

# Derived pictures that are not gallery images themselves (video frames, face-swap
# results: rows with parent_id and no web-optimized copy), shown on their parent's page
# while the parent and, for a result made with a style (each_id), the style are approved.
DERIVED_SQL = """
SELECT c.id, c.parent_id, a.stage, a.file_path, a.sha256, a.width, a.height
FROM images c
JOIN images p ON p.id = c.parent_id AND p.approved = TRUE
JOIN artifacts a ON a.image_id = c.id AND a.stage IN ('video-frames', 'face-swap-results')
LEFT JOIN artifacts w ON w.image_id = c.id AND w.stage = 'web-optimized'
WHERE c.parent_id IS NOT NULL AND COALESCE(c.rejected, 0) = 0
  AND NOT (c.approved = TRUE AND w.id IS NOT NULL)
  AND NOT EXISTS (SELECT 1 FROM images st
                  WHERE st.id = CASE WHEN json_valid(a.processing_params)
                                THEN json_extract(a.processing_params, '$.each_id') END
                    AND st.approved = 0)
ORDER BY c.parent_id, c.id
"""


class GalleryRow(NamedTuple):
    """One approved image with its web copy and whatever else the pages show of it."""

    id: str
    width: int | None
    height: int | None
    blurhash: str | None
    file_path: str
    username: str | None
    original_url: str | None
    created_at: str | None
    parent_id: str | None
    mime_type: str | None
    web_sha: str | None
    web_w: int | None
    web_h: int | None
    thumb_path: str | None
    thumb_sha: str | None
    thumb_w: int | None
    thumb_h: int | None
    big_path: str | None
    big_sha: str | None
    big_w: int | None
    big_h: int | None
    video_path: str | None
    video_sha: str | None
    title: str | None
    caption: str | None
    alt_text: str | None
    taken_at: str | None
    camera: str | None
    lens: str | None
    exposure: str | None
    #: JSON: [[stage, file_path, sha256, width, height], ...] of its display-* artifacts
    display: str | None


class DerivedRow(NamedTuple):
    """A derived picture (a video frame, a face-swap result) shown on its parent's page."""

    id: str
    parent_id: str
    stage: str
    file_path: str
    sha256: str | None
    width: int | None
    height: int | None


class Gallery:
    def __init__(self, conn: sqlite3.Connection, sort: str = "taken"):
        self.conn = conn
        key, alias_key = SORT_KEYS[sort].format(t="i"), SORT_KEYS[sort].format(t="g")
        self.sql = f"{GALLERY_SELECT}ORDER BY {key} DESC, i.id\n"
        # Oldest first: the reverse of the newest-first order pages show, so index page N
        # (counted from the oldest) holds the same pictures whatever is added after it.
        self._top_sql = f"{GALLERY_SELECT}AND i.parent_id IS NULL\nORDER BY {key}, i.id DESC\n"
        # The children's ids first (the parent_id index): "parent_id IS NOT NULL" alone had
        # SQLite walk every picture's web copy to find the few with a parent.
        self._child_sql = (
            f"{GALLERY_SELECT}AND i.id IN (SELECT id FROM images WHERE parent_id IS NOT NULL)\n"
            f"ORDER BY i.parent_id, {key} DESC, i.id\n"
        )
        # The same rows, reduced to what tells them apart: id, user and the version of the
        # last write concerning the picture (schema 6's gallery_stamps). SQLite flattens the
        # subquery and drops the LEFT JOINs nothing reads: a quarter of reading the rows.
        self._top_keys_sql = f"""
SELECT g.id, g.username, s.version
FROM ({GALLERY_SELECT}AND i.parent_id IS NULL) AS g
LEFT JOIN gallery_stamps s ON s.image_id = g.id
ORDER BY {alias_key}, g.id DESC
"""

    def rows(self) -> list[GalleryRow]:
        """Every gallery row, newest first."""
        return list(map(GalleryRow._make, self.conn.execute(self.sql)))

    def top_rows(self) -> Iterator[GalleryRow]:
        """The rows without a parent, oldest first, straight from the cursor."""
        return map(GalleryRow._make, self.conn.execute(self._top_sql))

    def top_stamps(self) -> Iterator[tuple[str, str | None, int | None]]:
        """(id, username, stamp) of :meth:`top_rows`, in the same order: the stamp changes
        with every write to the picture's row, artifacts or BlurHash."""
        cursor = self.conn.execute(self._top_keys_sql)
        cursor.row_factory = None  # plain tuples: one per picture of the gallery
        return cursor  # type: ignore[return-value]

    def child_rows(self) -> Iterator[GalleryRow]:
        """Rows with a parent (face-swap results...), by parent, newest first within one."""
        return map(GalleryRow._make, self.conn.execute(self._child_sql))

    def rows_by_id(self, ids: Iterable[str]) -> dict[str, GalleryRow]:
        """The gallery rows of these ids (those still in the gallery), in batches."""
        wanted = list(dict.fromkeys(ids))
        found: dict[str, GalleryRow] = {}
        for start in range(0, len(wanted), BATCH):
            batch = wanted[start : start + BATCH]
            marks = ",".join("?" * len(batch))
            sql = f"{GALLERY_SELECT}AND i.id IN ({marks})"
            for row in map(GalleryRow._make, self.conn.execute(sql, batch)):
                found[row.id] = row
        return found

    def derived(self) -> list[DerivedRow]:
        return list(map(DerivedRow._make, self.conn.execute(DERIVED_SQL)))

    def version(self) -> int:
        """Counts every write to images, artifacts and blurhash_cache (triggers of schema 6):
        equal numbers mean the rows a gallery is made from have not changed."""
        row = self.conn.execute("SELECT version FROM gallery_version WHERE id = 1").fetchone()
        return int(row[0]) if row else -1
