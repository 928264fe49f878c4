"""The `cvgallery` command: each command parses, calls one function of cvgallery.commands
and prints the Report it returns.

Data (ids for a pipe, tables, --json documents) goes to stdout; messages go to stdout on
a terminal and to stderr otherwise, so a pipe only ever carries data.
Exit codes: 0 all done, 1 some items failed (each reported), 2 bad usage or configuration.
"""

from __future__ import annotations

import functools
import json
import os
import sqlite3
import sys
import traceback
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click

from . import __version__
from .catalog import STATUSES, Catalog
from .commands.report import Report
from .config import DB_NAME, check_site, find_root, find_site
from .errors import CvgalleryError
from .names import escape_controls, shown, terminal_safe

F = TypeVar("F", bound=Callable[..., Any])


def say(message: str) -> None:
    """Human output: stdout on a terminal, stderr when stdout is a pipe or a file.

    A message may quote a file name holding an escape sequence: control characters are
    printed escaped, never replayed by the terminal."""
    click.echo(terminal_safe(message), err=not sys.stdout.isatty())


def error(message: str) -> None:
    """One `Error: ...` line on stderr (a newline in it, from a name, is escaped too)."""
    click.echo(escape_controls(f"Error: {message}", keep="\t"), err=True)


def emit(report: Report, as_json: bool = False) -> None:
    """Print a command's Report and exit with its code when something failed.

    Data (``report.output``, --json) is written exactly as it is into a pipe or a file
    (click would strip escape sequences from it); on a terminal its control characters are
    escaped like a message's."""
    if as_json:
        click.echo(
            json.dumps(report.as_dict(), indent=2, ensure_ascii=False, default=str), color=True
        )
    else:
        raw = not sys.stdout.isatty() or not report.output_newlines
        for line in report.output:
            click.echo(line if raw else terminal_safe(line), nl=report.output_newlines, color=True)
        for line in report.lines:
            say(line)
        for line in report.failures:
            click.echo(terminal_safe(line), err=True)
        if report.line():
            say(report.line())
    if report.code:
        sys.exit(report.code)


DEBUG_ENV = "CVGALLERY_DEBUG"
ROOT_KEY = "cvgallery.root"


def root_option(func: F | None = None, *, needs_site: bool = True) -> Any:
    """--root on every command; errors from the library become messages and exit codes.

    Every command but `init` (``needs_site=False``) runs in a site: the nearest folder
    upward holding site.toml, or --root, which must hold one. Anything the library did not
    turn into a CvgalleryError still ends in one `Error:` line, never a traceback (set
    CVGALLERY_DEBUG=1 to see it).
    """
    if func is None:
        return functools.partial(root_option, needs_site=needs_site)

    @click.option(
        "--root",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Site folder (default: the nearest folder upward with site.toml).",
    )
    @functools.wraps(func)
    def wrapper(*args: Any, root: Path | None, **kwargs: Any) -> Any:
        ctx = click.get_current_context(silent=True)
        if ctx is not None:
            # `jobs --root SITE retry`: a group's --root is its subcommands' default, and
            # the group itself, only passing through, needs no site of its own.
            root = root if root is not None else ctx.meta.get(ROOT_KEY)
            if isinstance(ctx.command, click.Group) and ctx.invoked_subcommand is not None:
                ctx.meta[ROOT_KEY] = root
                return func(*args, root=root, **kwargs)
        site = root
        try:
            if not needs_site:
                site = root if root is not None else (find_site() or Path.cwd())
            else:
                site = check_site(root) if root is not None else find_root()
            return func(*args, root=site, **kwargs)
        except CvgalleryError as exc:
            error(str(exc))
            sys.exit(exc.exit_code)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except KeyboardInterrupt:
            error("interrupted")
            sys.exit(130)
        except BrokenPipeError:
            # The reader of a pipe went away (`cvgallery list | head -1`): nothing to say.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            sys.exit(1)
        except Exception as exc:
            _last_resort(exc, site)

    return wrapper


