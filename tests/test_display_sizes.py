"""Display sizes: display-<w> JPEGs and display-<w>-<format> copies made beside the 400-px
web copy from one decode, never upscaled, skipped where they would repeat a smaller one;
their config, their place in init/verify/export-legacy, and the pages' srcsets."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
from picture_files import scene
from PIL import Image, features
from site_helpers import add_processed
from test_site import parse

from cvgallery.catalog import Catalog, FileFacts
from cvgallery.config import display_stages, load_config, parse_config
from cvgallery.errors import ConfigError
from cvgallery.ingest import add_files
from cvgallery.legacy.export import export_legacy
from cvgallery.process import process
from cvgallery.site import build_site
from cvgallery.stages import resize as resize_stage
from cvgallery.verify import verify_catalog

DEFAULT_DISPLAY = [
    "display-1600", "display-1600-webp", "display-2400", "display-2400-webp",
    "display-400-webp", "display-800", "display-800-webp",
]  # fmt: skip


def add_photos(catalog: Catalog, folder: Path, sizes: dict[str, tuple[int, int]]) -> None:
    for n, (name, size) in enumerate(sizes.items()):
        path = folder / f"{name}.jpeg"
        path.parent.mkdir(parents=True, exist_ok=True)
        scene(size, n).save(path, quality=90)
    results = add_files(catalog, [folder / f"{name}.jpeg" for name in sizes], approve=True)
    assert all(r.status == "added" for r in results), [r.line() for r in results]


def made(catalog: Catalog, image_id: str) -> dict[str, dict[str, object]]:
    rows = catalog.conn.execute(
        "SELECT stage, file_path, width, height, processing_params FROM artifacts "
        "WHERE image_id = ? AND stage != 'upstream'",
        (image_id,),
    )
    return {r["stage"]: dict(r) for r in rows}


# -- config ------------------------------------------------------------------------------------


def test_default_display_stages(site_root: Path) -> None:
    config = load_config(site_root)
    assert sorted(s for s in config.stages if s.startswith("display-")) == DEFAULT_DISPLAY
    d1600 = config.stages["display-1600"].settings
    assert (d1600.size, d1600.fit, d1600.format, d1600.min_source) == (1600, "width", "jpeg", 800)
    webp = config.stages["display-400-webp"].settings
    assert (webp.size, webp.format, webp.min_source) == (400, "webp", 0)
    assert config.sort == "taken" and config.show_exif is False
    assert all((site_root / "art" / stage).is_dir() for stage in DEFAULT_DISPLAY)  # init


def test_display_table_and_its_errors(tmp_path: Path) -> None:
    config = parse_config(tmp_path, {"display": {"widths": [1200, 640], "formats": []}})
    assert sorted(s for s in config.stages if s.startswith("display-")) == [
        "display-1200",
        "display-640",
    ]
    assert config.stages["display-1200"].settings.min_source == 640
    none = parse_config(tmp_path, {"display": {"widths": [], "formats": []}})
    assert not [s for s in none.stages if s.startswith("display-")]
    # A site's own web width: the modern format is made at it too.
    wide = parse_config(tmp_path, {"stages": {"web-optimized": {"size": 600}}})
    assert "display-600-webp" in wide.stages and "display-400-webp" not in wide.stages
    # One stage tuned by hand keeps the rest.
    tuned = parse_config(tmp_path, {"stages": {"display-800": {"quality": 90}}})
    assert tuned.stages["display-800"].settings.quality == 90
    for bad, message in (
        ({"display": {"widths": [800, "big"]}}, "display.widths"),
        ({"display": {"widths": [8]}}, "display.widths"),
        ({"display": {"formats": ["gif"]}}, "display.formats"),
        ({"display": {"size": 3}}, "unknown key display.size"),
        ({"sort": "random"}, "sort must be"),
        ({"show_exif": "yes"}, "show_exif must be a bool"),
        ({"stages": {"display-800": {"effort": 9}}}, "effort must be an integer 0..6"),
    ):
        with pytest.raises(ConfigError, match=message):
            parse_config(tmp_path, bad)


def test_names_and_thresholds() -> None:
    stages = display_stages((800, 1600), ("avif", "webp"), 400)
    assert {k: (v["size"], v["format"], v["min_source"]) for k, v in stages.items()} == {
        "display-800": (800, "jpeg", 400),
        "display-1600": (1600, "jpeg", 800),
        "display-400-avif": (400, "avif", 0),
        "display-800-avif": (800, "avif", 400),
        "display-1600-avif": (1600, "avif", 800),
        "display-400-webp": (400, "webp", 0),
        "display-800-webp": (800, "webp", 400),
        "display-1600-webp": (1600, "webp", 800),
    }


# -- making them -------------------------------------------------------------------------------


def test_sizes_are_never_upscaled_and_skipped_when_they_would_repeat(
    catalog: Catalog, tmp_path: Path
) -> None:
    add_photos(
        catalog,
        tmp_path / "in",
        {"big": (2600, 1734), "portrait": (1000, 1500), "mid": (1000, 667), "small": (300, 200)},
    )
    report = process(catalog, workers=1)
    assert report.failed == []
    big = made(catalog, "big")
    assert {s: big[s]["width"] for s in DEFAULT_DISPLAY} == {
        "display-800": 800, "display-1600": 1600, "display-2400": 2400,
        "display-400-webp": 400, "display-800-webp": 800, "display-1600-webp": 1600,
        "display-2400-webp": 2400,
    }  # fmt: skip
    mid = made(catalog, "mid")  # 1000 wide: 1600 is made at 1000 once; 2400 would repeat it
    assert {s: mid[s]["width"] for s in mid if s.startswith("display-")} == {
        "display-800": 800, "display-1600": 1000, "display-400-webp": 400,
        "display-800-webp": 800, "display-1600-webp": 1000,
    }  # fmt: skip
    assert made(catalog, "portrait")["display-1600"]["height"] == 1500  # widths, not edges
    small = made(catalog, "small")
    assert sorted(small) == ["display-400-webp", "thumbnails-small", "web-optimized"]
    assert small["display-400-webp"]["width"] == 300
    for stage, row in big.items():  # every file is what its row says
        with Image.open(catalog.art_dir / str(row["file_path"])) as im:
            assert im.size == (row["width"], row["height"]), stage
            assert im.format == ("WEBP" if stage.endswith("-webp") else "JPEG"), stage
    params = json.loads(str(big["display-1600-webp"]["processing_params"]))
    assert params["size"] == 1600 and params["format"] == "webp" and params["quality"] == 80
    assert params["config_key"] == "resize size=1600 fit=width format=webp quality=80"
    # A rerun has nothing to do, for the skipped sizes either.
    again = process(catalog, workers=1)
    assert again.made == 0 and again.failed == [] and again.blocked == 0


def test_one_decode_makes_every_size(catalog: Catalog, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    add_photos(catalog, tmp_path / "in", {"a": (2500, 1600)})
    decoded: list[str] = []
    real = resize_stage._decode

    def spy(path: Path, outputs):  # type: ignore[no-untyped-def]
        decoded.append(path.name)
        return real(path, outputs)

    monkeypatch.setattr(resize_stage, "_decode", spy)
    report = process(catalog, workers=1)
    assert report.made == 2 + len(DEFAULT_DISPLAY) and decoded == ["a.jpeg"]


def test_smaller_sizes_resized_from_larger_ones_match_a_direct_resize(tmp_path: Path) -> None:
    source = tmp_path / "s.jpeg"
    scene((3000, 2000), 7).save(source, quality=92)
    with Image.open(source) as im:
        im.load()
        full = im.convert("RGB")
    boxes = {(2400, 1600), (1600, 1067), (800, 533), (400, 267)}
    cascaded = resize_stage._resize_all(full, boxes)
    for box in boxes:
        direct = np.asarray(resize_stage._resize(full, box), dtype=np.float64)
        mse = ((np.asarray(cascaded[box], dtype=np.float64) - direct) ** 2).mean()
        psnr = 10 * np.log10(255**2 / mse) if mse else 99.0
        assert psnr > 45, (box, psnr)


@pytest.mark.skipif(not features.check("avif"), reason="this Pillow has no AVIF encoder")
def test_avif_when_asked(catalog: Catalog, tmp_path: Path) -> None:
    (catalog.config.root / "site.toml").write_text(
        'display = { widths = [800], formats = ["avif", "webp"] }\n'
    )
    with Catalog.open(catalog.config.root) as fresh:
        add_photos(fresh, tmp_path / "in", {"a": (1200, 800)})
        assert process(fresh, workers=1).failed == []
        rows = made(fresh, "a")
        data = (fresh.art_dir / str(rows["display-800-avif"]["file_path"])).read_bytes()
        assert data[4:12] in (b"ftypavif", b"ftypavis")
        out = fresh.config.root / "out"
        build_site(fresh, out)
    sources = parse(out / "index.html").find("source")
    assert [s["type"] for s in sources] == ["image/avif", "image/webp"]


def test_a_changed_quality_remakes_only_that_size(catalog: Catalog, tmp_path: Path) -> None:
    add_photos(catalog, tmp_path / "in", {"a": (1700, 1000)})
    process(catalog, workers=1)
    before = made(catalog, "a")
    (catalog.config.root / "site.toml").write_text(
        "[stages.display-800]\nquality = 60\n\n[display]\nwidths = [800, 1600, 2400]\n"
    )
    with Catalog.open(catalog.config.root) as fresh:
        report = process(fresh, workers=1)
        assert report.made == 1
        after = made(fresh, "a")
    assert {s for s in after if after[s] != before[s]} == {"display-800"}


def test_verify_is_clean_and_export_legacy_leaves_display_sizes_out(
    catalog: Catalog, tmp_path: Path
) -> None:
    add_photos(catalog, tmp_path / "in", {"a": (1700, 1000)})
    process(catalog, workers=1)
    assert verify_catalog(catalog)["ok"]
    (catalog.art_dir / "display-800" / "stray.jpeg").write_bytes(b"x")
    orphans = [p for p in verify_catalog(catalog)["problems"] if p["kind"] == "orphan file"]
    assert [p["path"] for p in orphans] == ["display-800/stray.jpeg"]
    result = export_legacy(catalog, tmp_path / "legacy")
    assert result["ok"]
    exported = [p.relative_to(tmp_path / "legacy").parts[0] for p in (tmp_path / "legacy").rglob("*")]
    assert not [p for p in exported if p.startswith("display")]


# -- on the pages ------------------------------------------------------------------------------


def add_with_display(catalog: Catalog, image_id: str, seed: int, webp: bool = True) -> None:
    """A catalogued picture with every default display size recorded (as `process` would)."""
    add_processed(catalog, image_id, size=(400, 267), seed=seed)
    for stage in DEFAULT_DISPLAY:
        if stage.endswith("-webp") and not webp:
            continue
        width = int(stage.split("-")[1])
        fmt = "WEBP" if stage.endswith("-webp") else "JPEG"
        buf = io.BytesIO()
        scene((width // 8, width // 12), seed).save(buf, fmt)  # small files: only names count
        data = buf.getvalue() + image_id.encode()
        name = hashlib.sha1(f"{image_id}{stage}".encode()).hexdigest()[:16]
        rel = f"{stage}/{name}.{fmt.lower()}"
        (catalog.art_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        (catalog.art_dir / rel).write_bytes(data)
        with catalog.transaction():
            catalog.artifacts.record(
                image_id=image_id, stage=stage, file_path=rel,
                facts=FileFacts(hashlib.sha256(data).hexdigest(), len(data), width, width * 2 // 3),
            )  # fmt: skip


def test_pages_offer_every_size_and_format(catalog: Catalog, tmp_path: Path) -> None:
    add_with_display(catalog, "a", 1)
    out = tmp_path / "out"
    build_site(catalog, out)
    home = parse(out / "index.html")
    (source,) = home.find("source")
    assert source["type"] == "image/webp"
    widths = [c.split()[1] for c in (source["srcset"] or "").split(",")]
    assert widths == ["400w", "800w", "1600w", "2400w"]
    (img,) = home.find("img")
    candidates = (img["srcset"] or "").split(",")
    assert [c.split()[1] for c in candidates] == ["400w", "800w", "1600w", "2400w"]
    for candidate in candidates + (source["srcset"] or "").split(","):
        assert (out / candidate.split()[0]).is_file()
    assert img["sizes"] == source["sizes"]
    page = parse(out / "image" / "a.html")
    (picture_img,) = [i for i in page.find("img") if i.get("srcset")]
    assert picture_img["src"] and "min(" in (picture_img["sizes"] or "")
    assert picture_img.get("loading") is None and picture_img["fetchpriority"] == "high"


def test_a_hidden_display_stage_is_not_published(catalog: Catalog, tmp_path: Path) -> None:
    add_with_display(catalog, "a", 1)
    (catalog.config.root / "site.toml").write_text("[stages.display-2400]\npublish = false\n")
    out = tmp_path / "out"
    with Catalog.open(catalog.config.root) as fresh:
        build_site(fresh, out)
    (img,) = parse(out / "index.html").find("img")
    assert [c.split()[1] for c in (img["srcset"] or "").split(",")] == ["400w", "800w", "1600w"]


def test_home_page_with_60_items_in_every_size_is_under_60_kb(
    catalog: Catalog, tmp_path: Path
) -> None:
    for n in range(60):  # camera file names, a title each: a photographer's site
        add_with_display(catalog, f"IMG_20240501_1020{n:02d}", n)
    with catalog.transaction():
        catalog.conn.execute("UPDATE images SET title = 'Boats in the harbour at dawn'")
    build_site(catalog, tmp_path / "out")
    home = tmp_path / "out" / "index.html"
    assert len(parse(home).find("figure")) == 60 and len(parse(home).find("source")) == 60
    assert home.stat().st_size < 60 * 1024, home.stat().st_size


def test_one_read_counts_agree_with_planning_each_size(catalog: Catalog, tmp_path: Path) -> None:
    add_photos(catalog, tmp_path / "in", {"big": (1700, 1000), "small": (300, 200)})
    process(catalog, workers=1)
    with catalog.transaction():  # one output of one picture made from other settings
        catalog.conn.execute(
            "UPDATE artifacts SET processing_params = json_set(processing_params, "
            "'$.config_key', 'old') WHERE image_id = 'big' AND stage = 'display-800-webp'"
        )
        catalog.conn.execute(
            "DELETE FROM artifacts WHERE image_id = 'small' AND stage = 'web-optimized'"
        )
    resize = resize_stage.RESIZE
    cfgs = [c for c in catalog.config.stages.values() if c.kind == "resize" and c.input == "upstream"]
    outputs = [
        (c.name, resize.config_key(c), c.settings.min_source,
         "longer" if c.settings.fit == "fit" else "width")
        for c in cfgs
    ]  # fmt: skip
    counts = catalog.jobs.stale_counts("upstream", outputs, "video-frames")
    assert counts["display-800-webp"] == (0, 1)  # the small one has no 800 copy at all
    assert counts["web-optimized"] == (1, 1)
    # big's 2400 is its own 1700 px, made; small (300 px) has no display JPEG at all
    assert counts["display-2400"] == (1, 0) and counts["display-800"] == (1, 0)
    planned = resize.plan_group(catalog, cfgs)
    assert [p[0] for p in planned] == [counts[c.name][0] for c in cfgs]
    pending = catalog.conn.execute(
        "SELECT image_id, stage FROM jobs WHERE status = 'pending' ORDER BY stage"
    ).fetchall()
    assert [tuple(r) for r in pending] == [("big", "display-800-webp"), ("small", "web-optimized")]
