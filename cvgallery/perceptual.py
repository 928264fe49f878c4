"""Perceptual hashes of pictures, and the groups of near-duplicates they reveal.

The hash is the DCT hash ("pHash"): the picture, flattened to grey, is resampled to 32x32;
the 8x8 lowest frequencies of its 2-D DCT-II are compared with their median, one bit
each, row-major, the first coefficient in the top bit. That is ``imagehash.phash``
(same resampling, same bit order: the same 16 hex digits for an opaque 8-bit picture),
without its scipy and PyWavelets dependencies. Transparency is flattened onto white
first (imagehash drops alpha and hashes whatever colour hides under it), and 16-bit grey
is scaled rather than clipped.

Why the DCT hash rather than the difference hash (dHash): the low frequencies say where
the light and dark masses of a picture are, which a resize, a JPEG recompression, a
brightness change (a scale of the pixel values scales every coefficient alike) or a crop
of a few per cent barely move, while dHash's 9x8 neighbour comparisons flip under
recompression and brightness, and let two pictures that share a smooth gradient share
most bits. benchmarks/bench_dupes.py measures both.

Near-duplicates are pairs of hashes within DEFAULT_THRESHOLD differing bits, joined
transitively. Finding them is not quadratic: see near_pairs.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from itertools import combinations

import numpy as np
from PIL import Image

from .errors import UsageError

HASH_BITS = 64
HASH_MASK = (1 << HASH_BITS) - 1
HEX_DIGITS = HASH_BITS // 4
# Chosen from benchmarks/bench_dupes.py: resizes, JPEG at quality 30 and brightness
# changes of 15% stay within 6 bits; 3% crops are within 10 bits for 96% of pictures
# (85-88% within 8); distinct real photographs are 18 bits apart or more, and 3 in 1.6
# million pairs of distinct generated scenes sharing one backdrop are within 10. (Two
# hashes with 32 bits set each, as almost all are, differ by an even number of bits.)
DEFAULT_THRESHOLD = 10

_EDGE = 32  # the picture is resampled to _EDGE x _EDGE before the DCT
_LOW = 8  # the _LOW x _LOW lowest frequencies make the 64 bits
# The DCT-II rows kept: _BASIS[k, n] = cos(pi k (2n + 1) / 2N). Without scipy's factor 2:
# the bits compare coefficients with their median, which no common factor changes.
_BASIS = np.cos(np.pi * np.outer(np.arange(_LOW), 2 * np.arange(_EDGE) + 1) / (2 * _EDGE))
_WHITE = (255, 255, 255, 255)


def perceptual_hash(im: Image.Image) -> int:
    """The 64-bit DCT hash of an opened picture of any mode (orientation already applied)."""
    small = _grey(im).resize((_EDGE, _EDGE), Image.Resampling.LANCZOS)
    pixels = np.asarray(small, dtype=np.float64)
    low = _BASIS @ pixels @ _BASIS.T  # [vertical frequency, horizontal frequency]
    # Rounded, so that a featureless picture's coefficients are 0 rather than float noise
    # that would decide its bits: a flat picture hashes to 0x8000000000000000 (0 if black).
    low = np.round(low, 6)
    bits = (low > np.median(low)).ravel()
    return int.from_bytes(np.packbits(bits).tobytes(), "big")


def _grey(im: Image.Image) -> Image.Image:
    """The picture as 8-bit grey: transparency flattened onto white, deep greys scaled."""
    mode = im.mode
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info:
        flat = Image.new("RGBA", im.size, _WHITE)
        flat.alpha_composite((im.convert("LA") if mode == "La" else im).convert("RGBA"))
        return flat.convert("L")
    if mode == "L":
        return im
    if mode.startswith("I") or mode == "F":
        # 16- and 32-bit grey: scale into 0..255 rather than let convert() clip at 255.
        wide = im if mode in ("I", "F") else im.convert("I")
        high = float(wide.getextrema()[1])  # type: ignore[arg-type]
        scale = 255.0 / 65535.0 if high > 255 else 1.0
        return wide.point(lambda v: v * scale).convert("L")
    if mode in ("RGB", "1", "P", "CMYK", "YCbCr"):
        return im.convert("L")
    if mode == "LAB":
        return im.getchannel("L")  # its lightness; Pillow converts LAB to nothing else
    return im.convert("RGB").convert("L")  # HSV: no direct conversion to L


def distance(a: int, b: int) -> int:
    """Hamming distance of two hashes: how many of their bits differ."""
    return (a ^ b).bit_count()


def hash_to_hex(h: int) -> str:
    """A hash as 16 lowercase hex digits (how cv.db stores it; imagehash's str() too)."""
    if not 0 <= h <= HASH_MASK:
        raise UsageError(f"not a {HASH_BITS}-bit perceptual hash: {h!r}")
    return f"{h:0{HEX_DIGITS}x}"


def hex_to_hash(s: str) -> int:
    """The hash that hash_to_hex wrote (either case)."""
    if len(s) != HEX_DIGITS or not all(c in "0123456789abcdefABCDEF" for c in s):
        raise UsageError(f"a perceptual hash is {HEX_DIGITS} hex digits, not {s!r}")
    return int(s, 16)


def group_near_duplicates(
    items: Iterable[tuple[str, int]], threshold: int = DEFAULT_THRESHOLD
) -> list[list[str]]:
    """Groups of ids whose hashes are within ``threshold`` bits, joined transitively.

    Each group is sorted and has at least two ids; groups are in sorted order. Ids that
    share one hash are always grouped, whatever the threshold.
    """
    ids_of: dict[int, list[str]] = {}
    for image_id, h in items:
        if not isinstance(h, int) or not 0 <= h <= HASH_MASK:
            raise UsageError(f"{image_id}: not a {HASH_BITS}-bit perceptual hash: {h!r}")
        ids_of.setdefault(h, []).append(image_id)
    distinct = list(ids_of)
    parent = list(range(len(distinct)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]  # path halving keeps the trees flat
            i = parent[i]
        return i

    for i, j in near_pairs(distinct, threshold):
        ri, rj = root(i), root(j)
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)
    members: dict[int, set[str]] = {}
    for i, h in enumerate(distinct):
        members.setdefault(root(i), set()).update(ids_of[h])
    return sorted(sorted(ids) for ids in members.values() if len(ids) > 1)


def near_pairs(hashes: Sequence[int], threshold: int = DEFAULT_THRESHOLD) -> list[tuple[int, int]]:
    """Every pair of positions (i < j, sorted) whose hashes differ in at most ``threshold`` bits.

    Multi-index hashing (Manku, Jain and Das Sarma, WWW 2007): the 64 bits are cut into
    B blocks; two hashes within t bits differ in at most t blocks, so they agree exactly
    on some B - t of them. For each choice of B - t blocks, hashes are grouped by those
    bits (a counting pass, then a sort of the keys seen twice) and only hashes of one
    group are compared. B is chosen for the least estimated work (see _plan): more
    blocks mean longer keys and fewer comparisons, but more tables.
    """
    if not isinstance(threshold, int) or threshold < 0:
        raise UsageError(f"the threshold is a number of bits, 0 or more: {threshold!r}")
    h = np.array(hashes, dtype=np.uint64)
    n = len(h)
    if n < 2:
        return []
    blocks = _plan(n, threshold)
    found = _compare_all(h, threshold) if blocks is None else _indexed(h, threshold, blocks)
    if not found:
        return []
    # A pair agreeing on several block choices is found once per choice: keep one.
    codes = np.unique(np.concatenate([i * np.int64(n) + j for i, j in found]))
    return list(zip((codes // n).tolist(), (codes % n).tolist(), strict=True))


Found = list[tuple[np.ndarray, np.ndarray]]

# Costs (seconds) of the steps near_pairs weighs, measured with numpy 2 on one core of
# this project's machine; only their ratios matter.
_PER_TABLE = 5e-5  # the numpy calls of one table
_PER_ITEM = 5e-9  # building one key, gathering it, scanning it at each offset
_PER_BIN = 1.3e-9  # zeroing and filling one bin of a count array
_PER_RADIX = 7e-9  # sorting one 16-bit key (numpy's stable sort: a radix sort)
_PER_QUICK = 2.7e-8  # sorting one longer key (quicksort)
_PER_PAIR = 1.2e-8  # comparing one candidate pair (two gathers, xor, popcount)
_PER_SCAN_PAIR = 8e-10  # comparing one pair in the all-pairs scan
_PER_SCAN_ROW = 4e-6  # one row of the all-pairs scan
_SPARSE = 32  # keys with up to _SPARSE * n possible values are counted before sorting


def _plan(n: int, t: int) -> list[tuple[int, int]] | None:
    """The blocks (shift, width) of the cheapest index for n hashes, or None: compare all."""
    best_cost = n * (n - 1) / 2 * _PER_SCAN_PAIR + n * _PER_SCAN_ROW
    best: list[tuple[int, int]] | None = None
    for b in range(t + 1, HASH_BITS + 1):
        if math.comb(b, t) * _PER_TABLE >= best_cost:
            break  # the number of tables only grows with b
        base, wider = divmod(HASH_BITS, b)
        cost = 0.0
        # Tables whose key takes w of the wider blocks have base * (b - t) + w bits.
        for w in range(min(wider, b - t) + 1):
            tables = math.comb(wider, w) * math.comb(b - wider, b - t - w)
            cost += tables * _table_cost(n, base * (b - t) + w)
        if cost < best_cost:
            best_cost, best = cost, _blocks(b)
    return best


def _table_cost(n: int, bits: int) -> float:
    in_groups = -math.expm1(-n / 2**bits)  # share of keys that some other hash shares
    cost = _PER_TABLE + n * _PER_ITEM + n * n / 2 ** (bits + 1) * _PER_PAIR
    if bits <= 16:
        return cost + n * _PER_RADIX
    if _counted(n, bits):
        return cost + 2**bits * _PER_BIN + n * in_groups * _PER_QUICK
    return cost + n * _PER_QUICK


def _counted(n: int, bits: int) -> bool:
    """Whether keys are counted first, to sort only those seen twice (not worth it for
    16-bit keys, which sort fast, nor for keys so long that the counts outnumber them)."""
    return 16 < bits and 2**bits <= _SPARSE * n


def _blocks(b: int) -> list[tuple[int, int]]:
    """64 bits cut into b contiguous blocks of near-equal width, as (shift, width)."""
    base, wider = divmod(HASH_BITS, b)
    out, shift = [], HASH_BITS
    for k in range(b):
        width = base + (k < wider)
        shift -= width
        out.append((shift, width))
    return out


def _indexed(h: np.ndarray, t: int, blocks: list[tuple[int, int]]) -> Found:
    parts = [(h >> np.uint64(shift)) & np.uint64((1 << width) - 1) for shift, width in blocks]
    found: Found = []
    for chosen in combinations(range(len(blocks)), len(blocks) - t):
        key = parts[chosen[0]].copy()
        bits = blocks[chosen[0]][1]
        for k in chosen[1:]:
            key <<= np.uint64(blocks[k][1])
            key |= parts[k]
            bits += blocks[k][1]
        if _counted(len(h), bits):
            slots = key.astype(np.intp)
            shared = np.flatnonzero(np.bincount(slots, minlength=1 << bits)[slots] > 1)
        else:
            shared = np.arange(len(h))
        keys = key[shared].astype(_narrowest(bits))
        order = np.argsort(keys, kind="stable" if bits <= 16 else "quicksort")
        _compare_groups(h, t, keys[order], shared[order], found)
    return found


def _narrowest(bits: int) -> type[np.unsignedinteger]:
    return np.uint16 if bits <= 16 else np.uint32 if bits <= 32 else np.uint64


def _compare_groups(
    h: np.ndarray, t: int, keys: np.ndarray, index: np.ndarray, found: Found
) -> None:
    """Compare every two hashes whose sorted keys are equal: offsets 1, 2... until none are."""
    step = 1
    while True:
        same = np.flatnonzero(keys[step:] == keys[:-step])
        if same.size == 0:
            return
        i, j = index[same], index[same + step]
        close = np.bitwise_count(h[i] ^ h[j]) <= t
        if close.any():
            i, j = i[close], j[close]
            found.append((np.minimum(i, j), np.maximum(i, j)))
        step += 1


def _compare_all(h: np.ndarray, t: int) -> Found:
    """The all-pairs scan: cheaper than any index for a few thousand hashes."""
    found: Found = []
    for i in range(len(h) - 1):
        close = np.flatnonzero(np.bitwise_count(h[i + 1 :] ^ h[i]) <= t)
        if close.size:
            found.append((np.full(close.size, i, dtype=np.int64), close + (i + 1)))
    return found
