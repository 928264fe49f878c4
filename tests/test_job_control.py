"""Jobs that say what they do: retry limits and summaries, hand-made artifacts, a stage's
worker cap, chosen retries, `artifact log` checks, `add`'s exit status, progress lines
and `jobs --limit`."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from process_helpers import (
    add,
    artifacts,
    configure,
    jobs_of,
    make_video,
    photo,
    toml_command,
    write_script,
)

from cvgallery import store
from cvgallery.catalog import Catalog
from cvgallery.process import plan_stage

STAGE = "face-swap-results"


def cli(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cvgallery", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        env=None if env is None else {**os.environ, **env},
    )


def attempts_log(tmp_path: Path) -> Path:
    return tmp_path / "attempts.log"


@pytest.fixture
def failing(site_root: Path, tmp_path: Path) -> Path:
    """A site whose command stage always fails, logging each attempt; max_retries = 1."""
    script = write_script(
        tmp_path / "bin",
        "crash.py",
        f"open({str(attempts_log(tmp_path))!r}, 'a').write(sys.argv[3] + '\\n')\n"
        "sys.stderr.write('model exploded\\n'); sys.exit(2)\n",
    )
    argv = [*script, "{input}", "{output}", "{id}"]
    configure(site_root, toml_command(STAGE, argv, ext="png", max_retries=1))
    add(site_root, photo(tmp_path / "in/a.png", (64, 48)), photo(tmp_path / "in/b.png", (64, 48)))
    return site_root


def test_max_retries_counts_retries_and_the_summary_never_advises_the_given_flag(
    failing: Path, tmp_path: Path
) -> None:
    first = cli("process", STAGE, "-j", "1", "--root", failing)
    assert first.returncode == 1 and "failed 2" in first.stderr
    plain = cli("process", STAGE, "--root", failing)
    assert "(2 failed earlier, not retried: use --retry-failed)" in plain.stderr
    retried = cli("process", STAGE, "--retry-failed", "-j", "1", "--root", failing)
    assert "failed 2" in retried.stderr  # the one retry max_retries = 1 allows
    last = cli("process", STAGE, "--retry-failed", "--root", failing)
    assert last.returncode == 0
    assert "use --retry-failed" not in last.stderr
    assert (
        "made 0, skipped 0, failed 0; 2 failed jobs reached max_retries "
        "(see `cvgallery jobs --status failed`)" in last.stderr
    )
    attempts = attempts_log(tmp_path).read_text().split()
    assert sorted(attempts) == ["a", "a", "b", "b"]  # first attempt + 1 retry each
    doc = json.loads(cli("process", STAGE, "--json", "--root", failing).stdout)
    assert (doc["blocked"], doc["exhausted"]) == (2, 2)


def test_jobs_retry_chosen_jobs_whatever_their_count(failing: Path, tmp_path: Path) -> None:
    cli("process", STAGE, "-j", "1", "--root", failing)
    cli("process", STAGE, "-j", "1", "--retry-failed", "--root", failing)  # limit reached
    ids = {j["image_id"]: j["id"] for j in jobs_of(failing)}
    assert "re-queued 0" in cli("jobs", "retry", "--root", failing).stderr
    chosen = cli("jobs", "retry", str(ids["a"]), "--root", failing)
    assert chosen.returncode == 0 and "re-queued 1" in chosen.stderr
    assert {j["image_id"]: j["status"] for j in jobs_of(failing)} == {
        "a": "pending",
        "b": "failed",
    }
    by_image = cli("jobs", "retry", "--image", "b", "--root", failing)
    assert by_image.returncode == 0 and "re-queued 1" in by_image.stderr
    assert {j["status"] for j in jobs_of(failing)} == {"pending"}
    wrong = cli("jobs", "retry", str(ids["a"]), "999", "--image", "nobody", "--root", failing)
    assert wrong.returncode == 1
    assert f"job {ids['a']} is pending, not failed" in wrong.stderr
    assert "no job 999" in wrong.stderr and "image 'nobody' has no failed job" in wrong.stderr
    assert "Traceback" not in wrong.stderr


def test_a_logged_hand_made_file_completes_its_job_and_is_never_overwritten(
    failing: Path, tmp_path: Path, make_image
) -> None:
    cli("process", STAGE, "-j", "1", "--root", failing)
    hand_made = make_image("a-by-hand.png", folder=tmp_path / "made")
    logged = cli("artifact", "log", "a", STAGE, hand_made, "--root", failing)
    assert logged.returncode == 0, logged.stderr
    job = {j["image_id"]: j for j in jobs_of(failing)}["a"]
    assert job["status"] == "completed" and "artifact log" in job["error_message"]
    stored = failing / "art" / artifacts(failing, STAGE)["a"]["file_path"]
    before = store.sha256_file(stored)
    with Catalog.open(failing) as catalog:  # planning counts it as current
        assert plan_stage(catalog, catalog.config.stages[STAGE]) == (1, 1)
    retry = cli("process", STAGE, "--retry-failed", "-j", "1", "--root", failing)
    assert "made 0, skipped 1, failed 1" in retry.stderr  # only b was tried again
    assert attempts_log(tmp_path).read_text().split().count("a") == 1
    assert store.sha256_file(stored) == before


def test_a_pending_job_of_a_hand_made_output_is_completed_without_running(
    failing: Path, tmp_path: Path, make_image
) -> None:
    with Catalog.open(failing) as catalog:
        plan_stage(catalog, catalog.config.stages[STAGE])  # a and b pending
        # A file recorded by an outside script (the seed's db-log-artifact), which
        # does not touch the job queue.
        dest = failing / "art" / STAGE / "a.png"
        make_image("a.png", folder=dest.parent)
        catalog.artifacts.record(
            image_id="a",
            stage=STAGE,
            file_path=f"{STAGE}/a.png",
            facts=catalog_facts(dest),
        )
    before = store.sha256_file(dest)
    result = cli("process", STAGE, "-j", "1", "--root", failing)
    assert "made 0, skipped 1, failed 1" in result.stderr
    assert attempts_log(tmp_path).read_text().split() == ["b"]
    assert store.sha256_file(dest) == before
    assert {j["image_id"]: j["status"] for j in jobs_of(failing)}["a"] == "completed"


def catalog_facts(path: Path):  # type: ignore[no-untyped-def]
    from cvgallery.catalog import file_facts

    return file_facts(path)


def test_artifact_log_refuses_a_file_of_the_wrong_kind(
    site_root: Path, tmp_path: Path, make_image
) -> None:
    configure(site_root)
    add(site_root, photo(tmp_path / "in/a.png", (64, 48)))
    text = tmp_path / "notes.txt"
    text.write_text("not a thumbnail")
    refused = cli("artifact", "log", "a", "thumbnails-small", text, "--root", site_root)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert f"{text}: not an image" in refused.stderr
    assert "thumbnails-small artifacts are images" in refused.stderr
    video = make_video(tmp_path / "clip.mp4", seconds=0.5)
    as_thumb = cli("artifact", "log", "a", "thumbnails-small", video, "--root", site_root)
    assert as_thumb.returncode == 2 and "not an image (it is a video)" in as_thumb.stderr
    picture = make_image("a.jpeg")
    as_video = cli("artifact", "log", "a", "video-sources", picture, "--root", site_root)
    assert as_video.returncode == 2 and "not a video (it is an image)" in as_video.stderr
    assert cli("artifact", "log", "a", "video-sources", video, "--root", site_root).returncode == 0
    assert (
        cli("artifact", "log", "a", "thumbnails-small", picture, "--root", site_root).returncode
        == 0
    )
    assert set(artifacts(site_root, "thumbnails-small")) == {"a"}
    assert list((site_root / "art/thumbnails-small").iterdir()) == [
        site_root / "art/thumbnails-small/a.jpeg"
    ]


def test_a_stages_workers_setting_caps_its_concurrency(site_root: Path, tmp_path: Path) -> None:
    locks, overlaps = tmp_path / "locks", tmp_path / "overlaps.log"
    locks.mkdir()
    script = write_script(
        tmp_path / "bin",
        "gpu.py",
        "import os\n"
        f"lock = os.path.join({str(locks)!r}, 'gpu')\n"
        "try:\n"
        "    fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)\n"
        "except FileExistsError:\n"
        f"    open({str(overlaps)!r}, 'a').write(sys.argv[3] + '\\n'); fd = None\n"
        "time.sleep(0.15)\n"
        "shutil.copyfile(sys.argv[1], sys.argv[2])\n"
        "if fd is not None:\n"
        "    os.close(fd); os.unlink(lock)\n",
    )
    argv = [*script, "{input}", "{output}", "{id}"]
    configure(site_root, toml_command(STAGE, argv, ext="png", workers=1))
    add(site_root, *(photo(tmp_path / f"in/p{i}.png", (48, 32)) for i in range(6)))
    result = cli("process", STAGE, "-j", "2", "--root", site_root)
    assert result.returncode == 0, result.stderr
    assert "made 6" in result.stderr
    assert not overlaps.exists()  # never two at once, though -j 2


def test_add_exits_1_only_when_a_file_is_an_error(site_root: Path, make_image) -> None:
    broken = make_image("ok.jpeg").parent / "broken.jpeg"
    broken.write_bytes(b"\xff\xd8\xff not a picture")
    rejected = cli("add", broken, "--root", site_root)
    assert rejected.returncode == 0
    assert "0 added, 0 duplicate, 1 rejected, 0 skipped, 0 error" in rejected.stderr
    missing = cli("add", make_image("fine.jpeg"), site_root / "nowhere.jpeg", "--root", site_root)
    assert missing.returncode == 1
    assert "1 added, 0 duplicate, 0 rejected, 0 skipped, 1 error" in missing.stderr


_LINE = re.compile(r"^process (?P<stages>[\w, -]+): (\d+)/(\d+) \((\d+)%\), [\d.]+/s$")


def test_a_long_run_prints_progress_lines_naming_the_stage(site_root: Path, tmp_path: Path) -> None:
    slow = write_script(
        tmp_path / "bin", "slow.py", "time.sleep(0.3)\nshutil.copyfile(sys.argv[1], sys.argv[2])\n"
    )
    configure(site_root, toml_command(STAGE, [*slow, "{input}", "{output}"], ext="png"))
    add(site_root, *(photo(tmp_path / f"in/p{i}.png", (48, 32)) for i in range(5)))
    result = cli(
        "process", "-j", "1", "--root", site_root, env={"CVGALLERY_PROGRESS_SECONDS": "0.2"}
    )
    assert result.returncode == 0, result.stderr
    lines = [m for line in result.stderr.splitlines() if (m := _LINE.match(line))]
    assert lines, result.stderr
    # Every stage's jobs are counted from the first line on: 5 images x 3 stages.
    assert {m.group(3) for m in lines} == {"15"}
    assert any(m.group("stages") == STAGE for m in lines)
    done = [int(m.group(2)) for m in lines]
    assert done == sorted(done)
    assert "made 15" in result.stderr


def test_jobs_limit_shows_the_newest_rows(site_root: Path, make_image) -> None:
    add(site_root, *(make_image(f"p{i}.jpeg") for i in range(5)))
    with Catalog.open(site_root) as catalog:
        ids = [catalog.jobs.start(f"p{i}", "web-optimized") for i in range(5)]
    rows = json.loads(cli("jobs", "--limit", "2", "--json", "--root", site_root).stdout)
    assert [r["id"] for r in rows] == ids[-2:]
    human = cli("jobs", "--limit", "2", "--root", site_root)
    assert [line.split()[0] for line in human.stdout.splitlines()] == [str(i) for i in ids[-2:]]
