"""Runners (machines that take CI jobs with a runner authentication token).

| kind | endpoint | native id |
|---|---|---|
| runner | `GET /groups/:id/runners` (group runners of the group and its ancestors, and the instance runners it may use), `GET /projects/:id/runners?type=project_type`, admin `GET /runners/all`; then `GET /runners/:id` for each | runner id |

Fields read: list `id, description, name, paused (active before 14.8), is_shared, runner_type, online,
status, created_at, created_by`; detail `contacted_at, tag_list, locked, access_level, run_untagged,
version, platform, projects[], groups[]`. Without the detail (403/404) there is no `contacted_at`: last
use is unknown, not "never". The detail of old GitLab versions carries the runner's token: scrubbed
on arrival (`client.scrub`).

Token age: the lists and the detail show no date of the runner authentication token (only
`POST /user/runners` and `POST /runners/:id/reset_authentication_token` answer `token_expires_at`), so
its age is the runner's `created_at` unless reset; a `token_expires_at`, when a server sends one, is
the identity's expiry. Status: an expired token -> expired, paused -> inactive, `online` -> active,
anything else (offline, stale, never_contacted) -> offline. Privilege: none (a runner holds no API scope). Actions (`actions.py`): pause / unpause
(reversible) and delete.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from connectors.gitlab.client import enc
from connectors.gitlab.scan import Scan, identity
from nhitui.model import Identity, sanitize, utc

if TYPE_CHECKING:
    from connectors.gitlab import GitLabConnector


def parse_runner(site: GitLabConnector, d: Mapping[str, Any], group_paths: Mapping[Any, str] | None = None,
                 fallback_target: str = "", detailed: bool = True) -> Identity:
    rid = d.get("id")
    rtype = str(d.get("runner_type") or ("instance_type" if d.get("is_shared") else ""))
    paused = bool(d["paused"]) if d.get("paused") is not None else d.get("active") is False
    gitlab_status = str(d.get("status") or "")
    # Token age: GitLab shows no token date in the runner lists or detail (only the create and reset
    # answers carry `token_expires_at`); the authentication token is as old as the runner unless it was
    # reset, which the API does not show. A server that sends `token_expires_at` gets it read.
    expires = utc(d.get("token_expires_at"))
    if expires is not None and expires <= datetime.now(timezone.utc):
        status = "expired"
    elif paused:
        status = "inactive"
    elif gitlab_status == "online" or (not gitlab_status and d.get("online")):
        status = "active"
    else:
        status = "offline"
    projects = [p for p in d.get("projects") or () if isinstance(p, dict)]
    groups = [g for g in d.get("groups") or () if isinstance(g, dict)]
    group_paths = group_paths or {}
    group_names = []
    for g in groups:
        path = group_paths.get(g.get("id"))
        if not path and g.get("web_url"):
            path = urlsplit(str(g["web_url"])).path.strip("/").removeprefix("groups/")
        group_names.append(path or str(g.get("name") or g.get("id")))
    project_names = [str(p.get("path_with_namespace") or p.get("name") or p.get("id")) for p in projects]
    if rtype == "instance_type":
        target = "instance"
        url = f"{site.url}/admin/runners/{rid}"
    elif rtype == "group_type":
        target = group_names[0] if group_names else fallback_target
        url = f"{site.url}/groups/{target}/-/runners/{rid}" if target else ""
    else:
        target = project_names[0] if project_names else fallback_target
        url = f"{site.url}/{target}/-/runners/{rid}" if target else ""
    creator = d.get("created_by") if isinstance(d.get("created_by"), dict) else {}
    raw_tags = d.get("tag_list") or ()
    tags = tuple(sanitize(t) for t in ([raw_tags] if isinstance(raw_tags, str) else raw_tags))
    details = {"runner_id": rid, "runner_type": rtype, "gitlab_status": gitlab_status, "paused": paused,
               "tags": tags, "locked": d.get("locked"), "access_level": d.get("access_level"),
               "run_untagged": d.get("run_untagged"), "version": sanitize(d.get("version") or ""),
               "platform": sanitize(d.get("platform") or ""), "projects": tuple(project_names),
               "repos": tuple(project_names), "groups": tuple(group_names), "is_shared": d.get("is_shared")}
    name = d.get("description") or d.get("name") or f"runner {rid}"
    return identity(site, "runner", rid, name=str(name), owner=str(creator.get("username") or ""),
                    target=target, scopes=(), privilege="none", created_at=utc(d.get("created_at")),
                    expires_at=expires, last_used_at=utc(d.get("contacted_at")), status=status,
                    credential="static", actions=("unpause", "delete") if paused else ("pause", "delete"),
                    url=url, usage_tracked=detailed, details=details)


def group_runners(scan: Scan, g: dict[str, Any]) -> None:
    _runner_list(scan, "GET /groups/:id/runners", str(g.get("full_path")), "maintainer_group",
                 f"/groups/{g['id']}/runners", {})


def project_runners(scan: Scan, p: dict[str, Any]) -> None:
    _runner_list(scan, "GET /projects/:id/runners", str(p.get("path_with_namespace")), "maintainer_project",
                 f"/projects/{p['id']}/runners", {"type": "project_type"})


def instance_runners(scan: Scan) -> None:
    _runner_list(scan, "GET /runners/all", "", "admin", "/runners/all", {})


def _runner_list(scan: Scan, what: str, label: str, need: str, path: str, params: Mapping[str, Any]) -> None:
    for page in scan.read(what, label, need, path, params):
        for stub in page:
            if scan.claim("runner", stub.get("id")):
                scan.spawn_threadsafe(runner_detail, stub)


def runner_detail(scan: Scan, stub: dict[str, Any]) -> None:
    detail = scan.get("GET /runners/:id", str(stub.get("id")), "runner", f"/runners/{enc(stub.get('id'))}")
    if detail is None:
        scan.emit([parse_runner(scan.c, stub, scan.group_paths, detailed=False)])
        return
    scan.emit([parse_runner(scan.c, {**stub, **detail}, scan.group_paths)])
