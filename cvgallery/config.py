"""site.toml → one typed, validated :class:`SiteConfig`; every default lives here.

Unknown keys are an error naming the key: a silently ignored typo is a bug report
waiting to happen.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints
from urllib.parse import urlsplit

from .errors import ConfigError, NotASite

CONFIG_NAME = "site.toml"
DB_NAME = "cv.db"
ART_DIR = "art"

# The built-in stage names; the folder under art/ has the same name.
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

IMAGE_FORMATS = ("jpeg", "webp", "avif", "png")
#: the formats a picture may be published in beside JPEG, chosen by the browser (<picture>)
MODERN_FORMATS = ("webp", "avif")
SORT_ORDERS = ("taken", "added")
#: [images] max_pixels by default: 200 Mpx phone and camera sensors, with room to spare
#: (Pillow's own default, ~89 Mpx, rejects 108 Mpx phone photos)
DEFAULT_MAX_PIXELS = 250_000_000

#: Stage kinds by name (cvgallery.stages.base.StageKind objects). The registry lives here,
#: at the bottom, so that config validates a kind's table without importing the kinds:
#: cvgallery.stages fills it (importing the package registers the built-ins), and a
#: plugin or a test adds its own with cvgallery.stages.register().
KINDS: dict[str, Any] = {}


@dataclass(frozen=True)
class StageConfig:
    """How one stage is made: the keys every stage takes; ``settings`` holds its kind's own
    (a frozen dataclass defined by the kind, see cvgallery.stages.base)."""

    name: str
    #: resize (built in), command (an outside tool), video, or a registered kind
    kind: str
    #: the stage whose file is the source ({input} of a command)
    input: str = "upstream"
    #: a second stage whose artifacts multiply the outputs: one output per (approved source,
    #: approved image with an artifact of this stage), each its own images row
    #: ``<source id>--<each id>`` with parent_id = the source (face-swap styles); command only
    each: str | None = None
    #: how many times a failed job is retried after its first attempt (`jobs retry`,
    #: `process --retry-failed`); None means the site's [jobs] max_retries
    max_retries: int | None = None
    #: at most this many of the stage's tasks run at once (None: -j)
    workers: int | None = None
    #: false keeps the stage's files off the published site
    publish: bool = True
    settings: Any = None


@dataclass(frozen=True)
class DisplayConfig:
    """The [display] table: the sizes pictures are shown large at (grid on sharp screens,
    image page, lightbox), made beside the 400-px web-optimized copy from the same decode."""

    #: widths in px of the JPEG display copies (stages display-<w>); a source narrower than a
    #: width gets that copy at its own width once, and none of the larger ones (never upscaled)
    widths: tuple[int, ...] = (800, 1600, 2400)
    #: formats made beside JPEG at the web-optimized width and every display width (stages
    #: display-<w>-<format>), picked by the browser through <picture>: webp, avif, or none
    formats: tuple[str, ...] = ("webp",)
    #: the web-optimized copy's width ([stages.web-optimized] size): the modern formats are
    #: made at it too, and the first display width only for sources wider than it
    base_width: int = 400

    def stages(self) -> dict[str, dict[str, Any]]:
        """The resize stages these settings declare, in config.DEFAULT_STAGES' shape."""
        return display_stages(self.widths, self.formats, self.base_width)


#: JPEG quality of the display copies, and of each modern format (similar visual quality:
#: benchmarks/bench_formats.py prints bytes and PSNR per size and format)
DISPLAY_QUALITY = {"jpeg": 82, "webp": 80, "avif": 60}


def display_stage(width: int, fmt: str = "jpeg") -> str:
    """The name of a display stage: display-800 (JPEG), display-800-webp."""
    return f"display-{width}" if fmt == "jpeg" else f"display-{width}-{fmt}"


