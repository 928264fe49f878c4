"""`cvgallery process`: make every stage's missing or outdated artifacts through the jobs table.

What to do is decided from the catalog alone, one INSERT ... SELECT per stage: an approved
image (not a video frame row) with the stage's input artifact and no output artifact, or
with one that cvgallery made (processing_params "generator": "cvgallery") from other
settings (config_key) or from another source (source_sha256), gets a pending job, unless it
already has a pending, running or failed one. Artifacts recorded by `artifact log/sync` or
`migrate` have no generator marker and count as current. A no-op run therefore reads a
few queries' worth of catalog and opens no image file.

The jobs are then run by cvgallery.runner (atomic claims, a process pool, batched
commits). Jobs a dead run left `running` go back to pending first, and its temporary
files are removed. (A `running` row with no owner, as the seed's db-start-job writes for
an outside script, is left alone: that script is assumed to be working on it.)
Stages run in dependency order: a stage waits for the stages its input (and ``each``)
comes from (the resizes of a video wait for its poster frame in video-frames).
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from . import db, store
from . import jobs as jobs_lib
from .catalog import Catalog
from .config import SiteConfig, StageConfig
from .errors import ConfigError, UnknownStage
from .runner import (
    JobFailure,
    ProcessReport,
    Progress,
    Runner,
    source_clause,
    stage_deps,
)
from .stages import command as command_stage
from .stages import matrix as matrix_stage
from .stages import resize as resize_stage
from .stages import video as video_stage

__all__ = ["JobFailure", "ProcessReport", "builtin_stages", "process", "stage_waves"]

BUILTIN_KINDS = ("resize", "video")


def stage_waves(config: SiteConfig, names: Iterable[str] | None = None) -> list[list[str]]:
    """``names`` (default: every configured stage) grouped in dependency order."""
    level: dict[str, int] = {}

    def depth(name: str, seen: tuple[str, ...] = ()) -> int:
        if name in seen:
            raise ConfigError(f"site.toml: stages form a cycle: {' -> '.join((*seen, name))}")
        if name not in level:
            deps = stage_deps(config, config.stages[name])
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
    once never queue the same (image, stage) twice. A stage with ``each`` queues one job
    per (source, each image) pair instead: see cvgallery.stages.matrix.
    """
    if cfg.each is not None:
        return matrix_stage.plan(catalog, cfg)
    source, source_params = source_clause(catalog.config, cfg)
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
                                AND j.variant IS NULL
                                AND j.status IN ('pending', 'running', 'failed'))""",
            (cfg.name, *params, key, cfg.name),
        )
        current, blocked = conn.execute(
            f"""SELECT COALESCE(SUM(NOT {_OUTDATED}), 0),
                       COALESCE(SUM({_OUTDATED} AND EXISTS (SELECT 1 FROM jobs j
                           WHERE j.image_id = i.id AND j.stage = ? AND j.variant IS NULL
                           AND j.status = 'failed')), 0)
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
        store.clean_temp_files(catalog.art_dir / stage)
    if retry_failed:
        jobs_lib.retry_failed(catalog)
    runner = Runner(catalog, report, workers or os.cpu_count() or 1, on_progress)
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
