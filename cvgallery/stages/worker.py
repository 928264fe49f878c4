"""Process-pool workers and the tools they run: none outlives the run that started it.

Three layers, because no one of them covers every way a run can end:

- every worker and every tool it starts asks Linux to signal it when its parent dies
  (PR_SET_PDEATHSIG), checking right after that the parent has not died already (a kill
  between fork and prctl would otherwise leave it running forever);
- an outside command runs in its own session (process group); a worker that is told to
  stop (SIGTERM, or its pdeath signal) kills that whole group first, so a shell script's
  own children go too;
- a command carries its run in the environment (``CVGALLERY_RUN``, see cvgallery.owners):
  the next run kills whatever a dead run left, grandchildren included, before it cleans
  up that run's temporary files.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Callable
from types import FrameType

_PR_SET_PDEATHSIG = 1


def _load_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl  # type: ignore[no-any-return]
    except (OSError, AttributeError):
        return None


# Looked up once here: a child between fork and exec should do as little as possible.
_PRCTL = _load_prctl()

#: process groups of the commands this process is running right now
_GROUPS: set[int] = set()


def die_with_parent(parent: int | None = None, sig: int = signal.SIGKILL) -> None:
    """Ask Linux to send ``sig`` to this process when its parent dies. With ``parent``
    (the pid that forked us), a parent already gone means we exit at once."""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, sig, 0, 0, 0)
    if parent is not None and os.getppid() != parent:
        os._exit(1)


def child_guard() -> Callable[[], None]:
    """A ``preexec_fn`` for a tool this process starts: it dies with this process."""
    parent = os.getpid()

    def guard() -> None:
        die_with_parent(parent)

    return guard


def track_group(pgid: int, running: bool) -> None:
    """Note a command's process group as running (or done), for :func:`kill_groups`."""
    if running:
        _GROUPS.add(pgid)
    else:
        _GROUPS.discard(pgid)


def kill_groups() -> None:
    """SIGKILL every command group this process started and has not seen finish."""
    for pgid in list(_GROUPS):
        try:
            os.killpg(pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _stop(signum: int, frame: FrameType | None) -> None:
    kill_groups()
    os._exit(128 + signum)


def init_worker(parent: int | None = None) -> None:
    """Initializer of every pool worker: it dies with the run (taking its commands'
    groups along) and ignores Ctrl-C (the whole foreground group gets it: only the main
    process handles it)."""
    signal.signal(signal.SIGTERM, _stop)
    die_with_parent(parent, signal.SIGTERM)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
