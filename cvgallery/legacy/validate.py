"""`migrate`'s closing validation: the legacy tree, legacy_files and art/ agree.

It reads every stored file at most once, and trusts a hard link (same inode as the
legacy file, whose sha256 migrate computed) without reading it: the other files' sha256
is compared with the hash recorded in legacy_files.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .. import store
from ..catalog import Catalog
from ..ingest import batched
from ..probe import is_candidate
from .layout import (
    VERBATIM_DIR,
    classify,
    group_key,
    is_migrated,
    is_skipped,
    stored_location,
    walk,
)

KEPT_LINE = "legacy (kept)"
LINE_COLUMNS = ("artifacts", "migrated", "files", "missing", "orphans")


def validate_migration(catalog: Catalog, legacy: Path) -> dict[str, Any]:
    """Per group: files in the legacy tree vs legacy_files rows vs stored files that match.

    Per stage: artifact rows vs files under art/<stage>/. ``ok`` is False if anything differs.
    """
    groups: dict[str, dict[str, int]] = {}
    problems: list[dict[str, str]] = []

    def bump(key: str, column: str) -> None:
        line = groups.setdefault(key, dict.fromkeys(("found", "recorded", "matching"), 0))
        line[column] += 1

    for chunk in batched((r for r in walk(legacy) if not is_skipped(r)), 500):
        sizes = catalog.archive.sizes(chunk)
        for rel in chunk:
            key = group_key(*classify(rel))
            bump(key, "found")
            if rel not in sizes:
                problems.append({"path": rel, "problem": "not migrated (no legacy_files row)"})
                continue
            bump(key, "recorded")
            if sizes[rel] != (legacy / rel).stat().st_size:
                problems.append({"path": rel, "problem": "legacy file changed since migration"})

    last: tuple[Path | None, str | None] = (None, None)  # rows sharing bytes are adjacent
    for row in catalog.archive.rows():
        key = group_key(*classify(row["path"]))
        where = stored_location(catalog, row)
        if where is None:
            problems.append({"path": row["path"], "problem": f"no {row['stage']} artifact"})
            continue
        if not where.is_file():
            problems.append({"path": row["path"], "problem": f"missing {where}"})
            continue
        if last[0] == where:
            actual = last[1]
        elif store.same_file(legacy / row["path"], where):
            actual = row["sha256"]  # a hard link: the bytes migrate hashed, not read again
        else:
            actual = store.sha256_file(where)
        last = (where, actual)
        if actual != row["sha256"]:
            problems.append({"path": row["path"], "problem": f"sha256 differs: {where}"})
        elif key in groups:
            bump(key, "matching")

    stages = stage_counts(catalog)
    for stage, line in stages.items():
        if line["missing"] or line["orphans"]:
            problems.append(
                {"path": f"art/{stage}/", "problem": f"{line['missing']} rows without a file, "
                 f"{line['orphans']} files without a row"}
            )  # fmt: skip
    return {"groups": groups, "stages": stages, "problems": problems, "ok": not problems}


def stage_counts(catalog: Catalog) -> dict[str, dict[str, int]]:
    """Per stage: artifact rows (and how many migrated), files in art/<stage>/, rows whose
    file is missing, picture files no row names. gallery-html (the built site) is left out;
    the line "legacy (kept)" compares legacy_files rows kept verbatim with art/legacy/."""
    art, out = catalog.art_dir, {}
    for stage in catalog.config.stage_names:
        if stage == "gallery-html":
            continue
        line = dict.fromkeys(LINE_COLUMNS, 0)
        known: set[str] = set()
        for batch in catalog.checks.stage_rows(stage, 500):
            for row in batch:
                known.add(row["file_path"])
                line["artifacts"] += 1
                line["migrated"] += is_migrated(row["processing_params"])
                line["missing"] += not (art / row["file_path"]).is_file()
        for entry in store.stage_files(art / stage):
            line["files"] += 1
            rel = store.relative_path(stage, entry.name)
            line["orphans"] += rel not in known and is_candidate(entry.name)
        out[stage] = line
    kept = dict.fromkeys(LINE_COLUMNS, 0)
    kept["files"] = sum(len(f) for _d, _s, f in os.walk(art / VERBATIM_DIR))
    for path, _image_id in catalog.archive.kept():
        kept["artifacts"] += 1
        kept["migrated"] += 1
        kept["missing"] += not (art / VERBATIM_DIR / path).is_file()
    kept["orphans"] = max(0, kept["files"] - kept["artifacts"] + kept["missing"])
    out[KEPT_LINE] = kept
    return out
