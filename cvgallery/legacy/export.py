"""`cvgallery export-legacy DIR`: the rollback plan -- the legacy layout rebuilt from the catalog.

1. Every legacy_files row is written back under its legacy path, with the bytes stored
   for it (its artifact, or the verbatim copy under art/legacy/). yes/ and
   no/ rows are written only while the image is still approved / rejected.
   An image whose row changed since (approved or rejected in cvgallery) follows its
   current state instead.
2. Artifacts no legacy_files row stands for (images added after the migration, or
   stages made by `process` since) get the standard names: img/<file>, thumbs/, t2/,
   replicate/img/, replicate/t2/, pub/W/, pub/w-cvgallery/ (+ results/), v/mp4/, v/img/.
3. Approved / rejected images, added or changed since the migration, with no yes/ / no/
   row: yes/<file> and no/<file>, the bytes of their original.
4. blurhash_cache rows not imported from blur/: one file, blur/cvgallery.json ({id: hash}).

Files are hard links where possible (copies across file systems), each written
atomically; an existing file with other bytes is never overwritten, only reported. The
destination must be a new or empty folder unless ``force`` (`--force`).
The queries are the catalog's ``archive`` part (cvgallery.catalog.archive).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .. import store
from ..catalog import Catalog
from ..errors import UsageError
from .layout import is_migrated, stored_location

STANDARD_FOLDERS = {
    "upstream": "img",
    "thumbnails-small": "thumbs",
    "web-optimized": "t2",
    "ersgan-enhanced": "replicate/img",
    "ersgan-thumbnails": "replicate/t2",
    "face-swap-sources": "pub/W",
    "face-swap-styles": "pub/w-cvgallery",
    "face-swap-results": "pub/w-cvgallery/results",
    "video-sources": "v/mp4",
    "video-frames": "v/img",
}
BLUR_FILE = "blur/cvgallery.json"


class Exporter:
    def __init__(self, catalog: Catalog, dest: Path):
        self.catalog, self.archive, self.dest = catalog, catalog.archive, dest
        self.written: dict[str, int] = {}
        self.linked = 0
        self.skipped: list[dict[str, str]] = []
        self.errors: list[dict[str, str]] = []

    def put(self, src: Path, rel: str) -> None:
        target = self.dest / rel
        if not src.is_file():
            self.errors.append({"path": rel, "detail": f"stored file missing: {src}"})
            return
        try:
            if target.exists():
                if store.same_file(src, target):
                    self.count(rel)
                    return
                if not target.is_file() or store.sha256_file(target) != store.sha256_file(src):
                    why = "exists with other bytes; not replaced"
                    self.errors.append({"path": rel, "detail": why})
                    return
            self.linked += store.link_or_copy(src, target)
        except OSError as exc:  # a file where a folder should be, a full disk: this one fails
            self.errors.append({"path": rel, "detail": f"cannot write: {exc.strerror or exc}"})
            return
        self.count(rel)

    def count(self, rel: str) -> None:
        top = rel.split("/", 1)[0] if "/" in rel else "."
        self.written[top] = self.written.get(top, 0) + 1

    def legacy_rows(self) -> None:
        for row in self.archive.export_rows():
            top = row["path"].split("/", 1)[0]
            changed = top in ("yes", "no") and not row["unchanged"]
            if changed and not row["approved" if top == "yes" else "rejected"]:
                self.skipped.append({"path": row["path"], "detail": "review changed since"})
                continue
            where = stored_location(self.catalog, row)
            if where is None:
                self.errors.append({"path": row["path"], "detail": f"no {row['stage']} artifact"})
                continue
            self.put(where, row["path"])

    def new_artifacts(self) -> None:
        for stage, file_path in self.archive.unrecorded_artifacts(tuple(STANDARD_FOLDERS)):
            name = Path(file_path).name
            self.put(self.catalog.art_dir / file_path, f"{STANDARD_FOLDERS[stage]}/{name}")

    def new_reviews(self) -> None:
        for folder in ("yes", "no"):
            for file_path in self.archive.reviews_since(folder):
                self.put(self.catalog.art_dir / file_path, f"{folder}/{Path(file_path).name}")

    def new_blurhashes(self) -> None:
        mapping = {
            image_id: blurhash
            for image_id, blurhash, context in self.archive.blurhashes("web-optimized")
            if not is_migrated(context)
        }
        if mapping:
            text = json.dumps(mapping, indent=1, ensure_ascii=False) + "\n"
            target = self.dest / BLUR_FILE
            if target.exists() and target.read_text(encoding="utf-8") != text:
                self.errors.append({"path": BLUR_FILE, "detail": "exists; not replaced"})
                return
            store.write_text(target, text)
            self.count(BLUR_FILE)


def export_legacy(
    catalog: Catalog, dest_dir: str | os.PathLike[str], *, force: bool = False
) -> dict[str, Any]:
    """Rebuild the legacy layout in dest_dir; see the module docstring.

    dest_dir must be new or empty unless ``force``: an export into the wrong folder (the
    original legacy tree, a home folder) would add thousands of files to it. Even with
    ``force`` no existing file is replaced.
    """
    dest = Path(dest_dir).resolve()
    art = catalog.art_dir.resolve()
    if dest == art or art in dest.parents:
        raise UsageError(f"{dest_dir}: cannot export into the site's art/ folder")
    if dest.exists() and not dest.is_dir():
        raise UsageError(f"{dest_dir}: not a folder")
    if not force and dest.is_dir() and any(dest.iterdir()):
        raise UsageError(
            f"{dest_dir}: the folder is not empty; export into a new or empty folder, "
            "or use --force to add the legacy layout to it (no file in it is replaced)"
        )
    dest.mkdir(parents=True, exist_ok=True)
    exporter = Exporter(catalog, dest)
    exporter.legacy_rows()
    exporter.new_artifacts()
    exporter.new_reviews()
    exporter.new_blurhashes()
    total = sum(exporter.written.values())
    return {
        "dest": str(dest),
        "written": exporter.written,
        "files": total,
        "hard_links": exporter.linked,
        "skipped": exporter.skipped,
        "errors": exporter.errors,
        "ok": not exporter.errors,
    }
