"""Hostile file names: ids that are safe file names and one line of a pipe, names shown
escaped to a terminal, page names that are unique, readable and keep their letters."""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path

import pytest
from site_helpers import add_processed

from cvgallery.catalog import Catalog, FileFacts
from cvgallery.ingest import add_files
from cvgallery.names import (
    KEPT_ID_BYTES,
    MAX_ID_BYTES,
    image_id_for,
    shown,
    terminal_safe,
)
from cvgallery.process import process
from cvgallery.site import build_site
from cvgallery.site.query import slug_key, slugify, unique_slugs
from cvgallery.store import safe_name

NAME_MAX = 255


def is_safe_id(image_id: str) -> bool:
    return (
        bool(image_id)
        and image_id not in (".", "..")
        and not image_id.startswith(".")
        and "/" not in image_id
        and image_id.isprintable()
        and len(image_id.encode("utf-8")) <= MAX_ID_BYTES + 9  # + a name clash's -<sha8>
    )


# -- ids from names ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stem", "expected"),
    [
        ("IMG_0001", "IMG_0001"),
        ("with space 'and quotes'", "with space 'and quotes'"),
        ("café-été", "café-été"),
        (".", "_"),
        ("..", "__"),
        ("", "_"),
        (".hidden", "_hidden"),
        ("new\nline", "new_line"),
        ("esc\x1b[31mred", "esc_[31mred"),
        ("tab\there\r", "tab_here_"),
        ("bidi\u202etxt.exe", "bidi_txt.exe"),
        ("not utf-8 \udcff", "not utf-8 _"),
    ],
)
def test_ids_are_safe_and_stay_close_to_the_name(stem: str, expected: str) -> None:
    assert image_id_for(stem) == expected
    assert is_safe_id(image_id_for(stem))


