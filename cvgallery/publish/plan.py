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
from array import array
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..site.output import read_manifest
from ..store import CHUNK
from .manifest import MANIFEST_NAME
from .table import Entry, PathList, SourceFile, SourceFiles, Table, encode_path, pack_hash

__all__ = ["Plan", "SourceFile", "hash_file", "make_plan", "rank", "scan_source", "walk_source"]

#: Files at the site root that link everything else in: uploaded last of their kind.
_ENTRY_POINT = re.compile(r"^(?:index\.html|page-(\d+)\.html|feed\.xml|sitemap\.xml)$")
#: media/<hash>.<ext>: the name is the content hash the catalog recorded (site/query.py).
_MEDIA = re.compile(r"^media/([0-9a-f]{16,64})\.[A-Za-z0-9]{1,10}$")
#: dot-names a static host reads (GitHub Pages, Apache); other dotfiles are never published
_KEPT_DOTTED = {".well-known", ".nojekyll", ".htaccess"}
_MANIFEST_PATH = encode_path(MANIFEST_NAME)

#: Upload ranks inside "new" and inside "changed": files with no links, pages, entry
#: points, and the home page alone at the very end (phases run their files in parallel).
RANK_ASSET, RANK_PAGE, RANK_ENTRY, RANK_HOME = 0, 1, 2, 3
_RANKS = (RANK_ASSET, RANK_PAGE, RANK_ENTRY, RANK_HOME)
NEW, CHANGED = 0, 1


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
    """Each publishable file of ``source`` with its size and hash, one at a time, in path
    order (make_plan compares it with the manifest side by side); files that cannot be
    read are added to ``problems`` as (path, reason) on the way.

    Dotfiles and dot-folders are left out (the build manifest, editor and VCS files), except
    ``.well-known/``. ``rehash`` ignores the build manifest and content names and reads all.
    A folder's names are sorted as they are visited: the only list is one folder's names.
    """
    known: dict[str, Any] = {}
    if not rehash:
        files = (read_manifest(source) or {}).get("files")
        if isinstance(files, dict):
            known = files
    # One entry per folder being walked: its path from the site, its path, an open file
    # descriptor (a file's stat then names it by its name alone) and its names to go.
    stack: list[tuple[str, str, int, Iterator[str]]] = []
    try:
        _enter(stack, "", str(source), None, problems)
        while stack:
            prefix, folder, fd, names = stack[-1]
            for name in names:
                if name[-1] == "/":  # a folder (no file name holds a "/"): walk it first
                    name = name[:-1]
                    _enter(stack, prefix + name + "/", folder + os.sep + name, fd, problems)
                    break
                rel = prefix + name
                try:
                    rel.encode("utf-8")
                    size = os.stat(name, dir_fd=fd).st_size
                    digest = None if rehash else _known_hash(rel, known)
                    file = SourceFile(size, digest or hash_file(folder + os.sep + name))
                except UnicodeEncodeError:
                    problems.append((rel, "file name is not valid UTF-8"))
                    continue
                except OSError as exc:
                    problems.append((rel, f"cannot read: {exc.strerror or exc}"))
                    continue
                yield rel, file
            else:  # the folder is done
                os.close(fd)
                stack.pop()
    finally:
        for _prefix, _folder, fd, _names in stack:
            os.close(fd)


def _enter(
    stack: list[tuple[str, str, int, Iterator[str]]],
    prefix: str,
    folder: str,
    parent: int | None,
    problems: list[tuple[str, str]],
) -> None:
    """Open a folder (in ``parent``, never through a symlink) and push its publishable
    entries in path order: files by name, folders by name + "/". That is the order of the
    whole paths: "a-b" < "a/x" as strings, so the folder "a" is sorted as "a/", after the
    file "a-b", and its files come where they belong."""
    names: list[str] = []
    fd = -1
    try:
        if parent is None:
            fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        else:
            name = os.path.basename(folder)
            fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=parent)
        with os.scandir(fd) as entries:
            for entry in entries:
                name = entry.name
                if name.startswith(".") and not (prefix == "" and name in _KEPT_DOTTED):
                    continue
                try:
                    if entry.is_dir(follow_symlinks=False):
                        names.append(name + "/")
                    elif entry.is_file():  # not sockets, fifos, dangling or folder symlinks
                        names.append(name)
                except OSError as exc:
                    problems.append((prefix + name, f"cannot read: {exc.strerror or exc}"))
    except OSError as exc:
        problems.append((prefix.rstrip("/") or ".", f"cannot list folder: {exc.strerror or exc}"))
        if fd >= 0:
            os.close(fd)
        return
    stack.append((prefix, folder, fd, _drained(names)))


def _drained(names: list[str]) -> Iterator[str]:
    """``names`` in order, each let go once given: a folder of 900,000 files is freed as
    it is walked, not kept whole until its last file."""
    names.sort(reverse=True)
    while names:
        yield names.pop()


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


