"""`cvgallery process`: make every stage's missing or outdated artifacts through the jobs table.

What to do is decided from the catalog alone, one INSERT ... SELECT per stage: an approved
image (not a video frame row) with the stage's input artifact and no output artifact, or
with one that cvgallery made (processing_params "generator": "cvgallery") from other
settings (config_key) or from another source (source_sha256), gets a pending job, unless it
already has a pending, running or failed one. Artifacts recorded by `artifact log/sync` or
`migrate` have no generator marker and count as current. A no-op run therefore reads a
few queries' worth of catalog and opens no image file; once a plan has found a stage all
current, later runs skip even that read until images or artifacts change
(cvgallery.catalog.plan_memo).

The jobs are then run by cvgallery.runner (atomic claims, a process pool, batched
commits). Jobs a dead run left `running` go back to pending first, after the commands it
left running are stopped, and its temporary files are removed. (A `running` row with no
owner, as the seed's db-start-job writes for an outside script, is left alone: that
script is assumed to be working on it.)
Stages run in dependency order: a stage waits for the stages its input (and ``each``)
comes from (the resizes of a video wait for its poster frame in video-frames).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from . import owners, store
from .catalog import Catalog
from .config import SiteConfig, StageConfig
from .errors import ConfigError, UnknownStage
from .runner import JobFailure, ProcessReport, Progress, Runner, StageLabel
from .stages import kind_of

__all__ = [
    "JobFailure",
    "ProcessReport",
    "builtin_stages",
    "plan_stage",
    "process",
    "recover",
    "stage_waves",
]


def stage_waves(config: SiteConfig, names: Iterable[str] | None = None) -> list[list[str]]:
    """``names`` (default: every configured stage) grouped in dependency order."""
    level: dict[str, int] = {}

    def depth(name: str, seen: tuple[str, ...] = ()) -> int:
        if name in seen:
            raise ConfigError(f"site.toml: stages form a cycle: {' -> '.join((*seen, name))}")
        if name not in level:
            cfg = config.stages[name]
            deps = kind_of(cfg).deps(config, cfg)
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
    """The stages cvgallery makes itself (no outside tool), in dependency order; `build`
    processes these and never runs outside commands."""
    return [
        s
        for wave in stage_waves(config)
        for s in wave
        if not kind_of(config.stages[s]).runs_outside_tools
    ]


def plan_stage(catalog: Catalog, cfg: StageConfig) -> tuple[int, int]:
    """Queue pending jobs for the stage's missing or outdated artifacts: (current, blocked)."""
    return kind_of(cfg).plan(catalog, cfg)


# -- the run -------------------------------------------------------------------------------


def process(
    catalog: Catalog,
    stages: Iterable[str] | None = None,
    workers: int | None = None,
    retry_failed: bool = False,
    on_progress: Progress | None = None,
    on_stage: StageLabel | None = None,
) -> ProcessReport:
    """Make the missing or outdated artifacts of ``stages`` (default: every configured
    stage) for approved images; see the module docstring. ``on_progress(done, total)``
    follows the jobs (the total is known from the start), ``on_stage(names)`` is told
    which stages run now."""
    config = catalog.config
    waves = stage_waves(config, stages)
    report = ProcessReport(retried=retry_failed)
    recover(catalog, report)
    if retry_failed:
        catalog.jobs.retry_failed(config.max_retries_for)
    groups = [group for wave in waves for group in _groups(config, wave)]
    for group in groups:  # queue what can be known now, for the progress total
        cfgs = [config.stages[name] for name in group]
        kind_of(cfgs[0]).plan_group(catalog, cfgs)
    runner = Runner(catalog, report, workers or os.cpu_count() or 1, on_progress, on_stage)
    try:
        runner.expect(groups)
        for group in groups:
            # again: the earlier groups' outputs may need more jobs
            cfgs = [config.stages[name] for name in group]
            planned = kind_of(cfgs[0]).plan_group(catalog, cfgs)
            for cfg, (current, blocked) in zip(cfgs, planned, strict=True):
                report.skipped += current
                report.blocked += blocked
                if blocked:
                    exhausted = catalog.jobs.exhausted(cfg.name, config.max_retries_for(cfg.name))
                    report.exhausted += min(blocked, exhausted)
            runner.run(group)
    finally:
        runner.close()
    return report


def recover(catalog: Catalog, report: ProcessReport | None = None) -> None:
    """Clean up after dead runs: stop the commands they left running (an orphan must not
    write after the cleanup), put their jobs back to pending, remove their temporaries."""
    dead = owners.dead_owners(catalog)
    if dead:
        owners.kill_leftovers(dead)
    recovered = catalog.jobs.requeue_owners(dead)
    if report is not None:
        report.recovered = len(recovered)
    store.clean_art_temp_files(catalog.art_dir)


def _groups(config: SiteConfig, wave: list[str]) -> list[list[str]]:
    """Stages a kind groups (resizes fed by the same input) run together: one task, one
    decode, makes all of them."""
    groups: dict[Any, list[str]] = {}
    for name in wave:
        cfg = config.stages[name]
        groups.setdefault(kind_of(cfg).group_key(cfg), []).append(name)
    return list(groups.values())
