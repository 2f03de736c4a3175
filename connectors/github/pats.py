"""Fine-grained personal access tokens granted access to the organisation, and pending requests.

Endpoints (GitHub accepts only a GitHub App's installation token here, never a classic PAT):
- `GET /orgs/{org}/personal-access-tokens` (grants) and `.../{pat_id}/repositories` for a `subset`;
- `GET /orgs/{org}/personal-access-token-requests` and `.../{request_id}/repositories`.
Fields: `id`, `owner.login`, `token_name`, `token_id`, `permissions` ({repository|organization:
{name: level}}), `repository_selection` all/subset/none, `access_granted_at` (grants) or
`created_at` and `reason` (requests), `token_expires_at`, `token_expired`, `token_last_used_at`.
Actions: revoke a grant, deny a request (actions.py), offered only when the source has a GitHub App
(`details["action_needs"]` names it otherwise).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from connectors.github.fields import full_names, level_privilege, text
from nhitui.model import Identity, max_privilege, sanitize, utc

if TYPE_CHECKING:
    from connectors.github.client import GitHubClient
    from connectors.github.scan import Scan

# GitHub refuses classic PATs (and fine-grained PATs) on these endpoints, writes included: only a
# GitHub App's installation token may revoke a grant or review a request.
NEEDS_APP = ("a GitHub App installed on the organisation with Organization 'Personal access tokens' write "
             "(requests: 'Personal access token requests' write); GitHub refuses classic PATs here. Set app_id, "
             "app_private_key and app_installation_id on the source")

HINTS = {
    "fine-grained PAT grants": "needs a GitHub App with Organization 'Personal access tokens' read "
                               "(classic PATs are refused)",
    "fine-grained PAT requests": "needs a GitHub App with Organization 'Personal access token requests' read "
                                 "(classic PATs are refused)",
}


def pat(gh: GitHubClient, item: dict, org: str, request: bool, repos: list[str] | None) -> Identity:
    pid = int(item["id"])
    perms = item.get("permissions") if isinstance(item.get("permissions"), dict) else {}
    scopes, privileges = [], []
    for group, items in perms.items():
        if isinstance(items, dict):
            for name, level in items.items():
                scopes.append(f"{group}:{name}:{level}")
                privileges.append(level_privilege(str(name), str(level)))
    owner = item.get("owner") if isinstance(item.get("owner"), dict) else {}
    expires = utc(item.get("token_expires_at"))
    if request:
        status = "pending"
    elif item.get("token_expired") is True or (expires is not None and expires <= datetime.now(timezone.utc)):
        status = "expired"
    else:
        status = "active"
    details: dict[str, Any] = {"org": org, "repository_selection": text(item.get("repository_selection")),
                               "token_name": sanitize(item.get("token_name")), "token_id": item.get("token_id"),
                               "repos": repos if repos is not None else []}
    details["request_id" if request else "pat_id"] = pid
    app = gh.has_app
    if not app:
        details["action_needs"] = NEEDS_APP
    if request:
        details["reason"] = sanitize(item.get("reason"))[:500]
        native = f"request:{org}:{pid}"
        url = f"{gh.web_url}/organizations/{org}/settings/personal-access-token-requests/{pid}"
    else:
        native = f"grant:{org}:{pid}"
        url = f"{gh.web_url}/organizations/{org}/settings/personal-access-tokens/{pid}"
    return gh.identity(
        "fine_grained_pat", native, item.get("token_name"), owner=sanitize(owner.get("login")), target=org,
        scopes=tuple(sorted(scopes)), privilege=max_privilege(*privileges) if privileges else "none",
        created_at=utc(item.get("created_at") if request else item.get("access_granted_at")),
        expires_at=expires, last_used_at=utc(item.get("token_last_used_at")), status=status,
        credential="static", actions=(("deny",) if request else ("revoke",)) if app else (), url=url,
        usage_tracked=True,
        details=details)


async def _listing(scan: Scan, org: str, request: bool) -> None:
    what = "fine-grained PAT requests" if request else "fine-grained PAT grants"
    base = f"/orgs/{quote(org)}/personal-access-token-requests" if request \
        else f"/orgs/{quote(org)}/personal-access-tokens"

    async def one(item: dict) -> None:
        repos: list[str] | None = []
        if item.get("repository_selection") == "subset" and isinstance(item.get("id"), int):
            async def fetch() -> list[str]:
                return full_names(await scan.list(f"{base}/{item['id']}/repositories"))
            repos = await scan.guard(what, org, fetch())
        scan.out(scan.parse([item], pat, org, request, repos))

    async def run() -> None:
        async for page, _ in scan.pages(base):
            await scan.gather(one(i) for i in page if isinstance(i, dict))
    await scan.guard(what, org, run())


async def grants(scan: Scan, org: str) -> None:
    await _listing(scan, org, request=False)


async def requests(scan: Scan, org: str) -> None:
    await _listing(scan, org, request=True)
