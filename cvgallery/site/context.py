"""Template context values whose use is recorded: the site-wide facts a page may show.

Most of what a page shows is its own (its rows, its neighbours), and that is in the page's
fingerprint. A few values change with every picture anywhere: the number of pictures, the
list of users, how many index pages there are, how many pictures a user has. A page that
shows one of them must be rendered again when it changes; a page that does not must not
(else one approval re-renders everything). So these values are handed to templates
through the objects below, which note each use in the recorder of the page being
rendered; the build stores the names with the page and folds their values into its
fingerprint from then on.

This is sound: rendering is a function of the page's own inputs and of the facts it read;
with the same inputs and the same values of the facts read last time, the template takes
the same path and reads the same facts again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from typing import Any, overload

from .paging import Paging

#: the facts read by the page being rendered (None outside a render)
_reading: ContextVar[set[str] | None] = ContextVar("cvgallery_facts_read", default=None)

IMAGE_COUNT = "image_count"
USERS = "users"
#: the newest picture, which pages without pictures of their own share (og:image)
COVER = "cover"


def user_fact(name: str) -> str:
    """The fact "how many pictures this user has"."""
    return f"user:{name}"


def note(fact: str) -> None:
    facts = _reading.get()
    if facts is not None:
        facts.add(fact)


class Recording:
    """``with Recording() as facts:`` collects what templates read inside the block."""

    def __init__(self) -> None:
        self.facts: set[str] = set()
        self._token: Any = None

    def __enter__(self) -> set[str]:
        self._token = _reading.set(self.facts)
        return self.facts

    def __exit__(self, *exc: object) -> None:
        _reading.reset(self._token)


class SiteInfo(dict[str, Any]):
    """The ``site`` dict; ``site.image_count`` and ``site.cover`` are looked up (and noted)
    only when used.

    They are not keys, so nothing that walks the dict (tojson, items) sees them unnoted."""

    def __init__(self, values: dict[str, Any], image_count: int, cover: Callable[[], Any]):
        super().__init__(values)
        self._image_count = image_count
        self._cover = cover

    def __missing__(self, key: str) -> Any:
        if key == IMAGE_COUNT:
            note(IMAGE_COUNT)
            return self._image_count
        if key == COVER:
            note(COVER)
            return self._cover()
        raise KeyError(key)


class UserInfo:
    """A user as templates see it: ``name``, ``url`` (their newest page), ``count``."""

    __slots__ = ("_count", "name", "url")

    def __init__(self, name: str, url: str, count: int):
        self.name = name
        self.url = url
        self._count = count

    @property
    def count(self) -> int:
        note(user_fact(self.name))
        return self._count


class UserList(Sequence[UserInfo]):
    """Every user (``users`` in every template): any use of the list is noted."""

    def __init__(self, users: list[UserInfo]):
        self._users = users

    @overload
    def __getitem__(self, index: int) -> UserInfo: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[UserInfo]: ...
    def __getitem__(self, index: int | slice) -> UserInfo | Sequence[UserInfo]:
        note(USERS)
        return self._users[index]

    def __len__(self) -> int:
        note(USERS)
        return len(self._users)

    def __iter__(self) -> Iterator[UserInfo]:
        note(USERS)
        return iter(self._users)

    def __bool__(self) -> bool:
        note(USERS)
        return bool(self._users)


class Pagination:
    """Where a page sits among its list's pages; urls are relative to the site root.

    ``number`` is the page's number counted from the oldest (None on the newest page,
    ``url`` of the list); ``prev_url`` leads to newer pictures, ``next_url`` to older.
    ``count`` and ``urls`` depend on the length of the whole list and are noted as a read
    of ``fact``."""

    def __init__(
        self,
        paging: Paging,
        number: int | None,
        home: str,
        numbered: Callable[[int], str],
        fact: str,
    ):
        self._paging = paging
        self._numbered = numbered
        self._fact = fact
        self.number = number
        self.home_url = home
        if number is None:
            older = paging.home_older()
            self.url = home
            self.prev_url: str | None = None
            self.next_url: str | None = numbered(older) if older else None
        else:
            newer = paging.newer(number)
            self.url = numbered(number)
            self.prev_url = numbered(newer) if newer else home
            self.next_url = numbered(number - 1) if number > 1 else None

    @property
    def count(self) -> int:
        note(self._fact)
        return self._paging.pages

    @property
    def urls(self) -> list[str]:
        note(self._fact)
        return [self._numbered(n) for n in range(1, self._paging.pages + 1)]