@dataclass
class Plan:
    """The difference between the built site and what the target's manifest records.

    Paths only, as rows of two tables (the target's manifest, the files to upload), and
    the size and hash of the files to upload: a plan of a million files is tens of MB.
    """

    #: the files to upload (new and changed) → their size and hash
    source: SourceFiles = field(default_factory=lambda: SourceFiles(Table()))
    new: PathList = field(default_factory=PathList)
    changed: PathList = field(default_factory=PathList)
    unchanged: PathList = field(default_factory=PathList)
    delete: PathList = field(default_factory=PathList)
    problems: list[tuple[str, str]] = field(default_factory=list)
    #: the target had no manifest: nothing there is cvgallery's
    first: bool = False
    upload_bytes: int = 0
    unchanged_bytes: int = 0
    delete_bytes: int = 0
    #: the target's manifest as read (rows of unchanged and delete)
    manifest: Table = field(default_factory=Table, repr=False)
    #: upload batches in order (see phases)
    batches: list[PathList] = field(default_factory=list, repr=False)

    @property
    def uploads(self) -> PathList:
        return self.new + self.changed

    def phases(self) -> list[PathList]:
        """Upload batches in order; one batch is finished before the next starts."""
        return self.batches

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
            "new": list(self.new),
            "changed": list(self.changed),
            "delete": list(self.delete),
            "unchanged": list(self.unchanged),
            "problems": [{"path": p, "reason": r} for p, r in self.problems],
        }


def make_plan(
    source: Mapping[str, SourceFile] | Iterable[tuple[str, SourceFile]],
    target: Mapping[str, Entry] | None,
    problems: list[tuple[str, str]] | None = None,
) -> Plan:
    """Compare the site's files (a mapping, or walk_source as it goes: pairs in path order)
    with the manifest (None: the target has none). ``target`` is only read.

    Side by side, both in path order: a path only the site has is new, one only the
    manifest has is to delete, one both have is unchanged or changed. ``problems`` is read
    once ``source`` is exhausted, so a walk may still add to it: a file that exists but
    could not be read is kept at the target, never deleted.
    """
    manifest = Table() if target is None else Table.of(target)
    if isinstance(source, Mapping):
        source = sorted(source.items(), key=lambda pair: pair[0])
    uploads = Table()
    # upload rows by group (new, changed) and rank, each in path order
    groups = [[array("q") for _ in _RANKS] for _ in range(2)]
    unchanged, unseen = array("q"), array("q")
    upload_bytes = unchanged_bytes = 0
    rows = manifest.rows()
    row = next(rows, None)
    previous = b""
    for rel, file in source:
        path = encode_path(rel)
        if previous and path <= previous:
            raise ValueError(f"make_plan: {rel!r} out of path order (or twice)")
        previous = path
        while row is not None and row[1] < path:
            if row[1] != _MANIFEST_PATH:
                unseen.append(row[0])
            row = next(rows, None)
        packed = pack_hash(file.hash)
        group = NEW
        if row is not None and row[1] == path:
            their_row, _, their_hash, their_size = row
            row = next(rows, None)
            if rel == MANIFEST_NAME:
                pass  # never matched with the site: its entry is replaced by the upload's
            elif their_hash == packed and their_size == file.size:
                unchanged.append(their_row)
                unchanged_bytes += file.size
                continue
            else:
                group = CHANGED
        groups[group][rank(rel)].append(len(uploads))
        uploads.append(path, packed, file.size)
        upload_bytes += file.size
    while row is not None:
        if row[1] != _MANIFEST_PATH:
            unseen.append(row[0])
        row = next(rows, None)
    plan = Plan(
        source=SourceFiles(uploads),
        unchanged=PathList(manifest, unchanged),
        problems=list(problems or []),
        first=target is None,
        upload_bytes=upload_bytes,
        unchanged_bytes=unchanged_bytes,
        manifest=manifest,
    )
    unreadable = tuple(p for p, _ in plan.problems)
    if unreadable:
        unseen = array("q", (i for i in unseen if not _under_any(manifest.path(i), unreadable)))
    plan.delete = PathList(manifest, unseen)
    plan.delete_bytes = sum(manifest.sizes[i] for i in unseen)
    plan.new, new_batches = _in_upload_order(uploads, groups[NEW])
    plan.changed, changed_batches = _in_upload_order(uploads, groups[CHANGED])
    plan.batches = new_batches + changed_batches
    return plan


def _in_upload_order(uploads: Table, ranked: list[array[int]]) -> tuple[PathList, list[PathList]]:
    """One group's rows by rank (among entry points, later index pages first), and its
    batches: views of those rows, one per rank that has any."""
    ranked[RANK_ENTRY] = array(
        "q", sorted(ranked[RANK_ENTRY], key=lambda n: _order_key(uploads.path(n)))
    )
    rows = array("q")
    bounds = []
    for part in ranked:
        rows.extend(part)
        bounds.append(len(rows))
    view = memoryview(rows)
    batches = [
        PathList(uploads, view[start:end])
        for start, end in zip([0, *bounds], bounds, strict=False)
        if end > start
    ]
    return PathList(uploads, rows), batches
