"""Matrix command stages (`each`): one output per (source, style), each its own images row."""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from process_helpers import add, artifacts, configure, jobs_of, params, photo, toml_command

from cvgallery.catalog import Catalog
from cvgallery.catalog import schema as db
from cvgallery.cli import cli
from cvgallery.config import parse_config
from cvgallery.errors import ConfigError
from cvgallery.ingest import log_artifact
from cvgallery.process import plan_stage, process
from cvgallery.store import sha256_file

STAGE = "face-swap-results"

# A stand-in for face swap: the source and the style blended 70:30. It logs every
# run, and misbehaves for a pair when the test leaves a marker file next to it.
BLEND = """\
import os, shutil, sys
from PIL import Image
source, style, output, sid, tid = sys.argv[1:6]
here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "runs.log"), "a") as log:
    log.write(f"{sid} {tid}\\n")
pair = f"{sid}--{tid}"
if os.path.exists(os.path.join(here, "fail-" + pair)):
    sys.stderr.write(f"no face found in {pair}\\n")
    sys.exit(3)
if os.path.exists(os.path.join(here, "copy-" + pair)):
    shutil.copyfile(source, output)
    sys.exit(0)
a = Image.open(source).convert("RGB")
b = Image.open(style).convert("RGB").resize(a.size)
Image.blend(a, b, 0.3).save(output, "JPEG", quality=90)
"""


@pytest.fixture
def bin_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "bin"
    folder.mkdir()
    (folder / "blend.py").write_text(BLEND, encoding="utf-8")
    return folder


@pytest.fixture
def root(site_root: Path, bin_dir: Path, tmp_path: Path) -> Path:
    """Sources a, b (face-swap-sources) and styles s1, s2 (face-swap-styles), all approved."""
    argv = [sys.executable, str(bin_dir / "blend.py")]
    configure(
        site_root,
        toml_command(
            STAGE,
            [*argv, "{input}", "{each}", "{output}", "{id}", "{each_id}"],
            input="face-swap-sources",
            each="face-swap-styles",
            ext="jpeg",
            max_retries=2,
        ),
    )
    files = {n: photo(tmp_path / f"in/{n}.png", (96, 64)) for n in ("a", "b", "s1", "s2")}
    add(site_root, *files.values())
    with Catalog.open(site_root) as catalog:
        for n in ("a", "b"):
            log_artifact(catalog, n, "face-swap-sources", files[n])
        for n in ("s1", "s2"):
            log_artifact(catalog, n, "face-swap-styles", files[n])
    return site_root


def run(root: Path, **kw: Any):
    with Catalog.open(root) as catalog:
        return process(catalog, [STAGE], **kw)


def runs(bin_dir: Path) -> list[str]:
    log = bin_dir / "runs.log"
    return sorted(log.read_text().splitlines()) if log.exists() else []


def images(root: Path) -> dict[str, dict[str, Any]]:
    with Catalog.open(root) as catalog:
        return {r["id"]: dict(r) for r in catalog.conn.execute("SELECT * FROM images")}


PAIRS = ["a s1", "a s2", "b s1", "b s2"]
CHILDREN = {"a--s1", "a--s2", "b--s1", "b--s2"}


def test_each_source_and_style_makes_its_own_child_row(root: Path, bin_dir: Path) -> None:
    report = run(root, workers=2)
    assert report.failed == [] and report.made == 4
    assert runs(bin_dir) == PAIRS
    rows = images(root)
    made = artifacts(root, STAGE)
    assert set(made) == CHILDREN
    for child in CHILDREN:
        source, style = child.split("--")
        row, art = rows[child], made[child]
        assert row["parent_id"] == source and row["approved"] == 0
        assert (row["width"], row["height"]) == (96, 64) == (art["width"], art["height"])
        assert row["sha256"] == art["sha256"] and row["mime_type"] == "image/jpeg"
        assert (
            row["file_size"] == art["file_size"] == (root / "art" / art["file_path"]).stat().st_size
        )
        assert art["file_path"] == f"{STAGE}/{child}.jpeg"
        p = params(art)
        assert p["generator"] == "cvgallery" and p["each_id"] == style
        assert p["source_sha256"] == artifacts(root, "face-swap-sources")[source]["sha256"]
        assert p["each_sha256"] == artifacts(root, "face-swap-styles")[style]["sha256"]
        assert p["config_key"]
    # Four different pictures, and no temporary {output} left.
    assert len({made[c]["sha256"] for c in CHILDREN}) == 4
    assert not list((root / "art").rglob(".cvgallery-tmp"))
    jobs = jobs_of(root)
    assert sorted((j["image_id"], j["variant"], j["status"]) for j in jobs) == [
        (s, t, "completed") for s in "ab" for t in ("s1", "s2")
    ]
    # The styles are no sources, and the children get no stage of their own.
    assert {j["image_id"] for j in jobs} == {"a", "b"}


