"""Incremental builds: the same bytes as a clean full build, only the changed files touched,
stable numbered pages, and a build killed half-way that leaves a working site."""

from __future__ import annotations

import os
import random
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from publish_helpers import broken_links
from site_helpers import add_processed

from cvgallery.catalog import Catalog
from cvgallery.catalog import schema as db
from cvgallery.site import build_site
from cvgallery.site import inplace as inplace_module
from cvgallery.site.output import MANIFEST

USERS = ("ann", "ben", "cy", None)

# A theme that shows the site-wide facts on every kind of page: a change of any of them
# must reach every page that shows it.
COUNTING_THEME = {
    "image.html": '{% extends "!default/image.html" %}'
    "{% block title %}{{ image.id }} of {{ site.image_count }}{% endblock %}",
    "index.html": '{% extends "!default/index.html" %}'
    "{% block title %}{{ page.title }}: {{ pagination.count }} pages{% endblock %}",
    "user.html": '{% extends "!default/user.html" %}'
    "{% block title %}{{ user.name }} ({{ user.count }}) of "
    "{% for u in users %}{{ u.name }}={{ u.count }} {% endfor %}{% endblock %}",
}


def files_of(out: Path) -> dict[str, bytes]:
    """Every file of a built site but its manifest (which names the build)."""
    return {
        p.relative_to(out).as_posix(): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file() and p.name != MANIFEST
    }


def stamps(out: Path) -> dict[str, tuple[int, int]]:
    """path → (mtime_ns, inode) of every file."""
    found = {}
    for p in out.rglob("*"):
        if p.is_file() and p.name != MANIFEST:
            st = p.stat()
            found[p.relative_to(out).as_posix()] = (st.st_mtime_ns, st.st_ino)
    return found


def touched(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]) -> set[str]:
    """Files new or rewritten (another mtime or inode)."""
    return {rel for rel, stamp in after.items() if before.get(rel) != stamp}


def set_toml(catalog: Catalog, **values: object) -> Catalog:
    """Rewrite site.toml's top-level keys and reopen the catalog (the config is read once)."""
    path = catalog.config.root / "site.toml"
    lines = [ln for ln in path.read_text().splitlines() if ln.split(" =")[0] not in values]
    head = [f"{k} = {v!r}" if isinstance(v, str) else f"{k} = {v}" for k, v in values.items()]
    path.write_text("\n".join([*head, *lines]) + "\n")
    catalog.close()
    return Catalog.open(catalog.config.root)


def clean_build(catalog: Catalog, scratch: Path) -> dict[str, bytes]:
    """A full build of the same catalog into a fresh folder, as the reference (rendered by
    two forked workers, as a big site's full build is)."""
    out = scratch / f"clean-{len(list(scratch.iterdir()))}"
    report = build_site(catalog, out, base_url="https://example.org/g", jobs=2)
    assert not report.failed and report.full
    files = files_of(out)
    shutil.rmtree(out)
    return files


def stamp(n: int) -> str:
    return f"2026-01-01 00:{n // 60:02d}:{n % 60:02d}"


def seed_catalog(catalog: Catalog, count: int = 30) -> Catalog:
    """``count`` pictures (some pending, one with a derived result and video frames, two
    sharing a timestamp), four to an index page."""
    catalog = set_toml(catalog, per_page=4, feed_size=5)
    for n in range(count):
        add_processed(
            catalog,
            f"p{n:02d}",
            seed=n,
            size=(40 + n % 3 * 8, 30),
            user=USERS[n % len(USERS)],
            approved=n % 7 != 3,
            created_at=stamp(n if n != 11 else 10),
        )
    add_processed(catalog, "p05--style", seed=80, parent_id="p05", user="ann")
    add_processed(
        catalog,
        "p08-frame-1",
        seed=81,
        parent_id="p08",
        approved=False,
        stages=("video-frames",),
        blurhash=None,
    )
    return catalog


