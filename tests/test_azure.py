"""The Azure / Entra connector against the fake Graph + ARM, over real HTTP."""

from __future__ import annotations

import asyncio
import copy
import io
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from connectors.azure import AzureConnector
from connectors.base import AuthError, ConnectorError
from nhitui.export import write_csv, write_json
from nhitui.model import TRUSTS_DETAIL, Identity
from nhitui.policy import Policy, evaluate
from nhitui.sandbox.azure import CANARY, AzureFake
from nhitui.sandbox.server import Knobs
from nhitui.sandbox.world import World
from tests.netfixtures import TlsFront, make_ca


@contextmanager
def running(world: World | None = None, knobs: Knobs | None = None, **kw: Any) -> Iterator[AzureFake]:
    fake = AzureFake(world or World(), knobs, **kw).start()
    try:
        yield fake
    finally:
        fake.stop()


def connector(fake: AzureFake, write: bool = True, drop: tuple[str, ...] = (), **settings: Any) -> AzureConnector:
    env = fake.env
    source = {**fake.source("acme-entra", write=write), "timeout": 5, **settings}
    for key in drop:
        source.pop(key, None)
    return AzureConnector(source, lambda ref: env[ref.removeprefix("env:")])


async def scan(c: AzureConnector) -> list[Identity]:
    out: list[Identity] = []
    async for batch in c.collect():
        out.extend(batch)
    return out


def scored(c: AzureConnector, rows: list[Identity]) -> dict[str, Identity]:
    status = c.report.status("partial" if c.report.blind_spots else "ok", len(rows))
    return {i.native_id: i for i in evaluate(rows, {c.name: status}, Policy())}


@pytest.fixture(scope="module")
def scanned() -> Iterator[tuple[AzureFake, AzureConnector, dict[str, Identity]]]:
    with running() as fake:
        c = connector(fake)
        rows = asyncio.run(scan(c))
        yield fake, c, scored(c, rows)


# --- inventory ----------------------------------------------------------------------------------


def test_ground_truth(scanned: tuple[AzureFake, AzureConnector, dict[str, Identity]]) -> None:
    fake, c, got = scanned
    expected = fake.world.expected_for("azure")
    assert len(expected) >= 28
    assert not c.report.blind_spots
    for e in expected:
        assert e.native_id in got, (e.kind, e.fields.get("name"))
        i = got[e.native_id]
        assert i.kind == e.kind and i.provider == "azure" and i.uid == f"acme-entra:{e.kind}:{e.native_id}"
        for field, value in e.fields.items():
            assert getattr(i, field) == value, (e.fields.get("name"), field, getattr(i, field), value)
        assert e.findings == set(i.finding_ids), (i.name, e.findings, i.finding_ids)
    # Nothing but the planted objects: Microsoft's own SPs and SAML signing material are not rows.
    assert len(got) == len(expected)
    names = {i.name for i in got.values()}
    assert "Microsoft Graph" not in names and "Office 365 SharePoint Online" not in names
    assert "saml-pfx" not in names and "CN=saml" not in names
    # storage keys: their age from keyCreationTime; their values (listKeys) never asked for
    keys = {i.name: i for i in got.values() if i.kind == "storage_account_key"}
    assert set(keys) == {"acmebuildlogs key1", "acmebuildlogs key2", "acmesecure key1", "acmesecure key2"}
    assert keys["acmesecure key1"].privilege == "none" and not keys["acmebuildlogs key1"].actions
    assert fake.list_keys_calls == 0 and not any(m == "POST" for m, _ in fake.arm.calls)


def test_findings_only_where_planted(scanned: tuple[AzureFake, AzureConnector, dict[str, Identity]]) -> None:
    fake, _, got = scanned
    planted = {e.native_id: e.findings for e in fake.world.expected_for("azure")}
    for rule in ("azure-sp-credential", "azure-third-party-privileged", "azure-secret-expiring",
                 "azure-tier0-permission", "azure-fic-privileged-app"):
        fired = {n for n, i in got.items() if rule in i.finding_ids}
        assert fired and fired == {n for n, f in planted.items() if rule in f}, rule


