"""The fake GitLab's HTTP layer: routing, auth, rate limit, pagination, errors and time formats.

- auth with `PRIVATE-TOKEN: <t>` or `Authorization: Bearer <t>`; a wrong token is a 401
  `{"message": "401 Unauthorized"}`; a token without `api` (or `sudo`) gets a 403 `insufficient_scope`
  on writes;
- offset pagination (`page`/`per_page`, default 20, max 100 or `knobs.page_size`) with `x-page`,
  `x-per-page`, `x-total`, `x-total-pages`, `x-next-page`, `x-prev-page` and `Link`; keyset pagination
  (a `Link: rel="next"` with `id_after`, no totals);
- `RateLimit-Limit/-Name/-Observed/-Remaining/-Reset` on every answer, or only on a 429 with
  `fake.rate_headers_always = False` (a fixed window per token; past the limit a 429 with
  `Retry-After` and `RateLimit-ResetTime`; `fake.throttled` counts those 429s).

Group and project ids may be given as numbers or URL-encoded full paths (`acme%2Fplatform`): the
router splits the raw request URI before decoding, as GitLab does.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import math
import time
from collections.abc import Callable
from datetime import datetime, timezone
from email.utils import formatdate
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlencode

from flask import Flask, Response, request

if TYPE_CHECKING:
    from nhitui.sandbox.gitlab.fake import GitLabFake

Handler = Callable[..., Any]
Route = Callable[[str, str], Callable[[Handler], Handler]]


class Abort(Exception):
    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}


def not_found(what: str = "Not found") -> Abort:
    return Abort(404, {"message": f"404 {what}"})


def forbidden() -> Abort:
    return Abort(403, {"message": "403 Forbidden"})


def ts(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + \
        f"{value.microsecond // 1000:03d}Z"


def date(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(timezone.utc).strftime("%Y-%m-%d")


def midnight(value: datetime | None) -> datetime | None:
    """GitLab stores token expiry as a date: what a client reads back is midnight UTC."""
    if value is None:
        return None
    return datetime(value.year, value.month, value.day, tzinfo=timezone.utc)


def as_json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    resp = Response(json.dumps(body), status=status, mimetype="application/json")
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


def build_app(fake: GitLabFake, register: Callable[[Route], None]) -> Flask:
    """A Flask app whose /api/v4 routes are those `register` declares with `route(method, pattern)`."""
    app = Flask("nhitui-fake-gitlab")
    routes: list[tuple[str, tuple[str, ...], Handler]] = []

    def route(method: str, pattern: str) -> Callable[[Handler], Handler]:
        def deco(fn: Handler) -> Handler:
            routes.append((method, tuple(pattern.strip("/").split("/")), fn))
            return fn
        return deco

    register(route)

    @app.route("/api/v4/<path:_rest>", methods=["GET", "POST", "PUT", "DELETE"])
    def dispatch(_rest: str) -> Response:
        return _dispatch(fake, routes)

    @app.route("/", defaults={"_rest": ""})
    @app.route("/<path:_rest>")
    def elsewhere(_rest: str) -> Response:
        return as_json(404, {"message": "404 Not Found"})

    return app


def _dispatch(fake: GitLabFake, routes: list[tuple[str, tuple[str, ...], Handler]]) -> Response:
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or request.path
    raw_path = raw.split("?", 1)[0]
    segments = [unquote(s) for s in raw_path[len("/api/v4/"):].strip("/").split("/")]
    path = "/" + "/".join(segments)
    rate_headers: dict[str, str] = {}
    token = request.headers.get("PRIVATE-TOKEN") or ""
    auth = request.headers.get("Authorization", "")
    if not token and auth.lower().startswith("bearer "):
        token = auth[7:].strip()
    try:
        with fake.lock:
            caller = fake.authenticate(token)
            rate_headers = _rate(fake, token)
            if fake.deny and any(path.startswith(d) or fnmatch.fnmatchcase(path, d) for d in fake.deny):
                raise forbidden()
            if request.method != "GET" and not caller["write"]:
                raise Abort(403, {"error": "insufficient_scope",
                                  "error_description": "The request requires higher privileges than "
                                                       "provided by the access token.", "scope": "api"})
            for method, pattern, fn in routes:
                if method != request.method or len(pattern) != len(segments):
                    continue
                args = []
                for want, got in zip(pattern, segments):
                    if want.startswith("{"):
                        args.append(got)
                    elif want != got:
                        break
                else:
                    result = fn(caller, *args)
                    break
            else:
                raise Abort(404, {"error": "404 Not Found"})
    except Abort as abort:
        return as_json(abort.status, abort.body, {**rate_headers, **abort.headers})
    if isinstance(result, Response):
        resp = result
    elif result is None:
        resp = Response(status=204)
    else:
        resp = as_json(200, result)
    for k, v in rate_headers.items():
        resp.headers[k] = v
    return resp


def _rate(fake: GitLabFake, token: str) -> dict[str, str]:
    now = time.time()
    key = hashlib.sha256(token.encode()).hexdigest()[:16]
    start, used = fake.windows.get(key, (now, 0))
    if now - start >= fake.rate_window:
        start, used = now, 0
    reset = start + fake.rate_window
    limit = fake.rate_limit
    if used >= limit:
        fake.throttled += 1
        wait = max(0.0, reset - now)
        raise Abort(429, {"message": "Retry later"}, {
            "Retry-After": str(max(1, math.ceil(wait))) if wait >= 1 else f"{wait:.2f}",
            "RateLimit-Name": "throttle_authenticated_api", "RateLimit-Limit": str(limit),
            "RateLimit-Observed": str(used), "RateLimit-Remaining": "0",
            "RateLimit-Reset": str(math.ceil(reset)), "RateLimit-ResetTime": formatdate(reset, usegmt=True)})
    used += 1
    fake.windows[key] = (start, used)
    if not fake.rate_headers_always:
        return {}
    return {"RateLimit-Name": "throttle_authenticated_api", "RateLimit-Limit": str(limit),
            "RateLimit-Observed": str(used), "RateLimit-Remaining": str(max(0, limit - used)),
            "RateLimit-Reset": str(math.ceil(reset))}


def page(fake: GitLabFake, items: list[Any]) -> Response:
    """One page of `items` as GitLab's offset pagination answers it (with the fake's loop knobs)."""
    args = request.args
    try:
        per_page = int(args.get("per_page", 20))
        number = int(args.get("page", 1))
    except ValueError as exc:
        raise Abort(400, {"error": "page is invalid"}) from exc
    per_page = max(1, min(per_page, fake.knobs.page_size or 100))
    number = max(1, number)
    total = len(items)
    pages = max(1, math.ceil(total / per_page))
    chunk = items[(number - 1) * per_page: number * per_page]
    base = request.base_url
    params = [(k, v) for k, v in parse_qsl(request.query_string.decode(), keep_blank_values=True)
              if k not in ("page", "per_page")]

    def link(p: int) -> str:
        return base + "?" + urlencode([*params, ("page", str(p)), ("per_page", str(per_page))])

    links = []
    if number < pages:
        links.append(f'<{link(number + 1)}>; rel="next"')
    if number > 1:
        links.append(f'<{link(number - 1)}>; rel="prev"')
    links.append(f'<{link(1)}>; rel="first"')
    links.append(f'<{link(pages)}>; rel="last"')
    nxt = str(number + 1) if number < pages else ""
    if request.path[len("/api/v4"):] in fake.link_loop:
        links, nxt = [f'<{link(number)}>; rel="next"'], str(number)
    elif fake.cycle_next and number == pages > 1:
        links, nxt = [f'<{link(1)}>; rel="next"', *links], "1"
    headers = {"X-Page": str(number), "X-Per-Page": str(per_page), "X-Total": str(total),
               "X-Total-Pages": str(pages), "X-Next-Page": nxt,
               "X-Prev-Page": str(number - 1) if number > 1 else "", "Link": ", ".join(links)}
    return as_json(200, chunk, headers)


def keyset(fake: GitLabFake, items: list[dict[str, Any]]) -> Response:
    args = request.args
    if args.get("order_by", "id") != "id":
        raise Abort(405, {"error": "Keyset pagination is not yet available for this type of request"})
    per_page = max(1, min(int(args.get("per_page", 20)), fake.knobs.page_size or 100))
    after = int(args.get("id_after", 0) or 0)
    rest = [i for i in sorted(items, key=lambda i: i["id"]) if i["id"] > after]
    chunk = rest[:per_page]
    headers = {"X-Per-Page": str(per_page)}
    if len(rest) > per_page:
        params = [(k, v) for k, v in parse_qsl(request.query_string.decode()) if k != "id_after"]
        nxt = request.base_url + "?" + urlencode([*params, ("id_after", str(chunk[-1]["id"]))])
        headers["Link"] = f'<{nxt}>; rel="next"'
    return as_json(200, chunk, headers)
