"""The output folder of a full build: render into a fresh sibling folder, then swap it in.

A full build (the first one, or one after a theme, settings or content change, when every
page changes anyway) renders every page. Why a whole new folder: a failing template or a
killed build must leave the previous site whole, and pages no longer made must vanish.
Why links from the old folder: a file whose content did not change is hard-linked from
the previous build, so it keeps its inode and mtime (hosts and rsync see nothing new) and
costs no write. An incremental build writes in place instead (inplace.py).

Writes inside the staging folder are plain writes: nobody can see that folder until
the swap, and the swap itself is one rename (RENAME_EXCHANGE where Linux has it).

The folder's manifest (``.cvgallery-build.json``) names the build (a token stored with
the build's records in cv.db too, so a folder replaced or emptied behind our back is
noticed), the catalog holding those records, and the top-level names builds made.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import fcntl
import hashlib
import json
import os
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .. import store
from ..errors import BuildError, CvgalleryError

MANIFEST = ".cvgallery-build.json"
_STAGING = ".{name}.new-{pid}"
_RETIRED = ".{name}.old-{pid}"


def file_digest(data: bytes) -> str:
    """blake2b-128 of a file's bytes: what the records and publish compare."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def write_file(path: Path | str, data: bytes) -> None:
    """Write a file in a folder no visitor sees yet (no temporary name needed). os.open,
    not open(): the io layer's extra calls cost five times the write for a small page,
    and a full build writes 100,000 of them."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


class Folders:
    """Paths under ``root`` whose folders are made on first use, each once (a build places
    a million files in a few thousand folders: no makedirs call per file)."""

    def __init__(self, root: str):
        self.root = root
        self._made: set[str] = {root}

    def path(self, rel: str) -> str:
        dest = f"{self.root}/{rel}"
        parent = dest.rpartition("/")[0]
        if parent not in self._made:
            os.makedirs(parent, exist_ok=True)
            self._made.add(parent)
        return dest


class OutputTree:
    """One build's staging folder beside ``final``; :meth:`commit` swaps it in.

    ``previous`` maps paths to the digests of the files now in ``final`` (from the build
    records); without it the digests of an older manifest's "files" are used, if any.
    """

    def __init__(self, final: Path, previous: dict[str, str] | None = None):
        self.final = final.resolve()
        check_output(self.final)
        self.final.parent.mkdir(parents=True, exist_ok=True)
        clean_leftovers(self.final)
        self.staging = self.final.parent / _STAGING.format(name=self.final.name, pid=os.getpid())
        if self.staging.exists():
            shutil.rmtree(self.staging)
        self.staging.mkdir()
        self.written = 0
        self.kept = 0
        manifest = read_manifest_json(self.final) or {}
        files = manifest.get("files")
        if previous is None:
            previous = files if isinstance(files, dict) else {}
        self.previous: dict[str, str] = previous
        self.previous_roots: set[str] = manifest_roots(manifest)
        # Paths as strings below: a full build joins 400,000 of them, pathlib's parsing
        # of each would be a tenth of its time.
        self._staging = str(self.staging)
        self._final = str(self.final)
        self._folders = Folders(self._staging)
        self._placed: set[str] = set()
        self._has_previous = self.final.is_dir()

    def _dest(self, rel: str) -> str:
        return self._folders.path(rel)

    def write(self, rel: str, data: bytes) -> bool:
        """Place ``data`` at ``rel``: linked from the previous build when identical (the
        recorded digest and the size on disk match: a hash and a stat, not a read).
        Returns whether the bytes differ from the previous build's."""
        dest = self._dest(rel)
        if rel in self.previous:
            old = f"{self._final}/{rel}"
            try:
                if self.previous[rel] == file_digest(data) and os.stat(old).st_size == len(data):
                    os.link(old, dest)
                    self.kept += 1
                    return False
            except OSError:
                pass  # no previous file, or one we cannot link: write it
        write_file(dest, data)
        self.written += 1
        return True

    def place(
        self, rel: str, src: str | Path, make: Callable[[Path, Path], None] | None = None
    ) -> None:
        """Put a content-named file at ``rel``: a name seen before means the same bytes.

        The file is ``src`` linked in, or what ``make(src, dest)`` writes (a video remuxed
        without its metadata); either way a previous build's file of that name is reused.
        """
        if rel in self._placed:
            return  # two pictures with the same file
        dest = self._dest(rel)
        if self._has_previous:
            try:
                os.link(f"{self._final}/{rel}", dest)
                self._placed.add(rel)
                self.kept += 1
                return
            except OSError:
                pass
        place_file(src, dest, make)
        self._placed.add(rel)
        self.written += 1

    def write_manifest(self, data: dict[str, Any]) -> None:
        """The build's token and catalog, and the top-level names it made."""
        roots = sorted({*os.listdir(self.staging), MANIFEST})
        document = {**data, "roots": roots}
        self.write(MANIFEST, json.dumps(document, indent=0, sort_keys=True).encode("utf-8"))

    def commit(self) -> None:
        """Swap the staging folder in; the previous build is then removed.

        Entries of the folder that no build made (a deploy checkout's .git/, a CNAME) are
        hard-linked into the new build first: a rebuild never deletes a user's files.
        """
        self._carry_user_files()
        if not self.final.exists():
            os.rename(self.staging, self.final)
            return
        if _exchange(self.staging, self.final):
            shutil.rmtree(self.staging, ignore_errors=True)
            return
        retired = self.final.parent / _RETIRED.format(name=self.final.name, pid=os.getpid())
        os.rename(self.final, retired)
        os.rename(self.staging, self.final)
        shutil.rmtree(retired, ignore_errors=True)

    def _carry_user_files(self) -> None:
        if not self.final.is_dir():
            return
        made = set(os.listdir(self.staging)) | self.previous_roots | {MANIFEST}
        for name in sorted(set(os.listdir(self.final)) - made):
            src, dest = self.final / name, self.staging / name
            try:
                if src.is_dir() and not src.is_symlink():
                    shutil.copytree(src, dest, symlinks=True, copy_function=_link_or_copy)
                else:
                    _link_or_copy(str(src), str(dest))
            except OSError as exc:
                raise BuildError(f"{src}: cannot keep it in the new build ({exc})") from exc

    def abort(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)