def _last_resort(exc: Exception, site: Path | None) -> None:
    """An error the library did not foresee: one line naming the file and the reason."""
    if os.environ.get(DEBUG_ENV) == "1":
        traceback.print_exc()
    if isinstance(exc, sqlite3.Error):
        from .catalog.schema import describe_sqlite_error

        db = (site / DB_NAME) if site is not None else Path(DB_NAME)
        error(describe_sqlite_error(db, exc))
    elif isinstance(exc, OSError):
        error(describe_os_error(exc))
    else:
        ctx = click.get_current_context(silent=True)
        command = ctx.command_path if ctx is not None else "cvgallery"
        error(f"internal error in {command}: {type(exc).__name__}: {exc}")
    sys.exit(1)


def describe_os_error(exc: OSError) -> str:
    """`<file>: <reason>` (both files of a rename)."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    files = [shown(f) for f in (exc.filename, exc.filename2) if f is not None]
    return f"{' -> '.join(files)}: {reason}" if files else reason


json_option = click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")


@contextmanager
def progress(label: str, as_json: bool = False) -> Iterator[Any]:
    """A progress bar on a terminal; into a pipe or file (where rich would draw nothing
    but a stray blank line) a plain line every few seconds. None with --json."""
    from .progress import progress_bar

    tty = sys.stderr.isatty()
    with progress_bar(label, enabled=not as_json, lines=not tty) as bar:
        yield bar


def read_ids(ids: Iterable[str]) -> list[str]:
    """Ids from the arguments; `-` reads more, one per line, from stdin."""
    out: list[str] = []
    for value in ids:
        if value == "-":
            out.extend(line.rstrip("\r\n") for line in sys.stdin if line.strip())
        else:
            out.append(value)
    return out


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="cvgallery")
def cli() -> None:
    """One SQLite catalog (cv.db) and flat artifact storage (art/<stage>/) for an image
    pipeline, published as a static gallery."""
    from .notes import install

    install()  # a library's warning is a one-line note, never a raw warning with a path


# -- the catalog: init, add, review, queries --------------------------------------------------


@cli.command()
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@root_option(needs_site=False)
def init(directory: Path | None, root: Path) -> None:
    """Create site.toml (if missing), the art/<stage>/ folders and cv.db in DIRECTORY."""
    from .commands import images as image_commands

    emit(image_commands.init(directory or root))


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
    taken gets <name>-<8 hex of its sha256>. Prints added, duplicate, rejected or skipped
    per file.
    """
    from .commands import images as image_commands

    with Catalog.open(root) as catalog:
        report = image_commands.add(
            catalog, paths, url=url, user=user, approve=approve, link=link, sink=say
        )
    emit(report)


@cli.command()
@click.argument("ids", nargs=-1, required=True)
@root_option
def approve(ids: tuple[str, ...], root: Path) -> None:
    """Approve images (replaces yes/); `-` reads ids from stdin, one per line."""
    from .commands import images as image_commands

    with Catalog.open(root) as catalog:
        emit(image_commands.review(catalog, read_ids(ids), approve=True))


@cli.command()
@click.argument("ids", nargs=-1, required=True)
@click.option("--reason", default="manual", show_default=True, help="Stored as rejection_reason.")
@root_option
def reject(ids: tuple[str, ...], reason: str, root: Path) -> None:
    """Reject images (replaces no/); `-` reads ids from stdin, one per line."""
    from .commands import images as image_commands

    with Catalog.open(root) as catalog:
        emit(image_commands.review(catalog, read_ids(ids), approve=False, reason=reason))


@cli.command()
@json_option
@root_option
def stats(as_json: bool, root: Path) -> None:
    """Images total/approved/rejected/pending, artifacts per stage, jobs per status."""
    from .commands import images as image_commands

    with Catalog.open(root) as catalog:
        emit(image_commands.stats(catalog), as_json)


