"""Connections to cv.db (pragmas on every one) and the numbered schema migrations.

Migration 1 is the seed's schema, verbatim in names, types, defaults and constraints,
so the seed's own SQL runs unchanged. Later migrations only add: columns, indexes,
triggers, tables. Each runs in one transaction together with its ``PRAGMA user_version``.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import CatalogError, CatalogUnavailable, ConfigError

#: how long a connection waits for another one's write lock before "database is locked";
#: the environment variable CVGALLERY_BUSY_TIMEOUT (seconds) changes it
BUSY_TIMEOUT_MS = 60_000
BUSY_TIMEOUT_ENV = "CVGALLERY_BUSY_TIMEOUT"


def busy_timeout_ms() -> int:
    """The busy timeout: CVGALLERY_BUSY_TIMEOUT seconds when set, else BUSY_TIMEOUT_MS."""
    raw = os.environ.get(BUSY_TIMEOUT_ENV, "").strip()
    if not raw:
        return BUSY_TIMEOUT_MS
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= 86_400:
        raise ConfigError(
            f"{BUSY_TIMEOUT_ENV} must be a number of seconds from 0 to 86400, not {raw!r}"
        )
    return int(seconds * 1000)


def describe_sqlite_error(path: Path, exc: sqlite3.Error) -> str:
    """`<cv.db>: <what went wrong>`, with what to do about the usual causes."""
    text = str(exc) or type(exc).__name__
    low = text.lower()
    if "locked" in low or "busy" in low:
        waited = busy_timeout_ms() / 1000
        return (
            f"{path}: the catalog is locked by another command (waited {waited:g} s for it; "
            f"{BUSY_TIMEOUT_ENV} sets how long, in seconds)"
        )
    if "readonly" in low or "read-only" in low:
        return (
            f"{path}: the catalog cannot be written ({text}): "
            "check the permissions of cv.db and its folder"
        )
    if "unable to open" in low:
        return (
            f"{path}: cannot open the catalog ({text}): "
            "check that its folder exists and is writable"
        )
    if "disk" in low:
        return f"{path}: {text} (is the disk full or failing?)"
    return f"{path}: {text}"


SEED_SCHEMA = """
CREATE TABLE IF NOT EXISTS images (
    id TEXT PRIMARY KEY,
    sha256 TEXT UNIQUE NOT NULL,
    original_url TEXT,
    username TEXT,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    approved BOOLEAN DEFAULT FALSE,
    rejected BOOLEAN DEFAULT FALSE,
    rejection_reason TEXT,
    width INTEGER,
    height INTEGER,
    file_size INTEGER,
    mime_type TEXT
);

CREATE TABLE IF NOT EXISTS artifacts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    image_id TEXT NOT NULL,
    stage TEXT NOT NULL,
    file_path TEXT NOT NULL,
    sha256 TEXT,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    width INTEGER,
    height INTEGER,
    file_size INTEGER,
    processing_params TEXT,
    FOREIGN KEY (image_id) REFERENCES images(id),
    UNIQUE(image_id, stage)
);

CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    image_id TEXT NOT NULL,
    stage TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at TIMESTAMP,
    completed_at TIMESTAMP,
    error_message TEXT,
    retry_count INTEGER DEFAULT 0,
    FOREIGN KEY (image_id) REFERENCES images(id)
);

