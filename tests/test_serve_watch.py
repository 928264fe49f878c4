"""The preview as a library: debounced builds, one build thread, the HTTP side, reload.

Real servers on 127.0.0.1 (port 0), real watchers on tmp_path folders; builders are
fakes that render through the real OutputTree (staging folder, atomic swap) unless the
test is about the real build.
"""

from __future__ import annotations

import gzip
import http.client
import os
import re
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from PIL import Image
from site_helpers import add_processed

from cvgallery.catalog import Catalog
from cvgallery.serve import (
    Preview,
    Request,
    Response,
    catalog_files,
    make_builder,
    watched_paths,
)
from cvgallery.serve.watcher import BuildLoop, SiteWatcher
from cvgallery.site.output import OutputTree


@dataclass
class FakeSite:
    """A builder that renders ``pages`` into ``output`` as cvgallery's build does; when
    ``gate`` is set, a build waits for it after rendering, before swapping in."""

    output: Path
    pages: dict[str, str] = field(default_factory=lambda: {"index.html": "<p>v1</p>"})
    gate: threading.Event | None = None
    waiting: threading.Event = field(default_factory=threading.Event)
    builds: int = 0

    def __call__(self) -> bool:
        self.builds += 1
        tree = OutputTree(self.output)
        for rel, text in self.pages.items():
            tree.write(rel, text.encode())
        tree.write_manifest({"fingerprint": None})
        if self.gate is not None:
            self.waiting.set()
            assert self.gate.wait(30)
        tree.commit()
        return True


def html(body: str) -> str:
    return f"<!doctype html><html><head><title>t</title></head><body>{body}</body></html>"


def get(
    preview: Preview, path: str, headers: dict[str, str] | None = None, method: str = "GET"
) -> tuple[int, dict[str, str], bytes]:
    """One raw request: the path goes out exactly as written (no client normalising)."""
    conn = http.client.HTTPConnection("127.0.0.1", preview.server.server_port, timeout=10)
    try:
        conn.request(method, path, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Preview, FakeSite]]:
    fake = FakeSite(tmp_path / "out", pages={"index.html": html("<p>v1</p>")})
    preview = Preview(fake.output, fake, port=0, say=lambda _m: None)
    assert preview.build_now()
    with preview:
        yield preview, fake


# -- the build loop ------------------------------------------------------------------------


def test_a_burst_of_changes_makes_at_most_three_builds():
    builds: list[float] = []
    loop = BuildLoop(lambda: builds.append(time.monotonic()) is None, quiet=0.3)
    loop.start()
    try:
        for _ in range(40):  # forty events, a few milliseconds apart, as a copy makes them
            loop.changed()
            time.sleep(0.005)
        assert loop.wait_settled(quiet_for=0.6)
    finally:
        loop.stop()
        assert loop.join(10)
    assert 1 <= len(builds) <= 3
    assert loop.rebuilds == len(builds)


def test_changes_during_a_build_make_exactly_one_more(tmp_path: Path):
    fake = FakeSite(tmp_path / "out", gate=threading.Event())
    loop = BuildLoop(fake, quiet=0.05)
    loop.start()
    try:
        loop.changed()
        assert fake.waiting.wait(10)
        for _ in range(10):
            loop.changed()
        fake.gate.set()  # type: ignore[union-attr]
        assert loop.wait_settled(quiet_for=0.5)
    finally:
        loop.stop()
        assert loop.join(10)
    assert fake.builds == 2


def test_a_catalog_change_counts_only_when_the_files_changed(tmp_path: Path):
    db = tmp_path / "cv.db"
    db.write_bytes(b"one")
    calls: list[int] = []
    from cvgallery.serve.watcher import file_stamp

    loop = BuildLoop(lambda: calls.append(1) is None, catalog_stamp=lambda: file_stamp([db]))
    loop.build_now()  # takes the stamp the next changes are compared with
    loop.start()
    try:
        loop.changed(catalog=True)  # opened and closed by someone: same bytes, same stamp
        assert loop.wait_settled(quiet_for=0.5)
        assert calls == [1]
        db.write_bytes(b"two, longer")
        loop.changed(catalog=True)
        assert loop.wait_settled(quiet_for=0.5)
        assert calls == [1, 1]
    finally:
        loop.stop()
        loop.join(10)


