"""What a file is: kind, format, displayed size, MIME type, and whether it is whole.

:func:`sniff` decides from a file's name and first bytes whether it is a picture, a video
or neither (a file with no extension, or a misleading one, is judged by its content).
:func:`probe` then opens it: pictures with Pillow (HEIC/HEIF through pillow-heif), videos
with the ffmpeg imageio-ffmpeg ships.

A truncated download must be caught when it is added, not when a stage first decodes it,
and a file the decoders read in full must not be refused by a stricter parser. A JPEG is
therefore decoded, in draft mode at 1/8 scale to grey (libjpeg still entropy-decodes every
scan, which is what finds a cut file, but skips most of the inverse DCT and all colour
conversion), and must have an end-of-image marker after its first scan. Other formats are
decoded in full (PNG: every chunk's CRC is checked without inflating pixels).
"""

from __future__ import annotations

import io
import mmap
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from PIL import Image, JpegImagePlugin, UnidentifiedImageError

from .metadata import PictureMeta, read_image_meta, read_video_meta
from .pixels import PixelLimitError, bomb_message, check_pixel_limit, register_plugins

VIDEO_EXTENSIONS = {
    ".mp4": "video/mp4",
    ".m4v": "video/x-m4v",
    ".mov": "video/quicktime",
    ".qt": "video/quicktime",
    ".webm": "video/webm",
    ".mkv": "video/x-matroska",
    ".ogv": "video/ogg",
    ".avi": "video/x-msvideo",
    ".divx": "video/x-msvideo",
    ".mpg": "video/mpeg",
    ".mpeg": "video/mpeg",
    ".vob": "video/mpeg",
    ".3gp": "video/3gpp",
    ".3g2": "video/3gpp2",
    ".ts": "video/mp2t",
    ".mts": "video/mp2t",
    ".m2ts": "video/mp2t",
    ".flv": "video/x-flv",
    ".f4v": "video/mp4",
    ".wmv": "video/x-ms-wmv",
    ".asf": "video/x-ms-asf",
    ".mxf": "application/mxf",
    ".dv": "video/x-dv",
    ".rm": "application/vnd.rn-realmedia",
    ".rmvb": "application/vnd.rn-realmedia-vbr",
}
IMAGE_EXTENSIONS = {
    ".jpeg", ".jpg", ".jpe", ".jfif", ".png", ".apng", ".webp", ".gif", ".bmp", ".tif",
    ".tiff", ".avif", ".heic", ".heif", ".hif", ".mpo", ".psd",
}  # fmt: skip
#: camera raw files: TIFF-like, so Pillow would show their small embedded preview, or fail
RAW_EXTENSIONS = {
    ".3fr", ".ari", ".arw", ".cr2", ".cr3", ".crw", ".dcr", ".dng", ".erf", ".iiq", ".k25",
    ".kdc", ".mef", ".mos", ".mrw", ".nef", ".nrw", ".orf", ".pef", ".raf", ".raw", ".rw2",
    ".rwl", ".sr2", ".srf", ".srw", ".x3f",
}  # fmt: skip
#: how much of a file :func:`sniff` looks at (an MPEG-TS needs three 188-byte packets)
HEAD_BYTES = 4096
# EXIF orientations 5..8 rotate by 90 degrees: the displayed width is the stored height.
_TRANSPOSED = {5, 6, 7, 8}
_ORIENTATION_TAG = 0x0112
_JPEG_LIKE = ("JPEG", "MPO")
#: pictures decoded whole (not JPEG) above this many pixels are probed one at a time, so
#: `add`'s threads never hold several 100 Mpx decodes at once
BIG_DECODE = 25_000_000
_big_decodes = threading.Lock()


@dataclass(frozen=True)
class Media:
    """What a file looks like before it is probed (see :func:`sniff`)."""

    #: "image", "video", or None: neither, and then ``reason`` says why it is skipped
    kind: str | None
    #: the extension to store it under: its own, or its content's when that is missing or
    #: names the other kind (a video named .jpg)
    ext: str = ""
    reason: str | None = None


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
    """Files with a picture or video extension (dotfiles excluded): what `artifact sync` and
    `build` pick up in a folder. `add` looks at every file (see :func:`sniff`)."""
    name = os.path.basename(path)
    if name.startswith("."):
        return False
    ext = os.path.splitext(name)[1].lower()
    return ext in IMAGE_EXTENSIONS or ext in VIDEO_EXTENSIONS


