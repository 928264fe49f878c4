"""The job runner: atomic claims, owners, recovery of dead runs, concurrency and kill -9."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from process_helpers import add, configure, jobs_of, photo, toml_command, write_script

from cvgallery import owners
from cvgallery.catalog import Catalog
from cvgallery.process import plan_stage
from cvgallery.store import clean_temp_files, sha256_file


@pytest.fixture
def root(site_root: Path) -> Path:
    configure(site_root)
    return site_root


def cvgallery(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "cvgallery", *map(str, args)]


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_owner_is_host_pid_start_and_alive() -> None:
    owner = owners.owner_id()
    host, pid, start = owner.split(":")
    assert int(pid) == os.getpid() and start.isdigit() and host
    assert owners.owner_alive(owner)
    assert not owners.owner_alive(f"{host}:{dead_pid()}:123")
    assert not owners.owner_alive(f"{host}:{os.getpid()}:1")  # pid reused: other start time
    assert owners.owner_alive(f"elsewhere.example:{dead_pid()}:1")  # cannot judge: keep


def test_claims_never_overlap(root: Path, tmp_path: Path) -> None:
    add(root, *(photo(tmp_path / f"in/p{i}.png", (40, 30)) for i in range(10)))
    with Catalog.open(root) as a, Catalog.open(root) as b:
        plan_stage(a, a.config.stages["thumbnails-small"])
        plan_stage(b, b.config.stages["thumbnails-small"])  # a second plan queues nothing new
        assert len(jobs_of(root)) == 10
        got_a = a.jobs.claim(["thumbnails-small"], "h:1:1", 4)
        got_b = b.jobs.claim(["thumbnails-small"], "h:2:2", 100)
    ids_a, ids_b = {r["id"] for r in got_a}, {r["id"] for r in got_b}
    assert len(ids_a) == 4 and len(ids_b) == 6 and not ids_a & ids_b
    assert Counter(j["owner"] for j in jobs_of(root)) == {"h:1:1": 4, "h:2:2": 6}


def test_dead_runs_jobs_and_temps_are_recovered(root: Path, tmp_path: Path) -> None:
    add(root, photo(tmp_path / "in/a.png", (40, 30)), photo(tmp_path / "in/b.png", (40, 30)))
    host = owners.owner_id().split(":")[0]
    gone = dead_pid()
    with Catalog.open(root) as catalog:
        plan_stage(catalog, catalog.config.stages["web-optimized"])
        catalog.jobs.claim(["web-optimized"], f"{host}:{gone}:99", 1)
        catalog.jobs.claim(["web-optimized"], owners.owner_id(), 1)  # a live run's job
    folder = root / "art/web-optimized"
    temps = folder / ".cvgallery-tmp"
    temps.mkdir()
    (temps / f"{gone}-abc.jpeg").write_bytes(b"half")
    (temps / f"{os.getpid()}-def.jpeg").write_bytes(b"live")
    (folder / f".tmp-{gone}-upload.jpeg").write_bytes(b"a user's file, whatever its name")
    with Catalog.open(root) as catalog:
        recovered = owners.recover_dead(catalog)
    assert len(recovered) == 1
    assert clean_temp_files(folder) == 1
    assert [p.name for p in temps.iterdir()] == [f"{os.getpid()}-def.jpeg"]
    assert (folder / f".tmp-{gone}-upload.jpeg").exists()
    assert sorted(j["status"] for j in jobs_of(root)) == ["pending", "running"]


def test_two_runs_at_once_share_the_work(root: Path, tmp_path: Path) -> None:
    slow = write_script(
        tmp_path / "bin",
        "slow.py",
        "time.sleep(0.05)\n" + "shutil.copyfile(sys.argv[1], sys.argv[2])\n",
    )
    configure(root, toml_command("face-swap-results", [*slow, "{input}", "{output}"], ext="png"))
    add(root, *(photo(tmp_path / f"in/p{i:02d}.png", (200, 150)) for i in range(24)))
    procs = [
        subprocess.Popen(
            cvgallery("process", "-j", "2", "--json", "--root", root),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert not any("locked" in err for _, err in outs)
    jobs = jobs_of(root)
    assert {j["status"] for j in jobs} == {"completed"}
    per_pair = Counter((j["image_id"], j["stage"]) for j in jobs)
    assert len(per_pair) == 24 * 3 and set(per_pair.values()) == {1}  # nothing done twice
    made = [json.loads(out)["made"] for out, _ in outs]
    assert sum(made) == 24 * 3


def test_kill_9_then_rerun_finishes_cleanly(root: Path, tmp_path: Path) -> None:
    slow = write_script(
        tmp_path / "bin",
        "slow.py",
        "out = open(sys.argv[2], 'wb'); out.write(open(sys.argv[1], 'rb').read()[:100]); "
        "out.flush(); time.sleep(0.4)\nshutil.copyfile(sys.argv[1], sys.argv[2])\n",
    )
    configure(root, toml_command("face-swap-results", [*slow, "{input}", "{output}"], ext="png"))
    add(root, *(photo(tmp_path / f"in/p{i:02d}.png", (64, 48)) for i in range(12)))
    proc = subprocess.Popen(
        cvgallery("process", "face-swap-results", "-j", "2", "--root", root),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    db_path = root / "cv.db"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # wait until some jobs are done and some are running
        conn = sqlite3.connect(db_path)
        done, running = conn.execute(
            "SELECT SUM(status = 'completed'), SUM(status = 'running') FROM jobs"
        ).fetchone()
        conn.close()
        if (done or 0) >= 2 and (running or 0) >= 1:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    dead = {j["owner"] for j in jobs_of(root) if j["status"] == "running"}
    assert len(dead) == 1
    rerun = subprocess.run(
        cvgallery("process", "face-swap-results", "-j", "2", "--root", root),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert rerun.returncode == 0, rerun.stderr
    assert {j["status"] for j in jobs_of(root)} == {"completed"}
    with Catalog.open(root) as catalog:
        rows = catalog.conn.execute("SELECT * FROM artifacts WHERE stage = 'face-swap-results'")
        rows = rows.fetchall()
    assert len(rows) == 12
    for row in rows:
        assert sha256_file(root / "art" / row["file_path"]) == row["sha256"]
    # Nothing the killed run started is still running (the rerun stopped and waited for
    # any such command before its cleanup), so nothing can write after it.
    assert owners.leftovers(list(dead)) == []
    assert not list((root / "art").rglob(".cvgallery-tmp"))


def test_an_interrupted_run_gives_back_its_claimed_jobs(
    root: Path, tmp_path: Path, monkeypatch
) -> None:
    from cvgallery.process import process
    from cvgallery.stages import resize as resize_stage

    add(root, *(photo(tmp_path / f"in/p{i}.png", (64, 48)) for i in range(5)))
    real, calls = resize_stage.make_resized, []

    def interrupted(task: resize_stage.ResizeTask) -> list:  # type: ignore[type-arg]
        calls.append(task.image_id)
        if len(calls) == 5:  # like Ctrl-C in the middle of the run (its second claim)
            raise KeyboardInterrupt
        return real(task)

    monkeypatch.setattr(resize_stage, "make_resized", interrupted)
    with Catalog.open(root) as catalog, pytest.raises(KeyboardInterrupt):
        process(catalog, workers=1)  # in this process, so the patch applies
    statuses = Counter(j["status"] for j in jobs_of(root))
    assert statuses == {"completed": 8, "pending": 2}  # four images made, nothing left running
    assert all(j["owner"] is None for j in jobs_of(root) if j["status"] == "pending")
    monkeypatch.setattr(resize_stage, "make_resized", real)
    with Catalog.open(root) as catalog:
        again = process(catalog, workers=1)
    assert (again.made, again.skipped, again.failed) == (2, 8, [])
    assert {j["status"] for j in jobs_of(root)} == {"completed"}


def test_ctrl_c_records_the_work_that_finished(root: Path, tmp_path: Path) -> None:
    log = tmp_path / "finished.log"
    slow = write_script(
        tmp_path / "bin",
        "slow.py",
        "time.sleep(0.3)\nshutil.copyfile(sys.argv[1], sys.argv[2])\n"
        f"open({str(log)!r}, 'a').write(sys.argv[3] + '\\n')\n",
    )
    configure(
        root, toml_command("face-swap-results", [*slow, "{input}", "{output}", "{id}"], ext="png")
    )
    add(root, *(photo(tmp_path / f"in/p{i:02d}.png", (64, 48)) for i in range(12)))
    proc = subprocess.Popen(
        cvgallery("process", "face-swap-results", "-j", "2", "--root", root),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(log.read_text().split() if log.exists() else []) < 3:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)  # Ctrl-C
    proc.communicate(timeout=120)
    finished = set(log.read_text().split())
    jobs = {j["image_id"]: j["status"] for j in jobs_of(root)}
    assert 3 <= len(finished) < 12, "the run ended before or long after the interrupt"
    # Every command that ran to the end is recorded; the rest wait, none stays running.
    assert {i for i, s in jobs.items() if s == "completed"} == finished
    assert {s for i, s in jobs.items() if i not in finished} == {"pending"}
    with Catalog.open(root) as catalog:
        rows = catalog.conn.execute("SELECT * FROM artifacts WHERE stage = 'face-swap-results'")
        recorded = {r["image_id"]: r for r in rows}
    assert set(recorded) == finished
    for row in recorded.values():
        assert sha256_file(root / "art" / row["file_path"]) == row["sha256"]
    assert not list((root / "art").rglob(".cvgallery-tmp"))
