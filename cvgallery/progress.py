"""Progress of a long run on stderr: a rich bar (counts, rate, ETA) on a terminal, a plain
line every few seconds otherwise (a log file, a cron mail, CI), nothing for a quick run.

The line's interval is ``CVGALLERY_PROGRESS_SECONDS`` (default 5)::

    process web-optimized, thumbnails-small: 120/400 (30%), 12.3/s
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

SHOW_AFTER = 1.0  # seconds: a quick run prints only its summary line
INTERVAL_ENV = "CVGALLERY_PROGRESS_SECONDS"
DEFAULT_INTERVAL = 5.0


def line_interval() -> float:
    """Seconds between two progress lines: the environment's setting, else the default."""
    try:
        seconds = float(os.environ.get(INTERVAL_ENV, DEFAULT_INTERVAL))
    except ValueError:
        return DEFAULT_INTERVAL
    return seconds if seconds > 0 else DEFAULT_INTERVAL


class _Bar:
    """Called with (done, total); :meth:`describe` names what is being done now."""

    def __init__(self, label: str, enabled: bool, lines: bool):
        self.label = label
        self.detail = ""
        self.enabled = enabled
        self.lines = lines
        self.started = time.monotonic()
        self.last_line = self.started
        self.interval = line_interval()
        self.progress: Any = None
        self.task: Any = None

    @property
    def description(self) -> str:
        return f"{self.label} {self.detail}" if self.detail else self.label

    def describe(self, detail: str) -> None:
        self.detail = detail
        if self.progress is not None:
            self.progress.update(self.task, description=self.description)

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self.lines:
            self._line(done, total)
            return
        if self.progress is None:
            if time.monotonic() - self.started < SHOW_AFTER or done >= total:
                return
            self._start()
        self.progress.update(self.task, completed=done, total=total)

    def _line(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self.last_line < self.interval:
            return
        self.last_line = now
        share = f" ({100 * done // total}%)" if total else ""
        rate = done / (now - self.started)
        print(
            f"{self.description}: {done}/{total}{share}, {rate:.1f}/s", file=sys.stderr, flush=True
        )

    def _start(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            ProgressColumn,
            TextColumn,
            TimeRemainingColumn,
        )
        from rich.text import Text

        class Rate(ProgressColumn):
            def render(self, task: Any) -> Text:
                speed = task.finished_speed or task.speed
                return Text(f"{speed:.1f}/s" if speed else "", style="progress.data.speed")

        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            Rate(),
            TimeRemainingColumn(),
            console=Console(file=sys.stderr),
            transient=True,
        )
        self.progress.start()
        self.task = self.progress.add_task(self.description, total=None)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()


@contextmanager
def progress_bar(label: str, enabled: bool = True, lines: bool = False) -> Iterator[_Bar]:
    """A bar for ``label``; ``lines`` prints plain lines instead (stderr not a terminal)."""
    bar = _Bar(label, enabled, lines)
    try:
        yield bar
    finally:
        bar.close()
