"""Self-hosted runners and the runner groups that decide which repositories may use them.

Endpoints:
- `GET /orgs/{org}/actions/runner-groups` (`runner_groups`: `id`, `name`, `visibility` all/selected/
  private, `allows_public_repositories`) and, for `selected`, `.../runner-groups/{id}/repositories`;
- `GET /orgs/{org}/actions/runners` and `GET /repos/{owner}/{repo}/actions/runners` (`runners`:
  `id`, `name`, `os`, `status` online/offline, `busy`, `ephemeral`, `labels`, `runner_group_id`).

An organisation runner carries its group's name, visibility and repositories in its details (the
policy's `runner-group-public-repos` reads them). Actions (actions.py): restrict the group to no
repository (reversible, undone by `restore`), offered before removing the runner (irreversible).
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from connectors.github.fields import full_names, text
from nhitui.model import Identity, sanitize

if TYPE_CHECKING:
    from connectors.github.client import GitHubClient
    from connectors.github.scan import Scan

HINTS = {
    "runner groups": "needs Organization 'Self-hosted runners' read (classic: admin:org)",
    "org runners": "needs Organization 'Self-hosted runners' read (classic: admin:org)",
    "repo runners": "needs Repository 'Administration' read (classic: repo)",
}


async def runner_groups(scan: Scan, org: str) -> dict[int, dict[str, Any]]:
    """The organisation's runner groups by id, with the repositories of `selected` ones."""
    groups: dict[int, dict[str, Any]] = {}

    async def repos(group: dict[str, Any]) -> None:
        group["repos"] = full_names(await scan.list(
            f"/orgs/{quote(org)}/actions/runner-groups/{group['id']}/repositories", "repositories"))

    async def run() -> None:
        for g in await scan.list(f"/orgs/{quote(org)}/actions/runner-groups", "runner_groups"):
            if not isinstance(g, dict) or not isinstance(g.get("id"), (int, float)):
                continue
            groups[int(g["id"])] = {"id": int(g["id"]), "name": sanitize(g.get("name")),
                                    "visibility": text(g.get("visibility")),
                                    "allows_public_repositories": g.get("allows_public_repositories") is True,
                                    "repos": []}
        await scan.gather(scan.guard("runner groups", org, repos(g)) for g in groups.values()
                          if g["visibility"] == "selected")
    await scan.guard("runner groups", org, run())
    return groups


def runner(gh: GitHubClient, item: dict, org: str, repo: str | None, groups: dict[int, dict[str, Any]]) -> Identity:
    rid = int(item["id"])
    labels = [text(lab.get("name")) for lab in item.get("labels") or [] if isinstance(lab, dict)]
    details: dict[str, Any] = {"scope": "repo" if repo else "org", "org": org, "runner_id": rid,
                               "labels": labels, "ephemeral": item.get("ephemeral") is True,
                               "busy": item.get("busy") is True, "os": text(item.get("os"))}
    status = {"online": "active", "offline": "offline"}.get(text(item.get("status")).lower(), "offline")
    if repo:
        details.update(repo=repo, repos=[repo], allows_public_repositories=False)
        native, target = f"repo:{repo}:{rid}", repo
        url = f"{gh.web_url}/{repo}/settings/actions/runners/{rid}"
    else:
        gid = item.get("runner_group_id")
        group = groups.get(int(gid)) if isinstance(gid, (int, float)) else None
        details.update(group=group["name"] if group else None,
                       group_visibility=group["visibility"] if group else None,
                       allows_public_repositories=group["allows_public_repositories"] if group else None,
                       repos=list(group["repos"]) if group else [])
        if group:
            details["group_id"] = group["id"]
        native, target = f"org:{org}:{rid}", org
        url = f"{gh.web_url}/organizations/{org}/settings/actions/runners/{rid}"
    return gh.identity("runner", native, item.get("name"), owner="", target=target, privilege="none",
                       status=status, credential="ephemeral" if details["ephemeral"] else "static",
                       actions=actions_of(details), url=url, usage_tracked=False, details=details)


def contained(details: dict[str, Any]) -> bool:
    """The runner's group admits no repository: nothing more to restrict."""
    return details.get("group_visibility") == "selected" and not details.get("repos") \
        and not details.get("allows_public_repositories")


def actions_of(details: dict[str, Any]) -> tuple[str, ...]:
    """Restricting the group (reversible) comes before removing the runner (not)."""
    if details.get("group_before"):
        return ("restore", "remove")
    if details.get("group_id") is not None and not contained(details):
        return ("restrict-group", "remove")
    return ("remove",)


async def org_runners(scan: Scan, org: str, groups_future: Awaitable[dict[int, dict[str, Any]]]) -> None:
    async def run() -> None:
        pages = []
        async for page, _ in scan.pages(f"/orgs/{quote(org)}/actions/runners", "runners"):
            pages.append(page)
        groups = await groups_future or {}
        for page in pages:
            scan.out(scan.parse(page, runner, org, None, groups))
    await scan.guard("org runners", org, run())


async def repo_runners(scan: Scan, org: str, repo: str) -> None:
    async for page, _ in scan.pages(f"/repos/{repo}/actions/runners", "runners"):
        scan.out(scan.parse(page, runner, org, repo, {}))
