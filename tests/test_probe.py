"""Probing: JPEG structure walk against every truncation, and odd but valid pictures."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from cvgallery.probe import jpeg_structure_problem, probe, probe_data


def jpeg_bytes(**save_kw: object) -> bytes:
    buf = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.effect_noise((96, 64), 80).convert("RGB").save(
        buf, "JPEG", exif=exif.tobytes(), **save_kw
    )
    return buf.getvalue()


@pytest.mark.parametrize("save_kw", [{}, {"progressive": True}, {"quality": 95, "optimize": True}])
def test_every_prefix_of_a_jpeg_is_caught(save_kw: dict[str, object]) -> None:
    data = jpeg_bytes(**save_kw)
    assert jpeg_structure_problem(data) is None
    assert jpeg_structure_problem(data + b"trailing bytes after EOI are allowed") is None
    accepted = [n for n in range(len(data)) if jpeg_structure_problem(data[:n]) is None]
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


def test_decompression_bomb_is_rejected_not_decoded(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    path = tmp_path / "big.png"
    Image.new("RGB", (50, 50)).save(path)
    assert "decompression bomb" in probe(path).reason
