"""Pictures carrying the words and facts photographers' tools write, made with Pillow:
EXIF through Image.Exif, XMP through save(xmp=...), IPTC IIM through a Photoshop APP13
segment built here byte by byte (Pillow reads it but cannot write it)."""

from __future__ import annotations

import io
import random
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFilter
from PIL.TiffImagePlugin import IFDRational

EXIF_IFD, GPS_IFD = 0x8769, 0x8825


def scene(size: tuple[int, int], seed: int) -> Image.Image:
    """A photograph-like picture (sky gradient, shapes, grain), different per seed."""
    rng = random.Random(seed)
    w, h = size
    top = tuple(rng.randrange(40, 230) for _ in range(3))
    bottom = tuple(rng.randrange(20, 200) for _ in range(3))
    ramp = Image.linear_gradient("L").resize((w, h))
    im = Image.composite(Image.new("RGB", size, bottom), Image.new("RGB", size, top), ramp)
    draw = ImageDraw.Draw(im)
    for _ in range(10):
        x, y, r = rng.randrange(w), rng.randrange(h), rng.randrange(w // 30 + 1, w // 6 + 2)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=tuple(rng.randrange(256) for _ in range(3)))
    im = im.filter(ImageFilter.GaussianBlur(max(1, w // 400)))
    noise = Image.effect_noise((w // 2 + 1, h // 2 + 1), 20).resize(size).convert("RGB")
    return Image.blend(im, noise, 0.1)


def exif_block(
    *,
    taken: str | None = None,
    offset: str | None = None,
    description: str | bytes | None = None,
    make: str | None = None,
    model: str | None = None,
    lens: str | None = None,
    exposure: tuple[int, int] | None = None,
    f_number: float | None = None,
    iso: int | None = None,
    focal: float | None = None,
    gps: bool = False,
) -> Image.Exif:
    """EXIF as a camera and Lightroom write it (IFD0, the Exif IFD, optionally GPS)."""
    exif = Image.Exif()
    for tag, value in ((0x010E, description), (0x010F, make), (0x0110, model)):
        if value is not None:
            exif[tag] = value
    sub = exif.get_ifd(EXIF_IFD)
    if taken is not None:
        sub[0x9003] = taken
    if offset is not None:
        sub[0x9011] = offset
    if lens is not None:
        sub[0xA434] = lens
    if exposure is not None:
        sub[0x829A] = IFDRational(*exposure)
    if f_number is not None:
        sub[0x829D] = IFDRational(int(f_number * 10), 10)
    if iso is not None:
        sub[0x8827] = iso
    if focal is not None:
        sub[0x920A] = IFDRational(int(focal * 10), 10)
    if gps:
        where = exif.get_ifd(GPS_IFD)
        where[1] = "N"
        where[2] = (IFDRational(48, 1), IFDRational(51, 1), IFDRational(2959, 100))
        where[3] = "E"
        where[4] = (IFDRational(2, 1), IFDRational(17, 1), IFDRational(4013, 100))
    return exif


def xmp_packet(
    *,
    title: str | None = None,
    description: str | None = None,
    alt: str | None = None,
    created: str | None = None,
    city: str | None = None,
    attributes: bool = False,
) -> bytes:
    """XMP as Lightroom and darktable write it: language alternatives in elements (or, with
    ``attributes``, the simple properties as attributes of rdf:Description)."""

    def alt_text(tag: str, text: str) -> str:
        return (
            f'<{tag}><rdf:Alt><rdf:li xml:lang="x-default">{escape(text)}</rdf:li>'
            f"</rdf:Alt></{tag}>"
        )

    attrs = ""
    elements = ""
    if created is not None:
        attrs += f' photoshop:DateCreated="{created}"'
    if city is not None:
        attrs += f' photoshop:City="{escape(city)}"'
    if title is not None:
        if attributes:
            attrs += f' dc:title="{escape(title)}"'
        else:
            elements += alt_text("dc:title", title)
    if description is not None:
        elements += alt_text("dc:description", description)
    if alt is not None:
        elements += alt_text("Iptc4xmpCore:AltTextAccessibility", alt)
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="Adobe XMP Core 7.0">'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"'
        ' xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/"'
        ' xmlns:Iptc4xmpCore="http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/"'
        f"{attrs}>{elements}</rdf:Description></rdf:RDF></x:xmpmeta>"
        '<?xpacket end="w"?>'
    ).encode()


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;")


def iptc_segment(records: dict[int, str], utf8: bool = True, encoding: str = "utf-8") -> bytes:
    """A JPEG APP13 segment: "Photoshop 3.0", one 8BIM resource 0x0404 holding IPTC IIM
    datasets 2:<n> (5 Object Name, 105 Headline, 120 Caption-Abstract), with the 1:90
    UTF-8 marker unless ``utf8`` is False."""
    iim = b"\x1c\x01\x5a\x00\x03\x1b\x25\x47" if utf8 else b""
    iim += b"\x1c\x02\x00\x00\x02\x00\x04"  # 2:00 record version 4
    for dataset, text in records.items():
        value = text.encode(encoding)
        iim += b"\x1c\x02" + bytes([dataset]) + len(value).to_bytes(2, "big") + value
    resource = b"8BIM" + (0x0404).to_bytes(2, "big") + b"\x00\x00"  # empty Pascal name
    resource += len(iim).to_bytes(4, "big") + iim + (b"\x00" if len(iim) % 2 else b"")
    payload = b"Photoshop 3.0\x00" + resource
    return b"\xff\xed" + (len(payload) + 2).to_bytes(2, "big") + payload


def jpeg_with(
    path: Path,
    size: tuple[int, int] = (480, 320),
    seed: int = 0,
    *,
    exif: Image.Exif | None = None,
    xmp: bytes | None = None,
    iptc: bytes | None = None,
    quality: int = 88,
) -> Path:
    """A JPEG with the given EXIF, XMP and IPTC (the APP13 segment right after SOI)."""
    buf = io.BytesIO()
    kw: dict[str, Any] = {"quality": quality}
    if exif is not None:
        kw["exif"] = exif.tobytes()
    if xmp is not None:
        kw["xmp"] = xmp
    scene(size, seed).save(buf, "JPEG", **kw)
    data = buf.getvalue()
    if iptc is not None:
        data = data[:2] + iptc + data[2:]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
