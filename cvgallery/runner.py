"""The runner: claims a group of stages' pending jobs, feeds a process pool, records results.

Jobs are claimed atomically (jobs.claim) in small batches, so two runs at once share the
work. Workers (cvgallery.stages.*) write files under art/<stage>/ atomically and return
what they made; only this main process touches cv.db, recording results in batches: the
artifact row and the job's completion in one transaction, replaced files removed after
the commit. Temporary files carry the run's pid, so a later run can remove a dead run's
temporaries without touching a live one's.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any

from . import db, store
from . import jobs as jobs_lib
from .catalog import Catalog
from .config import SiteConfig, StageConfig
from .stages import Made, Output, record_made
from .stages import command as command_stage
from .stages import matrix as matrix_stage
from .stages import resize as resize_stage
from .stages import video as video_stage
from .stages.blurhash import context as blurhash_context
from .stages.worker import init_worker

COMMIT_EVERY = 64  # results per write transaction
COMMIT_SECONDS = 1.0
BLURHASH_STAGE = "web-optimized"

Progress = Callable[[int, int], None]


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
    #: jobs that failed in an earlier run and were not retried (see --retry-failed)
    blocked: int = 0
    recovered: int = 0

    def line(self) -> str:
        """The one-line summary: "made N, skipped N, failed N" (+ earlier failures left)."""
        text = f"made {self.made}, skipped {self.skipped}, failed {len(self.failed)}"
        if self.blocked:
            text += f" ({self.blocked} failed earlier, not retried: use --retry-failed)"
        return text

    def as_dict(self) -> dict[str, Any]:
        return {
            "made": self.made,
            "skipped": self.skipped,
            "failed": [vars(f) for f in self.failed],
            "blocked": self.blocked,
            "recovered": self.recovered,
        }


def stage_deps(config: SiteConfig, cfg: StageConfig) -> set[str]:
    deps = {cfg.input} if cfg.each is None else {cfg.input, cfg.each}
    video = config.stages.get("video-frames")
    if cfg.kind == "resize" and cfg.input == "upstream" and video and video.kind == "video":
        deps.add("video-frames")  # a video's resizes come from its poster frame
    return {d for d in deps if d in config.stages}


def source_clause(config: SiteConfig, cfg: StageConfig) -> tuple[str, list[str]]:
    if "video-frames" in stage_deps(config, cfg):
        return "CASE WHEN i.mime_type LIKE 'video/%' THEN ? ELSE ? END", ["video-frames", cfg.input]
    return "?", [cfg.input]


class _Inline(Executor):
    """-j 1: run tasks in this process (no pool to start, easier to debug)."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            future.set_exception(exc)
        return future


@dataclass
class _Claimed:
    image_id: str
    jobs: dict[str, list[int]]  # stage -> job ids (normally one)
    #: a matrix stage's job: the id of its `each` image
    variant: str | None = None
    #: the worker function and its task, once built (kept to run it again alone)
    fn: Callable[[Any], list[Made]] | None = None
    task: Any = None

    def submit(self, pool: Executor) -> Future[list[Made]]:
        assert self.fn is not None, "submitted before its task was built"
        return pool.submit(self.fn, self.task)

    def failed(self, error: str) -> list[Made]:
        return [Made(stage, error=error) for stage in self.jobs]


