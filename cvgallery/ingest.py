"""Registering files: `add` (copy or hard-link into art/upstream/) and in-place registration.

Each file is read once: its bytes are hashed, written to a temporary name in the
destination folder and probed from memory by a pool of threads (hashlib, file I/O and
Pillow's decoders release the GIL). The main thread then decides, batch by batch inside
one write transaction, whether the file is new, a duplicate or a name clash, renames the
temporary file into place and inserts the rows.

Name clash rule: a file whose name (id) is already taken by a *different* picture gets
the id ``<name>-<first 8 hex of its sha256>``. Nothing is overwritten, and adding the same
file again still finds it by its hash. A name that cannot be an id as it is (too long,
control characters, ``..jpg``) gets a safe id (cvgallery.names.image_id_for), said on its
line. A file that cannot be stored fails alone; the others of its batch go on.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import stat
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from . import store
from .catalog import Catalog, FileFacts, file_facts
from .errors import CvgalleryError, UsageError
from .names import id_changes, image_id_for, shown
from .notes import collecting, install
from .pixels import pixel_limit
from .probe import (
    HEAD_BYTES,
    IMAGE_EXTENSIONS,
    VIDEO_EXTENSIONS,
    Media,
    Probe,
    is_candidate,
    probe,
    probe_data,
    sniff,
)
from .stages import matrix

BATCH = 256
# Files up to this size are read into memory whole, so hashing and probing share one read.
IN_MEMORY_LIMIT = 64 << 20


@dataclass(frozen=True)
class AddResult:
    """One line of `add` output. status: added, duplicate, rejected (stored), skipped (not a
    picture or video: not stored) or error (not stored)."""

    path: Path
    status: str
    image_id: str | None = None
    reason: str | None = None
    #: what is worth knowing beside the status: a derived id, a library's warning
    notes: tuple[str, ...] = ()

    def line(self) -> str:
        """One line whatever the names hold (see cvgallery.names.shown)."""
        image_id, path = shown(self.image_id), shown(self.path)
        if self.status == "added":
            text = f"added {image_id}  {path}"
        elif self.status == "duplicate":
            text = f"duplicate {path}  (same sha256 as {image_id})"
        elif self.status == "rejected":
            text = f"rejected {image_id}  {path}: {shown(self.reason)}"
        elif self.status == "skipped":
            text = f"skipped {path}: {shown(self.reason)}"
        else:
            text = f"error {path}: {shown(self.reason)}"
        return "".join([text, *(f"  (note: {shown(n)})" for n in self.notes)])


@dataclass
class _Prepared:
    src: Path
    sha256: str | None = None
    probe: Probe | None = None
    tmp: Path | None = None  # the copy, under its temporary name in the stage folder
    error: str | None = None
    #: warnings the decoders raised about this file (corrupt EXIF...)
    notes: tuple[str, ...] = ()
    #: the file this add put into art/ (None: none, or one that was there before)
    placed: Path | None = None
    media: Media | None = None  # picture or video, and the extension to store it under
    skipped: str | None = None  # why it is neither


_Batch = tuple[list[AddResult], list[Future[_Prepared]]]


def iter_files(
    paths: Iterable[str | os.PathLike[str]],
) -> Iterator[tuple[Path, AddResult | None]]:
    """Every file under ``paths``, with the result already known for those not to be read.

    Folders are walked recursively. Every file gets a line: hidden files and folders,
    links to folders and special files are skipped by name here; the others are read,
    and their content decides (see probe.sniff).
    """
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            yield from _walk(path)
        elif path.is_file():
            yield path, None
        elif path.exists():
            yield path, AddResult(path, "skipped", reason="not a regular file")
        else:
            yield path, AddResult(path, "error", reason="no such file or folder")


def _walk(top: Path) -> Iterator[tuple[Path, AddResult | None]]:
    for folder, dirs, files in os.walk(top):
        here = Path(folder)
        entries = [(d, True) for d in dirs] + [(f, False) for f in files]
        dirs[:] = []
        for name, is_dir in sorted(entries):
            path = here / name
            if is_dir and path.is_symlink():  # os.walk does not follow them: say so
                yield path, AddResult(path, "skipped", reason="link to a folder, not followed")
            elif name.startswith("."):
                what = "hidden folder" if is_dir else "hidden file"
                yield path, AddResult(path, "skipped", reason=what)
            elif is_dir:
                dirs.append(name)
            elif not path.is_file():
                why = "dangling link" if path.is_symlink() else "not a regular file"
                yield path, AddResult(path, "skipped", reason=why)
            else:
                yield path, None


def add_files(
    catalog: Catalog,
    paths: Iterable[str | os.PathLike[str]],
    *,
    url: str | None = None,
    user: str | None = None,
    approve: bool | None = None,
    link: bool = False,
    in_place: bool = False,
    on_result: Callable[[AddResult], None] | None = None,
    workers: int | None = None,
) -> list[AddResult]:
    """Register files; see the module docstring. ``in_place`` registers files already in art/.

    ``approve`` None means the site's auto_approve setting.
    """
    approved = catalog.config.auto_approve if approve is None else approve
    install()  # before the threads start: Pillow's warnings become this file's notes
    store.ensure_layout(catalog.art_dir, ("upstream", "video-sources"))
    store.clean_art_temp_files(catalog.art_dir)  # what a killed or failed run left
    results: list[AddResult] = []
    workers = workers or min(8, (os.cpu_count() or 1) + 1)
    copy = not (link or in_place)
    art_dir = catalog.art_dir
    with pixel_limit(catalog.config.max_pixels), ThreadPoolExecutor(workers) as pool:
        # Batch n+1 is read and probed by the pool while batch n is committed.
        pending: _Batch | None = None
        submitted: _Batch | None = None
        try:
            for batch in itertools.chain(batched(iter_files(paths), BATCH), [None]):
                submitted = None
                if batch is not None:
                    errors = [known for _, known in batch if known]
                    futures = [
                        pool.submit(_guarded, art_dir, p, copy, in_place)
                        for p, known in batch
                        if not known
                    ]
                    submitted = (errors, futures)
                if pending is not None:
                    errors, futures = pending
                    prepared = [f.result() for f in futures]
                    batch_results = errors + _commit(
                        catalog, prepared, url, user, approved, in_place
                    )
                    for result in batch_results:
                        if on_result:
                            on_result(result)
                    results.extend(batch_results)
                pending, submitted = submitted, None
        finally:
            # A failed commit (or Ctrl-C) leaves no copy of the batches read ahead behind.
            for left in (pending, submitted):
                if left is not None:
                    _discard(left[1])
            for stage in ("upstream", "video-sources"):
                store.release_temp_dir(art_dir / stage)
    return results


def _discard(futures: list[Future[_Prepared]]) -> None:
    for future in futures:
        if not future.cancel():
            tmp = future.result().tmp  # _guarded never raises
            if tmp is not None:
                tmp.unlink(missing_ok=True)


T = TypeVar("T")


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Lists of ``size`` items (the last one shorter): itertools.batched of Python 3.12."""
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _stage_for(media: Media) -> str:
    return "video-sources" if media.kind == "video" else "upstream"


