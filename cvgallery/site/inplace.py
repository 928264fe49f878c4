"""The output folder of an incremental build: only the changed files, written in place.

Swapping in a whole new folder would re-link every file of a 100,000-picture site for one
approval. Instead the new and changed files are first written into a sibling folder
(``.<name>.new-<pid>``, invisible to visitors; a failing template leaves the site
untouched), then each is renamed over its place — one atomic rename per file — in an
order that never lets a visitor follow a link to a missing file: media first, then new
pages, then changed pages, then the entry pages (numbered index pages, feed, sitemap) and
the home page last; files no longer made are deleted after that. Before the first rename
the build marks every file it will replace or delete in its records (cv.db), so a build
killed half-way leaves a site whose links resolve and whose marked files the next build
makes again.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

from .output import _STAGING, Folders, place_file, write_file

_ENTRY = re.compile(r"^(?:page-\d+\.html|feed\.xml|sitemap\.xml)$")
HOME = "index.html"


class InPlaceTree:
    """New and changed files of one incremental build, gathered beside ``final``."""

    def __init__(self, final: Path):
        self.final = final.resolve()
        self.incoming = self.final.parent / _STAGING.format(
            name=self.final.name, pid=os.getpid()
        )
        if self.incoming.exists():
            shutil.rmtree(self.incoming)
        self.incoming.mkdir()
        self.written = 0
        #: paths of media files, new pages and changed pages gathered so far
        self.media: list[str] = []
        self.new: list[str] = []
        self.changed: list[str] = []
        self._incoming = str(self.incoming)
        self._final = str(self.final)
        self._folders = Folders(self._incoming)

    def _dest(self, rel: str) -> str:
        return self._folders.path(rel)

    def write(self, rel: str, data: bytes) -> None:
        write_file(self._dest(rel), data)
        exists = os.path.lexists(f"{self._final}/{rel}")
        (self.changed if exists else self.new).append(rel)

    def has(self, rel: str) -> bool:
        """Whether the site already holds a file at ``rel`` (or this build placed one)."""
        return os.path.lexists(f"{self._final}/{rel}") or os.path.lexists(
            f"{self._incoming}/{rel}"
        )

    def place(
        self, rel: str, src: str | Path, make: Callable[[Path, Path], None] | None = None
    ) -> None:
        """A content-named file the site does not have yet (see OutputTree.place)."""
        place_file(src, self._dest(rel), make)
        self.media.append(rel)

    def paths(self) -> list[str]:
        return [*self.media, *self.new, *self.changed]

    def apply(self) -> None:
        """Rename every gathered file into the site, in the safe order."""
        changed = sorted(self.changed, key=_rank)
        for rel in [*self.media, *self.new, *changed]:
            dest = self.final / rel
            if not dest.parent.is_dir():
                dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self.incoming / rel, dest)
            self.written += 1

    def delete(self, rels: list[str]) -> None:
        """Remove files no longer made (after :meth:`apply`), then any folder left empty."""
        folders = set()
        for rel in rels:
            path = self.final / rel
            path.unlink(missing_ok=True)
            folders.add(path.parent)
        for folder in sorted(folders, key=lambda f: len(f.parts), reverse=True):
            while folder != self.final and folder.is_relative_to(self.final):
                try:
                    folder.rmdir()
                except OSError:
                    break  # not empty (or gone already)
                folder = folder.parent

    def finish(self) -> None:
        shutil.rmtree(self.incoming, ignore_errors=True)

    abort = finish


def _rank(rel: str) -> tuple[int, str]:
    """Changed files: pages first, then entry pages, the home page last."""
    if rel == HOME:
        return (2, rel)
    return (1 if _ENTRY.match(rel) else 0, rel)