nul_option = click.option(
    "-0",
    "--null",
    "nul",
    is_flag=True,
    help="End each id with NUL instead of a newline (xargs -0).",
)


@cli.command("list")
@click.option("--pending", "state", flag_value="pending", help="Not yet reviewed.")
@click.option("--approved", "state", flag_value="approved", help="Approved.")
@click.option("--rejected", "state", flag_value="rejected", help="Rejected.")
@click.option("--user", help="Only this user's images.")
@click.option("--stage", help="Only images that have an artifact of this stage.")
@json_option
@nul_option
@root_option
def list_command(
    state: str | None, user: str | None, stage: str | None, as_json: bool, nul: bool, root: Path
) -> None:
    """Ids of images (not derived frames or results), newest first, one a line."""
    from .commands import images as image_commands

    with Catalog.open(root) as catalog:
        emit(image_commands.listing(catalog, state, user, stage, nul), as_json)


@cli.command()
@click.argument("image_id", metavar="ID")
@click.argument("stage", default="upstream")
@root_option
def path(image_id: str, stage: str, root: Path) -> None:
    """The file of image ID's STAGE artifact (default: its original)."""
    from .commands import images as image_commands

    with Catalog.open(root) as catalog:
        emit(image_commands.path(catalog, image_id, stage))


@cli.command()
@click.option(
    "--threshold",
    type=click.IntRange(0, 32),
    default=None,
    help="Most bits two hashes may differ by (default 10).",
)
@json_option
@root_option
def dupes(threshold: int | None, as_json: bool, root: Path) -> None:
    """Groups of near-duplicate pictures (resized, recompressed, lightly cropped or
    brightened copies), one group a line; rejected and derived pictures are left out."""
    from .commands import images as image_commands
    from .perceptual import DEFAULT_THRESHOLD

    with Catalog.open(root) as catalog:
        limit = DEFAULT_THRESHOLD if threshold is None else threshold
        emit(image_commands.dupes(catalog, limit), as_json)


@cli.command("set")
@click.argument("image_id", metavar="ID")
@click.option("--title", help="The picture's title (its page heading; \"\" clears it).")
@click.option("--caption", help="A sentence or two shown under it and in the feed.")
@click.option("--alt", help="Alt text: what the picture shows, for screen readers.")
@root_option
def set_command(
    image_id: str, title: str | None, caption: str | None, alt: str | None, root: Path
) -> None:
    """Set the words shown with a picture. ID `-` reads JSON lines from stdin, one picture a
    line: {"id": "IMG_1043", "title": "...", "caption": "...", "alt": "..."} (a missing
    field is left as it is, null or "" clears it)."""
    from .commands import images as image_commands
    from .errors import UsageError

    given = (("title", title), ("caption", caption), ("alt", alt))
    words = {k: v for k, v in given if v is not None}
    with Catalog.open(root) as catalog:
        if image_id == "-":
            if words:
                raise UsageError("set -: the words come from stdin; no --title/--caption/--alt")
            entries, failures = image_commands.parse_word_lines(sys.stdin)
            emit(image_commands.set_words(catalog, entries, failures))
        elif not words:
            raise UsageError("set: give --title, --caption or --alt (or ID - for JSON lines)")
        else:
            emit(image_commands.set_words(catalog, [(image_id, words)]))


@cli.command()
@click.argument("ids", metavar="[ID]...", nargs=-1)
@click.option("--all", "all_images", is_flag=True, help="Every image with an original file.")
@click.option(
    "--overwrite",
    is_flag=True,
    help="Replace stored values with the file's (default: fill only what is empty).",
)
@click.option("--dry-run", is_flag=True, help="Say what would change; write nothing.")
@json_option
@root_option
def reread(
    ids: tuple[str, ...],
    all_images: bool,
    overwrite: bool,
    dry_run: bool,
    as_json: bool,
    root: Path,
) -> None:
    """Read title, caption, alt text, capture date and camera line again from the original
    files of ID... (or --all): for images catalogued before `add` read them. Only empty
    fields are filled, so words set with `cvgallery set` stay; `-` reads ids from stdin."""
    from .commands.reread import reread as reread_images

    with Catalog.open(root) as catalog:
        report = reread_images(
            catalog,
            read_ids(ids),
            all_images=all_images,
            overwrite=overwrite,
            dry_run=dry_run,
            sink=None if as_json else say,
        )
    emit(report, as_json)


