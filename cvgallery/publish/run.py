"""`publish`: make a target equal to a built site, in a safe order, resumably.

The steps, and why each is where it is:

1. Read the target's manifest and scan the site; compare (plan.py). Every refusal
   (too many deletions, a first publish into a folder that holds other files) happens
   here, before anything at the target changes.
2. Record every upload as pending in the manifest, then upload phase by phase
   (plan.Plan.phases): each phase finishes before the next starts, so no page goes up
   before the files it links to. A failed upload (after retries) stops the later phases:
   the pages that would link to it stay as they were, still whole.
3. Record the uploads (the manifest is also rewritten every few seconds on the way, so a
   killed run loses little; not after every phase, because on a large site the manifest
   is megabytes and a small change must stay a small upload), then delete what the site
   no longer has, and record that.

A run killed anywhere leaves a manifest that names every file cvgallery may have put
there; the next run re-sends what is pending and finishes the job.
"""

from __future__ import annotations

import itertools
import queue
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import PublishError
from .address import parse_target
from .headers import HeaderRules
from .manifest import dump_manifest, parse_manifest
from .plan import Plan, make_plan, walk_source
from .table import ENCODING, ERRORS, Entry, PathList, Table, unpack_hash
from .target import Target, describe_error

#: on_progress(done_files, total_files, done_bytes, total_bytes)
Progress = Callable[[int, int, int, int], None]

DEFAULT_MAX_DELETES = 256
ATTEMPTS = 3
BACKOFF = 0.5  # seconds before the second attempt; doubled for each later one
#: The manifest is rewritten during uploads at most this often, and only once the bytes
#: uploaded since the last write outweigh it (on a 20,000-file site it is ~2 MB): a killed
#: run then re-sends at most half a minute of work, and the manifest never costs more
#: traffic than the files.
CHECKPOINT_SECONDS = 30.0
#: Uploads submitted ahead per thread, so a thread never waits for the next file.
IN_FLIGHT_PER_JOB = 4


@dataclass
class PublishReport:
    """What a publish did (or, for a dry run, would do), for one line or one JSON document."""

    target: str
    plan: Plan
    dry_run: bool = False
    uploaded: int = 0
    uploaded_bytes: int = 0
    deleted: int = 0
    #: uploads not attempted because an earlier phase failed (they go next time)
    skipped: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    #: why a dry run's real run would refuse to start
    refusal: str | None = None
    seconds: float = 0.0

    @property
    def unchanged(self) -> int:
        return len(self.plan.unchanged)

    @property
    def failed(self) -> int:
        return len(self.failures)

    @property
    def ok(self) -> bool:
        return not self.failures and self.refusal is None

    def line(self) -> str:
        plan = self.plan
        sizes = plan.sizes()
        if self.dry_run:
            text = (
                f"{self.target}: dry run: would upload {len(plan.uploads)} files "
                f"({human_bytes(sizes['upload'])}; {len(plan.new)} new, "
                f"{len(plan.changed)} changed), delete {len(plan.delete)} "
                f"({human_bytes(sizes['delete'])}), keep {len(plan.unchanged)} "
                f"({human_bytes(sizes['unchanged'])})"
            )
            text += f", {self.failed} unreadable" if self.failures else ""
            return text + (f"; would refuse: {self.refusal}" if self.refusal else "")
        text = (
            f"{self.target}: {self.uploaded} uploaded ({human_bytes(self.uploaded_bytes)}), "
            f"{self.deleted} deleted, {self.unchanged} unchanged, {self.failed} failed"
        )
        if self.skipped:
            text += f", {self.skipped} held back"
        return text + f" in {self.seconds:.2f}s"

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "dry_run": self.dry_run,
            "ok": self.ok,
            "uploaded": self.uploaded,
            "uploaded_bytes": self.uploaded_bytes,
            "deleted": self.deleted,
            "unchanged": self.unchanged,
            "failed": self.failed,
            "skipped": self.skipped,
            "failures": [{"path": p, "reason": r} for p, r in self.failures],
            "refusal": self.refusal,
            "seconds": round(self.seconds, 3),
            "plan": self.plan.as_dict(),
        }


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def publish(
    source: Path,
    target: str | Target,
    *,
    dry_run: bool = False,
    max_deletes: int = DEFAULT_MAX_DELETES,
    force: bool = False,
    jobs: int = 8,
    endpoint_url: str | None = None,
    headers: HeaderRules | None = None,
    on_progress: Progress | None = None,
) -> PublishReport:
    """Make ``target`` (a folder, ``s3://BUCKET[/PREFIX]`` or a Target) equal to ``source``.

    Raises PublishError before any change when the run cannot or must not start; upload
    and delete failures are in the report (``ok`` is False), never raised.
    """
    started = time.perf_counter()
    source = Path(source)
    if not source.is_dir():
        raise PublishError(f"{source}: no built site to publish (run cvgallery build first)")
    jobs = max(1, jobs)
    owned = not isinstance(target, Target)
    if isinstance(target, Target):
        tgt = target
    else:
        tgt = parse_target(target, endpoint_url=endpoint_url, jobs=jobs)
    try:
        tgt.check_source(source)
        previous, refusal = _read_target(tgt, force)
        problems: list[tuple[str, str]] = []
        plan = make_plan(walk_source(source, problems), previous, problems)
        if refusal is None and 0 <= max_deletes < len(plan.delete):
            refusal = (
                f"the plan deletes {len(plan.delete)} files, more than the limit of "
                f"{max_deletes}; nothing was changed (raise --max-deletes, or -1 for no limit)"
            )
        report = PublishReport(tgt.describe(), plan, dry_run=dry_run)
        report.failures += problems
        if dry_run:
            report.refusal = refusal
        elif refusal is not None:
            raise PublishError(f"{tgt.describe()}: {refusal}")
        else:
            run = _Run(tgt, source, plan, headers or HeaderRules(), report)
            run.jobs, run.progress = jobs, on_progress or run.progress
            run()
        report.seconds = time.perf_counter() - started
        return report
    finally:
        if owned:
            tgt.close()


