"""Stage implementations: one module per kind (resize, command, video) plus BlurHash.

Workers run in a process pool and never touch the catalog: they get a task (plain,
picklable data naming the source file and the outputs to make), write each output
atomically under art/<stage>/, and return what they made; the main process records it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..catalog import Catalog

GENERATOR = "cvgallery"


@dataclass(frozen=True)
class Output:
    """One artifact a task must make: ``dest`` is absolute, ``file_path`` relative to art/."""

    stage: str
    dest: str
    file_path: str
    params: dict[str, Any]


@dataclass
class Made:
    """An artifact written to disk, ready to be recorded (or the reason it was not)."""

    stage: str
    file_path: str = ""
    sha256: str = ""
    width: int | None = None
    height: int | None = None
    file_size: int = 0
    params: dict[str, Any] = field(default_factory=dict)
    blurhash: str | None = None
    error: str | None = None
    #: video: frames registered as their own images rows (dicts, see stages.video)
    children: list[dict[str, Any]] = field(default_factory=list)


def record_made(catalog: Catalog, image_id: str, made: Made) -> str | None:
    """Record ``made`` as the (image_id, made.stage) artifact; the path it replaced, if other."""
    return catalog.record_artifact(
        image_id,
        made.stage,
        made.file_path,
        made.sha256,
        made.width,
        made.height,
        made.file_size,
        made.params,
    )


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tail(text: str, lines: int = 8, chars: int = 800) -> str:
    """The end of a command's stderr, for error_message."""
    kept = "\n".join(line for line in text.strip().splitlines()[-lines:])
    return kept[-chars:]
