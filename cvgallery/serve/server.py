"""The preview's HTTP side: the output folder, the reload channel, and added routes.

One thread per connection (stdlib ThreadingHTTPServer), so a long event stream or a slow
client never holds up another request, and no request ever waits for a build: a build
renders into a staging folder and swaps it in with one rename, so whatever a request
opens is a file of one complete build.

Only the output folder is served: a path with ``..``, a hidden name or a symlink that
leads outside the folder is not found; cv.db, art/ and site.toml are never reachable.
``/_cvgallery/`` is the server's own (the reload script and its event stream) and
``/_review/`` is kept for a review page: other code adds handlers with
:meth:`SiteServer.add_route`.
"""

from __future__ import annotations

import email.utils
import errno
import gzip
import mimetypes
import os
import re
import socket
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import BinaryIO
from urllib.parse import parse_qs, unquote, urlsplit

from ..errors import UsageError
from .reload import EVENTS_PATH, SCRIPT, SCRIPT_PATH, ReloadChannel, inject

OWN_PREFIX = "/_cvgallery/"
REVIEW_PREFIX = "/_review/"
#: Prefixes never looked up in the output folder, whether or not a route is added.
RESERVED = (OWN_PREFIX, REVIEW_PREFIX)

COMPRESSIBLE = {
    "text/html",
    "text/css",
    "text/javascript",
    "text/plain",
    "text/xml",
    "application/javascript",
    "application/json",
    "application/manifest+json",
    "application/xml",
    "application/rss+xml",
    "application/atom+xml",
    "image/svg+xml",
}
_TYPES = {
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".json": "application/json",
    ".webmanifest": "application/manifest+json",
    ".svg": "image/svg+xml",
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".xml": "application/xml",
}
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
MAX_BODY = 16 * 1024 * 1024
KEEPALIVE_SECONDS = 15.0


