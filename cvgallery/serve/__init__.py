"""`cvgallery serve`: build, serve the output folder only, rebuild and reload on change.

The parts (mkdocs' serve is the model): :mod:`.server` answers HTTP from a thread per
connection and only ever from the output folder; :mod:`.watcher` notices changes and runs
one build thread that debounces them; :mod:`.reload` tells open pages to reload after
each build; :mod:`.preview` wires them together around an injected builder. It binds to
127.0.0.1 by default.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

from ..errors import CvgalleryError, UsageError
from .preview import Preview
from .server import REVIEW_PREFIX, Handler, Request, Response, SiteServer, check_port

__all__ = [
    "REVIEW_PREFIX",
    "Handler",
    "Preview",
    "Request",
    "Response",
    "SiteServer",
    "catalog_files",
    "check_port",
    "make_builder",
    "serve",
    "watched_paths",
]


def watched_paths(root: Path) -> list[Path]:
    """site.toml, content/, the site's themes/, the built-in themes and the folders new
    originals are dropped into (the catalog files are :func:`catalog_files`)."""
    from ..config import CONFIG_NAME, load_config
    from ..site.theme import builtin_themes_dir

    config = load_config(root)
    paths = [root / CONFIG_NAME, root / "content", root / "themes"]
    paths += [config.art_dir / "upstream", config.art_dir / "video-sources"]
    try:
        paths.append(builtin_themes_dir())
    except CvgalleryError:
        pass
    return paths


def catalog_files(root: Path) -> list[Path]:
    """cv.db and its write-ahead log: another command's commit changes one of them."""
    from ..config import DB_NAME

    return [root / DB_NAME, root / f"{DB_NAME}-wal"]


def make_builder(
    root: Path,
    output: Path | None,
    say: Callable[[str], None],
    process: bool,
) -> Callable[[], bool]:
    """One build; errors are reported and the previous site keeps being served.

    Returns True when the site changed (open pages then reload), False when it was up
    to date or the build failed."""
    from ..catalog import Catalog
    from ..commands.site import build

    def rebuild() -> bool:
        try:
            with Catalog.open(root) as catalog:
                report = build(catalog, output, update=process, sink=say)
        except CvgalleryError as exc:
            say(f"Error: {exc}")
            return False
        for failure in report.failures:  # as `cvgallery build` reports them
            say(failure)
        say(report.line())
        return not report.data["skipped"]

    return rebuild


def serve(
    root: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    output: Path | None = None,
    process: bool = True,
    say: Callable[[str], None] = print,
    builder: Callable[[], bool] | None = None,
    setup: Callable[[Preview], None] | None = None,
) -> None:
    """Build once, then serve until interrupted (Ctrl+C or SIGTERM end it cleanly).

    ``builder`` defaults to :func:`make_builder` (rebuilds process too, so an image
    approved meanwhile gets its web copy and shows up); ``setup`` is called with the
    preview before it serves, to add routes such as the review page's.
    """
    from ..config import load_config
    from ..site import default_output

    root = root.absolute()
    config = load_config(root)
    output = (output if output is not None else default_output(config)).absolute()
    if builder is None:
        builder = make_builder(root, output, say, process)
    # Bound first: a taken port is reported before a long first build, and port 0 is
    # known. Watched next, so a change during the first build is not lost (the watcher
    # gets in place while the first build runs).
    preview = Preview(
        output,
        builder,
        host=host,
        port=port,
        watch=watched_paths(root),
        catalog=catalog_files(root),
        say=say,
    )
    with _interrupt_on_sigterm():
        try:
            preview.watch()
            if not preview.build_now() and not output.is_dir():
                raise UsageError("the first build failed; nothing to serve")
            if setup is not None:
                setup(preview)
            say(f"serving {output} at {preview.url} (Ctrl+C to stop)")
            preview.serve_forever()
        finally:
            preview.close()


@contextmanager
def _interrupt_on_sigterm() -> Iterator[None]:
    """SIGTERM stops the preview like Ctrl+C: threads end, the last lines are printed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
