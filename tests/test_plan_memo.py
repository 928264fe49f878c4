"""The plan memo: a no-op `process` skips counting the stages known to be current, and
every change to what planning reads, made by cvgallery or by the seed's SQL, is noticed."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from process_helpers import add, artifacts, configure, jobs_of, photo

from cvgallery.catalog import Catalog
from cvgallery.catalog.queue import JobQueue
from cvgallery.process import process

# every resize stage of the test site (ersgan-thumbnails has no input artifacts: 0 current)
STAGES = ["ersgan-thumbnails", "thumbnails-small", "web-optimized"]


@pytest.fixture
def root(site_root: Path, tmp_path: Path) -> Path:
    configure(site_root)
    add(site_root, photo(tmp_path / "in/a.jpeg"), photo(tmp_path / "in/b.png", (900, 500)))
    run(site_root)  # makes the 4 artifacts
    return site_root


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The stages whose artifacts were read to count them (the real count still runs);
    "stage@since" when only the pictures changed after a gallery version were read."""
    seen: list[str] = []
    count = JobQueue._count_stale

    def recording(self: JobQueue, input_stage: str, outputs: list, video_input: str | None,  # type: ignore[no-untyped-def]
                  since: int | None = None):  # fmt: skip
        seen.extend(stage if since is None else f"{stage}@since" for stage, *_rest in outputs)
        return count(self, input_stage, outputs, video_input, since)

    monkeypatch.setattr(JobQueue, "_count_stale", recording)
    return seen


def run(root: Path):  # type: ignore[no-untyped-def]
    with Catalog.open(root) as catalog:
        return process(catalog, workers=1)


def seed_sql(root: Path, sql: str, *params: object) -> None:
    """A change made the seed's way: plain SQL on cv.db, not through cvgallery."""
    conn = sqlite3.connect(root / "cv.db")
    with conn:
        conn.execute(sql, params)
    conn.close()


def test_a_second_noop_counts_nothing(root: Path, counted: list[str]) -> None:
    first = run(root)  # counts once (its second plan of the group is remembered), remembers
    assert (first.made, first.skipped) == (0, 4)
    assert sorted(entry.removesuffix("@since") for entry in counted) == STAGES
    counted.clear()
    second = run(root)
    assert (second.made, second.skipped, second.failed) == (0, 4, [])
    assert counted == []
    assert len(jobs_of(root)) == 4


def test_a_hand_deleted_artifact_row_is_planned(root: Path, counted: list[str]) -> None:
    run(root)
    seed_sql(root, "DELETE FROM artifacts WHERE image_id = 'a' AND stage = 'web-optimized'")
    report = run(root)
    assert (report.made, report.skipped) == (1, 3)
    assert "a" in artifacts(root, "web-optimized")


def test_hand_edited_params_are_planned(root: Path) -> None:
    run(root)
    seed_sql(
        root,
        """UPDATE artifacts SET processing_params =
               json_set(processing_params, '$.config_key', 'resize size=1')
           WHERE image_id = 'b' AND stage = 'thumbnails-small'""",
    )
    report = run(root)
    assert (report.made, report.skipped) == (1, 3)


def test_a_changed_config_counts_only_that_stage(root: Path, counted: list[str]) -> None:
    run(root)
    counted.clear()
    configure(root, "[stages.web-optimized]\nquality = 70\n")
    report = run(root)
    assert (report.made, report.skipped) == (2, 2)
    # thumbnails-small is still remembered: only the changed stage was read
    assert set(counted) == {"web-optimized"}


def test_approval_changed_by_sql_changes_the_counts(root: Path) -> None:
    run(root)
    seed_sql(root, "UPDATE images SET approved = 0 WHERE id = 'b'")
    assert run(root).skipped == 2
    seed_sql(root, "UPDATE images SET approved = 1 WHERE id = 'b'")
    assert run(root).skipped == 4


def test_a_new_image_is_planned(root: Path, tmp_path: Path) -> None:
    run(root)
    add(root, photo(tmp_path / "in/c.jpeg", (640, 480)))
    report = run(root)
    assert (report.made, report.skipped) == (2, 4)


