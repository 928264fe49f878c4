"""What every command shares: printing a Report, messages and errors, --root (with the last
resort that turns an unforeseen exception into one `Error:` line), --json, -0, progress bars
and ids read from the arguments or stdin.

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

from ..commands.report import Report
from ..config import DB_NAME, check_site, find_root, find_site
from ..errors import CvgalleryError
from ..names import escape_controls, shown, terminal_safe

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
        from ..catalog.schema import describe_sqlite_error

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
    from ..progress import progress_bar

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


nul_option = click.option(
    "-0",
    "--null",
    "nul",
    is_flag=True,
    help="End each id with NUL instead of a newline (xargs -0).",
)
