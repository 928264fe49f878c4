"""Phase two of a build: render the dirty files into the output tree and place the
media files their pages use (pages.py renders one page; this module runs them all).

A full build of many pages is dealt among the cores (parallel.py): each forked worker
reads the rows through its own connection, at the gallery version the build planned
from, and sends back what it recorded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

from ..catalog import Catalog, connect, snapshot
from ..catalog.builds import PageRow
from ..errors import BuildError
from ..scrub import scrub_copy, scrub_video
from .inplace import InPlaceTree
from .output import OutputTree, file_digest
from .pages import Placement, Renderer, window_of
from .parallel import deal, render_shares, workers
from .plan import Changes, Plan, inputs_of

if TYPE_CHECKING:
    from .build import BuildReport, _Site

#: the stages whose files pages show (video sources are always remuxed)
PUBLISHED_STAGES = (
    "web-optimized",
    "thumbnails-small",
    "ersgan-enhanced",
    "video-frames",
    "face-swap-results",
)


@dataclass
class Outcome:
    """What rendering the dirty files produced."""

    plan: Plan
    changes: Changes
    #: (path, inputs, digest, facts, media) of every file rendered
    records: list[PageRow] = field(default_factory=list)
    #: page → the media files it uses now, for every image page rendered
    media: dict[str, list[str]] = field(default_factory=dict)
    unchanged: int = 0


def render_into(
    tree: OutputTree | InPlaceTree,
    catalog: Catalog,
    site: _Site,
    outcome: Outcome,
    report: BuildReport,
    *,
    full: bool,
) -> dict[str, str]:
    """Render every dirty file into ``tree``; returns the images whose files are missing.

    A full build of many pages is dealt among the cores (parallel.py): each worker reads
    the rows through its own connection, at the gallery version planned from.
    """
    plan, dirty = outcome.plan, outcome.changes.dirty
    count = workers(len(dirty), site.jobs) if isinstance(tree, OutputTree) else 1
    report.workers = count
    if count == 1 or not isinstance(tree, OutputTree):
        parts = [_render_share(tree, catalog, site, outcome, list(dirty), full=full)]
    else:
        out = tree
        version = catalog.gallery.version()
        foreign = _Foreign(catalog, full=True)
        foreign.load()  # once, here: the workers inherit it
        groups = (
            (n if (w := window_of(d.job, plan.per_page)) is None else w, rel)
            for n, (rel, d) in enumerate(dirty.items())
        )

        def render_forked(rels: list[str]) -> _Part | None:
            conn = connect(catalog.config.db_path, migrate=False, readonly=True)
            mine = Catalog(catalog.config, conn)
            with snapshot(conn):
                if mine.gallery.version() != version:
                    return None  # the catalog moved on: the build's own view renders it
                written, kept = out.written, out.kept
                part = _render_share(out, mine, site, outcome, rels, foreign=foreign, full=full)
                part.written, part.kept = out.written - written, out.kept - kept
                return part

        here = partial(_render_share, out, catalog, site, outcome, foreign=foreign, full=full)
        parts = render_shares(deal(groups, count), here, render_forked)
        for part in parts:
            out.written += part.written
            out.kept += part.kept
    failed: dict[str, str] = {}
    for part in parts:
        outcome.records += part.records
        outcome.media.update(part.media)
        outcome.unchanged += part.unchanged
        failed.update(part.failed)
    return failed


@dataclass
class _Part:
    """What rendering one share of the dirty files produced (written and kept: counted by
    a forked worker's copy of the tree, which the build's tree must add)."""

    records: list[PageRow] = field(default_factory=list)
    media: dict[str, list[str]] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    unchanged: int = 0
    written: int = 0
    kept: int = 0


def _render_share(
    tree: OutputTree | InPlaceTree,
    catalog: Catalog,
    site: _Site,
    outcome: Outcome,
    rels: list[str],
    *,
    full: bool,
    foreign: _Foreign | None = None,
) -> _Part:
    plan, all_dirty = outcome.plan, outcome.changes.dirty
    dirty = {rel: all_dirty[rel] for rel in rels}
    renderer = Renderer(
        catalog,
        site.theme,
        catalog.config,
        plan,
        base_url=site.url,
        intro=site.intro,
        pages=site.pages,
        assets=site.assets,
    )
    art = str(catalog.art_dir)
    foreign = foreign or _Foreign(catalog, full=full)
    part = _Part()
    for done in renderer.render(dirty):
        entry = dirty[done.rel]
        media = None
        if done.placements:
            # A page recorded whole placed its media: those need no look at the disk.
            known = set(entry.media) if entry.recorded and not full else set()
            part.failed.update(_place(tree, art, done.placements, known, foreign))
            now = part.media[done.rel] = list(dict.fromkeys(m.rel for m in done.placements))
            media = " ".join(now)
        digest = file_digest(done.data)
        facts = json.dumps(done.facts) if done.facts else None
        inputs = inputs_of(entry.key, done.facts, plan.facts)
        part.records.append((done.rel, inputs, digest, facts, media))
        if isinstance(tree, OutputTree):
            tree.write(done.rel, done.data)
        elif entry.recorded and entry.old_digest == digest:
            part.unchanged += 1  # the same bytes: the file keeps its mtime
        else:
            tree.write(done.rel, done.data)
    return part


class _Foreign:
    """Files of published stages cvgallery did not make (logged from an outside tool,
    synced, migrated): they may carry their input's EXIF (GPS), so they are published as
    scrubbed copies, never the user's file itself. A full build looks them all up once, on
    the first file it places; an incremental one, those of the pictures it places."""

    def __init__(self, catalog: Catalog, *, full: bool):
        self.catalog = catalog
        self.full = full
        self._all: set[str] | None = None
        self._of: dict[str, set[str]] = {}

    def _stages(self) -> tuple[str, ...]:
        display = tuple(n for n in self.catalog.config.stages if n.startswith("display-"))
        return PUBLISHED_STAGES + display

    def load(self) -> set[str]:
        """Every such file (a full build's look-up)."""
        if self._all is None:
            self._all = self.catalog.artifacts.foreign(self._stages())
        return self._all

    def has(self, path: str, owner: str) -> bool:
        if self.full:
            return path in self.load()
        found = self._of.get(owner)
        if found is None:
            found = self._of[owner] = self.catalog.artifacts.foreign(self._stages(), [owner])
        return path in found


def _place(
    tree: OutputTree | InPlaceTree,
    art: str,
    media: list[Placement],
    known: set[str],
    foreign: _Foreign,
) -> dict[str, str]:
    failed: dict[str, str] = {}
    for m in media:
        if m.owner in failed or m.rel in known:
            continue
        if isinstance(tree, InPlaceTree) and tree.has(m.rel):
            continue
        try:
            # Never the upload itself: its container holds location, device and dates.
            make = scrub_video if m.video else scrub_copy if foreign.has(m.path, m.owner) else None
            tree.place(m.rel, f"{art}/{m.path}", make=make)
        except BuildError as exc:
            failed[m.owner] = f"{m.owner}: {exc}"
    return failed
