"""Generates a realistic legacy tree (img/, yes/, no/, thumbs/, ... blur/) for tests and
benchmarks; snapshots of a tree, a catalog and an art/ folder to compare runs with.

Every picture is a small real image made by Pillow with distinct bytes. The tree has
the awkward cases the migration must keep: odd names (spaces, quotes, unicode, SQL), a
yes/ and a no/ entry with no original, a derived file with no original, a GIF, a
truncated JPEG, a file with no extension, a duplicate original, mixed extensions, blur/
in both formats with one malformed hash, HTML galleries, an unmapped file and a dotfile.
"""

from __future__ import annotations

import io
import json
import shutil
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

ODD_IDS = [
    "with space",
    'quote\'s "double"',
    "ünïcødé-照片",
    "x'; DROP TABLE images; --",
]
EXTENSIONS = [".jpeg", ".jpeg", ".jpg", ".png", ".webp"]
FORMATS = {".jpeg": "JPEG", ".jpg": "JPEG", ".png": "PNG", ".webp": "WEBP", "": "JPEG"}


@dataclass
class LegacyTree:
    root: Path
    originals: dict[str, str] = field(default_factory=dict)  # id -> img/ relative path
    special: dict[str, str] = field(default_factory=dict)  # role -> relative path
    files: int = 0


