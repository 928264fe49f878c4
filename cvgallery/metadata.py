"""The words and capture facts a photographer's file carries, read once at `add`.

Title, caption and alt text come from the fields Lightroom, Photoshop, darktable and
digiKam write: XMP (dc:title, dc:description, Iptc4xmpCore:AltTextAccessibility,
photoshop:Headline), IPTC IIM (2:05 Object Name, 2:105 Headline, 2:120 Caption-Abstract)
and EXIF (ImageDescription, Windows' XPTitle), in that order of preference. A camera's
stock ImageDescription ("OLYMPUS DIGITAL CAMERA", blanks) is not a caption.

The capture date is EXIF DateTimeOriginal (else DateTimeDigitized, else XMP
photoshop:DateCreated / exif:DateTimeOriginal / xmp:CreateDate) with OffsetTimeOriginal
when present, as ISO 8601 local time: "2005-12-28T03:25:07" or "...+01:00". A video's is
its container's creation time (QuickTime's local creationdate first).

The camera line's parts (camera, lens, exposure) are kept for `show_exif`. Location
(GPS, XMP/IPTC city and country) is never read.

Nothing here raises on a bad file: a broken block only loses what it held.
"""

from __future__ import annotations

import re
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from PIL import Image, IptcImagePlugin

#: longest kept text per field (a caption is a paragraph or two, not an essay)
LIMITS = {"title": 200, "caption": 4000, "alt": 1000, "camera": 120, "lens": 120}

NS = {
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "dc": "http://purl.org/dc/elements/1.1/",
    "iptc": "http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/",
    "photoshop": "http://ns.adobe.com/photoshop/1.0/",
    "exif": "http://ns.adobe.com/exif/1.0/",
    "exifEX": "http://cipa.jp/exif/1.0/",
    "aux": "http://ns.adobe.com/exif/1.0/aux/",
    "xmp": "http://ns.adobe.com/xap/1.0/",
    "tiff": "http://ns.adobe.com/tiff/1.0/",
}
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"

# EXIF tags (IFD0 and the Exif IFD)
_IMAGE_DESCRIPTION, _MAKE, _MODEL = 0x010E, 0x010F, 0x0110
_XP_TITLE, _XP_COMMENT = 0x9C9B, 0x9C9C
_EXIF_IFD = 0x8769
_EXPOSURE_TIME, _F_NUMBER, _ISO = 0x829A, 0x829D, 0x8827
_DATE_ORIGINAL, _DATE_DIGITIZED = 0x9003, 0x9004
_OFFSET_ORIGINAL, _OFFSET_DIGITIZED = 0x9011, 0x9012
_FOCAL_LENGTH, _LENS_MODEL = 0x920A, 0xA434

# What cameras and phones put in ImageDescription when nobody wrote anything.
_STOCK_TEXT = {
    "olympus digital camera",
    "sony dsc",
    "exif_jpeg_picture",
    "digital camera",
    "kodak csc",
    "minolta digital camera",
    "samsung camera pictures",
    "leica digital camera",
    "default",
    "untitled",
    "image",
    "picture",
    "photo",
    "created with gimp",
    "sdim",
    "dcim",
}
_STOCK_PREFIX = re.compile(r"^(file written by|created with|made with|processed by) ", re.I)
#: the shutter speeds cameras show; a measured 1/994 s is shown as the camera says, 1/1000 s
_SHUTTER = (2, 3, 4, 5, 6, 8, 10, 13, 15, 20, 25, 30, 40, 50, 60, 80, 100, 125, 160, 200,
            250, 320, 400, 500, 640, 800, 1000, 1250, 1600, 2000, 2500, 3200, 4000, 5000,
            6400, 8000, 10000, 12800, 16000, 20000, 25600, 32000)  # fmt: skip
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_DATE = re.compile(
    r"^(\d{4})[:-](\d{2})[:-](\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2}))?(?:[.,]\d+)?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?$"
)


