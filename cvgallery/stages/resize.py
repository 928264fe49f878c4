"""Built-in resize stages (thumbnails-small, web-optimized, ersgan-thumbnails, the display
sizes display-<w> and display-<w>-<format>).

One task per source image makes every resize stage fed by that source, from a single
decode: a JPEG is decoded in draft mode (DCT-domain scaling) at the smallest scale that
still covers the largest output, which for a 3000x2000 photo and 400 px outputs is a
750x500 decode instead of a 6-megapixel one (and a 108 Mpx phone photo needs ~5 MB, not
324). Other formats are decoded whole, then box-reduced before resampling (reducing_gap).
The site's pixel limit applies here too. EXIF orientation is applied; every Pillow mode is
brought to 8-bit L/LA/RGB/RGBA (cvgallery.pixels.eight_bit: 16-bit scaled by bit depth, a
transparent colour key becomes alpha; alpha flattened on white for JPEG); an embedded ICC
profile that is not sRGB is converted to sRGB (kept in the
output when littleCMS cannot convert it). Outputs of equal size share one resize, and
outputs of equal size, format, quality and effort share one encode. Smaller sizes are
resized from a larger one already made when it is at least 1.5x as wide (2400 -> 1600,
1600 -> 800 -> 400): a third less resampling than from the full decode each time, within
55 dB PSNR of it (benchmarks/bench_formats.py).

A stage with ``min_source`` is planned only for sources wider than that (their longer edge
with fit = "fit"): a display size is skipped when the source is no wider than the next
smaller size, whose pixels it would only repeat.

``processing_params`` records size, fit, format, quality, the generator marker, the
Pillow version and the source's sha256; ``config_key`` is what `process` compares to
decide an artifact is outdated (a Pillow upgrade alone does not remake the gallery).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import PIL
from PIL import Image, ImageCms, ImageOps, features

from .. import store
from ..config import DEFAULT_MAX_PIXELS, IMAGE_FORMATS, StageConfig
from ..pixels import (
    PixelLimitError,
    bomb_message,
    check_pixel_limit,
    eight_bit,
    pixel_limit,
    register_plugins,
)
from .base import (
    FINGERPRINTS,
    GENERATOR,
    Made,
    Output,
    StageKind,
    Task,
    TaskContext,
    Unit,
    register,
    sha256_bytes,
)

_TRANSPOSED = {5, 6, 7, 8}
_ORIENTATION_TAG = 0x0112
WHITE = (255, 255, 255)


@dataclass(frozen=True)
class ResizeSettings:
    #: the box edge ("fit") or the width ("width") in pixels; never upscaled
    size: int = 400
    #: "fit" keeps the picture within size x size, "width" makes it size px wide
    fit: str = "fit"
    #: output format: jpeg, webp or png
    format: str = "jpeg"
    #: encoder quality 1..100
    quality: int = 85
    #: only sources wider than this (their longer edge with fit = "fit") get this stage
    min_source: int = 0
    #: encoder effort 0..6 for webp (libwebp's method) and avif (speed 10 - effort); None:
    #: 4 up to 1000 px wide, 2 above (3..6 cost 2.5-3x the time for 4-10% fewer bytes there)
    effort: int | None = None

    def __post_init__(self) -> None:
        fmt = self.format.lower()
        object.__setattr__(self, "format", "jpeg" if fmt == "jpg" else fmt)


@dataclass(frozen=True)
class ResizeTask:
    image_id: str
    source: str
    outputs: tuple[Output, ...]
    #: temp-file tag of the owning run (its pid), see store.atomic_path
    tag: str = ""
    #: fingerprints to compute on an output's picture while it is in memory: (name, stage, options)
    fingerprints: tuple[tuple[str, str, dict[str, Any]], ...] = ()
    #: the site's [images] max_pixels (a worker process has not read site.toml)
    max_pixels: int = DEFAULT_MAX_PIXELS


class ResizeKind(StageKind):
    """Built-in resizes: every resize stage fed by one input is made by one task."""

    name = "resize"
    Settings = ResizeSettings

    def check(self, settings: ResizeSettings, each: str | None = None) -> str | None:
        if settings.format not in IMAGE_FORMATS:
            return f"format must be one of {', '.join(IMAGE_FORMATS)}"
        if settings.fit not in ("fit", "width"):
            return "fit must be 'fit' or 'width'"
        if not 1 <= settings.quality <= 100:
            return f"quality must be an integer 1..100, not {settings.quality!r}"
        if settings.size < 1:
            return f"size must be an integer >= 1, not {settings.size!r}"
        if settings.min_source < 0:
            return f"min_source must be an integer >= 0, not {settings.min_source!r}"
        if settings.effort is not None and not 0 <= settings.effort <= 6:
            return f"effort must be an integer 0..6, not {settings.effort!r}"
        if settings.format == "avif" and not features.check("avif"):
            return "format: this Pillow cannot write AVIF (pip install 'pillow>=11.3')"
        return None

    def config_key(self, cfg: StageConfig) -> str:
        s = cfg.settings
        key = f"resize size={s.size} fit={s.fit} format={s.format} quality={s.quality}"
        # Only when set: the keys of artifacts made before effort existed stay current.
        return key if s.effort is None else f"{key} effort={s.effort}"

    def plan(self, catalog: Any, cfg: StageConfig) -> tuple[int, int]:
        s = cfg.settings
        return catalog.jobs.plan(  # type: ignore[no-any-return]
            cfg.name,
            cfg.input,
            self.config_key(cfg),
            self.video_input(catalog.config, cfg),
            wider_than=s.min_source,
            edge="longer" if s.fit == "fit" else "width",
        )

    def group_key(self, cfg: StageConfig) -> tuple[str, str]:
        return ("resize", cfg.input)

    def deps(self, config: Any, cfg: StageConfig) -> set[str]:
        deps = super().deps(config, cfg)
        if self.video_input(config, cfg):
            deps.add("video-frames")  # a video's resizes come from its poster frame
        return deps

    def plan_group(self, catalog: Any, cfgs: list[StageConfig]) -> list[tuple[int, int]]:
        """All the sizes of one input counted in one read; only a size with something
        missing or outdated is planned in full (a no-op run reads the images once)."""
        first = cfgs[0]
        counts = catalog.jobs.stale_counts(
            first.input,
            [
                (c.name, self.config_key(c), c.settings.min_source,
                 "longer" if c.settings.fit == "fit" else "width")
                for c in cfgs
            ],
            self.video_input(catalog.config, first),
        )  # fmt: skip
        return [
            self.plan(catalog, c) if counts[c.name][1] else (counts[c.name][0], 0)
            for c in cfgs
        ]

    def video_input(self, config: Any, cfg: StageConfig) -> str | None:
        video = config.stages.get("video-frames")
        if cfg.input == "upstream" and video is not None and video.kind == "video":
            return "video-frames"
        return None

    def task(self, ctx: TaskContext, stages: list[StageConfig], unit: Unit) -> Task:
        catalog = ctx.catalog
        first = stages[0]
        src = catalog.jobs.source_of(
            unit.image_id, first.input, self.video_input(catalog.config, first)
        )
        if src is None:
            raise ValueError(f"no {first.input} artifact to make it from")
        name = store.safe_name(unit.image_id)
        outputs = []
        for stage in sorted(unit.jobs):
            cfg = catalog.config.stages[stage]
            filename = f"{name}.{cfg.settings.format}"
            outputs.append(
                Output(
                    stage,
                    str(catalog.art_dir / stage / filename),
                    store.relative_path(stage, filename),
                    self.params(cfg, src["sha256"]),
                )
            )
        source = str(catalog.art_dir / src["file_path"])
        payload = ResizeTask(
            unit.image_id,
            source,
            tuple(outputs),
            ctx.tag,
            ctx.fingerprints,
            catalog.config.max_pixels,
        )
        return Task(make_resized, payload)

    def params(self, cfg: StageConfig, source_sha256: str | None) -> dict[str, Any]:
        s = cfg.settings
        return {
            "generator": GENERATOR,
            "config_key": self.config_key(cfg),
            "size": s.size,
            "fit": s.fit,
            "format": s.format,
            "quality": s.quality,
            **({} if s.effort is None else {"effort": s.effort}),
            "pillow": PIL.__version__,
            "source_sha256": source_sha256,
        }


RESIZE = register(ResizeKind())


def resize_params(cfg: StageConfig, source_sha256: str | None) -> dict[str, Any]:
    return RESIZE.params(cfg, source_sha256)  # type: ignore[attr-defined, no-any-return]


def output_size(width: int, height: int, size: int, fit: str) -> tuple[int, int]:
    """The output's size for a displayed width x height; never larger than the source."""
    scale = size / width if fit == "width" else min(size / width, size / height)
    scale = min(scale, 1.0)
    return max(1, round(width * scale)), max(1, round(height * scale))


