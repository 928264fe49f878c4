"""The review page of `cvgallery serve`: look at pending pictures, decide with the keyboard.

Mounted at /_review/ on the preview server only (never written into the built site):
:func:`mount` adds the routes (:mod:`.routes`), guarded by :mod:`.security`, with
pictures made on demand by :mod:`.pictures`; the page itself is plain HTML, CSS and JS
in ``static/``. Each decision is written to cv.db at once and asks the preview to
rebuild, so the gallery pages open beside it reload by themselves.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

from ..config import load_config
from ..serve import REVIEW_PREFIX, Preview
from .routes import ReviewRoutes
from .security import TOKEN_HEADER, Guard, is_loopback

__all__ = ["TOKEN_HEADER", "Guard", "ReviewRoutes", "is_loopback", "mount", "review_urls"]


def mount(
    preview: Preview,
    root: Path,
    *,
    say: Callable[[str], None] = print,
    require_token: bool | None = None,
) -> ReviewRoutes:
    """Serve the review page of the site at ``root`` on ``preview`` and print its address.

    The token is required to open the page when the preview listens on a non-loopback
    address (``require_token`` overrides that)."""
    config = load_config(root)
    host, port = preview.server.server_address[:2]
    guard = Guard.for_address(str(host), int(port), require_token)
    routes = ReviewRoutes(config, guard, on_change=preview.request_rebuild)
    preview.add_route(REVIEW_PREFIX, routes)
    for url in review_urls(str(host), int(port), guard):
        say(f"review page: {url}")
    return routes


def review_urls(host: str, port: int, guard: Guard) -> list[str]:
    """Where to open the page: for an all-interfaces bind, by this machine's name and by
    127.0.0.1 (the token in both when the page needs it)."""
    if host in ("0.0.0.0", "::"):
        hosts = [socket.gethostname(), "127.0.0.1"]
    else:
        hosts = [f"[{host}]" if ":" in host else host]
    return [guard.page_url(f"http://{name}:{port}") for name in hosts]
