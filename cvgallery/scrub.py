"""Metadata removed from files that may be published, without touching their pixels.

An outside tool (ESRGAN, face swap) often copies its input's EXIF, GPS included, into its
output. Re-encoding would cost quality, so the containers are edited instead: JPEG loses
its APP1 (EXIF, XMP), APP3 to APP13 (IPTC among them), APP15 and COM segments; PNG its
text, time and EXIF chunks; WebP its EXIF and XMP chunks. The colour profile (JPEG APP2
ICC, PNG iCCP, WebP ICCP) is kept: it is how the picture looks, not who made it.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

# APP0 (JFIF), APP2 (ICC, MPF) and APP14 (Adobe: how the colours are coded) stay.
_JPEG_DROP = {0xE1, 0xEF, 0xFE} | set(range(0xE3, 0xEE))
_PNG_DROP = {b"tEXt", b"zTXt", b"iTXt", b"tIME", b"eXIf"}
_WEBP_DROP = {b"EXIF", b"XMP "}


def scrub(data: bytes) -> bytes:
    """``data`` without metadata when it is a JPEG, PNG or WebP; other bytes unchanged."""
    if data.startswith(b"\xff\xd8"):
        return _jpeg(data)
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return _png(data)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _webp(data)
    return data


def _jpeg(data: bytes) -> bytes:
    out = [data[:2]]
    pos, size = 2, len(data)
    while pos + 4 <= size:
        if data[pos] != 0xFF:
            break  # not a marker where one should be: keep the rest as it is
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xDA or marker == 0xD9:  # start of scan: the rest is image data
            break
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            out.append(data[pos : pos + 2])
            pos += 2
            continue
        end = pos + 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
        if marker not in _JPEG_DROP:
            out.append(data[pos:end])
        pos = end
    out.append(data[pos:])
    return b"".join(out)


def _png(data: bytes) -> bytes:
    out = [data[:8]]
    pos, size = 8, len(data)
    while pos + 12 <= size:
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        end = pos + 12 + length
        if kind not in _PNG_DROP:
            out.append(data[pos:end])
        pos = end
        if kind == b"IEND":
            break
    return b"".join(out)


def _webp(data: bytes) -> bytes:
    chunks = []
    pos, size = 12, len(data)
    while pos + 8 <= size:
        kind = data[pos : pos + 4]
        length = int.from_bytes(data[pos + 4 : pos + 8], "little")
        end = pos + 8 + length + (length & 1)
        if kind not in _WEBP_DROP:
            chunks.append(bytearray(data[pos:end]))
        pos = end
    for chunk in chunks:
        if chunk[:4] == b"VP8X" and len(chunk) >= 9:
            chunk[8] &= ~0x0C & 0xFF  # the extended header's EXIF (0x08) and XMP (0x04) flags
    body = b"WEBP" + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def scrub_copy(src: Path, dest: Path) -> None:
    """``src`` at ``dest`` without metadata: linked when it has none, else a clean copy (the
    source may be a user's own file, hard-linked in: it is never edited)."""
    data = src.read_bytes()
    clean = scrub(data)
    # Linked only when clean and already readable by others: its mode is not ours to change.
    if clean == data and os.stat(src).st_mode & 0o004:
        try:
            os.link(src, dest)
            return
        except OSError:
            pass
    dest.write_bytes(clean)


#: ffmpeg's muxer for a published video, by extension: streams are copied, so the container
#: must be one that takes them (Theora does not go into MP4)
REMUX_FORMATS = {
    ".webm": "webm", ".mkv": "matroska", ".mov": "mov", ".qt": "mov", ".ogv": "ogg",
    ".avi": "avi", ".divx": "avi", ".mpg": "vob", ".mpeg": "vob", ".vob": "vob",
    ".3gp": "3gp", ".3g2": "3g2", ".ts": "mpegts", ".mts": "mpegts", ".m2ts": "mpegts",
    ".flv": "flv", ".wmv": "asf", ".asf": "asf", ".mxf": "mxf", ".dv": "dv", ".rm": "rm",
    ".rmvb": "rm",
}  # fmt: skip


def scrub_video(src: Path, dest: Path) -> None:
    """Remux a video without its metadata (location, comment, device, creation time) and
    without data or subtitle tracks; the picture and sound streams are copied, not
    re-encoded. ``faststart`` puts the index first so a browser starts playing at once."""
    import subprocess

    import imageio_ffmpeg

    from .stages.worker import child_guard

    muxer = REMUX_FORMATS.get(dest.suffix.lower(), "mp4")
    argv = [
        imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-nostdin", "-y", "-i", str(src),
        "-map", "0:v", "-map", "0:a?", "-c", "copy",
        "-map_metadata", "-1", "-map_metadata:s:v", "-1", "-map_metadata:s:a", "-1",
        "-map_chapters", "-1", "-fflags", "+bitexact",
        "-flags:v", "+bitexact", "-flags:a", "+bitexact",
    ]  # fmt: skip
    if muxer in ("mp4", "mov"):
        argv += ["-movflags", "+faststart"]
    argv += ["-f", muxer, str(dest)]
    proc = subprocess.run(argv, capture_output=True, timeout=600, preexec_fn=child_guard())
    if proc.returncode != 0 or not dest.is_file() or dest.stat().st_size == 0:
        err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise OSError(f"ffmpeg could not remux {src.name}: {err[-1] if err else 'no output'}")