def make_resized(task: ResizeTask) -> list[Made]:
    """Worker entry point: decode the source once, write every output; never raises."""
    try:
        with pixel_limit(task.max_pixels):
            im, icc, full = _decode(Path(task.source), task.outputs)
    except Exception as exc:
        reason = _decode_error(task.source, exc, task.max_pixels)
        return [Made(o.stage, error=reason) for o in task.outputs]
    # From the full displayed size, not the draft's: the output does not depend on the DCT
    # scale the decoder picked.
    boxes = {o.stage: output_size(*full, o.params["size"], o.params["fit"]) for o in task.outputs}
    resized = _resize_all(im, set(boxes.values()))
    encoded: dict[tuple[Any, ...], tuple[bytes, tuple[int, int]]] = {}
    results = []
    for out in task.outputs:
        p = out.params
        try:
            box = boxes[out.stage]
            effort = _effort(p.get("effort"), box[0])
            key = (box, p["format"], p["quality"], effort)
            if key not in encoded:
                encoded[key] = (_encode(resized[box], p["format"], p["quality"], icc, effort), box)
            data, (w, h) = encoded[key]
            with store.atomic_path(Path(out.dest), tag=task.tag) as tmp:
                tmp.write_bytes(data)
            made = Made(out.stage, out.file_path, sha256_bytes(data), w, h, len(data), p)
            hooks = [(n, o) for n, stage, o in task.fingerprints if stage == out.stage]
            if hooks:
                # From the stored bytes, so a hash equals one computed later from the file.
                with Image.open(io.BytesIO(data)) as written:
                    for hook_name, options in hooks:
                        value = FINGERPRINTS[hook_name].compute(written, options)
                        made.fingerprints[hook_name] = value
            results.append(made)
        except Exception as exc:
            results.append(Made(out.stage, error=f"{task.source}: {type(exc).__name__}: {exc}"))
    return results


