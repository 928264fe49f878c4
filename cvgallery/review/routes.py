"""The review page's HTTP side, mounted at /_review/ on `cvgallery serve`.

GET  /_review/                       the page (HTML, CSS and JS from the package, no build step)
GET  /_review/api/summary?user=      counts per review state, the users
GET  /_review/api/ids?state=&user=   the ids of a filter, newest first (the page's snapshot)
GET  /_review/api/items?state=&user=&offset=&limit=   a page of items; or ?id=A&id=B
GET  /_review/api/dupes?user=&threshold=              near-duplicate groups, as items
GET  /_review/thumb/<id>, /large/<id>                 pictures (see :mod:`.pictures`)
POST /_review/api/decide             {"action": "approve"|"reject", "ids": [...], "reason": ...}
                                     or {"action": "restore", "items": [{id, state, reason}]}

The page keeps its own snapshot of ids (``api/ids``) and asks for their details by id, so
items decided meanwhile neither vanish under the cursor nor shift the pages after them.
Every request passes :class:`.security.Guard` first; each handler opens its own catalog
connection (requests come on many threads; SQLite connections stay in theirs).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib.resources import files
from typing import Any

import jinja2

from ..catalog import Catalog, connect
from ..catalog.images import REVIEW_STATES
from ..config import SiteConfig
from ..errors import CvgalleryError
from ..perceptual import DEFAULT_THRESHOLD
from ..serve import REVIEW_PREFIX, Request, Response
from .pictures import Picture, Pictures
from .security import TOKEN_HEADER, Guard

JSON_TYPE = "application/json; charset=utf-8"
STATIC = {"review.js": "text/javascript; charset=utf-8", "review.css": "text/css; charset=utf-8"}
MAX_PAGE = 1000
MAX_IDS = 50_000
MAX_REASON = 500
# The page runs its own script and styles only, and no other page may frame it (a framed
# review page could be fed keystrokes).
PAGE_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
COMMON_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


class BadRequest(Exception):
    """A request the page would never send: answered 400 with the reason."""


class ReviewRoutes:
    """The handler of everything under /_review/ (one instance per server run)."""

    def __init__(
        self,
        config: SiteConfig,
        guard: Guard,
        *,
        on_change: Callable[[], None] = lambda: None,
    ):
        self.config = config
        self.guard = guard
        self.on_change = on_change
        self.pictures = Pictures(config.root)
        static = files("cvgallery.review") / "static"
        self.assets = {name: (static / name).read_bytes() for name in STATIC}
        self.template = jinja2.Template(
            (static / "review.html").read_text("utf-8"), autoescape=True
        )

    @contextmanager
    def catalog(self) -> Iterator[Catalog]:
        with Catalog(self.config, connect(self.config.db_path)) as catalog:
            yield catalog

    def __call__(self, request: Request) -> Response:
        refusal = self.guard.refusal(request)
        if refusal is not None:
            return text(403, f"Forbidden: {refusal}\n")
        if request.path == REVIEW_PREFIX.rstrip("/"):
            return Response(status=308, headers={"Location": REVIEW_PREFIX}, live_reload=False)
        rest = request.path[len(REVIEW_PREFIX) :]
        try:
            if request.method == "POST":
                if rest == "api/decide":
                    return self.decide(request)
                return text(404, "Not found\n")
            if request.method not in ("GET", "HEAD"):
                return text(405, "Method not allowed\n", {"Allow": "GET, HEAD, POST"})
            return self.get(request, rest)
        except BadRequest as exc:
            return as_json({"error": str(exc)}, 400)
        except CvgalleryError as exc:
            return as_json({"error": str(exc)}, 503)

    def get(self, request: Request, rest: str) -> Response:
        if rest == "":
            return self.page(request)
        if rest.startswith("static/") and rest[7:] in STATIC:
            name = rest[7:]
            return Response(
                body=self.assets[name],
                content_type=STATIC[name],
                headers={**COMMON_HEADERS, "Cache-Control": "no-cache"},
                live_reload=False,
            )
        for kind in ("thumb/", "large/"):
            if rest.startswith(kind) and len(rest) > len(kind):
                return self.picture(request, kind[:-1], rest[len(kind) :])
        api = {
            "api/summary": self.summary,
            "api/ids": self.ids,
            "api/items": self.items,
            "api/dupes": self.dupes,
        }.get(rest)
        if api is None:
            return text(404, "Not found\n")
        return api(request)

    # -- the page -------------------------------------------------------------------------

    def page(self, request: Request) -> Response:
        headers = {**COMMON_HEADERS, "Content-Security-Policy": PAGE_POLICY}
        if self.guard.require_token and request.query.get("token"):
            # the printed URL (the guard checked its token): keep it in a cookie, and out
            # of the address bar and the history
            headers.update({"Set-Cookie": self.guard.set_cookie(), "Location": REVIEW_PREFIX})
            return Response(
                status=303, headers=headers, content_type="text/plain", live_reload=False
            )
        html = self.template.render(
            title=self.config.title,
            token=self.guard.token,
            token_header=TOKEN_HEADER,
            threshold=DEFAULT_THRESHOLD,
        )
        return Response(body=html.encode(), headers=headers, live_reload=False)

    # -- reading ----------------------------------------------------------------------------

    def summary(self, request: Request) -> Response:
        user = one(request, "user")
        with self.catalog() as catalog:
            return as_json(
                {"counts": catalog.images.review_counts(user), "users": catalog.images.users()}
            )

    def ids(self, request: Request) -> Response:
        state, user = review_state(request), one(request, "user")
        with self.catalog() as catalog:
            return as_json({"ids": catalog.images.listing_ids(state, user)})

    def items(self, request: Request) -> Response:
        wanted = request.query.get("id")
        with self.catalog() as catalog:
            if wanted:
                if len(wanted) > MAX_PAGE:
                    raise BadRequest(f"at most {MAX_PAGE} ids at once")
                rows = catalog.images.listing_rows(wanted)
                return as_json({"items": [item_json(r) for r in rows]})
            state, user = review_state(request), one(request, "user")
            offset = number(request, "offset", 0, 0, 1 << 40)
            limit = number(request, "limit", 200, 1, MAX_PAGE)
            rows = catalog.images.listing(state, user, limit=limit, offset=offset)
            total = catalog.images.review_counts(user)[state or "all"]
        return as_json({"items": [item_json(r) for r in rows], "offset": offset, "total": total})

    def dupes(self, request: Request) -> Response:
        from ..dupes import find_groups

        user = one(request, "user")
        threshold = number(request, "threshold", DEFAULT_THRESHOLD, 0, 32)
        with self.catalog() as catalog:
            report = find_groups(catalog, threshold)
            rows = catalog.images.listing_rows([i for group in report.groups for i in group])
        by_id = {str(r["id"]): r for r in rows}
        groups = []
        for group in report.groups:
            members = [by_id[i] for i in group if i in by_id]
            if len(members) < 2 or (
                user is not None and all(m["username"] != user for m in members)
            ):
                continue
            # the largest, heaviest copy first: usually the one to keep
            members.sort(
                key=lambda r: (-(r["width"] or 0) * (r["height"] or 0), -(r["file_size"] or 0))
            )
            groups.append([item_json(m) for m in members])
        return as_json(
            {
                "groups": groups,
                "threshold": threshold,
                "hashed": report.hashed,
                "failed": [{"id": i, "error": e} for i, e in report.failed],
            }
        )

    def picture(self, request: Request, kind: str, image_id: str) -> Response:
        with self.catalog() as catalog:
            row = catalog.images.find(image_id)
            if row is None:
                return text(404, "Not found\n")
            made: Picture = (
                self.pictures.thumbnail(catalog, row)
                if kind == "thumb"
                else self.pictures.large(catalog, row)
            )
        etag = f'"{made.etag}"'
        headers = {**COMMON_HEADERS, "ETag": etag, "Cache-Control": "private, max-age=3600"}
        if request.headers.get("If-None-Match") == etag:
            return Response(status=304, headers=headers, content_type=made.content_type)
        return Response(body=made.body, content_type=made.content_type, headers=headers)

    # -- deciding ---------------------------------------------------------------------------

    def decide(self, request: Request) -> Response:
        """One decision, written at once with the rules of `approve` and `reject`; the answer
        carries each image's previous state (for undo) and its new one."""
        payload = json_body(request)
        action = payload.get("action")
        with self.catalog() as catalog:
            if action in ("approve", "reject"):
                ids = id_list(payload.get("ids"))
                reason = clean_reason(payload.get("reason"))
                with catalog.transaction():
                    previous = states(catalog, ids)
                    if action == "approve":
                        result = catalog.images.approve(ids)
                    else:
                        result = catalog.images.reject(ids, reason)
                changed, unknown = result.changed, result.unknown
            elif action == "restore":
                wanted = restore_list(payload.get("items"))
                with catalog.transaction():
                    previous = states(catalog, [i for i, _s, _r in wanted])
                    changed, unknown = [], []
                    for image_id, state, earlier_reason in wanted:
                        done = catalog.images.set_state(image_id, state, earlier_reason)
                        (changed if done else unknown).append(image_id)
            else:
                raise BadRequest("action must be approve, reject or restore")
            rows = catalog.images.listing_rows(changed)
        if changed:
            self.on_change()  # the preview rebuilds; open gallery pages reload
        return as_json(
            {
                "changed": changed,
                "unknown": unknown,
                "previous": [p for p in previous if p["id"] in changed],
                "items": [item_json(r) for r in rows],
            }
        )