class Steps:
    """The random changes of the property test; each returns a label for failure messages."""

    def __init__(self, catalog: Catalog, rng: random.Random, added: int = 0):
        self.catalog = catalog
        self.rng = rng
        self.added = added  # pictures added so far (names and timestamps follow it)

    def ids(self, approved: bool) -> list[str]:
        rows = self.catalog.conn.execute(
            "SELECT id FROM images WHERE approved = ? AND parent_id IS NULL ORDER BY id",
            (int(approved),),
        )
        return [r[0] for r in rows]

    def approve(self) -> str:
        pending = self.ids(False)
        if not pending:
            return self.add()
        chosen = self.rng.sample(pending, min(len(pending), self.rng.choice((1, 1, 2))))
        self.catalog.images.approve(chosen)
        return f"approve {chosen}"

    def reject(self) -> str:
        approved = self.ids(True)
        chosen = self.rng.sample(approved, min(len(approved), self.rng.choice((1, 1, 3))))
        self.catalog.images.reject(chosen)
        return f"reject {chosen}"

    def add(self) -> str:
        self.added += 1
        name = f"new{self.added:02d}"
        when = stamp(40 + self.added) if self.rng.random() < 0.6 else stamp(self.rng.randrange(30))
        add_processed(
            self.catalog,
            name,
            seed=100 + self.added,
            user=self.rng.choice(USERS),
            created_at=when,
            approved=self.rng.random() < 0.8,
        )
        return f"add {name} at {when}"

    def edit(self) -> str:
        """A row changes without a review: another user, another BlurHash."""
        image_id = self.rng.choice(self.ids(True))
        with db.transaction(self.catalog.conn) as conn:
            if self.rng.random() < 0.5:
                conn.execute(
                    "UPDATE images SET username = ? WHERE id = ?",
                    (self.rng.choice(USERS), image_id),
                )
            else:
                conn.execute(
                    "UPDATE blurhash_cache SET blurhash = 'LEHV6nWB2yk8pyo0adR*.7kCMdnj' "
                    "WHERE image_id = ?",
                    (image_id,),
                )
        return f"edit {image_id}"

    def words(self) -> str:
        """A title, caption or capture date is set: an older capture date moves the
        picture back in the timeline (sort = "taken")."""
        image_id = self.rng.choice(self.ids(True))
        if self.rng.random() < 0.5:
            words = {"title": self.rng.choice(("Dawn", "Harbour <&>", None)), "caption": "x"}
            self.catalog.images.set_words(image_id, words)
        else:
            with db.transaction(self.catalog.conn) as conn:
                conn.execute(
                    "UPDATE images SET taken_at = ? WHERE id = ?",
                    (f"2025-0{self.rng.randrange(1, 9)}-01T12:00:00+02:00", image_id),
                )
        return f"words {image_id}"

    def clash(self) -> str:
        """A picture whose id differs from another's only in case: their page names must
        differ on a host that ignores case, and the other's page may be renamed."""
        image_id = self.rng.choice(self.ids(True)).upper()
        if self.catalog.images.exists(image_id):
            return self.add()
        self.added += 1
        add_processed(
            self.catalog, image_id, seed=300 + self.added, user=self.rng.choice(("Ann", "ann"))
        )
        return f"clash {image_id}"

    def theme(self) -> str:
        folder = self.catalog.config.root / "themes" / "default" / "templates"
        if folder.is_dir():
            shutil.rmtree(folder)
            return "theme: default"
        folder.mkdir(parents=True)
        for name, text in COUNTING_THEME.items():
            (folder / name).write_text(text)
        return "theme: counting"

    def setting(self) -> str:
        per_page, feed_size = self.rng.choice((3, 4, 5)), self.rng.choice((2, 5, 40))
        title = self.rng.choice(("Gallery", "Pictures <&>"))
        sort = self.rng.choice(("taken", "added"))
        self.catalog = set_toml(
            self.catalog, per_page=per_page, feed_size=feed_size, title=title, sort=sort
        )
        return f"settings per_page={per_page} feed_size={feed_size} title={title} sort={sort}"


