"""The built demo in headless Chromium: no console errors, images load, placeholders show
first, the lightbox opens and moves with the keyboard. Saves tests/screenshots/home.png."""

from __future__ import annotations

import functools
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
REPO = Path(__file__).resolve().parent.parent
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
if not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()):
    pytest.skip(
        f"headless browser test needs {CHROMIUM} and {CHROMEDRIVER} (Debian: apt install chromium "
        "chromium-driver)",
        allow_module_level=True,
    )

from selenium.webdriver.chrome.options import Options  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from cvgallery.site.query import readable_id  # noqa: E402


class SlowMediaHandler(SimpleHTTPRequestHandler):
    """Serves the output folder; pictures under media/ wait ``delay`` seconds first."""

    delay = 0.0

    def do_GET(self) -> None:  # noqa: N802 (http.server API)
        if self.path.startswith("/media/") and type(self).delay:
            time.sleep(type(self).delay)
        super().do_GET()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture(scope="module")
def demo_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository's demo (site.toml, content/, art/upstream/) built in a temporary copy."""
    root = tmp_path_factory.mktemp("demo")
    shutil.copy(REPO / "site.toml", root / "site.toml")
    shutil.copytree(REPO / "content", root / "content")
    shutil.copytree(REPO / "art" / "upstream", root / "art" / "upstream")
    result = subprocess.run(
        [sys.executable, "-m", "cvgallery", "build", "--root", str(root)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return root / "art" / "gallery-html"


@pytest.fixture(scope="module")
def server(demo_site: Path) -> Iterator[tuple[str, type[SlowMediaHandler]]]:
    handler = type("Handler", (SlowMediaHandler,), {"delay": 0.0})
    httpd = ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(demo_site))
    )
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", handler
    finally:
        httpd.shutdown()
        httpd.server_close()


def make_driver(profile: Path, javascript: bool = True):  # type: ignore[no-untyped-def]
    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1280,900",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    options.page_load_strategy = "eager"  # return at DOMContentLoaded, before pictures load
    if not javascript:
        options.add_experimental_option(
            "prefs", {"profile.managed_default_content_settings.javascript": 2}
        )
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)


@pytest.fixture
def driver(tmp_path: Path):  # type: ignore[no-untyped-def]
    drv = make_driver(tmp_path / "profile")
    try:
        yield drv
    finally:
        drv.quit()


def severe_logs(drv) -> list[dict[str, object]]:  # type: ignore[no-untyped-def]
    return [e for e in drv.get_log("browser") if e.get("level") in ("SEVERE", "ERROR")]


def all_images_loaded(drv) -> bool:  # type: ignore[no-untyped-def]
    return bool(
        drv.execute_script(
            "const imgs = [...document.querySelectorAll('.grid img')];"
            "imgs.forEach(i => i.loading = 'eager');"
            "return imgs.length > 0 && imgs.every(i => i.complete && i.naturalWidth > 0);"
        )
    )


def test_placeholder_then_images_and_no_console_errors(driver, server):  # type: ignore[no-untyped-def]
    base, handler = server
    handler.delay = 3.0
    try:
        driver.get(f"{base}/index.html")
        state = driver.execute_script(
            "const f = document.querySelector('.grid figure');"
            "const img = f.querySelector('img');"
            "return [getComputedStyle(f).backgroundImage, img.complete, img.naturalWidth,"
            "        f.getBoundingClientRect().height];"
        )
        background, complete, natural_width, height = state
        assert background.startswith('url("data:image/png;base64,'), background
        assert not complete and natural_width == 0  # the picture is still on its way
        assert height > 50  # the figure already has its final size: nothing will shift
        SCREENSHOTS.mkdir(exist_ok=True)
        driver.save_screenshot(str(SCREENSHOTS / "placeholders.png"))
    finally:
        handler.delay = 0.0
    WebDriverWait(driver, 30).until(all_images_loaded)
    count = driver.execute_script(
        "return document.querySelectorAll('.grid figure[data-id]').length"
    )
    assert count == 12
    driver.execute_script("window.scrollTo(0, 0)")
    SCREENSHOTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(SCREENSHOTS / "home.png"))
    for page in ("about.html", "image/alpine-dawn.html"):
        driver.get(f"{base}/{page}")
        WebDriverWait(driver, 10).until(
            lambda d: d.execute_script("return document.readyState") == "complete"
        )
    driver.save_screenshot(str(SCREENSHOTS / "image-page.png"))
    driver.set_window_size(390, 844)  # a phone
    driver.get(f"{base}/index.html")
    WebDriverWait(driver, 30).until(all_images_loaded)
    driver.execute_script("window.scrollTo(0, 0)")
    driver.save_screenshot(str(SCREENSHOTS / "home-phone.png"))
    assert severe_logs(driver) == []


