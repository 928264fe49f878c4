"""`cvgallery migrate --dry-run`: the plan writes nothing at all (not even cv.db, -wal or
-shm) and names the problems the run itself reports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from legacy_tree import LegacyTree, art_listing, copy_tree, make_legacy_tree, picture

from cvgallery.catalog import Catalog, init_site
from cvgallery.cli import cli
from cvgallery.legacy import MigrationReport, migrate, plan_migration


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> LegacyTree:
    """One generated legacy tree per module; tests only ever read it."""
    return make_legacy_tree(tmp_path_factory.mktemp("legacy") / "legacy")


def test_dry_run_writes_nothing_without_a_catalog(tree: LegacyTree, tmp_path: Path) -> None:
    site = tmp_path / "empty-site"
    site.mkdir()
    (site / "site.toml").write_text("")  # a site (commands refuse outside one), no catalog yet
    proc = subprocess.run(
        [sys.executable, "-m", "cvgallery", "migrate", "--root", str(site), "--dry-run", "--json",
         str(tree.root)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 1  # the malformed blurhash is a problem found
    plan = json.loads(proc.stdout)
    assert plan["dry_run"] and plan["already"] == 0
    assert plan["found"]["thumbnails-small"] == plan["migrated"]["thumbnails-small"] == 65
    kinds = {(n["kind"], n["path"]) for n in plan["notes"]}
    assert ("rejected", tree.special["gif"]) in kinds and (
        "duplicate",
        tree.special["duplicate"],
    ) in kinds
    assert ("no original", tree.special["orphan_thumb"]) in kinds
    assert [p.name for p in site.iterdir()] == ["site.toml"]  # no cv.db, no art/
    human = subprocess.run(
        [sys.executable, "-m", "cvgallery", "migrate", "--root", str(site), "--dry-run",
         str(tree.root)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert human.returncode == 1 and [p.name for p in site.iterdir()] == ["site.toml"]
    lines = {line.split()[0]: line.split()[1:] for line in human.stderr.splitlines() if line}
    assert lines["thumbnails-small"] == ["65", "65"] and lines["upstream"] == ["68", "68"]
    assert f"note  rejected: {tree.special['gif']}: gif" in human.stderr
    assert "plan: " in human.stderr and "would migrate" in human.stderr


def test_dry_run_reports_what_the_run_reports(tree: LegacyTree, tmp_path: Path) -> None:
    """Same notes and errors from the plan as from the run: derived files of a yes/-only
    image, a second derived file of an orphan (t2/ after thumbs/), videos with no original,
    a blur/ hash for an unknown id, the malformed hash."""
    legacy = tmp_path / "legacy"
    copy_tree(tree.root, legacy)
    (legacy / "thumbs/only in yes.jpeg").write_bytes(picture(77_777, (32, 24), "JPEG"))
    config = init_site(tmp_path / "site")
    plan = plan_migration(config, legacy)
    with Catalog.open(config.root) as cat:
        run = migrate(cat, legacy)

    def notes(report: MigrationReport) -> list[tuple[str, str]]:
        return sorted((n["kind"], n["path"]) for n in report.notes)

    assert ("no original", "v/mp4/clip1.mp4") in notes(plan)
    assert ("blurhash", "blur/cache.json [no-such-image]") in notes(plan)
    assert notes(plan) == notes(run)
    assert plan.errors == run.errors and plan.found == run.found


def test_dry_run_on_a_migrated_site_changes_nothing(site_root: Path, tree: LegacyTree) -> None:
    with Catalog.open(site_root) as cat:
        migrate(cat, tree.root)
    before_db = (site_root / "cv.db").read_bytes()
    before_files = sorted(p.name for p in site_root.iterdir())
    before_art = art_listing(site_root / "art")
    result = CliRunner().invoke(
        cli, ["migrate", "--root", str(site_root), "--dry-run", "--json", str(tree.root)]
    )
    plan = json.loads(result.stdout)
    assert plan["already"] == tree.files - 1 and plan["migrated"] == {}
    assert (site_root / "cv.db").read_bytes() == before_db
    assert sorted(p.name for p in site_root.iterdir()) == before_files
    assert art_listing(site_root / "art") == before_art