CREATE TABLE IF NOT EXISTS blurhash_cache (
    image_id TEXT NOT NULL,
    stage TEXT NOT NULL,
    blurhash TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (image_id, stage),
    FOREIGN KEY (image_id) REFERENCES images(id)
);
"""

# Indexes for the seed's lookups, and the columns later issues need. parent_id links
# an output that has its own images row (one face-swap result per style, one frame of
# a video) to its source, which keeps the seed's UNIQUE(image_id, stage).
# jobs.owner is "host:pid" of the process that claimed a job; blurhash_cache.context
# records the library and input size, since both change the string. legacy_files maps
# every file `migrate` found (path relative to the legacy folder) to what it became,
# so `export-legacy` can rebuild the old layout name for name.
SCHEMA_2 = """
ALTER TABLE images ADD COLUMN parent_id TEXT REFERENCES images(id);
ALTER TABLE jobs ADD COLUMN owner TEXT;
ALTER TABLE blurhash_cache ADD COLUMN context TEXT;
CREATE INDEX IF NOT EXISTS idx_artifacts_stage_image ON artifacts(stage, image_id);
CREATE INDEX IF NOT EXISTS idx_jobs_status ON jobs(status, stage);
CREATE INDEX IF NOT EXISTS idx_jobs_image_stage ON jobs(image_id, stage);
CREATE INDEX IF NOT EXISTS idx_images_review ON images(approved, rejected);
CREATE INDEX IF NOT EXISTS idx_images_created ON images(created_at);
CREATE INDEX IF NOT EXISTS idx_images_username ON images(username);
CREATE INDEX IF NOT EXISTS idx_images_parent ON images(parent_id);
CREATE TABLE IF NOT EXISTS legacy_files (
    path TEXT PRIMARY KEY,
    image_id TEXT REFERENCES images(id),
    stage TEXT,
    sha256 TEXT NOT NULL,
    file_size INTEGER,
    migrated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX IF NOT EXISTS idx_legacy_files_image ON legacy_files(image_id);
CREATE TRIGGER IF NOT EXISTS images_touch_updated_at
AFTER UPDATE ON images FOR EACH ROW WHEN NEW.updated_at IS OLD.updated_at
BEGIN
    UPDATE images SET updated_at = strftime('%Y-%m-%d %H:%M:%f', 'now') WHERE id = NEW.id;
END;
"""

# jobs.variant: which `each` image a job of a matrix stage (a command stage with
# ``each``, e.g. face-swap-results per style) is for; NULL for every other job. Such a
# stage has one job per (source image_id, stage, variant), and that triple is the unit
# the runner queues, claims, finishes, fails, recovers and retries.
SCHEMA_3 = """
ALTER TABLE jobs ADD COLUMN variant TEXT;
"""

# images.phash: a 64-bit perceptual hash (16 hex digits, cvgallery.perceptual) of the
# picture, for near-duplicate groups; NULL until computed (by process or by `dupes`).
SCHEMA_4 = """
ALTER TABLE images ADD COLUMN phash TEXT;
"""

# Words and capture facts shown with a picture (issue 12, "pictures"): title, caption and
# alt text (read from IPTC/XMP/EXIF at add, set with `cvgallery set`), taken_at (ISO 8601
# local time of capture, with its UTC offset when the file says it: EXIF DateTimeOriginal
# + OffsetTimeOriginal, a video's creation_time), and a camera line's parts (camera, lens,
# exposure), shown only with show_exif. Never a location.
SCHEMA_PICTURE_WORDS = """
ALTER TABLE images ADD COLUMN title TEXT;
ALTER TABLE images ADD COLUMN caption TEXT;
ALTER TABLE images ADD COLUMN alt_text TEXT;
ALTER TABLE images ADD COLUMN taken_at TEXT;
ALTER TABLE images ADD COLUMN camera TEXT;
ALTER TABLE images ADD COLUMN lens TEXT;
ALTER TABLE images ADD COLUMN exposure TEXT;
"""

# The incremental build's records (cvgallery.site, issue 11). gallery_version counts every
# write to the tables the gallery is read from (images, artifacts, blurhash_cache), so a
# build with nothing new reads one integer instead of every row; gallery_stamps holds, per
# image, the version of the last write that concerned it, so a build tells which pictures
# changed without reading their rows. A table the gallery query starts reading needs the
# same triggers. site_outputs has one row per output folder built (its build token is also
# in the folder's manifest, so a folder replaced or deleted behind our back, or a cv.db
# restored from a copy, is noticed); site_pages records, per file the build wrote, the
# fingerprint of what it was made from, the digest of its bytes, the site-wide facts its
# template read and the media files it placed (so a media file no page needs is deleted).
_BUMP = "UPDATE gallery_version SET version = version + 1;"


def _stamp(image_id: str) -> str:
    # Delete, then insert: never a conflict. (An INSERT OR REPLACE inside a trigger takes
    # the conflict policy of the statement that fired it, and an upsert's is ABORT.)
    return (
        f"DELETE FROM gallery_stamps WHERE image_id = {image_id}; "
        "INSERT INTO gallery_stamps (image_id, version) "
        f"SELECT {image_id}, version FROM gallery_version WHERE id = 1 AND {image_id} IS NOT NULL;"
    )


def _stamp_triggers(table: str, key: str) -> str:
    return f"""
CREATE TRIGGER IF NOT EXISTS gallery_stamp_{table}_insert AFTER INSERT ON {table}
BEGIN {_BUMP} {_stamp(f"NEW.{key}")} END;
CREATE TRIGGER IF NOT EXISTS gallery_stamp_{table}_update AFTER UPDATE ON {table}
BEGIN {_BUMP} {_stamp(f"NEW.{key}")} {_stamp(f"OLD.{key}")} END;
CREATE TRIGGER IF NOT EXISTS gallery_stamp_{table}_delete AFTER DELETE ON {table}
BEGIN {_BUMP} {_stamp(f"OLD.{key}")} END;
"""


def _counter(table: str, column: str) -> str:
    """A table of one row holding one counter, which triggers count up."""
    return f"""
CREATE TABLE IF NOT EXISTS {table} (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    {column} INTEGER NOT NULL
);
INSERT OR IGNORE INTO {table} (id, {column}) VALUES (1, 0);
"""


SCHEMA_SITE_BUILDS = (
    _counter("gallery_version", "version")
    + """
CREATE TABLE IF NOT EXISTS gallery_stamps (
    image_id TEXT PRIMARY KEY,
    version INTEGER NOT NULL
) WITHOUT ROWID;
"""
    + _stamp_triggers("images", "id")
    + _stamp_triggers("artifacts", "image_id")
    + _stamp_triggers("blurhash_cache", "image_id")
    + """
CREATE TABLE IF NOT EXISTS site_outputs (
    id INTEGER PRIMARY KEY,
    folder TEXT UNIQUE NOT NULL,
    build TEXT NOT NULL,
    settings TEXT,
    gallery_version INTEGER,
    images INTEGER NOT NULL DEFAULT 0,
    complete BOOLEAN NOT NULL DEFAULT FALSE,
    built_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE IF NOT EXISTS site_pages (
    output_id INTEGER NOT NULL REFERENCES site_outputs(id) ON DELETE CASCADE,
    path TEXT NOT NULL,
    inputs TEXT,
    digest TEXT,
    deps TEXT,
    media TEXT,
    PRIMARY KEY (output_id, path)
) WITHOUT ROWID;
"""
)


# The plan memo (cvgallery.catalog.plan_memo): catalog_changes.changes goes up on every
# change to what planning reads, whoever makes it (the seed's SQL fires these triggers
# too); plan_memo holds, per stage, the counter value at which its last plan found every
# artifact current, so a no-op `process` need not read every artifact again, and the
# gallery_version of that moment: after a change, only the pictures stamped later
# (gallery_stamps) are checked again.
SCHEMA_PLAN_MEMO = (
    _counter("catalog_changes", "changes")
    + """
CREATE TABLE IF NOT EXISTS plan_memo (
    stage TEXT PRIMARY KEY,
    plan TEXT NOT NULL,
    changes INTEGER NOT NULL,
    current INTEGER NOT NULL,
    version INTEGER
);
"""
    + "".join(
        f"""CREATE TRIGGER IF NOT EXISTS plan_memo_{name} AFTER {event}
BEGIN UPDATE catalog_changes SET changes = changes + 1 WHERE id = 1; END;
"""
        for name, event in (
            ("artifact_insert", "INSERT ON artifacts"),
            ("artifact_update", "UPDATE ON artifacts"),
            ("artifact_delete", "DELETE ON artifacts"),
            ("image_insert", "INSERT ON images"),
            ("image_update", "UPDATE OF id, approved, parent_id, mime_type ON images"),
            ("image_delete", "DELETE ON images"),
        )
    )
)

# images.reviewed_at: when the review (approved, rejected, rejection_reason) last changed.
# updated_at changes with any column (a title set, a capture date read again, a perceptual
# hash stored); export-legacy must know only whether the review changed since migration.
# Existing rows start from updated_at, which is what export-legacy read until now.
SCHEMA_REVIEWED_AT = """
ALTER TABLE images ADD COLUMN reviewed_at TIMESTAMP;
UPDATE images SET reviewed_at = updated_at;
CREATE TRIGGER IF NOT EXISTS images_touch_reviewed_at
AFTER UPDATE OF approved, rejected, rejection_reason ON images FOR EACH ROW
WHEN NEW.reviewed_at IS OLD.reviewed_at
BEGIN
    UPDATE images SET reviewed_at = strftime('%Y-%m-%d %H:%M:%f', 'now') WHERE id = NEW.id;
END;
"""

Migration = Callable[[sqlite3.Connection], None]


def _script(sql: str) -> Migration:
    def run(conn: sqlite3.Connection) -> None:
        # executescript would COMMIT first; run statement by statement inside our transaction.
        for statement in _split_sql(sql):
            conn.execute(statement)

    return run


def _split_sql(sql: str) -> list[str]:
    statements, current = [], ""
    for line in sql.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    return [s for s in statements if s]


MIGRATIONS: list[tuple[str, Migration]] = [
    ("seed schema", _script(SEED_SCHEMA)),
    (
        "indexes, parent_id, job owner, blurhash context, legacy_files, updated_at trigger",
        _script(SCHEMA_2),
    ),
    ("jobs.variant for stages with several outputs per source", _script(SCHEMA_3)),
    ("images.phash for near-duplicate detection", _script(SCHEMA_4)),
    (
        "picture words and capture facts: title, caption, alt_text, taken_at, camera, lens, "
        "exposure",
        _script(SCHEMA_PICTURE_WORDS),
    ),
    (
        "incremental site builds: gallery_version, site_outputs, site_pages",
        _script(SCHEMA_SITE_BUILDS),
    ),
    (
        "plan memo: a change counter on images and artifacts (triggers), so a no-op "
        "process skips recounting stages known to be current",
        _script(SCHEMA_PLAN_MEMO),
    ),
    ("images.reviewed_at: when the review last changed", _script(SCHEMA_REVIEWED_AT)),
]
SCHEMA_VERSION = len(MIGRATIONS)


def connect(
    path: str | Path, *, migrate: bool = True, readonly: bool = False
) -> sqlite3.Connection:
    """Open cv.db with foreign keys, WAL and a busy timeout; bring its schema up to date.

    The connection is in autocommit mode: use :func:`transaction` for atomic groups.
    """
    path = Path(path)
    timeout = busy_timeout_ms()
    if path.exists() and path.is_file():
        _check_is_sqlite(path)
    elif not path.parent.is_dir():
        raise CatalogError(f"{path}: cannot make a catalog: {path.parent} is not a folder")
    try:
        if readonly:
            uri = f"{path.resolve().as_uri()}?mode=ro"
            conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=timeout / 1000)
        else:
            conn = sqlite3.connect(path, isolation_level=None, timeout=timeout / 1000)
    except sqlite3.Error as exc:
        raise CatalogUnavailable(describe_sqlite_error(path, exc)) from exc
    conn.row_factory = sqlite3.Row
    try:
        conn.execute(f"PRAGMA busy_timeout = {timeout}")
        conn.execute("PRAGMA foreign_keys = ON")
        if not readonly:
            _enable_wal(conn, timeout)
            conn.execute("PRAGMA synchronous = NORMAL")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.OperationalError as exc:  # locked, read-only, disk full: not the file's fault
        conn.close()
        raise CatalogUnavailable(describe_sqlite_error(path, exc)) from exc
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise CatalogError(f"{path}: not a usable SQLite catalog ({exc})") from exc
    if version > SCHEMA_VERSION:
        conn.close()
        raise CatalogError(
            f"{path}: catalog schema version {version} is newer than this cvgallery "
            f"understands ({SCHEMA_VERSION}); upgrade cvgallery"
        )
    if migrate and not readonly and version < SCHEMA_VERSION:
        migrate_to_latest(conn)
    return conn


def _enable_wal(conn: sqlite3.Connection, timeout_ms: int = BUSY_TIMEOUT_MS) -> None:
    """Switch a new file to WAL (the mode persists in the file).

    The switch needs the file to itself and SQLite does not wait on the busy timeout for
    it, so several processes opening a new cv.db at once retry here instead of failing
    with "database is locked".
    """
    deadline = time.monotonic() + timeout_ms / 1000
    while True:
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.005)


def _check_is_sqlite(path: Path) -> None:
    with open(path, "rb") as f:
        header = f.read(16)
    if header and header != b"SQLite format 3\x00":
        raise CatalogError(f"{path}: not a SQLite database (the file starts with {header[:8]!r})")


def migrate_to_latest(conn: sqlite3.Connection) -> int:
    """Apply every migration above the file's user_version, each atomically; return the version."""
    while True:
        with transaction(conn):
            # Re-read inside the write lock: another process may have migrated meanwhile.
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version >= SCHEMA_VERSION:
                return int(version)
            _name, apply = MIGRATIONS[version]
            apply(conn)
            conn.execute(f"PRAGMA user_version = {version + 1}")


@contextmanager
def snapshot(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A read transaction: every SELECT inside sees one state of the catalog (inside a
    transaction already, that one's)."""
    if conn.in_transaction:
        yield conn
        return
    with _begun(conn, "BEGIN"):
        yield conn


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any exception.

    IMMEDIATE takes the write lock up front, so two writers queue on the busy timeout
    instead of failing with "database is locked" when a read turns into a write.
    """
    with _begun(conn, "BEGIN IMMEDIATE"):
        yield conn


@contextmanager
def _begun(conn: sqlite3.Connection, begin: str) -> Iterator[None]:
    conn.execute(begin)
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    else:
        conn.execute("COMMIT")
