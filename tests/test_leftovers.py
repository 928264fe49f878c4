"""Leftovers and races: temporaries live only in cvgallery's own temp folders and the next
command removes a dead writer's; a killed run's commands do not outlive it; a failed
`add` leaves no file without its row."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from legacy_tree import make_legacy_tree
from process_helpers import add, configure, jobs_of, photo, toml_command, write_script

from cvgallery import ingest, owners, store
from cvgallery.catalog import Catalog
from cvgallery.ingest import add_files, log_artifact


def cvgallery(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "cvgallery", *map(str, args)]


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def plant_dead_temp(folder: Path) -> Path:
    """What a killed `add` leaves: a full-size copy under its writer's (dead) pid."""
    temps = store.temp_dir(folder)
    temps.mkdir(exist_ok=True)
    left = temps / f"{dead_pid()}-abcd1234.jpeg"
    left.write_bytes(os.urandom(256 << 10))
    return left


@pytest.mark.parametrize("command", ["add", "process", "build", "migrate"])
def test_the_next_command_removes_dead_temporaries_never_a_users_file(
    site_root: Path, make_image, tmp_path: Path, command: str
) -> None:
    configure(site_root)
    upstream = site_root / "art/upstream"
    # An upload whose real name looks like an old-style temporary of a dead pid.
    users = make_image("x.jpeg", folder=upstream)
    users = users.rename(upstream / ".tmp-999999-x.jpg")
    left = [plant_dead_temp(upstream), plant_dead_temp(site_root / "art/web-optimized")]
    live = store.temp_file(upstream, ".jpeg")  # this process is alive: its file stays
    args: list[str | Path] = [command]
    if command == "add":
        args.append(make_image("new.jpeg"))
    elif command == "migrate":
        args.append(make_legacy_tree(tmp_path / "legacy", count=3, full=False).root)
    result = subprocess.run(
        cvgallery(*args, "--root", site_root), capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert not any(path.exists() for path in left)
    assert live.exists() and users.exists()
    assert not (site_root / "art/web-optimized/.cvgallery-tmp").exists()  # emptied: gone


def test_a_killed_add_is_cleaned_up_by_the_next_one(site_root: Path, tmp_path: Path) -> None:
    configure(site_root)
    sources = [photo(tmp_path / f"in/p{i:03d}.png", (640, 480)) for i in range(200)]
    proc = subprocess.Popen(
        cvgallery("add", tmp_path / "in", "--root", site_root),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    temps = site_root / "art/upstream/.cvgallery-tmp"
    deadline = time.monotonic() + 60
    seen = False
    while not seen and proc.poll() is None and time.monotonic() < deadline:
        seen = temps.is_dir() and any(temps.iterdir())  # copies written, rows not yet
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert seen and any(temps.iterdir()), "the add was not caught with copies in flight"
    again = subprocess.run(
        cvgallery("add", tmp_path / "in", "--root", site_root),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 0, again.stderr
    assert not temps.exists()
    with Catalog.open(site_root) as catalog:
        rows = catalog.conn.execute("SELECT COUNT(*) FROM images").fetchone()[0]
    assert rows == len(sources)
    assert len([p for p in (site_root / "art/upstream").iterdir()]) == len(sources)


@contextmanager
def failing_commit(catalog: Catalog, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every write transaction of ``catalog`` fails at COMMIT, as on a read-only cv.db."""
    real = catalog.transaction

    @contextmanager
    def transaction() -> Iterator[sqlite3.Connection]:
        with real() as conn:
            yield conn
            raise sqlite3.OperationalError("attempt to write a readonly database")

    with monkeypatch.context() as patch:
        patch.setattr(catalog, "transaction", transaction)
        yield


@pytest.mark.parametrize("link", [False, True])
def test_a_failed_add_leaves_no_file_and_the_retry_keeps_its_flags(
    site_root: Path, make_image, monkeypatch: pytest.MonkeyPatch, link: bool
) -> None:
    monkeypatch.setattr(ingest, "BATCH", 2)  # a batch read ahead must go too
    paths = [make_image(f"p{i}.jpeg") for i in range(5)]
    flags = {"url": "https://example.org/p", "user": "ann", "approve": True, "link": link}
    with Catalog.open(site_root) as catalog:
        with failing_commit(catalog, monkeypatch), pytest.raises(sqlite3.OperationalError):
            add_files(catalog, paths, **flags)  # type: ignore[arg-type]
        assert catalog.conn.execute("SELECT COUNT(*) FROM images").fetchone()[0] == 0
        assert list((site_root / "art/upstream").iterdir()) == []  # no file, no temp folder
        results = add_files(catalog, paths, **flags)  # type: ignore[arg-type]
        assert [r.status for r in results] == ["added"] * 5
        rows = catalog.conn.execute("SELECT * FROM images ORDER BY id").fetchall()
    assert [(r["id"], r["username"], r["original_url"], r["approved"]) for r in rows] == [
        (f"p{i}", "ann", "https://example.org/p", 1) for i in range(5)
    ]
    assert all(p.exists() for p in paths)  # the sources are untouched


def test_a_failed_artifact_log_leaves_no_file(
    site_root: Path, make_image, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(site_root)
    add(site_root, photo(site_root.parent / "in/a.png", (64, 48)))
    thumb = make_image("thumb.jpeg", folder=site_root.parent / "made")
    with Catalog.open(site_root) as catalog:
        with failing_commit(catalog, monkeypatch), pytest.raises(sqlite3.OperationalError):
            log_artifact(catalog, "a", "thumbnails-small", thumb)
        assert catalog.artifacts.get("a", "thumbnails-small") is None
    assert list((site_root / "art/thumbnails-small").iterdir()) == []


# -- a killed run's commands --------------------------------------------------------------

SPAWNER = """
import os, subprocess, sys, time
out, ident, logs = sys.argv[2], sys.argv[3], sys.argv[4]
late = os.path.join(logs, ident + ".late")
child = (
    "import os, sys, time\\n"
    "if sys.argv[2] == 'escape':\\n"
    "    os.setsid()  # leaves the command's process group\\n"
    "open(sys.argv[3], 'w').write(str(os.getpid()))\\n"
    "time.sleep(3)\\n"
    "open(sys.argv[1], 'w').write('written after the run was killed')\\n"
)
started = os.path.join(logs, ident + ".started")
if not os.path.exists(started):  # the first run only: the one that gets killed
    open(started, "w").close()
    for how in ("stay", "escape"):
        subprocess.Popen([sys.executable, "-c", child, late + "-" + how, how,
                          os.path.join(logs, ident + "." + how + ".pid")])
    time.sleep(3)
open(out, "wb").write(open(sys.argv[1], "rb").read())
"""


def _pids(logs: Path) -> list[int]:
    texts = [p.read_text() for p in logs.glob("*.pid")]
    return [int(t) for t in texts if t.isdigit()]


def test_kill_9_leaves_no_command_or_grandchild_running(root_with_stage: Path) -> None:
    root, logs = root_with_stage, root_with_stage.parent / "logs"
    proc = subprocess.Popen(
        cvgallery("process", "face-swap-results", "-j", "2", "--root", root),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(_pids(logs)) < 4:
        assert proc.poll() is None
        time.sleep(0.02)  # polling for the commands' grandchildren to be started
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    pids = _pids(logs)
    assert len(pids) == 4
    rerun = subprocess.run(
        cvgallery("process", "face-swap-results", "-j", "2", "--root", root),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert rerun.returncode == 0, rerun.stderr
    assert (
        json.loads(
            subprocess.run(
                cvgallery("stats", "--json", "--root", root), capture_output=True, text=True
            ).stdout
        )["artifacts"]["face-swap-results"]
        == 2
    )
    # Every grandchild of the killed run is gone (the rerun waited for them): none can
    # write after the cleanup, not even the one that left its command's process group.
    assert [pid for pid in pids if owners.process_start_time(pid) is not None] == []
    assert not list(logs.glob("*.late-*"))
    assert not list((root / "art").rglob(".cvgallery-tmp"))
    assert {j["status"] for j in jobs_of(root)} == {"completed"}


@pytest.fixture
def root_with_stage(site_root: Path, tmp_path: Path) -> Path:
    script = write_script(tmp_path / "bin", "spawner.py", SPAWNER)
    (tmp_path / "logs").mkdir()
    argv = [*script, "{input}", "{output}", "{id}", str(tmp_path / "logs")]
    configure(site_root, toml_command("face-swap-results", argv, ext="png"))
    add(site_root, photo(tmp_path / "in/a.png", (64, 48)), photo(tmp_path / "in/b.png", (64, 48)))
    return site_root


def test_writers_sharing_a_folder_never_trip_over_its_temp_folder(tmp_path: Path) -> None:
    """Each writer removes the temp folder once empty while others create files in it."""
    from concurrent.futures import ThreadPoolExecutor

    folder, src = tmp_path / "out", tmp_path / "src.bin"
    src.write_bytes(b"linked")

    def writer(n: int) -> None:
        for i in range(80):
            store.write_bytes(folder / f"w{n}-{i}.bin", b"x")
            store.link_or_copy(src, folder / f"l{n}-{i}.bin")
            with store.atomic_path(folder / f"f{n}-{i}.bin", fresh=True) as tmp:
                tmp.write_bytes(b"made by a tool")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(writer, range(8)))  # re-raises any writer's error
    assert len(list(folder.iterdir())) == 8 * 80 * 3
    assert not store.temp_dir(folder).exists()
