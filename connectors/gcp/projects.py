"""Which projects to scan: the listed ones, or every active project under the organization/folders.

Resource Manager v3 names a project `projects/NUMBER`; `projectId` is the human id. The
organization and folders are walked with `folders.list` + `projects.list` (direct children,
strongly consistent) rather than `projects:search` (eventually consistent: new projects may be
missing). Only `ACTIVE` projects are scanned; `DELETE_REQUESTED` ones are counted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from connectors._http import clean
from connectors.gcp.client import Api, GaveUp, TooLarge, classify

PAGE_SIZE = 1000


@dataclass(frozen=True)
class Project:
    id: str
    number: str
    parent: str = ""
    display_name: str = ""
    state: str = "ACTIVE"


def parse_project(obj: Mapping[str, Any]) -> Project | None:
    name = obj.get("name")
    pid = obj.get("projectId")
    if not isinstance(name, str) or not name.startswith("projects/") or not isinstance(pid, str) or not pid:
        return None
    return Project(id=pid, number=name.split("/", 1)[1], parent=str(obj.get("parent") or ""),
                   display_name=clean(obj.get("displayName"), 100), state=str(obj.get("state") or ""))


def _parent(value: str, kind: str) -> str:
    value = str(value).strip()
    return value if value.startswith(f"{kind}/") else f"{kind}/{value}"


def ancestry(parent: str, folders: Mapping[str, str]) -> list[str]:
    """`folders/A`, `folders/B`, `organizations/O` above a project whose parent is `parent` (nearest first)."""
    chain: list[str] = []
    while parent and parent not in chain and len(chain) < 20:   # folders nest at most 10 deep
        chain.append(parent)
        parent = folders.get(parent, "")
    return chain


async def discover(api: Api, settings: Mapping[str, Any], concurrency: int,
                   folders: dict[str, str] | None = None) -> list[Project]:
    """The active projects to scan, without duplicates, in a stable order.

    `folders` (when given) receives every folder walked, mapped to its parent, so inherited
    policies can be read along each project's ancestry.
    """
    found: dict[str, Project] = {}
    folders = folders if folders is not None else {}
    failures: list[str] = []
    gate = asyncio.Semaphore(concurrency)
    inactive = 0

    async def get_one(pid: str) -> None:
        async with gate:
            what = f"project {pid}"
            try:
                reply = await api.call("GET", "cloudresourcemanager", f"v3/projects/{quote(pid, safe='')}")
            except (GaveUp, TooLarge) as exc:
                failures.append(str(exc))
                api.report.blind_spot(what, str(exc))
                return
            if not reply.ok:
                problem = classify(reply, "grant roles/browser (resourcemanager.projects.get)")
                failures.append(problem.text)
                api.report.blind_spot(what, problem.text)
                return
            project = parse_project(reply.data) if isinstance(reply.data, Mapping) else None
            if project is not None:
                found.setdefault(project.number, project)

    async def walk(parent: str) -> None:
        nonlocal inactive
        children: list[str] = []
        for collection, key in (("projects", "projects"), ("folders", "folders")):
            what = f"{collection} under {parent}"
            try:
                async with gate:
                    pages = [p async for p in api.pages("cloudresourcemanager", f"v3/{collection}", key, what,
                                                        {"parent": parent, "pageSize": PAGE_SIZE})]
            except (GaveUp, TooLarge) as exc:
                failures.append(str(exc))
                api.report.blind_spot(what, str(exc))
                continue
            for items, reply in pages:
                if not reply.ok:
                    problem = classify(reply, f"grant roles/browser on {parent} (resourcemanager.{collection}.list)")
                    failures.append(problem.text)
                    api.report.blind_spot(what, problem.text)
                    continue
                for obj in items:
                    if collection == "projects":
                        project = parse_project(obj)
                        if project is None:
                            continue
                        if project.state and project.state != "ACTIVE":
                            inactive += 1
                            continue
                        found.setdefault(project.number, project)
                    elif isinstance(obj.get("name"), str) and obj["name"].startswith("folders/") \
                            and str(obj.get("state") or "ACTIVE") == "ACTIVE":
                        children.append(obj["name"])
                        folders[obj["name"]] = str(obj.get("parent") or parent)
        await asyncio.gather(*(walk(c) for c in dict.fromkeys(children)))

    roots = []
    if settings.get("organization"):
        roots.append(_parent(str(settings["organization"]), "organizations"))
    roots += [_parent(str(f), "folders") for f in settings.get("folders") or []]
    await asyncio.gather(*(walk(r) for r in roots), *(get_one(str(p)) for p in settings.get("projects") or []))
    if inactive:
        api.report.facts["inactive_projects"] = inactive
    projects = sorted(found.values(), key=lambda p: p.id)
    if not projects and failures:
        from connectors.base import ConnectorError

        raise ConnectorError("no project could be read: " + "; ".join(dict.fromkeys(failures))[:500])
    return [p for p in projects if not p.state or p.state == "ACTIVE"]
