"""Deploy tokens (username + token pairs for clones, registry and package pulls/pushes).

| kind | endpoint | native id |
|---|---|---|
| deploy_token | `GET /projects/:id/deploy_tokens`, `GET /groups/:id/deploy_tokens` (Maintainer); admin `GET /deploy_tokens` | token id |

Fields read: `id, name, username, expires_at, revoked, expired, scopes`. GitLab reports neither
creation nor last use. The instance list does not say which project or group a token belongs to:
after the walk it adds, with target `instance` and no action, only the tokens the project and group
lists did not show.

Privilege: any `write_*` scope -> write, else read. Action: revoke (project or group tokens).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from connectors.gitlab.scan import Scan, identity
from nhitui.model import Identity, sanitize, utc

if TYPE_CHECKING:
    from connectors.gitlab import GitLabConnector


def parse_deploy_token(site: GitLabConnector, d: Mapping[str, Any], scope: str, scope_id: Any, target: str,
                       web_url: str = "") -> Identity:
    scopes = tuple(str(s) for s in d.get("scopes") or ())
    expires = utc(d.get("expires_at"))
    if d.get("revoked"):
        status = "revoked"
    elif d.get("expired") or (expires is not None and expires <= datetime.now(timezone.utc)):
        status = "expired"
    else:
        status = "active"
    privilege = "write" if any(s.startswith("write_") for s in scopes) else "read" if scopes else "none"
    attributed = scope in ("project", "group")
    details = {"token_id": d.get("id"), "username": sanitize(d.get("username") or ""), "scope": scope,
               f"{scope}_id": scope_id, "expired": bool(d.get("expired"))}
    base = (web_url or (f"{site.url}/groups/{target}" if scope == "group" else f"{site.url}/{target}")).rstrip("/")
    url = f"{base}/-/settings/repository#js-deploy-tokens" if attributed else ""
    return identity(site, "deploy_token", d.get("id"), name=str(d.get("name") or f"deploy token {d.get('id')}"),
                    owner="", target=target, scopes=scopes, privilege=privilege, created_at=None,
                    expires_at=expires, last_used_at=None, status=status, credential="static",
                    actions=("revoke",) if attributed and status != "revoked" else (), url=url,
                    usage_tracked=False, details=details)


def _emit(scan: Scan, page: list[dict[str, Any]], scope: str, sid: Any, path: str, web_url: str) -> None:
    for d in page:
        scan.claim("deploy_token", d.get("id"))
    scan.emit([parse_deploy_token(scan.c, d, scope, sid, path, web_url) for d in page])


def group_deploy_tokens(scan: Scan, g: dict[str, Any]) -> None:
    path = str(g.get("full_path"))
    for page in scan.read("GET /groups/:id/deploy_tokens", path, "maintainer_group",
                          f"/groups/{g['id']}/deploy_tokens"):
        _emit(scan, page, "group", g["id"], path, str(g.get("web_url") or ""))


def project_deploy_tokens(scan: Scan, p: dict[str, Any]) -> None:
    path = str(p.get("path_with_namespace"))
    for page in scan.read("GET /projects/:id/deploy_tokens", path, "maintainer_project",
                          f"/projects/{p['id']}/deploy_tokens"):
        _emit(scan, page, "project", p["id"], path, str(p.get("web_url") or ""))


def instance_deploy_tokens(scan: Scan) -> None:
    tokens = [d for page in scan.read("GET /deploy_tokens", "", "admin", "/deploy_tokens") for d in page]
    scan.later(lambda: scan.emit([parse_deploy_token(scan.c, d, "instance", None, "instance")
                                  for d in tokens if not scan.was_claimed("deploy_token", d.get("id"))]))
