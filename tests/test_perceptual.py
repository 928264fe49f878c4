"""Perceptual hashes and near-duplicate groups (cvgallery.perceptual), on real pictures."""

from __future__ import annotations

import random

import numpy as np
import pytest
from picture_scenes import (
    CORPUS,
    REAL_COPIES,
    REAL_PHOTOS,
    brightened,
    cropped,
    jpeg,
    real_photo,
    resized,
    scene,
)
from PIL import Image

from cvgallery import perceptual
from cvgallery.errors import UsageError
from cvgallery.perceptual import (
    DEFAULT_THRESHOLD,
    distance,
    group_near_duplicates,
    hash_to_hex,
    hex_to_hash,
    near_pairs,
    perceptual_hash,
)

# The edits a copy goes through, as the issue lists them.
EDITS = {
    "resized": lambda im: resized(im, 0.5),
    "jpeg-q30": lambda im: jpeg(im, 30),
    "cropped-3%": lambda im: cropped(im, 0.03),
    "brightened-15%": lambda im: brightened(im, 1.15),
    "darkened-15%": lambda im: brightened(im, 0.85),
}

needs_corpus = pytest.mark.skipif(
    not CORPUS.is_dir(), reason=f"the shared corpus of real photographs is not at {CORPUS}"
)


def copies(name: str, im: Image.Image) -> list[tuple[str, int]]:
    """(id, hash) of a picture and of each of its edited copies."""
    return [(f"{name}", perceptual_hash(im))] + [
        (f"{name}~{edit}", perceptual_hash(make(im))) for edit, make in EDITS.items()
    ]


# ---- the hash ------------------------------------------------------------------------


def test_hash_is_imagehash_phash():
    # Hex digits from imagehash 4.3.2's phash() on the same pictures: the same algorithm,
    # so hashes stored by cvgallery compare with those of other tools.
    rng = random.Random("imagehash-reference")
    noise = Image.frombytes("L", (12, 9), rng.randbytes(12 * 9))
    picture = noise.resize((120, 90), Image.Resampling.BICUBIC).convert("RGB")
    assert hash_to_hex(perceptual_hash(picture)) == "fde1986a8c2997a1"


@needs_corpus
def test_hash_of_a_real_photo_is_imagehash_phash():
    with Image.open(CORPUS / "pillow" / "hopper.png") as im:
        assert hash_to_hex(perceptual_hash(im)) == "8c977c0983ce9e8d"


def test_hex_round_trip():
    h = perceptual_hash(scene(1))
    text = hash_to_hex(h)
    assert len(text) == 16 and text == text.lower()
    assert hex_to_hash(text) == h
    assert hex_to_hash(text.upper()) == h
    assert hash_to_hex(0) == "0000000000000000"
    assert hash_to_hex(2**64 - 1) == "ffffffffffffffff"


@pytest.mark.parametrize(
    "text", ["", "abc", "0x0123456789abcd", "0123456789abcdeg", " 123456789abcdef"]
)
def test_hex_to_hash_refuses_what_is_not_16_hex_digits(text):
    with pytest.raises(UsageError, match="16 hex digits"):
        hex_to_hash(text)


@pytest.mark.parametrize("value", [-1, 2**64])
def test_hash_to_hex_refuses_what_is_not_64_bits(value):
    with pytest.raises(UsageError, match=str(value)):
        hash_to_hex(value)


def test_distance_counts_differing_bits():
    assert distance(0, 2**64 - 1) == 64
    assert distance(0b1011, 0b0001) == 2
    h = perceptual_hash(scene(2))
    assert distance(h, h) == 0


def test_transparency_is_seen_on_white():
    # What hides under transparent pixels (here: noise) does not change the hash.
    picture = scene(3).convert("RGBA")
    hole = Image.new("L", picture.size, 255)
    hole.paste(0, (100, 100, 400, 300))
    picture.putalpha(hole)
    noisy = picture.copy()
    noisy.paste(Image.effect_noise((300, 200), 80).convert("RGBA"), (100, 100))
    noisy.putalpha(hole)
    on_white = Image.new("RGB", picture.size, "white")
    on_white.paste(picture, mask=hole)
    assert perceptual_hash(picture) == perceptual_hash(noisy) == perceptual_hash(on_white)
    assert perceptual_hash(picture.convert("LA")) == perceptual_hash(on_white.convert("L"))