def picture(n: int, size: tuple[int, int], fmt: str) -> bytes:
    """Distinct bytes for every n < 2**24: a colour from n, and n's bits drawn as 4x4 blocks
    of the inverse colour (large enough that lossy encoders keep them)."""
    color = ((n * 37) % 256, (n * 91 + 7) % 256, (n * 53 + 13) % 256)
    inverse = tuple(255 - c for c in color)
    im = Image.new("RGB", size, color)
    for bit in range(24):
        if n >> bit & 1:
            x, y = (bit % 8) * 4, (bit // 8) * 4
            im.paste(inverse, (x, y, x + 4, y + 4))
    buf = io.BytesIO()
    im.save(buf, fmt, **({"quality": 90} if fmt in ("JPEG", "WEBP") else {}))
    return buf.getvalue()


class _Writer:
    def __init__(self, tree: LegacyTree):
        self.tree = tree
        self.n = 0

    def write(self, rel: str, data: bytes) -> str:
        path = self.tree.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self.tree.files += 1
        return rel

    def image(self, rel: str, size: tuple[int, int] = (64, 48)) -> str:
        self.n += 1
        return self.write(rel, picture(self.n, size, FORMATS[Path(rel).suffix.lower()]))

    def copy(self, src: str, rel: str) -> str:
        return self.write(rel, (self.tree.root / src).read_bytes())


def make_legacy_tree(root: Path, count: int = 60, *, full: bool = True) -> LegacyTree:
    """``count`` ordinary originals with thumbs/ and t2/; ``full`` adds every other folder
    and every awkward case (then the tree holds a few hundred files for count=60)."""
    tree = LegacyTree(root)
    w = _Writer(tree)
    ids = [f"{i:05d}-photo" for i in range(count)]
    if full:
        ids += ODD_IDS
    for i, image_id in enumerate(ids):
        ext = EXTENSIONS[i % len(EXTENSIONS)] if full else ".jpeg"
        tree.originals[image_id] = w.image(f"img/{image_id}{ext}")
        w.image(f"thumbs/{image_id}.jpeg", (32, 24))
        w.image(f"t2/{image_id}.jpeg", (48, 36))
    if not full:
        return tree
    sp = tree.special
    sp["noext"] = w.image("img/noext")
    tree.originals["noext"] = sp["noext"]
    sp["gif"] = w.write("img/anim.gif", _gif())
    sp["truncated"] = w.write("img/broken.jpeg", picture(99_999, (64, 48), "JPEG")[:300])
    sp["duplicate"] = w.copy(tree.originals[ids[0]], "img/copy-of-first.jpeg")
    for image_id in ids[::2]:
        w.copy(tree.originals[image_id], f"yes/{Path(tree.originals[image_id]).name}")
    for image_id in ids[1::5]:
        w.copy(tree.originals[image_id], f"no/{Path(tree.originals[image_id]).name}")
    sp["yes_only"] = w.image("yes/only in yes.jpeg")
    sp["no_only"] = w.image("no/only-in-no.png")
    sp["no_gif"] = w.copy(sp["gif"], "no/anim.gif")
    sp["orphan_thumb"] = w.image("thumbs/orphan thumb.jpeg", (32, 24))
    sp["orphan_t2"] = w.image("t2/orphan thumb.jpeg", (48, 36))
    for image_id in ids[:10]:
        w.image(f"replicate/img/{image_id}.png", (128, 96))
        w.image(f"replicate/t2/{image_id}.jpeg", (32, 24))
    for image_id in ids[:5]:
        w.image(f"pub/W/{image_id}.jpeg")
    for style in ("w-anime", "w-oil paint"):
        for image_id in ids[:4]:
            w.image(f"pub/{style}/{image_id}.jpeg")
            w.image(f"pub/{style}/results/{image_id}.jpeg")
    for clip in ("clip1", "clip2"):
        w.write(f"v/mp4/{clip}.mp4", f"not really a video: {clip}".encode())
    for frame in ("clip1-1", "clip1-2", "clip1-3", "clip2"):
        w.image(f"v/img/{frame}.jpeg")
    w.write("g/index.html", b"<html><body>gallery</body></html>\n")
    w.write("g/page 2/index.html", "<p>seite zwei – ü</p>\n".encode())
    w.write("tmp/g/index.html", b"<html>tmp</html>\n")
    w.write("W/index.html", b"<html>W</html>\n")
    w.write("W/style.css", b"body{margin:0}\n")
    _blur(w, ids)
    sp["unmapped"] = w.write("notes/README.txt", b"old notes\n")
    sp["dotfile"] = w.write(".DS_Store", b"\x00\x01junk")
    return tree


def _gif() -> bytes:
    buf = io.BytesIO()
    Image.new("P", (16, 16), 3).save(buf, "GIF")
    return buf.getvalue()


def _blur(w: _Writer, ids: list[str]) -> None:
    good = "L31JlBlgfQlglzfjfQfjfQfQfQfQ"
    w.tree.special["blur_txt"] = w.write(f"blur/{ids[0]}.txt", f"{good}\n".encode())
    w.tree.special["blur_noext"] = w.write(f"blur/{ids[1]}", good.encode())
    mapping = {image_id: good for image_id in ids[2:12]}
    mapping[ids[12]] = "not-a-blurhash"  # malformed: reported, not imported
    mapping["no-such-image"] = good
    w.tree.special["blur_json"] = w.write(
        "blur/cache.json", json.dumps(mapping, ensure_ascii=False, indent=1).encode()
    )
    w.tree.special["malformed_id"] = ids[12]


def snapshot(root: Path) -> dict[str, tuple[int, int, str, int]]:
    """path -> (mtime_ns, size, sha256, inode) of every file and folder (link counts change with
    hard links, which is no change to the legacy tree)."""
    import hashlib

    out: dict[str, tuple[int, int, str, int]] = {}
    for path in sorted(root.rglob("*")):
        st = path.stat()
        sha = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
        out[path.relative_to(root).as_posix()] = (st.st_mtime_ns, st.st_size, sha, st.st_ino)
    return out


def copy_tree(src: Path, dest: Path) -> None:
    shutil.copytree(src, dest)


def table_dump(db_path: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every row of the catalog's tables, without timestamps and autoincrement ids."""
    conn = sqlite3.connect(db_path)
    try:
        return {
            "images": conn.execute(
                "SELECT id, sha256, approved, rejected, rejection_reason, width, height,"
                " file_size, mime_type, parent_id FROM images ORDER BY id"
            ).fetchall(),
            "artifacts": conn.execute(
                "SELECT image_id, stage, file_path, sha256, width, height, file_size,"
                " processing_params FROM artifacts ORDER BY image_id, stage"
            ).fetchall(),
            "blurhash_cache": conn.execute(
                "SELECT image_id, stage, blurhash, width, height, context FROM blurhash_cache"
                " ORDER BY image_id, stage"
            ).fetchall(),
            "legacy_files": conn.execute(
                "SELECT path, image_id, stage, sha256, file_size FROM legacy_files ORDER BY path"
            ).fetchall(),
        }
    finally:
        conn.close()


def art_listing(art: Path) -> dict[str, tuple[int, int, int]]:
    return {
        p.relative_to(art).as_posix(): (p.stat().st_mtime_ns, p.stat().st_ino, p.stat().st_size)
        for p in sorted(art.rglob("*"))
        if p.is_file()
    }