def test_incremental_builds_equal_clean_builds_after_random_changes(
    catalog: Catalog, tmp_path: Path
):
    """12 random sequences of 6 changes: after each, the incremental build's files are
    byte for byte those of a clean full build, and every link resolves."""
    catalog = seed_catalog(catalog)
    base = catalog.config.root
    # A content page shows no pictures of its own: it shares the newest (site.cover).
    (base / "content").mkdir(exist_ok=True)
    (base / "content" / "about.md").write_text("# About\n\nThese pictures.\n")
    pristine = tmp_path / "pristine"
    catalog.close()
    shutil.copytree(base, pristine)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    incremental_builds = 0
    for sequence in range(12):
        rng = random.Random(sequence)
        shutil.rmtree(base)
        shutil.copytree(pristine, base)
        catalog = Catalog.open(base)
        out = tmp_path / "out"
        shutil.rmtree(out, ignore_errors=True)
        build_site(catalog, out, base_url="https://example.org/g")
        steps = Steps(catalog, rng)
        kinds: list[Callable[[], str]] = [steps.approve, steps.reject, steps.add, steps.edit]
        kinds += [steps.approve, steps.add, steps.theme, steps.setting]
        kinds += [steps.words, steps.clash]
        done = []
        for _ in range(6):
            done.append(rng.choice(kinds)())
            report = build_site(steps.catalog, out, base_url="https://example.org/g")
            incremental_builds += not report.full
            assert not report.failed, done
            files = files_of(out)
            assert files == clean_build(steps.catalog, scratch), done
            assert not broken_links(files), done
        steps.catalog.close()
    assert incremental_builds >= 36  # most changes are rows, built incrementally


@pytest.fixture
def site(catalog: Catalog, tmp_path: Path) -> tuple[Catalog, Path]:
    catalog = seed_catalog(catalog)
    out = tmp_path / "out"
    build_site(catalog, out, base_url="https://example.org/g")
    return catalog, out


def test_approving_the_newest_picture_touches_only_its_pages(site: tuple[Catalog, Path]):
    catalog, out = site
    add_processed(catalog, "fresh", seed=90, user="ben", approved=False, created_at=stamp(59))
    assert build_site(catalog, out, base_url="https://example.org/g").skipped
    before = stamps(out)
    newest_before = next(
        r[0] for r in catalog.conn.execute(
            "SELECT id FROM images WHERE approved AND parent_id IS NULL "
            "ORDER BY created_at DESC, id LIMIT 1"
        )
    )
    catalog.images.approve(["fresh"])
    report = build_site(catalog, out, base_url="https://example.org/g")
    assert not report.full and not report.failed
    changed = touched(before, stamps(out))
    media = {rel for rel in changed if rel.startswith("media/")}
    numbered = {p for p in changed if p.startswith("page-")}
    user_pages = {p for p in changed if p.startswith("user/ben/")}
    assert changed - media - numbered - user_pages == {
        "image/fresh.html",
        f"image/{newest_before}.html",  # its "newer" link
        "index.html",
        "user/ben.html",
        "feed.xml",
        "sitemap.xml",
    }
    # The numbered page it lands on, and when it opens a new page, the one before (its
    # "newer" link); ben's 8th picture completes his 2nd page: that and the 1st's link.
    assert 1 <= len(numbered) <= 2
    assert user_pages == {"user/ben/page-1.html", "user/ben/page-2.html"}
    assert media and len(media) <= 2  # its web copy and thumbnail
    assert set(before) <= set(stamps(out))  # nothing deleted
    assert report.written == len(changed)


