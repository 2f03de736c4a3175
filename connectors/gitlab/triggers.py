"""Pipeline trigger tokens (start a project's pipelines from outside).

| kind | endpoint | native id |
|---|---|---|
| trigger_token | `GET /projects/:id/triggers` (Maintainer) | trigger id |

Fields read: `id, description, owner{id, username}, created_at, updated_at, last_used, expires_at`.
The token itself (in full for its owner, truncated for others) is scrubbed on arrival.

Privilege: write (it starts pipelines). Action: delete (`actions.py`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from connectors.gitlab.scan import Scan, identity
from nhitui.model import Identity, utc

if TYPE_CHECKING:
    from connectors.gitlab import GitLabConnector


def parse_trigger(site: GitLabConnector, d: Mapping[str, Any], project_id: Any, project: str,
                  web_url: str = "") -> Identity:
    owner = d.get("owner") if isinstance(d.get("owner"), dict) else {}
    expires = utc(d.get("expires_at"))
    status = "expired" if expires is not None and expires <= datetime.now(timezone.utc) else "active"
    details = {"trigger_id": d.get("id"), "project_id": project_id, "project": project,
               "owner_id": owner.get("id"), "updated_at": d.get("updated_at")}
    base = (web_url or f"{site.url}/{project}").rstrip("/")
    return identity(site, "trigger_token", d.get("id"), name=str(d.get("description") or f"trigger {d.get('id')}"),
                    owner=str(owner.get("username") or ""), target=project, scopes=(), privilege="write",
                    created_at=utc(d.get("created_at")), expires_at=expires,
                    last_used_at=utc(d.get("last_used")), status=status, credential="static",
                    actions=("delete",), url=f"{base}/-/settings/ci_cd#js-pipeline-triggers",
                    usage_tracked=True, details=details)


def project_triggers(scan: Scan, p: dict[str, Any]) -> None:
    path = str(p.get("path_with_namespace"))
    for page in scan.read("GET /projects/:id/triggers", path, "maintainer_project", f"/projects/{p['id']}/triggers"):
        scan.emit([parse_trigger(scan.c, d, p["id"], path, str(p.get("web_url") or "")) for d in page])