@pytest.mark.parametrize("unit", ["x", "é", "日", "🙂"])
def test_a_long_name_is_cut_on_a_character_boundary_and_keeps_a_hash(unit: str) -> None:
    stem = unit * (250 // len(unit.encode("utf-8")))
    image_id = image_id_for(stem)
    assert is_safe_id(image_id)
    kept, digest = image_id.rsplit("-", 1)
    assert stem.startswith(kept) and len(kept.encode("utf-8")) <= KEPT_ID_BYTES
    assert len(digest) == 8 and int(digest, 16) >= 0
    # two long names sharing their first 140 bytes are still two ids
    assert image_id_for(stem + "a") != image_id_for(stem + "b")


def test_a_name_just_under_the_limit_is_kept() -> None:
    stem = "y" * MAX_ID_BYTES
    assert image_id_for(stem) == stem


def test_store_file_names_of_long_composed_ids_fit_name_max() -> None:
    """A face-swap result id is <source>--<style>: two long ids make a longer one."""
    composed = f"{image_id_for('s' * 250)}--{image_id_for('t' * 250)}"
    name = safe_name(composed)
    assert len(f".tmp-4194304-abcdefgh{name}.jpeg".encode()) <= NAME_MAX
    assert safe_name(composed) == name and safe_name("a" + composed[1:]) != name


def test_shown_escapes_what_a_terminal_would_obey() -> None:
    assert shown("café-été.jpg") == "café-été.jpg"
    assert shown(Path("a b/c.jpg")) == "a b/c.jpg"
    assert shown("esc\x1b[31mred") == "'esc\\x1b[31mred'"
    assert shown("new\nline") == "'new\\nline'"
    assert "\u202e" not in shown("bidi\u202etxt")
    assert terminal_safe("two\nlines\tand \x1b[2J\x9b") == "two\nlines\tand \\x1b[2J\\x9b"


# -- add ------------------------------------------------------------------------------------


def hostile_names() -> list[str]:
    return [
        "x" * 250 + ".jpg",  # 254 bytes: fits the disk, not art/upstream/ with a prefix
        "é" * 125 + ".jpg",  # 254 bytes in UTF-8, 129 characters
        "..jpg",
        "...jpg",
        "new\nline.jpg",
        "esc\x1b[31mred.jpg",
        "tab\tname.jpg",
    ]


@pytest.mark.parametrize("link", [False, True])
def test_add_gives_every_hostile_name_a_safe_id_and_loses_nothing(
    catalog: Catalog, make_image, tmp_path: Path, link: bool
) -> None:
    names = hostile_names()
    files = [make_image(name, folder=tmp_path / "in", format="JPEG") for name in names]
    # a different picture with the same long name elsewhere: the clash rule adds 9 bytes
    files.append(make_image(names[0], folder=tmp_path / "other", format="JPEG"))
    results = add_files(catalog, files, link=link)
    assert [r.status for r in results] == ["added"] * len(files), [r.line() for r in results]
    ids = [r.image_id for r in results]
    assert len(set(ids)) == len(ids)
    for result, src in zip(results, files, strict=True):
        assert result.image_id is not None and is_safe_id(result.image_id), result.image_id
        art = catalog.artifacts.get(result.image_id, "upstream")
        stored = catalog.art_dir / art["file_path"]
        assert stored.read_bytes() == src.read_bytes()
        assert len(stored.name.encode()) <= 200
        if result.image_id != src.stem:  # a derived id is said on the file's line
            assert "id differs from the file name" in result.line()
    assert {image_id_for(".")} <= set(ids) and "." not in ids and ".." not in ids
    assert sorted(os.listdir(catalog.art_dir / "upstream")) == sorted(
        Path(catalog.artifacts.get(i, "upstream")["file_path"]).name for i in ids
    )
    # every stage can write <id>.<ext> beside its temporaries
    catalog.images.approve(ids)
    made = process(catalog, ["thumbnails-small", "web-optimized"], workers=1)
    assert not made.failed and made.made == 2 * len(ids)
    report = build_site(catalog)
    assert report.images == len(ids) and not report.failed
    assert len(list((report.output / "image").iterdir())) == len(ids)


def test_one_line_per_file_whatever_the_names(catalog: Catalog, make_image, tmp_path) -> None:
    files = [make_image(name, folder=tmp_path / "in", format="JPEG") for name in hostile_names()]
    lines = [r.line() for r in add_files(catalog, files)]
    assert all("\n" not in line and "\x1b" not in line and "\t" not in line for line in lines)
    assert any("esc\\x1b[31mred.jpg'" in line for line in lines)


# -- the CLI --------------------------------------------------------------------------------


def test_cli_escapes_names_in_messages_and_keeps_data_exact(
    site_root: Path, make_image, tmp_path: Path, cli_run
) -> None:
    folder = tmp_path / "in"
    for name in hostile_names():
        make_image(name, folder=folder, format="JPEG")
    added = cli_run("add", folder, "--root", site_root)
    # dotfiles are left out of a folder walk; named one by one, they are added
    dots = cli_run("add", folder / "..jpg", folder / "...jpg", "--root", site_root)
    for result in (added, dots):
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr and "\x1b" not in result.stderr
    lines = added.stderr.splitlines()
    assert len([line for line in lines if line.startswith("added ")]) == len(hostile_names()) - 2
    assert "esc\\x1b[31mred.jpg'" in added.stderr and "new\\nline.jpg'" in added.stderr
    assert "added _ " in dots.stderr and "added __ " in dots.stderr
    listed = cli_run("list", "--root", site_root)
    ids = listed.stdout.splitlines()
    assert len(ids) == len(hostile_names()) and all(is_safe_id(i) for i in ids)
    # one id a line: the list goes back in through a pipe
    approved = cli_run("approve", "-", "--root", site_root, input=listed.stdout)
    assert approved.returncode == 0 and f"approved {len(ids)}" in approved.stderr


def test_an_odd_id_from_an_older_catalog_is_data_on_stdout_and_escaped_in_messages(
    site_root: Path, cli_run
) -> None:
    odd = "old\x1b]0;pwned\x07id"
    with Catalog.open(site_root) as cat, cat.transaction():
        cat.images.add(odd, FileFacts("e" * 64, 1))
    listed = cli_run("list", "--root", site_root)
    assert listed.stdout == odd + "\n"  # a pipe gets the id exactly (click would strip it)
    missing = cli_run("path", odd, "--root", site_root)
    assert missing.returncode == 2 and "\x1b" not in missing.stderr and "\x07" not in missing.stderr
    assert "\\x1b]0;pwned\\x07" in missing.stderr


# -- page names -----------------------------------------------------------------------------


def test_slugs_keep_letters_of_every_script() -> None:
    for name in ["café-été", "Ålesund_2024", "東京タワー", "नमस्ते", "Ελλάδα.v2"]:
        assert slugify(name) == name
    nfd = unicodedata.normalize("NFD", "café")
    assert slugify(nfd).startswith("café-") and slugify(nfd) != slugify("café")
    assert slugify("a&b").startswith("a_b-") and slugify("a/b") != slugify("a?b")
    assert slugify("..") != ".." and not slugify("..").startswith(".")
    long_slug = slugify("é" * 120)
    assert len(long_slug.encode()) <= 140 and long_slug != "é" * 120


def test_unique_slugs_part_every_clash() -> None:
    names = ["a&b", slugify("a&b"), "Photo", "photo", "PHOTO", "café", "Café"]
    slugs = unique_slugs(names)
    assert len({slug_key(s) for s in slugs.values()}) == len(names)
    assert slugs[slugify("a&b")] == slugify("a&b")  # the id that is its own name keeps it
    assert slugs["photo"] == "photo" and slugs["café"] == "café"
    assert unique_slugs(reversed(names)) == slugs  # the same whatever the order


def test_built_pages_never_share_a_name(catalog: Catalog) -> None:
    ids = ["a&b", slugify("a&b"), "Photo", "photo", "café-été"]
    for n, image_id in enumerate(ids):
        user = ["Ann", "ann", "a&b", slugify("a&b"), "Zoë"][n]
        add_processed(catalog, image_id, seed=n, user=user)
    report = build_site(catalog, base_url="https://example.org/g")
    assert report.images == len(ids) and not report.failed
    pages = [p.name for p in (report.output / "image").iterdir()]
    users = [p.name for p in (report.output / "user").iterdir()]
    assert len({p.casefold() for p in pages}) == len(ids)
    assert len({p.casefold() for p in users}) == len(ids)
    assert "café-été.html" in pages and "Zoë.html" in users
    # each image page is linked from the index under the name it was written as
    index = (report.output / "index.html").read_text(encoding="utf-8")
    for page in pages:
        assert f"image/{page}" in index
    # absolute URLs (sitemap, feed) are percent-encoded
    sitemap = (report.output / "sitemap.xml").read_text(encoding="utf-8")
    assert "https://example.org/g/image/caf%C3%A9-%C3%A9t%C3%A9.html" in sitemap


def test_the_fast_path_of_slugify_agrees_with_the_rules() -> None:
    """Plain ASCII names skip the character walk: the same answer for any mix of safe,
    unsafe, leading and trailing characters."""
    import random

    from cvgallery.site import query

    rng = random.Random(7)
    alphabet = "aZ09._-&/ é"
    for _ in range(5000):
        name = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 8)))
        base = query._slug_base(name)
        slow = name if base == name else query._hashed(name)
        assert slugify(name) == slow, name
        assert slug_key(name) == unicodedata.normalize("NFC", name).casefold()