def display_stages(
    widths: tuple[int, ...], formats: tuple[str, ...], base_width: int = 400
) -> dict[str, dict[str, Any]]:
    """JPEG display-<w> for each width and display-<w>-<format> for each modern format at
    the web-optimized width and each width. ``min_source``: a stage is made only for
    sources wider than the next smaller size (else it would repeat that one's pixels)."""
    stages: dict[str, dict[str, Any]] = {}
    ordered = sorted(set(widths))
    for fmt in ("jpeg", *formats):
        sizes = ordered if fmt == "jpeg" else sorted({base_width, *ordered})
        below = base_width
        for width in sizes:
            stages[display_stage(width, fmt)] = {
                "kind": "resize",
                "input": "upstream",
                "size": width,
                "fit": "width",
                "format": fmt,
                "quality": DISPLAY_QUALITY[fmt],
                "min_source": below if width > base_width else 0,
            }
            below = max(below, width)
    return stages


DEFAULT_STAGES: dict[str, dict[str, Any]] = {
    "thumbnails-small": {"kind": "resize", "input": "upstream", "size": 400, "fit": "fit"},
    "web-optimized": {"kind": "resize", "input": "upstream", "size": 400, "fit": "width"},
    "ersgan-thumbnails": {"kind": "resize", "input": "ersgan-enhanced", "size": 400, "fit": "fit"},
    "video-frames": {"kind": "video", "input": "video-sources", "frames": 4},
    **DisplayConfig().stages(),
}


@dataclass(frozen=True)
class PublishConfig:
    """The [publish] table: where `cvgallery publish` puts the site and with which headers."""

    #: a folder path or s3://BUCKET[/PREFIX]; the command's TARGET argument wins
    target: str = ""
    #: an S3-compatible service's endpoint (R2, B2, MinIO...); else AWS_ENDPOINT_URL or AWS
    endpoint_url: str = ""
    #: Cache-Control of content-hashed files (media/, hashed CSS and JS)
    cache_immutable: str = "public, max-age=31536000, immutable"
    #: Cache-Control of everything else (pages, feed, sitemap)
    cache_default: str = "public, max-age=300"
    #: extension (or file name) -> Content-Type, over the built-in table
    content_types: dict[str, str] = field(default_factory=dict)
    #: refuse a publish that would delete more files than this (-1: no limit)
    max_deletes: int = 256


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
    #: gallery order, newest first: "taken" (the capture date, else the date added) or "added"
    sort: str = "taken"
    #: show a camera line (camera, lens, exposure) on image pages; never a location
    show_exif: bool = False
    #: images found in art/upstream by `build`, or added without --approve, start approved
    auto_approve: bool = False
    #: how many times a failed job is retried after its first attempt: 3 means at most
    #: four attempts; 0, never retried (jobs.retry_count counts the failed attempts)
    max_retries: int = 3
    #: BlurHash components
    blurhash_x: int = 4
    blurhash_y: int = 3
    #: pictures with more pixels are rejected when added (and fail processing), by name
    max_pixels: int = DEFAULT_MAX_PIXELS
    stages: dict[str, StageConfig] = field(default_factory=dict)
    publish: PublishConfig = field(default_factory=PublishConfig)
    display: DisplayConfig = field(default_factory=DisplayConfig)

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
        """The built-in stages plus any new one site.toml declares."""
        extra = tuple(s for s in self.stages if s not in STAGES)
        return STAGES + extra


_TOP_KEYS = {
    "title",
    "base_url",
    "description",
    "theme",
    "per_page",
    "feed_size",
    "sort",
    "show_exif",
}
_SECTIONS = {"review", "jobs", "blurhash", "images", "stages", "publish", "display"}


