"""Benchmark: near-duplicate grouping speed, and the precision/recall of the hash.

    python benchmarks/bench_dupes.py [--sizes 10000,100000] [--baseline 5000] [--scenes 200]

1. Speed. n random 64-bit hashes, plus n/10 planted near copies (each a random earlier
   hash with 0..threshold+1 bits flipped), grouped by cvgallery.perceptual at the default
   threshold. Baselines measured in the same run on --baseline hashes: the plain Python
   all-pairs loop, and the numpy all-pairs scan; both are quadratic, so their time at n
   is extrapolated by (n / baseline)^2 and printed beside the index's.
2. Cost of the hash: perceptual_hash on a decoded 750x500 picture, beside the time to
   decode that picture from a JPEG.
3. Precision and recall. --scenes photo-like scenes (tests/picture_scenes.py: families
   of four sharing one backdrop) each with its edited copies (resized, JPEG q30, cropped
   3% all round or at one corner, brightened or darkened 15%, resized + JPEG q50), plus
   as many distinct scenes on the same backdrops; then the distinct real photographs of
   the shared corpus with the same edits. A pair is a true duplicate when both come from
   one picture. "pairs" counts hashes within the threshold; "groups" counts members of
   one group of group_near_duplicates (transitive), what `cvgallery dupes` shows. The
   difference hash (dHash, 9x8) is measured on the same pictures for comparison.
"""

from __future__ import annotations

import argparse
import io
import random
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TypeVar

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from picture_scenes import CORPUS, REAL_PHOTOS, VARIANTS, real_photo, scene  # noqa: E402

from cvgallery.perceptual import (  # noqa: E402
    DEFAULT_THRESHOLD,
    group_near_duplicates,
    near_pairs,
    perceptual_hash,
)

THRESHOLDS = range(4, 13)
T = TypeVar("T")


def planted(n: int, threshold: int, seed: int = 1) -> list[int]:
    rng = random.Random(seed)
    hashes = [rng.getrandbits(64) for _ in range(n)]
    for _ in range(n // 10):
        h = hashes[rng.randrange(len(hashes))]
        for bit in rng.sample(range(64), rng.randrange(threshold + 2)):
            h ^= 1 << bit
        hashes.append(h)
    return hashes


def python_all_pairs(hashes: list[int], t: int) -> list[tuple[int, int]]:
    return [
        (i, j)
        for i, a in enumerate(hashes)
        for j in range(i + 1, len(hashes))
        if (a ^ hashes[j]).bit_count() <= t
    ]


def numpy_all_pairs(hashes: list[int], t: int) -> list[tuple[int, int]]:
    h = np.array(hashes, dtype=np.uint64)
    out: list[tuple[int, int]] = []
    for i in range(len(h) - 1):
        close = np.flatnonzero(np.bitwise_count(h[i + 1 :] ^ h[i]) <= t)
        out.extend((i, int(j) + i + 1) for j in close)
    return out


def timed(f: Callable[[], T]) -> tuple[float, T]:
    start = time.perf_counter()
    result = f()
    return time.perf_counter() - start, result


def speed(sizes: list[int], baseline: int, t: int) -> None:
    print(f"== grouping speed, threshold {t} (random hashes + 10% planted near copies)")
    small = planted(baseline, t)
    py_s, py_pairs = timed(lambda: python_all_pairs(small, t))
    np_s, np_pairs = timed(lambda: numpy_all_pairs(small, t))
    ix_s, ix_pairs = timed(lambda: near_pairs(small, t))
    assert py_pairs == np_pairs == ix_pairs, "the index disagrees with the all-pairs scan"
    n0 = len(small)
    print(
        f"n={n0:>7}: python all-pairs {py_s:7.2f}s  numpy all-pairs {np_s:6.2f}s  "
        f"index {ix_s:6.3f}s  ({len(ix_pairs)} pairs, identical)"
    )
    for n in sizes:
        hashes = planted(n, t)
        items = [(f"img{i:07d}", h) for i, h in enumerate(hashes)]
        g_s, groups = timed(partial(group_near_duplicates, items, t))
        m = len(hashes)
        scale = (m / n0) ** 2
        print(
            f"n={m:>7}: group_near_duplicates {g_s:6.2f}s ({len(groups)} groups)  |  "
            f"extrapolated python all-pairs {py_s * scale:8.0f}s (x{py_s * scale / g_s:,.0f}), "
            f"numpy all-pairs {np_s * scale:6.0f}s (x{np_s * scale / g_s:,.0f})"
        )


def hash_cost() -> None:
    print("== cost of the hash on a decoded 750x500 picture")
    im = scene(7, size=(750, 500))
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=85)
    data = buf.getvalue()

    def best_of(f: Callable[[], object], reps: int = 50) -> float:
        # The least of many runs: the machine is shared, the cost of the code is the floor.
        times = []
        for _ in range(reps):
            start = time.perf_counter()
            f()
            times.append(time.perf_counter() - start)
        return min(times)

    def decode() -> None:
        with Image.open(io.BytesIO(data)) as decoded:
            decoded.load()

    decoding = best_of(decode)
    hashing = best_of(lambda: perceptual_hash(im))
    print(
        f"perceptual_hash {hashing * 1000:.2f} ms; decoding the JPEG {decoding * 1000:.2f} ms (best of 50)"
    )