def test_after_a_change_only_the_changed_pictures_are_read(
    root: Path, tmp_path: Path, counted: list[str]
) -> None:
    """Remembered at a gallery version: a new picture, a hand-deleted artifact and a picture
    un-approved by SQL are found by reading those pictures only, with the same counts a
    full count gives."""
    run(root)
    counted.clear()
    add(root, photo(tmp_path / "in/c.jpeg", (640, 480)))
    report = run(root)
    assert (report.made, report.skipped) == (2, 4)
    assert counted and all(entry.endswith("@since") for entry in counted)
    counted.clear()
    seed_sql(root, "DELETE FROM artifacts WHERE image_id = 'a' AND stage = 'thumbnails-small'")
    seed_sql(root, "UPDATE images SET approved = 0 WHERE id = 'b'")
    report = run(root)
    assert (report.made, report.skipped) == (1, 3)
    assert counted and all(entry.endswith("@since") for entry in counted)
    with Catalog.open(root) as catalog:  # the same as counting everything
        queue = catalog.jobs
        catalog.conn.execute("DELETE FROM plan_memo")
        full = queue.stale_counts("upstream", [("thumbnails-small", "x", 0, "width")])
    assert full["thumbnails-small"][0] + full["thumbnails-small"][1] == 2


def test_words_keep_the_memo(root: Path, counted: list[str]) -> None:
    """Columns planning does not read (a title; updated_at, which the title touches) do not
    count as changes."""
    run(root)
    counted.clear()
    seed_sql(root, "UPDATE images SET title = 'Harbour', phash = 'ab' WHERE id = 'a'")
    assert run(root).skipped == 4
    assert counted == []


def test_without_the_counter_every_plan_counts(root: Path, counted: list[str]) -> None:
    run(root)
    seed_sql(root, "DELETE FROM catalog_changes")
    counted.clear()
    assert run(root).skipped == 4
    assert sorted(counted) == sorted(STAGES * 2)  # nothing remembered, counted twice
    seed_sql(root, "DELETE FROM artifacts WHERE image_id = 'b' AND stage = 'thumbnails-small'")
    assert run(root).made == 1