def sniff(name: str | os.PathLike[str], head: bytes) -> Media:
    """Picture, video or neither, from the name and the first :data:`HEAD_BYTES` bytes.

    Content wins over the extension where it is unambiguous (magic numbers); otherwise a
    picture or video extension is trusted, and the probe says what is wrong with the file.
    """
    ext = os.path.splitext(os.fspath(name))[1].lower()
    if ext in RAW_EXTENSIONS:
        return Media(None, ext, "camera raw file, not read (add a JPEG, TIFF or HEIC of it)")
    image_ext = _image_signature(head)
    if image_ext is not None:
        return Media("image", ext if ext in IMAGE_EXTENSIONS else image_ext)
    video_ext = _video_signature(head)
    if video_ext == "audio":
        return Media(None, ext, "an audio file, not a picture or video")
    if video_ext is not None:
        return Media("video", ext if ext in VIDEO_EXTENSIONS else video_ext)
    if ext in IMAGE_EXTENSIONS:
        return Media("image", ext)
    if ext in VIDEO_EXTENSIONS and ext != ".ts":  # .ts is also TypeScript: content decides
        return Media("video", ext)
    return Media(None, ext, "not a picture or video")


_AUDIO_BRANDS = {b"M4A ", b"M4B ", b"M4P ", b"F4A ", b"F4B "}
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}
_AVIF_BRANDS = {b"avif", b"avis"}
#: the sizes of the BMP info headers (BM alone is too weak a signature)
_BMP_HEADERS = {n.to_bytes(4, "little") for n in (12, 40, 52, 56, 64, 108, 124)}


def _image_signature(head: bytes) -> str | None:
    if head.startswith(b"\xff\xd8\xff"):
        return ".jpg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return ".png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return ".gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return ".webp"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return ".tif"
    if head[:2] == b"BM" and head[14:18] in _BMP_HEADERS:
        return ".bmp"
    if head[:6] == b"8BPS\x00\x01":
        return ".psd"
    if head[4:8] == b"ftyp" and head[8:12] in _AVIF_BRANDS | _HEIF_BRANDS:
        # The major brand says picture; mif1/msf1 (any HEIF) need the compatible brands.
        return ".avif" if _ftyp_brands(head) & _AVIF_BRANDS else ".heic"
    return None


def _ftyp_brands(head: bytes) -> set[bytes]:
    """The major and compatible brands of an ISO base media file (HEIF, AVIF, MP4, MOV)."""
    size = min(int.from_bytes(head[:4], "big"), len(head))
    brands = {head[8:12]}
    brands.update(head[i : i + 4] for i in range(16, size - 3, 4))
    return brands


