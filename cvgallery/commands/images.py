"""Commands on the catalog's images: init, add, review, stats, ready, outside artifacts."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ..catalog import Catalog, init_site
from ..ingest import add_files, log_artifact, sync_artifacts
from ..names import shown
from .report import Report

Sink = Callable[[str], None] | None


def init(directory: Path) -> Report:
    config = init_site(directory)
    stages = len(config.stage_names)
    return Report(
        summary=f"initialised {config.root} (catalog {config.db_path.name}, {stages} stages)"
    )


def add(
    catalog: Catalog,
    paths: Iterable[str | os.PathLike[str]],
    *,
    url: str | None = None,
    user: str | None = None,
    approve: bool | None = None,
    link: bool = False,
    sink: Sink = None,
) -> Report:
    report = Report(sink=sink)
    results = add_files(
        catalog,
        paths,
        url=url,
        user=user,
        approve=approve,
        link=link,
        on_result=lambda r: report.say(r.line()),
    )
    report.counts = {
        s: sum(r.status == s for r in results)
        for s in ("added", "duplicate", "rejected", "skipped", "error")
    }
    # A rejected file is a result (recorded, with its reason), not a failure: the exit
    # status follows the `error` count alone.
    report.exit_code = 1 if report.counts["error"] else 0
    return report


def review(
    catalog: Catalog, names: list[str], *, approve: bool, reason: str | None = None
) -> Report:
    """approve or reject (replaces yes/ and no/). A name is an id or the name or path of a
    registered file (`ls yes/ | cvgallery approve -`); unknown ones fail alone."""
    ids: list[str] = []
    unknown: list[str] = []
    with catalog.transaction():
        for name in names:
            image_id = catalog.images.resolve(name)
            (ids if image_id is not None else unknown).append(image_id or name)
        if approve:
            result = catalog.images.approve(ids)
        else:
            result = catalog.images.reject(ids, reason)
    verb = "approved" if approve else "rejected"
    return Report(
        failures=[f"Error: unknown image id: {name!r}" for name in [*unknown, *result.unknown]],
        summary=f"{verb} {len(result.changed)}",
    )


def listing(
    catalog: Catalog,
    state: str | None = None,
    user: str | None = None,
    stage: str | None = None,
    nul: bool = False,
) -> Report:
    """`cvgallery list`: ids by review state, one a line (NUL-separated with ``nul``)."""
    if stage is not None:
        catalog.check_stage(stage)
    rows = catalog.images.listing(state, user, stage)
    ids = [str(r["id"]) for r in rows]
    data = [
        {k: r[k] for k in ("id", "username", "original_url", "width", "height", "file_size",
                           "mime_type", "created_at", "rejection_reason", "title", "caption",
                           "taken_at")}
        | {"alt": r["alt_text"],
           "state": "approved" if r["approved"] else "rejected" if r["rejected"] else "pending"}
        for r in rows
    ]  # fmt: skip
    return Report(output=ids_output(ids, nul), output_newlines=not nul, summary="", data=data)


def ids_output(ids: list[str], nul: bool) -> list[str]:
    """Ids for a pipe: one a line, or NUL-terminated (ids may hold spaces or newlines)."""
    if nul:
        return ["".join(f"{i}\0" for i in ids)] if ids else []
    return ids


def path(catalog: Catalog, name: str, stage: str = "upstream") -> Report:
    """`cvgallery path`: the file of an image's artifact, for an outside script."""
    from ..errors import UnknownImage, UsageError

    catalog.check_stage(stage)
    image_id = catalog.images.resolve(name)
    if image_id is None:
        raise UnknownImage(name)
    row = catalog.artifacts.get(image_id, stage)
    if row is None and stage == "upstream":
        row = catalog.artifacts.get(image_id, "video-sources")
    if row is None:
        raise UsageError(f"image {shown(image_id)} has no {stage} artifact")
    return Report(output=[str(catalog.art_dir / row["file_path"])], summary="")


def dupes(catalog: Catalog, threshold: int) -> Report:
    """`cvgallery dupes`: groups of near-duplicate pictures."""
    from ..dupes import find_groups

    found = find_groups(catalog, threshold)
    output = [" ".join(repr(i) if not i.isprintable() or " " in i else i for i in group)
              for group in found.groups]  # fmt: skip
    return Report(
        output=output,
        failures=[f"Error: {shown(image_id)}: {why}" for image_id, why in found.failed],
        summary=f"{len(found.groups)} groups of near-duplicates "
        f"({sum(len(g) for g in found.groups)} pictures; {found.hashed} hashed now)",
        data={"threshold": threshold, "groups": found.groups},
    )


_LABELS = {
    "total": "Total Images",
    "approved": "Approved Images",
    "rejected": "Rejected Images",
    "pending": "Pending Approval",
    "derived": "Derived (frames, results)",
}


