"""Who belongs to the configured groups: the usernames the policy compares owners with.

`GET /groups/:id/members/all` (members of the group and its ancestors, inherited ones included)
for each configured group. `report.facts["members"]` holds the union, so the policy can flag an
identity whose owner is no longer a member ("owner-departed"). If any configured group's list cannot
be read, no fact is set: a partial list would call present people departed.
"""

from __future__ import annotations

from typing import Any

from connectors.gitlab.scan import Scan


def group_members(scan: Scan, g: dict[str, Any]) -> None:
    ok = False
    names = []
    for page in scan.read("GET /groups/:id/members/all", str(g.get("full_path")), "member",
                          f"/groups/{g['id']}/members/all"):
        ok = True
        names += [str(m.get("username")) for m in page if m.get("username")]
    with scan.lock:
        scan.members.update(names)
        if not ok:
            scan.members_ok = False


def publish(scan: Scan) -> None:
    """After the walk: the member list, if every configured group's could be read."""
    if scan.c.groups and scan.members_ok:
        scan.c.report.facts["members"] = sorted(scan.members)