@dataclass(frozen=True)
class PictureMeta:
    """What a file says about itself; None where it says nothing usable."""

    title: str | None = None
    caption: str | None = None
    alt: str | None = None
    #: ISO 8601 local time of capture, "+HH:MM" appended when the offset is known
    taken_at: str | None = None
    camera: str | None = None
    lens: str | None = None
    #: "1/250 s · f/8 · ISO 100 · 35 mm"
    exposure: str | None = None

    def __bool__(self) -> bool:
        return any(getattr(self, f.name) for f in fields(self))


def read_image_meta(im: Image.Image) -> PictureMeta:
    """Words, date and camera line of an open picture (its header only: no pixels decoded)."""
    png = im.format == "PNG"
    xmp = _guarded(lambda: _xmp(im), None)
    # A PNG is verified after this (verify() must come straight after open, before anything
    # reads its chunks): only what Pillow read with the header is used.
    iptc = {} if png else _guarded(lambda: _iptc(im), {})
    exif = _guarded(lambda: _exif(_png_exif(im) if png else im.getexif()), {})
    png_text = im.info if png else {}
    title = _first(
        _xmp_text(xmp, "dc", "title"),
        iptc.get(5),
        iptc.get(105),
        _xmp_text(xmp, "photoshop", "Headline"),
        exif.get("xp_title"),
        png_text.get("Title"),
    )
    caption = _first(
        _xmp_text(xmp, "dc", "description"),
        iptc.get(120),
        _not_stock(exif.get("description")),
        exif.get("xp_comment"),
        png_text.get("Description"),
    )
    alt = _first(_xmp_text(xmp, "iptc", "AltTextAccessibility"))
    taken = _first(
        exif.get("taken"),
        *(_date(_xmp_text(xmp, ns, name)) for ns, name in _XMP_DATES),
    )
    lens = _first(
        exif.get("lens"), _xmp_text(xmp, "exifEX", "LensModel"), _xmp_text(xmp, "aux", "Lens")
    )
    camera = exif.get("camera") or _camera(
        _xmp_text(xmp, "tiff", "Make"), _xmp_text(xmp, "tiff", "Model")
    )
    return PictureMeta(
        title=_clean(title, LIMITS["title"], one_line=True),
        caption=_clean(caption, LIMITS["caption"]),
        alt=_clean(alt, LIMITS["alt"], one_line=True),
        taken_at=taken,
        camera=_clean(camera, LIMITS["camera"], one_line=True),
        lens=_clean(lens, LIMITS["lens"], one_line=True),
        exposure=exif.get("exposure"),
    )


_XMP_DATES = (("exif", "DateTimeOriginal"), ("photoshop", "DateCreated"), ("xmp", "CreateDate"))


def _guarded(read: Callable[[], Any], default: Any) -> Any:
    try:
        return read()
    except Exception:  # a broken block is not a broken picture
        return default


def _first(*values: str | None) -> str | None:
    for value in values:
        if value and value.strip():
            return value
    return None


def _clean(text: str | None, limit: int, one_line: bool = False) -> str | None:
    """Printable text without control characters, trimmed; None when nothing is left."""
    if not text:
        return None
    text = _CONTROL.sub(" ", text.replace("\r\n", "\n").replace("\r", "\n"))
    if one_line:
        text = " ".join(text.split())
    else:
        text = "\n".join(" ".join(line.split()) for line in text.split("\n")).strip("\n")
        text = re.sub(r"\n{3,}", "\n\n", text)
    text = text.strip()
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text or None


def _not_stock(text: str | None) -> str | None:
    if text is None:
        return None
    flat = " ".join(text.split())
    if flat.casefold() in _STOCK_TEXT or _STOCK_PREFIX.match(flat):
        return None
    return text


def _unmangle(text: str) -> str:
    """EXIF ASCII fields often hold UTF-8, which Pillow decodes as Latin-1."""
    try:
        return text.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return text


# -- XMP -----------------------------------------------------------------------------------


