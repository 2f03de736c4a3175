"""A fake GitLab REST v4 API, seeded from the `World`, for the demo, the tests and the benchmarks.

It follows GitLab's documented behaviour (doc/api in gitlabhq, see reference/apis.md section 2):

- auth with `PRIVATE-TOKEN: <t>` or `Authorization: Bearer <t>`; a wrong token is a 401
  `{"message": "401 Unauthorized"}`; a `readonly_token` (read_api) gets a 403 `insufficient_scope`
  on writes; the non-admin `user_token` gets a 403 on the admin-only lists;
- offset pagination (`page`/`per_page`, default 20, max 100 or `knobs.page_size`) with `x-page`,
  `x-per-page`, `x-total`, `x-total-pages`, `x-next-page`, `x-prev-page` and `Link`; keyset pagination
  on `GET /projects?pagination=keyset&order_by=id` (a `Link: rel="next"` with `id_after`, no totals);
- `RateLimit-Limit/-Name/-Observed/-Remaining/-Reset` on every answer (a fixed window per token;
  past the limit a 429 with `Retry-After` and `RateLimit-ResetTime`);
- state: a revoked personal/project/group access token is listed again with `revoked: true,
  active: false`; rotating revokes the old token and creates a new id; DELETE answers 204; pausing a
  runner shows in its list and detail; deleting a project deploy key unlinks it (the key is gone once
  no project uses it).

Group and project ids may be given as numbers or URL-encoded full paths (`acme%2Fplatform`): the
router splits the raw request URI before decoding, as GitLab does.

Secret values (CI variable values, trigger tokens, runner tokens) carry the canary `CANARY` so tests
can grep every output for a leak. Hidden variables answer `value: null` like GitLab 17.4+.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import math
import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, timezone
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode

from flask import Flask, Response, request

from nhitui.sandbox.server import FakeServer, Knobs
from nhitui.sandbox.world import World

CANARY = "CANARY-gl-variable-7c1e"
ENV_TOKEN = "NHITUI_SANDBOX_GITLAB_TOKEN"
PROVIDER = "gitlab"

ADMIN_TOKEN = "glpat-sandbox-admin-7Qx2Lm"
READONLY_TOKEN = "glpat-sandbox-readonly-3Kd9Vt"
USER_TOKEN = "glpat-sandbox-user-9Fp1Zw"

GUEST, REPORTER, DEVELOPER, MAINTAINER, OWNER = 10, 20, 30, 40, 50

# Kinds where GitLab lets the creator set an expiry (policy.EXPIRING_KINDS for GitLab).
EXPIRING = {"personal_access_token", "project_access_token", "group_access_token", "deploy_token",
            "deploy_key", "trigger_token"}


def _ts(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + \
        f"{value.microsecond // 1000:03d}Z"


def _date(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(timezone.utc).strftime("%Y-%m-%d")


def _midnight(value: datetime | None) -> datetime | None:
    """GitLab stores token expiry as a date: what a client reads back is midnight UTC."""
    if value is None:
        return None
    return datetime(value.year, value.month, value.day, tzinfo=timezone.utc)


class _Abort(Exception):
    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}


def _not_found(what: str = "Not found") -> _Abort:
    return _Abort(404, {"message": f"404 {what}"})


def _forbidden() -> _Abort:
    return _Abort(403, {"message": "403 Forbidden"})


class GitLabFake:
    """The fake GitLab: seeded state, a Flask app and its FakeServer.

    `token` belongs to the instance administrator `root` (full access), `readonly_token` to root with
    only `read_api` (writes answer 403), `user_token` to a regular member who owns the top group but is
    no administrator (the admin-only lists answer 403 and `/personal_access_tokens` shows only
    their own). `deny` lists paths (prefixes after `/api/v4`, or fnmatch patterns such as
    `/projects/*/variables`) that answer 403 for everyone.

    Pagination test knobs (attributes): `link_loop`, a set of paths after `/api/v4` whose
    `Link: rel="next"` (and `X-Next-Page`) point at the page itself; `cycle_next`, the last page of
    every offset-paginated list links back to the first.
    """

    def __init__(self, world: World, knobs: Knobs | None = None, token: str = ADMIN_TOKEN,
                 readonly_token: str = READONLY_TOKEN, user_token: str = USER_TOKEN,
                 deny: Iterable[str] = (), rate_limit: int = 20000, rate_window: float = 60.0) -> None:
        self.world = world
        self.knobs = knobs or Knobs()
        self.token = token
        self.readonly_token = readonly_token
        self.user_token = user_token
        self.deny = tuple(d[len("/api/v4"):] if d.startswith("/api/v4") else d for d in deny)
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        self.lock = threading.RLock()
        self._windows: dict[str, tuple[float, int]] = {}
        # (kind, native id) of objects only an instance-wide (admin) scan can see.
        self.instance_only: set[tuple[str, str]] = set()
        self.link_loop: set[str] = set()
        self.cycle_next = False
        self._seed()
        self.app = self._build_app()
        self.server = FakeServer(self.app, self.knobs)

    # ------------------------------------------------------------------ lifecycle

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

    # ------------------------------------------------------------------ seeding

    def _seed(self) -> None:
        w = self.world
        self.rng = w.rng_for(PROVIDER)
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
        self._ids = {"user": 1, "token": 5000, "key": 300, "dtoken": 700, "runner": 900, "trigger": 2000}
        self._pending: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = []
        self._hostile = 0

        root = self._user("root", admin=True)
        self.root_id = root["id"]
        member_ids = [self._user(name)["id"] for name in w.members]
        self.user_id = member_ids[0]
        departed_ids = [self._user(name)["id"] for name in w.departed]
        self.by_name = {u["username"]: u["id"] for u in self.users.values()}

        # Groups and projects from the world's nested paths.
        gid = 100
        paths = w.project_paths()
        for path in paths:
            parts = path.split("/")[:-1]
            for depth in range(1, len(parts) + 1):
                full = "/".join(parts[:depth])
                if any(g["full_path"] == full for g in self.groups.values()):
                    continue
                parent = next((g["id"] for g in self.groups.values() if g["full_path"] == "/".join(parts[:depth - 1])),
                              None)
                self.groups[gid] = {"id": gid, "full_path": full, "path": parts[depth - 1],
                                    "name": parts[depth - 1].title(), "parent_id": parent,
                                    "created_at": _ts(w.days_ago(900))}
                self.members[gid] = {}
                gid += 1
        self.gid_by_path = {g["full_path"]: g["id"] for g in self.groups.values()}
        top = self.gid_by_path[w.org]
        self.members[top][self.root_id] = OWNER
        for n, uid in enumerate(member_ids):
            self.members[top][uid] = OWNER if n == 0 else (MAINTAINER if n % 3 else DEVELOPER)
        for i, path in enumerate(paths):
            pid = 1000 + i
            ns = "/".join(path.split("/")[:-1])
            self.projects[pid] = {"id": pid, "path_with_namespace": path, "path": path.rsplit("/", 1)[1],
                                  "name": path.rsplit("/", 1)[1], "namespace_id": self.gid_by_path[ns],
                                  "created_at": _ts(w.days_ago(800 - i % 300))}
            self.project_members[pid] = {}

        self._seed_pats(member_ids, departed_ids)
        self._seed_resource_tokens()
        self._seed_deploy_keys()
        self._seed_deploy_tokens()
        self._seed_runners(member_ids, departed_ids)
        self._seed_variables()
        self._seed_triggers(member_ids, departed_ids)
        self._flush_expectations()

    def _next(self, counter: str) -> int:
        value = self._ids[counter]
        self._ids[counter] += 1
        return value

    def _name(self, plain: str, every: int = 4) -> str:
        """Every `every`-th object gets a hostile name from the world (markup, escapes, RTL...)."""
        self._hostile += 1
        if self._hostile % every == 0:
            return self.world.hostile(self._hostile // every)
        return plain

    def _hex(self, n: int = 8) -> str:
        return "".join(self.rng.choice("0123456789abcdef") for _ in range(n))

    def _user(self, username: str, admin: bool = False, bot: bool = False) -> dict[str, Any]:
        uid = self._next("user")
        user = {"id": uid, "username": username, "name": username.replace("-", " ").title(),
                "state": "active", "bot": bot, "is_admin": admin, "locked": False,
                "created_at": _ts(self.world.days_ago(1000))}
        self.users[uid] = user
        return user

    def _owner_name(self, uid: int | None) -> str:
        return self.users[uid]["username"] if uid in self.users else ""

    def _expect(self, kind: str, native_id: Any, truth: dict[str, Any], facts: dict[str, Any]) -> None:
        """Queue a ground-truth record; findings are planted once every object exists (sprawl)."""
        self._pending.append((kind, str(native_id), truth, facts))

    def _flush_expectations(self) -> None:
        sprawl: dict[str, set[str]] = {}
        for kind, _nid, truth, _facts in self._pending:
            if kind == "ci_variable":
                sprawl.setdefault(truth["name"].upper(), set()).add(truth["target"])
        for kind, nid, truth, facts in self._pending:
            findings = self._findings(kind, truth, facts)
            if kind == "ci_variable" and len(sprawl.get(truth["name"].upper(), ())) >= 5:
                findings.add("secret-name-sprawl")
            self.world.expect(PROVIDER, kind, nid, findings=findings, **truth)
        self._pending.clear()

    def _findings(self, kind: str, t: dict[str, Any], facts: dict[str, Any]) -> set[str]:
        """The rule ids planted on purpose, under the default policy (90 / 30 / 365 days)."""
        now = self.world.now
        found: set[str] = set()
        status = t["status"]
        if status in ("revoked", "pending"):
            return found
        expires, created, used = t.get("expires_at"), t.get("created_at"), t.get("last_used_at")
        if (expires is not None and expires <= now) or status == "expired":
            found.add("expired-present")
        if facts.get("usage_tracked", True):
            if used is not None:
                if (now - used).days >= 90:
                    found.add("stale-unused")
            elif created is not None and (now - created).days >= 30:
                found.add("never-used")
        if status == "expired":
            return found
        if kind in EXPIRING and expires is None:
            found.add("no-expiry")
        if created is not None and status == "active" and (now - created).days > 365:
            found.add("old-rotation")
        owner = t.get("owner", "")
        if owner in self.world.departed:
            found.add("owner-departed")
        if kind == "deploy_key" and t["privilege"] in ("write", "admin"):
            found.add("write-deploy-key")
        if t.get("privilege") == "admin":
            found.add("admin-scope")
        return found

    # --- personal access tokens -----------------------------------------------------------------

    def _token(self, user_id: int, name: str, scopes: list[str], created: datetime,
               last_used: datetime | None, expires: datetime | None, revoked: bool = False,
               resource: tuple[str, int | None] = ("user", None), access_level: int | None = None,
               secret: str | None = None, description: str = "") -> dict[str, Any]:
        tid = self._next("token")
        token = {"id": tid, "name": name, "description": description, "user_id": user_id, "scopes": scopes,
                 "created_at": created, "last_used_at": last_used, "expires_at": _midnight(expires),
                 "revoked": revoked, "resource": resource, "access_level": access_level,
                 "token": secret or f"glpat-{self._hex(20)}"}
        self.tokens[tid] = token
        return token

    def _token_status(self, t: dict[str, Any], now: datetime | None = None) -> str:
        now = now or self.world.now
        if t["revoked"]:
            return "revoked"
        if t["expires_at"] is not None and t["expires_at"] <= now:
            return "expired"
        return "active"

    @staticmethod
    def _pat_privilege(scopes: list[str]) -> str:
        # Mirrors connectors.gitlab's documented mapping: sudo/admin_mode -> admin, api/write_* -> write.
        if set(scopes) & {"sudo", "admin_mode"}:
            return "admin"
        if any(s == "api" or s.startswith(("write_", "manage_", "create_")) or s == "k8s_proxy" for s in scopes):
            return "write"
        return "read" if scopes else "none"

    @classmethod
    def _resource_privilege(cls, scopes: list[str], level: int) -> str:
        order = ("none", "read", "write", "admin")
        ceiling = "admin" if "api" in scopes else cls._pat_privilege(scopes)
        role = "admin" if level >= MAINTAINER else "write" if level >= DEVELOPER else "read" if level >= GUEST \
            else "none"
        return min(ceiling, role, key=order.index)

    def _expect_token(self, kind: str, t: dict[str, Any], target: str) -> None:
        privilege = self._pat_privilege(t["scopes"]) if kind == "personal_access_token" else \
            self._resource_privilege(t["scopes"], t["access_level"])
        truth = {"name": t["name"], "owner": self._owner_name(t["user_id"]),
                 "target": "" if kind == "personal_access_token" else target,
                 "privilege": privilege, "status": self._token_status(t), "created_at": t["created_at"],
                 "expires_at": t["expires_at"], "last_used_at": t["last_used_at"], "scopes": tuple(t["scopes"])}
        self._expect(kind, t["id"], truth, {})
        if kind == "personal_access_token" and t["user_id"] != self.user_id:
            self.instance_only.add((kind, str(t["id"])))

    # Patterns: (created days ago, last used days ago | None, expires in days | None, revoked, scopes)
    PAT_PATTERNS = (
        (50, 2, 200, False, ["read_api"]),                      # healthy
        (400, 200, None, False, ["api"]),                       # stale, no expiry, old
        (100, None, 120, False, ["read_repository"]),           # never used
        (120, 100, 60, True, ["api"]),                          # revoked, still listed
        (200, 20, -10, False, ["write_repository"]),            # expired, still listed
        (20, None, 300, False, ["read_registry", "write_registry"]),  # young, unused: no finding
    )

    def _seed_pats(self, member_ids: list[int], departed_ids: list[int]) -> None:
        w = self.world
        target = w.org
        scanner = [
            self._token(self.root_id, "nhitui-sandbox-admin", ["api", "admin_mode"], w.days_ago(10),
                        w.days_ago(0.01), w.days_ahead(300), secret=self.token),
            self._token(self.root_id, "nhitui-sandbox-readonly", ["read_api"], w.days_ago(10), w.days_ago(0.01),
                        w.days_ahead(300), secret=self.readonly_token),
            self._token(self.user_id, "nhitui-sandbox-user", ["api"], w.days_ago(10), w.days_ago(0.01),
                        w.days_ahead(300), secret=self.user_token),
            self._token(self.root_id, self._name("ops-sudo", 1), ["api", "sudo"], w.days_ago(400), w.days_ago(200),
                        None, description="break-glass " + w.hostile(5)),
        ]
        for t in scanner:
            self._expect_token("personal_access_token", t, target)
        for n, uid in enumerate(member_ids[: max(6, len(member_ids) // 2)]):
            created, used, expires, revoked, scopes = self.PAT_PATTERNS[n % len(self.PAT_PATTERNS)]
            t = self._token(uid, self._name(f"laptop-{n}"), list(scopes), w.days_ago(created),
                            w.days_ago(used) if used is not None else None,
                            w.days_ahead(expires) if expires is not None else None, revoked=revoked)
            self._expect_token("personal_access_token", t, target)
        for n, uid in enumerate(departed_ids):
            t = self._token(uid, self._name(f"ci-helper-{n}", 2), ["api"], w.days_ago(300), w.days_ago(5 + n),
                            None if n % 2 == 0 else w.days_ahead(90))
            self._expect_token("personal_access_token", t, target)

    # --- project and group access tokens ----------------------------------------------------------

    RESOURCE_PATTERNS = (
        (50, 2, 200, False, MAINTAINER, ["api"]),                          # admin via api + maintainer
        (400, 200, None, False, DEVELOPER, ["read_repository", "write_repository"]),  # stale, old
        (100, None, 100, False, REPORTER, ["read_api"]),                   # never used
        (120, 100, 60, True, GUEST, ["read_registry"]),                    # revoked
        (200, 20, -10, False, DEVELOPER, ["api"]),                         # expired
        (10, None, 30, False, OWNER, ["read_api", "api"]),                 # admin, young
        (60, 3, 150, False, OWNER, ["read_repository"]),                   # owner role, read scope
    )

    def _resource_token(self, kind: str, scope_id: int, n: int, target: str) -> None:
        w = self.world
        created, used, expires, revoked, level, scopes = self.RESOURCE_PATTERNS[n % len(self.RESOURCE_PATTERNS)]
        prefix = "project" if kind == "project_access_token" else "group"
        bot = self._user(f"{prefix}_{scope_id}_bot_{self._hex(32)}", bot=True)
        members = self.project_members if prefix == "project" else self.members
        members[scope_id][bot["id"]] = level
        t = self._token(bot["id"], self._name(f"{prefix}-token-{n}"), list(scopes), w.days_ago(created),
                        w.days_ago(used) if used is not None else None,
                        w.days_ahead(expires) if expires is not None else None, revoked=revoked,
                        resource=(prefix, scope_id), access_level=level)
        self._expect_token(kind, t, target)

    def _seed_resource_tokens(self) -> None:
        n = 0
        for i, (pid, p) in enumerate(sorted(self.projects.items())):
            count = (1 if i % 3 == 0 else 0) + (1 if i % 9 == 0 else 0)
            for _ in range(count):
                self._resource_token("project_access_token", pid, n, p["path_with_namespace"])
                n += 1
        for gid, g in sorted(self.groups.items()):
            for _ in range(2 if g["parent_id"] is None else 1):
                self._resource_token("group_access_token", gid, n, g["full_path"])
                n += 1

    # --- deploy keys ------------------------------------------------------------------------------

    def _key(self, title: str, created: datetime, expires: datetime | None) -> dict[str, Any]:
        kid = self._next("key")
        digest = hashlib.sha256(f"{kid}:{title}".encode()).hexdigest()
        key = {"id": kid, "title": title, "created_at": created, "expires_at": expires,
               "key": f"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA{digest[:40]} deploy@{kid}",
               "fingerprint": ":".join(digest[i:i + 2] for i in range(0, 32, 2)),
               "fingerprint_sha256": f"SHA256:{digest[:43]}", "usage_type": "auth_and_signing",
               "links": {}}
        self.deploy_keys[kid] = key
        return key

    def _expect_key(self, key: dict[str, Any], pid: int) -> None:
        can_push = key["links"][pid]
        truth = {"name": key["title"], "owner": "", "target": self.projects[pid]["path_with_namespace"],
                 "privilege": "write" if can_push else "read", "status": self._key_status(key),
                 "created_at": key["created_at"], "expires_at": key["expires_at"], "last_used_at": None,
                 "scopes": ("write_repository",) if can_push else ("read_repository",)}
        self._expect("deploy_key", f"{pid}:{key['id']}", truth, {"usage_tracked": False})

    def _key_status(self, key: dict[str, Any]) -> str:
        return "expired" if key["expires_at"] is not None and key["expires_at"] <= self.world.now else "active"

    def _seed_deploy_keys(self) -> None:
        w = self.world
        pids = sorted(self.projects)
        # (created days ago, expires in days | None)
        patterns = ((600, None), (40, 200), (200, -15), (30, None))
        n = 0
        for i, pid in enumerate(pids):
            if i % 4 != 0:
                continue
            created, expires = patterns[n % len(patterns)]
            key = self._key(self._name(f"deploy-{self.projects[pid]['path']}"), w.days_ago(created),
                            w.days_ahead(expires) if expires is not None else None)
            key["links"][pid] = i % 8 == 0
            self._expect_key(key, pid)
            n += 1
        if len(pids) >= 3:
            # One key shared by two projects: write on one, read-only on the other.
            shared = self._key("shared-release-key", w.days_ago(100), w.days_ahead(100))
            shared["links"][pids[1]] = True
            shared["links"][pids[2]] = False
            self._expect_key(shared, pids[1])
            self._expect_key(shared, pids[2])
        # A key no project uses any more: only the admin list shows it.
        orphan = self._key("orphaned-" + w.hostile(1), w.days_ago(500), None)
        truth = {"name": orphan["title"], "owner": "", "target": "instance", "privilege": "none",
                 "status": "active", "created_at": orphan["created_at"], "expires_at": None, "last_used_at": None,
                 "scopes": ()}
        self._expect("deploy_key", f"instance:{orphan['id']}", truth, {"usage_tracked": False})
        self.instance_only.add(("deploy_key", f"instance:{orphan['id']}"))

    # --- deploy tokens ----------------------------------------------------------------------------

    def _deploy_token(self, owner: tuple[str, int], n: int, target: str) -> None:
        w = self.world
        # (expires in days | None, revoked, scopes)
        patterns = ((100, False, ["read_repository"]), (None, False, ["read_registry", "write_registry"]),
                    (-10, False, ["read_package_registry"]), (200, True, ["read_repository"]))
        expires, revoked, scopes = patterns[n % len(patterns)]
        tid = self._next("dtoken")
        exp = w.days_ahead(expires) if expires is not None else None
        token = {"id": tid, "name": self._name(f"deploy-token-{n}"), "username": f"gitlab+deploy-token-{tid}",
                 "expires_at": exp, "revoked": revoked, "scopes": scopes, "owner": owner,
                 "token": f"gldt-{self._hex(20)}"}
        self.deploy_tokens[tid] = token
        status = "revoked" if revoked else "expired" if exp is not None and exp <= w.now else "active"
        privilege = "write" if any(s.startswith("write_") for s in scopes) else "read"
        truth = {"name": token["name"], "owner": "", "target": target, "privilege": privilege, "status": status,
                 "created_at": None, "expires_at": exp, "last_used_at": None, "scopes": tuple(scopes)}
        self._expect("deploy_token", tid, truth, {"usage_tracked": False})

    def _seed_deploy_tokens(self) -> None:
        n = 0
        for i, (pid, p) in enumerate(sorted(self.projects.items())):
            if i % 5 == 0:
                self._deploy_token(("project", pid), n, p["path_with_namespace"])
                n += 1
        for gid, g in sorted(self.groups.items()):
            if g["parent_id"] is None or g["full_path"].count("/") == 1:
                self._deploy_token(("group", gid), n, g["full_path"])
                n += 1

    # --- runners ----------------------------------------------------------------------------------

    # (gitlab status, paused, contacted days ago | None, created days ago)
    RUNNER_PATTERNS = (
        ("online", False, 0.001, 100),
        ("offline", False, 3, 150),
        ("stale", False, 200, 300),
        ("never_contacted", False, None, 100),
        ("online", True, 0.001, 60),
        ("online", False, 0.002, 500),
    )

    def _runner(self, runner_type: str, n: int, projects: list[int], groups: list[int], target: str,
                creator: int | None) -> None:
        w = self.world
        status, paused, contacted, created = self.RUNNER_PATTERNS[n % len(self.RUNNER_PATTERNS)]
        rid = self._next("runner")
        runner = {"id": rid, "description": self._name(f"{runner_type.split('_')[0]}-runner-{n}", 3),
                  "name": "gitlab-runner", "runner_type": runner_type, "paused": paused, "status": status,
                  "contacted_at": w.days_ago(contacted) if contacted is not None else None,
                  "created_at": w.days_ago(created), "tag_list": ["docker", f"tier-{n % 3}"],
                  "locked": runner_type == "project_type", "access_level": "ref_protected" if n % 2 else
                  "not_protected", "projects": projects, "groups": groups, "created_by": creator,
                  "version": "17.5.0", "platform": "linux", "architecture": "amd64", "ip_address": f"10.0.0.{n}",
                  "token": f"glrt-{CANARY}-{self._hex(8)}", "run_untagged": n % 2 == 0, "maximum_timeout": 3600}
        self.runners[rid] = runner
        state = "inactive" if paused else "active" if status == "online" else "offline"
        truth = {"name": runner["description"], "owner": self._owner_name(creator), "target": target,
                 "privilege": "none", "status": state, "created_at": runner["created_at"], "expires_at": None,
                 "last_used_at": runner["contacted_at"], "scopes": ()}
        self._expect("runner", rid, truth, {})

    def _seed_runners(self, member_ids: list[int], departed_ids: list[int]) -> None:
        creators = [None] + member_ids[:4] + departed_ids[:1]
        n = 0
        for _ in range(3):
            self._runner("instance_type", n, [], [], "instance", self.root_id)
            n += 1
        for gid, g in sorted(self.groups.items()):
            self._runner("group_type", n, [], [gid], g["full_path"], creators[n % len(creators)])
            n += 1
        pids = sorted(self.projects)
        for i, pid in enumerate(pids):
            if i % 10 == 5:
                extra = [pids[(i + 1) % len(pids)]] if i % 20 == 5 and len(pids) > 1 else []
                self._runner("project_type", n, [pid] + extra, [], self.projects[pid]["path_with_namespace"],
                             creators[n % len(creators)])
                n += 1

    # --- CI/CD variables --------------------------------------------------------------------------

    def _variable(self, scope: tuple[str, int | None], key: str, target: str, n: int, env: str = "*",
                  masked: bool = False, hidden: bool = False, protected: bool = False) -> None:
        var = {"scope": scope, "key": key, "value": f"{CANARY}-{n}", "masked": masked or hidden,
               "hidden": hidden, "protected": protected, "raw": n % 2 == 0, "environment_scope": env,
               "variable_type": "file" if n % 7 == 0 else "env_var",
               "description": self.world.hostile(n) if n % 5 == 0 else f"variable {n}"}
        self.variables.append(var)
        kind, sid = scope
        nid = f"instance:{key}" if kind == "instance" else f"{kind}:{sid}:{key}:{env}"
        truth = {"name": key, "owner": "", "target": target, "privilege": "none", "status": "active",
                 "created_at": None, "expires_at": None, "last_used_at": None, "scopes": ()}
        self._expect("ci_variable", nid, truth, {"usage_tracked": False})
        if kind == "instance":
            self.instance_only.add(("ci_variable", nid))

    def _seed_variables(self) -> None:
        n = 0
        for i, (pid, p) in enumerate(sorted(self.projects.items())):
            path = p["path_with_namespace"]
            if i % 2 == 0:
                # NPM_TOKEN copied into many projects: secret-name sprawl.
                self._variable(("project", pid), "NPM_TOKEN", path, n, masked=True)
                n += 1
            self._variable(("project", pid), f"DATABASE_URL_{i}", path, n, env="production", protected=True,
                           hidden=i % 3 == 0)
            n += 1
            if i % 6 == 1:
                # The same key under a second environment scope.
                self._variable(("project", pid), f"DATABASE_URL_{i}", path, n, env="staging")
                n += 1
        for gid, g in sorted(self.groups.items()):
            self._variable(("group", gid), f"GROUP_DEPLOY_{gid}", g["full_path"], n, masked=True)
            n += 1
        self._variable(("instance", None), "INSTANCE_REGISTRY_PASSWORD", "instance", n, masked=True)
        n += 1
        self._variable(("instance", None), "INSTANCE_PROXY", "instance", n)

    # --- pipeline triggers ------------------------------------------------------------------------

    def _seed_triggers(self, member_ids: list[int], departed_ids: list[int]) -> None:
        w = self.world
        # (created days ago, last used days ago | None, expires in days | None, departed owner)
        patterns = ((100, 5, None, False), (500, 200, None, True), (100, None, 90, False), (40, 3, 200, True),
                    (200, 150, -5, False))
        n = 0
        for i, (pid, p) in enumerate(sorted(self.projects.items())):
            if i % 6 != 0:
                continue
            created, used, expires, departed = patterns[n % len(patterns)]
            owner = departed_ids[n % len(departed_ids)] if departed else \
                self.root_id if n % 3 == 0 else member_ids[(n + 1) % len(member_ids)]
            tid = self._next("trigger")
            trig = {"id": tid, "project_id": pid, "description": self._name(f"nightly-{n}", 3),
                    "token": f"glptt-{CANARY}-{self._hex(12)}", "owner_id": owner,
                    "created_at": w.days_ago(created), "updated_at": w.days_ago(min(created, 20)),
                    "last_used": w.days_ago(used) if used is not None else None,
                    "expires_at": w.days_ahead(expires) if expires is not None else None}
            self.triggers[tid] = trig
            exp = trig["expires_at"]
            truth = {"name": trig["description"], "owner": self._owner_name(owner),
                     "target": p["path_with_namespace"], "privilege": "write",
                     "status": "expired" if exp is not None and exp <= w.now else "active",
                     "created_at": trig["created_at"], "expires_at": exp, "last_used_at": trig["last_used"],
                     "scopes": ()}
            self._expect("trigger_token", tid, truth, {})
            n += 1

    # ------------------------------------------------------------------ HTTP layer

    def _build_app(self) -> Flask:
        app = Flask("nhitui-fake-gitlab")
        routes: list[tuple[str, tuple[str, ...], Callable[..., Any]]] = []

        def route(method: str, pattern: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
            def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
                routes.append((method, tuple(pattern.strip("/").split("/")), fn))
                return fn
            return deco

        self._register(route)

        @app.route("/api/v4/<path:_rest>", methods=["GET", "POST", "PUT", "DELETE"])
        def dispatch(_rest: str) -> Response:
            return self._dispatch(routes)

        @app.route("/", defaults={"_rest": ""})
        @app.route("/<path:_rest>")
        def elsewhere(_rest: str) -> Response:
            return self._json(404, {"message": "404 Not Found"})

        return app

    def _json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
        resp = Response(json.dumps(body), status=status, mimetype="application/json")
        for k, v in (headers or {}).items():
            resp.headers[k] = v
        return resp

    def _dispatch(self, routes: list[tuple[str, tuple[str, ...], Callable[..., Any]]]) -> Response:
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
            with self.lock:
                caller = self._authenticate(token)
                rate_headers = self._rate(token)
                if self.deny and any(path.startswith(d) or fnmatch.fnmatchcase(path, d) for d in self.deny):
                    raise _forbidden()
                if request.method != "GET" and not caller["write"]:
                    raise _Abort(403, {"error": "insufficient_scope",
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
                    raise _Abort(404, {"error": "404 Not Found"})
        except _Abort as abort:
            headers = {**rate_headers, **abort.headers}
            return self._json(abort.status, abort.body, headers)
        if isinstance(result, Response):
            resp = result
        elif result is None:
            resp = Response(status=204)
        else:
            resp = self._json(200, result)
        for k, v in rate_headers.items():
            resp.headers[k] = v
        return resp

    def _authenticate(self, token: str) -> dict[str, Any]:
        if token:
            for t in self.tokens.values():
                if t["token"] == token and t["resource"][0] == "user":
                    if self._token_status(t, datetime.now(timezone.utc)) != "active":
                        break
                    user = self.users[t["user_id"]]
                    writes = "api" in t["scopes"] or "sudo" in t["scopes"]
                    return {"user": user, "admin": bool(user["is_admin"]), "write": writes, "token": t}
        raise _Abort(401, {"message": "401 Unauthorized"})

    def _rate(self, token: str) -> dict[str, str]:
        now = time.time()
        key = hashlib.sha256(token.encode()).hexdigest()[:16]
        start, used = self._windows.get(key, (now, 0))
        if now - start >= self.rate_window:
            start, used = now, 0
        reset = start + self.rate_window
        if used >= self.rate_limit:
            wait = max(0.0, reset - now)
            raise _Abort(429, {"message": "Retry later"}, {
                "Retry-After": str(max(1, math.ceil(wait))) if wait >= 1 else f"{wait:.2f}",
                "RateLimit-Name": "throttle_authenticated_api", "RateLimit-Limit": str(self.rate_limit),
                "RateLimit-Observed": str(used), "RateLimit-Remaining": "0",
                "RateLimit-Reset": str(math.ceil(reset)), "RateLimit-ResetTime": formatdate(reset, usegmt=True)})
        used += 1
        self._windows[key] = (start, used)
        return {"RateLimit-Name": "throttle_authenticated_api", "RateLimit-Limit": str(self.rate_limit),
                "RateLimit-Observed": str(used), "RateLimit-Remaining": str(max(0, self.rate_limit - used)),
                "RateLimit-Reset": str(math.ceil(reset))}

    # --- pagination -----------------------------------------------------------------------------

    def _max_page(self) -> int:
        return self.knobs.page_size or 100

    def _page(self, items: list[Any]) -> Response:
        args = request.args
        try:
            per_page = int(args.get("per_page", 20))
            page = int(args.get("page", 1))
        except ValueError as exc:
            raise _Abort(400, {"error": "page is invalid"}) from exc
        per_page = max(1, min(per_page, self._max_page()))
        page = max(1, page)
        total = len(items)
        pages = max(1, math.ceil(total / per_page))
        chunk = items[(page - 1) * per_page: page * per_page]
        base = request.base_url
        params = [(k, v) for k, v in parse_qsl(request.query_string.decode(), keep_blank_values=True)
                  if k not in ("page", "per_page")]

        def link(p: int) -> str:
            return base + "?" + urlencode([*params, ("page", str(p)), ("per_page", str(per_page))])

        links = []
        if page < pages:
            links.append(f'<{link(page + 1)}>; rel="next"')
        if page > 1:
            links.append(f'<{link(page - 1)}>; rel="prev"')
        links.append(f'<{link(1)}>; rel="first"')
        links.append(f'<{link(pages)}>; rel="last"')
        nxt = str(page + 1) if page < pages else ""
        if request.path[len("/api/v4"):] in self.link_loop:
            links, nxt = [f'<{link(page)}>; rel="next"'], str(page)
        elif self.cycle_next and page == pages > 1:
            links, nxt = [f'<{link(1)}>; rel="next"', *links], "1"
        headers = {"X-Page": str(page), "X-Per-Page": str(per_page), "X-Total": str(total),
                   "X-Total-Pages": str(pages), "X-Next-Page": nxt,
                   "X-Prev-Page": str(page - 1) if page > 1 else "", "Link": ", ".join(links)}
        return self._json(200, chunk, headers)

    def _keyset(self, items: list[dict[str, Any]]) -> Response:
        args = request.args
        if args.get("order_by", "id") != "id":
            raise _Abort(405, {"error": "Keyset pagination is not yet available for this type of request"})
        per_page = max(1, min(int(args.get("per_page", 20)), self._max_page()))
        after = int(args.get("id_after", 0) or 0)
        rest = [i for i in sorted(items, key=lambda i: i["id"]) if i["id"] > after]
        chunk = rest[:per_page]
        headers = {"X-Per-Page": str(per_page)}
        if len(rest) > per_page:
            params = [(k, v) for k, v in parse_qsl(request.query_string.decode()) if k != "id_after"]
            nxt = request.base_url + "?" + urlencode([*params, ("id_after", str(chunk[-1]["id"]))])
            headers["Link"] = f'<{nxt}>; rel="next"'
        return self._json(200, chunk, headers)

    # --- lookups ----------------------------------------------------------------------------------

    def _group(self, ref: str) -> dict[str, Any]:
        gid = int(ref) if ref.isdigit() else self.gid_by_path.get(ref)
        if gid not in self.groups:
            raise _not_found("Group Not Found")
        return self.groups[gid]

    def _project(self, ref: str) -> dict[str, Any]:
        if ref.isdigit():
            p = self.projects.get(int(ref))
        else:
            p = next((p for p in self.projects.values() if p["path_with_namespace"] == ref), None)
        if p is None:
            raise _not_found("Project Not Found")
        return p

    def _ancestors(self, gid: int) -> list[int]:
        out = []
        cur: int | None = gid
        while cur is not None:
            out.append(cur)
            cur = self.groups[cur]["parent_id"]
        return out

    def _descendants(self, gid: int) -> list[int]:
        return [g for g in sorted(self.groups) if g != gid and gid in self._ancestors(g)]

    def _web(self, path: str) -> str:
        return request.host_url.rstrip("/") + "/" + path

    def _require_admin(self, caller: dict[str, Any]) -> None:
        if not caller["admin"]:
            raise _forbidden()

    # --- entities ---------------------------------------------------------------------------------

    def _user_json(self, u: dict[str, Any], caller: dict[str, Any] | None = None) -> dict[str, Any]:
        body = {"id": u["id"], "username": u["username"], "name": u["name"], "state": u["state"],
                "locked": u["locked"], "avatar_url": None, "web_url": self._web(u["username"]),
                "bot": u["bot"], "created_at": u["created_at"]}
        if caller is not None and caller["admin"]:
            body["is_admin"] = u["is_admin"]
        return body

    def _group_json(self, g: dict[str, Any]) -> dict[str, Any]:
        return {"id": g["id"], "name": g["name"], "path": g["path"], "full_path": g["full_path"],
                "full_name": g["full_path"].replace("/", " / "), "parent_id": g["parent_id"],
                "visibility": "private", "web_url": self._web("groups/" + g["full_path"]),
                "created_at": g["created_at"], "runners_token": f"GR1348941{CANARY}"}

    def _project_json(self, p: dict[str, Any]) -> dict[str, Any]:
        ns = self.groups[p["namespace_id"]]
        return {"id": p["id"], "name": p["name"], "path": p["path"], "path_with_namespace": p["path_with_namespace"],
                "name_with_namespace": p["path_with_namespace"].replace("/", " / "),
                "namespace": {"id": ns["id"], "full_path": ns["full_path"], "kind": "group"},
                "web_url": self._web(p["path_with_namespace"]), "created_at": p["created_at"],
                "visibility": "private", "archived": False}

    def _token_json(self, t: dict[str, Any], with_secret: bool = False) -> dict[str, Any]:
        now = datetime.now(timezone.utc)
        status = self._token_status(t, now)
        body = {"id": t["id"], "name": t["name"], "description": t["description"], "revoked": t["revoked"],
                "created_at": _ts(t["created_at"]), "scopes": list(t["scopes"]), "user_id": t["user_id"],
                "last_used_at": _ts(t["last_used_at"]), "active": status == "active",
                "expires_at": _date(t["expires_at"])}
        if t["resource"][0] != "user":
            body["access_level"] = t["access_level"]
        if with_secret:
            body["token"] = t["token"]
        return body

    def _runner_json(self, r: dict[str, Any], detail: bool = False) -> dict[str, Any]:
        online = r["status"] == "online"
        body = {"id": r["id"], "description": r["description"], "ip_address": r["ip_address"],
                "active": not r["paused"], "paused": r["paused"], "is_shared": r["runner_type"] == "instance_type",
                "runner_type": r["runner_type"], "name": r["name"], "online": online, "status": r["status"],
                "created_at": _ts(r["created_at"]), "job_execution_status": "idle"}
        creator = self.users.get(r["created_by"])
        body["created_by"] = self._user_json(creator) if creator else None
        if detail:
            body.update({
                "architecture": r["architecture"], "platform": r["platform"], "version": r["version"],
                "revision": "abcdef12", "contacted_at": _ts(r["contacted_at"]), "tag_list": list(r["tag_list"]),
                "run_untagged": r["run_untagged"], "locked": r["locked"], "access_level": r["access_level"],
                "maximum_timeout": r["maximum_timeout"], "maintenance_note": None,
                # Old GitLab versions returned the runner's token in its detail: keep it here so a
                # connector that stores raw details fails the canary test.
                "token": r["token"],
                "projects": [{"id": pid, "name": self.projects[pid]["name"],
                              "name_with_namespace": self.projects[pid]["path_with_namespace"].replace("/", " / "),
                              "path": self.projects[pid]["path"],
                              "path_with_namespace": self.projects[pid]["path_with_namespace"]}
                             for pid in r["projects"] if pid in self.projects],
                "groups": [{"id": gid, "name": self.groups[gid]["name"],
                            "web_url": self._web("groups/" + self.groups[gid]["full_path"])}
                           for gid in r["groups"] if gid in self.groups]})
        return body

    def _variable_json(self, v: dict[str, Any]) -> dict[str, Any]:
        body = {"variable_type": v["variable_type"], "key": v["key"], "value": None if v["hidden"] else v["value"],
                "hidden": v["hidden"], "protected": v["protected"], "masked": v["masked"], "raw": v["raw"],
                "description": v["description"]}
        if v["scope"][0] != "instance":
            body["environment_scope"] = v["environment_scope"]
        return body

    def _trigger_json(self, t: dict[str, Any], caller: dict[str, Any]) -> dict[str, Any]:
        owner = self.users.get(t["owner_id"])
        token = t["token"] if owner and owner["id"] == caller["user"]["id"] else t["token"][:4] + "…"
        return {"id": t["id"], "description": t["description"], "created_at": _ts(t["created_at"]),
                "updated_at": _ts(t["updated_at"]), "last_used": _ts(t["last_used"]),
                "expires_at": _ts(t["expires_at"]), "token": token,
                "owner": self._user_json(owner) if owner else None}

    def _deploy_token_json(self, t: dict[str, Any]) -> dict[str, Any]:
        now = datetime.now(timezone.utc)
        return {"id": t["id"], "name": t["name"], "username": t["username"], "expires_at": _ts(t["expires_at"]),
                "revoked": t["revoked"], "expired": t["expires_at"] is not None and t["expires_at"] <= now,
                "scopes": list(t["scopes"])}

    # --- routes -----------------------------------------------------------------------------------

    def _register(self, route: Callable[[str, str], Callable[[Callable[..., Any]], Callable[..., Any]]]) -> None:
        s = self

        @route("GET", "user")
        def current_user(caller: dict[str, Any]) -> Any:
            body = s._user_json(caller["user"], caller)
            if caller["admin"]:
                body["is_admin"] = True
            return body

        @route("GET", "version")
        def version(caller: dict[str, Any]) -> Any:
            return {"version": "17.5.0-ee", "revision": "fake"}

        @route("GET", "users/{id}")
        def get_user(caller: dict[str, Any], uid: str) -> Any:
            if not uid.isdigit() or int(uid) not in s.users:
                raise _not_found("User Not Found")
            return s._user_json(s.users[int(uid)], caller)

        # groups and projects

        @route("GET", "groups")
        def list_groups(caller: dict[str, Any]) -> Any:
            return s._page([s._group_json(g) for _, g in sorted(s.groups.items())])

        @route("GET", "groups/{id}")
        def get_group(caller: dict[str, Any], ref: str) -> Any:
            return s._group_json(s._group(ref))

        @route("GET", "groups/{id}/descendant_groups")
        def descendants(caller: dict[str, Any], ref: str) -> Any:
            g = s._group(ref)
            return s._page([s._group_json(s.groups[d]) for d in s._descendants(g["id"])])

        @route("GET", "groups/{id}/subgroups")
        def subgroups(caller: dict[str, Any], ref: str) -> Any:
            g = s._group(ref)
            return s._page([s._group_json(x) for _, x in sorted(s.groups.items()) if x["parent_id"] == g["id"]])

        @route("GET", "groups/{id}/projects")
        def group_projects(caller: dict[str, Any], ref: str) -> Any:
            g = s._group(ref)
            scope = {g["id"]}
            if request.args.get("include_subgroups") in ("true", "1"):
                scope |= set(s._descendants(g["id"]))
            items = [s._project_json(p) for _, p in sorted(s.projects.items()) if p["namespace_id"] in scope]
            return s._page(items)

        @route("GET", "groups/{id}/members/all")
        def group_members(caller: dict[str, Any], ref: str) -> Any:
            g = s._group(ref)
            seen: dict[int, int] = {}
            for gid in s._ancestors(g["id"]):
                for uid, level in s.members[gid].items():
                    seen[uid] = max(level, seen.get(uid, 0))
            out = [s._user_json(s.users[uid]) | {"access_level": level} for uid, level in sorted(seen.items())]
            return s._page(out)

        @route("GET", "projects")
        def list_projects(caller: dict[str, Any]) -> Any:
            items = [s._project_json(p) for _, p in sorted(s.projects.items())]
            if request.args.get("pagination") == "keyset":
                return s._keyset(items)
            return s._page(items)

        @route("GET", "projects/{id}")
        def get_project(caller: dict[str, Any], ref: str) -> Any:
            return s._project_json(s._project(ref))

        # personal access tokens

        def visible_pat(caller: dict[str, Any], t: dict[str, Any]) -> bool:
            return caller["admin"] or t["user_id"] == caller["user"]["id"]

        @route("GET", "personal_access_tokens")
        def list_pats(caller: dict[str, Any]) -> Any:
            # Resource access tokens are personal access tokens of bot users: an admin sees them too.
            items = [t for _, t in sorted(s.tokens.items()) if visible_pat(caller, t)]
            uid = request.args.get("user_id")
            if uid:
                items = [t for t in items if str(t["user_id"]) == uid]
            state = request.args.get("state")
            if state:
                items = [t for t in items if (s._token_status(t) == "active") == (state == "active")]
            return s._page([s._token_json(t) for t in items])

        @route("GET", "personal_access_tokens/self")
        def pat_self(caller: dict[str, Any]) -> Any:
            return s._token_json(caller["token"])

        def pat(caller: dict[str, Any], tid: str) -> dict[str, Any]:
            t = s.tokens.get(int(tid)) if tid.isdigit() else None
            if t is None or not visible_pat(caller, t):
                raise _not_found()
            return t

        @route("GET", "personal_access_tokens/{id}")
        def get_pat(caller: dict[str, Any], tid: str) -> Any:
            return s._token_json(pat(caller, tid))

        @route("DELETE", "personal_access_tokens/{id}")
        def revoke_pat(caller: dict[str, Any], tid: str) -> Any:
            t = pat(caller, tid)
            if t["revoked"]:
                raise _Abort(400, {"message": "400 Bad request - Token already revoked"})
            t["revoked"] = True
            return None

        def rotate(t: dict[str, Any]) -> dict[str, Any]:
            if s._token_status(t, datetime.now(timezone.utc)) != "active":
                raise _Abort(400, {"message": "400 Bad request - Token already revoked or expired"})
            t["revoked"] = True
            now = datetime.now(timezone.utc).replace(microsecond=0)
            expires = request.get_json(silent=True) or {}
            exp = expires.get("expires_at")
            new = s._token(t["user_id"], t["name"], list(t["scopes"]), now, None,
                           datetime.fromisoformat(exp).replace(tzinfo=timezone.utc) if exp else now + timedelta(days=7),
                           resource=t["resource"], access_level=t["access_level"], description=t["description"],
                           secret=f"glpat-rotated-{s._hex(20)}")
            return s._token_json(new, with_secret=True)

        @route("POST", "personal_access_tokens/{id}/rotate")
        def rotate_pat(caller: dict[str, Any], tid: str) -> Any:
            return rotate(pat(caller, tid))

        # project / group access tokens

        def resource_tokens(kind: str, sid: int) -> list[dict[str, Any]]:
            return [t for _, t in sorted(s.tokens.items()) if t["resource"] == (kind, sid)]

        def resource_token(kind: str, sid: int, tid: str) -> dict[str, Any]:
            t = s.tokens.get(int(tid)) if tid.isdigit() else None
            if t is None or t["resource"] != (kind, sid):
                raise _not_found()
            return t

        for kind, lookup in (("project", s._project), ("group", s._group)):
            def make(kind: str = kind, lookup: Callable[[str], dict[str, Any]] = lookup) -> None:
                base = f"{kind}s/{{id}}/access_tokens"

                @route("GET", base)
                def list_rt(caller: dict[str, Any], ref: str) -> Any:
                    items = resource_tokens(kind, lookup(ref)["id"])
                    state = request.args.get("state")
                    if state:
                        items = [t for t in items if (s._token_status(t) == "active") == (state == "active")]
                    return s._page([s._token_json(t) for t in items])

                @route("GET", base + "/{tid}")
                def get_rt(caller: dict[str, Any], ref: str, tid: str) -> Any:
                    return s._token_json(resource_token(kind, lookup(ref)["id"], tid))

                @route("DELETE", base + "/{tid}")
                def revoke_rt(caller: dict[str, Any], ref: str, tid: str) -> Any:
                    t = resource_token(kind, lookup(ref)["id"], tid)
                    t["revoked"] = True
                    return None

                @route("POST", base + "/{tid}/rotate")
                def rotate_rt(caller: dict[str, Any], ref: str, tid: str) -> Any:
                    return rotate(resource_token(kind, lookup(ref)["id"], tid))

            make()

        # deploy keys

        def key_json(k: dict[str, Any]) -> dict[str, Any]:
            return {"id": k["id"], "title": k["title"], "key": k["key"], "fingerprint": k["fingerprint"],
                    "fingerprint_sha256": k["fingerprint_sha256"], "usage_type": k["usage_type"],
                    "created_at": _ts(k["created_at"]), "expires_at": _ts(k["expires_at"])}

        @route("GET", "projects/{id}/deploy_keys")
        def project_keys(caller: dict[str, Any], ref: str) -> Any:
            pid = s._project(ref)["id"]
            return s._page([key_json(k) | {"can_push": k["links"][pid]}
                            for _, k in sorted(s.deploy_keys.items()) if pid in k["links"]])

        @route("DELETE", "projects/{id}/deploy_keys/{kid}")
        def unlink_key(caller: dict[str, Any], ref: str, kid: str) -> Any:
            pid = s._project(ref)["id"]
            k = s.deploy_keys.get(int(kid)) if kid.isdigit() else None
            if k is None or pid not in k["links"]:
                raise _not_found("Deploy key Not Found")
            del k["links"][pid]
            if not k["links"]:
                del s.deploy_keys[k["id"]]
            return None

        def key_projects(k: dict[str, Any], push: bool) -> list[dict[str, Any]]:
            return [{"id": pid, "name": s.projects[pid]["name"], "path": s.projects[pid]["path"],
                     "path_with_namespace": s.projects[pid]["path_with_namespace"],
                     "name_with_namespace": s.projects[pid]["path_with_namespace"].replace("/", " / ")}
                    for pid, can in sorted(k["links"].items()) if can == push]

        @route("GET", "deploy_keys")
        def all_keys(caller: dict[str, Any]) -> Any:
            s._require_admin(caller)
            return s._page([key_json(k) | {"projects_with_write_access": key_projects(k, True),
                                           "projects_with_readonly_access": key_projects(k, False)}
                            for _, k in sorted(s.deploy_keys.items())])

        # No DELETE /deploy_keys/:id: GitLab has no instance-level delete (only a proposal, gitlab#525018).

        # deploy tokens

        def deploy_tokens(owner: tuple[str, int]) -> list[dict[str, Any]]:
            items = [t for _, t in sorted(s.deploy_tokens.items()) if t["owner"] == owner]
            if request.args.get("active") in ("true", "1"):
                now = datetime.now(timezone.utc)
                items = [t for t in items if not t["revoked"] and not (t["expires_at"] and t["expires_at"] <= now)]
            return items

        @route("GET", "projects/{id}/deploy_tokens")
        def project_dtokens(caller: dict[str, Any], ref: str) -> Any:
            return s._page([s._deploy_token_json(t) for t in deploy_tokens(("project", s._project(ref)["id"]))])

        @route("GET", "groups/{id}/deploy_tokens")
        def group_dtokens(caller: dict[str, Any], ref: str) -> Any:
            return s._page([s._deploy_token_json(t) for t in deploy_tokens(("group", s._group(ref)["id"]))])

        @route("GET", "deploy_tokens")
        def all_dtokens(caller: dict[str, Any]) -> Any:
            s._require_admin(caller)
            return s._page([s._deploy_token_json(t) for _, t in sorted(s.deploy_tokens.items())])

        def delete_dtoken(owner: tuple[str, int], tid: str) -> None:
            t = s.deploy_tokens.get(int(tid)) if tid.isdigit() else None
            if t is None or t["owner"] != owner:
                raise _not_found("Deploy token Not Found")
            del s.deploy_tokens[t["id"]]

        @route("DELETE", "projects/{id}/deploy_tokens/{tid}")
        def delete_project_dtoken(caller: dict[str, Any], ref: str, tid: str) -> Any:
            delete_dtoken(("project", s._project(ref)["id"]), tid)

        @route("DELETE", "groups/{id}/deploy_tokens/{tid}")
        def delete_group_dtoken(caller: dict[str, Any], ref: str, tid: str) -> Any:
            delete_dtoken(("group", s._group(ref)["id"]), tid)

        # runners

        def filter_runners(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
            rtype = request.args.get("type")
            if rtype:
                items = [r for r in items if r["runner_type"] == rtype]
            status = request.args.get("status")
            if status == "paused":
                items = [r for r in items if r["paused"]]
            elif status:
                items = [r for r in items if r["status"] == status]
            paused = request.args.get("paused")
            if paused in ("true", "false"):
                items = [r for r in items if r["paused"] == (paused == "true")]
            return [s._runner_json(r) for r in items]

        @route("GET", "runners/all")
        def all_runners(caller: dict[str, Any]) -> Any:
            s._require_admin(caller)
            return s._page(filter_runners([r for _, r in sorted(s.runners.items())]))

        @route("GET", "runners")
        def owned_runners(caller: dict[str, Any]) -> Any:
            return s._page(filter_runners([r for _, r in sorted(s.runners.items())
                                           if r["created_by"] == caller["user"]["id"]]))

        @route("GET", "groups/{id}/runners")
        def group_runners(caller: dict[str, Any], ref: str) -> Any:
            ancestors = set(s._ancestors(s._group(ref)["id"]))
            items = [r for _, r in sorted(s.runners.items())
                     if r["runner_type"] == "instance_type" or set(r["groups"]) & ancestors]
            return s._page(filter_runners(items))

        @route("GET", "projects/{id}/runners")
        def project_runners(caller: dict[str, Any], ref: str) -> Any:
            p = s._project(ref)
            ancestors = set(s._ancestors(p["namespace_id"]))
            items = [r for _, r in sorted(s.runners.items())
                     if r["runner_type"] == "instance_type" or p["id"] in r["projects"] or set(r["groups"]) & ancestors]
            return s._page(filter_runners(items))

        def runner(rid: str) -> dict[str, Any]:
            r = s.runners.get(int(rid)) if rid.isdigit() else None
            if r is None:
                raise _not_found()
            return r

        @route("GET", "runners/{id}")
        def get_runner(caller: dict[str, Any], rid: str) -> Any:
            return s._runner_json(runner(rid), detail=True)

        @route("PUT", "runners/{id}")
        def update_runner(caller: dict[str, Any], rid: str) -> Any:
            r = runner(rid)
            data = request.get_json(silent=True) or request.form.to_dict()
            if "paused" in data and "active" in data:
                raise _Abort(400, {"error": "active, paused are mutually exclusive"})
            if "paused" in data:
                r["paused"] = data["paused"] in (True, "true", "1", 1)
            elif "active" in data:
                r["paused"] = data["active"] not in (True, "true", "1", 1)
            for field in ("description", "locked", "access_level", "tag_list"):
                if field in data:
                    r[field] = data[field]
            return s._runner_json(r, detail=True)

        @route("DELETE", "runners/{id}")
        def delete_runner(caller: dict[str, Any], rid: str) -> Any:
            r = runner(rid)
            if not caller["admin"] and len(r["projects"]) > 1:
                raise _Abort(403, {"message": "403 Forbidden - Runner associated with more than one project"})
            del s.runners[r["id"]]
            return None

        # CI/CD variables

        def variables(scope: tuple[str, int | None]) -> list[dict[str, Any]]:
            return [v for v in s.variables if v["scope"] == scope]

        def delete_variable(scope: tuple[str, int | None], key: str) -> None:
            env = request.args.get("filter[environment_scope]")
            matches = [v for v in variables(scope) if v["key"] == key and (env is None or v["environment_scope"] == env)]
            if not matches:
                raise _not_found("Variable Not Found")
            if len(matches) > 1:
                raise _Abort(409, {"message": "There are multiple variables with provided parameters. "
                                              "Please use 'filter[environment_scope]'"})
            s.variables.remove(matches[0])

        @route("GET", "projects/{id}/variables")
        def project_vars(caller: dict[str, Any], ref: str) -> Any:
            return s._page([s._variable_json(v) for v in variables(("project", s._project(ref)["id"]))])

        @route("GET", "groups/{id}/variables")
        def group_vars(caller: dict[str, Any], ref: str) -> Any:
            return s._page([s._variable_json(v) for v in variables(("group", s._group(ref)["id"]))])

        @route("GET", "admin/ci/variables")
        def instance_vars(caller: dict[str, Any]) -> Any:
            s._require_admin(caller)
            return s._page([s._variable_json(v) for v in variables(("instance", None))])

        @route("DELETE", "projects/{id}/variables/{key}")
        def delete_project_var(caller: dict[str, Any], ref: str, key: str) -> Any:
            delete_variable(("project", s._project(ref)["id"]), key)

        @route("DELETE", "groups/{id}/variables/{key}")
        def delete_group_var(caller: dict[str, Any], ref: str, key: str) -> Any:
            delete_variable(("group", s._group(ref)["id"]), key)

        @route("DELETE", "admin/ci/variables/{key}")
        def delete_instance_var(caller: dict[str, Any], key: str) -> Any:
            s._require_admin(caller)
            delete_variable(("instance", None), key)

        # pipeline triggers

        @route("GET", "projects/{id}/triggers")
        def list_triggers(caller: dict[str, Any], ref: str) -> Any:
            pid = s._project(ref)["id"]
            return s._page([s._trigger_json(t, caller) for _, t in sorted(s.triggers.items())
                            if t["project_id"] == pid])

        @route("DELETE", "projects/{id}/triggers/{tid}")
        def delete_trigger(caller: dict[str, Any], ref: str, tid: str) -> Any:
            pid = s._project(ref)["id"]
            t = s.triggers.get(int(tid)) if tid.isdigit() else None
            if t is None or t["project_id"] != pid:
                raise _not_found("Trigger Not Found")
            del s.triggers[t["id"]]


__all__ = ["CANARY", "ENV_TOKEN", "GitLabFake"]
