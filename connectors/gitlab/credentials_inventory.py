"""Other people's credentials: the group credentials inventory (GitLab.com) and what stays unseen.

Without an administrator's instance-wide list, a token sees only its own user's personal access
tokens. On GitLab.com an Owner of a top-level group (Ultimate) can read the credentials inventory of
the group's enterprise users (their accounts stay enterprise users after they leave the group, so
"tokens of people who left" is answerable):

| kind | endpoint | native id |
|---|---|---|
| personal_access_token | `GET /groups/:id/manage/personal_access_tokens` (same fields as `GET /personal_access_tokens`) | token id |
| ssh_key | `GET /groups/:id/manage/ssh_keys`: `id, title, created_at, expires_at, last_used_at, usage_type, user_id` | key id |

Actions (`actions.py`): revoke / rotate a token through `…/manage/personal_access_tokens/:id`, delete a
key through `…/manage/ssh_keys/:id`. An SSH key that can authenticate (`usage_type` `auth` or
`auth_and_signing`) is write (it reaches every repository its user can push to); a signing-only key
is none.

When the inventory cannot be read (a subgroup, a lower tier, no Owner role, self-managed), a blind
spot says exactly what is not visible and what would show it. An administrator scanning with
`instance = true` already lists every user's tokens, so only the SSH keys remain a blind spot there
(self-managed has no API listing every user's SSH keys with their last use).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from connectors.gitlab.client import enc
from connectors.gitlab.scan import Scan, identity
from connectors.gitlab.tokens import personal
from nhitui.model import Identity, sanitize, utc

if TYPE_CHECKING:
    from connectors.gitlab import GitLabConnector

INVENTORY = ("the Owner role on this top-level group on GitLab.com with Ultimate (the credentials inventory "
             "of its enterprise users)")
ADMIN = "or an administrator token with instance = true on self-managed"


def parse_ssh_key(site: GitLabConnector, d: Mapping[str, Any], owner: str, group: str) -> Identity:
    kid = d.get("id")
    usage = sanitize(d.get("usage_type") or "auth_and_signing")
    signing_only = usage == "signing"
    expires = utc(d.get("expires_at"))
    expired = expires is not None and expires <= datetime.now(timezone.utc)
    details = {"key_id": kid, "user_id": d.get("user_id"), "usage_type": usage, "group": group}
    return identity(site, "ssh_key", kid, name=str(d.get("title") or f"SSH key {kid}"), owner=owner, target="",
                    scopes=() if signing_only else ("read_repository", "write_repository"),
                    privilege="none" if signing_only else "write", created_at=utc(d.get("created_at")),
                    expires_at=expires, last_used_at=utc(d.get("last_used_at")),
                    status="expired" if expired else "active", credential="static", actions=("delete",),
                    url=f"{site.url}/groups/{group}/-/security/credentials?tab=ssh_keys", usage_tracked=True,
                    details=details)


def group_inventory(scan: Scan, ref: str) -> None:
    """The credentials inventory of one configured group (its tokens and its keys read side by side),
    or the blind spots that say it is unseen."""
    if "/" in ref:
        why = f"the credentials inventory belongs to the top-level group ({ref.split('/')[0]}): configure it"
        if not (scan.c.instance and scan.admin):
            scan.spot(f"other members' personal access tokens ({ref})", "", f"not visible: {why}, {ADMIN}")
        scan.spot(f"members' SSH keys ({ref})", "", f"not visible: {why}")
        return
    scan.spawn_threadsafe(_tokens, ref)
    scan.spawn_threadsafe(_ssh_keys, ref)


def _tokens(scan: Scan, ref: str) -> None:
    tokens, problem = scan.read_all("inventory", f"/groups/{enc(ref)}/manage/personal_access_tokens")
    scan.emit(personal(scan, tokens, {"manage_group": ref}))
    if problem and not (scan.c.instance and scan.admin):     # an administrator's instance list has them all
        scan.spot(f"other members' personal access tokens ({ref})", "",
                  f"not visible (GET /groups/:id/manage/personal_access_tokens: {problem}): only the scanning "
                  f"token's own user's tokens are listed; needs {INVENTORY}, {ADMIN}")


def _ssh_keys(scan: Scan, ref: str) -> None:
    keys, problem = scan.read_all("inventory", f"/groups/{enc(ref)}/manage/ssh_keys")
    scan.emit([parse_ssh_key(scan.c, d, scan.user(d.get("user_id"))[0], ref) for d in keys
               if scan.claim("ssh_key", d.get("id"))])
    if problem:
        scan.spot(f"members' SSH keys ({ref})", "",
                  f"not visible (GET /groups/:id/manage/ssh_keys: {problem}): needs {INVENTORY}; self-managed "
                  "has no API that lists every user's SSH keys with their last use")
