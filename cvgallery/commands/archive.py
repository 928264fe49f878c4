"""Commands between the catalog and the old layout: migrate, verify, export-legacy."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..catalog import Catalog
from ..config import load_config
from .images import table
from .report import Report

if TYPE_CHECKING:
    from ..legacy import MigrationReport


def migrate(
    root: Path,
    legacy_dir: Path,
    *,
    dry_run: bool = False,
    copy: bool = False,
    on_progress: Callable[[int, int], None] | None = None,
) -> Report:
    """Import a legacy tree; with ``dry_run``, only the plan (nothing is written)."""
    from ..legacy import migrate as run_migration
    from ..legacy import plan_migration

    if dry_run:
        result = plan_migration(load_config(root), legacy_dir)
    else:
        with Catalog.open(root) as catalog:
            result = run_migration(catalog, legacy_dir, copy=copy, on_progress=on_progress)
    report = _migration_report(result)
    report.data = result.as_dict()
    report.exit_code = 0 if result.ok else 1
    return report


def _migration_report(result: MigrationReport) -> Report:
    report = Report()
    verb = "would migrate" if result.dry_run else "migrated now"
    keys = sorted(result.found)
    rows = [(k, f"{result.found[k]:>7} {result.migrated.get(k, 0):>13}") for k in keys]
    report.lines.append("\n".join(table(("legacy files", f"{'found':>7} {verb:>13}"), rows)))
    report.lines += [f"note  {n['kind']}: {n['path']}: {n['detail']}" for n in result.notes]
    report.failures += [f"Error: {e['path']}: {e['detail']}" for e in result.errors]
    v = result.validation
    if v is not None:
        head = ("validation", f"{'found':>7} {'recorded':>9} {'matching':>9}")
        lines = [(k, f"{g['found']:>7} {g['recorded']:>9} {g['matching']:>9}")
                 for k, g in sorted(v["groups"].items())]  # fmt: skip
        report.lines.append("\n".join([""] + table(head, lines)))
        cols = ("artifacts", "migrated", "files", "missing", "orphans")
        head = ("stage", " ".join(f"{c:>9}" for c in cols))
        lines = [(k, " ".join(f"{line[c]:>9}" for c in cols)) for k, line in v["stages"].items()]
        report.lines.append("\n".join([""] + table(head, lines)))
        report.failures += [f"Error: differs: {p['path']}: {p['problem']}" for p in v["problems"]]
    state = "plan" if result.dry_run else ("ok" if result.ok else "FAILED")
    report.summary = (
        f"{state}: {sum(result.migrated.values())} {verb}, {result.already} already migrated, "
        f"{len(result.notes)} notes, {len(result.errors)} errors"
        + (f", validation {'ok' if v['ok'] else 'differs'}" if v is not None else "")
    )
    return report


def verify(catalog: Catalog, *, fix: bool = False, force: bool = False) -> Report:
    """Check the catalog against the disk; ``fix`` does only what is safe."""
    from ..verify import verify_catalog

    result = verify_catalog(catalog, fix=fix, force=force)
    report = Report(data=result, exit_code=0 if result["ok"] else 1)
    for p in result["problems"]:
        where = p.get("path") or f"{p.get('table')} {p.get('row')}"
        extra = "  ".join(str(p[k]) for k in ("stage", "detail", "fixed") if p.get(k))
        line = f"{p['kind']}: {where}  {extra}".rstrip()
        if p.get("fixed"):
            report.lines.append(f"fixed {line}")
        else:
            report.failures.append(f"Error: {line}")
    report.summary = f"{len(result['problems'])} problems, {result['unfixed']} not fixed"
    return report


def export_legacy(catalog: Catalog, directory: Path, *, force: bool = False) -> Report:
    """Rebuild the old layout from the catalog (the rollback plan)."""
    from ..legacy import export_legacy as run_export

    result: dict[str, Any] = run_export(catalog, directory, force=force)
    report = Report(data=result, exit_code=0 if result["ok"] else 1)
    report.failures += [f"Error: {e['path']}: {e['detail']}" for e in result["errors"]]
    report.lines += [f"skipped {s['path']}: {s['detail']}" for s in result["skipped"]]
    per_folder = ", ".join(f"{k} {n}" for k, n in sorted(result["written"].items()))
    links = result["hard_links"]
    report.summary = f"exported {result['files']} files ({links} new hard links): {per_folder}"
    return report
