"""Rendering a site from the catalog as it is, doing work in proportion to what changed.

Bringing the catalog up to date first is the `build` command's job (cvgallery.commands
.site); this package only renders. What each output folder was made from is recorded in
cv.db (catalog/builds.py):

- Nothing new: the catalog's gallery version (a counter its triggers bump on every write
  to the tables the gallery is read from), the settings fingerprint (theme files, site.toml,
  content pages, the site's static files, this code) and the output's build token equal
  the recorded ones. Nothing is read beyond that and nothing is written.
- Settings changed, or no usable record (first build, folder replaced): a full build.
  Every page is rendered into a fresh folder (unchanged files linked from the previous
  build, so they keep their mtime) that is swapped in (output.py), on every core when
  it has thousands of pages (render.py, parallel.py).
- Otherwise an incremental build: phase one (plan.py) streams the rows and fingerprints
  every page; the pages whose fingerprint differs from the recorded one are rendered
  (pages.py) and written in place, new files first, entry pages last, deletions after
  (inplace.py); the records are updated last.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cvgallery

from .. import store
from ..catalog import Catalog, snapshot
from ..catalog.builds import OutputState
from ..config import SiteConfig, check_base_url
from ..errors import BuildError
from .content import ContentPage, load_pages
from .inplace import InPlaceTree
from .output import (
    MANIFEST,
    OutputTree,
    check_output,
    clean_leftovers,
    manifest_roots,
    output_lock,
    read_manifest_json,
)
from .pages import SITE_STATIC, site_files, theme_assets
from .plan import Changes, Entry, compare, make_plan
from .render import Outcome, render_into
from .theme import Theme

DEFAULT_OUTPUT = "gallery-html"
#: the second half of a build, run after the catalog is read: put the files in place and
#: record them, given the gallery version read (None: something failed, build again)
Finish = Callable[[int | None], None]


@dataclass
class BuildReport:
    """What a build did, for the one-line summary."""

    output: Path
    images: int = 0
    written: int = 0
    kept: int = 0
    deleted: int = 0
    skipped: bool = False
    #: a full build (every page rendered, swapped in) rather than an incremental one
    full: bool = False
    #: processes that rendered the pages
    workers: int = 1
    seconds: float = 0.0
    failed: list[str] = field(default_factory=list)
    #: things worth saying once per build (not failures)
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        if self.skipped:
            return f"{self.output}: up to date ({self.images} images, nothing written)"
        return (
            f"{self.output}: {self.images} images, {self.written} files written, "
            f"{self.deleted} deleted, {self.kept} unchanged, {len(self.failed)} failed "
            f"in {self.seconds:.2f}s"
        )


def default_output(config: SiteConfig) -> Path:
    return config.art_dir / DEFAULT_OUTPUT


@dataclass
class _Site:
    """What one build renders besides the catalog's rows."""

    theme: Theme
    url: str
    intro: ContentPage | None
    pages: list[ContentPage]
    assets: dict[str, str]
    extra: list[Entry]
    settings: str
    #: processes rendering a full build (None: one per core, for big builds only)
    jobs: int | None = None


def build_site(
    catalog: Catalog,
    output: Path | None = None,
    *,
    base_url: str | None = None,
    jobs: int | None = None,
) -> BuildReport:
    """Render the gallery into ``output`` (default art/gallery-html/); see the module
    docstring. ``jobs``: how many processes render a full build (default: one per core
    once there are enough pages to be worth it)."""
    started = time.perf_counter()
    config = catalog.config
    final = (Path(output) if output is not None else default_output(config)).resolve()
    report = BuildReport(final)
    url = config.base_url if base_url is None else check_base_url(base_url, "--base-url")
    theme = Theme(config)
    intro, pages, unreadable = load_pages(config.root / "content")
    report.failed += unreadable
    site = _site(config, theme, url, intro, pages)
    site.jobs = jobs
    try:
        built = _build(catalog, final, site, report)
    except OSError as exc:  # a read-only or full disk, a file where a folder must go
        raise _unwritable(final, exc) from exc
    if not url and built:
        report.notes.append("no base_url: sitemap.xml not written (it needs absolute URLs)")
    report.seconds = time.perf_counter() - started
    return report


