"""The GCP connector against the sandbox fake of the four Google services, over real HTTP.

Ground truth (every planted account, key and WIF provider, with fields and findings), actions
(disable/enable restores a key exactly; service agents are never touched), blind spots (a missing
Policy Analyzer permission leaves last use unknown, not "never used"), 403 reasons, retries, page
loop guard, impersonation through IAM Credentials, and the canary (no token anywhere we write).
"""

from __future__ import annotations

import copy
import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from connectors._http import Reply
from connectors.base import AuthError, ConnectorError
from connectors.gcp import GcpConnector
from connectors.gcp.client import build_credentials, classify
from nhitui.model import TRUSTS_DETAIL, Identity
from nhitui.policy import Policy, evaluate
from nhitui.sandbox.gcp import READ_SA, WRITE_SA, GcpFake
from nhitui.sandbox.server import Knobs
from nhitui.sandbox.world import World

FAST = {"timeout": 5, "backoff": 0.01}
PROD = {"organization": "", "projects": ["acme-prod"]}     # tests that act need one project only


@contextmanager
def running(**kw: Any) -> Iterator[GcpFake]:
    knobs = kw.pop("knobs", None)
    fake = GcpFake(World(seed=5), knobs, **{"extra_projects": 0, **kw})
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture(scope="module")
def fake() -> Iterator[GcpFake]:
    """A fake nobody writes to (tests that act start their own)."""
    with running() as f:
        yield f


@pytest.fixture(scope="module")
def scanned(fake: GcpFake) -> tuple[GcpConnector, list[Identity]]:
    """One scan of the shared fake, read by the tests that only look."""
    import asyncio

    c = connector(fake)
    return c, asyncio.run(scan(c))


def connector(fake: GcpFake, readonly: bool = False, **settings: Any) -> GcpConnector:
    values = dict(fake.env)
    source = {**fake.source("t-gcp", readonly=readonly), **FAST, **settings}
    return GcpConnector(source, lambda ref: values[ref.removeprefix("env:")])


async def scan(c: GcpConnector) -> list[Identity]:
    out: list[Identity] = []
    async for batch in c.collect():
        out.extend(batch)
    return out


def by_native(ids: list[Identity]) -> dict[str, Identity]:
    return {i.native_id: i for i in ids}


def scored(c: GcpConnector, ids: list[Identity]) -> dict[str, Identity]:
    return by_native(evaluate(ids, {c.name: c.report.status("ok", len(ids))}, Policy()))


# --- ground truth -------------------------------------------------------------------------------


def test_ground_truth(fake: GcpFake, scanned: tuple[GcpConnector, list[Identity]]) -> None:
    c, ids = scanned
    expected = {e.native_id: e for e in fake.world.expected_for("gcp")}
    got = scored(c, ids)
    assert len(ids) == len(got) == len(expected)
    assert set(got) == set(expected)
    assert not c.report.blind_spots
    for native, e in expected.items():
        i = got[native]
        assert i.uid == f"{c.name}:{e.kind}:{native}" and i.kind == e.kind and i.provider == "gcp"
        for field, value in e.fields.items():
            assert getattr(i, field) == value, (i.name, field, getattr(i, field), value)
        assert set(i.finding_ids) == set(e.findings), (i.name, i.finding_ids)
        assert list(i.actions) == [a.name for a in c.actions(i)]
    planted = set().union(*(e.findings for e in expected.values()))
    assert {"gcp-default-sa-editor", "gcp-key-exposed", "gcp-service-agent-key", "gcp-key-exceeds-expiry-policy",
            "gcp-wif-whole-pool", "gcp-wif-subject-not-unique", "stale-unused", "never-used", "old-rotation",
            "expired-present", "admin-scope", "oidc-wildcard-sub", "oidc-any-ref-admin"} <= planted
    assert {i.kind for i in ids} == {"gcp_service_account", "sa_key", "wif_provider"}
    # system-managed keys are counted, never rows; deleted-requested projects are not scanned
    assert c.report.facts["system_managed_keys"] == 1 and c.report.facts["inactive_projects"] == 1
    assert "acme-old" not in c.report.facts["projects"]
    assert c.report.facts["org_policy"]["acme-data"] == {"key_creation_disabled": True, "key_expiry_hours": 2160}