# -- the real build, watched ---------------------------------------------------------------


def real_preview(root: Path, process: bool) -> Preview:
    output = root / "art" / "gallery-html"
    lines: list[str] = []
    preview = Preview(
        output,
        make_builder(root, output, lines.append, process),
        port=0,
        watch=watched_paths(root),
        catalog=catalog_files(root),
        say=lines.append,
    )
    preview.lines = lines  # type: ignore[attr-defined]
    return preview


def test_forty_pictures_dropped_make_at_most_three_rebuilds(site_root: Path, tmp_path: Path):
    pictures = tmp_path / "camera"
    pictures.mkdir()
    for n in range(40):
        Image.new("RGB", (64, 48), (n * 6, 255 - n * 6, 90)).save(pictures / f"shot{n:02}.jpeg")
    preview = real_preview(site_root, process=True)
    preview.watch()
    preview.build_now()
    with preview:
        assert preview.builds.wait_settled(quiet_for=1.0)
        before = preview.builds.rebuilds
        for picture in sorted(pictures.iterdir()):
            shutil.copy(picture, site_root / "art" / "upstream" / picture.name)
        with Catalog.open(site_root) as catalog:
            deadline = time.monotonic() + 120
            while catalog.stats()["images"]["total"] < 40 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert catalog.stats()["images"]["total"] == 40
        assert preview.builds.wait_settled(quiet_for=1.5, timeout=120)
        rebuilds = preview.builds.rebuilds - before
    added = [line for line in preview.lines if line.startswith("added ")]  # type: ignore[attr-defined]
    assert len(added) == 40
    assert 1 <= rebuilds <= 3, preview.lines  # type: ignore[attr-defined]


def test_the_builds_own_catalog_use_does_not_loop(catalog: Catalog):
    root = catalog.config.root
    add_processed(catalog, "a", seed=1)
    add_processed(catalog, "b", seed=2)
    preview = real_preview(root, process=True)
    preview.watch()
    preview.build_now()
    with preview:
        assert preview.builds.wait_settled(quiet_for=1.5)
        settled = preview.builds.rebuilds
        assert settled <= 1  # one more when the first build wrote to cv.db, then quiet
        with Catalog.open(root) as reader:  # another command only reading
            reader.stats()
        assert preview.builds.wait_settled(quiet_for=1.5)
        assert preview.builds.rebuilds == settled
        generation = preview.reload.generation
        catalog.images.reject(["a"])  # a real change: rebuilt, and pages told to reload
        deadline = time.monotonic() + 60
        while preview.reload.generation == generation and time.monotonic() < deadline:
            time.sleep(0.1)
        status, _headers, _body = get(preview, "/image/a.html")
        assert status == 404
        assert get(preview, "/image/b.html")[0] == 200


def test_a_watched_folder_made_later_is_watched(tmp_path: Path):
    seen: list[Path] = []
    got = threading.Event()

    def on_change(paths: set[Path]) -> None:
        seen.extend(paths)
        if any(p.name == "about.md" for p in paths):
            got.set()

    content = tmp_path / "content"
    watcher = SiteWatcher([content, tmp_path / "site.toml"], on_change, say=lambda _m: None)
    watcher.start()
    try:
        assert watcher.wait_ready()
        (tmp_path / "site.toml").write_text('title = "x"\n')
        content.mkdir()
        # the recursive watch restarts once content/ exists; write until it sees a change
        for attempt in range(20):
            (content / "about.md").write_text(f"# About {attempt}\n")
            if got.wait(0.5):
                break
        assert got.is_set()
        assert tmp_path / "site.toml" in seen
        (tmp_path / ".tmp-123-about.md").write_text("noise")  # atomic-write temp names
    finally:
        watcher.stop()
    assert not any(p.name.startswith(".tmp-") for p in seen)


# -- HTTP ---------------------------------------------------------------------------------


