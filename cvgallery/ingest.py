"""Registering files: `add` (copy or hard-link into art/upstream/) and in-place registration.

Each file is read once: its bytes are hashed, written to a temporary name in the
destination folder and probed from memory by a pool of threads (hashlib, file I/O and
Pillow's decoders release the GIL). The main thread then decides, batch by batch inside
one write transaction, whether the file is new, a duplicate or a name clash, renames the
temporary file into place and inserts the rows.

Name clash rule: a file whose name (id) is already taken by a *different* picture gets
the id ``<name>-<first 8 hex of its sha256>``. Nothing is overwritten, and adding the same
file again still finds it by its hash.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from . import store
from .catalog import Catalog, FileFacts, file_facts
from .errors import CvgalleryError, UsageError
from .probe import VIDEO_EXTENSIONS, Probe, is_candidate, probe, probe_data

BATCH = 256
# Files up to this size are read into memory whole, so hashing and probing share one read.
IN_MEMORY_LIMIT = 64 << 20


@dataclass(frozen=True)
class AddResult:
    """One line of `add` output. status: added, duplicate, rejected (stored) or error (not)."""

    path: Path
    status: str
    image_id: str | None = None
    reason: str | None = None

    def line(self) -> str:
        if self.status == "added":
            return f"added {self.image_id}  {self.path}"
        if self.status == "duplicate":
            return f"duplicate {self.path}  (same sha256 as {self.image_id})"
        if self.status == "rejected":
            return f"rejected {self.image_id}  {self.path}: {self.reason}"
        return f"error {self.path}: {self.reason}"


@dataclass
class _Prepared:
    src: Path
    sha256: str | None = None
    probe: Probe | None = None
    tmp: Path | None = None  # the copy, under its temporary name in the stage folder
    error: str | None = None


def iter_files(paths: Iterable[str | os.PathLike[str]]) -> Iterator[tuple[Path, str | None]]:
    """Explicit files as given; folders walked recursively for image and video files."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for folder, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    if is_candidate(name):
                        yield Path(folder) / name, None
        elif path.is_file():
            yield path, None
        else:
            yield path, "no such file or folder"


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
    store.ensure_layout(catalog.art_dir, ("upstream", "video-sources"))
    results: list[AddResult] = []
    workers = workers or min(8, (os.cpu_count() or 1) + 1)
    copy = not (link or in_place)
    art_dir = catalog.art_dir
    with ThreadPoolExecutor(workers) as pool:
        # Batch n+1 is read and probed by the pool while batch n is committed.
        pending: tuple[list[AddResult], list[Future[_Prepared]]] | None = None
        for batch in itertools.chain(batched(iter_files(paths), BATCH), [None]):
            submitted = None
            if batch is not None:
                errors = [AddResult(p, "error", reason=why) for p, why in batch if why]
                futures = [pool.submit(_guarded, art_dir, p, copy) for p, why in batch if not why]
                submitted = (errors, futures)
            if pending is not None:
                errors, futures = pending
                prepared = [f.result() for f in futures]
                batch_results = errors + _commit(catalog, prepared, url, user, approved, in_place)
                for result in batch_results:
                    if on_result:
                        on_result(result)
                results.extend(batch_results)
            pending = submitted
    return results


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


def _stage_for(path: Path) -> str:
    return "video-sources" if path.suffix.lower() in VIDEO_EXTENSIONS else "upstream"


def _guarded(art_dir: Path, src: Path, copy: bool) -> _Prepared:
    try:
        return _prepare(art_dir, src, copy)
    except Exception as exc:  # one bad file never stops the others
        return _Prepared(src, error=f"{type(exc).__name__}: {exc}")


def _prepare(art_dir: Path, src: Path, copy: bool) -> _Prepared:
    """Hash and probe ``src`` from one read; with ``copy``, also write it beside its
    destination under a temporary name (renamed into place by the commit)."""
    folder = art_dir / _stage_for(src)
    try:
        if src.stat().st_size > IN_MEMORY_LIMIT:  # too big to hold: stream it
            if not copy:
                return _Prepared(src, store.sha256_file(src), probe(src))
            big = _temp_in(folder, src.suffix)
            return _Prepared(src, store.copy_hashing(src, big), probe(big), big)
        data = src.read_bytes()
        tmp = _temp_in(folder, src.suffix) if copy else None
        if tmp is not None:
            tmp.write_bytes(data)
        return _Prepared(src, hashlib.sha256(data).hexdigest(), probe_data(src, data), tmp)
    except OSError as exc:
        return _Prepared(src, error=f"cannot read: {exc.strerror or exc}")


