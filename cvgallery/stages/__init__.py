"""Stage kinds: one module per kind (resize, command, video), BlurHash, and the interface.

Workers run in a process pool and never touch the catalog: they get a task (plain,
picklable data naming the source file and the outputs to make), write each output
atomically under art/<stage>/, and return what they made; the main process records it
through the kind (cvgallery.stages.base). Importing this package registers the built-in
kinds and fingerprints.
"""

from . import blurhash, command, phash, resize, video
from .base import (
    FINGERPRINTS,
    GENERATOR,
    INLINE,
    KINDS,
    POOL,
    Fingerprint,
    Made,
    Output,
    Policy,
    StageKind,
    Task,
    TaskContext,
    Unit,
    kind_of,
    register,
    register_fingerprint,
)

__all__ = [
    "FINGERPRINTS",
    "GENERATOR",
    "INLINE",
    "KINDS",
    "POOL",
    "Fingerprint",
    "Made",
    "Output",
    "Policy",
    "StageKind",
    "Task",
    "TaskContext",
    "Unit",
    "blurhash",
    "command",
    "kind_of",
    "phash",
    "register",
    "register_fingerprint",
    "resize",
    "video",
]
