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

import io
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


#: Entries serialised per json.dumps call: one call per entry would be slow, one call for
#: all would build a dict per entry (hundreds of MB at 300,000 files) just to print it.
DUMP_BATCH = 4096


def _entry_hook(obj: dict[str, Any]) -> Any:
    """Turn each ``{"hash": ..., "size": ...}`` into an Entry as soon as it is parsed.

    json calls this for every object, innermost first: a manifest of 300,000 entries then
    never exists as 300,000 dicts at once. Anything else (the document, the files map, a
    malformed entry) stays a dict and is judged by parse_manifest.
    """
    if "hash" in obj and "size" in obj:
        h, size = obj["hash"], obj["size"]
        if (h is None or type(h) is str) and type(size) is int:
            return Entry(h, size)
    return obj


def parse_manifest(data: bytes, where: str) -> dict[str, Entry]:
    """The entries of a manifest document; a clear error when it is not one."""
    try:
        document = json.loads(data, object_hook=_entry_hook)
    except ValueError as exc:
        raise PublishError(f"{where}: manifest is not valid JSON ({exc})") from exc
    files = document.get("files") if isinstance(document, dict) else None
    if not isinstance(files, dict) or document.get("format") != FORMAT:
        raise PublishError(f"{where}: not a cvgallery publish manifest (format {FORMAT})")
    for rel, value in files.items():
        if not safe_rel(rel):
            raise PublishError(f"{where}: manifest lists an unsafe path {rel!r}; not using it")
        if type(value) is not Entry:
            raise PublishError(f"{where}: manifest entry for {rel!r} is malformed")
    return files


def dump_manifest(entries: dict[str, Entry]) -> bytes:
    """The manifest document, paths sorted: the same bytes as one json.dumps of it.

    Written batch by batch, so what exists at once is the text and one batch of dicts.
    """
    head = {"format": FORMAT, "generator": f"cvgallery {cvgallery.__version__}"}
    out = io.BytesIO()
    out.write(json.dumps(head, separators=(",", ":"))[:-1].encode("utf-8"))
    out.write(b',"files":{')
    paths = sorted(entries)
    for start in range(0, len(paths), DUMP_BATCH):
        batch = {}
        for rel in paths[start : start + DUMP_BATCH]:
            entry = entries[rel]
            batch[rel] = {"hash": entry.hash, "size": entry.size}
        if start:
            out.write(b",")
        out.write(json.dumps(batch, separators=(",", ":"))[1:-1].encode("utf-8"))
    out.write(b"}}")
    return out.getvalue()


def safe_rel(rel: object) -> bool:
    """A relative POSIX path with no empty, ``.`` or ``..`` part: it stays inside the target.

    Manifest paths come from the target, which someone else may have written; a path that
    climbs out must never reach a delete.
    """
    if not isinstance(rel, str) or not rel or "\\" in rel or "\0" in rel:
        return False
    framed = f"/{rel}/"
    return "//" not in framed and "/./" not in framed and "/../" not in framed