def _video_signature(head: bytes) -> str | None:
    """The container's usual extension, "audio" for an audio-only container, or None."""
    if head[4:8] == b"ftyp":
        major = head[8:12]
        if major in _AUDIO_BRANDS:
            return "audio"
        if major == b"qt  ":
            return ".mov"
        return ".3gp" if major.startswith(b"3g") else ".mp4"
    if head[4:8] in (b"moov", b"mdat", b"wide", b"pnot"):
        return ".mov"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return ".webm" if b"webm" in head[:64] else ".mkv"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return ".avi"
    if head.startswith(b"OggS"):
        return ".ogv" if any(c in head for c in (b"\x80theora", b"OVP80", b"BBCD")) else "audio"
    if head.startswith((b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3")):
        return ".mpg"
    if len(head) > 376 and head[0] == head[188] == head[376] == 0x47:
        return ".ts"
    if len(head) > 388 and head[4] == head[196] == head[388] == 0x47:
        return ".m2ts"
    if head.startswith(b"FLV\x01"):
        return ".flv"
    if head.startswith(b"\x30\x26\xb2\x75\x8e\x66\xcf\x11"):
        return ".wmv"
    if head.startswith(b".RMF"):
        return ".rm"
    if head.startswith(b"\x06\x0e\x2b\x34\x02\x05\x01\x01"):
        return ".mxf"
    return None


def probe(path: str | os.PathLike[str], media: Media | None = None) -> Probe:
    """Probe the file at ``path``; bad content gives a Probe with a reason, never an exception.

    ``media`` (from :func:`sniff`) says whether it is a picture or a video; without it the
    extension does.
    """
    path = Path(path)
    size = path.stat().st_size
    if _is_video(path, media):
        return probe_video(path, size, media.ext if media else None)
    return probe_image(path, size)


def probe_data(
    name: str | os.PathLike[str], data: bytes, media: Media | None = None
) -> Probe:
    """Probe bytes already in memory; a video is read by ffmpeg from the file ``name``."""
    if _is_video(Path(name), media):
        return probe_video(Path(name), len(data), media.ext if media else None)
    return probe_image(io.BytesIO(data), len(data), data)


def _is_video(path: Path, media: Media | None) -> bool:
    if media is not None:
        return media.kind == "video"
    return path.suffix.lower() in VIDEO_EXTENSIONS


def probe_image(source: Path | IO[bytes], size: int, data: bytes | None = None) -> Probe:
    if size == 0:
        return Probe("invalid", size, reason="invalid: empty file (0 bytes)")
    register_plugins()
    try:
        with Image.open(source) as im:
            fmt = im.format or ""
            mime = im.get_format_mimetype() or Image.MIME.get(fmt)
            width, height = im.size
            check_pixel_limit(im.size)  # Pillow itself raises only at twice the limit
            if fmt == "GIF":
                return Probe("invalid", size, width, height, mime, "gif", reason="gif")
            meta = read_image_meta(im)  # the header only, before verify() spends the file
            if fmt == "PNG":
                im.verify()  # every chunk and its CRC, without inflating pixels
                orientation = _exif_orientation(im.info.get("exif"))
            else:
                orientation = _orientation(im)
                _check_decodes(im, fmt, source, data)
    except Image.DecompressionBombError as exc:
        return Probe("invalid", size, reason=f"invalid: {bomb_message(exc)}")
    except PixelLimitError as exc:
        return Probe("invalid", size, width, height, reason=f"invalid: {exc}")
    except UnidentifiedImageError:
        why = _plugin_error(source)
        reason = "invalid: not an image Pillow can read" + (f" ({why})" if why else "")
        return Probe("invalid", size, reason=reason)
    except Exception as exc:  # any decoder failure is a fact about the file, not a crash
        return Probe("invalid", size, reason=f"invalid: {_describe(exc)}")
    if orientation in _TRANSPOSED:
        width, height = height, width
    return Probe("image", size, width, height, mime, fmt.lower(), meta=meta)


def _plugin_error(source: Path | IO[bytes]) -> str | None:
    """Why the plugin for the format the file's signature names refused it (a 12-bit JPEG,
    an AVIF over libavif's size limit), or None when no known format matches."""
    try:
        if isinstance(source, Path):
            with open(source, "rb") as fh:
                head = fh.read(HEAD_BYTES)
        else:
            source.seek(0)
            head = source.read(HEAD_BYTES)
            source.seek(0)
    except OSError:
        return None
    fmt = Image.registered_extensions().get(_image_signature(head) or "")
    if fmt is None or fmt not in Image.OPEN:
        return None
    factory = Image.OPEN[fmt][0]
    try:
        if isinstance(source, Path):
            with open(source, "rb") as fh:
                factory(fh, str(source)).close()
        else:
            factory(source, "").close()
    except Exception as exc:
        return f"{fmt}: {exc}"
    return None


def _check_decodes(
    im: Image.Image, fmt: str, source: Path | IO[bytes], data: bytes | None
) -> None:
    """Raise unless the decoder reads the whole picture (a JPEG: at 1/8 scale, in grey)."""
    if fmt not in _JPEG_LIKE:
        if im.width * im.height > BIG_DECODE:
            with _big_decodes:
                im.load()
        else:
            im.load()
        return
    scan = _first_scan_end(im, source)
    im.draft("L", (1, 1))  # the smallest DCT scale libjpeg offers
    im.load()  # raises "image file is truncated" when a scan is cut (LOAD_TRUNCATED_IMAGES off)
    # A file cut exactly after its last scan still decodes: its end-of-image marker is what
    # is missing. (Inside entropy-coded data 0xFF is always followed by 0x00 or RSTn.)
    if not _has_eoi(source, data, scan):
        raise OSError("image file is truncated (no end-of-image marker)")


def _first_scan_end(im: Image.Image, source: Path | IO[bytes]) -> int:
    """Where the first scan's entropy-coded data starts: Pillow's header parser stops there."""
    if im.format == "JPEG":
        return int(im.fp.tell())  # type: ignore[attr-defined]
    if isinstance(source, Path):  # an MPO rewinds to its first frame: parse that as a JPEG
        with JpegImagePlugin.JpegImageFile(source) as first:
            return int(first.fp.tell())  # type: ignore[union-attr]
    source.seek(0)
    with JpegImagePlugin.JpegImageFile(source) as first:
        return int(first.fp.tell())  # type: ignore[union-attr]


def _has_eoi(source: Path | IO[bytes], data: bytes | None, start: int) -> bool:
    if data is not None:
        return data.find(b"\xff\xd9", start) >= 0
    if isinstance(source, Path):
        with open(source, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as m:
            return m.find(b"\xff\xd9", start) >= 0
    source.seek(0)
    return source.read().find(b"\xff\xd9", start) >= 0


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


def probe_video(path: Path, size: int | None = None, ext: str | None = None) -> Probe:
    """Probe a video with the ffmpeg that imageio-ffmpeg ships (no system ffmpeg needed).

    It must have a picture size and a duration: the video stage takes its frames at
    fractions of the duration (a raw elementary stream has none, so it is rejected here).
    """
    size = path.stat().st_size if size is None else size
    ext = (ext or path.suffix).lower()
    mime = VIDEO_EXTENSIONS.get(ext, "video/mp4")
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
        duration = float(meta.get("duration") or 0.0)
    except Exception as exc:
        return Probe(
            "invalid",
            size,
            mime_type=mime,
            reason=f"invalid: unreadable video ({_first_line(exc)})",
        )
    if duration <= 0:
        return Probe(
            "invalid",
            size,
            width,
            height,
            mime,
            reason="invalid: unreadable video (ffmpeg finds no duration: a raw stream?)",
        )
    if rotate % 180 == 90:
        width, height = height, width
    return Probe("video", size, width, height, mime, ext.lstrip("."), meta=read_video_meta(path))


def _first_line(exc: BaseException) -> str:
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return lines[-1][:200] if lines else type(exc).__name__
