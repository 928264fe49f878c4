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
"""

from __future__ import annotations

import sqlite3
from typing import NamedTuple

ORDER_BY = {
    "taken": "COALESCE(replace(substr(i.taken_at, 1, 19), 'T', ' '), i.created_at) DESC, i.id",
    "added": "i.created_at DESC, i.id",
}

GALLERY_SQL = """
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
ORDER BY {order}
"""

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
        self.sql = GALLERY_SQL.format(order=ORDER_BY[sort])

    def rows(self) -> list[GalleryRow]:
        return list(map(GalleryRow._make, self.conn.execute(self.sql)))

    def derived(self) -> list[DerivedRow]:
        return list(map(DerivedRow._make, self.conn.execute(DERIVED_SQL)))
