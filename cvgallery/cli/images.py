"""The catalog's commands: init, add, approve, reject, stats, list, path, dupes, set,
reread, ready and artifact log|sync (the front of cvgallery.commands.images)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..catalog import Catalog
from .plumbing import emit, json_option, nul_option, read_ids, root_option, say


@click.command()
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@root_option(needs_site=False)
def init(directory: Path | None, root: Path) -> None:
    """Create site.toml (if missing), the art/<stage>/ folders and cv.db in DIRECTORY."""
    from ..commands import images as image_commands

    emit(image_commands.init(directory or root))


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--url", help="Source URL recorded as original_url.")
@click.option("--user", help="User name recorded as username.")
@click.option("--approve", is_flag=True, default=None, help="Mark the new images approved.")
@click.option("--link", is_flag=True, help="Hard-link into art/upstream/ instead of copying.")
@root_option
def add(
    paths: tuple[Path, ...],
    url: str | None,
    user: str | None,
    approve: bool | None,
    link: bool,
    root: Path,
) -> None:
    """Register image and video files or folders (recursively) in the catalog.

    The id is the file name without extension; a different picture with a name already
    taken gets <name>-<8 hex of its sha256>. Prints added, duplicate, rejected or skipped
    per file.
    """
    from ..commands import images as image_commands

    with Catalog.open(root) as catalog:
        report = image_commands.add(
            catalog, paths, url=url, user=user, approve=approve, link=link, sink=say
        )
    emit(report)


@click.command()
@click.argument("ids", nargs=-1, required=True)
@root_option
def approve(ids: tuple[str, ...], root: Path) -> None:
    """Approve images (replaces yes/); `-` reads ids from stdin, one per line."""
    from ..commands import images as image_commands

    with Catalog.open(root) as catalog:
        emit(image_commands.review(catalog, read_ids(ids), approve=True))


@click.command()
@click.argument("ids", nargs=-1, required=True)
@click.option("--reason", default="manual", show_default=True, help="Stored as rejection_reason.")
@root_option
def reject(ids: tuple[str, ...], reason: str, root: Path) -> None:
    """Reject images (replaces no/); `-` reads ids from stdin, one per line."""
    from ..commands import images as image_commands

    with Catalog.open(root) as catalog:
        emit(image_commands.review(catalog, read_ids(ids), approve=False, reason=reason))


@click.command()
@json_option
@root_option
def stats(as_json: bool, root: Path) -> None:
    """Images total/approved/rejected/pending, artifacts per stage, jobs per status."""
    from ..commands import images as image_commands

    with Catalog.open(root) as catalog:
        emit(image_commands.stats(catalog), as_json)


@click.command("list")
@click.option("--pending", "state", flag_value="pending", help="Not yet reviewed.")
@click.option("--approved", "state", flag_value="approved", help="Approved.")
@click.option("--rejected", "state", flag_value="rejected", help="Rejected.")
@click.option("--user", help="Only this user's images.")
@click.option("--stage", help="Only images that have an artifact of this stage.")
@json_option
@nul_option
@root_option
def list_command(
    state: str | None, user: str | None, stage: str | None, as_json: bool, nul: bool, root: Path
) -> None:
    """Ids of images (not derived frames or results), newest first, one a line."""
    from ..commands import images as image_commands

    with Catalog.open(root) as catalog:
        emit(image_commands.listing(catalog, state, user, stage, nul), as_json)


@click.command()
@click.argument("image_id", metavar="ID")
@click.argument("stage", default="upstream")
@root_option
def path(image_id: str, stage: str, root: Path) -> None:
    """The file of image ID's STAGE artifact (default: its original)."""
    from ..commands import images as image_commands

    with Catalog.open(root) as catalog:
        emit(image_commands.path(catalog, image_id, stage))


@click.command()
@click.option(
    "--threshold",
    type=click.IntRange(0, 32),
    default=None,
    help="Most bits two hashes may differ by (default 10).",
)
@json_option
@root_option
def dupes(threshold: int | None, as_json: bool, root: Path) -> None:
    """Groups of near-duplicate pictures (resized, recompressed, lightly cropped or
    brightened copies), one group a line; rejected and derived pictures are left out."""
    from ..commands import images as image_commands
    from ..perceptual import DEFAULT_THRESHOLD

    with Catalog.open(root) as catalog:
        limit = DEFAULT_THRESHOLD if threshold is None else threshold
        emit(image_commands.dupes(catalog, limit), as_json)


