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
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .config import STAGES
from .errors import UsageError
from .names import name_digest, utf8_prefix

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
    The name carries this process's pid (see :func:`temp_prefix`); ``tag`` may replace it.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=TEMP_PREFIX + (tag or _pid_tag()), suffix=suffix or dest.suffix, dir=dest.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        make_readable(tmp)
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _umask() -> int:
    """The process umask, read without changing it (os.umask would race other threads)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


FILE_MODE = 0o666 & ~_umask()


def make_readable(path: str | os.PathLike[str]) -> None:
    """mkstemp makes 0600 files; everything cvgallery stores may be published and must be
    readable by a web server: 0666 & ~umask, as any other program's new file."""
    os.chmod(path, FILE_MODE)


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
    tmp = dest.parent / f"{temp_prefix()}{dest.name}"
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


def _pid_tag() -> str:
    return f"{os.getpid()}-"


def temp_prefix() -> str:
    """``.tmp-<pid>-``: every temporary names its writer, so cleaning up after a killed run
    never removes a file that a live run (an `add` beside a `process`) is still writing."""
    return TEMP_PREFIX + _pid_tag()


UNTAGGED_TEMP_MAX_AGE = 3600.0


def clean_temp_files(folder: Path) -> int:
    """Remove temporaries of dead writers (untagged ones once an hour old); return how many."""
    removed = 0
    if not folder.is_dir():
        return removed
    now = time.time()
    for entry in os.scandir(folder):
        if not entry.name.startswith(TEMP_PREFIX) or not entry.is_file(follow_symlinks=False):
            continue
        pid_text = entry.name[len(TEMP_PREFIX) :].split("-", 1)[0]
        if pid_text.isdigit():
            dead = not pid_alive(int(pid_text))
        else:
            dead = now - entry.stat().st_mtime > UNTAGGED_TEMP_MAX_AGE
        if dead:
            Path(entry.path).unlink(missing_ok=True)
            removed += 1
    return removed


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this machine."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


#: the longest file name stem made from an id: room is left for an extension and for the
#: prefix and suffix of a temporary under NAME_MAX (255 bytes)
MAX_STEM_BYTES = 200


def safe_name(image_id: str) -> str:
    """An id as a file name; ids come from file names, but `artifact log` takes any text.

    An id longer than MAX_STEM_BYTES (a face-swap result ``<source>--<style>`` of two long
    ids) is cut on a character boundary and keeps ``-<8 hex of the id's sha256>``: the
    artifact row records the file's name, which need not be the id.
    """
    if not image_id or image_id in (".", "..") or "/" in image_id or "\0" in image_id:
        raise UsageError(f"image id {image_id!r} cannot be used as a file name")
    if len(image_id.encode("utf-8", "surrogatepass")) > MAX_STEM_BYTES:
        return f"{utf8_prefix(image_id, MAX_STEM_BYTES - 9)}-{name_digest(image_id)}"
    return image_id


def stage_files(folder: Path) -> Iterator[os.DirEntry[str]]:
    """Regular files of an art/<stage>/ folder, temporaries and dotfiles left out."""
    if folder.is_dir():
        for entry in os.scandir(folder):
            if entry.is_file(follow_symlinks=False) and not entry.name.startswith("."):
                yield entry