def place_file(src: str | Path, dest: str, make: Callable[[Path, Path], None] | None) -> None:
    """``src`` linked at ``dest`` (else copied), or what ``make`` writes there; ``dest`` is
    in a folder no visitor sees yet. Names are content-named, so a file another render
    worker placed there first is the same file (parallel.py)."""
    try:
        if make is None:
            try:
                os.link(src, dest)  # the common case: no pathlib on the way
                return
            except FileExistsError:
                return
            except OSError as exc:
                if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
                    raise
        # A name of this process's own (same suffix: make may choose a format by it), so
        # another worker placing the same file never sees it half-written.
        folder, _, name = dest.rpartition("/")
        tmp = f"{folder}/.{os.getpid()}.{name}"
        try:
            if make is None:
                shutil.copyfile(src, tmp)
            else:
                make(Path(src), Path(tmp))
            store.make_readable(tmp)
            os.replace(tmp, dest)
        finally:
            Path(tmp).unlink(missing_ok=True)
    except OSError as exc:
        raise BuildError(f"{src}: cannot place in the output ({exc.strerror or exc})") from exc


def check_output(final: Path) -> None:
    if final.exists() and not final.is_dir():
        raise BuildError(f"{final}: output exists and is not a folder")
    if _is_foreign(final):
        raise BuildError(
            f"{final}: folder is not empty and was not made by cvgallery build; "
            "refusing to replace it (choose another --output)"
        )


@contextmanager
def output_lock(final: Path) -> Iterator[None]:
    """One build of a folder at a time (a `build` beside `serve`'s rebuilds): an advisory
    lock on the folder that holds it, released when the build ends or dies."""
    final.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(final.parent, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def read_manifest_json(final: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((final / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def read_manifest(final: Path) -> dict[str, Any] | None:
    """The manifest, with "files": path → digest of every file the build recorded (read
    from the records in the catalog it names), for publish to compare without reading."""
    data = read_manifest_json(final)
    if data is None or isinstance(data.get("files"), dict):
        return data
    catalog, build = data.get("catalog"), data.get("build")
    if isinstance(catalog, str) and isinstance(build, str):
        data["files"] = recorded_digests(Path(catalog), final, build)
    return data


def recorded_digests(db: Path, final: Path, build: str) -> dict[str, str]:
    from ..catalog import schema
    from ..catalog.builds import Builds

    if not db.is_file():
        return {}
    try:
        conn = schema.connect(db, readonly=True)
    except (CvgalleryError, sqlite3.Error):
        return {}
    try:
        return Builds(conn).digests(str(final.resolve()), build)
    except sqlite3.Error:  # a catalog from before the build records
        return {}
    finally:
        conn.close()


def manifest_roots(manifest: dict[str, Any]) -> set[str]:
    """Top-level names the builds of a folder made; any other name there is the user's (a
    deploy checkout's .git/, CNAME) and is kept."""
    roots = manifest.get("roots")
    if isinstance(roots, list):
        return {str(r) for r in roots}
    files = manifest.get("files")  # a manifest older than "roots": what it names
    names = {rel.split("/", 1)[0] for rel in files} if isinstance(files, dict) else set()
    return names | {"media", "static"}


def clean_leftovers(final: Path) -> None:
    """Remove staging folders of killed builds; restore the site if a swap was cut short."""
    parent = final.parent
    if not parent.is_dir():
        return
    for prefix in (f".{final.name}.new-", f".{final.name}.old-"):
        for entry in parent.iterdir():
            if not entry.name.startswith(prefix):
                continue
            pid = entry.name[len(prefix) :]
            if pid.isdigit() and int(pid) != os.getpid() and store.pid_alive(int(pid)):
                continue  # another build is running right now
            if prefix.endswith(".old-") and not final.exists():
                os.rename(entry, final)  # killed between the two renames: put it back
            else:
                shutil.rmtree(entry, ignore_errors=True)


def _link_or_copy(src: str, dest: str) -> None:
    try:
        os.link(src, dest, follow_symlinks=False)
    except OSError:
        shutil.copy2(src, dest, follow_symlinks=False)


# A fresh deploy checkout (GitHub Pages) holds these and may be built into: they are kept.
_HOST_FILES = {"CNAME", "README.md", "LICENSE", ".nojekyll"}


def _is_foreign(final: Path) -> bool:
    """A non-empty folder no build made, holding more than a host's own files."""
    if not final.is_dir() or (final / MANIFEST).exists():
        return False
    return any(not (e.name.startswith(".") or e.name in _HOST_FILES) for e in final.iterdir())


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2); False where unsupported."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_uint,
    ]
    result = renameat2(
        _AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), ctypes.c_uint(_RENAME_EXCHANGE)
    )
    if result == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise BuildError(f"{b}: cannot swap in the new build ({os.strerror(err)})")
