"""The stage-kind interface, proved from outside: a toy kind and a toy fingerprint hook,
registered by this test module (runner.py, process.py and config.py untouched), are
configured from site.toml, validated, planned, run in a pool or inline, and recorded."""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageStat
from process_helpers import NO_DISPLAY, photo

from cvgallery import store
from cvgallery.catalog import Catalog
from cvgallery.config import StageConfig, load_config
from cvgallery.errors import ConfigError
from cvgallery.ingest import add_files
from cvgallery.process import process
from cvgallery.stages import (
    FINGERPRINTS,
    GENERATOR,
    INLINE,
    KINDS,
    Fingerprint,
    Made,
    StageKind,
    Task,
    TaskContext,
    Unit,
    register,
    register_fingerprint,
)

# -- the toy kind: a greyscale copy of its input, quantised in steps of `level` -----------------


@dataclass(frozen=True)
class GreySettings:
    #: grey values are rounded down to a multiple of this (1 keeps every value)
    level: int = 1
    #: output format: png or webp
    suffix: str = "png"


@dataclass(frozen=True)
class GreyTask:
    stage: str
    source: str
    dest: str
    file_path: str
    level: int
    suffix: str
    params: dict[str, Any]
    tag: str


def make_grey(task: GreyTask) -> list[Made]:
    """Worker entry point (module level, so a pool can pickle it); never raises."""
    try:
        with Image.open(task.source) as im:
            grey = im.convert("L").point(lambda v: v // task.level * task.level)
        with store.atomic_path(Path(task.dest), tag=task.tag) as tmp:
            grey.save(tmp, format=task.suffix.upper())
            data = tmp.read_bytes()
    except Exception as exc:
        return [Made(task.stage, error=f"{task.source}: {type(exc).__name__}: {exc}")]
    return [
        Made(
            task.stage,
            task.file_path,
            sha256=hashlib.sha256(data).hexdigest(),
            width=grey.width,
            height=grey.height,
            file_size=len(data),
            params={**task.params, "worker_pid": os.getpid()},
        )
    ]


class GreyKind(StageKind):
    name = "toy-grey"
    Settings = GreySettings

    def check(self, settings: GreySettings, each: str | None = None) -> str | None:
        if not 1 <= settings.level <= 255:
            return f"level must be an integer 1..255, not {settings.level!r}"
        if settings.suffix not in ("png", "webp"):
            return f"suffix must be png or webp, not {settings.suffix!r}"
        return None

    def config_key(self, cfg: StageConfig) -> str:
        return f"toy-grey level={cfg.settings.level} suffix={cfg.settings.suffix}"

    def task(self, ctx: TaskContext, stages: list[StageConfig], unit: Unit) -> Task:
        cfg = stages[0]
        catalog = ctx.catalog
        src = catalog.jobs.source_of(unit.image_id, cfg.input)
        if src is None:
            raise ValueError(f"no {cfg.input} artifact to make it from")
        s = cfg.settings
        filename = f"{store.safe_name(unit.image_id)}.{s.suffix}"
        params = {
            "generator": GENERATOR,
            "config_key": self.config_key(cfg),
            "level": s.level,
            "suffix": s.suffix,
            "source_sha256": src["sha256"],
        }
        payload = GreyTask(
            cfg.name,
            str(catalog.art_dir / src["file_path"]),
            str(catalog.art_dir / cfg.name / filename),
            store.relative_path(cfg.name, filename),
            s.level,
            s.suffix,
            params,
            ctx.tag,
        )
        return Task(make_grey, payload)


class InlineGreyKind(GreyKind):
    """The same work, run in the main process (as a kind holding a GPU model might)."""

    name = "toy-grey-inline"
    policy = INLINE


GREY = register(GreyKind())
INLINE_GREY = register(InlineGreyKind())


@pytest.fixture(autouse=True, scope="module")
def toy_kinds() -> Iterator[None]:
    """Registered while this module runs; the registry is as built in for later modules."""
    register(GREY)
    register(INLINE_GREY)
    yield
    KINDS.pop(GREY.name, None)
    KINDS.pop(INLINE_GREY.name, None)


# -- a site with two approved images and a pending one -------------------------------------------

GREYS = '[stages.greys]\nkind = "toy-grey"\ninput = "web-optimized"\nlevel = 2\n'


def configure(root: Path, toml: str) -> None:
    (root / "site.toml").write_text(NO_DISPLAY + toml, encoding="utf-8")


@pytest.fixture
def root(site_root: Path, tmp_path: Path) -> Path:
    configure(site_root, GREYS)
    with Catalog.open(site_root) as catalog:
        add_files(
            catalog,
            [photo(tmp_path / "in/a.jpeg", (300, 200)), photo(tmp_path / "in/b.png", (120, 160))],
            approve=True,
        )
        add_files(catalog, [photo(tmp_path / "in/pending.jpeg", (300, 200))], approve=False)
    return site_root


def run(root: Path, stages: list[str] | None = None, workers: int = 2) -> Any:
    with Catalog.open(root) as catalog:
        return process(catalog, stages, workers=workers)


def rows(root: Path, stage: str) -> dict[str, dict[str, Any]]:
    with Catalog.open(root) as catalog:
        found = catalog.conn.execute("SELECT * FROM artifacts WHERE stage = ?", (stage,))
        return {r["image_id"]: dict(r) for r in found}


def params(row: dict[str, Any]) -> dict[str, Any]:
    return json.loads(row["processing_params"])


def grey_values(path: Path) -> set[int]:
    with Image.open(path) as im:
        assert im.mode == "L"
        return {value for value, count in enumerate(im.histogram()) if count}


# -- running the kind ----------------------------------------------------------------------------


def test_process_makes_one_artifact_per_approved_image(root: Path) -> None:
    report = run(root)
    assert report.failed == []
    assert report.made == 6  # thumbnail, web copy and grey copy of a and b
    greys, web = rows(root, "greys"), rows(root, "web-optimized")
    assert sorted(greys) == ["a", "b"]
    for image_id, row in greys.items():
        assert row["file_path"] == f"greys/{image_id}.png"
        path = root / "art" / row["file_path"]
        assert store.sha256_file(path) == row["sha256"]
        assert path.stat().st_size == row["file_size"]
        assert (row["width"], row["height"]) == (web[image_id]["width"], web[image_id]["height"])
        assert all(v % 2 == 0 for v in grey_values(path))
        p = params(row)
        assert p["config_key"] == "toy-grey level=2 suffix=png"
        assert (p["generator"], p["level"], p["suffix"]) == ("cvgallery", 2, "png")
        assert p["source_sha256"] == web[image_id]["sha256"]
        assert p["worker_pid"] != os.getpid()  # a pool kind runs in the pool
    assert not (root / "art/greys/.cvgallery-tmp").exists()


def test_a_rerun_makes_nothing(root: Path) -> None:
    run(root)
    before = {p: p.stat().st_mtime_ns for p in (root / "art/greys").iterdir()}
    report = run(root, ["greys"])
    assert (report.made, report.skipped, report.failed) == (0, 2, [])
    assert {p: p.stat().st_mtime_ns for p in (root / "art/greys").iterdir()} == before


def test_changing_a_setting_remakes_every_output(root: Path) -> None:
    run(root)
    configure(root, GREYS.replace("level = 2", "level = 3"))
    report = run(root, ["greys"])
    assert (report.made, report.skipped, report.failed) == (2, 0, [])
    for image_id, row in rows(root, "greys").items():
        assert params(row)["config_key"] == "toy-grey level=3 suffix=png", image_id
        assert all(v % 3 == 0 for v in grey_values(root / "art" / row["file_path"]))


def test_a_renamed_output_replaces_the_old_file(root: Path) -> None:
    run(root)
    configure(root, GREYS + 'suffix = "webp"\n')
    assert run(root, ["greys"]).made == 2
    assert sorted(p.name for p in (root / "art/greys").iterdir()) == ["a.webp", "b.webp"]
    assert rows(root, "greys")["a"]["file_path"] == "greys/a.webp"


def test_an_inline_kind_runs_in_the_main_process(root: Path) -> None:
    configure(root, GREYS.replace('"toy-grey"', '"toy-grey-inline"'))
    report = run(root, workers=2)
    assert (report.made, report.failed) == (6, [])
    pids = {params(row)["worker_pid"] for row in rows(root, "greys").values()}
    assert pids == {os.getpid()}


def test_a_stages_workers_setting_caps_its_pool(root: Path) -> None:
    configure(root, GREYS + "workers = 1\n")
    assert load_config(root).stages["greys"].workers == 1
    report = run(root, workers=2)
    assert (report.made, report.failed) == (6, [])
    pids = {params(row)["worker_pid"] for row in rows(root, "greys").values()}
    assert len(pids) == 1 and pids != {os.getpid()}  # one pool process made both


# -- its table in site.toml ----------------------------------------------------------------------


def test_the_settings_dataclass_defines_the_stage_table(site_root: Path) -> None:
    configure(site_root, GREYS)
    cfg = load_config(site_root).stages["greys"]
    assert (cfg.kind, cfg.input, cfg.workers) == ("toy-grey", "web-optimized", None)
    assert cfg.settings == GreySettings(level=2, suffix="png")
    configure(site_root, '[stages.greys]\nkind = "toy-grey"\n')
    assert load_config(site_root).stages["greys"].settings == GreySettings()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("levle = 3", "unknown key stages.greys.levle"),
        ("level = true", "stages.greys.level must be a int, not True"),
        ('level = "2"', "stages.greys.level must be a int, not '2'"),
        ("level = -1", "stages.greys.level must be an integer 1..255, not -1"),
        ('suffix = "gif"', "stages.greys.suffix must be png or webp, not 'gif'"),
        ("workers = 0", "stages.greys.workers must be an integer >= 1, not 0"),
    ],
)
def test_bad_values_are_refused_naming_the_key(site_root: Path, extra: str, message: str) -> None:
    configure(site_root, GREYS.replace("level = 2\n", "") + extra + "\n")
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(site_root)


