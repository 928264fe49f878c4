"""Rendering a site from the catalog as it is: query it once, render every page.

Bringing the catalog up to date first is the `build` command's job (cvgallery.commands
.site); this package only renders. Cost follows change: the query result, the theme
files, the content pages and the settings are fingerprinted; when the fingerprint equals
the one stored with the last build, nothing is rendered and nothing is written. Otherwise
every page is rendered into a fresh folder (unchanged files linked from the previous
build, so they keep their mtime) and swapped in.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import cvgallery

from ..catalog import Catalog
from ..config import SiteConfig, check_base_url
from ..errors import BuildError
from ..scrub import scrub_copy, scrub_video
from .content import ContentPage, load_pages
from .output import OutputTree, read_manifest
from .pages import SITE_STATIC, render_site, site_files
from .query import ImageItem, arrange, attach_derived, make_items
from .theme import Theme

DEFAULT_OUTPUT = "gallery-html"
#: the stages whose files pages show (video sources are always remuxed)
PUBLISHED_STAGES = (
    "web-optimized",
    "thumbnails-small",
    "ersgan-enhanced",
    "video-frames",
    "face-swap-results",
)


@dataclass
class BuildReport:
    """What a build did, for the one-line summary."""

    output: Path
    images: int = 0
    written: int = 0
    kept: int = 0
    skipped: bool = False
    seconds: float = 0.0
    failed: list[str] = field(default_factory=list)
    #: things worth saying once per build (not failures)
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        if self.skipped:
            return f"{self.output}: up to date ({self.images} images, nothing written)"
        return (
            f"{self.output}: {self.images} images, {self.written} files written, "
            f"{self.kept} unchanged, {len(self.failed)} failed in {self.seconds:.2f}s"
        )


def default_output(config: SiteConfig) -> Path:
    return config.art_dir / DEFAULT_OUTPUT


def build_site(
    catalog: Catalog,
    output: Path | None = None,
    *,
    base_url: str | None = None,
) -> BuildReport:
    """Render the gallery into ``output`` (default art/gallery-html/); see the module docstring."""
    started = time.perf_counter()
    final = Path(output) if output is not None else default_output(catalog.config)
    report = BuildReport(final)
    config = catalog.config
    url = config.base_url if base_url is None else check_base_url(base_url, "--base-url")
    rows = catalog.gallery.rows()
    derived = catalog.gallery.derived()
    theme = Theme(config)
    intro, pages, unreadable = load_pages(config.root / "content")
    report.failed += unreadable
    content = [intro, *pages] if intro else pages
    fingerprint = _fingerprint([*rows, *derived], theme, content, url, config)
    previous = read_manifest(final)
    if previous and previous.get("fingerprint") == fingerprint:
        report.skipped = True
        report.images = int(previous.get("images", 0))
        report.seconds = time.perf_counter() - started
        return report
    try:
        tree = OutputTree(final)
    except OSError as exc:  # a read-only or full disk, a file where a folder must go
        raise _unwritable(final, exc) from exc
    try:
        hidden = frozenset(name for name, cfg in config.stages.items() if not cfg.publish)
        items = make_items(rows, hidden)
        attach_derived(items, derived, hidden)
        placed = _place_media(tree, catalog, items, report)
        top = arrange(placed)
        report.images = len(top)
        render_site(tree, theme, config, top, intro, pages, url)
        if not url:
            report.notes.append("no base_url: sitemap.xml not written (it needs absolute URLs)")
        # An image or page left out (file missing or unreadable) is recorded nowhere else:
        # without the fingerprint the next build renders again and reports it again.
        complete = fingerprint if len(placed) == len(items) and not unreadable else None
        tree.write_manifest(
            {"fingerprint": complete, "images": len(top), "generator": cvgallery.__version__}
        )
        tree.commit()
    except OSError as exc:
        tree.abort()
        raise _unwritable(final, exc) from exc
    except BaseException:
        tree.abort()
        raise
    report.written, report.kept = tree.written, tree.kept
    report.seconds = time.perf_counter() - started
    return report


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


def _place_media(
    tree: OutputTree, catalog: Catalog, items: list[ImageItem], report: BuildReport
) -> list[ImageItem]:
    """Link every file the pages use into media/; an image whose file is gone is left out."""
    art = catalog.art_dir
    placed: set[str] = set()
    # Files cvgallery made are clean; one logged from an outside tool may carry its
    # input's EXIF (GPS): published as a scrubbed copy, never the user's file itself.
    foreign = catalog.artifacts.foreign(PUBLISHED_STAGES)
    kept = []
    for item in items:
        media = item.media()  # web copy, thumbnail, display sizes, larger, derived
        try:
            for m in media:
                if m.src not in placed:
                    make = scrub_copy if m.path in foreign else None
                    tree.place(m.src, art / m.path, make=make)
                    placed.add(m.src)
            if item.video and item.video.src not in placed:
                # Never the upload itself: its container holds location, device and dates.
                tree.place(item.video.src, art / item.video.path, make=scrub_video)
                placed.add(item.video.src)
        except BuildError as exc:
            report.failed.append(f"{item.id}: {exc}")
            continue
        kept.append(item)
    return kept


def _fingerprint(
    rows: list[tuple[object, ...]],
    theme: Theme,
    content: list[ContentPage],
    url: str,
    config: SiteConfig,
) -> str:
    digest = hashlib.sha256()
    # tuple's own repr (C) of each row: a NamedTuple's repr names every field, 3x slower.
    digest.update("\n".join(map(tuple.__repr__, rows)).encode("utf-8"))
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
