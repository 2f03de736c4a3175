"""Runners in the fake GitLab: seeding, JSON and routes.

Lists (`/runners/all` for an administrator, `/runners` the caller's own, `/groups/:id/runners` with
the ancestors' group runners and the instance runners, `/projects/:id/runners`) with the documented
`type`, `status` and `paused` filters; the detail adds `contacted_at`, tags, projects and groups (and,
as old GitLab versions did, the runner's token: a connector that keeps raw details fails the canary
test). Pausing shows in the list and the detail; a non-administrator cannot delete a runner that
serves more than one project.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import request

from nhitui.sandbox.gitlab.http import Abort, Route, not_found, page, ts
from nhitui.sandbox.gitlab.orgs import user_json
from nhitui.sandbox.gitlab.truth import CANARY

if TYPE_CHECKING:
    from nhitui.sandbox.gitlab.fake import GitLabFake

# (gitlab status, paused, contacted days ago | None, created days ago)
PATTERNS = (
    ("online", False, 0.001, 100),
    ("offline", False, 3, 150),
    ("stale", False, 200, 300),
    ("never_contacted", False, None, 100),
    ("online", True, 0.001, 60),
    ("online", False, 0.002, 500),
)


def _runner(fake: GitLabFake, runner_type: str, n: int, projects: list[int], groups: list[int], target: str,
            creator: int | None) -> None:
    w = fake.world
    status, paused, contacted, created = PATTERNS[n % len(PATTERNS)]
    rid = fake.next_id("runner")
    runner = {"id": rid, "description": fake.name(f"{runner_type.split('_')[0]}-runner-{n}", 3),
              "name": "gitlab-runner", "runner_type": runner_type, "paused": paused, "status": status,
              "contacted_at": w.days_ago(contacted) if contacted is not None else None,
              "created_at": w.days_ago(created), "tag_list": ["docker", f"tier-{n % 3}"],
              "locked": runner_type == "project_type", "access_level": "ref_protected" if n % 2 else
              "not_protected", "projects": projects, "groups": groups, "created_by": creator,
              "version": "17.5.0", "platform": "linux", "architecture": "amd64", "ip_address": f"10.0.0.{n}",
              "token": f"glrt-{CANARY}-{fake.hex(8)}", "run_untagged": n % 2 == 0, "maximum_timeout": 3600}
    fake.runners[rid] = runner
    state = "inactive" if paused else "active" if status == "online" else "offline"
    truth = {"name": runner["description"], "owner": fake.owner_name(creator), "target": target,
             "privilege": "none", "status": state, "created_at": runner["created_at"], "expires_at": None,
             "last_used_at": runner["contacted_at"], "scopes": ()}
    fake.expect("runner", rid, truth, {})


def seed(fake: GitLabFake) -> None:
    creators = [None] + fake.member_ids[:4] + fake.departed_ids[:1]
    n = 0
    for _ in range(3):
        _runner(fake, "instance_type", n, [], [], "instance", fake.root_id)
        n += 1
    for gid, g in sorted(fake.groups.items()):
        _runner(fake, "group_type", n, [], [gid], g["full_path"], creators[n % len(creators)])
        n += 1
    pids = sorted(fake.projects)
    for i, pid in enumerate(pids):
        if i % 10 == 5:
            extra = [pids[(i + 1) % len(pids)]] if i % 20 == 5 and len(pids) > 1 else []
            _runner(fake, "project_type", n, [pid] + extra, [], fake.projects[pid]["path_with_namespace"],
                    creators[n % len(creators)])
            n += 1


def runner_json(fake: GitLabFake, r: dict[str, Any], detail: bool = False) -> dict[str, Any]:
    body = {"id": r["id"], "description": r["description"], "ip_address": r["ip_address"],
            "active": not r["paused"], "paused": r["paused"], "is_shared": r["runner_type"] == "instance_type",
            "runner_type": r["runner_type"], "name": r["name"], "online": r["status"] == "online",
            "status": r["status"], "created_at": ts(r["created_at"]), "job_execution_status": "idle"}
    creator = fake.users.get(r["created_by"])
    body["created_by"] = user_json(fake, creator) if creator else None
    if detail:
        projects, groups = fake.projects, fake.groups
        body.update({
            "architecture": r["architecture"], "platform": r["platform"], "version": r["version"],
            "revision": "abcdef12", "contacted_at": ts(r["contacted_at"]), "tag_list": list(r["tag_list"]),
            "run_untagged": r["run_untagged"], "locked": r["locked"], "access_level": r["access_level"],
            "maximum_timeout": r["maximum_timeout"], "maintenance_note": None, "token": r["token"],
            "projects": [{"id": pid, "name": projects[pid]["name"],
                          "name_with_namespace": projects[pid]["path_with_namespace"].replace("/", " / "),
                          "path": projects[pid]["path"], "path_with_namespace": projects[pid]["path_with_namespace"]}
                         for pid in r["projects"] if pid in projects],
            "groups": [{"id": gid, "name": groups[gid]["name"], "web_url": fake.web("groups/" + groups[gid]["full_path"])}
                       for gid in r["groups"] if gid in groups]})
    return body


def routes(fake: GitLabFake, route: Route) -> None:
    def filtered(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
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
        return [runner_json(fake, r) for r in items]

    @route("GET", "runners/all")
    def all_runners(caller: dict[str, Any]) -> Any:
        fake.require_admin(caller)
        return page(fake, filtered([r for _, r in sorted(fake.runners.items())]))

    @route("GET", "runners")
    def owned_runners(caller: dict[str, Any]) -> Any:
        return page(fake, filtered([r for _, r in sorted(fake.runners.items())
                                    if r["created_by"] == caller["user"]["id"]]))

    @route("GET", "groups/{id}/runners")
    def group_runners(caller: dict[str, Any], ref: str) -> Any:
        ancestors = set(fake.ancestors(fake.group(ref)["id"]))
        return page(fake, filtered([r for _, r in sorted(fake.runners.items())
                                    if r["runner_type"] == "instance_type" or set(r["groups"]) & ancestors]))

    @route("GET", "projects/{id}/runners")
    def project_runners(caller: dict[str, Any], ref: str) -> Any:
        p = fake.project(ref)
        ancestors = set(fake.ancestors(p["namespace_id"]))
        return page(fake, filtered([r for _, r in sorted(fake.runners.items())
                                    if r["runner_type"] == "instance_type" or p["id"] in r["projects"]
                                    or set(r["groups"]) & ancestors]))

    def runner(rid: str) -> dict[str, Any]:
        r = fake.runners.get(int(rid)) if rid.isdigit() else None
        if r is None:
            raise not_found()
        return r

    @route("GET", "runners/{id}")
    def get_runner(caller: dict[str, Any], rid: str) -> Any:
        return runner_json(fake, runner(rid), detail=True)

    @route("PUT", "runners/{id}")
    def update_runner(caller: dict[str, Any], rid: str) -> Any:
        r = runner(rid)
        data = request.get_json(silent=True) or request.form.to_dict()
        if "paused" in data and "active" in data:
            raise Abort(400, {"error": "active, paused are mutually exclusive"})
        if "paused" in data:
            r["paused"] = data["paused"] in (True, "true", "1", 1)
        elif "active" in data:
            r["paused"] = data["active"] not in (True, "true", "1", 1)
        for field in ("description", "locked", "access_level", "tag_list"):
            if field in data:
                r[field] = data[field]
        return runner_json(fake, r, detail=True)

    @route("DELETE", "runners/{id}")
    def delete_runner(caller: dict[str, Any], rid: str) -> Any:
        r = runner(rid)
        if not caller["admin"] and len(r["projects"]) > 1:
            raise Abort(403, {"message": "403 Forbidden - Runner associated with more than one project"})
        del fake.runners[r["id"]]
