"""Service accounts (Premium/Ultimate): users that run pipelines and integrations, and their tokens.

| what | endpoint |
|---|---|
| group service accounts | `GET /groups/:id/service_accounts` (top-level group, Owner): `id, username, name` |
| their tokens | `GET /groups/:id/service_accounts/:user_id/personal_access_tokens` (GitLab 17.11+), same fields as `GET /personal_access_tokens` |
| instance service accounts | `GET /service_accounts` (administrator, self-managed) |
| their tokens | the administrator's instance-wide `GET /personal_access_tokens` |

A service account's token is a `personal_access_token` whose owner is the service account, with
`details["service_account"] = True` and `details["service_account_group"]` (the owning top-level
group, empty for an instance account). The accounts are read before any token list (`discover`), so
whichever list shows a token first marks it the same way. Actions (`actions.py`): revoke and rotate,
through `/groups/:id/service_accounts/:user_id/personal_access_tokens/:id` for a group account.
"""

from __future__ import annotations

from typing import Any

from connectors.gitlab.client import enc
from connectors.gitlab.scan import Scan
from connectors.gitlab.tokens import personal


def discover(scan: Scan) -> None:
    """Who the service accounts are (blocking; runs once, before the token lists start)."""
    for ref in scan.c.groups:
        if "/" in ref:
            continue                # service accounts belong to top-level groups only
        accounts, problem = scan.read_all("service_accounts", f"/groups/{enc(ref)}/service_accounts")
        if problem:
            scan.spot(f"GET /groups/:id/service_accounts ({ref})", "",
                      f"the group's service accounts and their tokens are not visible: {problem}")
        for sa in accounts:
            scan.service_accounts[sa.get("id")] = {"username": str(sa.get("username") or ""), "group": ref}
    if scan.c.instance:
        accounts, problem = scan.read_all("instance_service_accounts", "/service_accounts")
        if problem and scan.admin:
            scan.spot("GET /service_accounts", "", f"instance service accounts are not marked as such: {problem}")
        for sa in accounts:
            scan.service_accounts.setdefault(sa.get("id"), {"username": str(sa.get("username") or ""), "group": ""})


def group_service_account_tokens(scan: Scan) -> None:
    for uid, sa in list(scan.service_accounts.items()):
        if sa["group"]:
            scan.spawn_threadsafe(_tokens_of, uid, sa)


def _tokens_of(scan: Scan, uid: Any, sa: dict[str, Any]) -> None:
    path = f"/groups/{enc(sa['group'])}/service_accounts/{enc(uid)}/personal_access_tokens"
    for page in scan.read("GET /groups/:id/service_accounts/:user_id/personal_access_tokens", sa["username"],
                          "service_accounts", path):
        scan.emit(personal(scan, page))