def test_unchanged_pages_keep_mtime_and_inode(site: tuple[Catalog, Path]):
    catalog, out = site
    before = stamps(out)
    catalog.images.reject(["p27"])  # among the newest: the old pages do not move
    build_site(catalog, out, base_url="https://example.org/g")
    after = stamps(out)
    kept = [rel for rel in ("page-1.html", "page-2.html", "image/p00.html", "image/p09.html")]
    assert all(after[rel] == before[rel] for rel in kept)
    assert all(after[rel] == before[rel] for rel in after if rel.startswith(("media/", "static/")))
    assert "image/p27.html" in before and "image/p27.html" not in after


def test_rejecting_a_middle_picture_shifts_only_the_pages_after_it(site: tuple[Catalog, Path]):
    catalog, out = site
    before = stamps(out)
    catalog.images.reject(["p12"])
    report = build_site(catalog, out, base_url="https://example.org/g")
    changed = touched(before, stamps(out))
    # Four to a page (p03, p10 pending): p12 is on page 3 between p11 and p13; p14 moves
    # from page 4 to page 3 (its back link changes), p09 stays where it was.
    unchanged = {"page-1.html", "page-2.html", "image/p00.html", "image/p05.html"}
    assert not changed & (unchanged | {"image/p09.html"})
    assert {"page-3.html", "page-4.html", "image/p11.html", "image/p13.html"} <= changed
    assert "image/p14.html" in changed
    assert report.deleted >= 2  # its page and its media


def test_numbered_pages_stay_stable_when_pictures_arrive(site: tuple[Catalog, Path]):
    catalog, out = site
    for n in range(6):  # fill the last page and open the next one
        pages = sorted(out.glob("page-*.html"), key=lambda p: int(p.stem[5:]))
        full = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in pages[:-1]}
        add_processed(catalog, f"late{n}", seed=200 + n, user="cy", created_at=stamp(45 + n))
        build_site(catalog, out, base_url="https://example.org/g")
        for name, (data, mtime) in full.items():
            assert (out / name).read_bytes() == data and (out / name).stat().st_mtime_ns == mtime
    assert not broken_links(files_of(out))


