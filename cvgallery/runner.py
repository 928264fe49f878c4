"""The runner: claims a group of stages' pending jobs, feeds a process pool, records results.

Jobs are claimed atomically (jobs.claim) in small batches, so two runs at once share the
work. Workers (cvgallery.stages.*) write files under art/<stage>/ atomically and return
what they made; only this main process touches cv.db, recording results in batches: the
artifact row and the job's completion in one transaction, replaced files removed after
the commit. Temporary files carry the run's pid, so a later run can remove a dead run's
temporaries without touching a live one's.
"""

from __future__ import annotations

import functools
import multiprocessing
import multiprocessing.context
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any

from . import owners
from .catalog import Catalog
from .config import StageConfig
from .notes import run_noting
from .stages import FINGERPRINTS, Made, Policy, Task, TaskContext, Unit, kind_of, matrix
from .stages.worker import init_worker

COMMIT_EVERY = 64  # results per write transaction
COMMIT_SECONDS = 1.0

Progress = Callable[[int, int], None]
#: told which stages a run is working on now (a progress bar's label)
StageLabel = Callable[[str], None]


@dataclass(frozen=True)
class JobFailure:
    image_id: str
    stage: str
    error: str
    #: a matrix stage's `each` image (the output is image_id--variant)
    variant: str | None = None

    def __str__(self) -> str:
        what = self.image_id if self.variant is None else f"{self.image_id} x {self.variant}"
        return f"{what} {self.stage}: {self.error}"


@dataclass
class ProcessReport:
    made: int = 0
    skipped: int = 0
    failed: list[JobFailure] = field(default_factory=list)
    #: jobs that failed in an earlier run and were not run now
    blocked: int = 0
    #: of those, the ones that have used up max_retries (no retry re-queues them)
    exhausted: int = 0
    #: whether failed jobs were re-queued first (--retry-failed)
    retried: bool = False
    recovered: int = 0

    def line(self) -> str:
        """The one-line summary: "made N, skipped N, failed N", then what the earlier
        failures still waiting need: a retry, or a look (they used up max_retries)."""
        text = f"made {self.made}, skipped {self.skipped}, failed {len(self.failed)}"
        waiting = self.blocked - self.exhausted
        if waiting > 0:
            hint = "" if self.retried else ": use --retry-failed"
            text += f" ({waiting} failed earlier, not retried{hint})"
        if self.exhausted:
            jobs = "job" if self.exhausted == 1 else "jobs"
            text += (
                f"; {self.exhausted} failed {jobs} reached max_retries"
                " (see `cvgallery jobs --status failed`)"
            )
        return text

    def as_dict(self) -> dict[str, Any]:
        return {
            "made": self.made,
            "skipped": self.skipped,
            "failed": [vars(f) for f in self.failed],
            "blocked": self.blocked,
            "exhausted": self.exhausted,
            "recovered": self.recovered,
        }


