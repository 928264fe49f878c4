"""The video-frames stage: poster frame, child frame rows, and the video's resizes."""

from __future__ import annotations

from pathlib import Path

import imageio_ffmpeg
import pytest
from process_helpers import add, artifacts, configure, make_video, params

from cvgallery.catalog import Catalog
from cvgallery.process import process
from cvgallery.store import sha256_file


@pytest.fixture
def root(site_root: Path) -> Path:
    configure(site_root, "[stages.video-frames]\nframes = 3\n")
    return site_root


def test_video_gets_poster_frames_and_gallery_images(root: Path, tmp_path: Path) -> None:
    [vid] = add(root, make_video(tmp_path / "in/clip.mp4"))
    with Catalog.open(root) as catalog:
        report = process(catalog, workers=2)
        assert report.failed == []
        children = catalog.conn.execute(
            "SELECT * FROM images WHERE parent_id = ? ORDER BY id", (vid,)
        ).fetchall()
        gallery = [
            r[0]
            for r in catalog.conn.execute(
                """SELECT i.id FROM images i JOIN artifacts a
                   ON a.image_id = i.id AND a.stage = 'web-optimized' WHERE i.approved"""
            )
        ]
    frames = artifacts(root, "video-frames")
    assert frames[vid]["file_path"] == "video-frames/clip.jpeg"
    assert params(frames[vid])["role"] == "poster"
    # The tool and its version are recorded (the "tool version").
    version = imageio_ffmpeg.get_ffmpeg_version()
    assert params(frames[vid])["tool"] == "imageio-ffmpeg" and version
    assert {params(row)["ffmpeg"] for row in frames.values()} == {version}
    assert [c["id"] for c in children] == [f"clip-frame-{k}" for k in (1, 2, 3)]
    assert all(c["approved"] == 0 and c["mime_type"] == "image/jpeg" for c in children)
    for c in children:
        row = frames[c["id"]]
        assert sha256_file(root / "art" / row["file_path"]) == row["sha256"] == c["sha256"]
        assert (row["width"], row["height"]) == (160, 120)
    assert len({c["sha256"] for c in children}) == 3  # evenly spaced: different frames
    # The video's own thumbnail and web copy come from the poster; frames get none.
    web = artifacts(root, "web-optimized")
    assert set(web) == {vid} and gallery == [vid]
    assert params(web[vid])["source_sha256"] == frames[vid]["sha256"]
    assert set(artifacts(root, "thumbnails-small")) == {vid}
    with Catalog.open(root) as catalog:
        assert process(catalog, workers=2).made == 0


def test_fewer_frames_remove_the_extra_rows(root: Path, tmp_path: Path) -> None:
    [vid] = add(root, make_video(tmp_path / "in/clip.mp4"))
    with Catalog.open(root) as catalog:
        process(catalog, workers=1)
    configure(root, "[stages.video-frames]\nframes = 1\n")
    with Catalog.open(root) as catalog:
        report = process(catalog, workers=1)
        ids = [r[0] for r in catalog.conn.execute("SELECT id FROM images ORDER BY id")]
    # Only the frames are remade: the poster is the same picture, so its resizes stay.
    assert report.made == 1 and report.skipped == 2
    assert ids == [vid, f"{vid}-frame-1"]
    assert sorted(p.name for p in (root / "art/video-frames").iterdir()) == [
        "clip-frame-1.jpeg",
        "clip.jpeg",
    ]


def test_unreadable_video_fails_its_job(root: Path, tmp_path: Path) -> None:
    [vid] = add(root, make_video(tmp_path / "in/clip.mp4"))
    (root / "art/video-sources/clip.mp4").write_bytes(b"\0" * 2000)
    with Catalog.open(root) as catalog:
        report = process(catalog, workers=1)
    assert [(f.image_id, f.stage) for f in report.failed] == [(vid, "video-frames")]
    assert "clip.mp4" in report.failed[0].error


def test_a_frame_id_already_taken_is_not_registered(root: Path, tmp_path: Path) -> None:
    from process_helpers import photo

    [vid] = add(root, make_video(tmp_path / "in/clip.mp4"))
    [taken] = add(root, photo(tmp_path / "in/clip-frame-2.png", (64, 48)))
    upstream = artifacts(root, "upstream")[taken]
    with Catalog.open(root) as catalog:
        assert process(catalog, workers=1).failed == []
        rows = {r["id"]: r for r in catalog.conn.execute("SELECT * FROM images")}
    assert rows[taken]["parent_id"] is None  # the photo stays what it was
    assert artifacts(root, "upstream")[taken] == upstream
    assert taken not in artifacts(root, "video-frames")
    assert {i for i, r in rows.items() if r["parent_id"] == vid} == {"clip-frame-1", "clip-frame-3"}
    assert sorted(p.name for p in (root / "art/video-frames").iterdir()) == [
        "clip-frame-1.jpeg",
        "clip-frame-3.jpeg",
        "clip.jpeg",
    ]  # the frame made for the taken id is not left behind unrecorded
