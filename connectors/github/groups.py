"""Runner-group containment: stop every repository from using a runner group, and put it back.

Restricting (`restrict-group`, offered on an organisation runner before `remove`) reads the group as
it is now with the write credential (`GET /orgs/{org}/actions/runner-groups/{id}` and, when
`selected`, `.../repositories`), then sends `PATCH .../runner-groups/{id}` with the group's own
`name` (required by GitHub), `visibility: selected` and `allows_public_repositories: false`, and
`PUT .../repositories {"selected_repository_ids": []}`. The state it read is kept in the runner's
`details["group_before"]`, from which `restore` sends the previous visibility, public-repository
setting and repository ids back. The runners stay registered: nothing is lost.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from connectors.github import runners
from connectors.github.client import message
from nhitui.model import Action, ActionResult, Identity, sanitize

if TYPE_CHECKING:
    from connectors.github.client import GitHubClient


def _base(identity: Identity) -> str:
    d = identity.details
    return f"/orgs/{quote(str(d.get('org') or identity.target))}/actions/runner-groups/{d.get('group_id')}"


def offered(identity: Identity) -> list[Action]:
    """`restrict-group` or `restore` for an organisation runner whose group can be changed."""
    d = identity.details
    base = _base(identity)
    if d.get("group_before"):
        before = d["group_before"]
        body = {"visibility": before.get("visibility"),
                "allows_public_repositories": before.get("allows_public_repositories")}
        call = f"PATCH {base} {json.dumps(body, separators=(',', ':'))}"
        if before.get("visibility") == "selected":
            call += f"; PUT {base}/repositories {len(before.get('repo_ids') or [])} repositories"
        return [Action("restore", "yes", f"Give runner group {d.get('group')!r} back the repository access it had.",
                       call, undo="restrict-group")]
    if "restrict-group" not in runners.actions_of(d):
        return []
    call = (f'PATCH {base} {{"visibility":"selected","allows_public_repositories":false}}; '
            f'PUT {base}/repositories {{"selected_repository_ids":[]}}')
    return [Action("restrict-group", "yes", f"Let no repository use runner group {d.get('group')!r} (its runners "
                                            "stay registered); undo restores the access it had.", call,
                   undo="restore")]


async def _send(gh: GitHubClient, verb: str, path: str, body: Any = None) -> tuple[int, Any]:
    status, _, data = await asyncio.to_thread(gh.write, verb, path, body)
    return status, data


async def _read(gh: GitHubClient, base: str) -> dict[str, Any] | ActionResult:
    """The group as it is now: name, visibility, public-repository setting, repository ids and names."""
    status, group = await _send(gh, "GET", base)
    if status != 200 or not isinstance(group, dict) or not isinstance(group.get("name"), str):
        return ActionResult("failed", status or None, f"cannot read the runner group: {message(group) or status}")
    state = {"visibility": str(group.get("visibility") or ""),
             "allows_public_repositories": group.get("allows_public_repositories") is True,
             "name": group["name"], "repo_ids": [], "repos": []}
    if state["visibility"] == "selected":
        page = 1
        while True:
            status, data = await _send(gh, "GET", f"{base}/repositories?per_page=100&page={page}")
            found = data.get("repositories") if isinstance(data, dict) else None
            if status != 200 or not isinstance(found, list):
                return ActionResult("failed", status or None, f"cannot read the group's repositories: "
                                                              f"{message(data) or status}")
            for r in found:
                if isinstance(r, dict) and isinstance(r.get("id"), int):
                    state["repo_ids"].append(r["id"])
                    state["repos"].append(sanitize(r.get("full_name")))
            if len(found) < 100:
                break
            page += 1
    return state


async def _apply(gh: GitHubClient, base: str, name: str, visibility: str, public: bool,
                 repo_ids: list[int] | None) -> ActionResult | None:
    """PATCH the group, then PUT its repositories (when `repo_ids` is not None); None when both succeed."""
    status, data = await _send(gh, "PATCH", base, {"name": name, "visibility": visibility,
                                                   "allows_public_repositories": public})
    if not 200 <= status < 300:
        return ActionResult("failed", status or None, message(data) or f"HTTP {status}")
    if repo_ids is not None:
        status, data = await _send(gh, "PUT", f"{base}/repositories", {"selected_repository_ids": repo_ids})
        if not 200 <= status < 300:
            return ActionResult("failed", status or None, f"the group's visibility changed but its repository "
                                                          f"list did not: {message(data) or f'HTTP {status}'}")
    return None


async def execute(gh: GitHubClient, identity: Identity, action: str) -> ActionResult:
    base = _base(identity)
    d = dict(identity.details)
    if action == "restrict-group":
        before = await _read(gh, base)
        if isinstance(before, ActionResult):
            return before
        failed = await _apply(gh, base, before.pop("name"), "selected", False, [])
        if failed:
            return failed
        d.update(group_before=before, group_visibility="selected", repos=[], allows_public_repositories=False)
        said = f"runner group {d.get('group')!r} restricted to no repository"
    elif action == "restore" and d.get("group_before"):
        before = d.pop("group_before")
        now = await _read(gh, base)
        if isinstance(now, ActionResult):
            return now
        visibility = str(before.get("visibility") or "all")
        failed = await _apply(gh, base, str(now["name"]), visibility, bool(before.get("allows_public_repositories")),
                              list(before.get("repo_ids") or []) if visibility == "selected" else None)
        if failed:
            return failed
        d.update(group_visibility=visibility, repos=list(before.get("repos") or []),
                 allows_public_repositories=bool(before.get("allows_public_repositories")))
        said = f"runner group {d.get('group')!r} access restored"
    else:
        return ActionResult("failed", message=f"{action!r} is not an action of this runner")
    updated = replace(identity, details=d, actions=runners.actions_of(d))
    return ActionResult("ok", 200, said, identity=updated)
