"""Words shown with a picture: `cvgallery set`, alt text fallbacks, the taken-date order,
the camera line, meta description, canonical and social tags, the feed."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from site_helpers import add_processed
from test_site import parse

from cvgallery.catalog import Catalog
from cvgallery.commands import images as image_commands
from cvgallery.site import build_site
from cvgallery.site.query import readable_id

ATOM = "{http://www.w3.org/2005/Atom}"


def set_taken(catalog: Catalog, image_id: str, taken: str | None) -> None:
    with catalog.transaction():
        catalog.conn.execute("UPDATE images SET taken_at = ? WHERE id = ?", (taken, image_id))


@pytest.fixture
def pictures(catalog: Catalog) -> Catalog:
    """Four pictures added in order a, b, c, d; taken in another order; b has words."""
    for n, image_id in enumerate("abcd"):
        add_processed(
            catalog, f"photo-{image_id}", seed=n, created_at=f"2026-01-01 00:00:0{n}", user="ann"
        )
    set_taken(catalog, "photo-a", "2024-06-01T12:00:00+02:00")
    set_taken(catalog, "photo-b", "2019-03-02T08:00:00")
    set_taken(catalog, "photo-d", "2022-01-01")
    report = image_commands.set_words(
        catalog,
        [("photo-b", {"title": "Harbour at dawn", "caption": "Boats & <nets>.\nCold morning."})],
    )
    assert report.ok, report.failures
    return catalog


# -- set ---------------------------------------------------------------------------------------


def test_set_and_clear_words(pictures: Catalog) -> None:
    words = pictures.images.words("photo-b")
    assert words == {"title": "Harbour at dawn", "caption": "Boats & <nets>.\nCold morning.",
                     "alt": None}  # fmt: skip
    report = image_commands.set_words(pictures, [("photo-b", {"alt": "Boats", "title": ""})])
    assert report.ok and report.lines == ["set photo-b: alt, title"]
    assert pictures.images.words("photo-b") == {
        "title": None, "caption": "Boats & <nets>.\nCold morning.", "alt": "Boats"
    }  # fmt: skip


def test_set_rejects_what_cannot_be_stored(pictures: Catalog) -> None:
    report = image_commands.set_words(
        pictures,
        [
            ("nope", {"title": "x"}),
            ("photo-a", {"title": "t" * 201}),
            ("photo-a", {"colour": "red"}),
            ("photo-a", {"title": 5}),
            ("photo-a", {}),
            ("photo-c", {"title": "Fine\x07 title"}),
        ],
    )
    assert report.code == 1 and len(report.failures) == 5
    assert "unknown image id: 'nope'" in report.failures[0]
    assert "at most 200" in report.failures[1] and "colour" in report.failures[2]
    assert pictures.images.words("photo-c")["title"] == "Fine title"  # the good one is set
    assert pictures.images.words("photo-a")["title"] is None


def test_cli_set_options_and_json_lines(pictures: Catalog, cli_run) -> None:  # type: ignore[no-untyped-def]
    root = pictures.config.root
    done = cli_run("set", "photo-a", "--title", "Été", "--alt", "A lake", "--root", root)
    assert done.returncode == 0, done.stderr
    lines = "\n".join(
        [
            json.dumps({"id": "photo-c", "caption": "Line one\nline two", "alt": None}),
            "not json",
            json.dumps({"id": "missing", "title": "x"}),
            "",
            json.dumps({"id": "photo-d", "title": "Tab\tseparated, \"quoted\""}),
        ]
    )
    piped = cli_run("set", "-", "--root", root, input=lines)
    assert piped.returncode == 1
    assert "stdin line 2: not JSON" in piped.stderr and "unknown image id: 'missing'" in piped.stderr
    assert "set 2, failed 2" in piped.stderr
    with Catalog.open(root) as catalog:
        assert catalog.images.words("photo-a") == {"title": "Été", "caption": None, "alt": "A lake"}
        assert catalog.images.words("photo-c")["caption"] == "Line one\nline two"
        assert catalog.images.words("photo-d")["title"] == 'Tab separated, "quoted"'
    assert cli_run("set", "photo-a", "--root", root).returncode == 2  # nothing to set
    both = cli_run("set", "-", "--title", "x", "--root", root, input="")
    assert both.returncode == 2 and "stdin" in both.stderr
    listed = json.loads(cli_run("list", "--json", "--root", root).stdout)
    assert {r["id"]: r["alt"] for r in listed}["photo-a"] == "A lake"


# -- the pages ---------------------------------------------------------------------------------


def test_order_by_date_taken_then_added(pictures: Catalog, tmp_path: Path) -> None:
    out = tmp_path / "out"
    build_site(pictures, out)
    ids = [f["data-id"] for f in parse(out / "index.html").find("figure")]
    # c has no capture date: its date added (2026) puts it first; then by date taken
    assert ids == ["photo-c", "photo-a", "photo-d", "photo-b"]
    (pictures.config.root / "site.toml").write_text('sort = "added"\n')
    with Catalog.open(pictures.config.root) as catalog:
        build_site(catalog, out)
    ids = [f["data-id"] for f in parse(out / "index.html").find("figure")]
    assert ids == ["photo-d", "photo-c", "photo-b", "photo-a"]


def test_alt_text_falls_back_to_title_then_readable_id(pictures: Catalog, tmp_path: Path) -> None:
    image_commands.set_words(pictures, [("photo-a", {"alt": "A lake under snow"})])
    out = tmp_path / "out"
    build_site(pictures, out)
    alts = {
        f["data-id"]: img["alt"]
        for f, img in zip(
            parse(out / "index.html").find("figure"), parse(out / "index.html").find("img"),
            strict=True,
        )
    }
    assert alts == {
        "photo-a": "A lake under snow",
        "photo-b": "Harbour at dawn",
        "photo-c": "Photo c",
        "photo-d": "Photo d",
    }
    assert readable_id("IMG_1043") == "IMG 1043" and readable_id("alpine-dawn") == "Alpine dawn"
    html = (out / "index.html").read_text()
    assert "Image photo" not in html


def test_image_page_shows_words_date_and_camera_line_on_demand(
    pictures: Catalog, tmp_path: Path
) -> None:
    with pictures.transaction():
        pictures.conn.execute(
            "UPDATE images SET camera = 'Canon EOS R5', lens = 'RF35mm F1.8', "
            "exposure = '1/250 s · f/8 · ISO 100 · 35 mm' WHERE id = 'photo-b'"
        )
    out = tmp_path / "out"
    build_site(pictures, out)
    page = (out / "image" / "photo-b.html").read_text()
    assert "<h1>Harbour at dawn</h1>" in page
    assert '<p class="caption">Boats &amp; &lt;nets&gt;.\nCold morning.</p>' in page
    assert '<time datetime="2019-03-02T08:00:00">2 March 2019, 08:00</time>' in page
    assert "Canon EOS R5" not in page  # show_exif is off by default
    assert "<title>Harbour at dawn · Gallery</title>" in page
    (pictures.config.root / "site.toml").write_text("show_exif = true\n")
    with Catalog.open(pictures.config.root) as catalog:
        build_site(catalog, out)
    page = (out / "image" / "photo-b.html").read_text()
    assert "<dd>Canon EOS R5 · RF35mm F1.8 · 1/250 s · f/8 · ISO 100 · 35 mm</dd>" in page
    assert "<h1>Photo d</h1>" in (out / "image" / "photo-d.html").read_text()


def meta(path: Path) -> dict[str, str]:
    tags = parse(path)
    out = {}
    for attrs in tags.find("meta"):
        key = attrs.get("property") or attrs.get("name")
        if key:
            out[key] = attrs.get("content") or ""
    for attrs in tags.find("link", rel="canonical"):
        out["canonical"] = attrs.get("href") or ""
    return out


def test_meta_description_canonical_and_social_tags(pictures: Catalog, tmp_path: Path) -> None:
    root = pictures.config.root
    (root / "site.toml").write_text(
        'title = "Harbours"\ndescription = "Boats, mostly."\n'
        'base_url = "https://example.org/g"\nper_page = 2\n'
    )
    (root / "content").mkdir()
    (root / "content" / "about.md").write_text("# About\n\nWho took these.\n")
    out = tmp_path / "out"
    with Catalog.open(root) as catalog:
        build_site(catalog, out)
    pages = ["index.html", "page-2.html", "image/photo-b.html", "user/ann.html", "about.html"]
    for name in pages:
        tags = meta(out / name)
        assert tags["description"], name
        assert tags["og:description"] == tags["description"], name
        assert tags["canonical"] == f"https://example.org/g/{name}", name
        assert tags["og:url"] == tags["canonical"], name
        assert tags["og:type"] in ("website", "article"), name
        assert tags["twitter:card"] == "summary_large_image", name
        assert re.fullmatch(r"https://example\.org/g/media/[0-9a-f]{20}\.jpeg", tags["og:image"])
        assert (out / tags["og:image"].removeprefix("https://example.org/g/")).is_file()
        assert tags["og:image:alt"], name
    image = meta(out / "image/photo-b.html")
    assert image["description"] == "Boats & <nets>.\nCold morning."  # parsed: unescaped
    assert image["og:type"] == "article" and image["og:title"] == "Harbour at dawn · Harbours"
    assert meta(out / "index.html")["description"] == "Boats, mostly."
    assert meta(out / "page-2.html")["description"].startswith("Page 2: ")
    # Without base_url: no absolute URLs, no og:image, a plain card.
    (root / "site.toml").write_text('title = "Harbours"\n')
    with Catalog.open(root) as catalog:
        build_site(catalog, out)
    tags = meta(out / "index.html")
    assert "og:image" not in tags and "canonical" not in tags
    assert tags["twitter:card"] == "summary" and tags["description"] == "Pictures from Harbours."


def test_feed_has_titles_captions_and_a_display_size(pictures: Catalog, tmp_path: Path) -> None:
    out = tmp_path / "out"
    build_site(pictures, out, base_url="https://example.org")
    feed = ET.parse(out / "feed.xml").getroot()
    entries = {e.find(f"{ATOM}id").text: e for e in feed.iter(f"{ATOM}entry")}  # type: ignore[union-attr]
    entry = entries["https://example.org/image/photo-b.html"]
    assert entry.find(f"{ATOM}title").text == "Harbour at dawn"  # type: ignore[union-attr]
    assert entry.find(f"{ATOM}summary").text == "Boats & <nets>.\nCold morning."  # type: ignore[union-attr]
    body = entry.find(f"{ATOM}content").text or ""  # type: ignore[union-attr]
    assert 'alt="Harbour at dawn"' in body and "https://example.org/media/" in body
    assert "<p>Boats &amp; &lt;nets&gt;." in body


@pytest.mark.parametrize(
    ("title", "label"),
    [("Gallery", "Photos"), ("My Gallery of Boats", "Photos"), ("Harbours", "Gallery"),
     ("cvgallery demo", "Gallery")],
)  # fmt: skip
def test_no_doubled_words_in_the_header(
    catalog: Catalog, tmp_path: Path, title: str, label: str
) -> None:
    add_processed(catalog, "one")
    (catalog.config.root / "site.toml").write_text(f'title = "{title}"\n')
    with Catalog.open(catalog.config.root) as fresh:
        build_site(fresh, tmp_path / "out")
    home = parse(tmp_path / "out" / "index.html")
    nav = [a for a in home.find("a", **{"aria-current": "page"})]
    assert len(nav) == 1
    text = (tmp_path / "out" / "index.html").read_text()
    header = text.split('<header class="site-header">')[1].split("</header>")[0]
    words = re.sub(r"<[^>]+>", " ", header).split()
    assert f'aria-current="page">{label}</a>' in header
    assert all(a.casefold() != b.casefold() for a, b in zip(words, words[1:], strict=False))
