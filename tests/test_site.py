"""`cvgallery build`: pages, links, placeholders, feed and sitemap, media placement."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner
from process_helpers import make_video
from site_helpers import add_processed, page_files

from cvgallery.catalog import Catalog
from cvgallery.cli import cli
from cvgallery.site import build_site


class Collector(HTMLParser):
    """Tags with their attributes, in document order."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def find(self, tag: str, **want: str) -> list[dict[str, str | None]]:
        return [a for t, a in self.tags if t == tag and all(a.get(k) == v for k, v in want.items())]


def parse(path: Path) -> Collector:
    collector = Collector()
    collector.feed(path.read_text(encoding="utf-8"))
    return collector


def figure_ids(page: Path) -> list[str]:
    return [str(a["data-id"]) for a in parse(page).find("figure") if a.get("data-id")]


def data_ids(output: Path) -> list[str]:
    """Every picture on the numbered index pages (page-1.html holds the oldest), newest first."""
    pages = sorted(output.glob("page-*.html"), key=lambda p: int(p.stem.split("-")[1]))
    return [i for page in reversed(pages) for i in figure_ids(page)]


@pytest.fixture
def gallery(catalog: Catalog) -> Catalog:
    """25 approved images (3 users), one pending, one rejected, one without web-optimized."""
    for n in range(25):
        add_processed(
            catalog,
            f"img{n:02d}",
            size=(40 + n % 4 * 10, 30 + n % 3 * 15),
            seed=n,
            user=("alice", "bob", "carol")[n % 3],
            url=f"https://example.com/src/{n}",
            created_at=f"2026-01-01 00:00:{n:02d}",
        )
    add_processed(catalog, "pending", approved=False, seed=90)
    add_processed(catalog, "rejected", approved=False, seed=91)
    catalog.images.reject(["rejected"])
    add_processed(catalog, "raw-only", seed=92, stages=("upstream",))
    return catalog


def test_every_approved_image_once_newest_first_across_pages(gallery: Catalog, tmp_path: Path):
    out = tmp_path / "out"
    gallery.conn.execute("UPDATE images SET created_at = '2026-01-01 00:00:00' WHERE id = 'img07'")
    report = build_site(gallery, out)
    assert report.images == 25 and not report.failed
    ids = data_ids(out)  # per_page 60: one page
    expected = [f"img{n:02d}" for n in range(24, -1, -1) if n != 7]
    assert ids[:24] == expected and ids[24] == "img07"
    assert not (out / "page-2.html").exists()
    assert figure_ids(out / "index.html") == ids  # the home page shows the newest 60


def test_pagination_follows_per_page(gallery: Catalog, tmp_path: Path):
    (gallery.config.root / "site.toml").write_text("per_page = 10\n")
    with Catalog.open(gallery.config.root) as catalog:
        build_site(catalog, tmp_path / "out")
    out = tmp_path / "out"
    # Numbered from the oldest: page-1 the 10 oldest, page-3 the 5 newest (not yet full).
    assert sorted(p.name for p in out.glob("page-*.html")) == [
        "page-1.html",
        "page-2.html",
        "page-3.html",
    ]
    ids = data_ids(out)
    assert ids == [f"img{n:02d}" for n in range(24, -1, -1)]
    assert figure_ids(out / "page-1.html") == [f"img{n:02d}" for n in range(9, -1, -1)]
    assert figure_ids(out / "page-3.html") == [f"img{n:02d}" for n in range(24, 19, -1)]
    # The home page: the newest 10; "older" leads to the page holding the 11th newest.
    home = parse(out / "index.html")
    assert [f["data-id"] for f in home.find("figure")] == ids[:10]
    assert home.find("a", rel="next")[0]["href"] == "page-2.html"
    assert not home.find("a", rel="prev")
    newest = parse(out / "page-3.html")
    assert newest.find("a", rel="prev")[0]["href"] == "index.html"
    assert newest.find("a", rel="next")[0]["href"] == "page-2.html"
    middle = parse(out / "page-2.html")
    assert middle.find("a", rel="prev")[0]["href"] == "page-3.html"
    assert middle.find("a", rel="next")[0]["href"] == "page-1.html"
    oldest = parse(out / "page-1.html")
    assert oldest.find("a", rel="prev")[0]["href"] == "page-2.html" and not oldest.find(
        "a", rel="next"
    )
    # every image page links back to the numbered page that holds it
    assert parse(out / "image" / "img05.html").find("a", href="../page-1.html")
    assert parse(out / "image" / "img22.html").find("a", href="../page-3.html")