def test_killed_incremental_build_leaves_a_working_site_the_next_build_completes(
    site: tuple[Catalog, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    """Killed after 0, 1, 2, ... renames (and during the deletions): every link of the
    site on disk resolves, and the next build makes it equal to a clean build."""
    catalog, out = site
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    real_replace = os.replace
    deaths = {"renaming": 0, "deleting": 0}
    for kill_after in range(0, 40, 3):
        steps = Steps(catalog, random.Random(kill_after), added=kill_after)
        steps.approve(), steps.reject(), steps.add()
        monkeypatch.setattr(inplace_module.os, "replace", _dying_after(kill_after, real_replace))
        try:
            build_site(catalog, out, base_url="https://example.org/g")
            died = False
        except KeyboardInterrupt:
            died = True
        monkeypatch.setattr(inplace_module.os, "replace", real_replace)
        assert not broken_links(files_of(out)), kill_after
        deaths["renaming"] += died
        if not died:  # fewer renames than kill_after: try dying in the deletions instead
            catalog.images.reject([steps.ids(True)[0]])
            monkeypatch.setattr(inplace_module.InPlaceTree, "delete", _delete_one_then_die)
            with pytest.raises(KeyboardInterrupt):
                build_site(catalog, out, base_url="https://example.org/g")
            monkeypatch.undo()
            assert not broken_links(files_of(out))
            deaths["deleting"] += 1
        report = build_site(catalog, out, base_url="https://example.org/g")
        assert not report.full and not report.failed
        assert files_of(out) == clean_build(catalog, scratch), kill_after
        assert build_site(catalog, out, base_url="https://example.org/g").skipped
        assert [p.name for p in out.parent.iterdir() if p.name.startswith(".out.")] == []
    assert deaths["renaming"] >= 5 and deaths["deleting"] >= 2


def _dying_after(count: int, real: Callable[[str, str], None]) -> Callable[[str, str], None]:
    """os.replace that does ``count`` renames, then dies as a killed build would."""
    calls = {"n": 0}

    def replace(src: str, dest: str) -> None:
        calls["n"] += 1
        if calls["n"] > count:
            raise KeyboardInterrupt
        real(src, dest)

    return replace


_real_delete = inplace_module.InPlaceTree.delete


def _delete_one_then_die(tree: inplace_module.InPlaceTree, rels: list[str]) -> None:
    _real_delete(tree, rels[:1])
    raise KeyboardInterrupt


def test_deleted_output_folder_is_built_again_in_full(site: tuple[Catalog, Path]):
    catalog, out = site
    before = files_of(out)
    shutil.rmtree(out)
    report = build_site(catalog, out, base_url="https://example.org/g")
    assert report.full and files_of(out) == before


def test_user_files_survive_both_kinds_of_build(site: tuple[Catalog, Path]):
    catalog, out = site
    (out / "CNAME").write_text("gallery.example.org\n")
    (out / ".git").mkdir()
    (out / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    catalog.images.approve(["p03"])
    assert not build_site(catalog, out, base_url="https://example.org/g").full
    catalog = set_toml(catalog, title="Renamed")  # a full build, swapped in
    assert build_site(catalog, out, base_url="https://example.org/g").full
    assert (out / "CNAME").read_text() == "gallery.example.org\n"
    assert (out / ".git" / "HEAD").is_file()
    catalog.close()


def test_pages_reading_a_site_wide_fact_follow_it_the_others_do_not(
    site: tuple[Catalog, Path],
):
    """With a theme showing the picture count on every image page, one approval rewrites
    every image page; with the default theme, a handful."""
    catalog, out = site
    folder = catalog.config.root / "themes" / "default" / "templates"
    folder.mkdir(parents=True)
    (folder / "image.html").write_text(COUNTING_THEME["image.html"])
    assert build_site(catalog, out, base_url="https://example.org/g").full
    image_pages = {rel for rel in stamps(out) if rel.startswith("image/")}
    before = stamps(out)
    catalog.images.approve(["p03"])
    assert not build_site(catalog, out, base_url="https://example.org/g").full
    assert image_pages <= touched(before, stamps(out))
    assert "of 27</title>" in (out / "image" / "p00.html").read_text()
    shutil.rmtree(folder)
    add_processed(catalog, "latest", seed=95, approved=False, created_at=stamp(59))
    assert build_site(catalog, out, base_url="https://example.org/g").full
    before = stamps(out)
    catalog.images.approve(["latest"])
    build_site(catalog, out, base_url="https://example.org/g")
    assert touched(before, stamps(out)) & image_pages == {"image/p29.html"}  # its neighbour


def test_missing_file_of_a_new_picture_leaves_it_out_until_it_is_back(
    site: tuple[Catalog, Path], tmp_path: Path
):
    catalog, out = site
    web = catalog.art_dir / catalog.artifacts.get("p03", "web-optimized")["file_path"]
    thumb = catalog.art_dir / catalog.artifacts.get("p03", "thumbnails-small")["file_path"]
    kept = web.read_bytes()
    web.unlink()
    thumb.unlink(missing_ok=True)
    catalog.images.approve(["p03", "p17"])
    report = build_site(catalog, out, base_url="https://example.org/g")
    assert not report.full and len(report.failed) == 1 and "p03" in report.failed[0]
    assert not (out / "image" / "p03.html").exists() and (out / "image" / "p17.html").exists()
    assert not broken_links(files_of(out))
    again = build_site(catalog, out, base_url="https://example.org/g")
    assert not again.skipped and len(again.failed) == 1  # reported again, not "up to date"
    web.write_bytes(kept)
    fixed = build_site(catalog, out, base_url="https://example.org/g")
    assert not fixed.failed and (out / "image" / "p03.html").is_file()
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    assert files_of(out) == clean_build(catalog, scratch)
    assert build_site(catalog, out, base_url="https://example.org/g").skipped


def test_records_follow_the_folder_a_deleted_or_replaced_folder_means_a_full_build(
    site: tuple[Catalog, Path],
):
    catalog, out = site
    manifest = (out / MANIFEST).read_text()
    catalog.images.approve(["p03"])
    assert not build_site(catalog, out, base_url="https://example.org/g").full
    # every build names itself anew: a cv.db from before this build would not match
    assert (out / MANIFEST).read_text() != manifest
    (out / MANIFEST).write_text(manifest)  # the folder now claims an older build
    catalog.images.approve(["p10"])
    assert build_site(catalog, out, base_url="https://example.org/g").full


def test_ids_differing_in_case_get_apart_pages_in_both_kinds_of_build(
    site: tuple[Catalog, Path], tmp_path: Path
):
    catalog, out = site
    add_processed(catalog, "P02", seed=95, user="Ann", created_at=stamp(58))
    report = build_site(catalog, out, base_url="https://example.org/g")
    assert not report.full and not report.failed
    files = files_of(out)
    pages = {rel.casefold() for rel in files if rel.startswith(("image/", "user/"))}
    assert len(pages) == len([rel for rel in files if rel.startswith(("image/", "user/"))])
    assert "image/p02.html" in files  # the lower-case name keeps its page
    assert not broken_links(files)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    assert files == clean_build(catalog, scratch)


def test_a_page_without_pictures_shares_the_newest_and_follows_it(
    catalog: Catalog, tmp_path: Path
):
    catalog = seed_catalog(catalog)
    (catalog.config.root / "content").mkdir(exist_ok=True)
    (catalog.config.root / "content" / "about.md").write_text("# About\n\nUs.\n")
    out = tmp_path / "out"
    build_site(catalog, out, base_url="https://example.org/g")
    before = stamps(out)
    about = (out / "about.html").read_text()
    add_processed(catalog, "cover", seed=97, user="ben", created_at=stamp(59))
    build_site(catalog, out, base_url="https://example.org/g")
    changed = touched(before, stamps(out))
    assert "about.html" in changed and "page-1.html" not in changed
    shared = (out / "about.html").read_text()
    assert shared != about and 'property="og:image"' in shared
    assert 'content="Cover"' in shared  # og:image:alt: the newest picture's name


def test_more_urls_than_a_sitemap_holds_make_an_index_of_parts(
    catalog: Catalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Over the protocol's 50,000 URLs (here 10), sitemap.xml is an index of parts that
    together list every URL once; parts come and go with the site, incrementally too."""
    import xml.etree.ElementTree as ET

    from cvgallery.site import plan as plan_module

    ns = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
    catalog = seed_catalog(catalog)
    whole = tmp_path / "whole"
    build_site(catalog, whole, base_url="https://example.org/g")
    every = [e.text for e in ET.parse(whole / "sitemap.xml").getroot().iter(f"{ns}loc")]
    assert len(every) > 20
    monkeypatch.setattr(plan_module, "SITEMAP_LIMIT", 10)
    out = tmp_path / "out"
    build_site(catalog, out, base_url="https://example.org/g")
    index = ET.parse(out / "sitemap.xml").getroot()
    assert index.tag == f"{ns}sitemapindex"
    parts = [e.text for e in index.iter(f"{ns}loc")]
    assert parts == [f"https://example.org/g/sitemap-{n}.xml" for n in range(1, len(parts) + 1)]
    listed = []
    for n in range(1, len(parts) + 1):
        urls = [e.text for e in ET.parse(out / f"sitemap-{n}.xml").getroot().iter(f"{ns}loc")]
        assert 0 < len(urls) <= 10
        listed += urls
    assert listed == every
    catalog.images.reject(catalog.images.listing_ids("approved")[:12])  # fewer parts
    build_site(catalog, out, base_url="https://example.org/g")
    left = len(list(ET.parse(out / "sitemap.xml").getroot().iter(f"{ns}loc")))
    assert left < len(parts) and not (out / f"sitemap-{len(parts)}.xml").exists()
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    assert files_of(out) == clean_build(catalog, scratch)