def dhash(im: Image.Image) -> int:
    """The difference hash, for comparison: is each cell of a 9x8 grey grid brighter than the next?"""
    g = im.convert("L").resize((9, 8), Image.Resampling.LANCZOS).tobytes()
    h = 0
    for r in range(8):
        for c in range(8):
            h = (h << 1) | (g[r * 9 + c] < g[r * 9 + c + 1])
    return h


Item = tuple[str, str, int, int]  # source picture, variant, pHash, dHash


def hashed(source: str, im: Image.Image, with_variants: bool) -> list[Item]:
    pics = [("original", im)]
    if with_variants:
        pics += [(name, edit(im)) for name, edit in VARIANTS.items()]
    return [(source, name, perceptual_hash(p), dhash(p)) for name, p in pics]


def scene_items(count: int) -> list[Item]:
    items: list[Item] = []
    for s in range(count):
        items += hashed(f"scene{s}", scene(s, family=s // 4), True)
    for s in range(count):  # distinct scenes on the same backdrops: the hard negatives
        items += hashed(f"other{s}", scene(100_000 + s, family=s // 4), False)
    return items


def photo_items() -> list[Item]:
    items: list[Item] = []
    for name in REAL_PHOTOS:
        im = real_photo(name)
        items += hashed(name, im if im.mode == "RGB" else im.convert("RGB"), True)
    return items


def accuracy(title: str, items: list[Item]) -> None:
    source = np.array([it[0] for it in items])
    variant = np.array([it[1] for it in items])
    first, second = np.triu_indices(len(items), 1)
    same = source[first] == source[second]
    positives = int(same.sum())
    print(
        f"== {title}: {len(items)} pictures, {positives} duplicate pairs, "
        f"{len(same) - positives} distinct pairs"
    )
    phash = np.array([it[2] for it in items], dtype=np.uint64)
    dh = np.array([it[3] for it in items], dtype=np.uint64)
    d_p = np.bitwise_count(phash[first] ^ phash[second])
    d_d = np.bitwise_count(dh[first] ^ dh[second])
    crop = same & (variant[first] == "original") & np.char.startswith(variant[second], "cropped")
    others = same & (variant[first] == "original") & ~np.char.startswith(variant[second], "cropped")
    print("          pHash pairs       pHash groups      recall vs original     dHash pairs")
    print(
        "  t   precision recall  precision recall   crops   other edits  precision recall  false pairs (pHash)"
    )
    for t in THRESHOLDS:
        hits = d_p <= t
        p_prec, p_rec = _pr(hits, same)
        groups = group_near_duplicates(((str(k), int(h)) for k, h in enumerate(phash)), t)
        in_group = np.full(len(items), -1)
        for g, members in enumerate(groups):
            in_group[[int(m) for m in members]] = g
        grouped = (in_group[first] == in_group[second]) & (in_group[first] >= 0)
        g_prec, g_rec = _pr(grouped, same)
        d_prec, d_rec = _pr(d_d <= t, same)
        mark = "  <- default" if t == DEFAULT_THRESHOLD else ""
        print(
            f" {t:2d}   {p_prec:8.4f} {p_rec:6.3f}   {g_prec:8.4f} {g_rec:6.3f}   "
            f"{hits[crop].mean():5.3f}   {hits[others].mean():5.3f}       "
            f"{d_prec:8.4f} {d_rec:6.3f}  {int((hits & ~same).sum()):5d}{mark}"
        )
    closest = np.sort(d_p[~same])[:5]
    worst = {
        v: int(d_p[same & (variant[first] == "original") & (variant[second] == v)].max())
        for v in VARIANTS
    }
    print(f"  closest distinct pairs (pHash bits): {closest.tolist()}")
    print(f"  farthest copy per edit (pHash bits): {worst}")


def _pr(predicted: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    tp = int((predicted & truth).sum())
    return tp / max(1, int(predicted.sum())), tp / max(1, int(truth.sum()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000", help="hash counts to group")
    parser.add_argument("--baseline", type=int, default=5000, help="hash count for the baselines")
    parser.add_argument("--scenes", type=int, default=200, help="scenes with edited copies")
    parser.add_argument("--threshold", type=int, default=DEFAULT_THRESHOLD)
    args = parser.parse_args()
    speed([int(s) for s in args.sizes.split(",")], args.baseline, args.threshold)
    hash_cost()
    start = time.perf_counter()
    accuracy(
        f"{args.scenes} generated scenes x {len(VARIANTS)} edits + {args.scenes} distinct",
        scene_items(args.scenes),
    )
    if CORPUS.is_dir():
        accuracy(f"{len(REAL_PHOTOS)} real photographs x {len(VARIANTS)} edits", photo_items())
    else:
        print(f"== real photographs: skipped, {CORPUS} is missing")
    print(f"(pictures made and measured in {time.perf_counter() - start:.0f}s)")


if __name__ == "__main__":
    main()
