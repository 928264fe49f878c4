"""`publish` to a folder: incremental, ordered, resumable, and never touching what it did not put.

Sites are real builds (build_site over a catalog of processed images) or, where the exact
files matter, plain files. The S3 target has its own file (test_publish_s3.py).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from publish_helpers import (
    add_images,
    broken_links,
    build,
    differing,
    folder_files,
    manifest_of,
    site_files,
    snapshot,
    stalling_script,
    subprocess_env,
)

from cvgallery.catalog import Catalog
from cvgallery.errors import CvgalleryError, PublishError
from cvgallery.publish import MANIFEST_NAME, HeaderRules, make_plan, parse_target, publish
from cvgallery.publish import folder as folder_module
from cvgallery.publish import manifest as manifest_module
from cvgallery.publish import plan as plan_module
from cvgallery.publish import run as run_module
from cvgallery.publish.folder import FolderTarget
from cvgallery.publish.headers import CACHE_DEFAULT, CACHE_IMMUTABLE, Headers
from cvgallery.publish.manifest import Entry
from cvgallery.publish.plan import RANK_ENTRY, RANK_HOME, SourceFile, rank

ENTRY = re.compile(r"^(index|page-\d+)\.html$|^(feed|sitemap)\.xml$")


@pytest.fixture
def catalog(site_root: Path) -> Iterator[Catalog]:
    """A site with four pictures per index page, so a few pictures make several pages."""
    toml = site_root / "site.toml"
    toml.write_text(toml.read_text().replace("per_page = 60", "per_page = 4"))
    with Catalog.open(site_root) as cat:
        yield cat


@pytest.fixture
def site(catalog: Catalog, tmp_path: Path) -> Path:
    add_images(catalog, 0, 9)
    return build(catalog, tmp_path / "out")


class Recording(FolderTarget):
    """A folder target that remembers the order of its operations."""

    def __init__(self, root: Path):
        super().__init__(root)
        self.ops: list[tuple[str, str]] = []

    def put(self, rel: str, path: Path, headers: Headers) -> None:
        self.ops.append(("put", rel))
        super().put(rel, path, headers)

    def delete(self, rels: list[str]) -> list[tuple[str, str]]:
        self.ops += [("delete", rel) for rel in rels]
        return super().delete(rels)


def write_files(folder: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text)
    return folder


# --- the plan ------------------------------------------------------------------------------


def test_plan_orders_new_then_changed_entry_points_last_and_counts_bytes():
    source = {
        rel: SourceFile(len(rel), f"h-{rel}")
        for rel in [
            "index.html",
            "page-2.html",
            "page-10.html",
            "feed.xml",
            "sitemap.xml",
            "image/a.html",
            "image/new.html",
            "media/0123456789abcdef0123.jpeg",
            "static/style.0123456789.css",
            "about.html",
        ]
    }
    target = {
        "index.html": Entry("old", 10),
        "page-2.html": Entry("old", 11),
        "feed.xml": Entry("h-feed.xml", 8),  # unchanged
        "sitemap.xml": Entry(None, 11),  # pending from a killed run: sent again
        "image/a.html": Entry("old", 12),
        "about.html": Entry("h-about.html", 99),  # same hash, other size: changed
        "image/gone.html": Entry("x", 5),
        MANIFEST_NAME: Entry("x", 1),  # never planned as a file of the site
    }
    plan = make_plan(source, target)
    assert plan.new == [
        "media/0123456789abcdef0123.jpeg",
        "static/style.0123456789.css",
        "image/new.html",
        "page-10.html",
    ]
    assert plan.changed == [
        "about.html",
        "image/a.html",
        "page-2.html",
        "sitemap.xml",
        "index.html",
    ]
    assert plan.unchanged == ["feed.xml"] and plan.delete == ["image/gone.html"]
    assert [len(p) for p in plan.phases()] == [2, 1, 1, 2, 2, 1]
    assert plan.sizes() == {
        "upload": sum(len(p) for p in plan.uploads),
        "unchanged": len("feed.xml"),
        "delete": 5,
    }
    document = plan.as_dict()
    assert document["counts"] == {
        "new": 4,
        "changed": 5,
        "unchanged": 1,
        "delete": 1,
        "problems": 0,
    }
    assert document["delete"] == ["image/gone.html"] and document["unchanged"] == ["feed.xml"]
    assert [rank(p) for p in ("page-3.html", "image/page-3.html", "user/x.html", "a.css")] == [
        RANK_ENTRY,
        1,
        1,
        0,
    ]


def test_plan_of_a_walk_keeps_what_could_not_be_read():
    """make_plan reads the problems once the walk is over: a walk reports them as it goes."""
    problems: list[tuple[str, str]] = []

    def walk() -> Iterator[tuple[str, SourceFile]]:
        yield "index.html", SourceFile(5, "h1")
        problems.append(("user", "cannot list folder: Permission denied"))
        yield "media/0123456789abcdef0123.jpeg", SourceFile(3, "name:0123456789abcdef0123")

    target = {
        "index.html": Entry("h1", 5),
        "user/ann.html": Entry("u", 7),  # in the folder that could not be listed: kept
        "image/gone.html": Entry("g", 9),
    }
    plan = make_plan(walk(), target, problems)
    assert plan.new == ["media/0123456789abcdef0123.jpeg"] and not plan.changed
    assert plan.unchanged == ["index.html"] and plan.delete == ["image/gone.html"]
    assert plan.problems == problems
    assert plan.sizes() == {"upload": 3, "unchanged": 5, "delete": 9}
    media = "media/0123456789abcdef0123.jpeg"
    assert plan.source == {media: SourceFile(3, "name:0123456789abcdef0123")}


def test_manifest_is_written_in_batches_as_one_json_document(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(manifest_module, "DUMP_BATCH", 3)
    entries = {f"image/p{n}\u00e9.html": Entry(None if n % 4 else f"h{n}", n) for n in range(10)}
    data = manifest_module.dump_manifest(entries)
    # byte for byte what one json.dumps of the whole document gives (what earlier versions
    # wrote and read), so targets published before and after read the same
    document = json.loads(data)
    assert data == json.dumps(document, separators=(",", ":")).encode()
    assert list(document["files"]) == sorted(entries) and document["format"] == 1
    assert manifest_module.parse_manifest(data, "x") == entries
    assert manifest_module.dump_manifest({}).endswith(b'"files":{}}')
    # an entry with more fields than these two (a later version's) still reads
    extra = b'{"format":1,"files":{"a.html":{"hash":"h","size":1,"mtime":5}}}'
    assert manifest_module.parse_manifest(extra, "x") == {"a.html": Entry("h", 1)}
    for bad in ('{"size": "1", "hash": "h"}', '{"hash": 3, "size": 1}', '{"hash": "h"}', "7"):
        document_text = f'{{"format": 1, "files": {{"a.html": {bad}}}}}'.encode()
        with pytest.raises(PublishError, match="entry for 'a.html' is malformed"):
            manifest_module.parse_manifest(document_text, "x")


def test_scan_reuses_build_hashes_and_media_names_without_reading(
    site: Path, monkeypatch: pytest.MonkeyPatch
):
    (site / ".hidden").write_text("editor swap file")
    write_files(site, {".well-known/security.txt": "Contact: x", "robots.txt": "User-agent: *"})
    read: list[str] = []
    real = plan_module.hash_file
    monkeypatch.setattr(plan_module, "hash_file", lambda p: read.append(str(p)) or real(p))
    files, problems = plan_module.scan_source(site)
    assert not problems
    assert set(files) == set(site_files(site)) | {".well-known/security.txt"}
    # only the two files the build did not write are read
    assert sorted(Path(p).name for p in read) == ["robots.txt", "security.txt"]
    assert all(f.hash.startswith("name:") for rel, f in files.items() if rel.startswith("media/"))
    # the build's digest and our own agree, so a file hashes the same from either source
    rehashed, _ = plan_module.scan_source(site, rehash=True)
    assert rehashed["index.html"] == files["index.html"]


# --- publishing to a folder --------------------------------------------------------------


def test_first_publish_then_noop(site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    dest = tmp_path / "deploy"
    seen: list[tuple[int, int, int, int]] = []
    report = publish(site, str(dest), on_progress=lambda *a: seen.append(a))
    expected = site_files(site)
    assert report.ok and report.uploaded == len(expected) and report.deleted == 0
    assert report.uploaded_bytes == sum(len(d) for d in expected.values())
    assert folder_files(dest) == expected
    assert seen[-1] == (len(expected), len(expected), report.uploaded_bytes, report.uploaded_bytes)
    assert not (dest / ".cvgallery-build.json").exists()
    manifest = manifest_of((dest / MANIFEST_NAME).read_bytes())
    assert set(manifest) == set(expected) and all(e["hash"] for e in manifest.values())

    # A no-op reads no file of the site and writes nothing at the target.
    before = (dest / MANIFEST_NAME).stat().st_mtime_ns
    monkeypatch.setattr(plan_module, "hash_file", lambda p: pytest.fail(f"read {p}"))
    again = publish(site, str(dest))
    assert again.ok and (again.uploaded, again.deleted, again.unchanged) == (0, 0, len(expected))
    assert (dest / MANIFEST_NAME).stat().st_mtime_ns == before
    assert again.line().startswith(f"{dest}: 0 uploaded (0 B), 0 deleted, {len(expected)} unchanged")


def test_approval_sends_only_what_changed_and_rejection_deletes_last(
    catalog: Catalog, site: Path, tmp_path: Path
):
    dest = tmp_path / "deploy"
    publish(site, str(dest))
    v1 = site_files(snapshot(site, tmp_path / "v1"))

    add_images(catalog, 9, 1)  # one new picture: its media, its page, the pages listing it
    build(catalog, site)
    v2 = site_files(site)
    target = Recording(dest)
    report = publish(site, target, jobs=4)
    sent = {rel for op, rel in target.ops if op == "put"}
    assert sent == differing(v1, v2) and report.uploaded == len(sent)
    assert any(rel.startswith("media/") for rel in set(v2) - set(v1))
    assert report.deleted == len(set(v1) - set(v2))
    assert folder_files(dest) == v2

    catalog.images.reject(["pic004"])
    build(catalog, site)
    v3 = site_files(site)
    target = Recording(dest)
    report = publish(site, target, jobs=4)
    gone = set(v2) - set(v3)
    assert "image/pic004.html" in gone and report.deleted == len(gone)
    assert [rel for op, rel in target.ops if op == "delete"] == sorted(gone)
    assert target.ops[-len(gone) :] == [("delete", rel) for rel in sorted(gone)]  # deletions last
    assert folder_files(dest) == v3 and not broken_links(v3)
    # (the link check does see the pictures: without media/ every page is broken)
    assert broken_links({rel: d for rel, d in v3.items() if not rel.startswith("media/")})


def test_upload_order_is_new_first_entry_points_last(site: Path, catalog: Catalog, tmp_path: Path):
    dest = tmp_path / "deploy"
    first = Recording(dest)
    publish(site, first, jobs=4)
    ranks = [rank(rel) for _op, rel in first.ops]
    assert ranks == sorted(ranks) and first.ops[-1] == ("put", "index.html")

    add_images(catalog, 9, 5)  # a fourth index page appears; every index page changes
    catalog.images.reject(["pic001"])
    build(catalog, site)
    plan = publish(site, str(dest), dry_run=True).plan
    target = Recording(dest)
    publish(site, target, jobs=4)
    puts = [rel for op, rel in target.ops if op == "put"]
    deletes = [i for i, (op, _rel) in enumerate(target.ops) if op == "delete"]
    new, changed = set(plan.new), set(plan.changed)
    assert "page-4.html" in new and "index.html" in changed and deletes
    assert puts[: len(new)] and set(puts[: len(new)]) == new  # every new file before any change
    assert [rank(r) for r in puts[: len(new)]] == sorted(rank(r) for r in new)
    changed_ranks = [rank(r) for r in puts[len(new) :]]
    assert changed_ranks == sorted(changed_ranks) and changed_ranks[-1] == RANK_HOME
    assert puts[-1] == "index.html"
    assert min(deletes) == len(puts)  # deletions after every upload


def test_dry_run_changes_nothing_and_lists_every_path(site: Path, tmp_path: Path):
    dest = tmp_path / "deploy"
    report = publish(site, str(dest), dry_run=True)
    assert not dest.exists() and report.ok and report.uploaded == 0
    document = report.as_dict()
    assert document["dry_run"] and set(document["plan"]["new"]) == set(site_files(site))
    assert report.line().startswith(f"{dest}: dry run: would upload {len(site_files(site))} files")

    publish(site, str(dest))
    (site / "robots.txt").write_text("User-agent: *\n")
    (site / "user" / "ann.html").unlink()
    before = folder_files(dest), (dest / MANIFEST_NAME).read_bytes()
    report = publish(site, str(dest), dry_run=True)
    assert report.plan.new == ["robots.txt"] and report.plan.delete == ["user/ann.html"]
    assert (folder_files(dest), (dest / MANIFEST_NAME).read_bytes()) == before


def test_max_deletes_refuses_before_any_change(site: Path, catalog: Catalog, tmp_path: Path):
    dest = tmp_path / "deploy"
    publish(site, str(dest))
    catalog.images.reject(["pic001", "pic002", "pic003"])
    add_images(catalog, 20, 1)  # uploads are pending too: none of them may start
    build(catalog, site)
    count = len(publish(site, str(dest), dry_run=True).plan.delete)
    assert count >= 6  # three pages, their media, and whatever index page fell away
    before = folder_files(dest), (dest / MANIFEST_NAME).read_bytes()
    limit = count - 1
    with pytest.raises(PublishError, match=rf"deletes {count} files, more than the limit of {limit}"):
        publish(site, str(dest), max_deletes=limit)
    assert (folder_files(dest), (dest / MANIFEST_NAME).read_bytes()) == before
    dry = publish(site, str(dest), max_deletes=limit, dry_run=True)
    assert not dry.ok and dry.refusal and "would refuse" in dry.line()
    report = publish(site, str(dest), max_deletes=-1)
    assert report.ok and report.deleted == count and folder_files(dest) == site_files(site)


def test_first_publish_into_a_folder_with_other_files_needs_force(site: Path, tmp_path: Path):
    dest = write_files(tmp_path / "deploy", {"CNAME": "gallery.example.org\n", "old.html": "x"})
    write_files(dest, {".git/HEAD": "ref: refs/heads/main\n", ".git/objects/ab/cd": "blob"})
    theirs = folder_files(dest)
    with pytest.raises(PublishError, match="no cvgallery publish manifest.*--force"):
        publish(site, str(dest))
    assert folder_files(dest) == theirs and not (dest / MANIFEST_NAME).exists()

    report = publish(site, str(dest), force=True)
    assert report.ok and folder_files(dest) == {**theirs, **site_files(site)}
    # a later publish deletes what it put there and nothing else
    (site / "user" / "ben.html").unlink()
    (site / "CNAME").write_text("would be ours now\n")
    assert publish(site, str(dest)).deleted == 1
    assert folder_files(dest) == {**theirs, **site_files(site)}
    assert (dest / ".git" / "objects" / "ab" / "cd").read_text() == "blob"


def test_a_checkout_holding_only_git_counts_as_empty(site: Path, tmp_path: Path):
    dest = write_files(tmp_path / "pages", {".git/HEAD": "ref: refs/heads/gh-pages\n"})
    assert publish(site, str(dest)).ok
    assert (dest / ".git" / "HEAD").is_file() and (dest / "index.html").is_file()


def test_published_files_are_readable_by_another_user_under_umask_022(site: Path):
    old_umask = os.umask(0o022)
    # pytest's tmp_path is private (0700); the other user needs a folder it may enter
    base = Path(tempfile.mkdtemp(prefix="cvg-publish-"))
    try:
        base.chmod(0o755)
        dest = base / "www"
        publish(site, str(dest))
        for path in dest.rglob("*"):
            mode = stat.S_IMODE(path.stat().st_mode)
            if path.name == MANIFEST_NAME:
                continue
            assert mode == (0o755 if path.is_dir() else 0o644), path
        picture = next((dest / "media").iterdir())
        if os.geteuid() == 0:
            # a system program: the venv's python lives under /root, which nobody may enter
            nobody = subprocess.run(["cat", str(picture)], user=65534, group=65534, capture_output=True)
            assert nobody.returncode == 0, nobody.stderr
            assert nobody.stdout == picture.read_bytes()
    finally:
        os.umask(old_umask)
        shutil.rmtree(base, ignore_errors=True)


def test_killed_publish_leaves_no_broken_links_and_a_rerun_completes(
    catalog: Catalog, site: Path, tmp_path: Path
):
    dest = tmp_path / "deploy"
    publish(site, str(dest))
    add_images(catalog, 9, 3)
    catalog.images.reject(["pic002"])
    build(catalog, site)
    plan = publish(site, str(dest), dry_run=True).plan
    assert plan.new and plan.changed and plan.delete

    # Stop dead at the first changed file: new files are up, no entry point changed yet.
    script = stalling_script(tmp_path)
    stall_at = len(plan.new) + 1
    proc = subprocess.Popen(
        [sys.executable, str(script), str(site), str(dest), str(stall_at)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=subprocess_env(),
    )
    assert proc.stdout is not None and proc.stderr is not None
    line = proc.stdout.readline()
    proc.kill()
    proc.wait(timeout=30)
    assert line == f"stalled at {plan.changed[0]}\n", proc.stderr.read()

    files = folder_files(dest)
    assert not broken_links(files)
    manifest = manifest_of((dest / MANIFEST_NAME).read_bytes())
    assert set(files) <= set(manifest)  # nothing is there that the manifest does not own
    assert all(manifest[rel]["hash"] is None for rel in plan.changed)  # not confirmed yet
    assert set(plan.delete) <= set(files)  # deletions had not started

    report = publish(site, str(dest))
    assert report.ok and report.deleted == len(plan.delete)
    assert folder_files(dest) == site_files(site)
    assert all(e["hash"] for e in manifest_of((dest / MANIFEST_NAME).read_bytes()).values())
    assert publish(site, str(dest)).uploaded == 0


def test_progress_is_recorded_in_the_manifest_during_a_long_run(
    site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(run_module, "CHECKPOINT_SECONDS", 0.0)  # as if every upload were slow
    written: list[dict[str, dict[str, object]]] = []

    class Watched(FolderTarget):
        def write_manifest(self, data: bytes) -> None:
            written.append(manifest_of(data))
            super().write_manifest(data)

    report = publish(site, Watched(tmp_path / "deploy"), jobs=1)
    assert report.ok and len(written) > 3
    assert all(e["hash"] is None for e in written[0].values())  # everything pending first
    middle = written[len(written) // 2]
    done = [rel for rel, e in middle.items() if e["hash"]]
    assert 0 < len(done) < len(middle) == report.uploaded
    assert all(e["hash"] for e in written[-1].values())


def test_uploads_in_flight_are_a_few_per_thread_not_the_whole_phase(
    site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """A Future per file of a 300,000-file phase was most of a first publish's memory."""
    outstanding, most = [0], [0]
    lock = threading.Lock()

    class Counting(ThreadPoolExecutor):
        def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
            with lock:
                outstanding[0] += 1
                most[0] = max(most[0], outstanding[0])
            future = super().submit(fn, *args, **kwargs)
            future.add_done_callback(lambda _f: _done())
            return future

    def _done() -> None:
        with lock:
            outstanding[0] -= 1

    monkeypatch.setattr(run_module, "ThreadPoolExecutor", Counting)
    monkeypatch.setattr(run_module, "IN_FLIGHT_PER_JOB", 2)
    report = publish(site, str(tmp_path / "deploy"), jobs=2)
    assert report.ok and max(len(p) for p in report.plan.phases()) > 4
    assert 0 < most[0] <= 4
    assert folder_files(tmp_path / "deploy") == site_files(site)


