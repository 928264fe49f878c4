"""Every command is documented in the README, and the README keeps its two set-up commands."""

from __future__ import annotations

import re
from pathlib import Path

import click

from cvgallery.cli import cli

README = Path(__file__).resolve().parent.parent / "README.md"


def command_paths(group: click.Group, prefix: str = "cvgallery") -> list[str]:
    paths = []
    for name, command in group.commands.items():
        path = f"{prefix} {name}"
        paths.append(path)
        if isinstance(command, click.Group):
            paths.extend(command_paths(command, path))
    return paths


def test_every_command_is_in_the_readme() -> None:
    text = README.read_text(encoding="utf-8")
    missing = [path for path in command_paths(cli) if f"`{path}" not in text]
    assert missing == []


def test_readme_has_exactly_two_setup_commands() -> None:
    text = README.read_text(encoding="utf-8")
    setup = text.split("## Set up", 1)[1].split("##", 1)[0]
    block = re.search(r"```sh\n(.*?)```", setup, re.S)
    assert block is not None
    commands = [line for line in block.group(1).splitlines() if line.strip()]
    assert commands == ["pip install -e '.[dev]'", "python -m pytest"]