def find_site(start: Path | None = None) -> Path | None:
    """The nearest folder upward holding site.toml (from ``start``, default the current
    folder), or None outside any site."""
    start = (start or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        if (folder / CONFIG_NAME).is_file():
            return folder
    return None


def find_root(start: Path | None = None) -> Path:
    """The nearest folder upward holding site.toml; outside a site :class:`NotASite`:
    a command run in the wrong folder must not make a catalog (or copy files) there."""
    found = find_site(start)
    if found is None:
        where = (start or Path.cwd()).resolve()
        raise NotASite(
            f"no {CONFIG_NAME} in {where} or any folder above it: not a cvgallery site "
            "(run `cvgallery init` to make one, or pass --root SITE)"
        )
    return found


def check_site(root: str | os.PathLike[str]) -> Path:
    """``root`` itself when it is a site (a folder with site.toml), else :class:`NotASite`."""
    path = Path(root)
    if not path.is_dir():
        problem = "not a folder" if path.exists() else "no such folder"
        raise NotASite(f"{path}: {problem} (`cvgallery init {path}` makes a site there)")
    if not (path / CONFIG_NAME).is_file():
        raise NotASite(
            f"{path}: not a cvgallery site: no {CONFIG_NAME} "
            f"(`cvgallery init {path}` makes one)"
        )
    return path


def load_config(root: str | os.PathLike[str] | None = None) -> SiteConfig:
    """Read root/site.toml (a missing file means all defaults) and validate it."""
    root_path = Path(root).resolve() if root is not None else find_root()
    if not root_path.is_dir():
        raise ConfigError(f"{root_path}: no such folder")
    path = root_path / CONFIG_NAME
    data: dict[str, Any] = {}
    if path.is_file():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: {exc}") from exc
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    return parse_config(root_path, data, source=str(path))


def parse_config(root: Path, data: dict[str, Any], source: str = CONFIG_NAME) -> SiteConfig:
    unknown = set(data) - _TOP_KEYS - _SECTIONS
    if unknown:
        raise ConfigError(f"{source}: unknown key {sorted(unknown)[0]!r}")
    kw: dict[str, Any] = {}
    for key, kind in (("title", str), ("base_url", str), ("description", str), ("theme", str)):
        if key in data:
            kw[key] = _typed(source, key, data[key], kind)
    if "theme" in kw:
        check_theme_name(kw["theme"], f"{source}: theme")
    for key in ("per_page", "feed_size"):
        if key in data:
            kw[key] = _positive(source, key, data[key])
    if "sort" in data:
        kw["sort"] = _typed(source, "sort", data["sort"], str)
        if kw["sort"] not in SORT_ORDERS:
            raise ConfigError(f"{source}: sort must be \"taken\" or \"added\", not {kw['sort']!r}")
    if "show_exif" in data:
        kw["show_exif"] = _typed(source, "show_exif", data["show_exif"], bool)
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
    images = _section(source, data, "images", {"max_pixels"})
    if "max_pixels" in images:
        kw["max_pixels"] = _positive(source, "images.max_pixels", images["max_pixels"])
    kw["base_url"] = check_base_url(kw.get("base_url", ""), f"{source}: base_url")
    raw_stages = _section(source, data, "stages", None)
    kw["display"] = _parse_display(source, data, raw_stages)
    kw["stages"] = _parse_stages(source, raw_stages, kw["display"].stages())
    kw["publish"] = _parse_publish(source, data)
    return SiteConfig(root=root, **kw)


_STAGE_KEYS = {"kind", "input", "each", "max_retries", "workers", "publish"}


def _parse_publish(source: str, data: dict[str, Any]) -> PublishConfig:
    keys = {f.name for f in fields(PublishConfig)}
    table = _section(source, data, "publish", keys)
    kw: dict[str, Any] = {}
    for key in keys - {"content_types", "max_deletes"}:
        if key in table:
            kw[key] = _typed(source, f"publish.{key}", table[key], str)
    if "max_deletes" in table:
        kw["max_deletes"] = _positive(source, "publish.max_deletes", table["max_deletes"], -1)
    types = table.get("content_types", {})
    if not isinstance(types, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and v for k, v in types.items()
    ):
        raise ConfigError(f"{source}: publish.content_types must map extensions to types")
    kw["content_types"] = {k.lower().lstrip("."): v for k, v in types.items()}
    return PublishConfig(**kw)


def check_theme_name(name: str, where: str = "theme") -> str:
    """A theme is a name looked up in the site's themes/ and the built-ins, never a path:
    ``../dir`` or ``/home/me`` would publish whatever that folder holds."""
    if (
        not name
        or name.startswith(".")
        or any(sep in name for sep in ("/", "\\", os.sep, ":"))
        or not name.isprintable()
    ):
        raise ConfigError(
            f"{where} must be the name of a folder in the site's themes/ or a built-in theme "
            f"(no path, no leading dot), not {name!r}"
        )
    return name


def check_base_url(value: str, where: str = "base_url") -> str:
    """An absolute http(s) URL without a trailing slash, or "" (no absolute URLs)."""
    value = value.strip().rstrip("/")
    if not value:
        return ""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ConfigError(
            f"{where} must be an absolute http(s) URL such as https://example.org/gallery, "
            f"not {value!r}"
        )
    return value


def _parse_display(
    source: str, data: dict[str, Any], raw_stages: dict[str, Any]
) -> DisplayConfig:
    table = _section(source, data, "display", {"widths", "formats"})
    kw: dict[str, Any] = {}
    web = raw_stages.get("web-optimized")
    size = web.get("size") if isinstance(web, dict) else None
    if isinstance(size, int) and not isinstance(size, bool) and size >= 1:
        kw["base_width"] = size
    if "widths" in table:
        widths = table["widths"]
        if not isinstance(widths, list) or not all(
            isinstance(w, int) and not isinstance(w, bool) and 16 <= w <= 16384 for w in widths
        ):
            raise ConfigError(
                f"{source}: display.widths must be a list of widths in px (16..16384), "
                f"not {widths!r}"
            )
        kw["widths"] = tuple(sorted(set(widths)))
    if "formats" in table:
        formats = table["formats"]
        if not isinstance(formats, list) or not all(f in MODERN_FORMATS for f in formats):
            raise ConfigError(
                f"{source}: display.formats must be a list of {' and '.join(MODERN_FORMATS)} "
                f"(JPEG is always made), not {formats!r}"
            )
        kw["formats"] = tuple(dict.fromkeys(formats))
    return DisplayConfig(**kw)


def _parse_stages(
    source: str, raw: dict[str, Any], display: dict[str, dict[str, Any]]
) -> dict[str, StageConfig]:
    # The default display stages are replaced by the ones this site's [display] declares.
    builtin = {k: v for k, v in DEFAULT_STAGES.items() if k not in DisplayConfig().stages()}
    merged: dict[str, dict[str, Any]] = {k: dict(v) for k, v in {**builtin, **display}.items()}
    for name, table in raw.items():
        where = f"stages.{name}"
        if not isinstance(table, dict):
            raise ConfigError(f"{source}: {where} must be a table")
        if name in ("upstream", "video-sources", "gallery-html"):
            raise ConfigError(f"{source}: {where}: this stage is not made by a processing step")
        base = merged.get(name, {})
        if "command" in table and "kind" not in table:
            base = {"kind": "command"}
        merged[name] = {**base, **table}
    stages = {name: _stage(source, name, values) for name, values in merged.items()}
    if not stages["web-optimized"].publish:
        raise ConfigError(
            f"{source}: stages.web-optimized.publish: the gallery is made of the "
            "web-optimized copies; it cannot be kept off the site"
        )
    for stage in stages.values():
        if stage.input not in STAGES and stage.input not in stages:
            raise ConfigError(f"{source}: stages.{stage.name}.input: unknown stage {stage.input!r}")
        if stage.each is not None and stage.each not in STAGES and stage.each not in stages:
            raise ConfigError(f"{source}: stages.{stage.name}.each: unknown stage {stage.each!r}")
    return stages


def _stage(source: str, name: str, values: dict[str, Any]) -> StageConfig:
    where = f"stages.{name}"
    kind = KINDS.get(values.get("kind"))  # type: ignore[arg-type]
    if kind is None:
        known = ", ".join(sorted(KINDS))
        raise ConfigError(
            f"{source}: {where}.kind must be one of {known}, not {values.get('kind')!r}"
        )
    own = {f.name: f for f in fields(kind.Settings)}
    bad = set(values) - _STAGE_KEYS - set(own)
    if bad:
        raise ConfigError(f"{source}: unknown key {where}.{sorted(bad)[0]}")
    hints = get_type_hints(kind.Settings)
    settings_kw = {
        key: _setting(source, f"{where}.{key}", values[key], hints[key])
        for key in own
        if key in values
    }
    try:
        settings = kind.Settings(**settings_kw)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{source}: {where}: {exc}") from exc
    problem = kind.check(settings, values.get("each"))
    if problem:
        raise ConfigError(f"{source}: {where}.{problem}")
    each = values.get("each")
    if each is not None:
        if not kind.supports_each:
            raise ConfigError(f"{source}: {where}.each is only for command stages")
        if not (isinstance(each, str) and each and each != name):
            raise ConfigError(f"{source}: {where}.each must name another stage, not {each!r}")
    for key in ("max_retries", "workers"):
        if key in values:
            _positive(source, f"{where}.{key}", values[key], minimum=0 if key != "workers" else 1)
    stage_input = values.get("input", "upstream")
    if not isinstance(stage_input, str):
        raise ConfigError(f"{source}: {where}.input must be a stage name, not {stage_input!r}")
    return StageConfig(
        name=name,
        kind=kind.name,
        input=stage_input,
        each=each,
        max_retries=values.get("max_retries"),
        workers=values.get("workers"),
        publish=_typed(source, f"{where}.publish", values.get("publish", True), bool),
        settings=settings,
    )


def _setting(source: str, key: str, value: Any, hint: Any) -> Any:
    """A value of a kind's setting, checked against the Settings field's type."""
    origin = get_origin(hint)
    if origin is tuple:
        item = get_args(hint)[0]
        if not (isinstance(value, list) and value and all(_is(v, item) for v in value)):
            raise ConfigError(
                f"{source}: {key} must be a non-empty list of {item.__name__}s, not {value!r}"
            )
        return tuple(value)
    options = [a for a in get_args(hint) if a is not type(None)] if origin is not None else [hint]
    if not any(_is(value, t) for t in options):
        names = " or ".join(t.__name__ for t in options)
        raise ConfigError(f"{source}: {key} must be a {names}, not {value!r}")
    return float(value) if float in options and not isinstance(value, bool) else value


def _is(value: Any, kind: type) -> bool:
    """isinstance, except that a boolean is no number (TOML's true is not 1)."""
    if isinstance(value, bool):
        return kind is bool
    if kind is float:
        return isinstance(value, int | float)
    return isinstance(value, kind)


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
description = ""       # the meta description of the pages, the feed's subtitle
base_url = ""          # absolute URL of the published site (feed, sitemap, social tags)
theme = "default"      # themes/<name>/ in this folder first, then the built-in themes
per_page = 60
sort = "taken"         # newest first by the date taken (else added), or "added"
show_exif = false      # a camera line (camera, lens, exposure) on image pages; never location

[display]
widths = [800, 1600, 2400]   # display copies beside the 400-px web copy; never upscaled
formats = ["webp"]           # made beside JPEG, picked by the browser; or ["avif", "webp"], []

[review]
auto_approve = false   # new images start approved

[jobs]
max_retries = 3        # retries after the first attempt (3: at most four attempts)

[blurhash]
x = 4
y = 3

[images]
max_pixels = 250_000_000  # larger pictures are rejected (width x height; 200 Mpx phones fit)

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
