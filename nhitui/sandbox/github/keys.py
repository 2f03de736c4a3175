"""Deploy keys: six seeding profiles (stale, can push, never used, healthy, old bot key, legacy
disabled) and `GET/DELETE /repos/{owner}/{repo}/keys[/{key_id}]`.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from flask import Flask, Response

from nhitui.sandbox.github.state import iso

if TYPE_CHECKING:
    from nhitui.sandbox.github.fake import GitHubFake


# deploy keys: six profiles, each planting a known mix of findings
def seed_keys(fake: GitHubFake, repo_names: list[str]) -> None:
    k = 0
    for i, full_name in enumerate(repo_names):
        if i % 2:
            continue
        for _ in range(2 if i % 6 == 0 else 1):
            add_key(fake, full_name, profile=k % 6, k=k)
            k += 1


def add_key(fake: GitHubFake, full_name: str, profile: int, k: int) -> None:
    w = fake.world
    repo = fake.repos[full_name]
    key_id = fake.new_id(9_100_000)
    short = full_name.split("/", 1)[1]
    title = w.hostile(k) if k % 4 == 1 else f"{short}-deploy-{k}"
    added_by: str | None
    findings: set[str] = set()
    read_only, enabled, last_used = True, True, None
    if profile == 0:      # stale, added by someone who left, never rotated
        added_by, created, last_used = w.departed[k % len(w.departed)], 400, 200
        findings = {"stale-unused", "owner-departed", "old-rotation"}
    elif profile == 1:    # can push
        added_by, created, last_used, read_only = w.members[k % len(w.members)], 100, 3, False
        findings = {"write-deploy-key"}
    elif profile == 2:    # never used since it was added
        added_by, created = w.members[(k + 1) % len(w.members)], 120
        findings = {"never-used"}
    elif profile == 3:    # healthy
        added_by, created, last_used = w.members[(k + 2) % len(w.members)], 60, 1
    elif profile == 4:    # added by a bot, old
        added_by, created, last_used = "github-actions[bot]", 700, 10
        findings = {"old-rotation"}
    else:                 # legacy key without added_by, disabled
        added_by, created, last_used, enabled = None, 50, 5, False
    body = {
        "id": key_id, "key": f"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI{hashlib.sha256(str(key_id).encode()).hexdigest()[:43]}",
        "url": f"https://api.github.com/repos/{full_name}/keys/{key_id}", "title": title, "verified": True,
        "created_at": iso(w.days_ago(created)), "read_only": read_only, "added_by": added_by,
        "last_used": iso(w.days_ago(last_used)) if last_used is not None else None, "enabled": enabled,
    }
    repo.keys.append(body)
    fake.expect("deploy_key", key_id, findings, name=title, owner=added_by or "", target=full_name,
                privilege="read" if read_only else "write",
                scopes=("contents:read",) if read_only else ("contents:write",),
                status="active" if enabled else "inactive", credential="static", usage_tracked=True,
                created_at=w.days_ago(created), last_used_at=w.days_ago(last_used) if last_used is not None else None,
                actions=("delete",),
                details={"repo": full_name, "read_only": read_only, "enabled": enabled, "added_by": added_by or "",
                         "verified": True})


def routes(app: Flask, fake: GitHubFake) -> None:
    """List, read and delete deploy keys."""

    @app.get("/repos/<owner>/<repo>/keys")
    def keys(owner: str, repo: str) -> Response:
        r = fake.repo(owner, repo)
        return fake.not_found() if r is None else fake.page(r.keys)

    @app.route("/repos/<owner>/<repo>/keys/<int:key_id>", methods=["GET", "DELETE"])
    def key(owner: str, repo: str, key_id: int) -> Response:
        r = fake.repo(owner, repo)
        return fake.read_or_delete(r.keys if r else None, key_id)