# -- helpers --------------------------------------------------------------------------------


def item_json(row: sqlite3.Row) -> dict[str, Any]:
    """What the page shows of an image; a source URL only when it is http(s)."""
    url = row["original_url"]
    if not (isinstance(url, str) and url.lower().startswith(("http://", "https://"))):
        url = None
    return {
        "id": row["id"],
        "user": row["username"],
        "url": url,
        "width": row["width"],
        "height": row["height"],
        "size": row["file_size"],
        "mime": row["mime_type"],
        "video": str(row["mime_type"] or "").startswith("video/"),
        "created": row["created_at"],
        "state": state_of(row),
        "reason": row["rejection_reason"] if row["rejected"] else None,
    }


def state_of(row: sqlite3.Row) -> str:
    return "approved" if row["approved"] else "rejected" if row["rejected"] else "pending"


def states(catalog: Catalog, ids: list[str]) -> list[dict[str, Any]]:
    found = []
    for image_id in ids:
        row = catalog.images.find(image_id)
        if row is not None:
            reason = row["rejection_reason"] if row["rejected"] else None
            found.append({"id": image_id, "state": state_of(row), "reason": reason})
    return found


def as_json(data: Any, status: int = 200) -> Response:
    body = json.dumps(data, separators=(",", ":")).encode()
    headers = {**COMMON_HEADERS, "Cache-Control": "no-store"}
    return Response(
        status=status, body=body, content_type=JSON_TYPE, headers=headers, live_reload=False
    )


