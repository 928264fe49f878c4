"""A full build rendered by forked workers: the same site and records as one process
makes, errors in a worker reported as errors, and the previous site whole when one fails."""

from __future__ import annotations

import errno
import json
import os
import signal
import threading
from pathlib import Path

import pytest
from conftest import run_cli
from site_helpers import add_processed
from test_site_incremental import files_of, seed_catalog, stamps, touched

from cvgallery.catalog import Catalog
from cvgallery.errors import BuildError
from cvgallery.site import build_site, parallel
from cvgallery.site.output import MANIFEST

URL = "https://example.org/g"


def records(catalog: Catalog, out: Path) -> set[tuple[object, ...]]:
    """The build records of ``out``: (path, inputs, digest, deps, media) per file."""
    state = catalog.builds.state(str(out.resolve()))
    assert state is not None
    return {tuple(row) for row in catalog.builds.pages(state.id)}


@pytest.fixture
def seeded(catalog: Catalog) -> Catalog:
    catalog = seed_catalog(catalog, count=40)
    # Two pictures with byte-identical files: one content-named media file, which both
    # workers may place.
    for name in ("twin-a", "twin-b"):
        add_processed(catalog, name, seed=7, user="ann", created_at="2026-01-01 01:00:00")
    return catalog


@pytest.mark.parametrize("jobs", [2, 3])
def test_forked_workers_make_the_same_site_and_records_as_one_process(
    seeded: Catalog, tmp_path: Path, jobs: int
):
    one, many = tmp_path / "one", tmp_path / "many"
    alone = build_site(seeded, one, base_url=URL, jobs=1)
    shared = build_site(seeded, many, base_url=URL, jobs=jobs)
    assert alone.workers == 1 and shared.workers == jobs
    assert not alone.failed and not shared.failed
    assert files_of(many) == files_of(one)
    assert (shared.written, shared.kept) == (alone.written, alone.kept)
    assert records(seeded, many) == records(seeded, one)
    assert not [p for p in many.parent.iterdir() if p.name.startswith(".many.")]
    assert not [p for p in many.rglob(".*") if p.name != MANIFEST]  # no worker's temporaries


def test_incremental_build_after_a_forked_full_build_touches_only_what_changed(
    seeded: Catalog, tmp_path: Path
):
    out = tmp_path / "out"
    build_site(seeded, out, base_url=URL, jobs=2)
    add_processed(seeded, "fresh", seed=90, user="ben", created_at="2026-01-01 02:00:00")
    before = stamps(out)
    report = build_site(seeded, out, base_url=URL)
    assert not report.full and not report.failed
    changed = touched(before, stamps(out))
    assert "image/fresh.html" in changed and len(changed) < len(before) / 3
    reference = tmp_path / "reference"
    build_site(seeded, reference, base_url=URL, jobs=1)
    assert files_of(out) == files_of(reference)


def test_a_template_error_in_a_worker_fails_the_build_and_keeps_the_previous_site(
    seeded: Catalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    forked: list[int] = []
    fork = os.fork

    def recording_fork() -> int:
        pid = fork()
        if pid:
            forked.append(pid)
        return pid

    monkeypatch.setattr(os, "fork", recording_fork)
    out = tmp_path / "out"
    build_site(seeded, out, base_url=URL, jobs=2)
    before = files_of(out)
    # The pictures of index page 2 fail: the second window of pages, dealt to the worker.
    theme = seeded.config.root / "themes" / "default" / "templates"
    theme.mkdir(parents=True)
    (theme / "image.html").write_text(
        '{% extends "!default/image.html" %}{% block title %}'
        '{% if page.back_url == "page-2.html" %}{{ image.no_such }}{% endif %}{% endblock %}'
    )
    with pytest.raises(BuildError, match=r"image\.html.*no_such"):
        build_site(Catalog.open(seeded.config.root), out, base_url=URL, jobs=2)
    assert files_of(out) == before
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".out.")]
    assert len(forked) == 2  # one worker for each of the two builds
    for pid in forked:
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # every worker was waited for: no zombies


def test_render_shares_keeps_the_order_and_renders_a_declined_share_here():
    pid = os.getpid()

    def here(share: list[int]) -> tuple[int, list[int]]:
        return os.getpid(), [n * 10 for n in share]

    def forked(share: list[int]) -> tuple[int, list[int]] | None:
        return None if share == [2] else (os.getpid(), [n * 10 for n in share])

    results = parallel.render_shares([[0], [1], [2], [3]], here, forked)
    assert [r[1] for r in results] == [[0], [10], [20], [30]]
    assert results[0][0] == pid and results[2][0] == pid  # the declined one came home
    assert results[1][0] != pid and results[3][0] != pid


def test_a_workers_exception_is_raised_as_itself_and_a_killed_worker_is_named():
    def here(share: str) -> str:
        return share

    def fails(share: str) -> str:
        raise FileNotFoundError(errno.ENOENT, "gone", f"/nowhere/{share}")

    with pytest.raises(FileNotFoundError) as caught:
        parallel.render_shares(["a", "b"], here, fails)
    assert caught.value.filename == "/nowhere/b"

    def dies(share: str) -> str:
        os.kill(os.getpid(), signal.SIGKILL)
        return share

    with pytest.raises(BuildError, match="killed by signal 9"):
        parallel.render_shares(["a", "b"], here, dies)


def test_no_workers_beside_threads_or_for_a_small_build():
    assert parallel.workers(parallel.PARALLEL_FROM - 1) == 1
    assert parallel.workers(5, jobs=3) == 3
    assert parallel.workers(2, jobs=3) == 2  # never more workers than pages
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert parallel.workers(10**6) == 1 and parallel.workers(50, jobs=4) == 1
    finally:
        stop.set()
        thread.join()


def test_build_command_takes_jobs(seeded: Catalog):
    root = seeded.config.root
    done = run_cli("build", "--no-process", "-j", "2", "--json", "--root", root)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["full"] and report["failed"] == [] and report["workers"] == 2
    assert report["images"] == len(list(seeded.gallery.top_rows())) > 30
    bad = run_cli("build", "-j", "0", "--root", root)
    assert bad.returncode == 2 and "-j" in bad.stderr and "Traceback" not in bad.stderr
