"""`cvgallery migrate` run again: a second run changes nothing; a run killed at any point
(kill -9, or between two of its transactions) is completed by the next, exactly."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from legacy_tree import LegacyTree, art_listing, make_legacy_tree, table_dump

from cvgallery.catalog import Catalog, init_site
from cvgallery.legacy import migrate


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> LegacyTree:
    """One generated legacy tree per module; tests only ever read it."""
    return make_legacy_tree(tmp_path_factory.mktemp("legacy") / "legacy")


def test_second_run_changes_nothing(site_root: Path, tree: LegacyTree) -> None:
    with Catalog.open(site_root) as cat:
        first = migrate(cat, tree.root)
        rows, files = table_dump(site_root / "cv.db"), art_listing(site_root / "art")
        second = migrate(cat, tree.root)
    assert second.migrated == {} and second.errors == []
    assert second.already == sum(first.migrated.values()) - first.migrated["blurhash"]
    assert second.validation is not None and second.validation["ok"]
    assert table_dump(site_root / "cv.db") == rows
    assert art_listing(site_root / "art") == files


# `cvgallery migrate` in small batches with a pause after each committed one, so the kill
# lands mid-run. The hook lives here: this wrapper patches the module, then runs the CLI.
SLOW_MIGRATE = """
import sys, time
from cvgallery.legacy import migration
from cvgallery.cli import main

migration.BATCH = 16
phase = migration.Migrator.phase

def slow_phase(self, rels, step):
    def step_then_pause(todo):
        step(todo)
        time.sleep(0.3)
    phase(self, rels, step_then_pause)

migration.Migrator.phase = slow_phase
main()
"""


def count_rows(db_path: Path) -> int:
    try:
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5)
        try:
            return int(conn.execute("SELECT COUNT(*) FROM legacy_files").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


def test_kill_minus_nine_then_rerun_completes_exactly(tree: LegacyTree, tmp_path: Path) -> None:
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    init_site(killed)
    init_site(clean)
    slow = [sys.executable, "-c", SLOW_MIGRATE, "migrate", "--json", "--root"]
    cmd = [sys.executable, "-m", "cvgallery", "migrate", "--json", "--root"]
    proc = subprocess.Popen([*slow, str(killed), str(tree.root)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while count_rows(killed / "cv.db") < 40 and time.monotonic() < deadline:
            assert proc.poll() is None, "the run ended before it could be killed"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert 40 <= count_rows(killed / "cv.db") < tree.files - 1
    rerun = subprocess.run([*cmd, str(killed), str(tree.root)], capture_output=True, text=True,
                           timeout=300)  # fmt: skip
    report = json.loads(rerun.stdout)
    assert report["validation"]["ok"], report["validation"]["problems"]
    assert report["already"] >= 40
    full = subprocess.run([*cmd, str(clean), str(tree.root)], capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert json.loads(full.stdout)["validation"]["ok"]
    assert table_dump(killed / "cv.db") == table_dump(clean / "cv.db")
    assert list((killed / "art").rglob(".cvgallery-tmp")) == []
    assert sorted(art_listing(killed / "art")) == sorted(art_listing(clean / "art"))
    verify = subprocess.run([sys.executable, "-m", "cvgallery", "verify", "--root", str(killed)],
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    assert verify.returncode == 0, verify.stderr


def test_a_run_killed_between_registering_and_recording_is_completed_exactly(
    tmp_path: Path,
) -> None:
    """add_files commits the originals it registers, migrate records their legacy_files rows
    in the next transaction: a kill in between leaves images the rerun sees as duplicates.
    The rerun still gives them the rows and the migrated_from mark a clean run gives."""
    from cvgallery.ingest import add_files

    small = make_legacy_tree(tmp_path / "legacy", count=4, full=False)
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    for site in (killed, clean):
        init_site(site)
    with Catalog.open(killed) as cat:
        add_files(cat, sorted((small.root / "img").iterdir()), link=True, approve=False)
        assert cat.conn.execute("SELECT COUNT(*) FROM legacy_files").fetchone()[0] == 0
        assert migrate(cat, small.root).ok
    with Catalog.open(clean) as cat:
        assert migrate(cat, small.root).ok
    assert table_dump(killed / "cv.db") == table_dump(clean / "cv.db")
