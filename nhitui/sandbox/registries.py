"""Fake npm registry, Docker Hub and JFrog Platform token APIs for the sandbox.

Each fake is a stateful Flask app behind `FakeServer` (fault knobs, call counting), seeded from
the `World` with the realistic mess: tokens that never expire, expired ones still listed, stale
(last used 200 days ago) and never-used ones, admin scopes, hostile labels and creators who left.
Every seeded token is recorded with `world.expect(...)` (the ground truth tests compare with).

Each stored token holds a full secret value, one of them the canary `CANARY`: list endpoints
never return it (npm returns only its truncated prefix, like the registry), so a test can prove
no full token reaches an Identity, a log or a report.

Test knobs on every fake: `deny` (path prefixes answering 403 with the provider's body),
`readonly_token` (GET only, 403 on writes), `cycle_next` (the last page links back to an earlier
page), `self_next` (the last page links to itself), `endless_next` (every page, empty ones too, links
to the next),
`oversize_bytes` (the list answers that many bytes, streamed without Content-Length, or
announced with `oversize_declared`). Docker Hub adds `throttle(n, seconds)` (429 with an
`X-Retry-After` Unix timestamp), `X-RateLimit-*` headers, `jwt_ttl` (login lifetime) and
`expire_logins_after` (every login issued so far expires after that many authenticated calls) and
`expire_logins_every` (the same, repeatedly).
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid as uuidlib
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

import jwt
from flask import Flask, Response, jsonify, request

from nhitui.model import sanitize
from nhitui.sandbox.server import FakeServer, Knobs
from nhitui.sandbox.world import World

CANARY = "CANARY-reg-secret-4b2a"


def _iso(dt: datetime | None, millis: bool = False) -> str | None:
    if dt is None:
        return None
    text = dt.astimezone(timezone.utc).isoformat(timespec="milliseconds" if millis else "seconds")
    return text.replace("+00:00", "Z")


def _epoch(dt: datetime | None) -> int | None:
    return None if dt is None else int(dt.timestamp())


class _RegistryFake:
    """Shared plumbing: Flask app, FakeServer, auth, deny list, oversize and cycle knobs."""

    provider = ""
    env_var = ""
    retry_header = "Retry-After"
    list_path = ""

    def __init__(self, world: World, knobs: Knobs | None = None, token: str | None = None,
                 readonly_token: str | None = None, deny: Iterable[str] = ()) -> None:
        self.world = world
        self.knobs = knobs or Knobs()
        self.token = token or f"sandbox-{self.provider}-{world.seed}-write"
        self.readonly_token = readonly_token or f"sandbox-{self.provider}-{world.seed}-readonly"
        self.deny = tuple(deny)
        self.lock = threading.Lock()
        self.rng = world.rng_for(self.provider)
        self.cycle_next = False
        self.self_next = False
        self.endless_next = False
        self.foreign_next: str | None = None  # the last page's next link points here instead
        self.oversize_bytes = 0
        self.oversize_declared = False
        self.app = Flask(f"nhitui-fake-{self.provider}")
        self.app.json.sort_keys = False  # type: ignore[attr-defined]
        self.app.before_request(self._gate)
        self._routes()
        record = not world.expected_for(self.provider)
        self._seed(record)
        self.server = FakeServer(self.app, self._server_knobs(), self.retry_header)

    # --- lifecycle ---------------------------------------------------------------------------

    def _server_knobs(self) -> Knobs:
        return self.knobs

    def start(self) -> _RegistryFake:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self) -> _RegistryFake:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def env(self) -> dict[str, str]:
        return {self.env_var: self.token, f"{self.env_var}_READONLY": self.readonly_token}

    def source(self, name: str, readonly: bool = False) -> dict[str, Any]:
        ref = f"env:{self.env_var}_READONLY" if readonly else f"env:{self.env_var}"
        return {"type": self.provider, "name": name, "token": ref, **self._source_extra()}

    def _source_extra(self) -> dict[str, Any]:
        return {}

    # --- hooks for subclasses ----------------------------------------------------------------

    def _routes(self) -> None:
        raise NotImplementedError

    def _seed(self, record: bool) -> None:
        raise NotImplementedError

    def _error(self, status: int, message: str) -> Response:
        resp = jsonify({"error": message})
        resp.status_code = status
        return resp

    def _auth(self) -> str | None:
        """"write", "read" for a valid credential, None otherwise."""
        header = request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value:
            return None
        if value == self.token:
            return "write"
        if value == self.readonly_token:
            return "read"
        return None

    def _gate(self) -> Response | None:
        path = request.path
        if any(path.startswith(p) for p in self.deny):
            return self._error(403, "Forbidden: this token lacks the permission for this resource")
        if self.oversize_bytes and request.method == "GET" and path == self.list_path:
            return self._oversize()
        return None

    def _check(self, write: bool = False) -> Response | None:
        level = self._auth()
        if level is None:
            return self._error(401, "Unauthorized: bad or expired credentials")
        if write and level != "write":
            return self._error(403, "Forbidden: the token is read-only")
        return None

    def _oversize(self) -> Response:
        total = self.oversize_bytes
        chunk = b" " * 65536

        def body() -> Iterator[bytes]:
            yield b'{"padding": "'
            sent = 0
            while sent < total:
                piece = chunk[: min(len(chunk), total - sent)]
                sent += len(piece)
                yield piece
            yield b'"}'

        resp = Response(body(), mimetype="application/json")
        if self.oversize_declared:
            resp.headers["Content-Length"] = str(total + 15)
        return resp

    def _secret(self, i: int) -> str:
        if i == 1:
            return CANARY
        return f"sbx_{self.provider}_" + hashlib.sha256(f"{self.world.seed}:{self.provider}:{i}".encode()).hexdigest()[:32]

    def _label(self, i: int, plain: str) -> str:
        return self.world.hostile(i + len(self.provider)) if i % 4 == 2 else plain


# ======================================================================================= npm


class NpmFake(_RegistryFake):
    """`GET /-/npm/v1/tokens` ({objects, total, urls.next}), `DELETE /-/npm/v1/tokens/token/{key}`."""

    provider = "npm"
    env_var = "NHITUI_SANDBOX_NPM_TOKEN"
    list_path = "/-/npm/v1/tokens"
    default_page = 10

    def _error(self, status: int, message: str) -> Response:
        code = {401: "E401", 403: "E403", 404: "E404"}.get(status, f"E{status}")
        resp = jsonify({"code": code, "error": message, "message": message})
        resp.status_code = status
        if status == 401:
            resp.headers["WWW-Authenticate"] = 'Bearer realm="npm"'
        return resp

    def _source_extra(self) -> dict[str, Any]:
        return {"registry": self.url}

    def _seed(self, record: bool) -> None:
        w = self.world
        self.user = f"{w.org}-release"
        self.tokens: dict[str, dict[str, Any]] = {}
        self.order: list[str] = []
        services = ("api", "web", "billing", "payments", "auth", "search")
        for i in range(w.registry_tokens):
            p = i % 6
            secret = self._secret(i)
            key = hashlib.sha512(secret.encode()).hexdigest()
            name: str | None = None
            readonly, cidr, expires, automation = False, None, None, False
            findings: set[str] = set()
            if p == 0:
                created, name = w.days_ago(400 + i), f"ci-publish-{services[i // 6 % 6]}-{i}"
                findings.add("old-rotation")
            elif p == 1:
                created, readonly, cidr = w.days_ago(10), True, ["10.0.0.0/8", "192.168.0.1/24"]
            elif p == 2:
                created, name = w.days_ago(200), w.hostile(i)
            elif p == 3:
                created, name, expires = w.days_ago(20), f"granular-{services[i % 6]}", w.days_ahead(30)
            elif p == 4:
                created, name, readonly, expires = w.days_ago(60), f"docs-read-{i}", True, w.days_ago(5)
                findings.add("expired-present")
            else:
                created, automation = w.days_ago(800), True
                findings.add("old-rotation")
            obj = {"key": key, "secret": secret, "readonly": readonly, "cidr_whitelist": cidr,
                   "created": _iso(created, millis=True), "updated": _iso(created, millis=True)}
            if name is not None:
                obj["name"] = name
            if expires is not None:
                obj["expires"] = _iso(expires, millis=True)
            if automation:
                obj["automation"] = True
            self.tokens[key] = obj
            self.order.append(key)
            if record:
                status = "expired" if expires is not None and expires <= w.now else "active"
                scopes = ("read-only",) if readonly else ("publish",)
                if automation:
                    scopes += ("automation",)
                shown = name if name is not None else secret[:6] + "…"
                w.expect("npm", "npm_token", key, findings=findings, name=sanitize(shown), owner=self.user,
                         privilege="read" if readonly else "write", status=status, created_at=created,
                         expires_at=expires, last_used_at=None, scopes=scopes, usage_tracked=False,
                         credential="static")

    def _public(self, obj: dict[str, Any]) -> dict[str, Any]:
        out = {"token": obj["secret"][:6], "key": obj["key"], "cidr_whitelist": obj["cidr_whitelist"],
               "readonly": obj["readonly"], "created": obj["created"], "updated": obj["updated"]}
        for k in ("name", "expires", "automation"):
            if k in obj:
                out[k] = obj[k]
        return out

    def _routes(self) -> None:
        app = self.app

        @app.get("/-/whoami")
        def whoami() -> Any:
            if (denied := self._check()) is not None:
                return denied
            return jsonify({"username": self.user})

        @app.get("/-/npm/v1/tokens")
        def list_tokens() -> Any:
            if (denied := self._check()) is not None:
                return denied
            size = self.knobs.page_size or self.default_page
            try:
                per_page = max(1, min(int(request.args.get("perPage", size)), size))
                page = max(0, int(request.args.get("page", 0)))
            except ValueError:
                return self._error(400, "bad page")
            with self.lock:
                keys = [k for k in self.order if k in self.tokens]
                chunk = [self._public(self.tokens[k]) for k in keys[page * per_page:(page + 1) * per_page]]
            more = (page + 1) * per_page < len(keys)
            nxt = f"/-/npm/v1/tokens?page={page + 1}&perPage={per_page}" if more else None
            if not more and self.cycle_next and page > 1:
                nxt = f"/-/npm/v1/tokens?page=1&perPage={per_page}"  # back to a page reached by a link
            if not more and self.self_next:
                nxt = f"/-/npm/v1/tokens?page={page}&perPage={per_page}"
            if not more and self.endless_next:
                nxt = f"/-/npm/v1/tokens?page={page + 1}&perPage={per_page}"
            if not more and self.foreign_next:
                nxt = self.foreign_next
            return jsonify({"objects": chunk, "total": len(keys), "urls": {"next": nxt} if nxt else {}})

        @app.delete("/-/npm/v1/tokens/token/<key>")
        def delete_token(key: str) -> Any:
            if (denied := self._check(write=True)) is not None:
                return denied
            with self.lock:
                if key not in self.tokens:
                    return self._error(404, "token not found")
                del self.tokens[key]
            return Response(status=204)


# ================================================================================ Docker Hub


class DockerHubFake(_RegistryFake):
    """Docker Hub "2-beta": JWT login, personal and organization access tokens, org members."""

    provider = "dockerhub"
    env_var = "NHITUI_SANDBOX_DOCKERHUB_TOKEN"
    retry_header = "X-Retry-After"
    list_path = "/v2/access-tokens"
    max_page = 100
    rate_limit = 600

    def __init__(self, world: World, knobs: Knobs | None = None, token: str | None = None,
                 readonly_token: str | None = None, deny: Iterable[str] = ()) -> None:
        self.jwt_ttl = 600.0
        self._key = hashlib.sha256(f"sandbox-dockerhub-signing-{world.seed}".encode()).hexdigest()
        self.expire_logins_after = 0  # >0: after that many authenticated calls, every issued JWT expires
        self.expire_logins_every = 0  # >0: the same, again and again (a long session outliving its JWTs)
        self._authed = 0
        self._throttle_left = 0
        self._throttle_seconds = 1.0
        self._window = (0, 0)  # (window start, requests in window)
        super().__init__(world, knobs, token, readonly_token, deny)
        self.app.after_request(self._rate_headers)

    def _server_knobs(self) -> Knobs:
        return replace(self.knobs, retry_after_style="unix")  # Docker Hub's X-Retry-After is a timestamp

    def _source_extra(self) -> dict[str, Any]:
        return {"api_url": self.url, "username": self.username, "orgs": [self.world.org]}

    def _error(self, status: int, message: str) -> Response:
        resp = jsonify({"detail": message, "message": message})
        resp.status_code = status
        return resp

    def throttle(self, n: int = 1, seconds: float = 1.0) -> None:
        """The next `n` GETs answer 429 with `X-Retry-After: <now + seconds as a Unix timestamp>`."""
        with self.lock:
            self._throttle_left, self._throttle_seconds = n, seconds

    def _gate(self) -> Response | None:
        if request.method == "GET":
            with self.lock:
                throttled = self._throttle_left > 0
                if throttled:
                    self._throttle_left -= 1
            if throttled:
                reset = int(time.time() + self._throttle_seconds + 0.999)
                resp = self._error(429, "Too Many Requests")
                resp.headers["X-Retry-After"] = str(reset)
                resp.headers["X-RateLimit-Limit"] = str(self.rate_limit)
                resp.headers["X-RateLimit-Remaining"] = "0"
                resp.headers["X-RateLimit-Reset"] = str(reset)
                return resp
        return super()._gate()

    def _rate_headers(self, resp: Response) -> Response:
        now = int(time.time())
        with self.lock:
            start, used = self._window
            if now - start >= 60:
                start, used = now, 0
            used += 1
            self._window = (start, used)
        resp.headers.setdefault("X-RateLimit-Limit", str(self.rate_limit))
        resp.headers.setdefault("X-RateLimit-Remaining", str(max(0, self.rate_limit - used)))
        resp.headers.setdefault("X-RateLimit-Reset", str(start + 60))
        return resp

    def _auth(self) -> str | None:
        header = request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() not in ("bearer", "jwt") or not value:
            return None
        try:
            claims = jwt.decode(value, self._key, algorithms=["HS256"])
        except jwt.PyJWTError:
            return None
        with self.lock:
            self._authed += 1
            if (self.expire_logins_after and self._authed >= self.expire_logins_after) or \
                    (self.expire_logins_every and self._authed % self.expire_logins_every == 0):
                self.expire_logins_after = 0
                self._key = hashlib.sha256(self._key.encode()).hexdigest()  # old logins no longer verify
                return None
        return "read" if claims.get("ro") else "write"

    # --- seeding -------------------------------------------------------------------------------

    def _seed(self, record: bool) -> None:
        w = self.world
        self.username = f"{w.org}-ci"
        self.members = {w.org: [*w.members, self.username]}
        self.pats: dict[str, dict[str, Any]] = {}
        self.oats: dict[tuple[str, str], dict[str, Any]] = {}
        n_oat = w.registry_tokens // 3
        n_pat = w.registry_tokens - n_oat
        services = w.repo_names()
        for i in range(n_pat):
            p = i % 8
            tid = str(uuidlib.UUID(int=self.rng.getrandbits(128), version=4))
            label = self._label(i, f"gha-{services[i % len(services)].split('/')[1]}-push")
            active, expires, last_used = True, None, None
            findings: set[str] = set()
            if p == 0:
                scopes, created, last_used = ["repo:admin"], w.days_ago(100), w.days_ago(2)
                findings |= {"admin-scope", "no-expiry"}
            elif p == 1:
                scopes, created, last_used, expires = ["repo:write"], w.days_ago(300), w.days_ago(200), w.days_ahead(60)
                findings.add("stale-unused")
            elif p == 2:
                scopes, created, expires = ["repo:read"], w.days_ago(120), w.days_ahead(200)
                findings.add("never-used")
            elif p == 3:
                scopes, created, last_used, expires = ["repo:write"], w.days_ago(100), w.days_ago(15), w.days_ago(10)
                findings.add("expired-present")
            elif p == 4:
                scopes, created, last_used, expires = ["repo:public_read"], w.days_ago(50), w.days_ago(40), w.days_ahead(100)
                active = False
            elif p == 5:
                scopes, created, last_used = ["repo:write"], w.days_ago(500), w.days_ago(1)
                findings |= {"old-rotation", "no-expiry"}
            elif p == 6:
                scopes, created, expires = ["repo:read"], w.days_ago(5), w.days_ahead(30)
            else:
                scopes, created, last_used, expires = ["repo:admin"], w.days_ago(20), w.days_ago(3), w.days_ahead(80)
                findings.add("admin-scope")
            self.pats[tid] = {
                "uuid": tid, "client_id": "HUB", "creator_ip": f"203.0.113.{10 + i}",
                "creator_ua": self._label(i + 1, "docker-cli/27.0 (linux)") if i % 4 == 1 else "Mozilla/5.0",
                "created_at": _iso(created), "last_used": _iso(last_used), "generated_by": "manual",
                "is_active": active, "token": self._secret(i), "token_label": label, "scopes": scopes,
                "expires_at": _iso(expires),
            }
            if record:
                status = "expired" if expires is not None and expires <= w.now else ("active" if active else "inactive")
                w.expect("dockerhub", "dockerhub_token", tid, findings=findings, name=sanitize(label),
                         owner=self.username, target=self.username, privilege={"repo:admin": "admin",
                         "repo:write": "write"}.get(scopes[0], "read"), status=status, created_at=created,
                         expires_at=expires, last_used_at=last_used, scopes=tuple(scopes), credential="static",
                         usage_tracked=True)
        org = w.org
        for j in range(n_oat):
            q = j % 4
            tid = str(uuidlib.UUID(int=self.rng.getrandbits(128), version=4))
            label = self._label(j + 1, f"{org}-ci-{j}")
            active, expires, last_used = True, None, None
            findings = set()
            if q == 0:
                creator, created, last_used = w.departed[0], w.days_ago(250), w.days_ago(200)
                resources = [{"type": "TYPE_REPO", "path": f"{org}/*", "scopes": ["scope-image-pull", "scope-image-push"]}]
                privilege = "write"
                findings |= {"owner-departed", "no-expiry", "stale-unused"}
            elif q == 1:
                creator, created, last_used, expires = w.members[1], w.days_ago(30), w.days_ago(5), w.days_ahead(90)
                resources = [{"type": "TYPE_REPO", "path": f"{org}/api", "scopes": ["scope-image-pull"]}]
                privilege = "read"
            elif q == 2:
                creator, created, expires = w.members[2], w.days_ago(60), w.days_ahead(300)
                resources = [{"type": "TYPE_REPO", "path": f"{org}/*", "scopes": ["scope-image-delete"]}]
                privilege = "admin"
                findings |= {"admin-scope", "never-used"}
            else:
                creator, created, last_used, expires = w.departed[1], w.days_ago(40), w.days_ago(30), w.days_ahead(100)
                resources = [{"type": "TYPE_REPO", "path": f"{org}/web", "scopes": ["scope-image-pull"]}]
                privilege, active = "read", False
                findings.add("owner-departed")
            self.oats[(org, tid)] = {
                "id": tid, "label": label, "created_by": creator, "is_active": active,
                "created_at": _iso(created), "expires_at": _iso(expires), "last_used_at": _iso(last_used),
                "resources": resources, "token": self._secret(100 + j),
            }
            if record:
                status = "expired" if expires is not None and expires <= w.now else ("active" if active else "inactive")
                scopes = tuple(f"{r['path']}:{s}" for r in resources for s in r["scopes"])
                w.expect("dockerhub", "dockerhub_token", f"{org}/{tid}", findings=findings, name=sanitize(label),
                         owner=creator, target=org, privilege=privilege, status=status, created_at=created,
                         expires_at=expires, last_used_at=last_used, scopes=scopes, credential="static",
                         usage_tracked=True)

    # --- views ---------------------------------------------------------------------------------

    @staticmethod
    def _pat_view(t: dict[str, Any], single: bool = False) -> dict[str, Any]:
        out = {k: v for k, v in t.items() if k != "token"}
        if single:
            out["token"] = ""  # the documented single-token GET carries an empty token field
        return out

    @staticmethod
    def _oat_view(t: dict[str, Any], single: bool = False) -> dict[str, Any]:
        keys = ("id", "label", "created_by", "is_active", "created_at", "expires_at", "last_used_at")
        out = {k: t[k] for k in keys}
        if single:
            out["resources"] = t["resources"]
        return out

    def _page(self, items: list[dict[str, Any]], path: str, count_key: str) -> dict[str, Any]:
        size = min(self.knobs.page_size or self.max_page, self.max_page)
        try:
            page = max(1, int(request.args.get("page", 1)))
            page_size = max(1, min(int(request.args.get("page_size", 10)), size))
        except ValueError:
            return {"_error": True}
        chunk = items[(page - 1) * page_size: page * page_size]
        base = request.host_url.rstrip("/") + path
        more = page * page_size < len(items)
        nxt = f"{base}?page={page + 1}&page_size={page_size}" if more else None
        if not more and self.cycle_next and page > 2:
            nxt = f"{base}?page=2&page_size={page_size}"  # back to a page reached by a link
        if not more and self.self_next:
            nxt = f"{base}?page={page}&page_size={page_size}"
        if not more and self.endless_next:
            nxt = f"{base}?page={page + 1}&page_size={page_size}"
        prev = f"{base}?page={page - 1}&page_size={page_size}" if page > 1 else None
        return {count_key: len(items), "next": nxt, "previous": prev, "results": chunk}

    def _routes(self) -> None:
        app = self.app

        @app.post("/v2/auth/token")
        def login() -> Any:
            body = request.get_json(silent=True) or {}
            identifier, secret = body.get("identifier"), body.get("secret")
            if identifier != self.username or secret not in (self.token, self.readonly_token):
                return self._error(401, "Incorrect authentication credentials")
            now = int(time.time())
            claims = {"sub": self.username, "iat": now, "exp": now + max(1, int(self.jwt_ttl)),
                      "ro": secret == self.readonly_token, "jti": uuidlib.uuid4().hex}
            return jsonify({"access_token": jwt.encode(claims, self._key, algorithm="HS256")})

        @app.get("/v2/access-tokens")
        def list_pats() -> Any:
            if (denied := self._check()) is not None:
                return denied
            with self.lock:
                items = [self._pat_view(t) for t in self.pats.values()]
            out = self._page(items, "/v2/access-tokens", "count")
            if out.get("_error"):
                return self._error(400, "bad page")
            out = {"count": out["count"], "active_count": sum(1 for t in items if t["is_active"]), **out}
            return jsonify(out)

        @app.route("/v2/access-tokens/<tid>", methods=["GET", "PATCH", "DELETE"])
        def one_pat(tid: str) -> Any:
            if (denied := self._check(write=request.method != "GET")) is not None:
                return denied
            with self.lock:
                t = self.pats.get(tid)
                if t is None:
                    return self._error(404, "access token not found")
                if request.method == "DELETE":
                    del self.pats[tid]
                    return Response(status=204)
                if request.method == "PATCH":
                    body = request.get_json(silent=True) or {}
                    if "is_active" in body:
                        if not isinstance(body["is_active"], bool):
                            return self._error(400, "is_active must be a boolean")
                        t["is_active"] = body["is_active"]
                    if isinstance(body.get("token_label"), str):
                        t["token_label"] = body["token_label"]
                    return jsonify(self._pat_view(t))
                return jsonify(self._pat_view(t, single=True))

        @app.get("/v2/orgs/<org>/access-tokens")
        def list_oats(org: str) -> Any:
            if (denied := self._check()) is not None:
                return denied
            if org not in self.members:
                return self._error(404, "organization not found")
            with self.lock:
                items = [self._oat_view(t) for (o, _), t in self.oats.items() if o == org]
            out = self._page(items, f"/v2/orgs/{org}/access-tokens", "total")
            if out.get("_error"):
                return self._error(400, "bad page")
            return jsonify(out)

        @app.route("/v2/orgs/<org>/access-tokens/<tid>", methods=["GET", "PATCH", "DELETE"])
        def one_oat(org: str, tid: str) -> Any:
            if (denied := self._check(write=request.method != "GET")) is not None:
                return denied
            with self.lock:
                t = self.oats.get((org, tid))
                if t is None:
                    return self._error(404, "access token not found")
                if request.method == "DELETE":
                    del self.oats[(org, tid)]
                    return Response(status=204)
                if request.method == "PATCH":
                    body = request.get_json(silent=True) or {}
                    if "is_active" in body:
                        if not isinstance(body["is_active"], bool):
                            return self._error(400, "is_active must be a boolean")
                        t["is_active"] = body["is_active"]
                    if isinstance(body.get("label"), str):
                        t["label"] = body["label"]
                return jsonify(self._oat_view(t, single=True))

        @app.get("/v2/orgs/<org>/members")
        def members(org: str) -> Any:
            if (denied := self._check()) is not None:
                return denied
            if org not in self.members:
                return self._error(404, "organization not found")
            items = [{"id": hashlib.md5(m.encode()).hexdigest()[:12], "username": m, "full_name": m.title(),
                      "role": "Owner" if m == self.username else "Member"} for m in self.members[org]]
            out = self._page(items, f"/v2/orgs/{org}/members", "count")
            if out.get("_error"):
                return self._error(400, "bad page")
            return jsonify(out)


# ===================================================================================== JFrog


class JFrogFake(_RegistryFake):
    """JFrog Access: `GET/DELETE /access/api/v1/tokens`, `GET /access/api/v2/users`."""

    provider = "jfrog"
    env_var = "NHITUI_SANDBOX_JFROG_TOKEN"
    list_path = "/access/api/v1/tokens"

    def _source_extra(self) -> dict[str, Any]:
        return {"url": self.url}

    def _error(self, status: int, message: str) -> Response:
        code = {400: "BAD_REQUEST", 401: "UNAUTHORIZED", 403: "FORBIDDEN", 404: "NOT_FOUND"}.get(status, "ERROR")
        resp = jsonify({"errors": [{"code": code, "message": message}]})
        resp.status_code = status
        return resp

    def _seed(self, record: bool) -> None:
        w = self.world
        # Set to 404 (a platform older than 7.49.3, or a proxy blocking the path), 500...: what
        # `GET /access/api/v2/users` answers instead of the list.
        self.users_status: int | None = None
        self.service_id = f"jfac@01sandbox{w.seed:04d}"
        self.other_instance = "jfac@01otherinstance0000"
        self.users = [*w.members, "admin", "anonymous"]
        self.tokens: dict[str, dict[str, Any]] = {}
        self.revoked: set[str] = set()
        for i in range(w.registry_tokens):
            r = i % 8
            tid = str(uuidlib.UUID(int=self.rng.getrandbits(128), version=4))
            issuer, refreshable, expiry, last_used, has_last_used = self.service_id, False, None, None, True
            findings: set[str] = set()
            desc: str | None = None
            if r == 0:
                user, scope, created, last_used = w.members[0], "applied-permissions/admin", w.days_ago(100), w.days_ago(3)
                desc, privilege = "platform admin automation", "admin"
                findings |= {"admin-scope", "no-expiry"}
            elif r == 1:
                user, scope, created = w.members[1], "applied-permissions/user", w.days_ago(250)
                expiry, last_used, desc, privilege = w.days_ahead(100), w.days_ago(200), f"jenkins-{i}", "write"
                findings.add("stale-unused")
            elif r == 2:
                user, scope, created, has_last_used = w.departed[0], "applied-permissions/user", w.days_ago(50), False
                privilege = "write"
                findings |= {"owner-departed", "no-expiry"}
            elif r == 3:
                user, scope, created = w.members[2], "applied-permissions/user", w.days_ago(100)
                expiry, last_used, desc, privilege = w.days_ago(10), w.days_ago(20), f"old-build-{i}", "write"
                findings.add("expired-present")
            elif r == 4:
                user, scope, created, has_last_used = "", "applied-permissions/groups:readers", w.days_ago(10), False
                expiry, desc, privilege = w.days_ahead(30), "xray pairing", "read"
            elif r == 5:
                user, scope, created, refreshable = w.members[3], "applied-permissions/user", w.days_ago(500), True
                expiry, last_used, desc, privilege = w.days_ahead(200), w.days_ago(10), f"gradle-deploy-{i}", "write"
                findings.add("old-rotation")
            elif r == 6:
                user, scope, created = w.members[4], "applied-permissions/user", w.days_ago(10)
                expiry, last_used, desc, privilege = w.days_ahead(50), w.days_ago(1), w.hostile(i), "write"
            else:
                user, scope, created, issuer = w.members[5], "applied-permissions/user", w.days_ago(20), self.other_instance
                expiry, last_used, desc, privilege = w.days_ahead(60), w.days_ago(2), f"edge-sync-{i}", "write"
            subject = f"{self.service_id}/users/{user}" if user else f"jfrt@01sandbox{w.seed:04d}"
            obj: dict[str, Any] = {"token_id": tid, "subject": subject, "issued_at": _epoch(created),
                                   "issuer": issuer, "refreshable": refreshable, "scope": scope,
                                   "secret": self._secret(i)}
            if expiry is not None:
                obj["expiry"] = _epoch(expiry)
            if desc is not None:
                obj["description"] = desc
            if has_last_used:
                obj["last_used"] = _epoch(last_used)
            self.tokens[tid] = obj
            if record:
                status = "expired" if expiry is not None and expiry <= w.now else "active"
                w.expect("jfrog", "jfrog_token", tid, findings=findings, name=sanitize(desc or subject), owner=user,
                         privilege=privilege, status=status, created_at=created, expires_at=expiry,
                         last_used_at=last_used if has_last_used else None, scopes=(scope,),
                         usage_tracked=has_last_used, credential="static")

    def _routes(self) -> None:
        app = self.app

        @app.get("/access/api/v1/tokens")
        def list_tokens() -> Any:
            if (denied := self._check()) is not None:
                return denied
            with self.lock:
                tokens = [{k: v for k, v in t.items() if k != "secret"} for t in self.tokens.values()]
            return jsonify({"tokens": tokens})

        @app.delete("/access/api/v1/tokens/<tid>")
        def revoke(tid: str) -> Any:
            if (denied := self._check(write=True)) is not None:
                return denied
            with self.lock:
                if tid in self.revoked:
                    return Response(status=204)
                t = self.tokens.get(tid)
                if t is None:
                    return self._error(404, "Token not found")
                if t["issuer"] != self.service_id:
                    return self._error(400, "Token was issued by another instance and cannot be revoked here")
                del self.tokens[tid]
                self.revoked.add(tid)
            return Response("Token revoked", status=200, mimetype="text/plain")

        @app.get("/access/api/v2/users")
        def users() -> Any:
            if (denied := self._check()) is not None:
                return denied
            if self._auth() != "write":
                return self._error(403, "Only admins may list users")
            if self.users_status is not None:
                return self._error(self.users_status, "Not found" if self.users_status == 404 else "Internal error")
            rows = [{"username": u, "uri": f"{request.host_url}access/api/v2/users/{u}", "realm": "internal",
                     "status": "enabled"} for u in self.users]
            return jsonify({"users": rows})


__all__ = ["CANARY", "DockerHubFake", "JFrogFake", "NpmFake"]
