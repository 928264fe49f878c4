"""Commands on the catalog's images: init, add, review, stats, ready, outside artifacts."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ..catalog import Catalog, init_site
from ..ingest import add_files, log_artifact, sync_artifacts
from .report import Report

Sink = Callable[[str], None] | None


def init(directory: Path) -> Report:
    config = init_site(directory)
    stages = len(config.stage_names)
    return Report(
        summary=f"initialised {config.root} (catalog {config.db_path.name}, {stages} stages)"
    )


def add(
    catalog: Catalog,
    paths: Iterable[str | os.PathLike[str]],
    *,
    url: str | None = None,
    user: str | None = None,
    approve: bool | None = None,
    link: bool = False,
    sink: Sink = None,
) -> Report:
    report = Report(sink=sink)
    results = add_files(
        catalog,
        paths,
        url=url,
        user=user,
        approve=approve,
        link=link,
        on_result=lambda r: report.say(r.line()),
    )
    report.counts = {
        s: sum(r.status == s for r in results) for s in ("added", "duplicate", "rejected", "error")
    }
    if report.counts["rejected"] or report.counts["error"]:
        report.exit_code = 1
    return report


def review(catalog: Catalog, ids: list[str], *, approve: bool, reason: str | None = None) -> Report:
    """approve or reject (replaces yes/ and no/); unknown ids fail alone."""
    with catalog.transaction():
        if approve:
            result = catalog.images.approve(ids)
        else:
            result = catalog.images.reject(ids, reason)
    verb = "approved" if approve else "rejected"
    return Report(
        failures=[f"Error: unknown image id: {image_id!r}" for image_id in result.unknown],
        summary=f"{verb} {len(result.changed)}",
    )


_LABELS = {
    "total": "Total Images",
    "approved": "Approved Images",
    "rejected": "Rejected Images",
    "pending": "Pending Approval",
    "derived": "Derived (frames, results)",
}


def stats(catalog: Catalog) -> Report:
    """The seed's db-stats."""
    data = catalog.stats()
    lines = table(("metric", "value"), [(_LABELS[k], v) for k, v in data["images"].items()])
    lines += [""] + table(("stage", "count"), list(data["artifacts"].items()))
    lines += [""] + table(("status", "jobs"), list(data["jobs"].items()))
    return Report(output=["\n".join(lines)], summary="", data=data)


def table(headers: tuple[str, str], rows: list[tuple[Any, Any]]) -> list[str]:
    width = max([len(headers[0])] + [len(str(r[0])) for r in rows]) + 2
    out = [
        f"{headers[0]:<{width}}{headers[1]}",
        f"{'-' * (width - 2):<{width}}{'-' * len(headers[1])}",
    ]
    out += [f"{str(a):<{width}}{b}" for a, b in rows]
    return out


def ready(catalog: Catalog, input_stage: str, output_stage: str) -> Report:
    return Report(output=catalog.ready(input_stage, output_stage), summary="")


def artifact_log(
    catalog: Catalog, image_id: str, stage: str, path: Path, params: str | None
) -> Report:
    file_path = log_artifact(catalog, image_id, stage, path, params)
    return Report(summary=f"logged {image_id} {stage} {file_path}")


def artifact_sync(catalog: Catalog, stage: str, directory: Path) -> Report:
    report = Report()
    for r in sync_artifacts(catalog, stage, directory):
        if r.error:
            report.failures.append(f"Error: {r.path}: {r.error}")
        else:
            report.lines.append(f"logged {r.image_id} {stage} {r.file_path}")
    report.summary = f"{len(report.lines)} logged, {len(report.failures)} failed"
    return report
