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