def test_items_have_placeholder_and_stable_img_attributes(gallery: Catalog, tmp_path: Path):
    out = tmp_path / "out"
    build_site(gallery, out)
    html = (out / "index.html").read_text()
    figures = parse(out / "index.html").find("figure")
    assert len(figures) == 25
    for fig in figures:
        assert re.search(
            r"background-image:url\(data:image/png;base64,[A-Za-z0-9+/=]+\)", fig["style"] or ""
        )
    imgs = [a for a in parse(out / "index.html").find("img")]
    assert len(imgs) == 25
    # The first screen loads at once (the first picture with high priority), the rest lazily.
    eager = [img for img in imgs if img.get("loading") != "lazy"]
    assert 1 <= len(eager) < len(imgs) and imgs[: len(eager)] == eager
    assert imgs[0].get("fetchpriority") == "high"
    assert all(img.get("fetchpriority") is None for img in imgs[1:])
    for img in imgs:  # lazy ones decode off the main thread; the first screen paints at once
        assert img.get("decoding") == ("async" if img.get("loading") == "lazy" else None)
        assert int(img["width"] or 0) > 0 and int(img["height"] or 0) > 0 and img["alt"]
        assert (out / (img["src"] or "")).is_file()
    assert "<script>" not in html.split("</head>")[1]  # no inline script in the body


def test_missing_blurhash_still_renders_without_placeholder(catalog: Catalog, tmp_path: Path):
    add_processed(catalog, "nohash", blurhash=None)
    add_processed(catalog, "badhash", blurhash="not a hash!")
    build_site(catalog, tmp_path / "out")
    figures = parse(tmp_path / "out" / "index.html").find("figure")
    assert {f["data-id"] for f in figures} == {"nohash", "badhash"}
    assert all("background-image" not in (f["style"] or "") for f in figures)


def test_image_page_details_and_neighbours(gallery: Catalog, tmp_path: Path):
    out = tmp_path / "out"
    add_processed(gallery, "big", seed=50, stages=("web-optimized", "ersgan-enhanced"))
    build_site(gallery, out)
    page = parse(out / "image" / "img10.html")
    text = (out / "image" / "img10.html").read_text()
    assert "60 × 45 px" in text
    assert page.find("a", rel="prev")[0]["href"] == "../image/img11.html"
    assert page.find("a", rel="next")[0]["href"] == "../image/img09.html"
    assert page.find("a", href="https://example.com/src/10")
    assert page.find("a", href="../user/bob.html")  # 10 % 3 == 1
    big = parse(out / "image" / "big.html").find("a")
    enhanced = [a for a in big if "media/" in (a["href"] or "")]
    assert enhanced and (out / "image" / (enhanced[0]["href"] or "")).resolve().is_file()


def test_user_pages_list_their_images(gallery: Catalog, tmp_path: Path):
    out = tmp_path / "out"
    build_site(gallery, out)
    ids = [f["data-id"] for f in parse(out / "user" / "alice.html").find("figure")]
    assert ids == [f"img{n:02d}" for n in range(24, -1, -1) if n % 3 == 0]


def test_content_pages_nav_and_home_intro(gallery: Catalog, tmp_path: Path):
    content = gallery.config.root / "content"
    content.mkdir()
    (content / "index.md").write_text("# Welcome home\n\nSome *intro* text.\n")
    (content / "about.md").write_text("title: About us\n\nWe make **galleries**.\n")
    (content / "faq.md").write_text("Intro line\n\n## Questions\n\ntext\n")
    out = tmp_path / "out"
    build_site(gallery, out)
    home = (out / "index.html").read_text()
    assert "<h1>Welcome home</h1>" in home and "<em>intro</em>" in home
    nav = parse(out / "index.html").find("a")
    assert {"href": "about.html"} in [{"href": a["href"]} for a in nav]
    about = (out / "about.html").read_text()
    assert "<title>About us · Gallery</title>" in about and "<strong>galleries</strong>" in about
    assert "<title>Questions · Gallery</title>" in (out / "faq.html").read_text()
    # every content page has one top heading: its own, or the title
    assert about.count("<h1>") == 1 and "<h1>About us</h1>" in about
    faq = (out / "faq.html").read_text()
    assert faq.count("<h1>") == 1 and "<h1>Questions</h1>" in faq
    # links from a page in a sub-folder climb back up
    assert parse(out / "image" / "img00.html").find("a", href="../about.html")


