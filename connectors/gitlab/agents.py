"""Kubernetes cluster agents and their tokens (the credential an agent in a cluster connects with).

| kind | endpoint | native id |
|---|---|---|
| agent_token | `GET /projects/:id/cluster_agents` (Developer): `id, name, config_project, created_at, created_by_user_id`; `GET /projects/:id/cluster_agents/:agent_id/tokens`: `id, name, description, agent_id, status, created_at, created_by_user_id`; then `GET …/tokens/:token_id` for `last_used_at` | token id |

GitLab lists only active tokens (a revoked one is gone from the list and its GET answers 404) and
reports last use only on the single-token GET: without it, last use is unknown, not "never". Agent
tokens do not expire. Owner: the user who created the token. Privilege: read (the token lets the
agent fetch its configuration and open its tunnel to GitLab; what pipelines may do through the agent
is the agent's configuration, not the token). Action (`actions.py`): revoke, `DELETE
/projects/:id/cluster_agents/:agent_id/tokens/:token_id`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from connectors.gitlab.client import enc
from connectors.gitlab.scan import Scan, identity
from nhitui.model import Identity, sanitize, utc

if TYPE_CHECKING:
    from connectors.gitlab import GitLabConnector


def parse_agent_token(site: GitLabConnector, d: Mapping[str, Any], agent: Mapping[str, Any], owner: str,
                      project_id: Any, project: str, web_url: str = "", detailed: bool = True) -> Identity:
    tid = d.get("id")
    revoked = str(d.get("status") or "active") == "revoked"
    name = str(agent.get("name") or "")
    details = {"token_id": tid, "agent_id": d.get("agent_id") or agent.get("id"), "agent": sanitize(name),
               "project_id": project_id, "project": project, "created_by_user_id": d.get("created_by_user_id"),
               "description": sanitize(d.get("description") or "")}
    base = (web_url or f"{site.url}/{project}").rstrip("/")
    return identity(site, "agent_token", tid, name=str(d.get("name") or f"agent token {tid}"), owner=owner,
                    target=project, scopes=(), privilege="read", created_at=utc(d.get("created_at")),
                    expires_at=None, last_used_at=utc(d.get("last_used_at")),
                    status="revoked" if revoked else "active", credential="static",
                    actions=() if revoked else ("revoke",), url=f"{base}/-/cluster_agents/{name}",
                    usage_tracked=detailed, details=details)


def project_agents(scan: Scan, p: dict[str, Any]) -> None:
    path = str(p.get("path_with_namespace"))
    for page in scan.read("GET /projects/:id/cluster_agents", path, "developer_project",
                          f"/projects/{p['id']}/cluster_agents"):
        for agent in page:
            scan.spawn_threadsafe(_agent_tokens, p, agent)


def _agent_tokens(scan: Scan, p: dict[str, Any], agent: dict[str, Any]) -> None:
    label = f"{p.get('path_with_namespace')} {agent.get('name')}"
    base = f"/projects/{p['id']}/cluster_agents/{enc(agent.get('id'))}/tokens"
    for page in scan.read("GET /projects/:id/cluster_agents/:agent_id/tokens", label, "developer_project", base):
        for stub in page:
            scan.spawn_threadsafe(_token_detail, p, agent, stub)


def _token_detail(scan: Scan, p: dict[str, Any], agent: dict[str, Any], stub: dict[str, Any]) -> None:
    path = f"/projects/{p['id']}/cluster_agents/{enc(agent.get('id'))}/tokens/{enc(stub.get('id'))}"
    detail = scan.get("GET /projects/:id/cluster_agents/:agent_id/tokens/:token_id", str(stub.get("id")),
                      "developer_project", path)
    owner = scan.user(stub.get("created_by_user_id"))[0]
    scan.emit([parse_agent_token(scan.c, {**stub, **(detail or {})}, agent, owner, p["id"],
                                 str(p.get("path_with_namespace")), str(p.get("web_url") or ""),
                                 detailed=detail is not None)])
