"""Library warnings as per-file notes, never as raw warnings on stderr.

Pillow warns about things such as a corrupt EXIF block through ``warnings.warn``, which
by default prints the warning with the path of a file in site-packages, once per place
in Pillow's code (the next file with the same flaw says nothing). cvgallery routes every
warning through one hook instead: inside :func:`collecting` (per thread, so the threads
of `add` each collect their own file's) a warning becomes a note text handed back to the
caller, who reports it with the file; anywhere else it is printed as one ``note:`` line.
``catch_warnings`` is not used for this: it swaps process-wide state and is not safe
while other threads decode.
"""

from __future__ import annotations

import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO, TypeVar

from .names import shown, terminal_safe

_local = threading.local()
_lock = threading.Lock()
_installed = False

T = TypeVar("T")


def install() -> None:
    """Route warnings through :func:`_show` (once per process; idempotent). Pillow's
    warnings are shown every time, not once per code location, so each file gets its own."""
    global _installed
    with _lock:
        if _installed and warnings.showwarning is _show:
            return
        warnings.showwarning = _show
        warnings.filterwarnings("always", module=r"PIL(\.|$)")
        _installed = True


def note_text(message: Warning | str) -> str:
    """A warning's message on one line, without the file and line that raised it."""
    return " ".join(str(message).split())[:300] or type(message).__name__


def _show(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    text = note_text(message)
    collected: list[str] | None = getattr(_local, "notes", None)
    if collected is not None:
        if text not in collected:
            collected.append(text)
        return
    stream = file if file is not None else sys.stderr
    try:
        stream.write(f"note: {terminal_safe(text)}\n")
    except (OSError, ValueError):  # a closed stderr: nothing to tell
        pass


@contextmanager
def collecting() -> Iterator[list[str]]:
    """Collect the warnings this thread raises inside the block, as note texts."""
    install()
    previous = getattr(_local, "notes", None)
    notes: list[str] = []
    _local.notes = notes
    try:
        yield notes
    finally:
        _local.notes = previous


def run_noting(subject: str, fn: Callable[[Any], T], payload: Any) -> T:
    """``fn(payload)`` (a worker task), its warnings printed as ``note: <subject>: ...``."""
    with collecting() as notes:
        result = fn(payload)
    for text in notes:
        # One write per line: workers share stderr, and print() writes the newline apart.
        sys.stderr.write(f"note: {shown(subject)}: {terminal_safe(text)}\n")
    return result
