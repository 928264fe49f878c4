"""Helpers for the processing tests: site.toml stages, catalogued images, ICC profiles, videos."""

from __future__ import annotations

import itertools
import json
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

from PIL import Image

from cvgallery.catalog import Catalog
from cvgallery.ingest import add_files

_COUNTER = itertools.count(1)
# These tests count the jobs of the 400-px stages; the display sizes (display-*) have their
# own tests (test_display_sizes.py), so the sites here make none.
NO_DISPLAY = "display = { widths = [], formats = [] }\n"
BASE_TOML = NO_DISPLAY + "[review]\nauto_approve = true\n"


def configure(root: Path, extra: str = "") -> None:
    """Rewrite site.toml: auto-approve plus ``extra`` TOML."""
    (root / "site.toml").write_text(BASE_TOML + extra, encoding="utf-8")


def open_catalog(root: Path) -> Catalog:
    return Catalog.open(root)


def add(root: Path, *paths: Path) -> list[str]:
    with Catalog.open(root) as catalog:
        results = add_files(catalog, paths, approve=True)
    assert all(r.status == "added" for r in results), [r.line() for r in results]
    return [str(r.image_id) for r in results]


def photo(path: Path, size: tuple[int, int] = (1200, 800), **save: Any) -> Path:
    """A picture with structure (a gradient and a block), so resizes are checkable."""
    im = Image.linear_gradient("L").resize(size).convert("RGB")
    quarter = (0, 0, size[0] // 4, size[1] // 4)
    im.paste((255, 0, 0), quarter)  # red block at the top left
    n = next(_COUNTER)  # distinct content per call: no accidental duplicates
    mark = ((n * 67) % 256, (n * 151) % 256, (n * 29) % 256)
    im.paste(mark, (size[0] - 16, size[1] - 16, size[0], size[1]))
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path, **save)
    return path


def artifacts(root: Path, stage: str) -> dict[str, dict[str, Any]]:
    with Catalog.open(root) as catalog:
        rows = catalog.conn.execute("SELECT * FROM artifacts WHERE stage = ?", (stage,))
        return {r["image_id"]: dict(r) for r in rows}


def params(row: dict[str, Any]) -> dict[str, Any]:
    return json.loads(row["processing_params"])


def jobs_of(root: Path) -> list[dict[str, Any]]:
    with Catalog.open(root) as catalog:
        return [dict(r) for r in catalog.conn.execute("SELECT * FROM jobs ORDER BY id")]


def write_script(folder: Path, name: str, body: str) -> list[str]:
    """A python script usable as a command stage: returns its argv prefix."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("import sys, shutil, time\n" + body, encoding="utf-8")
    return [sys.executable, str(path)]


def toml_command(stage: str, argv: list[str], **kw: Any) -> str:
    lines = [f"[stages.{stage}]", f"command = {json.dumps(argv)}"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in kw.items()]
    return "\n".join(lines) + "\n"


def make_video(
    path: Path,
    seconds: float = 2.0,
    size: str = "160x120",
    rate: int = 10,
    metadata: dict[str, str] | None = None,
) -> Path:
    """A real video (ffmpeg's test pattern); ``metadata`` tags are written into it."""
    import imageio_ffmpeg

    tags = [arg for k, v in (metadata or {}).items() for arg in ("-metadata", f"{k}={v}")]

    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            imageio_ffmpeg.get_ffmpeg_exe(),
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"testsrc=duration={seconds}:size={size}:rate={rate}",
            "-pix_fmt",
            "yuv420p",
            *tags,
            str(path),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return path


# -- a hand-made ICC v2 RGB profile whose red and green primaries are swapped ---------------
# An image tagged with it that stores (255, 0, 0) means sRGB green: a converter that honours
# the profile turns it green, one that ignores it leaves it red.

_D50 = (0.9642, 1.0, 0.8249)
_PRIMARIES = {
    "r": (0.4361, 0.2225, 0.0139),
    "g": (0.3851, 0.7169, 0.0971),
    "b": (0.1431, 0.0606, 0.7141),
}


def _s15(v: float) -> bytes:
    return struct.pack(">i", round(v * 65536))


def _xyz(v: tuple[float, float, float]) -> bytes:
    return b"XYZ \0\0\0\0" + b"".join(_s15(c) for c in v)


def _curve(gamma: float) -> bytes:
    return b"curv\0\0\0\0" + struct.pack(">IH", 1, round(gamma * 256)) + b"\0\0"


def _desc(text: str) -> bytes:
    ascii_ = text.encode("ascii") + b"\0"
    return (
        b"desc\0\0\0\0"
        + struct.pack(">I", len(ascii_))
        + ascii_
        + struct.pack(">II", 0, 0)
        + struct.pack(">HB", 0, 0)
        + b"\0" * 67
    )


def swapped_icc(description: str = "cvgallery test swapped RG") -> bytes:
    tags = [
        (b"desc", _desc(description)),
        (b"wtpt", _xyz(_D50)),
        (b"rXYZ", _xyz(_PRIMARIES["g"])),
        (b"gXYZ", _xyz(_PRIMARIES["r"])),
        (b"bXYZ", _xyz(_PRIMARIES["b"])),
        (b"rTRC", _curve(2.2)),
        (b"gTRC", _curve(2.2)),
        (b"bTRC", _curve(2.2)),
        (b"cprt", b"text\0\0\0\0public domain\0\0\0"),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, data = b"", b""
    for sig, body in tags:
        while len(body) % 4:
            body += b"\0"
        table += sig + struct.pack(">II", offset + len(data), len(body))
        data += body
    size = offset + len(data)
    header = (
        struct.pack(">I", size)
        + b"lcms"
        + struct.pack(">I", 0x02100000)
        + b"mntr"
        + b"RGB "
        + b"XYZ "
        + b"\0" * 12
        + b"acsp"
        + b"APPL"
        + b"\0" * 4
        + b"\0" * 8
        + b"\0" * 8
        + struct.pack(">I", 0)
        + b"".join(_s15(c) for c in _D50)
        + b"lcms"
        + b"\0" * 16
        + b"\0" * 28
    )
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + data
