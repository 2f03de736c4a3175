"""Kubernetes cluster agents and their tokens in the fake GitLab: seeding and routes.

Every seventh project has an agent with a token in use and a token never used; a third token was
revoked and, as GitLab does, is neither listed nor readable (404). The list omits `last_used_at`;
only the single-token GET has it. Revoking (DELETE) makes the token disappear the same way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nhitui.sandbox.gitlab.http import Route, not_found, page, ts

if TYPE_CHECKING:
    from nhitui.sandbox.gitlab.fake import GitLabFake

# (name, created days ago, last used days ago | None, revoked)
TOKEN_PATTERNS = (("primary", 200, 0.01, False), ("spare", 90, None, False), ("old", 400, 300, True))


def seed(fake: GitLabFake) -> None:
    w = fake.world
    for i, (pid, p) in enumerate(sorted(fake.projects.items())):
        if i % 7 != 3:
            continue
        aid = fake.next_id("agent")
        creator = fake.member_ids[i % len(fake.member_ids)]
        fake.agents[aid] = {"id": aid, "name": fake.name(f"cluster-{p['path']}", 5), "project_id": pid,
                            "created_at": w.days_ago(300), "created_by_user_id": creator}
        for name, created, used, revoked in TOKEN_PATTERNS:
            tid = fake.next_id("agent_token")
            token = {"id": tid, "agent_id": aid, "name": f"{name}-{aid}", "description": f"{name} token",
                     "created_at": w.days_ago(created), "created_by_user_id": creator,
                     "last_used_at": w.days_ago(used) if used is not None else None,
                     "status": "revoked" if revoked else "active", "token": f"glagent-{fake.hex(24)}"}
            fake.agent_tokens[tid] = token
            if revoked:
                continue            # not listed, so not expected
            truth = {"name": token["name"], "owner": fake.owner_name(creator), "target": p["path_with_namespace"],
                     "privilege": "read", "status": "active", "created_at": token["created_at"],
                     "expires_at": None, "last_used_at": token["last_used_at"], "scopes": ()}
            fake.expect("agent_token", tid, truth, {})


def _token_json(t: dict[str, Any], detail: bool) -> dict[str, Any]:
    body = {"id": t["id"], "name": t["name"], "description": t["description"], "agent_id": t["agent_id"],
            "status": t["status"], "created_at": ts(t["created_at"]), "created_by_user_id": t["created_by_user_id"]}
    if detail:
        body["last_used_at"] = ts(t["last_used_at"])
    return body


def routes(fake: GitLabFake, route: Route) -> None:
    def agent(ref: str, aid: str) -> dict[str, Any]:
        pid = fake.project(ref)["id"]
        a = fake.agents.get(int(aid)) if aid.isdigit() else None
        if a is None or a["project_id"] != pid:
            raise not_found()
        return a

    def token(ref: str, aid: str, tid: str) -> dict[str, Any]:
        a = agent(ref, aid)
        t = fake.agent_tokens.get(int(tid)) if tid.isdigit() else None
        if t is None or t["agent_id"] != a["id"] or t["status"] != "active":
            raise not_found()
        return t

    @route("GET", "projects/{id}/cluster_agents")
    def list_agents(caller: dict[str, Any], ref: str) -> Any:
        p = fake.project(ref)
        return page(fake, [{"id": a["id"], "name": a["name"], "created_at": ts(a["created_at"]),
                            "created_by_user_id": a["created_by_user_id"],
                            "config_project": {"id": p["id"], "name": p["name"], "path": p["path"],
                                               "path_with_namespace": p["path_with_namespace"]}}
                           for _, a in sorted(fake.agents.items()) if a["project_id"] == p["id"]])

    @route("GET", "projects/{id}/cluster_agents/{aid}/tokens")
    def list_tokens(caller: dict[str, Any], ref: str, aid: str) -> Any:
        a = agent(ref, aid)
        return page(fake, [_token_json(t, False) for _, t in sorted(fake.agent_tokens.items())
                           if t["agent_id"] == a["id"] and t["status"] == "active"])

    @route("GET", "projects/{id}/cluster_agents/{aid}/tokens/{tid}")
    def get_token(caller: dict[str, Any], ref: str, aid: str, tid: str) -> Any:
        return _token_json(token(ref, aid, tid), True)

    @route("DELETE", "projects/{id}/cluster_agents/{aid}/tokens/{tid}")
    def revoke(caller: dict[str, Any], ref: str, aid: str, tid: str) -> Any:
        token(ref, aid, tid)["status"] = "revoked"
