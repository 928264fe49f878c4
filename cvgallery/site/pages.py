"""Phase two of a build: render the files phase one found changed, through the theme.

Rows are fetched by position for the pages being rendered only (a window of one index
page and its neighbours at a time, one user page at a time), so memory stays flat and
placeholders are decoded only for pictures on those pages.

Links are relative (``root`` is "", "../" or "../../" depending on the page's folder) and
name files, never folders, so the site works from a domain root, a sub-path and file://.
Absolute URLs (base_url) appear only in the Atom feed, the sitemap and social tags.
The template context is documented in themes/default/README.md.
"""

from __future__ import annotations

import copy
import hashlib
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import quote

import cvgallery

from ..catalog import Catalog, GalleryRow
from ..config import SiteConfig
from ..errors import BuildError
from .content import ContentPage
from .context import IMAGE_COUNT, Pagination, Recording, SiteInfo, UserInfo, UserList, user_fact
from .paging import HOME, index_url, user_home_url, user_page_url
from .plan import FEED_URL, Dirty, Job, Plan
from .query import ImageItem, attach_derived, make_items
from .theme import Theme, read_theme_file

HASHED_ASSETS = (".css", ".js")
#: the site's folder whose files are published at the root of the output
SITE_STATIC = "static"


class Placement(NamedTuple):
    """A media file a page uses: where it goes, its file under art/, whether it is a
    video (published as a remux without metadata), and the picture it belongs to."""

    rel: str
    path: str
    video: bool
    owner: str


class Rendered(NamedTuple):
    rel: str
    data: bytes
    #: the site-wide facts the template read (context.py)
    facts: list[str]
    #: the media files of the picture(s) an image page shows
    placements: list[Placement]


