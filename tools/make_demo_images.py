"""Generate the demo site's sample pictures in art/upstream/ (procedural, CC0).

Run from the repository root: python tools/make_demo_images.py
Deterministic: the same files (same bytes) on every run, so git sees no change.
"""

from __future__ import annotations

import math
import random
import sys
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

from cvgallery import store

Color = tuple[int, int, int]


def lerp(a: Color, b: Color, t: float) -> Color:
    return (
        round(a[0] + (b[0] - a[0]) * t),
        round(a[1] + (b[1] - a[1]) * t),
        round(a[2] + (b[2] - a[2]) * t),
    )


def vertical_gradient(size: tuple[int, int], top: Color, bottom: Color) -> Image.Image:
    w, h = size
    im = Image.new("RGB", (1, h))
    for y in range(h):
        im.putpixel((0, y), lerp(top, bottom, y / max(1, h - 1)))
    return im.resize((w, h))


def ridge(rng: random.Random, w: int, base: float, rough: float) -> list[tuple[float, float]]:
    """A mountain skyline: a sum of a few sines with random phases."""
    waves = [(rng.uniform(0.5, 4), rng.uniform(0, 6.28), rng.uniform(0.3, 1)) for _ in range(5)]
    pts = []
    for x in range(0, w + 8, 8):
        y = base + sum(a * rough * math.sin(f * x / w * 6.28 + p) for f, p, a in waves) / 3
        pts.append((x, y))
    return pts


def landscape(
    size: tuple[int, int],
    seed: int,
    sky: Color,
    horizon: Color,
    hills: list[Color],
    sun: Color | None,
) -> Image.Image:
    rng = random.Random(seed)
    w, h = size
    im = vertical_gradient(size, sky, horizon)
    draw = ImageDraw.Draw(im)
    if sun:
        r = min(w, h) * rng.uniform(0.06, 0.1)
        cx, cy = w * rng.uniform(0.2, 0.8), h * rng.uniform(0.2, 0.4)
        glow = Image.new("L", size, 0)
        ImageDraw.Draw(glow).ellipse((cx - r * 3, cy - r * 3, cx + r * 3, cy + r * 3), fill=90)
        glow = glow.filter(ImageFilter.GaussianBlur(r))
        im.paste(Image.new("RGB", size, sun), mask=glow)
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=sun)
    for i, color in enumerate(hills):
        base = h * (0.45 + 0.5 * (i + 1) / (len(hills) + 1))
        pts = ridge(rng, w, base, h * 0.12 / (i + 1))
        draw.polygon([*pts, (w, h), (0, h)], fill=color)
    return im