def text(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response(
        status=status,
        body=message.encode(),
        content_type="text/plain; charset=utf-8",
        headers={**COMMON_HEADERS, **(headers or {})},
        live_reload=False,
    )


def one(request: Request, name: str) -> str | None:
    values = request.query.get(name)
    return values[0] if values and values[0] != "" else None


def review_state(request: Request) -> str | None:
    state = one(request, "state")
    if state in (None, "all"):
        return None
    if state not in REVIEW_STATES:
        raise BadRequest(f"state must be one of {', '.join(REVIEW_STATES)} or all, not {state!r}")
    return state


def number(request: Request, name: str, default: int, low: int, high: int) -> int:
    value = one(request, name)
    if value is None:
        return default
    try:
        n = int(value)
    except ValueError:
        raise BadRequest(f"{name} must be a whole number, not {value!r}") from None
    if not low <= n <= high:
        raise BadRequest(f"{name} must be between {low} and {high}, not {n}")
    return n


def json_body(request: Request) -> dict[str, Any]:
    try:
        payload = json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"the body is not JSON ({exc})") from None
    if not isinstance(payload, dict):
        raise BadRequest("the body must be a JSON object")
    return payload


def id_list(value: Any) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(i, str) for i in value):
        raise BadRequest("ids must be a non-empty list of image ids")
    if len(value) > MAX_IDS:
        raise BadRequest(f"at most {MAX_IDS} ids at once")
    return list(dict.fromkeys(value))


def clean_reason(value: Any) -> str:
    """The rejection reason as stored: one line, at most MAX_REASON characters, else manual."""
    if value is None:
        return "manual"
    if not isinstance(value, str):
        raise BadRequest("reason must be text")
    reason = " ".join("".join(c if c.isprintable() else " " for c in value).split())
    return reason[:MAX_REASON] or "manual"


def restore_list(value: Any) -> list[tuple[str, str, str | None]]:
    if not isinstance(value, list) or not value or len(value) > MAX_IDS:
        raise BadRequest("items must be a non-empty list of {id, state, reason}")
    wanted = []
    for entry in value:
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            raise BadRequest("each item needs an id")
        state = entry.get("state")
        if state not in REVIEW_STATES:
            raise BadRequest(f"state must be one of {', '.join(REVIEW_STATES)}, not {state!r}")
        reason = clean_reason(entry.get("reason")) if state == "rejected" else None
        wanted.append((entry["id"], str(state), reason))
    return wanted