async def test_details_agents_and_trusts(fake: GcpFake, scanned: tuple[GcpConnector, list[Identity]]) -> None:
    c, ids = scanned
    by_name = {i.name: i for i in ids}
    pnum = fake.state.projects["acme-prod"]["name"].split("/")[1]
    agent = by_name[f"{pnum}@cloudbuild.gserviceaccount.com"]
    assert agent.details["service_agent"] and agent.actions == () and c.actions(agent) == []
    agent_key = next(i for i in ids if i.kind == "sa_key" and i.owner == agent.name)
    assert agent_key.actions == () and (await c.execute(agent_key, "delete")).state == "failed"
    assert fake.writes() == 0
    # the Google APIs service agent holds Editor by design: no row, so no finding
    assert not any("cloudservices" in i.name for i in ids)
    deployer = by_name["deployer@acme-prod.iam.gserviceaccount.com"]
    assert deployer.scopes == ("roles/run.admin", "roles/iam.serviceAccountUser")
    assert (f"roles/iam.workloadIdentityUser: principalSet://iam.googleapis.com/projects/{pnum}/locations/global/"
            "workloadIdentityPools/github/attribute.repository/acme/api") in deployer.details["impersonated_by"]
    assert "(project) roles/iam.serviceAccountTokenCreator: group:ci@acme.com" in deployer.details["impersonated_by"]
    analytics = by_name["analytics@acme-data.iam.gserviceaccount.com"]
    assert analytics.scopes == ("roles/bigquery.dataViewer", "roles/storage.objectCreator @folders/333333333333")
    assert set(c.report.facts["ancestor_policies"]) == {"organizations/222222222222", "folders/333333333333",
                                                        "folders/444444444444"}
    terraform = by_name["terraform@acme-prod.iam.gserviceaccount.com"]
    assert "roles/browser @organizations/222222222222" in terraform.scopes
    hostile = by_name["notifier@acme-prod.iam.gserviceaccount.com"]
    assert hostile.details["description"] == fake.world.hostile(0) == "[@click=app.quit]x[/]"   # data, kept literally
    exposed = next(i for i in ids if i.kind == "sa_key" and i.details["exposed"])
    assert exposed.status == "inactive" and exposed.details["disable_reason"].endswith("_EXPOSED")

    gh_api = by_name["github/gh-api"]
    trusts = gh_api.details[TRUSTS_DETAIL]
    assert {t.grants for t in trusts} == {deployer.name, "project acme-prod", "organizations/222222222222"}
    assert {t.grants_kind for t in trusts} == {"gcp_service_account", "gcp_project", "gcp_organization"}
    for t in trusts:
        assert t.issuer == "https://token.actions.githubusercontent.com" and t.dialect == "gcp-cel"
        claims = {(x.claim, x.operator, x.values) for x in t.conditions}
        assert {("repository", "equals", ("acme/api",)), ("ref", "equals", ("refs/heads/main",))} <= claims
        assert not t.unparsed
    assert {t.privilege for t in trusts} == {"admin", "read"}
    owner = by_name["github-legacy/gh-owner"]
    (t,) = owner.details[TRUSTS_DETAIL]
    assert [(x.claim, x.values) for x in t.conditions] == [("repository_owner", ("acme",))]
    assert t.grants == terraform.name and owner.details["whole_pool_grants"]
    legacy = by_name["github/legacy"]
    (pool_trust,) = legacy.details[TRUSTS_DETAIL]          # maps no attribute.repository: no grant matches it
    assert legacy.status == "inactive" and pool_trust.disabled and not pool_trust.conditions
    assert pool_trust.grants_kind == "gcp_wif_pool" and legacy.privilege == "none"
    assert not any(i.name.endswith(".svc.id.goog") or "svc.id.goog" in i.uid for i in ids)


