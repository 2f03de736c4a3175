"""Personal, project and group access tokens: which endpoint, which fields, which Identity.

| kind | endpoint | native id |
|---|---|---|
| personal_access_token | `GET /personal_access_tokens` (admin + `instance`: every user's; else the token's own user) | token id |
| project_access_token | `GET /projects/:id/access_tokens` (Maintainer) | token id |
| group_access_token | `GET /groups/:id/access_tokens` (Owner) | token id |

Fields read: `id, name, description, scopes, user_id, access_level, created_at, expires_at,
last_used_at, revoked, active`. A project/group access token belongs to a bot user
(`project_<id>_bot_<hex>`): the personal list skips those, their project or group lists them.

Privilege (the same mapping for every token kind):
- scopes: `sudo` or `admin_mode` -> admin; `api`, any `write_*`, `manage_*`, `create_*` and
  `k8s_proxy` -> write; `self_rotate` -> none; any other scope (`read_*`, `openid`, `profile`...) ->
  read. `api` is write, not admin, because the holder's role in each project is unknown from the token.
- project/group access tokens hold a role (`access_level`) too: the privilege is the lower of what the
  scopes allow (`api` reaches admin, `write_*` write, `read_*` read) and what the role allows (Owner 50
  / Maintainer 40 -> admin, Developer 30 -> write, Guest 10 / Planner 15 / Reporter 20 -> read). So an
  `api` Maintainer token is admin, a `read_api` Owner token is read.

Actions: revoke and rotate (`actions.py`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from connectors.gitlab.scan import Scan, identity
from nhitui.model import Identity, sanitize, utc

if TYPE_CHECKING:
    from connectors.gitlab import GitLabConnector

TOKEN_KINDS = ("personal_access_token", "project_access_token", "group_access_token")
ORDER = ("none", "read", "write", "admin")
ROLES = {50: "owner", 40: "maintainer", 30: "developer", 20: "reporter", 15: "planner", 10: "guest", 5: "minimal"}


# --- privilege -------------------------------------------------------------------------------------

def scope_privilege(scopes: Any) -> str:
    """Privilege of a personal access token's scopes (see the module docstring)."""
    best = "none"
    for raw in scopes or ():
        s = str(raw).lower()
        if s in ("sudo", "admin_mode"):
            p = "admin"
        elif s == "api" or s.startswith(("write_", "manage_", "create_")) or s == "k8s_proxy":
            p = "write"
        elif s == "self_rotate":
            p = "none"
        else:
            p = "read"
        if ORDER.index(p) > ORDER.index(best):
            best = p
    return best


def role_privilege(level: Any) -> str | None:
    try:
        n = int(level)
    except (TypeError, ValueError):
        return None
    if n >= 40:
        return "admin"
    if n >= 30:
        return "write"
    if n >= 10:
        return "read"
    return "none"


def resource_privilege(scopes: Any, level: Any) -> str:
    """Project/group access token: the lower of the scopes' ceiling and the role's."""
    names = {str(s).lower() for s in scopes or ()}
    ceiling = "admin" if "api" in names else scope_privilege(names)
    role = role_privilege(level)
    if role is None:
        return ceiling
    return min(ceiling, role, key=ORDER.index)


# --- parse -----------------------------------------------------------------------------------------

def token_status(d: Mapping[str, Any]) -> str:
    expires = utc(d.get("expires_at"))
    if d.get("revoked"):
        return "revoked"
    if (expires is not None and expires <= datetime.now(timezone.utc)) or d.get("active") is False:
        return "expired"
    return "active"


def parse_token(site: GitLabConnector, kind: str, d: Mapping[str, Any], owner: str, target: str = "",
                scope_id: Any = None, web_url: str = "", extra: Mapping[str, Any] | None = None) -> Identity:
    scopes = tuple(str(s) for s in d.get("scopes") or ())
    status = token_status(d)
    actions: tuple[str, ...] = ("revoke", "rotate") if status == "active" else \
        ("revoke",) if status == "expired" else ()
    details: dict[str, Any] = {"token_id": d.get("id"), "user_id": d.get("user_id"),
                               "description": sanitize(d.get("description") or ""), **(extra or {})}
    if kind == "personal_access_token":
        privilege = scope_privilege(scopes)
        url = f"{site.url}/-/user_settings/personal_access_tokens"
    else:
        level = d.get("access_level")
        privilege = resource_privilege(scopes, level)
        details["access_level"] = level
        details["role"] = ROLES.get(level, str(level)) if level is not None else ""
        key = "project" if kind == "project_access_token" else "group"
        details[f"{key}_id"] = scope_id
        details[key] = target
        url = f"{(web_url or f'{site.url}/{target}').rstrip('/')}/-/settings/access_tokens"
    return identity(site, kind, d.get("id"), name=str(d.get("name") or f"token {d.get('id')}"),
                    owner=owner, target=target, scopes=scopes, privilege=privilege,
                    created_at=utc(d.get("created_at")), expires_at=utc(d.get("expires_at")),
                    last_used_at=utc(d.get("last_used_at")), status=status, credential="static",
                    actions=actions, url=url, usage_tracked=True, details=details)


# --- collect ---------------------------------------------------------------------------------------

def personal(scan: Scan, page: list[dict[str, Any]], extra: Mapping[str, Any] | None = None) -> list[Identity]:
    """Personal access tokens of one page from any list that shows them, each listed once per scan.

    A token of a service account (`scan.service_accounts`) says so (`details["service_account"]`) and
    names the group that owns the account, whichever list found it first.
    """
    batch = []
    for d in page:
        owner, bot = scan.user(d.get("user_id"))
        if bot or not scan.claim("personal_access_token", d.get("id")):
            continue            # a project/group access token (listed from its project or group), or a repeat
        sa = scan.service_accounts.get(d.get("user_id"))
        more = dict(extra or {})
        if sa is not None:
            more = {"service_account": True, "service_account_group": sa["group"]}
            owner = owner or sa["username"]
        batch.append(parse_token(scan.c, "personal_access_token", d, owner, extra=more))
    return batch


def personal_tokens(scan: Scan) -> None:
    # Instance-wide, GitLab answers an administrator with every user's tokens and anyone else with
    # their own; otherwise ask for the token's own user only.
    params = {} if scan.c.instance else {"user_id": scan.me.get("id")}
    for page in scan.read("GET /personal_access_tokens", "", "admin", "/personal_access_tokens", params):
        scan.emit(personal(scan, page))


def group_tokens(scan: Scan, g: dict[str, Any]) -> None:
    path = str(g.get("full_path"))
    for page in scan.read("GET /groups/:id/access_tokens", path, "group_tokens", f"/groups/{g['id']}/access_tokens"):
        scan.emit([parse_token(scan.c, "group_access_token", d, scan.user(d.get("user_id"))[0], path, g["id"],
                               str(g.get("web_url") or "")) for d in page])


def project_tokens(scan: Scan, p: dict[str, Any]) -> None:
    path = str(p.get("path_with_namespace"))
    for page in scan.read("GET /projects/:id/access_tokens", path, "project_tokens",
                          f"/projects/{p['id']}/access_tokens"):
        scan.emit([parse_token(scan.c, "project_access_token", d, scan.user(d.get("user_id"))[0], path, p["id"],
                               str(p.get("web_url") or "")) for d in page])