def _xmp(im: Image.Image) -> ET.Element | None:
    raw = im.info.get("xmp") or im.info.get("XML:com.adobe.xmp")
    if not raw:
        return None
    data = raw.encode("utf-8") if isinstance(raw, str) else bytes(raw)
    data = data.strip(b"\x00 \t\r\n")
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        return None  # XMP never needs a DTD; entities are how XML bombs are built
    start, end_tag = data.find(b"<x:xmpmeta"), b"</x:xmpmeta>"
    if start < 0:
        start, end_tag = data.find(b"<rdf:RDF"), b"</rdf:RDF>"
    end = data.rfind(end_tag)
    if start < 0 or end < start:
        return None
    return ET.fromstring(data[start : end + len(end_tag)])


def _xmp_text(root: ET.Element | None, ns: str, name: str) -> str | None:
    """A property as an attribute of an rdf:Description or as its element: a language
    alternative gives its x-default entry (else the first), a list its first item."""
    if root is None:
        return None
    tag = f"{{{NS[ns]}}}{name}"
    for desc in root.iter(f"{{{NS['rdf']}}}Description"):
        if tag in desc.attrib:
            return desc.attrib[tag]
        element = desc.find(tag)
        if element is None:
            continue
        items = element.findall(f".//{{{NS['rdf']}}}li")
        if items:
            chosen = next((i for i in items if i.get(_XML_LANG) == "x-default"), items[0])
            return "".join(chosen.itertext())
        return "".join(element.itertext())
    return None


# -- IPTC IIM (Photoshop's APP13) -------------------------------------------------------------


def _iptc(im: Image.Image) -> dict[int, str]:
    info = IptcImagePlugin.getiptcinfo(im)  # type: ignore[arg-type]
    if not info:
        return {}
    utf8 = info.get((1, 90)) in (b"\x1b%G", [b"\x1b%G"])
    out: dict[int, str] = {}
    for dataset in (5, 105, 120):
        value = info.get((2, dataset))
        if isinstance(value, list):
            value = value[0] if value else None
        if isinstance(value, bytes) and value:
            out[dataset] = _decode_iptc(value, utf8)
    return out


def _decode_iptc(value: bytes, utf8: bool) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        # Without the UTF-8 marker the text is in the writer's code page: most often 1252.
        return value.decode("utf-8" if utf8 else "cp1252", errors="replace")


# -- EXIF --------------------------------------------------------------------------------------


def _png_exif(im: Image.Image) -> Image.Exif:
    exif = Image.Exif()
    raw = im.info.get("exif")
    if raw:
        exif.load(raw)
    return exif


def _exif(exif: Image.Exif) -> dict[str, str]:
    if not exif:
        return {}
    sub = _guarded(lambda: exif.get_ifd(_EXIF_IFD), {})
    out: dict[str, str | None] = {
        "description": _ascii(exif.get(_IMAGE_DESCRIPTION)),
        "xp_title": _xp(exif.get(_XP_TITLE)),
        "xp_comment": _xp(exif.get(_XP_COMMENT)),
        "camera": _camera(_ascii(exif.get(_MAKE)), _ascii(exif.get(_MODEL))),
        "lens": _ascii(sub.get(_LENS_MODEL)),
        "exposure": _exposure(sub),
        "taken": _date(_ascii(sub.get(_DATE_ORIGINAL)), _ascii(sub.get(_OFFSET_ORIGINAL)))
        or _date(_ascii(sub.get(_DATE_DIGITIZED)), _ascii(sub.get(_OFFSET_DIGITIZED))),
    }
    return {k: v for k, v in out.items() if v}


def _ascii(value: Any) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if not isinstance(value, str):
        return None
    value = _unmangle(value).replace("\x00", " ").strip()
    return value or None


def _xp(value: Any) -> str | None:
    """Windows' XP* tags: UTF-16LE in a BYTE array."""
    if isinstance(value, tuple):
        value = bytes(value)
    if not isinstance(value, bytes):
        return None
    return value.decode("utf-16-le", errors="replace").rstrip("\x00").strip() or None