def _temp_in(folder: Path, suffix: str) -> Path:
    fd, name = tempfile.mkstemp(prefix=store.temp_prefix(), suffix=suffix.lower(), dir=folder)
    os.close(fd)
    store.make_readable(name)
    return Path(name)


def _commit(
    catalog: Catalog,
    prepared: list[_Prepared],
    url: str | None,
    user: str | None,
    approved: bool,
    in_place: bool,
) -> list[AddResult]:
    results: list[AddResult] = []
    try:
        with catalog.transaction():
            for item in prepared:
                results.append(_commit_one(catalog, item, url, user, approved, in_place))
    finally:
        for item in prepared:  # duplicates and failures leave no temporary behind
            if item.tmp is not None:
                item.tmp.unlink(missing_ok=True)
    return results


def _commit_one(
    catalog: Catalog,
    item: _Prepared,
    url: str | None,
    user: str | None,
    approved: bool,
    in_place: bool,
) -> AddResult:
    if item.error or item.sha256 is None or item.probe is None:
        return AddResult(item.src, "error", reason=item.error or "not read")
    existing = catalog.images.by_sha(item.sha256)
    if existing is not None:
        return AddResult(item.src, "duplicate", existing)
    stage = _stage_for(item.src)
    folder = catalog.art_dir / stage
    ext = item.src.suffix.lower()
    if in_place:
        image_id, dest = item.src.stem, item.src
        if catalog.images.exists(image_id):
            image_id = f"{item.src.stem}-{item.sha256[:8]}"
    else:
        image_id = _free_id(catalog, folder, item.src.stem, ext, item.sha256)
        dest = folder / f"{image_id}{ext}"
        if item.tmp is not None:
            os.replace(item.tmp, dest)
            item.tmp = None
        elif not store.same_file(item.src, dest):
            store.link_or_copy(item.src, dest)
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
        return AddResult(item.src, "rejected", image_id, p.reason)
    return AddResult(item.src, "added", image_id)


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
    known = catalog.artifacts.paths_of(("upstream", "video-sources"))
    new: list[Path] = []
    for stage in ("upstream", "video-sources"):
        folder = catalog.art_dir / stage
        if folder.is_dir():
            new.extend(
                folder / e.name
                for e in sorted(os.scandir(folder), key=lambda e: e.name)
                if e.is_file() and is_candidate(e.name) and f"{stage}/{e.name}" not in known
            )
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
    removed from art/<stage>/ once the new row is committed."""
    catalog.check_stage(stage)
    catalog.images.get(image_id)
    parsed = parse_params(params)
    src = Path(path)
    if not src.is_file():
        raise UsageError(f"{path}: no such file")
    folder = store.stage_dir(catalog.art_dir, stage)
    if src.resolve().parent == folder.resolve():
        dest = folder / src.name
    else:
        dest = folder / (store.safe_name(image_id) + src.suffix.lower())
        if not store.same_file(src, dest):
            store.link_or_copy(src, dest)
    file_path = store.relative_path(stage, dest.name)
    facts = file_facts(dest)
    with catalog.transaction():
        replaced = catalog.artifacts.record(
            image_id=image_id, stage=stage, file_path=file_path, facts=facts, params=parsed
        )
    if replaced is not None:
        (catalog.art_dir / replaced).unlink(missing_ok=True)
    return file_path


def sync_artifacts(
    catalog: Catalog, stage: str, directory: str | os.PathLike[str]
) -> list[SyncResult]:
    """Log every image file under ``directory`` as ``stage`` (ids from file names)."""
    catalog.check_stage(stage)
    directory = Path(directory)
    if not directory.is_dir():
        raise UsageError(f"{directory}: not a folder")
    results = []
    for file in sorted(p for p in directory.rglob("*") if p.is_file() and is_candidate(p)):
        image_id = file.stem
        try:
            file_path = log_artifact(catalog, image_id, stage, file)
        except CvgalleryError as exc:
            results.append(SyncResult(file, image_id, None, str(exc)))
        else:
            results.append(SyncResult(file, image_id, file_path, None))
    return results
