"""Review flags, statistics, ready queries, artifact logging and the seed's job functions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cvgallery.catalog import Catalog
from cvgallery.errors import UnknownImage, UnknownStage, UsageError
from cvgallery.ingest import add_files, log_artifact, sync_artifacts
from cvgallery.store import sha256_file


@pytest.fixture
def three(catalog: Catalog, make_image) -> Catalog:
    add_files(catalog, [make_image(f"{name}.jpeg") for name in ("a", "b", "c")])
    return catalog


def test_approve_and_reject_are_exclusive_and_unknown_ids_are_reported(three: Catalog) -> None:
    result = three.images.approve(["a", "b", "ghost"])
    assert result.changed == ["a", "b"] and result.unknown == ["ghost"]
    three.images.reject(["b"], reason="blurry")
    b = three.images.get("b")
    assert (b["approved"], b["rejected"], b["rejection_reason"]) == (0, 1, "blurry")
    three.images.approve(["b"])
    b = three.images.get("b")
    assert (b["approved"], b["rejected"], b["rejection_reason"]) == (1, 0, None)
    assert (
        three.conn.execute("SELECT COUNT(*) FROM images WHERE approved AND rejected").fetchone()[0]
        == 0
    )


def test_stats_counts(three: Catalog) -> None:
    three.images.approve(["a"])
    three.images.reject(["b"])
    three.jobs.start("a", "web-optimized")
    assert three.stats() == {
        "images": {"total": 3, "approved": 1, "rejected": 1, "pending": 1, "derived": 0},
        "artifacts": {"upstream": 3},
        "jobs": {"running": 1},
    }


def test_ready_lists_approved_with_input_and_without_output(three: Catalog, make_image) -> None:
    three.images.approve(["a", "b"])
    web = make_image("web.jpeg")
    log_artifact(three, "b", "web-optimized", web)
    assert three.ready("upstream", "web-optimized") == ["a"]
    assert three.ready("web-optimized", "ersgan-enhanced") == ["b"]
    with pytest.raises(UnknownStage):
        three.ready("upstream", "thumbs")


def test_log_artifact_links_file_in_and_records_metadata(three: Catalog, make_image) -> None:
    src = make_image("outside.png", size=(30, 20), format="PNG")
    file_path = log_artifact(three, "a", "ersgan-enhanced", src, '{"scale": 4, "model": "x\'y"}')
    assert file_path == "ersgan-enhanced/a.png"
    stored = three.art_dir / file_path
    assert stored.samefile(src) and src.exists()
    row = three.artifacts.get("a", "ersgan-enhanced")
    assert (row["width"], row["height"], row["file_size"]) == (30, 20, src.stat().st_size)
    assert row["sha256"] == sha256_file(src)
    assert json.loads(row["processing_params"]) == {"scale": 4, "model": "x'y"}
    # Logging again replaces the one row per (image, stage).
    log_artifact(three, "a", "ersgan-enhanced", make_image("again.png", format="PNG"))
    assert (
        three.conn.execute(
            "SELECT COUNT(*) FROM artifacts WHERE image_id = 'a' AND stage = 'ersgan-enhanced'"
        ).fetchone()[0]
        == 1
    )


def test_link_falls_back_to_a_copy_across_file_systems(
    three: Catalog, make_image, monkeypatch
) -> None:
    import errno
    import os

    def cross_device(src: object, dst: object) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", cross_device)
    src = make_image("far.png", format="PNG")
    file_path = log_artifact(three, "a", "web-optimized", src)
    stored = three.art_dir / file_path
    assert stored.read_bytes() == src.read_bytes() and not stored.samefile(src)
    [added] = add_files(three, [make_image("far2.jpeg")], link=True)
    assert added.status == "added"
    assert (three.art_dir / "upstream" / "far2.jpeg").is_file()


def test_log_artifact_errors_name_the_problem(three: Catalog, make_image, tmp_path: Path) -> None:
    src = make_image("x.png", format="PNG")
    with pytest.raises(UsageError, match="not valid JSON"):
        log_artifact(three, "a", "web-optimized", src, "{nope")
    with pytest.raises(UnknownStage, match="thumbs"):
        log_artifact(three, "a", "thumbs", src)
    with pytest.raises(UnknownImage, match="ghost"):
        log_artifact(three, "ghost", "web-optimized", src)
    with pytest.raises(UsageError, match="no such file"):
        log_artifact(three, "a", "web-optimized", tmp_path / "missing.png")
    assert three.artifacts.get("a", "web-optimized") is None


def test_sync_records_each_file_and_reports_unknown_ids(
    three: Catalog, make_image, tmp_path
) -> None:
    folder = tmp_path / "thumbs"
    make_image("a.jpeg", folder=folder)
    make_image("b.jpeg", folder=folder / "nested")
    make_image("stranger.jpeg", folder=folder)
    results = sync_artifacts(three, "thumbnails-small", folder)
    ok = sorted(r.image_id for r in results if r.error is None)
    bad = [(r.image_id, r.error) for r in results if r.error]
    assert ok == ["a", "b"]
    assert bad == [("stranger", "unknown image id: 'stranger'")]
    assert three.artifacts.get("b", "thumbnails-small")["file_path"] == "thumbnails-small/b.jpeg"


def test_sync_of_a_folder_inside_art_keeps_names(three: Catalog, make_image) -> None:
    folder = three.art_dir / "web-optimized"
    make_image("c.jpeg", folder=folder)
    [r] = sync_artifacts(three, "web-optimized", folder)
    assert r.file_path == "web-optimized/c.jpeg"


def test_seed_job_functions_and_retry(three: Catalog, site_root: Path) -> None:
    three.jobs.start("a", "web-optimized")
    three.jobs.fail_running("a", "web-optimized", "decoder said: 'no'")
    three.jobs.start("b", "web-optimized")
    three.jobs.complete("b", "web-optimized")
    failed = three.jobs.history("failed")
    assert [(j["image_id"], j["retry_count"], j["error_message"]) for j in failed] == [
        ("a", 1, "decoder said: 'no'")
    ]
    assert three.jobs.history("completed")[0]["completed_at"] is not None
    assert [j["image_id"] for j in three.jobs.retry_failed(three.config.max_retries_for)] == ["a"]
    assert three.jobs.history("pending")[0]["image_id"] == "a"
    # max_retries = 3 retries after the first attempt: a fourth failure is the last.
    three.conn.execute("UPDATE jobs SET status = 'failed', retry_count = 3 WHERE image_id = 'a'")
    assert [j["image_id"] for j in three.jobs.retry_failed(three.config.max_retries_for)] == ["a"]
    three.conn.execute("UPDATE jobs SET status = 'failed', retry_count = 4 WHERE image_id = 'a'")
    assert three.jobs.retry_failed(three.config.max_retries_for) == []
    assert three.jobs.retry_failed(lambda _s: 5)[0]["image_id"] == "a"


def test_retry_limit_comes_from_site_toml(site_root: Path, make_image) -> None:
    (site_root / "site.toml").write_text(
        '[jobs]\nmax_retries = 1\n[stages.ersgan-enhanced]\ninput = "web-optimized"\n'
        'command = ["true"]\nmax_retries = 5\n'
    )
    with Catalog.open(site_root) as cat:
        add_files(cat, [make_image("a.jpeg")])
        for stage in ("web-optimized", "ersgan-enhanced"):
            cat.conn.execute(
                "INSERT INTO jobs (image_id, stage, status, retry_count) VALUES ('a', ?, 'failed', 2)",
                (stage,),
            )
        assert [j["stage"] for j in cat.jobs.retry_failed(cat.config.max_retries_for)] == [
            "ersgan-enhanced"
        ]
