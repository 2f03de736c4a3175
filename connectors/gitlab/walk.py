"""What one scan reads, in which order: the table of contents of the GitLab connector.

1. `GET /user` (who the token is; a bad token fails the source here) while the configured `groups`
   (full paths) are read; then the service accounts (`service_accounts.discover`), so every token
   list can tell their tokens apart; then the personal tokens, the service accounts' tokens and each
   configured group's credentials inventory (`credentials_inventory.py`).
2. Each group spawns its descendants (`GET /groups/:id/descendant_groups`), its projects
   (`GET /groups/:id/projects?include_subgroups=true`), its members, and the group jobs of every
   kind (`GROUP_JOBS`); each project found spawns the project jobs (`PROJECT_JOBS`). A group or a
   project is walked once however many lists name it.
3. With `instance = true` the administrator lists run beside the walk (and, without `groups`, every
   project through keyset pagination and every group); what they add beyond the walk is emitted
   after it (`scan.later`).
4. Then the blind spots that only the whole scan can tell, and the member list.
"""

from __future__ import annotations

from typing import Any

from connectors.base import ConnectorError
from connectors.gitlab import (
    agents,
    credentials_inventory,
    deploy_tokens,
    keys,
    members,
    runners,
    service_accounts,
    tokens,
    triggers,
    variables,
)
from connectors.gitlab.client import enc
from connectors.gitlab.scan import DONE, Scan

GROUP_JOBS = (tokens.group_tokens, deploy_tokens.group_deploy_tokens, variables.group_variables,
              runners.group_runners)
PROJECT_JOBS = (tokens.project_tokens, keys.project_deploy_keys, deploy_tokens.project_deploy_tokens,
                variables.project_variables, triggers.project_triggers, runners.project_runners,
                agents.project_agents)
INSTANCE_JOBS = (runners.instance_runners, variables.instance_variables, keys.instance_deploy_keys,
                 deploy_tokens.instance_deploy_tokens)


async def run(scan: Scan) -> None:
    c = scan.c
    try:
        # The group walk starts with the identity check: a bad token fails both with a 401.
        for ref in c.groups:
            scan.spawn(group_root, ref)
        await scan.loop.run_in_executor(scan.pool, scan.whoami)
        await scan.loop.run_in_executor(scan.pool, service_accounts.discover, scan)
        scan.spawn(tokens.personal_tokens)
        scan.spawn(service_accounts.group_service_account_tokens)
        for ref in c.groups:
            scan.spawn(credentials_inventory.group_inventory, ref)
        if c.instance:
            for job in INSTANCE_JOBS:
                scan.spawn(job)
            if not c.groups:
                scan.spawn(all_projects)
                scan.spawn(all_groups)
        await scan.drain()
        for fn in scan.after_walk:
            fn()
        if c.instance and not scan.admin and (scan.admin_denied or "is_admin" in scan.me):
            scan.spot("GET /personal_access_tokens (other users)", "",
                      "the token is not an administrator's, so the instance-wide list shows only its own user's "
                      "tokens (and what a group's credentials inventory adds): needs an administrator token")
        if c.instance and not c.groups:
            scan.spot("users' SSH keys", "", "not listed: GitLab lists SSH keys with their last use only in a "
                      "top-level group's credentials inventory (GitLab.com, Ultimate, Owner): configure the group; "
                      "self-managed has no API that lists every user's SSH keys")
        members.publish(scan)
        scan.flush_spots()
        if scan.ok_reads == 0 and c.report.blind_spots:
            first = c.report.blind_spots[0]
            raise ConnectorError(f"nothing could be read from {c.url}: {first.what}: {first.reason}")
    finally:
        scan.stop.set()
        scan.flush_spots()
        scan.queue.put_nowait(DONE)


def claim_group(scan: Scan, g: dict[str, Any]) -> bool:
    if not scan.claim("group", g.get("id")):
        return False
    with scan.lock:
        scan.groups[g.get("id")] = g
        scan.group_paths[g.get("id")] = str(g.get("full_path") or "")
    return True


def group_root(scan: Scan, ref: str) -> None:
    g = scan.get("GET /groups/:id", ref, "group", f"/groups/{enc(ref)}", with_projects="false")
    if g is None:
        with scan.lock:
            scan.members_ok = False
        return
    if claim_group(scan, g):
        group_jobs(scan, g)
    scan.spawn_threadsafe(members.group_members, g)
    scan.spawn_threadsafe(group_descendants, g)
    scan.spawn_threadsafe(group_projects, g)


def group_descendants(scan: Scan, g: dict[str, Any]) -> None:
    for page in scan.read("GET /groups/:id/descendant_groups", str(g.get("full_path")), "member",
                          f"/groups/{g['id']}/descendant_groups"):
        for sub in page:
            if claim_group(scan, sub):
                group_jobs(scan, sub)


def group_projects(scan: Scan, g: dict[str, Any]) -> None:
    params = {"include_subgroups": "true", "with_shared": "false", "simple": "true",
              "order_by": "id", "sort": "asc"}
    for page in scan.read("GET /groups/:id/projects", str(g.get("full_path")), "member",
                          f"/groups/{g['id']}/projects", params):
        project_jobs(scan, page)


def all_projects(scan: Scan) -> None:
    params = {"pagination": "keyset", "order_by": "id", "sort": "asc", "simple": "true"}
    for page in scan.read("GET /projects", "", "admin", "/projects", params):
        project_jobs(scan, page)


def all_groups(scan: Scan) -> None:
    for page in scan.read("GET /groups", "", "admin", "/groups", {"all_available": "true"}):
        for g in page:
            if claim_group(scan, g):
                group_jobs(scan, g)


def group_jobs(scan: Scan, g: dict[str, Any]) -> None:
    for job in GROUP_JOBS:
        scan.spawn_threadsafe(job, g)


def project_jobs(scan: Scan, projects: list[dict[str, Any]]) -> None:
    for p in projects:
        if scan.claim("project", p.get("id")):
            for job in PROJECT_JOBS:
                scan.spawn_threadsafe(job, p)
