"""Organisation members: `GET /orgs/{org}/members` (`login`).

Not identities: the list becomes the source's `members` fact, which the policy uses to tell that an
owner or `added_by` has left (`owner-departed`). An unreadable list is a blind spot, and then the
fact is absent rather than empty, so nobody is called departed on missing evidence.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote

if TYPE_CHECKING:
    from connectors.github.scan import Scan

HINTS = {"members": "needs Organization 'Members' read (classic: read:org)"}


async def collect(scan: Scan, org: str) -> None:
    async def run() -> None:
        users = await scan.list(f"/orgs/{quote(org)}/members")
        scan.members[org] = [str(u["login"]) for u in users if isinstance(u, dict) and u.get("login")]
    scan.members[org] = None
    await scan.guard("members", org, run())