class Renderer:
    """Renders pages of one build; see the module docstring."""

    def __init__(
        self,
        catalog: Catalog,
        theme: Theme,
        config: SiteConfig,
        plan: Plan,
        *,
        base_url: str,
        intro: ContentPage | None,
        pages: list[ContentPage],
        assets: dict[str, str],
    ):
        self.catalog = catalog
        self.theme = theme
        self.config = config
        self.plan = plan
        self.base_url = base_url
        self.intro = intro
        self.pages = {p.name: p for p in pages}
        self.hidden = frozenset(name for name, cfg in config.stages.items() if not cfg.publish)
        self._rows: dict[str, GalleryRow] = {}
        self._items: dict[int, ImageItem] = {}
        self._cover_item: ImageItem | None = None
        users = [UserInfo(u.name, u.url, len(u.positions)) for u in plan.sorted_users()]
        site = {
            "title": config.title,
            "description": config.description,
            "base_url": base_url,
            "theme": config.theme,
            "generator": f"cvgallery {cvgallery.__version__}",
            "feed_url": FEED_URL,
            # Sharing and search: every page has a description and, with base_url, an
            # og:image (a page without pictures of its own shows site.cover, the newest).
            "summary": config.description or f"Pictures from {config.title}.",
            "show_exif": config.show_exif,
            # The navigation's link home, not a second "Gallery" beside a title saying it.
            "home_label": "Photos" if re.search(r"\bgallery\b", config.title, re.I) else "Gallery",
        }
        self.common: dict[str, Any] = {
            "site": SiteInfo(site, len(plan.ids), self._cover),
            "pages": pages,
            "users": UserList(users),
            "asset": lambda name: assets.get(name, f"static/{name}"),
            "absolute": self.absolute,
            "entry_id": self.entry_id,
        }

    def absolute(self, path: str) -> str:
        """An absolute URL (feed, sitemap, social tags): a page named in another script
        (image/café.html) is percent-encoded, as a sitemap's URLs must be."""
        return f"{self.base_url}/{quote(path, safe='/')}" if self.base_url else path

    def entry_id(self, path: str) -> str:
        """An Atom id must be an absolute IRI: the URL, or a URN when base_url is unset."""
        return self.absolute(path) if self.base_url else f"urn:cvgallery:{quote(path)}"

    def render(self, dirty: dict[str, Dirty]) -> Iterator[Rendered]:
        """Every dirty file, rendered; pictures grouped by the index page they are on."""
        per_page = self.plan.per_page
        windows: dict[int, list[tuple[str, Job]]] = {}
        rest: list[tuple[str, Job]] = []
        for rel, item in dirty.items():
            window = window_of(item.job, per_page)
            if window is None:
                rest.append((rel, item.job))
            else:
                windows.setdefault(window, []).append((rel, item.job))
        for window in sorted(windows):
            start = window * per_page
            self._load(range(start - 1, start + per_page + 1))
            for rel, job in sorted(windows[window]):
                yield self._render(rel, job)
        for rel, job in sorted(rest):
            yield self._render(rel, job)

    # -- rows and items ---------------------------------------------------------------

    def _cover(self) -> ImageItem | None:
        """The newest picture: what a page without pictures of its own shares."""
        if not self.plan.ids:
            return None
        if self._cover_item is None:
            row = self.catalog.gallery.rows_by_id([self.plan.ids[-1]])[self.plan.ids[-1]]
            self._cover_item = self._grouped(row)
        return self._cover_item

    def _load(self, positions: range | list[int]) -> None:
        ids = self.plan.ids
        wanted = [ids[j] for j in positions if 0 <= j < len(ids)]
        self._rows = self.catalog.gallery.rows_by_id(wanted)
        self._items = {}
        missing = [i for i in wanted if i not in self._rows]
        if missing:  # the build reads one snapshot: this is a bug, not a user error
            raise BuildError(f"gallery rows vanished during the build: {', '.join(missing[:5])}")

    def _item(self, j: int) -> ImageItem:
        """The picture at position ``j`` with its children; no prev/next (see _image)."""
        item = self._items.get(j)
        if item is None:
            item = self._items[j] = self._grouped(self._rows[self.plan.ids[j]])
        return item

    def _grouped(self, row: GalleryRow) -> ImageItem:
        item = make_items([row], self.hidden, (self.plan.renamed, self.plan.renamed_users))[0]
        attach_derived([item], self.plan.frames.get(row.id, []), self.hidden)
        item.children = [self._grouped(child) for child in self.plan.children(row.id)]
        return item

    def _items_at(self, positions: range | list[int]) -> list[ImageItem]:
        """Newest first, as pages show them (rows fetched unless the window holds them)."""
        ids = self.plan.ids
        if any(ids[j] not in self._rows for j in positions):
            self._load(positions)
        return [self._item(j) for j in reversed(positions)]

    # -- pages --------------------------------------------------------------------------

    def _render(self, rel: str, job: Job) -> Rendered:
        kind = job[0]
        if kind == "image":
            return self._image(rel, int(job[1]))
        if kind == "child":
            return self._child(rel, int(job[1]), str(job[2]))
        if kind == "index":
            return self._index(rel, int(job[1]))
        if kind == "home":
            return self._index(rel, None)
        if kind == "user":
            return self._user(rel, str(job[1]), int(job[2]))
        if kind == "feed":
            return self._feed(rel)
        if kind == "sitemap":
            return self._sitemap(rel, int(job[1]), int(job[2]))
        if kind == "sitemap-index":
            parts = [f"sitemap-{n}.xml" for n in range(1, int(job[1]) + 1)]
            index = {"kind": "sitemap", "title": "sitemap", "url": rel}
            return self._page("sitemap-index.xml", rel, "", page=index, sitemaps=parts, images=[])
        if kind == "page":
            content = self.pages[str(job[1])]
            page = {"kind": "page", "title": content.title, "url": content.url, "content": content}
            return self._page("page.html", rel, "", page=page, images=[])
        if kind == "static":
            return Rendered(rel, read_theme_file(Path(str(job[1]))), [], [])
        raise BuildError(f"{rel}: unknown kind of page {kind!r}")

    def _page(self, template: str, rel: str, root: str, **context: Any) -> Rendered:
        with Recording() as facts:
            html = self.theme.render(template, {**self.common, "root": root, **context})
        return Rendered(rel, html.encode("utf-8"), sorted(facts), [])

    def _image(self, rel: str, j: int) -> Rendered:
        # Neighbours are items of their own whose prev/next are not set: what a page
        # shows of them is their own row, which is in this page's fingerprint.
        count = len(self.plan.ids)
        image = copy.copy(self._item(j))
        image.prev = self._item(j + 1) if j + 1 < count else None
        image.next = self._item(j - 1) if j > 0 else None
        back = index_url(self.plan.paging.page_of(j))
        page = {"kind": "image", "title": image.id, "url": rel, "back_url": back}
        done = self._page("image.html", rel, "../", page=page, image=image, images=image.children)
        return done._replace(placements=media_of(image, deep=False))

    def _child(self, rel: str, j: int, child_id: str) -> Rendered:
        child = next(c for c in self._item(j).children if c.id == child_id)
        back = index_url(self.plan.paging.page_of(j))
        page = {"kind": "image", "title": child.id, "url": rel, "back_url": back}
        done = self._page("image.html", rel, "../", page=page, image=child, images=child.children)
        return done._replace(placements=media_of(child, deep=True))

    def _index(self, rel: str, number: int | None) -> Rendered:
        paging = self.plan.paging
        pagination = Pagination(paging, number, HOME, index_url, IMAGE_COUNT)
        if number is None:
            images = self._items_at(paging.home_positions())
            title, intro = self.config.title, self.intro
        else:
            images = self._items_at(paging.positions(number))
            title, intro = f"{self.config.title} — page {number}", None
        page = {"kind": "index", "title": title, "url": rel, "intro": intro}
        return self._page("index.html", rel, "", page=page, images=images, pagination=pagination)

    def _user(self, rel: str, name: str, number: int) -> Rendered:
        plan_user = self.plan.users[name]
        paging = self.plan.user_paging(name)
        slug = plan_user.slug
        positions = plan_user.positions
        span = paging.positions(number) if number else paging.home_positions()
        images = self._items_at([positions[i] for i in span])
        user = UserInfo(name, user_home_url(slug), len(positions))
        pagination = Pagination(
            paging,
            number or None,
            user_home_url(slug),
            lambda n: user_page_url(slug, n),
            user_fact(name),
        )
        page = {"kind": "user", "title": name, "url": rel}
        root = "../../" if number else "../"
        return self._page(
            "user.html", rel, root, page=page, user=user, images=images, pagination=pagination
        )

    def _feed(self, rel: str) -> Rendered:
        count = len(self.plan.ids)
        images = self._items_at(range(max(0, count - self.config.feed_size), count))
        updated = (images[0].created_at if images else "") or "1970-01-01 00:00:00"
        page = {"kind": "feed", "title": self.config.title, "url": rel, "updated": updated}
        return self._page("feed.xml", rel, "", page=page, images=images)

    def _sitemap(self, rel: str, part: int, limit: int) -> Rendered:
        urls = self._sitemap_urls()
        if part:
            urls = urls[(part - 1) * limit : part * limit]
        page = {"kind": "sitemap", "title": "sitemap", "url": rel}
        return self._page("sitemap.xml", rel, "", page=page, urls=urls, images=[])

    def _sitemap_urls(self) -> list[str]:
        plan = self.plan
        urls = [HOME, *(index_url(n) for n in range(1, plan.paging.pages + 1))]
        for image_id in reversed(plan.ids):
            urls.append(plan.image_url(image_id))
            urls += [plan.image_url(child.id) for child in plan.children(image_id)]
        for user in plan.sorted_users():
            pages = len(user.positions) // plan.per_page
            urls += [user.url, *(user_page_url(user.slug, n) for n in range(1, pages + 1))]
        urls += [p.url for p in self.pages.values()]
        return urls


