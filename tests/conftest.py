"""Shared fixtures: a fresh site (site.toml, art/, cv.db) in tmp_path and real images."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PIL import Image

from cvgallery.catalog import Catalog, init_site


@pytest.fixture
def site_root(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    init_site(root)
    return root


@pytest.fixture
def catalog(site_root: Path) -> Iterator[Catalog]:
    with Catalog.open(site_root) as cat:
        yield cat


ImageFactory = Callable[..., Path]


@pytest.fixture
def make_image(tmp_path: Path) -> ImageFactory:
    """Write a real picture: make_image("a.jpeg", size=(64, 48), color=(r, g, b), **save_kw)."""
    counter = iter(range(1_000_000))

    def make(
        name: str,
        size: tuple[int, int] = (64, 48),
        color: tuple[int, ...] | None = None,
        folder: Path | None = None,
        mode: str = "RGB",
        **save_kw: object,
    ) -> Path:
        folder = folder or tmp_path / "input"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / name
        n = next(counter)
        # Distinct content per call, so two pictures never share a sha256 by accident.
        fill = color if color is not None else ((n * 37) % 256, (n * 91) % 256, (n * 53) % 256)
        im = Image.new(mode, size, fill if mode == "RGB" else fill[: len(mode)])
        im.putpixel((0, 0), tuple((c + 1) % 256 for c in fill[: len(mode)]) if mode != "L" else 0)
        im.save(path, **save_kw)
        return path

    return make


def run_cli(
    *args: str | os.PathLike[str], cwd: Path | None = None, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the real `cvgallery` command in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "cvgallery", *map(str, args)],
        cwd=cwd,
        input=input,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def cli_run() -> Callable[..., subprocess.CompletedProcess[str]]:
    return run_cli
