"""Noticing changes and rebuilding: the watcher only flags, one build thread builds.

As in mkdocs' serve, file events never build anything themselves: :class:`SiteWatcher`
(watchfiles: inotify, FSEvents or ReadDirectoryChangesW, no polling) reports which
watched paths changed, and :class:`BuildLoop`, one thread, waits until the changes have
been quiet for a moment and builds once. Forty pictures dropped into art/upstream/ make
one build, or two when the burst outlasts the first; changes that arrive during a build
make one more build after it.

The catalog needs one more rule. Every build opens cv.db, and SQLite then creates and
removes cv.db-wal, which looks like a change. So a change to cv.db or cv.db-wal alone
counts only when the files' stamp (size, mtime, inode) differs from the one taken when
the last build started: another command wrote, or the last build wrote (it registered or
processed something) and one more build must show the result. A build with nothing to
do writes nothing, so that one more build is the last.
"""

from __future__ import annotations

import os
import threading
import time
import traceback
from collections.abc import Callable, Hashable, Iterable
from pathlib import Path

import watchfiles

from .. import store

Stamp = Hashable


def file_stamp(paths: Iterable[Path]) -> Stamp:
    """What changes when a file's content changes; a missing or empty file is ``None``
    (an empty cv.db-wal only means a connection is open)."""
    stamp: list[tuple[int, int, int] | None] = []
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            stamp.append(None)
            continue
        stamp.append((st.st_mtime_ns, st.st_size, st.st_ino) if st.st_size else None)
    return tuple(stamp)


_NOISE_SUFFIXES = ("~", ".swp", ".swx", ".swo", ".tmp", ".part", ".crdownload")


def is_noise(path: Path) -> bool:
    """Temporary files of cvgallery's atomic writes (its temp folders), editors and
    downloads."""
    name = path.name
    return (
        name.startswith((".tmp-", ".#", ".~"))  # .tmp-: older cvgallery's, other tools'
        or store.TEMP_DIR in path.parts
        or name.endswith(_NOISE_SUFFIXES)
        or name in (".DS_Store", "4913")  # 4913: vim checks a folder is writable with it
        or "__pycache__" in path.parts
        or ".git" in path.parts
    )


class BuildLoop:
    """One thread that runs ``builder`` after changes, debounced.

    ``changed()`` flags a change; the thread waits until no change came for ``quiet``
    seconds (at most ``max_wait`` after the first, so a steady trickle still builds),
    then builds once. ``builder`` returns True when the site changed; ``on_built`` (the
    reload) runs after each such build.
    """

    def __init__(
        self,
        builder: Callable[[], bool],
        *,
        on_built: Callable[[], None] = lambda: None,
        catalog_stamp: Callable[[], Stamp] = lambda: None,
        quiet: float = 0.3,
        max_wait: float = 5.0,
        say: Callable[[str], None] = print,
    ):
        self.builder = builder
        self.on_built = on_built
        self.catalog_stamp = catalog_stamp
        self.quiet = quiet
        self.max_wait = max_wait
        self.say = say
        #: builds started by changes (the first build, run by build_now, is not one)
        self.rebuilds = 0
        self._flags = {"site": False, "catalog": False}
        self._first = self._last = self._built_at = 0.0
        self._stopped = False
        self._due = False  # a build decided on, not yet finished
        self._seen: Stamp = None
        self._wake = threading.Condition()
        self._one_build = threading.Lock()
        self._thread: threading.Thread | None = None

    def changed(self, *, catalog: bool = False) -> None:
        """Something changed (``catalog``: only cv.db or its WAL); a build will follow."""
        with self._wake:
            now = time.monotonic()
            if not any(self._flags.values()):
                self._first = now
            self._last = now
            self._flags["catalog" if catalog else "site"] = True
            self._wake.notify_all()

    def request(self) -> None:
        """Rebuild soon, whatever the files say (a review decision, for example)."""
        self.changed()

    @property
    def building(self) -> bool:
        return self._one_build.locked()

    def build_now(self) -> bool:
        """Build at once, in this thread; one build at a time."""
        with self._one_build:
            self._seen = self.catalog_stamp()
            try:
                built = self.builder()
            except Exception:  # a bug in a builder must not end the preview
                self.say(f"Error: the build failed unexpectedly:\n{traceback.format_exc()}")
                built = False
            if built:
                self.on_built()
        with self._wake:
            self._built_at = time.monotonic()
            self._due = False
            self._wake.notify_all()
        return built

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="cvgallery-build", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """No more builds; a build under way finishes (see :meth:`join`)."""
        with self._wake:
            self._stopped = True
            self._wake.notify_all()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread; False if it is still building after ``timeout``."""
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    def wait_settled(self, quiet_for: float = 1.0, timeout: float = 60.0) -> bool:
        """Wait until no build ran and no change was pending for ``quiet_for`` seconds
        (file events arrive a moment after the write that caused them); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._wake:
            while time.monotonic() < deadline:
                if self._due or self.building or any(self._flags.values()):
                    self._wake.wait(min(0.05, max(0.0, deadline - time.monotonic())))
                    continue
                calm_since = max(self._last, self._built_at)
                left = calm_since + quiet_for - time.monotonic()
                if left <= 0:
                    return True
                self._wake.wait(min(left, max(0.0, deadline - time.monotonic())))
            return False

    def _run(self) -> None:
        while self._next():
            self.rebuilds += 1
            self.build_now()

    def _next(self) -> bool:
        """Wait for a change worth a build; False once stopped."""
        with self._wake:
            while True:
                self._wake.wait_for(lambda: self._stopped or any(self._flags.values()))
                while not self._stopped:
                    due = min(self._last + self.quiet, self._first + self.max_wait)
                    wait = due - time.monotonic()
                    if wait <= 0:
                        break
                    self._wake.wait(wait)
                if self._stopped:
                    return False
                site, catalog = self._flags["site"], self._flags["catalog"]
                self._flags = {"site": False, "catalog": False}
                if site or (catalog and self.catalog_stamp() != self._seen):
                    self._due = True
                    return True


