"""Actions and Dependabot secrets at organisation, repository and environment level.

Values are planted as canaries (`_value`) and never served, as GitHub never returns them. Routes:
`/orgs/{org}/{actions|dependabot|codespaces|agents}/secrets[/{name}[/repositories]]` (Codespaces: GitHub
App tokens refused, as on GitHub; Codespaces and agents: 404 on GHES, which has neither),
`/repos/{owner}/{repo}/{actions|dependabot|codespaces|agents}/secrets[/{name}]`, `/repos/{owner}/{repo}/environments`
and `.../environments/{env}/secrets[/{name}]`.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, request

from nhitui.sandbox.github.state import PROVIDER, iso

if TYPE_CHECKING:
    from nhitui.sandbox.github.fake import GitHubFake


KINDS = {"actions": "actions_secret", "dependabot": "dependabot_secret", "codespaces": "codespaces_secret",
         "agents": "agents_secret"}
CLOUD_ONLY = ("codespaces", "agents")        # GitHub Enterprise Server has neither


def add_secret(fake: GitHubFake, org: str, repo: str | None, env: str | None, stype: str, name: str, created: int,
               updated: int, visibility: str | None = None, repos: list[str] | None = None,
               findings: set[str] | None = None, expected: bool = True) -> None:
    w = fake.world
    findings = set(findings or ())
    if updated > 365:
        findings.add("old-rotation")
    value = f"CANARY-{stype}-{name}-{hashlib.sha256(f'{org}{repo}{env}{name}'.encode()).hexdigest()[:16]}"
    fake.canaries.append(value)
    body: dict[str, Any] = {"name": name, "created_at": iso(w.days_ago(created)),
                            "updated_at": iso(w.days_ago(updated)), "_value": value}
    if repo is None:
        body["visibility"] = visibility
        if visibility == "selected":
            body["selected_repositories_url"] = \
                f"https://api.github.com/orgs/{org}/{stype}/secrets/{name}/repositories"
        body["_repos"] = list(repos or [])
        fake.orgs[org].secrets[stype].append(body)
        native, scope, target = f"org:{org}:{name}", "org", org
    elif env is None:
        fake.repos[repo].secrets[stype].append(body)
        native, scope, target = f"repo:{repo}:{name}", "repo", repo
    else:
        fake.repos[repo].env_secrets.setdefault(env, []).append(body)
        native, scope, target = f"env:{repo}:{env}:{name}", "environment", f"{repo}:{env}"
    kind = KINDS[stype]
    details: dict[str, Any] = {"scope": scope, "secret_name": name, "rotated_at": iso(w.days_ago(updated))}
    if scope == "org":
        details["visibility"] = visibility
        if visibility == "selected":
            details["repos"] = sorted(repos or [])
    if scope != "org":
        details["repos"] = [repo]
    if env:
        details["environment"] = env
        details["repo"] = repo
    if not expected:
        return
    fake.expect(kind, native, findings, name=name, owner="", target=target, privilege="none", scopes=(),
                status="active", credential="static", usage_tracked=False, created_at=w.days_ago(created),
                actions=("delete",), details=details)



def seed_secrets(fake: GitHubFake, org: str, repo_names: list[str]) -> None:
    add_secret(fake, org, None, None, "actions", "ORG_DEPLOY_TOKEN", 300, 30, "all", [],
               {"org-secret-visible-to-all"})
    add_secret(fake, org, None, None, "actions", "SONAR_TOKEN", 800, 400, "private", [])
    add_secret(fake, org, None, None, "actions", "RELEASE_PAT", 50, 10, "selected", repo_names[:2])
    add_secret(fake, org, None, None, "dependabot", "NPM_REGISTRY_TOKEN", 90, 20, "selected", repo_names[2:5])
    add_secret(fake, org, None, None, "dependabot", "DEPENDABOT_GH_TOKEN", 150, 100, "all", [],
               {"org-secret-visible-to-all"})
    # Codespaces: GitHub refuses App tokens on the org endpoints, so an App-reading source cannot see these.
    readable = not fake.app_enabled and not fake.ghes
    add_secret(fake, org, None, None, "codespaces", "CODESPACES_NPM_TOKEN", 120, 60, "all", [],
               {"org-secret-visible-to-all"}, expected=readable)
    add_secret(fake, org, None, None, "codespaces", "DEVCONTAINER_REGISTRY_TOKEN", 40, 40, "selected",
               repo_names[:1], set(), expected=readable)
    add_secret(fake, org, None, None, "agents", "AGENT_MCP_TOKEN", 20, 20, "selected", repo_names[:1], set(),
               expected=not fake.ghes)
    for i, repo in enumerate(repo_names):
        short = repo.split("/", 1)[1].upper().replace("-", "_")
        if i % 4 != 3:
            old = i % 3 == 0
            add_secret(fake, org, repo, None, "actions", "NPM_TOKEN", 600 if old else 40, 500 if old else 40)
        if i % 9 == 4:
            add_secret(fake, org, repo, None, "actions", "DEPLOY_SSH_KEY", 200, 200)
        if i % 5 == 2:
            add_secret(fake, org, repo, None, "actions", f"{short}_SIGNING_KEY", 30, 30)
        if i % 10 == 1:
            add_secret(fake, org, repo, None, "dependabot", "NPM_TOKEN", 60, 60)
        if i % 6 == 2:
            add_secret(fake, org, repo, None, "codespaces", "DEV_DATABASE_URL", 30, 30, expected=not fake.ghes)
        if i % 8 == 3:
            add_secret(fake, org, repo, None, "agents", "AGENT_API_KEY", 10, 10, expected=not fake.ghes)
        if i % 5 == 0:
            repo_obj = fake.repos[repo]
            for env in ("production", "staging"):
                env_id = fake.new_id(300_000)
                repo_obj.environments.append({
                    "id": env_id, "node_id": f"EN_{env_id}", "name": env,
                    "url": f"https://api.github.com/repos/{repo}/environments/{env}",
                    "html_url": f"https://github.com/{repo}/deployments/activity_log?environments_filter={env}",
                    "created_at": iso(fake.world.days_ago(300)), "updated_at": iso(fake.world.days_ago(20)),
                    "protection_rules": [], "deployment_branch_policy": None,
                })
            add_secret(fake, org, repo, "production", "actions", "PROD_DB_PASSWORD", 200, 20)
            add_secret(fake, org, repo, "staging", "actions", "STAGING_DB_PASSWORD", 500, 450)
            if i == 0:
                add_secret(fake, org, repo, "production", "actions", "PAGERDUTY_KEY", 100, 100)


def seed_sprawl(fake: GitHubFake) -> None:
    """secret-name-sprawl is cross-object: count the places each name lives, as the policy does."""
    targets: dict[str, set[str]] = {}
    for e in fake.world.expected_for(PROVIDER):
        if e.kind in ("actions_secret", "dependabot_secret"):
            targets.setdefault(e.fields["name"].upper(), set()).add(e.fields["target"])
    updated = []
    for e in fake.world.expected:
        if e.provider == PROVIDER and e.kind in ("actions_secret", "dependabot_secret") \
                and len(targets[e.fields["name"].upper()]) >= 5:
            e = type(e)(e.provider, e.kind, e.native_id, e.fields, e.findings | {"secret-name-sprawl"})
        updated.append(e)
    fake.world.expected[:] = updated


def routes(app: Flask, fake: GitHubFake) -> None:
    """List and delete secrets; list environments and a selected secret's repositories."""

    @app.get("/orgs/<org>/<any(actions, dependabot, codespaces, agents):stype>/secrets")
    def org_secrets(org: str, stype: str) -> Response:
        o = fake.orgs.get(org)
        return fake.not_found() if o is None else fake.page(o.secrets[stype], "secrets")

    @app.before_request
    def cloud_only() -> Response | None:
        """Codespaces and agents secrets: none on GHES; the org's Codespaces secrets refuse App tokens."""
        stype = (request.view_args or {}).get("stype")
        if stype in CLOUD_ONLY and fake.ghes:
            return fake.not_found()
        if stype == "codespaces" and request.path.startswith("/orgs/") and fake._token_of() in fake.issued:
            return fake.error(403, "Resource not accessible by integration")
        return None

    def find_secret(items: list[dict], name: str) -> dict | None:
        return next((s for s in items if s["name"].upper() == name.upper()), None)

    def delete(items: list[dict] | None, name: str) -> Response:
        """Secret names are case-insensitive on GitHub."""
        s = find_secret(items, name) if items is not None else None
        if s is None or items is None:
            return fake.not_found()
        with fake.lock:
            items.remove(s)
        return fake.respond(None, 204)

    @app.get("/orgs/<org>/<any(actions, dependabot, codespaces, agents):stype>/secrets/<secret_name>/repositories")
    def org_secret_repos(org: str, stype: str, secret_name: str) -> Response:
        o = fake.orgs.get(org)
        s = find_secret(o.secrets[stype], secret_name) if o else None
        if s is None:
            return fake.not_found()
        return fake.repo_page(s["_repos"], "repositories", link=False)

    @app.delete("/orgs/<org>/<any(actions, dependabot, codespaces, agents):stype>/secrets/<secret_name>")
    def org_secret_delete(org: str, stype: str, secret_name: str) -> Response:
        o = fake.orgs.get(org)
        return delete(o.secrets[stype] if o else None, secret_name)

    @app.get("/repos/<owner>/<repo>/<any(actions, dependabot, codespaces, agents):stype>/secrets")
    def repo_secrets(owner: str, repo: str, stype: str) -> Response:
        r = fake.repo(owner, repo)
        return fake.not_found() if r is None else fake.page(r.secrets[stype], "secrets")

    @app.delete("/repos/<owner>/<repo>/<any(actions, dependabot, codespaces, agents):stype>/secrets/<secret_name>")
    def repo_secret_delete(owner: str, repo: str, stype: str, secret_name: str) -> Response:
        r = fake.repo(owner, repo)
        return delete(r.secrets[stype] if r else None, secret_name)

    @app.get("/repos/<owner>/<repo>/environments")
    def environments(owner: str, repo: str) -> Response:
        r = fake.repo(owner, repo)
        return fake.not_found() if r is None else fake.page(r.environments, "environments")

    @app.get("/repos/<owner>/<repo>/environments/<environment_name>/secrets")
    def env_secrets(owner: str, repo: str, environment_name: str) -> Response:
        r = fake.repo(owner, repo)
        if r is None or not any(e["name"] == environment_name for e in r.environments):
            return fake.not_found()
        return fake.page(r.env_secrets.get(environment_name, []), "secrets")

    @app.delete("/repos/<owner>/<repo>/environments/<environment_name>/secrets/<secret_name>")
    def env_secret_delete(owner: str, repo: str, environment_name: str, secret_name: str) -> Response:
        r = fake.repo(owner, repo)
        return delete(r.env_secrets.get(environment_name) if r else None, secret_name)
