"""Video stage: a poster frame and N evenly spaced frames per video, with imageio-ffmpeg's ffmpeg.

The rule for outputs that do not fit the seed's UNIQUE(image_id, stage):

* the poster frame (at 10 % of the duration) is the video's own ``video-frames``
  artifact, art/video-frames/<id>.jpeg; `process` then makes the video's
  thumbnails-small and web-optimized from it, so an approved video enters the gallery
  query (approved ⨝ web-optimized) like a photo;
* each of the N frames (at (k + 0.5) / N of the duration) becomes its own images row,
  id ``<video id>-frame-<k>``, with ``parent_id`` = the video's id, approved = 0 and a
  ``video-frames`` artifact art/video-frames/<id>-frame-<k>.jpeg. Frame rows get no other
  stage (no upstream, so no resize), hence never a web-optimized artifact: they never
  enter the gallery on their own. A frame whose content equals an image already in the
  catalog (same sha256) is not registered twice.

Remaking a video's frames (its source or ``frames`` changed) replaces the frame rows;
frame rows no longer produced are deleted with their artifacts.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image

from .. import store
from ..catalog import FileFacts
from ..config import StageConfig
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
from .worker import child_guard

if TYPE_CHECKING:
    from ..catalog import Catalog

POSTER_AT = 0.10
JPEG_QSCALE = "3"  # ffmpeg's -q:v for mjpeg: 2 (best) .. 31


@dataclass(frozen=True)
class VideoTask:
    image_id: str
    source: str
    poster: Output
    frames: int
    tag: str = ""


@dataclass(frozen=True)
class VideoSettings:
    #: evenly spaced frames extracted besides the poster frame
    frames: int = 4

    def __post_init__(self) -> None:
        if self.frames < 0:
            raise ValueError(f"frames must be an integer >= 0, not {self.frames!r}")


class VideoKind(StageKind):
    """A poster frame (the video's own artifact) and N frames as child images."""

    name = "video"
    Settings = VideoSettings

    def config_key(self, cfg: StageConfig) -> str:
        return f"video frames={cfg.settings.frames} poster={POSTER_AT:g} q={JPEG_QSCALE}"

    def params(self, cfg: StageConfig, source_sha256: str | None) -> dict[str, Any]:
        return {
            "generator": GENERATOR,
            "config_key": self.config_key(cfg),
            "frames": cfg.settings.frames,
            "role": "poster",
            "tool": "imageio-ffmpeg",
            "source_sha256": source_sha256,
        }

    def task(self, ctx: TaskContext, stages: list[StageConfig], unit: Unit) -> Task:
        cfg = stages[0]
        catalog = ctx.catalog
        src = catalog.jobs.source_of(unit.image_id, cfg.input)
        if src is None:
            raise ValueError(f"no {cfg.input} artifact to make it from")
        filename = f"{store.safe_name(unit.image_id)}.jpeg"
        poster = Output(
            cfg.name,
            str(catalog.art_dir / cfg.name / filename),
            store.relative_path(cfg.name, filename),
            self.params(cfg, src["sha256"]),
        )
        source = str(catalog.art_dir / src["file_path"])
        payload = VideoTask(unit.image_id, source, poster, cfg.settings.frames, ctx.tag)
        return Task(extract_frames, payload)

    def record(self, catalog: Catalog, unit: Unit, made: Made) -> tuple[str | None, list[str]]:
        error, replaced = super().record(catalog, unit, made)
        return error, replaced + record_frames(catalog, unit.image_id, made)


VIDEO = register(VideoKind())


def frame_id(video_id: str, k: int) -> str:
    return f"{video_id}-frame-{k}"


@lru_cache(maxsize=1)
def ffmpeg_tool() -> tuple[str, str]:
    """imageio-ffmpeg's ffmpeg and its version (asked once per worker process)."""
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe(), imageio_ffmpeg.get_ffmpeg_version()


def extract_frames(task: VideoTask) -> list[Made]:
    """Worker entry point: poster + frames for one video; never raises."""
    try:
        ffmpeg, version = ffmpeg_tool()
        duration = _duration(task.source)
        folder = Path(task.poster.dest).parent
        poster = _grab(ffmpeg, task.source, duration * POSTER_AT, Path(task.poster.dest), task.tag)
        # The version is recorded, not compared (config_key): an upgrade alone remakes nothing.
        base = {**task.poster.params, "ffmpeg": version}
        made = Made(task.poster.stage, task.poster.file_path, params=base, **poster)
        for k in range(task.frames):
            at = duration * (k + 0.5) / task.frames
            child = frame_id(task.image_id, k + 1)
            info = _grab(
                ffmpeg, task.source, at, folder / f"{store.safe_name(child)}.jpeg", task.tag
            )
            params = {**base, "role": "frame", "index": k + 1, "at": round(at, 3)}
            made.children.append(
                {
                    "id": child,
                    "file_path": store.relative_path("video-frames", f"{child}.jpeg"),
                    "params": params,
                    **info,
                }
            )
    except Exception as exc:
        return [Made(task.poster.stage, error=f"{task.source}: {exc}")]
    return [made]


def _duration(source: str) -> float:
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(source)
    try:
        meta = next(reader)
    finally:
        reader.close()
    duration = float(meta.get("duration") or 0.0)
    if duration <= 0:
        raise ValueError("video has no duration (no video stream?)")
    return duration


def _grab(ffmpeg: str, source: str, at: float, dest: Path, tag: str) -> dict[str, Any]:
    with store.atomic_path(dest, tag=tag) as tmp:
        seek = ["-ss", f"{at:.3f}"]
        out = ["-frames:v", "1", "-q:v", JPEG_QSCALE, "-f", "image2", str(tmp)]
        argv = [ffmpeg, "-v", "error", "-nostdin", "-y", *seek, "-i", source, *out]
        proc = subprocess.run(argv, capture_output=True, timeout=300, preexec_fn=child_guard())
        if proc.returncode != 0 or tmp.stat().st_size == 0:
            # A fast (input) seek into an MPEG program or transport stream can land past the
            # last keyframe and decode nothing: seek by decoding from the start instead.
            argv = [ffmpeg, "-v", "error", "-nostdin", "-y", "-i", source, *seek, *out]
            proc = subprocess.run(
                argv, capture_output=True, timeout=300, preexec_fn=child_guard()
            )
        if proc.returncode != 0 or tmp.stat().st_size == 0:
            err = tail(proc.stderr.decode("utf-8", "replace")) or "no frame decoded"
            raise ValueError(f"ffmpeg exit status {proc.returncode} at {at:.3f}s: {err}")
        with Image.open(tmp) as im:
            width, height = im.size
        data = tmp.read_bytes()
    return {"sha256": sha256_bytes(data), "width": width, "height": height, "file_size": len(data)}


def record_frames(catalog: Catalog, video_id: str, made: Made) -> list[str]:
    """Record a video's frame rows (main process, inside the caller's transaction).

    Returns the file paths of frame artifacts that are no longer recorded, for removal.
    """
    images = catalog.images
    new_ids = {child["id"] for child in made.children}
    unused: list[str] = []
    # Frame rows no longer produced go first, with everything recorded about them.
    for child_id in images.children(video_id):
        if child_id not in new_ids:
            unused += images.drop_child(child_id)
    images.park_children_hashes(video_id)  # the kept ones may trade pictures
    for child in made.children:
        facts = FileFacts(
            child["sha256"], child["file_size"], child["width"], child["height"], "image/jpeg"
        )
        other = images.by_sha(child["sha256"], other_than=child["id"])
        row = images.find(child["id"])
        if other is not None or (row is not None and row["parent_id"] != video_id):
            unused.append(child["file_path"])  # same picture already catalogued, or id taken
            if row is not None and row["parent_id"] == video_id:
                unused += images.drop_child(child["id"])  # our old row for it goes
            continue
        images.add_child(child["id"], video_id, facts)
        catalog.artifacts.record(
            image_id=child["id"],
            stage=made.stage,
            file_path=child["file_path"],
            facts=facts,
            params=child["params"],
        )
    return unused