def test_any_mode_hashes_like_its_grey_picture():
    rgb = scene(4)
    grey = rgb.convert("L")
    h = perceptual_hash(grey)
    assert perceptual_hash(rgb) == h
    for mode in ("CMYK", "YCbCr", "I", "F"):
        assert distance(perceptual_hash(rgb.convert(mode)), h) <= 2, mode
    # 16-bit grey is scaled into 8 bits, not clipped at 255 (which would make it white).
    deep = Image.fromarray(np.asarray(grey).astype(np.uint16) * 257)
    assert deep.mode.startswith("I;16")
    assert distance(perceptual_hash(deep), h) <= 2
    # Lossy conversions: a 256-colour palette, HSV and LAB round trips.
    for mode in ("P", "HSV", "LAB"):
        assert distance(perceptual_hash(rgb.convert(mode)), h) <= DEFAULT_THRESHOLD, mode


def test_featureless_pictures_group_together():
    # Nothing tells flat pictures apart: only the mean (the first bit, 0 for black) is set.
    colours = ["red", "black", (9, 200, 90), "white"]
    hashes = [perceptual_hash(Image.new("RGB", (64, 48), c)) for c in colours]
    assert set(hashes) == {1 << 63, 0}
    assert group_near_duplicates((str(c), h) for c, h in zip(colours, hashes, strict=True)) == [
        sorted(map(str, colours))
    ]


# ---- near-duplicates of pictures ---------------------------------------------------------


