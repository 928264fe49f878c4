"""Pillow set-up shared by probing and processing: plugins, the pixel limit, pixel modes.

* HEIC/HEIF files are read through pillow-heif, registered on first use (importing it
  costs ~35 ms, which commands that never open a picture should not pay).
* The pixel limit (site.toml ``[images] max_pixels``) replaces Pillow's decompression-bomb
  default (89 Mpx warning, 179 Mpx error), which rejects real 108 Mpx phone photos.
  Pillow still raises by itself at twice the limit, before anything is decoded; between
  one and two times the limit, :func:`check_pixel_limit` does (Pillow's warning is then
  silenced: the file is rejected by name instead). Importing this module sets the default
  limit for the whole process; :func:`pixel_limit` applies a site's own.
* :func:`eight_bit` brings every mode Pillow opens to L, LA, RGB, RGBA or CMYK, scaling
  16-bit data by its bit depth and turning a transparent colour key (PNG tRNS) into alpha.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import TYPE_CHECKING

from PIL import Image

from .config import DEFAULT_MAX_PIXELS

if TYPE_CHECKING:
    import numpy as np

LIMIT_SETTING = "site.toml [images] max_pixels"
WHITE = (255, 255, 255)
#: rows converted at a time from 16/32-bit data, so a big picture needs no float copy of itself
_ROWS = 512


class PixelLimitError(ValueError):
    """A picture has more pixels than the site allows."""


def _quiet_bomb_warning() -> None:
    # Between one and two times the limit Pillow only warns; check_pixel_limit rejects
    # those files by name, so the raw warning (with its site-packages path) is noise.
    warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


Image.MAX_IMAGE_PIXELS = DEFAULT_MAX_PIXELS
_quiet_bomb_warning()


@lru_cache(maxsize=1)
def register_plugins() -> None:
    """Let Pillow open HEIC/HEIF (once per process)."""
    from pillow_heif import register_heif_opener

    register_heif_opener()


def limit_message(pixels: int | None, limit: int) -> str:
    count = f"{pixels} pixels" if pixels is not None else "the picture"
    return f"{count} is over the limit of {limit} ({LIMIT_SETTING})"


def bomb_message(exc: Exception, limit: int | None = None) -> str:
    """The limit message for Pillow's own DecompressionBombError (raised at twice the limit)."""
    found = re.search(r"\((\d+) pixels\)", str(exc))
    return limit_message(int(found.group(1)) if found else None, limit or current_limit())


def current_limit() -> int:
    return int(Image.MAX_IMAGE_PIXELS or 0)


def check_pixel_limit(size: tuple[int, int]) -> None:
    limit = current_limit()
    pixels = max(1, size[0]) * max(1, size[1])
    if limit and pixels > limit:
        raise PixelLimitError(limit_message(pixels, limit))


@contextmanager
def pixel_limit(limit: int) -> Iterator[None]:
    """Pillow's MAX_IMAGE_PIXELS is ``limit`` inside the block (process-wide: every thread)."""
    _quiet_bomb_warning()  # again: a test's warnings.catch_warnings() may have reset it
    before = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = limit
    try:
        yield
    finally:
        Image.MAX_IMAGE_PIXELS = before


def eight_bit(im: Image.Image) -> Image.Image:
    """``im`` in a mode the resampler and the encoders take: L, LA, RGB, RGBA or CMYK.

    A transparent colour key (``info["transparency"]`` on 1, L, I;16, RGB or P pictures)
    becomes an alpha channel, so it is flattened like one. 16-bit data is scaled by its
    bit depth (/257), not by its brightest sample: a dark 16-bit scan stays dark.
    """
    mode = im.mode
    keyed = "transparency" in im.info
    if mode in ("RGBA", "LA", "CMYK"):
        return im
    if mode in ("L", "RGB", "1"):
        if keyed:
            return im.convert("LA" if mode != "RGB" else "RGBA")
        return im.convert("L") if mode == "1" else im
    if mode in ("P", "PA"):
        return im.convert("RGBA" if im.has_transparency_data else "RGB")
    if mode == "RGBa":
        return im.convert("RGBA")
    if mode == "La":
        return im.convert("LA")
    if mode.startswith("I") or mode == "F":
        return _grey_from_wide(im)
    return im.convert("RGB")  # YCbCr, LAB, HSV, RGBX


def flattened(im: Image.Image, background: tuple[int, int, int] = WHITE) -> Image.Image:
    """``im`` as RGB or L, any transparency composited onto ``background``."""
    im = eight_bit(im)
    if im.mode in ("RGBA", "LA"):
        rgba = im.convert("RGBA")
        flat = Image.new("RGB", im.size, background)
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    if im.mode == "CMYK":
        return im.convert("RGB")
    return im


def _grey_from_wide(im: Image.Image) -> Image.Image:
    """8-bit grey (with alpha from a colour key) from I;16*, I or F data."""
    import numpy as np  # only pictures of these modes need it

    data = np.asarray(im)
    scale, offset = _wide_scale(im.mode, data)
    grey = np.empty(data.shape, dtype=np.uint8)
    for top in range(0, data.shape[0], _ROWS):
        rows = data[top : top + _ROWS].astype(np.float32)
        np.nan_to_num(rows, copy=False)
        grey[top : top + _ROWS] = np.clip(np.rint((rows - offset) * scale), 0, 255)
    out = Image.fromarray(grey)
    key = im.info.get("transparency")
    if isinstance(key, int | float) and not isinstance(key, bool):
        alpha = np.where(data == key, 0, 255).astype(np.uint8)
        out = Image.merge("LA", (out, Image.fromarray(alpha)))
    return out


def _wide_scale(mode: str, data: np.ndarray) -> tuple[float, float]:
    """(scale, offset) taking the data's range to 0..255."""
    import numpy as np

    if mode.startswith("I;16"):
        return 255.0 / 65535.0, 0.0
    finite = data[np.isfinite(data)] if mode == "F" else data
    low = float(finite.min()) if finite.size else 0.0
    high = float(finite.max()) if finite.size else 0.0
    if mode == "F" and low >= 0.0 and high <= 1.0:
        return 255.0, 0.0  # the usual convention for float pictures: 0..1
    if mode == "I" and low >= 0 and high <= 65535:
        return 255.0 / 65535.0, 0.0  # 16-bit data held in 32 bits
    # 32-bit integers or floats of no known range (scientific data): stretch what is there.
    if high <= low:
        return 0.0, low
    return 255.0 / (high - low), low
