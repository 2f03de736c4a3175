"""Deploy tokens in the fake GitLab: seeding, JSON and routes.

Project and group lists (`?active=true` leaves out revoked and expired ones), the admin instance
list (which does not say whose a token is), and revocation (DELETE removes the token).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from flask import request

from nhitui.sandbox.gitlab.http import Route, not_found, page, ts

if TYPE_CHECKING:
    from nhitui.sandbox.gitlab.fake import GitLabFake

# (expires in days | None, revoked, scopes)
PATTERNS = ((100, False, ["read_repository"]), (None, False, ["read_registry", "write_registry"]),
            (-10, False, ["read_package_registry"]), (200, True, ["read_repository"]))


def _deploy_token(fake: GitLabFake, owner: tuple[str, int], n: int, target: str) -> None:
    w = fake.world
    expires, revoked, scopes = PATTERNS[n % len(PATTERNS)]
    tid = fake.next_id("dtoken")
    exp = w.days_ahead(expires) if expires is not None else None
    token = {"id": tid, "name": fake.name(f"deploy-token-{n}"), "username": f"gitlab+deploy-token-{tid}",
             "expires_at": exp, "revoked": revoked, "scopes": scopes, "owner": owner,
             "token": f"gldt-{fake.hex(20)}"}
    fake.deploy_tokens[tid] = token
    status = "revoked" if revoked else "expired" if exp is not None and exp <= w.now else "active"
    privilege = "write" if any(s.startswith("write_") for s in scopes) else "read"
    truth = {"name": token["name"], "owner": "", "target": target, "privilege": privilege, "status": status,
             "created_at": None, "expires_at": exp, "last_used_at": None, "scopes": tuple(scopes)}
    fake.expect("deploy_token", tid, truth, {"usage_tracked": False})


def seed(fake: GitLabFake) -> None:
    n = 0
    for i, (pid, p) in enumerate(sorted(fake.projects.items())):
        if i % 5 == 0:
            _deploy_token(fake, ("project", pid), n, p["path_with_namespace"])
            n += 1
    for gid, g in sorted(fake.groups.items()):
        if g["parent_id"] is None or g["full_path"].count("/") == 1:
            _deploy_token(fake, ("group", gid), n, g["full_path"])
            n += 1


def token_json(t: dict[str, Any]) -> dict[str, Any]:
    now = datetime.now(timezone.utc)
    return {"id": t["id"], "name": t["name"], "username": t["username"], "expires_at": ts(t["expires_at"]),
            "revoked": t["revoked"], "expired": t["expires_at"] is not None and t["expires_at"] <= now,
            "scopes": list(t["scopes"])}


def routes(fake: GitLabFake, route: Route) -> None:
    def owned(owner: tuple[str, int]) -> list[dict[str, Any]]:
        items = [t for _, t in sorted(fake.deploy_tokens.items()) if t["owner"] == owner]
        if request.args.get("active") in ("true", "1"):
            now = datetime.now(timezone.utc)
            items = [t for t in items if not t["revoked"] and not (t["expires_at"] and t["expires_at"] <= now)]
        return items

    @route("GET", "projects/{id}/deploy_tokens")
    def project_dtokens(caller: dict[str, Any], ref: str) -> Any:
        return page(fake, [token_json(t) for t in owned(("project", fake.project(ref)["id"]))])

    @route("GET", "groups/{id}/deploy_tokens")
    def group_dtokens(caller: dict[str, Any], ref: str) -> Any:
        return page(fake, [token_json(t) for t in owned(("group", fake.group(ref)["id"]))])

    @route("GET", "deploy_tokens")
    def all_dtokens(caller: dict[str, Any]) -> Any:
        fake.require_admin(caller)
        return page(fake, [token_json(t) for _, t in sorted(fake.deploy_tokens.items())])

    def delete(owner: tuple[str, int], tid: str) -> None:
        t = fake.deploy_tokens.get(int(tid)) if tid.isdigit() else None
        if t is None or t["owner"] != owner:
            raise not_found("Deploy token Not Found")
        del fake.deploy_tokens[t["id"]]

    @route("DELETE", "projects/{id}/deploy_tokens/{tid}")
    def delete_project_dtoken(caller: dict[str, Any], ref: str, tid: str) -> Any:
        delete(("project", fake.project(ref)["id"]), tid)

    @route("DELETE", "groups/{id}/deploy_tokens/{tid}")
    def delete_group_dtoken(caller: dict[str, Any], ref: str, tid: str) -> Any:
        delete(("group", fake.group(ref)["id"]), tid)
