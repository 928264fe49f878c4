"""`cvgallery reread`: words and capture facts read again from the stored originals, for
images catalogued before `add` read them (an upgraded or migrated archive)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from picture_files import exif_block, iptc_segment, jpeg_with, xmp_packet
from process_helpers import make_video

from cvgallery.catalog import Catalog
from cvgallery.commands import archive as archive_commands
from cvgallery.commands.reread import FIELDS, reread
from cvgallery.errors import UsageError
from cvgallery.ingest import add_files

HARBOUR = {
    "title": "Harbour",
    "caption": "Boats at dusk.",
    "alt": "Boats in a harbour",
    "taken_at": "2023-08-09T18:30:00-04:00",
    "camera": "FUJIFILM X100V",
}


def harbour_jpeg(path: Path) -> Path:
    return jpeg_with(
        path,
        exif=exif_block(
            taken="2023:08:09 18:30:00", offset="-04:00", make="FUJIFILM", model="X100V"
        ),
        xmp=xmp_packet(title="Harbour", description="Boats at dusk.", alt="Boats in a harbour"),
        seed=1,
    )


def forget_everything(catalog: Catalog) -> None:
    """What a catalog made before schema 5 looks like: every word and fact empty."""
    with catalog.transaction():
        for (image_id,) in catalog.conn.execute("SELECT id FROM images").fetchall():
            catalog.images.set_meta(image_id, dict.fromkeys(FIELDS))


def stored(catalog: Catalog, image_id: str) -> dict[str, str | None]:
    row = catalog.images.get(image_id)
    return {f: row["alt_text" if f == "alt" else f] for f in FIELDS}


def snapshot(db: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT * FROM images ORDER BY id").fetchall()


@pytest.fixture
def old(catalog: Catalog, tmp_path: Path) -> Catalog:
    """harbour (XMP words, EXIF date and camera), quay (an IPTC title and caption, an EXIF
    date) and plain (nothing to say), their words and facts forgotten."""
    files = [
        harbour_jpeg(tmp_path / "in" / "harbour.jpeg"),
        jpeg_with(
            tmp_path / "in" / "quay.jpeg",
            exif=exif_block(taken="2019:07:14 09:00:00"),
            iptc=iptc_segment({5: "Quay", 120: "Nets drying on the quay."}),
            seed=2,
        ),
        jpeg_with(tmp_path / "in" / "plain.jpeg", seed=3),
    ]
    assert [r.status for r in add_files(catalog, files, approve=True)] == ["added"] * 3
    assert catalog.images.get("harbour")["title"] == "Harbour"  # what add reads
    forget_everything(catalog)
    return catalog


def test_fills_what_is_empty_and_keeps_typed_words(old: Catalog) -> None:
    with old.transaction():
        old.images.set_words("harbour", {"title": "Typed by hand"})
    report = reread(old, all_images=True)
    assert report.ok
    assert report.counts == {"read": 3, "updated": 2, "unchanged": 1, "skipped": 0, "failed": 0}
    assert stored(old, "harbour") == HARBOUR | {"title": "Typed by hand", "lens": None,
                                                "exposure": None}  # fmt: skip
    quay = stored(old, "quay")
    assert (quay["title"], quay["caption"], quay["taken_at"]) == (
        "Quay",
        "Nets drying on the quay.",
        "2019-07-14T09:00:00",
    )
    assert set(stored(old, "plain").values()) == {None}
    assert "updated harbour: caption, alt, taken_at, camera" in report.lines


def test_overwrite_replaces_only_what_the_file_has(old: Catalog) -> None:
    with old.transaction():
        old.images.set_words("harbour", {"title": "Typed by hand", "caption": "Mine."})
        old.images.set_words("plain", {"caption": "A caption the file does not have."})
    report = reread(old, ["harbour", "plain"], overwrite=True)
    assert report.counts["updated"] == 1 and report.counts["failed"] == 0
    assert stored(old, "harbour")["title"] == "Harbour"
    assert stored(old, "harbour")["caption"] == "Boats at dusk."
    assert stored(old, "plain")["caption"] == "A caption the file does not have."


def test_a_missing_file_fails_alone_and_loses_nothing(old: Catalog) -> None:
    with old.transaction():
        old.images.set_words("quay", {"title": "Kept"})
    gone = old.art_dir / old.artifacts.get("quay", "upstream")["file_path"]
    gone.unlink()
    report = reread(old, all_images=True)
    assert report.code == 1
    assert report.counts == {"read": 2, "updated": 1, "unchanged": 1, "skipped": 0, "failed": 1}
    assert report.failures == [f"Error: quay: {gone}: file missing"]
    assert report.data["failures"] == [{"id": "quay", "file": str(gone), "reason": "file missing"}]
    assert stored(old, "quay")["title"] == "Kept"
    assert stored(old, "harbour")["caption"] == "Boats at dusk."  # the others went on


def test_an_unreadable_file_is_named_with_its_reason(old: Catalog) -> None:
    path = old.art_dir / old.artifacts.get("plain", "upstream")["file_path"]
    path.write_bytes(b"not a picture at all")
    report = reread(old, ["plain", "harbour", "nobody"])
    assert sorted(report.failures) == [
        f"Error: plain: {path}: not an image Pillow can read",
        "Error: unknown image id: 'nobody'",
    ]
    assert report.counts["updated"] == 1 and report.code == 1


def test_dry_run_writes_nothing(old: Catalog, site_root: Path) -> None:
    before = snapshot(site_root / "cv.db")
    report = reread(old, all_images=True, dry_run=True)
    assert report.counts["updated"] == 2
    assert "would update quay: title, caption, taken_at" in report.lines
    assert report.line().endswith("(dry run: nothing written)")
    assert report.data["updated"][0] == {"id": "harbour", "fields": HARBOUR}
    assert snapshot(site_root / "cv.db") == before


def test_an_image_with_nothing_left_to_fill_is_not_read(old: Catalog) -> None:
    with old.transaction():
        old.images.set_meta("plain", dict.fromkeys(FIELDS, "set"))
    (old.art_dir / old.artifacts.get("plain", "upstream")["file_path"]).unlink()
    report = reread(old, all_images=True)
    assert report.ok and report.counts["skipped"] == 1 and report.counts["read"] == 2


def test_all_skips_files_add_found_unreadable(catalog: Catalog, tmp_path: Path) -> None:
    broken = tmp_path / "in" / "broken.jpeg"
    broken.parent.mkdir(parents=True)
    broken.write_bytes(b"\xff\xd8\xff\xe0 truncated")
    assert add_files(catalog, [broken])[0].status == "rejected"
    assert reread(catalog, all_images=True).counts["skipped"] == 1
    named = reread(catalog, ["broken"])  # asked by name, it is tried and its reason given
    assert named.code == 1 and named.counts["failed"] == 1


def test_a_videos_capture_date(catalog: Catalog, tmp_path: Path) -> None:
    clip = make_video(
        tmp_path / "in" / "clip.mp4", seconds=0.5, metadata={"creation_time": "2022-03-04T05:06:07Z"}
    )
    add_files(catalog, [clip], approve=True)
    forget_everything(catalog)
    report = reread(catalog, ["clip"])
    assert report.counts["updated"] == 1
    assert catalog.images.get("clip")["taken_at"] == "2022-03-04T05:06:07+00:00"


def test_neither_ids_nor_all_is_refused(old: Catalog) -> None:
    with pytest.raises(UsageError, match="--all"):
        reread(old)
    with pytest.raises(UsageError, match="not both"):
        reread(old, ["harbour"], all_images=True)


def test_cli(old: Catalog, site_root: Path, cli_run) -> None:  # type: ignore[no-untyped-def]
    refused = cli_run("reread", "--root", site_root)
    assert refused.returncode == 2 and "Error: reread: give image ids" in refused.stderr

    dry = cli_run("reread", "--root", site_root, "--all", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    doc = json.loads(dry.stdout)
    assert doc["dry_run"] is True and doc["counts"]["updated"] == 2
    assert stored(old, "harbour")["title"] is None

    piped = cli_run("reread", "--root", site_root, "-", input="harbour\nquay.jpeg\n")
    assert piped.returncode == 0, piped.stderr
    assert "updated harbour: title, caption, alt, taken_at, camera" in piped.stderr
    assert "2 read, 2 updated, 0 unchanged, 0 skipped, 0 failed" in piped.stderr
    assert stored(old, "quay")["title"] == "Quay"

    (old.art_dir / old.artifacts.get("plain", "upstream")["file_path"]).unlink()
    failed = cli_run("reread", "--root", site_root, "--all", "--overwrite", "--json")
    assert failed.returncode == 1
    doc = json.loads(failed.stdout)
    assert doc["ok"] is False and doc["failures"][0]["reason"] == "file missing"
    assert doc["counts"] == {"read": 2, "updated": 0, "unchanged": 2, "skipped": 0, "failed": 1}


def test_migrate_reads_words(site_root: Path, tmp_path: Path) -> None:
    legacy = tmp_path / "legacy"
    harbour_jpeg(legacy / "img" / "harbour.jpeg")
    jpeg_with(legacy / "thumbs" / "lost.jpeg", xmp=xmp_packet(title="Lost original"), seed=5)
    report = archive_commands.migrate(site_root, legacy)
    assert report.ok, report.failures
    with Catalog.open(site_root) as catalog:
        assert stored(catalog, "harbour") == HARBOUR | {"lens": None, "exposure": None}
        assert catalog.images.get("lost")["title"] == "Lost original"


def test_a_decoder_warning_names_its_image(catalog: Catalog, site_root: Path, cli_run) -> None:  # type: ignore[no-untyped-def]
    """A real file with a corrupt EXIF block: Pillow's warning is a note naming the image,
    not a bare line about some file."""
    from picture_scenes import CORPUS

    bad = CORPUS / "pillow" / "hopper_bad_exif.jpg"
    if not bad.is_file():
        pytest.skip(f"the corpus is not here ({bad})")
    assert add_files(catalog, [bad], approve=True)[0].status == "added"
    done = cli_run("reread", "--root", site_root, "--all", "--overwrite")
    assert done.returncode == 0, done.stderr
    notes = [line for line in done.stderr.splitlines() if line.startswith("note:")]
    assert notes and all(line.startswith("note: hopper_bad_exif: ") for line in notes), notes
