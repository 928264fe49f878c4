"""Every file under an added path gets a line, and every kind of picture or video that
Pillow (with pillow-heif) or ffmpeg reads is added and processed: HEIC, MPO, PSD, video
containers beyond MP4, files with no extension or a misleading one."""

from __future__ import annotations

import os
import struct
import subprocess
from pathlib import Path

import imageio_ffmpeg
import pytest
from PIL import Image
from process_helpers import BASE_TOML, artifacts

from cvgallery.catalog import Catalog
from cvgallery.ingest import add_files
from cvgallery.pixels import register_plugins
from cvgallery.probe import sniff
from cvgallery.process import process

RED, GREEN, BLUE = (220, 20, 20), (20, 200, 20), (20, 20, 220)


@pytest.fixture
def root(site_root: Path) -> Path:
    (site_root / "site.toml").write_text(BASE_TOML, encoding="utf-8")
    return site_root


def by_name(results) -> dict[str, tuple[str, str | None]]:
    return {r.path.name: (r.status, r.reason) for r in results}


def jpeg(path: Path, color=RED, size=(64, 48)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path, "JPEG")
    return path


def video(path: Path, *codec: str, size: str = "64x48") -> Path:
    """A one-second test pattern; ``codec`` picks an encoder the container takes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    argv = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi"]
    argv += ["-i", f"testsrc=size={size}:rate=10", "-t", "1", *(codec or ("-pix_fmt", "yuv420p"))]
    subprocess.run([*argv, str(path)], check=True, capture_output=True, timeout=60)
    return path


def centre(path: Path) -> tuple[int, ...]:
    with Image.open(path) as im:
        return im.convert("RGB").getpixel((im.width // 2, im.height // 2))  # type: ignore[return-value]


def near(a: tuple[int, ...], b: tuple[int, ...], tolerance: int = 12) -> bool:
    return all(abs(x - y) <= tolerance for x, y in zip(a, b, strict=True))


def test_every_file_in_a_folder_gets_a_line(catalog: Catalog, tmp_path: Path) -> None:
    top = tmp_path / "drop"
    jpeg(top / "a.jpeg")
    (top / "notes.txt").write_text("not a picture")
    (top / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    jpeg(top / ".thumbnails" / "t.jpeg")
    jpeg(tmp_path / "elsewhere" / "linked.jpeg")
    (top / "link-to-folder").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (top / "dangling.jpeg").symlink_to(tmp_path / "gone.jpeg")
    os.mkfifo(top / "pipe.jpeg")  # reading it would block forever
    (top / "IMG_0001").write_bytes(jpeg(tmp_path / "x.jpeg", GREEN).read_bytes())
    video(tmp_path / "v.mp4")
    (top / "clip.jpg").write_bytes((tmp_path / "v.mp4").read_bytes())  # a video named .jpg
    (top / "DSC_0001.NEF").write_bytes(b"II*\0" + bytes(100))
    (top / "song.m4a").write_bytes(b"\0\0\0\x18ftypM4A \0\0\0\0M4A isom" + bytes(64))
    (top / "app.ts").write_text("export const x: number = 1;\n")  # TypeScript, not MPEG-TS
    (top / "empty.txt").write_bytes(b"")

    results = add_files(catalog, [top])

    lines = by_name(results)
    assert lines == {
        "a.jpeg": ("added", None),
        "notes.txt": ("skipped", "not a picture or video"),
        ".DS_Store": ("skipped", "hidden file"),
        ".thumbnails": ("skipped", "hidden folder"),
        "link-to-folder": ("skipped", "link to a folder, not followed"),
        "dangling.jpeg": ("skipped", "dangling link"),
        "pipe.jpeg": ("skipped", "not a regular file"),
        "IMG_0001": ("added", None),
        "clip.jpg": ("added", None),
        "DSC_0001.NEF": (
            "skipped",
            "camera raw file, not read (add a JPEG, TIFF or HEIC of it)",
        ),
        "song.m4a": ("skipped", "an audio file, not a picture or video"),
        "app.ts": ("skipped", "not a picture or video"),
        "empty.txt": ("skipped", "not a picture or video"),
    }
    assert len(results) == len(lines)  # one line per file, none twice
    # Judged by content: stored under the extension their content has.
    assert catalog.artifacts.get("IMG_0001", "upstream")["file_path"] == "upstream/IMG_0001.jpg"
    assert catalog.images.get("IMG_0001")["mime_type"] == "image/jpeg"
    clip = catalog.artifacts.get("clip", "video-sources")
    assert clip["file_path"] == "video-sources/clip.mp4"
    assert catalog.images.get("clip")["mime_type"] == "video/mp4"
    # Nothing skipped was copied in.
    stored = sorted(p.name for p in catalog.art_dir.glob("*/*"))
    assert stored == ["IMG_0001.jpg", "a.jpeg", "clip.mp4"]


def test_skipped_files_are_counted_and_do_not_fail_add(root: Path, tmp_path: Path, cli_run) -> None:
    jpeg(tmp_path / "in" / "a.jpeg")
    (tmp_path / "in" / "notes.txt").write_text("hello")
    run = cli_run("add", tmp_path / "in", "--root", root)
    assert run.returncode == 0, run.stderr
    out = run.stdout + run.stderr
    assert f"skipped {tmp_path / 'in' / 'notes.txt'}: not a picture or video\n" in out
    assert "1 added, 0 duplicate, 0 rejected, 1 skipped, 0 error" in out


@pytest.mark.parametrize(
    ("name", "head", "kind", "ext"),
    [
        ("x", b"\xff\xd8\xff\xe0\0\x10JFIF", "image", ".jpg"),
        ("x.dat", b"\x89PNG\r\n\x1a\n", "image", ".png"),
        ("x.jpg", b"\x89PNG\r\n\x1a\n", "image", ".jpg"),  # a picture keeps its name
        ("x", b"\0\0\0\x18ftypheic\0\0\0\0mif1heic", "image", ".heic"),
        ("x", b"\0\0\0\x1cftypavif\0\0\0\0avifmif1miaf", "image", ".avif"),
        ("x", b"\0\0\0\x1cftypmif1\0\0\0\0mif1avifmiaf", "image", ".avif"),
        ("x", b"\0\0\0\x1cftypmp42\0\0\0\0mp42mif1isom", "video", ".mp4"),
        ("x", b"8BPS\0\1" + bytes(20), "image", ".psd"),
        ("x", b"RIFF\0\0\0\0WEBPVP8 ", "image", ".webp"),
        ("x", b"MM\0*\0\0\0\x08", "image", ".tif"),
        ("x.jpg", b"\0\0\0\x20ftypisom\0\0\2\0isomiso2avc1mp41", "video", ".mp4"),
        ("x", b"\0\0\0\x14ftypqt  \0\0\0\0qt  ", "video", ".mov"),
        ("x", b"\0\0\0\x14ftyp3gp4\0\0\0\0", "video", ".3gp"),
        ("x", b"\x1a\x45\xdf\xa3\x9fB\x86\x81\1B\xf7\x81\1B\xf2\x81\4B\xf3\x81\x08B\x82\x84webm", "video", ".webm"),
        ("x", b"RIFF\0\0\0\0AVI LIST", "video", ".avi"),
        ("x", b"OggS\0\2" + bytes(22) + b"\x80theora", "video", ".ogv"),
        ("x.ogg", b"OggS\0\2" + bytes(22) + b"\x01vorbis", None, ".ogg"),
        ("x", b"\0\0\1\xba\x44", "video", ".mpg"),
        ("x", (b"\x47" + bytes(187)) * 3, "video", ".ts"),
        ("x", (bytes(4) + b"\x47" + bytes(187)) * 3, "video", ".m2ts"),
        ("x", b"FLV\1\5", "video", ".flv"),
        ("x", b"\x30\x26\xb2\x75\x8e\x66\xcf\x11\xa6\xd9", "video", ".wmv"),
        ("x.wmv", b"\x30\x26\xb2\x75\x8e\x66\xcf\x11\xa6\xd9", "video", ".wmv"),
        ("x.dv", b"\x1f\x07\0", "video", ".dv"),  # no signature: the extension is trusted
        ("x.jpeg", b"plain text", "image", ".jpeg"),  # the probe will say what is wrong
        ("x.BMP", b"BM" + bytes(12) + b"\x28\0\0\0", "image", ".bmp"),
        ("BMW notes", b"BMW 320d service at 60000 km", None, ""),
        ("x.CR3", b"\0\0\0\x18ftypcrx ", None, ".cr3"),
    ],
)
def test_sniff(name: str, head: bytes, kind: str | None, ext: str) -> None:
    media = sniff(name, head)
    assert (media.kind, media.ext) == (kind, ext)
    assert (media.reason is None) == (kind is not None)


def heic(path: Path, color=RED) -> Path:
    register_plugins()
    Image.new("RGB", (64, 48), color).save(path, "HEIF", quality=95)
    return path


def mpo(path: Path) -> Path:
    first, second = Image.new("RGB", (64, 48), RED), Image.new("RGB", (64, 48), BLUE)
    first.save(path, "MPO", save_all=True, append_images=[second])
    return path


def psd(path: Path, composite=RED, layer=GREEN) -> Path:
    """A Photoshop file with one layer (``layer``) and a different composite: what a
    gallery shows is the composite (the flattened picture Photoshop stores beside layers)."""
    w, h = 64, 48
    header = b"8BPS" + struct.pack(">H6xHIIHH", 1, 3, h, w, 8, 3)  # 3 channels, 8-bit RGB
    planes = [bytes([c]) * (w * h) for c in layer]
    record = struct.pack(">iiiiH", 0, 0, h, w, 3)
    record += b"".join(struct.pack(">hI", i, 2 + w * h) for i in range(3))
    name = b"\x05layer\0\0"  # Pascal string padded to a multiple of 4
    extra = struct.pack(">II", 0, 0) + name  # no mask, no blending ranges
    record += b"8BIMnorm" + bytes([255, 0, 0, 0]) + struct.pack(">I", len(extra)) + extra
    channel_data = b"".join(struct.pack(">H", 0) + p for p in planes)
    layer_info = struct.pack(">h", 1) + record + channel_data
    layer_info += b"\0" * (len(layer_info) % 2)
    layers = struct.pack(">I", len(layer_info)) + layer_info + struct.pack(">I", 0)
    body = struct.pack(">II", 0, 0) + struct.pack(">I", len(layers)) + layers
    image = struct.pack(">H", 0) + b"".join(bytes([c]) * (w * h) for c in composite)
    path.write_bytes(header + body + image)
    return path


def test_heic_mpo_and_psd_are_added_and_processed(root: Path, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    heic(folder / "phone.heic")
    mpo(folder / "stereo.mpo")
    psd(folder / "layered.psd")
    with Image.open(folder / "layered.psd") as check:  # the file is what the test says
        assert check.format == "PSD" and len(check.layers) == 1  # type: ignore[attr-defined]
    with Catalog.open(root) as catalog:
        results = add_files(catalog, [folder], approve=True)
        assert by_name(results) == {
            "phone.heic": ("added", None),
            "stereo.mpo": ("added", None),
            "layered.psd": ("added", None),
        }
        mimes = {i: catalog.images.get(i)["mime_type"] for i in ("phone", "stereo", "layered")}
        assert mimes == {
            "phone": "image/heic",
            "stereo": "image/mpo",
            "layered": "image/vnd.adobe.photoshop",
        }
        report = process(catalog, workers=2)
    assert report.failed == [] and report.made == 6
    web = artifacts(root, "web-optimized")
    for image_id in ("phone", "stereo", "layered"):  # MPO: its first frame; PSD: the composite
        assert near(centre(root / "art" / web[image_id]["file_path"]), RED), image_id


CONTAINERS = {
    "a.ogv": ("-c:v", "libtheora"),
    "b.avi": ("-c:v", "mpeg4"),
    "c.mpg": ("-c:v", "mpeg2video"),
    "d.3gp": ("-c:v", "h263", "-s", "176x144"),
    "e.ts": ("-c:v", "mpeg2video"),
    "f.m2ts": ("-c:v", "mpeg2video"),
    "g.flv": ("-c:v", "flv1"),
    "h.wmv": ("-c:v", "wmv2"),
    "i.mkv": ("-c:v", "mpeg4"),
    "j.mov": ("-c:v", "mpeg4"),
    "k.webm": ("-c:v", "libvpx"),
    "l.vob": ("-c:v", "mpeg2video"),
    "m.asf": ("-c:v", "wmv1"),
    "no-extension": ("-c:v", "libtheora", "-f", "ogg"),
}


def test_video_containers_ffmpeg_reads_are_videos(root: Path, tmp_path: Path, cli_run) -> None:
    (root / "site.toml").write_text(BASE_TOML + "[stages.video-frames]\nframes = 1\n")
    folder = tmp_path / "clips"
    for name, codec in CONTAINERS.items():
        video(folder / name, *codec)
    video(folder / "raw.m2v", "-c:v", "mpeg2video")  # an elementary stream: no duration
    with Catalog.open(root) as catalog:
        results = by_name(add_files(catalog, [folder], approve=True))
        assert results.pop("raw.m2v") == (
            "rejected",
            "invalid: unreadable video (ffmpeg finds no duration: a raw stream?)",
        )
        assert results == dict.fromkeys(CONTAINERS, ("added", None))
        paths = {r["image_id"]: r["file_path"] for r in catalog.conn.execute(
            "SELECT image_id, file_path FROM artifacts WHERE stage = 'video-sources'")}  # fmt: skip
        assert paths["no-extension"] == "video-sources/no-extension.ogv"
        report = process(catalog, workers=2)
    assert report.failed == []
    posters = artifacts(root, "video-frames")
    ids = {Path(n).stem if n != "no-extension" else n for n in CONTAINERS}
    assert ids <= set(posters)
    for image_id in ids:
        assert (root / "art" / posters[image_id]["file_path"]).stat().st_size > 0
    # Published as a remux into their own container (Theora does not go into MP4).
    built = cli_run("build", "--no-process", "--root", root)
    assert built.returncode == 0 and ", 0 failed" in built.stderr, built.stdout + built.stderr
    media = {p.suffix for p in (root / "art" / "gallery-html" / "media").iterdir()}
    assert {".ogv", ".avi", ".mpg", ".ts", ".m2ts", ".flv", ".wmv", ".3gp"} <= media
