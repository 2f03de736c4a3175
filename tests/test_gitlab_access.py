"""GitLab identities beyond one's own: service accounts, the group credentials inventory (enterprise
users' tokens and SSH keys), cluster-agent tokens; the blind spots a lower tier or role leaves; and
each new action changing only its target. Against the fake GitLab over real HTTP."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from nhitui.model import Identity
from nhitui.policy import Policy, evaluate
from nhitui.sandbox.gitlab import GitLabFake
from nhitui.sandbox.world import World
from tests.test_gitlab import act, collect, connector, mismatches


@pytest.fixture(scope="module")
def fake() -> Any:
    fake = GitLabFake(World(projects=8)).start()
    yield fake
    fake.stop()


def scored(rows: list[Identity], conn: Any) -> dict[str, Identity]:
    return {i.uid: i for i in evaluate(rows, {conn.name: conn.report.status("ok", len(rows))}, Policy())}


async def test_lower_tiers_and_roles_name_what_stays_unseen() -> None:
    for tier in ("premium", "free"):
        fake = GitLabFake(World(projects=6), tier=tier).start()
        try:
            conn = connector(fake, token=fake.user_token, instance=False)     # a group Owner, not an admin
            rows = await collect(conn)
        finally:
            fake.stop()
        spots = {b.what: b.reason for b in conn.report.blind_spots}
        tokens = spots["other members' personal access tokens (acme)"]
        assert "403" in tokens and "Owner" in tokens and "enterprise users" in tokens and "Ultimate" in tokens
        assert "administrator token with instance = true" in tokens
        assert "Ultimate" in spots["members' SSH keys (acme)"]
        # Everything else is listed; what the tier hides is missing, nothing is invented.
        skip = fake.instance_only | fake.enterprise_only
        sa_tokens = {("personal_access_token", str(t["id"])) for t in fake.tokens.values()
                     if fake.users[t["user_id"]].get("service_account_group_id")}
        if tier == "free":
            assert "Premium" in spots["GET /groups/:id/service_accounts (acme)"]
            skip |= sa_tokens
        else:
            assert not any("service_accounts" in what for what in spots)
        assert mismatches(rows, fake.world, conn, skip=skip) == []
        assert not [i for i in rows if i.kind == "ssh_key"]
        assert {i.owner for i in rows if i.kind == "personal_access_token"} <= {"alice"} | (
            {fake.users[t["user_id"]]["username"] for t in fake.tokens.values()} if tier == "premium" else set())


async def test_service_accounts_and_their_tokens(fake: GitLabFake) -> None:
    conn = connector(fake)
    rows = await collect(conn)
    by_uid = scored(rows, conn)
    sa = [i for i in rows if i.details.get("service_account")]
    group_sa = {u["username"] for u in fake.users.values() if u.get("service_account_group_id") == fake.top_id}
    instance_sa = {u["username"] for u in fake.users.values() if u.get("service_account_group_id") == 0}
    assert {i.owner for i in sa} == group_sa | instance_sa and all(i.kind == "personal_access_token" for i in sa)
    stale = next(i for i in sa if i.name == "deploy-pipeline")
    assert {"stale-unused", "no-expiry", "old-rotation"} <= set(by_uid[stale.uid].finding_ids)
    assert "owner-departed" not in by_uid[stale.uid].finding_ids          # a service account is a member
    unused = next(i for i in sa if i.name == "mirror-sync")
    assert unused.details["service_account_group"] == "" and "never-used" in by_uid[unused.uid].finding_ids

    plans = {a.name: a for a in conn.actions(stale)}
    assert set(plans) == {"revoke", "rotate"} and "/groups/acme/service_accounts/" in plans["revoke"].call
    assert conn.actions(unused)[0].call.startswith("DELETE /api/v4/personal_access_tokens/")

    result, changed, _, after = await act(fake, stale, "revoke")
    assert result.state == "ok" and result.status_code == 204
    assert changed == {stale.uid} and after[stale.uid][0] == "revoked"
    release = next(i for i in sa if i.name == "release-notes")
    result, changed, _, after = await act(fake, release, "rotate")
    assert result.state == "ok" and result.secret and result.secret not in repr(result)
    new = result.identity
    assert new.details["service_account"] is True and new.owner == release.owner
    assert changed == {release.uid, new.uid} and after[release.uid][0] == "revoked" and after[new.uid][0] == "active"


async def test_credentials_inventory_a_group_owner_acts_on(fake: GitLabFake) -> None:
    owner = connector(fake, token=fake.user_token, instance=False)    # alice: Owner of acme, no admin
    rows = await collect(owner)
    by_uid = scored(rows, owner)
    assert not owner.report.blind_spots
    # An enterprise member's token nobody used for a year, found through the inventory.
    old = next(i for i in rows if i.name == "laptop-2024")
    assert old.owner != "alice" and old.details["manage_group"] == "acme"
    assert old.last_used_at is not None and "stale-unused" in by_uid[old.uid].finding_ids
    # "Tokens of people who left": a departed person's token and key are listed and flagged.
    gone = [i for i in rows if i.owner == "mallory-gone" and i.kind in ("personal_access_token", "ssh_key")]
    assert {i.kind for i in gone} == {"personal_access_token", "ssh_key"}
    assert all("owner-departed" in by_uid[i.uid].finding_ids for i in gone)

    keys = [i for i in rows if i.kind == "ssh_key"]
    stale_key = next(i for i in keys if "stale-unused" in by_uid[i.uid].finding_ids and i.owner in fake.world.members)
    assert stale_key.privilege == "write" and stale_key.details["usage_type"] == "auth_and_signing"
    signing = next(i for i in keys if i.details["usage_type"] == "signing")
    assert signing.privilege == "none" and signing.scopes == ()

    assert "/groups/acme/manage/personal_access_tokens/" in owner.actions(old)[0].call
    result, changed, _, after = await act(fake, old, "revoke", token=fake.user_token)
    assert result.state == "ok" and result.status_code == 204
    assert changed == {old.uid} and after[old.uid][0] == "revoked"

    rotating = next(i for i in rows if i.kind == "personal_access_token" and i.status == "active"
                    and i.details.get("manage_group") and i.owner not in ("alice", old.owner))
    result, changed, _, after = await act(fake, rotating, "rotate", token=fake.user_token)
    assert result.state == "ok" and result.secret and changed == {rotating.uid, result.identity.uid}
    assert after[rotating.uid][0] == "revoked" and after[result.identity.uid][0] == "active"
    again, changed, _, _ = await act(fake, rotating, "rotate", token=fake.user_token)
    assert again.state == "failed" and "already revoked" in again.message and changed == set()

    assert owner.actions(stale_key)[0].call == f"DELETE /api/v4/groups/acme/manage/ssh_keys/{stale_key.details['key_id']}"
    result, changed, _, after = await act(fake, stale_key, "delete", token=fake.user_token)
    assert result.state == "ok" and result.removed and changed == {stale_key.uid} and stale_key.uid not in after
    gone_again = await owner.execute(stale_key, "delete")
    assert gone_again.state == "already-absent"


async def test_agent_tokens_listed_with_last_use_and_revoked(fake: GitLabFake) -> None:
    conn = connector(fake)
    rows = await collect(conn)
    by_uid = scored(rows, conn)
    agent_tokens = [i for i in rows if i.kind == "agent_token"]
    assert agent_tokens and all(i.usage_tracked and i.status == "active" for i in agent_tokens)
    unused = next(i for i in agent_tokens if i.last_used_at is None)
    assert "never-used" in by_uid[unused.uid].finding_ids and unused.owner
    assert unused.target == unused.details["project"] and unused.details["agent"]
    assert not [i for i in agent_tokens if i.name.startswith("old-")]          # revoked: not listed
    plan = conn.actions(unused)
    assert [a.name for a in plan] == ["revoke"] and plan[0].reversible == "no"
    result, changed, _, after = await act(fake, unused, "revoke")
    assert result.state == "ok" and result.removed and changed == {unused.uid} and unused.uid not in after
    again = await conn.execute(unused, "revoke")
    assert again.state == "already-absent"


def test_fake_new_entities_carry_the_documented_fields(fake: GitLabFake) -> None:
    """reference/apis.md section 2: the fields each new GitLab list documents are all there."""
    def get(path: str, token: str | None = None) -> Any:
        resp = requests.get(fake.url + "/api/v4" + path, headers={"PRIVATE-TOKEN": token or fake.token}, timeout=5)
        assert resp.status_code == 200, (path, resp.status_code)
        return resp.json()

    gid = fake.top_id
    sa = get(f"/groups/{gid}/service_accounts")
    assert sa and all({"id", "username", "name"} <= set(a) for a in sa)
    pat_fields = {"id", "name", "revoked", "created_at", "description", "scopes", "user_id", "last_used_at",
                  "active", "expires_at"}
    assert all(pat_fields <= set(t) for t in get(f"/groups/{gid}/service_accounts/{sa[0]['id']}/personal_access_tokens"))
    assert get("/service_accounts")
    assert all(pat_fields <= set(t) for t in get(f"/groups/{gid}/manage/personal_access_tokens", fake.user_token))
    keys = get(f"/groups/{gid}/manage/ssh_keys", fake.user_token)
    assert keys and all({"id", "title", "created_at", "expires_at", "last_used_at", "usage_type", "user_id"} <= set(k)
                        for k in keys)
    agent = next(iter(fake.agents.values()))
    assert {"id", "name", "config_project", "created_at", "created_by_user_id"} <= set(
        get(f"/projects/{agent['project_id']}/cluster_agents")[0])
    listed = get(f"/projects/{agent['project_id']}/cluster_agents/{agent['id']}/tokens")
    assert listed and all("last_used_at" not in t and {"id", "name", "description", "agent_id", "status",
                                                        "created_at", "created_by_user_id"} <= set(t) for t in listed)
    one = get(f"/projects/{agent['project_id']}/cluster_agents/{agent['id']}/tokens/{listed[0]['id']}")
    assert "last_used_at" in one
    # Top-level only; a subgroup answers 404.
    sub = next(g for g in fake.groups.values() if g["parent_id"] is not None)
    resp = requests.get(f"{fake.url}/api/v4/groups/{sub['id']}/manage/ssh_keys",
                        headers={"PRIVATE-TOKEN": fake.token}, timeout=5)
    assert resp.status_code == 404
