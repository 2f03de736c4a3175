"""Deploy keys (SSH keys with read or write access to a project's repository).

| kind | endpoint | native id |
|---|---|---|
| deploy_key | `GET /projects/:id/deploy_keys` (Maintainer); admin `GET /deploy_keys` for keys outside the groups | `project_id:key_id` (`instance:key_id` for a key no project uses) |

Fields read: `id, title, created_at, expires_at, fingerprint_sha256 (or fingerprint), usage_type`,
`can_push` per project; the admin list adds `projects_with_write_access[]` and
`projects_with_readonly_access[]` (GitLab 16.0+; before that, a blind spot). GitLab does not report a
key's last use, so usage is unknown, not "never". One key linked to two projects is two identities
(one per link): removing it from one project leaves the other.

Privilege: `can_push` -> write (scope `write_repository`), else read. Action: delete (unlink) from
its project; a key no project uses has no API delete (only Admin > Deploy keys), so no action.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from connectors.gitlab.scan import Scan, identity
from nhitui.model import Identity, sanitize, utc

if TYPE_CHECKING:
    from connectors.gitlab import GitLabConnector


def parse_deploy_key(site: GitLabConnector, d: Mapping[str, Any], project_id: Any, project: str, can_push: bool,
                     web_url: str = "") -> Identity:
    expires = utc(d.get("expires_at"))
    kid = d.get("id")
    orphan = project_id is None
    details = {"key_id": kid, "project_id": project_id, "project": project, "can_push": can_push,
               "fingerprint": sanitize(d.get("fingerprint_sha256") or d.get("fingerprint") or ""),
               "usage_type": sanitize(d.get("usage_type") or "")}
    if orphan:
        privilege, scopes, url = "none", (), f"{site.url}/admin/deploy_keys"
    else:
        privilege = "write" if can_push else "read"
        scopes = ("write_repository",) if can_push else ("read_repository",)
        url = f"{(web_url or f'{site.url}/{project}').rstrip('/')}/-/settings/repository#js-deploy-keys-settings"
    expired = expires is not None and expires <= datetime.now(timezone.utc)
    return identity(site, "deploy_key", f"instance:{kid}" if orphan else f"{project_id}:{kid}",
                    name=str(d.get("title") or f"key {kid}"), owner="",
                    target="instance" if orphan else project, scopes=scopes, privilege=privilege,
                    created_at=utc(d.get("created_at")), expires_at=expires, last_used_at=None,
                    status="expired" if expired else "active", credential="static",
                    actions=() if orphan else ("delete",), url=url, usage_tracked=False, details=details)


def project_deploy_keys(scan: Scan, p: dict[str, Any]) -> None:
    path = str(p.get("path_with_namespace"))
    for page in scan.read("GET /projects/:id/deploy_keys", path, "maintainer_project",
                          f"/projects/{p['id']}/deploy_keys"):
        scan.emit([parse_deploy_key(scan.c, d, p["id"], path, bool(d.get("can_push")), str(p.get("web_url") or ""))
                   for d in page])


def instance_deploy_keys(scan: Scan) -> None:
    """Admin list: read it with the walk, emit after it only the links of projects the walk missed."""
    keys = [d for page in scan.read("GET /deploy_keys", "", "admin", "/deploy_keys") for d in page]
    scan.later(lambda: _outside_the_walk(scan, keys))


def _outside_the_walk(scan: Scan, keys: list[dict[str, Any]]) -> None:
    batch = []
    unlinked = 0
    for d in keys:
        if "projects_with_write_access" not in d and "projects_with_readonly_access" not in d:
            unlinked += 1       # before GitLab 16.0 the list does not say which projects use a key
            continue
        links = [(p, True) for p in d.get("projects_with_write_access") or () if isinstance(p, dict)] + \
                [(p, False) for p in d.get("projects_with_readonly_access") or () if isinstance(p, dict)]
        for p, push in links:
            if not scan.was_claimed("project", p.get("id")):
                batch.append(parse_deploy_key(scan.c, d, p.get("id"), str(p.get("path_with_namespace") or ""), push))
        if not links:
            batch.append(parse_deploy_key(scan.c, d, None, "", False))
    if unlinked:
        scan.c.report.blind_spot(
            "deploy keys outside the scanned groups",
            f"GET /deploy_keys does not say which projects use {unlinked} key(s) (GitLab before 16.0): "
            "only keys found through the scanned projects are listed")
    scan.emit(batch)