def test_requests_during_a_slow_rebuild_get_the_last_complete_site(site):  # type: ignore[no-untyped-def]
    preview, fake = site
    fake.gate = threading.Event()
    fake.pages = {"index.html": html("<p>v2</p>")}
    preview.request_rebuild()
    assert fake.waiting.wait(10)  # the build is rendered, not yet swapped in
    for _ in range(3):
        status, _headers, body = get(preview, "/")
        assert status == 200 and b"<p>v1</p>" in body
    fake.gate.set()
    assert preview.builds.wait_settled(quiet_for=0.3)
    assert b"<p>v2</p>" in get(preview, "/")[2]


def test_pages_get_a_reload_event_after_each_build(site):  # type: ignore[no-untyped-def]
    preview, fake = site
    status, _headers, page = get(preview, "/index.html")
    token = re.search(rb'data-build="([^"]+)"', page)
    assert status == 200 and token
    on_disk = (fake.output / "index.html").read_bytes()
    assert b"_cvgallery" not in on_disk  # the script is added to the response only

    conn = http.client.HTTPConnection("127.0.0.1", preview.server.server_port, timeout=20)
    conn.request("GET", f"/_cvgallery/events?since={token[1].decode()}")
    stream = conn.getresponse()
    assert stream.status == 200
    assert stream.getheader("Content-Type", "").startswith("text/event-stream")
    fake.pages = {"index.html": html("<p>v2</p>")}
    preview.request_rebuild()
    lines = []
    while (line := stream.readline()) and line.strip() != b"event: reload":
        lines.append(line)
    assert line.strip() == b"event: reload", lines
    conn.close()

    # a page served before the last build (or by an earlier server) reloads at once
    status, _headers, events = get(preview, f"/_cvgallery/events?since={token[1].decode()}")
    assert b"event: reload" in events
    status, _headers, events = get(preview, "/_cvgallery/events?since=0123abcd-99")
    assert b"event: reload" in events
    status, _headers, script = get(preview, "/_cvgallery/reload.js")
    assert status == 200 and b"EventSource" in script


def test_a_build_that_changes_nothing_reloads_no_one(tmp_path: Path):
    preview = Preview(tmp_path / "out", lambda: False, port=0, say=lambda _m: None)
    (tmp_path / "out").mkdir()
    with preview:
        preview.request_rebuild()
        assert preview.builds.wait_settled(quiet_for=0.3)
        assert preview.builds.rebuilds == 1
        assert preview.reload.generation == 0


TEXT = {
    "index.html": html("<p>" + "gallery " * 100 + "</p>"),
    "style.css": "body { color: black; }\n" * 40,
    "gallery.js": "console.log('hello');\n" * 40,
    "feed.xml": "<feed>" + "<entry/>" * 100 + "</feed>",
    "data.json": '{"a": [' + "1," * 200 + "1]}",
    "icon.svg": '<svg xmlns="http://www.w3.org/2000/svg">' + "<g/>" * 100 + "</svg>",
}


def test_text_responses_are_gzipped_when_asked(tmp_path: Path):
    fake = FakeSite(tmp_path / "out", pages=TEXT)
    fake()
    picture = fake.output / "media" / "p.jpeg"
    picture.parent.mkdir()
    Image.new("RGB", (64, 48), (10, 20, 30)).save(picture)
    with Preview(fake.output, fake, port=0, say=lambda _m: None) as preview:
        for name, text in TEXT.items():
            status, headers, body = get(preview, f"/{name}", {"Accept-Encoding": "gzip, br"})
            assert status == 200, name
            assert headers.get("Content-Encoding") == "gzip", name
            assert headers.get("Vary") == "Accept-Encoding", name
            assert int(headers["Content-Length"]) == len(body)
            plain = gzip.decompress(body).decode()
            assert plain.startswith(text[:40]), name
            status, headers, body = get(preview, f"/{name}")
            assert "Content-Encoding" not in headers and body.decode().startswith(text[:40])
            refused = get(preview, f"/{name}", {"Accept-Encoding": "gzip;q=0"})[1]
            assert "Content-Encoding" not in refused, name
        status, headers, body = get(preview, "/media/p.jpeg", {"Accept-Encoding": "gzip"})
        assert status == 200 and "Content-Encoding" not in headers
        assert body == picture.read_bytes() and headers["Content-Type"] == "image/jpeg"
        status, headers, part = get(preview, "/media/p.jpeg", {"Range": "bytes=0-9"})
        assert status == 206 and part == picture.read_bytes()[:10]


