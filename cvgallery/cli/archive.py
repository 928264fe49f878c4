"""The old layout's commands: migrate, verify and export-legacy (the front of
cvgallery.commands.archive)."""

from __future__ import annotations

from pathlib import Path

import click

from ..catalog import Catalog
from .plumbing import emit, json_option, progress, root_option


@click.command()
@click.argument("legacy_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Print the plan; write nothing at all.")
@click.option("--copy", is_flag=True, help="Copy files into art/ instead of hard-linking.")
@json_option
@root_option
def migrate(legacy_dir: Path, dry_run: bool, copy: bool, as_json: bool, root: Path) -> None:
    """Import a legacy tree (img/, yes/, no/, thumbs/, t2/, replicate/, pub/, v/, g/, blur/).

    LEGACY_DIR is only read. Safe to rerun or interrupt; ends with a validation of every
    migrated file. Exit 1 if a file could not be migrated or the validation differs.
    """
    from ..commands import archive as archive_commands

    with progress("migrate", as_json or dry_run) as bar:
        report = archive_commands.migrate(
            root, legacy_dir, dry_run=dry_run, copy=copy, on_progress=bar
        )
    emit(report, as_json)


@click.command()
@json_option
@click.option("--fix", is_flag=True, help="Register orphans, drop rows of missing files.")
@click.option(
    "--force",
    is_flag=True,
    help="With --fix: drop rows even of a missing stage folder or over 10% of all rows.",
)
@root_option
def verify(as_json: bool, fix: bool, force: bool, root: Path) -> None:
    """Check the catalog against the disk: missing files, sha256 mismatches, orphans, rows
    breaking the schema's rules. Exit 1 if anything is (still) wrong. Never deletes a file."""
    from ..commands import archive as archive_commands

    with Catalog.open(root) as catalog:
        emit(archive_commands.verify(catalog, fix=fix, force=force), as_json)


@click.command("export-legacy")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Write into a folder that is not empty.")
@json_option
@root_option
def export_legacy_command(directory: Path, force: bool, as_json: bool, root: Path) -> None:
    """Rebuild the legacy layout (img/, yes/, no/, thumbs/, ...) in DIRECTORY from the
    catalog, with hard links where possible: the rollback plan. Existing files are never
    replaced."""
    from ..commands import archive as archive_commands

    with Catalog.open(root) as catalog:
        emit(archive_commands.export_legacy(catalog, directory, force=force), as_json)
