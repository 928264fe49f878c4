"""The pixel limit: a site.toml setting (not Pillow's 89 Mpx default), named when a file is
over it; a 108 Mpx phone photo is accepted and processed in bounded memory."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from PIL import Image

from cvgallery.config import DEFAULT_MAX_PIXELS, parse_config
from cvgallery.errors import ConfigError

PHONE = (12000, 9000)  # 108 Mpx: 324 MB as decoded RGB


def png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG that says it is width x height (its pixel data is never reached)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    data = chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + data)
    return path


def test_the_setting_is_validated(tmp_path: Path) -> None:
    assert parse_config(tmp_path, {}).max_pixels == DEFAULT_MAX_PIXELS == 250_000_000
    config = parse_config(tmp_path, {"images": {"max_pixels": 400_000_000}})
    assert config.max_pixels == 400_000_000
    for bad in (True, 0, -5, 1.5, "250000000"):
        with pytest.raises(ConfigError, match=r"images\.max_pixels must be an integer >= 1"):
            parse_config(tmp_path, {"images": {"max_pixels": bad}})
    with pytest.raises(ConfigError, match="unknown key images.max_pixel"):
        parse_config(tmp_path, {"images": {"max_pixel": 5}})


def test_files_over_the_limit_are_rejected_naming_it(
    site_root: Path, tmp_path: Path, cli_run
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    png_header_only(folder / "huge.png", 20000, 15000)
    Image.new("RGB", (50, 50), (9, 9, 9)).save(folder / "small.png")
    run = cli_run("add", folder, "--root", site_root)
    out = run.stdout + run.stderr
    assert (
        f"rejected huge  {folder / 'huge.png'}: invalid: 300000000 pixels is over the limit "
        "of 250000000 (site.toml [images] max_pixels)\n"
    ) in out
    assert f"added small  {folder / 'small.png'}" in out

    (site_root / "site.toml").write_text("[images]\nmax_pixels = 2000\n", encoding="utf-8")
    Image.new("RGB", (50, 50), (7, 7, 7)).save(folder / "other.png")
    run = cli_run("add", folder / "other.png", "--root", site_root)
    assert (
        "invalid: 2500 pixels is over the limit of 2000 (site.toml [images] max_pixels)"
        in run.stdout + run.stderr
    )


MAKE_PHONE_PHOTO = """
import sys
from PIL import Image
im = Image.new("RGB", (12000, 9000), (30, 90, 200))
im.paste((230, 40, 40), (0, 0, 6000, 4500))  # a red quarter at the top left
im.save(sys.argv[1], quality=85)
"""


@pytest.fixture(scope="module")
def phone_photo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 12000x9000 JPEG, made in a child process (so this one never holds 324 MB)."""
    path = tmp_path_factory.mktemp("phone") / "PXL_108mp.jpg"
    subprocess.run([sys.executable, "-c", MAKE_PHONE_PHOTO, str(path)], check=True, timeout=120)
    return path


# Linux records the memory high-water mark of the process image an exec replaces, so a
# child spawned straight from this (large, long-running) pytest process would report
# pytest's own size. A small launcher spawns the command and reports its child's peak.
LAUNCHER = """
import os, subprocess, sys
proc = subprocess.Popen([sys.executable, "-m", "cvgallery", *sys.argv[1:]])
_, status, usage = os.wait4(proc.pid, 0)
print(f"\\nPEAK-KB {usage.ru_maxrss} STATUS {os.waitstatus_to_exitcode(status)}", flush=True)
"""


def peak_rss_mb(*args: str | os.PathLike[str]) -> tuple[int, float, str]:
    """Run `cvgallery ARGS`; (exit status, peak RSS in MB of it or any of its workers, output).

    wait4's ru_maxrss is the largest of the process and the children it waited for.
    """
    done = subprocess.run(
        [sys.executable, "-c", LAUNCHER, *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=600,
    )
    out, _, last = done.stdout.rstrip().rpartition("\n")
    _, peak_kb, _, status = last.split()
    return int(status), int(peak_kb) / 1024, out + "\n"


def test_a_108_megapixel_photo_is_added_and_processed_in_bounded_memory(
    site_root: Path, phone_photo: Path
) -> None:
    full_decode_mb = PHONE[0] * PHONE[1] * 3 / 2**20  # ~309 MiB
    status, add_mb, out = peak_rss_mb("add", "--approve", phone_photo, "--root", site_root)
    assert status == 0, out
    assert f"added PXL_108mp  {phone_photo}" in out
    status, process_mb, out = peak_rss_mb("process", "-j", "2", "--root", site_root)
    assert status == 0 and "failed 0" in out, out
    # add probes with a 1/8-scale draft decode (~5 MB of pixels; Python and Pillow are
    # ~50-80 MB). process makes display sizes up to 2400 px too, from a 1/4-scale draft
    # decode (3000x2250, ~20 MB) and its resized copies: still far below a full decode.
    assert add_mb < full_decode_mb / 3, add_mb
    assert process_mb < full_decode_mb / 2, process_mb
    for stage in ("web-optimized", "thumbnails-small"):
        with Image.open(site_root / "art" / stage / "PXL_108mp.jpeg") as im:
            assert im.size == (400, 300)
            rgb = im.convert("RGB")
            top_left, bottom_right = rgb.getpixel((100, 75)), rgb.getpixel((300, 225))
        assert all(abs(a - b) < 12 for a, b in zip(top_left, (230, 40, 40), strict=True))
        assert all(abs(a - b) < 12 for a, b in zip(bottom_right, (30, 90, 200), strict=True))
