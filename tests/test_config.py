"""site.toml parsing: defaults, validation, unknown keys named."""

from __future__ import annotations

from pathlib import Path

import pytest

from cvgallery.config import find_root, load_config
from cvgallery.errors import ConfigError


def write(root: Path, text: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "site.toml").write_text(text, encoding="utf-8")
    return root


def test_defaults_without_a_file(tmp_path: Path) -> None:
    config = load_config(tmp_path)
    assert (config.title, config.per_page, config.theme, config.max_retries) == (
        "Gallery",
        60,
        "default",
        3,
    )
    assert config.stages["web-optimized"].settings.fit == "width"
    assert config.stages["thumbnails-small"].settings.size == 400
    assert config.db_path == tmp_path.resolve() / "cv.db"


def test_values_and_stage_overrides(tmp_path: Path) -> None:
    write(
        tmp_path,
        """
title = "Mine"
base_url = "https://example.org/g/"
per_page = 24
[review]
auto_approve = true
[stages.web-optimized]
format = "webp"
quality = 80
[stages.ersgan-enhanced]
input = "web-optimized"
command = ["realesrgan", "-i", "{input}", "-o", "{output}"]
timeout = 60
""",
    )
    config = load_config(tmp_path)
    assert config.base_url == "https://example.org/g"
    assert config.auto_approve and config.per_page == 24
    web = config.stages["web-optimized"]
    assert (web.kind, web.settings.format, web.settings.quality, web.settings.size) == (
        "resize",
        "webp",
        80,
        400,
    )
    esr = config.stages["ersgan-enhanced"]
    assert esr.kind == "command" and esr.settings.command[0] == "realesrgan"
    assert esr.settings.timeout == 60


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("titel = 'typo'", "unknown key 'titel'"),
        ("per_page = 0", "per_page must be an integer >= 1"),
        ("[review]\nauto_aprove = true", "unknown key review.auto_aprove"),
        ("[stages.web-optimized]\nqualty = 3", "unknown key stages.web-optimized.qualty"),
        ("[stages.web-optimized]\nformat = 'bmp'", "format must be one of"),
        ("[stages.x]\ncommand = 'rm -rf /'", "command must be a non-empty list"),
        ("[stages.x]\ncommand = ['a']\ninput = 'nowhere'", "unknown stage 'nowhere'"),
        ("title = ", "site.toml"),
    ],
)
def test_bad_config_names_the_key(tmp_path: Path, text: str, message: str) -> None:
    write(tmp_path, text)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("(", r"\(")):
        load_config(tmp_path)


def test_find_root_walks_upward(tmp_path: Path) -> None:
    write(tmp_path, "")
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    assert find_root(deep) == tmp_path.resolve()