def _guarded(art_dir: Path, src: Path, copy: bool, in_place: bool = False) -> _Prepared:
    try:
        with collecting() as notes:
            prepared = _prepare(art_dir, src, copy, in_place)
        prepared.notes = tuple(notes)
        return prepared
    except Exception as exc:  # one bad file never stops the others
        return _Prepared(src, error=f"{type(exc).__name__}: {exc}")


def _by_name(src: Path) -> Media:
    """A file already in art/upstream or art/video-sources (build, verify --fix): its
    extension says what it is, as it said which folder it went to."""
    ext = src.suffix.lower()
    return Media("video" if ext in VIDEO_EXTENSIONS else "image", ext)


def _prepare(art_dir: Path, src: Path, copy: bool, in_place: bool = False) -> _Prepared:
    """Sniff, hash and probe ``src`` from one read; with ``copy``, also write it beside its
    destination under a temporary name (renamed into place by the commit). A file that is
    neither a picture nor a video is only sniffed (its first bytes)."""
    tmp: Path | None = None
    folder = art_dir
    try:
        with open(src, "rb") as fh:
            head = fh.read(HEAD_BYTES)
            media = _by_name(src) if in_place else sniff(src.name, head)
            if media.kind is None:
                return _Prepared(src, skipped=media.reason)
            folder = art_dir / _stage_for(media)
            if os.fstat(fh.fileno()).st_size > IN_MEMORY_LIMIT:  # too big to hold: stream it
                if not copy:
                    return _Prepared(src, store.sha256_file(src), probe(src, media), media=media)
                tmp = store.temp_file(folder, media.ext)
                sha = store.copy_into(src, tmp)
                store.make_readable(tmp)
                return _Prepared(src, sha, probe(tmp, media), tmp, media=media)
            data = head + fh.read()
        tmp = store.temp_file(folder, media.ext) if copy else None
        if tmp is not None:
            store.make_readable(tmp)
            tmp.write_bytes(data)
        # A video is read by ffmpeg from a file: the copy when there is one.
        probed = probe_data(tmp or src, data, media)
        return _Prepared(src, hashlib.sha256(data).hexdigest(), probed, tmp, media=media)
    except OSError as exc:
        doing = "cannot read"
        if tmp is not None:  # a full disk is not a file that cannot be read, and leaves
            tmp.unlink(missing_ok=True)  # no partial copy behind
            doing = f"cannot copy into {folder}"
        elif exc.filename not in (None, str(src)):
            doing = f"cannot copy into {folder}"
        return _Prepared(src, error=f"{doing}: {exc.strerror or exc}")


