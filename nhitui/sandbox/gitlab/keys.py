"""Deploy keys in the fake GitLab: seeding, JSON and routes.

One key may be linked to several projects (`links`: project id -> can_push). Deleting it from a
project unlinks it; the key is gone once no project uses it. The admin list `GET /deploy_keys` names
the projects with write and read-only access (GitLab 16.0+). There is no instance-level delete
(GitLab has none; only a proposal, gitlab#525018).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import TYPE_CHECKING, Any

from nhitui.sandbox.gitlab.http import Route, not_found, page, ts

if TYPE_CHECKING:
    from nhitui.sandbox.gitlab.fake import GitLabFake

# (created days ago, expires in days | None)
PATTERNS = ((600, None), (40, 200), (200, -15), (30, None))


def new_key(fake: GitLabFake, title: str, created: datetime, expires: datetime | None) -> dict[str, Any]:
    kid = fake.next_id("key")
    digest = hashlib.sha256(f"{kid}:{title}".encode()).hexdigest()
    key = {"id": kid, "title": title, "created_at": created, "expires_at": expires,
           "key": f"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA{digest[:40]} deploy@{kid}",
           "fingerprint": ":".join(digest[i:i + 2] for i in range(0, 32, 2)),
           "fingerprint_sha256": f"SHA256:{digest[:43]}", "usage_type": "auth_and_signing",
           "links": {}}
    fake.deploy_keys[kid] = key
    return key


def _expect(fake: GitLabFake, key: dict[str, Any], pid: int) -> None:
    can_push = key["links"][pid]
    expired = key["expires_at"] is not None and key["expires_at"] <= fake.world.now
    truth = {"name": key["title"], "owner": "", "target": fake.projects[pid]["path_with_namespace"],
             "privilege": "write" if can_push else "read", "status": "expired" if expired else "active",
             "created_at": key["created_at"], "expires_at": key["expires_at"], "last_used_at": None,
             "scopes": ("write_repository",) if can_push else ("read_repository",)}
    fake.expect("deploy_key", f"{pid}:{key['id']}", truth, {"usage_tracked": False})


def seed(fake: GitLabFake) -> None:
    w = fake.world
    pids = sorted(fake.projects)
    n = 0
    for i, pid in enumerate(pids):
        if i % 4 != 0:
            continue
        created, expires = PATTERNS[n % len(PATTERNS)]
        key = new_key(fake, fake.name(f"deploy-{fake.projects[pid]['path']}"), w.days_ago(created),
                      w.days_ahead(expires) if expires is not None else None)
        key["links"][pid] = i % 8 == 0
        _expect(fake, key, pid)
        n += 1
    if len(pids) >= 3:
        # One key shared by two projects: write on one, read-only on the other.
        shared = new_key(fake, "shared-release-key", w.days_ago(100), w.days_ahead(100))
        shared["links"][pids[1]] = True
        shared["links"][pids[2]] = False
        _expect(fake, shared, pids[1])
        _expect(fake, shared, pids[2])
    # A key no project uses any more: only the admin list shows it.
    orphan = new_key(fake, "orphaned-" + w.hostile(1), w.days_ago(500), None)
    truth = {"name": orphan["title"], "owner": "", "target": "instance", "privilege": "none",
             "status": "active", "created_at": orphan["created_at"], "expires_at": None, "last_used_at": None,
             "scopes": ()}
    fake.expect("deploy_key", f"instance:{orphan['id']}", truth, {"usage_tracked": False})
    fake.instance_only.add(("deploy_key", f"instance:{orphan['id']}"))


def key_json(k: dict[str, Any]) -> dict[str, Any]:
    return {"id": k["id"], "title": k["title"], "key": k["key"], "fingerprint": k["fingerprint"],
            "fingerprint_sha256": k["fingerprint_sha256"], "usage_type": k["usage_type"],
            "created_at": ts(k["created_at"]), "expires_at": ts(k["expires_at"])}


def routes(fake: GitLabFake, route: Route) -> None:
    @route("GET", "projects/{id}/deploy_keys")
    def project_keys(caller: dict[str, Any], ref: str) -> Any:
        pid = fake.project(ref)["id"]
        return page(fake, [key_json(k) | {"can_push": k["links"][pid]}
                           for _, k in sorted(fake.deploy_keys.items()) if pid in k["links"]])

    @route("DELETE", "projects/{id}/deploy_keys/{kid}")
    def unlink_key(caller: dict[str, Any], ref: str, kid: str) -> Any:
        pid = fake.project(ref)["id"]
        k = fake.deploy_keys.get(int(kid)) if kid.isdigit() else None
        if k is None or pid not in k["links"]:
            raise not_found("Deploy key Not Found")
        del k["links"][pid]
        if not k["links"]:
            del fake.deploy_keys[k["id"]]

    def key_projects(k: dict[str, Any], push: bool) -> list[dict[str, Any]]:
        return [{"id": pid, "name": fake.projects[pid]["name"], "path": fake.projects[pid]["path"],
                 "path_with_namespace": fake.projects[pid]["path_with_namespace"],
                 "name_with_namespace": fake.projects[pid]["path_with_namespace"].replace("/", " / ")}
                for pid, can in sorted(k["links"].items()) if can == push]

    @route("GET", "deploy_keys")
    def all_keys(caller: dict[str, Any]) -> Any:
        fake.require_admin(caller)
        return page(fake, [key_json(k) | {"projects_with_write_access": key_projects(k, True),
                                          "projects_with_readonly_access": key_projects(k, False)}
                           for _, k in sorted(fake.deploy_keys.items())])
