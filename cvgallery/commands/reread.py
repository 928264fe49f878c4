"""`cvgallery reread`: read the words and capture facts of pictures again from their originals.

`add` reads title, caption, alt text, capture date and camera line from each file
(cvgallery.metadata). Images catalogued before that (schema 5), or migrated by such a
version, have none: this fills them from the stored original (art/upstream/, or
art/video-sources/ for a video's capture date). By default only what is still empty is
filled, so words typed with `cvgallery set` are never replaced; ``overwrite`` replaces
whatever the file has a value for (a field the file says nothing about is kept).

Only headers are read (Pillow's open parses the markers before the pixel data; a video's
container header through ffmpeg), and an image with nothing left to fill is not read at
all, so a second run over a large archive costs a catalog scan. A file that is missing or
unreadable fails alone, named with its reason; nothing stored is lost.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from ..catalog import Catalog
from ..errors import UsageError
from ..metadata import PictureMeta, read_image_meta, read_video_meta
from ..names import shown
from ..notes import run_noting
from ..pixels import bomb_message, register_plugins
from .report import Report

Sink = Callable[[str], None] | None

#: every field a picture's file may fill (PictureMeta's, the keys of images.META_COLUMNS)
FIELDS = tuple(f.name for f in fields(PictureMeta))
#: what a video's container tells
VIDEO_FIELDS = ("taken_at",)
BATCH = 256  # images per read-ahead and per transaction: a kill loses at most one batch
#: what reading one file gave: what it says, or the reason it could not be read
Read = tuple[PictureMeta, str | None]
READERS = 4  # threads reading headers: a cold disk's latency, not the CPU, is the cost


@dataclass
class _Planned:
    """An image whose original is to be read, and which of its fields may change."""

    image_id: str
    path: str
    video: bool
    wanted: tuple[str, ...]
    stored: dict[str, str | None]


def reread(
    catalog: Catalog,
    names: Sequence[str] = (),
    *,
    all_images: bool = False,
    overwrite: bool = False,
    dry_run: bool = False,
    sink: Sink = None,
) -> Report:
    """Fill title, caption, alt, taken_at, camera, lens and exposure of the named images (an
    id or a registered file's name), or of every image with an original (``all_images``),
    from their original files. Counts: read (files read), updated, unchanged (read, nothing
    new), skipped (nothing left to fill; with ``all_images`` also a file rejected as
    unreadable at add), failed (unknown image, no original, missing or unreadable file)."""
    if all_images and names:
        raise UsageError("reread: give image ids or --all, not both")
    if not all_images and not names:
        raise UsageError("reread: give image ids (- reads them from stdin) or --all")
    report = Report(sink=sink)
    counts = dict.fromkeys(("read", "updated", "unchanged", "skipped", "failed"), 0)
    updated: list[dict[str, object]] = []
    failed: list[dict[str, str | None]] = []

    def fail(image_id: str | None, path: str | None, reason: str) -> None:
        counts["failed"] += 1
        where = "".join(f"{shown(x)}: " for x in (image_id, path) if x is not None)
        report.failures.append(f"Error: {where}{reason}")
        failed.append({"id": image_id, "file": path, "reason": reason})

    rows = _all_rows(catalog) if all_images else _named_rows(catalog, names, fail)
    art_dir = os.fspath(catalog.art_dir)
    register_plugins()
    with ThreadPoolExecutor(READERS, thread_name_prefix="reread") as pool:
        for batch in _batches(rows):
            plans: list[_Planned] = []
            for row in batch:
                plan = _plan(art_dir, row, overwrite)
                if plan is None:
                    fail(str(row["id"]), None, "no original file recorded (upstream artifact)")
                elif not plan.wanted or (all_images and _known_unreadable(row)):
                    counts["skipped"] += 1
                else:
                    plans.append(plan)
            changes: list[tuple[str, dict[str, str | None]]] = []
            for plan, (meta, error) in zip(plans, _read_all(pool, plans), strict=True):
                if error is not None:
                    fail(plan.image_id, plan.path, error)
                    continue
                counts["read"] += 1
                change = _changes(plan, meta)
                if not change:
                    counts["unchanged"] += 1
                    continue
                counts["updated"] += 1
                changes.append((plan.image_id, change))
                updated.append({"id": plan.image_id, "fields": change})
                verb = "would update" if dry_run else "updated"
                report.say(f"{verb} {shown(plan.image_id)}: {', '.join(change)}")
            if changes and not dry_run:
                with catalog.transaction():
                    for image_id, change in changes:
                        catalog.images.set_meta(image_id, change)
    report.counts = counts
    report.summary = ", ".join(f"{n} {name}" for name, n in counts.items())
    if dry_run:
        report.summary += " (dry run: nothing written)"
    report.exit_code = 1 if counts["failed"] else 0
    report.data = {
        "ok": report.ok,
        "dry_run": dry_run,
        "overwrite": overwrite,
        "counts": counts,
        "updated": updated,
        "failures": failed,
    }
    return report


def _all_rows(catalog: Catalog) -> Iterator[sqlite3.Row]:
    """Every image with an original, by id, a page at a time (an archive may have millions;
    paging by id lets each batch's transaction commit between pages)."""
    after = ""
    while page := catalog.images.originals_page(after, BATCH):
        yield from page
        after = str(page[-1]["id"])


def _named_rows(
    catalog: Catalog, names: Sequence[str], fail: Callable[[str | None, str | None, str], None]
) -> Iterator[sqlite3.Row]:
    ids: list[str] = []
    for name in dict.fromkeys(names):
        image_id = catalog.images.resolve(name)
        if image_id is None:
            fail(None, None, f"unknown image id: {name!r}")
        else:
            ids.append(image_id)
    for first in range(0, len(ids), BATCH):
        yield from catalog.images.originals_of(ids[first : first + BATCH])


def _batches(rows: Iterator[sqlite3.Row]) -> Iterator[list[sqlite3.Row]]:
    batch: list[sqlite3.Row] = []
    for row in rows:
        batch.append(row)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _plan(art_dir: str, row: sqlite3.Row, overwrite: bool) -> _Planned | None:
    """What to read for one image; None when it has no original file."""
    if row["source_path"] is None:
        return None
    video = row["source_stage"] == "video-sources"
    stored = {name: row[name] for name in FIELDS}
    readable = VIDEO_FIELDS if video else FIELDS
    wanted = readable if overwrite else tuple(f for f in readable if stored[f] is None)
    path = os.path.join(art_dir, row["source_path"])
    return _Planned(str(row["id"]), path, video, wanted, stored)


def _known_unreadable(row: sqlite3.Row) -> bool:
    """`add` rejected the file as unreadable (not a manual rejection): --all does not try it
    again, so a run over an archive does not fail on the same broken files every time."""
    reason = row["rejection_reason"]
    return bool(row["rejected"]) and isinstance(reason, str) and reason.startswith("invalid:")


def _read_all(pool: ThreadPoolExecutor, plans: list[_Planned]) -> Iterator[Read]:
    """_read of each plan, in order, a few threads each taking a slice (one task per slice:
    a future per file would cost as much as reading a header)."""
    step = -(-len(plans) // READERS) or 1
    slices = [plans[i : i + step] for i in range(0, len(plans), step)]
    for results in pool.map(_read_slice, slices):
        yield from results


def _read_slice(plans: list[_Planned]) -> list[Read]:
    """A decoder's warning (a corrupt EXIF block) is printed with the image it is about."""
    return [run_noting(plan.image_id, _read, plan) for plan in plans]


def _read(plan: _Planned) -> Read:
    """What a file says about itself, or the reason it cannot be read."""
    try:
        if os.stat(plan.path).st_size == 0:
            return PictureMeta(), "empty file (0 bytes)"
        if plan.video:
            with open(plan.path, "rb"):
                pass  # readable: ffmpeg would only say "no date"
            return read_video_meta(Path(plan.path)), None
        with Image.open(plan.path) as im:  # parses the header; no pixel is decoded
            return read_image_meta(im), None
    except FileNotFoundError:
        return PictureMeta(), "file missing"
    except OSError as exc:
        if isinstance(exc, UnidentifiedImageError):
            return PictureMeta(), "not an image Pillow can read"
        return PictureMeta(), exc.strerror or str(exc) or type(exc).__name__
    except Image.DecompressionBombError as exc:
        return PictureMeta(), bomb_message(exc)
    except Exception as exc:  # a broken header is a fact about the file, not a crash
        return PictureMeta(), f"unreadable ({type(exc).__name__}: {exc})"


def _changes(plan: _Planned, meta: PictureMeta) -> dict[str, str | None]:
    """The wanted fields the file has a value for that differ from what is stored."""
    out: dict[str, str | None] = {}
    for name in plan.wanted:
        value = getattr(meta, name)
        if value is not None and value != plan.stored[name]:
            out[name] = value
    return out