def stats(catalog: Catalog) -> Report:
    """The seed's db-stats."""
    data = catalog.stats()
    lines = table(("metric", "value"), [(_LABELS[k], v) for k, v in data["images"].items()])
    lines += [""] + table(("stage", "count"), list(data["artifacts"].items()))
    lines += [""] + table(("status", "jobs"), list(data["jobs"].items()))
    return Report(output=["\n".join(lines)], summary="", data=data)


def table(headers: tuple[str, str], rows: list[tuple[Any, Any]]) -> list[str]:
    width = max([len(headers[0])] + [len(str(r[0])) for r in rows]) + 2
    out = [
        f"{headers[0]:<{width}}{headers[1]}",
        f"{'-' * (width - 2):<{width}}{'-' * len(headers[1])}",
    ]
    out += [f"{str(a):<{width}}{b}" for a, b in rows]
    return out


def ready(catalog: Catalog, input_stage: str, output_stage: str, nul: bool = False) -> Report:
    ids = catalog.ready(input_stage, output_stage)
    return Report(output=ids_output(ids, nul), output_newlines=not nul, summary="")


def artifact_log(
    catalog: Catalog, image_id: str, stage: str, path: Path, params: str | None
) -> Report:
    file_path = log_artifact(catalog, image_id, stage, path, params)
    return Report(summary=f"logged {shown(image_id)} {stage} {shown(file_path)}")


def artifact_sync(catalog: Catalog, stage: str, directory: Path) -> Report:
    report = Report()
    for r in sync_artifacts(catalog, stage, directory):
        if r.error:
            report.failures.append(f"Error: {shown(r.path)}: {r.error}")
        else:
            report.lines.append(f"logged {shown(r.image_id)} {stage} {shown(r.file_path)}")
    report.summary = f"{len(report.lines)} logged, {len(report.failures)} failed"
    return report


# -- words shown with a picture: `cvgallery set` ------------------------------------------------

WORD_LIMITS = {"title": 200, "caption": 4000, "alt": 1000}


def clean_words(words: dict[str, Any], where: str) -> dict[str, str | None]:
    """Checked words: known keys, text (or null/"" to clear), within the length limits;
    control characters other than a caption's line breaks become spaces."""
    from ..errors import UsageError
    from ..metadata import _clean

    out: dict[str, str | None] = {}
    for key, value in words.items():
        if key not in WORD_LIMITS:
            raise UsageError(f"{where}: unknown field {key!r} (title, caption, alt)")
        if value is not None and not isinstance(value, str):
            raise UsageError(f"{where}: {key} must be text or null, not {value!r}")
        if value is not None and len(value) > WORD_LIMITS[key]:
            raise UsageError(
                f"{where}: {key} is {len(value)} characters long; at most {WORD_LIMITS[key]}"
            )
        out[key] = _clean(value, WORD_LIMITS[key], one_line=key != "caption")
    return out


def parse_word_lines(lines: Iterable[str]) -> tuple[list[tuple[str, dict[str, Any]]], list[str]]:
    """`cvgallery set -`: one JSON object a line, {"id": ..., "title": ..., "caption": ...,
    "alt": ...}; a missing field is left as it is, null or "" clears it. Returns the entries
    and one message per line that cannot be used (the others still are)."""
    import json

    entries: list[tuple[str, dict[str, Any]]] = []
    failures: list[str] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"stdin line {number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            failures.append(f"Error: {where}: not JSON ({exc.msg} at char {exc.pos})")
            continue
        if not isinstance(record, dict) or not isinstance(record.get("id"), str):
            failures.append(f'Error: {where}: expected an object with "id" and words')
            continue
        image_id = record.pop("id")
        entries.append((image_id, record))
    return entries, failures


def set_words(
    catalog: Catalog, entries: list[tuple[str, dict[str, Any]]], failures: list[str] | None = None
) -> Report:
    """`cvgallery set`: title, caption and alt text of each (name, words); a name is an id
    or a registered file's name. Unknown images and bad words fail alone."""
    from ..errors import UsageError

    report = Report(failures=list(failures or []))
    changed = 0
    with catalog.transaction():
        for name, words in entries:
            image_id = catalog.images.resolve(name)
            if image_id is None:
                report.failures.append(f"Error: unknown image id: {name!r}")
                continue
            try:
                clean = clean_words(words, shown(image_id))
            except UsageError as exc:
                report.failures.append(f"Error: {exc}")
                continue
            if not clean:
                report.failures.append(f"Error: {shown(image_id)}: no title, caption or alt")
                continue
            catalog.images.set_words(image_id, clean)
            changed += 1
            report.lines.append(f"set {image_id}: {', '.join(sorted(clean))}")
    report.summary = f"set {changed}, failed {len(report.failures)}"
    return report
