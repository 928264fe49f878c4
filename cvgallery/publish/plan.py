"""What a publish will do: scan the built site, compare it with the target's manifest.

Cost follows change: a page's hash comes from the build manifest (the build computed it
while writing the page), a file under ``media/`` is named by the hash of its content, so a
no-op publish reads no file of the site at all, only its directory entries. Anything else
(a file the build did not record, a site folder not made by cvgallery) is hashed here.

Order is safety: a visitor must never reach a link to a file that is not there yet.
New files go first (media and static files, then pages, then new entry points), then
changed files (entry points last: they are what links everything else in), and the
deletions only after every upload succeeded.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from ..site.output import read_manifest
from ..store import CHUNK
from .manifest import MANIFEST_NAME, Entry

#: Files at the site root that link everything else in: uploaded last of their kind.
_ENTRY_POINT = re.compile(r"^(?:index\.html|page-(\d+)\.html|feed\.xml|sitemap\.xml)$")
#: media/<hash>.<ext>: the name is the content hash the catalog recorded (site/query.py).
_MEDIA = re.compile(r"^media/([0-9a-f]{16,64})\.[A-Za-z0-9]{1,10}$")
#: dot-names a static host reads (GitHub Pages, Apache); other dotfiles are never published
_KEPT_DOTTED = {".well-known", ".nojekyll", ".htaccess"}

#: Upload ranks inside "new" and inside "changed": files with no links, pages, entry
#: points, and the home page alone at the very end (phases run their files in parallel).
RANK_ASSET, RANK_PAGE, RANK_ENTRY, RANK_HOME = 0, 1, 2, 3


class SourceFile(NamedTuple):
    size: int
    hash: str


def scan_source(
    source: Path, rehash: bool = False
) -> tuple[dict[str, SourceFile], list[tuple[str, str]]]:
    """Every publishable file of ``source`` → (size, hash), and the files that could not be read.

    All of them in one dict: for tests and tools. A publish walks (walk_source) instead.
    """
    problems: list[tuple[str, str]] = []
    return dict(walk_source(source, problems, rehash)), problems


def walk_source(
    source: Path, problems: list[tuple[str, str]], rehash: bool = False
) -> Iterator[tuple[str, SourceFile]]:
    """Each publishable file of ``source`` with its size and hash, one at a time; files that
    cannot be read are added to ``problems`` as (path, reason) on the way.

    Dotfiles and dot-folders are left out (the build manifest, editor and VCS files), except
    ``.well-known/``. ``rehash`` ignores the build manifest and content names and reads all.
    Folders are read entry by entry, never listed whole: media/ holds two files per picture.
    """
    known: dict[str, Any] = {}
    if not rehash:
        files = (read_manifest(source) or {}).get("files")
        if isinstance(files, dict):
            known = files
    stack = [("", str(source))]
    while stack:
        prefix, folder = stack.pop()
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    name = entry.name
                    if name.startswith(".") and not (prefix == "" and name in _KEPT_DOTTED):
                        continue
                    rel = prefix + name
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            stack.append((rel + "/", entry.path))
                            continue
                        if not entry.is_file():
                            continue  # sockets, fifos, dangling or folder symlinks
                        rel.encode("utf-8")
                        size = entry.stat().st_size
                        digest = None if rehash else _known_hash(rel, known)
                        file = SourceFile(size, digest or hash_file(entry.path))
                    except UnicodeEncodeError:
                        problems.append((rel, "file name is not valid UTF-8"))
                        continue
                    except OSError as exc:
                        problems.append((rel, f"cannot read: {exc.strerror or exc}"))
                        continue
                    yield rel, file
        except OSError as exc:
            reason = f"cannot list folder: {exc.strerror or exc}"
            problems.append((prefix.rstrip("/") or ".", reason))


def _under_any(rel: str, paths: tuple[str, ...]) -> bool:
    return any(rel == p or p == "." or rel.startswith(p + "/") for p in paths)


def _known_hash(rel: str, known: dict[str, Any]) -> str | None:
    media = _MEDIA.match(rel) if rel.startswith("media/") else None
    if media:
        return f"name:{media.group(1)}"
    digest = known.get(rel)
    return digest if isinstance(digest, str) else None


def hash_file(path: str | os.PathLike[str]) -> str:
    """blake2b-128, the build manifest's digest, so a page hashes the same either way."""
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def rank(rel: str) -> int:
    if rel == "index.html":
        return RANK_HOME
    if _ENTRY_POINT.match(rel):
        return RANK_ENTRY
    if rel.endswith((".html", ".htm", ".xml")):
        return RANK_PAGE
    return RANK_ASSET


