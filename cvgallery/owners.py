"""Who owns a running job: "host:pid:start" of the process that claimed it, and whether
that process is still alive, so a run can recover the jobs a dead run left `running`.

A claimed job records its owner as "host:pid:start", where start is the process start
time from /proc (clock ticks since boot). A running job whose owner is on this host and
whose pid is gone (or now belongs to a process started at another time, i.e. the pid was
reused) was left by a dead run; the next run puts it back to pending. Owners on other
hosts are never judged: a live run's jobs are never taken.
"""

from __future__ import annotations

import os
import socket
import sqlite3

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


def recover_dead(catalog: Catalog) -> list[sqlite3.Row]:
    """Put jobs left `running` by dead owners back to pending; return them
    (id, image_id, stage, variant)."""
    dead = [o for o in catalog.jobs.running_owners() if not owner_alive(o)]
    return catalog.jobs.requeue_owners(dead)
