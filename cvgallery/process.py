"""`cvgallery process`: make every stage's missing or outdated artifacts through the jobs table.

What to do is decided from the catalog alone, one INSERT ... SELECT per stage: an approved
image (not a video frame row) with the stage's input artifact and no output artifact, or
with one that cvgallery made (processing_params "generator": "cvgallery") from other
settings (config_key) or from another source (source_sha256), gets a pending job, unless it
already has a pending, running or failed one. Artifacts recorded by `artifact log/sync` or
`migrate` have no generator marker and count as current. A no-op run therefore reads a
few queries' worth of catalog and opens no image file.

Jobs are claimed atomically (jobs.claim) in small batches, so two runs at once share the
work; image work runs in a process pool, the main process owns the connection and
records results in batches (artifact row + job completion in one transaction). Jobs a
dead run left `running` go back to pending first, and its temporary files are removed.
Stages run in dependency order: a stage waits for the stages its input comes from (the
resizes of a video wait for its poster frame in video-frames).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import db, store
from . import jobs as jobs_lib
from .catalog import Catalog
from .config import SiteConfig, StageConfig
from .errors import ConfigError, UnknownStage
from .stages import Made, Output
from .stages import command as command_stage
from .stages import resize as resize_stage
from .stages import video as video_stage
from .stages.blurhash import context as blurhash_context
from .stages.worker import init_worker

COMMIT_EVERY = 64  # results per write transaction
COMMIT_SECONDS = 1.0
BUILTIN_KINDS = ("resize", "video")
BLURHASH_STAGE = "web-optimized"

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class JobFailure:
    image_id: str
    stage: str
    error: str


@dataclass
class ProcessReport:
    made: int = 0
    skipped: int = 0
    failed: list[JobFailure] = field(default_factory=list)
    #: jobs that failed in an earlier run and were not retried (see --retry-failed)
    blocked: int = 0
    recovered: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "made": self.made,
            "skipped": self.skipped,
            "failed": [vars(f) for f in self.failed],
            "blocked": self.blocked,
            "recovered": self.recovered,
        }


# -- which stages, in which order ------------------------------------------------------------


def _deps(config: SiteConfig, cfg: StageConfig) -> set[str]:
    deps = {cfg.input}
    video = config.stages.get("video-frames")
    if cfg.kind == "resize" and cfg.input == "upstream" and video and video.kind == "video":
        deps.add("video-frames")  # a video's resizes come from its poster frame
    return {d for d in deps if d in config.stages}


def stage_waves(config: SiteConfig, names: Iterable[str] | None = None) -> list[list[str]]:
    """``names`` (default: every configured stage) grouped in dependency order."""
    level: dict[str, int] = {}

    def depth(name: str, seen: tuple[str, ...] = ()) -> int:
        if name in seen:
            raise ConfigError(f"site.toml: stages form a cycle: {' -> '.join((*seen, name))}")
        if name not in level:
            deps = _deps(config, config.stages[name])
            level[name] = 1 + max((depth(d, (*seen, name)) for d in deps), default=-1)
        return level[name]

    wanted = list(config.stages) if names is None else list(dict.fromkeys(names))
    for name in wanted:
        if name not in config.stages:
            raise UnknownStage(name, tuple(config.stages))
        depth(name)
    waves: dict[int, list[str]] = {}
    for name in wanted:
        waves.setdefault(level[name], []).append(name)
    return [sorted(waves[k]) for k in sorted(waves)]


def builtin_stages(config: SiteConfig) -> list[str]:
    """The stages cvgallery makes itself (resize and video), in dependency order; `build`
    processes these and never runs outside commands."""
    return [
        s for wave in stage_waves(config) for s in wave if config.stages[s].kind in BUILTIN_KINDS
    ]


# -- planning: catalog only -----------------------------------------------------------------


def _source_clause(config: SiteConfig, cfg: StageConfig) -> tuple[str, list[str]]:
    if "video-frames" in _deps(config, cfg):
        return "CASE WHEN i.mime_type LIKE 'video/%' THEN ? ELSE ? END", ["video-frames", cfg.input]
    return "?", [cfg.input]


def _config_key(cfg: StageConfig) -> str:
    if cfg.kind == "resize":
        return resize_stage.config_key(cfg)
    if cfg.kind == "video":
        return video_stage.config_key(cfg)
    return command_stage.config_key(cfg)


_OUTDATED = """(o.id IS NULL OR (json_valid(o.processing_params)
     AND json_extract(o.processing_params, '$.generator') = 'cvgallery'
     AND (json_extract(o.processing_params, '$.config_key') IS NOT ?
          OR json_extract(o.processing_params, '$.source_sha256') IS NOT src.sha256)))"""


def plan_stage(catalog: Catalog, cfg: StageConfig) -> tuple[int, int]:
    """Queue pending jobs for the stage's missing or outdated artifacts.

    Returns (up-to-date count, blocked count). One transaction, so two runs planning at
    once never queue the same (image, stage) twice.
    """
    source, source_params = _source_clause(catalog.config, cfg)
    base = f"""FROM images i
        JOIN artifacts src ON src.image_id = i.id AND src.stage = {source}
        LEFT JOIN artifacts o ON o.image_id = i.id AND o.stage = ?
        WHERE i.approved = 1 AND i.parent_id IS NULL"""
    params = [*source_params, cfg.name]
    key = _config_key(cfg)
    conn = catalog.conn
    with db.transaction(conn):
        conn.execute(
            f"""INSERT INTO jobs (image_id, stage, status, retry_count)
                SELECT i.id, ?, 'pending', 0 {base} AND {_OUTDATED}
                AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.image_id = i.id AND j.stage = ?
                                AND j.status IN ('pending', 'running', 'failed'))""",
            (cfg.name, *params, key, cfg.name),
        )
        current, blocked = conn.execute(
            f"""SELECT COALESCE(SUM(NOT {_OUTDATED}), 0),
                       COALESCE(SUM({_OUTDATED} AND EXISTS (SELECT 1 FROM jobs j
                           WHERE j.image_id = i.id AND j.stage = ? AND j.status = 'failed')), 0)
                {base}""",
            (key, key, cfg.name, *params),
        ).fetchone()
    return int(current), int(blocked)


# -- the run -------------------------------------------------------------------------------


def process(
    catalog: Catalog,
    stages: Iterable[str] | None = None,
    workers: int | None = None,
    retry_failed: bool = False,
    on_progress: Progress | None = None,
) -> ProcessReport:
    """Make the missing or outdated artifacts of ``stages`` (default: every configured
    stage) for approved images; see the module docstring."""
    config = catalog.config
    waves = stage_waves(config, stages)
    report = ProcessReport()
    recovered = jobs_lib.recover_dead(catalog)
    report.recovered = len(recovered)
    for stage in {r["stage"] for r in recovered}:
        clean_dead_temps(catalog.art_dir / stage)
    if retry_failed:
        jobs_lib.retry_failed(catalog)
    runner = _Runner(catalog, report, workers or os.cpu_count() or 1, on_progress)
    try:
        for wave in waves:
            for group in _groups(config, wave):
                for name in group:
                    current, blocked = plan_stage(catalog, config.stages[name])
                    report.skipped += current
                    report.blocked += blocked
                runner.run(group)
    finally:
        runner.close()
    return report


def _groups(config: SiteConfig, wave: list[str]) -> list[list[str]]:
    """Resize stages fed by the same input run together: one decode makes all of them."""
    groups: dict[tuple[str, str], list[str]] = {}
    for name in wave:
        cfg = config.stages[name]
        key = ("resize", cfg.input) if cfg.kind == "resize" else (cfg.kind, name)
        groups.setdefault(key, []).append(name)
    return list(groups.values())


def clean_dead_temps(folder: Path) -> int:
    """Remove temporaries of dead runs (the pid after the prefix is gone); a live run's stay.

    Temporaries without a pid tag are removed once they are an hour old.
    """
    removed = 0
    if not folder.is_dir():
        return removed
    for entry in os.scandir(folder):
        if not entry.name.startswith(store.TEMP_PREFIX):
            continue
        pid_text = entry.name[len(store.TEMP_PREFIX) :].split("-", 1)[0]
        if pid_text.isdigit():
            dead = jobs_lib.process_start_time(int(pid_text)) is None
        else:
            dead = time.time() - entry.stat().st_mtime > 3600
        if dead:
            Path(entry.path).unlink(missing_ok=True)
            removed += 1
    return removed


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


class _Runner:
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
        self.last_commit = time.monotonic()

    def _executor(self) -> Executor:
        if self.pool is None:
            if self.workers == 1:
                self.pool = _Inline()
            else:
                self.pool = ProcessPoolExecutor(self.workers, initializer=init_worker)
        return self.pool

    def close(self) -> None:
        try:
            self._commit()
        finally:
            if self.pool is not None:
                self.pool.shutdown(wait=True, cancel_futures=True)
            jobs_lib.release(self.catalog, self.owner)  # anything claimed but not finished

    def run(self, group: list[str]) -> None:
        marks = ",".join("?" * len(group))
        pending = self.catalog.conn.execute(
            f"SELECT COUNT(*) FROM jobs WHERE status = 'pending' AND stage IN ({marks})", group
        ).fetchone()[0]
        if not pending:
            return
        self.total += pending
        self._progress()
        inflight: dict[Future[list[Made]], _Claimed] = {}
        low, high = self.workers * 2, self.workers * 4
        exhausted = False
        while True:
            if not exhausted and len(inflight) < low:
                rows = jobs_lib.claim(self.catalog, group, self.owner, high - len(inflight))
                exhausted = not rows
                for claimed, task, fn in self._tasks(group, rows):
                    if task is None:
                        continue
                    try:
                        inflight[self._executor().submit(fn, task)] = claimed
                    except BrokenProcessPool:
                        self.pool = None
                        inflight[self._executor().submit(fn, task)] = claimed
            if not inflight:
                if exhausted:
                    break
                continue
            done, _ = wait(inflight, timeout=COMMIT_SECONDS, return_when=FIRST_COMPLETED)
            for future in done:
                claimed = inflight.pop(future)
                try:
                    made = future.result()
                except BrokenProcessPool:
                    self.pool = None
                    made = [
                        Made(s, error="worker process died (crashed or killed)")
                        for s in claimed.jobs
                    ]
                except Exception as exc:
                    made = [Made(s, error=f"{type(exc).__name__}: {exc}") for s in claimed.jobs]
                self.results.append((claimed, made))
            if (
                len(self.results) >= COMMIT_EVERY
                or time.monotonic() - self.last_commit > COMMIT_SECONDS
            ):
                self._commit()
        self._commit()

    def _tasks(self, group: list[str], rows: list[Any]) -> list[tuple[_Claimed, Any, Any]]:
        by_image: dict[str, _Claimed] = {}
        for row in rows:
            claimed = by_image.setdefault(row["image_id"], _Claimed(row["image_id"], {}))
            claimed.jobs.setdefault(row["stage"], []).append(row["id"])
        out = []
        for claimed in by_image.values():
            try:
                task, fn = self._task(group, claimed)
            except Exception as exc:
                self.results.append((claimed, [Made(s, error=str(exc)) for s in claimed.jobs]))
                task, fn = None, None
            out.append((claimed, task, fn))
        return out

    def _task(self, group: list[str], claimed: _Claimed) -> tuple[Any, Callable[[Any], list[Made]]]:
        config = self.catalog.config
        first = config.stages[group[0]]
        source_expr, source_params = _source_clause(config, first)
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
        filename = f"{name}.{first.ext if first.kind == 'command' else 'jpeg'}"
        out = Output(
            first.name,
            str(art / first.name / filename),
            store.relative_path(first.name, filename),
            {},
        )
        if first.kind == "video":
            out = Output(
                out.stage, out.dest, out.file_path, video_stage.video_params(first, src["sha256"])
            )
            return video_stage.VideoTask(
                claimed.image_id, source, out, first.frames, self.tag
            ), video_stage.extract_frames
        out = Output(
            out.stage, out.dest, out.file_path, command_stage.command_params(first, src["sha256"])
        )
        task = command_stage.CommandTask(
            claimed.image_id, source, out, first.command, first.timeout, self.tag
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
                    if made.error:
                        jobs_lib.fail(catalog, job_ids, self.owner, made.error)
                        self.report.failed.append(JobFailure(claimed.image_id, stage, made.error))
                        continue
                    old = catalog.record_artifact(
                        claimed.image_id,
                        stage,
                        made.file_path,
                        made.sha256,
                        made.width,
                        made.height,
                        made.file_size,
                        made.params,
                    )
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
