"""Outside-command stages (ESRGAN, face swap, any new tool), declared in site.toml.

The command is an argv list run without a shell. ``{input}`` (the input stage's file),
``{output}`` (a path that does not exist yet, alone in a private folder under
art/<stage>/.cvgallery-tmp/) and ``{id}`` are substituted inside each
argument, so a value with spaces or quotes stays one argument. A stage with ``each``
(cvgallery.stages.matrix) also gets ``{each}`` and ``{each_id}``. When the command exits 0
and left a readable file at ``{output}``, cvgallery renames it to art/<stage>/<id>.<ext>.
A non-zero exit, a timeout (the whole process group is killed) or a missing, empty or
unreadable output fails the job with the exit status and the tail of stderr.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image

from .. import owners, store
from ..config import IMAGE_FORMATS, StageConfig
from ..scrub import scrub
from . import matrix
from .base import (
    GENERATOR,
    Made,
    Output,
    StageKind,
    Task,
    TaskContext,
    Unit,
    register,
    sha256_bytes,
    tail,
)
from .worker import child_guard, track_group

if TYPE_CHECKING:
    from ..catalog import Catalog

_PLACEHOLDER = re.compile(r"\{(input|output|id|each|each_id)\}")
_IMAGE_EXTS = {*IMAGE_FORMATS, "jpg", "gif", "bmp", "tif", "tiff", "avif"}


@dataclass(frozen=True)
class CommandTask:
    image_id: str
    source: str
    output: Output
    argv: tuple[str, ...]
    timeout: float
    tag: str = ""
    #: a matrix stage's {each} (the path of the each image's artifact) and {each_id}
    each: str | None = None
    each_id: str | None = None
    #: the run's owner id, put in the command's environment (see cvgallery.owners)
    owner: str = ""


class _Failed(Exception):
    pass


@dataclass(frozen=True)
class CommandSettings:
    #: argv with {input}, {output} and {id} (and, with ``each``, {each} and {each_id})
    #: substituted as whole arguments; never run through a shell
    command: tuple[str, ...] = ()
    #: extension of {output}
    ext: str = "png"
    #: seconds a job may run
    timeout: float = 600.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "ext", self.ext.lstrip(".").lower())


class CommandKind(StageKind):
    """An outside tool, one output per source; with ``each``, one per (source, each image)
    (see cvgallery.stages.matrix)."""

    name = "command"
    Settings = CommandSettings
    supports_each = True
    runs_outside_tools = True

    def check(self, settings: CommandSettings, each: str | None = None) -> str | None:
        if not settings.command:
            return "command must be a non-empty list of strings"
        if settings.timeout <= 0:
            return "timeout must be a positive number of seconds"
        if each is None and any("{each" in arg for arg in settings.command):
            return "command uses {each}/{each_id} without each"
        return None

    def config_key(self, cfg: StageConfig) -> str:
        s = cfg.settings
        key = f"command {json.dumps(list(s.command))} ext={s.ext}"
        return key if cfg.each is None else f"{key} each={cfg.each}"

    def params(self, cfg: StageConfig, source_sha256: str | None) -> dict[str, Any]:
        return {
            "generator": GENERATOR,
            "config_key": self.config_key(cfg),
            "command": list(cfg.settings.command),
            "ext": cfg.settings.ext,
            "source_sha256": source_sha256,
        }

    def plan(self, catalog: Catalog, cfg: StageConfig) -> tuple[int, int]:
        if cfg.each is None:
            return super().plan(catalog, cfg)
        return catalog.jobs.plan_pairs(
            cfg.name, cfg.input, cfg.each, matrix.SEPARATOR, self.config_key(cfg)
        )

    def task(self, ctx: TaskContext, stages: list[StageConfig], unit: Unit) -> Task:
        cfg = stages[0]
        catalog = ctx.catalog
        src = catalog.jobs.source_of(unit.image_id, cfg.input)
        if src is None:
            raise ValueError(f"no {cfg.input} artifact to make it from")
        params = self.params(cfg, src["sha256"])
        each_path = each_id = None
        name = unit.image_id
        if cfg.each is not None:
            each_id = unit.variant
            if each_id is None:
                raise ValueError(f"a {cfg.name} job names no {cfg.each} image (jobs.variant)")
            each = catalog.artifacts.get(each_id, cfg.each)
            if each is None:
                raise ValueError(f"no {cfg.each} artifact for {each_id!r} to make it with")
            name = matrix.check_child_id(catalog, unit.image_id, each_id, cfg.name)
            each_path = str(catalog.art_dir / each["file_path"])
            params.update(each=cfg.each, each_sha256=each["sha256"], each_id=each_id)
        filename = f"{store.safe_name(name)}.{cfg.settings.ext}"
        out = Output(
            cfg.name,
            str(catalog.art_dir / cfg.name / filename),
            store.relative_path(cfg.name, filename),
            params,
        )
        payload = CommandTask(
            unit.image_id,
            str(catalog.art_dir / src["file_path"]),
            out,
            cfg.settings.command,
            cfg.settings.timeout,
            ctx.tag,
            each=each_path,
            each_id=each_id,
            owner=ctx.owner,
        )
        return Task(run_command, payload)

    def record(self, catalog: Catalog, unit: Unit, made: Made) -> tuple[str | None, list[str]]:
        if unit.variant is None:
            return super().record(catalog, unit, made)
        return matrix.record_output(catalog, unit.image_id, unit.variant, made)


COMMAND = register(CommandKind())


def substitute(argv: tuple[str, ...], values: dict[str, str]) -> list[str]:
    """Each placeholder replaced inside its own argument: never split, never a shell.
    A placeholder with no value (``{each}`` outside a matrix stage) stays as written."""
    return [_PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), arg) for arg in argv]


def run_command(task: CommandTask) -> list[Made]:
    """Worker entry point: run the command for one image; never raises."""
    out = task.output
    try:
        # fresh: the command must create {output} itself ("wrote nothing" is then visible),
        # alone in a private temp folder.
        with store.atomic_path(Path(out.dest), tag=task.tag, fresh=True) as tmp:
            values = {"input": task.source, "output": str(tmp), "id": task.image_id}
            if task.each is not None and task.each_id is not None:
                values.update(each=task.each, each_id=task.each_id)
            argv = substitute(task.argv, values)
            stderr = _run(argv, task.timeout, task.owner)
            if not tmp.exists() or tmp.stat().st_size == 0:
                raise _Failed(f"command wrote no output at {{output}}; stderr: {tail(stderr)}")
            width, height = _check_output(tmp)
            data = tmp.read_bytes()
            clean = scrub(data)  # an outside tool may copy its input's EXIF (GPS) along
            if clean != data:
                tmp.write_bytes(clean)
            made = Made(
                out.stage, out.file_path, sha256_bytes(clean), width, height, len(clean), out.params
            )
    except _Failed as exc:
        return [Made(out.stage, error=str(exc))]
    except Exception as exc:
        return [Made(out.stage, error=f"{type(exc).__name__}: {exc}")]
    return [made]


def _run(argv: list[str], timeout: float, owner: str = "") -> str:
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group, so a timeout kills every child
            preexec_fn=child_guard(),
            env=owners.command_env(owner) if owner else None,
        )
    except OSError as exc:
        raise _Failed(f"cannot run {argv[0]!r}: {exc.strerror or exc}") from exc
    track_group(proc.pid, running=True)  # a worker told to stop kills the group first
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        _, err = proc.communicate()
        text = err.decode("utf-8", "replace")
        raise _Failed(f"timed out after {timeout:g}s (killed); stderr: {tail(text)}") from None
    except BaseException:
        _kill_group(proc)
        proc.wait()
        raise
    finally:
        track_group(proc.pid, running=False)
    text = err.decode("utf-8", "replace")
    if proc.returncode != 0:
        raise _Failed(f"exit status {proc.returncode}; stderr: {tail(text)}")
    return text


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()


def _check_output(path: Path) -> tuple[int | None, int | None]:
    """An image output must open (and, for PNG, pass its CRC checks): its size, else None."""
    if path.suffix.lower().lstrip(".") not in _IMAGE_EXTS:
        return None, None
    try:
        with Image.open(path) as im:
            size = im.size
            im.verify()
    except Exception as exc:
        raise _Failed(f"command output is not a readable image ({exc})") from exc
    return size
