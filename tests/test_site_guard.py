"""Commands that would do harm by accident refuse: run outside a site, given a --root
that is no site, a theme that is a path, a boolean where a number belongs."""

from __future__ import annotations

import os
from pathlib import Path

import click
import pytest

from cvgallery.cli import cli
from cvgallery.config import check_site, find_root, load_config, parse_config
from cvgallery.errors import ConfigError, NotASite

# Every command but init, with arguments that would make it act. The test below checks
# that this list names every command of the CLI, so a new command is guarded too.
GUARDED: dict[str, list[str]] = {
    "add": ["add", "{picture}"],
    "approve": ["approve", "x"],
    "reject": ["reject", "x"],
    "stats": ["stats"],
    "set": ["set", "x", "--title", "t"],
    "reread": ["reread", "--all"],
    "list": ["list"],
    "path": ["path", "x"],
    "dupes": ["dupes"],
    "ready": ["ready", "upstream", "web-optimized"],
    "artifact log": ["artifact", "log", "x", "thumbnails-small", "{picture}"],
    "artifact sync": ["artifact", "sync", "thumbnails-small", "{folder}"],
    "jobs": ["jobs"],
    "jobs retry": ["jobs", "retry"],
    "jobs start": ["jobs", "start", "x", "thumbnails-small"],
    "jobs complete": ["jobs", "complete", "x", "thumbnails-small"],
    "jobs fail": ["jobs", "fail", "x", "thumbnails-small", "why"],
    "process": ["process"],
    "blurhash": ["blurhash"],
    "build": ["build"],
    "serve": ["serve", "--port", "0"],
    "publish": ["publish", "{target}"],
    "migrate": ["migrate", "{folder}"],
    "verify": ["verify"],
    "export-legacy": ["export-legacy", "{target}"],
}


def leaf_commands(group: click.Group, prefix: str = "") -> list[str]:
    names = []
    for name, command in group.commands.items():
        path = f"{prefix}{name}"
        if isinstance(command, click.Group):
            names += leaf_commands(command, f"{path} ")
            if command.invoke_without_command:
                names.append(path)
        else:
            names.append(path)
    return names


def test_every_command_but_init_is_guarded() -> None:
    assert sorted(leaf_commands(cli)) == sorted([*GUARDED, "init"])


@pytest.fixture
def outside(tmp_path: Path, make_image) -> tuple[Path, dict[str, str]]:
    """A folder with no site.toml anywhere above it, and things a command could act on."""
    here = tmp_path / "elsewhere"
    here.mkdir()
    folder = tmp_path / "pictures"
    picture = make_image("pic.jpeg", folder=folder)
    return here, {"picture": str(picture), "folder": str(folder), "target": str(tmp_path / "out")}


def snapshot(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.parametrize("command", sorted(GUARDED))
def test_outside_a_site_every_command_refuses_and_makes_nothing(
    command: str, outside: tuple[Path, dict[str, str]], tmp_path: Path, cli_run
) -> None:
    here, values = outside
    before = snapshot(tmp_path)
    args = [a.format(**values) for a in GUARDED[command]]
    result = cli_run(*args, cwd=here)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    [line] = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert "cvgallery init" in line and str(here) in line and "site.toml" in line
    assert snapshot(tmp_path) == before  # no cv.db, no art/, nothing copied


def test_a_root_without_site_toml_refuses(tmp_path: Path, make_image, cli_run) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    picture = make_image("pic.jpeg")
    for args in (["add", picture], ["stats"], ["build"]):
        result = cli_run(*args, "--root", plain)
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert f"{plain}: not a cvgallery site" in result.stderr
        assert f"cvgallery init {plain}" in result.stderr
    assert os.listdir(plain) == []


def test_init_still_makes_a_site_anywhere(tmp_path: Path, make_image, cli_run) -> None:
    here = tmp_path / "new"
    here.mkdir()
    assert cli_run("init", cwd=here).returncode == 0
    assert (here / "site.toml").is_file() and (here / "cv.db").is_file()
    other = tmp_path / "other"
    assert cli_run("init", "--root", other).returncode == 0 and (other / "site.toml").is_file()
    assert cli_run("add", make_image("pic.jpeg"), cwd=here).returncode == 0


def test_the_library_refuses_too(tmp_path: Path) -> None:
    with pytest.raises(NotASite, match="cvgallery init"):
        find_root(tmp_path)
    with pytest.raises(NotASite, match="not a cvgallery site"):
        check_site(tmp_path)
    with pytest.raises(NotASite, match="no such folder"):
        check_site(tmp_path / "missing")
    with pytest.raises(ConfigError, match="no such folder"):
        load_config(tmp_path / "missing")
    assert NotASite("x").exit_code == 2


@pytest.mark.parametrize(
    "theme", ["../elsewhere", "/etc", "a/b", "..", ".hidden", "", "a\\b", "c:", "x\ny"]
)
def test_a_theme_is_a_name_never_a_path(tmp_path: Path, theme: str) -> None:
    with pytest.raises(ConfigError, match="theme must be the name of a folder"):
        parse_config(tmp_path, {"theme": theme})


def test_a_theme_path_is_refused_by_build(site_root: Path, tmp_path: Path, cli_run) -> None:
    secret = tmp_path / "secret"
    (secret / "static").mkdir(parents=True)
    (secret / "static" / "private.txt").write_text("not for the web")
    text = (site_root / "site.toml").read_text()
    (site_root / "site.toml").write_text(f'theme = "../secret"\n{text.replace("theme =", "#")}')
    result = cli_run("build", "--root", site_root)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "theme must be the name of a folder" in result.stderr
    assert not list(site_root.rglob("private.txt"))


def test_a_plain_theme_name_still_works(tmp_path: Path) -> None:
    assert parse_config(tmp_path, {"theme": "my-theme_2"}).theme == "my-theme_2"


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"quality": True}, "quality must be a int, not True"),
        ({"size": False}, "size must be a int, not False"),
        ({"quality": 80.5}, "quality must be a int"),
    ],
)
def test_booleans_are_not_numbers(tmp_path: Path, table: dict[str, object], message: str) -> None:
    data = {"stages": {"web-optimized": table}}
    with pytest.raises(ConfigError, match=message):
        parse_config(tmp_path, data)


def test_top_level_numbers_refuse_booleans_too(tmp_path: Path) -> None:
    for key in ("per_page", "feed_size"):
        with pytest.raises(ConfigError, match=f"{key} must be an integer"):
            parse_config(tmp_path, {key: True})
    with pytest.raises(ConfigError, match="max_retries must be an integer"):
        parse_config(tmp_path, {"jobs": {"max_retries": True}})


def test_a_group_passes_its_root_to_its_subcommands(
    site_root: Path, outside: tuple[Path, dict[str, str]], cli_run
) -> None:
    here, _ = outside
    for args in (["jobs", "--root", site_root, "retry"], ["jobs", "retry", "--root", site_root]):
        result = cli_run(*args, cwd=here)
        assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert not (here / "cv.db").exists()