@cli.command()
@click.argument("input_stage")
@click.argument("output_stage")
@nul_option
@root_option
def ready(input_stage: str, output_stage: str, nul: bool, root: Path) -> None:
    """Ids of approved images with an INPUT_STAGE artifact and no OUTPUT_STAGE one."""
    from .commands import images as image_commands

    with Catalog.open(root) as catalog:
        emit(image_commands.ready(catalog, input_stage, output_stage, nul))


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
    from .commands import images as image_commands

    with Catalog.open(root) as catalog:
        emit(image_commands.artifact_log(catalog, image_id, stage, path, params))


@artifact.command("sync")
@click.argument("stage")
@click.argument("directory", type=click.Path(path_type=Path))
@root_option
def artifact_sync(stage: str, directory: Path, root: Path) -> None:
    """Record every image file under DIRECTORY as a STAGE artifact (ids from file names)."""
    from .commands import images as image_commands

    with Catalog.open(root) as catalog:
        emit(image_commands.artifact_sync(catalog, stage, directory))


# -- processing: jobs, process, blurhash ---------------------------------------------------------


@cli.group(invoke_without_command=True)
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
    from .commands import processing as processing_commands

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
    from .commands import processing as processing_commands

    with Catalog.open(root) as catalog:
        emit(processing_commands.retry(catalog, max_retries, job_ids, image_ids))


def _job_event(event: str) -> Callable[..., None]:
    from .commands import processing as processing_commands

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
@json_option
@root_option
def process(
    stages: tuple[str, ...], workers: int | None, retry_failed: bool, as_json: bool, root: Path
) -> None:
    """Make missing or outdated artifacts of STAGE... (default: every configured stage)."""
    from .commands import processing as processing_commands

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


@cli.command()
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
    from .commands import processing as processing_commands

    with Catalog.open(root) as catalog, progress(f"blurhash {stage}", as_json) as bar:
        report = processing_commands.blurhash(catalog, stage, on_progress=bar)
    emit(report, as_json)


# -- the site: build, serve ------------------------------------------------------------------


output_option = click.option(
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Output folder (default: art/gallery-html/).",
)


@cli.command()
@output_option
@click.option(
    "--base-url", default=None, help="Absolute URL of the site, for the feed and sitemap."
)
@click.option(
    "--no-process",
    is_flag=True,
    help="Render the catalog as it is: no registering, processing or blurhash filling.",
)
@json_option
@root_option
def build(
    output: Path | None, base_url: str | None, no_process: bool, as_json: bool, root: Path
) -> None:
    """Render the gallery: approved images through the theme into a static site."""
    from .commands import site as site_commands

    with Catalog.open(root) as catalog:
        report = site_commands.build(
            catalog,
            output,
            base_url=base_url,
            update=not no_process,
            sink=None if as_json else say,
        )
    emit(report, as_json)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to bind.")
@output_option
@click.option("--no-process", is_flag=True, help="Build without processing first.")
@root_option
def serve(host: str, port: int, output: Path | None, no_process: bool, root: Path) -> None:
    """Build, serve the output with live reload and rebuild when the site or catalog changes.

    --port 0 picks a free port; the address really listened on is printed."""
    from .review import mount
    from .serve import Preview
    from .serve import serve as serve_site

    def setup(preview: Preview) -> None:
        mount(preview, root, say=say)

    try:
        serve_site(
            root,
            host=host,
            port=port,
            output=output,
            process=not no_process,
            say=say,
            setup=setup,
        )
    except KeyboardInterrupt:
        say("stopped")


