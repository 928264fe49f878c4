"""BlurHash: fill_blurhashes, its context, recomputation, and agreement with reference decoders."""

from __future__ import annotations

import json
from pathlib import Path

import blurhash as pure_blurhash
import blurhash_rs
import pytest
from click.testing import CliRunner
from PIL import Image, ImageStat
from process_helpers import add, artifacts, configure, photo

from cvgallery.catalog import Catalog
from cvgallery.cli import cli
from cvgallery.process import process
from cvgallery.stages.blurhash import (
    context,
    encode_file,
    fill_blurhashes,
    library_version,
    reduce,
)

# woltapp/blurhash's README example.
REFERENCE = "LEHV6nWB2yk8pyo0adR*.7kCMdnj"


@pytest.fixture
def root(site_root: Path) -> Path:
    configure(site_root)
    return site_root


def cache(root: Path) -> dict[str, dict[str, object]]:
    with Catalog.open(root) as catalog:
        rows = catalog.conn.execute("SELECT * FROM blurhash_cache")
        return {r["image_id"]: dict(r) for r in rows}


def test_reference_vector_decodes_alike() -> None:
    assert pure_blurhash.components(REFERENCE) == (4, 3)
    ours = blurhash_rs.blurhash_decode(REFERENCE, 32, 32).convert("RGB")
    theirs = pure_blurhash.decode(REFERENCE, 32, 32)
    mean_theirs = [sum(px[c] for row in theirs for px in row) / 1024 for c in range(3)]
    for a, b in zip(ImageStat.Stat(ours).mean, mean_theirs, strict=True):
        assert abs(a - b) < 3


def test_hash_carries_the_average_colour(tmp_path: Path) -> None:
    path = tmp_path / "teal.png"
    Image.new("RGB", (400, 300), (20, 140, 160)).save(path)
    code = encode_file(path, 4, 3)
    assert pure_blurhash.components(code) == (4, 3)
    decoded = blurhash_rs.blurhash_decode(code, 20, 15).convert("RGB")
    for got, want in zip(ImageStat.Stat(decoded).mean, (20, 140, 160), strict=True):
        assert abs(got - want) < 6
    # The same input through the pure-Python reference encoder gives the same average.
    small = reduce(Image.open(path))
    pixels = [
        [list(small.getpixel((x, y))) for x in range(small.width)] for y in range(small.height)
    ]
    reference = pure_blurhash.encode(pixels, 4, 3)
    assert reference[:6] == code[:6]  # size flag, max AC and DC colour agree


def test_process_fills_hashes_and_fill_completes_the_rest(root: Path, tmp_path: Path) -> None:
    add(root, photo(tmp_path / "in/a.jpeg"), photo(tmp_path / "in/b.jpeg", (500, 900)))
    with Catalog.open(root) as catalog:
        process(catalog, workers=1)
    web = artifacts(root, "web-optimized")
    rows = cache(root)
    assert set(rows) == {"a", "b"}
    for image_id, row in rows.items():
        assert (row["width"], row["height"]) == (web[image_id]["width"], web[image_id]["height"])
        assert row["context"] == context(4, 3) == f"blurhash-rs {library_version()} 32px 4x3"
        assert row["blurhash"] == encode_file(root / "art" / web[image_id]["file_path"], 4, 3)
    with Catalog.open(root) as catalog:
        catalog.conn.execute("DELETE FROM blurhash_cache WHERE image_id = 'b'")
        report = fill_blurhashes(catalog)
    assert (report.made, report.skipped, report.failed) == (1, 1, [])
    assert cache(root)["b"]["blurhash"] == rows["b"]["blurhash"]


def test_changed_components_recompute(root: Path, tmp_path: Path) -> None:
    add(root, photo(tmp_path / "in/a.jpeg"))
    with Catalog.open(root) as catalog:
        process(catalog, workers=1)
    configure(root, "[blurhash]\nx = 5\ny = 4\n")
    with Catalog.open(root) as catalog:
        report = fill_blurhashes(catalog)
    assert report.made == 1
    row = cache(root)["a"]
    assert row["context"] == f"blurhash-rs {library_version()} 32px 5x4"
    assert pure_blurhash.components(str(row["blurhash"])) == (5, 4)


