"""A full build's pages, rendered by every core the machine gives us.

Rendering is pure Python (Jinja): one process renders about a thousand image pages a
second, and a full build of 100,000 pictures has as many pages. The pages are dealt into
shares; this process renders the first while forked workers render the others into the
same staging folder, and send back what they recorded (pickled, through a pipe).

Fork, not spawn: the plan, the theme and its compiled templates are inherited, not made
again. Only from a single-threaded process (serve's rebuilds run beside its HTTP and
watcher threads, whose locks a child would inherit held): otherwise, and where there is
one core or no fork, every share is rendered here, one after the other.
"""

from __future__ import annotations

import os
import pickle
import signal
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

from ..errors import BuildError

Share = TypeVar("Share")
Result = TypeVar("Result")

#: fewer pages than this are rendered here: a fork and a second connection cost more
PARALLEL_FROM = 2000
#: beyond this many, workers wait on the disk more than they render
MAX_WORKERS = 8


def workers(pages: int, jobs: int | None = None) -> int:
    """How many processes should render ``pages`` pages (1: this one alone): ``jobs`` if
    given, else one per core once there are PARALLEL_FROM pages."""
    if not hasattr(os, "fork") or threading.active_count() > 1:
        return 1
    if jobs is None:
        if pages < PARALLEL_FROM:
            return 1
        try:
            jobs = len(os.sched_getaffinity(0))
        except AttributeError:  # macOS
            jobs = os.cpu_count() or 1
    return max(1, min(jobs, pages, MAX_WORKERS))


def deal(items: Iterable[tuple[int, Share]], count: int) -> list[list[Share]]:
    """Items into ``count`` shares, by their group number: a group stays in one share."""
    shares: list[list[Share]] = [[] for _ in range(count)]
    for group, item in items:
        shares[group % count].append(item)
    return shares


def render_shares(
    shares: Sequence[Share],
    render_here: Callable[[Share], Result],
    render_forked: Callable[[Share], Result | None],
) -> list[Result]:
    """``render_here(shares[0])`` in this process while forked workers run
    ``render_forked`` on the others; a worker returning None (it could not take the build's
    view of the catalog) has its share rendered here too. Results in the shares' order.

    A worker's exception is raised here once this process's own share is done; workers
    still running are then stopped.
    """
    children: dict[int, tuple[int, int]] = {}  # share index → (pid, read end)
    try:
        for index in range(1, len(shares)):
            read_end, write_end = os.pipe()
            pid = os.fork()
            if pid == 0:  # pragma: no cover - the child; coverage does not follow forks
                os.close(read_end)
                _run_child(render_forked, shares[index], write_end)
            os.close(write_end)
            children[index] = (pid, read_end)
        results: list[Result | None] = [render_here(shares[0])]
        for index in range(1, len(shares)):
            pid, read_end = children.pop(index)
            results.append(_collect(pid, read_end))
        return [
            render_here(shares[i]) if result is None else result for i, result in enumerate(results)
        ]
    finally:
        for pid, read_end in children.values():
            _stop(pid, read_end)


def _run_child(  # pragma: no cover - runs in the forked child
    work: Callable[[Share], Result | None], share: Share, write_end: int
) -> None:
    """Run ``work`` and send its outcome; never returns (os._exit: the parent's atexit
    handlers, buffers and connections are not the child's to flush or close)."""
    status = 0
    try:
        try:
            payload = pickle.dumps(("ok", work(share)), pickle.HIGHEST_PROTOCOL)
        except BaseException as exc:
            status = 1
            payload = _error_payload(exc)
        with os.fdopen(write_end, "wb") as out:
            out.write(payload)
    finally:
        os._exit(status)


def _error_payload(exc: BaseException) -> bytes:
    """The exception itself when it survives the trip (OSError, BuildError), else a
    BuildError saying what it was."""
    try:
        payload = pickle.dumps(("error", exc), pickle.HIGHEST_PROTOCOL)
        pickle.loads(payload)
        return payload
    except Exception:
        error = BuildError(f"a render worker failed: {type(exc).__name__}: {exc}")
        return pickle.dumps(("error", error), pickle.HIGHEST_PROTOCOL)


def _collect(pid: int, read_end: int) -> Result | None:
    chunks = []
    try:
        while chunk := os.read(read_end, 1 << 20):
            chunks.append(chunk)
    finally:
        os.close(read_end)
        _, status = os.waitpid(pid, 0)
    try:
        kind, value = pickle.loads(b"".join(chunks))
    except Exception:
        raise BuildError(
            f"a render worker (pid {pid}) ended without its pages ({_describe_status(status)})"
        ) from None
    if kind == "error":
        raise value
    return value  # type: ignore[no-any-return]


def _describe_status(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by signal {os.WTERMSIG(status)}"
    return f"exit status {os.waitstatus_to_exitcode(status)}"


def _stop(pid: int, read_end: int) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass
    os.close(read_end)


__all__ = ["PARALLEL_FROM", "deal", "render_shares", "workers"]