def test_feed_and_sitemap_use_base_url_only_there(gallery: Catalog, tmp_path: Path):
    out = tmp_path / "out"
    build_site(gallery, out, base_url="https://example.org/g/")
    ns = {"a": "http://www.w3.org/2005/Atom"}
    feed = ET.parse(out / "feed.xml").getroot()
    entries = feed.findall("a:entry", ns)
    assert len(entries) == 25
    assert entries[0].find("a:link", ns).get("href") == "https://example.org/g/image/img24.html"
    assert entries[0].find("a:updated", ns).text == "2026-01-01T00:00:24Z"
    content = entries[0].find("a:content", ns)
    assert content.get("type") == "html" and len(content) == 0  # escaped HTML, not XML elements
    assert content.text.startswith('<p><a href="https://example.org/g/image/img24.html">')
    assert "https://example.org/g/media/" in content.text
    sitemap = ET.parse(out / "sitemap.xml").getroot()
    locs = [e.text for e in sitemap.iter("{http://www.sitemaps.org/schemas/sitemap/0.9}loc")]
    assert (
        "https://example.org/g/index.html" in locs and "https://example.org/g/user/bob.html" in locs
    )
    assert "https://example.org/g/page-1.html" in locs
    assert len(locs) == len(set(locs)) == 2 + 25 + 3  # home and page-1, images, users
    for page in out.rglob("*.html"):
        tags = [a for t, a in parse(page).tags if t not in ("link", "meta")]
        hrefs = [a.get("href") or "" for a in tags]
        srcs = [a.get("src") or "" for a in tags]
        internal = [u for u in hrefs + srcs if "example.org" in u]
        assert internal == [], page  # pages link relatively (og/canonical are <meta>/<link>)


def test_folder_links_name_index_html_and_all_links_resolve(gallery: Catalog, tmp_path: Path):
    out = tmp_path / "out"
    (gallery.config.root / "site.toml").write_text("per_page = 7\n")
    with Catalog.open(gallery.config.root) as catalog:
        build_site(catalog, out)
    for page in out.rglob("*.html"):
        for _tag, attrs in parse(page).tags:
            for key in ("href", "src"):
                url = attrs.get(key)
                if not url or url.startswith(("https://", "http://", "data:", "#")):
                    continue
                assert not url.endswith("/"), (page, url)
                assert (page.parent / url).resolve().is_file(), (page, url)


def test_media_are_content_hashed_links_to_the_artifacts(gallery: Catalog, tmp_path: Path):
    out = tmp_path / "out"
    build_site(gallery, out)
    row = gallery.artifacts.get("img03", "web-optimized")
    media = out / "media" / f"{row['sha256'][:20]}.jpeg"
    assert media.read_bytes() == (gallery.art_dir / row["file_path"]).read_bytes()
    assert media.stat().st_ino == (gallery.art_dir / row["file_path"]).stat().st_ino
    assert {p.suffix for p in (out / "static").iterdir()} == {".css", ".js"}
    assert all(
        re.fullmatch(r"\w+\.[0-9a-f]{10}\.(css|js)", p.name) for p in (out / "static").iterdir()
    )


def test_children_are_not_on_the_index_but_on_their_parents_page(gallery: Catalog, tmp_path: Path):
    add_processed(gallery, "face-result", seed=60, parent_id="img05")
    add_processed(
        gallery,
        "img05-frame-1",
        seed=61,
        parent_id="img05",
        approved=False,
        stages=("video-frames",),
        blurhash=None,
    )
    out = tmp_path / "out"
    build_site(gallery, out, base_url="https://example.org/g")
    ids = data_ids(out)
    assert "face-result" not in ids and "img05-frame-1" not in ids and len(ids) == 25
    parent = parse(out / "image" / "img05.html")
    assert [f["data-id"] for f in parent.find("figure", **{"data-id": "face-result"})]
    assert (out / "image" / "face-result.html").is_file()
    sitemap = (out / "sitemap.xml").read_text()
    assert "<loc>https://example.org/g/image/face-result.html</loc>" in sitemap
    frames = [a for a in parent.find("img") if a.get("alt") == "img05-frame-1"]
    assert frames and (out / "image" / (frames[0]["src"] or "")).resolve().is_file()