def window_of(job: Job, per_page: int) -> int | None:
    """The index page whose rows (and their neighbours') a page is made from, numbered
    from 0: pages of one window are rendered together, from one fetch of rows."""
    kind = job[0]
    if kind in ("image", "child"):
        return int(job[1]) // per_page
    if kind == "index":
        return int(job[1]) - 1
    return None


def media_of(item: ImageItem, *, deep: bool) -> list[Placement]:
    """The files an image page needs placed: its picture's, and with ``deep`` those of its
    children (a child's children have no page of their own to place theirs)."""
    found = [Placement(m.src, m.path, False, item.id) for m in item.media()]
    if item.video:
        found.append(Placement(item.video.src, item.video.path, True, item.id))
    if deep:
        for child in item.children:
            found += media_of(child, deep=True)
    return found


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


def theme_assets(theme: Theme) -> list[tuple[str, str, Path]]:
    """(name, path in the output, file) of every theme asset: under static/, CSS and JS
    with content-hashed names (cache forever)."""
    assets = []
    for name, path in theme.static_files().items():
        rel = f"static/{name}"
        if path.suffix in HASHED_ASSETS:
            digest = hashlib.sha256(read_theme_file(path)).hexdigest()[:10]
            stem = name[: -len(path.suffix)]
            rel = f"static/{stem}.{digest}{path.suffix}"
        assets.append((name, rel, path))
    return assets


__all__ = [
    "SITE_STATIC",
    "Placement",
    "Rendered",
    "Renderer",
    "site_files",
    "theme_assets",
    "window_of",
]
