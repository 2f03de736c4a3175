"""GitHub App installations on the organisation: `GET /orgs/{org}/installations`.

Fields: `id`, `app_id`, `app_slug`, `permissions` (name -> read/write/admin), `repository_selection`
all/selected, `events`, `created_at`, `suspended_at`. An installation's tokens are minted per hour
by the app, so the credential is ephemeral; nhitui offers no action on it (uninstalling is the
owner's decision, made in GitHub).
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote

from connectors.github.fields import iso, level_privilege, text, texts
from nhitui.model import Identity, max_privilege, utc

if TYPE_CHECKING:
    from connectors.github.client import GitHubClient
    from connectors.github.scan import Scan

HINTS = {"app installations": "needs Organization 'Administration' read, as an organisation owner"}


def installation(gh: GitHubClient, item: dict, org: str) -> Identity:
    iid = int(item["id"])
    perms = item.get("permissions") if isinstance(item.get("permissions"), dict) else {}
    scopes = tuple(sorted(f"{k}:{v}" for k, v in perms.items()))
    privilege = max_privilege(*(level_privilege(str(k), str(v)) for k, v in perms.items())) if perms else "none"
    slug = text(item.get("app_slug"))
    suspended = bool(item.get("suspended_at"))
    return gh.identity(
        "app_installation", str(iid), slug or f"app {item.get('app_id')}", owner="", target=org, scopes=scopes,
        privilege=privilege, created_at=utc(item.get("created_at")),
        status="suspended" if suspended else "active", credential="ephemeral", actions=(),
        url=f"{gh.web_url}/organizations/{org}/settings/installations/{iid}", usage_tracked=False,
        details={"org": org, "repository_selection": text(item.get("repository_selection")), "app_slug": slug,
                 "app_id": item.get("app_id"), "suspended": suspended,
                 "suspended_at": iso(item.get("suspended_at")), "events": texts(item.get("events"))})


async def collect(scan: Scan, org: str) -> None:
    async def run() -> None:
        async for page, _ in scan.pages(f"/orgs/{quote(org)}/installations", "installations"):
            scan.out(scan.parse(page, installation, org))
    await scan.guard("app installations", org, run())