@dataclass
class Request:
    """What a route handler gets: the decoded path, the query, the headers and the body."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: Message
    body: bytes = b""


@dataclass
class Response:
    """What a route handler returns. HTML gets the reload script unless ``live_reload`` is
    False; text types are gzipped for clients that accept it."""

    status: int = 200
    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    live_reload: bool = True


Handler = Callable[[Request], Response]


def content_type(path: str) -> str:
    ext = os.path.splitext(path)[1].lower()
    kind = _TYPES.get(ext) or mimetypes.guess_type(path)[0] or "application/octet-stream"
    if kind.startswith("text/") or (kind in COMPRESSIBLE and kind != "image/svg+xml"):
        return f"{kind}; charset=utf-8"
    return kind


def accepts_gzip(header: str | None) -> bool:
    """Accept-Encoding names gzip (or *) with a non-zero quality."""
    for part in (header or "").split(","):
        name, _, params = part.strip().partition(";")
        if name.strip().lower() not in ("gzip", "x-gzip", "*"):
            continue
        quality = params.strip().lower()
        if quality.startswith("q="):
            try:
                return float(quality[2:]) > 0
            except ValueError:
                return False
        return True
    return False


def bind_error(host: str, port: int, exc: OSError) -> UsageError:
    if exc.errno == errno.EADDRINUSE:
        return UsageError(f"port {port} on {host} is already in use; pick another with --port")
    return UsageError(f"cannot serve on {host}:{port}: {exc.strerror or exc}")


def address_family(host: str, port: int) -> socket.AddressFamily:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise UsageError(f"cannot serve on {host}: {exc.strerror}") from exc
    return infos[0][0]


class SiteServer(ThreadingHTTPServer):
    """Serves ``output`` on ``host:port`` (port 0: a free one); binds at construction."""

    daemon_threads = True  # an open event stream never keeps the process alive

    def __init__(
        self,
        output: Path,
        host: str = "127.0.0.1",
        port: int = 8000,
        *,
        reload: ReloadChannel | None = None,
        on_rebuild_request: Callable[[], None] | None = None,
        say: Callable[[str], None] = print,
    ):
        self.output = output
        self.reload = reload or ReloadChannel()
        self.on_rebuild_request = on_rebuild_request
        self.say = say
        self._routes: dict[str, Handler] = {}
        self._routes_lock = threading.Lock()
        self.address_family = address_family(host, port)
        try:
            super().__init__((host, port), _RequestHandler)
        except OSError as exc:
            raise bind_error(host, port, exc) from exc

    def server_bind(self) -> None:
        # HTTPServer.server_bind also asks DNS for the host's full name; we never use it.
        import socketserver

        socketserver.TCPServer.server_bind(self)
        self.server_name = str(self.server_address[0])
        self.server_port = int(self.server_address[1])

    @property
    def url(self) -> str:
        host = str(self.server_address[0])
        return f"http://{f'[{host}]' if ':' in host else host}:{self.server_port}/"

    @property
    def root(self) -> str:
        """The output folder, symlinks resolved, as served now."""
        return os.path.realpath(self.output)

    def add_route(self, prefix: str, handler: Handler) -> None:
        """Send requests under ``prefix`` (e.g. ``/_review/``) to ``handler``, any method."""
        if not (prefix.startswith("/") and prefix.endswith("/")):
            raise ValueError(f"route prefix must start and end with '/': {prefix!r}")
        if prefix.startswith(OWN_PREFIX):
            raise ValueError(f"{OWN_PREFIX} is the server's own")
        with self._routes_lock:
            self._routes[prefix] = handler

    def route_for(self, path: str) -> Handler | None:
        """The handler of the longest prefix ``path`` starts with (``/_review`` too)."""
        with self._routes_lock:
            for prefix in sorted(self._routes, key=len, reverse=True):
                if path.startswith(prefix) or path == prefix.rstrip("/"):
                    return self._routes[prefix]
        return None

    def request_rebuild(self) -> None:
        if self.on_rebuild_request is not None:
            self.on_rebuild_request()

    def resolve(self, path: str) -> tuple[str | None, bool]:
        """(file to send, False), (None, True) for a folder asked without its slash, or
        (None, False): not found, outside the output, hidden or reserved."""
        if path.startswith(RESERVED) or "\x00" in path or "\\" in path:
            return None, False
        parts = [p for p in path.split("/") if p not in ("", ".")]
        if any(p == ".." or p.startswith(".") for p in parts):
            return None, False
        root = self.root
        real = os.path.realpath(os.path.join(root, *parts))
        if real != root and not real.startswith(root + os.sep):
            return None, False  # a symlink out of the output
        if os.path.isdir(real):
            if not path.endswith("/"):
                return None, True
            real = os.path.join(real, "index.html")
        return (real, False) if os.path.isfile(real) else (None, False)


class _RequestHandler(BaseHTTPRequestHandler):
    server: SiteServer
    protocol_version = "HTTP/1.1"  # keep-alive: every response has a Content-Length
    server_version = "cvgallery-serve"
    timeout = 60  # an idle keep-alive connection frees its thread

    def log_message(self, format: str, *args: object) -> None:
        pass  # one line per picture would drown the build reports

    def do_GET(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        target = urlsplit(self.path)
        try:
            path = unquote(target.path, errors="strict")
        except UnicodeDecodeError:
            return self._error(HTTPStatus.BAD_REQUEST)
        if not path.startswith("/"):
            return self._error(HTTPStatus.BAD_REQUEST)
        if path == SCRIPT_PATH:
            return self._reply(Response(body=SCRIPT.encode(), content_type=content_type(path)))
        if path == EVENTS_PATH:
            since = parse_qs(target.query).get("since", [""])[0]
            return self._events(since)
        handler = self.server.route_for(path)
        if handler is not None:
            return self._route(handler, path, parse_qs(target.query))
        if self.command not in ("GET", "HEAD"):
            return self._error(HTTPStatus.METHOD_NOT_ALLOWED, {"Allow": "GET, HEAD"})
        self._static(path, target.query)

    def _route(self, handler: Handler, path: str, query: dict[str, list[str]]) -> None:
        if self.headers.get("Transfer-Encoding"):
            return self._error(HTTPStatus.LENGTH_REQUIRED)
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            return self._error(HTTPStatus.BAD_REQUEST)
        if length < 0 or length > MAX_BODY:
            return self._error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
        body = self.rfile.read(length) if length else b""
        request = Request(self.command, path, query, self.headers, body)
        try:
            response = handler(request)
        except Exception:  # a broken handler answers 500; the server goes on
            self.server.say(f"Error: {self.command} {path} failed:\n{traceback.format_exc()}")
            return self._error(HTTPStatus.INTERNAL_SERVER_ERROR)
        self._reply(response)

    def _static(self, path: str, query: str) -> None:
        found, redirect = self.server.resolve(path)
        if redirect:
            # one leading slash: "//host/dir" must not become a redirect to another host
            location = "/" + urlsplit(self.path).path.lstrip("/") + "/"
            location += f"?{query}" if query else ""
            return self._reply(
                Response(status=301, headers={"Location": location}, content_type="text/plain")
            )
        if found is None:
            return self._error(HTTPStatus.NOT_FOUND)
        try:
            with open(found, "rb") as fh:  # opened once: a swap meanwhile cannot mix builds
                stat = os.fstat(fh.fileno())
                kind = content_type(found)
                if kind.startswith("text/html"):
                    self._reply(Response(body=fh.read(), content_type=kind))
                    return
                modified = email.utils.formatdate(stat.st_mtime, usegmt=True)
                if self.headers.get("If-Modified-Since") == modified:
                    return self._reply(Response(status=304, content_type=kind))
                headers = {"Last-Modified": modified, "Cache-Control": "no-cache"}
                if kind.split(";")[0] in COMPRESSIBLE:
                    self._reply(Response(body=fh.read(), content_type=kind, headers=headers))
                else:
                    self._send_file(fh, stat.st_size, kind, headers)
        except OSError:
            self._error(HTTPStatus.NOT_FOUND)

    def _send_file(self, fh: BinaryIO, size: int, kind: str, headers: dict[str, str]) -> None:
        """Pictures and videos go out in chunks, never compressed; a video player's Range
        request (one range) gets its part."""
        first, last, status = 0, size - 1, 200
        wanted = _RANGE.fullmatch((self.headers.get("Range") or "").strip())
        if wanted and size and (wanted[1] or wanted[2]):
            if wanted[1]:
                first = int(wanted[1])
                last = min(int(wanted[2]), size - 1) if wanted[2] else size - 1
            else:
                first = max(0, size - int(wanted[2]))
            if first > last:
                return self._error(
                    HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE, {"Content-Range": f"bytes */{size}"}
                )
            status = 206
            headers = {**headers, "Content-Range": f"bytes {first}-{last}/{size}"}
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(last - first + 1))
        self.send_header("Accept-Ranges", "bytes")
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command == "HEAD":
            return
        fh.seek(first)
        left = last - first + 1
        while left > 0:
            chunk = fh.read(min(left, 1 << 16))
            if not chunk:
                break
            self.wfile.write(chunk)
            left -= len(chunk)

    def _reply(self, response: Response) -> None:
        body = response.body
        kind = response.content_type
        headers = dict(response.headers)
        if kind.startswith("text/html"):
            headers.setdefault("Cache-Control", "no-store")  # a reload must fetch it again
            if response.live_reload:
                body = inject(body, self.server.reload.token)
        if kind.split(";")[0].strip() in COMPRESSIBLE and response.status != 304:
            headers["Vary"] = "Accept-Encoding"
            if len(body) > 200 and accepts_gzip(self.headers.get("Accept-Encoding")):
                body = gzip.compress(body, compresslevel=6, mtime=0)
                headers["Content-Encoding"] = "gzip"
        self.send_response(response.status)
        self.send_header("Content-Type", kind)
        if response.status != 304:
            self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD" and response.status != 304:
            self.wfile.write(body)

    def _error(self, status: HTTPStatus, headers: dict[str, str] | None = None) -> None:
        self.close_connection = True  # a body we did not read must not become the next request
        body = f"<!doctype html><title>{status.value} {status.phrase}</title>"
        body += f"<h1>{status.value} {status.phrase}</h1>\n"
        self._reply(Response(status=status.value, body=body.encode(), headers=headers or {}))

    def _events(self, since: str) -> None:
        """The reload stream: ``reload`` once ``since`` is stale, a comment now and then so
        a closed tab is noticed; ends when the server stops."""
        self.close_connection = True
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.end_headers()
        channel = self.server.reload
        try:
            self.wfile.write(b"retry: 1000\n\n")
            self.wfile.flush()
            while not channel.closed:
                if channel.wait_stale(since, KEEPALIVE_SECONDS):
                    self.wfile.write(f"event: reload\ndata: {channel.token}\n\n".encode())
                    self.wfile.flush()
                    return
                self.wfile.write(b": still here\n\n")
                self.wfile.flush()
        except OSError:
            pass  # the page went away (broken pipe, reset, timeout)


def check_port(host: str, port: int) -> None:
    """Fail early, with a clear message, when ``host:port`` cannot be bound."""
    family = address_family(host, port)
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise bind_error(host, port, exc) from exc
