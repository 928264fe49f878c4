"""`cvgallery serve`: a real server subprocess on a free port."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from site_helpers import add_processed

from cvgallery.catalog import Catalog
from cvgallery.errors import UsageError
from cvgallery.serve import check_port


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fetch(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, ""


def wait_for(predicate, timeout: float = 30.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return True
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        time.sleep(0.2)
    return False


@contextmanager
def serving(root: Path, *options: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """A real `cvgallery serve` on a free port; yields its base URL once it answers."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "cvgallery", "serve", *options, "--port", str(port)]
        + ["--root", str(root)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        if not wait_for(lambda: fetch(f"{base}/index.html")[0] == 200):
            proc.kill()
            pytest.fail(f"server did not start: {proc.communicate()[0]}")
        yield base, proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def server(catalog: Catalog) -> Iterator[tuple[Catalog, str, subprocess.Popen[str]]]:
    for n in range(3):
        add_processed(catalog, f"s{n}", seed=n, created_at=f"2026-03-01 00:00:0{n}")
    root = catalog.config.root
    (root / "content").mkdir()
    (root / "content" / "about.md").write_text("# About\n\nfirst version\n")
    with serving(root, "--no-process") as (base, proc):
        yield catalog, base, proc


def test_serves_the_site_and_nothing_outside_it(server):  # type: ignore[no-untyped-def]
    _catalog, base, _proc = server
    status, home = fetch(f"{base}/index.html")
    assert status == 200 and 'data-id="s2"' in home
    assert fetch(f"{base}/")[0] == 200
    assert fetch(f"{base}/image/s1.html")[0] == 200
    assert fetch(f"{base}/cv.db")[0] == 404
    for outside in (
        "../cv.db",
        "%2e%2e/cv.db",
        "site.toml",
        "../site.toml",
        "../../art/upstream",
        "art/web-optimized",
        "..%2f..%2fcv.db",
    ):
        assert fetch(f"{base}/{outside}")[0] in (403, 404), outside  # 403: outside the root


def test_content_and_catalog_changes_trigger_a_rebuild(server):  # type: ignore[no-untyped-def]
    catalog, base, _proc = server
    about = catalog.config.root / "content" / "about.md"
    about.write_text("# About\n\nsecond version\n")
    assert wait_for(lambda: "second version" in fetch(f"{base}/about.html")[1])
    catalog.images.reject(["s1"])  # another command changes cv.db
    assert wait_for(lambda: fetch(f"{base}/image/s1.html")[0] == 404)
    assert 'data-id="s1"' not in fetch(f"{base}/index.html")[1]


def test_an_image_approved_while_serving_is_processed_and_shown(catalog: Catalog, tmp_path: Path):
    from PIL import Image

    root = catalog.config.root
    add_processed(catalog, "first", seed=1)
    with serving(root) as (base, _proc):
        assert wait_for(lambda: 'data-id="first"' in fetch(f"{base}/index.html")[1])
        picture = tmp_path / "later.jpeg"
        Image.new("RGB", (640, 480), (200, 120, 40)).save(picture)
        for command in (["add", str(picture)], ["approve", "later"]):
            done = subprocess.run(
                [sys.executable, "-m", "cvgallery", *command, "--root", str(root)],
                capture_output=True,
                text=True,
            )
            assert done.returncode == 0, done.stderr
        assert wait_for(lambda: 'data-id="later"' in fetch(f"{base}/index.html")[1])
        with Catalog.open(root) as fresh:
            assert fresh.artifacts.get("later", "web-optimized") is not None


def test_port_in_use_is_a_clear_error(catalog: Catalog):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(UsageError, match="already in use"):
            check_port("127.0.0.1", port)
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "cvgallery",
                "serve",
                "--no-process",
                "--port",
                str(port),
                "--root",
                str(catalog.config.root),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2
    assert f"port {port}" in result.stderr and "already in use" in result.stderr
    assert "Traceback" not in result.stderr


def test_port_zero_serves_on_the_port_it_prints(catalog: Catalog):
    add_processed(catalog, "z", seed=3)
    root = catalog.config.root
    proc = subprocess.Popen(
        [sys.executable, "-m", "cvgallery", "serve", "--no-process", "--port", "0"]
        + ["--root", str(root)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines = []
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("serving "):
                break
        found = re.match(r"serving (.+) at http://127\.0\.0\.1:(\d+)/ ", lines[-1])
        assert found, lines
        assert Path(found[1]).resolve() == root.resolve() / "art" / "gallery-html"
        port = int(found[2])
        assert port not in (0, 8000)
        status, home = fetch(f"http://127.0.0.1:{port}/")
        assert status == 200 and 'data-id="z"' in home
        proc.send_signal(signal.SIGINT)  # Ctrl+C
        rest = proc.communicate(timeout=30)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    assert "stopped" in rest and "Traceback" not in rest


def listening_addresses(port: int) -> list[str]:
    """Local addresses of the sockets listening on ``port`` (Linux /proc/net/tcp and tcp6)."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text(encoding="ascii").splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            address, _, hex_port = fields[1].partition(":")
            if fields[3] == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.append(address)
    return found


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc/net/tcp")
def test_serve_binds_loopback_by_default(server):  # type: ignore[no-untyped-def]
    _catalog, base, _proc = server
    port = int(base.rsplit(":", 1)[1])
    # 127.0.0.1 as /proc writes it (little-endian hex); never 0.0.0.0 or ::
    assert listening_addresses(port) == ["0100007F"]


def test_site_toml_and_theme_changes_trigger_a_rebuild(server):  # type: ignore[no-untyped-def]
    catalog, base, _proc = server
    root = catalog.config.root
    (root / "site.toml").write_text('title = "Renamed <gallery>"\n')
    assert wait_for(lambda: "Renamed &lt;gallery&gt;" in fetch(f"{base}/index.html")[1])
    templates = root / "themes" / "default" / "templates"
    templates.mkdir(parents=True)
    (templates / "page.html").write_text(
        '{% extends "!default/page.html" %}{% block main %}<p id="override">'
        "{{ page.title }}</p>{% endblock %}\n"
    )
    assert wait_for(lambda: 'id="override"' in fetch(f"{base}/about.html")[1])


def test_rebuild_failures_are_reported_and_the_site_still_served(server):  # type: ignore[no-untyped-def]
    catalog, base, proc = server
    content = catalog.config.root / "content"
    (content / "broken.md").write_bytes(b"# Caf\xe9, not UTF-8\n")
    (content / "about.md").write_text("# About\n\nthird version\n")
    assert wait_for(lambda: "third version" in fetch(f"{base}/about.html")[1])
    assert fetch(f"{base}/index.html")[0] == 200
    proc.terminate()
    output = proc.communicate(timeout=10)[0]
    assert "broken.md: cannot read Markdown" in output, output


CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


@pytest.mark.skipif(
    not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()), reason="needs chromium and chromedriver"
)
def test_browser_reloads_by_itself_after_a_change(server, tmp_path: Path):  # type: ignore[no-untyped-def]
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.support.ui import WebDriverWait

    catalog, base, _proc = server
    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp_path}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        driver.get(f"{base}/about.html")
        WebDriverWait(driver, 10).until(
            lambda d: d.execute_script("return document.readyState") == "complete"
        )
        assert driver.execute_script("return typeof window.cvgalleryLiveReload") == "object"
        driver.execute_script("window.notReloaded = true")
        about = catalog.config.root / "content" / "about.md"
        # One change is enough: the page carries the build it was served from, so a build
        # that ends before its event stream connects still reloads it.
        about.write_text("# About\n\nreloaded text\n")
        WebDriverWait(driver, 30).until(lambda d: "reloaded text" in d.page_source)
        assert driver.execute_script("return window.notReloaded === undefined")
    finally:
        driver.quit()
