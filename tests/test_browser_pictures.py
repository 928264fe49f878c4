"""Pictures in headless Chromium, on a site of big photographs with words: never shown
larger than their file at 390 and 1440 px wide screens at DPR 1 and 2 (grid, image page,
lightbox), alt texts, meta tags, the lightbox's shareable address, Back, swipe, going on to
the next page, preloaded neighbours, and the dark scheme. Saves screenshots in
tests/screenshots/ (pictures-*.png)."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import run_cli
from picture_files import exif_block, jpeg_with, xmp_packet
from selenium.webdriver.common.by import By  # noqa: E402  (after test_browser's skips)
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402
from test_browser import CHROMEDRIVER, CHROMIUM, CONTRAST, SCREENSHOTS, make_driver, severe_logs

assert CHROMIUM.is_file() and CHROMEDRIVER.is_file()  # test_browser skips the module otherwise

# (name, size, title, caption, alt): landscapes and portraits, some with words
PHOTOS = [
    ("harbour", (2400, 1600), "Harbour at dawn", "Boats waiting for the tide.", None),
    ("tower", (1600, 2400), "The old tower", None, "A stone tower against a pale sky"),
    ("IMG_0003", (2400, 1600), None, None, None),
    ("IMG_0004", (2400, 1600), None, "Nobody named this one.", None),
    ("dunes", (2400, 1600), "Dunes", None, None),
    ("IMG_0006", (1600, 2400), None, None, None),
    ("IMG_0007", (2400, 1600), None, None, None),
    ("IMG_0008", (2400, 1600), None, None, None),
    ("IMG_0009", (1600, 2400), None, None, None),
    ("IMG_0010", (2400, 1600), None, None, None),
]
BASE_URL = "https://photos.example.org"


@pytest.fixture(scope="module")
def picture_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Photos with EXIF dates (newest first = list order), XMP words, built by the CLI."""
    root = tmp_path_factory.mktemp("pictures")
    assert run_cli("init", root).returncode == 0
    (root / "site.toml").write_text(
        'title = "Gallery"\ndescription = "Harbours, towers and dunes."\n'
        f'base_url = "{BASE_URL}"\nper_page = 4\nshow_exif = true\n'
    )
    for n, (name, size, title, caption, alt) in enumerate(PHOTOS):
        day = 28 - n  # the first is the newest
        jpeg_with(
            root / "in" / f"{name}.jpeg",
            size,
            seed=n,
            exif=exif_block(taken=f"2024:05:{day:02d} 10:20:30", model="X-T5", exposure=(1, 250)),
            xmp=xmp_packet(title=title, description=caption, alt=alt)
            if title or caption or alt
            else None,
            quality=85,
        )
    added = run_cli("add", root / "in", "--approve", "--root", root)
    assert added.returncode == 0, added.stderr
    built = run_cli("build", "--root", root)
    assert built.returncode == 0, built.stdout + built.stderr
    return root / "art" / "gallery-html"


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture(scope="module")
def base(picture_site: Path) -> Iterator[str]:
    httpd = ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(picture_site))
    )
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    drv = make_driver(tmp_path_factory.mktemp("profile"))
    try:
        yield drv
    finally:
        drv.quit()


def screen(drv, width: int, height: int, dpr: float, dark: bool = False) -> None:  # type: ignore[no-untyped-def]
    drv.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": dpr, "mobile": width < 700},
    )
    drv.execute_cdp_cmd(
        "Emulation.setEmulatedMedia",
        {"features": [{"name": "prefers-color-scheme", "value": "dark" if dark else "light"}]},
    )


def visit(drv, url: str) -> None:  # type: ignore[no-untyped-def]
    drv.get(url)
    WebDriverWait(drv, 20).until(
        lambda d: d.execute_script("return document.readyState") == "complete"
    )


