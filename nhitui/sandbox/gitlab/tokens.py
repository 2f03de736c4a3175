"""Personal, project and group access tokens in the fake GitLab: seeding, JSON and routes.

A revoked token is listed again with `revoked: true, active: false`; rotating revokes the old token
and creates a new id (default expiry one week); rotating a token that is not active answers 400.
Project and group access tokens belong to bot users `project_<id>_bot_<hex>` / `group_<id>_bot_<hex>`
that are members of their project or group with the token's role.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from flask import request

from nhitui.sandbox.gitlab.http import Abort, Route, date, midnight, not_found, page, ts
from nhitui.sandbox.gitlab.orgs import DEVELOPER, GUEST, MAINTAINER, OWNER, REPORTER

if TYPE_CHECKING:
    from nhitui.sandbox.gitlab.fake import GitLabFake

# Patterns: (created days ago, last used days ago | None, expires in days | None, revoked, scopes)
PAT_PATTERNS = (
    (50, 2, 200, False, ["read_api"]),                      # healthy
    (400, 200, None, False, ["api"]),                       # stale, no expiry, old
    (100, None, 120, False, ["read_repository"]),           # never used
    (120, 100, 60, True, ["api"]),                          # revoked, still listed
    (200, 20, -10, False, ["write_repository"]),            # expired, still listed
    (20, None, 300, False, ["read_registry", "write_registry"]),  # young, unused: no finding
)

RESOURCE_PATTERNS = (
    (50, 2, 200, False, MAINTAINER, ["api"]),                          # admin via api + maintainer
    (400, 200, None, False, DEVELOPER, ["read_repository", "write_repository"]),  # stale, old
    (100, None, 100, False, REPORTER, ["read_api"]),                   # never used
    (120, 100, 60, True, GUEST, ["read_registry"]),                    # revoked
    (200, 20, -10, False, DEVELOPER, ["api"]),                         # expired
    (10, None, 30, False, OWNER, ["read_api", "api"]),                 # admin, young
    (60, 3, 150, False, OWNER, ["read_repository"]),                   # owner role, read scope
)


# --- state -----------------------------------------------------------------------------------------

def new_token(fake: GitLabFake, user_id: int, name: str, scopes: list[str], created: datetime,
              last_used: datetime | None, expires: datetime | None, revoked: bool = False,
              resource: tuple[str, int | None] = ("user", None), access_level: int | None = None,
              secret: str | None = None, description: str = "") -> dict[str, Any]:
    tid = fake.next_id("token")
    token = {"id": tid, "name": name, "description": description, "user_id": user_id, "scopes": scopes,
             "created_at": created, "last_used_at": last_used, "expires_at": midnight(expires),
             "revoked": revoked, "resource": resource, "access_level": access_level,
             "token": secret or f"glpat-{fake.hex(20)}"}
    fake.tokens[tid] = token
    return token


def status(fake: GitLabFake, t: dict[str, Any], now: datetime | None = None) -> str:
    now = now or fake.world.now
    if t["revoked"]:
        return "revoked"
    if t["expires_at"] is not None and t["expires_at"] <= now:
        return "expired"
    return "active"


def pat_privilege(scopes: list[str]) -> str:
    # GitLab's scope meanings as documented (sudo/admin_mode -> admin, api/write_* -> write).
    if set(scopes) & {"sudo", "admin_mode"}:
        return "admin"
    if any(s == "api" or s.startswith(("write_", "manage_", "create_")) or s == "k8s_proxy" for s in scopes):
        return "write"
    return "read" if scopes else "none"


def resource_privilege(scopes: list[str], level: int) -> str:
    order = ("none", "read", "write", "admin")
    ceiling = "admin" if "api" in scopes else pat_privilege(scopes)
    role = "admin" if level >= MAINTAINER else "write" if level >= DEVELOPER else "read" if level >= GUEST \
        else "none"
    return min(ceiling, role, key=order.index)


def expect_token(fake: GitLabFake, kind: str, t: dict[str, Any], target: str) -> None:
    privilege = pat_privilege(t["scopes"]) if kind == "personal_access_token" else \
        resource_privilege(t["scopes"], t["access_level"])
    truth = {"name": t["name"], "owner": fake.owner_name(t["user_id"]),
             "target": "" if kind == "personal_access_token" else target,
             "privilege": privilege, "status": status(fake, t), "created_at": t["created_at"],
             "expires_at": t["expires_at"], "last_used_at": t["last_used_at"], "scopes": tuple(t["scopes"])}
    fake.expect(kind, t["id"], truth, {})
    if kind == "personal_access_token" and t["user_id"] != fake.user_id:
        owner = fake.users[t["user_id"]]
        if owner.get("enterprise_group_id") is not None:
            fake.enterprise_only.add((kind, str(t["id"])))     # an Owner sees it in the credentials inventory
        elif not owner.get("service_account_group_id"):       # a person without inventory, or an instance account
            fake.instance_only.add((kind, str(t["id"])))


def token_json(fake: GitLabFake, t: dict[str, Any], with_secret: bool = False) -> dict[str, Any]:
    active = status(fake, t, datetime.now(timezone.utc)) == "active"
    body = {"id": t["id"], "name": t["name"], "description": t["description"], "revoked": t["revoked"],
            "created_at": ts(t["created_at"]), "scopes": list(t["scopes"]), "user_id": t["user_id"],
            "last_used_at": ts(t["last_used_at"]), "active": active, "expires_at": date(t["expires_at"])}
    if t["resource"][0] != "user":
        body["access_level"] = t["access_level"]
    if with_secret:
        body["token"] = t["token"]
    return body


# --- seeding ---------------------------------------------------------------------------------------

def seed(fake: GitLabFake) -> None:
    _seed_pats(fake)
    _seed_resource_tokens(fake)


def _seed_pats(fake: GitLabFake) -> None:
    w = fake.world
    target = w.org
    scanner = [
        new_token(fake, fake.root_id, "nhitui-sandbox-admin", ["api", "admin_mode"], w.days_ago(10),
                  w.days_ago(0.01), w.days_ahead(300), secret=fake.token),
        new_token(fake, fake.root_id, "nhitui-sandbox-readonly", ["read_api"], w.days_ago(10), w.days_ago(0.01),
                  w.days_ahead(300), secret=fake.readonly_token),
        new_token(fake, fake.user_id, "nhitui-sandbox-user", ["api"], w.days_ago(10), w.days_ago(0.01),
                  w.days_ahead(300), secret=fake.user_token),
        new_token(fake, fake.root_id, fake.name("ops-sudo", 1), ["api", "sudo"], w.days_ago(400), w.days_ago(200),
                  None, description="break-glass " + w.hostile(5)),
    ]
    for t in scanner:
        expect_token(fake, "personal_access_token", t, target)
    member_ids = fake.member_ids
    for n, uid in enumerate(member_ids[: max(6, len(member_ids) // 2)]):
        created, used, expires, revoked, scopes = PAT_PATTERNS[n % len(PAT_PATTERNS)]
        t = new_token(fake, uid, fake.name(f"laptop-{n}"), list(scopes), w.days_ago(created),
                      w.days_ago(used) if used is not None else None,
                      w.days_ahead(expires) if expires is not None else None, revoked=revoked)
        expect_token(fake, "personal_access_token", t, target)
    # An enterprise member's token nobody has used for a year (the credentials inventory finds it).
    old = new_token(fake, member_ids[1 % len(member_ids)], "laptop-2024", ["api"], w.days_ago(500), w.days_ago(365),
                    None, description="old laptop")
    expect_token(fake, "personal_access_token", old, target)
    for n, uid in enumerate(fake.departed_ids):
        t = new_token(fake, uid, fake.name(f"ci-helper-{n}", 2), ["api"], w.days_ago(300), w.days_ago(5 + n),
                      None if n % 2 == 0 else w.days_ahead(90))
        expect_token(fake, "personal_access_token", t, target)


def _resource_token(fake: GitLabFake, kind: str, scope_id: int, n: int, target: str) -> None:
    w = fake.world
    created, used, expires, revoked, level, scopes = RESOURCE_PATTERNS[n % len(RESOURCE_PATTERNS)]
    prefix = "project" if kind == "project_access_token" else "group"
    bot = fake.add_user(f"{prefix}_{scope_id}_bot_{fake.hex(32)}", bot=True)
    members = fake.project_members if prefix == "project" else fake.members
    members[scope_id][bot["id"]] = level
    t = new_token(fake, bot["id"], fake.name(f"{prefix}-token-{n}"), list(scopes), w.days_ago(created),
                  w.days_ago(used) if used is not None else None,
                  w.days_ahead(expires) if expires is not None else None, revoked=revoked,
                  resource=(prefix, scope_id), access_level=level)
    expect_token(fake, kind, t, target)


def _seed_resource_tokens(fake: GitLabFake) -> None:
    n = 0
    for i, (pid, p) in enumerate(sorted(fake.projects.items())):
        count = (1 if i % 3 == 0 else 0) + (1 if i % 9 == 0 else 0)
        for _ in range(count):
            _resource_token(fake, "project_access_token", pid, n, p["path_with_namespace"])
            n += 1
    for gid, g in sorted(fake.groups.items()):
        for _ in range(2 if g["parent_id"] is None else 1):
            _resource_token(fake, "group_access_token", gid, n, g["full_path"])
            n += 1


# --- routes ----------------------------------------------------------------------------------------

def _filter_state(fake: GitLabFake, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    state = request.args.get("state")
    if state:
        items = [t for t in items if (status(fake, t) == "active") == (state == "active")]
    return items


def rotate(fake: GitLabFake, t: dict[str, Any]) -> dict[str, Any]:
    """POST …/rotate: revoke `t`, create its replacement (same name, scopes, owner), answer it with its value."""
    if status(fake, t, datetime.now(timezone.utc)) != "active":
        raise Abort(400, {"message": "400 Bad request - Token already revoked or expired"})
    t["revoked"] = True
    now = datetime.now(timezone.utc).replace(microsecond=0)
    exp = (request.get_json(silent=True) or {}).get("expires_at")
    new = new_token(fake, t["user_id"], t["name"], list(t["scopes"]), now, None,
                    datetime.fromisoformat(exp).replace(tzinfo=timezone.utc) if exp else now + timedelta(days=7),
                    resource=t["resource"], access_level=t["access_level"], description=t["description"],
                    secret=f"glpat-rotated-{fake.hex(20)}")
    return token_json(fake, new, with_secret=True)


def routes(fake: GitLabFake, route: Route) -> None:
    def visible_pat(caller: dict[str, Any], t: dict[str, Any]) -> bool:
        return caller["admin"] or t["user_id"] == caller["user"]["id"]

    @route("GET", "personal_access_tokens")
    def list_pats(caller: dict[str, Any]) -> Any:
        # Resource access tokens are personal access tokens of bot users: an admin sees them too.
        items = [t for _, t in sorted(fake.tokens.items()) if visible_pat(caller, t)]
        uid = request.args.get("user_id")
        if uid:
            items = [t for t in items if str(t["user_id"]) == uid]
        return page(fake, [token_json(fake, t) for t in _filter_state(fake, items)])

    @route("GET", "personal_access_tokens/self")
    def pat_self(caller: dict[str, Any]) -> Any:
        return token_json(fake, caller["token"])

    def pat(caller: dict[str, Any], tid: str) -> dict[str, Any]:
        t = fake.tokens.get(int(tid)) if tid.isdigit() else None
        if t is None or not visible_pat(caller, t):
            raise not_found()
        return t

    @route("GET", "personal_access_tokens/{id}")
    def get_pat(caller: dict[str, Any], tid: str) -> Any:
        return token_json(fake, pat(caller, tid))

    @route("DELETE", "personal_access_tokens/{id}")
    def revoke_pat(caller: dict[str, Any], tid: str) -> Any:
        t = pat(caller, tid)
        if t["revoked"]:
            raise Abort(400, {"message": "400 Bad request - Token already revoked"})
        t["revoked"] = True

    @route("POST", "personal_access_tokens/{id}/rotate")
    def rotate_pat(caller: dict[str, Any], tid: str) -> Any:
        return rotate(fake, pat(caller, tid))

    for kind, lookup in (("project", fake.project), ("group", fake.group)):
        _resource_routes(fake, route, kind, lookup)


def _resource_routes(fake: GitLabFake, route: Route, kind: str, lookup: Any) -> None:
    base = f"{kind}s/{{id}}/access_tokens"

    def resource_token(ref: str, tid: str) -> dict[str, Any]:
        sid = lookup(ref)["id"]
        t = fake.tokens.get(int(tid)) if tid.isdigit() else None
        if t is None or t["resource"] != (kind, sid):
            raise not_found()
        return t

    @route("GET", base)
    def list_rt(caller: dict[str, Any], ref: str) -> Any:
        sid = lookup(ref)["id"]
        items = [t for _, t in sorted(fake.tokens.items()) if t["resource"] == (kind, sid)]
        return page(fake, [token_json(fake, t) for t in _filter_state(fake, items)])

    @route("GET", base + "/{tid}")
    def get_rt(caller: dict[str, Any], ref: str, tid: str) -> Any:
        return token_json(fake, resource_token(ref, tid))

    @route("DELETE", base + "/{tid}")
    def revoke_rt(caller: dict[str, Any], ref: str, tid: str) -> Any:
        resource_token(ref, tid)["revoked"] = True

    @route("POST", base + "/{tid}/rotate")
    def rotate_rt(caller: dict[str, Any], ref: str, tid: str) -> Any:
        return rotate(fake, resource_token(ref, tid))
