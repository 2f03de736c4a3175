"""Webhooks: organisation and repository hooks, whose shared secret signs every delivery.

Endpoints: `GET /orgs/{org}/hooks` and `GET /repos/{owner}/{repo}/hooks`. Fields: `id`, `active`,
`events`, `created_at`, `config` (`url`, `content_type`, `insecure_ssl`, `secret` masked as
`********` when set, so only `secret_set` is kept) and, for repository hooks, `last_response`.
Actions: deactivate / activate (reversible) and delete (actions.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from connectors.github.fields import texts
from nhitui.model import Identity, sanitize, utc

if TYPE_CHECKING:
    from connectors.github.client import GitHubClient
    from connectors.github.scan import Scan

HINTS = {
    "org webhooks": "needs Organization 'Webhooks' read (classic: admin:org_hook)",
    "repo webhooks": "needs Repository 'Webhooks' read (classic: admin:repo_hook)",
}


def hook(gh: GitHubClient, item: dict, org: str, repo: str | None) -> Identity:
    hid = int(item["id"])
    config = item.get("config") if isinstance(item.get("config"), dict) else {}
    secret = config.get("secret")
    active = item.get("active") is not False
    details: dict[str, Any] = {"scope": "repo" if repo else "org", "org": org, "hook_id": hid,
                               "secret_set": isinstance(secret, str) and secret != "",
                               "active": active, "events": texts(item.get("events")),
                               "content_type": sanitize(config.get("content_type")),
                               "insecure_ssl": str(config.get("insecure_ssl", "0")) not in ("0", "")}
    response = item.get("last_response")
    if isinstance(response, dict):
        details["last_response"] = {"code": response.get("code") if isinstance(response.get("code"), int) else None,
                                    "status": sanitize(response.get("status")) if response.get("status") else None,
                                    "message": sanitize(response.get("message"))[:300]
                                    if response.get("message") else None}
    if repo:
        details["repo"] = repo
        native, target, url = f"repo:{repo}:{hid}", repo, f"{gh.web_url}/{repo}/settings/hooks/{hid}"
    else:
        native, target = f"org:{org}:{hid}", org
        url = f"{gh.web_url}/organizations/{org}/settings/hooks/{hid}"
    return gh.identity("webhook", native, config.get("url") or item.get("name"), owner="", target=target,
                       privilege="none", created_at=utc(item.get("created_at")),
                       status="active" if active else "inactive", credential="static",
                       actions=("deactivate", "delete") if active else ("activate", "delete"), url=url,
                       usage_tracked=False, details=details)


async def org_hooks(scan: Scan, org: str) -> None:
    async def run() -> None:
        async for page, _ in scan.pages(f"/orgs/{quote(org)}/hooks"):
            scan.out(scan.parse(page, hook, org, None))
    await scan.guard("org webhooks", org, run())


async def repo_hooks(scan: Scan, org: str, repo: str) -> None:
    async for page, _ in scan.pages(f"/repos/{repo}/hooks"):
        scan.out(scan.parse(page, hook, org, repo))
