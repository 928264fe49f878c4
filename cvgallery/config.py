"""site.toml → one typed, validated :class:`SiteConfig`; every default lives here.

Unknown keys are an error naming the key: a silently ignored typo is a bug report
waiting to happen.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .errors import ConfigError

CONFIG_NAME = "site.toml"
DB_NAME = "cv.db"
ART_DIR = "art"

# The stage names of DESIGN.md; the folder under art/ has the same name.
STAGES: tuple[str, ...] = (
    "upstream",
    "thumbnails-small",
    "web-optimized",
    "ersgan-enhanced",
    "ersgan-thumbnails",
    "face-swap-sources",
    "face-swap-styles",
    "face-swap-results",
    "video-sources",
    "video-frames",
    "gallery-html",
)

IMAGE_FORMATS = ("jpeg", "webp", "png")


@dataclass(frozen=True)
class StageConfig:
    """How one stage is made. ``kind`` is resize (built in), command (an outside tool) or video."""

    name: str
    kind: str
    #: the stage whose file is the source ({input} of a command)
    input: str = "upstream"
    #: resize: the box edge ("fit") or the width ("width") in pixels; never upscaled
    size: int = 400
    #: resize: "fit" keeps the picture within size x size, "width" makes it size px wide
    fit: str = "fit"
    #: resize: output format, one of jpeg, webp, png
    format: str = "jpeg"
    #: resize: encoder quality 1..100
    quality: int = 85
    #: command: argv with {input}, {output} and {id} (and, with ``each``, {each} and
    #: {each_id}) substituted as whole arguments
    command: tuple[str, ...] = ()
    #: command: a second stage whose artifacts multiply the outputs: one output per
    #: (approved source, approved image with an artifact of this stage), each its own
    #: images row ``<source id>--<each id>`` with parent_id = the source (face-swap styles)
    each: str | None = None
    #: command: extension of {output}
    ext: str = "png"
    #: command: seconds a job may run
    timeout: float = 600.0
    #: failed jobs are re-queued by `jobs retry` while retry_count is below this;
    #: None means the site's [jobs] max_retries
    max_retries: int | None = None
    #: video: evenly spaced frames extracted besides the poster frame
    frames: int = 4


DEFAULT_STAGES: dict[str, dict[str, Any]] = {
    "thumbnails-small": {"kind": "resize", "input": "upstream", "size": 400, "fit": "fit"},
    "web-optimized": {"kind": "resize", "input": "upstream", "size": 400, "fit": "width"},
    "ersgan-thumbnails": {"kind": "resize", "input": "ersgan-enhanced", "size": 400, "fit": "fit"},
    "video-frames": {"kind": "video", "input": "video-sources", "frames": 4},
}


@dataclass(frozen=True)
class SiteConfig:
    """A site: a folder with site.toml, cv.db and art/."""

    root: Path
    #: the gallery's title, in every page's <title> and header
    title: str = "Gallery"
    #: absolute URL the site is published at; used only for the feed, sitemap and social tags
    base_url: str = ""
    #: short text for the feed and meta description
    description: str = ""
    #: theme name: the site's themes/<name>/ first, then the built-in themes
    theme: str = "default"
    #: images per index page
    per_page: int = 60
    #: images in the Atom feed
    feed_size: int = 30
    #: images found in art/upstream by `build`, or added without --approve, start approved
    auto_approve: bool = False
    #: failed jobs are retried while retry_count is below this (the seed's 3)
    max_retries: int = 3
    #: BlurHash components
    blurhash_x: int = 4
    blurhash_y: int = 3
    stages: dict[str, StageConfig] = field(default_factory=dict)

    def max_retries_for(self, stage: str) -> int:
        cfg = self.stages.get(stage)
        if cfg is not None and cfg.max_retries is not None:
            return cfg.max_retries
        return self.max_retries

    @property
    def db_path(self) -> Path:
        return self.root / DB_NAME

    @property
    def art_dir(self) -> Path:
        return self.root / ART_DIR

    @property
    def stage_names(self) -> tuple[str, ...]:
        """The DESIGN.md stages plus any new one site.toml declares."""
        extra = tuple(s for s in self.stages if s not in STAGES)
        return STAGES + extra


_TOP_KEYS = {"title", "base_url", "description", "theme", "per_page", "feed_size"}
_SECTIONS = {"review", "jobs", "blurhash", "stages"}


def find_root(start: Path | None = None) -> Path:
    """The nearest folder upward holding site.toml, else ``start`` (the current folder)."""
    start = (start or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        if (folder / CONFIG_NAME).is_file():
            return folder
    return start


def load_config(root: str | os.PathLike[str] | None = None) -> SiteConfig:
    """Read root/site.toml (a missing file means all defaults) and validate it."""
    root_path = Path(root).resolve() if root is not None else find_root()
    path = root_path / CONFIG_NAME
    data: dict[str, Any] = {}
    if path.is_file():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: {exc}") from exc
    return parse_config(root_path, data, source=str(path))


def parse_config(root: Path, data: dict[str, Any], source: str = CONFIG_NAME) -> SiteConfig:
    unknown = set(data) - _TOP_KEYS - _SECTIONS
    if unknown:
        raise ConfigError(f"{source}: unknown key {sorted(unknown)[0]!r}")
    kw: dict[str, Any] = {}
    for key, kind in (("title", str), ("base_url", str), ("description", str), ("theme", str)):
        if key in data:
            kw[key] = _typed(source, key, data[key], kind)
    for key in ("per_page", "feed_size"):
        if key in data:
            kw[key] = _positive(source, key, data[key])
    review = _section(source, data, "review", {"auto_approve"})
    if "auto_approve" in review:
        kw["auto_approve"] = _typed(source, "review.auto_approve", review["auto_approve"], bool)
    jobs = _section(source, data, "jobs", {"max_retries"})
    if "max_retries" in jobs:
        kw["max_retries"] = _positive(source, "jobs.max_retries", jobs["max_retries"], minimum=0)
    blur = _section(source, data, "blurhash", {"x", "y"})
    for axis in ("x", "y"):
        if axis in blur:
            value = _positive(source, f"blurhash.{axis}", blur[axis])
            if value > 9:
                raise ConfigError(f"{source}: blurhash.{axis} must be 1..9, not {value}")
            kw[f"blurhash_{axis}"] = value
    kw["base_url"] = kw.get("base_url", "").rstrip("/")
    kw["stages"] = _parse_stages(source, _section(source, data, "stages", None))
    return SiteConfig(root=root, **kw)


def _parse_stages(source: str, raw: dict[str, Any]) -> dict[str, StageConfig]:
    merged: dict[str, dict[str, Any]] = {k: dict(v) for k, v in DEFAULT_STAGES.items()}
    allowed = {f.name for f in fields(StageConfig)} - {"name"}
    for name, table in raw.items():
        where = f"stages.{name}"
        if not isinstance(table, dict):
            raise ConfigError(f"{source}: {where} must be a table")
        bad = set(table) - allowed
        if bad:
            raise ConfigError(f"{source}: unknown key {where}.{sorted(bad)[0]}")
        if name in ("upstream", "video-sources", "gallery-html"):
            raise ConfigError(f"{source}: {where}: this stage is not made by a processing step")
        base = merged.get(name, {})
        if "command" in table and "kind" not in table:
            base = {"kind": "command"}
        merged[name] = {**base, **table}
    stages: dict[str, StageConfig] = {}
    for name, values in merged.items():
        stages[name] = _stage(source, name, values)
    for stage in stages.values():
        if stage.input not in STAGES and stage.input not in stages:
            raise ConfigError(f"{source}: stages.{stage.name}.input: unknown stage {stage.input!r}")
        if stage.each is not None and stage.each not in STAGES and stage.each not in stages:
            raise ConfigError(f"{source}: stages.{stage.name}.each: unknown stage {stage.each!r}")
    return stages


def _stage(source: str, name: str, values: dict[str, Any]) -> StageConfig:
    where = f"stages.{name}"
    kind = values.get("kind")
    if kind not in ("resize", "command", "video"):
        raise ConfigError(f"{source}: {where}.kind must be resize, command or video, not {kind!r}")
    if kind == "command":
        command = values.get("command")
        if not (isinstance(command, list) and command and all(isinstance(a, str) for a in command)):
            raise ConfigError(f"{source}: {where}.command must be a non-empty list of strings")
        values = {**values, "command": tuple(command)}
        each = values.get("each")
        if each is not None and not (isinstance(each, str) and each and each != name):
            raise ConfigError(f"{source}: {where}.each must name another stage, not {each!r}")
        if each is None and any("{each" in arg for arg in command):
            raise ConfigError(f"{source}: {where}.command uses {{each}}/{{each_id}} without each")
    elif "each" in values:
        raise ConfigError(f"{source}: {where}.each is only for command stages")
    fmt = str(values.get("format", "jpeg")).lower()
    if fmt == "jpg":
        fmt = "jpeg"
    if fmt not in IMAGE_FORMATS:
        raise ConfigError(f"{source}: {where}.format must be one of {', '.join(IMAGE_FORMATS)}")
    values = {**values, "format": fmt}
    if values.get("fit", "fit") not in ("fit", "width"):
        raise ConfigError(f"{source}: {where}.fit must be 'fit' or 'width'")
    quality = values.get("quality", 85)
    if not isinstance(quality, int) or not 1 <= quality <= 100:
        raise ConfigError(f"{source}: {where}.quality must be an integer 1..100, not {quality!r}")
    for key in ("size", "frames", "max_retries"):
        if key in values:
            _positive(source, f"{where}.{key}", values[key], minimum=0 if key != "size" else 1)
    if "timeout" in values and not (
        isinstance(values["timeout"], int | float) and values["timeout"] > 0
    ):
        raise ConfigError(f"{source}: {where}.timeout must be a positive number of seconds")
    ext = str(values.get("ext", "png")).lstrip(".").lower()
    return StageConfig(name=name, **{**values, "ext": ext})


def _section(source: str, data: dict[str, Any], name: str, keys: set[str] | None) -> dict[str, Any]:
    section = data.get(name, {})
    if not isinstance(section, dict):
        raise ConfigError(f"{source}: [{name}] must be a table")
    if keys is not None:
        unknown = set(section) - keys
        if unknown:
            raise ConfigError(f"{source}: unknown key {name}.{sorted(unknown)[0]}")
    return section


def _typed(source: str, key: str, value: Any, kind: type) -> Any:
    if not isinstance(value, kind):
        raise ConfigError(f"{source}: {key} must be a {kind.__name__}, not {value!r}")
    return value


def _positive(source: str, key: str, value: Any, minimum: int = 1) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ConfigError(f"{source}: {key} must be an integer >= {minimum}, not {value!r}")
    return value


DEFAULT_SITE_TOML = """\
# cvgallery site configuration. Every key is optional; these are the defaults.
title = "Gallery"
base_url = ""          # absolute URL of the published site (feed, sitemap); links stay relative
theme = "default"      # themes/<name>/ in this folder first, then the built-in themes
per_page = 60

[review]
auto_approve = false   # new images start approved

[jobs]
max_retries = 3

[blurhash]
x = 4
y = 3

# Built-in stages can be tuned:
# [stages.web-optimized]
# format = "webp"
# quality = 80
#
# Outside tools become stages (argv, no shell):
# [stages.ersgan-enhanced]
# input = "web-optimized"
# command = ["realesrgan", "-i", "{input}", "-o", "{output}"]
# ext = "png"
# timeout = 600
# max_retries = 3
#
# One output per (source, style): each result is its own image, id "<source>--<style>":
# [stages.face-swap-results]
# input = "face-swap-sources"
# each = "face-swap-styles"
# command = ["facefusion", "--source", "{input}", "--style", "{each}", "--output", "{output}"]
# ext = "jpeg"
"""