def _build(catalog: Catalog, final: Path, site: _Site, report: BuildReport) -> bool:
    """A full or an incremental build under the output's lock; False: nothing new."""
    with output_lock(final):
        check_output(final)
        clean_leftovers(final)
        manifest = read_manifest_json(final)
        with snapshot(catalog.conn):
            version = catalog.gallery.version()
            state = catalog.builds.state(str(final))
            if state is not None and (manifest or {}).get("build") != state.build:
                state = None  # the folder is not the one recorded (deleted, replaced)
            if (
                state is not None
                and state.complete
                and state.gallery_version == version
                and state.settings == site.settings
            ):
                report.skipped, report.images = True, state.images
                return False
            full = state is None or state.settings != site.settings
            report.full = full
            if full:
                finish = _full_build(catalog, final, site, state, report)
            else:
                assert state is not None
                finish = _incremental_build(catalog, final, site, state, report)
        finish(version if not report.failed else None)
    return True


def _unwritable(final: Path, exc: OSError) -> BuildError:
    """The build cannot write its output: name the file and the reason (the previous site
    is left as it was: only the staging folder was touched)."""
    reason = exc.strerror or str(exc)
    where = Path(exc.filename) if exc.filename else final
    if isinstance(exc, FileExistsError) and not where.is_dir():
        reason = f"{where} exists and is not a folder"
    elif any(part.startswith(f".{final.name}.") for part in where.parts):
        where = final  # the staging folder beside it: the name the user knows is the output
    elif where != final:
        reason = f"{reason} ({where})"
    return BuildError(f"{final}: cannot write the site: {reason}")


def _site(
    config: SiteConfig,
    theme: Theme,
    url: str,
    intro: ContentPage | None,
    pages: list[ContentPage],
) -> _Site:
    extra: list[Entry] = []
    assets: dict[str, str] = {}
    for rel, path in site_files(config.root / SITE_STATIC):
        extra.append((rel, "static", ("static", str(path))))
    for name, rel, path in theme_assets(theme):
        assets[name] = rel
        extra.append((rel, "static", ("static", str(path))))
    extra += [(p.url, "page", ("page", p.name)) for p in pages]
    content = [intro, *pages] if intro else pages
    settings = _settings_fingerprint(theme, content, url, config)
    return _Site(theme, url, intro, pages, assets, extra, settings)


# -- the two kinds of build ---------------------------------------------------------------


def _render_all(
    catalog: Catalog,
    site: _Site,
    report: BuildReport,
    state: OutputState | None,
    *,
    full: bool,
    make_tree: Callable[[Changes], OutputTree | InPlaceTree],
) -> tuple[Outcome, OutputTree | InPlaceTree]:
    """Plan, compare, render; an image whose files cannot be placed is left out and the
    plan made again without it (positions, neighbours and pages change with it)."""
    config = catalog.config
    left_out: dict[str, str] = {}
    while True:
        plan = make_plan(
            catalog,
            per_page=config.per_page,
            feed_size=config.feed_size,
            left_out=set(left_out),
            sitemap=bool(site.url),
            extra=site.extra,
        )
        records = catalog.builds.pages(state.id) if state is not None else iter(())
        changes = compare(plan.entries, records, plan.facts, full=full)
        tree = make_tree(changes)
        outcome = Outcome(plan, changes)
        try:
            failed = render_into(tree, catalog, site, outcome, report, full=full)
        except BaseException:
            tree.abort()
            raise
        if not failed:
            report.failed += list(left_out.values())
            report.images = len(plan.ids)
            return outcome, tree
        tree.abort()
        left_out.update(failed)


def _full_build(
    catalog: Catalog, final: Path, site: _Site, state: OutputState | None, report: BuildReport
) -> Finish:
    def make_tree(changes: Changes) -> OutputTree:
        previous = None
        if state is not None:
            previous = {rel: d.old_digest for rel, d in changes.dirty.items() if d.old_digest}
        return OutputTree(final, previous)

    outcome, tree = _render_all(catalog, site, report, state, full=True, make_tree=make_tree)
    assert isinstance(tree, OutputTree)
    token = secrets.token_hex(8)
    db = str(catalog.config.db_path.resolve())
    tree.write_manifest({"build": token, "catalog": db, "generator": cvgallery.__version__})
    report.written, report.kept = tree.written, tree.kept

    def finish(version: int | None) -> None:
        try:
            tree.commit()
        except BaseException:
            tree.abort()
            raise
        catalog.builds.replace_all(
            str(final),
            token,
            site.settings,
            version,
            len(outcome.plan.ids),
            version is not None,
            outcome.records,
        )

    return finish


