"""GitHub App installations on the organisation: `GET /orgs/{org}/installations`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask, Response

from nhitui.sandbox.github.state import iso, user_json

if TYPE_CHECKING:
    from nhitui.sandbox.github.fake import GitHubFake


def seed_installations(fake: GitHubFake, org_login: str) -> None:
    w = fake.world
    org = fake.orgs[org_login]
    plan = [
        ("acme-ci-bot", "all", {"contents": "write", "metadata": "read", "pull_requests": "write",
                                "checks": "write"}, 500, None, {"app-all-repos-write"}, "write"),
        ("renovate", "selected", {"contents": "write", "pull_requests": "write", "metadata": "read",
                                  "workflows": "write"}, 200, None, set(), "write"),
        ("slack", "all", {"metadata": "read", "issues": "read"}, 900, None, set(), "read"),
        ("legacy-deployer", "selected", {"administration": "write", "contents": "write", "metadata": "read"},
         800, 30, {"admin-scope"}, "admin"),
    ]
    for slug, selection, perms, created, suspended, findings, privilege in plan:
        inst_id = fake.new_id(5_000_000)
        app_id = fake.new_id(900_000)
        body = {
            "id": inst_id, "account": user_json(org_login, org.id, "Organization"),
            "repository_selection": selection,
            "access_tokens_url": f"https://api.github.com/app/installations/{inst_id}/access_tokens",
            "repositories_url": "https://api.github.com/installation/repositories",
            "html_url": f"https://github.com/organizations/{org_login}/settings/installations/{inst_id}",
            "app_id": app_id, "client_id": f"Iv1.{inst_id:016x}", "target_id": org.id,
            "target_type": "Organization", "permissions": dict(perms), "events": ["push", "pull_request"],
            "created_at": iso(w.days_ago(created)), "updated_at": iso(w.days_ago(min(created, 40))),
            "single_file_name": None, "has_multiple_single_files": False, "single_file_paths": [],
            "app_slug": slug,
            "suspended_by": user_json(w.members[0]) if suspended else None,
            "suspended_at": iso(w.days_ago(suspended)) if suspended else None,
        }
        org.installations.append(body)
        fake.expect("app_installation", inst_id, findings, name=slug, owner="", target=org_login,
                    privilege=privilege, scopes=tuple(sorted(f"{k}:{v}" for k, v in perms.items())),
                    status="suspended" if suspended else "active", credential="ephemeral", usage_tracked=False,
                    created_at=w.days_ago(created), actions=(),
                    details={"repository_selection": selection, "app_slug": slug, "suspended": bool(suspended),
                             "app_id": app_id})


def routes(app: Flask, fake: GitHubFake) -> None:
    """List the installations."""

    @app.get("/orgs/<org>/installations")
    def installations(org: str) -> Response:
        o = fake.orgs.get(org)
        return fake.not_found() if o is None else fake.page(o.installations, "installations")