PAINTED = """
const done = arguments[arguments.length - 1];
const shown = [...document.images].filter(i => i.complete && i.naturalWidth && i.loading !== 'lazy');
Promise.all(shown.map(i => i.decode().catch(() => null)))
  .then(() => requestAnimationFrame(() => requestAnimationFrame(() => done(true))));
"""


def snapshot(drv, name: str) -> None:  # type: ignore[no-untyped-def]
    """A screenshot once the loaded pictures are decoded and painted (decoding="async" may
    paint them a frame or two after the load event)."""
    drv.execute_async_script(PAINTED)
    SCREENSHOTS.mkdir(exist_ok=True)
    drv.save_screenshot(str(SCREENSHOTS / name))


# For each picture on screen that has loaded: its file's real width (the file loaded again,
# without srcset, whose density would scale naturalWidth) against its width on screen times
# the pixel ratio.
STRETCHED = """
const done = arguments[arguments.length - 1];
const imgs = [...document.querySelectorAll(arguments[0])].filter(i => {
  const r = i.getBoundingClientRect();
  return r.width > 0 && r.bottom > 0 && r.top < innerHeight;
});
if (!imgs.every(i => i.complete && i.currentSrc)) { done(null); return; }
Promise.all(imgs.map(i => new Promise(ok => {
  const probe = new Image();
  probe.onload = () => ok([i.currentSrc.split('/').pop(), probe.naturalWidth,
                           i.getBoundingClientRect().width * devicePixelRatio]);
  probe.onerror = () => ok([i.currentSrc, 0, 1]);
  probe.src = i.currentSrc;
}))).then(rows => done(rows));
"""


def stretched(drv, selector: str) -> list[list[object]] | None:  # type: ignore[no-untyped-def]
    rows = drv.execute_async_script(STRETCHED, selector)
    if rows is None:
        return None
    return [r for r in rows if float(r[2]) > float(r[1]) + 1.5]


def assert_sharp(drv, selector: str, what: str) -> None:  # type: ignore[no-untyped-def]
    last: list[list[object]] | None = None

    def settled(_d) -> bool:  # type: ignore[no-untyped-def]
        nonlocal last
        last = stretched(drv, selector)
        return last == []

    try:
        WebDriverWait(drv, 20, poll_frequency=0.25).until(settled)
    except Exception:
        raise AssertionError(f"{what}: pictures shown larger than their files: {last}") from None


@pytest.mark.parametrize("width", [390, 1440])
@pytest.mark.parametrize("dpr", [1, 2])
def test_no_picture_is_shown_larger_than_its_file(browser, base, width: int, dpr: int) -> None:  # type: ignore[no-untyped-def]
    screen(browser, width, 900 if width > 700 else 844, dpr)
    for page in ("index.html", "page-2.html", "user/", "image/harbour.html", "image/tower.html"):
        if page == "user/":
            continue  # no user pages on this site (no --user): the index pages cover grids
        visit(browser, f"{base}/{page}")
        selector = ".photo-frame img" if page.startswith("image/") else ".grid img"
        assert_sharp(browser, selector, f"{page} at {width}px x{dpr}")
        # every grid picture, scrolled into view in turn (lazy ones load on the way)
        if not page.startswith("image/"):
            count = browser.execute_script("return document.querySelectorAll('.grid img').length")
            for i in range(count):
                browser.execute_script(
                    "document.querySelectorAll('.grid img')[arguments[0]].scrollIntoView()", i
                )
                assert_sharp(browser, ".grid img", f"{page} item {i} at {width}px x{dpr}")
    # the lightbox, on the first picture and the next
    visit(browser, f"{base}/index.html")
    browser.find_element(By.CSS_SELECTOR, ".grid figure a").click()
    assert_sharp(browser, "dialog.lightbox img", f"lightbox at {width}px x{dpr}")
    browser.switch_to.active_element.send_keys(Keys.ARROW_RIGHT)
    assert_sharp(browser, "dialog.lightbox img", f"lightbox, 2nd, at {width}px x{dpr}")
    if (width, dpr) in ((1440, 1), (390, 2)):
        snapshot(browser, f"pictures-lightbox-{width}.png")
    assert severe_logs(browser) == []


