"""Incremental and atomic builds: no-op rebuilds write nothing, failures leave the old site."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from publish_helpers import broken_links
from site_helpers import add_processed, page_files

from cvgallery.catalog import Catalog
from cvgallery.errors import BuildError
from cvgallery.site import build_site
from cvgallery.site import pages as pages_module
from cvgallery.site.output import MANIFEST


@pytest.fixture
def built(catalog: Catalog, tmp_path: Path) -> tuple[Catalog, Path]:
    for n in range(12):
        add_processed(
            catalog,
            f"p{n:02d}",
            seed=n,
            user="ann" if n % 2 else "ben",
            created_at=f"2026-02-01 10:00:{n:02d}",
        )
    out = tmp_path / "out"
    build_site(catalog, out)
    return catalog, out


def test_noop_rebuild_writes_nothing(built: tuple[Catalog, Path]):
    catalog, out = built
    before = page_files(out)
    inode = out.stat().st_ino
    report = build_site(catalog, out)
    assert report.skipped and report.written == 0
    assert page_files(out) == before  # same content, same mtimes, manifest included
    assert out.stat().st_ino == inode  # not even swapped


def test_change_rewrites_only_what_changed_and_drops_unapproved(built: tuple[Catalog, Path]):
    catalog, out = built
    before = page_files(out)
    gone = catalog.artifacts.get("p03", "web-optimized")["sha256"][:20]
    catalog.images.reject(["p03"])
    report = build_site(catalog, out)
    after = page_files(out)
    assert not report.skipped and report.kept > 0
    assert "image/p03.html" not in after
    assert not any(gone in name for name in after)
    # an image page whose neighbours did not change keeps its bytes and its mtime
    assert after["image/p10.html"] == before["image/p10.html"]
    # the neighbours of p03 now link past it
    assert b"../image/p04.html" in after["image/p02.html"][0]
    assert after["image/p02.html"] != before["image/p02.html"]
    # media of the other images are the same files
    kept_media = [k for k in before if k.startswith("media/") and k in after]
    assert kept_media and all(after[k] == before[k] for k in kept_media)


def test_content_and_config_changes_are_not_mistaken_for_noops(built: tuple[Catalog, Path]):
    catalog, out = built
    root = catalog.config.root
    (root / "content").mkdir()
    (root / "content" / "about.md").write_text("# About\n")
    assert not build_site(catalog, out).skipped
    assert (out / "about.html").is_file()
    assert build_site(catalog, out).skipped
    (root / "content" / "about.md").unlink()
    assert not build_site(catalog, out).skipped
    assert not (out / "about.html").exists()
    report = build_site(catalog, out, base_url="https://x.example")
    assert not report.skipped and "https://x.example/" in (out / "sitemap.xml").read_text()


def test_template_error_names_template_and_line_and_keeps_old_site(
    built: tuple[Catalog, Path],
):
    catalog, out = built
    before = page_files(out)
    templates = catalog.config.root / "themes" / "default" / "templates"
    templates.mkdir(parents=True)
    (templates / "user.html").write_text(
        '{% extends "!default/base.html" %}\n{% block main %}\n<p>\n{{ user.nope.deeper }}\n'
        "</p>\n{% endblock %}\n"
    )
    with pytest.raises(BuildError) as err:
        build_site(catalog, out)
    message = str(err.value)
    assert "user.html" in message and "line 4" in message
    assert page_files(out) == before
    assert [p.name for p in out.parent.iterdir() if p.name.startswith(".out.")] == []


def test_template_syntax_error_names_line(built: tuple[Catalog, Path]):
    catalog, out = built
    templates = catalog.config.root / "themes" / "default" / "templates"
    templates.mkdir(parents=True)
    (templates / "page.html").write_text("line one\n{% if %}\n")
    (catalog.config.root / "content").mkdir()
    (catalog.config.root / "content" / "x.md").write_text("# X\n")
    with pytest.raises(BuildError, match=r"page\.html, line 2"):
        build_site(catalog, out)


def test_interrupted_build_leaves_previous_site(built, monkeypatch: pytest.MonkeyPatch):
    catalog, out = built
    before = page_files(out)
    catalog.images.reject(["p05"])
    real = pages_module.Theme.render
    calls = {"n": 0}

    def render_then_die(self, name, context):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return real(self, name, context)

    monkeypatch.setattr(pages_module.Theme, "render", render_then_die)
    with pytest.raises(KeyboardInterrupt):
        build_site(catalog, out)
    assert page_files(out) == before
    assert [p.name for p in out.parent.iterdir() if p.name.startswith(".out.")] == []


def test_killed_build_leftovers_are_cleaned_and_site_restored(built: tuple[Catalog, Path]):
    catalog, out = built
    # a build killed between the two renames of a fallback swap: the site sits in .old-
    dead_pid = 2**22 + 12345
    stale_new = out.parent / f".out.new-{dead_pid}"
    stale_new.mkdir()
    (stale_new / "half.html").write_text("half")
    retired = out.parent / f".out.old-{dead_pid}"
    os.rename(out, retired)
    catalog.images.reject(["p01"])
    report = build_site(catalog, out)
    assert report.images == 11 and report.kept > 0  # linked from the restored site
    assert not stale_new.exists() and not retired.exists()
    assert (out / MANIFEST).is_file()


def test_sigkilled_build_subprocess_leaves_site_whole(catalog: Catalog, tmp_path: Path):
    for n in range(300):
        add_processed(catalog, f"k{n:03d}", seed=n, size=(16, 12))
    out = tmp_path / "out"
    build_site(catalog, out)
    before = page_files(out)
    catalog.images.reject([f"k{n:03d}" for n in range(0, 300, 2)])
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cvgallery",
            "build",
            "--no-process",
            "--root",
            str(catalog.config.root),
            "--output",
            str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    staging = None
    deadline = time.monotonic() + 60
    while staging is None and proc.poll() is None and time.monotonic() < deadline:
        staging = next((p for p in tmp_path.iterdir() if p.name.startswith(".out.new-")), None)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # An incremental build: killed while rendering, the site is untouched; while renaming
    # or deleting, partly new; either way every link of every page resolves.
    files = page_files(out)
    assert not broken_links({rel: data for rel, (data, _mtime) in files.items()})
    if files == before:
        assert len([k for k in files if k.startswith("image/")]) == 300
    assert (out / MANIFEST).is_file() and (out / "index.html").is_file()
    build_site(catalog, out)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.")] == []
    assert len([k for k in page_files(out) if k.startswith("image/")]) == 150


def test_new_video_frame_is_not_mistaken_for_a_noop(built: tuple[Catalog, Path]):
    """Derived files (video frames) come from their own query: they count as a change too."""
    catalog, out = built
    add_processed(
        catalog,
        "p04-frame-1",
        seed=40,
        parent_id="p04",
        approved=False,
        stages=("video-frames",),
        blurhash=None,
    )
    report = build_site(catalog, out)
    assert not report.skipped
    assert 'alt="p04-frame-1"' in (out / "image" / "p04.html").read_text()


def test_failed_image_is_retried_by_the_next_build(built: tuple[Catalog, Path]):
    """A build that left an image out is not recorded as up to date: the next one retries."""
    catalog, built_out = built
    out = built_out.parent / "fresh"  # no previous build to link the files from
    row = catalog.artifacts.get("p07", "web-optimized")
    web = catalog.art_dir / row["file_path"]
    data = web.read_bytes()
    web.unlink()
    (catalog.art_dir / catalog.artifacts.get("p07", "thumbnails-small")["file_path"]).unlink()
    first = build_site(catalog, out)
    assert len(first.failed) == 1 and "p07" in first.failed[0]
    second = build_site(catalog, out)
    assert not second.skipped and len(second.failed) == 1  # still reported, not "up to date"
    web.write_bytes(data)
    third = build_site(catalog, out)
    assert not third.failed and (out / "image" / "p07.html").is_file()
    assert build_site(catalog, out).skipped


def test_unreadable_content_page_is_reported_and_the_rest_built(built: tuple[Catalog, Path]):
    catalog, out = built
    content = catalog.config.root / "content"
    content.mkdir()
    (content / "about.md").write_text("# About\n")
    (content / "broken.md").write_bytes(b"# Caf\xe9 latin-1, not UTF-8\n")
    report = build_site(catalog, out)
    assert len(report.failed) == 1
    assert "broken.md" in report.failed[0] and "cannot read Markdown" in report.failed[0]
    assert (out / "about.html").is_file() and not (out / "broken.html").exists()
    assert len(list((out / "image").iterdir())) == 12
    again = build_site(catalog, out)
    assert not again.skipped and len(again.failed) == 1  # reported again, not "up to date"
    (content / "broken.md").write_text("# Café\n")
    fixed = build_site(catalog, out)
    assert not fixed.failed and (out / "broken.html").is_file()
