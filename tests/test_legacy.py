"""`cvgallery migrate`: every folder of the legacy layout, the awkward cases, the legacy tree
left untouched, copies and hard links, the closing validation. --dry-run is tested in
test_legacy_plan.py, second and interrupted runs in test_legacy_resume.py."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from legacy_tree import ODD_IDS, LegacyTree, make_legacy_tree, picture, snapshot

from cvgallery.catalog import Catalog, init_site
from cvgallery.cli import cli
from cvgallery.legacy import migrate, validate_migration


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> LegacyTree:
    """One generated legacy tree per module; tests only ever read it."""
    return make_legacy_tree(tmp_path_factory.mktemp("legacy") / "legacy")


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_migrate_maps_every_folder_and_keeps_every_file(site_root: Path, tree: LegacyTree) -> None:
    legacy = tree.root
    with Catalog.open(site_root) as cat:
        report = migrate(cat, legacy)
        conn = cat.conn
        image = {r["id"]: r for r in conn.execute("SELECT * FROM images")}
        art = {(r["image_id"], r["stage"]): r for r in conn.execute("SELECT * FROM artifacts")}
        rows = {r["path"]: r for r in conn.execute("SELECT * FROM legacy_files")}
        blur = {r["image_id"]: r for r in conn.execute("SELECT * FROM blurhash_cache")}
    assert report.validation is not None and report.validation["ok"], report.validation
    # every legacy file except the dotfile has its row, with the sha256 of its bytes
    files = [p for p in legacy.rglob("*") if p.is_file() and p.name != ".DS_Store"]
    assert len(rows) == len(files) == tree.files - 1
    for path in files:
        assert rows[path.relative_to(legacy).as_posix()]["sha256"] == sha(path)
    # originals: odd ids are data, not SQL; files are hard links into art/upstream/
    for image_id in [*ODD_IDS, "noext", "00003-photo"]:
        src = legacy / tree.originals[image_id]
        row = art[(image_id, "upstream")]
        assert image[image_id]["sha256"] == sha(src)
        assert os.path.samefile(site_root / "art" / row["file_path"], src)
        assert json.loads(row["processing_params"]) == {"migrated_from": tree.originals[image_id]}
    # ... with their dimensions, size and MIME type (the file with no extension too)
    for image_id, mime in (("00003-photo", "image/png"), ("00004-photo", "image/webp"),
                           ("00002-photo", "image/jpeg"), ("noext", "image/jpeg")):  # fmt: skip
        src = legacy / tree.originals[image_id]
        assert (image[image_id]["width"], image[image_id]["height"]) == (64, 48)
        assert (image[image_id]["file_size"], image[image_id]["mime_type"]) == (
            src.stat().st_size,
            mime,
        )
    assert image["anim"]["rejected"] and image["anim"]["rejection_reason"] == "gif"
    assert image["broken"]["rejection_reason"].startswith("invalid: truncated")
    assert rows["img/copy-of-first.jpeg"]["image_id"] == "00000-photo"
    # yes/ approves, no/ rejects with 'manual'; entries without an original are registered
    assert image["00002-photo"]["approved"] == 1
    assert (image["00001-photo"]["rejected"], image["00001-photo"]["rejection_reason"]) == (
        1,
        "manual",
    )
    assert image["00003-photo"]["approved"] == 0 and image["00003-photo"]["rejected"] == 0
    assert image["only in yes"]["approved"] == 1 and ("only in yes", "upstream") in art
    assert image["only-in-no"]["rejection_reason"] == "manual"
    kinds = {(n["kind"], n["path"]) for n in report.notes}
    assert ("yes without original", tree.special["yes_only"]) in kinds
    assert ("no without original", tree.special["no_only"]) in kinds
    # derived stages, named <id><ext>, marked as migrated
    thumb = art[("00003-photo", "thumbnails-small")]
    assert thumb["file_path"] == "thumbnails-small/00003-photo.jpeg"
    assert json.loads(thumb["processing_params"]) == {"migrated_from": "thumbs/00003-photo.jpeg"}
    assert (thumb["width"], thumb["height"]) == (32, 24)
    for stage in ("web-optimized", "ersgan-enhanced", "ersgan-thumbnails", "face-swap-sources"):
        assert ("00000-photo", stage) in art
    # a derived file without an original: its own pending image; t2/ of the same name joins it
    assert image["orphan thumb"]["approved"] == 0 and image["orphan thumb"]["rejected"] == 0
    assert ("orphan thumb", "web-optimized") in art
    assert ("no original", tree.special["orphan_thumb"]) in kinds
    # several files for one (image, stage): the first is the artifact, the others own rows
    first = rows["pub/w-anime/00000-photo.jpeg"]
    second = rows["pub/w-oil paint/00000-photo.jpeg"]
    assert (first["image_id"], first["stage"]) == ("00000-photo", "face-swap-styles")
    assert image[second["image_id"]]["parent_id"] == "00000-photo"
    assert (second["image_id"], "face-swap-styles") in art
    assert rows["pub/w-anime/results/00001-photo.jpeg"]["stage"] == "face-swap-results"
    frames = [rows[f"v/img/{f}.jpeg"]["image_id"] for f in ("clip1-1", "clip1-2", "clip1-3")]
    assert frames[0] == "clip1" and {image[f]["parent_id"] for f in frames[1:]} == {"clip1"}
    assert ("clip1", "video-sources") in art
    # HTML galleries, blur/ files and unmapped files are kept verbatim, in legacy_files only
    kept = ("g/page 2/index.html", "tmp/g/index.html", "W/style.css", "blur/cache.json",
            "notes/README.txt")  # fmt: skip
    for rel in kept:
        assert rows[rel]["stage"] == ("gallery-html" if rel[0] in "gWt" else None)
        assert sha(site_root / "art/legacy" / rel) == rows[rel]["sha256"]
    assert not (site_root / "art/gallery-html/legacy").exists()  # `build` owns that folder
    # blur/ in both formats; size from the web-optimized artifact; bad hashes reported
    ids = sorted(i for i in tree.originals if i.endswith("-photo"))
    assert {ids[0], ids[1], *ids[2:12]} <= set(blur)
    assert (blur[ids[0]]["width"], blur[ids[0]]["height"]) == (48, 36)
    assert blur[ids[0]]["stage"] == "web-optimized"
    assert tree.special["malformed_id"] not in blur
    assert any("malformed blurhash" in e["detail"] for e in report.errors)
    assert not report.ok  # the malformed hash is an item that failed


def test_legacy_tree_is_never_modified(site_root: Path, tree: LegacyTree, tmp_path: Path) -> None:
    before = snapshot(tree.root)
    with Catalog.open(site_root) as cat:
        migrate(cat, tree.root)
        migrate(cat, tree.root)
    other = tmp_path / "copy-site"
    init_site(other)
    with Catalog.open(other) as cat:
        migrate(cat, tree.root, copy=True)
    runner = CliRunner()
    plan = runner.invoke(cli, ["migrate", "--root", str(site_root), "--dry-run", str(tree.root)])
    assert plan.exit_code == 0 and f"plan: 0 would migrate, {tree.files - 1} already" in plan.output
    fixed = runner.invoke(cli, ["verify", "--root", str(site_root), "--fix"])
    assert fixed.exit_code == 0, fixed.output
    out = runner.invoke(cli, ["export-legacy", "--root", str(site_root), str(tmp_path / "out")])
    assert out.exit_code == 0, out.output
    assert snapshot(tree.root) == before


def test_copy_makes_independent_copies_and_validates_by_hash(
    site_root: Path, tree: LegacyTree
) -> None:
    with Catalog.open(site_root) as cat:
        report = migrate(cat, tree.root, copy=True)
        path = cat.conn.execute(
            "SELECT file_path FROM artifacts WHERE image_id = '00005-photo' AND stage = 'web-optimized'"
        ).fetchone()[0]
        assert report.validation is not None and report.validation["ok"]
        linked = [
            p for p in (site_root / "art").rglob("*") if p.is_file() and p.stat().st_nlink > 1
        ]
        assert linked == []
        # a stored copy that no longer matches its source is caught by the validation
        (site_root / "art" / path).write_bytes(b"changed")
        result = validate_migration(cat, tree.root)
    assert not result["ok"]
    assert {
        "path": "t2/00005-photo.jpeg",
        "problem": f"sha256 differs: {site_root / 'art' / path}",
    } in (result["problems"])


def test_across_file_systems_files_are_copied(tree: LegacyTree, tmp_path: Path) -> None:
    """Hard links cannot cross file systems: migrate copies instead, without --copy. The site
    lives on /dev/shm (a tmpfs) when that is another file system than the legacy tree's,
    else os.link is made to fail the way it does across devices."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK) and shm.stat().st_dev != tree.root.stat().st_dev:
        site = Path(tempfile.mkdtemp(dir=shm)) / "site"
    else:
        site = tmp_path / "site"
    mp = pytest.MonkeyPatch()
    try:
        if site.parent == tmp_path:

            def cross_device(src: object, dst: object, **kw: object) -> None:
                raise OSError(errno.EXDEV, "Invalid cross-device link")

            mp.setattr(os, "link", cross_device)
        init_site(site)
        with Catalog.open(site) as cat:
            report = migrate(cat, tree.root)
        assert report.validation is not None and report.validation["ok"], report.validation
        stored = [p for p in (site / "art").rglob("*") if p.is_file()]
        assert len(stored) > 200 and all(p.stat().st_nlink == 1 for p in stored)
        assert (site / "art/thumbnails-small/00003-photo.jpeg").read_bytes() == (
            tree.root / "thumbs/00003-photo.jpeg"
        ).read_bytes()
    finally:
        mp.undo()
        if site.parent != tmp_path:
            shutil.rmtree(site.parent)


