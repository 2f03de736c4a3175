"""Pipeline trigger tokens in the fake GitLab: seeding, JSON and routes.

The token (carrying `CANARY`) is shown in full to its owner and truncated for everyone else.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nhitui.sandbox.gitlab.http import Route, not_found, page, ts
from nhitui.sandbox.gitlab.orgs import user_json
from nhitui.sandbox.gitlab.truth import CANARY

if TYPE_CHECKING:
    from nhitui.sandbox.gitlab.fake import GitLabFake

# (created days ago, last used days ago | None, expires in days | None, departed owner)
PATTERNS = ((100, 5, None, False), (500, 200, None, True), (100, None, 90, False), (40, 3, 200, True),
            (200, 150, -5, False))


def seed(fake: GitLabFake) -> None:
    w = fake.world
    n = 0
    for i, (pid, p) in enumerate(sorted(fake.projects.items())):
        if i % 6 != 0:
            continue
        created, used, expires, departed = PATTERNS[n % len(PATTERNS)]
        owner = fake.departed_ids[n % len(fake.departed_ids)] if departed else \
            fake.root_id if n % 3 == 0 else fake.member_ids[(n + 1) % len(fake.member_ids)]
        tid = fake.next_id("trigger")
        trig = {"id": tid, "project_id": pid, "description": fake.name(f"nightly-{n}", 3),
                "token": f"glptt-{CANARY}-{fake.hex(12)}", "owner_id": owner,
                "created_at": w.days_ago(created), "updated_at": w.days_ago(min(created, 20)),
                "last_used": w.days_ago(used) if used is not None else None,
                "expires_at": w.days_ahead(expires) if expires is not None else None}
        fake.triggers[tid] = trig
        exp = trig["expires_at"]
        truth = {"name": trig["description"], "owner": fake.owner_name(owner),
                 "target": p["path_with_namespace"], "privilege": "write",
                 "status": "expired" if exp is not None and exp <= w.now else "active",
                 "created_at": trig["created_at"], "expires_at": exp, "last_used_at": trig["last_used"],
                 "scopes": ()}
        fake.expect("trigger_token", tid, truth, {})
        n += 1


def trigger_json(fake: GitLabFake, t: dict[str, Any], caller: dict[str, Any]) -> dict[str, Any]:
    owner = fake.users.get(t["owner_id"])
    token = t["token"] if owner and owner["id"] == caller["user"]["id"] else t["token"][:4] + "…"
    return {"id": t["id"], "description": t["description"], "created_at": ts(t["created_at"]),
            "updated_at": ts(t["updated_at"]), "last_used": ts(t["last_used"]),
            "expires_at": ts(t["expires_at"]), "token": token,
            "owner": user_json(fake, owner) if owner else None}


def routes(fake: GitLabFake, route: Route) -> None:
    @route("GET", "projects/{id}/triggers")
    def list_triggers(caller: dict[str, Any], ref: str) -> Any:
        pid = fake.project(ref)["id"]
        return page(fake, [trigger_json(fake, t, caller) for _, t in sorted(fake.triggers.items())
                           if t["project_id"] == pid])

    @route("DELETE", "projects/{id}/triggers/{tid}")
    def delete_trigger(caller: dict[str, Any], ref: str, tid: str) -> Any:
        pid = fake.project(ref)["id"]
        t = fake.triggers.get(int(tid)) if tid.isdigit() else None
        if t is None or t["project_id"] != pid:
            raise not_found("Trigger Not Found")
        del fake.triggers[t["id"]]
