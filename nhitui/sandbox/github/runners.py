"""Self-hosted runners and runner groups (one group open to public repositories, one `selected`).

Routes: `/orgs/{org}/actions/runner-groups[/{id}[/repositories]]` (GET; PATCH the group, `name`
required; PUT its repositories), `/orgs/{org}/actions/runners[/{id}]` and
`/repos/{owner}/{repo}/actions/runners[/{id}]`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Flask, Response, request

from nhitui.sandbox.github.state import public

if TYPE_CHECKING:
    from nhitui.sandbox.github.fake import GitHubFake


def seed_runners(fake: GitHubFake, org_login: str, repo_names: list[str]) -> None:
    w = fake.world
    org = fake.orgs[org_login]
    groups = [
        {"id": 1, "name": "Default", "visibility": "all", "default": True, "allows_public_repositories": False,
         "_repos": []},
        {"id": 2, "name": "public-ci", "visibility": "all", "default": False, "allows_public_repositories": True,
         "_repos": []},
        {"id": 3, "name": "deploy", "visibility": "selected", "default": False,
         "allows_public_repositories": False, "_repos": repo_names[:2]},
    ]
    for g in groups:
        base = f"https://api.github.com/orgs/{org_login}/actions/runner-groups/{g['id']}"
        g.update(runners_url=f"{base}/runners", hosted_runners_url=f"{base}/hosted-runners", inherited=False,
                 workflow_restrictions_read_only=False, restricted_to_workflows=False, selected_workflows=[])
        if g["visibility"] == "selected":
            g["selected_repositories_url"] = f"{base}/repositories"
    org.runner_groups = groups
    by_id = {g["id"]: g for g in groups}
    plan = [("build-linux-01", 1, "online", True, False, "Linux"),
            (w.hostile(0), 2, "online", False, False, "Linux"),
            ("build-mac-01", 2, "offline", False, False, "macOS"),
            ("deploy-prod-01", 3, "online", False, True, "Linux"),
            ("legacy-win", 1, "offline", False, False, "Windows"),
            (w.hostile(5), 1, "online", False, False, "Linux")]
    for name, gid, status, busy, ephemeral, os_name in plan:
        runner_id = fake.new_id(100)
        body = runner_json(runner_id, name, status, busy, ephemeral, os_name, gid)
        org.runners.append(body)
        g = by_id[gid]
        findings = {"runner-group-public-repos"} if g["allows_public_repositories"] else set()
        fake.expect("runner", f"org:{org_login}:{runner_id}", findings, name=name, owner="", target=org_login,
                    privilege="none", scopes=(), status="active" if status == "online" else "offline",
                    credential="ephemeral" if ephemeral else "static", usage_tracked=False, created_at=None,
                    actions=("restrict-group", "remove"),
                    details={"scope": "org", "labels": ["self-hosted", os_name, "X64"], "ephemeral": ephemeral,
                             "busy": busy, "os": os_name.lower(), "group": g["name"],
                             "group_visibility": g["visibility"],
                             "allows_public_repositories": g["allows_public_repositories"],
                             "repos": sorted(g["_repos"]), "group_id": g["id"]})
    m = 0
    for i, full_name in enumerate(repo_names):
        if i % 8 != 2:
            continue
        runner_id = fake.new_id(100)
        status = "online" if m % 2 == 0 else "offline"
        name = w.hostile(m + 2) if m % 3 == 1 else f"{full_name.split('/')[1]}-runner"
        fake.repos[full_name].runners.append(runner_json(runner_id, name, status, False, False, "Linux", 1))
        fake.expect("runner", f"repo:{full_name}:{runner_id}", set(), name=name, owner="", target=full_name,
                    privilege="none", scopes=(), status="active" if status == "online" else "offline",
                    credential="static", usage_tracked=False, created_at=None, actions=("remove",),
                    details={"scope": "repo", "labels": ["self-hosted", "Linux", "X64"], "ephemeral": False,
                             "busy": False, "os": "linux", "allows_public_repositories": False,
                             "repos": [full_name]})
        m += 1


def runner_json(runner_id: int, name: str, status: str, busy: bool, ephemeral: bool, os_name: str,
                group: int) -> dict[str, Any]:
    labels = [{"id": 1, "name": "self-hosted", "type": "read-only"},
              {"id": 2, "name": os_name, "type": "read-only"},
              {"id": 3, "name": "X64", "type": "read-only"}]
    return {"id": runner_id, "runner_group_id": group, "name": name, "os": os_name.lower(), "status": status,
            "busy": busy, "ephemeral": ephemeral, "labels": labels, "version": "2.321.0"}


def routes(app: Flask, fake: GitHubFake) -> None:
    """List runner groups and runners; read and remove a runner; read and restrict a runner group."""

    def group_of(org: str, group_id: int) -> dict | None:
        o = fake.orgs.get(org)
        return fake.find(o.runner_groups, group_id) if o else None

    @app.route("/orgs/<org>/actions/runner-groups/<int:runner_group_id>", methods=["GET", "PATCH"])
    def runner_group(org: str, runner_group_id: int) -> Response:
        g = group_of(org, runner_group_id)
        if g is None:
            return fake.not_found()
        if request.method == "PATCH":
            body = request.get_json(silent=True)
            if not isinstance(body, dict) or not isinstance(body.get("name"), str) or \
                    body.get("visibility", "all") not in ("all", "selected", "private") or \
                    not isinstance(body.get("allows_public_repositories", False), bool):
                return fake.error(422, "Validation Failed")      # `name` is required, as on GitHub
            with fake.lock:
                g["name"] = body["name"]
                for key in ("visibility", "allows_public_repositories"):
                    if key in body:
                        g[key] = body[key]
                url = f"https://api.github.com/orgs/{org}/actions/runner-groups/{g['id']}/repositories"
                if g["visibility"] == "selected":
                    g["selected_repositories_url"] = url
                else:
                    g.pop("selected_repositories_url", None)
        return fake.respond(public(g))

    @app.put("/orgs/<org>/actions/runner-groups/<int:runner_group_id>/repositories")
    def runner_group_set_repos(org: str, runner_group_id: int) -> Response:
        g = group_of(org, runner_group_id)
        if g is None:
            return fake.not_found()
        body = request.get_json(silent=True)
        ids = body.get("selected_repository_ids") if isinstance(body, dict) else None
        if not isinstance(ids, list) or not all(isinstance(i, int) for i in ids):
            return fake.error(422, "Validation Failed")
        by_id = {r.id: name for name, r in fake.repos.items()}
        if any(i not in by_id for i in ids):
            return fake.error(422, "Validation Failed")
        with fake.lock:
            g["_repos"] = [by_id[i] for i in ids]
        return fake.respond(None, 204)

    @app.get("/orgs/<org>/actions/runner-groups")
    def runner_groups(org: str) -> Response:
        o = fake.orgs.get(org)
        return fake.not_found() if o is None else fake.page(o.runner_groups, "runner_groups", link=False)

    @app.get("/orgs/<org>/actions/runner-groups/<int:runner_group_id>/repositories")
    def runner_group_repos(org: str, runner_group_id: int) -> Response:
        o = fake.orgs.get(org)
        g = fake.find(o.runner_groups, runner_group_id) if o else None
        return fake.not_found() if g is None else fake.repo_page(g["_repos"], "repositories", link=False)

    @app.get("/orgs/<org>/actions/runners")
    def org_runners(org: str) -> Response:
        o = fake.orgs.get(org)
        return fake.not_found() if o is None else fake.page(o.runners, "runners")

    @app.route("/orgs/<org>/actions/runners/<int:runner_id>", methods=["GET", "DELETE"])
    def org_runner(org: str, runner_id: int) -> Response:
        o = fake.orgs.get(org)
        return fake.read_or_delete(o.runners if o else None, runner_id)

    @app.get("/repos/<owner>/<repo>/actions/runners")
    def repo_runners(owner: str, repo: str) -> Response:
        r = fake.repo(owner, repo)
        return fake.not_found() if r is None else fake.page(r.runners, "runners")

    @app.route("/repos/<owner>/<repo>/actions/runners/<int:runner_id>", methods=["GET", "DELETE"])
    def repo_runner(owner: str, repo: str, runner_id: int) -> Response:
        r = fake.repo(owner, repo)
        return fake.read_or_delete(r.runners if r else None, runner_id)