#: a size is resized from an earlier, larger one when that is at least this much larger
CASCADE = 1.5


def _resize_all(im: Image.Image, boxes: set[tuple[int, int]]) -> dict[tuple[int, int], Image.Image]:
    """Every box, largest first, each from the smallest picture already made that is at
    least CASCADE times its size (else from the decoded picture)."""
    done: dict[tuple[int, int], Image.Image] = {}
    for box in sorted(boxes, key=lambda b: (-b[0] * b[1], b)):
        if im.size == box:
            done[box] = im
            continue
        bases = [
            p for p in done.values()
            if p.width >= CASCADE * box[0] and p.height >= CASCADE * box[1]
        ]  # fmt: skip
        base = min(bases, key=lambda p: p.width * p.height, default=im)
        done[box] = _resize(base, box)
    return done


def _effort(effort: int | None, width: int) -> int:
    """The encoder effort of a webp or avif output (see ResizeSettings.effort)."""
    if effort is not None:
        return int(effort)
    return 4 if width <= 1000 else 2


def _decode(
    path: Path, outputs: tuple[Output, ...]
) -> tuple[Image.Image, bytes | None, tuple[int, int]]:
    register_plugins()
    im = Image.open(path)
    try:
        check_pixel_limit(im.size)  # Pillow itself raises only at twice the limit
        orientation = _orientation(im)
        width, height = im.size
        if orientation in _TRANSPOSED:
            width, height = height, width
        if im.format in ("JPEG", "MPO"):
            boxes = [output_size(width, height, o.params["size"], o.params["fit"]) for o in outputs]
            need = (max(b[0] for b in boxes), max(b[1] for b in boxes))
            if orientation in _TRANSPOSED:
                need = (need[1], need[0])
            im.draft(None, need)
        icc = im.info.get("icc_profile")
        im.load()
    except BaseException:
        im.close()
        raise
    picture: Image.Image = im
    if orientation not in (0, 1):
        picture = ImageOps.exif_transpose(im)
    # Pillow carries info (a JPEG comment, XMP) through resize into the encoder: keep only
    # what decoding needs, so nothing of the upload reaches a published copy.
    picture.info = {k: v for k, v in picture.info.items() if k == "transparency"}
    return eight_bit(picture), icc or None, (width, height)


