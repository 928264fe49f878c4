"""Phase one of a build: the files the site consists of, and what each is made from.

One pass over the gallery, oldest first, straight from the cursor. Each picture gets a
key (the stamp of its last change, a digest of its derived rows and its children's); each
page's inputs fingerprint is a digest of the keys it shows and of the few things around
them it links to: an image page, its own key, its neighbours' keys and the index page it
links back to; an index or user page, its pictures' keys and whether it is the last one;
the feed, the newest keys; the sitemap, every URL. Nothing is decoded or rendered here,
and what is kept is one short entry per file plus the positions of the pictures.

:func:`compare` then walks these entries beside the stored records (both sorted by path,
the records streamed) and returns the files to render and the files to delete.
"""

from __future__ import annotations

import hashlib
import json
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from operator import itemgetter

from ..catalog import Catalog, DerivedRow, GalleryRow
from ..catalog.builds import PageRecord
from .context import COVER, IMAGE_COUNT, USERS, user_fact
from .paging import HOME, Paging, index_url, user_home_url, user_page_url
from .query import renamed_slugs, slugify

#: what a file is, for the renderer: ("image", position), ("child", position, id),
#: ("index", number), ("home",), ("user", name, number or 0 for the user's own page),
#: ("feed",), ("sitemap", part, limit) (part 0: the only one), ("sitemap-index", parts),
#: ("page", name), ("static", source file)
Job = tuple[str | int, ...]
#: (path in the output, inputs fingerprint, job)
Entry = tuple[str, str, Job]

FEED_URL = "feed.xml"
SITEMAP_URL = "sitemap.xml"
#: URLs a sitemap file may list (the protocol's limit); a site with more has sitemap.xml
#: as an index of sitemap-1.xml, sitemap-2.xml, ...
SITEMAP_LIMIT = 50_000


def digest(*parts: bytes | str) -> bytes:
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        h.update(part if isinstance(part, bytes) else part.encode("utf-8"))
        h.update(b"\0")
    return h.digest()


@dataclass
class UserPlan:
    name: str
    slug: str
    #: the user's pictures' positions in the gallery, oldest first
    positions: list[int] = field(default_factory=list)
    #: digests of the keys on each full numbered page
    pages: list[bytes] = field(default_factory=list)
    recent: deque[bytes] = field(default_factory=deque)
    running: hashlib.blake2b = field(default_factory=lambda: hashlib.blake2b(digest_size=16))

    @property
    def url(self) -> str:
        return user_home_url(self.slug)


@dataclass
class Plan:
    """The site as phase one found it; the renderer fetches rows by position from it."""

    per_page: int
    feed_size: int
    #: ids of the pictures shown, oldest first (the index is the position)
    ids: list[str]
    users: dict[str, UserPlan]
    kids: dict[str, list[GalleryRow]]
    frames: dict[str, list[DerivedRow]]
    left_out: set[str]
    entries: list[Entry]
    #: the values of the site-wide facts a template may read (see context.py)
    facts: dict[str, str]
    #: ids and user names whose page name is not their slugify() (query.renamed_slugs)
    renamed: dict[str, str] = field(default_factory=dict)
    renamed_users: dict[str, str] = field(default_factory=dict)

    @property
    def paging(self) -> Paging:
        return Paging(len(self.ids), self.per_page, partial=True)

    def user_paging(self, name: str) -> Paging:
        return Paging(len(self.users[name].positions), self.per_page, partial=False)

    def children(self, parent_id: str) -> list[GalleryRow]:
        return [c for c in self.kids.get(parent_id, ()) if c.id not in self.left_out]

    def image_url(self, image_id: str) -> str:
        return f"image/{self.renamed.get(image_id) or slugify(image_id)}.html"

    def user_slug(self, name: str) -> str:
        return self.renamed_users.get(name) or slugify(name)

    def sorted_users(self) -> list[UserPlan]:
        return sorted(self.users.values(), key=lambda u: (u.name.casefold(), u.name))