@click.command("set")
@click.argument("image_id", metavar="ID")
@click.option("--title", help="The picture's title (its page heading; \"\" clears it).")
@click.option("--caption", help="A sentence or two shown under it and in the feed.")
@click.option("--alt", help="Alt text: what the picture shows, for screen readers.")
@root_option
def set_command(
    image_id: str, title: str | None, caption: str | None, alt: str | None, root: Path
) -> None:
    """Set the words shown with a picture. ID `-` reads JSON lines from stdin, one picture a
    line: {"id": "IMG_1043", "title": "...", "caption": "...", "alt": "..."} (a missing
    field is left as it is, null or "" clears it)."""
    from ..commands import images as image_commands
    from ..errors import UsageError

    given = (("title", title), ("caption", caption), ("alt", alt))
    words = {k: v for k, v in given if v is not None}
    with Catalog.open(root) as catalog:
        if image_id == "-":
            if words:
                raise UsageError("set -: the words come from stdin; no --title/--caption/--alt")
            entries, failures = image_commands.parse_word_lines(sys.stdin)
            emit(image_commands.set_words(catalog, entries, failures))
        elif not words:
            raise UsageError("set: give --title, --caption or --alt (or ID - for JSON lines)")
        else:
            emit(image_commands.set_words(catalog, [(image_id, words)]))


@click.command()
@click.argument("ids", metavar="[ID]...", nargs=-1)
@click.option("--all", "all_images", is_flag=True, help="Every image with an original file.")
@click.option(
    "--overwrite",
    is_flag=True,
    help="Replace stored values with the file's (default: fill only what is empty).",
)
@click.option("--dry-run", is_flag=True, help="Say what would change; write nothing.")
@json_option
@root_option
def reread(
    ids: tuple[str, ...],
    all_images: bool,
    overwrite: bool,
    dry_run: bool,
    as_json: bool,
    root: Path,
) -> None:
    """Read title, caption, alt text, capture date and camera line again from the original
    files of ID... (or --all): for images catalogued before `add` read them. Only empty
    fields are filled, so words set with `cvgallery set` stay; `-` reads ids from stdin."""
    from ..commands.reread import reread as reread_images

    with Catalog.open(root) as catalog:
        report = reread_images(
            catalog,
            read_ids(ids),
            all_images=all_images,
            overwrite=overwrite,
            dry_run=dry_run,
            sink=None if as_json else say,
        )
    emit(report, as_json)


@click.command()
@click.argument("input_stage")
@click.argument("output_stage")
@nul_option
@root_option
def ready(input_stage: str, output_stage: str, nul: bool, root: Path) -> None:
    """Ids of approved images with an INPUT_STAGE artifact and no OUTPUT_STAGE one."""
    from ..commands import images as image_commands

    with Catalog.open(root) as catalog:
        emit(image_commands.ready(catalog, input_stage, output_stage, nul))


@click.group()
def artifact() -> None:
    """Record files made outside cvgallery."""


@artifact.command("log")
@click.argument("image_id", metavar="ID")
@click.argument("stage")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--params", help="JSON recorded as processing_params.")
@root_option
def artifact_log(image_id: str, stage: str, path: Path, params: str | None, root: Path) -> None:
    """Record PATH as the STAGE artifact of image ID (linked into art/STAGE/ if elsewhere)."""
    from ..commands import images as image_commands

    with Catalog.open(root) as catalog:
        emit(image_commands.artifact_log(catalog, image_id, stage, path, params))


@artifact.command("sync")
@click.argument("stage")
@click.argument("directory", type=click.Path(path_type=Path))
@root_option
def artifact_sync(stage: str, directory: Path, root: Path) -> None:
    """Record every image file under DIRECTORY as a STAGE artifact (ids from file names)."""
    from ..commands import images as image_commands

    with Catalog.open(root) as catalog:
        emit(image_commands.artifact_sync(catalog, stage, directory))
