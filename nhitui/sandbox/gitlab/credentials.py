"""The group credentials inventory of the fake GitLab (GitLab.com, Ultimate): enterprise users'
personal access tokens and SSH keys, for an Owner of the top-level group.

- `GET /groups/:id/manage/personal_access_tokens` (`state`, `revoked`, `search` filters),
  `DELETE …/:id`, `POST …/:id/rotate`;
- `GET /groups/:id/manage/ssh_keys` (`id, title, created_at, expires_at, last_used_at, usage_type,
  user_id`), `DELETE …/:key_id`.

Below Ultimate, or for a caller who is not an Owner (or administrator), every route answers 403; a
subgroup answers 404. The SSH keys are seeded here: a key used a year ago, a recent one, a
signing-only key never used, one key per departed person.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import request

from nhitui.sandbox.gitlab import tokens
from nhitui.sandbox.gitlab.http import Abort, Route, not_found, page, ts

if TYPE_CHECKING:
    from nhitui.sandbox.gitlab.fake import GitLabFake

# (created days ago, last used days ago | None, expires in days | None, usage type)
KEY_PATTERNS = (
    (400, 365, None, "auth_and_signing"),      # used a year ago, never expires, old
    (100, 2, 265, "auth"),                     # healthy
    (60, None, None, "signing"),               # signing only: no access, never used
)


def key_privilege(usage_type: str) -> str:
    """An SSH key that can authenticate reaches every repository its user can push to."""
    return "none" if usage_type == "signing" else "write"


def _key(fake: GitLabFake, uid: int, n: int, pattern: tuple[int, int | None, int | None, str]) -> None:
    w = fake.world
    created, used, expires, usage = pattern
    kid = fake.next_id("ssh_key")
    title = fake.name(f"{fake.users[uid]['username']}@laptop-{n}", 3)
    key = {"id": kid, "title": title, "user_id": uid, "usage_type": usage, "created_at": w.days_ago(created),
           "last_used_at": w.days_ago(used) if used is not None else None,
           "expires_at": w.days_ahead(expires) if expires is not None else None,
           "key": f"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI{fake.hex(40)} {fake.users[uid]['username']}"}
    fake.ssh_keys[kid] = key
    exp = key["expires_at"]
    privilege = key_privilege(usage)
    truth = {"name": title, "owner": fake.owner_name(uid), "target": "", "privilege": privilege,
             "status": "expired" if exp is not None and exp <= w.now else "active",
             "created_at": key["created_at"], "expires_at": exp, "last_used_at": key["last_used_at"],
             "scopes": () if privilege == "none" else ("read_repository", "write_repository")}
    fake.expect("ssh_key", kid, truth, {})
    fake.enterprise_only.add(("ssh_key", str(kid)))


def seed(fake: GitLabFake) -> None:
    for n, uid in enumerate(fake.member_ids[:len(KEY_PATTERNS)]):
        _key(fake, uid, n, KEY_PATTERNS[n])
    for n, uid in enumerate(fake.departed_ids[:2]):
        _key(fake, uid, n, (300, 10 + n, None, "auth_and_signing"))


def ssh_key_json(k: dict[str, Any]) -> dict[str, Any]:
    return {"id": k["id"], "title": k["title"], "created_at": ts(k["created_at"]),
            "expires_at": ts(k["expires_at"]), "last_used_at": ts(k["last_used_at"]),
            "usage_type": k["usage_type"], "user_id": k["user_id"]}


def routes(fake: GitLabFake, route: Route) -> None:
    def enterprise(group: dict[str, Any], uid: int) -> bool:
        return fake.users.get(uid, {}).get("enterprise_group_id") == group["id"]

    def inventory(caller: dict[str, Any], ref: str) -> dict[str, Any]:
        group = fake.group(ref)
        fake.require_top_owner(caller, group, "ultimate")
        return group

    def managed_token(group: dict[str, Any], tid: str) -> dict[str, Any]:
        t = fake.tokens.get(int(tid)) if tid.isdigit() else None
        if t is None or t["resource"][0] != "user" or not enterprise(group, t["user_id"]):
            raise not_found()
        return t

    @route("GET", "groups/{id}/manage/personal_access_tokens")
    def list_pats(caller: dict[str, Any], ref: str) -> Any:
        group = inventory(caller, ref)
        items = [t for _, t in sorted(fake.tokens.items())
                 if t["resource"][0] == "user" and enterprise(group, t["user_id"])]
        state = request.args.get("state")
        if state:
            items = [t for t in items if (tokens.status(fake, t) == "active") == (state == "active")]
        search = request.args.get("search")
        if search:
            items = [t for t in items if search.lower() in t["name"].lower()]
        return page(fake, [tokens.token_json(fake, t) for t in items])

    @route("DELETE", "groups/{id}/manage/personal_access_tokens/{tid}")
    def revoke_pat(caller: dict[str, Any], ref: str, tid: str) -> Any:
        t = managed_token(inventory(caller, ref), tid)
        if t["revoked"]:
            raise Abort(400, {"message": "400 Bad request - Token already revoked"})
        t["revoked"] = True

    @route("POST", "groups/{id}/manage/personal_access_tokens/{tid}/rotate")
    def rotate_pat(caller: dict[str, Any], ref: str, tid: str) -> Any:
        return tokens.rotate(fake, managed_token(inventory(caller, ref), tid))

    @route("GET", "groups/{id}/manage/ssh_keys")
    def list_keys(caller: dict[str, Any], ref: str) -> Any:
        group = inventory(caller, ref)
        return page(fake, [ssh_key_json(k) for _, k in sorted(fake.ssh_keys.items()) if enterprise(group, k["user_id"])])

    @route("DELETE", "groups/{id}/manage/ssh_keys/{kid}")
    def delete_key(caller: dict[str, Any], ref: str, kid: str) -> Any:
        group = inventory(caller, ref)
        k = fake.ssh_keys.get(int(kid)) if kid.isdigit() else None
        if k is None or not enterprise(group, k["user_id"]):
            raise not_found("Key Not Found")
        del fake.ssh_keys[k["id"]]
