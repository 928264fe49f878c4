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

import binascii
import io
import json
import re
from collections.abc import Iterable, Mapping
from json.encoder import encode_basestring_ascii  # what json.dumps uses: same bytes
from typing import Any

import cvgallery

from ..errors import PublishError
from .table import ENCODING, ERRORS, Entry, Table, encode_path, pack_hash

__all__ = ["FORMAT", "MANIFEST_NAME", "Entry", "dump_manifest", "parse_manifest", "safe_rel"]

MANIFEST_NAME = ".cvgallery-publish.json"
FORMAT = 1

#: Entries written per join: one write per entry would be slow, one for all would hold
#: every entry's text twice.
DUMP_BATCH = 4096

# The manifest as dump_manifest writes it (ASCII, compact, paths in order), read entry by
# entry straight from the bytes: a million entries never exist as a million dicts or pairs.
# Anything else that is valid JSON (spaces, other key orders) is read by json instead.
_STRING = rb'"(?:[^"\\\x00-\x1f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"'
_HEAD = re.compile(rb'\{"format":1,(?:"generator":' + _STRING + rb",)?" + rb'"files":\{')
#: groups: a path with no escapes, or any path token; null, or a packable hash ("name:",
#: even lowercase hex), or any hash token; the size; the comma that says more follow
_ENTRY = re.compile(
    rb'(?:"([^"\\\x00-\x1f]*)"|(' + _STRING + rb')):\{"hash":'
    rb'(?:(null)|"(name:)?((?:[0-9a-f]{2})*)"|(' + _STRING + rb"))"
    rb',"size":(-?(?:0|[1-9][0-9]*))\}(,?)'
)
#: the entries publish writes, matched first (a simpler pattern matches faster): a safe
#: path (segments not empty, "." or "..") with no escapes, a hash null or packable
_USUAL = re.compile(
    rb'"((?:(?!\.\.?[/"])[^/"\\\x00-\x1f]+/)*(?!\.\.?")[^/"\\\x00-\x1f]+)"'
    rb':\{"hash":(?:null|"(name:)?((?:[0-9a-f]{2})*)"),"size":(0|[1-9][0-9]*)\}(,?)'
)
_NONE, _HEX_TAG, _NAME_TAG = pack_hash(None), pack_hash(""), pack_hash("name:")


class _NotCompact(Exception):
    """The document is not in dump_manifest's form: json reads it."""


def parse_manifest(data: bytes, where: str) -> Table:
    """The entries of a manifest document, in path order; a clear error when it is not one."""
    try:
        return _parse_compact(data)
    except _NotCompact:
        pass
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
    try:
        return Table.of(files)
    except OverflowError as exc:  # a size beyond int64: no file is that big
        raise PublishError(f"{where}: manifest holds a size out of range ({exc})") from exc


def _parse_compact(data: bytes) -> Table:
    """Read a manifest written by dump_manifest; _NotCompact on anything else (including
    what parse_manifest must refuse: it then finds and names the fault itself)."""
    head = _HEAD.match(data) if data.isascii() else None  # ASCII: every byte is a character
    if head is None:
        raise _NotCompact
    table, pos, previous = Table(), head.end(), b""
    usual, entry, unhexlify = _USUAL.match, _ENTRY.match, binascii.unhexlify
    append_path, append_hash = table.paths.append, table.hashes.append
    append_size = table.sizes.append
    more = data[pos : pos + 1] != b"}"
    try:
        while more:
            m = usual(data, pos)
            if m is not None:
                path, name, digits, size, comma = m.groups()
                if digits is None:
                    packed = _NONE
                else:
                    packed = (_NAME_TAG if name else _HEX_TAG) + unhexlify(digits)
            else:
                m = entry(data, pos)
                if m is None:
                    raise _NotCompact
                path, packed, safe = _unusual(m)
                if not safe:
                    raise _NotCompact  # json reads it, the checks name it
                size, comma = m.group(7, 8)
            if path <= previous:
                raise _NotCompact  # out of order or twice: json sorts, the last one counts
            previous = path
            append_path(path)
            append_hash(packed)
            append_size(int(size))
            pos, more = m.end(), comma == b","
    except (ValueError, OverflowError):  # a bad escape; a size beyond int64
        raise _NotCompact from None
    if data[pos:].rstrip(b" \t\n\r") != b"}}":
        raise _NotCompact
    return table


def _unusual(m: re.Match[bytes]) -> tuple[bytes, bytes, bool]:
    """The path, packed hash and safety of an entry _ENTRY matched."""
    path, token, null, name, digits, other = m.group(1, 2, 3, 4, 5, 6)
    if path is None:
        rel = _string(token)
        path, safe = encode_path(rel), safe_rel(rel)
    else:
        safe = _safe_path(path)
    if digits is not None:
        packed = (_NAME_TAG if name else _HEX_TAG) + binascii.unhexlify(digits)
    else:
        packed = pack_hash(None if null else _string(other))
    return path, packed, safe


def _safe_path(path: bytes) -> bool:
    """safe_rel of an ASCII path's bytes."""
    if not path or b"\\" in path or b"\0" in path:
        return False
    framed = b"/" + path + b"/"
    return b"//" not in framed and b"/./" not in framed and b"/../" not in framed


def _string(token: bytes) -> str:
    """A JSON string token's value (token includes its quotes)."""
    if b"\\" in token:
        value = json.loads(token)
        if not isinstance(value, str):
            raise ValueError(token)
        return value
    return token[1:-1].decode(ENCODING, ERRORS)


def _entry_hook(obj: dict[str, Any]) -> Any:
    """Turn each ``{"hash": ..., "size": ...}`` into an Entry as soon as it is parsed.

    json calls this for every object, innermost first. Anything else (the document, the
    files map, a malformed entry) stays a dict and is judged by parse_manifest.
    """
    if "hash" in obj and "size" in obj:
        h, size = obj["hash"], obj["size"]
        if (h is None or type(h) is str) and type(size) is int:
            return Entry(h, size)
    return obj


def dump_manifest(entries: Mapping[str, Entry] | Iterable[tuple[str, Entry]]) -> bytes:
    """The manifest document, paths sorted: the same bytes as one json.dumps of it.

    ``entries``: a mapping, or (path, Entry) pairs already in path order (a Table's
    ``pairs()``, a run's state). Written batch by batch, so what exists at once is the
    text and one batch of lines.
    """
    if isinstance(entries, Table):
        pairs: Iterable[tuple[str, Entry]] = entries.pairs()
    elif isinstance(entries, Mapping):
        pairs = sorted(entries.items(), key=lambda pair: pair[0])
    else:
        pairs = entries
    head = {"format": FORMAT, "generator": f"cvgallery {cvgallery.__version__}"}
    out = io.BytesIO()
    out.write(json.dumps(head, separators=(",", ":"))[:-1].encode("utf-8"))
    out.write(b',"files":{')
    batch: list[str] = []
    first = True
    for rel, (h, size) in pairs:
        digest = "null" if h is None else encode_basestring_ascii(h)
        batch.append(f'{encode_basestring_ascii(rel)}:{{"hash":{digest},"size":{size}}}')
        if len(batch) >= DUMP_BATCH:
            out.write(("" if first else ",").encode() + ",".join(batch).encode("ascii"))
            batch, first = [], False
    if batch:
        out.write(("" if first else ",").encode() + ",".join(batch).encode("ascii"))
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
