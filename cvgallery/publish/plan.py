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

    Dotfiles and dot-folders are left out (the build manifest, editor and VCS files), except
    ``.well-known/``. ``rehash`` ignores the build manifest and content names and reads all.
    """
    known: dict[str, str] = {}
    if not rehash:
        files = (read_manifest(source) or {}).get("files")
        if isinstance(files, dict):
            known = {k: v for k, v in files.items() if isinstance(v, str)}
    found: dict[str, SourceFile] = {}
    problems: list[tuple[str, str]] = []
    stack = [("", str(source))]
    while stack:
        prefix, folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError as exc:
            reason = f"cannot list folder: {exc.strerror or exc}"
            problems.append((prefix.rstrip("/") or ".", reason))
            continue
        for entry in entries:
            if entry.name.startswith(".") and not (prefix == "" and entry.name in _KEPT_DOTTED):
                continue
            rel = prefix + entry.name
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append((rel + "/", entry.path))
                    continue
                if not entry.is_file():
                    continue  # sockets, fifos, dangling or folder symlinks
                rel.encode("utf-8")
                size = entry.stat().st_size
                digest = None if rehash else _known_hash(rel, known)
                found[rel] = SourceFile(size, digest or hash_file(entry.path))
            except UnicodeEncodeError:
                problems.append((rel, "file name is not valid UTF-8"))
            except OSError as exc:
                problems.append((rel, f"cannot read: {exc.strerror or exc}"))
    return found, problems


def _under_any(rel: str, paths: tuple[str, ...]) -> bool:
    return any(rel == p or p == "." or rel.startswith(p + "/") for p in paths)


def _known_hash(rel: str, known: dict[str, str]) -> str | None:
    media = _MEDIA.match(rel) if rel.startswith("media/") else None
    if media:
        return f"name:{media.group(1)}"
    return known.get(rel)


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


@dataclass
class Plan:
    """The difference between the built site and what the target's manifest records."""

    source: dict[str, SourceFile]
    target: dict[str, Entry]
    new: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)
    #: the target had no manifest: nothing there is cvgallery's
    first: bool = False

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

    def bytes_of(self, paths: list[str]) -> int:
        return sum(self.source[p].size if p in self.source else self.target[p].size for p in paths)

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
            "upload": self.bytes_of(self.uploads),
            "unchanged": self.bytes_of(self.unchanged),
            "delete": self.bytes_of(self.delete),
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
    source: dict[str, SourceFile],
    target: dict[str, Entry] | None,
    problems: list[tuple[str, str]] | None = None,
) -> Plan:
    """Compare the scan with the manifest (None: the target has none)."""
    problems = problems or []
    owned = dict(target or {})
    owned.pop(MANIFEST_NAME, None)
    plan = Plan(source, owned, problems=list(problems), first=target is None)
    for rel, file in source.items():
        entry = owned.get(rel)
        if entry is None:
            plan.new.append(rel)
        elif entry.hash == file.hash and entry.size == file.size:
            plan.unchanged.append(rel)
        else:
            plan.changed.append(rel)
    # A file that exists but could not be read is kept as it is at the target, not deleted.
    unreadable = tuple(p for p, _ in problems)
    plan.delete = sorted(
        rel for rel in owned if rel not in source and not _under_any(rel, unreadable)
    )
    plan.new.sort(key=_order_key)
    plan.changed.sort(key=_order_key)
    plan.unchanged.sort()
    return plan
