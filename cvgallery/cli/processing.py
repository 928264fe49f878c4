"""Processing commands: jobs (and jobs retry|start|complete|fail), process and blurhash
(the front of cvgallery.commands.processing)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from ..catalog import STATUSES, Catalog
from .plumbing import emit, json_option, progress, root_option


@click.group(invoke_without_command=True)
@click.option("--status", type=click.Choice(STATUSES), help="Only jobs in this state.")
@json_option
@click.option("--limit", type=click.IntRange(min=0), default=None, help="Only the newest N rows.")
@root_option
@click.pass_context
def jobs(
    ctx: click.Context, status: str | None, as_json: bool, limit: int | None, root: Path
) -> None:
    """Job history, oldest first; `jobs retry` re-queues failed jobs; `jobs start|complete|fail`
    record an outside script's work (the seed's db-start-job, db-complete-job, db-fail-job)."""
    from ..commands import processing as processing_commands

    if ctx.invoked_subcommand is not None:
        return
    with Catalog.open(root) as catalog:
        emit(processing_commands.jobs(catalog, status, limit), as_json)


@jobs.command("retry")
@click.argument("job_ids", metavar="[JOB_ID]...", nargs=-1, type=int)
@click.option(
    "--image",
    "image_ids",
    metavar="ID",
    multiple=True,
    help="Retry this image's failed jobs (repeatable).",
)
@click.option(
    "--max-retries",
    type=click.IntRange(min=0),
    default=None,
    help="Override the configured maximum (default: site.toml, else 3).",
)
@root_option
def jobs_retry(
    job_ids: tuple[int, ...], image_ids: tuple[str, ...], max_retries: int | None, root: Path
) -> None:
    """Re-queue failed jobs that have retries left (max_retries: retries after the first
    attempt); JOB_ID... or --image ID re-queue just those failed jobs, whatever their count."""
    from ..commands import processing as processing_commands

    with Catalog.open(root) as catalog:
        emit(processing_commands.retry(catalog, max_retries, job_ids, image_ids))


def _job_event(event: str) -> Callable[..., None]:
    from ..commands import processing as processing_commands

    def command(image_id: str, stage: str, root: Path, message: str | None = None) -> None:
        with Catalog.open(root) as catalog:
            emit(processing_commands.job_event(catalog, event, image_id, stage, message))

    return command


@jobs.command("start")
@click.argument("image_id", metavar="ID")
@click.argument("stage")
@root_option
def jobs_start(image_id: str, stage: str, root: Path) -> None:
    """Record that an outside script started making STAGE for image ID (prints the job id)."""
    _job_event("start")(image_id, stage, root)


@jobs.command("complete")
@click.argument("image_id", metavar="ID")
@click.argument("stage")
@root_option
def jobs_complete(image_id: str, stage: str, root: Path) -> None:
    """Mark the running STAGE job of image ID completed."""
    _job_event("complete")(image_id, stage, root)


@jobs.command("fail")
@click.argument("image_id", metavar="ID")
@click.argument("stage")
@click.argument("message")
@root_option
def jobs_fail(image_id: str, stage: str, message: str, root: Path) -> None:
    """Mark the running STAGE job of image ID failed with MESSAGE (one more retry counted)."""
    _job_event("fail")(image_id, stage, root, message)


@click.command()
@click.argument("stages", nargs=-1)
@click.option(
    "-j",
    "--jobs",
    "workers",
    type=click.IntRange(min=1),
    default=None,
    help="Worker processes (default: the number of cores).",
)
@click.option(
    "--retry-failed",
    is_flag=True,
    help="Re-queue failed jobs below max_retries first (like `jobs retry`).",
)
@json_option
@root_option
def process(
    stages: tuple[str, ...], workers: int | None, retry_failed: bool, as_json: bool, root: Path
) -> None:
    """Make missing or outdated artifacts of STAGE... (default: every configured stage)."""
    from ..commands import processing as processing_commands

    with Catalog.open(root) as catalog, progress("process", as_json) as bar:
        report = processing_commands.process(
            catalog,
            list(stages),
            workers=workers,
            retry_failed=retry_failed,
            on_progress=bar,
            on_stage=bar.describe,
        )
    emit(report, as_json)


@click.command()
@click.option(
    "--stage",
    default="web-optimized",
    show_default=True,
    help="Stage whose artifacts get a BlurHash.",
)
@json_option
@root_option
def blurhash(stage: str, as_json: bool, root: Path) -> None:
    """Fill blurhash_cache for every artifact of the stage lacking a current hash."""
    from ..commands import processing as processing_commands

    with Catalog.open(root) as catalog, progress(f"blurhash {stage}", as_json) as bar:
        report = processing_commands.blurhash(catalog, stage, on_progress=bar)
    emit(report, as_json)