def test_a_second_run_runs_no_command(root: Path, bin_dir: Path, cli_run) -> None:
    run(root, workers=2)
    before = (bin_dir / "runs.log").read_text()
    result = cli_run("process", STAGE, "--json", "--root", root)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "made": 0,
        "skipped": 4,
        "failed": [],
        "blocked": 0,
        "exhausted": 0,
        "recovered": 0,
    }
    assert (bin_dir / "runs.log").read_text() == before
    assert len(jobs_of(root)) == 4  # no new job rows either


def test_a_changed_style_remakes_only_its_outputs(
    root: Path, bin_dir: Path, tmp_path: Path
) -> None:
    run(root, workers=2)
    old = artifacts(root, STAGE)
    (bin_dir / "runs.log").unlink()
    new_style = photo(tmp_path / "in/s1-v2.png", (50, 50))
    result = CliRunner().invoke(
        cli, ["artifact", "log", "s1", "face-swap-styles", str(new_style), "--root", str(root)]
    )
    assert result.exit_code == 0, result.output
    report = run(root, workers=2)
    assert report.made == 2 and report.skipped == 2 and report.failed == []
    assert runs(bin_dir) == ["a s1", "b s1"]
    new = artifacts(root, STAGE)
    style_sha = artifacts(root, "face-swap-styles")["s1"]["sha256"]
    for child in ("a--s1", "b--s1"):
        assert new[child]["sha256"] != old[child]["sha256"]
        assert params(new[child])["each_sha256"] == style_sha
        assert images(root)[child]["sha256"] == new[child]["sha256"]
    for child in ("a--s2", "b--s2"):
        assert new[child] == old[child]


def test_a_changed_command_remakes_every_output(root: Path, bin_dir: Path) -> None:
    run(root, workers=1)
    toml = (root / "site.toml").read_text().replace('ext = "jpeg"', 'ext = "jpeg"\ntimeout = 60')
    toml = toml.replace('"{each_id}"]', '"{each_id}", "--extra"]')
    (root / "site.toml").write_text(toml)
    (bin_dir / "runs.log").unlink()
    report = run(root, workers=1)
    assert report.made == 4 and runs(bin_dir) == PAIRS
    assert set(artifacts(root, STAGE)) == CHILDREN


def test_a_failing_pair_fails_only_its_job_until_retried(root: Path, bin_dir: Path) -> None:
    (bin_dir / "fail-b--s2").touch()
    report = run(root, workers=2)
    assert report.made == 3
    [failure] = report.failed
    assert (failure.image_id, failure.variant) == ("b", "s2")
    assert str(failure).startswith("b x s2 face-swap-results: exit status 3")
    assert "exit status 3" in failure.error and "no face found in b--s2" in failure.error
    assert set(artifacts(root, STAGE)) == CHILDREN - {"b--s2"}
    assert "b--s2" not in images(root)
    [job] = [j for j in jobs_of(root) if j["status"] == "failed"]
    assert (job["image_id"], job["variant"], job["retry_count"]) == ("b", "s2", 1)

    # A plain run leaves the failed pair alone (and runs nothing).
    (bin_dir / "runs.log").unlink()
    runner = CliRunner()
    plain = runner.invoke(cli, ["process", STAGE, "--root", str(root)])
    assert plain.exit_code == 0 and "1 failed earlier" in plain.output
    assert runs(bin_dir) == []

    (bin_dir / "fail-b--s2").unlink()
    assert runner.invoke(cli, ["jobs", "retry", "--root", str(root)]).exit_code == 0
    again = runner.invoke(cli, ["process", STAGE, "-j", "1", "--root", str(root)])
    assert again.exit_code == 0 and "made 1, skipped 3, failed 0" in again.output
    assert runs(bin_dir) == ["b s2"]
    assert set(artifacts(root, STAGE)) == CHILDREN
    assert images(root)["b--s2"]["parent_id"] == "b"
    assert [
        j["status"] for j in jobs_of(root) if j["variant"] == "s2" and j["image_id"] == "b"
    ] == ["completed"]


def test_an_id_taken_by_another_image_fails_that_pair(
    root: Path, bin_dir: Path, tmp_path: Path
) -> None:
    add(root, photo(tmp_path / "in/a--s1.png", (20, 20)))
    report = run(root, workers=1)
    assert report.made == 3
    [failure] = report.failed
    assert "'a--s1' is already taken by another image" in failure.error
    assert "a s1" not in runs(bin_dir)  # found before the command ran
    assert images(root)["a--s1"]["parent_id"] is None  # the other image is untouched
    assert "a--s1" not in artifacts(root, STAGE)


