"""Process-pool workers: they die with the run that started them."""

from __future__ import annotations

import ctypes
import signal
import sys

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent dies (a `kill -9`ed run leaves
    no worker or command behind to write files after the rerun cleaned up)."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass


def init_worker() -> None:
    die_with_parent()
    # Ctrl-C goes to the whole foreground group: only the main process handles it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
