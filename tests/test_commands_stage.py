"""Outside-command stages: substitution, atomic output, and each way a command can fail."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from process_helpers import (
    add,
    artifacts,
    configure,
    jobs_of,
    params,
    photo,
    toml_command,
    write_script,
)

from cvgallery.catalog import Catalog
from cvgallery.cli import cli
from cvgallery.process import process
from cvgallery.stages.command import substitute

COPY = "shutil.copyfile(sys.argv[1], sys.argv[2])\n"


@pytest.fixture
def root(site_root: Path) -> Path:
    configure(site_root)
    return site_root


def run(root: Path, stages: list[str], **kw: object):
    with Catalog.open(root) as catalog:
        return process(catalog, stages, **kw)  # type: ignore[arg-type]


def test_substitution_keeps_each_argument_whole() -> None:
    argv = ("tool", "-i", "{input}", "--out={output}", "{id}", "{nope}")
    got = substitute(argv, {"input": "a b.png", "output": "/t/x y.png", "id": "it's; rm -rf"})
    assert got == ["tool", "-i", "a b.png", "--out=/t/x y.png", "it's; rm -rf", "{nope}"]


def test_command_output_is_recorded(root: Path, tmp_path: Path) -> None:
    copy = write_script(tmp_path / "bin", "copy.py", COPY)
    configure(
        root,
        toml_command(
            "ersgan-enhanced", [*copy, "{input}", "{output}"], input="web-optimized", ext="jpeg"
        ),
    )
    add(root, photo(tmp_path / "in/a b.jpeg"), photo(tmp_path / "in/c.jpeg"))
    report = run(root, ["ersgan-enhanced", "web-optimized", "ersgan-thumbnails"], workers=2)
    assert report.failed == [] and report.made == 6
    enhanced = artifacts(root, "ersgan-enhanced")
    web = artifacts(root, "web-optimized")
    assert enhanced["a b"]["file_path"] == "ersgan-enhanced/a b.jpeg"
    assert enhanced["a b"]["sha256"] == web["a b"]["sha256"]  # the copy of its input
    assert artifacts(root, "ersgan-thumbnails")["c"]["width"] == 400
    assert not list((root / "art").rglob(".cvgallery-tmp"))
    again = run(root, ["ersgan-enhanced"], workers=2)
    assert again.made == 0 and again.skipped == 2


CASES = {
    "crash": ("sys.stderr.write('model exploded\\n'); sys.exit(3)\n", "exit status 3"),
    "hang": ("time.sleep(60)\n", "timed out after 1s"),
    "silent": ("pass\n", "wrote no output"),
    "garbage": ("open(sys.argv[2], 'w').write('not a png')\n", "not a readable image"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_failing_command_fails_only_its_job(root: Path, tmp_path: Path, case: str) -> None:
    body, expected = CASES[case]
    # The command misbehaves for image "bad" only; "good" gets a real output.
    script = write_script(
        tmp_path / "bin",
        f"{case}.py",
        "if sys.argv[3] != 'bad':\n    shutil.copyfile(sys.argv[1], sys.argv[2]); sys.exit(0)\n"
        + body,
    )
    configure(
        root,
        toml_command(
            "face-swap-results",
            [*script, "{input}", "{output}", "{id}"],
            ext="png",
            timeout=1,
            max_retries=2,
        ),
    )
    add(root, photo(tmp_path / "in/good.png", (64, 64)), photo(tmp_path / "in/bad.png", (64, 64)))
    report = run(root, ["face-swap-results"], workers=2)
    assert report.made == 1 and [f.image_id for f in report.failed] == ["bad"]
    assert expected in report.failed[0].error
    if case == "crash":
        assert "model exploded" in report.failed[0].error
    [job] = [j for j in jobs_of(root) if j["status"] == "failed"]
    assert job["retry_count"] == 1 and expected in job["error_message"]
    assert set(artifacts(root, "face-swap-results")) == {"good"}
    assert not list((root / "art").rglob(".cvgallery-tmp"))  # the temporary {output} is gone


def test_jobs_retry_then_process_tries_again_up_to_max(root: Path, tmp_path: Path) -> None:
    script = write_script(tmp_path / "bin", "crash.py", "sys.exit(1)\n")
    configure(
        root, toml_command("face-swap-results", [*script, "{input}", "{output}"], max_retries=2)
    )
    add(root, photo(tmp_path / "in/a.png", (32, 32)))
    runner = CliRunner()
    first = runner.invoke(cli, ["process", "face-swap-results", "-j", "1", "--root", str(root)])
    assert first.exit_code == 1 and "failed a face-swap-results: exit status 1" in first.output
    plain = runner.invoke(cli, ["process", "face-swap-results", "--root", str(root)])
    assert plain.exit_code == 0 and "1 failed earlier" in plain.output
    for expected_retries in (2, 3, 3):  # max_retries = 2: two retries, then no more
        runner.invoke(cli, ["jobs", "retry", "--root", str(root)])
        runner.invoke(cli, ["process", "face-swap-results", "-j", "1", "--root", str(root)])
        assert [j["retry_count"] for j in jobs_of(root)] == [expected_retries]
    assert [j["status"] for j in jobs_of(root)] == ["failed"]


def test_missing_command_is_a_failed_job(root: Path, tmp_path: Path) -> None:
    configure(root, toml_command("face-swap-results", ["/no/such/tool", "{input}", "{output}"]))
    add(root, photo(tmp_path / "in/a.png", (32, 32)))
    report = run(root, ["face-swap-results"], workers=1)
    assert "cannot run '/no/such/tool'" in report.failed[0].error


def test_a_dead_worker_fails_its_jobs_and_the_run_goes_on(root: Path, tmp_path: Path) -> None:
    script = write_script(
        tmp_path / "bin",
        "killer.py",
        "import os, signal\n"
        "if sys.argv[3] == 'bad':\n    os.kill(os.getppid(), signal.SIGKILL); time.sleep(5)\n"
        "shutil.copyfile(sys.argv[1], sys.argv[2])\n",
    )
    configure(root, toml_command("face-swap-results", [*script, "{input}", "{output}", "{id}"]))
    add(
        root,
        photo(tmp_path / "in/bad.png", (32, 32)),
        *(photo(tmp_path / f"in/p{i}.png", (32, 32)) for i in range(5)),
    )
    report = run(root, ["face-swap-results"], workers=2)
    assert "bad" in {f.image_id for f in report.failed}
    assert all("worker process died" in f.error for f in report.failed)
    assert report.made + len(report.failed) == 6
    # The others in the pool it broke ran again alone: only the culprit fails.
    assert [f.image_id for f in report.failed] == ["bad"] and report.made == 5
    assert set(artifacts(root, "face-swap-results")) == {f"p{i}" for i in range(5)}
    assert "running" not in {j["status"] for j in jobs_of(root)}


def test_ersgan_thumbnails_fit_the_enhanced_picture_in_400(root: Path, tmp_path: Path) -> None:
    # A stand-in for ESRGAN: the picture at twice its size.
    upscale = write_script(
        tmp_path / "bin",
        "upscale.py",
        "from PIL import Image\nim = Image.open(sys.argv[1])\n"
        "im.resize((im.width * 2, im.height * 2)).save(sys.argv[2], 'PNG')\n",
    )
    configure(
        root,
        toml_command(
            "ersgan-enhanced", [*upscale, "{input}", "{output}"], input="web-optimized", ext="png"
        ),
    )
    add(root, photo(tmp_path / "in/tall.jpeg", (800, 1200)))
    report = run(root, ["ersgan-enhanced", "web-optimized", "ersgan-thumbnails"], workers=1)
    assert report.failed == [] and report.made == 3
    enhanced = artifacts(root, "ersgan-enhanced")["tall"]
    assert (enhanced["width"], enhanced["height"]) == (800, 1200)  # from the 400x600 web copy
    thumb = artifacts(root, "ersgan-thumbnails")["tall"]
    assert (thumb["width"], thumb["height"]) == (267, 400)  # fits 400x400, like thumbnails-small
    assert params(thumb)["fit"] == "fit" and params(thumb)["source_sha256"] == enhanced["sha256"]
    assert thumb["file_path"] == "ersgan-thumbnails/tall.jpeg"


def test_a_long_run_into_a_pipe_prints_only_its_summary(
    root: Path, tmp_path: Path, cli_run
) -> None:
    slow = write_script(tmp_path / "bin", "slow.py", "time.sleep(0.7)\n" + COPY)
    configure(root, toml_command("face-swap-results", [*slow, "{input}", "{output}"]))
    add(root, *(photo(tmp_path / f"in/{n}.png", (32, 32)) for n in "abcde"))
    result = cli_run("process", "face-swap-results", "-j", "2", "--root", root)
    assert result.returncode == 0
    # Longer than the bar's delay, but stderr is a pipe: no bar, no stray blank line.
    assert result.stderr == "made 5, skipped 0, failed 0\n" and result.stdout == ""
