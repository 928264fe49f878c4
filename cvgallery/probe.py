"""What a file is: kind, format, displayed size, MIME type, and whether it is whole.

A truncated download must be caught when it is added, not when a stage first decodes it.
For JPEG (most of a collection) that check is a walk over the file's marker structure:
every segment must fit in the file and the entropy-coded scans must end in an EOI
marker. A partial download is a prefix of the file, so it always fails the walk, at
about a twentieth of the cost of even a 1/8-scale draft decode. Other formats are
decoded in full (PNG: every chunk's CRC is checked without inflating pixels).
"""

from __future__ import annotations

import io
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from PIL import Image, UnidentifiedImageError

from .metadata import PictureMeta, read_image_meta, read_video_meta

VIDEO_EXTENSIONS = {
    ".mp4": "video/mp4",
    ".webm": "video/webm",
    ".mov": "video/quicktime",
    ".m4v": "video/x-m4v",
    ".mkv": "video/x-matroska",
}
IMAGE_EXTENSIONS = {".jpeg", ".jpg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".avif"}
# EXIF orientations 5..8 rotate by 90 degrees: the displayed width is the stored height.
_TRANSPOSED = {5, 6, 7, 8}
_ORIENTATION_TAG = 0x0112


@dataclass(frozen=True)
class Probe:
    """The result of probing one file. ``reason`` is set when the file must be rejected."""

    kind: str  # "image", "video" or "invalid"
    file_size: int
    width: int | None = None
    height: int | None = None
    mime_type: str | None = None
    format: str | None = None
    reason: str | None = None
    #: title, caption, alt text, capture date and camera line the file carries
    meta: PictureMeta = PictureMeta()

    @property
    def ok(self) -> bool:
        return self.reason is None


def is_candidate(path: str | os.PathLike[str]) -> bool:
    """Files `add` and `artifact sync` pick up when walking a folder (dotfiles excluded)."""
    name = os.path.basename(path)
    if name.startswith("."):
        return False
    ext = os.path.splitext(name)[1].lower()
    return ext in IMAGE_EXTENSIONS or ext in VIDEO_EXTENSIONS


def probe(path: str | os.PathLike[str]) -> Probe:
    """Probe the file at ``path``; bad content gives a Probe with a reason, never an exception."""
    path = Path(path)
    size = path.stat().st_size
    if path.suffix.lower() in VIDEO_EXTENSIONS:
        return probe_video(path, size)
    return probe_image(path, size)


def probe_data(name: str | os.PathLike[str], data: bytes) -> Probe:
    """Probe bytes already in memory; ``name`` gives the extension (videos go to ffmpeg)."""
    if Path(name).suffix.lower() in VIDEO_EXTENSIONS:
        return probe_video(Path(name), len(data))
    return probe_image(io.BytesIO(data), len(data), data)


def probe_image(source: Path | IO[bytes], size: int, data: bytes | None = None) -> Probe:
    if size == 0:
        return Probe("invalid", size, reason="invalid: empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(source) as im:
                fmt = im.format or ""
                mime = im.get_format_mimetype() or Image.MIME.get(fmt)
                width, height = im.size
                if fmt == "GIF":
                    return Probe("invalid", size, width, height, mime, "gif", reason="gif")
                meta = read_image_meta(im)  # the header only, before verify() spends the file
                if fmt == "PNG":
                    im.verify()  # every chunk and its CRC, without inflating pixels
                    orientation = _exif_orientation(im.info.get("exif"))
                else:
                    orientation = _orientation(im)
                    _check_decodes(im, fmt, data)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        return Probe("invalid", size, reason=f"invalid: decompression bomb ({exc})")
    except UnidentifiedImageError:
        return Probe("invalid", size, reason="invalid: not an image Pillow can read")
    except Exception as exc:  # any decoder failure is a fact about the file, not a crash
        return Probe("invalid", size, reason=f"invalid: {_describe(exc)}")
    if orientation in _TRANSPOSED:
        width, height = height, width
    return Probe("image", size, width, height, mime, fmt.lower(), meta=meta)


def _check_decodes(im: Image.Image, fmt: str, data: bytes | None) -> None:
    if fmt == "JPEG":
        if data is None:
            fp = im.fp  # type: ignore[attr-defined]
            fp.seek(0)
            data = fp.read()
        problem = jpeg_structure_problem(data)
        if problem:
            raise OSError(f"image file is truncated ({problem})")
        return
    im.load()


# A marker inside entropy-coded data: 0xFF followed by anything but a stuffed 0x00 or RSTn.
_SCAN_END = re.compile(rb"\xff[^\x00\xd0-\xd7]")
_STANDALONE = {0x01, *range(0xD0, 0xD8)}


def jpeg_structure_problem(data: bytes) -> str | None:
    """Why ``data`` is not a whole JPEG (None when every segment and scan is complete)."""
    size = len(data)
    if not data.startswith(b"\xff\xd8"):
        return "no start-of-image marker"
    pos = 2
    while True:
        while pos < size and data[pos] == 0xFF and pos + 1 < size and data[pos + 1] == 0xFF:
            pos += 1  # fill bytes before a marker
        if pos + 1 >= size:
            return f"ends at byte {size} without an end-of-image marker"
        if data[pos] != 0xFF:
            return f"expected a marker at byte {pos}"
        marker = data[pos + 1]
        if marker == 0xD9:
            return None
        if marker in _STANDALONE:
            pos += 2
            continue
        if pos + 4 > size:
            return f"segment header cut at byte {size}"
        end = pos + 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
        if end > size:
            return f"segment at byte {pos} needs {end - size} more bytes"
        pos = end
        if marker == 0xDA:  # start of scan: entropy-coded data runs to the next marker
            found = _SCAN_END.search(data, pos)
            if found is None:
                return f"scan data cut at byte {size}"
            pos = found.start()


def _orientation(im: Image.Image) -> int:
    try:
        return int(im.getexif().get(_ORIENTATION_TAG, 1) or 1)
    except Exception:  # a broken EXIF block is not a broken picture
        return 1


def _exif_orientation(raw: bytes | None) -> int:
    if not raw:
        return 1
    try:
        exif = Image.Exif()
        exif.load(raw)
        return int(exif.get(_ORIENTATION_TAG, 1) or 1)
    except Exception:
        return 1


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if "truncated" in text.lower() or isinstance(exc, EOFError):
        return f"truncated file ({text})"
    return text


def probe_video(path: Path, size: int | None = None) -> Probe:
    """Probe a video with the ffmpeg that imageio-ffmpeg ships (no system ffmpeg needed)."""
    size = path.stat().st_size if size is None else size
    mime = VIDEO_EXTENSIONS.get(path.suffix.lower(), "video/mp4")
    if size == 0:
        return Probe("invalid", size, mime_type=mime, reason="invalid: empty file (0 bytes)")
    try:
        import imageio_ffmpeg

        frames = imageio_ffmpeg.read_frames(str(path))
        try:
            meta = next(frames)
        finally:
            frames.close()
        width, height = (int(v) for v in meta["size"])
        rotate = int(meta.get("rotate") or 0)
    except Exception as exc:
        return Probe(
            "invalid",
            size,
            mime_type=mime,
            reason=f"invalid: unreadable video ({_first_line(exc)})",
        )
    if rotate % 180 == 90:
        width, height = height, width
    fmt = path.suffix.lower().lstrip(".")
    return Probe("video", size, width, height, mime, fmt, meta=read_video_meta(path))


def _first_line(exc: BaseException) -> str:
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return lines[-1][:200] if lines else type(exc).__name__