def test_video_has_poster_and_playable_source(catalog: Catalog, tmp_path: Path):
    secret = {"comment": "secret-comment", "location": "+48.8584+002.2945/"}
    upload = make_video(tmp_path / "clip.mp4", seconds=1.0, metadata=secret).read_bytes()
    assert b"secret-comment" in upload and b"loci" in upload  # MP4 keeps a location in loci
    add_processed(catalog, "clip", seed=70, video=upload)
    out = tmp_path / "out"
    build_site(catalog, out)
    page = parse(out / "image" / "clip.html")
    video = page.find("video")[0]
    assert "controls" in video and (out / "image" / (video["poster"] or "")).resolve().is_file()
    assert video["aria-label"] == "Video: Clip"  # a video has no alt: it is named like one
    source = page.find("source")[0]
    assert source["type"] == "video/mp4"
    published = (out / "image" / (source["src"] or "")).resolve().read_bytes()
    # A remuxed copy: a playable MP4 without the upload's comment or location.
    assert published[4:8] == b"ftyp" and b"moov" in published and b"mdat" in published
    assert b"secret-comment" not in published and b"loci" not in published
    assert parse(out / "index.html").find("a", **{"data-video": source["src"][3:]})


def test_home_page_with_60_items_is_under_60_kb(catalog: Catalog, tmp_path: Path):
    for n in range(70):
        add_processed(
            catalog, f"photo-{n:04d}", size=(64, 40 + n % 30), seed=n, user=f"user{n % 7}"
        )
    build_site(catalog, tmp_path / "out")
    home = tmp_path / "out" / "index.html"
    assert len(data_ids(tmp_path / "out")) == 70
    assert len(parse(home).find("figure")) == 60
    assert home.stat().st_size < 60 * 1024


def test_missing_artifact_file_is_reported_and_the_rest_built(gallery: Catalog, tmp_path: Path):
    row = gallery.artifacts.get("img04", "web-optimized")
    (gallery.art_dir / row["file_path"]).unlink()
    (gallery.art_dir / gallery.artifacts.get("img04", "thumbnails-small")["file_path"]).unlink(
        missing_ok=True
    )
    out = tmp_path / "out"
    report = build_site(gallery, out)
    assert len(report.failed) == 1 and "img04" in report.failed[0]
    ids = data_ids(out)
    assert "img04" not in ids and len(ids) == 24


def test_cli_build_no_process_and_exit_codes(gallery: Catalog, tmp_path: Path):
    root = gallery.config.root
    result = CliRunner().invoke(cli, ["build", "--no-process", "--root", str(root)])
    assert result.exit_code == 0, result.output
    assert "25 images" in result.output
    assert len(data_ids(root / "art" / "gallery-html")) == 25
    result = CliRunner().invoke(cli, ["build", "--no-process", "--root", str(root)])
    assert result.exit_code == 0 and "up to date" in result.output
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "precious.txt").write_text("keep me")
    result = CliRunner().invoke(
        cli, ["build", "--no-process", "--root", str(root), "--output", str(foreign)]
    )
    assert result.exit_code == 1 and "refusing" in result.output
    assert (foreign / "precious.txt").read_text() == "keep me"


def test_subprocess_build_with_base_url(gallery: Catalog, tmp_path: Path, cli_run):
    out = tmp_path / "public"
    result = cli_run(
        "build",
        "--no-process",
        "--root",
        gallery.config.root,
        "--output",
        out,
        "--base-url",
        "https://pics.example",
    )
    assert result.returncode == 0, result.stderr
    assert "https://pics.example/image/img00.html" in (out / "feed.xml").read_text()
    assert page_files(out)


REPO = Path(__file__).resolve().parent.parent


def copy_demo(dest: Path) -> Path:
    """The repository's demo site (site.toml, content/, art/upstream/) in a fresh folder."""
    import shutil

    dest.mkdir()
    shutil.copy(REPO / "site.toml", dest / "site.toml")
    shutil.copytree(REPO / "content", dest / "content")
    shutil.copytree(REPO / "art" / "upstream", dest / "art" / "upstream")
    return dest


