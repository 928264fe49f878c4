"""`cvgallery verify [--json] [--fix]`: missing files, sha256 mismatches, orphans, broken rows."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from legacy_tree import LegacyTree, make_legacy_tree, picture, table_dump

from cvgallery.catalog import Catalog
from cvgallery.cli import cli
from cvgallery.errors import UsageError
from cvgallery.legacy import migrate
from cvgallery.verify import verify_catalog


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> LegacyTree:
    return make_legacy_tree(tmp_path_factory.mktemp("legacy") / "legacy", count=20)


@pytest.fixture
def migrated(site_root: Path, tree: LegacyTree) -> Path:
    with Catalog.open(site_root) as cat:
        migrate(cat, tree.root, copy=True)  # copies: the tests damage art/, never the legacy tree
    return site_root


def run_verify(site: Path, *args: str) -> tuple[int, dict]:
    result = CliRunner().invoke(cli, ["verify", "--root", str(site), "--json", *args])
    return result.exit_code, json.loads(result.stdout)


def kinds(report: dict) -> set[tuple[str, str]]:
    return {(p["kind"], str(p.get("path") or p.get("row"))) for p in report["problems"]}


def test_a_fresh_migration_verifies_clean(migrated: Path) -> None:
    code, report = run_verify(migrated)
    assert (code, report["problems"]) == (0, [])
    proc = subprocess.run(
        [sys.executable, "-m", "cvgallery", "verify", "--root", str(migrated)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0 and "0 problems" in proc.stderr


def test_missing_file_is_reported_and_fix_drops_only_its_row(
    migrated: Path, tree: LegacyTree
) -> None:
    (migrated / "art/thumbnails-small/00003-photo.jpeg").unlink()
    code, report = run_verify(migrated)
    assert code == 1
    assert ("missing file", "thumbnails-small/00003-photo.jpeg") in kinds(report)
    files_before = sorted(p for p in (migrated / "art").rglob("*") if p.is_file())
    code, report = run_verify(migrated, "--fix")
    assert code == 0 and report["problems"][0]["fixed"].startswith("row dropped")
    assert sorted(p for p in (migrated / "art").rglob("*") if p.is_file()) == files_before
    with Catalog.open(migrated) as cat:
        assert cat.artifacts.get("00003-photo", "thumbnails-small") is None
        assert cat.artifacts.get("00003-photo", "upstream") is not None
    assert run_verify(migrated)[0] == 0
    # the legacy file's row went with it, so migrating again restores the thumbnail
    with Catalog.open(migrated) as cat:
        report = migrate(cat, tree.root, copy=True)
        assert report.migrated == {"thumbnails-small": 1}
        assert cat.artifacts.get("00003-photo", "thumbnails-small") is not None
    assert run_verify(migrated)[0] == 0


def test_checksum_mismatch_is_reported_and_not_fixed(migrated: Path) -> None:
    target = migrated / "art/web-optimized/00004-photo.jpeg"
    target.write_bytes(picture(424242, (48, 36), "JPEG"))
    code, report = run_verify(migrated, "--fix")
    assert code == 1
    problem = next(p for p in report["problems"] if p["kind"] == "sha256 mismatch")
    assert problem["path"] == "web-optimized/00004-photo.jpeg" and "fixed" not in problem
    assert target.exists()


def test_orphans_are_registered_when_safe_and_never_deleted(migrated: Path) -> None:
    art = migrated / "art"
    with Catalog.open(migrated) as cat:
        cat.conn.execute(
            "DELETE FROM artifacts WHERE image_id = '00006-photo' AND stage = 'ersgan-thumbnails'"
        )
        cat.conn.execute("DELETE FROM legacy_files WHERE path = 'replicate/t2/00006-photo.jpeg'")
    (art / "ersgan-thumbnails/00006-photo.jpeg").unlink(missing_ok=True)
    (art / "ersgan-thumbnails/00006-photo.jpeg").write_bytes(picture(7, (32, 24), "JPEG"))
    (art / "thumbnails-small/nobody.jpeg").write_bytes(picture(8, (32, 24), "JPEG"))
    (art / "thumbnails-small/.hidden.jpeg").write_bytes(b"dot")  # dotfiles: ignored
    (art / "thumbnails-small/.tmp-123-x.jpeg").write_bytes(b"temp")  # temporaries: ignored
    (art / "gallery-html/page.html").write_text("<p>built site</p>")  # gallery-html: ignored
    code, report = run_verify(migrated)
    assert code == 1
    assert kinds(report) == {
        ("orphan file", "ersgan-thumbnails/00006-photo.jpeg"),
        ("orphan file", "thumbnails-small/nobody.jpeg"),
    }
    code, report = run_verify(migrated, "--fix")
    assert code == 1  # nobody.jpeg has no image: reported, left alone
    fixed = {p["path"]: p.get("fixed") for p in report["problems"]}
    assert fixed == {"ersgan-thumbnails/00006-photo.jpeg": "registered",
                     "thumbnails-small/nobody.jpeg": None}  # fmt: skip
    assert (art / "thumbnails-small/nobody.jpeg").exists()
    assert (art / "thumbnails-small/.tmp-123-x.jpeg").exists()
    with Catalog.open(migrated) as cat:
        row = cat.artifacts.get("00006-photo", "ersgan-thumbnails")
        assert row is not None and (row["width"], row["height"]) == (32, 24)


def test_rows_breaking_the_schema_rules_are_listed(migrated: Path) -> None:
    conn = sqlite3.connect(migrated / "cv.db")  # foreign keys off: how a stray script writes
    conn.execute(
        "INSERT INTO artifacts (image_id, stage, file_path) VALUES ('ghost', 'upstream', 'x')"
    )
    conn.execute("INSERT INTO jobs (image_id, stage, status) VALUES ('00001-photo', 'bogus', 'x')")
    conn.execute(
        "INSERT INTO blurhash_cache (image_id, stage, blurhash, width, height)"
        " VALUES ('ghost', 'web-optimized', 'h', 1, 1)"
    )
    conn.execute("UPDATE images SET approved = 1, rejected = 1 WHERE id = '00002-photo'")
    conn.execute(
        "UPDATE artifacts SET file_path = 'upstream/00005-photo.png'"
        " WHERE image_id = '00005-photo' AND stage = 'thumbnails-small'"
    )
    conn.commit()
    conn.close()
    code, report = run_verify(migrated)
    assert code == 1
    found = {(p["kind"], p.get("table")) for p in report["problems"]}
    assert {
        ("no images row", "artifacts"),
        ("no images row", "blurhash_cache"),
        ("unknown stage", "jobs"),
        ("unknown job status", "jobs"),
        ("both approved and rejected", "images"),
        ("file outside its stage folder", "artifacts"),
        ("missing file", None),
    } <= found
    code, _ = run_verify(migrated, "--fix")
    assert code == 1  # none of these is safe to fix automatically


def test_verify_reads_a_clean_site_without_legacy_rows(site_root: Path, make_image) -> None:
    from cvgallery.ingest import add_files

    with Catalog.open(site_root) as cat:
        add_files(cat, [make_image("a.jpeg"), make_image("b.png")])
        assert verify_catalog(cat)["ok"]


def test_small_tree_verifies_after_hard_link_migration(site_root: Path, tmp_path: Path) -> None:
    small = make_legacy_tree(tmp_path / "legacy", count=5, full=False)
    with Catalog.open(site_root) as cat:
        migrate(cat, small.root)
        result = verify_catalog(cat)
    assert result == {"problems": [], "unfixed": 0, "ok": True}


def test_lost_bytes_of_legacy_files_are_reported_and_restorable(
    migrated: Path, tree: LegacyTree
) -> None:
    """export-legacy needs every legacy file's bytes: a kept HTML page, a migrated artifact."""
    (migrated / "art/legacy/g/index.html").unlink()
    (migrated / "art/face-swap-sources/00001-photo.jpeg").unlink()
    code, report = run_verify(migrated)
    assert code == 1
    assert {("kept legacy file missing", "g/index.html"), ("missing file", None)} <= {
        (p["kind"], p.get("row")) for p in report["problems"]
    }
    code, report = run_verify(migrated, "--fix")  # drops the rows whose bytes are gone
    assert code == 0 and all(p.get("fixed") for p in report["problems"])
    with Catalog.open(migrated) as cat:
        again = migrate(cat, tree.root, copy=True)
    assert again.migrated == {"gallery-html": 1, "face-swap-sources": 1}
    assert (migrated / "art/legacy/g/index.html").is_file()
    assert run_verify(migrated) == (0, {"problems": [], "unfixed": 0, "ok": True})


