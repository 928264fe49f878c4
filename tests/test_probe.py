"""Probing: truncation judged by decoding, odd but whole JPEGs, odd modes, the pixel limit."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from cvgallery.pixels import pixel_limit
from cvgallery.probe import probe, probe_data


def jpeg_bytes(**save_kw: object) -> bytes:
    buf = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.effect_noise((96, 64), 80).convert("RGB").save(
        buf, "JPEG", exif=exif.tobytes(), **save_kw
    )
    return buf.getvalue()


@pytest.mark.parametrize(
    "save_kw",
    [{}, {"progressive": True}, {"quality": 95, "optimize": True}, {"subsampling": 0}],
)
def test_every_prefix_of_a_jpeg_is_caught(save_kw: dict[str, object]) -> None:
    data = jpeg_bytes(**save_kw)
    assert probe_data("whole.jpeg", data).ok
    assert probe_data("t.jpeg", data + b"trailing bytes after EOI are allowed").ok
    accepted = [n for n in range(1, len(data)) if probe_data("cut.jpeg", data[:n]).ok]
    assert accepted == []


def test_truncated_jpeg_is_invalid_with_a_reason() -> None:
    data = jpeg_bytes()
    result = probe_data("cut.jpeg", data[: len(data) - 3])
    assert not result.ok and result.reason.startswith("invalid: truncated file")


def test_orientation_swaps_displayed_size() -> None:
    result = probe_data("r.jpeg", jpeg_bytes())
    assert (result.width, result.height, result.mime_type) == (64, 96, "image/jpeg")


@pytest.mark.parametrize(
    ("mode", "fmt", "mime"),
    [
        ("CMYK", "JPEG", "image/jpeg"),
        ("P", "PNG", "image/png"),
        ("I;16", "PNG", "image/png"),
        ("RGBA", "WEBP", "image/webp"),
        ("LA", "PNG", "image/png"),
    ],
)
def test_odd_modes_are_valid_pictures(tmp_path, mode: str, fmt: str, mime: str) -> None:
    path = tmp_path / f"odd.{fmt.lower()}"
    Image.new(mode, (20, 10)).save(path, fmt)
    result = probe(path)
    assert result.ok, result.reason
    assert (result.width, result.height, result.mime_type) == (20, 10, mime)


def test_truncated_png_and_garbage(tmp_path) -> None:
    buf = io.BytesIO()
    Image.effect_noise((64, 64), 50).convert("RGB").save(buf, "PNG")
    data = buf.getvalue()
    assert "invalid" in probe_data("p.png", data[: len(data) // 2]).reason
    assert probe_data("g.jpeg", b"\xff\xd8\xff\xe0 not really").reason.startswith("invalid")
    assert probe_data("e.png", b"").reason == "invalid: empty file (0 bytes)"


def test_pictures_over_the_pixel_limit_are_rejected_naming_it(tmp_path) -> None:
    path = tmp_path / "big.png"
    Image.new("RGB", (50, 50)).save(path)
    with pixel_limit(2000):  # 2500 pixels: over the limit, under Pillow's 2x error
        reason = probe(path).reason
    assert reason == (
        "invalid: 2500 pixels is over the limit of 2000 (site.toml [images] max_pixels)"
    )
    with pixel_limit(1000):  # over twice the limit: Pillow refuses before decoding
        reason = probe(path).reason
    assert reason == (
        "invalid: 2500 pixels is over the limit of 1000 (site.toml [images] max_pixels)"
    )
    with pixel_limit(2500):
        assert probe(path).ok


def segment(data: bytes, marker: int) -> tuple[int, int]:
    """(start, end) of the first marker segment of that kind in a JPEG."""
    start = data.index(bytes([0xFF, marker]), 2)
    return start, start + 2 + int.from_bytes(data[start + 2 : start + 4], "big")


def test_junk_between_segments_decodes_and_is_accepted() -> None:
    """libjpeg skips stray bytes before a marker (with a warning): the file is whole."""
    buf = io.BytesIO()
    Image.effect_noise((96, 64), 80).convert("RGB").save(buf, "JPEG", comment=b"note")
    data = buf.getvalue()
    _, end = segment(data, 0xFE)  # after the COM segment
    odd = data[:end] + b"junk!" + data[end:]
    result = probe_data("junk.jpeg", odd)
    assert result.ok, result.reason
    assert (result.width, result.height) == (96, 64)
    assert [n for n in range(1, len(odd)) if probe_data("c.jpeg", odd[:n]).ok] == []


@pytest.mark.parametrize(("mode", "marker"), [("CMYK", 0xEE), ("RGB", 0xFE)])
def test_a_segment_length_one_short_decodes_and_is_accepted(mode: str, marker: int) -> None:
    """An APP14 (Adobe, written for CMYK) or COM length one byte short: the last byte is
    then a stray byte before the next marker, which the decoders skip."""
    buf = io.BytesIO()
    Image.new(mode, (48, 32), (10, 200, 30, 0)[: len(mode)]).save(buf, "JPEG", comment=b"x")
    data = bytearray(buf.getvalue())
    start, end = segment(bytes(data), marker)
    assert data[end - 1] != 0xFF  # the stray byte is no marker prefix
    data[start + 2 : start + 4] = (end - start - 3).to_bytes(2, "big")
    result = probe_data("short.jpeg", bytes(data))
    assert result.ok, result.reason
    with Image.open(io.BytesIO(bytes(data))) as im:  # and Pillow reads every pixel
        im.load()
        assert im.size == (48, 32)

