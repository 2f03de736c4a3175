"""The fake GitLab object: its state, its seeding order, who a token is, and the shared look-ups.

Each family of kinds seeds its objects and serves its routes from its own module (`tokens.py`,
`keys.py`, `deploy_tokens.py`, `runners.py`, `variables.py`, `triggers.py`; users, groups and
projects in `orgs.py`); `http.py` is the router, auth errors, rate limit and pagination; `truth.py`
the ground truth.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

from flask import request

from nhitui.sandbox.gitlab import (
    agents,
    credentials,
    deploy_tokens,
    keys,
    orgs,
    runners,
    service_accounts,
    tokens,
    triggers,
    truth,
    variables,
)
from nhitui.sandbox.gitlab.http import Abort, Route, build_app, forbidden, not_found, ts
from nhitui.sandbox.server import FakeServer, Knobs
from nhitui.sandbox.world import World

ENV_TOKEN = "NHITUI_SANDBOX_GITLAB_TOKEN"
ADMIN_TOKEN = "glpat-sandbox-admin-7Qx2Lm"
READONLY_TOKEN = "glpat-sandbox-readonly-3Kd9Vt"
USER_TOKEN = "glpat-sandbox-user-9Fp1Zw"

TIERS = ("free", "premium", "ultimate")
FAMILIES = (orgs, tokens, keys, deploy_tokens, runners, variables, triggers, credentials, service_accounts,
            agents)


class GitLabFake:
    """The fake GitLab: seeded state, a Flask app and its FakeServer.

    `token` belongs to the instance administrator `root` (full access), `readonly_token` to root with
    only `read_api` (writes answer 403), `user_token` to a regular member who owns the top group but is
    no administrator (the admin-only lists answer 403 and `/personal_access_tokens` shows only
    their own). `deny` lists paths (prefixes after `/api/v4`, or fnmatch patterns such as
    `/projects/*/variables`) that answer 403 for everyone. `tier` ("free", "premium", "ultimate") is the
    licence: service accounts need Premium, the group credentials inventory Ultimate (else 403).

    Pagination test knobs (attributes): `link_loop`, a set of paths after `/api/v4` whose
    `Link: rel="next"` (and `X-Next-Page`) point at the page itself; `cycle_next`, the last page of
    every offset-paginated list links back to the first.
    """

    def __init__(self, world: World, knobs: Knobs | None = None, token: str = ADMIN_TOKEN,
                 readonly_token: str = READONLY_TOKEN, user_token: str = USER_TOKEN,
                 deny: Iterable[str] = (), rate_limit: int = 20000, rate_window: float = 60.0,
                 tier: str = "ultimate") -> None:
        self.world = world
        self.knobs = knobs or Knobs()
        self.token = token
        self.readonly_token = readonly_token
        self.user_token = user_token
        self.deny = tuple(d[len("/api/v4"):] if d.startswith("/api/v4") else d for d in deny)
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        self.lock = threading.RLock()
        self.windows: dict[str, tuple[float, int]] = {}
        self.throttled = 0          # 429s the rate limit answered (benchmarks: the target is none)
        # RateLimit-* on every answer (GitLab with `rate_limiting_headers_for_unthrottled_requests`);
        # False: only on a 429, as GitLab sends them without that flag.
        self.rate_headers_always = True
        # (kind, native id) of objects only an instance-wide (admin) scan can see, and of those only an
        # administrator or an Owner of the top group reading the credentials inventory (Ultimate) can see.
        self.instance_only: set[tuple[str, str]] = set()
        self.enterprise_only: set[tuple[str, str]] = set()
        self.tier = tier
        self.link_loop: set[str] = set()
        self.cycle_next = False
        self.seed()
        self.app = build_app(self, self.register)
        self.server = FakeServer(self.app, self.knobs)

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self) -> GitLabFake:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self) -> GitLabFake:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return self.server.url

    def source(self, name: str = "acme-gitlab", **overrides: Any) -> dict[str, Any]:
        table: dict[str, Any] = {"type": "gitlab", "name": name, "url": self.server.url,
                                 "groups": [self.world.org], "instance": True,
                                 "token": f"env:{ENV_TOKEN}", "timeout": 10}
        table.update(overrides)
        return table

    @property
    def env(self) -> dict[str, str]:
        return {ENV_TOKEN: self.token}

    # --- seeding ---------------------------------------------------------------------------------

    def seed(self) -> None:
        self.rng = self.world.rng_for(truth.PROVIDER)
        self.users: dict[int, dict[str, Any]] = {}
        self.groups: dict[int, dict[str, Any]] = {}
        self.projects: dict[int, dict[str, Any]] = {}
        self.members: dict[int, dict[int, int]] = {}          # group id -> {user id: access level}
        self.project_members: dict[int, dict[int, int]] = {}
        self.tokens: dict[int, dict[str, Any]] = {}           # personal + resource access tokens
        self.deploy_keys: dict[int, dict[str, Any]] = {}
        self.deploy_tokens: dict[int, dict[str, Any]] = {}
        self.runners: dict[int, dict[str, Any]] = {}
        self.variables: list[dict[str, Any]] = []
        self.triggers: dict[int, dict[str, Any]] = {}
        self.ssh_keys: dict[int, dict[str, Any]] = {}         # users' SSH keys
        self.agents: dict[int, dict[str, Any]] = {}           # cluster agents
        self.agent_tokens: dict[int, dict[str, Any]] = {}
        self.ids = {"user": 1, "token": 5000, "key": 300, "dtoken": 700, "runner": 900, "trigger": 2000,
                    "ssh_key": 8000, "agent": 60, "agent_token": 9000}
        self.pending: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = []
        self.hostile_count = 0
        for family in FAMILIES:
            family.seed(self)
        truth.flush(self)

    def register(self, route: Route) -> None:
        for family in FAMILIES:
            family.routes(self, route)

    def next_id(self, counter: str) -> int:
        value = self.ids[counter]
        self.ids[counter] += 1
        return value

    def name(self, plain: str, every: int = 4) -> str:
        """Every `every`-th object gets a hostile name from the world (markup, escapes, RTL...)."""
        self.hostile_count += 1
        if self.hostile_count % every == 0:
            return self.world.hostile(self.hostile_count // every)
        return plain

    def hex(self, n: int = 8) -> str:
        return "".join(self.rng.choice("0123456789abcdef") for _ in range(n))

    def add_user(self, username: str, admin: bool = False, bot: bool = False) -> dict[str, Any]:
        uid = self.next_id("user")
        user = {"id": uid, "username": username, "name": username.replace("-", " ").title(),
                "state": "active", "bot": bot, "is_admin": admin, "locked": False,
                "created_at": ts(self.world.days_ago(1000))}
        self.users[uid] = user
        return user

    def owner_name(self, uid: int | None) -> str:
        return self.users[uid]["username"] if uid in self.users else ""

    def expect(self, kind: str, native_id: Any, truth: dict[str, Any], facts: dict[str, Any]) -> None:
        """Queue a ground-truth record; findings are planted once every object exists (sprawl)."""
        self.pending.append((kind, str(native_id), truth, facts))

    # --- who is asking ---------------------------------------------------------------------------

    def authenticate(self, token: str) -> dict[str, Any]:
        if token:
            for t in self.tokens.values():
                if t["token"] == token and t["resource"][0] == "user":
                    if tokens.status(self, t, datetime.now(timezone.utc)) != "active":
                        break
                    user = self.users[t["user_id"]]
                    writes = "api" in t["scopes"] or "sudo" in t["scopes"]
                    return {"user": user, "admin": bool(user["is_admin"]), "write": writes, "token": t}
        raise Abort(401, {"message": "401 Unauthorized"})

    def require_admin(self, caller: dict[str, Any]) -> None:
        if not caller["admin"]:
            raise forbidden()

    def require_top_owner(self, caller: dict[str, Any], group: dict[str, Any], tier: str) -> None:
        """Top-level group APIs (service accounts, credentials inventory): 404 for a subgroup, 403 when
        the licence is below `tier` or the caller is neither an administrator nor an Owner of the group."""
        if group["parent_id"] is not None:
            raise not_found("Group Not Found")
        if TIERS.index(self.tier) < TIERS.index(tier):
            raise forbidden()
        if not caller["admin"] and self.members[group["id"]].get(caller["user"]["id"], 0) < orgs.OWNER:
            raise forbidden()

    # --- look-ups --------------------------------------------------------------------------------

    def group(self, ref: str) -> dict[str, Any]:
        gid = int(ref) if ref.isdigit() else self.gid_by_path.get(ref)
        if gid not in self.groups:
            raise not_found("Group Not Found")
        return self.groups[gid]

    def project(self, ref: str) -> dict[str, Any]:
        if ref.isdigit():
            p = self.projects.get(int(ref))
        else:
            p = next((p for p in self.projects.values() if p["path_with_namespace"] == ref), None)
        if p is None:
            raise not_found("Project Not Found")
        return p

    def ancestors(self, gid: int) -> list[int]:
        out = []
        cur: int | None = gid
        while cur is not None:
            out.append(cur)
            cur = self.groups[cur]["parent_id"]
        return out

    def descendants(self, gid: int) -> list[int]:
        return [g for g in sorted(self.groups) if g != gid and gid in self.ancestors(g)]

    def web(self, path: str) -> str:
        return request.host_url.rstrip("/") + "/" + path
