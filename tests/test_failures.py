"""Faults end in one `Error: <file>: <reason>` line and the README's exit code, never a
traceback, and leave the catalog and the previous site as they were: a missing --root, a
read-only catalog, a full disk, a lock held past the busy timeout, a broken theme file,
an output that cannot be written, an error nobody foresaw. Library warnings are notes."""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
import struct
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from PIL import Image

from cvgallery.catalog import Catalog
from cvgallery.catalog import schema as db
from cvgallery.errors import CatalogUnavailable, ConfigError
from cvgallery.ingest import add_files
from cvgallery.process import process


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("Error:")]


def assert_one_error(result: subprocess.CompletedProcess[str], code: int, *words: str) -> str:
    assert result.returncode == code, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    [line] = error_lines(result.stderr)
    for word in words:
        assert word in line, (word, line)
    return line


def dump(db_path: Path) -> list[tuple[object, ...]]:
    """Every row of every table, to compare a catalog before and after a failure."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return [(t, *row) for t in sorted(tables) for row in conn.execute(f"SELECT * FROM {t}")]
    finally:
        conn.close()


def tree(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def upstream_files(root: Path) -> list[str]:
    return sorted(os.listdir(root / "art" / "upstream"))


# -- a missing --root -------------------------------------------------------------------------


def test_a_missing_root_folder_is_an_error_that_makes_nothing(tmp_path: Path, cli_run) -> None:
    missing = tmp_path / "no" / "such" / "site"
    for args in (["stats"], ["add", tmp_path], ["build"]):
        result = cli_run(*args, "--root", missing)
        assert_one_error(result, 2, str(missing), "no such folder", "cvgallery init")
    assert not (tmp_path / "no").exists()


# -- a read-only catalog -------------------------------------------------------------------------


@contextmanager
def read_only(site_root: Path) -> Iterator[Path]:
    """cv.db that cannot be written. Root ignores file modes, so as root the file is made
    immutable (chattr +i, which root obeys); elsewhere it and its folder lose their w bits."""
    path = site_root / "cv.db"
    if os.geteuid() == 0:
        if shutil.which("chattr") is None:
            pytest.skip("running as root without chattr: cannot make a file read-only")
        made = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
        if made.returncode != 0:
            pytest.skip(f"chattr +i is not possible here: {made.stderr.strip()}")
        try:
            yield path
        finally:
            subprocess.run(["chattr", "-i", str(path)], check=True)
    else:
        path.chmod(0o444)
        site_root.chmod(0o555)
        try:
            yield path
        finally:
            site_root.chmod(0o755)
            path.chmod(0o644)


def test_a_read_only_catalog_is_one_error_and_no_stray_file(
    site_root: Path, make_image, cli_run
) -> None:
    first = make_image("first.jpeg")
    assert cli_run("add", first, "--root", site_root).returncode == 0
    before, files = dump(site_root / "cv.db"), upstream_files(site_root)
    new = [make_image(f"new{n}.jpeg") for n in range(3)]
    with read_only(site_root) as cv_db:
        stats = cli_run("stats", "--root", site_root)
        assert stats.returncode == 0 and "Traceback" not in stats.stderr  # reading works
        for args in (["approve", "first"], ["add", *new, "--user", "ann"]):
            result = cli_run(*args, "--root", site_root)
            assert_one_error(result, 1, str(cv_db), "cannot be written")
        assert upstream_files(site_root) == files  # no stored file without its row
    assert dump(site_root / "cv.db") == before
    # the retry, once the catalog is writable, keeps what was asked for
    retry = cli_run("add", *new, "--user", "ann", "--root", site_root)
    assert retry.returncode == 0 and retry.stderr.count("added ") == 3
    with Catalog.open(site_root) as cat:
        assert cat.images.get("new0")["username"] == "ann"


# -- a full disk -------------------------------------------------------------------------------


def test_a_full_disk_during_add_fails_that_file_alone(
    catalog: Catalog, make_image, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The copy of one file hits ENOSPC: it fails with the reason, leaves no partial copy,
    and the other files of its batch are added."""
    small = make_image("small.jpeg")
    big = make_image("big.png", size=(300, 200), format="PNG")
    real_write = Path.write_bytes

    def write_bytes(self: Path, data: bytes) -> int:  # type: ignore[override]
        # temporaries are written in the stage folder's own temp folder (store.temp_dir)
        if self.suffix == ".png" and self.parent.parent.name == "upstream":
            real_write(self, data[: len(data) // 2])  # part of it made it to the disk
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(self, data)

    monkeypatch.setattr(Path, "write_bytes", write_bytes)
    results = {r.path.name: r for r in add_files(catalog, [small, big])}
    assert results["small.jpeg"].status == "added"
    assert results["big.png"].status == "error"
    assert "No space left on device" in (results["big.png"].reason or "")
    assert "cannot copy" in (results["big.png"].reason or "")
    assert os.listdir(catalog.art_dir / "upstream") == ["small.jpeg"]


def test_a_full_disk_during_process_fails_the_jobs_not_the_run(
    catalog: Catalog, make_image, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_files(catalog, [make_image("a.jpeg"), make_image("b.jpeg")], approve=True)
    real_write = Path.write_bytes

    def write_bytes(self: Path, data: bytes) -> int:  # type: ignore[override]
        if "web-optimized" in (self.parent.name, self.parent.parent.name):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(self, data)

    monkeypatch.setattr(Path, "write_bytes", write_bytes)
    report = process(catalog, ["web-optimized", "thumbnails-small"], workers=1)
    assert report.made == 2  # the thumbnails
    assert sorted(f.image_id for f in report.failed) == ["a", "b"]
    assert all("No space left on device" in f.error for f in report.failed)
    assert os.listdir(catalog.art_dir / "web-optimized") == []  # no temporary left
    assert catalog.artifacts.counts().get("web-optimized", 0) == 0


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 600 KiB tmpfs (mounting needs root and the right to mount, as in a privileged
    container; elsewhere the library-level tests above cover the same paths)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=600k", "tmpfs", str(disk)],
        capture_output=True,
        text=True,
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def test_a_really_full_disk(tiny_disk: Path, tmp_path: Path, cli_run) -> None:
    site = tiny_disk / "site"
    assert cli_run("init", site).returncode == 0
    src = tmp_path / "in"
    src.mkdir()
    Image.effect_noise((700, 700), 80).convert("RGB").save(src / "noise.png")  # ~1.2 MB
    Image.new("RGB", (40, 30), (200, 10, 10)).save(src / "small.jpeg")
    # One at a time: copied side by side (add's threads), the small file may meet the disk
    # while the big one's partial copy fills it, and fail too, rightly.
    added = cli_run("add", src / "noise.png", "--approve", "--root", site)
    assert added.returncode == 1 and "Traceback" not in added.stderr
    assert "error" in added.stderr and "No space left on device" in added.stderr
    assert upstream_files(site) == []  # no partial copy left behind
    added = cli_run("add", src / "small.jpeg", "--approve", "--root", site)
    assert added.returncode == 0 and "added small" in added.stderr, added.stderr
    assert upstream_files(site) == ["small.jpeg"]
    before = dump(site / "cv.db")
    filler = tiny_disk / "filler"
    with open(filler, "wb", buffering=0) as f:  # leave (next to) nothing
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError:
            pass
    for args in (["process"], ["build"], ["approve", "small"]):
        result = cli_run(*args, "--root", site)
        assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
        assert error_lines(result.stderr), result.stderr
    filler.unlink()
    assert dump(site / "cv.db") == before
    assert cli_run("build", "--root", site).returncode == 0


# -- a lock held past the busy timeout -----------------------------------------------------


def test_a_lock_held_past_the_busy_timeout_is_one_error(
    site_root: Path, make_image, cli_run, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli_run("add", make_image("a.jpeg"), "--root", site_root).returncode == 0
    before, files = dump(site_root / "cv.db"), upstream_files(site_root)
    monkeypatch.setenv(db.BUSY_TIMEOUT_ENV, "0.2")
    holder = sqlite3.connect(site_root / "cv.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another command, writing for a long time
    try:
        for args in (["approve", "a"], ["add", make_image("b.jpeg")], ["process"]):
            result = cli_run(*args, "--root", site_root)
            assert_one_error(result, 1, str(site_root / "cv.db"), "locked", db.BUSY_TIMEOUT_ENV)
        assert upstream_files(site_root) == files
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert dump(site_root / "cv.db") == before


def test_the_busy_timeout_setting_is_checked(monkeypatch: pytest.MonkeyPatch, site_root) -> None:
    monkeypatch.setenv(db.BUSY_TIMEOUT_ENV, "1.5")
    assert db.busy_timeout_ms() == 1500
    with Catalog.open(site_root) as cat:
        assert cat.conn.execute("PRAGMA busy_timeout").fetchone()[0] == 1500
    monkeypatch.setenv(db.BUSY_TIMEOUT_ENV, "soon")
    with pytest.raises(ConfigError, match=db.BUSY_TIMEOUT_ENV):
        db.busy_timeout_ms()


def test_a_lock_while_opening_is_an_error_of_the_catalog(
    site_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An exclusive lock stops even the first read: CatalogUnavailable, exit 1."""
    monkeypatch.setenv(db.BUSY_TIMEOUT_ENV, "0.1")
    holder = sqlite3.connect(site_root / "cv.db", isolation_level=None)
    holder.execute("PRAGMA locking_mode = EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(CatalogUnavailable, match="locked") as raised:  # not sqlite3's
            with Catalog.open(site_root) as cat:
                cat.stats()
        assert raised.value.exit_code == 1
    finally:
        holder.execute("ROLLBACK")
        holder.close()


# -- the site: a broken theme, an output that cannot be written -------------------------------


def test_a_dangling_symlink_in_a_theme_is_named_and_the_site_kept(
    site_root: Path, make_image, cli_run
) -> None:
    cli_run("add", make_image("a.jpeg"), "--approve", "--root", site_root)
    assert cli_run("build", "--root", site_root).returncode == 0
    output = site_root / "art" / "gallery-html"
    site = tree(output)
    static = site_root / "themes" / "default" / "static"
    static.mkdir(parents=True)
    (static / "extra.css").symlink_to(site_root / "gone.css")
    result = cli_run("build", "--root", site_root)
    assert_one_error(result, 1, str(static / "extra.css"), "symbolic link")
    assert tree(output) == site


@pytest.mark.parametrize("where", ["under-a-file", "proc"])
def test_an_output_that_cannot_be_written_is_one_error(
    site_root: Path, make_image, cli_run, where: str
) -> None:
    cli_run("add", make_image("a.jpeg"), "--approve", "--root", site_root)
    assert cli_run("build", "--root", site_root).returncode == 0
    site = tree(site_root / "art" / "gallery-html")
    blocker = site_root / "a-file"
    blocker.write_text("not a folder")
    output = blocker / "site" if where == "under-a-file" else Path("/proc/cvgallery-site")
    result = cli_run("build", "--output", output, "--no-process", "--root", site_root)
    assert_one_error(result, 1, str(output), "cannot write the site")
    assert tree(site_root / "art" / "gallery-html") == site
    assert blocker.read_text() == "not a folder"


# -- the last resort -------------------------------------------------------------------------


def run_patched(patch: str, *args: object, debug: bool = False) -> subprocess.CompletedProcess[str]:
    """The real CLI with one library function replaced by ``patch`` (code that raises)."""
    code = (
        "import sys, sqlite3, errno\n"
        "import cvgallery.commands.images as images\n"
        f"def broken(*a, **k):\n    {patch}\n"
        "images.stats = broken\n"
        "from cvgallery.cli import main\n"
        "sys.argv = ['cvgallery', *sys.argv[1:]]\n"
        "main()\n"
    )
    env = {**os.environ, "CVGALLERY_DEBUG": "1" if debug else ""}
    return subprocess.run(
        [sys.executable, "-c", code, *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_an_unexpected_error_is_one_line_naming_the_command(site_root: Path) -> None:
    result = run_patched("raise KeyError('surprise')", "stats", "--root", site_root)
    assert_one_error(result, 1, "internal error in cvgallery stats", "KeyError", "surprise")
    debug = run_patched("raise KeyError('surprise')", "stats", "--root", site_root, debug=True)
    assert debug.returncode == 1 and "Traceback" in debug.stderr
    assert error_lines(debug.stderr) == error_lines(result.stderr)


def test_sqlite_and_os_errors_name_the_file(site_root: Path) -> None:
    raw_sqlite = run_patched(
        "raise sqlite3.OperationalError('disk I/O error')", "stats", "--root", site_root
    )
    assert_one_error(raw_sqlite, 1, str(site_root / "cv.db"), "disk I/O error")
    raw_os = run_patched(
        "raise PermissionError(errno.EACCES, 'Permission denied', '/some/file')",
        "stats",
        "--root",
        site_root,
    )
    line = assert_one_error(raw_os, 1, "/some/file", "Permission denied")
    assert line == "Error: /some/file: Permission denied"


# -- library warnings ---------------------------------------------------------------------------


def corrupt_exif_jpeg(path: Path, seed: int) -> Path:
    """A JPEG whose EXIF block promises a tag's data past its own end: Pillow warns."""
    ifd = struct.pack("<H", 1) + struct.pack("<HHII", 270, 2, 20, 24) + struct.pack("<I", 0)
    exif = b"Exif\0\0" + b"II*\0" + struct.pack("<I", 8) + ifd
    Image.new("RGB", (40, 30), (seed * 60 % 256, 90, 10)).save(path, "JPEG", exif=exif)
    return path


def test_library_warnings_are_notes_of_their_file(tmp_path: Path, site_root: Path, cli_run) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    files = [corrupt_exif_jpeg(folder / f"exif{n}.jpeg", n) for n in range(3)]
    added = cli_run("add", folder, "--approve", "--root", site_root)
    assert added.returncode == 0
    for stream in (added.stderr, added.stdout):
        assert "Warning" not in stream and "site-packages" not in stream
    noted = [line for line in added.stderr.splitlines() if "(note: " in line]
    assert len(noted) == len(files)  # every file, not only the first (warnings' "once")
    processed = cli_run("process", "-j", "2", "--root", site_root)
    assert processed.returncode == 0
    assert "Warning" not in processed.stderr and "site-packages" not in processed.stderr
    notes = [line for line in processed.stderr.splitlines() if line.startswith("note: exif")]
    assert {line.split(":")[1].strip() for line in notes} == {f"exif{n}" for n in range(3)}