def test_lightbox_opens_moves_with_arrows_and_closes_with_escape(driver, server):  # type: ignore[no-untyped-def]
    base, _handler = server
    driver.get(f"{base}/index.html")
    WebDriverWait(driver, 30).until(all_images_loaded)
    ids = driver.execute_script(
        "return [...document.querySelectorAll('.grid figure')].map(f => f.dataset.id)"
    )
    first = driver.find_element(By.CSS_SELECTOR, ".grid figure a")
    first.click()
    WebDriverWait(driver, 5).until(
        lambda d: d.execute_script("return !!document.querySelector('dialog.lightbox[open]')")
    )

    def shown() -> str:
        return str(
            driver.execute_script("return document.querySelector('dialog.lightbox').dataset.id")
        )

    def lightbox_image_loaded() -> bool:
        return bool(
            driver.execute_script(
                "const i = document.querySelector('dialog.lightbox img');"
                "return !!i && i.complete && i.naturalWidth > 0"
            )
        )

    assert shown() == ids[0]
    WebDriverWait(driver, 10).until(lambda _d: lightbox_image_loaded())
    SCREENSHOTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(SCREENSHOTS / "lightbox.png"))
    active = driver.switch_to.active_element
    active.send_keys(Keys.ARROW_RIGHT)
    assert shown() == ids[1]
    driver.switch_to.active_element.send_keys(Keys.ARROW_RIGHT)
    assert shown() == ids[2]
    driver.switch_to.active_element.send_keys(Keys.ARROW_LEFT)
    assert shown() == ids[1]
    driver.switch_to.active_element.send_keys(Keys.ESCAPE)
    WebDriverWait(driver, 5).until(
        lambda d: d.execute_script("return !document.querySelector('dialog.lightbox[open]')")
    )
    focused = driver.execute_script("return document.activeElement.parentNode.dataset.id")
    assert focused == ids[1]  # focus returns to the item last shown
    assert severe_logs(driver) == []


def test_without_javascript_placeholders_show_and_items_link_to_pages(server, tmp_path: Path):  # type: ignore[no-untyped-def]
    base, _handler = server
    drv = make_driver(tmp_path / "nojs", javascript=False)
    try:
        drv.get(f"{base}/index.html")
        background = drv.execute_script(
            "return getComputedStyle(document.querySelector('.grid figure')).backgroundImage"
        )
        # execute_script still runs with page scripts disabled (it is the driver's, not the page's)
        assert background.startswith('url("data:image/png;base64,')
        assert drv.execute_script("return !!document.querySelector('dialog.lightbox')") is False
        target = drv.find_element(By.CSS_SELECTOR, ".grid figure a").get_attribute("href")
        drv.find_element(By.CSS_SELECTOR, ".grid figure a").click()
        WebDriverWait(drv, 10).until(lambda d: d.current_url == target)
        assert "/image/" in drv.current_url and drv.find_elements(
            By.CSS_SELECTOR, ".photo-frame img"
        )
    finally:
        drv.quit()


