"""Who owns a running job: "host:pid:start" of the process that claimed it, and whether
that process is still alive, so a run can recover the jobs a dead run left `running`.

A claimed job records its owner as "host:pid:start", where start is the process start
time from /proc (clock ticks since boot). A running job whose owner is on this host and
whose pid is gone (or now belongs to a process started at another time, i.e. the pid was
reused) was left by a dead run; the next run puts it back to pending. Owners on other
hosts are never judged: a live run's jobs are never taken.

Every outside command a run starts carries the run's owner id in its environment
(``CVGALLERY_RUN``), and so does everything that command starts in turn: after a run
is killed, the next one stops whatever is still running under the dead owner's id before
it cleans up, so no orphan writes afterwards.
"""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import time

from . import store
from .catalog import Catalog


def process_start_time(pid: int) -> str | None:
    """The start time of a live process, None when it is gone (or a zombie)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            stat = f.read()
    except OSError:
        if os.path.isdir("/proc/self"):
            return None
        # No /proc (not Linux): alive or not, with no start time to tell a reused pid.
        return "0" if store.pid_alive(pid) else None
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    fields = stat[stat.rfind(")") + 2 :].split()
    if not fields or fields[0] in ("Z", "X"):
        return None
    return fields[19]  # field 22 of the whole line: starttime


def owner_id(pid: int | None = None) -> str:
    pid = os.getpid() if pid is None else pid
    return f"{socket.gethostname()}:{pid}:{process_start_time(pid) or '0'}"


def owner_alive(owner: str) -> bool:
    """False only when we can tell: same host and the pid is gone or was reused."""
    host, _, rest = owner.partition(":")
    pid_text, _, start = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return True
    current = process_start_time(int(pid_text))
    return current is not None and (start in ("", "0") or current == start)


def dead_owners(catalog: Catalog) -> list[str]:
    """Owners of `running` jobs that are dead runs of this host."""
    return [o for o in catalog.jobs.running_owners() if not owner_alive(o)]


def recover_dead(catalog: Catalog) -> list[sqlite3.Row]:
    """Put jobs left `running` by dead owners back to pending; return them
    (id, image_id, stage, variant)."""
    return catalog.jobs.requeue_owners(dead_owners(catalog))


# -- what a dead run left running ------------------------------------------------------------

#: set in every outside command's environment to the owner id of the run that started it
RUN_ENV = "CVGALLERY_RUN"


def command_env(owner: str) -> dict[str, str]:
    """The environment of an outside command started by the run ``owner``."""
    return {**os.environ, RUN_ENV: owner}


def leftovers(dead: list[str]) -> list[int]:
    """Pids of processes started (directly or not) by a command of one of these runs:
    they carry its owner id in their environment (Linux /proc; elsewhere none found)."""
    wanted = {f"{RUN_ENV}={owner}".encode() for owner in dead}
    found: list[int] = []
    try:
        pids = [int(name) for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return found
    me = os.getpid()
    for pid in pids:
        if pid == me:
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                environ = f.read().split(b"\0")
        except OSError:  # gone meanwhile, or another user's
            continue
        if wanted.intersection(environ):
            found.append(pid)
    return found


def kill_leftovers(dead: list[str], wait: float = 5.0) -> int:
    """SIGKILL what commands of dead runs left running (a tool orphaned by a kill -9 that
    would write after the cleanup), and wait until they are gone; return how many."""
    pids = leftovers(dead)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    deadline = time.monotonic() + wait
    waiting = [p for p in pids if process_start_time(p) is not None]
    while waiting and time.monotonic() < deadline:
        time.sleep(0.01)
        waiting = [p for p in waiting if process_start_time(p) is not None]
    return len(pids)
