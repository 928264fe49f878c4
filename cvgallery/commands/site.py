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
    sink: Sink = None,
) -> Report:
    """`cvgallery build`: update the catalog (unless ``update`` is False), then render."""
    report = Report(sink=sink)
    if update:
        update_catalog(catalog, report)
    built = build_site(catalog, output, base_url=base_url)
    for note in built.notes:
        report.say(note)
    report.failures += [f"Error: {failure}" for failure in built.failed]
    report.summary = built.line()
    report.data = {
        "output": str(built.output),
        "images": built.images,
        "written": built.written,
        "kept": built.kept,
        "skipped": built.skipped,
        "failed": built.failed,
    }
    return report