def _incremental_build(
    catalog: Catalog, final: Path, site: _Site, state: OutputState, report: BuildReport
) -> Finish:
    outcome, tree = _render_all(
        catalog, site, report, state, full=False, make_tree=lambda _c: InPlaceTree(final)
    )
    assert isinstance(tree, InPlaceTree)
    builds = catalog.builds
    dirty, obsolete = outcome.changes.dirty, outcome.changes.obsolete
    # Media a rendered or deleted page placed and may have been the last to use.
    candidates: set[str] = set()
    for page, now in outcome.media.items():
        candidates.update(set(dirty[page].media) - set(now))
    for media in obsolete.values():
        candidates.update((media or "").split())

    def finish(version: int | None) -> None:
        unused: list[str] = []
        try:
            touched = [*tree.new, *tree.changed]
            if touched or obsolete:
                marks = [(p, _joined(dirty[p].media, outcome.media.get(p))) for p in touched]
                builds.mark(state.id, [*marks, *obsolete.items()])
            _write_manifest(final, tree.paths())
            tree.apply()
            tree.delete(list(obsolete))
            if candidates:
                users = builds.media_users(state.id, candidates)
                unused = [m for m in sorted(candidates) if not _still_used(users[m], m, outcome)]
                tree.delete(unused)
            # A new token each time: a cv.db restored from an older copy no longer matches
            # the folder, and the next build is a full one instead of trusting old records.
            token = secrets.token_hex(8)
            _write_manifest(final, [], build=token)
            builds.update(
                state.id,
                build=token,
                pages=outcome.records,
                deleted=list(obsolete),
                gallery_version=version,
                images=len(outcome.plan.ids),
                complete=version is not None,
            )
        finally:
            tree.finish()
        report.written = tree.written
        report.deleted = len(obsolete) + len(unused)
        report.kept = outcome.changes.unchanged + outcome.unchanged
        report.skipped = not (report.written or report.deleted or report.failed)

    return finish


def _joined(before: list[str], now: list[str] | None) -> str | None:
    """What a page being rewritten may use: its media from before and from now."""
    media = list(dict.fromkeys([*before, *(now or ())]))
    return " ".join(media) if media else None


def _still_used(pages: list[str], media: str, outcome: Outcome) -> bool:
    """Whether a page that stays uses ``media``: one not rendered now, as recorded, or
    one rendered now, as rendered."""
    obsolete = outcome.changes.obsolete
    for page in pages:
        if page in obsolete:
            continue
        now = outcome.media.get(page)
        if now is None or media in now:
            return True
    return False


def _write_manifest(final: Path, paths: list[str], build: str | None = None) -> None:
    """Add the top-level names of ``paths`` to the manifest's before they exist (a later
    full build must not mistake the first user's folder for a file of the user's), and
    record a new build token."""
    manifest = read_manifest_json(final) or {}
    roots = manifest_roots(manifest)
    new = {rel.split("/", 1)[0] for rel in paths} - roots
    if new or build:
        manifest["roots"] = sorted(roots | new)
        if build:
            manifest["build"] = build
        store.write_bytes(final / MANIFEST, json.dumps(manifest, indent=0, sort_keys=True).encode())


def _settings_fingerprint(
    theme: Theme, content: list[ContentPage], url: str, config: SiteConfig
) -> str:
    """What every page depends on besides the rows: a change means a full build."""
    digest = hashlib.sha256()
    digest.update(theme.fingerprint().encode())
    for page in content:  # as rendered: the Markdown files are not read a second time
        digest.update(f"{page.url}\0{page.title}\0{page.html}\0".encode())
    settings = {k: v for k, v in vars(config).items() if k not in ("stages", "publish")}
    settings["hidden"] = sorted(name for name, cfg in config.stages.items() if not cfg.publish)
    for rel, path in site_files(config.root / SITE_STATIC):
        st = path.stat()
        digest.update(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    digest.update(repr(sorted((k, repr(v)) for k, v in settings.items())).encode())
    digest.update(f"{url}\0{cvgallery.__version__}\0{os.fspath(Path(__file__).parent)}".encode())
    digest.update(_code_stamp())
    return digest.hexdigest()


def _code_stamp() -> bytes:
    """The site package's own source: a changed renderer must not be skipped as a no-op."""
    parts = []
    for path in sorted(Path(__file__).parent.glob("*.py")):
        st = path.stat()
        parts.append(f"{path.name}:{st.st_size}:{st.st_mtime_ns}")
    return "\n".join(parts).encode()