class Runner:
    def __init__(
        self, catalog: Catalog, report: ProcessReport, workers: int, on_progress: Progress | None
    ):
        self.catalog = catalog
        self.report = report
        self.workers = max(1, workers)
        self.on_progress = on_progress
        self.owner = jobs_lib.owner_id()
        self.tag = f"{os.getpid()}-"
        self.pool: Executor | None = None
        self.done = 0
        self.total = 0
        self.results: list[tuple[_Claimed, list[Made]]] = []
        #: submitted tasks not yet collected; on an interrupt, close() records the finished ones
        self.inflight: dict[Future[list[Made]], _Claimed] = {}
        self.last_commit = time.monotonic()

    def _executor(self) -> Executor:
        if self.pool is None:
            if self.workers == 1:
                self.pool = _Inline()
            else:
                self.pool = ProcessPoolExecutor(self.workers, initializer=init_worker)
        return self.pool

    def _drop_pool(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool = None

    def close(self) -> None:
        """Record all finished work (an interrupted run keeps it), give back the rest."""
        try:
            if self.pool is not None:
                # Waits for the tasks already running (workers ignore Ctrl-C), drops the queued.
                self.pool.shutdown(wait=True, cancel_futures=True)
                self.pool = None
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
            jobs_lib.release(self.catalog, self.owner)  # anything claimed but not finished

    def run(self, group: list[str]) -> None:
        pending = jobs_lib.claimable(self.catalog, group)
        if not pending:
            return
        self.total += pending
        self._progress()
        inflight = self.inflight
        low, high = self.workers * 2, self.workers * 4
        exhausted = False
        while True:
            if not exhausted and len(inflight) < low:
                rows = jobs_lib.claim(self.catalog, group, self.owner, high - len(inflight))
                exhausted = not rows
                for claimed in self._tasks(group, rows):
                    try:
                        inflight[claimed.submit(self._executor())] = claimed
                    except BrokenProcessPool:
                        self._drop_pool()
                        inflight[claimed.submit(self._executor())] = claimed
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
        self._commit()

    def _collect(self, future: Future[list[Made]]) -> None:
        """Queue a finished task's results (or its failure) for the next commit."""
        claimed = self.inflight.pop(future)
        try:
            made = future.result()
        except BrokenProcessPool:
            # A worker died (a decoder crash, the OOM killer) and took the pool and every
            # task in it along: each of them runs again alone, so only the culprit fails.
            self._drop_pool()
            made = self._run_alone(claimed)
        except Exception as exc:
            made = claimed.failed(f"{type(exc).__name__}: {exc}")
        self.results.append((claimed, made))

    def _run_alone(self, claimed: _Claimed) -> list[Made]:
        """Run one task in a pool of its own (after a worker died: nothing else is running)."""
        with ProcessPoolExecutor(1, initializer=init_worker) as pool:
            try:
                return claimed.submit(pool).result()
            except BrokenProcessPool:
                return claimed.failed("worker process died (crashed or killed)")
            except Exception as exc:
                return claimed.failed(f"{type(exc).__name__}: {exc}")

    def _tasks(self, group: list[str], rows: list[Any]) -> list[_Claimed]:
        """One task per claimed image (and variant); one whose task cannot be built fails here."""
        by_image: dict[tuple[str, str | None], _Claimed] = {}
        for row in rows:
            unit = (row["image_id"], row["variant"])
            claimed = by_image.setdefault(unit, _Claimed(row["image_id"], {}, row["variant"]))
            claimed.jobs.setdefault(row["stage"], []).append(row["id"])
        out = []
        for claimed in by_image.values():
            try:
                claimed.task, claimed.fn = self._task(group, claimed)
            except Exception as exc:
                self.results.append((claimed, claimed.failed(str(exc))))
            else:
                out.append(claimed)
        return out

    def _task(self, group: list[str], claimed: _Claimed) -> tuple[Any, Callable[[Any], list[Made]]]:
        config = self.catalog.config
        first = config.stages[group[0]]
        source_expr, source_params = source_clause(config, first)
        src = self.catalog.conn.execute(
            f"""SELECT src.file_path, src.sha256 FROM images i
                JOIN artifacts src ON src.image_id = i.id AND src.stage = {source_expr}
                WHERE i.id = ?""",
            (*source_params, claimed.image_id),
        ).fetchone()
        if src is None:
            raise ValueError(f"no {first.input} artifact to make it from")
        source = str(self.catalog.art_dir / src["file_path"])
        name = store.safe_name(claimed.image_id)
        art = self.catalog.art_dir
        if first.kind == "resize":
            outputs = []
            for stage in sorted(claimed.jobs):
                cfg = config.stages[stage]
                filename = f"{name}.{cfg.format}"
                outputs.append(
                    Output(
                        stage,
                        str(art / stage / filename),
                        store.relative_path(stage, filename),
                        resize_stage.resize_params(cfg, src["sha256"]),
                    )
                )
            blur = (BLURHASH_STAGE, config.blurhash_x, config.blurhash_y)
            task = resize_stage.ResizeTask(claimed.image_id, source, tuple(outputs), self.tag, blur)
            return task, resize_stage.make_resized
        if first.each is not None:
            return self._matrix_task(first, claimed, source, src["sha256"])
        filename = f"{name}.{first.ext if first.kind == 'command' else 'jpeg'}"
        dest, rel = str(art / first.name / filename), store.relative_path(first.name, filename)
        if first.kind == "video":
            out = Output(first.name, dest, rel, video_stage.video_params(first, src["sha256"]))
            video = video_stage.VideoTask(claimed.image_id, source, out, first.frames, self.tag)
            return video, video_stage.extract_frames
        out = Output(first.name, dest, rel, command_stage.command_params(first, src["sha256"]))
        command = command_stage.CommandTask(
            claimed.image_id, source, out, first.command, first.timeout, self.tag
        )
        return command, command_stage.run_command

    def _matrix_task(
        self, cfg: StageConfig, claimed: _Claimed, source: str, source_sha256: str
    ) -> tuple[Any, Callable[[Any], list[Made]]]:
        """The command for one (source, each image) pair; see cvgallery.stages.matrix."""
        each_id, conn = claimed.variant, self.catalog.conn
        if each_id is None:
            raise ValueError(f"a {cfg.name} job names no {cfg.each} image (jobs.variant)")
        each = conn.execute(
            "SELECT file_path, sha256 FROM artifacts WHERE image_id = ? AND stage = ?",
            (each_id, cfg.each),
        ).fetchone()
        if each is None:
            raise ValueError(f"no {cfg.each} artifact for {each_id!r} to make it with")
        child = matrix_stage.check_child_id(conn, claimed.image_id, each_id, cfg.name)
        filename = f"{store.safe_name(child)}.{cfg.ext}"
        params = matrix_stage.matrix_params(cfg, source_sha256, each["sha256"], each_id)
        out = Output(
            cfg.name,
            str(self.catalog.art_dir / cfg.name / filename),
            store.relative_path(cfg.name, filename),
            params,
        )
        task = command_stage.CommandTask(
            claimed.image_id,
            source,
            out,
            cfg.command,
            cfg.timeout,
            self.tag,
            each=str(self.catalog.art_dir / each["file_path"]),
            each_id=each_id,
        )
        return task, command_stage.run_command

    def _commit(self) -> None:
        if not self.results:
            return
        results, self.results = self.results, []
        catalog, conn = self.catalog, self.catalog.conn
        replaced: list[str] = []
        with db.transaction(conn):
            for claimed, made_list in results:
                by_stage = {m.stage: m for m in made_list}
                for stage, job_ids in claimed.jobs.items():
                    made = by_stage.get(stage) or Made(stage, error="the worker returned no result")
                    if not made.error and claimed.variant is not None:
                        error, unused = matrix_stage.record_output(
                            catalog, claimed.image_id, claimed.variant, made
                        )
                        replaced += unused
                        made.error = error
                    if made.error:
                        jobs_lib.fail(catalog, job_ids, self.owner, made.error)
                        failure = JobFailure(claimed.image_id, stage, made.error, claimed.variant)
                        self.report.failed.append(failure)
                        continue
                    if claimed.variant is not None:
                        jobs_lib.finish(catalog, job_ids, self.owner)
                        self.report.made += 1
                        continue
                    old = record_made(catalog, claimed.image_id, made)
                    if old:
                        replaced.append(old)
                    if made.blurhash and made.width and made.height:
                        catalog.store_blurhash(
                            claimed.image_id,
                            stage,
                            made.blurhash,
                            made.width,
                            made.height,
                            blurhash_context(catalog.config.blurhash_x, catalog.config.blurhash_y),
                        )
                    if catalog.config.stages[stage].kind == "video":
                        replaced += video_stage.record_frames(catalog, claimed.image_id, made)
                    jobs_lib.finish(catalog, job_ids, self.owner)
                    self.report.made += 1
                self.done += len(claimed.jobs)
            orphans = [
                p
                for p in replaced
                if conn.execute("SELECT 1 FROM artifacts WHERE file_path = ?", (p,)).fetchone()
                is None
            ]
        for path in orphans:  # after the commit: a crash before it keeps the old file recorded
            (catalog.art_dir / path).unlink(missing_ok=True)
        self.last_commit = time.monotonic()
        self._progress()

    def _progress(self) -> None:
        if self.on_progress:
            self.on_progress(self.done, max(self.total, self.done))
