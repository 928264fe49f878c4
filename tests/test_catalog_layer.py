"""The catalog layer on a real cv.db: file facts, images, artifacts, transactions, the job
queue, gallery rows and statistics, called directly (no command, no runner)."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Any

import pytest

from cvgallery.catalog import Catalog, FileFacts, GalleryRow, bytes_facts, file_facts
from cvgallery.errors import UnknownImage

WEB = "web-optimized"
THUMB = "thumbnails-small"


def facts(n: int, size: tuple[int, int] = (40, 30)) -> FileFacts:
    """Made-up facts with a distinct sha256 per ``n`` (images.sha256 is UNIQUE)."""
    return FileFacts(f"{n:064x}", 1000 + n, size[0], size[1], "image/jpeg")


_SEQ = iter(range(1, 1_000_000))


def original(catalog: Catalog, image_id: str, *, approved: bool = True, **kw: object) -> FileFacts:
    """An image row and its upstream artifact, as `add` records them."""
    f = facts(10_000 + next(_SEQ))  # clear of the small numbers tests pick by hand
    catalog.images.add(image_id, f, approved=approved, **kw)  # type: ignore[arg-type]
    catalog.artifacts.record(
        image_id=image_id, stage="upstream", file_path=f"upstream/{image_id}.jpeg", facts=f
    )
    return f


def job_rows(catalog: Catalog) -> list[dict[str, Any]]:
    return catalog.jobs.history()


def made_by_cvgallery(config_key: str, source_sha256: str) -> dict[str, str]:
    return {"generator": "cvgallery", "config_key": config_key, "source_sha256": source_sha256}


# -- file facts ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "fmt", "mime"), [("p.jpeg", "JPEG", "image/jpeg"), ("p.png", "PNG", "image/png")]
)
def test_file_and_bytes_facts_agree(make_image, name: str, fmt: str, mime: str) -> None:
    path = make_image(name, size=(37, 21), format=fmt)
    data = path.read_bytes()
    expected = FileFacts(hashlib.sha256(data).hexdigest(), len(data), 37, 21, mime)
    assert file_facts(path) == expected
    assert bytes_facts(data, name) == expected


def test_facts_of_a_non_picture_have_no_dimensions(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not a picture\n", encoding="utf-8")
    fake = tmp_path / "fake.jpeg"
    fake.write_bytes(b"\xff\xd8 truncated garbage")
    for path, mime in ((notes, "text/plain"), (fake, "image/jpeg")):
        data = path.read_bytes()
        expected = FileFacts(hashlib.sha256(data).hexdigest(), len(data), None, None, mime)
        assert file_facts(path) == expected
        assert bytes_facts(data, path.name) == expected


def test_file_facts_takes_a_known_hash_and_bytes_facts_a_known_size(make_image) -> None:
    path = make_image("p.png", size=(10, 8))
    assert file_facts(path, sha256="0" * 64).sha256 == "0" * 64
    known = bytes_facts(path.read_bytes(), "p.png", size=(5, 4))
    assert (known.width, known.height) == (5, 4)


# -- images --------------------------------------------------------------------------------------


def test_add_then_look_up(catalog: Catalog) -> None:
    f = facts(1)
    catalog.images.add("a", f, url="https://example.org/a", user="ann", approved=True)
    assert catalog.images.by_sha(f.sha256) == "a"
    assert catalog.images.by_sha(f.sha256, other_than="a") is None
    assert catalog.images.by_sha("f" * 64) is None
    assert catalog.images.exists("a") and not catalog.images.exists("b")
    row = catalog.images.get("a")
    assert (row["sha256"], row["file_size"], row["width"], row["height"]) == (
        f.sha256,
        f.file_size,
        40,
        30,
    )
    assert (row["mime_type"], row["original_url"], row["username"]) == (
        "image/jpeg",
        "https://example.org/a",
        "ann",
    )
    assert (row["approved"], row["rejected"], row["parent_id"]) == (1, 0, None)


def test_add_with_a_rejection_reason_registers_it_rejected(catalog: Catalog) -> None:
    catalog.images.add("dup", facts(1), approved=True, rejection_reason="duplicate of a")
    row = catalog.images.get("dup")
    assert (row["approved"], row["rejected"], row["rejection_reason"]) == (0, 1, "duplicate of a")


def test_get_of_an_unknown_id_raises_unknown_image(catalog: Catalog) -> None:
    assert catalog.images.find("nope") is None
    with pytest.raises(UnknownImage, match="'nope'") as info:
        catalog.images.get("nope")
    assert info.value.image_id == "nope"


def test_add_child_children_and_drop_child(catalog: Catalog) -> None:
    original(catalog, "v")
    original(catalog, "other")
    catalog.images.add_child("v-frame-1", "v", facts(10))
    catalog.images.add_child("v-frame-2", "v", facts(11))
    catalog.images.add_child("v-frame-1", "v", facts(12, (8, 6)))  # again: updated in place
    assert sorted(catalog.images.children("v")) == ["v-frame-1", "v-frame-2"]
    row = catalog.images.get("v-frame-1")
    assert (row["sha256"], row["width"], row["parent_id"], row["approved"]) == (
        facts(12).sha256,
        8,
        "v",
        0,
    )
    for child in ("v-frame-1", "v-frame-2"):
        catalog.artifacts.record(
            image_id=child,
            stage="video-frames",
            file_path=f"video-frames/{child}.jpeg",
            facts=facts(20 + int(child[-1])),
        )
        catalog.artifacts.store_blurhash(child, "video-frames", "LEHV6n", 8, 6)
        catalog.jobs.start(child, "video-frames")
    catalog.artifacts.store_blurhash("other", "upstream", "LEHV6n", 8, 6)
    catalog.jobs.start("other", WEB)

    with catalog.transaction():
        paths = catalog.images.drop_child("v-frame-1")

    assert paths == ["video-frames/v-frame-1.jpeg"]
    assert catalog.images.find("v-frame-1") is None
    assert catalog.images.children("v") == ["v-frame-2"]
    assert catalog.artifacts.get("v-frame-1", "video-frames") is None
    assert catalog.artifacts.get("v-frame-2", "video-frames") is not None
    blurhashed = {r[0] for r in catalog.conn.execute("SELECT image_id FROM blurhash_cache")}
    assert blurhashed == {"v-frame-2", "other"}
    assert sorted(j["image_id"] for j in job_rows(catalog)) == ["other", "v-frame-2"]


def test_review_reports_unknown_ids(catalog: Catalog) -> None:
    original(catalog, "a", approved=False)
    original(catalog, "b", approved=False)
    with catalog.transaction():
        approved = catalog.images.approve(["a", "ghost"])
        rejected = catalog.images.reject(["b", "ghost", "phantom"], "blurry")
    assert (approved.changed, approved.unknown) == (["a"], ["ghost"])
    assert (rejected.changed, rejected.unknown) == (["b"], ["ghost", "phantom"])
    a, b = catalog.images.get("a"), catalog.images.get("b")
    assert (a["approved"], a["rejected"], a["rejection_reason"]) == (1, 0, None)
    assert (b["approved"], b["rejected"], b["rejection_reason"]) == (0, 1, "blurry")


def test_approve_clears_a_rejection_and_reject_without_reason_says_manual(
    catalog: Catalog,
) -> None:
    original(catalog, "a", rejection_reason="duplicate")
    catalog.images.approve(["a"])
    row = catalog.images.get("a")
    assert (row["approved"], row["rejected"], row["rejection_reason"]) == (1, 0, None)
    catalog.images.reject(["a"])
    row = catalog.images.get("a")
    assert (row["approved"], row["rejected"], row["rejection_reason"]) == (0, 1, "manual")


# -- artifacts -----------------------------------------------------------------------------------


def test_record_returns_the_replaced_path_only_when_the_file_changed(catalog: Catalog) -> None:
    original(catalog, "a")
    record = catalog.artifacts.record
    first = record(image_id="a", stage=WEB, file_path="web-optimized/a.jpeg", facts=facts(50))
    again = record(
        image_id="a",
        stage=WEB,
        file_path="web-optimized/a.jpeg",
        facts=facts(51),
        params={"quality": 80},
    )
    moved = record(image_id="a", stage=WEB, file_path="web-optimized/a.webp", facts=facts(52))
    assert (first, again, moved) == (None, None, "web-optimized/a.jpeg")
    row = catalog.artifacts.get("a", WEB)
    assert row is not None
    assert (row["file_path"], row["sha256"], row["file_size"], row["width"]) == (
        "web-optimized/a.webp",
        facts(52).sha256,
        facts(52).file_size,
        40,
    )
    assert row["processing_params"] is None  # replaced with the new call's (none)
    assert catalog.artifacts.counts() == {"upstream": 1, WEB: 1}


def test_record_stores_params_as_sorted_json(catalog: Catalog) -> None:
    original(catalog, "a")
    catalog.artifacts.record(
        image_id="a",
        stage=WEB,
        file_path="web-optimized/a.jpeg",
        facts=facts(50),
        params={"size": 400, "fit": "width"},
    )
    row = catalog.artifacts.get("a", WEB)
    assert row is not None and row["processing_params"] == '{"fit": "width", "size": 400}'


def test_the_caller_owns_the_transaction(catalog: Catalog, site_root: Path) -> None:
    f = facts(1)
    with pytest.raises(RuntimeError, match="boom"):
        with catalog.transaction():
            catalog.images.add("a", f, approved=True)
            catalog.artifacts.record(
                image_id="a", stage="upstream", file_path="upstream/a.jpeg", facts=f
            )
            assert catalog.images.exists("a")  # visible inside the transaction
            raise RuntimeError("boom")
    assert not catalog.images.exists("a")
    assert catalog.artifacts.get("a", "upstream") is None
    with Catalog.open(site_root) as other:
        assert other.stats()["images"]["total"] == 0 and other.stats()["artifacts"] == {}
    with catalog.transaction():  # the connection is usable again, and a commit sticks
        catalog.images.add("a", f)
    with Catalog.open(site_root) as other:
        assert other.images.exists("a")


# -- the job queue -------------------------------------------------------------------------------


def test_plan_queues_once(catalog: Catalog) -> None:
    original(catalog, "a")
    original(catalog, "b")
    original(catalog, "pending", approved=False)
    assert catalog.jobs.plan(WEB, "upstream", "k1") == (0, 0)
    assert catalog.jobs.plan(WEB, "upstream", "k1") == (0, 0)
    rows = job_rows(catalog)
    assert sorted((j["image_id"], j["stage"], j["status"]) for j in rows) == [
        ("a", WEB, "pending"),
        ("b", WEB, "pending"),
    ]
    assert all(j["variant"] is None and j["retry_count"] == 0 for j in rows)


def test_plans_from_two_connections_do_not_duplicate(catalog: Catalog, site_root: Path) -> None:
    original(catalog, "a")
    original(catalog, "b")
    with Catalog.open(site_root) as other:
        catalog.jobs.plan(WEB, "upstream", "k1")
        other.jobs.plan(WEB, "upstream", "k1")
    assert sorted(j["image_id"] for j in job_rows(catalog)) == ["a", "b"]


def test_plans_at_once_from_two_threads_do_not_duplicate(catalog: Catalog, site_root: Path) -> None:
    for n in range(20):
        original(catalog, f"img{n:02d}")
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def plan() -> None:
        try:
            with Catalog.open(site_root) as own:
                start.wait()
                own.jobs.plan(WEB, "upstream", "k1")
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=plan) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    ids = [j["image_id"] for j in job_rows(catalog)]
    assert len(ids) == 20 and len(set(ids)) == 20


def test_plan_skips_current_outputs_and_queues_outdated_ones(catalog: Catalog) -> None:
    src = {name: original(catalog, name) for name in ("current", "old-key", "old-src", "logged")}
    outputs = {
        "current": made_by_cvgallery("k1", src["current"].sha256),
        "old-key": made_by_cvgallery("k0", src["old-key"].sha256),
        "old-src": made_by_cvgallery("k1", "e" * 64),
        "logged": {"tool": "imagemagick"},  # made elsewhere: always current
    }
    for n, (name, params) in enumerate(outputs.items()):
        catalog.artifacts.record(
            image_id=name,
            stage=WEB,
            file_path=f"web-optimized/{name}.jpeg",
            facts=facts(100 + n),
            params=params,
        )
    assert catalog.jobs.plan(WEB, "upstream", "k1") == (2, 0)
    assert sorted(j["image_id"] for j in job_rows(catalog)) == ["old-key", "old-src"]


def test_plan_takes_params_that_are_not_json_as_made_elsewhere(catalog: Catalog) -> None:
    # The seed's own SQL may write any text into processing_params.
    original(catalog, "a")
    catalog.artifacts.record(
        image_id="a", stage=WEB, file_path="web-optimized/a.jpeg", facts=facts(100)
    )
    catalog.conn.execute(
        "UPDATE artifacts SET processing_params = 'resized by hand' WHERE stage = ?", (WEB,)
    )
    assert catalog.jobs.plan(WEB, "upstream", "k1") == (1, 0)
    assert job_rows(catalog) == []


def test_claim_hands_a_unit_to_one_owner_only(catalog: Catalog, site_root: Path) -> None:
    original(catalog, "a")
    original(catalog, "b")
    catalog.jobs.plan(WEB, "upstream", "k1")
    assert catalog.jobs.claimable([WEB]) == 2
    first = catalog.jobs.claim([WEB], "run-1", 1)
    with Catalog.open(site_root) as other:
        second = other.jobs.claim([WEB], "run-2", 5)
        third = other.jobs.claim([WEB], "run-3", 5)
    assert (len(first), len(second), third) == (1, 1, [])
    assert {first[0]["image_id"], second[0]["image_id"]} == {"a", "b"}
    owners = {j["image_id"]: (j["status"], j["owner"]) for j in job_rows(catalog)}
    assert owners[first[0]["image_id"]] == ("running", "run-1")
    assert owners[second[0]["image_id"]] == ("running", "run-2")
    assert catalog.jobs.claimable([WEB]) == 0


def test_a_unit_is_all_of_an_images_jobs_in_the_stages(catalog: Catalog) -> None:
    original(catalog, "a")
    original(catalog, "b")
    catalog.jobs.plan(WEB, "upstream", "k1")
    catalog.jobs.plan(THUMB, "upstream", "k2")
    rows = catalog.jobs.claim([THUMB, WEB], "run-1", 1)
    assert len({r["image_id"] for r in rows}) == 1
    assert sorted(r["stage"] for r in rows) == [THUMB, WEB]
    assert catalog.jobs.claim([WEB], "run-2", 5)[0]["image_id"] != rows[0]["image_id"]


def test_a_job_of_an_unapproved_image_stays_pending(catalog: Catalog) -> None:
    original(catalog, "a")
    original(catalog, "b")
    catalog.jobs.plan(WEB, "upstream", "k1")
    catalog.images.reject(["a"], "changed my mind")
    assert catalog.jobs.claimable([WEB]) == 1
    assert [r["image_id"] for r in catalog.jobs.claim([WEB], "run-1", 5)] == ["b"]
    assert {j["image_id"]: j["status"] for j in job_rows(catalog)}["a"] == "pending"


def test_finish_only_the_owners_running_jobs(catalog: Catalog) -> None:
    original(catalog, "a")
    catalog.jobs.plan(WEB, "upstream", "k1")
    (job,) = catalog.jobs.claim([WEB], "run-1", 1)
    with catalog.transaction():
        catalog.jobs.finish([job["id"]], "someone-else")
    assert job_rows(catalog)[0]["status"] == "running"
    with catalog.transaction():
        catalog.jobs.finish([job["id"]], "run-1")
    row = job_rows(catalog)[0]
    assert (row["status"], row["error_message"]) == ("completed", None)
    assert row["completed_at"] is not None


def test_fail_counts_a_retry_and_blocks_the_next_plan(catalog: Catalog) -> None:
    original(catalog, "a")
    catalog.jobs.plan(WEB, "upstream", "k1")
    (job,) = catalog.jobs.claim([WEB], "run-1", 1)
    with catalog.transaction():
        catalog.jobs.fail([job["id"]], "run-1", "a.jpeg: cannot decode")
    row = job_rows(catalog)[0]
    assert (row["status"], row["error_message"], row["retry_count"]) == (
        "failed",
        "a.jpeg: cannot decode",
        1,
    )
    assert catalog.jobs.plan(WEB, "upstream", "k1") == (0, 1)  # blocked, not queued again
    assert len(job_rows(catalog)) == 1
    # max_retries counts retries after the first attempt: 0 allows none, 1 one.
    assert [r["id"] for r in catalog.jobs.retry_failed(lambda stage: 0)] == []
    assert [r["id"] for r in catalog.jobs.retry_failed(lambda stage: 1)] == [job["id"]]
    assert job_rows(catalog)[0]["status"] == "pending"


def test_release_gives_back_an_owners_running_jobs(catalog: Catalog) -> None:
    for name in ("a", "b", "c"):
        original(catalog, name)
    catalog.jobs.plan(WEB, "upstream", "k1")
    mine = catalog.jobs.claim([WEB], "run-1", 2)
    theirs = catalog.jobs.claim([WEB], "run-2", 1)
    assert catalog.jobs.release("nobody") == 0
    assert catalog.jobs.release("run-1") == 2
    by_id = {j["id"]: j for j in job_rows(catalog)}
    for job in mine:
        assert (by_id[job["id"]]["status"], by_id[job["id"]]["owner"]) == ("pending", None)
        assert by_id[job["id"]]["started_at"] is None
    assert (by_id[theirs[0]["id"]]["status"], by_id[theirs[0]["id"]]["owner"]) == (
        "running",
        "run-2",
    )


def test_requeue_owners_returns_the_dead_owners_jobs(catalog: Catalog) -> None:
    for name in ("a", "b", "c"):
        original(catalog, name)
    catalog.jobs.plan(WEB, "upstream", "k1")
    dead = catalog.jobs.claim([WEB], "dead-1", 1) + catalog.jobs.claim([WEB], "dead-2", 1)
    alive = catalog.jobs.claim([WEB], "alive", 1)
    assert sorted(catalog.jobs.running_owners()) == ["alive", "dead-1", "dead-2"]
    assert catalog.jobs.requeue_owners([]) == []
    requeued = catalog.jobs.requeue_owners(["dead-1", "dead-2"])
    assert sorted(r["id"] for r in requeued) == sorted(r["id"] for r in dead)
    assert {tuple(r.keys()) for r in requeued} == {("id", "image_id", "stage", "variant")}
    assert catalog.jobs.running_owners() == ["alive"]
    status = {j["id"]: j["status"] for j in job_rows(catalog)}
    assert status[alive[0]["id"]] == "running"
    assert [status[r["id"]] for r in dead] == ["pending", "pending"]


# -- gallery rows and statistics -----------------------------------------------------------------


def _web(catalog: Catalog, image_id: str, n: int) -> None:
    catalog.artifacts.record(
        image_id=image_id,
        stage=WEB,
        file_path=f"web-optimized/{image_id}.jpeg",
        facts=facts(n, (400, 300)),
    )


def test_gallery_rows_are_named_newest_first_approved_with_a_web_copy(catalog: Catalog) -> None:
    for n, (image_id, when) in enumerate(
        (
            ("old", "2020-01-01 00:00:00.000"),
            ("new", "2024-06-01 12:00:00.000"),
            ("mid", "2022-03-04 05:06:07.000"),
        )
    ):
        original(catalog, image_id, user="ann")
        _web(catalog, image_id, 200 + n)
        catalog.conn.execute("UPDATE images SET created_at = ? WHERE id = ?", (when, image_id))
    original(catalog, "no-web")  # approved, but nothing to show yet
    original(catalog, "pending", approved=False)
    _web(catalog, "pending", 300)
    original(catalog, "rejected", rejection_reason="blurry")
    _web(catalog, "rejected", 301)
    catalog.artifacts.record(
        image_id="new",
        stage=THUMB,
        file_path="thumbnails-small/new.jpeg",
        facts=facts(302, (200, 150)),
    )
    catalog.artifacts.store_blurhash("new", WEB, "LEHV6nWB2yk8", 400, 300)

    rows = catalog.gallery.rows()

    assert [r.id for r in rows] == ["new", "mid", "old"]
    assert all(isinstance(r, GalleryRow) for r in rows)
    new, _mid, old = rows
    assert (new.file_path, new.web_w, new.web_h, new.username) == (
        "web-optimized/new.jpeg",
        400,
        300,
        "ann",
    )
    assert (new.thumb_path, new.thumb_w, new.blurhash) == (
        "thumbnails-small/new.jpeg",
        200,
        "LEHV6nWB2yk8",
    )
    assert new.created_at == "2024-06-01 12:00:00.000" and new.parent_id is None
    assert (old.thumb_path, old.blurhash, old.big_path, old.video_path) == (None,) * 4


def test_stats_counts_images_artifacts_and_jobs(catalog: Catalog) -> None:
    original(catalog, "a")
    original(catalog, "b")
    original(catalog, "p", approved=False)
    original(catalog, "r", rejection_reason="blurry")
    _web(catalog, "a", 400)
    catalog.jobs.plan(WEB, "upstream", "k1")
    catalog.jobs.plan(THUMB, "upstream", "k1")
    (job,) = catalog.jobs.claim([WEB], "run-1", 1)
    with catalog.transaction():
        catalog.jobs.fail([job["id"]], "run-1", "broken")
    assert catalog.stats() == {
        "images": {"total": 4, "approved": 2, "rejected": 1, "pending": 1, "derived": 0},
        "artifacts": {"upstream": 4, WEB: 1},
        "jobs": {"failed": 1, "pending": 2},
    }
