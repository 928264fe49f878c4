"""Outside-command stages (ESRGAN, face swap, any new tool), declared in site.toml.

The command is an argv list run without a shell. ``{input}`` (the input stage's file),
``{output}`` (a temporary path in art/<stage>/) and ``{id}`` are substituted inside each
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
from typing import Any

from PIL import Image

from .. import store
from ..config import IMAGE_FORMATS, StageConfig
from . import GENERATOR, Made, Output, tail
from .worker import die_with_parent

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


class _Failed(Exception):
    pass


def config_key(cfg: StageConfig) -> str:
    return f"command {json.dumps(list(cfg.command))} ext={cfg.ext}"


def command_params(cfg: StageConfig, source_sha256: str | None) -> dict[str, Any]:
    return {
        "generator": GENERATOR,
        "config_key": config_key(cfg),
        "command": list(cfg.command),
        "ext": cfg.ext,
        "source_sha256": source_sha256,
    }


def substitute(argv: tuple[str, ...], values: dict[str, str]) -> list[str]:
    """Each placeholder replaced inside its own argument: never split, never a shell.
    A placeholder with no value (``{each}`` outside a matrix stage) stays as written."""
    return [_PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), arg) for arg in argv]


def run_command(task: CommandTask) -> list[Made]:
    """Worker entry point: run the command for one image; never raises."""
    out = task.output
    try:
        with store.atomic_path(Path(out.dest), tag=task.tag) as tmp:
            tmp.unlink()  # the command must create it: "wrote nothing" is then visible
            values = {"input": task.source, "output": str(tmp), "id": task.image_id}
            if task.each is not None and task.each_id is not None:
                values.update(each=task.each, each_id=task.each_id)
            argv = substitute(task.argv, values)
            stderr = _run(argv, task.timeout)
            if not tmp.exists() or tmp.stat().st_size == 0:
                raise _Failed(f"command wrote no output at {{output}}; stderr: {tail(stderr)}")
            width, height = _check_output(tmp)
            made = Made(
                out.stage,
                out.file_path,
                store.sha256_file(tmp),
                width,
                height,
                tmp.stat().st_size,
                out.params,
            )
    except _Failed as exc:
        return [Made(out.stage, error=str(exc))]
    except Exception as exc:
        return [Made(out.stage, error=f"{type(exc).__name__}: {exc}")]
    return [made]


def _run(argv: list[str], timeout: float) -> str:
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group, so a timeout kills every child
            preexec_fn=die_with_parent,
        )
    except OSError as exc:
        raise _Failed(f"cannot run {argv[0]!r}: {exc.strerror or exc}") from exc
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
