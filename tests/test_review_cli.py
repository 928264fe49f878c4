"""Review from the shell: list, path, approve by file name, -0 for ids with spaces and
newlines, stats with derived children apart, and dupes."""

from __future__ import annotations

import json
from pathlib import Path

from picture_scenes import brightened, jpeg, resized, scene

from cvgallery.catalog import Catalog, FileFacts


def test_list_by_state_and_user_newest_first(site_root: Path, make_image, cli_run) -> None:
    cli_run("add", make_image("a.jpeg"), "--user", "ann", "--root", site_root)
    cli_run("add", make_image("b.jpeg"), "--user", "bob", "--root", site_root)
    cli_run("add", make_image("c.jpeg"), "--user", "ann", "--root", site_root)
    cli_run("approve", "b", "--root", site_root)
    cli_run("reject", "c", "--reason", "blurry", "--root", site_root)
    every = cli_run("list", "--root", site_root)
    assert every.returncode == 0 and every.stdout.splitlines() == ["c", "b", "a"]
    assert cli_run("list", "--pending", "--root", site_root).stdout.splitlines() == ["a"]
    assert cli_run("list", "--approved", "--root", site_root).stdout.splitlines() == ["b"]
    rejected = json.loads(cli_run("list", "--rejected", "--json", "--root", site_root).stdout)
    assert [(r["id"], r["state"], r["rejection_reason"]) for r in rejected] == [
        ("c", "rejected", "blurry")
    ]
    by_ann = cli_run("list", "--user", "ann", "--root", site_root).stdout.splitlines()
    assert by_ann == ["c", "a"]
    bad = cli_run("list", "--stage", "nowhere", "--root", site_root)
    assert bad.returncode == 2 and "unknown stage" in bad.stderr


def test_ids_with_spaces_and_newlines_survive_a_nul_pipe(
    site_root: Path, make_image, cli_run
) -> None:
    cli_run("add", make_image("with space.jpeg"), "--approve", "--root", site_root)
    # `add` never makes an id with a newline (cvgallery.names): one from an older catalog
    # or another tool still travels whole through -0.
    with Catalog.open(site_root) as cat, cat.transaction():
        cat.images.add("new\nline", FileFacts("f" * 64, 1), approved=True)
        cat.artifacts.record(
            image_id="new\nline", stage="upstream", file_path="upstream/x.jpeg",
            facts=FileFacts("f" * 64, 1),
        )  # fmt: skip
    odd = ["with space", "new\nline"]
    listed = cli_run("list", "-0", "--root", site_root).stdout
    assert listed.endswith("\0") and sorted(listed[:-1].split("\0")) == sorted(odd)
    ready = cli_run("ready", "upstream", "web-optimized", "-0", "--root", site_root).stdout
    assert sorted(ready[:-1].split("\0")) == sorted(odd)
    # and back in: approve reads ids one a line from stdin
    again = cli_run("reject", "-", "--root", site_root, input="with space\n")
    assert again.returncode == 0 and "rejected 1" in again.stderr


def test_path_prints_the_artifact_file(site_root: Path, make_image, cli_run) -> None:
    cli_run("add", make_image("pic.png", format="PNG"), "--approve", "--root", site_root)
    original = cli_run("path", "pic", "--root", site_root)
    assert original.returncode == 0
    assert Path(original.stdout.strip()) == site_root / "art" / "upstream" / "pic.png"
    assert cli_run("process", "--root", site_root).returncode == 0
    web = cli_run("path", "pic", "web-optimized", "--root", site_root).stdout.strip()
    assert Path(web).is_file() and Path(web).parent.name == "web-optimized"
    missing = cli_run("path", "pic", "ersgan-enhanced", "--root", site_root)
    assert missing.returncode == 2 and "no ersgan-enhanced artifact" in missing.stderr
    unknown = cli_run("path", "ghost", "--root", site_root)
    assert unknown.returncode == 1 and "unknown image id: 'ghost'" in unknown.stderr


def test_approve_takes_file_names_and_paths_as_the_old_yes_folder_did(
    site_root: Path, make_image, cli_run, tmp_path: Path
) -> None:
    for name in ("IMG_1043.jpg", "IMG_1044.JPG", "IMG_1045.jpeg"):
        cli_run("add", make_image(name), "--root", site_root)
    yes = tmp_path / "yes"
    yes.mkdir()
    (yes / "IMG_1043.jpg").touch()
    (yes / "IMG_1044.JPG").touch()
    names = "\n".join(sorted(p.name for p in yes.iterdir())) + "\n"  # ls yes/ | approve -
    done = cli_run("approve", "-", "--root", site_root, input=names)
    assert done.returncode == 0, done.stderr
    assert "approved 2" in done.stderr
    done = cli_run("approve", "yes/IMG_1045.jpeg", "--root", site_root)
    assert done.returncode == 0 and "approved 1" in done.stderr
    with Catalog.open(site_root) as catalog:
        assert [
            catalog.images.get(i)["approved"] for i in ("IMG_1043", "IMG_1044", "IMG_1045")
        ] == [
            1,
            1,
            1,
        ]
    nope = cli_run("approve", "IMG_9999.jpg", "--root", site_root)
    assert nope.returncode == 1 and "unknown image id: 'IMG_9999.jpg'" in nope.stderr


def test_stats_counts_derived_children_apart_from_pending(site_root: Path, make_image) -> None:
    from cvgallery.catalog import FileFacts

    with Catalog.open(site_root) as catalog:
        catalog.images.add("video", FileFacts("v" * 64, 10), approved=True)
        catalog.images.add_child("video-frame-1", "video", FileFacts("f" * 64, 5))
        catalog.images.add("waiting", FileFacts("w" * 64, 7))
        counts = catalog.stats()["images"]
    assert counts == {"total": 3, "approved": 1, "rejected": 0, "pending": 1, "derived": 1}


def test_dupes_groups_copies_not_distinct_pictures(
    site_root: Path, tmp_path: Path, cli_run
) -> None:
    folder = tmp_path / "shoot"
    folder.mkdir()
    original = scene(1)
    original.save(folder / "sunset.jpeg", quality=92)
    jpeg(resized(original, 0.5), 40).save(folder / "sunset-small.jpeg")
    brightened(original).save(folder / "sunset-bright.jpeg", quality=90)
    scene(2, family=0).save(folder / "other.jpeg", quality=92)
    scene(3, family=0).save(folder / "third.jpeg", quality=92)
    assert cli_run("add", folder, "--root", site_root).returncode == 0
    found = cli_run("dupes", "--root", site_root)
    assert found.returncode == 0, found.stderr
    assert found.stdout.splitlines() == ["sunset sunset-bright sunset-small"]
    doc = json.loads(cli_run("dupes", "--json", "--root", site_root).stdout)
    assert doc["groups"] == [["sunset", "sunset-bright", "sunset-small"]]
    with Catalog.open(site_root) as catalog:  # hashed once, stored
        assert all(len(h) == 16 for _i, h in catalog.images.phashes())
    cli_run("reject", "sunset-small", "--reason", "duplicate of sunset", "--root", site_root)
    after = cli_run("dupes", "--root", site_root).stdout.splitlines()
    assert after == ["sunset sunset-bright"]
    too_loose = cli_run("dupes", "--threshold", "40", "--root", site_root)
    assert too_loose.returncode == 2 and "threshold" in too_loose.stderr
