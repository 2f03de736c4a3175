"""A fake of the Google Cloud APIs the GCP connector reads: Resource Manager v3, IAM v1 (service
accounts, keys, WIF, IAM Credentials' generateAccessToken), Policy Analyzer v1, Org Policy v2.

Each service is its own Flask app on its own port (a client that sends a call to the wrong service
fails, as it would against Google); routes in routes.py and iam.py, shared pieces in http.py. Fidelity rules from the reference: proto3 JSON omits
defaults (false, "", empty lists; an empty list answer is `{}`), `getIamPolicy` is POST (v3 takes
`options.requestedPolicyVersion` in the body, IAM in the query), keys are not paged, service
accounts page at most 100 (default 20), `projects/-/` lookups of a missing account answer 403,
v3 project names and WIF names use project numbers, Activity Analyzer is GET-only, ORs at most ten
filter terms and leaves disabled keys out, and errors use Google's envelope with
`details[].ErrorInfo.reason`.

Test knobs: `deny` ({service or path fragment: reason}, reason IAM_PERMISSION_DENIED,
SERVICE_DISABLED, SECURITY_POLICY_VIOLATED, ACCESS_TOKEN_SCOPE_INSUFFICIENT), `fail_next`
({429|503|403: count}: Google-shaped transient errors, 403 = RATE_LIMIT_EXCEEDED), `retry_delay` (a
429's `google.rpc.RetryInfo.retryDelay`, e.g. "30s"; None: no RetryInfo), `cycle_tokens`
(the service-account list's last page points back to the first), plus the shared `Knobs`.
"""

from __future__ import annotations

import base64
import threading
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any

from flask import Flask

from nhitui.sandbox.gcp.routes import register
from nhitui.sandbox.gcp.seed import GcpState, Seeder
from nhitui.sandbox.server import FakeServer, Knobs
from nhitui.sandbox.world import World

SERVICES = ("cloudresourcemanager", "iam", "policyanalyzer", "orgpolicy")
ENV = "NHITUI_SANDBOX_GCP_TOKEN"
READ_SA = "nhi-auditor@acme-sec.iam.gserviceaccount.com"
WRITE_SA = "nhi-admin@acme-sec.iam.gserviceaccount.com"