def _commit(
    catalog: Catalog,
    prepared: list[_Prepared],
    url: str | None,
    user: str | None,
    approved: bool,
    in_place: bool,
) -> list[AddResult]:
    """One transaction for the batch. Files are renamed into place inside it, so a row
    never names a missing file; if the rows do not commit (a read-only or locked catalog,
    a full disk), the files placed are removed again: no stored file is left without its
    row, and adding again registers them with their --user, --url and --approve."""
    results: list[AddResult] = []
    try:
        with catalog.transaction():
            for item in prepared:
                results.append(_commit_one(catalog, item, url, user, approved, in_place))
    except BaseException:
        # The rows were rolled back (a locked or read-only catalog, a full disk): the files
        # put in place for them go too, so a retry starts from the same state.
        for item in prepared:
            if item.placed is not None:
                item.placed.unlink(missing_ok=True)
        raise
    finally:
        for item in prepared:  # duplicates and failures leave no temporary behind
            if item.tmp is not None:
                item.tmp.unlink(missing_ok=True)
        for stage in ("upstream", "video-sources"):
            store.release_temp_dir(catalog.art_dir / stage)
    return results


def _commit_one(
    catalog: Catalog,
    item: _Prepared,
    url: str | None,
    user: str | None,
    approved: bool,
    in_place: bool,
) -> AddResult:
    if item.skipped:
        return AddResult(item.src, "skipped", reason=item.skipped, notes=item.notes)
    if item.error or item.sha256 is None or item.probe is None or item.media is None:
        return AddResult(item.src, "error", reason=item.error or "not read", notes=item.notes)
    existing = catalog.images.by_sha(item.sha256)
    if existing is not None:
        return AddResult(item.src, "duplicate", existing, notes=item.notes)
    stage = _stage_for(item.media)
    folder = catalog.art_dir / stage
    ext = item.media.ext
    stem = image_id_for(item.src.stem)
    notes = item.notes
    if stem != item.src.stem:
        notes = (f"id differs from the file name: {', '.join(id_changes(item.src.stem))}", *notes)
    if in_place:
        image_id, dest = stem, item.src
        if catalog.images.exists(image_id):
            image_id = f"{stem}-{item.sha256[:8]}"
    else:
        image_id = _free_id(catalog, folder, stem, ext, item.sha256)
        dest = folder / f"{image_id}{ext}"
        try:
            existed = dest.exists()
            if item.tmp is not None:
                os.replace(item.tmp, dest)
                item.tmp = None
            elif not store.same_file(item.src, dest):
                store.link_or_copy(item.src, dest)
            item.placed = None if existed else dest
        except OSError as exc:  # this file fails alone: the batch's other rows still commit
            why = f"cannot store {dest.name}: {exc.strerror or exc}"
            return AddResult(item.src, "error", reason=why, notes=notes)
    p = item.probe
    facts = FileFacts(item.sha256, p.file_size, p.width, p.height, p.mime_type)
    catalog.images.add(
        image_id,
        facts,
        url=url,
        user=user,
        approved=approved,
        rejection_reason=p.reason,
        meta=p.meta,
    )
    catalog.artifacts.record(
        image_id=image_id,
        stage=stage,
        file_path=store.relative_path(stage, dest.name),
        facts=facts,
    )
    rejected = not p.ok
    if rejected:
        return AddResult(item.src, "rejected", image_id, p.reason, notes)
    return AddResult(item.src, "added", image_id, notes=notes)