async def test_fake_follows_the_fidelity_rules(fake: GcpFake) -> None:
    import httpx

    auth = {"Authorization": f"Bearer {fake.token}"}
    iam, crm, pa = fake.endpoints["iam"], fake.endpoints["cloudresourcemanager"], fake.endpoints["policyanalyzer"]
    async with httpx.AsyncClient(headers=auth) as h:
        small = (await h.get(f"{iam}/v1/projects/acme-prod/serviceAccounts?pageSize=3")).json()
        assert len(small["accounts"]) == 3 and "nextPageToken" in small
        big = (await h.get(f"{iam}/v1/projects/acme-prod/serviceAccounts")).json()       # default page 20
        assert "nextPageToken" not in big and len(big["accounts"]) == len(fake.state.accounts["acme-prod"])
        assert all("disabled" not in a for a in big["accounts"] if not fake.account("acme-prod", a["email"])["disabled"])
        assert any(a.get("disabled") is True for a in big["accounts"])
        assert not any(a.get("displayName") == "" for a in big["accounts"])
        empty = next(a for a in big["accounts"] if not fake.state.keys[a["email"]])
        assert (await h.get(f"{iam}/v1/projects/acme-prod/serviceAccounts/{empty['email']}/keys")).json() == {}
        assert (await h.get(f"{iam}/v1/projects/-/serviceAccounts/nobody@x.iam.gserviceaccount.com")).status_code == 403
        assert (await h.get(f"{crm}/v3/projects/acme-prod:getIamPolicy")).status_code == 404   # POST only
        hidden = (await h.post(f"{crm}/v3/projects/acme-prod:getIamPolicy", json={})).json()
        assert any("_withcond_" in b["role"] for b in hidden["bindings"])
        shown = (await h.post(f"{crm}/v3/projects/acme-prod:getIamPolicy",
                              json={"options": {"requestedPolicyVersion": 3}})).json()
        assert shown["version"] == 3 and any("condition" in b for b in shown["bindings"])
        project = (await h.get(f"{crm}/v3/projects/acme-prod")).json()
        assert project["name"] != "projects/acme-prod" and project["name"].split("/")[1].isdigit()
        q = f"{pa}/v1/projects/acme-prod/locations/global/activityTypes/serviceAccountLastAuthentication/activities:query"
        assert (await h.post(q)).status_code == 404
        eleven = " OR ".join(f'activities.full_resource_name="//x/{n}"' for n in range(11))
        assert (await h.get(q, params={"filter": eleven})).status_code == 400
        stamps = [a["activity"].get("lastAuthenticatedTime") for a in (await h.get(q)).json()["activities"]]
        assert all(s is None or s.endswith("T07:00:00Z") for s in stamps) and any(stamps)


# --- actions ------------------------------------------------------------------------------------


async def test_key_disable_enable_restores_exactly() -> None:
    with running() as fake:
        c = connector(fake, **PROD)
        ids = await scan(c)
        key = next(i for i in ids if i.kind == "sa_key" and i.status == "active" and i.last_used_at is not None
                   and i.actions[:1] == ("disable",) and i.owner.startswith("deployer@"))
        stored = fake.key(key.owner, key.native_id)
        before = copy.deepcopy(stored)
        plan = [a for a in c.actions(key) if a.name == "disable"][0]
        assert plan.reversible == "yes" and plan.undo == "enable" and ":disable" in plan.call
        result = await c.execute(key, "disable")
        assert result.state == "ok" and stored["disabled"] is True
        assert f"last authentication before disabling: {key.last_used_at:%Y-%m-%d}" in result.message
        assert result.identity is not None and result.identity.status == "inactive"
        assert result.identity.actions == ("enable", "delete")
        rescan = by_native(await scan(connector(fake, **PROD)))[key.native_id]
        assert rescan.status == "inactive" and not rescan.usage_tracked      # disabled keys drop out of PA
        back = await c.execute(result.identity, "enable")
        assert back.state == "ok" and back.identity.status == "active"
        assert stored == before
        again = by_native(await scan(connector(fake, **PROD)))[key.native_id]
        for field in ("status", "last_used_at", "usage_tracked", "created_at", "expires_at", "privilege", "actions"):
            assert getattr(again, field) == getattr(key, field), field
        # delete is irreversible and removes the row; a second delete finds nothing
        gone = await c.execute(again, "delete")
        assert gone.state == "ok" and gone.removed and fake.key(key.owner, key.native_id) is None
        assert (await c.execute(again, "delete")).state == "already-absent"