def test_edited_copies_group_with_their_original_and_distinct_scenes_stay_apart():
    # Scenes 0..7 come in pairs sharing one backdrop (the same gradient and tones);
    # six more scenes share those backdrops too. A 3% crop moves about 1 picture in 25
    # past the default threshold (benchmarks/bench_dupes.py); these scenes are fixed.
    items: list[tuple[str, int]] = []
    for seed in range(8):
        items += copies(f"scene{seed}", scene(seed, family=seed // 2))
    for seed in range(6):
        items.append((f"other{seed}", perceptual_hash(scene(1000 + seed, family=seed))))
    expected = [
        sorted(f"scene{seed}" + s for s in ["", *(f"~{e}" for e in EDITS)]) for seed in range(8)
    ]
    assert group_near_duplicates(items) == expected


def test_distinct_pictures_on_one_backdrop_are_not_grouped():
    pictures = [(f"s{seed}", perceptual_hash(scene(seed, family=7))) for seed in range(200, 212)]
    assert group_near_duplicates(pictures) == []


@needs_corpus
def test_edited_copies_of_real_photos_group_with_their_original():
    names = REAL_PHOTOS[:8]
    items: list[tuple[str, int]] = []
    for name in names:
        items += copies(name, real_photo(name).convert("RGB"))
    expected = [sorted(name + s for s in ["", *(f"~{e}" for e in EDITS)]) for name in names]
    assert group_near_duplicates(items) == sorted(expected)


@needs_corpus
def test_real_photos_copied_in_the_corpus_are_found():
    # Other encodings (TIFF, JPEG), other metadata, other EXIF orientations of one picture.
    names = sorted(set(REAL_PHOTOS) | {n for group in REAL_COPIES for n in group})
    items = [(name, perceptual_hash(real_photo(name))) for name in names]
    assert group_near_duplicates(items) == sorted(sorted(group) for group in REAL_COPIES)


# ---- grouping ----------------------------------------------------------------------------


def test_empty_and_single_inputs_make_no_groups():
    assert group_near_duplicates([]) == []
    assert group_near_duplicates([("a", 5)]) == []
    assert near_pairs([]) == []
    assert near_pairs([5]) == []


def test_groups_are_transitive():
    a = 0
    b = a ^ 0b1111  # 4 bits from a
    c = b ^ 0b1111 << 20  # 4 bits from b, 8 from a
    d = c ^ 0b11111 << 40  # 5 bits from c: too far
    items = [("d", d), ("c", c), ("a", a), ("b", b), ("lone", 2**64 - 1)]
    assert group_near_duplicates(items, threshold=4) == [["a", "b", "c"]]
    assert group_near_duplicates(items, threshold=5) == [["a", "b", "c", "d"]]
    assert group_near_duplicates(items, threshold=3) == []


def test_threshold_is_inclusive():
    items = [("x", 0), ("y", (1 << 10) - 1)]  # 10 bits apart
    assert group_near_duplicates(items, threshold=10) == [["x", "y"]]
    assert group_near_duplicates(items, threshold=9) == []


def test_ids_sharing_a_hash_are_grouped_at_any_threshold():
    items = [("b", 42), ("a", 42), ("c", 43)]
    assert group_near_duplicates(items, threshold=0) == [["a", "b"]]
    assert group_near_duplicates(items, threshold=1) == [["a", "b", "c"]]


def test_grouping_does_not_depend_on_input_order():
    rng = random.Random(3)
    items = [(f"id{k}", h) for k, h in enumerate(planted(rng, 3000, 10))]
    first = group_near_duplicates(items)
    assert first and all(group == sorted(group) for group in first) and first == sorted(first)
    for _ in range(3):
        rng.shuffle(items)
        assert group_near_duplicates(items) == first


def test_bad_hashes_and_thresholds_are_refused_by_name():
    with pytest.raises(UsageError, match="img-7"):
        group_near_duplicates([("img-1", 1), ("img-7", -3)])
    with pytest.raises(UsageError, match="img-8"):
        group_near_duplicates([("img-8", 2**64)])
    with pytest.raises(UsageError, match="img-9"):
        group_near_duplicates([("img-9", "ffffffffffffffff")])  # type: ignore[list-item]
    with pytest.raises(UsageError, match="threshold"):
        group_near_duplicates([("a", 1)], threshold=-1)


def planted(rng: random.Random, n: int, t: int) -> list[int]:
    """n random hashes, and n/10 copies of them with 0 to t + 1 bits flipped."""
    hashes = [rng.getrandbits(64) for _ in range(n)]
    for _ in range(n // 10):
        h = hashes[rng.randrange(len(hashes))]
        for bit in rng.sample(range(64), rng.randrange(t + 2)):
            h ^= 1 << bit
        hashes.append(h)
    return hashes


def all_pairs(hashes: list[int], t: int) -> list[tuple[int, int]]:
    """The reference: every pair compared."""
    h = np.array(hashes, dtype=np.uint64)
    out = []
    for i in range(len(h) - 1):
        out += [
            (i, int(j) + i + 1) for j in np.flatnonzero(np.bitwise_count(h[i + 1 :] ^ h[i]) <= t)
        ]
    return out


def reference_groups(hashes: list[int], t: int) -> list[list[str]]:
    """Groups from the reference pairs, by repeated relabelling (no union-find)."""
    label = list(range(len(hashes)))
    pairs = all_pairs(hashes, t)
    changed = True
    while changed:
        changed = False
        for i, j in pairs:
            low = min(label[i], label[j])
            if label[i] != low or label[j] != low:
                label[i] = label[j] = low
                changed = True
    groups: dict[int, list[str]] = {}
    for k, lab in enumerate(label):
        groups.setdefault(lab, []).append(f"h{k:05d}")
    return sorted(sorted(g) for g in groups.values() if len(g) > 1)


@pytest.mark.parametrize("t", [4, 6, DEFAULT_THRESHOLD])
def test_index_finds_exactly_the_pairs_of_an_all_pairs_scan(t):
    rng = random.Random(t)
    hashes = planted(rng, 20_000, t)
    assert perceptual._plan(len(hashes), t) is not None  # the index, not the scan, is tested
    pairs = near_pairs(hashes, t)
    assert pairs == all_pairs(hashes, t)
    assert len(pairs) > 1000  # the planted copies within t bits, found
    items = [(f"h{k:05d}", h) for k, h in enumerate(hashes)]
    assert group_near_duplicates(items, t) == reference_groups(hashes, t)


@pytest.mark.parametrize(
    "t, blocks",
    [
        (10, 11),  # 6-bit keys: huge groups, radix-sorted
        (10, 13),  # 15-bit keys, radix-sorted
        (10, 14),  # 18-19-bit keys: counted first, then the shared ones sorted
        (4, 7),  # 27-bit keys: too many possible values to count, sorted outright
    ],
)
def test_every_block_cut_is_exact(t, blocks, monkeypatch):
    hashes = planted(random.Random(blocks), 20_000, t)
    monkeypatch.setattr(perceptual, "_plan", lambda n, t: perceptual._blocks(blocks))
    assert near_pairs(hashes, t) == all_pairs(hashes, t)


def test_index_is_exact_on_crowded_hashes():
    # Real hashes are not uniform: here only 24 of the 64 bits vary, so every block
    # choice makes crowded groups.
    rng = random.Random(5)
    spread = rng.sample(range(64), 24)
    base = rng.getrandbits(64)
    hashes = []
    for _ in range(6000):
        h = base
        for bit in spread:
            if rng.random() < 0.5:
                h ^= 1 << bit
        hashes.append(h)
    assert near_pairs(hashes, 6) == all_pairs(hashes, 6)


def test_small_inputs_take_the_all_pairs_scan_and_agree():
    rng = random.Random(11)
    hashes = planted(rng, 100, 10)
    assert perceptual._plan(len(hashes), 10) is None
    assert near_pairs(hashes, 10) == all_pairs(hashes, 10)