def test_an_output_equal_to_another_image_is_not_registered(root: Path, bin_dir: Path) -> None:
    (bin_dir / "copy-a--s1").touch()  # the "result" is the source itself
    report = run(root, workers=1)
    assert report.made == 3
    [failure] = report.failed
    assert "same picture as image 'a'" in failure.error
    assert "a--s1" not in images(root) and "a--s1" not in artifacts(root, STAGE)
    assert not (root / "art" / STAGE / "a--s1.jpeg").exists()

    # A result made before that turns into a duplicate when remade: the child and its
    # file go, so no row is left whose file does not match its sha256.
    assert "b--s1" in artifacts(root, STAGE)
    (bin_dir / "copy-a--s1").unlink()
    (bin_dir / "copy-b--s1").touch()
    with Catalog.open(root) as catalog:
        catalog.jobs.retry_failed(catalog.config.max_retries_for)
    toml = (root / "site.toml").read_text().replace('"{each_id}"]', '"{each_id}", "--v2"]')
    (root / "site.toml").write_text(toml)  # another command: every output is remade
    report = run(root, workers=1)
    assert report.made == 3
    assert [(f.image_id, f.variant) for f in report.failed] == [("b", "s1")]
    assert "same picture as image 'b'" in report.failed[0].error
    assert "b--s1" not in images(root) and "b--s1" not in artifacts(root, STAGE)
    assert not (root / "art" / STAGE / "b--s1.jpeg").exists()
    assert set(artifacts(root, STAGE)) == CHILDREN - {"b--s1"}
    for row in artifacts(root, STAGE).values():
        assert sha256_file(root / "art" / row["file_path"]) == row["sha256"]


def test_a_claim_takes_one_pair_at_a_time(root: Path) -> None:
    with Catalog.open(root) as catalog:
        plan_stage(catalog, catalog.config.stages[STAGE])
        first = catalog.jobs.claim([STAGE], "host:1:1", 1)
        second = catalog.jobs.claim([STAGE], "host:2:1", 3)
        rest = catalog.jobs.claim([STAGE], "host:3:1", 3)
    assert len(first) == 1 and len(second) == 3 and rest == []
    units = {(r["image_id"], r["variant"]) for r in [*first, *second]}
    assert units == {(s, t) for s in "ab" for t in ("s1", "s2")}


def test_each_in_site_toml_is_validated(tmp_path: Path) -> None:
    def stage(**table: Any) -> dict[str, Any]:
        return {"stages": {STAGE: {"command": ["tool", "{input}", "{output}"], **table}}}

    cfg = parse_config(tmp_path, stage(input="face-swap-sources", each="face-swap-styles"))
    assert cfg.stages[STAGE].each == "face-swap-styles"
    assert parse_config(tmp_path, stage()).stages[STAGE].each is None
    with pytest.raises(ConfigError, match=r"stages.face-swap-results.each: unknown stage 'nope'"):
        parse_config(tmp_path, stage(each="nope"))
    with pytest.raises(ConfigError, match="each must name another stage"):
        parse_config(tmp_path, stage(each=STAGE))
    with pytest.raises(ConfigError, match="without each"):
        parse_config(tmp_path, {"stages": {STAGE: {"command": ["tool", "{each}", "{output}"]}}})
    with pytest.raises(ConfigError, match="each is only for command stages"):
        parse_config(tmp_path, {"stages": {"thumbnails-small": {"each": "face-swap-styles"}}})


def test_a_version_2_catalog_gets_jobs_variant_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "cv.db"
    conn = sqlite3.connect(path, isolation_level=None)
    for _name, apply in db.MIGRATIONS[:2]:
        apply(conn)
    conn.execute("PRAGMA user_version = 2")
    conn.execute("INSERT INTO images (id, sha256, approved) VALUES ('x', 'sha-x', 1)")
    conn.execute(
        "INSERT INTO jobs (image_id, stage, status, retry_count, owner) "
        "VALUES ('x', 'web-optimized', 'failed', 2, 'h:1:1')"
    )
    conn.close()
    conn = db.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == db.SCHEMA_VERSION >= 3
    [job] = conn.execute("SELECT * FROM jobs").fetchall()
    assert (job["image_id"], job["stage"], job["status"], job["retry_count"]) == (
        "x",
        "web-optimized",
        "failed",
        2,
    )
    assert job["owner"] == "h:1:1" and job["variant"] is None
    assert conn.execute("SELECT sha256 FROM images").fetchone()[0] == "sha-x"
    conn.close()


def test_pairs_left_running_by_a_dead_run_are_made_by_the_next(root: Path, bin_dir: Path) -> None:
    import socket
    import subprocess

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a pid that no longer runs: its owner is dead
    with Catalog.open(root) as catalog:
        plan_stage(catalog, catalog.config.stages[STAGE])
        taken = catalog.jobs.claim([STAGE], f"{socket.gethostname()}:{gone.pid}:1", 2)
    assert len(taken) == 2
    report = run(root, workers=2)
    assert report.recovered == 2 and report.made == 4 and report.failed == []
    assert runs(bin_dir) == PAIRS
    assert {j["status"] for j in jobs_of(root)} == {"completed"} and len(jobs_of(root)) == 4
    assert set(artifacts(root, STAGE)) == CHILDREN
