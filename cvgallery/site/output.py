"""The output folder: render into a fresh sibling folder, then swap it in.

Why a whole new folder: a failing template or a killed build must leave the previous
site whole, and images no longer approved must vanish. Why links from the old folder:
a file whose content did not change is hard-linked from the previous build, so it keeps
its inode and mtime (hosts and rsync see nothing new) and costs no write.

Writes inside the staging folder are plain writes: nobody can see that folder until
the swap, and the swap itself is one rename (RENAME_EXCHANGE where Linux has it).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

from .. import store
from ..errors import BuildError

MANIFEST = ".cvgallery-build.json"
_STAGING = ".{name}.new-{pid}"
_RETIRED = ".{name}.old-{pid}"


class OutputTree:
    """One build's staging folder beside ``final``; :meth:`commit` swaps it in."""

    def __init__(self, final: Path):
        self.final = final.resolve()
        if self.final.exists() and not self.final.is_dir():
            raise BuildError(f"{self.final}: output exists and is not a folder")
        if _is_foreign(self.final):
            raise BuildError(
                f"{self.final}: folder is not empty and was not made by cvgallery build; "
                "refusing to replace it (choose another --output)"
            )
        self.final.parent.mkdir(parents=True, exist_ok=True)
        clean_leftovers(self.final)
        self.staging = self.final.parent / _STAGING.format(name=self.final.name, pid=os.getpid())
        if self.staging.exists():
            shutil.rmtree(self.staging)
        self.staging.mkdir()
        self.written = 0
        self.kept = 0
        #: rel → digest of every page written by this build, and by the previous one
        self.digests: dict[str, str] = {}
        previous = read_manifest(self.final) or {}
        files = previous.get("files")
        self.previous: dict[str, str] = files if isinstance(files, dict) else {}
        self._dirs: set[Path] = {self.staging}

    def _dest(self, rel: str) -> Path:
        dest = self.staging / rel
        if dest.parent not in self._dirs:
            dest.parent.mkdir(parents=True, exist_ok=True)
            self._dirs.add(dest.parent)
        return dest

    def write(self, rel: str, data: bytes) -> None:
        """Place ``data`` at ``rel``: linked from the previous build when identical.

        Identical means the digest recorded in the previous manifest and the size on
        disk match, so an unchanged page costs a hash and a stat, not a read.
        """
        dest = self._dest(rel)
        digest = hashlib.blake2b(data, digest_size=16).hexdigest()
        self.digests[rel] = digest
        old = self.final / rel
        try:
            if self.previous.get(rel) == digest and old.stat().st_size == len(data):
                os.link(old, dest)
                self.kept += 1
                return
        except OSError:
            pass  # no previous file, or one we cannot link: write it
        dest.write_bytes(data)
        self.written += 1

    def place(self, rel: str, src: Path) -> None:
        """Put a content-named file at ``rel``: a name seen before means the same bytes."""
        dest = self._dest(rel)
        old = self.final / rel
        try:
            os.link(old, dest)
            self.kept += 1
            return
        except OSError:
            pass
        try:
            store.link_or_copy(src, dest)
        except OSError as exc:
            raise BuildError(f"{src}: cannot place in the output ({exc.strerror or exc})") from exc
        self.written += 1

    def write_manifest(self, data: dict[str, Any]) -> None:
        """The fingerprint of this build and the digest of every page it wrote."""
        document = {**data, "files": dict(sorted(self.digests.items()))}
        self.write(MANIFEST, json.dumps(document, indent=0, sort_keys=True).encode("utf-8"))

    def commit(self) -> None:
        """Swap the staging folder in; the previous build is then removed."""
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

    def abort(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)


def read_manifest(final: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((final / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


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


def _is_foreign(final: Path) -> bool:
    if not final.is_dir() or (final / MANIFEST).exists():
        return False
    return any(True for _ in final.iterdir())


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
