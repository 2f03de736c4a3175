"""GitHub actions beyond the basics (issue 25): what a classic PAT cannot do, webhook deactivation
that keeps the secret, and runner-group containment with its undo."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from connectors.github import GitHubConnector
from nhitui.model import Identity
from nhitui.sandbox.github import GitHubFake
from nhitui.sandbox.world import World


def connector_for(fake: GitHubFake, **overrides: Any) -> GitHubConnector:
    connector = GitHubConnector(fake.source("gh", **overrides), lambda ref: fake.env[ref.split(":", 1)[1]])
    connector.write_interval = 0.0
    return connector


async def scan(connector: GitHubConnector) -> list[Identity]:
    return [i async for batch in connector.collect() for i in batch]


@pytest.fixture
def fake():
    with GitHubFake(World(repos=8)) as f:
        yield f


# --- fine-grained PATs need a GitHub App -------------------------------------------------------------

async def test_with_only_a_classic_pat_no_pat_grant_action_is_offered_and_the_app_is_named(fake):
    connector = connector_for(fake)                 # token + revoke_token, no GitHub App
    rows = await scan(connector)
    pats = [r for r in rows if r.kind == "fine_grained_pat"]
    assert {r.status for r in pats} >= {"active", "pending"}
    writes = fake.server.writes()
    for r in pats:
        assert r.actions == () and connector.actions(r) == []
        assert "GitHub App" in r.details["action_needs"] and "app_id" in r.details["action_needs"]
        assert "GitHub App" in connector.unavailable(r)
        refused = await connector.execute(r, "deny" if r.status == "pending" else "revoke")
        assert refused.state == "failed" and "GitHub App" in refused.message and not refused.removed
    bulk = await connector.revoke_pat_grants([r for r in pats if r.status == "active"])
    assert [b.state for b in bulk] == ["failed"] and "GitHub App" in bulk[0].message
    assert fake.server.writes() == writes            # nothing was sent that GitHub would refuse
    others = [r for r in rows if r.kind != "fine_grained_pat"]
    assert all(connector.unavailable(r) == "" for r in others)
    assert all(connector.actions(r) for r in others if r.kind != "app_installation")


async def test_with_a_github_app_pat_actions_are_offered():
    with GitHubFake(World(repos=4), app=True) as fake:
        connector = connector_for(fake, app=True)
        rows = await scan(connector)
        pats = [r for r in rows if r.kind == "fine_grained_pat"]
        assert pats and all(r.actions and "action_needs" not in r.details for r in pats)
        assert all(connector.unavailable(r) == "" for r in pats)
        assert [a.name for a in connector.actions(next(r for r in pats if r.status == "pending"))] == ["deny"]


# --- webhook deactivation keeps the secret -----------------------------------------------------------

async def test_deactivation_sends_only_active_and_keeps_the_secret_while_a_config_update_drops_it(fake):
    connector = connector_for(fake)
    rows = await scan(connector)
    hooks = [r for r in rows if r.kind == "webhook" and r.details["secret_set"] and r.status == "active"]
    assert len(hooks) >= 2
    hook, other = hooks[0], hooks[1]
    deactivate = next(a for a in connector.actions(hook) if a.name == "deactivate")
    verb, path, body = deactivate.call.split(" ", 2)
    assert verb == "PATCH" and json.loads(body) == {"active": False}      # never `config`: it carries the secret
    result = await connector.execute(hook, "deactivate")
    assert result.identity.status == "inactive" and result.identity.details["secret_set"] is True
    # GitHub's documented warning: an update that sends `config` without the secret removes it.
    api = f"{fake.api_url}/repos/{other.details['repo']}/hooks/{other.details['hook_id']}" \
        if other.details["scope"] == "repo" else f"{fake.api_url}/orgs/acme/hooks/{other.details['hook_id']}"
    answer = requests.patch(api, json={"config": {"url": "https://example.com/h", "content_type": "json"}},
                            headers={"Authorization": f"token {fake.token}"}, timeout=10)
    assert answer.status_code == 200 and "secret" not in answer.json()["config"]
    after = {r.uid: r for r in await scan(connector_for(fake))}
    assert after[hook.uid].details["secret_set"] is True and after[hook.uid].status == "inactive"
    assert after[other.uid].details["secret_set"] is False


# --- Codespaces secrets --------------------------------------------------------------------------------

async def test_codespaces_secrets_are_inventoried_scored_and_deleted_one_at_a_time(fake):
    from nhitui.policy import Policy, evaluate

    connector = connector_for(fake)
    rows = {r.uid: r for r in await scan(connector)}
    spaces = [r for r in rows.values() if r.kind == "codespaces_secret"]
    org_all = next(r for r in spaces if r.details["scope"] == "org" and r.details["visibility"] == "all")
    selected = next(r for r in spaces if r.details["scope"] == "org" and r.details["visibility"] == "selected")
    repo_level = next(r for r in spaces if r.details["scope"] == "repo")
    assert org_all.name == "CODESPACES_NPM_TOKEN" and org_all.target == "acme"
    assert selected.details["repos"] and repo_level.details["repos"] == [repo_level.target]
    scored = {i.uid: i for i in evaluate(list(rows.values()), {connector.name: connector.report.status("ok", 0)},
                                         Policy())}
    assert "org-secret-visible-to-all" in scored[org_all.uid].finding_ids
    assert "org-secret-visible-to-all" not in scored[selected.uid].finding_ids
    for target, path in ((org_all, "/orgs/acme/codespaces/secrets/CODESPACES_NPM_TOKEN"),
                         (repo_level, f"/repos/{repo_level.target}/codespaces/secrets/{repo_level.name}")):
        (action,) = connector.actions(target)
        assert (action.name, action.reversible, action.call) == ("delete", "no", f"DELETE {path}")
        result = await connector.execute(target, "delete")
        assert (result.state, result.removed, result.status_code) == ("ok", True, 204)
    after = {r.uid: r for r in await scan(connector_for(fake))}
    assert set(rows) - set(after) == {org_all.uid, repo_level.uid} and set(after) <= set(rows)
    assert all(after[uid] == rows[uid] for uid in after)


# --- runner-group containment ----------------------------------------------------------------------------

def group_state(fake: GitHubFake) -> dict[str, tuple]:
    return {g["name"]: (g["visibility"], g["allows_public_repositories"], tuple(g["_repos"]))
            for g in fake.orgs["acme"].runner_groups}


async def test_restricting_a_runner_group_changes_only_that_group_and_restore_puts_it_back(fake):
    from nhitui.revoke import RESTORING

    connector = connector_for(fake)
    before = {r.uid: r for r in await scan(connector)}
    groups_before = group_state(fake)
    for group in ("deploy", "public-ci"):          # one `selected` with repositories, one open to public repos
        runner = next(r for r in before.values() if r.kind == "runner" and r.details.get("group") == group)
        offered = connector.actions(runner)
        assert [a.name for a in offered] == ["restrict-group", "remove"] == list(runner.actions)
        assert (offered[0].reversible, offered[0].undo) == ("yes", "restore") and "restore" in RESTORING
        assert "PATCH /orgs/acme/actions/runner-groups/" in offered[0].call and '"selected_repository_ids":[]' \
            in offered[0].call
        result = await connector.execute(runner, "restrict-group")
        assert result.state == "ok" and not result.removed, result
        moved = result.identity
        assert (moved.details["group_visibility"], moved.details["repos"]) == ("selected", [])
        assert moved.details["allows_public_repositories"] is False
        assert [a.name for a in connector.actions(moved)] == ["restore", "remove"]
        changed = group_state(fake)
        assert changed[group] == ("selected", False, ())
        assert {k: v for k, v in changed.items() if k != group} == \
            {k: v for k, v in groups_before.items() if k != group}
        # the rescan sees it; only the runners of that group changed, and only in their group fields
        after = {r.uid: r for r in await scan(connector_for(fake))}
        assert set(after) == set(before)
        differ = {uid for uid in after if after[uid] != before[uid]}
        assert differ == {uid for uid, r in before.items() if r.kind == "runner" and r.details.get("group") == group}
        restored = await connector.execute(moved, "restore")
        assert restored.state == "ok" and restored.identity.details["repos"] == runner.details["repos"]
        assert group_state(fake) == groups_before
        assert {r.uid: r for r in await scan(connector_for(fake))} == before


async def test_a_contained_group_offers_no_restriction_and_a_refused_write_changes_nothing(fake):
    connector = connector_for(fake)
    rows = await scan(connector)
    runner = next(r for r in rows if r.kind == "runner" and r.details.get("group") == "Default")
    readonly = connector_for(fake, revoke_token=f"env:{fake._var}_TOKEN")      # the read-only token
    before = group_state(fake)
    refused = await readonly.execute(runner, "restrict-group")
    assert refused.state == "failed" and refused.status_code == 403 and group_state(fake) == before
    assert (await connector.execute(runner, "restrict-group")).state == "ok"
    rescanned = next(r for r in await scan(connector_for(fake)) if r.uid == runner.uid)
    assert rescanned.actions == ("remove",) and [a.name for a in connector.actions(rescanned)] == ["remove"]


async def test_agents_secrets_and_what_ghes_does_not_have():
    with GitHubFake(World(repos=6)) as fake:
        connector = connector_for(fake)
        rows = await scan(connector)
        agents = [r for r in rows if r.kind == "agents_secret"]
        org_level = next(r for r in agents if r.details["scope"] == "org")
        assert org_level.details["visibility"] == "selected" and org_level.details["repos"]
        assert connector.actions(org_level)[0].call == "DELETE /orgs/acme/agents/secrets/AGENT_MCP_TOKEN"
        assert (await connector.execute(org_level, "delete")).status_code == 204
        assert org_level.uid not in {r.uid for r in await scan(connector_for(fake))}
    with GitHubFake(World(repos=6), ghes=True) as fake:
        connector = connector_for(fake)
        rows = await scan(connector)
        assert not {"codespaces_secret", "agents_secret"} & {r.kind for r in rows}
        assert connector.report.blind_spots == []
        assert connector.report.facts["codespaces_secrets"] == connector.report.facts["agents_secrets"] \
            == "not applicable on GitHub Enterprise Server"
        assert not any("/codespaces/" in path or "/agents/" in path for _, path in fake.requests_log)


async def test_the_revoker_contains_a_runner_by_its_group_first_and_undo_restores_it(fake, tmp_path):
    from nhitui.inventory import Inventory
    from nhitui.journal import Journal
    from nhitui.revoke import Revoker

    connector = connector_for(fake)
    inventory = Inventory()
    inventory.add(await scan(connector))
    runner = next(r for r in inventory.rows if r.kind == "runner" and r.details.get("group") == "deploy")
    grant = next(r for r in inventory.rows if r.kind == "fine_grained_pat" and r.status == "active")
    revoker = Revoker(inventory, [fake.source("gh")], Journal(tmp_path / "journal.jsonl"), connectors={"gh": connector})
    plan = revoker.plan([runner.uid, grant.uid])
    assert [(s.action, s.reversible, s.undo) for s in plan.steps] == [("restrict-group", "yes", "restore")]
    # No GitHub App: nothing GitHub would refuse is planned, and the skip names what is needed.
    assert [uid for uid, _ in plan.skipped] == [grant.uid]
    assert plan.skipped[0][1].startswith("no action: ") and "GitHub App" in plan.skipped[0][1]
    before = group_state(fake)
    assert [o.state for o in await revoker.execute(plan)] == ["ok"]
    assert group_state(fake)["deploy"] == ("selected", False, ())
    assert inventory.get(runner.uid).details["group_before"]["repos"] == runner.details["repos"]
    undo = revoker.plan_undo()
    assert undo is not None and [s.action for s in undo.steps] == ["restore"]
    assert [o.state for o in await revoker.execute(undo)] == ["ok"]
    assert group_state(fake) == before and inventory.get(runner.uid).details["repos"] == runner.details["repos"]