def test_a_validation_that_differs_exits_one(site_root: Path, tmp_path: Path) -> None:
    """A stored copy damaged after a first run: the next run's validation names it, exit 1."""
    small = make_legacy_tree(tmp_path / "legacy", count=3, full=False)
    cmd = [sys.executable, "-m", "cvgallery", "migrate", "--copy", "--root", str(site_root)]
    first = subprocess.run([*cmd, str(small.root)], capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    (site_root / "art/web-optimized/00001-photo.jpeg").write_bytes(b"damaged")
    second = subprocess.run([*cmd, str(small.root)], capture_output=True, text=True, timeout=300)
    assert second.returncode == 1
    assert "Error: differs: t2/00001-photo.jpeg: sha256 differs" in second.stderr
    assert "validation differs" in second.stderr
    as_json = subprocess.run([*cmd, "--json", str(small.root)], capture_output=True, text=True,
                             timeout=300)  # fmt: skip
    report = json.loads(as_json.stdout)
    assert as_json.returncode == 1 and not report["ok"] and not report["validation"]["ok"]
    assert report["validation"]["groups"]["web-optimized"] == {"found": 3, "recorded": 3,
                                                               "matching": 2}  # fmt: skip


@pytest.mark.parametrize("copy", [True, False])
def test_validation_reads_each_stored_file_at_most_once(
    site_root: Path, tree: LegacyTree, monkeypatch: pytest.MonkeyPatch, copy: bool
) -> None:
    """Copies are hashed once each (several legacy files may share one); hard links are
    the legacy files migrate already hashed, and are not read again."""
    from cvgallery import store

    with Catalog.open(site_root) as cat:
        assert migrate(cat, tree.root, copy=copy, validate=False).validation is None
        hashed: list[Path] = []
        real = store.sha256_file

        def counting(path: str | os.PathLike[str]) -> str:
            hashed.append(Path(path))
            return real(path)

        monkeypatch.setattr(store, "sha256_file", counting)
        result = validate_migration(cat, tree.root)
    assert result["ok"], result["problems"]
    stored = {p for p in (site_root / "art").rglob("*") if p.is_file()}
    if copy:
        assert sorted(hashed) == sorted(stored)
    else:
        assert hashed == []


def test_validation_reports_missing_rows_and_files(site_root: Path, tree: LegacyTree) -> None:
    with Catalog.open(site_root) as cat:
        migrate(cat, tree.root)
        cat.conn.execute("DELETE FROM legacy_files WHERE path = 'thumbs/00007-photo.jpeg'")
        (site_root / "art/ersgan-enhanced/00002-photo.png").unlink()
        result = validate_migration(cat, tree.root)
    problems = {p["path"]: p["problem"] for p in result["problems"]}
    assert problems["thumbs/00007-photo.jpeg"] == "not migrated (no legacy_files row)"
    assert problems["replicate/img/00002-photo.png"].startswith("missing ")
    groups = result["groups"]["thumbnails-small"]
    assert groups["found"] == groups["recorded"] + 1
    assert result["stages"]["ersgan-enhanced"]["missing"] == 1
    assert not result["ok"]


def test_bad_blur_json_is_reported_and_the_rest_goes_on(site_root: Path, tmp_path: Path) -> None:
    tree = make_legacy_tree(tmp_path / "legacy", count=3, full=False)
    (tree.root / "blur").mkdir()
    (tree.root / "blur/broken.json").write_text("{not json", encoding="utf-8")
    (tree.root / "blur/list.json").write_text("[1, 2]", encoding="utf-8")
    with Catalog.open(site_root) as cat:
        report = migrate(cat, tree.root)
        assert cat.stats()["images"]["total"] == 3
    details = {e["path"]: e["detail"] for e in report.errors}
    assert details["blur/broken.json"].startswith("not JSON")
    assert details["blur/list.json"] == "not a JSON object mapping id to blurhash"
    assert report.validation is not None and report.validation["ok"]  # kept verbatim all the same
    assert (site_root / "art/legacy/blur/broken.json").read_text() == "{not json"


def test_clean_tree_exits_zero_and_prints_tables(site_root: Path, tmp_path: Path) -> None:
    tree = make_legacy_tree(tmp_path / "legacy", count=4, full=False)
    result = CliRunner().invoke(cli, ["migrate", "--root", str(site_root), str(tree.root)])
    assert result.exit_code == 0, result.output
    assert "thumbnails-small" in result.output and "validation" in result.output
    assert "ok: 12 migrated now" in result.output


def test_bad_legacy_dir_is_a_usage_error(site_root: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["migrate", "--root", str(site_root), str(tmp_path / "nope")])
    assert result.exit_code == 2
    result = runner.invoke(cli, ["migrate", "--root", str(site_root), str(site_root)])
    assert result.exit_code == 2 and "must not nest" in result.output


def test_awkward_contents_are_kept_and_round_trip(site_root: Path, tmp_path: Path) -> None:
    """Same stem twice, yes/ and no/ with other bytes, a derived file that is an original's
    bytes, a derived file that is not a picture: each kept, and export-legacy gives it back."""

    from cvgallery.legacy import export_legacy

    legacy = tmp_path / "legacy"
    files = {
        "img/a.jpeg": picture(1, (64, 48), "JPEG"),
        "img/a.png": picture(2, (64, 48), "PNG"),  # same id, other picture: a-<sha8>
        "img/b.jpeg": picture(3, (64, 48), "JPEG"),
        "thumbs/a.jpeg": picture(4, (32, 24), "JPEG"),
        "yes/a.jpeg": picture(5, (64, 48), "JPEG"),  # approved, but other bytes than img/a
        "no/b.jpeg": picture(6, (64, 48), "JPEG"),  # rejected, other bytes than img/b
        "pub/W/c.jpeg": picture(3, (64, 48), "JPEG"),  # the bytes of img/b, no original c
        "v/img/b-1.jpeg": b"not a picture at all",  # a frame of b, unreadable
    }
    for rel, data in files.items():
        (legacy / rel).parent.mkdir(parents=True, exist_ok=True)
        (legacy / rel).write_bytes(data)
    with Catalog.open(site_root) as cat:
        report = migrate(cat, legacy)
        image = {r["id"]: r for r in cat.conn.execute("SELECT * FROM images")}
        rows = {r["path"]: r for r in cat.conn.execute("SELECT * FROM legacy_files")}
        out = export_legacy(cat, tmp_path / "out")
    assert report.ok, report.errors
    other_a = rows["img/a.png"]["image_id"]
    assert other_a.startswith("a-") and rows["thumbs/a.jpeg"]["image_id"] == "a"
    assert image["a"]["approved"] == 1 and image["b"]["rejection_reason"] == "manual"
    yes_copy, no_copy = rows["yes/a.jpeg"]["image_id"], rows["no/b.jpeg"]["image_id"]
    assert (image[yes_copy]["parent_id"], image[yes_copy]["approved"]) == ("a", 1)
    assert (image[no_copy]["parent_id"], image[no_copy]["rejected"]) == ("b", 1)
    assert (rows["pub/W/c.jpeg"]["image_id"], rows["pub/W/c.jpeg"]["stage"]) == ("b", "upstream")
    frame = rows["v/img/b-1.jpeg"]
    assert (frame["image_id"], frame["stage"]) == ("b", "video-frames")
    assert out["ok"], out["errors"]
    for rel, data in files.items():
        assert (tmp_path / "out" / rel).read_bytes() == data
    assert sorted(p.relative_to(tmp_path / "out").as_posix()
                  for p in (tmp_path / "out").rglob("*") if p.is_file()) == sorted(files)  # fmt: skip


def test_derived_file_without_original_is_pending_even_if_unreadable(
    site_root: Path, tree: LegacyTree
) -> None:
    with Catalog.open(site_root) as cat:
        report = migrate(cat, tree.root)
        clip = cat.images.get("clip1")
    assert (clip["approved"], clip["rejected"], clip["rejection_reason"]) == (0, 0, None)
    note = next(n for n in report.notes if n["path"] == "v/mp4/clip1.mp4")
    assert note["kind"] == "no original" and "unreadable" in note["detail"]


def test_progress_is_reported_per_batch_up_to_the_total(site_root: Path, tmp_path: Path) -> None:
    small = make_legacy_tree(tmp_path / "legacy", count=5, full=False)
    calls: list[tuple[int, int]] = []
    with Catalog.open(site_root) as cat:
        migrate(cat, small.root, on_progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (15, 15)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)


def test_a_name_that_is_not_utf8_is_reported_not_fatal(site_root: Path, tmp_path: Path) -> None:
    small = make_legacy_tree(tmp_path / "legacy", count=2, full=False)
    bad = os.fsencode(small.root / "img") + b"/caf\xe9.jpeg"
    with open(bad, "wb") as f:
        f.write((small.root / small.originals["00000-photo"]).read_bytes()[:-2] + b"\xff\xd9")
    runner = CliRunner()
    plan = runner.invoke(cli, ["migrate", "--root", str(site_root), "--dry-run", "--json",
                               str(small.root)])  # fmt: skip
    assert plan.exit_code == 1
    assert json.loads(plan.stdout)["errors"][0]["path"] == "img/caf\ufffd.jpeg"
    result = runner.invoke(cli, ["migrate", "--root", str(site_root), "--json", str(small.root)])
    report = json.loads(result.stdout)
    assert result.exit_code == 1 and report["validation"]["ok"]
    assert report["errors"] == [{"path": "img/caf\ufffd.jpeg",
                                 "detail": "file name is not valid UTF-8: not migrated "
                                           "(rename it, then rerun)"}]  # fmt: skip
    assert report["migrated"]["upstream"] == 2