def test_an_unknown_kind_lists_the_registered_ones(site_root: Path) -> None:
    configure(site_root, '[stages.greys]\nkind = "sepia"\n')
    with pytest.raises(ConfigError, match="stages.greys.kind must be one of .*toy-grey"):
        load_config(site_root)


# -- a fingerprint hook ----------------------------------------------------------------------------

STORED: dict[str, tuple[str, str, int, int]] = {}


def mean_grey(im: Image.Image, options: dict[str, Any]) -> int:
    return round(ImageStat.Stat(im.convert("L")).mean[0]) * options["scale"]


def keep_mean(catalog: Catalog, image_id: str, made: Made, value: Any) -> None:
    STORED[image_id] = (made.stage, made.file_path, value, os.getpid())


@pytest.fixture
def mean_hook() -> Iterator[Fingerprint]:
    STORED.clear()
    hook = register_fingerprint(
        Fingerprint(
            "toy-mean",
            stage=lambda config: "web-optimized",
            options=lambda config: {"scale": config.per_page},
            compute=mean_grey,
            store=keep_mean,
        )
    )
    try:
        yield hook
    finally:
        FINGERPRINTS.pop(hook.name, None)
        STORED.clear()


def test_a_fingerprint_hook_is_computed_on_the_web_copy(root: Path, mean_hook: Fingerprint) -> None:
    configure(root, "per_page = 3\n" + GREYS)  # the hook's options come from the config
    report = run(root, workers=2)
    assert report.failed == []
    web = rows(root, "web-optimized")
    expected = {}
    for image_id, row in web.items():
        with Image.open(root / "art" / row["file_path"]) as im:
            value = mean_grey(im, {"scale": 3})
        expected[image_id] = ("web-optimized", row["file_path"], value, os.getpid())
    assert STORED == expected  # stored in the main process, for a and b only
    assert sorted(STORED) == ["a", "b"]