def test_site_works_from_file_urls(demo_site: Path, driver) -> None:  # type: ignore[no-untyped-def]
    """file:// has no directory index and no server: every link names a file."""
    driver.get((demo_site / "index.html").as_uri())
    WebDriverWait(driver, 30).until(all_images_loaded)
    # the stylesheet loaded (the grid is a flex container) and so did the script (a click
    # opens the lightbox, which is made on first use)
    assert (
        driver.execute_script("return getComputedStyle(document.querySelector('.grid')).display")
        == "flex"
    )
    driver.find_element(By.CSS_SELECTOR, ".grid figure a").click()
    WebDriverWait(driver, 5).until(
        lambda d: d.execute_script("return !!document.querySelector('dialog.lightbox[open]')")
    )
    driver.switch_to.active_element.send_keys(Keys.ESCAPE)
    WebDriverWait(driver, 5).until(
        lambda d: d.execute_script("return !document.querySelector('dialog.lightbox[open]')")
    )
    # follow links as a reader would: the navigation, an image page, back to the gallery
    driver.find_element(By.CSS_SELECTOR, ".site-header nav a[href='about.html']").click()
    WebDriverWait(driver, 10).until(lambda d: d.current_url.endswith("/about.html"))
    assert "About this gallery" in driver.find_element(By.TAG_NAME, "h1").text
    href = driver.find_element(By.CSS_SELECTOR, ".brand").get_attribute("href")
    assert href.startswith("file://") and href.endswith("/index.html")
    driver.get((demo_site / "image" / "alpine-dawn.html").as_uri())
    WebDriverWait(driver, 10).until(
        lambda d: d.execute_script(
            "const i = document.querySelector('.photo-frame img');"
            "return !!i && i.complete && i.naturalWidth > 0"
        )
    )
    driver.find_element(By.LINK_TEXT, "Gallery").click()
    WebDriverWait(driver, 10).until(lambda d: d.current_url.endswith("/index.html"))
    assert severe_logs(driver) == []


def test_keyboard_focus_order_and_enter_opens_the_lightbox(driver, server) -> None:  # type: ignore[no-untyped-def]
    base, _handler = server
    driver.get(f"{base}/index.html")
    WebDriverWait(driver, 30).until(all_images_loaded)
    body = driver.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.TAB)
    order = []
    for _ in range(6):
        order.append(
            driver.execute_script(
                "const a = document.activeElement;"
                "return a.closest('figure') ? 'item:' + a.closest('figure').dataset.id"
                "                           : a.textContent.trim()"
            )
        )
        driver.switch_to.active_element.send_keys(Keys.TAB)
    first_id = driver.execute_script("return document.querySelector('.grid figure').dataset.id")
    # skip link, the site name, the navigation, then the pictures in grid order
    assert order[:5] == [
        "Skip to content",
        "cvgallery demo",
        "Gallery",
        "About this gallery",
        f"item:{first_id}",
    ]
    assert order[5].startswith("item:") and order[5] != order[4]
    # back to the first picture, open it with Enter: focus moves into the dialog
    driver.switch_to.active_element.send_keys(Keys.SHIFT, Keys.TAB)
    driver.switch_to.active_element.send_keys(Keys.SHIFT, Keys.TAB)
    driver.switch_to.active_element.send_keys(Keys.ENTER)
    WebDriverWait(driver, 5).until(
        lambda d: d.execute_script("return !!document.querySelector('dialog.lightbox[open]')")
    )
    state = driver.execute_script(
        "const d = document.querySelector('dialog.lightbox');"
        "const img = d.querySelector('.stage img');"
        "return [d.dataset.id, d.contains(document.activeElement), img.alt,"
        "        [...d.querySelectorAll('button')].map(b => b.getAttribute('aria-label'))]"
    )
    assert state[0] == first_id and state[1] is True
    # the picture keeps its alt text in the lightbox (its id as words: it has no title)
    assert state[2] == readable_id(first_id) and not state[2].startswith("Image ")
    assert state[3] == ["Previous image", "Next image", "Close"]
    driver.switch_to.active_element.send_keys(Keys.ESCAPE)
    WebDriverWait(driver, 5).until(
        lambda d: d.execute_script("return !document.querySelector('dialog.lightbox[open]')")
    )


