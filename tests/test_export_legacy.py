"""`cvgallery export-legacy DIR`: migrate then export reproduces the legacy tree, and what
was added or changed since follows the standard mapping."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from legacy_tree import LegacyTree, make_legacy_tree, picture

from cvgallery.catalog import Catalog
from cvgallery.cli import cli
from cvgallery.errors import UsageError
from cvgallery.ingest import log_artifact
from cvgallery.legacy import export_legacy, migrate


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> LegacyTree:
    return make_legacy_tree(tmp_path_factory.mktemp("legacy") / "legacy")


def contents(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in root.rglob("*")
        if p.is_file()
    }


def test_migrate_then_export_reproduces_every_folder(
    site_root: Path, tree: LegacyTree, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    with Catalog.open(site_root) as cat:
        migrate(cat, tree.root)
    proc = subprocess.run(
        [sys.executable, "-m", "cvgallery", "export-legacy", "--root", str(site_root), str(out)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    expected = contents(tree.root)
    del expected[".DS_Store"]  # dotfiles are not migrated (reported by migrate)
    assert contents(out) == expected
    folders = {rel.split("/")[0] for rel in expected}
    assert {"img", "yes", "no", "thumbs", "t2", "replicate", "pub", "v", "g", "tmp", "W",
            "blur"} <= folders  # fmt: skip
    # hard links: the export shares the stored files' inodes
    assert os.path.samefile(out / "thumbs/00003-photo.jpeg",
                            site_root / "art/thumbnails-small/00003-photo.jpeg")  # fmt: skip
    # a second export into the (now not empty) folder needs --force, and finds all in place
    again = CliRunner().invoke(
        cli, ["export-legacy", "--root", str(site_root), "--json", "--force", str(out)]
    )
    assert again.exit_code == 0 and json.loads(again.stdout)["hard_links"] == 0
    assert contents(out) == expected


def test_copy_migration_exports_the_same_bytes(
    site_root: Path, tree: LegacyTree, tmp_path: Path
) -> None:
    with Catalog.open(site_root) as cat:
        migrate(cat, tree.root, copy=True)
        result = export_legacy(cat, tmp_path / "out")
    assert result["ok"]
    expected = contents(tree.root)
    del expected[".DS_Store"]
    assert contents(tmp_path / "out") == expected


def test_later_images_and_review_changes_use_the_standard_mapping(
    site_root: Path, tmp_path: Path, make_image
) -> None:
    from cvgallery.ingest import add_files

    small = make_legacy_tree(tmp_path / "legacy", count=3, full=False)
    (small.root / "yes").mkdir()
    (small.root / "yes/00000-photo.jpeg").write_bytes(
        (small.root / small.originals["00000-photo"]).read_bytes()
    )
    with Catalog.open(site_root) as cat:
        migrate(cat, small.root)
        add_files(cat, [make_image("new one.jpeg")], approve=True)
        thumb = tmp_path / "thumb.jpeg"
        thumb.write_bytes(picture(5, (32, 24), "JPEG"))
        log_artifact(cat, "new one", "thumbnails-small", thumb)
        cat.artifacts.store_blurhash(
            "new one", "web-optimized", "L31JlBlgfQlglzfjfQfjfQfQfQfQ", 64, 48
        )
        cat.images.reject(["00000-photo"])  # was in yes/
        cat.images.approve(["00001-photo"])  # was pending
        result = export_legacy(cat, tmp_path / "out")
    out = tmp_path / "out"
    assert result["ok"], result["errors"]
    assert (out / "img/new one.jpeg").is_file() and (out / "yes/new one.jpeg").is_file()
    assert (out / "thumbs/new one.jpeg").read_bytes() == thumb.read_bytes()
    assert json.loads((out / "blur/cvgallery.json").read_text()) == {
        "new one": "L31JlBlgfQlglzfjfQfjfQfQfQfQ"
    }
    assert not (out / "yes/00000-photo.jpeg").exists()
    assert (out / "no/00000-photo.jpeg").is_file()
    assert (out / "yes/00001-photo.jpeg").is_file()
    assert {"path": "yes/00000-photo.jpeg", "detail": "review changed since"} in result["skipped"]


def test_words_and_dates_set_after_migration_keep_the_review_as_it_was(
    site_root: Path, tmp_path: Path
) -> None:
    """A title typed, or capture dates read again, change no review: an image in both yes/
    and no/ comes back in both; a review changed since follows the standard mapping."""
    small = make_legacy_tree(tmp_path / "legacy", count=3, full=False)
    for folder in ("yes", "no"):
        (small.root / folder).mkdir()
        (small.root / folder / "00000-photo.jpeg").write_bytes(
            (small.root / small.originals["00000-photo"]).read_bytes()
        )
    with Catalog.open(site_root) as cat:
        migrate(cat, small.root)
    for argv in (["set", "00000-photo", "--title", "Both"], ["reread", "--all", "--overwrite"]):
        done = CliRunner().invoke(cli, [*argv, "--root", str(site_root)])
        assert done.exit_code == 0, done.output
    with Catalog.open(site_root) as cat:
        assert cat.images.words("00000-photo")["title"] == "Both"
        result = export_legacy(cat, tmp_path / "out")
    assert result["ok"], result["errors"]
    out = tmp_path / "out"
    assert (out / "yes/00000-photo.jpeg").is_file() and (out / "no/00000-photo.jpeg").is_file()
    with Catalog.open(site_root) as cat:
        cat.images.reject(["00000-photo"])
        export_legacy(cat, tmp_path / "again")
    assert not (tmp_path / "again/yes/00000-photo.jpeg").exists()
    assert (tmp_path / "again/no/00000-photo.jpeg").is_file()


def test_export_refuses_the_art_folder(site_root: Path) -> None:
    result = CliRunner().invoke(
        cli, ["export-legacy", "--root", str(site_root), str(site_root / "art" / "x")]
    )
    assert result.exit_code == 2 and "art/" in result.output


def test_a_folder_that_is_not_empty_is_refused_without_force(
    site_root: Path, tmp_path: Path, make_image
) -> None:
    """Exporting into the legacy tree itself (a slip of the user's) adds nothing to it."""
    from cvgallery.ingest import add_files

    small = make_legacy_tree(tmp_path / "legacy", count=2, full=False)
    with Catalog.open(site_root) as cat:
        migrate(cat, small.root)
        add_files(cat, [make_image("later.jpeg")], approve=True)  # the export would add it
    before = contents(small.root)
    with Catalog.open(site_root) as cat, pytest.raises(UsageError) as refused:
        export_legacy(cat, small.root)
    assert str(small.root) in str(refused.value) and "--force" in str(refused.value)
    assert contents(small.root) == before
    result = subprocess.run(
        [sys.executable, "-m", "cvgallery", "export-legacy", "--root", str(site_root),
         str(small.root)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert str(small.root) in result.stderr and "--force" in result.stderr
    assert contents(small.root) == before
    with Catalog.open(site_root) as cat:
        # a new folder, or an empty one, needs no --force
        (tmp_path / "empty").mkdir()
        assert export_legacy(cat, tmp_path / "empty")["ok"]
        assert export_legacy(cat, tmp_path / "new")["ok"]
        # with force the export goes in beside the files there, replacing none of them
        forced = export_legacy(cat, small.root, force=True)
    assert forced["ok"], forced["errors"]
    after = contents(small.root)
    assert {rel: after[rel] for rel in before} == before
    assert set(after) - set(before) == {"img/later.jpeg", "yes/later.jpeg"}
    assert contents(tmp_path / "empty") == contents(tmp_path / "new") == after


def test_an_existing_file_with_other_bytes_is_never_overwritten(
    site_root: Path, tmp_path: Path
) -> None:
    small = make_legacy_tree(tmp_path / "legacy", count=2, full=False)
    out = tmp_path / "out"
    (out / "thumbs").mkdir(parents=True)
    (out / "thumbs/00001-photo.jpeg").write_bytes(b"someone else's file")
    with Catalog.open(site_root) as cat:
        migrate(cat, small.root)
    result = CliRunner().invoke(
        cli, ["export-legacy", "--root", str(site_root), "--force", str(out)]
    )
    assert result.exit_code == 1
    assert "thumbs/00001-photo.jpeg: exists with other bytes" in result.output
    assert (out / "thumbs/00001-photo.jpeg").read_bytes() == b"someone else's file"
    assert (out / "thumbs/00000-photo.jpeg").is_file()  # the others still exported


def test_yes_and_no_files_with_other_bytes_come_back_as_they_were(
    site_root: Path, tmp_path: Path
) -> None:
    """A yes/ or no/ file with other bytes than its original becomes its own image, and the
    original gets the flag; with nothing migrated after it, the export still gives back
    exactly the legacy files (it used to add yes/ and no/ files of its own, which clashed)."""
    legacy, out = tmp_path / "legacy", tmp_path / "out"
    files = {
        "img/a.jpeg": picture(1, (64, 48), "JPEG"),
        "yes/a.jpeg": picture(2, (64, 48), "JPEG"),
        "img/b.jpeg": picture(3, (64, 48), "JPEG"),
        "no/b.jpeg": picture(4, (64, 48), "JPEG"),
    }
    for rel, data in files.items():
        (legacy / rel).parent.mkdir(parents=True, exist_ok=True)
        (legacy / rel).write_bytes(data)
    with Catalog.open(site_root) as cat:
        assert migrate(cat, legacy).ok
        assert cat.images.get("a")["approved"] == 1 and cat.images.get("b")["rejected"] == 1
        result = export_legacy(cat, out)
        assert result["ok"], result["errors"]
        assert contents(out) == contents(legacy)
        cat.images.reject(["a"])  # a review made in cvgallery after the migration still shows
        again = export_legacy(cat, tmp_path / "after")
    assert again["ok"], again["errors"]
    assert (tmp_path / "after/no/a.jpeg").read_bytes() == files["img/a.jpeg"]


def test_a_folder_or_file_in_the_way_fails_that_file_only(site_root: Path, tmp_path: Path) -> None:
    """A folder where a file goes, a file where a folder goes: those files are reported
    (exit 1) and the rest is exported."""
    small = make_legacy_tree(tmp_path / "legacy", count=2, full=False)
    out = tmp_path / "out"
    (out / "img/00000-photo.jpeg").mkdir(parents=True)
    (out / "thumbs").write_bytes(b"a file named like the folder")
    with Catalog.open(site_root) as cat:
        migrate(cat, small.root)
    result = subprocess.run(
        [sys.executable, "-m", "cvgallery", "export-legacy", "--json", "--force", "--root",
         str(site_root), str(out)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    errors = {e["path"]: e["detail"] for e in report["errors"]}
    assert errors["img/00000-photo.jpeg"] == "exists with other bytes; not replaced"
    assert errors["thumbs/00000-photo.jpeg"].startswith("cannot write: ")
    assert report["written"] == {"img": 1, "t2": 2}
    assert (out / "thumbs").read_bytes() == b"a file named like the folder"
    assert (out / "t2/00001-photo.jpeg").read_bytes() == (
        small.root / "t2/00001-photo.jpeg"
    ).read_bytes()
