"""The core commands through the real `cvgallery` executable and through CliRunner."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner
from conftest import run_cli

from cvgallery.cli import cli


def test_init_creates_config_folders_and_catalog(tmp_path: Path) -> None:
    result = run_cli("init", tmp_path / "new")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "new" / "site.toml").is_file()
    assert (tmp_path / "new" / "cv.db").is_file()
    assert (tmp_path / "new" / "art" / "web-optimized").is_dir()
    # A second init keeps the user's site.toml.
    (tmp_path / "new" / "site.toml").write_text('title = "kept"\n')
    assert run_cli("init", tmp_path / "new").returncode == 0
    assert (tmp_path / "new" / "site.toml").read_text() == 'title = "kept"\n'


def test_add_review_stats_ready_pipeline(site_root: Path, make_image, tmp_path: Path) -> None:
    for name in ("one", "two", "three"):
        make_image(f"{name}.jpeg")
    (tmp_path / "input" / "broken.jpeg").write_bytes(b"\xff\xd8\xff nope")
    added = run_cli("add", tmp_path / "input", "--user", "ann", "--root", site_root)
    assert added.returncode == 0  # a rejected file is a result, said so, not an error
    assert "added one" in added.stderr and "rejected broken" in added.stderr
    assert "3 added, 0 duplicate, 1 rejected, 0 skipped, 0 error" in added.stderr
    assert added.stdout == ""  # stdout is not a terminal: messages go to stderr

    approved = run_cli("approve", "-", "--root", site_root, input="one\ntwo\n")
    assert approved.returncode == 0, approved.stderr
    stats = run_cli("stats", "--json", "--root", site_root)
    assert json.loads(stats.stdout) == {
        "images": {"total": 4, "approved": 2, "rejected": 1, "pending": 1, "derived": 0},
        "artifacts": {"upstream": 4},
        "jobs": {},
    }
    ready = run_cli("ready", "upstream", "web-optimized", "--root", site_root)
    assert ready.stdout.splitlines() == ["one", "two"]
    human = run_cli("stats", "--root", site_root)
    assert "Approved Images" in human.stdout and "upstream" in human.stdout


def test_root_defaults_to_nearest_site_upward(site_root: Path, make_image) -> None:
    sub = site_root / "somewhere" / "deep"
    sub.mkdir(parents=True)
    src = make_image("x.jpeg")
    assert run_cli("add", src, cwd=sub).returncode == 0
    assert (site_root / "art" / "upstream" / "x.jpeg").is_file()


def test_unknown_ids_fail_but_known_ones_change(site_root: Path, make_image) -> None:
    run_cli("add", make_image("real.jpeg"), "--root", site_root)
    result = run_cli("reject", "real", "ghost", "--reason", "it's blurry", "--root", site_root)
    assert result.returncode == 1
    assert "unknown image id: 'ghost'" in result.stderr
    stats = json.loads(run_cli("stats", "--json", "--root", site_root).stdout)
    assert stats["images"]["rejected"] == 1


def test_bad_usage_exits_2_with_a_message_not_a_traceback(site_root: Path, make_image) -> None:
    run_cli("add", make_image("a.jpeg"), "--root", site_root)
    bad_stage = run_cli("ready", "upstream", "nowhere", "--root", site_root)
    assert bad_stage.returncode == 2 and "unknown stage: 'nowhere'" in bad_stage.stderr
    bad_json = run_cli(
        "artifact",
        "log",
        "a",
        "web-optimized",
        make_image("w.jpeg"),
        "--params",
        "{broken",
        "--root",
        site_root,
    )
    assert bad_json.returncode == 2 and "not valid JSON" in bad_json.stderr
    (site_root / "site.toml").write_text("per_page = 'many'\n")
    bad_config = run_cli("stats", "--root", site_root)
    assert bad_config.returncode == 2 and "per_page" in bad_config.stderr
    assert "Traceback" not in bad_stage.stderr + bad_json.stderr + bad_config.stderr


def test_a_corrupt_catalog_is_reported_not_overwritten(tmp_path: Path) -> None:
    (tmp_path / "site.toml").write_text("")
    (tmp_path / "cv.db").write_bytes(b"PK\x03\x04 a zip, not a database")
    result = run_cli("stats", "--root", tmp_path)
    assert result.returncode == 2
    assert "not a SQLite database" in result.stderr and "Traceback" not in result.stderr
    assert (tmp_path / "cv.db").read_bytes() == b"PK\x03\x04 a zip, not a database"


def test_sql_in_every_argument_is_data(site_root: Path, make_image) -> None:
    evil = "x'; DROP TABLE images; --"
    src = make_image(f"{evil}.jpeg")
    added = run_cli("add", src, "--url", evil, "--user", evil, "--root", site_root)
    assert added.returncode == 0, added.stderr
    assert run_cli("approve", evil, "--root", site_root).returncode == 0
    assert run_cli("reject", evil, "--reason", evil, "--root", site_root).returncode == 0
    logged = run_cli(
        "artifact",
        "log",
        evil,
        "web-optimized",
        make_image("w.jpeg"),
        "--params",
        json.dumps({"note": evil}),
        "--root",
        site_root,
    )
    assert logged.returncode == 0, logged.stderr
    stats = json.loads(run_cli("stats", "--json", "--root", site_root).stdout)
    assert stats["images"]["total"] == 1 and stats["artifacts"]["web-optimized"] == 1
    jobs = json.loads(run_cli("jobs", "--json", "--root", site_root).stdout)
    assert jobs == []


def test_artifact_sync_and_jobs_commands(site_root: Path, make_image, tmp_path: Path) -> None:
    run_cli("add", make_image("a.jpeg"), make_image("b.jpeg"), "--root", site_root)
    thumbs = tmp_path / "thumbs"
    make_image("a.jpeg", folder=thumbs)
    make_image("zzz.jpeg", folder=thumbs)
    synced = run_cli("artifact", "sync", "thumbnails-small", thumbs, "--root", site_root)
    assert synced.returncode == 1 and "zzz" in synced.stderr
    stats = json.loads(run_cli("stats", "--json", "--root", site_root).stdout)
    assert stats["artifacts"]["thumbnails-small"] == 1
    retry = run_cli("jobs", "retry", "--root", site_root)
    assert retry.returncode == 0 and "re-queued 0" in retry.stderr


def test_two_adds_at_once_both_finish_with_every_row(site_root: Path, make_image, tmp_path) -> None:
    for i in range(120):
        make_image(f"left{i}.jpeg", folder=tmp_path / "left", size=(96, 64))
        make_image(f"right{i}.jpeg", folder=tmp_path / "right", size=(96, 64))
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "cvgallery",
                "add",
                str(tmp_path / side),
                "--root",
                str(site_root),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for side in ("left", "right")
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    for proc, (_out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
        assert "locked" not in err
    stats = json.loads(run_cli("stats", "--json", "--root", site_root).stdout)
    assert stats["images"]["total"] == 240 and stats["artifacts"]["upstream"] == 240


def test_cli_runner_separates_data_from_messages(site_root: Path, make_image) -> None:
    runner = CliRunner()
    runner.invoke(cli, ["add", str(make_image("a.jpeg")), "--approve", "--root", str(site_root)])
    result = runner.invoke(cli, ["ready", "upstream", "thumbnails-small", "--root", str(site_root)])
    assert result.exit_code == 0 and result.stdout == "a\n"
    result = runner.invoke(cli, ["jobs", "--status", "bogus", "--root", str(site_root)])
    assert result.exit_code == 2


def test_jobs_listing_filters_by_status(site_root: Path, make_image) -> None:
    from cvgallery.catalog import Catalog

    run_cli("add", make_image("a.jpeg"), make_image("b.jpeg"), "--root", site_root)
    with Catalog.open(site_root) as catalog:
        catalog.jobs.start("a", "ersgan-enhanced")
        catalog.jobs.fail_running("a", "ersgan-enhanced", "exit 1: 'model' not found")
        catalog.jobs.start("b", "ersgan-enhanced")
    failed = run_cli("jobs", "--status", "failed", "--json", "--root", site_root)
    rows = json.loads(failed.stdout)
    assert [(r["image_id"], r["status"], r["retry_count"]) for r in rows] == [("a", "failed", 1)]
    assert rows[0]["error_message"] == "exit 1: 'model' not found"
    human = run_cli("jobs", "--root", site_root)
    assert "failed" in human.stdout and "running" in human.stdout and "2 jobs" in human.stderr
    assert run_cli("jobs", "retry", "--root", site_root).stderr.startswith("re-queued 1")
    pending = json.loads(
        run_cli("jobs", "--status", "pending", "--json", "--root", site_root).stdout
    )
    assert [r["image_id"] for r in pending] == ["a"]
