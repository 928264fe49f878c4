"""The catalog file: the seed's schema, pragmas, migrations, and the seed's own SQL."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from cvgallery.catalog import Catalog, FileFacts
from cvgallery.catalog import schema as db
from cvgallery.errors import CatalogError

SEED_COLUMNS = {
    "images": [
        "id",
        "sha256",
        "original_url",
        "username",
        "created_at",
        "updated_at",
        "approved",
        "rejected",
        "rejection_reason",
        "width",
        "height",
        "file_size",
        "mime_type",
    ],
    "artifacts": [
        "id",
        "image_id",
        "stage",
        "file_path",
        "sha256",
        "created_at",
        "width",
        "height",
        "file_size",
        "processing_params",
    ],
    "jobs": [
        "id",
        "image_id",
        "stage",
        "status",
        "started_at",
        "completed_at",
        "error_message",
        "retry_count",
    ],
    "blurhash_cache": ["image_id", "stage", "blurhash", "width", "height", "created_at"],
}


def columns(conn: sqlite3.Connection, table: str) -> dict[str, sqlite3.Row]:
    return {row["name"]: row for row in conn.execute(f"PRAGMA table_info({table})")}


def test_seed_tables_keep_the_seeds_columns_types_and_defaults(tmp_path: Path) -> None:
    conn = db.connect(tmp_path / "cv.db")
    for table, names in SEED_COLUMNS.items():
        cols = columns(conn, table)
        assert list(cols)[: len(names)] == names
    images = columns(conn, "images")
    assert images["id"]["pk"] == 1 and images["sha256"]["notnull"] == 1
    assert images["approved"]["type"] == "BOOLEAN" and images["approved"]["dflt_value"] == "FALSE"
    assert images["created_at"]["dflt_value"] == "CURRENT_TIMESTAMP"
    assert columns(conn, "jobs")["retry_count"]["dflt_value"] == "0"
    pk = [r["name"] for r in conn.execute("PRAGMA table_info(blurhash_cache)") if r["pk"]]
    assert pk == ["image_id", "stage"]


def test_every_connection_has_foreign_keys_wal_and_busy_timeout(tmp_path: Path) -> None:
    conn = db.connect(tmp_path / "cv.db")
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == db.BUSY_TIMEOUT_MS
    assert conn.execute("PRAGMA user_version").fetchone()[0] == db.SCHEMA_VERSION
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute(
            "INSERT INTO artifacts (image_id, stage, file_path) VALUES ('ghost', 'upstream', 'x')"
        )


def test_seed_constraints_hold(tmp_path: Path) -> None:
    conn = db.connect(tmp_path / "cv.db")
    conn.execute("INSERT INTO images (id, sha256) VALUES ('a', 'h1')")
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("INSERT INTO images (id, sha256) VALUES ('b', 'h1')")
    conn.execute("INSERT INTO artifacts (image_id, stage, file_path) VALUES ('a', 'upstream', 'u')")
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute(
            "INSERT INTO artifacts (image_id, stage, file_path) VALUES ('a', 'upstream', 'v')"
        )


def make_version_1(path: Path) -> None:
    """A cv.db as the first release wrote it: the seed's schema and some rows."""
    conn = sqlite3.connect(path)
    conn.executescript(db.SEED_SCHEMA)
    conn.executescript(
        """
        INSERT INTO images (id, sha256, approved, file_size) VALUES ('old1', 's1', 1, 10);
        INSERT INTO images (id, sha256, rejected, rejection_reason) VALUES ('old2', 's2', 1, 'gif');
        INSERT INTO artifacts (image_id, stage, file_path) VALUES ('old1', 'upstream', 'upstream/old1.jpeg');
        INSERT INTO jobs (image_id, stage, status, retry_count) VALUES ('old1', 'web-optimized', 'failed', 1);
        INSERT INTO blurhash_cache (image_id, stage, blurhash, width, height)
            VALUES ('old1', 'web-optimized', 'LEHV6nWB2yk8pyo0adR*.7kCMdnj', 400, 300);
        PRAGMA user_version = 1;
        """
    )
    conn.close()


def test_upgrade_from_version_1_keeps_every_row(tmp_path: Path) -> None:
    path = tmp_path / "cv.db"
    make_version_1(path)
    conn = db.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == db.SCHEMA_VERSION
    assert [r[0] for r in conn.execute("SELECT id FROM images ORDER BY id")] == ["old1", "old2"]
    assert conn.execute("SELECT COUNT(*) FROM artifacts").fetchone()[0] == 1
    assert conn.execute("SELECT retry_count FROM jobs").fetchone()[0] == 1
    assert conn.execute("SELECT blurhash FROM blurhash_cache").fetchone()[0].startswith("LEHV")
    assert "parent_id" in columns(conn, "images")
    assert "owner" in columns(conn, "jobs")
    indexes = {r[1] for r in conn.execute("SELECT * FROM sqlite_master WHERE type = 'index'")}
    assert {"idx_artifacts_stage_image", "idx_jobs_status", "idx_images_review"} <= indexes
    conn.close()
    assert db.connect(path).execute("SELECT COUNT(*) FROM images").fetchone()[0] == 2


def test_not_a_sqlite_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "cv.db"
    path.write_text("these are my notes, not a database\n")
    with pytest.raises(CatalogError, match="not a SQLite database"):
        db.connect(path)
    assert path.read_text() == "these are my notes, not a database\n"


def test_a_catalog_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "cv.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {db.SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(CatalogError, match="newer"):
        db.connect(path)