def _free_id(catalog: Catalog, folder: Path, stem: str, ext: str, sha: str) -> str:
    """``stem`` unless a different picture holds that id (in the catalog or on disk)."""
    candidate = stem
    dest = folder / f"{candidate}{ext}"
    if not catalog.images.exists(candidate) and (
        not dest.exists() or store.sha256_file(dest) == sha
    ):
        return candidate
    return f"{stem}-{sha[:8]}"


def register_new_uploads(catalog: Catalog, **kwargs: object) -> list[AddResult]:
    """Register files dropped straight into art/upstream/ or art/video-sources/ (for `build`).

    Only names no artifact row points at are hashed, so a build with nothing new reads
    the catalog and a directory listing, not the files.
    """
    new: list[Path] = []
    artifacts = catalog.artifacts
    for stage in ("upstream", "video-sources"):
        folder = catalog.art_dir / stage
        try:
            st = folder.stat()
        except OSError:
            continue
        if not stat.S_ISDIR(st.st_mode):
            continue
        # A folder whose mtime (a file added, removed or renamed in it changes it) and
        # rows are as they were when it held nothing new is not listed again: 100,000
        # names to compare with the catalog's on every build.
        listing = artifacts.listing_key(
            stage, f"{folder.resolve()}\0{st.st_dev}:{st.st_ino}\0{st.st_mtime_ns}"
        )
        if artifacts.listing_seen(stage, listing):
            continue
        # The catalog's own files are most of the folder: set aside by name first.
        with os.scandir(folder) as entries_of:
            entries = {e.name: e for e in entries_of}
        unknown = entries.keys() - artifacts.names_in(stage)
        names = [n for n in unknown if entries[n].is_file() and is_candidate(n)]
        new.extend(folder / name for name in sorted(names))
        # Not when the mtime is this second's: a file added later in the same clock tick
        # would leave it as it is.
        if not names and time.time_ns() - st.st_mtime_ns > 2_000_000_000:
            artifacts.remember_listing(stage, listing)
    if not new:
        return []
    return add_files(catalog, new, in_place=True, **kwargs)  # type: ignore[arg-type]


# -- files made outside cvgallery (the seed's db-log-artifact and db-sync-artifacts) --------


@dataclass(frozen=True)
class SyncResult:
    path: Path
    image_id: str
    file_path: str | None
    error: str | None


def parse_params(params: str | None) -> Any:
    if params is None:
        return None
    try:
        return json.loads(params)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"--params is not valid JSON ({exc.msg} at char {exc.pos}): {params!r}"
        ) from exc


