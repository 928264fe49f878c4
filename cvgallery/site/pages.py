"""Every page of the site, rendered through the theme into the output tree.

Links are relative (``root`` is "" or "../" depending on the page's folder) and name
files, never folders, so the site works from a domain root, a sub-path and file://.
Absolute URLs (base_url) appear only in the Atom feed, the sitemap and social tags.
The template context is documented in themes/default/README.md.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import cvgallery

from ..config import SiteConfig
from .content import ContentPage
from .output import OutputTree
from .query import ImageItem
from .theme import Theme, read_theme_file

HASHED_ASSETS = (".css", ".js")
#: the site's folder whose files are published at the root of the output
SITE_STATIC = "static"


@dataclass
class Pagination:
    """Where an index page sits among all of them; urls are relative to the site root."""

    number: int
    count: int
    urls: list[str]

    @property
    def url(self) -> str:
        return self.urls[self.number - 1]

    @property
    def prev_url(self) -> str | None:
        return self.urls[self.number - 2] if self.number > 1 else None

    @property
    def next_url(self) -> str | None:
        return self.urls[self.number] if self.number < self.count else None


@dataclass
class User:
    name: str
    url: str
    images: list[ImageItem]

    @property
    def count(self) -> int:
        return len(self.images)


def index_url(number: int) -> str:
    return "index.html" if number == 1 else f"page-{number}.html"


def render_site(
    tree: OutputTree,
    theme: Theme,
    config: SiteConfig,
    images: list[ImageItem],
    intro: ContentPage | None,
    pages: list[ContentPage],
    base_url: str,
) -> None:
    _place_site_files(tree, config.root / SITE_STATIC)
    assets = _place_static(tree, theme)
    users = _group_users(images)
    per_page = config.per_page
    chunks = [images[i : i + per_page] for i in range(0, len(images), per_page)] or [[]]
    urls = [index_url(n) for n in range(1, len(chunks) + 1)]
    home_of: dict[str, str] = {}
    for n, chunk in enumerate(chunks, 1):
        for item in chunk:
            home_of[item.id] = urls[n - 1]

    def absolute(path: str) -> str:
        """An absolute URL (feed, sitemap, social tags): a page named in another script
        (image/café.html) is percent-encoded, as a sitemap's URLs must be."""
        return f"{base_url}/{quote(path, safe='/')}" if base_url else path

    def entry_id(path: str) -> str:
        """An Atom id must be an absolute IRI: the URL, or a URN when base_url is unset."""
        return absolute(path) if base_url else f"urn:cvgallery:{quote(path)}"

    site = {
        "title": config.title,
        "description": config.description,
        "base_url": base_url,
        "theme": config.theme,
        "generator": f"cvgallery {cvgallery.__version__}",
        "image_count": len(images),
        "feed_url": "feed.xml",
        # Sharing and search: every page has a description and, with base_url, an og:image.
        # (the same on every page whatever changes: one new picture rewrites no other page)
        "summary": config.description or f"Pictures from {config.title}.",
        "cover": images[0] if images else None,
        "show_exif": config.show_exif,
        # The navigation's link home, not a second "Gallery" beside a title that says it.
        "home_label": "Photos" if re.search(r"\bgallery\b", config.title, re.I) else "Gallery",
    }
    common: dict[str, Any] = {
        "site": site,
        "pages": pages,
        "users": users,
        "asset": lambda name: assets.get(name, f"static/{name}"),
        "absolute": absolute,
        "entry_id": entry_id,
    }

    def render(template: str, rel: str, root: str, **context: Any) -> None:
        html = theme.render(template, {**common, "root": root, **context})
        tree.write(rel, html.encode("utf-8"))

    for n, chunk in enumerate(chunks, 1):
        pagination = Pagination(n, len(chunks), urls)
        title = config.title if n == 1 else f"{config.title} — page {n}"
        page = {
            "kind": "index",
            "title": title,
            "url": urls[n - 1],
            "intro": intro if n == 1 else None,
        }
        render("index.html", urls[n - 1], "", page=page, images=chunk, pagination=pagination)
    for item in images:
        for shown in (item, *item.children):
            back = home_of[item.id]
            page = {"kind": "image", "title": shown.id, "url": shown.url, "back_url": back}
            render("image.html", shown.url, "../", page=page, image=shown, images=shown.children)
    for user in users:
        page = {"kind": "user", "title": user.name, "url": user.url}
        render("user.html", user.url, "../", page=page, user=user, images=user.images)
    for content in pages:
        page = {"kind": "page", "title": content.title, "url": content.url, "content": content}
        render("page.html", content.url, "", page=page, images=[])
    updated = max((i.created_at for i in images), default="") or "1970-01-01 00:00:00"
    feed_items = images[: config.feed_size]
    feed_page = {"kind": "feed", "title": config.title, "url": "feed.xml", "updated": updated}
    render("feed.xml", "feed.xml", "", page=feed_page, images=feed_items)
    if base_url:  # a sitemap must list absolute URLs: without base_url there is none
        image_urls = [shown.url for item in images for shown in (item, *item.children)]
        sitemap_urls = [*urls, *image_urls, *(u.url for u in users), *(p.url for p in pages)]
        sitemap_page = {"kind": "sitemap", "title": "sitemap", "url": "sitemap.xml"}
        render("sitemap.xml", "sitemap.xml", "", page=sitemap_page, urls=sitemap_urls, images=[])


def site_files(folder: Path) -> list[tuple[str, Path]]:
    """The site's own static/ files (CNAME, robots.txt, favicon.ico, .well-known/...), as
    (path in the output, file); dotfiles included, symlinks and other oddities left out."""
    found = []
    if folder.is_dir():
        for dirpath, dirnames, filenames in os.walk(folder):
            dirnames.sort()
            for name in sorted(filenames):
                path = Path(dirpath) / name
                if path.is_file() and not path.is_symlink():
                    found.append((path.relative_to(folder).as_posix(), path))
    return found


def _place_site_files(tree: OutputTree, folder: Path) -> None:
    """Copied to the output root; a page of the same name, written later, wins."""
    for rel, path in site_files(folder):
        tree.write(rel, path.read_bytes())


def _place_static(tree: OutputTree, theme: Theme) -> dict[str, str]:
    """Theme assets under static/; CSS and JS get content-hashed names (cache forever)."""
    assets: dict[str, str] = {}
    for name, path in theme.static_files().items():
        data = read_theme_file(path)
        rel = f"static/{name}"
        if path.suffix in HASHED_ASSETS:
            digest = hashlib.sha256(data).hexdigest()[:10]
            stem = name[: -len(path.suffix)]
            rel = f"static/{stem}.{digest}{path.suffix}"
        tree.write(rel, data)
        assets[name] = rel
    return assets


def _group_users(images: Sequence[ImageItem]) -> list[User]:
    users: dict[str, User] = {}
    for item in images:
        if item.username and item.user_url:
            user = users.get(item.username)
            if user is None:  # the page name settled for all users at once (make_items)
                user = users[item.username] = User(item.username, item.user_url, [])
            user.images.append(item)
    return sorted(users.values(), key=lambda u: u.name.casefold())