def test_demo_builds_from_a_fresh_copy_with_processing(tmp_path: Path, cli_run, make_image):
    root = copy_demo(tmp_path / "demo")
    upstream = sorted(p.stem for p in (root / "art" / "upstream").glob("*.jpeg"))
    assert len(upstream) >= 10
    assert sum(p.stat().st_size for p in (root / "art" / "upstream").iterdir()) < 2 * 1024**2
    assert "CC0" in (root / "art" / "upstream" / "LICENSE.md").read_text()  # licences noted
    result = cli_run("build", cwd=root)
    assert result.returncode == 0, result.stdout + result.stderr
    out = root / "art" / "gallery-html"
    assert sorted(data_ids(out)) == upstream
    figures = parse(out / "index.html").find("figure")
    assert all("data:image/png;base64," in (f["style"] or "") for f in figures)
    assert (out / "about.html").is_file() and "A small demo gallery" in (
        out / "index.html"
    ).read_text()
    with Catalog.open(root) as catalog:
        stats = catalog.stats()
        missing = catalog.conn.execute(
            """SELECT COUNT(*) FROM artifacts a LEFT JOIN blurhash_cache b
               ON a.image_id = b.image_id AND b.stage = a.stage
               WHERE a.stage = 'web-optimized' AND b.image_id IS NULL"""
        ).fetchone()[0]
    assert stats["images"]["approved"] == len(upstream) and missing == 0
    assert stats["artifacts"]["web-optimized"] == len(upstream)
    again = cli_run("build", cwd=root)
    assert again.returncode == 0 and "up to date" in again.stderr
    # a picture dropped into art/upstream/ appears on the next build
    make_image("dropped.jpeg", size=(300, 200), folder=root / "art" / "upstream")
    third = cli_run("build", cwd=root)
    assert third.returncode == 0, third.stderr
    assert "dropped" in data_ids(out)


def test_broken_upload_is_reported_and_the_rest_is_built(tmp_path: Path, cli_run):
    root = copy_demo(tmp_path / "demo")
    (root / "art" / "upstream" / "broken.jpeg").write_bytes(b"this is not a jpeg")
    result = cli_run("build", cwd=root)
    assert result.returncode == 1
    assert "broken.jpeg" in result.stderr
    out = root / "art" / "gallery-html"
    assert len(data_ids(out)) == 12 and "broken" not in data_ids(out)
    assert cli_run("build", cwd=root).returncode == 0  # reported once, recorded as rejected


def test_site_toml_title_and_base_url_are_used(gallery: Catalog, tmp_path: Path):
    root = gallery.config.root
    (root / "site.toml").write_text(
        'title = "My <Pics>"\nbase_url = "https://toml.example/p/"\nfeed_size = 5\n'
    )
    out = tmp_path / "out"
    with Catalog.open(root) as catalog:
        build_site(catalog, out)
    home = (out / "index.html").read_text()
    assert "<title>My &lt;Pics&gt;</title>" in home
    assert '<link rel="canonical" href="https://toml.example/p/index.html">' in home
    assert "<loc>https://toml.example/p/image/img00.html</loc>" in (out / "sitemap.xml").read_text()
    feed = ET.parse(out / "feed.xml").getroot()
    titles = [e.text for e in feed.iter("{http://www.w3.org/2005/Atom}title")][1:]
    # the newest feed_size, named by their ids as words (they have no titles)
    assert titles == ["Img24", "Img23", "Img22", "Img21", "Img20"]
    # --base-url wins over site.toml
    with Catalog.open(root) as catalog:
        build_site(catalog, out, base_url="https://flag.example")
    assert "https://flag.example/feed.xml" in (out / "feed.xml").read_text()
    assert "toml.example" not in (out / "feed.xml").read_text()


def test_no_process_renders_the_catalog_as_it_is(gallery: Catalog, tmp_path: Path, make_image):
    """--no-process neither registers new uploads nor makes artifacts or hashes."""
    root = gallery.config.root
    make_image("dropped.jpeg", size=(120, 80), folder=root / "art" / "upstream")
    gallery.conn.execute("DELETE FROM blurhash_cache WHERE image_id = 'img03'")
    result = CliRunner().invoke(cli, ["build", "--no-process", "--root", str(root)])
    assert result.exit_code == 0, result.output
    out = root / "art" / "gallery-html"
    assert "dropped" not in data_ids(out) and len(data_ids(out)) == 25
    figure = parse(out / "index.html").find("figure", **{"data-id": "img03"})[0]
    assert "background-image" not in (figure["style"] or "")
    assert (
        gallery.conn.execute("SELECT COUNT(*) FROM images WHERE id = 'dropped'").fetchone()[0] == 0
    )
    assert (
        gallery.conn.execute(
            "SELECT COUNT(*) FROM blurhash_cache WHERE image_id = 'img03'"
        ).fetchone()[0]
        == 0
    )
