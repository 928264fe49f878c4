"""What a migration (or its dry-run plan) found, did and noticed: the report `migrate` prints.

``found`` and ``migrated`` count files per line of the table (a stage, or yes / no /
blur / other); ``notes`` are kept files worth knowing about, ``errors`` files not (fully)
migrated; ``validation`` is the closing check of cvgallery.legacy.validate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .layout import bad_name, skip_reason


@dataclass
class MigrationReport:
    legacy_dir: str
    dry_run: bool
    found: dict[str, int] = field(default_factory=dict)  # per stage / group
    migrated: dict[str, int] = field(default_factory=dict)  # rows written by this run
    already: int = 0  # paths skipped because an earlier run recorded them
    notes: list[dict[str, str]] = field(default_factory=list)  # kept, but worth knowing
    errors: list[dict[str, str]] = field(default_factory=list)  # not (fully) migrated
    validation: dict[str, Any] | None = None
    seconds: float = 0.0

    def note(self, path: str, kind: str, detail: str) -> None:
        self.notes.append({"path": path, "kind": kind, "detail": detail})

    def error(self, path: str, detail: str) -> None:
        self.errors.append({"path": path, "detail": detail})

    def count(self, key: str) -> None:
        self.migrated[key] = self.migrated.get(key, 0) + 1

    def skipped(self, rel: str) -> None:
        """A skipped path: a dotfile is a note, a name that is not UTF-8 an error (not migrated)."""
        shown, why = skip_reason(rel)
        if bad_name(rel):
            self.error(shown, why)
        else:
            self.note(shown, "skipped", why)

    @property
    def ok(self) -> bool:
        return not self.errors and (self.validation is None or self.validation["ok"])

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "ok": self.ok}