def circles(size: tuple[int, int], seed: int, bg: Color, palette: list[Color]) -> Image.Image:
    rng = random.Random(seed)
    im = Image.new("RGB", size, bg)
    layer = Image.new("RGBA", size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    w, h = size
    for _ in range(28):
        r = rng.uniform(0.04, 0.22) * min(w, h)
        x, y = rng.uniform(0, w), rng.uniform(0, h)
        draw.ellipse(
            (x - r, y - r, x + r, y + r), fill=(*rng.choice(palette), rng.randint(110, 220))
        )
    im.paste(layer, mask=layer)
    return im


def stripes(size: tuple[int, int], seed: int, palette: list[Color]) -> Image.Image:
    rng = random.Random(seed)
    w, h = size
    im = Image.new("RGB", size, palette[0])
    draw = ImageDraw.Draw(im)
    x = -h
    while x < w:
        width = rng.uniform(0.03, 0.12) * w
        draw.polygon(
            [(x, h), (x + h * 0.6, 0), (x + h * 0.6 + width, 0), (x + width, h)],
            fill=rng.choice(palette),
        )
        x += width
    return im.filter(ImageFilter.GaussianBlur(1))


def radial(size: tuple[int, int], inner: Color, outer: Color) -> Image.Image:
    w, h = size
    mask = Image.radial_gradient("L").resize((w, h))
    return Image.composite(Image.new("RGB", size, outer), Image.new("RGB", size, inner), mask)


def grid_tiles(size: tuple[int, int], seed: int, palette: list[Color]) -> Image.Image:
    rng = random.Random(seed)
    w, h = size
    im = Image.new("RGB", size, (245, 240, 230))
    draw = ImageDraw.Draw(im)
    cell = w // 8
    for gx in range(0, w, cell):
        for gy in range(0, h, cell):
            c = rng.choice(palette)
            kind = rng.randint(0, 3)
            box = (gx + 4, gy + 4, gx + cell - 4, gy + cell - 4)
            if kind == 0:
                draw.rectangle(box, fill=c)
            elif kind == 1:
                draw.ellipse(box, fill=c)
            elif kind == 2:
                draw.pieslice(
                    box, rng.choice([0, 90, 180, 270]), rng.choice([90, 180, 270]), fill=c
                )
            else:
                draw.polygon(
                    [(box[0], box[3]), ((box[0] + box[2]) / 2, box[1]), (box[2], box[3])], fill=c
                )
    return im


PICTURES: list[tuple[str, Callable[[], Image.Image]]] = [
    (
        "alpine-dawn",
        lambda: landscape(
            (960, 640),
            1,
            (255, 183, 130),
            (255, 228, 196),
            [(92, 84, 120), (60, 56, 90), (34, 32, 54)],
            (255, 244, 214),
        ),
    ),
    (
        "blue-ridge",
        lambda: landscape(
            (960, 540),
            2,
            (110, 160, 220),
            (205, 225, 240),
            [(120, 150, 190), (80, 110, 150), (50, 75, 110), (28, 45, 70)],
            None,
        ),
    ),
    (
        "desert-dusk",
        lambda: landscape(
            (720, 960),
            3,
            (60, 40, 100),
            (250, 140, 90),
            [(170, 80, 60), (110, 50, 40)],
            (255, 210, 150),
        ),
    ),
    (
        "green-valley",
        lambda: landscape(
            (960, 720),
            4,
            (150, 200, 240),
            (230, 240, 250),
            [(120, 170, 110), (70, 130, 80), (40, 90, 60)],
            (255, 255, 230),
        ),
    ),
    (
        "night-peaks",
        lambda: landscape(
            (960, 400),
            5,
            (10, 14, 40),
            (40, 50, 100),
            [(30, 36, 70), (16, 20, 44)],
            (240, 240, 255),
        ),
    ),
    (
        "bubbles",
        lambda: circles(
            (800, 800),
            6,
            (18, 24, 48),
            [(255, 99, 132), (54, 162, 235), (255, 206, 86), (75, 192, 192)],
        ),
    ),
    (
        "coral-circles",
        lambda: circles(
            (640, 960), 7, (250, 236, 220), [(240, 110, 90), (250, 170, 120), (60, 120, 140)]
        ),
    ),
    (
        "sunset-stripes",
        lambda: stripes(
            (960, 600), 8, [(255, 94, 77), (255, 165, 0), (255, 206, 84), (140, 40, 90)]
        ),
    ),
    (
        "ocean-stripes",
        lambda: stripes(
            (600, 900), 9, [(0, 70, 110), (0, 120, 150), (80, 180, 190), (200, 235, 230)]
        ),
    ),
    ("glow", lambda: radial((900, 900), (255, 230, 160), (40, 10, 60))),
    (
        "tiles",
        lambda: grid_tiles(
            (960, 720), 10, [(230, 57, 70), (29, 53, 87), (69, 123, 157), (168, 218, 220)]
        ),
    ),
    (
        "autumn-hills",
        lambda: landscape(
            (960, 600),
            11,
            (250, 210, 150),
            (255, 240, 210),
            [(200, 120, 60), (160, 80, 40), (100, 50, 30)],
            None,
        ),
    ),
]


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    total = 0
    for name, make in PICTURES:
        path = out / f"{name}.jpeg"
        # atomic: a build or serve running meanwhile never registers a half-written picture
        with store.atomic_path(path) as tmp:
            make().save(tmp, "JPEG", quality=82, optimize=True, progressive=True)
        total += path.stat().st_size
        print(f"{path}  {path.stat().st_size // 1024} KiB")
    print(f"{len(PICTURES)} pictures, {total / 1024 / 1024:.2f} MiB")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("art/upstream"))
