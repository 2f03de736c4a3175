"""Users, groups, projects and members of the fake GitLab: seeding, JSON and routes.

Groups and projects come from the world's nested project paths (`acme/platform/api-0`); the top
group's members are `root` (Owner) and the world's members (the first an Owner, the others Maintainer
or Developer). The world's departed people exist as users but belong to no group. Members and
departed people are enterprise users of the top group (root is not).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import request

from nhitui.sandbox.gitlab.http import Route, keyset, not_found, page, ts
from nhitui.sandbox.gitlab.truth import CANARY

if TYPE_CHECKING:
    from nhitui.sandbox.gitlab.fake import GitLabFake

GUEST, REPORTER, DEVELOPER, MAINTAINER, OWNER = 10, 20, 30, 40, 50


def seed(fake: GitLabFake) -> None:
    w = fake.world
    root = fake.add_user("root", admin=True)
    fake.root_id = root["id"]
    fake.member_ids = [fake.add_user(name)["id"] for name in w.members]
    fake.user_id = fake.member_ids[0]
    fake.departed_ids = [fake.add_user(name)["id"] for name in w.departed]
    fake.by_name = {u["username"]: u["id"] for u in fake.users.values()}

    gid = 100
    paths = w.project_paths()
    for path in paths:
        parts = path.split("/")[:-1]
        for depth in range(1, len(parts) + 1):
            full = "/".join(parts[:depth])
            if any(g["full_path"] == full for g in fake.groups.values()):
                continue
            parent = next((g["id"] for g in fake.groups.values() if g["full_path"] == "/".join(parts[:depth - 1])),
                          None)
            fake.groups[gid] = {"id": gid, "full_path": full, "path": parts[depth - 1],
                                "name": parts[depth - 1].title(), "parent_id": parent,
                                "created_at": ts(w.days_ago(900))}
            fake.members[gid] = {}
            gid += 1
    fake.gid_by_path = {g["full_path"]: g["id"] for g in fake.groups.values()}
    top = fake.gid_by_path[w.org]
    fake.top_id = top
    # Enterprise users (GitLab.com): accounts whose e-mail domain the top group verified. They stay
    # enterprise users after leaving the group, so the credentials inventory still shows their tokens.
    for uid in fake.member_ids + fake.departed_ids:
        fake.users[uid]["enterprise_group_id"] = top
    fake.members[top][fake.root_id] = OWNER
    for n, uid in enumerate(fake.member_ids):
        fake.members[top][uid] = OWNER if n == 0 else (MAINTAINER if n % 3 else DEVELOPER)
    for i, path in enumerate(paths):
        pid = 1000 + i
        ns = "/".join(path.split("/")[:-1])
        fake.projects[pid] = {"id": pid, "path_with_namespace": path, "path": path.rsplit("/", 1)[1],
                              "name": path.rsplit("/", 1)[1], "namespace_id": fake.gid_by_path[ns],
                              "created_at": ts(w.days_ago(800 - i % 300))}
        fake.project_members[pid] = {}


def user_json(fake: GitLabFake, u: dict[str, Any], caller: dict[str, Any] | None = None) -> dict[str, Any]:
    body = {"id": u["id"], "username": u["username"], "name": u["name"], "state": u["state"],
            "locked": u["locked"], "avatar_url": None, "web_url": fake.web(u["username"]),
            "bot": u["bot"], "created_at": u["created_at"]}
    if caller is not None and caller["admin"]:
        body["is_admin"] = u["is_admin"]
    return body


def group_json(fake: GitLabFake, g: dict[str, Any]) -> dict[str, Any]:
    return {"id": g["id"], "name": g["name"], "path": g["path"], "full_path": g["full_path"],
            "full_name": g["full_path"].replace("/", " / "), "parent_id": g["parent_id"],
            "visibility": "private", "web_url": fake.web("groups/" + g["full_path"]),
            "created_at": g["created_at"], "runners_token": f"GR1348941{CANARY}"}


def project_json(fake: GitLabFake, p: dict[str, Any]) -> dict[str, Any]:
    ns = fake.groups[p["namespace_id"]]
    return {"id": p["id"], "name": p["name"], "path": p["path"], "path_with_namespace": p["path_with_namespace"],
            "name_with_namespace": p["path_with_namespace"].replace("/", " / "),
            "namespace": {"id": ns["id"], "full_path": ns["full_path"], "kind": "group"},
            "web_url": fake.web(p["path_with_namespace"]), "created_at": p["created_at"],
            "visibility": "private", "archived": False}


def routes(fake: GitLabFake, route: Route) -> None:
    @route("GET", "user")
    def current_user(caller: dict[str, Any]) -> Any:
        body = user_json(fake, caller["user"], caller)
        if caller["admin"]:
            body["is_admin"] = True
        return body

    @route("GET", "version")
    def version(caller: dict[str, Any]) -> Any:
        return {"version": "17.5.0-ee", "revision": "fake"}

    @route("GET", "users/{id}")
    def get_user(caller: dict[str, Any], uid: str) -> Any:
        if not uid.isdigit() or int(uid) not in fake.users:
            raise not_found("User Not Found")
        return user_json(fake, fake.users[int(uid)], caller)

    @route("GET", "groups")
    def list_groups(caller: dict[str, Any]) -> Any:
        return page(fake, [group_json(fake, g) for _, g in sorted(fake.groups.items())])

    @route("GET", "groups/{id}")
    def get_group(caller: dict[str, Any], ref: str) -> Any:
        return group_json(fake, fake.group(ref))

    @route("GET", "groups/{id}/descendant_groups")
    def descendants(caller: dict[str, Any], ref: str) -> Any:
        g = fake.group(ref)
        return page(fake, [group_json(fake, fake.groups[d]) for d in fake.descendants(g["id"])])

    @route("GET", "groups/{id}/subgroups")
    def subgroups(caller: dict[str, Any], ref: str) -> Any:
        g = fake.group(ref)
        return page(fake, [group_json(fake, x) for _, x in sorted(fake.groups.items()) if x["parent_id"] == g["id"]])

    @route("GET", "groups/{id}/projects")
    def group_projects(caller: dict[str, Any], ref: str) -> Any:
        g = fake.group(ref)
        scope = {g["id"]}
        if request.args.get("include_subgroups") in ("true", "1"):
            scope |= set(fake.descendants(g["id"]))
        return page(fake, [project_json(fake, p) for _, p in sorted(fake.projects.items())
                           if p["namespace_id"] in scope])

    @route("GET", "groups/{id}/members/all")
    def group_members(caller: dict[str, Any], ref: str) -> Any:
        g = fake.group(ref)
        seen: dict[int, int] = {}
        for gid in fake.ancestors(g["id"]):
            for uid, level in fake.members[gid].items():
                seen[uid] = max(level, seen.get(uid, 0))
        return page(fake, [user_json(fake, fake.users[uid]) | {"access_level": level}
                           for uid, level in sorted(seen.items())])

    @route("GET", "projects")
    def list_projects(caller: dict[str, Any]) -> Any:
        items = [project_json(fake, p) for _, p in sorted(fake.projects.items())]
        if request.args.get("pagination") == "keyset":
            return keyset(fake, items)
        return page(fake, items)

    @route("GET", "projects/{id}")
    def get_project(caller: dict[str, Any], ref: str) -> Any:
        return project_json(fake, fake.project(ref))
