"""The site's commands: build, serve and publish (the front of cvgallery.commands.site)."""

from __future__ import annotations

from pathlib import Path

import click

from ..catalog import Catalog
from .plumbing import emit, json_option, progress, root_option, say

output_option = click.option(
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Output folder (default: art/gallery-html/).",
)


@click.command()
@output_option
@click.option(
    "--base-url", default=None, help="Absolute URL of the site, for the feed and sitemap."
)
@click.option(
    "--no-process",
    is_flag=True,
    help="Render the catalog as it is: no registering, processing or blurhash filling.",
)
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=1),
    default=None,
    help="Processes rendering a full build (default: one per core, for large sites).",
)
@json_option
@root_option
def build(
    output: Path | None,
    base_url: str | None,
    no_process: bool,
    jobs: int | None,
    as_json: bool,
    root: Path,
) -> None:
    """Render the gallery: approved images through the theme into a static site."""
    from ..commands import site as site_commands

    with Catalog.open(root) as catalog:
        report = site_commands.build(
            catalog,
            output,
            base_url=base_url,
            update=not no_process,
            jobs=jobs,
            sink=None if as_json else say,
        )
    emit(report, as_json)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to bind.")
@output_option
@click.option("--no-process", is_flag=True, help="Build without processing first.")
@root_option
def serve(host: str, port: int, output: Path | None, no_process: bool, root: Path) -> None:
    """Build, serve the output with live reload and rebuild when the site or catalog changes.

    --port 0 picks a free port; the address really listened on is printed."""
    from ..review import mount
    from ..serve import Preview
    from ..serve import serve as serve_site

    def setup(preview: Preview) -> None:
        mount(preview, root, say=say)

    try:
        serve_site(
            root,
            host=host,
            port=port,
            output=output,
            process=not no_process,
            say=say,
            setup=setup,
        )
    except KeyboardInterrupt:
        say("stopped")


@click.command()
@click.argument("target", required=False)
@click.option(
    "--dry-run", is_flag=True, help="Print the plan (with --json every path); change nothing."
)
@click.option(
    "--max-deletes",
    type=click.IntRange(min=-1),
    default=None,
    help="Refuse when the plan deletes more (default: [publish] max_deletes, 256; -1: no limit).",
)
@click.option("--force", is_flag=True, help="Publish into a non-empty target with no manifest.")
@click.option("--no-build", is_flag=True, help="Publish the output as it is, without building.")
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=1),
    default=8,
    show_default=True,
    help="Uploads at once.",
)
@json_option
@root_option
def publish(
    target: str | None,
    dry_run: bool,
    max_deletes: int | None,
    force: bool,
    no_build: bool,
    jobs: int,
    as_json: bool,
    root: Path,
) -> None:
    """Make TARGET (a folder, or s3://BUCKET[/PREFIX]) equal to the built site: new files
    first, entry pages last, deletions after; only what changed is sent. TARGET defaults
    to [publish] target in site.toml."""
    from ..commands import site as site_commands

    with Catalog.open(root) as catalog, progress("publish", as_json) as bar:
        report = site_commands.publish(
            catalog,
            target,
            dry_run=dry_run,
            max_deletes=max_deletes,
            force=force,
            build_first=not no_build,
            jobs=jobs,
            sink=None if as_json else say,
            on_progress=lambda files, total, _b, _bt: bar(files, total),
        )
    emit(report, as_json)
