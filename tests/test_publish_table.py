"""The compact tables a publish of a million files holds (publish/table.py), the manifest
reader that fills one straight from the bytes, and the sorted walk they are compared with.

What matters is that they read exactly like the dicts and lists they replace: the same
entries from any manifest json reads, the same order, the same refusals.
"""

from __future__ import annotations

import json
import os
from array import array
from pathlib import Path

import pytest

from cvgallery.errors import PublishError
from cvgallery.publish import make_plan, walk_source
from cvgallery.publish import manifest as manifest_module
from cvgallery.publish.manifest import Entry, dump_manifest, parse_manifest
from cvgallery.publish.plan import SourceFile
from cvgallery.publish.table import PathList, Table, pack_hash, unpack_hash

HASHES = [
    None,
    "",
    "0123456789abcdef0123456789abcdef",  # blake2b-128, as the build records it
    "name:0123456789abcdef0123",  # a media file's name
    "name:0123456789abcdef012",  # odd: kept as text
    "name:",
    "ABCDEF",  # upper case: kept as text, so it never equals "abcdef"
    "abcdef",
    "ab cd",
    "h-index.html",
    'caf\u00e9 "quoted" \\ \ud800',
]

ENTRIES = {
    "index.html": Entry(HASHES[2], 10),
    "media/0123456789abcdef0123.jpeg": Entry(HASHES[3], 2**40),
    "a-b.html": Entry(HASHES[1], 0),
    "a/x.html": Entry(None, 3),
    "a.html": Entry(HASHES[4], 7),
    "caf\u00e9/\u00fcber.html": Entry(HASHES[10], 5),  # written as \\u escapes
    'say "hi".html': Entry(HASHES[6], 1),
    "sur\ud800rogate.html": Entry(HASHES[7], 2),
    "neg.html": Entry(HASHES[8], -1),  # json reads it: so do we
    "...html": Entry(HASHES[9], 4),  # dots, but not "." or ".."
    "x/.well-known/y": Entry(HASHES[5], 6),
}


def test_packed_hashes_round_trip_and_compare_like_the_strings():
    packed = [pack_hash(h) for h in HASHES]
    assert [unpack_hash(p) for p in packed] == HASHES
    assert len(set(packed)) == len(HASHES)  # no two strings pack the same
    assert len(pack_hash(HASHES[2])) == 17  # 32 hex characters in 16 bytes and a tag


def test_manifest_read_from_its_bytes_is_what_json_reads():
    data = dump_manifest(ENTRIES)
    assert data == json.dumps(json.loads(data), separators=(",", ":")).encode()
    table = manifest_module._parse_compact(data)  # the fast reader takes all of these
    assert table == ENTRIES and list(table) == sorted(ENTRIES)
    assert parse_manifest(data, "x") == ENTRIES
    assert dump_manifest(table) == data  # and writes them back byte for byte
    assert table["index.html"] == ENTRIES["index.html"] and "nope.html" not in table
    empty = dump_manifest({})
    assert len(parse_manifest(empty, "x")) == 0 and parse_manifest(empty, "x") == {}


def test_any_other_json_manifest_is_still_read():
    document = {"format": 1, "generator": "x", "files": ENTRIES}
    files = {rel: {"hash": e.hash, "size": e.size} for rel, e in ENTRIES.items()}
    document["files"] = files
    pretty = json.dumps(document, indent=2).encode()
    assert parse_manifest(pretty, "x") == ENTRIES
    backwards = {"files": dict(reversed(list(files.items()))), "format": 1}
    table = parse_manifest(json.dumps(backwards, separators=(",", ":")).encode(), "x")
    assert table == ENTRIES and list(table) == sorted(ENTRIES)
    # a path twice: the last one counts, as with json
    twice = b'{"format":1,"files":{"b":{"hash":"x","size":1},"b":{"hash":"y","size":2}}}'
    assert parse_manifest(twice, "x") == {"b": Entry("y", 2)}


@pytest.mark.parametrize(
    "files, message",
    [
        ('"../x":{"hash":"h","size":1}', "unsafe path '../x'"),
        ('"a//b":{"hash":"h","size":1}', "unsafe path 'a//b'"),
        ('"a/./b":{"hash":null,"size":1}', "unsafe path 'a/./b'"),
        ('"a":{"hash":"h","size":1},"..":{"hash":"h","size":1}', "unsafe path '..'"),
        ('"a":{"hash":"h","size":01}', "not valid JSON"),
        ('"a":{"hash":"h","size":1.5}', "entry for 'a' is malformed"),
        ('"a":{"hash":"h","size":1},', "not valid JSON"),
        ('"a\x01":{"hash":"h","size":1}', "not valid JSON"),
        ('"a":{"hash":"h","size":99999999999999999999}', "size out of range"),
    ],
)
def test_compact_manifests_are_refused_as_json_would(files: str, message: str):
    data = f'{{"format":1,"generator":"cvgallery 1","files":{{{files}}}}}'.encode()
    with pytest.raises(PublishError, match=message.replace(".", r"\.")):
        parse_manifest(data, "x")


def test_walk_comes_in_path_order(tmp_path: Path):
    rels = [
        "a-b.html",
        "a.html",
        "a/x.html",
        "a/b/c.html",
        "ab.html",
        "b/c/d.txt",
        "\u00e9.html",
        "z.html",
        ".well-known/security.txt",
    ]
    for rel in rels:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(rel)
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "HEAD").write_text("ref")
    os.symlink(tmp_path / "a", tmp_path / "link-to-folder")
    problems: list[tuple[str, str]] = []
    walked = [rel for rel, _ in walk_source(tmp_path, problems)]
    assert walked == sorted(rels) and not problems
    assert make_plan(walk_source(tmp_path, problems), None).new[0] == ".well-known/security.txt"


def test_make_plan_refuses_a_walk_out_of_order():
    pairs = [("b.html", SourceFile(1, "h")), ("a.html", SourceFile(1, "h"))]
    with pytest.raises(ValueError, match="out of path order"):
        make_plan(iter(pairs), None)
    assert make_plan(dict(pairs), None).new == ["a.html", "b.html"]  # a mapping is sorted


def test_path_lists_read_like_lists():
    table = Table.of({f"p{n}.html": Entry(str(n), n) for n in range(5)})
    paths = PathList(table, None)
    assert paths == [] and not paths
    some = PathList(table, array("q", [4, 0, 2]))
    assert some == ["p4.html", "p0.html", "p2.html"] and some != ["p4.html"]
    assert some[1] == "p0.html" and some[1:] == ["p0.html", "p2.html"]
    assert some + PathList(table, array("q", [1])) == ["p4.html", "p0.html", "p2.html", "p1.html"]
    assert paths + some == some and "p2.html" in some and repr(some).startswith("['p4")
