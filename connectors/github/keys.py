"""Deploy keys: `GET /repos/{owner}/{repo}/keys`, one SSH key per item, read-only or able to push.

Fields: `id`, `title`, `read_only`, `added_by`, `last_used` (recent API versions), `enabled`,
`verified`, `created_at`. The key itself is public and is not kept. Action: delete (actions.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nhitui.model import Identity, sanitize, utc

if TYPE_CHECKING:
    from connectors.github.client import GitHubClient
    from connectors.github.scan import Scan

HINTS = {
    "deploy keys": "needs Repository 'Administration' read (classic: repo, with admin rights on the repository)",
}


def key(gh: GitHubClient, item: dict, org: str, repo: str) -> Identity:
    kid = int(item["id"])
    read_only = item.get("read_only") is True
    return gh.identity(
        "deploy_key", str(kid), item.get("title"), owner=sanitize(item.get("added_by")), target=repo,
        scopes=("contents:read",) if read_only else ("contents:write",),
        privilege="read" if read_only else "write", created_at=utc(item.get("created_at")),
        last_used_at=utc(item.get("last_used")),
        status="inactive" if item.get("enabled") is False else "active", credential="static",
        actions=("delete",), url=f"{gh.web_url}/{repo}/settings/keys",
        usage_tracked="last_used" in item,
        details={"repo": repo, "org": org, "key_id": kid, "read_only": read_only,
                 "enabled": item.get("enabled") is not False, "added_by": sanitize(item.get("added_by")),
                 "verified": item.get("verified") is True})


async def collect(scan: Scan, repo: str) -> None:
    org = repo.split("/", 1)[0]
    async for page, _ in scan.pages(f"/repos/{repo}/keys"):
        scan.out(scan.parse(page, key, org, repo))
