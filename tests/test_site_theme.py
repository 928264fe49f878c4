"""Theme lookup (site → chosen → default, `!default/` prefix) and safe output."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from site_helpers import add_processed
from test_site import parse

from cvgallery.catalog import Catalog
from cvgallery.errors import ConfigError
from cvgallery.site import build_site
from cvgallery.site.content import render_markdown, split_title
from cvgallery.site.query import media_name, safe_source_url, slugify
from cvgallery.site.theme import builtin_themes_dir


def test_builtin_themes_found_beside_the_package():
    assert (builtin_themes_dir() / "default" / "templates" / "base.html").is_file()


def test_site_overrides_one_template_extending_the_default(catalog: Catalog, tmp_path: Path):
    add_processed(catalog, "a1", seed=1)
    theme = catalog.config.root / "themes" / "default"
    (theme / "templates").mkdir(parents=True)
    (theme / "templates" / "base.html").write_text(
        '{% extends "!default/base.html" %}\n'
        '{% block head %}<meta name="x-site-override" content="yes">{% endblock %}\n'
    )
    (theme / "static").mkdir()
    (theme / "static" / "style.css").write_text("body { background: hotpink; }\n")
    build_site(catalog, tmp_path / "out")
    home = (tmp_path / "out" / "index.html").read_text()
    assert 'name="x-site-override"' in home and 'data-id="a1"' in home
    css = parse(tmp_path / "out" / "index.html").find("link", rel="stylesheet")[0]["href"]
    assert "hotpink" in (tmp_path / "out" / (css or "")).read_text()
    assert list((tmp_path / "out" / "static").glob("gallery.*.js"))  # default asset still there


def test_named_theme_from_site_falls_back_to_default(catalog: Catalog, tmp_path: Path):
    root = catalog.config.root
    (root / "site.toml").write_text('theme = "minimal"\ntitle = "Mine"\n')
    templates = root / "themes" / "minimal" / "templates"
    templates.mkdir(parents=True)
    (templates / "index.html").write_text(
        "<!doctype html><title>{{ site.title }}</title>"
        '{% for i in images %}<i data-id="{{ i.id }}"></i>{% endfor %}\n'
    )
    with Catalog.open(root) as cat:
        add_processed(cat, "b1", seed=2)
        build_site(cat, tmp_path / "out")
    assert (tmp_path / "out" / "index.html").read_text().startswith("<!doctype html><title>Mine")
    assert "photo-frame" in (tmp_path / "out" / "image" / "b1.html").read_text()  # default


def test_unknown_theme_is_a_config_error(catalog: Catalog, tmp_path: Path):
    (catalog.config.root / "site.toml").write_text('theme = "nope"\n')
    with Catalog.open(catalog.config.root) as cat, pytest.raises(ConfigError, match="nope"):
        build_site(cat, tmp_path / "out")


HOSTILE = '"><script>alert(1)</script><img src=x onerror=alert(2)>'


def test_hostile_ids_users_and_urls_cannot_inject_script(catalog: Catalog, tmp_path: Path):
    add_processed(
        catalog,
        "evil" + HOSTILE,
        seed=1,
        user="u" + HOSTILE,
        url="https://ok.example/?q=" + HOSTILE,
    )
    add_processed(catalog, "js-url", seed=2, url="javascript:alert(document.cookie)")
    add_processed(catalog, "data-url", seed=3, url="data:text/html,<script>alert(1)</script>")
    add_processed(catalog, "spaced-js", seed=4, url=" JaVaScRiPt:alert(1)")
    content = catalog.config.root / "content"
    content.mkdir()
    (content / "about.md").write_text(
        "# About <script>alert(3)</script>\n\n<script>alert(4)</script>\n\n"
        "[click](javascript:alert(5)) [d](data:text/html;base64,PHNjcmlwdD4=) "
        "<img src=x onerror=alert(6)>\n\n[ok](https://fine.example)\n"
    )
    out = tmp_path / "out"
    build_site(catalog, out)
    assert not (out / "sitemap.xml").exists()  # no base_url: no sitemap
    for page in [*out.rglob("*.html"), out / "feed.xml"]:
        text = page.read_text()
        assert "<script>alert" not in text, page
        for _tag, attrs in parse(page).tags:
            assert not any(k.startswith("on") for k in attrs), (page, attrs)
            for key in ("href", "src", "poster"):
                value = (attrs.get(key) or "").strip().lower()
                assert not value.startswith(("javascript:", "data:text")), (page, attrs)
        scripts = [a for t, a in parse(page).tags if t == "script"]
        assert all(a.get("src", "").startswith(("static/", "../static/")) for a in scripts)
    evil_pages = list((out / "image").glob("evil*.html"))
    assert len(evil_pages) == 1 and re.fullmatch(r"[\w.-]+\.html", evil_pages[0].name)
    source_links = [a for a in parse(evil_pages[0]).find("a") if "ok.example" in (a["href"] or "")]
    assert source_links[0]["href"] == "https://ok.example/?q=" + HOSTILE
    for name in ("js-url", "data-url", "spaced-js"):
        assert not [
            a
            for a in parse(out / "image" / f"{name}.html").find(
                "a", rel="nofollow noopener noreferrer"
            )
        ]
    about = (out / "about.html").read_text()
    assert "&lt;script&gt;alert(4)&lt;/script&gt;" in about
    assert 'href="https://fine.example"' in about


def test_safe_source_url_and_slugs():
    assert safe_source_url("https://a.example/x") == "https://a.example/x"
    assert safe_source_url("HTTP://a.example") == "HTTP://a.example"
    for bad in (
        "javascript:alert(1)",
        "data:image/png;base64,xx",
        "vbscript:x",
        "//evil",
        "",
        None,
        "https://a.example/\nx",
        "https://a.example/\tx",
        "http://[::1/x",  # not a URL at all (an unclosed IPv6 host)
    ):
        assert safe_source_url(bad) is None
    assert slugify("plain-id_1.2") == "plain-id_1.2"
    assert slugify("a/b") != slugify("a?b") and re.fullmatch(r"[\w.-]+", slugify("ü ñ <>"))


def test_markdown_title_rules_and_unsafe_links():
    assert split_title("title: Hello\n\n# Other\n", "x")[0] == "Hello"
    assert split_title("intro\n\n## Second level\n", "x")[0] == "Second level"
    assert split_title("no heading here\n", "my-page")[0] == "My page"
    html = render_markdown("[a](javascript:alert(1)) [b](jav&#x09;ascript:x) [c](/rel.html)")
    assert 'href="/rel.html"' in html and html.count("href=") == 1


def test_media_names_are_one_safe_file_whatever_the_artifact_path():
    sha = "ab" * 32
    assert media_name(sha, "web-optimized/x.JPEG") == f"media/{sha[:20]}.jpeg"
    assert media_name(sha, "my.stage/noext") == f"media/{sha[:20]}.bin"
    assert media_name(sha, 'web-optimized/x.jp"g><script>') == f"media/{sha[:20]}.bin"
    assert re.fullmatch(r"media/[0-9a-f]{20}\.bin", media_name(None, "a/b"))


def test_templates_read_dict_keys_and_attributes_as_jinja_does(catalog: Catalog):
    """The environment's quicker key look-up gives Jinja's answers: the attribute where a
    dict has one of that name, the key otherwise, an error for neither."""
    import jinja2

    from cvgallery.site.context import Recording, SiteInfo
    from cvgallery.site.theme import Theme

    env = Theme(catalog.config).env
    page = {"title": "<b>", "items": "a key named like a method"}
    site = SiteInfo({"title": "T"}, 7, lambda: "newest")
    out = env.from_string(
        "{{ page.title }}|{{ page.items is callable }}|{{ page['items'] }}|"
        "{{ site.title }}|{{ site.image_count }}|{{ site.cover }}"
    )
    with Recording() as facts:
        text = out.render(page=page, site=site)
    assert text == "&lt;b&gt;|True|a key named like a method|T|7|newest"
    assert facts == {"image_count", "cover"}
    with pytest.raises(jinja2.UndefinedError):
        env.from_string("{{ page.missing }}").render(page=page)
    with pytest.raises(jinja2.UndefinedError):
        env.from_string("{{ site.nothing }}").render(site=site)


def test_control_characters_never_reach_a_page_through_markup_filters(catalog: Catalog):
    """Finalize leaves markup alone (a macro's output was cleaned as it was made); the
    filters that turn a raw value into markup clean it themselves."""
    from cvgallery.site.theme import Theme

    env = Theme(catalog.config).env
    raw = "a\x01b\x0b<i>c</i>\x1f"
    out = env.from_string(
        "{% macro m(x) %}[{{ x }}]{% endmacro %}"
        "{{ v }}|{{ v|safe }}|{{ v|e }}|{{ v|escape }}|{{ v|forceescape }}|{{ v|xmltext }}|{{ m(v) }}"
    ).render(v=raw)
    assert not any(ch in out for ch in "\x01\x0b\x1f"), repr(out)
    assert out.split("|")[1] == "ab<i>c</i>"  # safe: cleaned, not escaped
