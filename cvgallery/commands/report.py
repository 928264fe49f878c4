"""The one shape every command's result takes, so the CLI prints them all the same way."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Report:
    """What a command did.

    ``output`` is data for stdout (ids for a pipe, a table), ``lines`` the human messages
    (one per item, notes), ``failures`` the lines naming each thing that failed and why
    (printed on stderr), ``summary`` the closing line (else made from ``counts``), ``data``
    the ``--json`` document (or a function making it). ``exit_code`` follows the failures
    (0 all done, 1 some items failed) unless a command sets it. A command given a ``sink``
    hands it each message as it happens (a long `add` shows its files as it goes) instead
    of keeping it in ``lines``.
    """

    counts: dict[str, int] = field(default_factory=dict)
    output: list[str] = field(default_factory=list)
    #: False when ``output`` carries its own separators (NUL-terminated ids)
    output_newlines: bool = True
    lines: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    summary: str | None = None
    data: Any = None
    exit_code: int | None = None
    sink: Callable[[str], None] | None = field(default=None, repr=False, compare=False)

    def say(self, line: str) -> None:
        if self.sink is not None:
            self.sink(line)
        else:
            self.lines.append(line)

    @property
    def ok(self) -> bool:
        return self.code == 0

    @property
    def code(self) -> int:
        if self.exit_code is not None:
            return self.exit_code
        return 1 if self.failures else 0

    def line(self) -> str:
        if self.summary is not None:
            return self.summary
        return ", ".join(f"{n} {name}" for name, n in self.counts.items())

    def as_dict(self) -> Any:
        if callable(self.data):  # made only when asked (publish: lists of a million paths)
            return self.data()
        if self.data is not None:
            return self.data
        return {"ok": self.ok, "counts": self.counts, "failures": self.failures}