class _Inline(Executor):
    """-j 1 and inline kinds: run tasks in this process (no pool to start, easier to debug)."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            future.set_exception(exc)
        return future


def _mp_context() -> multiprocessing.context.BaseContext:
    """fork, unless this process runs other threads (`serve` builds beside its HTTP and
    watcher threads): a fork then copies locks those threads may hold, so workers come
    from a fork server instead."""
    if threading.active_count() > 1:
        return multiprocessing.get_context("forkserver")
    return multiprocessing.get_context("fork")


def _initializer(
    policy: Policy, context: multiprocessing.context.BaseContext
) -> Callable[[], None]:
    """Workers die with the run and ignore Ctrl-C; a dedicated pool also runs the kind's own
    start-up (load a model once per worker process). A forked worker checks that this
    process, its parent, is still there (a forkserver's child has another parent)."""
    parent = os.getpid() if context.get_start_method() == "fork" else None
    own = policy.initializer
    if own is None:
        return functools.partial(init_worker, parent)

    def start() -> None:
        init_worker(parent)
        own()

    return start


@dataclass
class _Claimed:
    unit: Unit
    #: the executor key (see Runner._executor) and the task, once built (kept to rerun it alone)
    pool_key: tuple[Any, ...] = ()
    task: Task | None = None

    def submit(self, pool: Executor) -> Future[list[Made]]:
        assert self.task is not None, "submitted before its task was built"
        # A decoder's warnings (corrupt EXIF...) are printed as notes naming the image.
        return pool.submit(run_noting, self.unit.image_id, self.task.fn, self.task.payload)

    def failed(self, error: str) -> list[Made]:
        return [Made(stage, error=error) for stage in self.unit.jobs]


class Runner:
    def __init__(
        self,
        catalog: Catalog,
        report: ProcessReport,
        workers: int,
        on_progress: Progress | None,
        on_stage: StageLabel | None = None,
    ):
        self.catalog = catalog
        self.report = report
        self.workers = max(1, workers)
        self.on_progress = on_progress
        self.on_stage = on_stage
        self.owner = owners.owner_id()
        self.tag = f"{os.getpid()}-"
        self.pools: dict[tuple[Any, ...], Executor] = {}
        self.done = 0
        self.total = 0
        #: jobs counted in ``total`` ahead of their group's turn (see expect)
        self.expected: dict[tuple[str, ...], int] = {}
        self.results: list[tuple[_Claimed, list[Made]]] = []
        #: submitted tasks not yet collected; on an interrupt, close() records the finished ones
        self.inflight: dict[Future[list[Made]], _Claimed] = {}
        self.last_commit = time.monotonic()
        config = catalog.config
        self.context = TaskContext(
            catalog,
            self.tag,
            tuple((h.name, h.stage(config), h.options(config)) for h in FINGERPRINTS.values()),
            self.owner,
        )

    def _pool_key(self, cfg: StageConfig) -> tuple[Any, ...]:
        """Which executor a stage's tasks go to: its kind's policy, capped by ``workers``."""
        policy = kind_of(cfg).policy
        if policy.mode == "inline":
            return ("inline",)
        size = min(self.workers, policy.max_workers or self.workers, cfg.workers or self.workers)
        if size == 1 and policy.mode == "pool" and self.workers == 1:
            return ("inline",)
        return (policy.mode, size, policy.initializer, cfg.name if policy.mode != "pool" else "")

    def _executor(self, key: tuple[Any, ...]) -> Executor:
        pool = self.pools.get(key)
        if pool is None:
            if key[0] == "inline":
                pool = _Inline()
            else:
                policy = Policy(key[0], key[1], key[2])
                context = _mp_context()
                pool = ProcessPoolExecutor(
                    key[1], mp_context=context, initializer=_initializer(policy, context)
                )
            self.pools[key] = pool
        return pool

    def _drop_pool(self, key: tuple[Any, ...]) -> None:
        pool = self.pools.pop(key, None)
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        """Record all finished work (an interrupted run keeps it), give back the rest."""
        try:
            for key in list(self.pools):
                # Waits for the tasks already running (workers ignore Ctrl-C), drops the queued.
                self.pools.pop(key).shutdown(wait=True, cancel_futures=True)
            for future in list(self.inflight):
                # A task interrupted by Ctrl-C itself (-j 1 runs them here) is not a failure,
                # and one lost with a broken pool is not run again now: both go back pending.
                if future.done() and not future.cancelled():
                    error = future.exception()
                    if error is None or (
                        isinstance(error, Exception) and not isinstance(error, BrokenProcessPool)
                    ):
                        self._collect(future)
            self._commit()
        finally:
            self.catalog.jobs.release(self.owner)  # anything claimed but not finished

    def expect(self, groups: list[list[str]]) -> None:
        """Count the jobs every group can claim now, so the total is known from the start
        (a group's own turn adds what its earlier stages made possible meanwhile)."""
        for group in groups:
            n = self.catalog.jobs.claimable(group)
            self.expected[tuple(group)] = n
            self.total += n
        self._progress()

    def run(self, group: list[str]) -> None:
        queue = self.catalog.jobs
        pending = queue.claimable(group)
        self.total += pending - self.expected.pop(tuple(group), 0)
        if not pending:
            self._progress()
            return
        if self.on_stage:
            self.on_stage(", ".join(group))
        self._progress()
        inflight = self.inflight
        cfg = self.catalog.config.stages[group[0]]
        key = self._pool_key(cfg)
        parallel = 1 if key[0] == "inline" else key[1]
        low, high = parallel * 2, parallel * 4
        exhausted = False
        while True:
            if not exhausted and len(inflight) < low:
                rows = queue.claim(group, self.owner, high - len(inflight))
                exhausted = not rows
                for claimed in self._tasks(group, rows, key):
                    try:
                        inflight[claimed.submit(self._executor(key))] = claimed
                    except BrokenProcessPool:
                        self._drop_pool(key)
                        inflight[claimed.submit(self._executor(key))] = claimed
            if not inflight:
                if exhausted:
                    break
                continue
            done, _ = wait(inflight, timeout=COMMIT_SECONDS, return_when=FIRST_COMPLETED)
            for future in done:
                self._collect(future)
            if (
                len(self.results) >= COMMIT_EVERY
                or time.monotonic() - self.last_commit > COMMIT_SECONDS
            ):
                self._commit()
            else:
                self._progress()  # a progress line falls due even while nothing finishes
        self._commit()

    def _collect(self, future: Future[list[Made]]) -> None:
        """Queue a finished task's results (or its failure) for the next commit."""
        claimed = self.inflight.pop(future)
        try:
            made = future.result()
        except BrokenProcessPool:
            # A worker died (a decoder crash, the OOM killer) and took the pool and every
            # task in it along: each of them runs again alone, so only the culprit fails.
            self._drop_pool(claimed.pool_key)
            made = self._run_alone(claimed)
        except Exception as exc:
            made = claimed.failed(f"{type(exc).__name__}: {exc}")
        self.results.append((claimed, made))

    def _run_alone(self, claimed: _Claimed) -> list[Made]:
        """Run one task in a pool of its own (after a worker died: nothing else is running)."""
        context = _mp_context()
        initializer = _initializer(Policy(), context)
        with ProcessPoolExecutor(1, mp_context=context, initializer=initializer) as pool:
            try:
                return claimed.submit(pool).result()
            except BrokenProcessPool:
                return claimed.failed("worker process died (crashed or killed)")
            except Exception as exc:
                return claimed.failed(f"{type(exc).__name__}: {exc}")

    def _tasks(self, group: list[str], rows: list[Any], key: tuple[Any, ...]) -> list[_Claimed]:
        """One task per claimed image (and variant); one whose task cannot be built fails here.

        A job whose output is now a hand-made file (logged after the job was queued) is
        completed without running: process never overwrites a file made outside it."""
        units: dict[tuple[str, str | None], _Claimed] = {}
        rows = self._leave_hand_made(rows)
        for row in rows:
            unit_key = (row["image_id"], row["variant"])
            claimed = units.setdefault(
                unit_key, _Claimed(Unit(row["image_id"], {}, row["variant"]), key)
            )
            claimed.unit.jobs.setdefault(row["stage"], []).append(row["id"])
        stages = [self.catalog.config.stages[name] for name in group]
        kind = kind_of(stages[0])
        out = []
        for claimed in units.values():
            try:
                claimed.task = kind.task(self.context, stages, claimed.unit)
            except Exception as exc:
                self.results.append((claimed, claimed.failed(str(exc))))
            else:
                out.append(claimed)
        return out

    def _leave_hand_made(self, rows: list[Any]) -> list[Any]:
        catalog = self.catalog
        keep: list[Any] = []
        settled: list[Any] = []
        for row in rows:
            output = row["image_id"]
            if row["variant"] is not None:
                output = matrix.child_id(output, row["variant"])
            (settled if catalog.artifacts.hand_made(output, row["stage"]) else keep).append(row)
        if settled:  # planning counted these outputs as current (report.skipped) already
            with catalog.transaction():
                catalog.jobs.finish([r["id"] for r in settled], self.owner)
            self.done += len(settled)
        return keep

    def _commit(self) -> None:
        if not self.results:
            return
        results, self.results = self.results, []
        catalog = self.catalog
        replaced: list[str] = []
        with catalog.transaction():
            for claimed, made_list in results:
                unit = claimed.unit
                by_stage = {m.stage: m for m in made_list}
                for stage, job_ids in unit.jobs.items():
                    made = by_stage.get(stage) or Made(stage, error="the worker returned no result")
                    if not made.error:
                        error, unused = kind_of(catalog.config.stages[stage]).record(
                            catalog, unit, made
                        )
                        replaced += unused
                        made.error = error
                    if made.error:
                        catalog.jobs.fail(job_ids, self.owner, made.error)
                        failure = JobFailure(unit.image_id, stage, made.error, unit.variant)
                        self.report.failed.append(failure)
                        continue
                    catalog.jobs.finish(job_ids, self.owner)
                    self.report.made += 1
                self.done += len(unit.jobs)
            orphans = catalog.artifacts.unrecorded(replaced)
        for path in orphans:  # after the commit: a crash before it keeps the old file recorded
            (catalog.art_dir / path).unlink(missing_ok=True)
        self.last_commit = time.monotonic()
        self._progress()

    def _progress(self) -> None:
        if self.on_progress:
            self.on_progress(self.done, max(self.total, self.done))
