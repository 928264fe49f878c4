"""The review page of `cvgallery serve`: its routes, its guard, and its keys in Chromium.

HTTP tests run a real `cvgallery serve --port 0`; the guard of a non-loopback bind is
tested in process (tests bind 127.0.0.1 only); browser tests drive headless Chromium and
skip, saying why, without it. Saves tests/screenshots/review.png.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable, Iterator
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from review_helpers import (
    Served,
    add_copy,
    add_many_pending,
    add_originals,
    call,
    page_token,
    review_server,
)
from site_helpers import add_processed

from cvgallery.catalog import Catalog, FileFacts
from cvgallery.review import Guard, is_loopback, mount, review_urls
from cvgallery.review.pictures import CACHE_DIR, Pictures
from cvgallery.review.routes import clean_reason, item_json
from cvgallery.serve import Preview, Request

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"


def wait_until(predicate: Callable[[], Any], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def state(root: Path, image_id: str) -> tuple[str, str | None]:
    """(review state, rejection reason) of an image, read with the library."""
    with Catalog.open(root) as catalog:
        row = catalog.images.get(image_id)
    if row["approved"]:
        return "approved", None
    if row["rejected"]:
        return "rejected", row["rejection_reason"]
    return "pending", None


# -- the catalog side ------------------------------------------------------------------------


def test_listing_ids_rows_and_counts(catalog: Catalog, tmp_path: Path) -> None:
    ids = add_originals(catalog, tmp_path / "in", 4)
    add_processed(catalog, "kept", seed=1, user="bo", created_at="2000-01-01 00:00:00")
    add_processed(catalog, "frame", seed=2, parent_id="kept", approved=False)
    with catalog.transaction():
        catalog.images.reject([ids[0]], "blurry")
    snapshot = catalog.images.listing_ids("pending")
    assert snapshot == [r["id"] for r in catalog.images.listing("pending")]
    assert set(snapshot) == set(ids[1:]) and "frame" not in snapshot
    assert catalog.images.listing_ids(None, "bo") == ["kept"]
    rows = catalog.images.listing_rows(["kept", "nope", "frame", ids[2]])
    assert [r["id"] for r in rows] == ["kept", ids[2]]  # in the order asked, children left out
    assert rows[0]["thumb_path"] and rows[1]["source_path"].startswith("upstream/")
    assert catalog.images.review_counts() == {"all": 5, "pending": 3, "approved": 1, "rejected": 1}
    assert catalog.images.review_counts("bo") == {
        "all": 1,
        "pending": 0,
        "approved": 1,
        "rejected": 0,
    }


def test_items_show_only_web_source_urls_and_reasons_are_one_line(catalog: Catalog) -> None:
    add_processed(catalog, "x", url="javascript:alert(1)", approved=False)
    add_processed(catalog, "y", url="HTTPS://ok.example/a", approved=False)
    items = {i["id"]: i for i in map(item_json, catalog.images.listing_rows(["x", "y"]))}
    assert items["x"]["url"] is None and items["y"]["url"] == "HTTPS://ok.example/a"
    assert items["x"]["state"] == "pending" and items["x"]["size"] > 0
    assert clean_reason(None) == clean_reason("  ") == "manual"
    assert clean_reason("soft\nfocus\x00 ") == "soft focus"
    assert len(clean_reason("x" * 900)) == 500


def test_pictures_for_videos_and_unreadable_files_are_placeholders(catalog: Catalog) -> None:
    add_processed(catalog, "clip", approved=False, stages=(), video=b"not really a video")
    broken = catalog.art_dir / "upstream" / "broken.jpeg"
    broken.write_bytes(b"\xff\xd8 not a jpeg")
    with catalog.transaction():
        catalog.images.add("broken", FileFacts("b" * 64, 12, 300, 200, "image/jpeg"))
        catalog.artifacts.record(
            image_id="broken",
            stage="upstream",
            file_path="upstream/broken.jpeg",
            facts=FileFacts("b" * 64, 12),
        )
    with catalog.transaction():
        catalog.conn.execute("UPDATE images SET mime_type = 'video/mp4' WHERE id = 'clip'")
    pictures = Pictures(catalog.config.root)
    video = pictures.thumbnail(catalog, catalog.images.get("clip"))
    assert video.content_type == "image/svg+xml" and b">video<" in video.body
    unreadable = pictures.thumbnail(catalog, catalog.images.get("broken"))
    assert unreadable.content_type == "image/svg+xml" and b"unreadable" in unreadable.body
    assert b'width="400" height="267"' in unreadable.body  # the picture's shape


# -- HTTP: a real `cvgallery serve --port 0` ---------------------------------------------------


@pytest.fixture
def served(catalog: Catalog, tmp_path: Path) -> Iterator[tuple[Served, list[str]]]:
    ids = add_originals(catalog, tmp_path / "in", 3)
    add_processed(catalog, "ready", seed=5, approved=False, user="bo")  # has a web copy
    with review_server(catalog.config.root) as server:
        yield server, ids


def test_page_and_json_are_served(served: tuple[Served, list[str]]) -> None:
    server, ids = served
    assert server.review == f"{server.base}/_review/"
    status, headers, body = call(server.review)
    page = body.decode()
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert "cvgalleryLiveReload" not in page and "/_cvgallery/" not in page  # never reloads
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert '<script src="/_review/static/review.js"' in page
    for asset in ("review.js", "review.css"):
        assert call(f"{server.base}/_review/static/{asset}")[0] == 200
    status, headers, body = call(f"{server.review}api/items?state=pending&limit=2&offset=1")
    listing = json.loads(body)
    assert status == 200 and headers["content-type"].startswith("application/json")
    assert listing["total"] == 4 and listing["offset"] == 1 and len(listing["items"]) == 2
    first = listing["items"][0]
    assert set(first) >= {"id", "user", "url", "width", "height", "size", "state"}
    snapshot = json.loads(call(f"{server.review}api/ids?state=pending")[2])["ids"]
    assert sorted(snapshot) == sorted([*ids, "ready"]) and snapshot[1] == first["id"]
    summary = json.loads(call(f"{server.review}api/summary")[2])
    assert summary == {
        "counts": {"all": 4, "pending": 4, "approved": 0, "rejected": 0},
        "users": ["ana", "bo"],
    }
    assert call(f"{server.review}api/items?state=maybe")[0] == 400
    assert call(f"{server.review}api/nothing")[0] == 404
    assert call(f"{server.base}/_review/static/../../cv.db")[0] == 404


def test_decisions_need_the_token_their_own_origin_and_host(
    served: tuple[Served, list[str]],
) -> None:
    server, _ids = served
    root = Path(server.lines[-1].split(" ")[1]).parent.parent  # serving <root>/art/gallery-html
    decide = f"{server.review}api/decide"
    body = json.dumps({"action": "approve", "ids": ["ready"]}).encode()
    token = page_token(server.review)
    own = {"Host": server.host, "Origin": server.base, "X-Cvgallery-Token": token}
    refused = [
        {"Host": server.host, "Origin": server.base},  # no token
        {**own, "X-Cvgallery-Token": token[:-1] + "x"},  # a wrong one
        {**own, "Origin": "http://evil.example"},  # another site's form or fetch
        {**own, "Origin": "null"},
        {**own, "Origin": server.base.replace("127.0.0.1", "localhost")},  # not this Host
        {**own, "Sec-Fetch-Site": "cross-site"},
        {**own, "Host": f"evil.example:{server.host.split(':')[1]}"},  # DNS rebinding
        {**own, "Host": "127.0.0.1:1"},
    ]
    for headers in refused:
        status, _h, answer = call(decide, "POST", headers=headers, body=body)
        assert status == 403, (headers, answer)
    assert state(root, "ready") == ("pending", None)
    assert call(server.review, headers={"Host": "evil.example"})[0] == 403
    assert call(f"{server.review}api/summary", headers={"Host": "rebind.example"})[0] == 403

    status, _h, answer = call(decide, "POST", headers=own, body=body)
    assert status == 200, answer
    result = json.loads(answer)
    assert result["changed"] == ["ready"]
    assert result["previous"] == [{"id": "ready", "state": "pending", "reason": None}]
    assert result["items"][0]["state"] == "approved"
    assert state(root, "ready") == ("approved", None)
    # the preview rebuilds by itself: the gallery lists the approved picture
    assert wait_until(lambda: 'data-id="ready"' in call(f"{server.base}/index.html")[2].decode())

    reject = {"action": "reject", "ids": ["ready", "ghost"], "reason": "too dark"}
    result = json.loads(call(decide, "POST", headers=own, body=json.dumps(reject).encode())[2])
    assert result["changed"] == ["ready"] and result["unknown"] == ["ghost"]
    assert state(root, "ready") == ("rejected", "too dark")
    restore = {"action": "restore", "items": result["previous"]}
    call(decide, "POST", headers=own, body=json.dumps(restore).encode())
    assert state(root, "ready") == ("approved", None)
    call(decide, "POST", headers=own, body=json.dumps(reject).encode())
    result = json.loads(call(decide, "POST", headers=own, body=body)[2])  # approve again
    assert result["previous"] == [{"id": "ready", "state": "rejected", "reason": "too dark"}]
    restore = {"action": "restore", "items": result["previous"]}
    call(decide, "POST", headers=own, body=json.dumps(restore).encode())
    assert state(root, "ready") == ("rejected", "too dark")  # undo brings the reason back
    localhost = {**own, "Host": server.host.replace("127.0.0.1", "localhost")}
    localhost["Origin"] = f"http://{localhost['Host']}"
    bad = call(decide, "POST", headers=localhost, body=b'{"action": "delete", "ids": ["ready"]}')
    assert bad[0] == 400 and b"action must be" in bad[2]  # localhost is this server too


def test_thumbnails_are_made_once_and_cached(served: tuple[Served, list[str]]) -> None:
    server, ids = served
    root = Path(server.lines[-1].split(" ")[1]).parent.parent
    status, headers, first = call(f"{server.review}thumb/{ids[0]}")
    assert status == 200 and headers["content-type"] == "image/jpeg"
    cached = list((root / CACHE_DIR).rglob("*.jpeg"))
    assert len(cached) == 1 and cached[0].read_bytes() == first
    made = cached[0].stat().st_mtime_ns
    time.sleep(0.02)
    status, headers, again = call(f"{server.review}thumb/{ids[0]}")
    assert status == 200 and again == first and cached[0].stat().st_mtime_ns == made
    etag = headers["etag"]
    assert call(f"{server.review}thumb/{ids[0]}", headers={"If-None-Match": etag})[0] == 304
    # a processed picture's own thumbnail artifact is served as it is
    with Catalog.open(root) as catalog:
        artifact = catalog.artifacts.get("ready", "thumbnails-small")
    ready = call(f"{server.review}thumb/ready")[2]
    assert artifact is not None and ready == (root / "art" / artifact["file_path"]).read_bytes()
    status, headers, large = call(f"{server.review}large/{ids[1]}")
    assert status == 200 and headers["content-type"].startswith("image/")
    assert call(f"{server.review}thumb/no-such-id")[0] == 404
    for path in (
        "/_review/thumb/../../cv.db",
        "/_review/thumb/..%2f..%2fcv.db",
        "/_review/thumb/%2e%2e/%2e%2e/site.toml",
        "/_review/large/../../../etc/passwd",
        "/_review/thumb/",
    ):
        assert call(server.review, path=path)[0] == 404, path


# -- the guard of a server other machines can reach ------------------------------------------


def request(path: str, headers: dict[str, str], method: str = "GET", query: str = "") -> Request:
    message = Message()
    for name, value in headers.items():
        message[name] = value
    parsed = {k: [v] for k, v in (p.split("=", 1) for p in query.split("&") if p)}
    return Request(method, path, parsed, message)


def test_guard_of_a_non_loopback_bind_wants_the_token() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.20")
    local = Guard.for_address("127.0.0.1", 8000)
    assert not local.require_token
    assert local.host_ok("127.0.0.1:8000") and local.host_ok("localhost:8000")
    assert local.host_ok("[::1]:8000") and not local.host_ok("127.0.0.1:8001")
    assert not local.host_ok("192.168.1.20:8000") and not local.host_ok("attacker.example:8000")
    wide = Guard.for_address("0.0.0.0", 8000)
    assert wide.require_token
    assert wide.host_ok("192.168.1.20:8000") and wide.host_ok("[fe80::1]:8000")
    assert not wide.host_ok("attacker.example:8000")  # a rebinding name, never an IP literal
    host = {"Host": "192.168.1.20:8000"}
    assert wide.refusal(request("/_review/", host)) is not None
    assert wide.refusal(request("/_review/", host, query="token=nope")) is not None
    assert wide.refusal(request("/_review/", host, query=f"token={wide.token}")) is None
    cookie = {**host, "Cookie": f"other=1; {wide.cookie_name}={wide.token}"}
    assert wide.refusal(request("/_review/api/ids", cookie)) is None
    post = {**cookie, "Origin": "http://192.168.1.20:8000"}
    assert wide.refusal(request("/_review/api/decide", post, "POST")) is not None  # no header
    post["X-Cvgallery-Token"] = wide.token
    assert wide.refusal(request("/_review/api/decide", post, "POST")) is None
    urls = review_urls("0.0.0.0", 8000, wide)
    assert urls[-1] == f"http://127.0.0.1:8000/_review/?token={wide.token}"
    assert review_urls("127.0.0.1", 8000, local) == ["http://127.0.0.1:8000/_review/"]


def test_token_url_sets_a_strict_cookie_that_opens_the_page(site_root: Path) -> None:
    output = site_root / "out"
    output.mkdir()
    said: list[str] = []
    preview = Preview(output, lambda: False, port=0, say=said.append)
    routes = mount(preview, site_root, say=said.append, require_token=True)
    with preview:
        url = said[0].removeprefix("review page: ")
        base = url.split("/_review/")[0]
        assert url == f"{base}/_review/?token={routes.guard.token}"
        assert call(f"{base}/_review/")[0] == 403
        assert call(f"{base}/_review/thumb/x")[0] == 403
        assert call(f"{base}/_review/?token=wrong")[0] == 403
        status, headers, _body = call(url)
        assert status == 303 and headers["location"] == "/_review/"  # the token leaves the URL
        cookie = headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/_review/" in cookie
        jar = {"Cookie": cookie.split(";")[0]}
        status, _headers, body = call(f"{base}/_review/", headers=jar)
        assert status == 200 and routes.guard.token in body.decode()
        assert call(f"{base}/_review/api/summary", headers=jar)[0] == 200


# -- the page in Chromium --------------------------------------------------------------------


@pytest.fixture
def browser(tmp_path: Path):  # type: ignore[no-untyped-def]
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
    if not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()):
        pytest.skip(f"the review page tests need {CHROMIUM} and {CHROMEDRIVER}")
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--no-first-run",
        "--window-size=1280,900",
        f"--user-data-dir={tmp_path / 'profile'}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def open_review(driver, url: str) -> list[str]:  # type: ignore[no-untyped-def]
    """Load the page; wait for the first page of items; return the ids in view order."""
    driver.get(url)
    assert wait_until(
        lambda: driver.execute_script(
            "const c = document.querySelector('.cell.focus');"
            "return !!c && !c.classList.contains('skeleton') && c === document.activeElement"
        )
    )
    return list(driver.execute_script("return window.cvgalleryReview.state.ids"))


def press(driver, *keys: str, shift: bool = False) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    chain = ActionChains(driver)
    if shift:
        chain.key_down(Keys.SHIFT)
    chain.send_keys(*keys)
    if shift:
        chain.key_up(Keys.SHIFT)
    chain.perform()


def focused(driver) -> str:  # type: ignore[no-untyped-def]
    return str(driver.execute_script("return document.querySelector('.cell.focus').dataset.id"))


def severe(driver) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    return [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]


def test_keys_approve_reject_undo_select_and_view(
    browser, catalog: Catalog, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.keys import Keys

    add_originals(catalog, tmp_path / "in", 30)
    root = catalog.config.root
    with review_server(root) as server:
        ids = open_review(browser, server.review)
        assert len(ids) == 30 and focused(browser) == ids[0]
        assert wait_until(
            lambda: browser.execute_script(
                "return [...document.querySelectorAll('.cell img')].slice(0, 12)"
                ".every(i => i.complete && i.naturalWidth > 0)"
            )
        )
        cell = browser.execute_script(
            "const c = document.querySelector('.cell');"
            "return [c.dataset.id, c.querySelector('img').alt, c.querySelector('a').rel,"
            " c.querySelector('a').href, c.textContent]"
        )
        assert cell[0] == ids[0] and cell[1] == f"Picture {ids[0]} by ana"
        assert cell[2] == "noopener noreferrer" and cell[3] == "https://photos.example/ana"
        assert "240×180" in cell[4] and "kB" in cell[4] and "Pending" in cell[4]

        press(browser, "a")
        assert wait_until(lambda: state(root, ids[0]) == ("approved", None))
        assert focused(browser) == ids[0]  # decided in place, not vanished under the cursor
        press(browser, Keys.ARROW_RIGHT, "r")
        assert wait_until(
            lambda: browser.execute_script("return document.querySelector('#reason').open")
        )
        press(browser, Keys.ENTER)
        assert wait_until(lambda: state(root, ids[1]) == ("rejected", "manual"))
        assert "Rejected: manual" in browser.execute_script(
            f"return document.querySelector('[data-id=\"{ids[1]}\"]').textContent"
        )
        press(browser, "u")
        assert wait_until(lambda: state(root, ids[1]) == ("pending", None))
        assert state(root, ids[0]) == ("approved", None)

        # l moves right, j down a row (same column), k back up; shift+arrows select a range
        press(browser, "l")
        press(browser, "j")
        columns = browser.execute_script("return window.cvgalleryReview.state.cols")
        assert focused(browser) == ids[2 + columns]
        press(browser, "k")
        assert focused(browser) == ids[2]
        press(browser, Keys.ARROW_RIGHT, Keys.ARROW_RIGHT, shift=True)
        assert (
            browser.execute_script("return document.querySelectorAll('.cell.selected').length") == 3
        )
        press(browser, "a")
        for image_id in ids[2:5]:
            assert wait_until(lambda i=image_id: state(root, i) == ("approved", None))
        press(browser, "r", "out of focus", Keys.ENTER)
        assert wait_until(lambda: state(root, ids[4]) == ("rejected", "out of focus"))
        assert state(root, ids[2]) == ("rejected", "out of focus")
        press(browser, "u")
        assert wait_until(lambda: state(root, ids[2]) == ("approved", None))

        # the mouse: a cell's Reject button asks for a reason too
        browser.find_element("css selector", f'[data-id="{ids[7]}"] button.reject').click()
        press(browser, Keys.ENTER)
        assert wait_until(lambda: state(root, ids[7]) == ("rejected", "manual"))

        press(browser, Keys.ESCAPE, "?")
        assert browser.execute_script("return document.querySelector('#help').open")
        press(browser, Keys.ESCAPE)
        assert not browser.execute_script("return document.querySelector('#help').open")

        press(browser, Keys.ENTER)
        assert wait_until(
            lambda: browser.execute_script("return document.querySelector('#viewer').open")
        )
        assert (
            browser.execute_script("return document.querySelector('#viewer').dataset.id") == ids[7]
        )
        assert wait_until(
            lambda: (
                "/_review/large/"
                in browser.execute_script("return document.querySelector('#viewer img').src")
            )
        )
        press(browser, Keys.ARROW_RIGHT)
        assert (
            browser.execute_script("return document.querySelector('#viewer').dataset.id") == ids[8]
        )
        press(browser, Keys.ESCAPE)
        assert wait_until(
            lambda: not browser.execute_script("return document.querySelector('#viewer').open")
        )
        assert focused(browser) == ids[8]
        assert severe(browser) == []

        SCREENSHOTS.mkdir(exist_ok=True)
        browser.execute_script("window.scrollTo(0, 0)")
        browser.save_screenshot(str(SCREENSHOTS / "review.png"))

        # a phone: two columns, nothing wider than the screen
        browser.set_window_size(390, 844)
        assert wait_until(
            lambda: browser.execute_script("return window.cvgalleryReview.state.cols") == 2
        )
        assert browser.execute_script(
            "return document.documentElement.scrollWidth <= window.innerWidth"
        )


CONTRAST = """
function lum(c) {
  const [r, g, b] = c.match(/[\\d.]+/g).slice(0, 3).map(v => {
    v = v / 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}
function ground(el) {
  for (; el; el = el.parentElement) {
    const bg = getComputedStyle(el).backgroundColor;
    if (!bg.startsWith('rgba(0, 0, 0, 0)') && !bg.endsWith(', 0)')) return bg;
  }
  return getComputedStyle(document.body).backgroundColor;
}
return arguments[0].map(sel => {
  const el = document.querySelector(sel);
  const fg = lum(getComputedStyle(el).color), bg = lum(ground(el));
  return [sel, (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05)];
});
"""


def test_duplicates_view_and_d_reject_the_copies(browser, catalog: Catalog, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ids = add_originals(catalog, tmp_path / "in", 6)
    original = ids[3]
    copy = add_copy(catalog, tmp_path / "copies", 3, "shot003-small")
    root = catalog.config.root
    with review_server(root) as server:
        open_review(browser, server.review)
        low = [
            (sel, round(ratio, 2))
            for sel, ratio in browser.execute_script(
                CONTRAST, [".meta .id", ".meta .line", ".badge", ".views button", ".status"]
            )
            if ratio < 4.5
        ]
        assert low == []
        press(browser, "5")  # the Duplicates view
        assert wait_until(
            lambda: browser.execute_script("return !!document.querySelector('.dupes .group')")
        )
        group = browser.execute_script(
            "return [...document.querySelectorAll('.cell')].map(c => c.dataset.id)"
        )
        assert group == [original, copy]  # the larger copy first, ready to be kept
        assert "2 near-duplicates" in browser.execute_script(
            "return document.querySelector('.group').textContent"
        )
        assert focused(browser) == original
        press(browser, "d")
        assert wait_until(lambda: state(root, copy) == ("rejected", f"duplicate of {original}"))
        assert state(root, original) == ("pending", None)
        assert all(state(root, i) == ("pending", None) for i in ids)
        assert browser.execute_script(
            f"return document.querySelector('[data-id=\"{copy}\"]').classList.contains('state-rejected')"
        )
        press(browser, "u")
        assert wait_until(lambda: state(root, copy) == ("pending", None))
        assert severe(browser) == []


def test_two_thousand_pending_items_answer_a_key_within_100_ms(browser, catalog: Catalog) -> None:  # type: ignore[no-untyped-def]
    add_many_pending(catalog, 2000)
    with review_server(catalog.config.root) as server:
        ids = open_review(browser, server.review)
        assert len(ids) == 2000
        assert browser.execute_script("return document.querySelectorAll('.cell').length") < 200
        keys = ["ArrowRight", "ArrowDown", "j", "l", "ArrowDown", "ArrowDown", "ArrowLeft"]
        keys += ["PageDown", "j", "j", "End", "k", "Home", "ArrowDown", "a", "ArrowRight"]
        timings = browser.execute_script(
            """
            const times = [];
            for (const key of arguments[0]) {
              const target = document.activeElement || document.body;
              const t0 = performance.now();
              target.dispatchEvent(new KeyboardEvent('keydown', {key, bubbles: true, cancelable: true}));
              document.querySelector('.cell.focus').getBoundingClientRect();  // style and layout
              times.push(performance.now() - t0);
            }
            return times;
            """,
            keys,
        )
        print(
            f"key to DOM update, ms: median {statistics.median(timings):.1f}, max {max(timings):.1f}"
        )
        assert statistics.median(timings) < 100, timings
        assert (
            focused(browser)
            == ids[browser.execute_script("return window.cvgalleryReview.state.focus")]
        )
        # the End key reached the last page: its items were fetched by id as it came into view
        press(browser, "G")  # no binding: nothing happens
        browser.execute_script("window.scrollTo(0, document.body.scrollHeight)")
        assert wait_until(
            lambda: browser.execute_script(
                f"return !!document.querySelector('[data-id=\"{ids[-1]}\"]:not(.skeleton)')"
            )
        )
        assert severe(browser) == []
