"""Live reload: which build a page was served from, and the script that asks for news.

Every HTML page the preview serves carries a token naming the server instance and the
number of builds it has finished (``"<instance>-<generation>"``), injected into the
response only, never into the files on disk. The page's script opens an EventSource on
``/_cvgallery/events?since=<token>``; the server answers ``reload`` at once when the token
is stale, else as soon as the next build finishes. Sending the token along closes the
gap between loading a page and connecting: a build that finished in between still
reloads the page. After a server restart the instance differs, so open pages reload too.

Why Server-Sent Events: one plain HTTP response kept open, no WebSocket library. Why the
script disconnects while its tab is hidden: browsers allow about six HTTP/1.1
connections per host, and every open connection is one fewer for the page's pictures; a
tab that comes back reconnects with its token and reloads if it missed a build.
"""

from __future__ import annotations

import secrets
import threading

SCRIPT_PATH = "/_cvgallery/reload.js"
EVENTS_PATH = "/_cvgallery/events"

SCRIPT = """\
(function () {
  "use strict";
  var me = document.currentScript;
  var since = (me && me.getAttribute("data-build")) || "";
  var source = null;
  function connect() {
    if (source || document.hidden) return;
    source = new EventSource("__EVENTS__?since=" + encodeURIComponent(since));
    source.addEventListener("reload", function () {
      disconnect();
      window.location.reload();
    });
  }
  function disconnect() {
    if (source) source.close();
    source = null;
  }
  document.addEventListener("visibilitychange", function () {
    if (document.hidden) disconnect(); else connect();
  });
  window.addEventListener("pagehide", disconnect);
  window.addEventListener("pageshow", connect);
  window.cvgalleryLiveReload = { build: since, connect: connect, disconnect: disconnect };
  connect();
})();
""".replace("__EVENTS__", EVENTS_PATH)


class ReloadChannel:
    """Counts finished builds and wakes everyone waiting for the next one."""

    def __init__(self) -> None:
        self.instance = secrets.token_hex(4)
        self._generation = 0
        self._closed = False
        self._changed = threading.Condition()

    @property
    def token(self) -> str:
        """What a page served now carries."""
        with self._changed:
            return f"{self.instance}-{self._generation}"

    @property
    def generation(self) -> int:
        with self._changed:
            return self._generation

    def publish(self) -> None:
        """A build finished: every page served before it is stale."""
        with self._changed:
            self._generation += 1
            self._changed.notify_all()

    def close(self) -> None:
        """The server stops: release every waiting event stream."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    @property
    def closed(self) -> bool:
        with self._changed:
            return self._closed

    def is_stale(self, token: str) -> bool:
        with self._changed:
            return self._stale(token)

    def _stale(self, token: str) -> bool:
        instance, _, generation = token.partition("-")
        if instance != self.instance or not generation.isdigit():
            return True
        return int(generation) < self._generation

    def wait_stale(self, token: str, timeout: float) -> bool:
        """True as soon as ``token`` is stale; False after ``timeout`` or when closed."""
        with self._changed:
            self._changed.wait_for(lambda: self._closed or self._stale(token), timeout)
            return not self._closed and self._stale(token)


def inject(html: bytes, token: str) -> bytes:
    """``html`` with the reload script before its last ``</body>`` (or at its end)."""
    tag = f'<script src="{SCRIPT_PATH}" data-build="{token}" defer></script>'.encode("ascii")
    at = html.lower().rfind(b"</body")
    if at < 0:
        return html + tag
    return html[:at] + tag + html[at:]
