"""Index pages numbered from the oldest picture, so a new picture changes O(1) of them.

With pages counted from the newest, one new picture pushes one picture from every page
onto the next: every index page changes. Counted from the oldest, ``page-1.html`` holds
the ``per_page`` oldest pictures, page 2 the next ones, and a full page never changes
when pictures are added after it. The list's own page (``index.html`` for the gallery,
``user/<name>.html`` for a user) shows the newest ``per_page`` pictures: the last pages'
pictures again, so it is never nearly empty.

The gallery also has its last, not yet full page as a numbered page (``partial``): every
image page links back to the numbered page holding it, and that link must not move when
the page fills up. A user's list has full numbered pages only (nothing links back to
them); its own page shows the rest.

Within a page pictures are newest first, as everywhere; ``prev`` is the newer side.
"""

from __future__ import annotations

from dataclasses import dataclass

HOME = "index.html"


def index_url(number: int) -> str:
    """The gallery's numbered index page (1 = the oldest pictures)."""
    return f"page-{number}.html"


def user_home_url(slug: str) -> str:
    return f"user/{slug}.html"


def user_page_url(slug: str, number: int) -> str:
    return f"user/{slug}/page-{number}.html"


@dataclass(frozen=True)
class Paging:
    """``items`` pictures at positions 0 (oldest) to items-1 (newest), ``per_page`` a page."""

    items: int
    per_page: int
    partial: bool

    @property
    def pages(self) -> int:
        """How many numbered pages."""
        if self.partial:
            return -(-self.items // self.per_page)
        return self.items // self.per_page

    def page_of(self, position: int) -> int:
        return position // self.per_page + 1

    def positions(self, number: int) -> range:
        """The positions on numbered page ``number``, oldest first."""
        start = (number - 1) * self.per_page
        return range(start, min(start + self.per_page, self.items))

    def home_positions(self) -> range:
        """The positions on the list's own page: the newest ``per_page``."""
        return range(max(0, self.items - self.per_page), self.items)

    def home_older(self) -> int | None:
        """The numbered page the list's own page leads to: the one holding the newest
        picture the own page does not show."""
        if self.items <= self.per_page:
            return None
        return self.page_of(self.items - self.per_page - 1)

    def newer(self, number: int) -> int | None:
        """The next numbered page towards the newest; None: the list's own page."""
        return number + 1 if number < self.pages else None
