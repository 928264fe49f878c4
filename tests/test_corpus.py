"""The real-file corpus (../shared/corpus/files/: 145 pictures and videos from public test
suites, see its README) through `cvgallery add`, `process` and `build`, as a user runs
them: every file gets exactly one line, and no accepted file fails a job."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "files"
STATUSES = ("added", "duplicate", "rejected", "skipped", "error")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CORPUS.is_dir(),
        reason=f"the real-file corpus is not at {CORPUS} (CI has ../shared beside the checkout)",
    ),
]


def line_for(path: Path, lines: list[str]) -> list[str]:
    """The output lines about ``path`` ("added ID  PATH", "skipped PATH: why"...)."""
    text = str(path)
    return [
        line
        for line in lines
        if line.endswith(f" {text}") or f" {text}  " in line or f" {text}: " in line
    ]


def test_the_whole_corpus_is_accounted_for_and_processed(
    site_root: Path, cli_run
) -> None:
    files = sorted(p for p in CORPUS.rglob("*") if p.is_file() or p.is_symlink())
    assert len(files) >= 145

    added = cli_run("add", "--approve", CORPUS, "--root", site_root)
    assert "Traceback" not in added.stderr, added.stderr
    lines = [ln for ln in (added.stdout + added.stderr).splitlines() if ln.startswith(STATUSES)]
    missing = [str(f) for f in files if not line_for(f, lines)]
    twice = [str(f) for f in files if len(line_for(f, lines)) > 1]
    assert (missing, twice) == ([], [])
    assert len(lines) == len(files)  # nothing else reported either
    assert not [ln for ln in lines if ln.startswith("error")]

    def status(rel: str) -> str:
        [line] = line_for(CORPUS / rel, lines)
        return line

    for rel in (  # odd but whole: decoded by Pillow and libjpeg, so accepted
        "pillow/junk_jpeg_header.jpg",
        "pillow/truncated_app14.jpg",
        "sigal/dir1/test1/outdoor.heic",
        "sigal/video/example video.ogv",
        "pillow/sugarshack.mpo",
        "pillow/hopper.psd",
        "pillow/cmx3g8_wv_1998.260_0745_mcidas.tiff",  # 16-bit big-endian
        "synthetic/bomb-10000x10000.png",  # 100 Mpx: under the 250 Mpx limit
    ):
        assert status(rel).startswith("added "), status(rel)
    for rel in (
        "pillow/truncated_jpeg.jpg",
        "libvips/truncated.jpg",
        "synthetic/partial-download.jpg",
    ):
        assert "invalid: truncated file" in status(rel), status(rel)
    assert status("synthetic/bomb-30000x30000.png").endswith(
        "invalid: 900000000 pixels is over the limit of 250000000 (site.toml [images] max_pixels)"
    )

    made = cli_run("process", "--root", site_root)
    assert made.returncode == 0, made.stdout + made.stderr
    with sqlite3.connect(f"file:{site_root / 'cv.db'}?mode=ro", uri=True) as db:
        failed = db.execute(
            "SELECT image_id, stage, error_message FROM jobs WHERE status != 'completed'"
        ).fetchall()
        accepted = db.execute(
            "SELECT id, mime_type FROM images WHERE NOT rejected AND parent_id IS NULL"
        ).fetchall()
        made_by = {
            (image_id, stage)
            for image_id, stage in db.execute("SELECT image_id, stage FROM artifacts")
        }
    assert failed == []
    assert len(accepted) == sum(ln.startswith("added ") for ln in lines)
    without = [
        (image_id, stage)
        for image_id, mime in accepted
        for stage in (
            ("video-frames",)
            if mime.startswith("video/") or mime.startswith("application/")
            else ("web-optimized", "thumbnails-small")
        )
        if (image_id, stage) not in made_by
    ]
    assert without == []

    built = cli_run("build", "--root", site_root)
    assert built.returncode == 0, built.stdout + built.stderr
    assert f"{len(accepted)} images" in built.stdout + built.stderr