class SiteWatcher:
    """Reports changes to ``targets`` (files or folders, existing or not) to ``on_change``.

    Two watches, as watchfiles has one ``recursive`` switch per watch: the folders among
    the targets recursively, and the folders holding the targets, not recursively, for
    the files (site.toml, cv.db) and for target folders made or removed later (a site
    gets its first content/ or themes/ while serving); then the recursive watch restarts.
    """

    def __init__(
        self,
        targets: Iterable[Path],
        on_change: Callable[[set[Path]], None],
        *,
        ignore: Callable[[Path], bool] = is_noise,
        say: Callable[[str], None] = print,
    ):
        self.targets = {Path(os.path.abspath(t)) for t in targets}
        self.on_change = on_change
        self.ignore = ignore
        self.say = say
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self._stops: dict[bool, threading.Event] = {}
        self._ready = {False: threading.Event(), True: threading.Event()}
        self._polling = False
        self._trees: set[Path] = set()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for recursive in (False, True):
            thread = threading.Thread(
                target=self._watch, args=(recursive,), name="cvgallery-watch", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def wait_ready(self, timeout: float = 5.0) -> bool:
        """True once both watches are in place (changes from then on are seen)."""
        deadline = time.monotonic() + timeout
        return all(e.wait(max(0.0, deadline - time.monotonic())) for e in self._ready.values())

    def stop(self, timeout: float = 5.0) -> None:
        self._stopped.set()
        self._restart()
        for thread in self._threads:
            thread.join(timeout)

    def _restart(self) -> None:
        with self._lock:
            for stop in self._stops.values():
                stop.set()

    def _folders(self, recursive: bool) -> list[Path]:
        if recursive:
            self._trees = {t for t in self.targets if t.is_dir()}
            return sorted(self._trees)
        anchors = set()
        for target in self.targets:
            folder = target.parent
            while not folder.is_dir() and folder != folder.parent:
                folder = folder.parent
            anchors.add(folder)
        return sorted(anchors)

    def _watch(self, recursive: bool) -> None:
        while not self._stopped.is_set():
            stop = threading.Event()
            with self._lock:
                self._stops[recursive] = stop
            if self._stopped.is_set():
                return
            folders = self._folders(recursive)
            if not folders:
                self._ready[recursive].set()
                stop.wait()
                continue
            try:
                for changes in watchfiles.watch(
                    *folders,
                    watch_filter=None,
                    stop_event=stop,
                    recursive=recursive,
                    rust_timeout=500,
                    yield_on_timeout=True,  # the first (empty) yield says the watch is set
                    raise_interrupt=False,
                    force_polling=self._polling,
                ):
                    self._ready[recursive].set()
                    self._report({(c, Path(p)) for c, p in changes}, recursive)
            except Exception as exc:  # e.g. the system's limit of inotify watches
                if self._polling:
                    self.say(f"Error: cannot watch {', '.join(map(str, folders))}: {exc}")
                    self._ready[recursive].set()
                    self._stopped.wait(5.0)
                else:
                    self.say(f"watching by polling ({exc})")
                    self._polling = True

    def _report(self, changes: set[tuple[watchfiles.Change, Path]], recursive: bool) -> None:
        relevant = set()
        restart = everything = False
        for change, path in changes:
            if self.ignore(path):
                continue
            if recursive:
                relevant.add(path)
                continue
            made_or_removed = change != watchfiles.Change.modified
            if path in self.targets:
                relevant.add(path)
                restart |= made_or_removed and (path.is_dir() or path in self._trees)
            elif made_or_removed and any(path in t.parents for t in self.targets):
                relevant.add(path)  # e.g. art/ itself made or removed: new anchors too
                everything = True
        if everything:
            self._restart()
        elif restart:  # the recursive watch takes the folders as they are now
            with self._lock:
                stop = self._stops.get(True)
            if stop is not None:
                stop.set()
        if relevant:
            self.on_change(relevant)