def test_the_image_page_uses_a_desktop_screen(browser, base) -> None:  # type: ignore[no-untyped-def]
    screen(browser, 1440, 900, 1)
    visit(browser, f"{base}/image/harbour.html")
    frame, info = browser.execute_script(
        "const f = document.querySelector('.photo-frame').getBoundingClientRect();"
        "const t = document.querySelector('.photo-info').getBoundingClientRect();"
        "return [[f.left, f.right, f.width, f.height], [t.left, t.top]]"
    )
    assert frame[2] >= 900 and frame[3] <= 0.85 * 900 + 1  # large, within the screen
    assert 0 < info[0] - frame[1] <= 40  # the words beside it
    snapshot(browser, "pictures-image-page.png")
    text = browser.find_element(By.CSS_SELECTOR, ".photo-info").text
    assert "Harbour at dawn" in text and "Boats waiting for the tide." in text
    assert "28 May 2024, 10:20" in text and "X-T5 · 1/250 s" in text
    screen(browser, 390, 844, 2)
    visit(browser, f"{base}/image/tower.html")
    frame, info = browser.execute_script(
        "const f = document.querySelector('.photo-frame').getBoundingClientRect();"
        "const t = document.querySelector('.photo-info').getBoundingClientRect();"
        "return [[f.left, f.bottom, f.width], [t.left, t.top]]"
    )
    assert info[1] >= frame[1]  # below it on a phone
    snapshot(browser, "pictures-image-page-phone.png")


def test_alt_texts_and_loading_order(browser, base) -> None:  # type: ignore[no-untyped-def]
    screen(browser, 1440, 900, 1)
    visit(browser, f"{base}/index.html")
    alts = browser.execute_script(
        "return [...document.querySelectorAll('.grid figure')].map(f =>"
        " [f.dataset.id, f.querySelector('img').alt, f.querySelector('img').loading,"
        "  f.querySelector('img').getAttribute('fetchpriority')])"
    )
    assert [a[:2] for a in alts] == [
        ["harbour", "Harbour at dawn"],
        ["tower", "A stone tower against a pale sky"],
        ["IMG_0003", "IMG 0003"],
        ["IMG_0004", "IMG 0004"],
    ]
    assert alts[0][2:] == ["auto", "high"]  # the first picture: at once, first
    assert all(a[3] is None for a in alts[1:])
    assert all(a[2] == "auto" for a in alts)  # four pictures: all in the first row


def test_meta_tags_in_the_browser(browser, base) -> None:  # type: ignore[no-untyped-def]
    for page in ("index.html", "page-2.html", "image/harbour.html"):
        visit(browser, f"{base}/{page}")
        tags = browser.execute_script(
            "const m = {};"
            "document.querySelectorAll('meta[name], meta[property]').forEach(e =>"
            "  m[e.getAttribute('name') || e.getAttribute('property')] = e.content);"
            "m.canonical = document.querySelector('link[rel=canonical]').href;"
            "return m"
        )
        assert tags["description"] and tags["og:description"] == tags["description"]
        assert tags["canonical"] == f"{BASE_URL}/{page}"
        assert tags["og:image"].startswith(f"{BASE_URL}/media/")
        assert tags["twitter:card"] == "summary_large_image"
    assert tags["description"] == "Boats waiting for the tide."
    assert int(tags["og:image:width"]) >= 1200


def dialog_state(drv):  # type: ignore[no-untyped-def]
    return drv.execute_script(
        "const d = document.querySelector('dialog.lightbox');"
        "return d && d.open ? [d.dataset.id, location.hash,"
        "  d.querySelector('.stage').contains(document.activeElement) ||"
        "  document.activeElement === d.querySelector('.stage')] : [null, location.hash, false]"
    )


