"""The interface every kind of stage implements, and the registry that finds them.

A kind (resize, command, video, or one a plugin or a test registers) owns everything
specific to it: the keys its ``[stages.NAME]`` table takes (its ``Settings`` dataclass),
the config key that decides an artifact is outdated, planning, turning a claimed job into
a worker task, recording the worker's result, and where its tasks run (its
:class:`Policy`). config.py, process.py and runner.py only talk to this interface, so a
new kind is one module and one :func:`register` call.

Fingerprints computed on an already-decoded picture (the BlurHash of the web copy, a
perceptual hash of the original) are :class:`Fingerprint` hooks, run by whichever worker
has the picture in memory and stored by the hook itself.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from ..config import KINDS

if TYPE_CHECKING:
    from PIL import Image

    from ..catalog import Catalog, FileFacts
    from ..config import SiteConfig, StageConfig

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
    error: str | None = None
    #: fingerprint name -> value, computed by the worker while the picture was in memory
    fingerprints: dict[str, Any] = field(default_factory=dict)
    #: outputs that are images rows of their own (a video's frames), see stages.video
    children: list[dict[str, Any]] = field(default_factory=list)

    @property
    def facts(self) -> FileFacts:
        from ..catalog.facts import FileFacts, mime_for

        return FileFacts(
            self.sha256, self.file_size, self.width, self.height, mime_for(self.file_path)
        )


@dataclass
class Unit:
    """Claimed jobs that one task makes: an image (and, for a matrix stage, a variant)."""

    image_id: str
    jobs: dict[str, list[int]]  # stage -> job ids
    variant: str | None = None


@dataclass(frozen=True)
class Task:
    """A worker function and its picklable argument; ``fn(payload)`` returns list[Made]."""

    fn: Callable[[Any], list[Made]]
    payload: Any


@dataclass(frozen=True)
class Policy:
    """Where a kind's tasks run.

    ``pool``: the run's process pool (``-j`` workers; a stage's ``workers`` setting caps
    it). ``inline``: in the main process, one at a time. ``dedicated``: a pool of its own of
    at most ``max_workers`` processes, each started with ``initializer`` (load a model once,
    not once per task).
    """

    mode: str = "pool"
    max_workers: int | None = None
    initializer: Callable[[], None] | None = None


POOL = Policy("pool")
INLINE = Policy("inline")


@dataclass(frozen=True)
class TaskContext:
    """What a kind needs to turn a unit into a task."""

    catalog: Catalog
    #: temp-file tag of the run (its pid), so a later run can clean up after a dead one
    tag: str
    #: fingerprint hooks to compute on the decoded picture: (name, stage, options)
    fingerprints: tuple[tuple[str, str, dict[str, Any]], ...] = ()
    #: the run's owner id (cvgallery.owners), handed to outside commands in their
    #: environment so a later run can stop what a dead run left running
    owner: str = ""


class StageKind:
    """Base of every stage kind; subclasses set ``name`` and ``Settings`` and override
    :meth:`task` (and whatever else differs from the defaults)."""

    name: ClassVar[str] = ""
    #: a frozen dataclass: its fields are the keys the stage's table accepts, with defaults
    Settings: ClassVar[type] = type("NoSettings", (), {})
    policy: ClassVar[Policy] = POOL
    #: whether the kind takes ``each`` (one output per source and each image)
    supports_each: ClassVar[bool] = False
    #: whether its jobs run an outside tool (`build` only runs the kinds that do not)
    runs_outside_tools: ClassVar[bool] = False
    #: the file extension of outputs, when it does not come from the settings
    default_ext: ClassVar[str] = "jpeg"

    def check(self, settings: Any, each: str | None = None) -> str | None:
        """Why these settings cannot work (a message naming the key), else None."""
        return None

    def config_key(self, cfg: StageConfig) -> str:
        """Changes when a setting that changes the output changes: outputs made under
        another key are remade."""
        settings = cfg.settings
        is_instance = dataclasses.is_dataclass(settings) and not isinstance(settings, type)
        values = dataclasses.asdict(settings) if is_instance else {}
        return f"{self.name} {sorted(values.items())}"

    def group_key(self, cfg: StageConfig) -> Hashable:
        """Stages with the same key run as one group: one task makes all their outputs."""
        return (self.name, cfg.name)

    def deps(self, config: SiteConfig, cfg: StageConfig) -> set[str]:
        """Stages whose artifacts this stage's jobs read."""
        deps = {cfg.input} if cfg.each is None else {cfg.input, cfg.each}
        return {d for d in deps if d in config.stages}

    def video_input(self, config: SiteConfig, cfg: StageConfig) -> str | None:
        """The stage a video's source is taken from instead of ``input`` (None: the same)."""
        return None

    def plan(self, catalog: Catalog, cfg: StageConfig) -> tuple[int, int]:
        """Queue jobs for missing or outdated outputs; (up to date, blocked by failures)."""
        return catalog.jobs.plan(
            cfg.name, cfg.input, self.config_key(cfg), self.video_input(catalog.config, cfg)
        )

    def plan_group(
        self, catalog: Catalog, cfgs: list[StageConfig]
    ) -> list[tuple[int, int]]:
        """:meth:`plan` for each stage of a group (see :meth:`group_key`); a kind may plan
        them together (resize reads the images once for all its sizes)."""
        return [self.plan(catalog, cfg) for cfg in cfgs]

    def task(self, ctx: TaskContext, stages: list[StageConfig], unit: Unit) -> Task:
        raise NotImplementedError

    def record(self, catalog: Catalog, unit: Unit, made: Made) -> tuple[str | None, list[str]]:
        """Record one result (inside the runner's transaction): (error, paths it replaced)."""
        old = catalog.artifacts.record(
            image_id=unit.image_id,
            stage=made.stage,
            file_path=made.file_path,
            facts=made.facts,
            params=made.params,
        )
        for name, value in made.fingerprints.items():
            FINGERPRINTS[name].store(catalog, unit.image_id, made, value)
        return None, [old] if old else []


@dataclass(frozen=True)
class Fingerprint:
    """A value computed from a decoded picture of ``stage``'s output (or of the source when
    ``stage`` is the input), stored by ``store`` in the main process."""

    name: str
    #: which stage's picture it is computed on, given the site config
    stage: Callable[[SiteConfig], str]
    options: Callable[[SiteConfig], dict[str, Any]]
    compute: Callable[[Image.Image, dict[str, Any]], Any]
    store: Callable[[Catalog, str, Made, Any], None]


FINGERPRINTS: dict[str, Fingerprint] = {}


def register(kind: StageKind) -> StageKind:
    """Make a kind available to site.toml (``kind = "<name>"``)."""
    KINDS[kind.name] = kind
    return kind


def register_fingerprint(hook: Fingerprint) -> Fingerprint:
    FINGERPRINTS[hook.name] = hook
    return hook


def kind_of(cfg: StageConfig) -> StageKind:
    return KINDS[cfg.kind]


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tail(text: str, lines: int = 8, chars: int = 800) -> str:
    """The end of a command's stderr, for error_message."""
    kept = "\n".join(line for line in text.strip().splitlines()[-lines:])
    return kept[-chars:]
