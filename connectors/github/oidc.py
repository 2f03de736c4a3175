"""The OIDC subject claim template of Actions tokens: what a cloud role's `sub` condition is matched against.

Endpoints: `GET /orgs/{org}/actions/oidc/customization/sub` (`include_claim_keys`,
`use_immutable_subject`) and `GET /repos/{owner}/{repo}/actions/oidc/customization/sub`
(`use_default`, `include_claim_keys`, ...). Not identities: the source's `oidc_sub` fact, which
the policy uses to read the cloud side's trust conditions correctly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote

if TYPE_CHECKING:
    from connectors.github.scan import Scan

HINTS = {
    "org OIDC customization": "needs Organization 'Administration' read (classic: read:org)",
    "repo OIDC customization": "needs Repository 'Actions' read (classic: repo)",
}


async def org_customization(scan: Scan, org: str) -> None:
    async def run() -> None:
        _, data = await scan.get(f"/orgs/{quote(org)}/actions/oidc/customization/sub")
        if isinstance(data, dict):
            scan.oidc["orgs"][org] = {k: v for k, v in data.items() if k != "url"}
    await scan.guard("org OIDC customization", org, run())


async def repo_customization(scan: Scan, repo: str) -> None:
    """Only a repository that does not use the organisation's template is recorded."""
    _, data = await scan.get(f"/repos/{repo}/actions/oidc/customization/sub")
    if isinstance(data, dict) and data.get("use_default") is False:
        scan.oidc["repos"][repo] = {k: v for k, v in data.items() if k != "url"}
