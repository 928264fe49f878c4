"""Compact tables of paths: what a publish of a million files holds in memory.

A 100,000-picture site is a million files. As a dict of str → tuple that is ~350 bytes a
file (key, tuple, hash string, size int, dict slot), several hundred MB per copy. Here a
table is a few flat buffers, in path order: the paths' UTF-8 bytes end to end, the hashes
packed (32 hex characters become 16 bytes), the sizes in an array of int64: ~70 bytes a
file, and no Python object per row. Rows are read back (a str, an Entry) only when asked.

Path order is the order of the UTF-8 bytes, which is the order of the str's code points,
so a table and a sorted walk of the site can be compared side by side (plan.make_plan).
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import NamedTuple, overload

#: Paths and hashes in tables: lone surrogates (a JSON "\ud800") round-trip too.
ENCODING, ERRORS = "utf-8", "surrogatepass"

# How a hash is packed: a tag byte, then the hex as bytes or the text as UTF-8.
_NONE, _HEX, _NAME, _TEXT = b"\0", b"\1", b"\2", b"\3"


class Entry(NamedTuple):
    """One path at the target: the hash of its bytes (None while pending) and its size."""

    hash: str | None
    size: int


class SourceFile(NamedTuple):
    """One file of the built site: its size and the hash of its bytes."""

    size: int
    hash: str


def pack_hash(h: str | None) -> bytes:
    """``h`` as compact bytes; one str always packs the same, so packed bytes compare like
    the strs. Lowercase hex (a blake2b digest) and ``name:<hex>`` (a media file's name)
    keep half their length; anything else is kept as its text."""
    if h is None:
        return _NONE
    tag, digits = (_NAME, h[5:]) if h.startswith("name:") else (_HEX, h)
    try:
        raw = bytes.fromhex(digits)
        if raw.hex() == digits:  # canonical only: fromhex also takes upper case, spaces
            return tag + raw
    except ValueError:
        pass
    return _TEXT + h.encode(ENCODING, ERRORS)


def unpack_hash(packed: bytes | bytearray) -> str | None:
    tag = packed[:1]
    if tag == _HEX:
        return packed[1:].hex()
    if tag == _NAME:
        return "name:" + packed[1:].hex()
    if tag == _TEXT:
        return bytes(packed[1:]).decode(ENCODING, ERRORS)
    return None


class Strings:
    """Byte strings end to end in one buffer, with the offset where each ends."""

    __slots__ = ("data", "ends")

    def __init__(self) -> None:
        self.data = bytearray()
        self.ends = array("q")

    def append(self, item: bytes) -> None:
        self.data += item
        self.ends.append(len(self.data))

    def __len__(self) -> int:
        return len(self.ends)

    def __getitem__(self, i: int) -> bytearray:
        return self.data[self.ends[i - 1] if i else 0 : self.ends[i]]

    def __iter__(self) -> Iterator[bytearray]:
        data, start = self.data, 0
        for end in self.ends:
            yield data[start:end]
            start = end


class Table(Mapping[str, Entry]):
    """path → Entry, rows kept in path order (append them in that order).

    A Mapping, so that it reads like the dict it replaces; lookups by path are a binary
    search, meant for tests and single paths. A publish goes through ``rows()`` in order.
    """

    __slots__ = ("paths", "hashes", "sizes")

    def __init__(self) -> None:
        self.paths = Strings()
        self.hashes = Strings()
        self.sizes = array("q")

    @classmethod
    def of(cls, entries: Mapping[str, Entry] | Iterable[tuple[str, Entry]]) -> Table:
        """A table of any mapping or pairs of path → Entry (sorted here)."""
        if isinstance(entries, Table):
            return entries
        pairs = entries.items() if isinstance(entries, Mapping) else entries
        table = cls()
        for rel, entry in sorted(pairs, key=lambda pair: pair[0]):
            table.append(encode_path(rel), pack_hash(entry.hash), entry.size)
        return table

    def append(self, path: bytes, packed_hash: bytes, size: int) -> None:
        self.paths.append(path)
        self.hashes.append(packed_hash)
        self.sizes.append(size)

    def path(self, i: int) -> str:
        return self.paths[i].decode(ENCODING, ERRORS)

    def entry(self, i: int) -> Entry:
        return Entry(unpack_hash(self.hashes[i]), self.sizes[i])

    def pairs(self) -> Iterator[tuple[str, Entry]]:
        """(path, Entry) of every row, in path order (``items()`` searches for each)."""
        for _, path, packed, size in self.rows():
            yield path.decode(ENCODING, ERRORS), Entry(unpack_hash(packed), size)

    def rows(self) -> Iterator[tuple[int, bytearray, bytearray, int]]:
        """(row, path bytes, packed hash, size) of every row, in path order."""
        return zip(range(len(self.sizes)), self.paths, self.hashes, self.sizes, strict=True)

    def find(self, rel: str) -> int:
        """The row of ``rel``, or -1."""
        key = encode_path(rel)
        paths = self.paths
        lo, hi = 0, len(paths)
        while lo < hi:
            mid = (lo + hi) // 2
            if paths[mid] < key:
                lo = mid + 1
            else:
                hi = mid
        return lo if lo < len(paths) and paths[lo] == key else -1

    def __getitem__(self, rel: str) -> Entry:
        i = self.find(rel) if isinstance(rel, str) else -1
        if i < 0:
            raise KeyError(rel)
        return self.entry(i)

    def __contains__(self, rel: object) -> bool:
        return isinstance(rel, str) and self.find(rel) >= 0

    def __iter__(self) -> Iterator[str]:
        for path in self.paths:
            yield path.decode(ENCODING, ERRORS)

    def __len__(self) -> int:
        return len(self.sizes)

    def __repr__(self) -> str:
        return f"Table({len(self)} rows)"


def encode_path(rel: str) -> bytes:
    return rel.encode(ENCODING, ERRORS)


class PathList(Sequence[str]):
    """Some rows of a table, by row number, in a given order: a list of paths at 8 bytes
    a path. Equal to a list of the same paths, so it reads like the list it replaces."""

    __slots__ = ("table", "rows")

    def __init__(self, table: Table | None = None, rows: array[int] | memoryview | None = None):
        self.table = Table() if table is None else table
        self.rows = array("q") if rows is None else rows

    @overload
    def __getitem__(self, i: int) -> str: ...
    @overload
    def __getitem__(self, i: slice) -> PathList: ...
    def __getitem__(self, i: int | slice) -> str | PathList:
        if isinstance(i, slice):
            return PathList(self.table, self.rows[i])
        return self.table.path(self.rows[i])

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[str]:
        path = self.table.path
        for row in self.rows:
            yield path(row)

    def __add__(self, other: PathList) -> PathList:
        if not other.rows or not self.rows:
            return other if not self.rows else self
        if other.table is not self.table:
            return NotImplemented
        return PathList(self.table, array("q", self.rows) + array("q", other.rows))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PathList | list):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable-ish, like the list it stands for

    def __repr__(self) -> str:
        return repr(list(self))


class SourceFiles(Mapping[str, SourceFile]):
    """A table read as path → SourceFile: the files a plan uploads."""

    __slots__ = ("table",)

    def __init__(self, table: Table):
        self.table = table

    def __getitem__(self, rel: str) -> SourceFile:
        entry = self.table[rel]
        return SourceFile(entry.size, entry.hash or "")

    def __iter__(self) -> Iterator[str]:
        return iter(self.table)

    def __len__(self) -> int:
        return len(self.table)
