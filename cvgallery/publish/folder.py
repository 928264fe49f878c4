"""A folder target: what rsync, a GitHub Pages checkout or a drag-and-drop host uses.

Every file is copied to a temporary name beside its destination and renamed into place,
so a web server reading the folder during a publish sees the old file or the new one,
never half of one. Files are written readable by everyone (0666 & ~umask, 0644 under the
usual umask 022) and folders 0777 & ~umask, because the folder exists to be served by a
web server running as another user. Headers are the web server's business: ignored here.
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

from .. import store
from ..errors import PublishError
from .headers import Headers
from .manifest import MANIFEST_NAME
from .target import Target

#: Entries that do not make a folder "not empty" for the first-publish check: a fresh
#: GitHub Pages checkout holds only its .git/.
_IGNORED_WHEN_EMPTY = {".git"}


def current_umask() -> int:
    """The process umask (read once, from the main thread: os.umask sets it to read it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


class FolderTarget(Target):
    def __init__(self, root: Path):
        self.root = root.absolute()
        if self.root.exists() and not self.root.is_dir():
            raise PublishError(f"{self.root}: publish target exists and is not a folder")
        umask = current_umask()
        self.file_mode = 0o666 & ~umask
        self._cleaned: set[Path] = set()
        self._lock = threading.Lock()

    def describe(self) -> str:
        return str(self.root)

    def check_source(self, source: Path) -> None:
        src, dst = source.resolve(), self.root.resolve()
        if src == dst or src in dst.parents or dst in src.parents:
            raise PublishError(
                f"{self.root}: the publish target and the built site ({source}) overlap; "
                "publish to a folder outside the output"
            )

    def read_manifest(self) -> bytes | None:
        try:
            return (self.root / MANIFEST_NAME).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            where = self.root / MANIFEST_NAME
            raise PublishError(f"{where}: cannot read ({exc.strerror})") from exc

    def write_manifest(self, data: bytes) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            store.write_bytes(self.root / MANIFEST_NAME, data)
        except OSError as exc:
            raise PublishError(f"{self.root}: cannot write the publish manifest ({exc})") from exc

    def has_other_files(self) -> bool:
        if not self.root.is_dir():
            return False
        try:
            return any(entry.name not in _IGNORED_WHEN_EMPTY for entry in os.scandir(self.root))
        except OSError as exc:
            raise PublishError(f"{self.root}: cannot list the target ({exc.strerror})") from exc

    def put(self, rel: str, path: Path, headers: Headers) -> None:
        dest = self.root / rel
        self._prepare(dest.parent)
        with store.atomic_path(dest) as tmp:
            shutil.copyfile(path, tmp)
            os.chmod(tmp, self.file_mode)

    def _prepare(self, folder: Path) -> None:
        """Create the folder once; remove temporaries a killed publish left in it."""
        with self._lock:
            if folder in self._cleaned:
                return
            self._cleaned.add(folder)
        folder.mkdir(parents=True, exist_ok=True)
        store.clean_temp_files(folder)

    def delete(self, rels: list[str]) -> list[tuple[str, str]]:
        failures = []
        folders: set[Path] = set()
        for rel in rels:
            path = self.root / rel
            try:
                path.unlink(missing_ok=True)
            except IsADirectoryError:
                failures.append((rel, "is a folder at the target; left in place"))
                continue
            except OSError as exc:
                failures.append((rel, f"cannot delete: {exc.strerror or exc}"))
                continue
            folders.update(p for p in path.parents if self.root in p.parents)
        # Folders emptied by the deletions go too, deepest first; a non-empty one stays.
        for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
            try:
                folder.rmdir()
            except OSError:
                pass
        return failures