def test_failed_upload_holds_back_later_phases_and_the_next_run_finishes(
    catalog: Catalog, site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    dest = tmp_path / "deploy"
    publish(site, str(dest))
    add_images(catalog, 9, 2)
    catalog.images.reject(["pic000"])
    build(catalog, site)
    plan = publish(site, str(dest), dry_run=True).plan
    bad = plan.new[0]
    assert bad.startswith("media/")
    target = FolderTarget(dest)
    real_put = target.put

    def put(rel: str, path: Path, headers: Headers) -> None:
        if rel == bad:
            raise PermissionError(13, "Permission denied")
        real_put(rel, path, headers)

    monkeypatch.setattr(target, "put", put)
    report = publish(site, target)
    assert not report.ok and report.failures == [(bad, "Permission denied")]
    assert report.deleted == 0 and report.skipped > 0
    assert "1 failed" in report.line() and "held back" in report.line()
    assert not broken_links(folder_files(dest))
    assert manifest_of((dest / MANIFEST_NAME).read_bytes())[bad]["hash"] is None

    report = publish(site, str(dest))
    assert report.ok and folder_files(dest) == site_files(site)


# --- targets and safety rails -----------------------------------------------------------------


def test_manifest_naming_a_path_outside_the_target_is_refused(site: Path, tmp_path: Path):
    dest = tmp_path / "deploy"
    publish(site, str(dest))
    outside = write_files(tmp_path, {"precious.txt": "keep me"}) / "precious.txt"
    (dest / MANIFEST_NAME).write_text(
        '{"format": 1, "files": {"../precious.txt": {"hash": "x", "size": 7}}}'
    )
    with pytest.raises(PublishError, match="unsafe path '../precious.txt'"):
        publish(site, str(dest))
    (dest / MANIFEST_NAME).write_text("not json")
    with pytest.raises(PublishError, match="not valid JSON.*--force"):
        publish(site, str(dest))
    assert outside.read_text() == "keep me"
    assert publish(site, str(dest), force=True).ok  # replaced; nothing deleted


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "no publish target"),
        ("s3://", "no bucket name"),
        ("s3:///prefix", "no bucket name"),
        ("s3://bad bucket/x", "not a valid bucket name"),
        ("s3://bucket/a/../b", "may not contain"),
        ("gs://bucket", "unsupported target"),
        ("https://example.org/x", "unsupported target"),
    ],
)
def test_bad_targets_are_named(text: str, message: str):
    with pytest.raises(PublishError, match=message) as info:
        parse_target(text)
    assert isinstance(info.value, CvgalleryError) and info.value.exit_code == 2


