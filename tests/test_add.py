"""`add`: hashing, probing, copying or linking, duplicates, name clashes and bad files."""

from __future__ import annotations

import os
import time
from pathlib import Path

from PIL import Image

from cvgallery.catalog import Catalog
from cvgallery.ingest import add_files, register_new_uploads
from cvgallery.store import sha256_file


def statuses(results) -> dict[str, str]:
    return {r.path.name: r.status for r in results}


def test_add_registers_image_and_upstream_artifact(catalog: Catalog, make_image) -> None:
    src = make_image("cat.jpeg", size=(120, 80))
    [result] = add_files(catalog, [src], url="https://example.org/cat", user="ann", approve=True)
    assert (result.status, result.image_id) == ("added", "cat")
    row = catalog.images.get("cat")
    assert row["sha256"] == sha256_file(src)
    assert (row["width"], row["height"], row["file_size"]) == (120, 80, src.stat().st_size)
    assert row["mime_type"] == "image/jpeg"
    assert (row["original_url"], row["username"], row["approved"]) == (
        "https://example.org/cat",
        "ann",
        1,
    )
    art = catalog.artifacts.get("cat", "upstream")
    assert art["file_path"] == "upstream/cat.jpeg" and art["sha256"] == row["sha256"]
    stored = catalog.art_dir / "upstream" / "cat.jpeg"
    assert stored.read_bytes() == src.read_bytes()
    assert not stored.samefile(src)  # a copy by default


def test_link_hard_links_into_upstream(catalog: Catalog, make_image) -> None:
    src = make_image("dog.png", format="PNG")
    add_files(catalog, [src], link=True)
    assert (catalog.art_dir / "upstream" / "dog.png").samefile(src)


def test_folders_are_walked_recursively_and_ids_come_from_names(
    catalog: Catalog, make_image, tmp_path
) -> None:
    make_image("a.jpeg")
    make_image("b.webp", folder=tmp_path / "input" / "deeper", format="WEBP")
    (tmp_path / "input" / "notes.txt").write_text("not a picture")
    results = add_files(catalog, [tmp_path / "input"])
    assert sorted(r.image_id for r in results if r.status == "added") == ["a", "b"]
    assert catalog.images.get("b")["mime_type"] == "image/webp"
    [skipped] = [r for r in results if r.status == "skipped"]
    assert skipped.line() == f"skipped {tmp_path / 'input' / 'notes.txt'}: not a picture or video"


def test_exif_orientation_gives_displayed_dimensions(catalog: Catalog, tmp_path) -> None:
    path = tmp_path / "rotated.jpeg"
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    Image.new("RGB", (200, 100), (9, 9, 9)).save(path, exif=exif.tobytes())
    add_files(catalog, [path])
    row = catalog.images.get("rotated")
    assert (row["width"], row["height"]) == (100, 200)


