"""`cvgallery migrate`: the legacy layout (img/, yes/, no/, thumbs/, ...) into cv.db and art/.

The legacy folder is only ever read. Every legacy file gets one ``legacy_files`` row
(its path, what it became, its sha256 and size), written in the same transaction as
the catalog rows it caused, after its file was placed under art/. So a run killed at
any point is completed by the next one, which skips every path that has a row: a
second run changes nothing and reads no legacy file again.

Rules (where the legacy tree and the seed's one-artifact-per-stage do not fit):

* img/ goes through ingest.add_files (hash, probe, GIF/unreadable -> rejected, name
  clash -> ``<stem>-<sha8>``, duplicates -> the existing image). Hard links by default.
* yes/NAME approves, no/NAME rejects (reason ``manual``) the image whose original has
  the same stem. Same bytes as the original: only the flag. Different bytes, or no
  original at all: the file itself is registered as an image (via add_files), with
  the flag, and ``parent_id`` = the original when there is one. Nothing is lost.
* A derived file (thumbs/, t2/, ...) is the artifact of its stage for the image of its
  stem (video-frames and face-swap-results also try the stem without a ``-N``/``_N``
  suffix). When that (image, stage) slot is already taken -- a second style folder, a
  second video frame -- the file becomes its own images row with ``parent_id`` = the
  image, and is that row's artifact of the stage. A derived file with no image at all
  becomes its own images row (pending, ``parent_id`` NULL), reported as an orphan.
* Artifacts made here carry processing_params {"migrated_from": "<legacy path>"}.
* Files that are not pictures of an image -- g/, tmp/g/, W/ (legacy_files.stage
  'gallery-html'), blur/ files and anything in an unknown folder (stage NULL) -- are
  kept verbatim under art/legacy/<legacy path> and recorded only in legacy_files, so
  export-legacy can reproduce them byte for byte. Not under art/gallery-html/: `build`
  owns that folder and swaps it whole.
* blur/<id>, blur/<id>.txt (one hash) and blur/*.json ({id: hash}) fill blurhash_cache
  (stage web-optimized, size of that artifact else of the image); a hash that does not
  decode is reported and not imported.
* Dotfiles in the legacy tree are skipped and reported.

legacy_files(image_id, stage) names where the bytes live: the artifact (image_id, stage),
or art/legacy/<path> when stage is NULL or 'gallery-html'. Its rows are read and written
through the catalog's ``archive`` part (cvgallery.catalog.archive); the folder rules are in
cvgallery.legacy.layout, the closing check in cvgallery.legacy.validate.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

from .. import store
from ..catalog import Catalog, FileFacts
from ..ingest import batched
from ..probe import probe, probe_data
from .layout import (
    DERIVED,
    VERBATIM_DIR,
    Read,
    blur_entry,
    check_legacy_dir,
    checked_blurhash,
    classify,
    clean_temporaries,
    files_in,
    group_key,
    is_skipped,
    line_of,
    owner_names,
    params_for,
    place,
    read_batch,
    read_blur_file,
    walk,
)
from .report import MigrationReport
from .validate import validate_migration

BATCH = 256  # legacy files per transaction: a kill loses at most one batch of work


def migrate(
    catalog: Catalog,
    legacy_dir: str | os.PathLike[str],
    *,
    copy: bool = False,
    validate: bool = True,
    on_progress: Callable[[int, int], None] | None = None,
) -> MigrationReport:
    """Import the legacy tree; see the module docstring. Idempotent and resumable.

    ``on_progress(done, total)`` is called after each batch (files looked at, files found).
    """
    legacy = check_legacy_dir(legacy_dir, catalog.art_dir)
    started = time.monotonic()
    report = MigrationReport(str(legacy), dry_run=False)
    report.found = dict(Counter(line_of(rel) for rel in walk(legacy)))
    store.ensure_layout(catalog.art_dir, catalog.config.stage_names)
    clean_temporaries(catalog.art_dir)
    Migrator(catalog, legacy, report, copy, on_progress).run()
    if validate:
        report.validation = validate_migration(catalog, legacy)
    report.seconds = round(time.monotonic() - started, 3)
    return report


class Migrator:
    """One migration run: phases in dependency order, each streamed in committed batches."""

    def __init__(
        self,
        catalog: Catalog,
        legacy: Path,
        report: MigrationReport,
        copy: bool,
        on_progress: Callable[[int, int], None] | None,
    ):
        self.catalog, self.archive, self.legacy = catalog, catalog.archive, legacy
        self.report, self.copy, self.on_progress = report, copy, on_progress
        self.art = catalog.art_dir
        self.done = 0  # files looked at, of total (those report.found counts, skipped aside)
        self.total = sum(n for key, n in report.found.items() if key != "skipped")

    def run(self) -> None:
        with ThreadPoolExecutor(min(8, (os.cpu_count() or 1) + 1)) as self.pool:
            self.phase(files_in(self.legacy, "img"), self.originals)
            for folder in ("yes", "no"):
                self.phase(files_in(self.legacy, folder), partial(self.review, folder))
            for folder, stage in DERIVED:
                self.phase(files_in(self.legacy, folder), partial(self.derived, stage))
            self.phase(self.verbatim_paths(), self.verbatim)
            self.phase(files_in(self.legacy, "blur"), self.blur)

    def phase(self, rels: Iterator[str], step: Callable[[list[str]], None]) -> None:
        for chunk in batched(rels, BATCH):
            done = self.archive.recorded(chunk)
            self.report.already += len(done)
            todo = [r for r in chunk if r not in done]
            if todo:
                step(todo)
            self.done += len(chunk)
            if self.on_progress is not None:
                self.on_progress(self.done, self.total)

    def verbatim_paths(self) -> Iterator[str]:
        for rel in walk(self.legacy):
            if is_skipped(rel):
                self.report.skipped(rel)
            elif classify(rel)[0] in ("html", "other"):
                yield rel

    # -- img/ ----------------------------------------------------------------------------

    def originals(self, rels: list[str]) -> None:
        from ..ingest import add_files

        by_path = {self.legacy / r: r for r in rels}
        results = add_files(self.catalog, list(by_path), link=not self.copy, approve=False)
        with self.catalog.transaction():
            for res in results:
                rel = by_path[res.path]
                if res.status == "error" or res.image_id is None:
                    self.report.error(rel, res.reason or "not registered")
                    continue
                if res.status == "rejected":
                    self.report.note(rel, "rejected", str(res.reason))
                elif res.status == "duplicate":
                    self.report.note(rel, "duplicate", f"same bytes as image {res.image_id!r}")
                self.record_registered(rel, res.image_id)
                self.report.count("upstream")

    def record_registered(self, rel: str, image_id: str) -> None:
        """legacy_files row for a file add_files registered or found a duplicate of; the first
        for the image marks its artifact (also when a killed run's add_files had made it)."""
        sha = self.catalog.images.sha256(image_id)
        assert sha is not None, image_id  # add_files just registered or found it
        item = Read(rel, self.legacy / rel, sha, (self.legacy / rel).stat().st_size)
        stage = self.archive.content_stage(image_id, sha) or "upstream"
        if not self.archive.has_rows_for(image_id):
            self.archive.mark_migrated(image_id, stage, params_for(rel))
        self.record(item, image_id, stage)

    def record(self, item: Read, image_id: str | None, stage: str | None) -> None:
        """The legacy_files row of a file, once its bytes are in place."""
        self.archive.record(item.rel, image_id, stage, item.sha256, item.size)

    def find_image(self, stem: str, stage: str | None = None) -> str | None:
        """The image a legacy name stands for: its original in img/, else yes/ or no/, else
        the id (video frames and face-swap results also without a -N suffix)."""
        return self.archive.find_image(owner_names(stem, stage))

    # -- yes/ and no/ --------------------------------------------------------------------

    def review(self, folder: str, rels: list[str]) -> None:
        own: list[tuple[Read, str | None]] = []
        with self.catalog.transaction():
            for item in read_batch(self.pool, self.legacy, rels, False):
                if item.error:
                    self.report.error(item.rel, item.error)
                    continue
                original = self.find_image(Path(item.rel).stem)
                if original is None:
                    own.append((item, None))
                    continue
                self.flag(folder, original, item.rel)
                stage = self.archive.content_stage(original, item.sha256)
                if stage is None:
                    own.append((item, original))
                else:
                    self.record(item, original, stage)
                    self.report.count(folder)
        if own:
            self.review_own(folder, own)

    def review_own(self, folder: str, own: list[tuple[Read, str | None]]) -> None:
        """yes/ and no/ files with no original, or other bytes than it: registered themselves."""
        from ..ingest import add_files

        items = {item.src: (item, original) for item, original in own}
        results = add_files(self.catalog, list(items), link=not self.copy, approve=False)
        with self.catalog.transaction():
            for res in results:
                item, original = items[res.path]
                if res.status == "error" or res.image_id is None:
                    self.report.error(item.rel, res.reason or "not registered")
                    continue
                if res.status == "added" and original is not None:
                    self.catalog.images.set_parent(res.image_id, original)
                self.flag(folder, res.image_id, item.rel)
                self.record_registered(item.rel, res.image_id)
                self.report.count(folder)
                verdict = "approved" if folder == "yes" else "rejected"
                if original is None:
                    kind, why = f"{folder} without original", "no original"
                else:
                    kind, why = f"{folder} differs", f"other bytes than {original!r}"
                self.report.note(
                    item.rel, kind, f"{why}: registered as image {res.image_id!r} ({verdict})"
                )

    def flag(self, folder: str, image_id: str, rel: str) -> None:
        """yes/ approves, no/ rejects (reason "manual"); an image rejected for another reason
        (a GIF, an unreadable file) stays rejected. A row already flagged is left untouched,
        so its updated_at still says "not reviewed since the migration" (see export)."""
        row = self.catalog.images.get(image_id)
        if folder == "no":
            if not row["rejected"]:
                self.catalog.images.reject([image_id], "manual")
        elif row["rejected"] and row["rejection_reason"] != "manual":
            why = f"image {image_id!r} is rejected: {row['rejection_reason']}"
            self.report.note(rel, "not approved", why)
        elif not row["approved"]:
            self.catalog.images.approve([image_id])

    # -- derived stages ------------------------------------------------------------------

    def derived(self, stage: str, rels: list[str]) -> None:
        with self.catalog.transaction():
            for item in read_batch(self.pool, self.legacy, rels, True):
                if item.error:
                    self.report.error(item.rel, item.error)
                    continue
                stem = Path(item.rel).stem
                parent = self.find_image(stem, stage)
                if parent is not None and self.catalog.artifacts.get(parent, stage) is None:
                    self.store_artifact(item, parent, stage)
                else:
                    self.own_image(item, stage, parent)
                self.report.count(stage)

    def store_artifact(self, item: Read, image_id: str, stage: str) -> None:
        dest = self.destination(stage, image_id, Path(item.rel).suffix.lower(), item)
        place(item, dest, self.copy)
        self.catalog.artifacts.record(
            image_id=image_id, stage=stage, file_path=store.relative_path(stage, dest.name),
            facts=FileFacts(item.sha256, item.size, item.width, item.height),
            params=params_for(item.rel),
        )  # fmt: skip
        self.record(item, image_id, stage)

    def own_image(self, item: Read, stage: str, parent: str | None) -> None:
        """A second file for a taken (image, stage) slot, or a derived file with no image.

        The new images row is pending (never rejected: it is an output, not a review), with
        parent_id = the image it belongs to, if any. Its own bytes are its artifact of stage.
        """
        stem = Path(item.rel).stem
        images = self.catalog.images
        same = images.by_sha(item.sha256)
        if same is not None:  # images.sha256 is unique: these bytes already are an image
            self.same_bytes(item, stage, same)
            return
        for suffix in ("", f"-{item.sha256[:8]}", f"-{item.sha256[:16]}", f"-{item.sha256}"):
            image_id = f"{stem}{suffix}"
            if not images.exists(image_id):
                break
        info = probe_data(item.src, item.data) if item.data is not None else probe(item.src)
        facts = FileFacts(item.sha256, item.size, info.width, info.height, info.mime_type)
        # An orphan stands in for its lost original: keep what the file says about itself.
        # A second file for a taken slot is an output, never shown on its own.
        images.add(image_id, facts, parent_id=parent, meta=info.meta if parent is None else None)
        self.store_artifact(item, image_id, stage)
        if parent is None:
            unreadable = "" if info.ok else f"; the file is unreadable: {info.reason}"
            self.report.note(
                item.rel, "no original",
                f"derived file without an original: registered as image {image_id!r} "
                f"(pending, {stage} artifact){unreadable}",
            )  # fmt: skip

    def same_bytes(self, item: Read, stage: str, image_id: str) -> None:
        """A derived file whose bytes are an existing image's: point at them, or keep it."""
        held = self.archive.content_stage(image_id, item.sha256)
        if held is not None:
            self.record(item, image_id, held)
            self.report.note(item.rel, "duplicate", f"same bytes as image {image_id!r}")
        elif self.catalog.artifacts.get(image_id, stage) is None:
            self.store_artifact(item, image_id, stage)
        else:
            self.keep_verbatim(item, image_id, None)
            self.report.note(item.rel, "kept", f"same bytes as image {image_id!r}; kept verbatim")

    def destination(self, stage: str, image_id: str, ext: str, item: Read) -> Path:
        dest = self.art / stage / f"{store.safe_name(image_id)}{ext}"
        if dest.exists() and not store.same_file(item.src, dest):
            if store.sha256_file(dest) != item.sha256:  # a different file already has the name
                dest = dest.with_name(f"{image_id}-{item.sha256[:8]}{ext}")
        return dest

    # -- verbatim files and blur/ ------------------------------------------------------------

    def verbatim(self, rels: list[str]) -> None:
        with self.catalog.transaction():
            for item in read_batch(self.pool, self.legacy, rels, False):
                group, stage = classify(item.rel)
                if self.keep_verbatim(item, None, stage):
                    self.report.count(group_key(group, stage))
                    if group == "other":
                        why = f"kept verbatim under art/{VERBATIM_DIR}/"
                        self.report.note(item.rel, "unmapped", why)

    def keep_verbatim(self, item: Read, image_id: str | None, stage: str | None) -> bool:
        """The file's bytes under art/legacy/<its legacy path>; stage is NULL or gallery-html."""
        if item.error:
            self.report.error(item.rel, item.error)
            return False
        place(item, self.art / VERBATIM_DIR / item.rel, self.copy)
        self.record(item, image_id, stage)
        return True

    def blur(self, rels: list[str]) -> None:
        with self.catalog.transaction():
            for item in read_batch(self.pool, self.legacy, rels, False):
                stem, ext = Path(item.rel).stem, Path(item.rel).suffix.lower()
                owner = self.find_image(stem) if ext != ".json" else None
                if not self.keep_verbatim(item, owner, None):
                    continue
                self.report.count("blur")
                try:
                    data = item.data if item.data is not None else item.src.read_bytes()
                    entries = read_blur_file(item.rel, data)
                except (OSError, ValueError) as exc:
                    self.report.error(item.rel, str(exc))
                    continue
                if entries is None:
                    self.report.note(item.rel, "unmapped", "not a blurhash file; kept verbatim")
                for key, blurhash in (entries or {}).items():
                    self.import_blurhash(item.rel, key, blurhash)

    def import_blurhash(self, rel: str, key: str, value: object) -> None:
        where = blur_entry(rel, key)
        image_id = self.find_image(str(key))
        if image_id is None:
            self.report.note(where, "blurhash", f"no image {key!r}: hash not imported")
            return
        try:
            blurhash = checked_blurhash(value)
        except ValueError as exc:
            self.report.error(where, str(exc))
            return
        width, height, cached = self.archive.blurhash_slot(image_id, "web-optimized")
        if cached:  # an earlier run (or cvgallery) has it: keep that one
            return
        if width is None or height is None:
            self.report.error(where, f"image {image_id!r} has no known size: hash not imported")
            return
        context = json.dumps(params_for(rel), ensure_ascii=False)
        self.catalog.artifacts.store_blurhash(
            image_id, "web-optimized", blurhash, width, height, context
        )
        self.report.count("blurhash")