CONTRAST = """
function lum(c) {
  const [r, g, b] = c.match(/[\\d.]+/g).slice(0, 3).map(v => {
    v = v / 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}
const bg = lum(getComputedStyle(document.body).backgroundColor);
return arguments[0].map(sel => {
  const el = document.querySelector(sel);
  const fg = lum(getComputedStyle(el).color);
  return [sel, (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05)];
});
"""


def test_text_contrast_meets_wcag_aa(driver, server) -> None:  # type: ignore[no-untyped-def]
    base, _handler = server
    for page, selectors in (
        (
            "index.html",
            [
                ".brand",
                ".site-header nav a:not([aria-current])",
                ".intro p",
                ".site-footer p",
                ".site-footer a",
            ],
        ),
        ("image/alpine-dawn.html", [".photo-info dt", ".photo-info dd", ".prevnext a"]),
    ):
        driver.get(f"{base}/{page}")
        ratios = driver.execute_script(CONTRAST, selectors)
        low = [(sel, round(ratio, 2)) for sel, ratio in ratios if ratio < 4.5]
        assert low == [], (page, low)


def test_lightbox_keeps_the_aspect_ratio_on_a_phone(driver, server) -> None:  # type: ignore[no-untyped-def]
    """A picture wider than the screen is scaled down whole, not squeezed or letterboxed."""
    base, _handler = server
    driver.set_window_size(390, 844)
    driver.get(f"{base}/index.html")
    WebDriverWait(driver, 30).until(all_images_loaded)
    links = driver.find_elements(By.CSS_SELECTOR, ".grid figure a")
    links[0].click()
    for _ in range(len(links)):
        WebDriverWait(driver, 10).until(
            lambda d: d.execute_script(
                "const i = document.querySelector('dialog.lightbox img');"
                "return !!i && i.complete && i.naturalWidth > 0"
            )
        )
        box, natural, stage = driver.execute_script(
            "const i = document.querySelector('dialog.lightbox img');"
            "const r = i.getBoundingClientRect();"
            "const s = document.querySelector('dialog.lightbox .stage').getBoundingClientRect();"
            "return [[r.width, r.height], [i.naturalWidth, i.naturalHeight], [s.width, s.height]]"
        )
        assert abs(box[0] / box[1] - natural[0] / natural[1]) < 0.02, (box, natural)
        assert box[0] <= stage[0] + 0.5 and box[1] <= stage[1] + 0.5, (box, stage)
        driver.switch_to.active_element.send_keys(Keys.ARROW_RIGHT)


def test_image_page_keeps_details_beside_a_tall_picture(driver, server) -> None:  # type: ignore[no-untyped-def]
    """The picture keeps its aspect ratio within 85vh, and its column is no wider than it."""
    base, _handler = server
    driver.set_window_size(1280, 700)
    for page in ("image/coral-circles.html", "image/night-peaks.html"):  # tall, wide
        driver.get(f"{base}/{page}")
        WebDriverWait(driver, 10).until(
            lambda d: d.execute_script(
                "const i = document.querySelector('.photo-frame img');"
                "return !!i && i.complete && i.naturalWidth > 0"
            )
        )
        frame, info, natural = driver.execute_script(
            "const f = document.querySelector('.photo-frame').getBoundingClientRect();"
            "const t = document.querySelector('.photo-info').getBoundingClientRect();"
            "const i = document.querySelector('.photo-frame img');"
            "return [[f.left, f.right, f.width, f.height], [t.left], [i.naturalWidth, i.naturalHeight]]"
        )
        assert abs(frame[2] / frame[3] - natural[0] / natural[1]) < 0.02, (page, frame, natural)
        assert info[0] - frame[1] <= 40, (page, frame, info)  # the 2rem gap, no empty column