def log_artifact(
    catalog: Catalog,
    image_id: str,
    stage: str,
    path: str | os.PathLike[str],
    params: str | None = None,
) -> str:
    """Record a file made outside cvgallery as the (image, stage) artifact; returns its
    file_path. A file outside art/<stage>/ is hard-linked (or copied) in as <id><ext>; the
    original stays where it was. A file the row pointed at before, under another name, is
    removed from art/<stage>/ once the new row is committed.

    The file must be of the kind the stage holds (see :func:`expected_kind`). The image's
    pending or failed jobs for the stage are completed with it: a hand-made file is the
    stage's output, and `process` never replaces it.
    """
    catalog.check_stage(stage)
    row = catalog.images.get(image_id)
    parsed = parse_params(params)
    src = Path(path)
    if not src.is_file():
        raise UsageError(f"{path}: no such file")
    check_kind(catalog, stage, src)
    folder = store.stage_dir(catalog.art_dir, stage)
    placed = False
    if src.resolve().parent == folder.resolve():
        dest = folder / src.name
    else:
        dest = folder / (store.safe_name(image_id) + src.suffix.lower())
        if not store.same_file(src, dest):
            placed = not dest.exists()
            store.link_or_copy(src, dest)
    file_path = store.relative_path(stage, dest.name)
    units: list[tuple[str, str | None]] = [(image_id, None)]
    parent = row["parent_id"]
    if parent and image_id.startswith(parent + matrix.SEPARATOR):  # a matrix stage's output
        units.append((parent, image_id[len(parent) + len(matrix.SEPARATOR) :]))
    try:
        facts = file_facts(dest)
        with catalog.transaction():
            replaced = catalog.artifacts.record(
                image_id=image_id, stage=stage, file_path=file_path, facts=facts, params=parsed
            )
            catalog.jobs.settle(stage, units, "made outside cvgallery (artifact log)")
    except BaseException:
        if placed:  # no file in art/ without its row
            dest.unlink(missing_ok=True)
        raise
    if replaced is not None:
        (catalog.art_dir / replaced).unlink(missing_ok=True)
    return file_path


def expected_kind(catalog: Catalog, stage: str) -> str | None:
    """What a stage's files are: "video" (video-sources, a command stage writing a video),
    None (a command stage writing another kind of file: anything goes) or "image"."""
    if stage == "video-sources":
        return "video"
    cfg = catalog.config.stages.get(stage)
    ext = getattr(cfg.settings, "ext", None) if cfg is not None else None
    if cfg is None or cfg.kind != "command" or not isinstance(ext, str):
        return "image"
    if f".{ext}" in VIDEO_EXTENSIONS:
        return "video"
    return "image" if f".{ext}" in IMAGE_EXTENSIONS else None


def check_kind(catalog: Catalog, stage: str, src: Path) -> None:
    """Refuse a file that is not of the kind ``stage`` holds (a .txt as a thumbnail)."""
    wanted = expected_kind(catalog, stage)
    if wanted is None:
        return
    found = probe(src)
    kind = "image" if found.reason == "gif" else found.kind  # a GIF is an image here
    if kind == wanted:
        return
    if kind == "invalid":
        why = (found.reason or "unreadable").removeprefix("invalid: ")
    else:
        why = f"it is {_a(kind)} {kind}"
    raise UsageError(f"{src}: not {_a(wanted)} {wanted} ({why}); {stage} artifacts are {wanted}s")


def _a(noun: str) -> str:
    return "an" if noun[:1] in "aeiou" else "a"


def sync_artifacts(
    catalog: Catalog, stage: str, directory: str | os.PathLike[str]
) -> list[SyncResult]:
    """Log every image file under ``directory`` as ``stage`` (ids from file names)."""
    catalog.check_stage(stage)
    directory = Path(directory)
    if not directory.is_dir():
        raise UsageError(f"{directory}: not a folder")
    results = []
    for file in sorted(p for p in directory.rglob("*") if _syncable(directory, p)):
        # a file named like the original it was made from: the id `add` gave that name
        image_id = file.stem if catalog.images.exists(file.stem) else image_id_for(file.stem)
        try:
            file_path = log_artifact(catalog, image_id, stage, file)
        except CvgalleryError as exc:
            results.append(SyncResult(file, image_id, None, str(exc)))
        else:
            results.append(SyncResult(file, image_id, file_path, None))
    return results


def _syncable(directory: Path, path: Path) -> bool:
    """An image file, not inside a hidden folder (cvgallery's own temp folders among them)."""
    hidden = any(part.startswith(".") for part in path.relative_to(directory).parts[:-1])
    return not hidden and is_candidate(path) and path.is_file()