def test_hashes_from_elsewhere_are_kept_until_their_artifact_changes(
    root: Path, tmp_path: Path
) -> None:
    add(root, photo(tmp_path / "in/a.jpeg"), photo(tmp_path / "in/b.jpeg"))
    with Catalog.open(root) as catalog:
        process(catalog, workers=1)
        # The seed's db-store-blurhash writes no context; migrate records its source.
        catalog.artifacts.store_blurhash("a", "web-optimized", REFERENCE, 400, 300)
        catalog.artifacts.store_blurhash(
            "b", "web-optimized", REFERENCE, 400, 300, '{"migrated_from": "blur/b.txt"}'
        )
        assert fill_blurhashes(catalog).made == 0
        assert {r["blurhash"] for r in cache(root).values()} == {REFERENCE}
        catalog.conn.execute(
            "UPDATE artifacts SET created_at = '2999-01-01 00:00:00' "
            "WHERE image_id = 'a' AND stage = 'web-optimized'"
        )
        assert fill_blurhashes(catalog).made == 1
    assert cache(root)["a"]["blurhash"] != REFERENCE and cache(root)["b"]["blurhash"] == REFERENCE


def test_ids_limit_and_unreadable_artifact(root: Path, tmp_path: Path) -> None:
    add(root, photo(tmp_path / "in/a.jpeg"), photo(tmp_path / "in/b.jpeg"))
    with Catalog.open(root) as catalog:
        process(catalog, workers=1)
        catalog.conn.execute("DELETE FROM blurhash_cache")
        assert fill_blurhashes(catalog, ids=["a"]).made == 1
        (root / "art/web-optimized/b.jpeg").write_bytes(b"gone bad")
        report = fill_blurhashes(catalog)
    assert report.made == 0 and report.skipped == 1
    assert [i for i, _ in report.failed] == ["b"] and "b.jpeg" in report.failed[0][1]


def test_blurhash_command(root: Path, tmp_path: Path) -> None:
    add(root, photo(tmp_path / "in/a.png", (300, 200)))
    with Catalog.open(root) as catalog:
        process(catalog, workers=1)
        catalog.conn.execute("DELETE FROM blurhash_cache")
    runner = CliRunner()
    result = runner.invoke(cli, ["blurhash", "--json", "--root", str(root)])
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"made": 1, "skipped": 0, "failed": []}
    result = runner.invoke(cli, ["blurhash", "--root", str(root)])
    assert "made 0, skipped 1, failed 0" in result.output


def test_hashes_come_from_a_small_reduction(root: Path, tmp_path: Path, monkeypatch) -> None:
    add(root, photo(tmp_path / "in/a.jpeg", (1600, 1200)), photo(tmp_path / "in/b.png", (900, 600)))
    with Catalog.open(root) as catalog:
        process(catalog, workers=1)
        catalog.conn.execute("DELETE FROM blurhash_cache")
    from cvgallery.stages import blurhash as blurhash_stage

    sizes: list[tuple[int, int]] = []
    real = blurhash_rs.blurhash_encode

    def spy(im: Image.Image, x: int, y: int) -> str:
        sizes.append(im.size)
        return str(real(im, x, y))

    monkeypatch.setattr(blurhash_stage.blurhash_rs, "blurhash_encode", spy)
    with Catalog.open(root) as catalog:
        assert fill_blurhashes(catalog).made == 2
    # The 400 px web copies are hashed from at most 32 px, never at full size.
    assert len(sizes) == 2 and all(max(size) == 32 for size in sizes), sizes
    assert {(r["width"], r["height"]) for r in cache(root).values()} == {(400, 267), (400, 300)}
