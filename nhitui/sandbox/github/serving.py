"""How the fake answers, before and after any endpoint: GitHub's authentication, rate limits, errors,
pagination and conditional requests.

- `GitHubHTTP` (the fake's base): `respond`/`error`/`not_found`, `page` (`Link` pagination with
  `per_page`, default 30, max 100), the `ETag`/`304` logic (an authorised 304 is not charged to the
  primary rate limit, as on GitHub) and the GHES `/api/v3` prefix.
- `install(app, fake)`: the request gate (401 for a wrong token, 403 with `x-accepted-github-
  permissions` for a denied path or a write with the read-only token, the primary rate limit, the
  random secondary one and, with `fake.secondary = SecondaryLimits(...)`, GitHub's documented
  secondary limits), the response decoration (`x-ratelimit-*`, recording), and the GitHub App
  installation-token endpoint, which verifies the app's JWT with its public key.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from flask import Flask, Response, request
from flask import g as flask_g

from nhitui.sandbox.github.state import iso, public

if TYPE_CHECKING:
    from nhitui.sandbox.github.fake import GitHubFake

MAX_PER_PAGE = 100
DEFAULT_PER_PAGE = 30
DOCS = "https://docs.github.com/rest"
SECONDARY_DOCS = "https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api" \
                 "#about-secondary-rate-limits"
SECONDARY_MESSAGE = ("You have exceeded a secondary rate limit. Please wait a few minutes before you try again. "
                     "If you reach out to GitHub Support for help, please include the request ID {rid}.")


@dataclass
class SecondaryLimits:
    """GitHub's documented secondary limits, enforced by the fake (`fake.secondary = SecondaryLimits()`).

    - concurrent: requests handled at once (GitHub: 100);
    - points: points per endpoint (route) per window, GET = 1, other methods 5 (GitHub: 900 / 60 s);
    - server_seconds: response time (handling plus the knobs' latency) of the requests finished in
      the trailing window (GitHub: 90 s per 60 s);
    - window: the window in seconds (60 on GitHub; tests scale it down with the other numbers);
    - retry_after: what `retry-after` announces; status: 403 (GitHub's usual) or 429.
    A violation answers GitHub's body with `retry-after`; `hits` counts them by limit.
    """

    concurrent: int = 100
    points: float = 900.0
    server_seconds: float = 90.0
    window: float = 60.0
    retry_after: float = 60.0
    status: int = 403
    hits: Counter = field(default_factory=Counter)
    in_flight: int = 0
    done: deque = field(default_factory=deque)          # (finished at, response time)
    spent: dict = field(default_factory=dict)           # route -> deque of (time, points)

    def check(self, route: str, points: float, now: float) -> str | None:
        """Which limit this request would cross (None: it may proceed, and is counted)."""
        edge = now - self.window
        while self.done and self.done[0][0] <= edge:
            self.done.popleft()
        q = self.spent.setdefault(route, deque())
        while q and q[0][0] <= edge:
            q.popleft()
        if self.in_flight >= self.concurrent:
            return "concurrent"
        if sum(p for _, p in q) + points > self.points:
            return "points"
        if sum(rt for _, rt in self.done) > self.server_seconds:
            return "server_time"
        q.append((now, points))
        self.in_flight += 1
        return None

    def finished(self, now: float, response_time: float) -> None:
        self.in_flight = max(0, self.in_flight - 1)
        self.done.append((now, response_time))

# What each endpoint family needs, as GitHub names it in `x-accepted-github-permissions`.
PERMISSIONS = (
    ("/personal-access-token-requests", "organization_personal_access_token_requests=read"),
    ("/personal-access-tokens", "organization_personal_access_tokens=read"),
    ("/credential-authorizations", "organization_administration=read"),
    ("/actions/runner-groups", "organization_self_hosted_runners=read"),
    ("/actions/oidc", "actions=read"),
    ("/dependabot/secrets", "dependabot_secrets=read"),
    ("/codespaces/secrets", "codespaces_secrets=read; organization_codespaces_secrets=read"),
    ("/agents/secrets", "secrets=read; organization_secrets=read"),
    ("/secrets", "secrets=read"),
    ("/actions/runners", "administration=read; organization_self_hosted_runners=read"),
    ("/installations", "organization_administration=read"),
    ("/hooks", "repository_hooks=read; organization_hooks=read"),
    ("/keys", "administration=read"),
    ("/environments", "actions=read"),
    ("/members", "members=read"),
)


_VAR = re.compile(r"<(?:([^>:]+):)?(\w+)>")


def endpoint_of(rule: str, args: dict[str, Any] | None) -> str:
    """GitHub's endpoint of a Flask rule: variables are slots, except an `any(...)` that joins several
    of GitHub's endpoints in one rule (`/repos/<o>/<r>/<any(actions, dependabot):stype>/secrets`)."""
    def slot(m: re.Match[str]) -> str:
        if (m.group(1) or "").startswith("any("):
            return str((args or {}).get(m.group(2), "{}"))
        return "{}"
    return _VAR.sub(slot, rule)


def perm_for(path: str) -> str:
    """What GitHub would name in `x-accepted-github-permissions` for this path."""
    for fragment, perm in PERMISSIONS:
        if fragment in path:
            return perm
    return "metadata=read"


class GitHubHTTP:
    """The HTTP behaviour shared by every endpoint of the fake (state lives in `GitHubFake`)."""

    # Set by GitHubFake.__init__.
    knobs: Any
    ghes: bool
    deny: tuple[str, ...]
    link_loop: set[str]
    link_on_304: bool
    rate_limit: int
    rate_window: float
    not_modified: int
    flask: Flask
    lock: Any
    _used: int
    _window_reset: int
    secondary: SecondaryLimits | None = None     # GitHub's secondary limits (off unless set)

    def _wsgi(self, environ: dict, start_response: Any) -> Any:
        if self.ghes:
            path = environ.get("PATH_INFO", "")
            if path.startswith("/api/v3/") or path == "/api/v3":
                environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + "/api/v3"
                environ["PATH_INFO"] = path[len("/api/v3"):] or "/"
            else:
                body = b'{"message":"Not Found","documentation_url":"https://docs.github.com/enterprise-server/rest"}'
                start_response("404 Not Found", [("Content-Type", "application/json"),
                                                  ("Content-Length", str(len(body)))])
                return [body]
        return self.flask.wsgi_app(environ, start_response)

    def respond(self, data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        body = b"" if status == 204 else json.dumps(data).encode()
        resp = Response(body, status=status, content_type="application/json; charset=utf-8")
        for k, v in (headers or {}).items():
            resp.headers[k] = v
        return resp

    def error(self, status: int, message: str, headers: dict[str, str] | None = None) -> Response:
        return self.respond({"message": message, "documentation_url": DOCS, "status": str(status)}, status, headers)

    def not_found(self) -> Response:
        return self.error(404, "Not Found")

    def page(self, items: list[Any], key: str | None = None, link: bool = True) -> Response:
        max_page = self.knobs.page_size or MAX_PER_PAGE
        try:
            per_page = max(1, min(int(request.args.get("per_page", DEFAULT_PER_PAGE)), max_page, MAX_PER_PAGE))
            page = max(1, int(request.args.get("page", 1)))
        except ValueError:
            return self.error(422, "Validation Failed")
        chunk = [public(i) if isinstance(i, dict) else i for i in items[(page - 1) * per_page: page * per_page]]
        last = max(1, math.ceil(len(items) / per_page))
        headers: dict[str, str] = {}

        def url(n: int) -> str:
            args = dict(request.args.items())
            args["page"] = str(n)
            return f"{request.base_url}?{urlencode(args)}"

        if request.path in self.link_loop:
            headers["Link"] = f'<{request.url}>; rel="next"'
        elif link and last > 1:
            rels = []
            if page < last:
                rels += [f'<{url(page + 1)}>; rel="next"', f'<{url(last)}>; rel="last"']
            if page > 1:
                rels += [f'<{url(1)}>; rel="first"', f'<{url(page - 1)}>; rel="prev"']
            if rels:
                headers["Link"] = ", ".join(rels)
        body: Any = chunk if key is None else {"total_count": len(items), key: chunk}
        return self.respond(body, 200, headers)

    @staticmethod
    def find(items: list[dict] | None, value: Any, key: str = "id") -> dict | None:
        """The stored object of `items` whose `key` is `value`, or None."""
        return next((i for i in items or () if i[key] == value), None)

    def read_or_delete(self, items: list[dict] | None, value: Any) -> Response:
        """GET or DELETE one object of `items` by id: 404 when absent, 204 once deleted."""
        obj = self.find(items, value)
        if obj is None or items is None:
            return self.not_found()
        if request.method == "DELETE":
            with self.lock:
                items.remove(obj)
            return self.respond(None, 204)
        return self.respond(public(obj))

    def _token_of(self) -> str | None:
        auth = request.headers.get("Authorization", "")
        scheme, _, value = auth.partition(" ")
        if scheme.lower() in ("token", "bearer") and value:
            return value.strip()
        return None

    def _rate_headers(self) -> dict[str, str]:
        with self.lock:
            now = time.time()
            if now >= self._window_reset:
                self._used = 0
                self._window_reset = math.ceil(now + self.rate_window)
            return {"x-ratelimit-limit": str(self.rate_limit),
                    "x-ratelimit-remaining": str(max(0, self.rate_limit - self._used)),
                    "x-ratelimit-used": str(self._used), "x-ratelimit-reset": str(self._window_reset),
                    "x-ratelimit-resource": "core"}

    def _conditional(self, resp: Response) -> Response:
        """Tag a 200 GET with an ETag; answer 304 (and refund the rate limit) when the client has it."""
        body = resp.get_data()
        link = resp.headers.get("Link", "")
        tag = 'W/"' + hashlib.sha256(body + b"\n" + link.encode()).hexdigest()[:40] + '"'
        resp.headers["ETag"] = tag
        resp.headers["Vary"] = "Accept, Authorization, Cookie, X-GitHub-OTP"
        asked = request.headers.get("If-None-Match", "")
        if not asked:
            return resp
        wanted = {t.strip().removeprefix("W/") for t in asked.split(",")}
        if "*" not in wanted and tag.removeprefix("W/") not in wanted:
            return resp
        with self.lock:
            self.not_modified += 1
            charged = flask_g.get("charged")
            if charged is not None and charged == self._window_reset and self._used > 0:
                self._used -= 1
        out = Response(b"", status=304)
        for k in ("ETag", "Link", "Vary") if self.link_on_304 else ("ETag", "Vary"):
            if k in resp.headers:
                out.headers[k] = resp.headers[k]
        return out

    def _denied(self, path: str) -> bool:
        for d in self.deny:
            if (d.startswith("/") and path.startswith(d)) or (not d.startswith("/") and d in path):
                return True
        return False


def install(app: Flask, fake: GitHubFake) -> None:
    """The gate and decoration of every request, and the GitHub App token endpoint."""

    @app.before_request
    def gate() -> Response | None:
        path = request.path
        with fake.lock:
            qs = request.query_string.decode()
            fake.requests_log[(request.method, path + ("?" + qs if qs else ""))] += 1
        if path.startswith("/app/"):
            return None  # JWT-authenticated, checked by the handler
        token = fake._token_of()
        valid = token is not None and (token in (fake.token, fake.readonly_token) or token in fake.issued)
        if not valid:
            return fake.error(401, "Bad credentials")
        if token in fake.issued and fake.issued[token] < datetime.now(timezone.utc):
            return fake.error(401, "Bad credentials")
        limits = fake.secondary
        if limits is not None:
            route = endpoint_of(request.url_rule.rule, request.view_args) if request.url_rule is not None else path
            with fake.lock:
                crossed = limits.check(route, 1.0 if request.method == "GET" else 5.0, time.monotonic())
                if crossed is not None:
                    limits.hits[crossed] += 1
            if crossed is not None:
                wait = limits.retry_after
                return fake.respond({"message": SECONDARY_MESSAGE.format(rid=f"F{sum(limits.hits.values())}"),
                                     "documentation_url": SECONDARY_DOCS}, limits.status,
                                    {"retry-after": str(int(wait)) if float(wait).is_integer() else str(wait)})
            flask_g.paced_at = time.monotonic()
        if not fake.ghes:
            with fake.lock:
                now = time.time()
                if now >= fake._window_reset:
                    fake._used = 0
                    fake._window_reset = math.ceil(now + fake.rate_window)
                if fake._used >= fake.rate_limit:
                    return fake.error(403, fake.rate_limit_message)
                fake._used += 1
                flask_g.charged = fake._window_reset
        if fake.secondary_rate and request.method == "GET":
            with fake.lock:
                hit = fake._secondary_rng.random() < fake.secondary_rate
            if hit:
                wait = fake.knobs.retry_after
                return fake.error(403, "You have exceeded a secondary rate limit. Please wait a few minutes "
                                       "before you try again.",
                                  {"Retry-After": str(int(wait)) if float(wait).is_integer() else str(wait)})
        if fake._denied(path):
            return fake.error(403, "Resource not accessible by personal access token",
                              {"x-accepted-github-permissions": perm_for(path)})
        if request.method != "GET" and token == fake.readonly_token:
            return fake.error(403, "Resource not accessible by personal access token",
                              {"x-accepted-github-permissions": perm_for(path).replace("=read", "=write")})
        return None

    @app.teardown_request
    def paced(_exc: Any) -> None:
        started = flask_g.get("paced_at")
        if started is not None and fake.secondary is not None:
            now = time.monotonic()
            with fake.lock:
                fake.secondary.finished(now, now - started + fake.knobs.latency)

    @app.after_request
    def decorate(resp: Response) -> Response:
        if request.method == "GET" and resp.status_code == 200:
            resp = fake._conditional(resp)
        extra = {} if fake.ghes else fake._rate_headers()
        extra["X-GitHub-Api-Version-Selected"] = "2022-11-28"
        have = {k.lower() for k in resp.headers.keys()}      # one pass, not a scan per setdefault
        for k, v in extra.items():
            if k.lower() not in have:
                resp.headers.add(k, v)
        if fake.record and request.url_rule is not None:
            body = resp.get_data()
            fake.recorded.append({"method": request.method.lower(), "path": request.path,
                                  "status": resp.status_code, "body": json.loads(body) if body else None,
                                  "headers": dict(resp.headers)})
        return resp

    @app.errorhandler(404)
    def not_found(_exc: Any) -> Response:
        return fake.not_found()

    @app.errorhandler(405)
    def not_allowed(_exc: Any) -> Response:
        return fake.error(404, "Not Found")

    @app.post("/app/installations/<int:installation_id>/access_tokens")
    def access_token(installation_id: int) -> Response:
        if fake._public_key is None:
            return fake.not_found()
        token = fake._token_of()
        try:
            import jwt

            claims = jwt.decode(token or "", fake._public_key, algorithms=["RS256"], leeway=60,
                                options={"require": ["exp", "iat", "iss"]})
        except Exception:  # noqa: BLE001 - any bad JWT is a 401, as on GitHub
            return fake.error(401, "A JSON web token could not be decoded")
        if str(claims.get("iss")) != str(fake.app_id):
            return fake.error(401, "'Issuer' claim ('iss') must be an Integer")
        if installation_id != fake.installation_id:
            return fake.not_found()
        with fake.lock:
            issued = f"ghs_{hashlib.sha256(f'{fake._n}:{len(fake.issued)}'.encode()).hexdigest()[:36]}"
            expires = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(hours=1)
            fake.issued[issued] = expires
        return fake.respond({"token": issued, "expires_at": iso(expires),
                             "permissions": {"organization_personal_access_tokens": "write",
                                             "organization_administration": "read", "members": "read",
                                             "administration": "write", "secrets": "write"},
                             "repository_selection": "all"}, 201)

    return app
