"""The GitHub connector against the fake GitHub API, over real HTTP.

Ground truth comes from the World: the fake records every object it seeds (and the findings it
planted) with `world.expect`, and the tests compare the connector's identities field by field.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import replace
from typing import Any

import pytest

from connectors.base import AuthError, ConnectorError
from connectors.github import GitHubConnector
from nhitui.model import Identity, make_uid, sanitize
from nhitui.policy import Policy, evaluate
from nhitui.sandbox.github import GitHubFake
from nhitui.sandbox.server import Knobs
from nhitui.sandbox.world import World

FIELDS = ("name", "owner", "target", "privilege", "status", "created_at", "expires_at", "last_used_at", "scopes",
          "credential", "usage_tracked", "actions")


def resolver(fake: GitHubFake, **override: str):
    def resolve(ref: str) -> str:
        var = ref.split(":", 1)[1]
        return override.get(var, fake.env[var])
    return resolve


async def scan(connector: GitHubConnector) -> list[Identity]:
    rows: list[Identity] = []
    async for batch in connector.collect():
        assert isinstance(batch, list) and batch
        rows.extend(batch)
    assert len({r.uid for r in rows}) == len(rows), "an identity was emitted twice"
    return rows


def scored(connector: GitHubConnector, rows: list[Identity]) -> dict[str, Identity]:
    status = connector.report.status("ok", len(rows))
    return {i.uid: i for i in evaluate(rows, {connector.name: status}, Policy())}


@pytest.fixture
def world() -> World:
    return World(repos=30)


@pytest.fixture
def fake(world: World):
    f = GitHubFake(world)
    f.start()
    yield f
    f.stop()


def connector_for(fake: GitHubFake, name: str = "gh", resolve=None, **overrides: Any) -> GitHubConnector:
    connector = GitHubConnector(fake.source(name, **overrides), resolve or resolver(fake))
    connector.write_interval = 0.0      # GitHub wants writes a second apart; the fake does not
    return connector


def assert_ground_truth(world: World, fake: GitHubFake, connector: GitHubConnector, rows: list[Identity]) -> None:
    got = scored(connector, rows)
    expected = world.expected_for("github")
    want = {make_uid(connector.name, e.kind, e.native_id): e for e in expected}
    assert set(got) == set(want), (sorted(set(want) - set(got))[:5], sorted(set(got) - set(want))[:5])
    for uid, e in want.items():
        ident = got[uid]
        assert ident.provider == "github" and ident.kind == e.kind and ident.source == connector.name
        for f in FIELDS:
            if f not in e.fields:
                continue
            exp = e.fields[f]
            if f in ("name", "owner", "target"):
                exp = sanitize(exp)
            assert getattr(ident, f) == exp, (uid, f, getattr(ident, f), exp)
        for key, value in e.fields.get("details", {}).items():
            assert ident.details.get(key) == value, (uid, key, ident.details.get(key), value)
        assert set(ident.finding_ids) == set(e.findings), (uid, ident.name, ident.finding_ids, sorted(e.findings))
        assert ident.stale == bool(set(e.findings) & {"stale-unused", "never-used", "expired-present"})
        assert ident.url.startswith(fake.server.url)


async def test_ground_truth_field_by_field(world, fake):
    connector = connector_for(fake)
    rows = await scan(connector)
    assert_ground_truth(world, fake, connector, rows)
    kinds = {r.kind for r in rows}
    assert kinds == {"deploy_key", "actions_secret", "dependabot_secret", "codespaces_secret", "agents_secret",
                     "runner", "app_installation", "fine_grained_pat", "sso_credential", "webhook"}
    report = connector.report
    assert report.blind_spots == []
    assert report.facts["members"] == fake.expected_facts["members"]
    assert not set(world.departed) & set(report.facts["members"])
    assert report.facts["oidc_sub"]["org"] == fake.expected_facts["oidc_sub"]["org"]
    assert report.facts["oidc_sub"]["repos"] == fake.expected_facts["oidc_sub"]["repos"]
    # Every request counted, none repeated, and the budget the server announced is on the report.
    assert report.requests == sum(fake.requests_log.values())
    assert max(fake.requests_log.values()) == 1
    assert report.rate_limit_limit == 5000
    assert report.rate_limit_remaining == 5000 - report.requests
    # The planted mess is there: the sprawl, the public runner group, the all-repos app.
    every = {f for r in scored(connector, rows).values() for f in r.finding_ids}
    assert {"secret-name-sprawl", "runner-group-public-repos", "app-all-repos-write", "pat-all-repos",
            "org-secret-visible-to-all", "owner-departed", "write-deploy-key", "no-expiry", "never-used",
            "stale-unused", "expired-present", "old-rotation", "admin-scope"} <= every


async def test_the_200_repository_sandbox_org_matches_its_ground_truth():
    world = World(repos=200)
    with GitHubFake(world) as fake:
        connector = connector_for(fake)
        rows = await scan(connector)
        assert_ground_truth(world, fake, connector, rows)
    assert connector.report.blind_spots == [] and max(fake.requests_log.values()) == 1


async def test_a_40_repo_world_has_npm_token_in_30_repos():
    world = World(repos=40)
    GitHubFake(world)
    npm = [e for e in world.expected_for("github") if e.fields["name"] == "NPM_TOKEN" and
           e.kind == "actions_secret"]
    assert len(npm) >= 30 and all("secret-name-sprawl" in e.findings for e in npm)


async def test_small_pages_follow_links_and_total_count_without_refetching(world):
    fake = GitHubFake(world, Knobs(page_size=2))
    with fake:
        connector = connector_for(fake)
        rows = await scan(connector)
        assert_ground_truth(world, fake, connector, rows)
        assert max(fake.requests_log.values()) == 1
        pages = [p for (_, p) in fake.requests_log if p.startswith("/orgs/acme/repos")]
        assert len(pages) == 15
        # runner groups declare no Link header: the connector pages by total_count instead
        assert any("runner-groups?" in p and "page=2" in p for (_, p) in fake.requests_log)


async def test_secret_values_and_tokens_never_reach_identities_or_logs(world, fake, caplog):
    caplog.set_level(logging.DEBUG)
    connector = connector_for(fake)
    rows = await scan(connector)
    blob = "\n".join([repr(r) for r in rows] + [json.dumps(dict(r.details), default=str) for r in rows]
                     + [caplog.text, repr(connector), repr(connector.report)])
    assert fake.canaries
    for secret in [*fake.canaries, fake.token, fake.readonly_token, "********"]:
        assert secret not in blob
    hooks = [r for r in rows if r.kind == "webhook"]
    assert {r.details["secret_set"] for r in hooks} == {True, False}


async def test_hostile_names_are_kept_but_cannot_drive_the_terminal(world, fake):
    rows = await scan(connector_for(fake))
    names = [r.name for r in rows] + [r.owner for r in rows] + [s for r in rows for s in r.scopes]
    assert any("[@click=app.quit]" in n for n in names)
    assert not any(ch in n for n in names for ch in ("\x1b", "\x00", "\x07", "\u202e", "\u009b"))


# --- actions ------------------------------------------------------------------------------------------

def pick(rows: list[Identity], kind: str, **details: Any) -> Identity:
    for r in rows:
        if r.kind == kind and all(r.details.get(k) == v for k, v in details.items()):
            return r
    raise AssertionError(f"no {kind} with {details}")


async def test_each_action_changes_exactly_its_target(world, fake):
    # The PAT-grant endpoints take only a GitHub App: the App for those, the admin token for the rest.
    with_app = {"app": True, "revoke_token": f"env:{fake._var}_ADMIN_TOKEN"}
    connector = connector_for(fake, **with_app)
    before = {r.uid: r for r in await scan(connector)}
    rows = list(before.values())
    targets = {
        "delete-key": (pick(rows, "deploy_key"), "delete"),
        "org-runner": (pick(rows, "runner", scope="org"), "remove"),
        "repo-runner": (pick(rows, "runner", scope="repo"), "remove"),
        "org-secret": (pick(rows, "actions_secret", scope="org"), "delete"),
        "repo-secret": (pick(rows, "actions_secret", scope="repo"), "delete"),
        "env-secret": (pick(rows, "actions_secret", scope="environment"), "delete"),
        "dependabot-org": (pick(rows, "dependabot_secret", scope="org"), "delete"),
        "dependabot-repo": (pick(rows, "dependabot_secret", scope="repo"), "delete"),
        "pat": (next(r for r in rows if r.kind == "fine_grained_pat" and r.status == "active"), "revoke"),
        "pat-request": (next(r for r in rows if r.kind == "fine_grained_pat" and r.status == "pending"), "deny"),
        "sso": (pick(rows, "sso_credential"), "revoke"),
        "org-hook": (pick(rows, "webhook", scope="org"), "delete"),
    }
    hook = next(r for r in rows if r.kind == "webhook" and r.details["scope"] == "repo"
                and r.status == "active" and r.details["secret_set"])
    mint = ("POST", f"/app/installations/{fake.installation_id}/access_tokens")
    writes_before, minted_before = fake.server.writes(), fake.requests_log[mint]
    for label, (ident, action) in targets.items():
        plan = {a.name: a for a in connector.actions(ident)}
        assert action in plan and plan[action].call, label
        assert plan[action].reversible == ("holder" if ident.kind in ("fine_grained_pat", "sso_credential") else "no")
        result = await connector.execute(ident, action)
        assert (result.state, result.removed) == ("ok", True), (label, result)
        assert result.status_code in (204, 202)

    deactivated = await connector.execute(hook, "deactivate")
    assert deactivated.state == "ok" and not deactivated.removed
    assert deactivated.identity.uid == hook.uid and deactivated.identity.status == "inactive"
    assert deactivated.identity.details["secret_set"] is True     # PATCH active:false kept the secret
    assert [a.name for a in connector.actions(deactivated.identity)] == ["activate", "delete"]
    minted = fake.requests_log[mint] - minted_before
    assert minted == 2          # one installation token for each of the two PAT writes
    assert fake.server.writes() - writes_before == len(targets) + 1 + minted

    after = {r.uid: r for r in await scan(connector_for(fake, "gh", **with_app))}
    removed = {t.uid for t, _ in targets.values()}
    assert set(before) - set(after) == removed
    assert set(after) - set(before) == set()
    changed = {uid for uid in after if after[uid] != before[uid]}
    assert changed == {hook.uid}
    assert after[hook.uid].status == "inactive" and after[hook.uid].details["secret_set"] is True

    undone = await connector.execute(after[hook.uid], "activate")
    assert undone.state == "ok" and undone.identity.status == "active"
    again = await connector.execute(targets["delete-key"][0], "delete")
    assert (again.state, again.removed, again.status_code) == ("already-absent", True, 404)
    final = {r.uid: r for r in await scan(connector_for(fake, **with_app))}
    assert final[hook.uid].status == "active" and final[hook.uid].details["secret_set"] is True
    assert {uid for uid in final if final[uid] != after.get(uid)} == {hook.uid}


async def test_a_404_is_already_absent_only_where_the_write_credential_sees_the_parent(world, fake):
    """GitHub hides what a token may not see behind 404: a deploy key whose repository the revoke
    credential cannot see is a failed revoke (the key may be live), not an absent one."""
    from dataclasses import replace

    connector = connector_for(fake)
    key = pick(await scan(connector), "deploy_key")
    hidden = replace(key, target="acme/not-visible", details={**key.details, "repo": "acme/not-visible"})
    result = await connector.execute(hidden, "delete")
    assert (result.state, result.removed) == ("failed", False), result
    assert "/repos/acme/not-visible/keys is not visible" in result.message
    gone = replace(key, details={**key.details, "key_id": 987654321})
    result = await connector.execute(gone, "delete")
    assert (result.state, result.removed, result.status_code) == ("already-absent", True, 404)


async def test_actions_are_listed_reversible_first_with_the_exact_call(world, fake):
    connector = connector_for(fake)
    rows = await scan(connector)
    hook = pick(rows, "webhook", scope="repo")
    acts = connector.actions(hook)
    assert [a.name for a in acts] == ["deactivate", "delete"]
    assert acts[0].reversible == "yes" and acts[0].undo == "activate" and acts[1].reversible == "no"
    assert acts[0].call == f"PATCH /repos/{hook.target}/hooks/{hook.details['hook_id']}" + ' {"active":false}'
    key = pick(rows, "deploy_key")
    assert connector.actions(key)[0].call == f"DELETE /repos/{key.target}/keys/{key.details['key_id']}"
    env = pick(rows, "actions_secret", scope="environment")
    assert connector.actions(env)[0].call == \
        f"DELETE /repos/{env.details['repo']}/environments/{env.details['environment']}/secrets/{env.name}"
    assert env.target == f"{env.details['repo']}:{env.details['environment']}"
    assert connector.actions(pick(rows, "app_installation")) == []
    for r in rows:
        assert tuple(a.name for a in connector.actions(r)) == r.actions


async def test_actions_use_the_revoke_token_and_report_a_refusal(world, fake):
    # Without revoke_token the read-only token is used: GitHub refuses, the result says why.
    source = fake.source("gh")
    del source["revoke_token"]
    connector = GitHubConnector(source, resolver(fake))
    rows = await scan(connector)
    key = pick(rows, "deploy_key")
    result = await connector.execute(key, "delete")
    assert result.state == "failed" and result.status_code == 403
    assert "administration=write" in result.message
    assert fake.token not in result.message and fake.readonly_token not in result.message
    assert key.uid in {r.uid for r in await scan(GitHubConnector(source, resolver(fake)))}
    assert (await connector.execute(key, "revoke")).state == "failed"   # not an action of a deploy key


async def test_writes_are_sent_a_second_apart_by_default(world, fake):
    connector = GitHubConnector(fake.source("gh"), resolver(fake))
    assert connector.write_interval == 1.0
    keys = [r for r in await scan(connector) if r.kind == "deploy_key"][:2]
    t0 = time.monotonic()
    results = [await connector.execute(k, "delete") for k in keys]
    assert [r.state for r in results] == ["ok", "ok"] and time.monotonic() - t0 >= 0.95


async def test_bulk_revoke_of_pat_grants(world, fake):
    connector = connector_for(fake, app=True)
    rows = await scan(connector)
    grants = [r for r in rows if r.kind == "fine_grained_pat" and r.status != "pending"][:3]
    results = await connector.revoke_pat_grants(grants)
    assert [(r.state, r.status_code) for r in results] == [("ok", 202)]
    assert fake.requests_log[("POST", "/orgs/acme/personal-access-tokens")] == 1
    left = {r.uid for r in await scan(connector_for(fake))}
    assert not left & {g.uid for g in grants}
    assert len(left) == len(rows) - 3


# --- blind spots, auth, faults ----------------------------------------------------------------------

async def test_denied_endpoints_become_blind_spots_naming_the_permission(world):
    fake = GitHubFake(world, deny=("personal-access-token", "credential-authorizations", "/repos/acme/api/keys",
                                   "/orgs/acme/members"))
    with fake:
        connector = connector_for(fake)
        rows = await scan(connector)
    spots = {b.what: b.reason for b in connector.report.blind_spots}
    assert set(spots) == {"fine-grained PAT grants (acme)", "fine-grained PAT requests (acme)",
                          "SSO credential authorizations (acme)", "members (acme)",
                          "deploy keys (acme: 1 of 30 repositories)"}
    assert "403 on /orgs/acme/personal-access-tokens" in spots["fine-grained PAT grants (acme)"]
    assert "GitHub App" in spots["fine-grained PAT grants (acme)"]
    assert "'Personal access tokens' read" in spots["fine-grained PAT grants (acme)"]
    assert "organization_personal_access_tokens=read" in spots["fine-grained PAT grants (acme)"]
    assert "read:org" in spots["SSO credential authorizations (acme)"]
    assert "'Administration' read" in spots["deploy keys (acme: 1 of 30 repositories)"]
    assert "members" not in connector.report.facts     # no member list: owner-departed cannot be judged
    kinds = {r.kind for r in rows}
    assert "fine_grained_pat" not in kinds and "sso_credential" not in kinds
    assert not any(r.kind == "deploy_key" and r.target == "acme/api" for r in rows)
    assert any(r.kind == "deploy_key" for r in rows)
    assert connector.report.status("ok", len(rows)).blind_spots


async def test_every_repository_denied_is_one_aggregated_blind_spot(world):
    fake = GitHubFake(world, deny=("hooks",))
    with fake:
        connector = connector_for(fake)
        rows = await scan(connector)
    spots = {b.what: b.reason for b in connector.report.blind_spots}
    assert set(spots) == {"org webhooks (acme)", "repo webhooks (acme: 30 of 30 repositories)"}
    assert "(and 29 more repositories)" in spots["repo webhooks (acme: 30 of 30 repositories)"]
    assert not any(r.kind == "webhook" for r in rows)


async def test_a_wrong_token_is_an_auth_error_without_the_token(world, fake):
    bad = "ghp_wrongwrongwrongwrongwrongwrong0000"
    connector = GitHubConnector(fake.source("gh"), resolver(fake, **{fake._var + "_TOKEN": bad}))
    with pytest.raises(AuthError) as info:
        await scan(connector)
    assert "401" in str(info.value) and bad not in str(info.value)


async def test_an_unknown_org_is_a_blind_spot_and_nothing_read_is_an_error(world, fake):
    connector = GitHubConnector(fake.source("gh", org="acme", orgs=["acme", "ghost"]), resolver(fake))
    rows = await scan(connector)
    assert any(b.what == "repositories (ghost)" and "404 on /orgs/ghost/repos" in b.reason
               for b in connector.report.blind_spots)
    assert len(rows) == len(world.expected_for("github"))
    only_ghost = GitHubConnector(fake.source("gh", org="ghost"), resolver(fake))
    with pytest.raises(ConnectorError, match="nothing could be read"):
        await scan(only_ghost)


@pytest.mark.parametrize(("knobs", "extra"), [
    (Knobs(error_rate=0.1, throttle_rate=0.1, retry_after=0, seed=11), {}),
    (Knobs(error_rate=0.1, throttle_rate=0.05, html_error_rate=0.03, truncate_rate=0.02, retry_after=0.1, seed=5),
     {}),
    (Knobs(error_rate=0.1, retry_after=0.1, seed=3), {"secondary_rate": 0.1}),
], ids=["5xx-429-retry-after-0", "mixed-retry-after-0.1", "5xx-secondary-403-retry-after-0.1"])
async def test_faults_give_the_same_identities_or_a_partial_source_with_a_reason(knobs, extra):
    base_world = World(repos=30)
    with GitHubFake(base_world) as clean:
        baseline = {r.uid for r in await scan(connector_for(clean))}
    world = World(repos=30)
    fake = GitHubFake(world, knobs, **extra)
    with fake:
        connector = connector_for(fake)
        t0 = time.monotonic()
        rows = await scan(connector)
        elapsed = time.monotonic() - t0
    got = {r.uid for r in rows}
    report = connector.report
    assert sum(fake.server.faults.faults.values()) > 10
    if extra:
        assert max(fake.requests_log.values()) > 1      # the 403s were retried after their Retry-After
    assert report.retries > 0 and report.requests > sum(fake.requests_log.values()) - 1
    # Never silently fewer: anything missing is covered by a blind spot with its reason.
    assert got <= baseline
    if got != baseline:
        assert report.blind_spots and all(b.reason for b in report.blind_spots)
    assert elapsed < 30


async def test_a_self_referencing_link_next_does_not_loop(world):
    fake = GitHubFake(world, Knobs(page_size=10), link_loop={"/orgs/acme/repos", "/repos/acme/web/keys"})
    with fake:
        connector = connector_for(fake)
        rows = await scan(connector)
    spots = {b.what: b.reason for b in connector.report.blind_spots}
    assert "pagination loop on /orgs/acme/repos" in spots["repositories (acme)"]
    assert fake.requests_log[("GET", "/orgs/acme/repos?per_page=100")] == 1
    assert sum(n for (_, p), n in fake.requests_log.items() if p.startswith("/orgs/acme/repos")) == 1
    repos = {r.target for r in rows if r.kind == "deploy_key"}
    assert repos and repos <= set(world.repo_names()[:10])


async def test_the_rate_limit_reset_is_honoured():
    world = World(repos=6)
    fake = GitHubFake(world, rate_limit=40, rate_window=1.0)
    with fake:
        connector = connector_for(fake)
        t0 = time.monotonic()
        rows = await scan(connector)
        assert time.monotonic() - t0 < 20
        assert_ground_truth(world, fake, connector, rows)
    assert connector.report.blind_spots == []
    assert connector.report.retries > 0
    assert connector.report.rate_limit_limit == 40


async def test_a_spent_budget_is_recognised_by_its_headers_whatever_the_wording():
    """PyGithub spots a primary limit by GitHub's message; a server saying it otherwise still sends
    `x-ratelimit-remaining: 0` and the reset, and the scan must wait for it, not lose endpoints."""
    world = World(repos=6)
    fake = GitHubFake(world, rate_limit=40, rate_window=1.0)
    fake.rate_limit_message = "Slow down: quota used up"
    with fake:
        connector = connector_for(fake)
        rows = await scan(connector)
        assert_ground_truth(world, fake, connector, rows)
    assert connector.report.blind_spots == [] and connector.report.retries > 0


# --- auth flavours, orgs, GHES ----------------------------------------------------------------------

async def test_github_app_installation_auth(world):
    fake = GitHubFake(world, app=True)
    with fake:
        source = fake.source("gh", app=True)
        assert "token" not in source and source["app_id"] == fake.app_id
        connector = GitHubConnector(source, resolver(fake))
        rows = await scan(connector)
        assert_ground_truth(world, fake, connector, rows)
        assert len(fake.issued) == 1          # one installation token, shared by every worker thread
        assert fake.requests_log[("POST", f"/app/installations/{fake.installation_id}/access_tokens")] == 1
        key = pick(rows, "deploy_key")
        assert (await connector.execute(key, "delete")).state == "ok"
        # Another key: the JWT is refused, which is an authentication failure.
        other = GitHubFake(World(repos=2), app=True)
        wrong = resolver(fake, **{fake._var + "_APP_KEY": other.env[other._var + "_APP_KEY"]})
        with pytest.raises(AuthError, match="401"):
            await scan(GitHubConnector(source, wrong))
        with pytest.raises(AuthError, match="private key"):
            await scan(GitHubConnector(source, resolver(fake, **{fake._var + "_APP_KEY": "not a pem"})))


async def test_pat_grant_writes_use_the_app_even_when_a_revoke_token_is_set(world):
    """GitHub takes only App tokens on the fine-grained PAT endpoints: with an App and a (classic)
    revoke_token, grants are revoked with the App, everything else with the revoke_token."""
    from nhitui.revoke import credential_label

    fake = GitHubFake(world, app=True)
    with fake:
        source = fake.source("gh", app=True, revoke_token=f"env:{fake._var}_TOKEN")    # a read-only token
        connector = GitHubConnector(source, resolver(fake))
        connector.write_interval = 0.0
        rows = await scan(connector)
        grant = next(r for r in rows if r.kind == "fine_grained_pat" and r.status == "active")
        assert (await connector.execute(grant, "revoke")).state == "ok"
        refused = await connector.execute(pick(rows, "deploy_key"), "delete")
        assert refused.state == "failed" and refused.status_code == 403      # the read-only revoke_token
        assert credential_label(source, "fine_grained_pat") == (f"GitHub App {fake.app_id} installation", "")
        assert credential_label(source, "deploy_key")[0].startswith("revoke_token ")


async def test_several_orgs_in_one_source(world):
    fake = GitHubFake(world, extra_orgs=("acme-labs",))
    with fake:
        source = fake.source("gh")
        assert source["orgs"] == ["acme", "acme-labs"]
        connector = GitHubConnector(source, resolver(fake))
        rows = await scan(connector)
        assert_ground_truth(world, fake, connector, rows)
    assert {r.target.split("/")[0] for r in rows} == {"acme", "acme-labs"}
    assert connector.report.facts["members"] == fake.expected_facts["members"]


async def test_github_enterprise_server_flavour(world):
    fake = GitHubFake(world, ghes=True)
    with fake:
        connector = connector_for(fake)
        assert connector.web_url == fake.server.url and fake.api_url.endswith("/api/v3")
        rows = await scan(connector)
    # No SAML credential authorizations on GHES: not asked for, so not a blind spot (the source is ok).
    assert connector.report.blind_spots == []
    assert connector.report.facts["sso_credentials"] == "not applicable on GitHub Enterprise Server"
    assert not any("credential-authorizations" in path for _, path in fake.requests_log)
    want = {make_uid("gh", e.kind, e.native_id) for e in world.expected_for("github") if e.kind != "sso_credential"}
    assert {r.uid for r in rows} == want
    assert connector.report.rate_limit_remaining is None
    assert all("/api/v3" not in r.url for r in rows)


def test_settings_and_web_urls():
    def make(**kw: Any) -> GitHubConnector:
        return GitHubConnector({"type": "github", "name": "x", "org": "acme", "token": "env:T", **kw}, lambda r: "t")
    assert make().web_url == "https://github.com"
    assert make(api_url="https://ghe.example.com/api/v3/").web_url == "https://ghe.example.com"
    assert make(concurrency=1000).concurrency == 100
    assert make(orgs=["a", "b", "a"]).orgs == ["a", "b"]
    with pytest.raises(ConnectorError):
        make(api_url="ftp://x")
    c = make()
    assert replace(c.report).source == "x" and c.provider == "github"


def test_a_429_without_retry_after_waits_the_documented_minute():
    """apis.md §9: Retry-After if given, else the reset when nothing remains, else at least 60 s."""
    from urllib3.response import HTTPResponse

    from connectors.github import SECONDARY_WAIT, _make_retry

    retry = _make_retry(None)
    assert retry.get_retry_after(HTTPResponse(b"", headers={}, status=429)) == SECONDARY_WAIT == 60
    assert retry.get_retry_after(HTTPResponse(b"", headers={"Retry-After": "2"}, status=429)) == 2
    assert retry.get_retry_after(HTTPResponse(b"", headers={}, status=503)) is None