async def test_account_and_provider_disable_enable() -> None:
    with running() as fake:
        c = connector(fake, organization="", projects=["acme-prod", "acme-staging"])
        ids = await scan(c)
        sa = next(i for i in ids if i.name.startswith("web@"))
        done = await c.execute(sa, "disable")
        assert done.state == "ok" and fake.account("acme-staging", sa.name)["disabled"] is True
        assert (await c.execute(done.identity, "enable")).state == "ok"
        assert fake.account("acme-staging", sa.name)["disabled"] is False
        provider = next(i for i in ids if i.name == "github/gh-api")
        off = await c.execute(provider, "disable")
        assert off.state == "ok" and "stay valid" in off.message
        assert fake.provider_obj(provider.native_id)["disabled"] is True and off.identity.status == "inactive"
        on = await c.execute(off.identity, "enable")
        assert on.state == "ok" and fake.provider_obj(provider.native_id)["disabled"] is False


async def test_readonly_identity_cannot_write_and_says_what_is_missing() -> None:
    with running() as fake:
        values = dict(fake.env)
        source = {**fake.source("t-gcp"), **FAST, **PROD, "token": "env:NHITUI_SANDBOX_GCP_TOKEN_READONLY"}
        c = GcpConnector(source, lambda ref: values[ref.removeprefix("env:")])
        key = next(i for i in await scan(c) if i.kind == "sa_key" and i.status == "active" and i.actions)
        result = await c.execute(key, "disable")
        assert result.state == "failed" and result.status_code == 403
        assert "iam.serviceAccountKeys.disable" in result.message
        assert fake.key(key.owner, key.native_id).get("disabled") is False
        # with revoke_token set, writes use it
        ok = await connector(fake, readonly=True).execute(key, "disable")
        assert ok.state == "ok"


async def test_impersonation_for_reads_and_writes() -> None:
    with running() as fake:
        eps = {**fake.endpoints, "iamcredentials": fake.endpoints["iam"]}
        c = connector(fake, readonly=True, impersonate=READ_SA, revoke_impersonate=WRITE_SA,
                      revoke_token="", endpoints=eps)
        ids = await scan(c)
        assert len(ids) == len(fake.world.expected_for("gcp"))
        assert set(fake.minted.values()) == {"read"}
        key = next(i for i in ids if i.kind == "sa_key" and i.status == "active" and i.actions)
        assert (await c.execute(key, "disable")).state == "ok"
        assert set(fake.minted.values()) == {"read", "write"}
        stranger = connector(fake, impersonate="nobody@acme-sec.iam.gserviceaccount.com", endpoints=eps)
        with pytest.raises(AuthError, match="impersonating nobody@"):
            await scan(stranger)


async def test_bad_token_and_missing_adc_are_clear_errors(fake: GcpFake, monkeypatch: pytest.MonkeyPatch,
                                                          tmp_path: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    c = GcpConnector({**fake.source("t-gcp"), **FAST}, lambda ref: "ya29.wrong")
    with pytest.raises(AuthError, match="refused the bearer token"):
        await scan(c)
    secret_dir = tmp_path / "very-secret-dir"
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(secret_dir / "key.json"))
    with pytest.raises(AuthError) as err:
        build_credentials({"name": "x"}, lambda ref: "", write=False)
    assert "very-secret-dir" not in str(err.value) and "GOOGLE_APPLICATION_CREDENTIALS" in str(err.value)
    assert "google.auth" in caplog.text and "very-secret-dir" not in caplog.text     # google-auth's DEBUG log


# --- blind spots, errors, retries ---------------------------------------------------------------


async def test_missing_policy_analyzer_permission_is_unknown_not_never_used() -> None:
    with running(deny={"policyanalyzer": "IAM_PERMISSION_DENIED"}) as fake:
        c = connector(fake)
        ids = await scan(c)
    assert len(ids) == len(fake.world.expected_for("gcp"))
    spots = [b for b in c.report.blind_spots if b.what.startswith("last authentication in")]
    assert spots and all("roles/policyanalyzer.activityAnalysisViewer" in b.reason for b in spots)
    assert spots[0].what == "last authentication in 3 projects"          # one line, not one per project
    assert "projects: acme-data, acme-prod, acme-staging" in spots[0].reason and "not 'never used'" in spots[0].reason
    rows = [i for i in ids if i.kind != "wif_provider"]
    assert all(not i.usage_tracked and i.last_used_at is None for i in rows)
    findings = {f for i in scored(c, ids).values() for f in i.finding_ids}
    assert not findings & {"never-used", "stale-unused"}
    assert "old-rotation" in findings                   # what does not depend on last use still shows


