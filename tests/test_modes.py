"""Every pixel mode Pillow opens is processed into the right colours: 16-bit scaled by its
bit depth, transparent colour keys honoured like alpha (flattened on white in a JPEG),
premultiplied alpha, CMYK, YCbCr, LAB, 1-bit, palettes, 32-bit integers and floats."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from process_helpers import BASE_TOML

from cvgallery.dupes import hash_file
from cvgallery.perceptual import hash_to_hex, perceptual_hash
from cvgallery.pixels import eight_bit, flattened
from cvgallery.stages.blurhash import encode_image

W, H = 64, 48
WHITE = (255, 255, 255)


_DEEP = {"I;16": "<u2", "I;16L": "<u2", "I;16B": ">u2", "I;16N": "=u2"}


def halves(mode: str, left: object, right: object) -> Image.Image:
    """A picture whose left half is ``left`` and right half ``right`` (mode values)."""
    if mode in _DEEP:  # Pillow's paste() does not fill 16-bit pictures
        data = np.full((H, W), left, dtype=_DEEP[mode])
        data[:, W // 2 :] = right
        return Image.frombytes(mode, (W, H), data.tobytes())
    im = Image.new(mode, (W, H), left)  # type: ignore[arg-type]
    im.paste(right, (W // 2, 0, W, H))  # type: ignore[arg-type]
    return im


def grey(v: int) -> tuple[int, int, int]:
    return (v, v, v)


def keyed(im: Image.Image, key: object) -> Image.Image:
    im.info["transparency"] = key
    return im


def premultiplied_tiff(im: Image.Image) -> bytes:
    """LA saved as TIFF with ExtraSamples = 1 (associated alpha): Pillow opens it as La."""
    buf = io.BytesIO()
    im.save(buf, "TIFF")
    unassociated = b"\x52\x01\x03\x00\x01\x00\x00\x00\x02\x00"
    assert buf.getvalue().count(unassociated) == 1
    return buf.getvalue().replace(unassociated, unassociated[:8] + b"\x01\x00")


def palette(with_alpha: bool) -> Image.Image:
    im = halves("P", 0, 1)
    im.putpalette([220, 20, 20, 20, 20, 220])
    if with_alpha:
        pa = im.convert("PA")
        pa.putalpha(halves("L", 0, 255))
        return pa
    return keyed(im, 0)


def lab(lightness: int) -> tuple[int, int, int]:
    rgb = Image.new("LAB", (1, 1), (lightness, 128, 128)).convert("RGB").getpixel((0, 0))
    return rgb  # type: ignore[return-value]


# name -> (how the file is made, expected left colour, expected right colour)
Case = tuple[Callable[[Path], object], tuple[int, int, int], tuple[int, int, int]]
CASES: dict[str, Case] = {
    "bilevel.png": (lambda p: halves("1", 0, 1).save(p), grey(0), WHITE),
    "grey-key.png": (lambda p: keyed(halves("L", 50, 120), 50).save(p), WHITE, grey(120)),
    "rgb-key.png": (
        lambda p: keyed(halves("RGB", (255, 0, 0), (0, 0, 255)), (255, 0, 0)).save(p),
        WHITE,
        (0, 0, 255),
    ),
    "palette-key.png": (lambda p: palette(False).save(p), WHITE, (20, 20, 220)),
    "palette-alpha.tif": (lambda p: palette(True).save(p), WHITE, (20, 20, 220)),
    "grey-alpha.png": (lambda p: halves("LA", (0, 0), (0, 255)).save(p), WHITE, grey(0)),
    "premultiplied.tif": (
        lambda p: p.write_bytes(premultiplied_tiff(halves("LA", (0, 0), (80, 255)))),
        WHITE,
        grey(80),
    ),
    "deep.png": (lambda p: halves("I;16", 16384, 49152).save(p), grey(64), grey(191)),
    # 16-bit samples that all happen to be <= 255 are near black, not full range.
    "deep-dark.png": (lambda p: halves("I;16", 0, 255).save(p), grey(0), grey(1)),
    "deep-big-endian.tif": (lambda p: halves("I;16B", 16384, 49152).save(p), grey(64), grey(191)),
    "deep-key.png": (
        lambda p: keyed(halves("I;16", 16384, 49152), 16384).save(p),
        WHITE,
        grey(191),
    ),
    "int32.tif": (lambda p: halves("I", 16384, 49152).save(p), grey(64), grey(191)),
    "float.tif": (lambda p: halves("F", 0.25, 0.75).save(p), grey(64), grey(191)),
    "cmyk.jpg": (
        lambda p: halves("CMYK", (0, 0, 0, 0), (0, 255, 255, 0)).save(p, quality=95),
        WHITE,
        (255, 0, 0),
    ),
    "cmyk.tif": (lambda p: halves("CMYK", (0, 0, 0, 0), (0, 255, 255, 0)).save(p), WHITE, (255, 0, 0)),
    "ycbcr.tif": (
        lambda p: halves("RGB", (200, 40, 40), (40, 40, 200)).convert("YCbCr").save(p),
        (200, 40, 40),
        (40, 40, 200),
    ),
    "lab.tif": (lambda p: halves("LAB", (60, 128, 128), (200, 128, 128)).save(p), lab(60), lab(200)),
}


def test_every_mode_is_processed_into_the_right_colours(
    site_root: Path, tmp_path: Path, cli_run
) -> None:
    (site_root / "site.toml").write_text(BASE_TOML, encoding="utf-8")
    folder = tmp_path / "modes"
    folder.mkdir()
    for name, (make, _, _) in CASES.items():
        make(folder / name)
    opened = {}
    for name in CASES:
        with Image.open(folder / name) as im:
            opened[name] = im.mode
    assert opened == {  # the files hold the modes this test is about
        "bilevel.png": "1", "grey-key.png": "L", "rgb-key.png": "RGB", "palette-key.png": "P",
        "palette-alpha.tif": "PA", "grey-alpha.png": "LA", "premultiplied.tif": "La",
        "deep.png": "I;16", "deep-dark.png": "I;16", "deep-big-endian.tif": "I;16B",
        "deep-key.png": "I;16", "int32.tif": "I", "float.tif": "F", "cmyk.jpg": "CMYK",
        "cmyk.tif": "CMYK", "ycbcr.tif": "YCbCr", "lab.tif": "LAB",
    }  # fmt: skip

    added = cli_run("add", "--approve", folder, "--root", site_root)
    assert added.returncode == 0, added.stdout + added.stderr
    made = cli_run("process", "--root", site_root)
    assert made.returncode == 0, made.stdout + made.stderr
    assert "failed 0" in made.stdout + made.stderr

    wrong = {}
    for name, (_, left, right) in CASES.items():
        stem = Path(name).stem
        for stage in ("web-optimized", "thumbnails-small"):
            [out] = (site_root / "art" / stage).glob(f"{stem}.*")
            with Image.open(out) as im:
                rgb = im.convert("RGB")
                got = (rgb.getpixel((W // 4, H // 2)), rgb.getpixel((3 * W // 4, H // 2)))
            if not all(near(g, e) for g, e in zip(got, (left, right), strict=True)):
                wrong[f"{stage}/{name}"] = (got, (left, right))
    assert wrong == {}


def near(a: object, b: tuple[int, ...], tolerance: int = 10) -> bool:
    return all(abs(x - y) <= tolerance for x, y in zip(a, b, strict=True))  # type: ignore[call-overload]


@pytest.mark.parametrize(
    ("im", "mode", "left", "right"),
    [
        (halves("RGBA", (200, 0, 0, 128), (0, 0, 200, 255)).convert("RGBa"), "RGBA",
         (200, 0, 0, 128), (0, 0, 200, 255)),
        (halves("LA", (90, 128), (30, 255)).convert("La"), "LA", (90, 128), (30, 255)),
        (halves("RGB", (10, 20, 30), (40, 50, 60)).convert("RGBX"), "RGB", (10, 20, 30), (40, 50, 60)),
        (halves("RGB", (200, 40, 40), (40, 200, 40)).convert("HSV"), "RGB", (200, 40, 40), (40, 200, 40)),
        (halves("I;16L", 257, 65535), "L", (1,), (255,)),
        (halves("I;16N", 257 * 100, 0), "L", (100,), (0,)),
        (halves("I", -5, 70000), "L", (0,), (255,)),  # out of 16-bit range: stretched
        (halves("F", -1.0, 3.0), "L", (0,), (255,)),
        (keyed(halves("1", 0, 1), 255), "LA", (0, 255), (255, 0)),
    ],
)  # fmt: skip
def test_eight_bit(im: Image.Image, mode: str, left: tuple, right: tuple) -> None:
    out = eight_bit(im)
    assert out.mode == mode
    got_left, got_right = out.getpixel((W // 4, H // 2)), out.getpixel((3 * W // 4, H // 2))
    as_tuple = [g if isinstance(g, tuple) else (g,) for g in (got_left, got_right)]
    assert near(as_tuple[0], left, 2) and near(as_tuple[1], right, 2), as_tuple


def test_sixteen_bit_is_converted_a_band_at_a_time_without_a_float_copy() -> None:
    tall = Image.fromarray(np.arange(2000 * 3, dtype=np.uint16).reshape(2000, 3) * 10)
    assert tall.mode == "I;16"
    out = np.asarray(eight_bit(tall))
    expected = np.rint(np.arange(2000 * 3).reshape(2000, 3) * 10 * 255 / 65535)
    assert np.array_equal(out, expected.astype(np.uint8))


def test_blurhash_and_perceptual_hash_read_sixteen_bit_like_its_eight_bit_twin(
    tmp_path: Path,
) -> None:
    deep = Image.linear_gradient("L").resize((96, 64))
    deep16 = np.asarray(deep).astype(">u2") * 257  # Pillow's convert("I;16B") clips
    path = tmp_path / "deep.tif"
    Image.frombytes("I;16B", deep.size, deep16.tobytes()).save(path)
    with Image.open(path) as im:
        assert im.mode == "I;16B"
        assert encode_image(im, 4, 3) == encode_image(deep.convert("RGB"), 4, 3)
    assert hash_file(path) == hash_to_hex(perceptual_hash(deep))
    key = keyed(halves("RGB", (255, 0, 0), (0, 0, 255)), (255, 0, 0))
    assert encode_image(key, 4, 3) == encode_image(flattened(key), 4, 3)
    assert flattened(key).getpixel((1, 1)) == WHITE