def test_federated_credentials_carry_trust(scanned: tuple[AzureFake, AzureConnector, dict[str, Identity]]) -> None:
    _, _, got = scanned
    fics = {i.name: i for i in got.values() if i.kind == "federated_credential"}
    assert set(fics) == {"gh-main", "gh-pull-request", "gh-any-branch", "aks-builder"}
    main = fics["gh-main"].details[TRUSTS_DETAIL][0]
    ci_app = fics["gh-main"].details["app_id"]
    assert (main.dialect, main.grants, main.grants_kind, main.privilege) == ("azure-fic", ci_app, "azure_app", "admin")
    assert [(c.claim, c.operator, c.values) for c in main.conditions] == [
        ("sub", "equals", ("repo:acme/api:ref:refs/heads/main",))]
    assert main.audiences == main.expected_audiences == ("api://AzureADTokenExchange",)
    flex = fics["gh-any-branch"].details[TRUSTS_DETAIL][0]
    assert fics["gh-any-branch"].details["subject"] is None
    assert (flex.dialect, flex.unparsed) == ("azure-flexible", ())
    assert [(c.claim, c.operator, c.values) for c in flex.conditions] == [
        ("sub", "glob", ("repo:acme/web:ref:refs/heads/*",))]
    aks = fics["aks-builder"].details[TRUSTS_DETAIL][0]
    assert aks.grants_kind == "azure_managed_identity" and aks.grants == fics["aks-builder"].details["client_id"]
    assert aks.issuer.startswith("https://westeurope.oic.prod-aks.azure.com/")


def test_privilege_sources(scanned: tuple[AzureFake, AzureConnector, dict[str, Identity]]) -> None:
    _, _, got = scanned
    by_name = {i.name: i for i in got.values() if i.kind in ("service_principal", "managed_identity")}
    assert "Graph:RoleManagement.ReadWrite.Directory" in by_name["directory-admin-bot"].scopes
    assert "role:Application Administrator" in by_name["helpdesk-bot"].scopes
    # a resource-group assignment counts: the list is not filtered with atScope()
    assert any(s.startswith("azure:Contributor@") and "/resourceGroups/rg-build" in s
               for s in by_name["uami-build"].scopes)
    assert "delegated:User.Read" in by_name["reporting-export"].scopes
    assert by_name["reporting-export"].privilege == "read"      # openid is not a write permission
    assert any(s.startswith("azure:acme-deployer@") for s in by_name["never-used-tool"].scopes)
    assert by_name["Contoso Analytics"].details["publisher"] == "third-party"
    assert by_name["vm-web-01"].details["mi_type"] == "system-assigned"
    assert by_name["uami-build"].details["mi_type"] == "user-assigned"
    assert by_name["uami-build"].actions == () and by_name["ci-deployer"].actions == ("disable", "enable")


@pytest.mark.parametrize(("permissions", "privilege"), [
    ([{"actions": ["*"], "notActions": []}], "admin"),
    ([{"actions": ["*"], "notActions": ["Microsoft.Authorization/*/Write", "Microsoft.Authorization/*/Delete"]}],
     "write"),                                                       # Contributor's shape
    ([{"actions": ["Microsoft.Authorization/roleAssignments/write"]}], "admin"),
    ([{"actions": ["Microsoft.Resources/deployments/*", "*/read"]}], "write"),
    ([{"actions": ["*/read"]}], "read"),
    ([{"actions": []}], "none"),
    ("garbage", "none"),
])
def test_custom_role_privilege(permissions: Any, privilege: str) -> None:
    from connectors.azure.arm import custom_role_privilege

    assert custom_role_privilege({"permissions": permissions}) == privilege