@pytest.mark.parametrize("reason,fragment,expect", [
    ("SERVICE_DISABLED", "orgpolicy", "orgpolicy.googleapis.com is disabled in projects/999999999999"),
    ("SECURITY_POLICY_VIOLATED", "/keys", "VPC Service Controls"),
    ("ACCESS_TOKEN_SCOPE_INSUFFICIENT", "/locations/global/workloadIdentityPools", "OAuth scopes"),
    ("IAM_PERMISSION_DENIED", "iam", "missing permission"),
])
async def test_403_reasons_become_named_blind_spots(reason: str, fragment: str, expect: str) -> None:
    with running(deny={fragment: reason}) as fake:
        c = connector(fake)
        ids = await scan(c)
    assert any(expect in b.reason for b in c.report.blind_spots), c.report.blind_spots
    if fragment == "/keys":
        assert not any(i.kind == "sa_key" for i in ids) and any(i.kind == "gcp_service_account" for i in ids)


def test_classify_reads_the_documented_envelopes() -> None:
    def reply(status: int, data: Any) -> Reply:
        import httpx

        return Reply(status, httpx.Headers(), data, "https://iam.googleapis.com/v1/projects/p/serviceAccounts")

    quota = {"error": {"code": 403, "status": "PERMISSION_DENIED", "message": "Your application is authenticating "
                       "by using local Application Default Credentials. The orgpolicy.googleapis.com API requires a "
                       "quota project, which is not set by default.",
                       "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "SERVICE_DISABLED",
                                    "metadata": {"service": "orgpolicy.googleapis.com", "consumer": "projects/764086051850"}}]}}
    assert "set quota_project" in classify(reply(403, quota)).text
    legacy = {"error": {"code": 403, "message": "blocked", "errors": [{"reason": "vpcServiceControls"}]}}
    assert classify(reply(403, legacy)).reason == "vpcServiceControls"
    assert "VPC Service Controls" in classify(reply(403, legacy)).text
    perm = {"error": {"code": 403, "status": "PERMISSION_DENIED", "message": "denied", "details": [
        {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "IAM_PERMISSION_DENIED",
         "metadata": {"permission": "iam.serviceAccounts.list", "resource": "projects/p"}}]}}
    text = classify(reply(403, perm), "grant roles/iam.serviceAccountViewer").text
    assert "iam.serviceAccounts.list on projects/p" in text and "roles/iam.serviceAccountViewer" in text
    assert classify(reply(403, "<html>")).reason == ""


async def test_429_503_and_rate_403_are_retried_and_counted() -> None:
    with running() as fake:
        fake.fail_next.update({429: 2, 503: 2, 403: 2})
        c = connector(fake)
        ids = await scan(c)
    assert len(ids) == len(fake.world.expected_for("gcp")) and not c.report.blind_spots
    assert c.report.retries >= 6 and sum(fake.fail_next.values()) == 0


async def test_generic_faults_give_complete_identities() -> None:
    knobs = Knobs(error_rate=0.05, throttle_rate=0.05, truncate_rate=0.05, retry_after=0.05, seed=3, fault_limit=12)
    with running(knobs=knobs) as fake:
        c = connector(fake)
        ids = await scan(c)
    assert set(by_native(ids)) == {e.native_id for e in fake.world.expected_for("gcp")}
    assert c.report.retries >= 1


async def test_page_token_loop_is_stopped_with_a_blind_spot() -> None:
    with running(knobs=Knobs(page_size=2)) as fake:
        fake.cycle_tokens = True
        c = connector(fake)
        ids = await scan(c)
    assert set(by_native(ids)) == {e.native_id for e in fake.world.expected_for("gcp")}
    assert any("repeats an earlier one" in b.reason for b in c.report.blind_spots)


