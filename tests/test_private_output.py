"""Nothing private is published, and what is published is readable and valid (issue 13).

Real pictures made with Pillow, real videos made with ffmpeg, real builds through the
`cvgallery` command in subprocesses; the scrubber is also tested directly.
"""

from __future__ import annotations

import io
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import imageio_ffmpeg
import pytest
from PIL import Image, ImageCms
from PIL.PngImagePlugin import PngInfo
from process_helpers import artifacts, configure, make_video, photo, toml_command, write_script
from site_helpers import add_processed

from cvgallery.catalog import Catalog
from cvgallery.scrub import scrub
from cvgallery.store import sha256_file

NOBODY = 65534
COMMENT = b"upload comment: shot at home"
XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/">upload-xmp-secret</x:xmpmeta>'
PNG_TEXTS = {"Comment": "png-text-secret", "Author": "png-ztxt-secret", "Place": "png-itxt-secret"}
#: bytes none of which may appear in any published file
SECRETS = (
    b"Exif",
    b"GPS",
    COMMENT,
    b"upload-xmp-secret",
    *(v.encode() for v in PNG_TEXTS.values()),
)


def gps_exif(maker: str = "SecretCam") -> Image.Exif:
    """EXIF with a camera maker and a GPS IFD (position and a map datum naming "GPS")."""
    exif = Image.Exif()
    exif[0x010F] = maker
    exif[0x8825] = {1: "N", 2: (48.0, 51.0, 29.0), 3: "E", 4: (2.0, 17.0, 40.0), 18: "GPS-WGS-84"}
    return exif


def png_info() -> PngInfo:
    info = PngInfo()
    info.add_text("Comment", PNG_TEXTS["Comment"])  # tEXt
    info.add_text("Author", PNG_TEXTS["Author"], zip=True)  # zTXt
    info.add_itxt("Place", PNG_TEXTS["Place"], lang="en", tkey="Place")  # iTXt
    return info