def test_bad_files_are_stored_and_rejected_with_reasons(
    catalog: Catalog, make_image, tmp_path
) -> None:
    folder = tmp_path / "bad"
    folder.mkdir()
    Image.new("RGB", (8, 8)).save(folder / "anim.gif")
    (folder / "empty.jpeg").write_bytes(b"")
    (folder / "text.png").write_bytes(b"hello, I am not a PNG")
    whole = make_image("whole.jpeg", size=(300, 200), folder=folder, quality=95)
    data = whole.read_bytes()
    (folder / "partial.jpeg").write_bytes(data[: len(data) // 2])
    results = add_files(catalog, [folder])
    assert statuses(results) == {
        "anim.gif": "rejected",
        "empty.jpeg": "rejected",
        "text.png": "rejected",
        "partial.jpeg": "rejected",
        "whole.jpeg": "added",
    }
    reasons = {r.image_id: catalog.images.get(r.image_id)["rejection_reason"] for r in results}
    assert reasons["anim"] == "gif"
    assert reasons["empty"].startswith("invalid: empty")
    assert reasons["text"].startswith("invalid:")
    assert reasons["partial"].startswith("invalid: truncated")
    for r in results:  # nothing a user added is dropped
        assert (
            catalog.art_dir / catalog.artifacts.get(r.image_id, "upstream")["file_path"]
        ).is_file()
        assert catalog.images.get(r.image_id)["approved"] == 0


def test_missing_path_is_an_error_and_the_others_go_on(
    catalog: Catalog, make_image, tmp_path
) -> None:
    good = make_image("good.jpeg")
    results = add_files(catalog, [tmp_path / "nope.jpeg", good])
    assert statuses(results) == {"nope.jpeg": "error", "good.jpeg": "added"}
    assert "no such file" in results[0].reason


def test_adding_the_same_folder_twice_changes_nothing(
    catalog: Catalog, make_image, tmp_path
) -> None:
    for i in range(5):
        make_image(f"p{i}.jpeg")
    add_files(catalog, [tmp_path / "input"])
    before = catalog.conn.execute("SELECT * FROM images ORDER BY id").fetchall()
    mtimes = {p.name: p.stat().st_mtime_ns for p in (catalog.art_dir / "upstream").iterdir()}
    again = add_files(catalog, [tmp_path / "input"])
    assert {r.status for r in again} == {"duplicate"}
    assert [tuple(r) for r in catalog.conn.execute("SELECT * FROM images ORDER BY id")] == [
        tuple(r) for r in before
    ]
    assert {
        p.name: p.stat().st_mtime_ns for p in (catalog.art_dir / "upstream").iterdir()
    } == mtimes


def test_same_name_different_picture_gets_a_suffixed_id(
    catalog: Catalog, make_image, tmp_path
) -> None:
    first = make_image("photo.jpeg", folder=tmp_path / "one")
    second = make_image("photo.jpeg", folder=tmp_path / "two")
    add_files(catalog, [first])
    [result] = add_files(catalog, [second])
    expected = f"photo-{sha256_file(second)[:8]}"
    assert (result.status, result.image_id) == ("added", expected)
    assert (catalog.art_dir / "upstream" / "photo.jpeg").read_bytes() == first.read_bytes()
    assert (catalog.art_dir / "upstream" / f"{expected}.jpeg").read_bytes() == second.read_bytes()
    # Adding the second again is found by content, not by name.
    assert add_files(catalog, [second])[0].status == "duplicate"


def test_same_name_twice_in_one_batch(catalog: Catalog, make_image, tmp_path) -> None:
    a = make_image("twin.png", folder=tmp_path / "x", format="PNG")
    b = make_image("twin.jpeg", folder=tmp_path / "y")
    results = add_files(catalog, [a, b])
    ids = [r.image_id for r in results]
    assert ids[0] == "twin" and ids[1].startswith("twin-") and len(set(ids)) == 2


def test_tricky_names_and_metadata_are_data(catalog: Catalog, make_image) -> None:
    nasty = "x'; DROP TABLE images; --"
    src = make_image(f'{nasty} é "q".jpeg')
    url = "https://example.org/?q=1'; DELETE FROM artifacts; --"
    user = "o'brien\n<script>alert(1)</script>"
    [r] = add_files(catalog, [src], url=url, user=user)
    row = catalog.images.get(r.image_id)
    assert r.image_id == f'{nasty} é "q"'
    assert (row["original_url"], row["username"]) == (url, user)
    assert catalog.conn.execute("SELECT COUNT(*) FROM artifacts").fetchone()[0] == 1


def test_no_temporary_files_are_left_behind(catalog: Catalog, make_image, tmp_path) -> None:
    make_image("one.jpeg")
    (tmp_path / "input" / "bad.jpeg").write_bytes(b"garbage")
    add_files(catalog, [tmp_path / "input"])
    add_files(catalog, [tmp_path / "input"])
    names = os.listdir(catalog.art_dir / "upstream")
    assert sorted(names) == ["bad.jpeg", "one.jpeg"]


def test_register_new_uploads_reads_only_unknown_files(catalog: Catalog, make_image) -> None:
    upstream = catalog.art_dir / "upstream"
    make_image("dropped.jpeg", folder=upstream)
    [r] = register_new_uploads(catalog)
    assert (r.status, r.image_id) == ("added", "dropped")
    assert catalog.artifacts.get("dropped", "upstream")["file_path"] == "upstream/dropped.jpeg"
    assert register_new_uploads(catalog) == []


def test_auto_approve_setting(site_root: Path, make_image) -> None:
    (site_root / "site.toml").write_text("[review]\nauto_approve = true\n")
    with Catalog.open(site_root) as catalog:
        add_files(catalog, [make_image("a.jpeg")])
        add_files(catalog, [make_image("b.jpeg")], approve=False)
        assert catalog.images.get("a")["approved"] == 1
        assert catalog.images.get("b")["approved"] == 0


def make_video(path: Path, size: str = "64x48") -> Path:
    import subprocess

    import imageio_ffmpeg

    subprocess.run(
        [
            imageio_ffmpeg.get_ffmpeg_exe(),
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            f"testsrc=size={size}:rate=5",
            "-t",
            "1",
            "-pix_fmt",
            "yuv420p",
            "-y",
            str(path),
        ],
        check=True,
    )
    return path


def test_videos_become_video_sources(catalog: Catalog, tmp_path: Path) -> None:
    video = make_video(tmp_path / "clip.mp4")
    (tmp_path / "broken.webm").write_bytes(b"not a video at all")
    results = add_files(catalog, [video, tmp_path / "broken.webm"])
    assert statuses(results) == {"clip.mp4": "added", "broken.webm": "rejected"}
    row = catalog.images.get("clip")
    assert (row["mime_type"], row["width"], row["height"]) == ("video/mp4", 64, 48)
    assert catalog.artifacts.get("clip", "video-sources")["file_path"] == "video-sources/clip.mp4"
    assert catalog.artifacts.get("clip", "upstream") is None
    assert catalog.images.get("broken")["rejection_reason"].startswith("invalid: unreadable video")


def test_cleanup_keeps_a_live_writers_temporaries(tmp_path: Path) -> None:
    import subprocess
    import sys

    from cvgallery import store

    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    temps = store.temp_dir(tmp_path)
    mine = store.temp_file(tmp_path, ".jpeg")
    theirs = temps / f"{dead.stdout.strip()}-left.jpeg"
    theirs_folder = temps / f"{dead.stdout.strip()}-private"
    fresh_untagged = temps / "abc.jpeg"
    for path in (theirs, fresh_untagged):
        path.write_bytes(b"x")
    theirs_folder.mkdir()
    (theirs_folder / "out.png").write_bytes(b"x")  # a command's private {output} folder
    # Files of the folder itself are never temporaries, whatever their names.
    users = [tmp_path / f".tmp-{dead.stdout.strip()}-x.jpeg", tmp_path / "123-x.jpeg"]
    for path in users:
        path.write_bytes(b"mine")
    assert store.clean_temp_files(tmp_path) == 2
    assert mine.exists() and fresh_untagged.exists() and not theirs.exists()
    assert not theirs_folder.exists() and all(path.exists() for path in users)
    old = time.time() - 2 * store.UNTAGGED_TEMP_MAX_AGE
    os.utime(fresh_untagged, (old, old))
    assert store.clean_temp_files(tmp_path) == 1 and not fresh_untagged.exists()
    mine.unlink()
    assert store.clean_temp_files(tmp_path) == 0 and not temps.exists()  # empty: gone


def test_files_too_big_to_hold_are_streamed(catalog: Catalog, make_image, monkeypatch) -> None:
    from cvgallery import ingest

    monkeypatch.setattr(ingest, "IN_MEMORY_LIMIT", 16)
    big = make_image("big.jpeg", size=(90, 60))
    linked = make_image("linked.png", format="PNG")
    assert add_files(catalog, [big])[0].status == "added"
    assert add_files(catalog, [linked], link=True)[0].status == "added"
    assert (catalog.art_dir / "upstream" / "big.jpeg").read_bytes() == big.read_bytes()
    row = catalog.images.get("big")
    assert (row["sha256"], row["width"], row["height"]) == (sha256_file(big), 90, 60)
    assert catalog.images.get("linked")["sha256"] == sha256_file(linked)
