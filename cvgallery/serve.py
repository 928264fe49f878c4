"""`cvgallery serve`: build, serve the output folder only, rebuild and reload on change.

As in mkdocs' serve, the watcher only notices changes; the builder does the work and
livereload tells the browser to reload. Only the output folder is served: cv.db, art/
and site.toml are outside it and cannot be reached. It binds to 127.0.0.1 by default.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Callable
from pathlib import Path

from .catalog import Catalog
from .config import CONFIG_NAME, DB_NAME, load_config
from .errors import CvgalleryError, UsageError


def check_port(host: str, port: int) -> None:
    """Fail early, with a clear message, when the address cannot be bound."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise UsageError(f"cannot serve on {host}: {exc.strerror}") from exc
    family, kind, proto, _name, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as tornado binds
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise UsageError(
                    f"port {port} on {host} is already in use; pick another with --port"
                ) from exc
            raise UsageError(f"cannot serve on {host}:{port}: {exc.strerror}") from exc


def watched_paths(root: Path) -> list[Path]:
    """site.toml, content/, the site's themes/, the catalog (cv.db and its WAL) and the
    folders new originals are dropped into."""
    from .site.theme import builtin_themes_dir

    config = load_config(root)
    paths = [root / CONFIG_NAME, root / "content", root / "themes", root / DB_NAME]
    paths.append(root / f"{DB_NAME}-wal")
    paths += [config.art_dir / "upstream", config.art_dir / "video-sources"]
    try:
        paths.append(builtin_themes_dir())
    except CvgalleryError:
        pass
    return paths


def make_builder(
    root: Path,
    output: Path | None,
    say: Callable[[str], None],
    process: bool,
) -> Callable[[], bool]:
    """One build; errors are reported and the previous site keeps being served."""
    from .commands.site import build

    def rebuild() -> bool:
        try:
            with Catalog.open(root) as catalog:
                report = build(catalog, output, update=process, sink=say)
        except CvgalleryError as exc:
            say(f"Error: {exc}")
            return False
        for failure in report.failures:  # as `cvgallery build` reports them
            say(failure)
        say(report.line())
        return True

    return rebuild


def serve(
    root: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    output: Path | None = None,
    process: bool = True,
    say: Callable[[str], None] = print,
) -> None:
    """Build once, then serve until interrupted. Rebuilds render the catalog as it is."""
    from livereload import Server

    from .site import default_output

    check_port(host, port)
    config = load_config(root)
    if output is None:
        output = default_output(config)
    output = output.resolve()
    if not make_builder(root, output, say, process)():
        if not output.is_dir():
            raise UsageError("the first build failed; nothing to serve")
    # A rebuild processes too, so an image approved meanwhile gets its web copy and shows
    # up. Its own writes to cv.db wake the watcher once more; that build finds nothing
    # to do, writes nothing, and the loop ends.
    rebuild = make_builder(root, output, say, process)
    server = Server()
    for path in watched_paths(root):
        server.watch(str(path), rebuild, delay=0.2)
    say(f"serving {output} at http://{host}:{port}/ (Ctrl+C to stop)")
    server.serve(host=host, port=port, root=str(output), open_url_delay=None)