def test_fix_registers_orphan_originals_as_new_pending_images(migrated: Path) -> None:
    """A picture dropped in art/upstream/ (a new name, or the name of an image that has its
    original) becomes a pending image; one with an image's bytes is left alone, reported."""
    upstream = migrated / "art/upstream"
    (upstream / "newcomer.jpeg").write_bytes(picture(31_337, (64, 48), "JPEG"))
    (upstream / "00001-photo.png").write_bytes(picture(31_338, (64, 48), "PNG"))
    (upstream / "again.jpeg").write_bytes((upstream / "00002-photo.jpg").read_bytes())
    code, report = run_verify(migrated, "--fix")
    assert code == 1  # again.jpeg: same bytes as 00002-photo, not registered twice
    by_path = {p["path"]: p for p in report["problems"]}
    assert by_path["upstream/newcomer.jpeg"]["fixed"] == "registered as image 'newcomer'"
    other = by_path["upstream/00001-photo.png"]["image_id"]
    assert other.startswith("00001-photo-") and by_path["upstream/00001-photo.png"]["fixed"]
    assert by_path["upstream/again.jpeg"]["detail"] == (
        "not fixed: same bytes as image '00002-photo'"
    )
    assert (upstream / "again.jpeg").exists()
    with Catalog.open(migrated) as cat:
        new = cat.images.get("newcomer")
        assert (new["approved"], new["rejected"], new["width"]) == (0, 0, 64)
        assert cat.artifacts.get("newcomer", "upstream")["file_path"] == "upstream/newcomer.jpeg"
        assert cat.artifacts.get(other, "upstream")["file_path"] == "upstream/00001-photo.png"
    code, report = run_verify(migrated)
    assert kinds(report) == {("orphan file", "upstream/again.jpeg")}


