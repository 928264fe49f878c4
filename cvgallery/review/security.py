"""Who may use the review page: the server's own host, its own origin, and its token.

The review page changes cv.db, so no other web page may drive it through the user's
browser. Three checks, on every request under /_review/:

* **Host.** A DNS-rebinding page (``evil.example`` re-pointed at 127.0.0.1) reaches the
  server with its own name in the Host header: only the names this server answers to
  pass (for a loopback bind: 127.0.0.1, localhost, [::1] on its port; for another bind:
  IP literals, the machine's host name and the bound address).
* **Origin.** A cross-site form or fetch carries its page's Origin (or ``null``); when
  the header is there it must be this server's (``http://`` + the request's Host), and
  a POST's ``Sec-Fetch-Site`` must be same-origin.
* **Token.** A random token per server run, embedded in the page: every POST carries it
  in the ``X-Cvgallery-Token`` header, which a cross-site page can neither read nor send
  without a CORS preflight this server never grants. When the server listens on a
  non-loopback address, other machines can reach it, so the page itself (and
  everything under /_review/) needs the token, as Jupyter does: the URL printed at start
  carries ``?token=...``, which sets an HttpOnly SameSite=Strict cookie.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
import socket
from dataclasses import dataclass, field
from http.cookies import CookieError, SimpleCookie
from urllib.parse import urlsplit

from ..serve import Request

TOKEN_HEADER = "X-Cvgallery-Token"
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
SAFE_FETCH_SITES = ("same-origin", "none")


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps the server to this machine."""
    name = host.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def is_ip_literal(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def split_host(value: str | None) -> tuple[str, int] | None:
    """``Host`` (or an origin's netloc) as (lower-case name without brackets, port);
    None when malformed. No port means 80, as HTTP has it."""
    if not value or any(c in value for c in "/?#@ \t\\"):
        return None
    try:
        parts = urlsplit(f"//{value}")
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname:
        return None
    return parts.hostname.lower(), 80 if port is None else port


@dataclass
class Guard:
    """The checks of one server run: its ``port``, the host ``names`` it answers to
    (``any_ip``: every IP literal too), whether the page needs the ``token``."""

    port: int
    names: frozenset[str]
    any_ip: bool = False
    require_token: bool = False
    token: str = field(default_factory=lambda: secrets.token_urlsafe(32))

    @classmethod
    def for_address(cls, host: str, port: int, require_token: bool | None = None) -> Guard:
        """The guard of a server bound to ``host:port``; the token is required unless the
        address is a loopback one (``require_token`` overrides that, for tests)."""
        bound = host.strip("[]").lower()
        if is_loopback(bound):
            names = LOOPBACK_NAMES | {bound}
            remote = False
        else:
            machine = socket.gethostname().lower()
            names = LOOPBACK_NAMES | {bound, machine, f"{machine}.local"}
            remote = True
        return cls(
            port=port,
            names=frozenset(names),
            any_ip=remote,
            require_token=remote if require_token is None else require_token,
        )

    @property
    def cookie_name(self) -> str:
        """Cookies ignore ports: two servers on one machine each keep their own."""
        return f"cvgallery-review-{self.port}"

    def host_ok(self, host_header: str | None) -> bool:
        parsed = split_host(host_header)
        if parsed is None or parsed[1] != self.port:
            return False
        name = parsed[0]
        return name in self.names or (self.any_ip and is_ip_literal(name))

    def refusal(self, request: Request) -> str | None:
        """Why ``request`` is refused (Host, Origin, token), or None when it may go on."""
        host = request.headers.get("Host")
        if not self.host_ok(host):
            return f"Host {host!r} is not this server's; open the address serve printed"
        origin = request.headers.get("Origin")
        if origin is not None and not same_origin(origin, host):
            return f"requests from {origin!r} are not accepted"
        if request.method not in ("GET", "HEAD"):
            site = request.headers.get("Sec-Fetch-Site")
            if site is not None and site not in SAFE_FETCH_SITES:
                return "cross-site requests are not accepted"
            if not self.token_ok(request.headers.get(TOKEN_HEADER)):
                return f"missing or wrong {TOKEN_HEADER} header"
        elif self.require_token and not self.authorised(request):
            return "this review page needs its token: open the URL with ?token= that serve printed"
        return None

    def token_ok(self, value: str | None) -> bool:
        return bool(value) and hmac.compare_digest(str(value).encode(), self.token.encode())

    def authorised(self, request: Request) -> bool:
        """The token came as the header, the cookie or ``?token=``."""
        candidates = [request.headers.get(TOKEN_HEADER), self.cookie(request)]
        candidates += request.query.get("token", [])
        return any(self.token_ok(value) for value in candidates)

    def cookie(self, request: Request) -> str | None:
        jar: SimpleCookie = SimpleCookie()
        for header in request.headers.get_all("Cookie") or []:
            try:
                jar.load(header)
            except CookieError:
                continue
        morsel = jar.get(self.cookie_name)
        return None if morsel is None else morsel.value

    def set_cookie(self) -> str:
        """The Set-Cookie header value that keeps the token for the review pages."""
        return f"{self.cookie_name}={self.token}; Path=/_review/; HttpOnly; SameSite=Strict"

    def page_url(self, base_url: str) -> str:
        """The address to open: with the token when the page needs it."""
        url = base_url.rstrip("/") + "/_review/"
        return f"{url}?token={self.token}" if self.require_token else url


def same_origin(origin: str, host_header: str | None) -> bool:
    """``origin`` is ``http://`` + the request's own Host (same name and port)."""
    try:
        parts = urlsplit(origin)
    except ValueError:
        return False
    if parts.scheme != "http" or parts.path or parts.query:
        return False
    mine = split_host(host_header)
    return mine is not None and split_host(parts.netloc) == mine
