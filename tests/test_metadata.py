"""Reading the words and capture facts photographers' tools write (IPTC, XMP, EXIF), and
storing them at `add`: title, caption, alt text, capture date, camera line; never location."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from picture_files import exif_block, iptc_segment, jpeg_with, scene, xmp_packet
from PIL import Image, PngImagePlugin
from process_helpers import make_video

from cvgallery.catalog import Catalog
from cvgallery.ingest import add_files
from cvgallery.metadata import PictureMeta, read_image_meta, read_video_meta, video_date

CORPUS = Path("/work/shared/corpus/files")


def meta_of(path: Path) -> PictureMeta:
    with Image.open(path) as im:
        return read_image_meta(im)


def test_lightroom_xmp_title_caption_and_alt(tmp_path: Path) -> None:
    path = jpeg_with(
        tmp_path / "a.jpeg",
        xmp=xmp_packet(
            title="Dawn over the ridge",
            description='First light, "Haemo" clouds & a <bright> sky.\nSecond line.',
            alt="A mountain ridge under pink clouds at sunrise",
        ),
    )
    m = meta_of(path)
    assert m.title == "Dawn over the ridge"
    assert m.caption == 'First light, "Haemo" clouds & a <bright> sky.\nSecond line.'
    assert m.alt == "A mountain ridge under pink clouds at sunrise"


def test_darktable_style_attributes_and_xmp_date(tmp_path: Path) -> None:
    path = jpeg_with(
        tmp_path / "a.jpeg", xmp=xmp_packet(title="Quay", attributes=True, created="2019-07-14")
    )
    m = meta_of(path)
    assert (m.title, m.taken_at) == ("Quay", "2019-07-14")


def test_iptc_utf8_and_code_page(tmp_path: Path) -> None:
    utf8 = jpeg_with(
        tmp_path / "u.jpeg", iptc=iptc_segment({5: "Été à Québec", 120: "Légende — ça va"})
    )
    assert (meta_of(utf8).title, meta_of(utf8).caption) == ("Été à Québec", "Légende — ça va")
    legacy = jpeg_with(
        tmp_path / "l.jpeg",
        iptc=iptc_segment({5: "Été", 120: "Légende"}, utf8=False, encoding="cp1252"),
    )
    assert (meta_of(legacy).title, meta_of(legacy).caption) == ("Été", "Légende")
    headline = jpeg_with(tmp_path / "h.jpeg", iptc=iptc_segment({105: "Ring Nebula, M57"}))
    assert meta_of(headline).title == "Ring Nebula, M57"  # the headline when there is no name


def test_xmp_wins_over_iptc_and_exif(tmp_path: Path) -> None:
    path = jpeg_with(
        tmp_path / "a.jpeg",
        xmp=xmp_packet(title="XMP title", description="XMP caption"),
        iptc=iptc_segment({5: "IPTC title", 120: "IPTC caption"}),
        exif=exif_block(description="EXIF caption"),
    )
    m = meta_of(path)
    assert (m.title, m.caption) == ("XMP title", "XMP caption")
    only_exif = jpeg_with(tmp_path / "e.jpeg", exif=exif_block(description="Caption in EXIF"))
    assert meta_of(only_exif).caption == "Caption in EXIF"


@pytest.mark.parametrize(
    "stock", ["OLYMPUS DIGITAL CAMERA", "SONY DSC", "          ", "File written by Adobe Photoshop"]
)
def test_a_cameras_stock_description_is_no_caption(tmp_path: Path, stock: str) -> None:
    path = jpeg_with(tmp_path / "a.jpeg", exif=exif_block(description=stock))
    assert meta_of(path).caption is None


def test_utf8_in_exif_ascii_fields_is_read_as_utf8(tmp_path: Path) -> None:
    # As most tools write them: UTF-8 bytes in an ASCII field, which Pillow reads as Latin-1.
    path = jpeg_with(
        tmp_path / "a.jpeg", exif=exif_block(description="Crème brûlée 🍮".encode())
    )
    assert meta_of(path).caption == "Crème brûlée 🍮"


def test_capture_date_with_and_without_offset(tmp_path: Path) -> None:
    zoned = jpeg_with(
        tmp_path / "z.jpeg", exif=exif_block(taken="2024:05:01 10:20:30", offset="+02:00")
    )
    assert meta_of(zoned).taken_at == "2024-05-01T10:20:30+02:00"
    local = jpeg_with(tmp_path / "l.jpeg", exif=exif_block(taken="2005:12:28 03:25:07"))
    assert meta_of(local).taken_at == "2005-12-28T03:25:07"
    unset = jpeg_with(tmp_path / "u.jpeg", exif=exif_block(taken="0000:00:00 00:00:00"))
    assert meta_of(unset).taken_at is None
    garbage = jpeg_with(tmp_path / "g.jpeg", exif=exif_block(taken="yesterday-ish"))
    assert meta_of(garbage).taken_at is None


def test_camera_line_and_no_location(tmp_path: Path) -> None:
    path = jpeg_with(
        tmp_path / "a.jpeg",
        exif=exif_block(
            make="NIKON CORPORATION",
            model="NIKON D750",
            lens="24.0-70.0 mm f/2.8",
            exposure=(1, 994),  # a camera's measured 1/994 s is its 1/1000 s
            f_number=5.6,
            iso=400,
            focal=50,
            gps=True,
        ),
        xmp=xmp_packet(title="Somewhere", city="Paris"),
    )
    m = meta_of(path)
    assert m.camera == "NIKON D750"
    assert m.lens == "24.0-70.0 mm f/2.8"
    assert m.exposure == "1/1000 s · f/5.6 · ISO 400 · 50 mm"
    assert "Paris" not in repr(m) and "48" not in repr(m)  # never a location
    canon = jpeg_with(tmp_path / "c.jpeg", exif=exif_block(make="Canon", model="EOS R5"))
    assert meta_of(canon).camera == "Canon EOS R5"
    long_exposure = jpeg_with(tmp_path / "n.jpeg", exif=exif_block(exposure=(8, 1)))
    assert meta_of(long_exposure).exposure == "8 s"


def test_hostile_or_broken_blocks_lose_only_themselves(tmp_path: Path) -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/">&b;</x:xmpmeta>'
    )
    path = jpeg_with(tmp_path / "a.jpeg", xmp=bomb, exif=exif_block(taken="2020:01:02 03:04:05"))
    m = meta_of(path)
    assert m.title is None and m.taken_at == "2020-01-02T03:04:05"
    cut = jpeg_with(tmp_path / "b.jpeg", xmp=b"<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF")
    assert meta_of(cut) == PictureMeta()
    broken_iptc = jpeg_with(tmp_path / "c.jpeg", iptc=iptc_segment({5: "ok"})[:-3] + b"\x1c\x02")
    assert meta_of(broken_iptc).caption is None  # and no exception


def test_png_xmp_and_text_chunks_still_verify(tmp_path: Path) -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("Title", "A PNG title")
    info.add_itxt("XML:com.adobe.xmp", xmp_packet(description="A PNG caption").decode())
    path = tmp_path / "a.png"
    scene((64, 48), 1).save(path, pnginfo=info)
    assert (meta_of(path).title, meta_of(path).caption) == ("A PNG title", "A PNG caption")


def test_long_and_control_characters_are_cleaned(tmp_path: Path) -> None:
    path = jpeg_with(
        tmp_path / "a.jpeg",
        xmp=xmp_packet(title="Tab\there\n " + "x" * 300),
        iptc=iptc_segment({120: "a\x00b\r\nc"}),
    )
    m = meta_of(path)
    assert m.title is not None and len(m.title) == 200 and m.title.startswith("Tab here x")
    assert m.caption == "a b\nc"


@pytest.mark.skipif(not (CORPUS / "sigal").is_dir(), reason="shared corpus not present")
def test_files_from_real_tools() -> None:
    """sigal's IPTC test files: written by iPhoto (IPTC + XMP + EXIF) and by another tool
    (an IPTC headline only)."""
    m = meta_of(CORPUS / "sigal/iptcTest/1.jpg")
    assert m.title == "Haemostratulus clouds over Canberra - 2005-12-28 at 03-25-07"
    assert m.caption is not None and m.caption.startswith('"Haemo" because')
    assert m.taken_at == "2005-12-28T03:25:07"
    assert m.camera == "Canon DIGITAL IXUS IIs" and m.exposure == "1/500 s · f/7.1 · ISO 50 · 5.4 mm"
    assert meta_of(CORPUS / "sigal/iptcTest/3.jpg").title == "Ring Nebula, M57"


def test_video_creation_time(tmp_path: Path) -> None:
    assert video_date("  creation_time   : 2021-06-01T10:20:30.000000Z\n") == (
        "2021-06-01T10:20:30+00:00"
    )
    header = (
        "    com.apple.quicktime.creationdate: 2021-06-01T12:20:30+0200\n"
        "    creation_time   : 2021-06-01T10:20:30.000000Z\n"
    )
    assert video_date(header) == "2021-06-01T12:20:30+02:00"  # the phone's own local time
    clip = make_video(
        tmp_path / "clip.mp4", seconds=0.5, metadata={"creation_time": "2022-03-04T05:06:07Z"}
    )
    assert read_video_meta(clip).taken_at == "2022-03-04T05:06:07+00:00"
    plain = make_video(tmp_path / "plain.mp4", seconds=0.5)
    assert read_video_meta(plain).taken_at is None


def test_add_stores_words_and_facts(catalog: Catalog, tmp_path: Path) -> None:
    path = jpeg_with(
        tmp_path / "in" / "IMG_1043.jpeg",
        exif=exif_block(taken="2023:08:09 18:30:00", offset="-04:00", model="X100V", gps=True),
        xmp=xmp_packet(title="Harbour", description="Boats at dusk.", alt="Boats in a harbour"),
    )
    clip = make_video(
        tmp_path / "in" / "clip.mp4", seconds=0.5, metadata={"creation_time": "2022-03-04T05:06:07Z"}
    )
    results = add_files(catalog, [path, clip], approve=True)
    assert [r.status for r in results] == ["added", "added"]
    row = catalog.images.get("IMG_1043")
    assert (row["title"], row["caption"], row["alt_text"]) == (
        "Harbour",
        "Boats at dusk.",
        "Boats in a harbour",
    )
    assert row["taken_at"] == "2023-08-09T18:30:00-04:00" and row["camera"] == "X100V"
    assert catalog.images.get("clip")["taken_at"] == "2022-03-04T05:06:07+00:00"
    stored = " ".join(str(v) for v in tuple(row))
    assert "29.59" not in stored and "40.13" not in stored and "GPS" not in stored  # no location


def test_a_picture_with_nothing_to_say_has_no_words(catalog: Catalog, tmp_path: Path) -> None:
    buf = io.BytesIO()
    scene((64, 48), 3).save(buf, "JPEG")
    (tmp_path / "plain.jpeg").write_bytes(buf.getvalue())
    add_files(catalog, [tmp_path / "plain.jpeg"], approve=True)
    row = catalog.images.get("plain")
    assert [row[k] for k in ("title", "caption", "alt_text", "taken_at", "camera")] == [None] * 5
