"""The organisation itself: its repositories, its members and the OIDC subject templates.

Routes: `GET /orgs/{org}/repos`, `GET /orgs/{org}/members`, `GET /orgs/{org}/actions/oidc/
customization/sub` and `GET /repos/{owner}/{repo}/actions/oidc/customization/sub`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask, Response

from nhitui.sandbox.github.state import Org, user_json

if TYPE_CHECKING:
    from nhitui.sandbox.github.fake import GitHubFake


def seed_oidc(fake: GitHubFake, org: Org, repo_names: list[str]) -> None:
    """The organisation's subject template, and two repositories with their own."""
    org.oidc = {"include_claim_keys": ["repo", "context"], "use_immutable_subject": False}
    fake.repos[repo_names[0]].oidc = {"use_default": False, "include_claim_keys": ["repo", "context", "job_workflow_ref"],
                                      "use_immutable_subject": False, "sub_claim_prefix": "repo"}
    if len(repo_names) > 3:
        fake.repos[repo_names[3]].oidc = {"use_default": False,
                                          "include_claim_keys": ["repository_owner_id", "repository_id"],
                                          "use_immutable_subject": True, "sub_claim_prefix": "repository_owner_id"}


def routes(app: Flask, fake: GitHubFake) -> None:
    """List repositories and members; read OIDC subject customizations."""

    @app.get("/orgs/<org>/repos")
    def org_repos(org: str) -> Response:
        o = fake.orgs.get(org)
        if o is None:
            return fake.not_found()
        return fake.repo_page(o.repos)

    @app.get("/orgs/<org>/members")
    def org_members(org: str) -> Response:
        o = fake.orgs.get(org)
        if o is None:
            return fake.not_found()
        return fake.page([user_json(m) for m in o.members])

    @app.get("/orgs/<org>/actions/oidc/customization/sub")
    def org_oidc(org: str) -> Response:
        o = fake.orgs.get(org)
        return fake.not_found() if o is None else fake.respond(o.oidc)

    @app.get("/repos/<owner>/<repo>/actions/oidc/customization/sub")
    def repo_oidc(owner: str, repo: str) -> Response:
        r = fake.repo(owner, repo)
        return fake.not_found() if r is None else fake.respond(r.oidc)