def make_plan(
    catalog: Catalog,
    *,
    per_page: int,
    feed_size: int,
    left_out: set[str],
    sitemap: bool,
    extra: Iterable[Entry] = (),
) -> Plan:
    """Stream the gallery once and fingerprint every page; ``left_out`` ids are skipped
    (their files could not be placed), ``extra`` are the content pages and static files."""
    kids: dict[str, list[GalleryRow]] = {}
    for row in catalog.gallery.child_rows():
        kids.setdefault(str(row.parent_id), []).append(row)
    frames: dict[str, list[DerivedRow]] = {}
    for derived in catalog.gallery.derived():
        frames.setdefault(derived.parent_id, []).append(derived)
    plan = Plan(per_page, feed_size, [], {}, kids, frames, left_out, [], {})
    # Page names are settled among all pictures (no two alike, even ignoring case): the
    # rows are listed first, and a picture whose name a clash changed has it in its key.
    stamps = list(catalog.gallery.top_stamps())
    names = [row[0] for row in stamps]
    names += [child.id for rows in kids.values() for child in rows]
    plan.renamed = renamed = renamed_slugs(names)
    plan.renamed_users = renamed_users = renamed_slugs({str(r[1]) for r in stamps if r[1]})
    del names
    entries = plan.entries
    ids = plan.ids
    users = plan.users
    recent: deque[bytes] = deque(maxlen=max(per_page, feed_size))
    page_keys = hashlib.blake2b(digest_size=16)
    pages: list[bytes] = []
    urls = hashlib.blake2b(digest_size=16)
    blake2b = hashlib.blake2b
    before = _NONE  # the key of the previous (older) picture
    # an image page waiting for its newer neighbour: position, url, key, older key, back link
    waiting: tuple[int, str, bytes, bytes, bytes] | None = None
    back = b""
    url_count = 0  # image pages, for the sitemap
    # The loop runs once per picture of the gallery: kept to plain operations.
    for image_id, username, stamp in stamps:
        if image_id in left_out:
            continue
        mark: int | str | None = stamp
        if renamed or renamed_users:
            mark = f"{stamp}\0{renamed.get(image_id)}\0{renamed_users.get(str(username))}"
        if image_id in kids or image_id in frames:
            key = _grouped_key(image_id, mark, plan)
        else:
            key = blake2b(f"{image_id}\0{mark}".encode(), digest_size=16).digest()
        j = len(ids)
        ids.append(image_id)
        url = plan.image_url(image_id)
        if j % per_page == 0:
            back = index_url(j // per_page + 1).encode()
        if waiting is not None:
            j0, url0, key0, older0, back0 = waiting
            fingerprint = blake2b(key0 + older0 + key + back0, digest_size=16).hexdigest()
            entries.append((url0, fingerprint, ("image", j0)))
        waiting = (j, url, key, before, back)
        before = key
        if sitemap:
            urls.update(url.encode() + b"\0")
        url_count += 1
        if image_id in kids:
            for child in plan.children(image_id):
                child_url = plan.image_url(child.id)
                if sitemap:
                    urls.update(child_url.encode() + b"\0")
                url_count += 1
                child_key = digest("child", _key(child, plan), back).hex()
                entries.append((child_url, child_key, ("child", j, child.id)))
        page_keys.update(key)
        if (j + 1) % per_page == 0:
            pages.append(page_keys.digest())
            page_keys = blake2b(digest_size=16)
        recent.append(key)
        if username:
            if not isinstance(username, str):  # SQLite keeps what it was given
                username = str(username)
            user = users.get(username)
            if user is None:
                slug = plan.user_slug(username)
                user = UserPlan(username, slug, recent=deque(maxlen=per_page))
                users[username] = user
            user.positions.append(j)
            user.running.update(key)
            user.recent.append(key)
            if len(user.positions) % per_page == 0:
                user.pages.append(user.running.digest())
                user.running = blake2b(digest_size=16)
    if waiting is not None:  # the newest picture: no newer neighbour
        j0, url0, key0, older0, back0 = waiting
        fingerprint = blake2b(key0 + older0 + _NONE + back0, digest_size=16).hexdigest()
        entries.append((url0, fingerprint, ("image", j0)))
    count = len(ids)
    if count % per_page:
        pages.append(page_keys.digest())
    for number, keys in enumerate(pages, 1):
        last = b"last" if number == len(pages) else b""
        entries.append((index_url(number), digest("index", keys, last).hex(), ("index", number)))
    newest = list(recent)
    home = digest("home", *newest[-per_page:], str(plan.paging.home_older())).hex()
    entries.append((HOME, home, ("home",)))
    feed = newest[max(0, len(newest) - feed_size) :]
    entries.append((FEED_URL, digest("feed", *feed).hex(), ("feed",)))
    for user in users.values():
        paging = Paging(len(user.positions), per_page, partial=False)
        for number, keys in enumerate(user.pages, 1):
            last = b"last" if number == paging.pages else b""
            entries.append(
                (
                    user_page_url(user.slug, number),
                    digest("user", user.name, keys, last).hex(),
                    ("user", user.name, number),
                )
            )
        home_of_user = digest("user", user.name, *user.recent, str(paging.home_older()))
        entries.append((user.url, home_of_user.hex(), ("user", user.name, 0)))
    extra = list(extra)
    if sitemap:
        more = [str(len(pages)), *(u.url + f"\0{len(u.pages)}" for u in plan.sorted_users())]
        content = [rel for rel, _key, job in extra if job[0] == "page"]
        more += content
        sitemap_key = digest("sitemap", urls.digest(), *more).hex()
        users_urls = sum(1 + len(u.positions) // per_page for u in users.values())
        total = 1 + len(pages) + url_count + users_urls + len(content)
        limit = SITEMAP_LIMIT
        parts = -(-total // limit)
        if parts <= 1:
            entries.append((SITEMAP_URL, sitemap_key, ("sitemap", 0, limit)))
        else:  # every part follows every URL: one change rewrites a few files at most
            entries.append((SITEMAP_URL, sitemap_key, ("sitemap-index", parts)))
            for part in range(1, parts + 1):
                entries.append((f"sitemap-{part}.xml", sitemap_key, ("sitemap", part, limit)))
    # First: of two entries for one path (a static file named like a page), the later wins.
    entries[:0] = extra
    plan.facts = _facts(plan, newest[-1] if newest else b"")
    return plan


def _grouped_key(image_id: str, stamp: int | str | None, plan: Plan) -> bytes:
    """The key of a picture with derived rows or children: the stamp of its last change
    (its row, artifacts, BlurHash: the triggers of schema 6), its derived rows and its
    shown children's keys. Without either it is just a digest of id and stamp."""
    parts: list[bytes | str] = [f"{image_id}\0{stamp}"]
    parts += [tuple.__repr__(d) for d in plan.frames.get(image_id, ())]
    parts += [_key(child, plan) for child in plan.children(image_id)]
    return digest(*parts)


def _key(row: GalleryRow, plan: Plan) -> bytes:
    """A picture's key: its row, its derived rows and (recursively) its shown children."""
    text = tuple.__repr__(row)
    image_id = row.id
    if plan.renamed or plan.renamed_users:
        text += f"\0{plan.renamed.get(image_id)}\0{plan.renamed_users.get(str(row.username))}"
    if image_id not in plan.kids and image_id not in plan.frames:
        return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()
    parts: list[bytes | str] = [text]
    parts += [tuple.__repr__(d) for d in plan.frames.get(image_id, ())]
    parts += [_key(child, plan) for child in plan.children(image_id)]
    return digest(*parts)


#: the key of "no neighbour": keys have a fixed length, so an image page's parts need
#: no separators
_NONE = bytes(16)


def _facts(plan: Plan, cover: bytes) -> dict[str, str]:
    listed = [(u.name, u.url, len(u.positions)) for u in plan.sorted_users()]
    facts = {
        IMAGE_COUNT: str(len(plan.ids)),
        COVER: cover.hex(),
        USERS: hashlib.blake2b(json.dumps(listed).encode(), digest_size=16).hexdigest(),
    }
    for name, _url, count in listed:
        facts[user_fact(name)] = str(count)
    return facts


def inputs_of(key: str, deps: list[str], facts: dict[str, str]) -> str:
    """A page's stored fingerprint: its own key, and the values of the facts it read."""
    if not deps:
        return key
    return digest(key, *(f"{name}={facts.get(name, '')}" for name in deps)).hex()


@dataclass
class Dirty:
    """A file to render: what it is, its key, and what is recorded of its present version."""

    job: Job
    key: str
    old_digest: str | None
    #: a record with inputs exists (the file on disk is the one recorded)
    recorded: bool
    #: the media files recorded as placed by the page
    media: list[str]


@dataclass
class Changes:
    dirty: dict[str, Dirty]
    #: recorded files the site no longer has → the media they placed (space-separated)
    obsolete: dict[str, str | None]
    unchanged: int


def compare(
    entries: list[Entry], records: Iterator[PageRecord], facts: dict[str, str], *, full: bool
) -> Changes:
    """Both sorted by path: entries whose fingerprint differs from the record are dirty
    (all of them when ``full``), records without an entry are obsolete. (Plain tuple
    indexing: this runs once per file of the site.)"""
    entries.sort(key=itemgetter(0))  # stable: entries for one path stay in their order
    changes = Changes({}, {}, 0)
    dirty, obsolete = changes.dirty, changes.obsolete
    unchanged = 0
    last = len(entries) - 1
    record = next(records, None)
    for i, (rel, key, job) in enumerate(entries):
        if i < last and entries[i + 1][0] == rel:
            continue  # the same path again: the later kind wins
        while record is not None and record[0] < rel:
            obsolete[record[0]] = record[4]
            record = next(records, None)
        if record is None or record[0] != rel:
            dirty[rel] = Dirty(job, key, None, False, [])
            continue
        _path, inputs, old_digest, deps, media = record
        record = next(records, None)
        if full or inputs is None or inputs != (
            inputs_of(key, json.loads(deps), facts) if deps else key
        ):
            dirty[rel] = Dirty(job, key, old_digest, inputs is not None, (media or "").split())
        else:
            unchanged += 1
    while record is not None:
        obsolete[record[0]] = record[4]
        record = next(records, None)
    changes.unchanged = unchanged
    return changes