def test_the_address_names_the_picture_and_back_closes(browser, base) -> None:  # type: ignore[no-untyped-def]
    screen(browser, 1440, 900, 1)
    visit(browser, f"{base}/index.html#IMG_0003")  # a shared address
    WebDriverWait(browser, 10).until(lambda d: dialog_state(d)[0] == "IMG_0003")
    assert dialog_state(browser) == ["IMG_0003", "#IMG_0003", True]  # focus on the picture
    browser.switch_to.active_element.send_keys(Keys.ESCAPE)
    WebDriverWait(browser, 5).until(lambda d: dialog_state(d)[0] is None)
    assert browser.current_url == f"{base}/index.html"
    # Opened by a click: the address follows the picture; Back closes, Forward reopens.
    browser.find_element(By.CSS_SELECTOR, ".grid figure:nth-child(2) a").click()
    WebDriverWait(browser, 5).until(lambda d: dialog_state(d)[0] == "tower")
    assert dialog_state(browser) == ["tower", "#tower", True]
    browser.switch_to.active_element.send_keys(Keys.ARROW_RIGHT)
    assert dialog_state(browser)[:2] == ["IMG_0003", "#IMG_0003"]
    caption = browser.find_element(By.CSS_SELECTOR, "dialog.lightbox .caption").text
    assert caption.startswith("IMG 0003")
    browser.back()
    WebDriverWait(browser, 5).until(lambda d: dialog_state(d)[0] is None)
    assert browser.current_url == f"{base}/index.html"
    focused = browser.execute_script("return document.activeElement.closest('figure').dataset.id")
    assert focused == "IMG_0003"  # focus back on the picture last shown
    assert severe_logs(browser) == []


def test_past_the_last_picture_the_next_page_goes_on(browser, base) -> None:  # type: ignore[no-untyped-def]
    screen(browser, 1440, 900, 1)
    # Four to a page, numbered from the oldest: the home page shows the newest four
    # (harbour ... IMG_0004) and leads to page 2 (IMG_0003 ... IMG_0006), which shows
    # IMG_0003 and IMG_0004 again: the lightbox goes on at the picture after IMG_0004.
    visit(browser, f"{base}/index.html#IMG_0004")  # the last picture of the home page
    WebDriverWait(browser, 10).until(lambda d: dialog_state(d)[0] == "IMG_0004")
    browser.switch_to.active_element.send_keys(Keys.ARROW_RIGHT)
    WebDriverWait(browser, 10).until(lambda d: d.current_url.endswith("/page-2.html#dunes"))
    WebDriverWait(browser, 10).until(lambda d: dialog_state(d)[0] == "dunes")
    browser.switch_to.active_element.send_keys(Keys.ARROW_LEFT)  # and back again
    WebDriverWait(browser, 10).until(lambda d: d.current_url.endswith("/page-2.html#IMG_0004"))
    WebDriverWait(browser, 10).until(lambda d: dialog_state(d)[0] == "IMG_0004")
    # Back from page 2's newest picture: page 3 (the newest numbered page) at its last.
    visit(browser, f"{base}/page-2.html#IMG_0003")
    WebDriverWait(browser, 10).until(lambda d: dialog_state(d)[0] == "IMG_0003")
    browser.switch_to.active_element.send_keys(Keys.ARROW_LEFT)
    WebDriverWait(browser, 10).until(lambda d: d.current_url.endswith("/page-3.html#tower"))
    # The very last picture has nowhere to go: Next is disabled, not a wrap to the first.
    visit(browser, f"{base}/page-1.html#IMG_0010")
    WebDriverWait(browser, 10).until(lambda d: dialog_state(d)[0] == "IMG_0010")
    assert browser.execute_script("return document.querySelector('dialog .next').disabled")
    browser.switch_to.active_element.send_keys(Keys.ARROW_RIGHT)
    assert dialog_state(browser)[0] == "IMG_0010"