def test_small_pages_and_top(scanned: tuple[AzureFake, AzureConnector, dict[str, Identity]]) -> None:
    _, _, full = scanned
    with running(knobs=Knobs(page_size=2)) as fake:
        c = connector(fake)
        rows = asyncio.run(scan(c))
        assert sorted(i.native_id for i in rows) == sorted(full)
        assert not c.report.blind_spots
        # every page of applications was fetched (2 per page; $top=999 accepted)
        assert fake.graph.calls[("GET", "/v1.0/applications")] == -(-len(fake.state.apps) // 2)


def test_hostile_shapes_do_not_stop_the_scan() -> None:
    with running() as fake:
        st = fake.state
        good = len(fake.world.expected_for("azure"))
        st.apps["bad-1"] = {"id": "bad-1", "appId": 7, "displayName": {"x": 1}, "passwordCredentials": 5,
                            "keyCredentials": "abc", "requiredResourceAccess": [None, {"resourceAccess": 3}],
                            "createdDateTime": 10**20}
        st.owners["bad-1"], st.fics["bad-1"] = [None, 3], [None, {"id": 5}, {"id": "f", "subject": ["x"]}]
        st.apps["bad-2"] = {"id": "bad-2", "appId": "a2", "displayName": "evil\x1b[2J",
                            "passwordCredentials": [{"keyId": "k", "startDateTime": 99, "endDateTime": "soon",
                                                     "displayName": "\u202eexe.txt"}]}
        st.sps["bad-sp"] = {"id": "bad-sp", "appId": None, "servicePrincipalType": "ManagedIdentity",
                            "alternativeNames": 4, "passwordCredentials": None, "accountEnabled": "no"}
        st.assignments["bad-sp"] = [{"appRoleId": None, "resourceId": {"a": 1}}]
        st.sp_activity.append({"appId": ["x"], "applicationAuthenticationClientSignInActivity": "yesterday"})
        st.cred_activity.append({"keyId": "k", "signInActivity": {"lastSignInDateTime": 10**30}})
        st.arm_roles.append({"properties": {"principalId": "bad-sp", "roleDefinitionId": 3, "scope": None}})
        c = connector(fake)
        rows = {i.native_id: i for i in asyncio.run(scan(c))}
    assert len(rows) >= good + 2
    odd = rows["bad-2/k"]
    assert odd.name == "\ufffdexe.txt" and odd.created_at is None and odd.expires_at is None
    assert rows["bad-sp"].kind == "managed_identity"


# --- blind spots --------------------------------------------------------------------------------


def test_tenant_given_by_domain_name(scanned: tuple[AzureFake, AzureConnector, dict[str, Identity]]) -> None:
    _, _, full = scanned
    with running() as fake:
        c = connector(fake, tenant_id="acme.onmicrosoft.com")
        rows = scored(c, asyncio.run(scan(c)))
    third = {i.name for i in rows.values() if i.details.get("publisher") == "third-party"}
    assert third == {"Contoso Analytics"}
    assert {n: i.finding_ids for n, i in rows.items()} == {n: i.finding_ids for n, i in full.items()}


def test_tenant_without_p1() -> None:
    with running(no_p1=True) as fake:
        c = connector(fake)
        rows = list(scored(c, asyncio.run(scan(c))).values())
    spots = {b.what: b.reason for b in c.report.blind_spots}
    reason = spots["last use (sign-in activity reports)"]
    assert "P1/P2 licence" in reason and "Authentication_RequestFromNonPremiumTenantOrB2CTenant" in reason
    assert rows and all(not i.usage_tracked and i.last_used_at is None for i in rows)
    fired = {f for i in rows for f in i.finding_ids}
    assert "never-used" not in fired and "stale-unused" not in fired
    assert "expired-present" in fired and "azure-tier0-permission" in fired


def test_report_permission_missing_is_named() -> None:
    with running(deny=("/beta/reports/",)) as fake:
        c = connector(fake)
        rows = asyncio.run(scan(c))
    reason = {b.what: b.reason for b in c.report.blind_spots}["last use (sign-in activity reports)"]
    assert "Authorization_RequestDenied" in reason and "permission missing" in reason
    assert "AuditLog.Read.All" in reason and "licence" not in reason.split("needs")[0]
    assert rows and not any(i.usage_tracked for i in rows)


def test_denied_apps_still_lists_service_principals() -> None:
    with running(deny=("/v1.0/applications",)) as fake:
        c = connector(fake)
        rows = asyncio.run(scan(c))
        spots = {b.what: b.reason for b in c.report.blind_spots}
        assert "Application.Read.All" in spots["app registrations"]
        assert any(i.kind == "service_principal" for i in rows)
        assert not any(i.kind in ("app_secret", "app_certificate") and i.details.get("credential_origin") ==
                       "application" for i in rows)
        fake.deny = ("/v1.0/applications", "/v1.0/servicePrincipals")
        with pytest.raises(ConnectorError, match="neither app registrations nor service principals"):
            asyncio.run(scan(connector(fake)))


def test_no_arm_token_is_a_blind_spot() -> None:
    with running() as fake:
        c = connector(fake, drop=("arm_token",))
        rows = asyncio.run(scan(c))
    reason = {b.what: b.reason for b in c.report.blind_spots}["Azure role assignments and managed identities (ARM)"]
    assert "arm_token" in reason
    ci = next(i for i in rows if i.kind == "service_principal" and i.name == "ci-deployer")
    assert ci.privilege == "none" and not any(i.kind == "federated_credential" and i.name == "aks-builder" for i in rows)
    with running() as fake:
        fake.no_subscriptions = True
        c = connector(fake)
        asyncio.run(scan(c))
    assert "no subscription is visible" in {b.what: b.reason for b in c.report.blind_spots}["Azure subscriptions"]


def test_beta_missing_falls_back_to_v1() -> None:
    with running() as fake:
        fake.no_beta = True
        c = connector(fake)
        rows = asyncio.run(scan(c))
    assert "flexible federated credentials" in {b.what for b in c.report.blind_spots}
    flex = next(i for i in rows if i.name == "gh-any-branch")
    trust = flex.details[TRUSTS_DETAIL][0]
    assert flex.details["claims_matching_expression"] is None and trust.unparsed and not trust.conditions


def test_cut_or_refused_expansions_are_read_per_principal() -> None:
    with running() as fake:
        vendor = next(sp for sp in fake.state.sps.values() if sp["displayName"] == "Contoso Analytics")
        for _ in range(24):
            fake.state.grant_graph(vendor, "User.Read.All")
        c = connector(fake)
        rows = asyncio.run(scan(c))
        path = f"/v1.0/servicePrincipals/{vendor['id']}/appRoleAssignments"
        assert fake.graph.calls[("GET", path)] == 1     # expansion cut at 20: read in full, once
        got = next(i for i in rows if i.native_id == vendor["id"])
        assert got.scopes.count("Graph:User.Read.All") == 24 and "Graph:Mail.ReadWrite" in got.scopes
        fake.refuse_expand = True
        c2 = connector(fake)
        again = {i.native_id: i for i in asyncio.run(scan(c2))}
        assert again[vendor["id"]].scopes == got.scopes and not c.report.blind_spots and not c2.report.blind_spots
        # federated credentials too, flexible expressions included (read per app on beta)
        assert {n: i.details.get(TRUSTS_DETAIL) for n, i in again.items() if i.kind == "federated_credential"} == \
            {i.native_id: i.details.get(TRUSTS_DETAIL) for i in rows if i.kind == "federated_credential"}
        listed = [sid for sid in fake.state.sps if sid in again]
        assert all(fake.graph.calls[("GET", f"/v1.0/servicePrincipals/{sid}/appRoleAssignments")] >= 1
                   for sid in listed)


def test_next_link_loop_guard() -> None:
    for mode in ("first", "self"):
        with running(knobs=Knobs(page_size=3)) as fake:
            fake.cycle_next = mode
            c = connector(fake)
            rows = asyncio.run(asyncio.wait_for(scan(c), 60))
        assert rows
        assert any("points back to a page already read" in b.reason for b in c.report.blind_spots), mode


def test_throttled_requests_wait_retry_after() -> None:
    with running() as fake:
        fake.throttle(2, 1)
        c = connector(fake)
        t = time.monotonic()
        rows = asyncio.run(scan(c))
        elapsed = time.monotonic() - t
        assert fake.throttled == 2 and c.report.retries >= 2
    assert elapsed >= 1.0                       # waited what Retry-After asked
    assert not c.report.blind_spots and len(rows) == len(fake.world.expected_for("azure"))


def test_throttled_beyond_the_budget_is_a_blind_spot() -> None:
    with running() as fake:
        fake.throttle(1000, 3600, prefix="/beta/reports/")     # asks for an hour: more than the retry budget
        c = connector(fake)
        rows = asyncio.run(scan(c))
    reason = {b.what: b.reason for b in c.report.blind_spots}["last use (sign-in activity reports)"]
    assert "rate limited" in reason and "3600" in reason
    assert len(rows) == len(fake.world.expected_for("azure")) and not any(i.usage_tracked for i in rows)


def test_transient_faults_are_retried(scanned: tuple[AzureFake, AzureConnector, dict[str, Identity]]) -> None:
    _, _, full = scanned
    knobs = Knobs(error_rate=0.08, throttle_rate=0.08, truncate_rate=0.08, html_error_rate=0.08, empty_rate=0.05,
                  retry_after=0.05, seed=3, fault_limit=12)
    with running(knobs=knobs) as fake:
        c = connector(fake, backoff=0.01)
        rows = asyncio.run(scan(c))
        injected = sum(fake.graph.faults.faults.values()) + sum(fake.arm.faults.faults.values())
    assert injected >= 5 and c.report.retries >= injected
    assert not c.report.blind_spots and sorted(i.native_id for i in rows) == sorted(full)


def test_bad_token_is_an_auth_error_without_the_token() -> None:
    with running() as fake:
        env = {**fake.env, "NHITUI_SANDBOX_AZURE_GRAPH_TOKEN": f"{CANARY}-wrong"}
        c = AzureConnector({**fake.source("x"), "timeout": 5}, lambda ref: env[ref.removeprefix("env:")])
        with pytest.raises(AuthError) as info:
            asyncio.run(scan(c))
    assert "401" in str(info.value) and CANARY not in str(info.value)


# --- credentials --------------------------------------------------------------------------------


def test_client_secret_credential_via_authority_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ca, cert, key = make_ca(tmp_path)
    with running() as fake:
        front = TlsFront(int(fake.url.rsplit(":", 1)[1]), cert, key)
        front.start()
        fake.authority_url = front.url
        try:
            settings = dict(client_id=fake.client_id, client_secret="env:NHITUI_SANDBOX_AZURE_CLIENT_SECRET",
                            authority_host=front.url, ca_bundle=str(ca))
            c = connector(fake, write=False, drop=("token", "arm_token"), **settings)
            rows = asyncio.run(scan(c))
            assert len(rows) == len(fake.world.expected_for("azure")) and not c.report.blind_spots
            assert fake.token_requests == 2                 # one Graph token, one ARM token
            # DefaultAzureCredential (here its environment credential) honours the same authority
            monkeypatch.setenv("AZURE_TENANT_ID", fake.tenant_id)
            monkeypatch.setenv("AZURE_CLIENT_ID", fake.client_id)
            monkeypatch.setenv("AZURE_CLIENT_SECRET", fake.client_secret)
            monkeypatch.setenv("AZURE_TOKEN_CREDENTIALS", "EnvironmentCredential")
            default = connector(fake, write=False, drop=("token", "arm_token"), authority_host=front.url,
                                ca_bundle=str(ca))
            assert len(asyncio.run(scan(default))) == len(rows) and fake.token_requests == 4
            # a token that lapses mid-scan is renewed once per 401 and the scan completes
            fake.token_uses = 4
            renewing = connector(fake, write=False, drop=("token", "arm_token"), **settings)
            assert len(asyncio.run(scan(renewing))) == len(rows) and not renewing.report.blind_spots
            assert fake.token_requests > 4 + 2                 # two tokens, then at least one renewal
            env = {**fake.env, "BAD": f"{CANARY}-bad-secret"}
            bad = AzureConnector({**fake.source("x", write=False), **settings, "client_secret": "env:BAD",
                                  "token": "", "arm_token": ""}, lambda ref: env[ref.removeprefix("env:")])
            with pytest.raises(AuthError) as info:
                asyncio.run(scan(bad))
        finally:
            front.stop()
    assert "AADSTS7000215" in str(info.value) and CANARY not in str(info.value)


def test_canary_never_in_outputs(scanned: tuple[AzureFake, AzureConnector, dict[str, Identity]]) -> None:
    fake, c, got = scanned
    status = {c.name: c.report.status("ok", len(got))}
    csv_out, json_out = io.StringIO(), io.StringIO()
    write_csv(got.values(), csv_out)
    write_json(got.values(), status, json_out)
    text = csv_out.getvalue() + json_out.getvalue() + repr(list(got.values())) + repr(c.report)
    assert "gh-actions" in text and CANARY not in text
    for value in fake.env.values():
        assert value not in text


# --- actions ------------------------------------------------------------------------------------


@pytest.fixture
def acting() -> Iterator[tuple[AzureFake, AzureConnector, dict[str, Identity]]]:
    with running() as fake:
        c = connector(fake)
        yield fake, c, {i.name: i for i in asyncio.run(scan(c))}


def test_disable_enable_restores_service_principal(acting: tuple[AzureFake, AzureConnector, dict[str, Identity]]) -> None:
    fake, c, rows = acting
    sp = rows["ci-deployer"]
    before = copy.deepcopy(fake.state.sps[sp.native_id])
    plan = {a.name: a for a in c.actions(sp)}
    assert plan["disable"].reversible == "yes" and plan["disable"].undo == "enable"
    assert "60-90 minutes" in plan["disable"].description
    result = asyncio.run(c.execute(sp, "disable"))
    assert result.state == "ok" and result.identity is not None and result.identity.status == "inactive"
    assert fake.state.sps[sp.native_id]["accountEnabled"] is False
    again = {i.native_id: i for i in asyncio.run(scan(connector(fake)))}
    assert again[sp.native_id].status == "inactive"
    result = asyncio.run(c.execute(result.identity, "enable"))
    assert result.state == "ok" and result.identity is not None and result.identity.status == "active"
    assert fake.state.sps[sp.native_id] == before
    restored = {i.native_id: i for i in asyncio.run(scan(connector(fake)))}[sp.native_id]
    assert restored == sp


def test_refused_actions_change_nothing(acting: tuple[AzureFake, AzureConnector, dict[str, Identity]]) -> None:
    fake, c, rows = acting
    # managed identities cannot be disabled through Graph: nothing is offered, nothing is sent
    assert c.actions(rows["uami-build"]) == [] and c.actions(rows["Office 365 Exchange Online"]) == []
    result = asyncio.run(c.execute(rows["uami-build"], "disable"))
    assert result.state == "failed" and "not 'disable'" in result.message
    assert fake.graph.writes() == 0
    # the read credential is refused by Graph, and the message names the permission
    reader = connector(fake, write=False)
    result = asyncio.run(reader.execute(rows["ci-deployer"], "disable"))
    assert result.state == "failed" and result.status_code == 403
    assert "Application.ReadWrite.All" in result.message and CANARY not in result.message
    assert fake.state.sps[rows["ci-deployer"].native_id]["accountEnabled"] is True


def test_remove_secret_and_certificate(acting: tuple[AzureFake, AzureConnector, dict[str, Identity]]) -> None:
    fake, c, rows = acting
    secret = rows["gh-actions"]
    app_obj, key = secret.native_id.split("/")
    result = asyncio.run(c.execute(secret, "remove"))
    assert result.state == "ok" and result.removed
    assert not fake.state.apps[app_obj]["passwordCredentials"]
    assert asyncio.run(c.execute(secret, "remove")).state == "already-absent"
    planted = rows["backup"]                            # a secret on Microsoft's Exchange SP
    assert "/servicePrincipals/" in c.actions(planted)[0].call
    assert asyncio.run(c.execute(planted, "remove")).state == "ok"
    cert = rows["CN=directory-admin-bot"]
    app_obj, key = cert.native_id.split("/")
    fake.state.apps[app_obj]["keyCredentials"].append(fake.state.cert("CN=other", 1, 100))
    result = asyncio.run(c.execute(cert, "remove"))
    assert result.state == "ok"
    assert [k["displayName"] for k in fake.state.apps[app_obj]["keyCredentials"]] == ["CN=other"]
    assert asyncio.run(c.execute(cert, "remove")).state == "already-absent"


def test_delete_federated_credentials(acting: tuple[AzureFake, AzureConnector, dict[str, Identity]]) -> None:
    fake, c, rows = acting
    pr = rows["gh-pull-request"]
    action = c.actions(pr)[0]
    assert action.reversible == "no"
    assert "repo:acme/api:pull_request" in action.call and "token.actions.githubusercontent.com" in action.call
    assert asyncio.run(c.execute(pr, "delete")).state == "ok"
    assert [f["name"] for f in fake.state.fics[pr.details["app_object_id"]]] == ["gh-main"]
    assert asyncio.run(c.execute(pr, "delete")).state == "already-absent"
    aks = rows["aks-builder"]
    assert "system:serviceaccount:prod:builder" in c.actions(aks)[0].call
    assert asyncio.run(c.execute(aks, "delete")).state == "ok"
    assert not any(fake.state.uami_fics.values())
    assert asyncio.run(c.execute(aks, "delete")).state == "already-absent"


def test_revoker_plans_journals_and_undoes(tmp_path: Path) -> None:
    from nhitui import config as config_mod
    from nhitui.collect import scan as scan_sources
    from nhitui.journal import Journal
    from nhitui.revoke import Revoker
    from nhitui.sandbox.chain import Sandbox

    with Sandbox(World(), providers=("azure",)) as sandbox:
        text = sandbox.config_text().replace(str(sandbox.config_dir()), str(tmp_path))
        path = tmp_path / "config.toml"
        path.write_text(text)
        cfg = config_mod.load(path)
        inventory = scan_sources(cfg.sources)
        assert inventory.statuses["acme-entra"].state == "ok"
        sp = next(i for i in inventory.rows if i.kind == "service_principal" and i.name == "ci-deployer")
        revoker = Revoker(inventory, cfg.sources, Journal(cfg.journal_path))
        plan = revoker.plan([sp.uid])
        assert [(s.action, s.reversible) for s in plan.steps] == [("disable", "yes")]
        assert "revoke_token" in plan.steps[0].credential and "accountEnabled" in plan.steps[0].call
        outcomes = asyncio.run(revoker.execute(plan))
        assert [o.state for o in outcomes] == ["ok"]
        assert inventory.get(sp.uid).status == "inactive"
        undo = revoker.plan_undo()
        assert undo is not None and undo.steps[0].action == "enable"
        assert [o.state for o in asyncio.run(revoker.execute(undo))] == ["ok"]
        assert inventory.get(sp.uid).status == "active"
        fake = sandbox.fakes["azure"]
        assert fake.state.sps[sp.native_id]["accountEnabled"] is True
        journal = Path(cfg.journal_path).read_text()
        records = [json.loads(line) for line in journal.splitlines()]
        assert [(r["event"], r.get("result")) for r in records] == [("intent", None), ("result", "ok")] * 2
        assert CANARY not in journal


def test_no_sign_in_in_the_report_is_unknown_not_never_used(scanned) -> None:
    """reference/azure.md: the reports' history depth is undocumented, so no data is not unused."""
    _, _, got = scanned
    tool = next(i for i in got.values() if i.kind == "app_secret" and i.name == "tool")
    assert tool.last_used_at is None and not tool.usage_tracked and "never-used" not in tool.finding_ids


def test_rbac_writing_wildcards_are_admin_and_fic_ids_must_belong_to_their_identity() -> None:
    from connectors.azure.arm import custom_role_privilege
    from connectors.azure.federated import is_fic_of

    for action in ("Microsoft.Authorization/*/Write", "*/write", "Microsoft.Authorization/roleAssignments/*"):
        assert custom_role_privilege({"permissions": [{"actions": [action]}]}) == "admin", action
    assert custom_role_privilege({"permissions": [{"actions": ["Microsoft.Resources/deployments/*"]}]}) == "write"
    uami = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/ci"
    assert is_fic_of(uami + "/federatedIdentityCredentials/gh-main", uami)
    assert is_fic_of(uami.upper() + "/federatedIdentityCredentials/x", uami)
    assert not is_fic_of(uami, uami)
    assert not is_fic_of(uami + "/federatedIdentityCredentials/x/../../../other", uami)
    assert not is_fic_of("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/a", uami)
