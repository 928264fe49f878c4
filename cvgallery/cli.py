"""The `cvgallery` command: each command parses, calls one library function and prints.

Data (ids for a pipe, --json documents) goes to stdout; messages go to stdout on a
terminal and to stderr otherwise, so a pipe only ever carries data.
Exit codes: 0 all done, 1 some items failed (each reported), 2 bad usage or configuration.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from . import __version__
from .catalog import STATUSES, Catalog, init_site
from .config import find_root
from .errors import CvgalleryError

F = TypeVar("F", bound=Callable[..., Any])


def say(message: str) -> None:
    """Human output: stdout on a terminal, stderr when stdout is a pipe or a file."""
    click.echo(message, err=not sys.stdout.isatty())


def root_option(func: F) -> F:
    """--root on every command; errors from the library become messages and exit codes."""

    @click.option(
        "--root",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Site folder (default: the nearest folder upward with site.toml, else this one).",
    )
    @functools.wraps(func)
    def wrapper(*args: Any, root: Path | None, **kwargs: Any) -> Any:
        try:
            return func(*args, root=root if root is not None else find_root(), **kwargs)
        except CvgalleryError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(exc.exit_code)

    return wrapper  # type: ignore[return-value]


def read_ids(ids: Iterable[str]) -> list[str]:
    """Ids from the arguments; `-` reads more, one per line, from stdin."""
    out: list[str] = []
    for value in ids:
        if value == "-":
            out.extend(line.rstrip("\r\n") for line in sys.stdin if line.strip())
        else:
            out.append(value)
    return out


def print_json(document: Any) -> None:
    click.echo(json.dumps(document, indent=2, ensure_ascii=False, default=str))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="cvgallery")
def cli() -> None:
    """One SQLite catalog (cv.db) and flat artifact storage (art/<stage>/) for an image
    pipeline, published as a static gallery."""


@cli.command()
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@root_option
def init(directory: Path | None, root: Path) -> None:
    """Create site.toml (if missing), the art/<stage>/ folders and cv.db in DIRECTORY."""
    config = init_site(directory or root)
    stages = len(config.stage_names)
    say(f"initialised {config.root} (catalog {config.db_path.name}, {stages} stages)")


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--url", help="Source URL recorded as original_url.")
@click.option("--user", help="User name recorded as username.")
@click.option("--approve", is_flag=True, default=None, help="Mark the new images approved.")
@click.option("--link", is_flag=True, help="Hard-link into art/upstream/ instead of copying.")
@root_option
def add(
    paths: tuple[Path, ...],
    url: str | None,
    user: str | None,
    approve: bool | None,
    link: bool,
    root: Path,
) -> None:
    """Register image and video files or folders (recursively) in the catalog.

    The id is the file name without extension; a different picture with a name already
    taken gets <name>-<8 hex of its sha256>. Prints added, duplicate or rejected per file.
    """
    from .ingest import add_files

    with Catalog.open(root) as catalog:
        results = add_files(
            catalog,
            paths,
            url=url,
            user=user,
            approve=approve,
            link=link,
            on_result=lambda r: say(r.line()),
        )
    counts = {
        s: sum(r.status == s for r in results) for s in ("added", "duplicate", "rejected", "error")
    }
    say(", ".join(f"{n} {s}" for s, n in counts.items()))
    if counts["rejected"] or counts["error"]:
        sys.exit(1)


@cli.command()
@click.argument("ids", nargs=-1, required=True)
@root_option
def approve(ids: tuple[str, ...], root: Path) -> None:
    """Approve images (replaces yes/); `-` reads ids from stdin, one per line."""
    with Catalog.open(root) as catalog:
        with catalog.transaction():
            result = catalog.images.approve(read_ids(ids))
        _report_review(result, "approved")


@cli.command()
@click.argument("ids", nargs=-1, required=True)
@click.option("--reason", default="manual", show_default=True, help="Stored as rejection_reason.")
@root_option
def reject(ids: tuple[str, ...], reason: str, root: Path) -> None:
    """Reject images (replaces no/); `-` reads ids from stdin, one per line."""
    with Catalog.open(root) as catalog:
        with catalog.transaction():
            result = catalog.images.reject(read_ids(ids), reason)
        _report_review(result, "rejected")


def _report_review(result: Any, verb: str) -> None:
    for image_id in result.unknown:
        click.echo(f"Error: unknown image id: {image_id!r}", err=True)
    say(f"{verb} {len(result.changed)}")
    if result.unknown:
        sys.exit(1)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
@root_option
def stats(as_json: bool, root: Path) -> None:
    """Images total/approved/rejected/pending, artifacts per stage, jobs per status."""
    with Catalog.open(root) as catalog:
        data = catalog.stats()
    if as_json:
        print_json(data)
        return
    labels = {
        "total": "Total Images",
        "approved": "Approved Images",
        "rejected": "Rejected Images",
        "pending": "Pending Approval",
    }
    lines = _table(("metric", "value"), [(labels[k], v) for k, v in data["images"].items()])
    lines += [""] + _table(("stage", "count"), list(data["artifacts"].items()))
    lines += [""] + _table(("status", "jobs"), list(data["jobs"].items()))
    click.echo("\n".join(lines))


def _table(headers: tuple[str, str], rows: list[tuple[Any, Any]]) -> list[str]:
    width = max([len(headers[0])] + [len(str(r[0])) for r in rows]) + 2
    out = [
        f"{headers[0]:<{width}}{headers[1]}",
        f"{'-' * (width - 2):<{width}}{'-' * len(headers[1])}",
    ]
    out += [f"{str(a):<{width}}{b}" for a, b in rows]
    return out


@cli.command()
@click.argument("input_stage")
@click.argument("output_stage")
@root_option
def ready(input_stage: str, output_stage: str, root: Path) -> None:
    """Ids of approved images with an INPUT_STAGE artifact and no OUTPUT_STAGE one."""
    with Catalog.open(root) as catalog:
        for image_id in catalog.ready(input_stage, output_stage):
            click.echo(image_id)


@cli.group()
def artifact() -> None:
    """Record files made outside cvgallery."""


@artifact.command("log")
@click.argument("image_id", metavar="ID")
@click.argument("stage")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--params", help="JSON recorded as processing_params.")
@root_option
def artifact_log(image_id: str, stage: str, path: Path, params: str | None, root: Path) -> None:
    """Record PATH as the STAGE artifact of image ID (linked into art/STAGE/ if elsewhere)."""
    from .ingest import log_artifact

    with Catalog.open(root) as catalog:
        file_path = log_artifact(catalog, image_id, stage, path, params)
    say(f"logged {image_id} {stage} {file_path}")


@artifact.command("sync")
@click.argument("stage")
@click.argument("directory", type=click.Path(path_type=Path))
@root_option
def artifact_sync(stage: str, directory: Path, root: Path) -> None:
    """Record every image file under DIRECTORY as a STAGE artifact (ids from file names)."""
    from .ingest import sync_artifacts

    with Catalog.open(root) as catalog:
        results = sync_artifacts(catalog, stage, directory)
    failed = 0
    for r in results:
        if r.error:
            failed += 1
            click.echo(f"Error: {r.path}: {r.error}", err=True)
        else:
            say(f"logged {r.image_id} {stage} {r.file_path}")
    say(f"{len(results) - failed} logged, {failed} failed")
    if failed:
        sys.exit(1)


@cli.group(invoke_without_command=True)
@click.option("--status", type=click.Choice(STATUSES), help="Only jobs in this state.")
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
@click.option("--limit", type=int, default=None, help="At most this many rows.")
@root_option
@click.pass_context
def jobs(
    ctx: click.Context, status: str | None, as_json: bool, limit: int | None, root: Path
) -> None:
    """Job history; `jobs retry` re-queues failed jobs."""
    if ctx.invoked_subcommand is not None:
        return
    with Catalog.open(root) as catalog:
        rows = catalog.jobs.history(status, limit)
    if as_json:
        print_json(rows)
        return
    for row in rows:
        error = f"  {row['error_message']}" if row["error_message"] else ""
        variant = f" x {row['variant']}" if row.get("variant") else ""
        click.echo(
            f"{row['id']:>6} {row['status']:<9} {row['stage']:<18} {row['image_id']}{variant}"
            f"  retries={row['retry_count']}{error}"
        )
    say(f"{len(rows)} jobs")


@jobs.command("retry")
@click.option(
    "--max-retries",
    type=int,
    default=None,
    help="Override the configured maximum (default: site.toml, else 3).",
)
@root_option
def jobs_retry(max_retries: int | None, root: Path) -> None:
    """Re-queue failed jobs whose retry_count is below the maximum."""
    with Catalog.open(root) as catalog:
        requeued = catalog.jobs.retry_failed(
            (lambda _stage: max_retries)
            if max_retries is not None
            else catalog.config.max_retries_for
        )
    say(f"re-queued {len(requeued)} failed jobs")


# -- processing commands (process, blurhash) ----------------------------------------------


@cli.command()
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
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
@root_option
def process(
    stages: tuple[str, ...], workers: int | None, retry_failed: bool, as_json: bool, root: Path
) -> None:
    """Make missing or outdated artifacts of STAGE... (default: every configured stage)."""
    from .process import process as run_process
    from .progress import progress_bar

    # Only on a terminal: rich draws nothing into a pipe or file but a stray blank line.
    show = not as_json and sys.stderr.isatty()
    with Catalog.open(root) as catalog, progress_bar("process", enabled=show) as bar:
        report = run_process(
            catalog, stages or None, workers=workers, retry_failed=retry_failed, on_progress=bar
        )
    if as_json:
        print_json(report.as_dict())
    else:
        for f in report.failed:
            click.echo(f"failed {f}", err=True)
        say(report.line())
    if report.failed:
        sys.exit(1)


@cli.command()
@click.option(
    "--stage",
    default="web-optimized",
    show_default=True,
    help="Stage whose artifacts get a BlurHash.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
@root_option
def blurhash(stage: str, as_json: bool, root: Path) -> None:
    """Fill blurhash_cache for every artifact of the stage lacking a current hash."""
    from .progress import progress_bar
    from .stages.blurhash import fill_blurhashes

    show = not as_json and sys.stderr.isatty()
    with Catalog.open(root) as catalog, progress_bar("blurhash", enabled=show) as bar:
        catalog.check_stage(stage)
        report = fill_blurhashes(catalog, stage, on_progress=bar)
    if as_json:
        print_json(
            {
                "made": report.made,
                "skipped": report.skipped,
                "failed": [{"image_id": i, "error": e} for i, e in report.failed],
            }
        )
    else:
        for image_id, error in report.failed:
            click.echo(f"failed {image_id} blurhash: {error}", err=True)
        say(report.line())
    if report.failed:
        sys.exit(1)


# -- site commands (build, serve) ---------------------------------------------------------


@cli.command()
@click.option(
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Output folder (default: art/gallery-html/).",
)
@click.option(
    "--base-url", default=None, help="Absolute URL of the site, for the feed and sitemap."
)
@click.option(
    "--no-process",
    is_flag=True,
    help="Render the catalog as it is: no registering, processing or blurhash filling.",
)
@root_option
def build(output: Path | None, base_url: str | None, no_process: bool, root: Path) -> None:
    """Render the gallery: approved images through the theme into a static site."""
    from .site import build_site

    with Catalog.open(root) as catalog:
        report = build_site(catalog, output, base_url=base_url, process=not no_process, say=say)
    for failure in report.failed:
        click.echo(f"Error: {failure}", err=True)
    say(report.line())
    if report.failed:
        sys.exit(1)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to bind.")
@click.option(
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Output folder (default: art/gallery-html/).",
)
@click.option("--no-process", is_flag=True, help="Build without processing first.")
@root_option
def serve(host: str, port: int, output: Path | None, no_process: bool, root: Path) -> None:
    """Build, serve the output with livereload and rebuild when the site or catalog changes."""
    from .serve import serve as serve_site

    try:
        serve_site(root, host=host, port=port, output=output, process=not no_process, say=say)
    except KeyboardInterrupt:
        say("stopped")


# -- legacy commands (migrate, verify, export-legacy) -------------------------------------


@cli.command()
@click.argument("legacy_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Print the plan; write nothing at all.")
@click.option("--copy", is_flag=True, help="Copy files into art/ instead of hard-linking.")
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
@root_option
def migrate(legacy_dir: Path, dry_run: bool, copy: bool, as_json: bool, root: Path) -> None:
    """Import a legacy tree (img/, yes/, no/, thumbs/, t2/, replicate/, pub/, v/, g/, blur/).

    LEGACY_DIR is only read. Safe to rerun or interrupt; ends with a validation of every
    migrated file. Exit 1 if a file could not be migrated or the validation differs.
    """
    from .config import load_config
    from .legacy import migrate as run_migration
    from .legacy import plan_migration

    if dry_run:
        report = plan_migration(load_config(root), legacy_dir)
    else:
        from .progress import progress_bar

        with Catalog.open(root) as catalog, progress_bar("migrate", sys.stderr.isatty()) as bar:
            report = run_migration(catalog, legacy_dir, copy=copy, on_progress=bar)
    if as_json:
        print_json(report.as_dict())
    else:
        _print_migration(report)
    if not report.ok:
        sys.exit(1)


if TYPE_CHECKING:  # the legacy modules are imported by the commands that use them
    from .legacy import MigrationReport


def _print_migration(report: MigrationReport) -> None:
    verb = "would migrate" if report.dry_run else "migrated now"
    keys = sorted(report.found)
    rows = [(k, f"{report.found[k]:>7} {report.migrated.get(k, 0):>13}") for k in keys]
    say("\n".join(_table(("legacy files", f"{'found':>7} {verb:>13}"), rows)))
    for n in report.notes:
        say(f"note  {n['kind']}: {n['path']}: {n['detail']}")
    for e in report.errors:
        click.echo(f"Error: {e['path']}: {e['detail']}", err=True)
    v = report.validation
    if v is not None:
        head = ("validation", f"{'found':>7} {'recorded':>9} {'matching':>9}")
        lines = [(k, f"{g['found']:>7} {g['recorded']:>9} {g['matching']:>9}")
                 for k, g in sorted(v["groups"].items())]  # fmt: skip
        say("\n".join([""] + _table(head, lines)))
        cols = ("artifacts", "migrated", "files", "missing", "orphans")
        head = ("stage", " ".join(f"{c:>9}" for c in cols))
        lines = [(k, " ".join(f"{line[c]:>9}" for c in cols)) for k, line in v["stages"].items()]
        say("\n".join([""] + _table(head, lines)))
        for p in v["problems"]:
            click.echo(f"Error: differs: {p['path']}: {p['problem']}", err=True)
    state = "plan" if report.dry_run else ("ok" if report.ok else "FAILED")
    say(
        f"{state}: {sum(report.migrated.values())} {verb}, {report.already} already migrated, "
        f"{len(report.notes)} notes, {len(report.errors)} errors"
        + (f", validation {'ok' if v['ok'] else 'differs'}" if v is not None else "")
    )


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
@click.option("--fix", is_flag=True, help="Register orphans, drop rows of missing files.")
@click.option("--force", is_flag=True, help="Let --fix drop many rows, or a missing folder's.")
@root_option
def verify(as_json: bool, fix: bool, force: bool, root: Path) -> None:
    """Check the catalog against the disk: missing files, sha256 mismatches, orphans, rows
    breaking the schema's rules. Exit 1 if anything is (still) wrong. Never deletes a file."""
    from .verify import verify_catalog

    with Catalog.open(root) as catalog:
        result = verify_catalog(catalog, fix=fix, force=force)
    if as_json:
        print_json(result)
    else:
        for p in result["problems"]:
            where = p.get("path") or f"{p.get('table')} {p.get('row')}"
            extra = "  ".join(str(p[k]) for k in ("stage", "detail", "fixed") if p.get(k))
            line = f"{p['kind']}: {where}  {extra}".rstrip()
            if p.get("fixed"):
                say(f"fixed {line}")
            else:
                click.echo(f"Error: {line}", err=True)
        say(f"{len(result['problems'])} problems, {result['unfixed']} not fixed")
    if not result["ok"]:
        sys.exit(1)


@cli.command("export-legacy")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
@click.option("--force", is_flag=True, help="Write into a folder that is not empty.")
@root_option
def export_legacy_command(directory: Path, as_json: bool, force: bool, root: Path) -> None:
    """Rebuild the legacy layout (img/, yes/, no/, thumbs/, ...) in DIRECTORY from the
    catalog, with hard links where possible: the rollback plan."""
    from .legacy import export_legacy

    with Catalog.open(root) as catalog:
        result = export_legacy(catalog, directory, force=force)
    if as_json:
        print_json(result)
    else:
        for e in result["errors"]:
            click.echo(f"Error: {e['path']}: {e['detail']}", err=True)
        for s in result["skipped"]:
            say(f"skipped {s['path']}: {s['detail']}")
        per_folder = ", ".join(f"{k} {n}" for k, n in sorted(result["written"].items()))
        links = result["hard_links"]
        say(f"exported {result['files']} files ({links} new hard links): {per_folder}")
    if not result["ok"]:
        sys.exit(1)


def main() -> None:
    cli(prog_name="cvgallery")
