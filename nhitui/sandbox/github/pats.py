"""Fine-grained PAT grants and pending requests, with the repositories of `subset` ones.

Routes: `/orgs/{org}/personal-access-tokens[/{id}[/repositories]]` (GET, POST revoke, bulk POST) and
`/orgs/{org}/personal-access-token-requests[/{id}[/repositories]]` (GET, POST approve/deny).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask, Response, request

from nhitui.sandbox.github.state import iso, user_json

if TYPE_CHECKING:
    from nhitui.sandbox.github.fake import GitHubFake


def seed_pats(fake: GitHubFake, org_login: str, repo_names: list[str], members: list[str]) -> None:
    # GitHub accepts only a GitHub App on these endpoints: a source without one is offered no action.
    app = fake.app_enabled
    w = fake.world
    org = fake.orgs[org_login]
    #  name, owner, selection, repos, perms, granted, expires(+ahead/-ago/None), last_used, findings, privilege
    plan = [
        (w.hostile(1), members[0], "all", [], {"repository": {"contents": "write", "metadata": "read"}},
         60, 60, 2, {"pat-all-repos"}, "write"),
        ("ci-readonly", members[1], "subset", repo_names[:2],
         {"repository": {"contents": "read", "metadata": "read"}}, 200, -10, 40, {"expired-present"}, "read"),
        ("old-automation", w.departed[0], "subset", repo_names[2:3],
         {"repository": {"contents": "write", "issues": "write"}, "organization": {"members": "read"}},
         250, None, 200, {"no-expiry", "owner-departed", "stale-unused"}, "write"),
        ("never-used-token", members[2], "none", [], {"organization": {"members": "read"}},
         100, 200, None, {"never-used"}, "read"),
        ("org-admin-token", members[3], "subset", repo_names[3:4],
         {"organization": {"organization_administration": "write"}, "repository": {"metadata": "read"}},
         20, 30, 1, {"admin-scope"}, "admin"),
    ]
    for name, owner, selection, repos, perms, granted, expires, used, findings, privilege in plan:
        pat_id = fake.new_id(70_000)
        token_id = fake.new_id(80_000)
        expires_at = None if expires is None else (w.days_ahead(expires) if expires > 0 else w.days_ago(-expires))
        body = {
            "id": pat_id, "owner": user_json(owner), "repository_selection": selection,
            "repositories_url": f"https://api.github.com/orgs/{org_login}/personal-access-tokens/{pat_id}/repositories",
            "permissions": perms, "access_granted_at": iso(w.days_ago(granted)), "token_id": token_id,
            "token_name": name, "token_expired": expires is not None and expires < 0,
            "token_expires_at": iso(expires_at), "token_last_used_at": iso(w.days_ago(used)) if used else None,
            "_repos": list(repos),
        }
        org.pat_grants.append(body)
        fake.expect("fine_grained_pat", f"grant:{org_login}:{pat_id}", findings, name=name, owner=owner,
                    target=org_login, privilege=privilege, scopes=pat_scopes(perms),
                    status="expired" if body["token_expired"] else "active", credential="static",
                    usage_tracked=True, created_at=w.days_ago(granted), expires_at=expires_at,
                    last_used_at=w.days_ago(used) if used else None, actions=("revoke",) if app else (),
                    details={"repository_selection": selection, "token_name": name, "token_id": token_id,
                             "repos": sorted(repos), "pat_id": pat_id})
    req_id = fake.new_id(60_000)
    token_id = fake.new_id(80_000)
    perms = {"repository": {"deployments": "write", "metadata": "read"}}
    body = {
        "id": req_id, "reason": "needed for deploys", "owner": user_json(members[4]),
        "repository_selection": "subset",
        "repositories_url": f"https://api.github.com/orgs/{org_login}/personal-access-token-requests/{req_id}/repositories",
        "permissions": perms, "created_at": iso(w.days_ago(3)), "token_id": token_id,
        "token_name": "deploy-bot-request", "token_expired": False, "token_expires_at": iso(w.days_ahead(30)),
        "token_last_used_at": None, "_repos": repo_names[:1],
    }
    org.pat_requests.append(body)
    fake.expect("fine_grained_pat", f"request:{org_login}:{req_id}", set(), name="deploy-bot-request",
                owner=members[4], target=org_login, privilege="write", scopes=pat_scopes(perms),
                status="pending", credential="static", usage_tracked=True, created_at=w.days_ago(3),
                expires_at=w.days_ahead(30), last_used_at=None, actions=("deny",) if app else (),
                details={"repository_selection": "subset", "token_name": "deploy-bot-request",
                         "token_id": token_id, "repos": repo_names[:1], "request_id": req_id})


def pat_scopes(perms: dict[str, dict[str, str]]) -> tuple[str, ...]:
    return tuple(sorted(f"{group}:{name}:{level}" for group, items in perms.items() for name, level in items.items()))


def routes(app: Flask, fake: GitHubFake) -> None:
    """List, revoke and review grants and requests."""

    def settle(items: list[dict] | None, ident: int, allowed: tuple[str, ...]) -> Response:
        """A revoke (grant) or a review (request): the object leaves the list, 204."""
        obj = fake.find(items, ident)
        if obj is None or items is None:
            return fake.not_found()
        if (request.get_json(silent=True) or {}).get("action") not in allowed:
            return fake.error(422, "Validation Failed")
        with fake.lock:
            items.remove(obj)
        return fake.respond(None, 204)

    @app.route("/orgs/<org>/personal-access-tokens", methods=["GET", "POST"])
    def pat_grants(org: str) -> Response:
        o = fake.orgs.get(org)
        if o is None:
            return fake.not_found()
        if request.method == "POST":
            body = request.get_json(silent=True) or {}
            ids = body.get("pat_ids")
            if body.get("action") != "revoke" or not isinstance(ids, list) or not ids:
                return fake.error(422, "Validation Failed")
            with fake.lock:
                o.pat_grants = [g for g in o.pat_grants if g["id"] not in set(ids)]
            return fake.respond({}, 202)
        return fake.page(o.pat_grants)

    @app.post("/orgs/<org>/personal-access-tokens/<int:pat_id>")
    def pat_grant_update(org: str, pat_id: int) -> Response:
        o = fake.orgs.get(org)
        return settle(o.pat_grants if o else None, pat_id, ("revoke",))

    @app.get("/orgs/<org>/personal-access-tokens/<int:pat_id>/repositories")
    def pat_grant_repos(org: str, pat_id: int) -> Response:
        o = fake.orgs.get(org)
        g = fake.find(o.pat_grants, pat_id) if o else None
        return fake.not_found() if g is None else fake.repo_page(g["_repos"])

    @app.get("/orgs/<org>/personal-access-token-requests")
    def pat_requests(org: str) -> Response:
        o = fake.orgs.get(org)
        return fake.not_found() if o is None else fake.page(o.pat_requests)

    @app.post("/orgs/<org>/personal-access-token-requests/<int:pat_request_id>")
    def pat_request_review(org: str, pat_request_id: int) -> Response:
        o = fake.orgs.get(org)
        return settle(o.pat_requests if o else None, pat_request_id, ("approve", "deny"))

    @app.get("/orgs/<org>/personal-access-token-requests/<int:pat_request_id>/repositories")
    def pat_request_repos(org: str, pat_request_id: int) -> Response:
        o = fake.orgs.get(org)
        r = fake.find(o.pat_requests, pat_request_id) if o else None
        return fake.not_found() if r is None else fake.repo_page(r["_repos"])