def test_swipe_moves_and_neighbours_are_preloaded(browser, base) -> None:  # type: ignore[no-untyped-def]
    screen(browser, 390, 844, 2)
    visit(browser, f"{base}/index.html")
    browser.find_element(By.CSS_SELECTOR, ".grid figure a").click()
    WebDriverWait(browser, 5).until(lambda d: dialog_state(d)[0] == "harbour")
    swipe = """
    const stage = document.querySelector('dialog.lightbox .stage');
    const at = (type, x) => stage.dispatchEvent(new PointerEvent(type, {
      pointerType: 'touch', isPrimary: true, bubbles: true, clientX: x, clientY: 400}));
    at('pointerdown', arguments[0]); at('pointermove', (arguments[0] + arguments[1]) / 2);
    at('pointerup', arguments[1]);
    """
    browser.execute_script(swipe, 300, 80)  # right to left: the next picture
    assert dialog_state(browser)[0] == "tower"
    browser.execute_script(swipe, 80, 300)  # left to right: back
    assert dialog_state(browser)[0] == "harbour"
    # The neighbour's file, of the size it will be shown at, was fetched before moving on.
    shown = browser.execute_script("return document.querySelector('dialog.lightbox img').src")
    browser.execute_script(swipe, 300, 80)
    WebDriverWait(browser, 10).until(
        lambda d: d.execute_script(
            "const i = document.querySelector('dialog.lightbox img');"
            "return i.complete && i.naturalWidth > 0"
        )
    )
    fetched = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
    )
    now = browser.execute_script("return document.querySelector('dialog.lightbox img').src")
    assert now != shown and now in fetched
    assert now.endswith(".webp")  # the format the browser picked for the grid


def test_dark_scheme_follows_the_system(browser, base) -> None:  # type: ignore[no-untyped-def]
    colours = {}
    for dark in (False, True):
        screen(browser, 1440, 900, 1, dark=dark)
        visit(browser, f"{base}/index.html")
        colours[dark] = browser.execute_script(
            "return [getComputedStyle(document.body).backgroundColor,"
            " getComputedStyle(document.body).color]"
        )
        snapshot(browser, f"pictures-home-{'dark' if dark else 'light'}.png")
        ratios = browser.execute_script(
            CONTRAST, [".brand", ".site-header nav a", ".pagination a",
                       ".site-footer p", ".site-footer a"]
        )  # fmt: skip
        assert [r for r in ratios if r[1] < 4.5] == [], (dark, ratios)  # WCAG AA both ways
        visit(browser, f"{base}/page-2.html")  # a numbered page says its number
        ratios = browser.execute_script(CONTRAST, [".pagination span", ".pagination a"])
        assert [r for r in ratios if r[1] < 4.5] == [], (dark, ratios)
        visit(browser, f"{base}/image/harbour.html")
        ratios = browser.execute_script(
            CONTRAST, [".photo-info h1", ".photo-info .caption", ".photo-info dt",
                       ".photo-info dd", ".prevnext a"]
        )  # fmt: skip
        assert [r for r in ratios if r[1] < 4.5] == [], (dark, ratios)
    light_bg = [int(v) for v in colours[False][0][4:-1].split(",")]
    dark_bg = [int(v) for v in colours[True][0][4:-1].split(",")]
    assert sum(light_bg) > 600 and sum(dark_bg) < 100
    screen(browser, 1440, 900, 1, dark=False)


def test_screenshots_of_the_phone_home(browser, base, picture_site: Path) -> None:  # type: ignore[no-untyped-def]
    screen(browser, 390, 844, 2)
    visit(browser, f"{base}/index.html")
    WebDriverWait(browser, 20).until(
        lambda d: d.execute_script(
            "return [...document.querySelectorAll('.grid img')].every(i => i.complete)"
        )
    )
    snapshot(browser, "pictures-home-phone.png")
    assert len(list((picture_site / "image").glob("*.html"))) == len(PHOTOS)