async def test_listed_projects_and_an_unreadable_one(fake: GcpFake) -> None:
    c = connector(fake, organization="", projects=["acme-staging", "acme-missing"])
    ids = await scan(c)
    assert {i.target for i in ids} == {"acme-staging"}
    assert any(b.what == "project acme-missing" for b in c.report.blind_spots)
    with pytest.raises(ConnectorError, match="no project could be read"):
        await scan(connector(fake, organization="", projects=["acme-missing"]))


# --- secrets ------------------------------------------------------------------------------------


async def test_canary_token_never_leaves(tmp_path: Any, caplog: pytest.LogCaptureFixture,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from nhitui.collect import Collector
    from nhitui.export import render
    from nhitui.inventory import Inventory
    from nhitui.journal import Journal
    from nhitui.revoke import Revoker

    caplog.set_level(logging.DEBUG)
    canary, canary_ro = "ya29.CANARY-gcp-7f3e-write", "ya29.CANARY-gcp-7f3e-read"
    with running(token=canary, readonly_token=canary_ro, deny={"orgpolicy": "IAM_PERMISSION_DENIED"}) as fake:
        for name, value in fake.env.items():
            monkeypatch.setenv(name, value)
        sources = [{**fake.source("acme-gcp", readonly=True), **FAST}]
        inventory = Inventory()
        statuses = await Collector(inventory, sources).run()
        assert statuses["acme-gcp"].count == len(fake.world.expected_for("gcp"))
        journal_path = tmp_path / "journal.jsonl"
        revoker = Revoker(inventory, sources, Journal(journal_path))
        key = next(i for i in inventory if i.kind == "sa_key" and i.status == "active" and i.actions)
        outcomes = await revoker.execute(revoker.plan([key.uid]))
        assert outcomes[0].state == "ok" and fake.key(key.owner, key.native_id)["disabled"] is True
        failing = next(i for i in inventory if i.kind == "gcp_service_account" and i.actions)
        bad = Revoker(inventory, [{**sources[0], "revoke_token": "env:NOPE_NOT_SET"}], Journal(journal_path))
        await bad.execute(bad.plan([failing.uid]))
        text = "\n".join([render(list(inventory), statuses, "json"), render(list(inventory), statuses, "csv"),
                          journal_path.read_text(), caplog.text, repr(statuses),
                          json.dumps([repr(dict(i.details)) for i in inventory])])
    assert "CANARY" not in text and "7f3e" not in text
    assert "last authentication before disabling" in journal_path.read_text()
    assert io.StringIO(text).read()


async def test_hostile_objects_are_skipped_or_sanitised() -> None:
    with running() as fake:
        s = fake.state
        s.accounts["acme-staging"] += [
            {"email": "no-unique-id@acme-staging.iam.gserviceaccount.com"},            # no uniqueId: skipped
            {"uniqueId": "123", "email": 42},                                           # wrong type: skipped
            {"uniqueId": "999000111", "email": "evil\x1b[2J@acme-staging.iam.gserviceaccount.com",
             "displayName": "[bold]x\u202e", "disabled": "yes"},
        ]
        s.keys["evil\x1b[2J@acme-staging.iam.gserviceaccount.com"] = [
            {"name": "garbage"}, {"name": "projects/p/serviceAccounts/x/keys/abc", "validAfterTime": "not a date",
                                  "validBeforeTime": 12, "keyType": "USER_MANAGED"}]
        pool = next(iter(s.providers))
        s.providers[pool] += [
            {"name": f"{pool}/providers/../../../serviceAccounts/x", "state": "ACTIVE"},   # not a provider name
            {"name": f"{pool}/providers/ctl", "state": "ACTIVE", "attributeMapping": {"google.subject": 7},
             "attributeCondition": "assertion.sub == 'a\x1b]52;c;x\x07'", "oidc": {"issuerUri": ["x"]}}]
        c = connector(fake)
        ids = await scan(c)
    names = {i.name for i in ids}
    assert "evil\ufffd[2J@acme-staging.iam.gserviceaccount.com" in names
    evil = next(i for i in ids if i.name.startswith("evil"))
    assert evil.status == "active"                      # "disabled": "yes" is not the documented true
    odd_key = next(i for i in ids if i.native_id == "abc")
    assert odd_key.created_at is None and odd_key.expires_at is None
    assert not any("/../" in i.uid for i in ids)
    ctl = next(i for i in ids if i.name.endswith("/ctl"))
    assert "\x1b" not in json.dumps(ctl.details["attribute_condition"]) and ctl.actions == ("disable",)
    assert all("\x1b" not in repr(t) for t in ctl.details[TRUSTS_DETAIL])


def test_nhitui_scan_with_only_a_gcp_source() -> None:
    """`nhitui scan` on a config holding only the GCP source: every planted identity with its findings."""
    import os
    import subprocess
    import sys

    from nhitui.model import make_uid
    from nhitui.sandbox.chain import SOURCE_NAMES, Sandbox

    world = World(seed=5)
    canary = "ya29.CANARY-gcp-cli-91b0"
    with Sandbox(world, providers=("gcp",), gcp={"token": canary, "extra_projects": 0}) as sandbox:
        path = sandbox.write_config()
        proc = subprocess.run([sys.executable, "-m", "nhitui", "--config", str(path), "scan", "--format", "json",
                               "--no-save"], capture_output=True, text=True, timeout=180, env=dict(os.environ))
    assert proc.returncode == 0, proc.stderr[-1000:]
    doc = json.loads(proc.stdout)
    assert [(s["name"], s["status"]) for s in doc["sources"]] == [("acme-gcp", "ok")]
    got = {row["uid"]: set(row["findings"]) for row in doc["identities"]}
    expected = {make_uid(SOURCE_NAMES["gcp"], e.kind, e.native_id): set(e.findings)
                for e in world.expected_for("gcp")}
    assert got == expected
    assert canary not in proc.stdout + proc.stderr and "CANARY" not in proc.stdout + proc.stderr


async def test_adc_service_account_key_file_and_renewal_on_401(tmp_path: Any, monkeypatch: pytest.MonkeyPatch,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    """Application Default Credentials from a key file (OAuth JWT-bearer grant at its token_uri); the access
    token expires mid-scan (401) and is renewed without losing a row; the key file's path is never shown."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    caplog.set_level(logging.DEBUG)
    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    with running() as fake:
        key_file = tmp_path / "adc-dir-7c1" / "sa.json"
        key_file.parent.mkdir()
        key_file.write_text(json.dumps({
            "type": "service_account", "project_id": "acme-sec", "private_key_id": "0" * 40, "private_key": pem,
            "client_email": READ_SA, "client_id": "1", "token_uri": f"{fake.endpoints['iam']}/token"}))
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file))
        fake.expire_minted_after = 40
        source = {**fake.source("t-gcp"), **FAST}
        source.pop("token")
        c = GcpConnector(source, lambda ref: pytest.fail(f"no reference should be resolved ({ref})"))
        ids = await scan(c)
        assert len(ids) == len(fake.world.expected_for("gcp")) and not c.report.blind_spots
        assert len(fake.minted) >= 2 and set(fake.minted.values()) == {"read"}     # renewed after a 401
        unknown = {**source, "endpoints": {**fake.endpoints, "iam": fake.endpoints["iam"]}}
        fake.impersonable.pop(READ_SA)
        with pytest.raises(AuthError) as err:
            await scan(GcpConnector(unknown, lambda ref: ""))
    assert "Application Default Credentials" in str(err.value)
    assert "adc-dir-7c1" not in str(err.value) + caplog.text + repr(c.report)


def test_last_use_claims_never_used_only_inside_this_projects_own_window() -> None:
    from datetime import datetime, timedelta, timezone

    from connectors.gcp.activity import Usage
    from connectors.gcp.identities import last_use

    now = datetime(2026, 12, 1, tzinfo=timezone.utc)
    start, end = now - timedelta(days=60), now - timedelta(days=1)
    other_projects_window = now - timedelta(days=400)
    # No entry and no window for this project: unknown, whatever another project's window says.
    assert last_use("k", now - timedelta(days=10), Usage(), other_projects_window)[1] is False
    window = Usage(window_start=start, window_end=end)
    assert last_use("k", now - timedelta(days=10), window, None)[1] is True            # never seen in-window
    assert last_use("k", now - timedelta(hours=5), window, None)[1] is False          # born after the cut-off
    assert last_use("k", now - timedelta(days=90), window, None)[1] is False          # older than the window
