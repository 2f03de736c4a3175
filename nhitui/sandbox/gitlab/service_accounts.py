"""Service accounts in the fake GitLab (Premium and up): seeding and routes.

A group service account of the top group (`service_account_group_<id>_<hex>`) with a stale token
that never expires and a healthy one, and an instance service account (`service_account_<hex>`)
with a token never used. Both are members of the top group, as service accounts must be added to
groups like people. Routes: `GET /groups/:id/service_accounts`, its tokens list, revoke and rotate
(Owner of the top-level group, Premium), and the administrator's `GET /service_accounts`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nhitui.sandbox.gitlab import tokens
from nhitui.sandbox.gitlab.http import Abort, Route, forbidden, not_found, page
from nhitui.sandbox.gitlab.orgs import MAINTAINER

if TYPE_CHECKING:
    from nhitui.sandbox.gitlab.fake import GitLabFake


def seed(fake: GitLabFake) -> None:
    w = fake.world
    top = fake.top_id
    group_sa = fake.add_user(f"service_account_group_{top}_{fake.hex(12)}")
    group_sa["service_account_group_id"] = top
    instance_sa = fake.add_user(f"service_account_{fake.hex(12)}")
    instance_sa["service_account_group_id"] = 0          # an instance account
    for sa in (group_sa, instance_sa):
        sa["name"] = "Service account user"
        fake.members[top][sa["id"]] = MAINTAINER
        fake.by_name[sa["username"]] = sa["id"]
    made = [
        tokens.new_token(fake, group_sa["id"], "deploy-pipeline", ["api"], w.days_ago(400), w.days_ago(200), None,
                         description="pipeline deploys"),
        tokens.new_token(fake, group_sa["id"], "release-notes", ["read_api"], w.days_ago(30), w.days_ago(1),
                         w.days_ahead(300)),
        tokens.new_token(fake, instance_sa["id"], "mirror-sync", ["read_repository"], w.days_ago(100), None,
                         w.days_ahead(200)),
    ]
    for t in made:
        tokens.expect_token(fake, "personal_access_token", t, w.org)


def _account_json(u: dict[str, Any]) -> dict[str, Any]:
    return {"id": u["id"], "username": u["username"], "name": u["name"],
            "email": f"{u['username']}@noreply.gitlab.example.com"}


def routes(fake: GitLabFake, route: Route) -> None:
    def owned_by(group: dict[str, Any]) -> list[dict[str, Any]]:
        return [u for _, u in sorted(fake.users.items()) if u.get("service_account_group_id") == group["id"]]

    def account(caller: dict[str, Any], ref: str, uid: str) -> dict[str, Any]:
        group = fake.group(ref)
        fake.require_top_owner(caller, group, "premium")
        sa = next((u for u in owned_by(group) if str(u["id"]) == uid), None)
        if sa is None:
            raise not_found("User Not Found")
        return sa

    def token_of(sa: dict[str, Any], tid: str) -> dict[str, Any]:
        t = fake.tokens.get(int(tid)) if tid.isdigit() else None
        if t is None or t["user_id"] != sa["id"]:
            raise not_found()
        return t

    @route("GET", "groups/{id}/service_accounts")
    def group_accounts(caller: dict[str, Any], ref: str) -> Any:
        group = fake.group(ref)
        fake.require_top_owner(caller, group, "premium")
        return page(fake, [_account_json(u) for u in owned_by(group)])

    base = "groups/{id}/service_accounts/{uid}/personal_access_tokens"

    @route("GET", base)
    def account_tokens(caller: dict[str, Any], ref: str, uid: str) -> Any:
        sa = account(caller, ref, uid)
        return page(fake, [tokens.token_json(fake, t) for _, t in sorted(fake.tokens.items()) if t["user_id"] == sa["id"]])

    @route("DELETE", base + "/{tid}")
    def revoke(caller: dict[str, Any], ref: str, uid: str, tid: str) -> Any:
        t = token_of(account(caller, ref, uid), tid)
        if t["revoked"]:
            raise Abort(400, {"message": "400 Bad request - Token already revoked"})
        t["revoked"] = True

    @route("POST", base + "/{tid}/rotate")
    def rotate(caller: dict[str, Any], ref: str, uid: str, tid: str) -> Any:
        return tokens.rotate(fake, token_of(account(caller, ref, uid), tid))

    @route("GET", "service_accounts")
    def instance_accounts(caller: dict[str, Any]) -> Any:
        fake.require_admin(caller)
        if fake.tier == "free":
            raise forbidden()
        return page(fake, [_account_json(u) for _, u in sorted(fake.users.items())
                           if u.get("service_account_group_id") == 0])