def _camera(make: str | None, model: str | None) -> str | None:
    """"Canon" + "Canon EOS R5" is "Canon EOS R5"; "NIKON CORPORATION" + "NIKON D750" is
    "NIKON D750"; "FUJIFILM" + "X-T4" is "FUJIFILM X-T4"."""
    make, model = (make or "").strip(), (model or "").strip()
    if not model:
        return make or None
    brand = make.split(" ")[0] if make else ""
    if not brand or model.casefold().startswith(brand.casefold()):
        return model
    return f"{brand} {model}"


def _number(value: Any, most: float) -> float | None:
    """A positive finite number up to ``most`` (anything else is a broken tag)."""
    if isinstance(value, tuple | list):
        value = value[0] if value else None
    try:
        number = float(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return number if 0 < number <= most else None


def _shutter(seconds: float) -> str:
    if seconds >= 0.3:
        return f"{round(seconds, 1):g} s"
    denominator = 1 / seconds
    nearest = min(_SHUTTER, key=lambda d: abs(d - denominator))
    if abs(nearest - denominator) <= 0.06 * denominator:
        denominator = nearest
    return f"1/{round(denominator)} s"


def _exposure(sub: Any) -> str | None:
    parts = []
    time = _number(sub.get(_EXPOSURE_TIME), 3600)
    if time:
        parts.append(_shutter(time))
    f_number = _number(sub.get(_F_NUMBER), 256)
    if f_number:
        parts.append(f"f/{round(f_number, 1):g}")
    iso = _number(sub.get(_ISO), 10_000_000)
    if iso:
        parts.append(f"ISO {int(iso)}")
    focal = _number(sub.get(_FOCAL_LENGTH), 10_000)
    if focal:
        parts.append(f"{round(focal, 1):g} mm")
    return " · ".join(parts) or None


def _date(text: str | None, offset: str | None = None) -> str | None:
    """EXIF "2005:12:28 03:25:07" or an ISO date → "2005-12-28T03:25:07[+HH:MM]"."""
    if not text:
        return None
    m = _DATE.match(text.strip())
    if not m:
        return None
    year, month, day, hour, minute, second, zone = m.groups()
    if not (1826 <= int(year) <= 2200 and 1 <= int(month) <= 12 and 1 <= int(day) <= 31):
        return None  # "0000:00:00 00:00:00": a camera that never had its clock set
    if hour is not None and not (int(hour) < 24 and int(minute) < 60 and int(second or 0) < 61):
        return None
    value = f"{year}-{month}-{day}"
    if hour is not None:
        value += f"T{hour}:{minute}:{second or '00'}"
        zone = zone or (offset.strip() if offset else None)
        if zone:
            zone = "+00:00" if zone == "Z" else zone
            if re.fullmatch(r"[+-]\d{2}:?\d{2}", zone):
                value += zone if ":" in zone else f"{zone[:3]}:{zone[3:]}"
    return value


# -- video -------------------------------------------------------------------------------------

_FFMPEG_DATES = (
    re.compile(r"^\s*com\.apple\.quicktime\.creationdate\s*:\s*(\S+)\s*$", re.M),
    re.compile(r"^\s*creation_time\s*:\s*(\S+)\s*$", re.M),
)


def read_video_meta(path: Path) -> PictureMeta:
    """A video's capture date from its container (ffmpeg's reading of the header)."""
    try:
        import imageio_ffmpeg

        result = subprocess.run(
            [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path)],
            capture_output=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.SubprocessError, RuntimeError):
        return PictureMeta()
    return PictureMeta(taken_at=video_date(result.stderr.decode("utf-8", errors="replace")))


def video_date(header: str) -> str | None:
    """The first creation date ffmpeg prints (the container's before a stream's)."""
    for pattern in _FFMPEG_DATES:
        match = pattern.search(header)
        if match:
            value = _date(match.group(1))
            if value and not value.startswith("1970-01-01") and not value.startswith("1904-01-01"):
                return value
    return None