class GcpFake:
    """The four services on 127.0.0.1, sharing one seeded state."""

    provider = "gcp"

    def __init__(self, world: World, knobs: Knobs | None = None, token: str | None = None,
                 readonly_token: str | None = None, extra_projects: int = 2, sas_per_project: int = 3,
                 keys_per_sa: int = 1, deny: dict[str, str] | None = None) -> None:
        self.world = world
        self.knobs = knobs or Knobs()
        self.token = token or f"ya29.sandbox-gcp-{world.seed}-write"
        self.readonly_token = readonly_token or f"ya29.sandbox-gcp-{world.seed}-readonly"
        self.deny: dict[str, str] = dict(deny or {})
        self.fail_next: Counter[int] = Counter()
        self.retry_delay: str | None = None
        self.cycle_tokens = False
        self.lock = threading.RLock()
        self.minted: dict[str, str] = {}          # impersonated / OAuth access token -> "read" | "write"
        self.minted_uses: Counter[str] = Counter()
        self.expire_minted_after: int | None = None  # a minted token stops working after this many calls
        self.impersonable = {READ_SA: "read", WRITE_SA: "write"}
        record = not world.expected_for("gcp")
        self.state: GcpState = Seeder(world, extra_projects, sas_per_project, keys_per_sa, record).build()
        self.apps = {svc: Flask(f"nhitui-fake-gcp-{svc}") for svc in SERVICES}
        for svc, app in self.apps.items():
            app.json.sort_keys = False  # type: ignore[attr-defined]
            register(self, svc, app)
        self.servers = {svc: FakeServer(app, self.knobs) for svc, app in self.apps.items()}

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> GcpFake:
        for server in self.servers.values():
            server.start()
        return self

    def stop(self) -> None:
        for server in self.servers.values():
            server.stop()

    def __enter__(self) -> GcpFake:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """One of the four servers (Resource Manager's), for code that expects one URL per fake."""
        return self.servers["cloudresourcemanager"].url

    @property
    def calls(self) -> Counter[tuple[str, str]]:
        total: Counter[tuple[str, str]] = Counter()
        for server in self.servers.values():
            total.update(server.calls)
        return total

    def writes(self) -> int:
        """Calls that change something (getIamPolicy and activities queries are reads, even as POST)."""
        return sum(n for (method, path), n in self.calls.items()
                   if method in ("DELETE", "PATCH") or path.endswith((":disable", ":enable")))

    @property
    def endpoints(self) -> dict[str, str]:
        """The four services' URLs (as a config's `endpoints`); IAM Credentials is served by the IAM fake."""
        return {svc: server.url for svc, server in self.servers.items()}

    @property
    def env(self) -> dict[str, str]:
        return {ENV: self.token, f"{ENV}_READONLY": self.readonly_token}

    def source(self, name: str, readonly: bool = False) -> dict[str, Any]:
        ref = f"env:{ENV}_READONLY" if readonly else f"env:{ENV}"
        src: dict[str, Any] = {"type": "gcp", "name": name, "organization": self.state.org, "token": ref,
                               "endpoints": self.endpoints}
        if readonly:
            src["revoke_token"] = f"env:{ENV}"
        return src

    # --- helpers the routes use --------------------------------------------------------------

    def access(self, header: str) -> str | None:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value:
            return None
        if value == self.token:
            return "write"
        if value == self.readonly_token:
            return "read"
        with self.lock:
            level = self.minted.get(value)
            if level is not None and self.expire_minted_after is not None:
                self.minted_uses[value] += 1
                if self.minted_uses[value] > self.expire_minted_after:
                    return None         # the short-lived token expired: 401, the client must renew it
        return level

    def mint(self, target: str, source_access: str) -> dict[str, str] | None:
        level = self.impersonable.get(target)
        if level is None:
            return None
        token = self._new_token(target, level)
        expire = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(hours=1)
        return {"accessToken": token, "expireTime": expire.strftime("%Y-%m-%dT%H:%M:%SZ")}

    def _new_token(self, who: str, level: str) -> str:
        with self.lock:
            token = "ya29.m-" + base64.urlsafe_b64encode(f"{who}:{len(self.minted)}".encode()).decode().rstrip("=")
            self.minted[token] = level
        return token

    def oauth_token(self, assertion: str) -> dict[str, Any] | None:
        """OAuth 2.0 JWT-bearer grant (a service-account key file's token_uri): an access token for the
        account the signed assertion names, if it is one of `impersonable` (signature not checked)."""
        import jwt

        try:
            claims = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            return None
        level = self.impersonable.get(str(claims.get("iss")))
        if level is None:
            return None
        return {"access_token": self._new_token(str(claims["iss"]), level), "expires_in": 3600,
                "token_type": "Bearer"}

    def project(self, ref: str) -> dict[str, Any] | None:
        """A project by id or number."""
        if ref in self.state.projects:
            return self.state.projects[ref]
        return next((p for p in self.state.projects.values() if p["name"] == f"projects/{ref}"), None)

    def account(self, pid: str, ref: str) -> dict[str, Any] | None:
        """An account by email or unique id; `-` searches every project."""
        projects = list(self.state.accounts) if pid == "-" else [pid]
        for p in projects:
            for sa in self.state.accounts.get(p, []):
                if ref in (sa.get("email"), sa.get("uniqueId")):
                    return sa
        return None

    def key(self, email: str, key_id: str) -> dict[str, Any] | None:
        return next((k for k in self.state.keys.get(email, []) if k["name"].endswith(f"/keys/{key_id}")), None)

    def provider_obj(self, name: str) -> dict[str, Any] | None:
        pool = name.rsplit("/providers/", 1)[0]
        return next((p for p in self.state.providers.get(pool, []) if p["name"] == name), None)


__all__ = ["GcpFake", "READ_SA", "WRITE_SA"]
