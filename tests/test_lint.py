"""ruff runs with the tests, so style problems fail the same command that CI runs."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(
    shutil.which("ruff") is None, reason="ruff is not installed (pip install -e '.[dev]')"
)
def test_ruff_check_passes() -> None:
    result = subprocess.run(
        ["ruff", "check", "cvgallery", "tests", "benchmarks"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(
    shutil.which("mypy") is None, reason="mypy is not installed (pip install -e '.[dev]')"
)
def test_mypy_passes_on_the_library() -> None:
    result = subprocess.run(["mypy", "cvgallery"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_package_imports_without_side_effects() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "import cvgallery.cli, cvgallery.catalog, cvgallery.ingest"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
