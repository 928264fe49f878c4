"""The publish manifest: what cvgallery put at a target, kept at the target itself.

``.cvgallery-publish.json`` at the target's root (a folder) or prefix (a bucket) maps every
path cvgallery uploaded to its hash and size. It is the whole truth about ownership: a
path not in it (a user's ``.git/``, ``CNAME``, a bucket's other prefixes) is never deleted.

A path whose hash is ``null`` is *pending*: an upload of it was started and not confirmed.
Its bytes at the target are unknown, so the next publish sends it again (or deletes it, when
the site no longer has it). Recording an upload as pending before it starts is what makes a
killed publish leave nothing behind that the next one does not know about.
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

import cvgallery

from ..errors import PublishError

MANIFEST_NAME = ".cvgallery-publish.json"
FORMAT = 1


class Entry(NamedTuple):
    """One path at the target: the hash of its bytes (None while pending) and its size.

    A tuple, not a dataclass: a manifest holds tens of thousands, made on every publish.
    """

    hash: str | None
    size: int


def parse_manifest(data: bytes, where: str) -> dict[str, Entry]:
    """The entries of a manifest document; a clear error when it is not one."""
    try:
        document = json.loads(data)
    except ValueError as exc:
        raise PublishError(f"{where}: manifest is not valid JSON ({exc})") from exc
    files = document.get("files") if isinstance(document, dict) else None
    if not isinstance(files, dict) or document.get("format") != FORMAT:
        raise PublishError(f"{where}: not a cvgallery publish manifest (format {FORMAT})")
    entries: dict[str, Entry] = {}
    for rel, value in files.items():
        if not safe_rel(rel):
            raise PublishError(f"{where}: manifest lists an unsafe path {rel!r}; not using it")
        h = value.get("hash") if isinstance(value, dict) else None
        size = value.get("size") if isinstance(value, dict) else None
        if not isinstance(size, int) or not (h is None or isinstance(h, str)):
            raise PublishError(f"{where}: manifest entry for {rel!r} is malformed")
        entries[rel] = Entry(h, size)
    return entries


def dump_manifest(entries: dict[str, Entry]) -> bytes:
    document: dict[str, Any] = {
        "format": FORMAT,
        "generator": f"cvgallery {cvgallery.__version__}",
        "files": {rel: {"hash": e.hash, "size": e.size} for rel, e in sorted(entries.items())},
    }
    return json.dumps(document, separators=(",", ":")).encode("utf-8")


def safe_rel(rel: object) -> bool:
    """A relative POSIX path with no empty, ``.`` or ``..`` part: it stays inside the target.

    Manifest paths come from the target, which someone else may have written; a path that
    climbs out must never reach a delete.
    """
    if not isinstance(rel, str) or not rel or "\\" in rel or "\0" in rel:
        return False
    framed = f"/{rel}/"
    return "//" not in framed and "/./" not in framed and "/../" not in framed