def _read_target(target: Target, force: bool) -> tuple[Table | None, str | None]:
    """The manifest's entries (None: no manifest) and a reason to refuse, if any."""
    data = target.read_manifest()
    if data is not None:
        try:
            return parse_manifest(data, target.describe()), None
        except PublishError as exc:
            if not force:
                raise PublishError(
                    f"{exc}; with --force it is ignored and replaced "
                    "(files it listed are then never deleted)"
                ) from exc
            return None, None
    if not force and target.has_other_files():
        return None, (
            "holds files and no cvgallery publish manifest; refusing a first publish there "
            "(--force publishes beside them: files cvgallery did not put there are never deleted)"
        )
    return None, None


class _Run:
    """One publish's uploads and deletions, with the manifest kept true along the way."""

    def __init__(
        self,
        target: Target,
        source: Path,
        plan: Plan,
        headers: HeaderRules,
        report: PublishReport,
    ):
        self.target, self.source, self.plan, self.headers = target, source, plan, headers
        self.report = report
        self.jobs = 1
        # What the manifest says is the plan's two tables and these flags, merged in path
        # order when written (entries): the previous publish's rows, less those deleted,
        # and the uploads (once recorded): pending, or with their hash once uploaded.
        self.uploads: Table = plan.source.table
        self.recorded = False
        self.uploaded = bytearray(len(self.uploads))
        self.deleted = bytearray(len(plan.manifest))
        self.progress: Progress = lambda *_a: None
        self.upload_failed = False
        self.total_files = len(plan.uploads) + len(plan.delete)
        self.total_bytes = plan.upload_bytes
        self.done_files = 0
        self.done_bytes = 0
        self.last_checkpoint = time.monotonic()
        self.manifest_bytes = 0
        self.bytes_at_checkpoint = 0

    def __call__(self) -> None:
        plan = self.plan
        if not plan.uploads and not plan.delete:
            return
        try:
            if plan.uploads:
                self.recorded = True
                self.checkpoint()  # pending first: a killed run leaves nothing unrecorded
                self.upload_all()
            if not self.upload_failed and plan.delete:
                if plan.uploads:
                    self.checkpoint()
                self.delete_all()
        finally:
            self.checkpoint()

    def entries(self) -> Iterator[tuple[str, Entry]]:
        """The manifest's entries now, in path order: the previous rows and the uploads
        merged (an upload of a path the previous manifest had replaces its row)."""
        uploads, deleted, uploaded = self.uploads, self.deleted, self.uploaded
        waiting = uploads.rows() if self.recorded else iter(())
        upload = next(waiting, None)
        for row, path, packed, size in self.plan.manifest.rows():
            replaced = False
            while upload is not None and upload[1] <= path:
                n, new_path, new_hash, new_size = upload
                yield _entry(new_path, new_hash if uploaded[n] else None, new_size)
                replaced = replaced or new_path == path
                upload = next(waiting, None)
            if not replaced and not deleted[row]:
                yield _entry(path, packed, size)
        while upload is not None:
            n, new_path, new_hash, new_size = upload
            yield _entry(new_path, new_hash if uploaded[n] else None, new_size)
            upload = next(waiting, None)

    def checkpoint(self) -> None:
        data = dump_manifest(self.entries())
        self.target.write_manifest(data)
        self.last_checkpoint = time.monotonic()
        self.manifest_bytes = len(data)
        self.bytes_at_checkpoint = self.done_bytes

    def checkpoint_due(self) -> bool:
        return (
            time.monotonic() - self.last_checkpoint >= CHECKPOINT_SECONDS
            and self.done_bytes - self.bytes_at_checkpoint >= self.manifest_bytes
        )

    def upload_all(self) -> None:
        phases = self.plan.phases()
        with ThreadPoolExecutor(self.jobs, thread_name_prefix="publish") as pool:
            for n, phase in enumerate(phases):
                self.upload_phase(pool, phase)
                if self.upload_failed:
                    self.report.skipped = sum(len(p) for p in phases[n + 1 :])
                    return

    def upload_phase(self, pool: ThreadPoolExecutor, phase: PathList) -> None:
        # A few uploads per thread are in flight, not the whole phase: a Future per file of
        # a 300,000-file first publish would be most of its memory. Completions arrive
        # through a queue: waiting on the set of pending futures would cost a scan of that
        # set per completion.
        done: queue.SimpleQueue[Future[None]] = queue.SimpleQueue()
        pending: dict[Future[None], int] = {}  # → its row in the uploads table
        waiting = iter(phase.rows)
        window = self.jobs * IN_FLIGHT_PER_JOB
        try:
            while True:
                for n in itertools.islice(waiting, window - len(pending)):
                    future = pool.submit(self.put, n)
                    pending[future] = n
                    future.add_done_callback(done.put)
                if not pending:
                    return
                try:
                    future = done.get(timeout=CHECKPOINT_SECONDS)
                    self.finished(pending.pop(future), future)
                except queue.Empty:
                    pass
                if self.checkpoint_due():
                    self.checkpoint()
        except BaseException:
            for future in pending:
                future.cancel()
            raise

    def put(self, n: int) -> None:
        rel = self.uploads.path(n)
        path = self.source / rel
        headers = self.headers.for_path(rel)
        for attempt in range(ATTEMPTS):
            try:
                self.target.put(rel, path, headers)
                return
            except Exception as exc:
                if attempt + 1 == ATTEMPTS or not self.target.retryable(exc):
                    raise
                time.sleep(BACKOFF * 2**attempt)

    def finished(self, n: int, future: Future[None]) -> None:
        size = self.uploads.sizes[n]
        exc = future.exception()
        if exc is None:
            self.uploaded[n] = 1
            self.report.uploaded += 1
            self.report.uploaded_bytes += size
        else:
            self.upload_failed = True
            self.report.failures.append((self.uploads.path(n), describe_error(exc)))
        self.done_files += 1
        self.done_bytes += size
        self.progress(self.done_files, self.total_files, self.done_bytes, self.total_bytes)

    def delete_all(self) -> None:
        delete = self.plan.delete
        failures = dict(self.target.delete(list(delete)))
        for row, rel in zip(delete.rows, delete, strict=True):
            if rel not in failures:
                self.deleted[row] = 1
                self.report.deleted += 1
            self.done_files += 1
        self.report.failures += list(failures.items())
        self.progress(self.done_files, self.total_files, self.done_bytes, self.total_bytes)


def _entry(path: bytearray, packed: bytearray | None, size: int) -> tuple[str, Entry]:
    """A table row as the manifest's (path, Entry); ``packed`` None: pending."""
    digest = None if packed is None else unpack_hash(packed)
    return path.decode(ENCODING, ERRORS), Entry(digest, size)