def test_s3_without_boto3_names_the_extra(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "boto3", None)
    with pytest.raises(PublishError, match=r"pip install 'cvgallery\[s3\]'"):
        parse_target("s3://bucket/site")


def test_unusable_targets_are_refused(site: Path, tmp_path: Path):
    for dest in (site, site / "deploy", tmp_path):
        with pytest.raises(PublishError, match="overlap"):
            publish(site, str(dest))
    with pytest.raises(PublishError, match="no built site"):
        publish(tmp_path / "missing", str(tmp_path / "deploy"))
    (tmp_path / "a-file").write_text("not a folder")
    with pytest.raises(PublishError, match="exists and is not a folder"):
        publish(site, str(tmp_path / "a-file"))
    with pytest.raises(PublishError, match="a-file/deploy/.cvgallery-publish.json: cannot read"):
        publish(site, str(tmp_path / "a-file" / "deploy"))


def test_a_full_disk_is_an_error_not_a_traceback(
    site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    def full(dest: Path, data: bytes) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(folder_module.store, "write_bytes", full)
    with pytest.raises(PublishError, match="cannot write the publish manifest.*No space left"):
        publish(site, str(tmp_path / "deploy"))


def test_header_rules():
    rules = HeaderRules()
    cases = {
        "index.html": ("text/html; charset=utf-8", CACHE_DEFAULT),
        "feed.xml": ("application/atom+xml; charset=utf-8", CACHE_DEFAULT),
        "sitemap.xml": ("application/xml; charset=utf-8", CACHE_DEFAULT),
        "static/style.0123456789.css": ("text/css; charset=utf-8", CACHE_IMMUTABLE),
        "static/gallery.0123456789.js": ("text/javascript; charset=utf-8", CACHE_IMMUTABLE),
        "static/logo.svg": ("image/svg+xml", CACHE_DEFAULT),
        "media/0123456789abcdef0123.JPG": ("image/jpeg", CACHE_IMMUTABLE),
        "media/0123456789abcdef0123.avif": ("image/avif", CACHE_IMMUTABLE),
        "media/0123456789abcdef0123.webm": ("video/webm", CACHE_IMMUTABLE),
        "CNAME": ("application/octet-stream", CACHE_DEFAULT),
    }
    assert {rel: tuple(vars(rules.for_path(rel)).values()) for rel in cases} == cases
    custom = HeaderRules(
        cache_default="no-cache", content_types={".jpeg": "image/x-test", "feed.xml": "text/xml"}
    )
    assert custom.for_path("a/b.jpeg") == Headers("image/x-test", "no-cache")
    assert custom.for_path("feed.xml").content_type == "text/xml"