def test_only_the_output_folder_is_served(tmp_path: Path):
    secret = tmp_path / "cv.db"
    secret.write_text("secret catalog")
    fake = FakeSite(tmp_path / "out", pages={"index.html": html("home"), "sub/index.html": "s"})
    fake()
    os.symlink(secret, fake.output / "leak.db")
    os.symlink(tmp_path, fake.output / "up")
    os.symlink(fake.output / "index.html", fake.output / "alias.html")
    with Preview(fake.output, fake, port=0, say=lambda _m: None) as preview:
        for path in (
            "/../cv.db",
            "/%2e%2e/cv.db",
            "/%2E%2E/%2e%2e/cv.db",
            "/..%2fcv.db",
            "/sub/../../cv.db",
            "/sub/%2e%2e/%2e%2e/cv.db",
            "/..\\cv.db",
            "/leak.db",
            "/up/cv.db",
            "/.cvgallery-build.json",
            "/%00",
            "http://127.0.0.1/../cv.db",
        ):
            status, _headers, body = get(preview, path)
            assert status in (400, 403, 404), path
            assert b"secret" not in body, path
        assert b"home" in get(preview, "/")[2]
        assert b"home" in get(preview, "/alias.html")[2]  # a link that stays inside is fine
        status, headers, _body = get(preview, "/sub")
        assert status == 301 and headers["Location"] == "/sub/"
        status, headers, _body = get(preview, "//sub")  # never a redirect to host "sub"
        assert status == 301 and headers["Location"] == "/sub/"
        assert get(preview, "/sub/")[0] == 200
        assert get(preview, "/index.html", method="POST")[0] == 405
        assert get(preview, "/index.html", method="HEAD")[0] == 200


def test_routes_answer_under_their_prefix_and_can_ask_for_a_rebuild(site):  # type: ignore[no-untyped-def]
    preview, fake = site
    assert get(preview, "/_review/")[0] == 404  # reserved even without a handler
    seen: list[Request] = []

    def review(request: Request) -> Response:
        seen.append(request)
        if request.method == "POST":
            preview.request_rebuild()
            return Response(body=b'{"ok": true}', content_type="application/json")
        return Response(body=html("<p>review</p>").encode())

    preview.add_route("/_review/", review)
    with pytest.raises(ValueError):
        preview.add_route("/_cvgallery/", review)
    status, _headers, body = get(preview, "/_review/?state=pending")
    assert status == 200 and b"review" in body and b"/_cvgallery/reload.js" in body
    assert seen[-1].path == "/_review/" and seen[-1].query == {"state": ["pending"]}
    builds = fake.builds
    conn = http.client.HTTPConnection("127.0.0.1", preview.server.server_port, timeout=10)
    conn.request("POST", "/_review/decide", body=b"id=a&decision=approve")
    response = conn.getresponse()
    assert response.status == 200 and response.read() == b'{"ok": true}'
    conn.close()
    assert seen[-1].method == "POST" and seen[-1].body == b"id=a&decision=approve"
    assert preview.builds.wait_settled(quiet_for=0.3)
    assert fake.builds == builds + 1

    def broken(_request: Request) -> Response:
        raise RuntimeError("bug")

    preview.add_route("/_review/broken/", broken)
    assert get(preview, "/_review/broken/x")[0] == 500
    assert get(preview, "/_review/")[0] == 200  # the longest prefix wins, others still work


def test_port_zero_picks_a_free_port_and_says_which(tmp_path: Path):
    fake = FakeSite(tmp_path / "out")
    fake()
    with Preview(fake.output, fake, port=0, say=lambda _m: None) as preview:
        port = preview.server.server_port
        assert port > 0 and preview.url == f"http://127.0.0.1:{port}/"
        assert get(preview, "/")[0] == 200
