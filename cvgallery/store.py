"""The artifact store: art/<stage>/ paths, content hashing, and the one atomic-write helper.

Nothing is ever half-written: every file goes to a temporary name in its destination
folder's own temp folder (``.cvgallery-tmp/``, same file system) and is renamed into place,
so a crash leaves either the old file or the new one. Temporaries live nowhere else, so
cleaning up after a killed run never takes a user's file for one, whatever its name.
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
#: the folder (inside each folder cvgallery writes into) that holds its temporary files
TEMP_DIR = ".cvgallery-tmp"


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
def atomic_path(dest: Path, suffix: str = "", tag: str = "", fresh: bool = False) -> Iterator[Path]:
    """Yield a temporary path for ``dest``; on success it is renamed over ``dest``.

    The path is in ``dest``'s folder's temp folder (see :func:`temp_dir`) and carries this
    process's pid, or ``tag`` (see :func:`temp_file`). It exists (empty) while yielded; with
    ``fresh`` it does not, and sits alone in a private folder, for an outside tool that
    insists on creating its output itself. On an exception the temporary is removed and
    ``dest`` is untouched.
    """
    folder = dest.parent
    folder.mkdir(parents=True, exist_ok=True)
    if fresh:
        private = temp_file(folder, tag=tag, is_dir=True)
        tmp = private / dest.name
    else:
        private = None
        tmp = temp_file(folder, suffix or dest.suffix, tag)
    try:
        yield tmp
        make_readable(tmp)
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        if private is not None:
            shutil.rmtree(private, ignore_errors=True)
        release_temp_dir(folder)


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
    with atomic_path(dest) as tmp:
        digest = copy_into(src, tmp)
    return digest


def copy_into(src: Path, tmp: Path) -> str:
    """Copy ``src`` over the temporary file ``tmp`` (its times too); return the sha256."""
    digest = hashlib.sha256()
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
    # The empty placeholder keeps the temp folder (others remove it once empty) and
    # reserves a unique name for the link beside it.
    placeholder = temp_file(dest.parent, dest.suffix)
    link = placeholder.with_name(placeholder.name + ".link")
    try:
        try:
            os.link(src, link)
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
                raise
            copy_hashing(src, dest)
            return False
        os.replace(link, dest)
    except BaseException:
        link.unlink(missing_ok=True)
        raise
    finally:
        placeholder.unlink(missing_ok=True)
        release_temp_dir(dest.parent)
    return True


def same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _pid_tag() -> str:
    return f"{os.getpid()}-"


def temp_dir(folder: Path) -> Path:
    """Where the temporaries of files written into ``folder`` live: a folder of cvgallery's
    own inside it (same file system, so the final rename is atomic), which no user file is
    ever mistaken for; removed again once empty."""
    return folder / TEMP_DIR


def temp_file(folder: Path, suffix: str = "", tag: str = "", *, is_dir: bool = False) -> Path:
    """Create an empty temporary file (a folder with ``is_dir``) for a file to be placed
    in ``folder``.

    Its name starts with the writer's pid (or ``tag``: a run's workers use the run's), so
    :func:`clean_temp_files` never removes what a live process is still writing.
    """
    where = temp_dir(folder)
    prefix = tag or _pid_tag()
    for attempt in range(100):
        try:
            try:
                os.mkdir(where)
            except FileExistsError:
                pass  # (Path.mkdir(exist_ok=True) raises when another writer removes it now)
            if is_dir:
                return Path(tempfile.mkdtemp(prefix=prefix, dir=where))
            fd, name = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=where)
        except FileNotFoundError:
            # Another writer removed the empty temp folder between our two calls.
            if attempt == 99 or not folder.is_dir():
                raise
            continue
        os.close(fd)
        return Path(name)
    raise AssertionError("unreachable")


def release_temp_dir(folder: Path) -> None:
    """Remove ``folder``'s temp folder if nothing is left in it (other writers may be)."""
    try:
        os.rmdir(temp_dir(folder))
    except OSError:
        pass


UNTAGGED_TEMP_MAX_AGE = 3600.0


def clean_temp_files(folder: Path) -> int:
    """Remove the temporaries dead writers left for ``folder`` (those not named after a pid
    once an hour old); return how many. Only cvgallery's temp folder is looked at: a file
    of the folder itself is never taken for a temporary, whatever its name."""
    removed = 0
    where = temp_dir(folder)
    try:
        entries = list(os.scandir(where))
    except OSError:  # no temp folder: nothing was left
        return removed
    now = time.time()
    for entry in entries:
        pid_text = entry.name.split("-", 1)[0]
        try:
            if pid_text.isdigit():
                dead = not pid_alive(int(pid_text))
            else:
                dead = now - entry.stat(follow_symlinks=False).st_mtime > UNTAGGED_TEMP_MAX_AGE
            if not dead:
                continue
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                os.unlink(entry.path)
        except FileNotFoundError:
            continue
        removed += 1
    release_temp_dir(folder)
    return removed


def clean_art_temp_files(art_dir: Path) -> int:
    """:func:`clean_temp_files` for every art/<stage>/ folder (one listing of art/ and one
    stat per stage: cheap enough for every command that writes there)."""
    removed = 0
    try:
        entries = list(os.scandir(art_dir))
    except OSError:
        return removed
    for entry in entries:
        if entry.name != TEMP_DIR and entry.is_dir():  # a stage folder may be a symlink
            removed += clean_temp_files(Path(entry.path))
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
