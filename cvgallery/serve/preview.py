"""A running preview: the HTTP server, the build thread and the watcher, wired together.

The builder is injected (mkdocs style): any ``Callable[[], bool]`` that builds the site
into ``output`` through a staging folder (so requests meanwhile get the previous site
whole) and returns True when the site changed, so that open pages reload. The preview
knows nothing else about cvgallery, so tests drive it with a fake builder and a review
page adds its routes with :meth:`Preview.add_route`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from types import TracebackType

from .reload import ReloadChannel
from .server import Handler, SiteServer
from .watcher import BuildLoop, SiteWatcher, file_stamp, is_noise


class Preview:
    """Serves ``output`` on ``host:port`` (bound at once; port 0 picks a free one), rebuilds
    with ``builder`` when a path under ``watch`` or ``catalog`` changes, and reloads open
    pages after each build. ``catalog`` files (cv.db, cv.db-wal) count only when their
    content changed (see :mod:`.watcher`)."""

    def __init__(
        self,
        output: Path,
        builder: Callable[[], bool],
        *,
        host: str = "127.0.0.1",
        port: int = 8000,
        watch: Iterable[Path] = (),
        catalog: Iterable[Path] = (),
        say: Callable[[str], None] = print,
        quiet: float = 0.3,
        max_wait: float = 5.0,
    ):
        self.output = Path(os.path.abspath(output))
        self.say = say
        self.catalog_files = [Path(os.path.abspath(p)) for p in catalog]
        self.reload = ReloadChannel()
        self.builds = BuildLoop(
            builder,
            on_built=self.reload.publish,
            catalog_stamp=lambda: file_stamp(self.catalog_files),
            quiet=quiet,
            max_wait=max_wait,
            say=say,
        )
        self.server = SiteServer(
            self.output,
            host,
            port,
            reload=self.reload,
            on_rebuild_request=self.builds.request,
            say=say,
        )
        targets = [*watch, *self.catalog_files]
        self.watcher = (
            SiteWatcher(targets, self._changed, ignore=self._ignored, say=say) if targets else None
        )
        self._watching = False
        self._building = False
        self._http: threading.Thread | None = None
        self._serving = False

    @property
    def url(self) -> str:
        """The address really listened on, e.g. ``http://127.0.0.1:8000/``."""
        return self.server.url

    def add_route(self, prefix: str, handler: Handler) -> None:
        """Answer requests under ``prefix`` (``/_review/`` is kept for this) with ``handler``."""
        self.server.add_route(prefix, handler)

    def request_rebuild(self) -> None:
        """Rebuild soon (debounced like file changes); pages reload when it is done."""
        self.builds.request()

    def build_now(self) -> bool:
        """Build in this thread (the first build, before serving)."""
        return self.builds.build_now()

    def watch(self) -> None:
        """Start the watcher (it takes a moment to be in place: see :meth:`wait_watching`)."""
        if self.watcher is not None and not self._watching:
            self._watching = True
            self.watcher.start()

    def wait_watching(self, timeout: float = 5.0) -> None:
        """Wait until changes from now on are seen."""
        self.watch()
        if self.watcher is not None and not self.watcher.wait_ready(timeout):
            self.say("the file watcher is slow to start; early changes may be missed")

    def start(self) -> None:
        """Watch, build on change and serve HTTP from background threads (for tests and
        for callers with their own main loop)."""
        self._start_threads()
        self._http = threading.Thread(
            target=self.server.serve_forever, name="cvgallery-http", daemon=True
        )
        self._serving = True
        self._http.start()

    def serve_forever(self) -> None:
        """Watch, build on change, and answer HTTP in this thread until interrupted."""
        self._start_threads()
        self.server.serve_forever()

    def _start_threads(self) -> None:
        self.wait_watching()
        if not self._building:
            self._building = True
            self.builds.start()

    def close(self) -> None:
        """Stop everything; a build under way is waited for (interrupt again to leave it)."""
        self.reload.close()  # event streams end, so their pages reconnect later
        self.builds.stop()
        if self.watcher is not None and self._watching:
            self.watcher.stop()
        if self._serving:
            self.server.shutdown()
            if self._http is not None:
                self._http.join()
            self._serving = False
        self.server.server_close()
        if self.builds.building:
            self.say("waiting for the build under way to finish (Ctrl+C again to leave it)")
        try:
            self.builds.join()
        except KeyboardInterrupt:
            self.say("left the build unfinished; the next build cleans up after it")

    def __enter__(self) -> Preview:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _changed(self, paths: set[Path]) -> None:
        self.builds.changed(catalog=all(p in self.catalog_files for p in paths))

    def _ignored(self, path: Path) -> bool:
        """Noise, and the build's own output (when it lies inside a watched folder): the
        output, its staging and retired siblings."""
        out = self.output
        for part in (path, *path.parents):
            if part == out or (part.parent == out.parent and part.name.startswith(f".{out.name}.")):
                return True
        return is_noise(path)
