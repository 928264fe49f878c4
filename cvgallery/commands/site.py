"""The site commands: build (bring the catalog up to date, then render) and serve."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..catalog import Catalog
from ..site import build_site
from .report import Report

Sink = Callable[[str], None] | None


def update_catalog(catalog: Catalog, report: Report) -> None:
    """What `add` and `process` would do, for `build`: register files dropped into
    art/upstream/ and art/video-sources/, make the built-in stages' missing artifacts
    (never outside tools) and the missing BlurHashes."""
    # Imported here: `build --no-process` and serve's render-only rebuilds need none of it.
    from ..ingest import register_new_uploads
    from ..process import builtin_stages, process
    from ..stages.blurhash import fill_blurhashes

    for result in register_new_uploads(catalog):
        report.say(result.line())
        if result.status in ("rejected", "error"):
            report.failures.append(f"Error: {result.line()}")
    made = process(catalog, stages=builtin_stages(catalog.config))
    hashed = fill_blurhashes(catalog)
    report.say(f"process: {made.line()}")
    report.say(f"blurhash: {hashed.line()}")
    report.failures += [f"Error: process: {failure}" for failure in made.failed]
    report.failures += [
        f"Error: blurhash: {image_id}: {error}" for image_id, error in hashed.failed
    ]


def build(
    catalog: Catalog,
    output: Path | None = None,
    *,
    base_url: str | None = None,
    update: bool = True,
    jobs: int | None = None,
    sink: Sink = None,
) -> Report:
    """`cvgallery build`: update the catalog (unless ``update`` is False), then render."""
    report = Report(sink=sink)
    if update:
        update_catalog(catalog, report)
    built = build_site(catalog, output, base_url=base_url, jobs=jobs)
    for note in built.notes:
        report.say(note)
    report.failures += [f"Error: {failure}" for failure in built.failed]
    report.summary = built.line()
    report.data = {
        "output": str(built.output),
        "images": built.images,
        "written": built.written,
        "kept": built.kept,
        "deleted": built.deleted,
        "skipped": built.skipped,
        "full": built.full,
        "workers": built.workers,
        "failed": built.failed,
    }
    return report


def publish(
    catalog: Catalog,
    target: str | None = None,
    *,
    dry_run: bool = False,
    max_deletes: int | None = None,
    force: bool = False,
    build_first: bool = True,
    jobs: int = 8,
    sink: Sink = None,
    on_progress: Callable[[int, int, int, int], None] | None = None,
) -> Report:
    """`cvgallery publish`: build (unless ``build_first`` is False), then make the target
    (TARGET, else [publish] target) equal to the built site."""
    from ..errors import UsageError
    from ..publish import HeaderRules
    from ..publish import publish as run_publish
    from ..site import default_output
    from ..site.output import MANIFEST

    settings = catalog.config.publish
    where = target or settings.target
    if not where:
        raise UsageError(
            "no target: give one (a folder or s3://BUCKET/PREFIX) or set [publish] target "
            "in site.toml"
        )
    report = Report(sink=sink)
    if build_first:
        built = build(catalog, sink=sink)
        report.lines += built.lines
        report.failures += built.failures
        report.say(built.line())
        if built.failures:
            report.summary = "not published: the build failed (see above)"
            return report
    output = default_output(catalog.config)
    if not (output / MANIFEST).is_file():  # init makes an empty folder: that is no site
        raise UsageError(
            f"{output}: no built site to publish; run `cvgallery build` first "
            "(or publish without --no-build)"
        )
    rules = HeaderRules(
        cache_immutable=settings.cache_immutable,
        cache_default=settings.cache_default,
        content_types=dict(settings.content_types),
    )
    done = run_publish(
        output,
        where,
        dry_run=dry_run,
        max_deletes=settings.max_deletes if max_deletes is None else max_deletes,
        force=force,
        jobs=jobs,
        endpoint_url=settings.endpoint_url or None,
        headers=rules,
        on_progress=on_progress,
    )
    report.failures += [f"Error: {path}: {reason}" for path, reason in done.failures]
    report.summary = done.line()
    report.data = done.as_dict  # for --json only: made when asked
    report.exit_code = 0 if done.ok else 1
    return report
