"""`cvgallery verify`: the catalog checked against the disk, and `--fix` for what is safe.

Every artifact file is hashed once (a pool of threads: hashlib and file reads release the
GIL) and compared with its row; files no row names are orphans; rows breaking the
schema's rules come from the catalog's ``checks`` part (cvgallery.catalog.checks). The
migration's own closing check is cvgallery.legacy.validate; this module only reads the
legacy layout's rules (art/legacy/ holds the legacy files kept verbatim).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from . import store
from .catalog import Catalog, file_facts
from .errors import UsageError
from .legacy.layout import VERBATIM_DIR
from .probe import VIDEO_EXTENSIONS, is_candidate

HASH_BATCH = 64
WORKERS = 4
# verify --fix without force drops at most this share of the artifact rows, or this many
# rows whatever the share (a small site with three lost files is still fixed).
MAX_DROP_SHARE = 0.10
ALWAYS_DROPPABLE = 20
KEPT_MISSING = "kept legacy file missing"
LEGACY_DROPS = (KEPT_MISSING, "legacy file has no artifact")  # legacy_files rows --fix drops


def verify_catalog(catalog: Catalog, fix: bool = False, *, force: bool = False) -> dict[str, Any]:
    """Artifact rows vs files, orphans, constraint breaks. ``fix`` only does what is safe:
    register orphans whose id has a free slot (and orphans of upstream/ and video-sources/
    as new pending images), drop rows whose file is gone (artifacts, and
    legacy_files rows whose stored bytes are gone, which a new `migrate` then restores from
    the legacy tree). No file is ever deleted.

    A dropped artifact row takes its processing params with it, and files that are gone
    all at once are more likely an unmounted disk than lost files. So unless ``force``,
    ``fix`` raises UsageError and changes nothing when it would drop a row of a stage
    whose folder (art/<stage>/, or art/legacy/ for kept legacy files) is missing, or drop
    more than MAX_DROP_SHARE (10%) of all artifact rows, once that is more than
    ALWAYS_DROPPABLE (20) rows: up to 20 rows may always go, beyond 20 only up to 10%.
    """
    problems: list[dict[str, Any]] = []
    with ThreadPoolExecutor(WORKERS) as pool:
        for stage in catalog.config.stage_names:
            problems += _check_stage(catalog, stage, pool)
    problems += _check_constraints(catalog)
    if fix:
        if not force:
            _refuse_mass_drops(catalog, problems)
        _fix(catalog, problems)
    left = [p for p in problems if not p.get("fixed")]
    return {"problems": problems, "unfixed": len(left), "ok": not left}


def _check_stage(catalog: Catalog, stage: str, pool: ThreadPoolExecutor) -> list[dict[str, Any]]:
    art, out = catalog.art_dir, []
    known: set[str] = set()
    for batch in catalog.checks.stage_rows(stage, HASH_BATCH):
        known.update(r["file_path"] for r in batch)
        hashes = pool.map(lambda r: _hash_or_none(art / r["file_path"]), batch)
        for row, actual in zip(batch, hashes, strict=True):
            base = {"stage": stage, "image_id": row["image_id"], "path": row["file_path"]}
            if actual is None:
                out.append({**base, "kind": "missing file", "artifact_id": row["id"]})
            elif row["sha256"] and actual != row["sha256"]:
                out.append({**base, "kind": "sha256 mismatch", "detail": f"file has {actual}"})
    if stage == "gallery-html":  # rendered pages and kept legacy files: not artifacts
        return out
    for entry in sorted(store.stage_files(art / stage), key=lambda e: e.name):
        rel = store.relative_path(stage, entry.name)
        if rel not in known and is_candidate(entry.name):
            out.append({"kind": "orphan file", "stage": stage, "path": rel})
    return out


def _hash_or_none(path: Path) -> str | None:
    try:
        return store.sha256_file(path)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None


def _check_constraints(catalog: Catalog) -> list[dict[str, Any]]:
    out = catalog.checks.broken_rows(catalog.config.stage_names)
    kept = catalog.art_dir / VERBATIM_DIR
    for path, image_id in catalog.archive.kept():
        if not (kept / path).is_file():  # export-legacy needs these bytes
            out.append(
                {"kind": KEPT_MISSING, "table": "legacy_files", "row": path,
                 "image_id": image_id, "path": f"{VERBATIM_DIR}/{path}"}
            )  # fmt: skip
    return out


def _refuse_mass_drops(catalog: Catalog, problems: list[dict[str, Any]]) -> None:
    """UsageError (before anything changes) if --fix would drop rows an unmounted or
    half-synced art/ made look lost; see verify_catalog."""
    missing = [p for p in problems if p["kind"] == "missing file"]
    folders: dict[Path, int] = {}
    for p in missing:
        folder = catalog.art_dir / p["stage"]
        folders[folder] = folders.get(folder, 0) + 1
    kept = sum(p["kind"] == KEPT_MISSING for p in problems)
    if kept:
        folders[catalog.art_dir / VERBATIM_DIR] = kept
    gone = [(folder, n) for folder, n in folders.items() if not folder.is_dir()]
    if gone:
        listed = ", ".join(f"{folder}/ ({n} rows)" for folder, n in gone)
        raise UsageError(
            f"verify --fix would drop rows of folders that do not exist: {listed}. Is the "
            "disk holding art/ mounted? Nothing changed; use --force to drop them anyway"
        )
    total = sum(catalog.artifacts.counts().values())
    if len(missing) > max(ALWAYS_DROPPABLE, MAX_DROP_SHARE * total):
        raise UsageError(
            f"verify --fix would drop {len(missing)} of {total} artifact rows (more than "
            f"{MAX_DROP_SHARE:.0%}) whose files are missing under {catalog.art_dir}. Is "
            "the disk holding art/ mounted? Nothing changed; use --force to drop them anyway"
        )


def _fix(catalog: Catalog, problems: list[dict[str, Any]]) -> None:
    with catalog.transaction():
        for p in problems:
            if p["kind"] == "missing file":
                # The legacy files whose bytes were there go too, so migrate can restore them.
                legacy = catalog.checks.drop_artifact(p["artifact_id"], p["image_id"], p["stage"])
                p["fixed"] = "row dropped" + (
                    f" (+{legacy} legacy_files: rerun migrate)" * bool(legacy)
                )
            elif p["kind"] in LEGACY_DROPS:
                catalog.checks.drop_legacy_file(p["row"])
                p["fixed"] = "legacy_files row dropped (rerun migrate to restore it)"
            elif p["kind"] == "orphan file":
                _register_orphan(catalog, p)
    _register_originals(catalog, [p for p in problems if _new_original(p)])


def _register_orphan(catalog: Catalog, p: dict[str, Any]) -> None:
    path = catalog.art_dir / p["path"]
    image_id = Path(p["path"]).stem
    if not catalog.images.exists(image_id):
        p["detail"] = f"not fixed: no image {image_id!r}"
        return
    taken = catalog.artifacts.get(image_id, p["stage"])
    if taken is not None:
        p["detail"] = f"not fixed: {image_id!r} already has {taken['file_path']}"
        return
    catalog.artifacts.record(
        image_id=image_id, stage=p["stage"], file_path=p["path"], facts=file_facts(path),
        params={"registered_by": "verify --fix"},
    )  # fmt: skip
    p["image_id"] = image_id
    p["fixed"] = "registered"


def _new_original(p: dict[str, Any]) -> bool:
    """An unfixed orphan of upstream/ (a picture) or video-sources/ (a video): a new image."""
    if p["kind"] != "orphan file" or p.get("fixed"):
        return False
    video = Path(p["path"]).suffix.lower() in VIDEO_EXTENSIONS
    return bool(p["stage"] == ("video-sources" if video else "upstream"))


def _register_originals(catalog: Catalog, problems: list[dict[str, Any]]) -> None:
    """Registered in place by add_files, as `build` registers files dropped in those folders;
    pending (never approved here); a duplicate of an image's bytes is left alone."""
    from .ingest import add_files

    if not problems:
        return
    by_path = {catalog.art_dir / p["path"]: p for p in problems}
    for res in add_files(catalog, list(by_path), in_place=True, approve=False):
        p = by_path[res.path]
        if res.status in ("added", "rejected"):
            p.pop("detail", None)
            p["image_id"] = res.image_id
            p["fixed"] = f"registered as image {res.image_id!r}" + (
                f" (rejected: {res.reason})" if res.status == "rejected" else ""
            )
        elif res.status == "duplicate":
            p["detail"] = f"not fixed: same bytes as image {res.image_id!r}"
        else:
            p["detail"] = f"not fixed: {res.reason}"
