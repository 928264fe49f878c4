"""Photo-like scenes made with Pillow, and the edits that make near-duplicates of them.

Shared by tests/test_perceptual.py and benchmarks/bench_dupes.py. Everything is drawn
from a seeded random.Random (the grain too: Image.effect_noise is not seeded), so a seed
always makes the same picture.

A scene is a *family* backdrop (a tilted two-colour gradient: scenes of one family share
it, like shots against one sky or one studio wall) plus its own shapes, blur and grain.
Scenes of one family are the hard negatives: distinct pictures of the same overall tone.
"""

from __future__ import annotations

import io
import random
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageOps

SIZE = (640, 480)
# Real photographs from public test suites (see its README), beside the repository.
CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "files"
# Distinct pictures there (the corpus also holds copies of some: see REAL_COPIES).
REAL_PHOTOS = [
    "sigal/dir1/test1/flickr_jerquiaga_2394751088_cc-by-nc.jpg",
    "sigal/dir1/test1/CMB_Timeline300_no_WMAP.jpg",
    "sigal/dir2/Hubble Interacting Galaxy NGC 5257.jpg",
    "sigal/dir2/KeckObservatory20071020.jpg",
    "sigal/dir2/m57_the_ring_nebula-587px.jpg",
    "sigal/dir2/Hubble ultra deep field.jpg",
    "sigal/accentué/hélicoïde.jpg",
    "sigal/accentué/11.jpg",
    "sigal/dir1/test3/3.jpg",
    "sigal/webp/_MG_7808_lossy80.webp",
    "sigal/webp/_MG_7805_lossy80.webp",
    "sigal/iptcTest/1.jpg",
    "exif-orientation/Landscape_1.jpg",
    "exif-orientation/Portrait_1.jpg",
    "libvips/sample.jpg",
    "libvips/cd1.1.jpg",
    "libvips/cd2.1.jpg",
    "libvips/cd3.1.jpg",
    "libvips/cd4.1.jpg",
    "libvips/ultra-hdr.jpg",
    "pillow/flower2.jpg",
    "pillow/hopper.jpg",
    "pillow/sugarshack.mpo",
    "ljt/testorig.jpg",
    "ljt/shira_bird8.bmp",
]
# The same picture in several files of the corpus: other encodings, other metadata, or
# other EXIF orientations (which real_photo applies).
REAL_COPIES = [
    ["sigal/dir1/test2/21.tiff", "sigal/dir1/test3/3.jpg", "sigal/exifTest/21.jpg"],
    ["sigal/dir2/m57_the_ring_nebula-587px.jpg", "sigal/iptcTest/3.jpg"],
    [f"exif-orientation/Landscape_{k}.jpg" for k in range(9)],
    [f"exif-orientation/Portrait_{k}.jpg" for k in range(9)],
]


def real_photo(name: str, edge: int = 750) -> Image.Image:
    """A corpus picture as processing sees it: upright, at most ``edge`` px, RGB or L."""
    with Image.open(CORPUS / name) as im:
        upright = ImageOps.exif_transpose(im)
        upright.thumbnail((edge, edge), Image.Resampling.LANCZOS)
        return upright if upright.mode in ("RGB", "L") else upright.convert("RGB")


def scene(seed: int, family: int | None = None, size: tuple[int, int] = SIZE) -> Image.Image:
    """An RGB picture: the backdrop of ``family`` (default: its own) with shapes from ``seed``."""
    width, height = size
    backdrop = random.Random(f"family-{seed if family is None else family}")
    angle = backdrop.uniform(-40, 40)
    tints = [tuple(backdrop.randrange(30, 256) for _ in range(3)) for _ in range(2)]
    ramp = Image.linear_gradient("L").rotate(angle, resample=Image.Resampling.BILINEAR, expand=True)
    ramp = ramp.crop((64, 64, ramp.width - 64, ramp.height - 64)).resize(size)
    im = Image.composite(Image.new("RGB", size, tints[1]), Image.new("RGB", size, tints[0]), ramp)

    rng = random.Random(f"scene-{seed}")
    draw = ImageDraw.Draw(im)
    for _ in range(rng.randrange(6, 12)):
        x, y = rng.randrange(width), rng.randrange(height)
        r = rng.randrange(width // 16, width // 5)
        fill = tuple(rng.randrange(256) for _ in range(3))
        box = (x - r, y - r // 2 - rng.randrange(r), x + r, y + r)
        kind = rng.randrange(3)
        if kind == 0:
            draw.ellipse(box, fill=fill)
        elif kind == 1:
            draw.rectangle(box, fill=fill)
        else:
            points = [(x + rng.randrange(-r, r), y + rng.randrange(-r, r)) for _ in range(3)]
            draw.polygon(points, fill=fill)
    im = im.filter(ImageFilter.GaussianBlur(2))
    grain = Image.frombytes("L", size, rng.randbytes(width * height)).convert("RGB")
    return Image.blend(im, grain, 0.10)


def jpeg(im: Image.Image, quality: int) -> Image.Image:
    """``im`` saved as a JPEG at ``quality`` and decoded again."""
    buf = io.BytesIO()
    im.convert("RGB").save(buf, "JPEG", quality=quality)
    buf.seek(0)
    with Image.open(buf) as decoded:
        decoded.load()
        return decoded.copy()


def resized(im: Image.Image, factor: float = 0.5) -> Image.Image:
    size = (round(im.width * factor), round(im.height * factor))
    return im.resize(size, Image.Resampling.BICUBIC)


def cropped(im: Image.Image, fraction: float = 0.03, centred: bool = True) -> Image.Image:
    """``fraction`` of each edge cut off (centred), or of the left and top edges only."""
    dx, dy = round(im.width * fraction), round(im.height * fraction)
    if centred:
        return im.crop((dx, dy, im.width - dx, im.height - dy))
    return im.crop((dx, dy, im.width, im.height))


def brightened(im: Image.Image, factor: float = 1.15) -> Image.Image:
    return ImageEnhance.Brightness(im).enhance(factor)


# The edits a near-duplicate detector must see through, by name.
VARIANTS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "resized-50%": lambda im: resized(im, 0.5),
    "jpeg-q30": lambda im: jpeg(im, 30),
    "cropped-3%": lambda im: cropped(im, 0.03),
    "cropped-3%-corner": lambda im: cropped(im, 0.03, centred=False),
    "brightened-15%": lambda im: brightened(im, 1.15),
    "darkened-15%": lambda im: brightened(im, 0.85),
    "resized+jpeg-q50": lambda im: jpeg(resized(im, 0.6), 50),
}