def _orientation(im: Image.Image) -> int:
    try:
        return int(im.getexif().get(_ORIENTATION_TAG, 1) or 1)
    except Exception:  # a broken EXIF block is not a broken picture
        return 1


def _resize(im: Image.Image, box: tuple[int, int]) -> Image.Image:
    # reducing_gap: a big non-JPEG source is first box-reduced, then resampled.
    return im.resize(box, Image.Resampling.LANCZOS, reducing_gap=3.0)


@lru_cache(maxsize=1)
def _srgb() -> ImageCms.ImageCmsProfile:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


@lru_cache(maxsize=32)
def _profile(icc: bytes) -> tuple[ImageCms.ImageCmsProfile | None, bool]:
    """The parsed profile and whether it already is sRGB (then there is nothing to convert)."""
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        description = ImageCms.getProfileDescription(profile) or ""
    except Exception:
        return None, False
    return profile, "srgb" in description.lower().replace(" ", "")


def _to_srgb(im: Image.Image, icc: bytes | None) -> tuple[Image.Image, bytes | None]:
    """Convert to sRGB through the embedded profile; returns the profile to embed, if any."""
    if not icc:
        return (im.convert("RGB") if im.mode == "CMYK" else im), None
    profile, is_srgb = _profile(icc)
    if is_srgb and im.mode != "CMYK":
        return im, None
    if profile is not None:
        out_mode = "RGBA" if im.mode in ("RGBA", "LA") else "RGB"
        src = im if im.mode in ("RGB", "RGBA", "CMYK", "L") else im.convert(out_mode)
        try:
            converted = ImageCms.profileToProfile(src, profile, _srgb(), outputMode=out_mode)
            if converted is not None:
                return converted, None
        except Exception:
            pass
    # littleCMS could not use the profile: keep it, so a colour-managed viewer still can.
    if im.mode == "CMYK":
        return im.convert("RGB"), None
    return im, icc if im.mode in ("RGB", "RGBA") else None


def _encode(
    im: Image.Image, fmt: str, quality: int, icc: bytes | None, effort: int = 4
) -> bytes:
    im, keep_icc = _to_srgb(im, icc)
    if fmt == "jpeg":
        if im.mode in ("RGBA", "LA"):
            rgba = im.convert("RGBA")
            flat = Image.new("RGB", im.size, WHITE)
            flat.paste(rgba, mask=rgba.getchannel("A"))
            im = flat
        elif im.mode not in ("RGB", "L"):
            im = im.convert("RGB")
    elif fmt in ("webp", "avif") and im.mode not in ("RGB", "RGBA"):
        im = im.convert("RGBA" if "A" in im.mode else "RGB")
    buf = io.BytesIO()
    kw: dict[str, Any] = {}
    if keep_icc:
        kw["icc_profile"] = keep_icc
    if fmt == "jpeg":
        im.save(buf, "JPEG", quality=quality, **kw)
    elif fmt == "webp":
        im.save(buf, "WEBP", quality=quality, method=effort, **kw)
    elif fmt == "avif":
        im.save(buf, "AVIF", quality=quality, speed=10 - effort, **kw)
    else:
        im.save(buf, "PNG", **kw)
    return buf.getvalue()


def _decode_error(source: str, exc: BaseException, limit: int) -> str:
    if isinstance(exc, Image.DecompressionBombError):
        return f"{source}: {bomb_message(exc, limit)}"
    if isinstance(exc, PixelLimitError):
        return f"{source}: {exc}"
    if isinstance(exc, FileNotFoundError):
        return f"{source}: source file is missing"
    if isinstance(exc, PIL.UnidentifiedImageError):
        return f"{source}: not an image Pillow can read"
    return f"{source}: cannot decode ({type(exc).__name__}: {exc})"
