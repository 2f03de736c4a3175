"""Ground truth of the fake GitLab: what a scan must find, and the findings planted on purpose.

Every seeded object queues an expectation (`fake.expect`); once every object exists, the findings
are worked out under the default policy (90 / 30 / 365 days) and written to `world.expect`, so the
sprawl of a CI variable name across projects is known. Secret values carry `CANARY` so tests can
grep every output for a leak.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nhitui.sandbox.gitlab.fake import GitLabFake

CANARY = "CANARY-gl-variable-7c1e"
PROVIDER = "gitlab"

# Kinds where GitLab lets the creator set an expiry (policy.EXPIRING_KINDS for GitLab).
EXPIRING = {"personal_access_token", "project_access_token", "group_access_token", "deploy_token", "ssh_key",
            "deploy_key", "trigger_token"}


def flush(fake: GitLabFake) -> None:
    sprawl: dict[str, set[str]] = {}
    for kind, _nid, truth, _facts in fake.pending:
        if kind == "ci_variable":
            sprawl.setdefault(truth["name"].upper(), set()).add(truth["target"])
    for kind, nid, truth, facts in fake.pending:
        found = findings(fake, kind, truth, facts)
        if kind == "ci_variable" and len(sprawl.get(truth["name"].upper(), ())) >= 5:
            found.add("secret-name-sprawl")
        fake.world.expect(PROVIDER, kind, nid, findings=found, **truth)
    fake.pending.clear()


def findings(fake: GitLabFake, kind: str, t: dict[str, Any], facts: dict[str, Any]) -> set[str]:
    """The rule ids planted on purpose, under the default policy (90 / 30 / 365 days)."""
    world = fake.world
    now = world.now
    found: set[str] = set()
    status = t["status"]
    if status in ("revoked", "pending"):
        return found
    expires, created, used = t.get("expires_at"), t.get("created_at"), t.get("last_used_at")
    if (expires is not None and expires <= now) or status == "expired":
        found.add("expired-present")
    if facts.get("usage_tracked", True):
        if used is not None:
            if (now - used).days >= 90:
                found.add("stale-unused")
        elif created is not None and (now - created).days >= 30:
            found.add("never-used")
    if status == "expired":
        return found
    if kind in EXPIRING and expires is None:
        found.add("no-expiry")
    if created is not None and status == "active" and (now - created).days > 365:
        found.add("old-rotation")
    owner = t.get("owner", "")
    if owner in world.departed:
        found.add("owner-departed")
    if kind == "deploy_key" and t["privilege"] in ("write", "admin"):
        found.add("write-deploy-key")
    if t.get("privilege") == "admin":
        found.add("admin-scope")
    return found