def srgb_icc() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def cv(
    root: Path, *args: str | os.PathLike[str], ok: bool = True
) -> subprocess.CompletedProcess[str]:
    """`cvgallery ARGS --root ROOT` in a subprocess; by default it must succeed."""
    result = subprocess.run(
        [sys.executable, "-m", "cvgallery", *map(str, args), "--root", str(root)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if ok:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def output_of(root: Path) -> Path:
    return root / "art" / "gallery-html"


def files_under(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def leaks(data: bytes) -> list[bytes]:
    return [secret for secret in SECRETS if secret in data]


class Tags(HTMLParser):
    """Start tags with their attributes, and each link's text, in document order."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.links: list[tuple[str, str]] = []  # (href, text)
        self._href: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "a":
            self._href = dict(attrs).get("href") or ""
            self.links.append((self._href, ""))

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            href, text = self.links[-1]
            self.links[-1] = (href, text + data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._href = None

    def attrs(self, tag: str) -> list[dict[str, str | None]]:
        return [a for t, a in self.tags if t == tag]


def tags(page: Path) -> Tags:
    parser = Tags()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser


def linked(page: Path, url: str | None) -> Path:
    assert url, page
    return (page.parent / url).resolve()


def derived_on(page: Path) -> dict[str, Path]:
    """The derived pictures of an image page (face-swap results are named source--style):
    label → the published file."""
    return {
        img["alt"] or "": linked(page, img.get("src"))
        for img in tags(page).attrs("img")
        if "--" in (img.get("alt") or "")
    }


def larger_links(page: Path) -> list[Path]:
    """The files an image page links as its enhanced (larger) version."""
    return [
        linked(page, href)
        for href, text in tags(page).links
        if text.strip().startswith("Enhanced version")
    ]


@pytest.fixture
def root(site_root: Path) -> Path:
    """A site (made by the library's init) that approves what is added."""
    configure(site_root)
    return site_root


# --- readable output under umask 022 -------------------------------------------------------


@pytest.fixture
def public_site() -> Iterator[Path]:
    """A site made, added to and built by the CLI under umask 022, in a folder others may
    enter (pytest's tmp_path is 0700: nobody else could read anything in it)."""
    old = os.umask(0o022)
    base = Path(tempfile.mkdtemp(prefix="cvg-private-"))
    try:
        base.chmod(0o755)
        root = base / "site"
        subprocess.run(
            [sys.executable, "-m", "cvgallery", "init", str(root)],
            check=True,
            capture_output=True,
            timeout=60,
        )
        picture = photo(base / "in" / "holiday.jpeg", (160, 120))
        clip = make_video(base / "in" / "clip.mp4", seconds=1.0)
        cv(root, "add", "--approve", picture, clip)
        cv(root, "build")
    finally:
        os.umask(old)
    try:
        yield root
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_every_stored_and_published_file_is_0644_and_folder_0755(public_site: Path):
    mode = lambda p: stat.S_IMODE(p.lstat().st_mode)  # noqa: E731
    assert mode(public_site / "site.toml") == 0o644
    out = output_of(public_site)
    published = list(out.rglob("*"))
    assert any(p.suffix == ".mp4" for p in published) and any(
        p.suffix == ".jpeg" for p in published
    )
    wrong = {
        p.relative_to(out).as_posix(): oct(mode(p))
        for p in published
        if mode(p) != (0o755 if p.is_dir() else 0o644)
    }
    assert wrong == {}
    assert mode(out) == 0o755
    for stage in ("upstream", "video-sources", "web-optimized", "thumbnails-small", "video-frames"):
        folder = public_site / "art" / stage
        stored = [p for p in folder.iterdir() if p.is_file()]
        assert stored, stage
        assert mode(folder) == 0o755 and {oct(mode(p)) for p in stored} == {oct(0o644)}, stage


def test_a_published_picture_is_readable_by_another_user(public_site: Path):
    if os.geteuid() != 0:
        pytest.skip("reading as another user needs root (to switch to uid 65534)")
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is not installed")
    out = output_of(public_site)
    picture = next(p for p in (out / "media").iterdir() if p.suffix == ".jpeg")
    for folder in picture.parents:  # every folder on the way must be enterable by others
        assert folder.stat().st_mode & stat.S_IXOTH, folder

    def as_nobody(path: Path) -> subprocess.CompletedProcess[bytes]:
        argv = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "cat"]
        return subprocess.run([*argv, str(path)], capture_output=True, timeout=30)

    for path in (picture, out / "index.html"):
        read = as_nobody(path)
        assert read.returncode == 0, read.stderr
        assert read.stdout == path.read_bytes()
    # The control: a private file beside it cannot be read, so the switch of user is real.
    private = picture.parent / "private-control"
    private.write_bytes(b"x")
    private.chmod(0o600)
    assert as_nobody(private).returncode != 0


# --- metadata of uploads ---------------------------------------------------------------------


def test_upload_metadata_never_reaches_the_site(root: Path, tmp_path: Path):
    jpeg = photo(
        tmp_path / "in" / "tagged.jpeg", (160, 120), exif=gps_exif(), comment=COMMENT, xmp=XMP
    )
    png = photo(tmp_path / "in" / "texts.png", (120, 90), pnginfo=png_info())
    cv(root, "add", jpeg, png)
    cv(root, "build")
    # The uploads keep everything (a leak would be caught) ...
    upstream = {p.stem: p.read_bytes() for p in (root / "art" / "upstream").iterdir()}
    assert set(leaks(upstream["tagged"])) == {b"Exif", b"GPS", COMMENT, b"upload-xmp-secret"}
    with Image.open(root / "art" / "upstream" / "texts.png") as im:
        assert im.text == PNG_TEXTS  # tEXt, zTXt (compressed: not seen by leaks()) and iTXt
    # ... and not one byte of it is published.
    published = files_under(output_of(root))
    assert {rel: leaks(data) for rel, data in published.items() if leaks(data)} == {}
    media = [rel for rel in published if rel.startswith("media/")]
    assert len(media) >= 2
    for rel in media:
        with Image.open(io.BytesIO(published[rel])) as im:
            assert not {"exif", "comment", "xmp", "icc_profile", *PNG_TEXTS} & set(im.info), rel
            assert not im.getexif(), rel


def test_an_outside_tools_output_is_scrubbed_before_it_is_recorded(root: Path, tmp_path: Path):
    # A stand-in for ESRGAN: a 2x upscale that writes EXIF GPS, a comment and XMP into its
    # output, as real tools copy their input's metadata; it keeps a raw copy for comparison.
    tagger = write_script(
        tmp_path / "bin",
        "tagger.py",
        "from PIL import Image\n"
        "src, out, raw = sys.argv[1:4]\n"
        "exif = Image.Exif()\n"
        "exif[0x010F] = 'ToolCam'\n"
        "exif[0x8825] = {1: 'N', 2: (48.0, 51.0, 29.0), 18: 'GPS-WGS-84'}\n"
        "with Image.open(src) as im:\n"
        "    big = im.convert('RGB').resize((im.width * 2, im.height * 2))\n"
        f"big.save(out, 'JPEG', quality=90, exif=exif, comment={COMMENT!r}, xmp={XMP!r})\n"
        "shutil.copyfile(out, raw)\n",
    )
    raw = tmp_path / "bin" / "raw-{id}.jpeg"
    configure(
        root,
        toml_command(
            "ersgan-enhanced",
            [*tagger, "{input}", "{output}", str(raw)],
            input="web-optimized",
            ext="jpeg",
        ),
    )
    cv(root, "add", photo(tmp_path / "in" / "beach.jpeg", (160, 120)))
    cv(root, "process")
    row = artifacts(root, "ersgan-enhanced")["beach"]
    made = root / "art" / row["file_path"]
    tool_output = (tmp_path / "bin" / "raw-beach.jpeg").read_bytes()
    assert set(leaks(tool_output)) == {b"Exif", b"GPS", COMMENT, b"upload-xmp-secret"}
    assert leaks(made.read_bytes()) == []
    assert sha256_file(made) == row["sha256"]  # recorded as scrubbed, not as the tool wrote it
    with Image.open(made) as clean, Image.open(io.BytesIO(tool_output)) as original:
        assert clean.size == original.size == (320, 240) == (row["width"], row["height"])
        assert not clean.getexif() and "comment" not in clean.info
        assert clean.tobytes() == original.tobytes()  # not re-encoded: the same pixels

    cv(root, "build")
    page = output_of(root) / "image" / "beach.html"
    [big] = larger_links(page)
    assert big.read_bytes() == made.read_bytes()
    assert {rel: leaks(d) for rel, d in files_under(output_of(root)).items() if leaks(d)} == {}


def test_an_artifact_logged_from_outside_is_published_scrubbed_and_readable(
    root: Path, tmp_path: Path
):
    # The seed's way: an outside script makes the ESRGAN copy itself and records it with
    # `artifact log`; its file carries the tool's EXIF GPS and comment, and mode 0600.
    cv(root, "add", photo(tmp_path / "in" / "dune.jpeg", (120, 90)))
    enhanced = tmp_path / "esrgan-out" / "dune.jpeg"
    photo(enhanced, (240, 180), exif=gps_exif("ToolCam"), comment=COMMENT, xmp=XMP)
    enhanced.chmod(0o600)
    original = enhanced.read_bytes()
    cv(root, "artifact", "log", "dune", "ersgan-enhanced", enhanced)
    cv(root, "build")
    page = output_of(root) / "image" / "dune.html"
    [big] = larger_links(page)
    assert leaks(big.read_bytes()) == []
    assert big.stat().st_mode & stat.S_IROTH, oct(big.stat().st_mode)
    with Image.open(big) as clean, Image.open(io.BytesIO(original)) as tool:
        assert clean.size == tool.size and clean.tobytes() == tool.tobytes()
    assert enhanced.read_bytes() == original  # the tool's own file is left as it was


# --- cvgallery.scrub -------------------------------------------------------------------------


def picture(size: tuple[int, int] = (48, 32)) -> Image.Image:
    im = Image.linear_gradient("L").resize(size).convert("RGB")
    im.paste((200, 30, 60), (0, 0, size[0] // 3, size[1] // 3))
    return im


def encoded(fmt: str, **save: object) -> bytes:
    buf = io.BytesIO()
    picture().save(buf, fmt, **save)
    return buf.getvalue()


def decoded(data: bytes) -> tuple[tuple[int, int], str, bytes]:
    with Image.open(io.BytesIO(data)) as im:
        return im.size, im.mode, im.tobytes()


def png_chunks(data: bytes) -> list[bytes]:
    kinds, pos = [], 8
    while pos + 12 <= len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        kinds.append(data[pos + 4 : pos + 8])
        pos += 12 + length
    return kinds


def riff_chunks(data: bytes) -> list[bytes]:
    kinds, pos = [], 12
    while pos + 8 <= len(data):
        length = int.from_bytes(data[pos + 4 : pos + 8], "little")
        kinds.append(data[pos : pos + 4])
        pos += 8 + length + (length & 1)
    return kinds


def test_scrub_jpeg_drops_exif_xmp_and_comment_and_keeps_the_profile():
    icc = srgb_icc()
    data = encoded("JPEG", exif=gps_exif(), comment=COMMENT, xmp=XMP, icc_profile=icc)
    assert set(leaks(data)) == {b"Exif", b"GPS", COMMENT, b"upload-xmp-secret"}
    clean = scrub(data)
    assert leaks(clean) == [] and len(clean) < len(data)
    with Image.open(io.BytesIO(clean)) as im:
        assert im.info.get("icc_profile") == icc
        assert not im.getexif() and "comment" not in im.info and "xmp" not in im.info
    assert decoded(clean) == decoded(data)
    assert scrub(clean) == clean


def test_scrub_png_drops_text_and_exif_chunks_and_keeps_iccp():
    icc = srgb_icc()
    data = encoded("PNG", pnginfo=png_info(), exif=gps_exif(), icc_profile=icc)
    assert {b"tEXt", b"zTXt", b"iTXt", b"eXIf", b"iCCP"} <= set(png_chunks(data))
    clean = scrub(data)
    kinds = png_chunks(clean)
    assert not {b"tEXt", b"zTXt", b"iTXt", b"eXIf", b"tIME"} & set(kinds)
    assert kinds[0] == b"IHDR" and b"iCCP" in kinds and kinds[-1] == b"IEND"
    assert leaks(clean) == []
    with Image.open(io.BytesIO(clean)) as im:
        im.verify()  # every chunk's CRC is still right
    with Image.open(io.BytesIO(clean)) as im:
        assert im.info.get("icc_profile") == icc and not im.getexif()
        assert not set(PNG_TEXTS) & set(im.info)
    assert decoded(clean) == decoded(data)


@pytest.mark.parametrize("lossless", [True, False])
def test_scrub_webp_drops_exif_and_xmp_and_keeps_the_profile(lossless: bool):
    icc = srgb_icc()
    data = encoded("WEBP", exif=gps_exif(), xmp=XMP, icc_profile=icc, lossless=lossless)
    assert {b"VP8X", b"ICCP", b"EXIF", b"XMP "} <= set(riff_chunks(data))
    clean = scrub(data)
    assert not {b"EXIF", b"XMP "} & set(riff_chunks(clean)) and b"ICCP" in riff_chunks(clean)
    assert leaks(clean) == []
    assert int.from_bytes(clean[4:8], "little") == len(clean) - 8  # the RIFF size is updated
    vp8x = clean.index(b"VP8X")
    assert clean[vp8x + 8] & 0x0C == 0  # the header no longer announces EXIF or XMP
    with Image.open(io.BytesIO(clean)) as im:
        assert im.info.get("icc_profile") == icc
        assert not im.getexif() and "xmp" not in im.info
    assert decoded(clean) == decoded(data)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"plain text, not a picture\n",
        b"GIF89a\x01\x00\x01\x00\x00\x00\x00;",
        b"RIFF\x04\x00\x00\x00AVI ",
        b"\x89PNG",
        b"\xff",
        bytes(range(256)),
    ],
)
def test_scrub_leaves_other_bytes_alone(data: bytes):
    assert scrub(data) == data


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_scrub_survives_every_truncation(fmt: str):
    save: dict[str, object] = {"exif": gps_exif(), "icc_profile": srgb_icc()}
    if fmt == "JPEG":
        save.update(comment=COMMENT, xmp=XMP)
    elif fmt == "PNG":
        save.update(pnginfo=png_info())
    else:
        save.update(xmp=XMP)
    data = encoded(fmt, **save)
    for cut in range(len(data)):
        clean = scrub(data[:cut])  # never raises, never grows
        assert isinstance(clean, bytes) and len(clean) <= cut, cut
    if fmt == "JPEG":  # cut inside its image data, it still loses its metadata
        assert leaks(scrub(data[:-40])) == []


# --- videos ---------------------------------------------------------------------------------


def video_tags(path: Path) -> dict[str, str]:
    """The container's metadata as ffmpeg reads it (its ffmetadata dump)."""
    dump = subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(path), "-f", "ffmetadata", "-"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    return dict(line.split("=", 1) for line in dump.splitlines()[1:] if "=" in line)


def test_a_video_is_published_as_a_remux_without_its_metadata(root: Path, tmp_path: Path):
    secret = {"comment": "secret-video-comment", "location": "+48.8584+002.2945/"}
    upload = make_video(tmp_path / "in" / "trip.mp4", seconds=1.0, metadata=secret)
    raw = upload.read_bytes()
    assert video_tags(upload).items() >= secret.items()
    assert b"secret-video-comment" in raw and b"loci" in raw  # the location is a binary atom
    cv(root, "add", "--approve", upload)
    cv(root, "build")
    out = output_of(root)
    page = out / "image" / "trip.html"
    [source] = tags(page).attrs("source")
    published = linked(page, source["src"])
    data = published.read_bytes()
    assert data != raw and data[4:8] == b"ftyp"
    assert not {"comment", "location", "location-eng"} & set(video_tags(published))
    assert b"secret-video-comment" not in data and b"loci" not in data
    frames, _seconds = imageio_ffmpeg.count_frames_and_secs(str(published))
    assert frames == imageio_ffmpeg.count_frames_and_secs(str(upload))[0] == 10
    [video] = tags(page).attrs("video")
    assert linked(page, video["poster"]).is_file()
    # no copy of the upload anywhere in the site
    assert all(b"secret-video-comment" not in d for d in files_under(out).values())


# --- stages kept off the site, rejected styles -----------------------------------------------


def test_a_stage_with_publish_false_is_not_on_the_site(root: Path, tmp_path: Path):
    upscale = write_script(
        tmp_path / "bin",
        "upscale.py",
        "from PIL import Image\n"
        "with Image.open(sys.argv[1]) as im:\n"
        "    im.resize((im.width * 2, im.height * 2)).save(sys.argv[2], 'JPEG')\n",
    )
    argv = [*upscale, "{input}", "{output}"]
    configure(root, toml_command("ersgan-enhanced", argv, input="web-optimized", ext="jpeg"))
    cv(root, "add", photo(tmp_path / "in" / "lake.jpeg", (120, 90)))
    cv(root, "process")
    made = (root / "art" / artifacts(root, "ersgan-enhanced")["lake"]["file_path"]).read_bytes()
    cv(root, "build")
    page = output_of(root) / "image" / "lake.html"
    [big] = larger_links(page)
    assert big.read_bytes() == made  # published while the stage is

    hidden = toml_command("ersgan-enhanced", argv, input="web-optimized", ext="jpeg", publish=False)
    configure(root, hidden)
    rebuilt = cv(root, "build")
    assert "up to date" not in rebuilt.stdout + rebuilt.stderr
    assert larger_links(page) == [] and "Enhanced version" not in page.read_text()
    assert made not in files_under(output_of(root)).values()
    assert (root / "art" / "ersgan-enhanced" / "lake.jpeg").is_file()  # kept, just not published


def test_the_gallery_stage_cannot_be_kept_off_the_site(root: Path):
    configure(root, "[stages.web-optimized]\npublish = false\n")
    result = cv(root, "build", ok=False)
    assert result.returncode == 2
    assert "stages.web-optimized.publish" in result.stderr and "Traceback" not in result.stderr


BLEND = (
    "from PIL import Image\n"
    "source, style, output = sys.argv[1:4]\n"
    "a = Image.open(source).convert('RGB')\n"
    "b = Image.open(style).convert('RGB').resize(a.size)\n"
    "Image.blend(a, b, 0.3).save(output, 'JPEG', quality=90)\n"
)


def test_rejecting_a_style_takes_its_results_off_the_site(root: Path, tmp_path: Path):
    blend = write_script(tmp_path / "bin", "blend.py", BLEND)
    stage = {
        "input": "face-swap-sources",
        "each": "face-swap-styles",
        "ext": "jpeg",
    }
    argv = [*blend, "{input}", "{each}", "{output}"]
    configure(root, toml_command("face-swap-results", argv, **stage))
    for n, role in (("a", "sources"), ("b", "sources"), ("s1", "styles"), ("s2", "styles")):
        photo(tmp_path / role / f"{n}.png", (96, 64))
    cv(root, "add", tmp_path / "sources", tmp_path / "styles")
    cv(root, "artifact", "sync", "face-swap-sources", tmp_path / "sources")
    cv(root, "artifact", "sync", "face-swap-styles", tmp_path / "styles")
    cv(root, "process", "face-swap-results")
    cv(root, "build")
    out = output_of(root)
    results = {
        **derived_on(out / "image" / "a.html"),
        **derived_on(out / "image" / "b.html"),
    }
    assert set(results) == {"a--s1", "a--s2", "b--s1", "b--s2"}
    assert all(path.is_file() for path in results.values())

    cv(root, "reject", "s1")
    cv(root, "build")
    assert set(derived_on(out / "image" / "a.html")) == {"a--s2"}
    assert set(derived_on(out / "image" / "b.html")) == {"b--s2"}
    assert not results["a--s1"].exists() and not results["b--s1"].exists()
    assert results["a--s2"].is_file() and results["b--s2"].is_file()
    assert not (out / "image" / "s1.html").exists()

    cv(root, "reject", "b")  # a source rejected: its page and its results go
    cv(root, "build")
    assert not results["b--s2"].exists() and results["a--s2"].is_file()

    # a derived stage kept off the site: no result at all
    configure(root, toml_command("face-swap-results", argv, **stage, publish=False))
    cv(root, "build")
    assert derived_on(out / "image" / "a.html") == {} and not results["a--s2"].exists()


# --- the site's static/ folder and deploy folders --------------------------------------------


def test_the_sites_static_folder_is_copied_to_the_output_root(root: Path, tmp_path: Path):
    mine = {
        "CNAME": b"gallery.example.org\n",
        "robots.txt": b"User-agent: *\nDisallow:\n",
        ".well-known/security.txt": b"Contact: mailto:security@example.org\n",
        "favicon.ico": bytes(range(256)) * 2,
    }
    for rel, data in mine.items():
        (root / "static" / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / "static" / rel).write_bytes(data)
    cv(root, "add", photo(tmp_path / "in" / "p.jpeg", (80, 60)))
    cv(root, "build")
    out = output_of(root)
    assert {rel: (out / rel).read_bytes() for rel in mine} == mine
    assert "up to date" in cv(root, "build").stderr

    (root / "static" / "robots.txt").write_bytes(b"User-agent: *\nDisallow: /private/\n")
    rebuilt = cv(root, "build")
    assert "up to date" not in rebuilt.stderr
    assert (out / "robots.txt").read_bytes() == b"User-agent: *\nDisallow: /private/\n"
    assert (out / "CNAME").read_bytes() == mine["CNAME"]


def test_a_deploy_checkout_keeps_its_git_folder_and_cname(site_root: Path, tmp_path: Path):
    deploy = tmp_path / "deploy"
    theirs = {
        ".git/HEAD": b"ref: refs/heads/gh-pages\n",
        ".git/objects/ab/cdef": b"a git object",
        "CNAME": b"pics.example.org\n",
    }
    for rel, data in theirs.items():
        (deploy / rel).parent.mkdir(parents=True, exist_ok=True)
        (deploy / rel).write_bytes(data)
    first = photo(tmp_path / "in" / "first.jpeg", (80, 60))
    second = photo(tmp_path / "in" / "second.jpeg", (80, 60))
    cv(site_root, "add", "--approve", first)
    cv(site_root, "add", second)  # pending
    cv(site_root, "build", "--output", deploy)
    assert (deploy / "image" / "first.html").is_file()
    assert not (deploy / "image" / "second.html").exists()
    assert {rel: (deploy / rel).read_bytes() for rel in theirs} == theirs

    cv(site_root, "approve", "second")
    cv(site_root, "build", "--output", deploy)
    assert (deploy / "image" / "second.html").is_file()
    assert {rel: (deploy / rel).read_bytes() for rel in theirs} == theirs


def test_a_folder_with_other_files_is_not_built_into(site_root: Path, tmp_path: Path):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "CNAME").write_text("pics.example.org\n")
    (foreign / "notes.txt").write_text("keep me")
    cv(site_root, "add", "--approve", photo(tmp_path / "in" / "p.jpeg", (80, 60)))
    result = cv(site_root, "build", "--output", foreign, ok=False)
    assert result.returncode != 0 and "not empty" in result.stderr
    assert sorted(p.name for p in foreign.iterdir()) == ["CNAME", "notes.txt"]
    assert (foreign / "notes.txt").read_text() == "keep me"


# --- valid feed and sitemap, base_url ---------------------------------------------------------

ATOM = "{http://www.w3.org/2005/Atom}"
SITEMAP = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
CONTROL = "".join(map(chr, [*range(0, 9), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F]))


def test_feed_and_sitemap_are_well_formed_whatever_the_names_hold(site_root: Path, tmp_path: Path):
    toml = site_root / "site.toml"
    toml.write_text(
        'title = "My\\u0001 <Gallery> & co\\u000b"\ndescription = "d\\u001fesc <&>"\n',
        encoding="utf-8",
    )
    with Catalog.open(site_root) as catalog:
        assert catalog.config.title == "My\x01 <Gallery> & co\x0b"
        add_processed(
            catalog,
            "odd\x01<&>\x0bid\x1f",
            seed=1,
            user="us\x0ber <&>\x1f",
            url="https://example.org/\x01x",
            created_at="2026-04-01 10:00:00",
        )
        add_processed(catalog, "plain", seed=2, user="ann", created_at="2026-04-01 09:00:00")
    out = tmp_path / "out"
    cv(site_root, "build", "--no-process", "--output", out, "--base-url", "https://example.org/g")

    feed = ET.parse(out / "feed.xml").getroot()
    assert feed.findtext(f"{ATOM}title") == "My <Gallery> & co"
    assert feed.findtext(f"{ATOM}subtitle") == "desc <&>"
    entries = feed.findall(f"{ATOM}entry")
    # titles are readable forms of the ids (issue 12), control characters dropped
    assert [e.findtext(f"{ATOM}title") for e in entries] == ["Odd<&> id", "Plain"]
    assert entries[0].findtext(f"{ATOM}author/{ATOM}name") == "user <&>"
    content = entries[0].findtext(f"{ATOM}content") or ""
    # the entry's HTML holds the words escaped, never as markup
    assert 'alt="Odd&lt;&amp;&gt; id"' in content and "<&>" not in content

    sitemap = ET.parse(out / "sitemap.xml").getroot()
    locs = [loc.text or "" for loc in sitemap.iter(f"{SITEMAP}loc")]
    assert locs and all(loc.startswith("https://example.org/g/") for loc in locs)
    assert len(locs) == 2 + 2 + 2  # the home page and page 1, two image pages, two users
    for path in out.rglob("*"):
        if path.suffix in (".html", ".xml"):
            text = path.read_text(encoding="utf-8")
            assert not set(text) & set(CONTROL), path


@pytest.mark.parametrize("value", ["ftp://x", "example.org", "https://", "/gallery"])
def test_a_base_url_that_is_no_http_url_is_a_config_error(root: Path, value: str):
    (root / "site.toml").write_text(f'base_url = "{value}"\n', encoding="utf-8")
    result = cv(root, "build", ok=False)
    assert result.returncode == 2, result.stderr
    assert "base_url" in result.stderr and value.rstrip("/") in result.stderr
    assert "Traceback" not in result.stderr


def test_a_bad_base_url_option_is_a_usage_error(root: Path, tmp_path: Path):
    cv(root, "add", photo(tmp_path / "in" / "p.jpeg", (80, 60)))
    result = cv(root, "build", "--base-url", "notaurl", ok=False)
    assert result.returncode == 2 and "--base-url" in result.stderr and "notaurl" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (output_of(root) / "index.html").exists()


def test_without_base_url_no_sitemap_and_build_says_so_once(root: Path, tmp_path: Path):
    cv(root, "add", photo(tmp_path / "in" / "p.jpeg", (80, 60)), photo(tmp_path / "in" / "q.jpeg"))
    result = cv(root, "build")
    out = output_of(root)
    assert (out / "index.html").is_file() and not (out / "sitemap.xml").exists()
    assert (result.stdout + result.stderr).count("sitemap.xml not written") == 1
    ET.parse(out / "feed.xml")  # the feed is written: its ids are URNs without a base_url

    (root / "site.toml").write_text(
        'base_url = "https://example.org"\n[review]\nauto_approve = true\n', encoding="utf-8"
    )
    with_url = cv(root, "build")
    assert "sitemap.xml not written" not in with_url.stdout + with_url.stderr
    assert ET.parse(out / "sitemap.xml").getroot().tag == f"{SITEMAP}urlset"
