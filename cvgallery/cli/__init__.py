"""The `cvgallery` command: each command parses, calls one function of cvgallery.commands
and prints the Report it returns.

The commands live in one module per group, each the front of the cvgallery.commands module
of the same name (images, processing, site, archive); plumbing.py holds what they share.
Each command imports its cvgallery.commands module only when it runs, so that `--help` or
a no-op `build` does not pay for every command's dependencies.
"""

from __future__ import annotations

import click

from .. import __version__
from . import archive, images, processing, site

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="cvgallery")
def cli() -> None:
    """One SQLite catalog (cv.db) and flat artifact storage (art/<stage>/) for an image
    pipeline, published as a static gallery."""
    from ..notes import install

    install()  # a library's warning is a one-line note, never a raw warning with a path


for command in (
    # the catalog: init, add, review, queries
    images.init,
    images.add,
    images.approve,
    images.reject,
    images.stats,
    images.list_command,
    images.path,
    images.dupes,
    images.set_command,
    images.reread,
    images.ready,
    images.artifact,
    # processing
    processing.jobs,
    processing.process,
    processing.blurhash,
    # the site
    site.build,
    site.serve,
    site.publish,
    # the old layout
    archive.migrate,
    archive.verify,
    archive.export_legacy_command,
):
    cli.add_command(command)


def main() -> None:
    cli(prog_name="cvgallery")