def test_a_failed_migration_leaves_the_file_at_its_old_version(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "cv.db"
    make_version_1(path)

    def broken(conn: sqlite3.Connection) -> None:
        conn.execute("ALTER TABLE images ADD COLUMN half_done TEXT")
        raise RuntimeError("boom")

    monkeypatch.setattr(db, "MIGRATIONS", [db.MIGRATIONS[0], ("broken", broken)])
    monkeypatch.setattr(db, "SCHEMA_VERSION", 2)
    with pytest.raises(RuntimeError):
        db.connect(path)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    assert "half_done" not in {r[1] for r in conn.execute("PRAGMA table_info(images)")}


def test_updated_at_changes_when_a_row_changes(tmp_path: Path) -> None:
    conn = db.connect(tmp_path / "cv.db")
    conn.execute(
        "INSERT INTO images (id, sha256, updated_at) VALUES ('a', 'h', '2001-01-01 00:00:00')"
    )
    conn.execute("UPDATE images SET approved = 1 WHERE id = 'a'")
    updated = conn.execute("SELECT updated_at FROM images").fetchone()[0]
    assert updated > "2020"
    # An explicit value is kept (migrations may carry timestamps over).
    conn.execute("UPDATE images SET updated_at = '2002-02-02 00:00:00' WHERE id = 'a'")
    assert conn.execute("SELECT updated_at FROM images").fetchone()[0] == "2002-02-02 00:00:00"


# The seed's Phase-3 queries, verbatim.
SEED_READY_FOR_ESRGAN = """
SELECT i.id FROM images i
JOIN artifacts a1 ON i.id = a1.image_id AND a1.stage = 'web-optimized'
LEFT JOIN artifacts a2 ON i.id = a2.image_id AND a2.stage = 'ersgan-enhanced'
WHERE i.approved = TRUE AND a2.id IS NULL;
"""
SEED_FAILED_FOR_RETRY = """
SELECT image_id, stage FROM jobs 
WHERE status = 'failed' AND retry_count < 3;
"""
SEED_GALLERY = """
SELECT i.id, i.width, i.height, b.blurhash, a.file_path
FROM images i
JOIN artifacts a ON i.id = a.image_id AND a.stage = 'web-optimized'
LEFT JOIN blurhash_cache b ON i.id = b.image_id AND b.stage = 'web-optimized'
WHERE i.approved = TRUE
ORDER BY i.created_at DESC;
"""


def test_the_seeds_own_queries_run_unchanged_and_return_the_right_rows(catalog: Catalog) -> None:
    conn = catalog.conn
    rows = [
        # id, approved, created_at, has web-optimized, has ersgan
        ("new", 1, "2024-03-01 00:00:00", True, False),
        ("mid", 1, "2024-02-01 00:00:00", True, True),
        ("old", 1, "2024-01-01 00:00:00", True, False),
        ("pending", 0, "2024-04-01 00:00:00", True, False),
        ("no-web", 1, "2024-05-01 00:00:00", False, False),
    ]
    for image_id, approved, created, web, esr in rows:
        conn.execute(
            "INSERT INTO images (id, sha256, approved, created_at, width, height) "
            "VALUES (?, ?, ?, ?, 800, 600)",
            (image_id, f"sha-{image_id}", approved, created),
        )
        if web:
            catalog.artifacts.record(
                image_id=image_id,
                stage="web-optimized",
                file_path=f"web-optimized/{image_id}.jpeg",
                facts=FileFacts("x", 1, 400, 300),
            )
        if esr:
            catalog.artifacts.record(
                image_id=image_id,
                stage="ersgan-enhanced",
                file_path=f"ersgan-enhanced/{image_id}.png",
                facts=FileFacts("y", 2, 3200, 2400),
            )
    catalog.artifacts.store_blurhash(
        "new", "web-optimized", "LEHV6nWB2yk8pyo0adR*.7kCMdnj", 400, 300
    )
    conn.execute(
        "INSERT INTO jobs (image_id, stage, status, retry_count) VALUES ('old', 's', 'failed', 2)"
    )
    conn.execute(
        "INSERT INTO jobs (image_id, stage, status, retry_count) VALUES ('mid', 's', 'failed', 3)"
    )
    conn.execute(
        "INSERT INTO jobs (image_id, stage, status, retry_count) VALUES ('new', 's', 'completed', 0)"
    )

    assert sorted(r[0] for r in conn.execute(SEED_READY_FOR_ESRGAN)) == ["new", "old"]
    assert [tuple(r) for r in conn.execute(SEED_FAILED_FOR_RETRY)] == [("old", "s")]
    gallery = [tuple(r) for r in conn.execute(SEED_GALLERY)]
    assert gallery == [
        ("new", 800, 600, "LEHV6nWB2yk8pyo0adR*.7kCMdnj", "web-optimized/new.jpeg"),
        ("mid", 800, 600, None, "web-optimized/mid.jpeg"),
        ("old", 800, 600, None, "web-optimized/old.jpeg"),
    ]
    assert catalog.ready("web-optimized", "ersgan-enhanced") == ["new", "old"]


def test_many_connections_opening_a_new_catalog_at_once(tmp_path: Path) -> None:
    """Switching to WAL needs the file alone and does not wait on the busy timeout."""
    import threading

    errors: list[BaseException] = []
    for trial in range(30):
        path = tmp_path / f"cv{trial}.db"
        if trial % 2:
            make_version_1(path)  # and half of them also migrate

        def open_it(path: Path = path) -> None:
            try:
                db.connect(path).close()
            except BaseException as exc:  # collected and asserted below
                errors.append(exc)

        threads = [threading.Thread(target=open_it) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        conn = db.connect(path)
        assert conn.execute("PRAGMA user_version").fetchone()[0] == db.SCHEMA_VERSION
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        conn.close()
    assert errors == []