def art_files(site: Path) -> list[Path]:
    return sorted(p for p in (site / "art").rglob("*") if p.is_file())


@pytest.mark.parametrize("folder", ["thumbnails-small", "legacy"])
def test_fix_refuses_to_drop_rows_of_a_missing_folder_unless_forced(
    migrated: Path, folder: str
) -> None:
    """An art/<stage>/ (or art/legacy/) folder that is gone is a disk not mounted, not files
    lost: --fix changes nothing (not even the orphan it could register) without --force."""
    shutil.rmtree(migrated / "art" / folder)
    (migrated / "art/upstream/newcomer.jpeg").write_bytes(picture(4242, (64, 48), "JPEG"))
    rows, files = table_dump(migrated / "cv.db"), art_files(migrated)
    with Catalog.open(migrated) as cat, pytest.raises(UsageError) as refused:
        verify_catalog(cat, fix=True)
    assert f"art/{folder}/" in str(refused.value) and "--force" in str(refused.value)
    result = CliRunner().invoke(cli, ["verify", "--root", str(migrated), "--fix"])
    assert result.exit_code == 2 and "--force" in result.output
    assert table_dump(migrated / "cv.db") == rows and art_files(migrated) == files
    code, report = run_verify(migrated, "--fix", "--force")
    assert code == 0 and report["problems"] and all(p.get("fixed") for p in report["problems"])
    assert art_files(migrated) == files  # --force drops rows, never a file
    with Catalog.open(migrated) as cat:
        assert cat.images.exists("newcomer")
        if folder == "thumbnails-small":
            assert cat.artifacts.counts().get("thumbnails-small", 0) == 0
    assert run_verify(migrated) == (0, {"problems": [], "unfixed": 0, "ok": True})


def test_fix_refuses_to_drop_more_than_a_tenth_of_the_rows_unless_forced(
    migrated: Path,
) -> None:
    """Files gone from folders that still exist (a half-synced art/): above 20 rows, at most
    10% of the artifact rows are dropped without --force."""
    with Catalog.open(migrated) as cat:
        total = sum(cat.artifacts.counts().values())
    lost = sorted((migrated / "art/web-optimized").iterdir())
    lost += sorted((migrated / "art/thumbnails-small").iterdir())
    assert len(lost) > max(20, total // 10)
    for path in lost:
        path.unlink()
    rows = table_dump(migrated / "cv.db")
    result = CliRunner().invoke(cli, ["verify", "--root", str(migrated), "--fix"])
    assert result.exit_code == 2
    assert f"would drop {len(lost)} of {total} artifact rows" in result.output
    assert "--force" in result.output and "Traceback" not in result.output
    assert table_dump(migrated / "cv.db") == rows
    code, report = run_verify(migrated, "--fix", "--force")
    assert code == 0 and sum(p["kind"] == "missing file" for p in report["problems"]) == len(lost)
    with Catalog.open(migrated) as cat:
        assert sum(cat.artifacts.counts().values()) == total - len(lost)


def test_fix_drops_up_to_twenty_rows_whatever_their_share(site_root: Path, tmp_path: Path) -> None:
    """A small site that really lost most of its files is fixed without --force."""
    small = make_legacy_tree(tmp_path / "legacy", count=5, full=False)
    with Catalog.open(site_root) as cat:
        migrate(cat, small.root, copy=True)
        total = sum(cat.artifacts.counts().values())
    lost = sorted((site_root / "art/web-optimized").iterdir())
    lost += sorted((site_root / "art/thumbnails-small").iterdir())
    assert len(lost) <= 20 and len(lost) > total // 10
    for path in lost:
        path.unlink()
    code, report = run_verify(site_root, "--fix")
    assert code == 0 and len(report["problems"]) == len(lost)
    with Catalog.open(site_root) as cat:
        assert sum(cat.artifacts.counts().values()) == total - len(lost)