def test_a_change_during_the_count_is_noticed(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The counter remembered is the one the count saw: a row deleted by another writer
    while the count runs (after its snapshot) is planned by the next run."""
    count = JobQueue._count_stale
    deleted: list[bool] = []

    def count_then_delete(self: JobQueue, input_stage: str, outputs: list, video_input: str | None,  # type: ignore[no-untyped-def]
                          since: int | None = None):  # fmt: skip
        found = count(self, input_stage, outputs, video_input, since)
        if not deleted:
            seed_sql(root, "DELETE FROM artifacts WHERE image_id = 'a' AND stage = 'thumbnails-small'")
            deleted.append(True)
        return found

    monkeypatch.setattr(JobQueue, "_count_stale", count_then_delete)
    with Catalog.open(root) as catalog:
        queue = catalog.jobs
        outputs = [
            ("thumbnails-small", "resize size=400 fit=fit format=jpeg quality=85", 0, "longer")
        ]
        assert queue.stale_counts("upstream", outputs) == {"thumbnails-small": (2, 0)}
        # the memo holds the counter from before the delete: not trusted now
        assert queue.stale_counts("upstream", outputs) == {"thumbnails-small": (1, 1)}


def test_plan_remembers_too(root: Path) -> None:
    """A stage planned alone (JobQueue.plan, every kind's default) uses the memo as well."""
    key = "resize size=400 fit=width format=jpeg quality=85"
    with Catalog.open(root) as catalog:
        assert catalog.jobs.plan("web-optimized", "upstream", key) == (2, 0)
        row = catalog.conn.execute(
            "SELECT current FROM plan_memo WHERE stage = 'web-optimized'"
        ).fetchone()
        assert row is not None and row[0] == 2
    seed_sql(root, "DELETE FROM artifacts WHERE image_id = 'b' AND stage = 'web-optimized'")
    with Catalog.open(root) as catalog:
        assert catalog.jobs.plan("web-optimized", "upstream", key) == (1, 0)
        pending = catalog.jobs.history("pending")
    assert [(j["image_id"], j["stage"]) for j in pending] == [("b", "web-optimized")]


# -- the BlurHash check and the listing of art/upstream/ (what `build` does first) ----------


def test_blurhashes_all_current_are_remembered_until_a_hash_is_dropped_by_sql(
    root: Path,
) -> None:
    from cvgallery.stages.blurhash import fill_blurhashes

    with Catalog.open(root) as catalog:
        first = fill_blurhashes(catalog)  # process hashed both: counted, then remembered
        assert (first.made, first.skipped) == (0, 2)
        memo = catalog.conn.execute(
            "SELECT current FROM plan_memo WHERE stage = 'blurhash web-optimized'"
        ).fetchone()
        assert memo is not None and memo[0] == 2
        assert fill_blurhashes(catalog).skipped == 2  # from the memo
    seed_sql(root, "DELETE FROM blurhash_cache WHERE rowid = (SELECT min(rowid) FROM blurhash_cache)")
    with Catalog.open(root) as catalog:
        again = fill_blurhashes(catalog)
        assert (again.made, again.skipped, again.failed) == (1, 1, [])
        assert catalog.conn.execute("SELECT count(*) FROM blurhash_cache").fetchone()[0] == 2


def test_other_blurhash_settings_are_not_answered_from_the_memo(root: Path) -> None:
    from cvgallery.stages.blurhash import fill_blurhashes

    with Catalog.open(root) as catalog:
        fill_blurhashes(catalog)
        assert fill_blurhashes(catalog).skipped == 2
    configure(root, "[blurhash]\nx = 5\ny = 4\n")
    with Catalog.open(root) as catalog:
        redone = fill_blurhashes(catalog)
        assert (redone.made, redone.skipped) == (2, 0)


def test_an_unchanged_upload_folder_is_not_listed_again_and_a_dropped_file_is_seen(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os
    import time

    from cvgallery.catalog.artifacts import Artifacts
    from cvgallery.ingest import register_new_uploads

    upstream = root / "art" / "upstream"
    old = time.time() - 60
    for folder in (upstream, root / "art" / "video-sources"):
        os.utime(folder, (old, old))  # folders last changed a minute ago
    listed: list[str] = []
    names_in = Artifacts.names_in
    monkeypatch.setattr(
        Artifacts, "names_in", lambda self, stage: listed.append(stage) or names_in(self, stage)
    )
    with Catalog.open(root) as catalog:
        assert register_new_uploads(catalog) == []
        assert listed == ["upstream", "video-sources"]  # nothing new: remembered
        assert register_new_uploads(catalog) == []
        assert listed == ["upstream", "video-sources"]
        dropped = photo(upstream / "dropped.jpeg")  # the folder's mtime moves
        found = register_new_uploads(catalog)
        assert [r.status for r in found] == ["added"]
        assert listed == ["upstream", "video-sources", "upstream"]
        assert found[0].path == dropped
        os.utime(upstream, (old, old))
        register_new_uploads(catalog)  # listed again (the folder changed): remembered
        catalog.images.reject(["a"])  # a review is not a change to the folder's rows
        register_new_uploads(catalog)
        assert listed.count("upstream") == 3
    seed_sql(root, "DELETE FROM artifacts WHERE stage = 'upstream' AND image_id = 'a'")
    with Catalog.open(root) as catalog:
        register_new_uploads(catalog)  # a row gone: its file may be a new upload now
    assert listed.count("upstream") == 4


def test_a_just_changed_upload_folder_is_listed_every_time(root: Path) -> None:
    """A folder changed in the last two seconds may change again in the same clock tick
    without its mtime moving: it is not remembered."""
    from cvgallery.ingest import register_new_uploads

    upstream = root / "art" / "upstream"
    photo(root / "elsewhere.jpeg").rename(upstream / "fresh.jpeg")
    with Catalog.open(root) as catalog:
        assert [r.status for r in register_new_uploads(catalog)] == ["added"]
        register_new_uploads(catalog)
        rows = catalog.conn.execute(
            "SELECT count(*) FROM plan_memo WHERE stage LIKE 'listing %'"
        ).fetchone()[0]
    assert rows == 0


def test_after_a_change_only_the_changed_pictures_hashes_are_looked_at(
    root: Path, tmp_path: Path
) -> None:
    from cvgallery.stages.blurhash import fill_blurhashes

    with Catalog.open(root) as catalog:
        assert fill_blurhashes(catalog).skipped == 2  # remembered at this version
        catalog.images.reject(["a"])  # a change elsewhere: b's hash is not looked at again
        assert (fill_blurhashes(catalog).made, fill_blurhashes(catalog).skipped) == (0, 2)
    seed_sql(root, "DELETE FROM blurhash_cache WHERE image_id = 'b'")  # b stamped now
    with Catalog.open(root) as catalog:
        again = fill_blurhashes(catalog)
        assert (again.made, again.skipped) == (1, 1)
        assert fill_blurhashes(catalog).skipped == 2
