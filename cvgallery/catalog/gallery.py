"""The rows a gallery is rendered from, as named records.

The query is the seed's "Gallery generation with metadata" (approved ⨝ web-optimized
⨝ blurhash_cache) widened with LEFT JOINs for the thumbnail, the ESRGAN upscale and
the video source, so a whole gallery is read in one statement and a build reads the
catalog, never the image files. Rows are NamedTuples, cheap to fingerprint.

A build streams them (:meth:`Gallery.top_rows`, oldest first, one cursor, nothing held)
and later fetches the few it renders by id (:meth:`Gallery.rows_by_id`); the same
SELECT serves all three, so a column added to it reaches every path.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from typing import NamedTuple

GALLERY_SELECT = """
SELECT i.id, i.width, i.height, b.blurhash, a.file_path,
       i.username, i.original_url, i.created_at, i.parent_id, i.mime_type,
       a.sha256 AS web_sha, a.width AS web_w, a.height AS web_h,
       t.file_path AS thumb_path, t.sha256 AS thumb_sha, t.width AS thumb_w, t.height AS thumb_h,
       e.file_path AS big_path, e.sha256 AS big_sha, e.width AS big_w, e.height AS big_h,
       v.file_path AS video_path, v.sha256 AS video_sha
FROM images i
JOIN artifacts a ON i.id = a.image_id AND a.stage = 'web-optimized'
LEFT JOIN blurhash_cache b ON i.id = b.image_id AND b.stage = 'web-optimized'
LEFT JOIN artifacts t ON i.id = t.image_id AND t.stage = 'thumbnails-small'
LEFT JOIN artifacts e ON i.id = e.image_id AND e.stage = 'ersgan-enhanced'
LEFT JOIN artifacts v ON i.id = v.image_id AND v.stage = 'video-sources'
WHERE i.approved = TRUE
"""
GALLERY_ORDER = "ORDER BY i.created_at DESC, i.id"
GALLERY_SQL = GALLERY_SELECT + GALLERY_ORDER + "\n"
# Oldest first: the reverse of the newest-first order pages show, so index page N (counted
# from the oldest) holds the same pictures whatever is added after it.
_TOP_SQL = GALLERY_SELECT + "AND i.parent_id IS NULL\nORDER BY i.created_at, i.id DESC\n"
_CHILD_SQL = GALLERY_SELECT + "AND i.parent_id IS NOT NULL\nORDER BY i.parent_id, " + (
    GALLERY_ORDER.removeprefix("ORDER BY ") + "\n"
)
# The same rows, reduced to what tells them apart: id, user and the version of the last
# write concerning the picture (schema 5's gallery_stamps). SQLite flattens the subquery
# and drops the LEFT JOINs nothing reads, so this costs a quarter of reading the rows.
_TOP_KEYS_SQL = f"""
SELECT g.id, g.username, s.version
FROM ({GALLERY_SELECT}AND i.parent_id IS NULL) AS g
LEFT JOIN gallery_stamps s ON s.image_id = g.id
ORDER BY g.created_at, g.id DESC
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
    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def rows(self) -> list[GalleryRow]:
        """Every gallery row, newest first (the seed's order)."""
        return list(map(GalleryRow._make, self.conn.execute(GALLERY_SQL)))

    def top_rows(self) -> Iterator[GalleryRow]:
        """The rows without a parent, oldest first, straight from the cursor."""
        return map(GalleryRow._make, self.conn.execute(_TOP_SQL))

    def top_stamps(self) -> Iterator[tuple[str, str | None, int | None]]:
        """(id, username, stamp) of :meth:`top_rows`, in the same order: the stamp changes
        with every write to the picture's row, artifacts or BlurHash."""
        return map(tuple, self.conn.execute(_TOP_KEYS_SQL))  # type: ignore[arg-type]

    def child_rows(self) -> Iterator[GalleryRow]:
        """Rows with a parent (face-swap results...), by parent, newest first within one."""
        return map(GalleryRow._make, self.conn.execute(_CHILD_SQL))

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
        """Counts every write to images, artifacts and blurhash_cache (triggers of schema 5):
        equal numbers mean the rows a gallery is made from have not changed."""
        row = self.conn.execute("SELECT version FROM gallery_version WHERE id = 1").fetchone()
        return int(row[0]) if row else -1