def _order_key(rel: str) -> tuple[int, int, str]:
    """Rank first; among entry points, later index pages first (then feed and sitemap)."""
    entry = _ENTRY_POINT.match(rel)
    number = entry.group(1) if entry else None
    return (rank(rel), -int(number) if number else 0, rel)


def _in_upload_order(paths: list[str]) -> list[str]:
    """``paths`` sorted by _order_key, without a key tuple per path (300,000 on a first
    publish): by rank first, then by name, and only the few entry points by their key."""
    by_rank: list[list[str]] = [[] for _ in range(RANK_HOME + 1)]
    for rel in paths:
        by_rank[rank(rel)].append(rel)
    for r, group in enumerate(by_rank):
        group.sort(key=_order_key if r == RANK_ENTRY else None)
    return [rel for group in by_rank for rel in group]


@dataclass
class Plan:
    """The difference between the built site and what the target's manifest records.

    Paths only, and the size and hash of the files to upload: a plan of a 100,000-picture
    site must not cost a copy of the site's listing per list it appears in.
    """

    #: the files to upload (new and changed) → their size and hash
    source: dict[str, SourceFile] = field(default_factory=dict)
    new: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)
    #: the target had no manifest: nothing there is cvgallery's
    first: bool = False
    upload_bytes: int = 0
    unchanged_bytes: int = 0
    delete_bytes: int = 0

    @property
    def uploads(self) -> list[str]:
        return self.new + self.changed

    def phases(self) -> list[list[str]]:
        """Upload batches in order; one batch is finished before the next starts."""
        batches = []
        for group in (self.new, self.changed):
            for r in (RANK_ASSET, RANK_PAGE, RANK_ENTRY, RANK_HOME):
                batch = [rel for rel in group if rank(rel) == r]
                if batch:
                    batches.append(batch)
        return batches

    def counts(self) -> dict[str, int]:
        return {
            "new": len(self.new),
            "changed": len(self.changed),
            "unchanged": len(self.unchanged),
            "delete": len(self.delete),
            "problems": len(self.problems),
        }

    def sizes(self) -> dict[str, int]:
        return {
            "upload": self.upload_bytes,
            "unchanged": self.unchanged_bytes,
            "delete": self.delete_bytes,
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "first_publish": self.first,
            "counts": self.counts(),
            "bytes": self.sizes(),
            "new": self.new,
            "changed": self.changed,
            "delete": self.delete,
            "unchanged": self.unchanged,
            "problems": [{"path": p, "reason": r} for p, r in self.problems],
        }


def make_plan(
    source: Mapping[str, SourceFile] | Iterable[tuple[str, SourceFile]],
    target: dict[str, Entry] | None,
    problems: list[tuple[str, str]] | None = None,
) -> Plan:
    """Compare the site's files (a scan, or walk_source as it goes) with the manifest (None:
    the target has none). ``target`` is only read.

    ``problems`` is read once ``source`` is exhausted, so a walk may still add to it: a
    file that exists but could not be read is kept at the target, never deleted.
    """
    owned = target or {}
    plan = Plan(first=target is None)
    unseen = dict.fromkeys(owned)  # what the manifest lists and the site lacks, so far
    unseen.pop(MANIFEST_NAME, None)
    pairs = source.items() if isinstance(source, Mapping) else source
    for rel, file in pairs:
        entry = owned.get(rel) if rel != MANIFEST_NAME else None
        if entry is None:
            plan.new.append(rel)
        else:
            del unseen[rel]
            if entry.hash == file.hash and entry.size == file.size:
                plan.unchanged_bytes += file.size
                continue
            plan.changed.append(rel)
        plan.source[rel] = file
        plan.upload_bytes += file.size
    plan.problems = list(problems or [])
    unreadable = tuple(p for p, _ in plan.problems)
    plan.delete = sorted(rel for rel in unseen if not _under_any(rel, unreadable))
    plan.delete_bytes = sum(owned[rel].size for rel in plan.delete)
    # Unchanged paths are the manifest's own strings: a list of references, not a copy.
    changed = set(plan.changed)
    plan.unchanged = sorted(
        rel for rel in owned if rel not in unseen and rel not in changed and rel != MANIFEST_NAME
    )
    del unseen, changed
    plan.new = _in_upload_order(plan.new)
    plan.changed = _in_upload_order(plan.changed)
    return plan