@cli.command()
@click.argument("target", required=False)
@click.option(
    "--dry-run", is_flag=True, help="Print the plan (with --json every path); change nothing."
)
@click.option(
    "--max-deletes",
    type=click.IntRange(min=-1),
    default=None,
    help="Refuse when the plan deletes more (default: [publish] max_deletes, 256; -1: no limit).",
)
@click.option("--force", is_flag=True, help="Publish into a non-empty target with no manifest.")
@click.option("--no-build", is_flag=True, help="Publish the output as it is, without building.")
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=1),
    default=8,
    show_default=True,
    help="Uploads at once.",
)
@json_option
@root_option
def publish(
    target: str | None,
    dry_run: bool,
    max_deletes: int | None,
    force: bool,
    no_build: bool,
    jobs: int,
    as_json: bool,
    root: Path,
) -> None:
    """Make TARGET (a folder, or s3://BUCKET[/PREFIX]) equal to the built site: new files
    first, entry pages last, deletions after; only what changed is sent. TARGET defaults
    to [publish] target in site.toml."""
    from .commands import site as site_commands

    with Catalog.open(root) as catalog, progress("publish", as_json) as bar:
        report = site_commands.publish(
            catalog,
            target,
            dry_run=dry_run,
            max_deletes=max_deletes,
            force=force,
            build_first=not no_build,
            jobs=jobs,
            sink=None if as_json else say,
            on_progress=lambda files, total, _b, _bt: bar(files, total),
        )
    emit(report, as_json)


# -- the old layout: migrate, verify, export-legacy ------------------------------------------


@cli.command()
@click.argument("legacy_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Print the plan; write nothing at all.")
@click.option("--copy", is_flag=True, help="Copy files into art/ instead of hard-linking.")
@json_option
@root_option
def migrate(legacy_dir: Path, dry_run: bool, copy: bool, as_json: bool, root: Path) -> None:
    """Import a legacy tree (img/, yes/, no/, thumbs/, t2/, replicate/, pub/, v/, g/, blur/).

    LEGACY_DIR is only read. Safe to rerun or interrupt; ends with a validation of every
    migrated file. Exit 1 if a file could not be migrated or the validation differs.
    """
    from .commands import archive as archive_commands

    with progress("migrate", as_json or dry_run) as bar:
        report = archive_commands.migrate(
            root, legacy_dir, dry_run=dry_run, copy=copy, on_progress=bar
        )
    emit(report, as_json)


@cli.command()
@json_option
@click.option("--fix", is_flag=True, help="Register orphans, drop rows of missing files.")
@click.option(
    "--force",
    is_flag=True,
    help="With --fix: drop rows even of a missing stage folder or over 10% of all rows.",
)
@root_option
def verify(as_json: bool, fix: bool, force: bool, root: Path) -> None:
    """Check the catalog against the disk: missing files, sha256 mismatches, orphans, rows
    breaking the schema's rules. Exit 1 if anything is (still) wrong. Never deletes a file."""
    from .commands import archive as archive_commands

    with Catalog.open(root) as catalog:
        emit(archive_commands.verify(catalog, fix=fix, force=force), as_json)


@cli.command("export-legacy")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Write into a folder that is not empty.")
@json_option
@root_option
def export_legacy_command(directory: Path, force: bool, as_json: bool, root: Path) -> None:
    """Rebuild the legacy layout (img/, yes/, no/, thumbs/, ...) in DIRECTORY from the
    catalog, with hard links where possible: the rollback plan. Existing files are never
    replaced."""
    from .commands import archive as archive_commands

    with Catalog.open(root) as catalog:
        emit(archive_commands.export_legacy(catalog, directory, force=force), as_json)


def main() -> None:
    cli(prog_name="cvgallery")
