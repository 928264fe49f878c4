"""Commands that make artifacts and look after the job queue: process, blurhash, jobs."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ..catalog import Catalog
from ..process import process as run_process
from ..stages.blurhash import fill_blurhashes
from .report import Report

Progress = Callable[[int, int], None] | None


def process(
    catalog: Catalog,
    stages: list[str] | None = None,
    *,
    workers: int | None = None,
    retry_failed: bool = False,
    on_progress: Progress = None,
    on_stage: Callable[[str], None] | None = None,
) -> Report:
    made = run_process(
        catalog,
        stages or None,
        workers=workers,
        retry_failed=retry_failed,
        on_progress=on_progress,
        on_stage=on_stage,
    )
    return Report(
        failures=[f"failed {f}" for f in made.failed],
        summary=made.line(),
        data=made.as_dict(),
    )


def blurhash(catalog: Catalog, stage: str, *, on_progress: Progress = None) -> Report:
    catalog.check_stage(stage)
    made = fill_blurhashes(catalog, stage, on_progress=on_progress)
    return Report(
        failures=[f"failed {image_id} blurhash: {error}" for image_id, error in made.failed],
        summary=made.line(),
        data={
            "made": made.made,
            "skipped": made.skipped,
            "failed": [{"image_id": i, "error": e} for i, e in made.failed],
        },
    )


def jobs(catalog: Catalog, status: str | None = None, limit: int | None = None) -> Report:
    rows = catalog.jobs.history(status, limit)
    output = []
    for row in rows:
        error = f"  {row['error_message']}" if row["error_message"] else ""
        variant = f" x {row['variant']}" if row.get("variant") else ""
        output.append(
            f"{row['id']:>6} {row['status']:<9} {row['stage']:<18} {row['image_id']}{variant}"
            f"  failures={row['retry_count']}{error}"
        )
    return Report(output=output, summary=f"{len(rows)} jobs", data=rows)


def retry(
    catalog: Catalog,
    max_retries: int | None = None,
    job_ids: Iterable[int] = (),
    image_ids: Iterable[str] = (),
) -> Report:
    """`jobs retry`: every failed job with retries left, or just the chosen ones (by job
    id, or all of an image's), whatever their retry count."""
    job_ids, image_ids = list(job_ids), list(image_ids)
    if job_ids or image_ids:
        requeued, problems = catalog.jobs.retry_chosen(job_ids, image_ids)
        return Report(
            failures=[f"Error: {problem}" for problem in problems],
            summary=f"re-queued {len(requeued)} failed jobs",
        )
    limit: Callable[[str], int] = catalog.config.max_retries_for
    if max_retries is not None:
        limit = lambda _stage: max_retries  # noqa: E731
    return Report(summary=f"re-queued {len(catalog.jobs.retry_failed(limit))} failed jobs")


def job_event(
    catalog: Catalog, event: str, image_id: str, stage: str, message: str | None = None
) -> Report:
    """The seed's db-start-job / db-complete-job / db-fail-job, for outside scripts."""
    catalog.images.get(image_id)
    catalog.check_stage(stage)
    if event == "start":
        job_id = catalog.jobs.start(image_id, stage)
        return Report(output=[str(job_id)], summary=f"started job {job_id}: {image_id} {stage}")
    if event == "complete":
        n = catalog.jobs.complete(image_id, stage)
    else:
        n = catalog.jobs.fail_running(image_id, stage, message or "failed")
    verb = "completed" if event == "complete" else "failed"
    if not n:
        return Report(
            failures=[f"Error: no running {stage} job of {image_id!r}"], summary=f"{verb} 0"
        )
    return Report(summary=f"{verb} {n}")
