"""`process` with the built-in resize stages: sizes, params, no-op, odd images, bad sources."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image, ImageCms
from process_helpers import add, artifacts, configure, jobs_of, params, photo, swapped_icc

from cvgallery.catalog import Catalog, FileFacts
from cvgallery.cli import cli
from cvgallery.ingest import log_artifact
from cvgallery.process import builtin_stages, process, stage_waves
from cvgallery.stages import resize as resize_stage
from cvgallery.store import sha256_file


@pytest.fixture
def root(site_root: Path) -> Path:
    configure(site_root)
    return site_root


def run(root: Path, **kw: object):
    with Catalog.open(root) as catalog:
        return process(catalog, **kw)  # type: ignore[arg-type]


def test_makes_thumbnails_and_web_copies_with_params(root: Path, tmp_path: Path) -> None:
    add(
        root,
        photo(tmp_path / "in/wide.jpeg", (1200, 800)),
        photo(tmp_path / "in/tall.jpeg", (800, 1200)),
        photo(tmp_path / "in/small.png", (200, 100)),
    )
    report = run(root, workers=2)
    assert (report.made, report.failed) == (6, [])
    thumbs, web = artifacts(root, "thumbnails-small"), artifacts(root, "web-optimized")
    sizes = {k: (v["width"], v["height"]) for k, v in thumbs.items()}
    assert sizes == {"wide": (400, 267), "tall": (267, 400), "small": (200, 100)}
    sizes = {k: (v["width"], v["height"]) for k, v in web.items()}
    assert sizes == {"wide": (400, 267), "tall": (400, 600), "small": (200, 100)}  # no upscale
    upstream = artifacts(root, "upstream")
    for image_id, row in web.items():
        assert row["file_path"] == f"web-optimized/{image_id}.jpeg"
        path = root / "art" / row["file_path"]
        assert sha256_file(path) == row["sha256"] and path.stat().st_size == row["file_size"]
        with Image.open(path) as im:
            assert (im.format, im.size) == ("JPEG", (row["width"], row["height"]))
        p = params(row)
        assert p["generator"] == "cvgallery" and p["size"] == 400 and p["fit"] == "width"
        assert p["format"] == "jpeg" and p["quality"] == 85 and p["pillow"]
        assert p["source_sha256"] == upstream[image_id]["sha256"]
    assert {j["status"] for j in jobs_of(root)} == {"completed"}
    assert all(j["owner"].count(":") == 2 and j["started_at"] for j in jobs_of(root))


def test_output_keeps_the_picture(root: Path, tmp_path: Path) -> None:
    add(root, photo(tmp_path / "in/p.jpeg", (1600, 1200), quality=95))
    run(root, workers=1)
    with Image.open(root / "art/web-optimized/p.jpeg") as im:
        rgb = im.convert("RGB")
    r, g, b = rgb.getpixel((10, 10))  # the red block at the top left survives
    assert r > 200 and g < 60 and b < 60
    assert sum(rgb.getpixel((390, 290))) > 600  # the bottom right is the light end


def test_noop_reads_only_the_catalog(root: Path, tmp_path: Path, monkeypatch) -> None:
    add(root, photo(tmp_path / "in/a.jpeg"), photo(tmp_path / "in/b.png", (900, 500)))
    run(root, workers=2)
    files = sorted((root / "art").glob("*/*"))
    before = {p: p.stat().st_mtime_ns for p in files}

    def refuse(*a: object, **k: object) -> None:
        raise AssertionError("a no-op process opened an image")

    monkeypatch.setattr(Image, "open", refuse)
    report = run(root, workers=1)
    assert (report.made, report.skipped, report.failed) == (0, 4, [])
    assert {p: p.stat().st_mtime_ns for p in sorted((root / "art").glob("*/*"))} == before
    assert len(jobs_of(root)) == 4  # no new job rows either


def test_changed_params_remake_only_that_stage(root: Path, tmp_path: Path) -> None:
    add(root, photo(tmp_path / "in/a.jpeg"))
    run(root, workers=1)
    thumb = root / "art/thumbnails-small/a.jpeg"
    thumb_mtime = thumb.stat().st_mtime_ns
    configure(root, '[stages.web-optimized]\nformat = "webp"\nquality = 70\nsize = 300\n')
    report = run(root, workers=1)
    assert report.made == 1 and report.skipped == 1
    row = artifacts(root, "web-optimized")["a"]
    assert row["file_path"] == "web-optimized/a.webp" and row["width"] == 300
    assert params(row)["format"] == "webp" and params(row)["quality"] == 70
    assert not (root / "art/web-optimized/a.jpeg").exists()  # the replaced file is gone
    assert thumb.stat().st_mtime_ns == thumb_mtime


def test_changed_source_remakes(root: Path, tmp_path: Path) -> None:
    add(root, photo(tmp_path / "in/a.jpeg"))
    run(root, workers=1)
    new = photo(root / "art/upstream/a-v2.png", (600, 300))
    with Catalog.open(root) as catalog:
        log_artifact(catalog, "a", "upstream", new)
    report = run(root, workers=1)
    assert report.made == 2
    assert artifacts(root, "thumbnails-small")["a"]["width"] == 400
    assert artifacts(root, "thumbnails-small")["a"]["height"] == 200


def test_logged_artifacts_are_never_remade(root: Path, tmp_path: Path) -> None:
    add(root, photo(tmp_path / "in/a.jpeg"))
    made_elsewhere = photo(tmp_path / "legacy/a.jpeg", (123, 45))
    with Catalog.open(root) as catalog:
        log_artifact(catalog, "a", "web-optimized", made_elsewhere, '{"tool": "imagemagick"}')
    report = run(root, workers=1)
    assert report.made == 1  # only the thumbnail
    assert artifacts(root, "web-optimized")["a"]["width"] == 123


def _save_with_exif_orientation(path: Path, orientation: int) -> Path:
    im = Image.new("RGB", (800, 600), (0, 0, 255))
    im.paste((255, 0, 0), (0, 0, 200, 150))  # red at the stored top left
    exif = Image.Exif()
    exif[0x0112] = orientation
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path, exif=exif, quality=95)
    return path


def test_exif_orientation_is_applied(root: Path, tmp_path: Path) -> None:
    add(root, _save_with_exif_orientation(tmp_path / "in/rot.jpeg", 6))
    run(root, workers=1)
    with Image.open(root / "art/web-optimized/rot.jpeg") as im:
        assert im.size == (400, 533)
        rgb = im.convert("RGB")
    # Orientation 6 displays the stored top left at the top right.
    assert rgb.getpixel((390, 10))[0] > 200 and rgb.getpixel((10, 10))[2] > 200


def test_odd_modes_come_out_right(root: Path, tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    Image.new("CMYK", (500, 400), (0, 255, 255, 0)).save(src / "cmyk.jpeg")  # red
    pal = Image.new("P", (500, 400), 1)
    pal.putpalette([0, 0, 0, 0, 200, 0] + [0] * 762)
    pal.save(src / "palette.png")
    rgba = Image.new("RGBA", (500, 400), (0, 0, 0, 0))
    rgba.paste((0, 0, 255, 255), (0, 0, 250, 400))  # left half opaque blue, right transparent
    rgba.save(src / "alpha.png")
    Image.new("I;16", (500, 400), 32768).save(src / "sixteen.png")  # mid grey, 16-bit
    Image.new("LA", (500, 400), (100, 0)).save(src / "greyalpha.png")  # fully transparent
    add(root, *sorted(src.iterdir()))
    report = run(root, workers=2)
    assert report.failed == [] and report.made == 10

    def pixel(image_id: str, xy: tuple[int, int] = (10, 10)) -> tuple[int, ...]:
        with Image.open(root / f"art/web-optimized/{image_id}.jpeg") as im:
            return im.convert("RGB").getpixel(xy)  # type: ignore[return-value]

    r, g, b = pixel("cmyk")
    assert r > 200 and g < 60 and b < 60
    assert pixel("palette")[1] > 170
    assert pixel("alpha")[2] > 200 and min(pixel("alpha", (390, 10))) > 240  # flattened on white
    assert all(110 < c < 145 for c in pixel("sixteen"))
    assert min(pixel("greyalpha")) > 240


def test_icc_profile_is_converted_to_srgb(root: Path, tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    # Stored red, but the profile says that channel is green.
    Image.new("RGB", (600, 400), (255, 0, 0)).save(src / "tagged.jpeg", icc_profile=swapped_icc())
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    Image.new("RGB", (600, 400), (255, 0, 0)).save(src / "srgb.jpeg", icc_profile=srgb)
    add(root, src / "tagged.jpeg", src / "srgb.jpeg")
    run(root, workers=1)
    with Image.open(root / "art/web-optimized/tagged.jpeg") as im:
        r, g, _ = im.getpixel((10, 10))
        assert g > 200 and r < 80 and not im.info.get("icc_profile")
    with Image.open(root / "art/web-optimized/srgb.jpeg") as im:
        r, g, _ = im.getpixel((10, 10))
        assert r > 200 and g < 60


def test_draft_decodes_at_the_smallest_covering_scale(tmp_path: Path, monkeypatch) -> None:
    path = photo(tmp_path / "big.jpeg", (3000, 2000))
    seen: list[tuple[int, int]] = []
    real = resize_stage.eight_bit

    def spy(im: Image.Image) -> Image.Image:
        seen.append(im.size)
        return real(im)

    monkeypatch.setattr(resize_stage, "eight_bit", spy)
    out = [
        resize_stage.Output(
            s,
            str(tmp_path / f"{s}.jpeg"),
            f"{s}/x.jpeg",
            {"size": 400, "fit": f, "format": "jpeg", "quality": 85},
        )
        for s, f in (("thumbnails-small", "fit"), ("web-optimized", "width"))
    ]
    made = resize_stage.make_resized(resize_stage.ResizeTask("big", str(path), tuple(out)))
    assert seen == [(750, 500)]  # one decode, at 1/4 scale, for both outputs
    assert [(m.width, m.height, m.error) for m in made] == [(400, 267, None)] * 2


def test_corrupt_source_fails_only_its_job(root: Path, tmp_path: Path) -> None:
    add(root, photo(tmp_path / "in/good.jpeg"), photo(tmp_path / "in/bad.jpeg"))
    bad = root / "art/upstream/bad.jpeg"
    bad.write_bytes(bad.read_bytes()[:300])  # truncated after it was catalogued
    report = run(root, workers=2)
    assert report.made == 2
    assert sorted((f.image_id, f.stage) for f in report.failed) == [
        ("bad", "thumbnails-small"),
        ("bad", "web-optimized"),
    ]
    assert all("bad.jpeg" in f.error and "decode" in f.error for f in report.failed)
    failed = [j for j in jobs_of(root) if j["status"] == "failed"]
    assert len(failed) == 2 and all(j["retry_count"] == 1 and j["error_message"] for j in failed)
    assert "bad" not in artifacts(root, "web-optimized")
    assert not list((root / "art").rglob(".cvgallery-tmp"))


def test_a_picture_over_the_pixel_limit_fails_its_job(root: Path, tmp_path: Path) -> None:
    add(
        root,
        photo(tmp_path / "in/huge.png", (1000, 1000)),
        photo(tmp_path / "in/ok.png", (300, 300)),
    )
    # Lowered after the add: the worker process applies the site's limit, not Pillow's.
    with open(root / "site.toml", "a", encoding="utf-8") as toml:
        toml.write("\n[images]\nmax_pixels = 200_000\n")
    report = run(root, workers=2)
    assert {f.image_id for f in report.failed} == {"huge"}
    assert all(
        "1000000 pixels is over the limit of 200000 (site.toml [images] max_pixels)" in f.error
        for f in report.failed
    )
    assert report.made == 2


def test_failed_job_waits_for_retry(root: Path, tmp_path: Path) -> None:
    add(root, photo(tmp_path / "in/a.jpeg"))
    src = root / "art/upstream/a.jpeg"
    good = src.read_bytes()
    src.write_bytes(b"not a picture")
    assert len(run(root, workers=1).failed) == 2
    src.write_bytes(good)
    again = run(root, workers=1)  # a plain run does not burn the retries
    assert (again.made, again.failed, again.blocked) == (0, [], 2)
    with Catalog.open(root) as catalog:
        assert len(catalog.jobs.retry_failed(catalog.config.max_retries_for)) == 2
    assert run(root, workers=1).made == 2
    statuses = [(j["status"], j["retry_count"]) for j in jobs_of(root)]
    assert statuses == [("completed", 1), ("completed", 1)]


def test_retry_failed_flag_respects_max_retries(root: Path, tmp_path: Path) -> None:
    configure(root, "[jobs]\nmax_retries = 2\n")
    add(root, photo(tmp_path / "in/a.jpeg"))
    (root / "art/upstream/a.jpeg").write_bytes(b"broken")
    reports = [run(root, workers=1, retry_failed=True) for _ in range(4)]
    # max_retries = 2: the first attempt and two retries, then no more.
    assert [len(r.failed) for r in reports] == [2, 2, 2, 0]
    assert {j["retry_count"] for j in jobs_of(root)} == {3}
    assert "not retried" not in reports[-1].line()  # never advise the flag that was given
    assert reports[-1].line() == (
        "made 0, skipped 0, failed 0; 2 failed jobs reached max_retries"
        " (see `cvgallery jobs --status failed`)"
    )


def test_unapproved_and_rejected_images_are_not_processed(root: Path, tmp_path: Path) -> None:
    ids = add(root, photo(tmp_path / "in/a.jpeg"), photo(tmp_path / "in/b.jpeg"))
    with Catalog.open(root) as catalog:
        catalog.images.reject([ids[1]])
    assert run(root, workers=1).made == 2
    assert set(artifacts(root, "web-optimized")) == {"a"}


def test_stage_order_and_builtin_stages(root: Path) -> None:
    configure(
        root,
        '[stages.ersgan-enhanced]\ninput = "web-optimized"\ncommand = ["true", "{input}"]\n',
    )
    with Catalog.open(root) as catalog:
        waves = stage_waves(catalog.config)
        assert waves == [
            ["video-frames"],
            ["thumbnails-small", "web-optimized"],
            ["ersgan-enhanced"],
            ["ersgan-thumbnails"],
        ]
        assert builtin_stages(catalog.config) == [
            "video-frames",
            "thumbnails-small",
            "web-optimized",
            "ersgan-thumbnails",
        ]


def test_ids_with_quotes_and_unicode(root: Path, tmp_path: Path) -> None:
    add(root, photo(tmp_path / "in/it's ünï cødé; DROP TABLE.jpeg"))
    report = run(root, workers=1)
    assert report.made == 2
    assert os.path.exists(root / "art/web-optimized/it's ünï cødé; DROP TABLE.jpeg")


def test_catalog_stays_consistent(root: Path, tmp_path: Path) -> None:
    add(root, *(photo(tmp_path / f"in/p{i}.jpeg", (500, 300 + i)) for i in range(5)))
    run(root, workers=2)
    conn = sqlite3.connect(root / "cv.db")
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    assert conn.execute("SELECT COUNT(*) FROM blurhash_cache").fetchone()[0] == 5


def test_process_command_reports_and_exits_1_on_failure(
    root: Path, tmp_path: Path, cli_run
) -> None:
    add(root, photo(tmp_path / "in/good.jpeg"), photo(tmp_path / "in/bad.jpeg"))
    (root / "art/upstream/bad.jpeg").write_bytes(b"\xff\xd8 not really")
    result = cli_run("process", "web-optimized", "-j", "2", "--root", root)
    assert result.returncode == 1
    assert "made 1, skipped 0, failed 1" in result.stderr
    assert "failed bad web-optimized: " in result.stderr and "bad.jpeg" in result.stderr
    again = cli_run("process", "--json", "--root", root)  # now every stage
    assert again.returncode == 1
    doc = json.loads(again.stdout)
    assert doc["made"] == 1 and doc["skipped"] == 1  # good's thumbnail made, its web copy kept
    assert [(f["image_id"], f["stage"]) for f in doc["failed"]] == [("bad", "thumbnails-small")]
    assert doc["blocked"] == 1  # bad's web-optimized failed before and is not retried
    unknown = cli_run("process", "no-such-stage", "--root", root)
    assert unknown.returncode == 2 and "unknown stage" in unknown.stderr


def test_progress_reports_counts_up_to_the_total(root: Path, tmp_path: Path) -> None:
    add(root, *(photo(tmp_path / f"in/p{i}.png", (300, 200)) for i in range(3)))
    calls: list[tuple[int, int]] = []
    with Catalog.open(root) as catalog:
        process(catalog, workers=2, on_progress=lambda done, total: calls.append((done, total)))
    assert calls[0] == (0, 6) and calls[-1] == (6, 6)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)


def test_each_source_is_decoded_once_for_every_resize(
    root: Path, tmp_path: Path, monkeypatch
) -> None:
    add(root, photo(tmp_path / "in/a.jpeg"), photo(tmp_path / "in/b.png", (900, 500)))
    decoded: list[str] = []
    real = resize_stage._decode

    def spy(path: Path, outputs: tuple[resize_stage.Output, ...]):  # type: ignore[no-untyped-def]
        decoded.append(path.name)
        return real(path, outputs)

    monkeypatch.setattr(resize_stage, "_decode", spy)
    report = run(root, workers=1)  # in this process, so the spy sees every decode
    assert report.made == 4  # two stages per image ...
    assert sorted(decoded) == ["a.jpeg", "b.png"]  # ... from one decode each


def test_workers_default_to_the_number_of_cores(root: Path, tmp_path: Path, monkeypatch) -> None:
    from concurrent.futures import ProcessPoolExecutor

    from cvgallery import process as process_module
    from cvgallery import runner as runner_module

    add(root, photo(tmp_path / "in/a.png", (300, 200)))
    pools: list[int | None] = []

    class Recording(ProcessPoolExecutor):
        def __init__(self, max_workers: int | None = None, **kw: object) -> None:
            pools.append(max_workers)
            super().__init__(max_workers, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(runner_module, "ProcessPoolExecutor", Recording)
    monkeypatch.setattr(process_module.os, "cpu_count", lambda: 3)
    result = CliRunner().invoke(cli, ["process", "--root", str(root)])  # no -j
    assert result.exit_code == 0, result.output
    assert pools == [3] and "made 2" in result.output


def test_progress_bar_shows_counts_only_for_long_runs(monkeypatch) -> None:
    from cvgallery import progress

    with progress.progress_bar("quick") as bar:
        bar(1, 10)
        bar(10, 10)
        assert bar.progress is None  # a quick run prints only its summary line
    monkeypatch.setattr(progress, "SHOW_AFTER", 0.0)
    with progress.progress_bar("off", enabled=False) as bar:
        bar(1, 10)
        assert bar.progress is None  # --json: no bar at all
    with progress.progress_bar("long") as bar:
        bar(3, 10)
        [task] = bar.progress.tasks
        assert (task.description, task.completed, task.total) == ("long", 3, 10)
        bar(7, 12)
        assert (task.completed, task.total) == (7, 12)
        columns = {type(c).__name__ for c in bar.progress.columns}
        assert {"MofNCompleteColumn", "Rate", "TimeRemainingColumn"} <= columns


def test_progress_total_leaves_out_jobs_of_unapproved_images(root: Path, tmp_path: Path) -> None:
    from cvgallery.process import plan_stage

    add(root, photo(tmp_path / "in/a.png", (300, 200)), photo(tmp_path / "in/b.png", (300, 200)))
    calls: list[tuple[int, int]] = []
    with Catalog.open(root) as catalog:
        plan_stage(catalog, catalog.config.stages["web-optimized"])
        catalog.images.reject(["b"])  # b's job stays pending, and no run may take it
        report = process(
            catalog, ["web-optimized"], workers=1, on_progress=lambda *c: calls.append(c)
        )
    assert report.made == 1 and calls[-1] == (1, 1)
    assert [j["status"] for j in jobs_of(root)] == ["completed", "pending"]


def test_an_id_that_is_no_file_name_fails_only_its_jobs(root: Path, tmp_path: Path) -> None:
    add(root, photo(tmp_path / "in/good.png", (300, 200)))
    with Catalog.open(root) as catalog:  # an id only a hand-written row could have
        src = catalog.artifacts.get("good", "upstream")
        catalog.conn.execute(
            "INSERT INTO images (id, sha256, approved) VALUES ('a/b', 'x' || ?, 1)",
            (src["sha256"],),
        )
        catalog.artifacts.record(
            image_id="a/b",
            stage="upstream",
            file_path=src["file_path"],
            facts=FileFacts(src["sha256"], 1, 1, 1),
        )
    report = run(root, workers=2)
    assert report.made == 2
    assert sorted((f.image_id, f.stage) for f in report.failed) == [
        ("a/b", "thumbnails-small"),
        ("a/b", "web-optimized"),
    ]
    assert all("'a/b' cannot be used as a file name" in f.error for f in report.failed)
    assert {j["status"] for j in jobs_of(root) if j["image_id"] == "a/b"} == {"failed"}
