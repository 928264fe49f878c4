"""The artifact store: art/<stage>/ paths, content hashing, and the one atomic-write helper.

Nothing is ever half-written: every file goes to a temporary name in its destination
folder and is renamed into place, so a crash leaves either the old file or the new one.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .config import STAGES
from .errors import UsageError

CHUNK = 1 << 20
TEMP_PREFIX = ".tmp-"


def stage_dir(art_dir: Path, stage: str) -> Path:
    return art_dir / stage


def relative_path(stage: str, filename: str) -> str:
    """artifacts.file_path: relative to art/, always with forward slashes."""
    return f"{stage}/{filename}"


def ensure_layout(art_dir: Path, stages: tuple[str, ...] = STAGES) -> None:
    for stage in stages:
        (art_dir / stage).mkdir(parents=True, exist_ok=True)


def sha256_file(path: str | os.PathLike[str]) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


@contextmanager
def atomic_path(dest: Path, suffix: str = "", tag: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``dest``; on success it is renamed over ``dest``.

    On an exception the temporary file is removed and ``dest`` is untouched.
    ``tag`` goes after the temp prefix (`process` puts its pid there, so a rerun can tell
    a dead run's temporaries from a live one's).
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=TEMP_PREFIX + tag, suffix=suffix or dest.suffix, dir=dest.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes(dest: Path, data: bytes) -> None:
    with atomic_path(dest) as tmp:
        tmp.write_bytes(data)


def write_text(dest: Path, text: str) -> None:
    write_bytes(dest, text.encode("utf-8"))


def copy_hashing(src: Path, dest: Path) -> str:
    """Copy ``src`` to ``dest`` atomically, hashing on the way: the file is read once."""
    digest = hashlib.sha256()
    with atomic_path(dest) as tmp:
        with open(src, "rb") as fin, open(tmp, "wb") as fout:
            while chunk := fin.read(CHUNK):
                digest.update(chunk)
                fout.write(chunk)
        shutil.copystat(src, tmp)
    return digest.hexdigest()


def link_or_copy(src: Path, dest: Path) -> bool:
    """Hard-link ``src`` at ``dest`` (atomically replacing it); copy across file systems.

    Returns True when a link was made.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f"{TEMP_PREFIX}{os.getpid()}-{dest.name}"
    tmp.unlink(missing_ok=True)
    try:
        os.link(src, tmp)
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
            raise
        copy_hashing(src, dest)
        return False
    try:
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return True


def same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def clean_temp_files(folder: Path) -> int:
    """Remove temporaries a killed run left behind; returns how many."""
    removed = 0
    if folder.is_dir():
        for entry in os.scandir(folder):
            if entry.name.startswith(TEMP_PREFIX) and entry.is_file(follow_symlinks=False):
                os.unlink(entry.path)
                removed += 1
    return removed


def safe_name(image_id: str) -> str:
    """An id as a file name; ids come from file names, but `artifact log` takes any text."""
    if not image_id or image_id in (".", "..") or "/" in image_id or "\0" in image_id:
        raise UsageError(f"image id {image_id!r} cannot be used as a file name")
    return image_id
