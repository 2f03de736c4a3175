"""The AWS connector against moto's server seeded by the sandbox, over real HTTP.

A small world keeps this file quick; benchmarks/bench_aws.py runs the big ones. One moto server
serves the module (moto's state is per process); tests that change something put it back or
act on objects they created themselves.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from botocore.stub import Stubber

from connectors.aws import AwsConnector, UserCtx, action_privilege, document_privilege
from connectors.aws.actions import with_actions
from connectors.aws.credentials import list_ssc_all, list_ssc_user, service_credential
from connectors.base import AuthError, ConnectorError
from nhitui.model import utc
from nhitui.policy import evaluate
from nhitui.sandbox.aws import AwsFake, ground_truth_diff
from nhitui.sandbox.world import World
from tests.helpers import aws_running

SOURCE = "acme-aws"
TOLERANCE = timedelta(minutes=3)


@pytest.fixture(scope="module")
def fake():
    with aws_running(World(iam_users=12, access_keys=20, roles=13)) as f:
        yield f


@pytest.fixture(scope="module")
def clean(fake):
    """One scan of the untouched account, shared by the read-only tests: (connector, identities)."""
    c = connector(fake)
    return c, asyncio.run(scan(c))


def connector(fake: AwsFake, **settings) -> AwsConnector:
    return AwsConnector({**fake.source(SOURCE), **settings}, lambda ref: "", **settings.pop("_kw", {}))


async def scan(c: AwsConnector) -> list:
    return [i for batch in [b async for b in c.collect()] for i in batch]


def by_uid(rows) -> dict:
    return {i.uid: i for i in rows}


def same_time(got, want, tol=TOLERANCE) -> bool:
    if want is None or got is None:
        return got is None and want is None
    return abs(utc(got) - utc(want)) <= tol


# --- inventory -----------------------------------------------------------------------------------------

async def test_ground_truth_field_by_field(fake, clean):
    c, rows = clean
    expected = {f"{SOURCE}:{e.kind}:{e.native_id}": e for e in fake.world.expected_for("aws")}
    problems = ground_truth_diff(rows, fake.world, SOURCE)
    assert not problems, "\n".join(problems)
    # Planted findings under the default policy (admin-scope, oidc-*, static-where-federation-exists).
    scored = by_uid(evaluate(rows))
    wrong = [(e.kind, scored[u].name, sorted(scored[u].finding_ids), sorted(e.findings))
             for u, e in expected.items() if set(scored[u].finding_ids) != set(e.findings)]
    assert not wrong, wrong
    assert c.report.blind_spots == [] and c.report.error == ""
    assert c.report.facts["account"] == fake.world.aws_account
    kinds = {i.kind for i in rows}
    assert kinds == {"iam_user", "access_key", "ssh_public_key", "signing_certificate", "service_credential",
                     "iam_role", "oidc_provider", "secret"}
    # Every request is counted: the connector's count matches what reached the server.
    assert c.report.requests >= len(fake.world.expected_for("aws")) // 4


async def test_planted_ages_raise_the_staleness_findings(fake, clean):
    """The demo account is lived in: moto's objects are backdated, and the findings follow from the ages."""
    scored = evaluate(clean[1])
    fired = {r for i in scored if i.provider == "aws" for r in i.finding_ids}
    assert {"stale-unused", "never-used", "old-rotation", "two-active-keys"} <= fired
    now = datetime.now(timezone.utc)
    keys = [i for i in scored if i.kind == "access_key"]
    assert max(now - i.created_at for i in keys) > timedelta(days=400)
    inactive_old = [i for i in keys if i.status == "inactive" and now - i.created_at > timedelta(days=365)]
    assert inactive_old and all("stale-unused" in i.finding_ids for i in inactive_old)
    never = [i for i in keys if i.last_used_at is None and now - i.created_at > timedelta(days=30)]
    assert never and all("never-used" in i.finding_ids for i in never)
    # The user: keys 60 and 5 days old, both used yesterday: two live credentials, flagged
    # although the newer key is inside the rotation grace.
    rotating = sorted((i for i in keys if i.owner == "ci-api"), key=lambda i: i.created_at)
    assert [(now - i.created_at).days for i in rotating] == [60, 5]
    assert all((now - i.last_used_at).days == 1 and "two-active-keys" in i.finding_ids for i in rotating)
    roles = {i.name: i for i in scored if i.kind == "iam_role"}
    assert (now - roles["OrganizationAdmin"].last_used_at).days == 200
    assert "stale-unused" in roles["OrganizationAdmin"].finding_ids
    assert roles["gha-api-deploy"].details["last_used_region"] == "us-east-1"
    # The credential report carries the same planted dates (moto builds it from the same objects).
    iam = fake.client("iam")
    iam.generate_credential_report()
    report = iam.get_credential_report()["Content"].decode()
    assert rotating[0].created_at.strftime("%Y-%m-%dT%H:%M:%S") in report


async def test_role_trusts_resolve_to_repos_and_refs(fake, clean):
    rows = {i.name: i for i in clean[1] if i.kind == "iam_role"}
    org = fake.world.org

    def summary(name):
        return [(t["provider"], tuple(t["repos"]), tuple(t["refs"]), t["wildcard_sub"], t["no_sub"], t["aud_only"])
                for t in rows[name].details["trusts"]]

    assert summary("gha-api-deploy") == [("github", (f"{org}/api",), ("refs/heads/main",), False, False, False)]
    assert summary("gha-web-production") == [("github", (f"{org}/web",), ("environment:production",), False, False,
                                              False)]
    assert summary("gha-org-wildcard") == [("github", (f"{org}/*",), ("*",), True, False, False)]
    assert summary("gha-no-sub") == [("github", ("*",), ("*",), False, True, False)]
    assert summary("gha-aud-only") == [("github", ("*",), ("*",), False, False, True)]
    assert summary("gitlab-deploy")[0][:3] == ("gitlab", (fake.world.project_paths()[2],), ("refs/heads/main",))
    assert summary("gitlab-release") == [("gitlab", (f"{org}/apps/*",), ("refs/tags/v*",), True, False, False)]
    assert summary("OrganizationAdmin") == [] and rows["OrganizationAdmin"].credential == "ephemeral"
    assert rows["gha-api-deploy"].credential == "federated"
    generated = [n for n in rows if n.startswith("gha-") and "-deploy-" in n]
    assert generated and all(len(rows[n].details["trusts"][0]["refs"]) == 2 for n in generated)
    release = [n for n in rows if "-release-" in n]
    assert release and all(rows[n].details["trusts"][0]["refs"] == ["refs/tags/v*"] for n in release)
    # OIDC providers know which roles trust them.
    providers = {i.name: i for i in clean[1] if i.kind == "oidc_provider"}
    gh = providers["token.actions.githubusercontent.com"]
    assert "gha-no-sub" in gh.details["roles"] and gh.details["client_ids"] == ["sts.amazonaws.com"]


async def test_credential_report_path_gives_the_same_answer_with_fewer_calls(fake, clean):
    api = by_uid(clean[1])
    before = fake.calls[("iam", "GetAccessKeyLastUsed")]
    generated = datetime(2015, 2, 2, 20, 2, 2, tzinfo=timezone.utc)   # moto's fixed GeneratedTime
    c = connector(fake, _kw={"clock": lambda: generated + timedelta(hours=1)})
    report = by_uid(await scan(c))
    per_key = fake.calls[("iam", "GetAccessKeyLastUsed")] - before
    keys = [u for u in report if ":access_key:" in u]
    assert c.report.facts["credential_report"][fake.world.aws_account].startswith("fresh")
    # Only keys the report cannot tell apart (two keys of one user created in the same second) cost a call.
    assert per_key < len(keys) * 3 // 4, per_key
    for uid in keys:
        assert report[uid].status == api[uid].status
        assert same_time(report[uid].last_used_at, api[uid].last_used_at, timedelta(seconds=1))
    users = [u for u in report if ":iam_user:" in u]
    assert all(report[u].details["has_console_password"] == api[u].details["has_console_password"] for u in users)
    assert fake.calls[("iam", "GetLoginProfile")] > 0 and any(
        report[u].details["has_console_password"] for u in users)


async def test_hostile_text_is_sanitized_and_no_secret_value_surfaces(fake, clean):
    c, rows = clean
    names = {i.name for i in rows}
    assert "=1+2" in names                     # a legal IAM user name that is a spreadsheet formula
    npm = next(i for i in rows if i.kind == "secret" and i.name == "ci/npm-token")
    assert "\x1b" not in npm.details["description"] and "\ufffd" in npm.details["description"]
    text = repr(rows) + repr(c.report)
    leaked = [v for v in fake.canaries if v in text]
    assert not leaked


# --- actions ---------------------------------------------------------------------------------------------

def key_states(fake) -> dict[str, str]:
    iam = fake.client("iam")
    return {k["AccessKeyId"]: k["Status"] for u in iam.list_users()["Users"]
            for k in iam.list_access_keys(UserName=u["UserName"])["AccessKeyMetadata"]}


async def test_deactivate_then_activate_restores_a_key_exactly(fake):
    c = connector(fake)
    rows = await scan(c)
    key = next(i for i in rows if i.kind == "access_key" and i.status == "active" and i.last_used_at)
    names = [a.name for a in c.actions(key)]
    assert names == ["deactivate", "delete"]
    before = key_states(fake)
    writes = fake.writes()
    done = await c.execute(key, "deactivate")
    assert done.state == "ok" and done.identity.status == "inactive" and not done.removed
    after = key_states(fake)
    assert after[key.name] == "Inactive"
    assert {k: v for k, v in after.items() if k != key.name} == {k: v for k, v in before.items() if k != key.name}
    assert fake.writes() == writes + 1
    assert [a.name for a in c.actions(done.identity)] == ["activate", "delete"]
    back = await c.execute(done.identity, "activate")
    assert back.state == "ok" and back.identity == key and dict(back.identity.details) == dict(key.details)
    assert key_states(fake) == before
    rescanned = by_uid(await scan(connector(fake)))[key.uid]
    assert rescanned == key


async def test_delete_removes_only_that_key(fake):
    iam = fake.client("iam")
    user = "tmp-delete-test"
    iam.create_user(UserName=user)
    created = iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]
    c = connector(fake)
    rows = by_uid(await scan(c))
    key = rows[f"{SOURCE}:access_key:{created}"]
    before = key_states(fake)
    result = await c.execute(key, "delete")
    assert result.state == "ok" and result.removed
    after = key_states(fake)
    assert created not in after and {k: v for k, v in before.items() if k != created} == after
    again = await c.execute(key, "delete")
    assert again.state == "already-absent"
    iam.delete_user(UserName=user)


async def test_ssh_key_signing_cert_and_service_credential_deactivate_activate(fake):
    c = connector(fake)
    rows = await scan(c)
    for kind in ("ssh_public_key", "signing_certificate", "service_credential"):
        item = next(i for i in rows if i.kind == kind and i.status == "active")
        off = await c.execute(item, "deactivate")
        assert off.state == "ok" and off.identity.status == "inactive", (kind, off)
        on = await c.execute(off.identity, "activate")
        assert on.state == "ok" and on.identity == item, kind


async def test_revoke_sessions_adds_exactly_one_policy_and_restore_removes_it(fake):
    iam = fake.client("iam")
    c = connector(fake)
    roles = {i.name: i for i in await scan(c) if i.kind == "iam_role"}
    role = roles["gha-api-deploy"]

    def policies():
        return {r: sorted(iam.list_role_policies(RoleName=r)["PolicyNames"]) for r in fake.seeded["roles"]}

    before = policies()
    assert [a.name for a in c.actions(role)] == ["revoke-sessions"]
    result = await c.execute(role, "revoke-sessions")
    assert result.state == "ok"
    after = policies()
    assert after[role.name] == sorted([*before[role.name], "AWSRevokeOlderSessions"])
    assert {r: p for r, p in after.items() if r != role.name} == {r: p for r, p in before.items() if r != role.name}
    doc = iam.get_role_policy(RoleName=role.name, PolicyName="AWSRevokeOlderSessions")["PolicyDocument"]
    st = doc["Statement"][0]
    assert st["Effect"] == "Deny" and st["Action"] == ["*"]
    issued = utc(st["Condition"]["DateLessThan"]["aws:TokenIssueTime"])
    assert abs(issued - datetime.now(timezone.utc)) < timedelta(minutes=2)
    fresh = result.identity
    assert fresh.details["sessions_revoked_before"] and fresh.privilege == role.privilege
    assert [a.name for a in c.actions(fresh)] == ["revoke-sessions", "restore-sessions"]
    undo = await c.execute(fresh, "restore-sessions")
    assert undo.state == "ok" and policies() == before
    assert undo.identity.scopes == role.scopes and undo.identity.details["sessions_revoked_before"] is None


async def test_revoke_sessions_refused_on_a_service_linked_role(fake):
    c = connector(fake)
    role = next(i for i in await scan(c) if i.kind == "iam_role" and i.details["service_linked"])
    assert c.actions(role) == []
    puts = fake.calls[("iam", "PutRolePolicy")]
    refused = await c.execute(role, "revoke-sessions")
    assert refused.state == "failed"
    # Even when the inventory is stale about it, the provider's answer is checked before writing.
    stale = replace(role, details={**role.details, "service_linked": False})
    refused = await c.execute(stale, "revoke-sessions")
    assert refused.state == "failed" and "service-linked" in refused.message
    assert fake.calls[("iam", "PutRolePolicy")] == puts


async def test_secret_delete_is_reversible_with_restore(fake):
    c = connector(fake)
    secret = next(i for i in await scan(c) if i.kind == "secret" and i.name == "legacy/stripe-api-key")
    assert [a.name for a in c.actions(secret)] == ["delete"]
    gone = await c.execute(secret, "delete")
    assert gone.state == "ok" and gone.identity.status == "inactive" and gone.identity.details["deletion_date"]
    assert [a.name for a in c.actions(gone.identity)] == ["restore"]
    back = await c.execute(gone.identity, "restore")
    assert back.state == "ok" and back.identity.status == "active" and back.identity.uid == secret.uid


async def test_revoke_profile_is_the_write_identity(fake, tmp_path, monkeypatch):
    creds = tmp_path / "credentials"
    creds.write_text(f"[reader]\naws_access_key_id = {fake.readonly_key}\naws_secret_access_key = x\n"
                     f"[writer]\naws_access_key_id = testing\naws_secret_access_key = testing\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(creds))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(k)
    reader = connector(fake, profile="reader")
    key = next(i for i in await scan(reader) if i.kind == "access_key" and i.status == "active")
    denied = await reader.execute(key, "deactivate")
    assert denied.state == "failed" and denied.status_code == 403 and "AccessDenied" in denied.message
    writer = connector(fake, profile="reader", revoke_profile="writer")
    off = await writer.execute(key, "deactivate")
    assert off.state == "ok" and off.identity.status == "inactive"
    on = await writer.execute(off.identity, "activate")
    assert on.identity == key


# --- accounts, blind spots, failures -------------------------------------------------------------------

async def test_two_accounts_one_role_not_assumable(fake):
    good, bad = "222222222222", "333333333333"
    iam = fake.client("iam", account=good)
    iam.create_user(UserName="ci-other")
    key = iam.create_access_key(UserName="ci-other")["AccessKey"]["AccessKeyId"]
    fake.deny.add(f"sts:AssumeRole@{bad}")
    try:
        c = connector(fake, accounts=[good, bad], role_name="NHIAuditor")
        rows = await scan(c)
    finally:
        fake.deny.discard(f"sts:AssumeRole@{bad}")
    assert {i.target for i in rows} == {good}
    assert f"{SOURCE}:access_key:{key}" in by_uid(rows)
    assert any(i.kind == "iam_user" and i.name == "ci-other" for i in rows)
    spots = {b.what: b.reason for b in c.report.blind_spots}
    assert list(spots) == [f"account {bad}"]
    assert "AccessDenied" in spots[f"account {bad}"] and f"arn:aws:iam::{bad}:role/NHIAuditor" in spots[f"account {bad}"]
    assert c.report.facts["accounts"] == [good]

    fake.deny.add("sts:AssumeRole")
    try:
        with pytest.raises(ConnectorError, match="AccessDenied"):
            await scan(connector(fake, accounts=[good, bad], role_name="NHIAuditor"))
    finally:
        fake.deny.discard("sts:AssumeRole")


async def test_organization_mode_scans_every_active_account(fake):
    org = fake.client("organizations")
    org.create_organization(FeatureSet="ALL")
    member = org.create_account(AccountName="dev", Email="dev@acme.example")["CreateAccountStatus"]
    member_id = member.get("AccountId") or next(a["Id"] for a in org.list_accounts()["Accounts"]
                                                 if a["Id"] != fake.world.aws_account)
    fake.client("iam", account=member_id).create_user(UserName="dev-deployer")
    c = connector(fake, organization=True, role_name="OrganizationAccountAccessRole")
    rows = await scan(c)
    assert set(c.report.facts["accounts"]) == {fake.world.aws_account, member_id}
    assert any(i.name == "dev-deployer" and i.target == member_id for i in rows)
    assert sum(i.target == fake.world.aws_account for i in rows) == len(fake.world.expected_for("aws"))
    assert c.report.blind_spots == []


async def test_organization_mode_reads_the_management_account_with_its_own_credentials(fake, monkeypatch):
    """AWS creates OrganizationAccountAccessRole only in members: the management account (the caller's)
    is read with the configured credentials. moto's IAM authorization is on, and with it the fake
    refuses AssumeRole on a role that does not exist, as AWS does."""
    from moto.core import enable_iam_authentication

    mgmt = "555566667777"
    iam = fake.client("iam", account=mgmt)
    iam.create_user(UserName="org-auditor")
    iam.attach_user_policy(UserName="org-auditor", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    auditor = iam.create_access_key(UserName="org-auditor")["AccessKey"]
    iam.create_user(UserName="mgmt-deployer")
    mgmt_key = iam.create_access_key(UserName="mgmt-deployer")["AccessKey"]["AccessKeyId"]
    org = fake.client("organizations", account=mgmt)
    org.create_organization(FeatureSet="ALL")
    org.create_account(AccountName="dev", Email="dev@acme.example")
    member = next(a["Id"] for a in org.list_accounts()["Accounts"] if a["Id"] != mgmt)
    member_iam = fake.client("iam", account=member)
    member_iam.attach_role_policy(RoleName="OrganizationAccountAccessRole",
                                  PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    member_iam.create_user(UserName="dev-deployer")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", auditor["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", auditor["SecretAccessKey"])
    with enable_iam_authentication():
        c = connector(fake, organization=True, role_name="OrganizationAccountAccessRole")
        rows = await scan(c)
        # The same credentials assuming the role in the management account, where it does not exist.
        with pytest.raises(ConnectorError, match=f"AccessDenied.*{mgmt}:role/OrganizationAccountAccessRole"):
            await scan(connector(fake, accounts=[mgmt], role_name="OrganizationAccountAccessRole"))
    assert c.report.blind_spots == [] and sorted(c.report.facts["accounts"]) == sorted([mgmt, member])
    found = {(i.kind, i.name, i.target) for i in rows}
    assert {("iam_user", "mgmt-deployer", mgmt), ("access_key", mgmt_key, mgmt), ("iam_user", "org-auditor", mgmt),
            ("iam_user", "dev-deployer", member)} <= found


async def test_profiles_with_expired_credentials_name_the_account(fake, tmp_path, monkeypatch):
    creds = tmp_path / "credentials"
    creds.write_text("[good]\naws_access_key_id = testing\naws_secret_access_key = testing\n"
                     "[stale-sso]\naws_access_key_id = ASIAEXPIREDEXAMPLE\naws_secret_access_key = x\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(creds))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    fake.expired_keys.add("ASIAEXPIREDEXAMPLE")
    try:
        c = connector(fake, profiles=["good", "stale-sso"])
        rows = await scan(c)
    finally:
        fake.expired_keys.discard("ASIAEXPIREDEXAMPLE")
    assert len(rows) == len(fake.world.expected_for("aws")) or len(rows) > 50
    spots = {b.what: b.reason for b in c.report.blind_spots}
    assert "account stale-sso" in spots and "ExpiredToken" in spots["account stale-sso"]


async def test_denied_endpoint_is_a_blind_spot_not_an_empty_list(fake):
    fake.deny.add("iam:ListSSHPublicKeys")
    try:
        c = connector(fake)
        rows = await scan(c)
    finally:
        fake.deny.discard("iam:ListSSHPublicKeys")
    assert not any(i.kind == "ssh_public_key" for i in rows)
    assert any(i.kind == "access_key" for i in rows)
    spot = next(b for b in c.report.blind_spots if "ListSSHPublicKeys" in b.what)
    assert fake.world.aws_account in spot.what and "needs iam:ListSSHPublicKeys" in spot.reason


async def test_unknown_credentials_raise_auth_error(fake, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIANOTAREALKEY00000")
    with pytest.raises(AuthError, match="InvalidClientTokenId"):
        await scan(connector(fake))


async def test_credentials_expiring_mid_scan_is_a_clear_source_error(fake):
    fake.expire_after(25)                 # roles are listed by then; the per-user calls are not
    try:
        c = connector(fake)
        rows = await scan(c)
    finally:
        fake.expire_after(None)
    assert rows and "mid-scan" in c.report.error and "ExpiredToken" in c.report.error
    assert any(b.what == f"account {fake.world.aws_account}" for b in c.report.blind_spots)
    fake.expire_after(0)                  # expired before anything was read: the source fails, clearly
    try:
        with pytest.raises(AuthError, match="ExpiredToken"):
            await scan(connector(fake))
    finally:
        fake.expire_after(None)


async def test_throttling_and_5xx_are_retried_and_counted(fake, clean):
    clean = set(by_uid(clean[1]))
    # Three throttles once the scan is under way (deterministic), and 10% of 500/503 answers. The
    # client's AIMD limiter paces the whole client after a throttle, so a few are enough.
    fake.throttle_next(3, after=20)
    fake.knobs.error_rate = 0.1
    try:
        c = connector(fake)
        rows = await asyncio.wait_for(scan(c), timeout=45)
    finally:
        fake.knobs.error_rate = 0.0
        fake.throttle_next(0)
    got = set(by_uid(rows))
    assert got == clean or (got < clean and c.report.blind_spots), (clean - got, c.report.blind_spots)
    assert c.report.facts["throttled"] == 3 and c.report.retries >= 3
    assert c.report.requests >= len(rows) // 2


async def test_an_endpoint_down_for_good_is_a_blind_spot_after_bounded_retries(fake):
    fake.fail["secretsmanager:ListSecrets"] = 503
    try:
        c = connector(fake)
        c.max_attempts = 2                   # 10 in production; the backoff would make this test slow
        rows = await scan(c)
    finally:
        fake.fail.clear()
    assert not any(i.kind == "secret" for i in rows) and any(i.kind == "access_key" for i in rows)
    spots = {b.what: b.reason for b in c.report.blind_spots}
    for region in fake.regions:
        what = f"{fake.world.aws_account}: secretsmanager:ListSecrets ({region})"
        assert "ServiceUnavailable" in spots[what] and "503" in spots[what]


# --- service-specific credentials (moto lacks them) ---------------------------------------------------
# moto 5 does not implement ListServiceSpecificCredentials & co. The sandbox's front answers them for
# the demo, but this test checks the connector against the documented response shape with botocore's
# Stubber: AllUsers with Marker pagination, the per-user fallback, and the mapping to identities.

def test_service_specific_credentials_with_stubber():
    import boto3

    c = AwsConnector({"type": "aws", "name": SOURCE}, lambda ref: "")
    iam = boto3.client("iam", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    created = datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    item = {"UserName": "ci-api", "Status": "Active", "ServiceUserName": "ci-api-at-123456789012",
            "CreateDate": created, "ServiceSpecificCredentialId": "ACCAEXAMPLE1ABCDEFGHIJ", "ServiceName": "codecommit.amazonaws.com"}
    bedrock = {"UserName": "ml-bot", "Status": "Expired", "ServiceUserName": "ml-bot+1",
               "ServiceCredentialAlias": "ml-bot+1-at-123", "CreateDate": created,
               "ExpirationDate": created + timedelta(days=30), "ServiceSpecificCredentialId": "ACCAEXAMPLE2ABCDEFGHIJ",
               "ServiceName": "bedrock.amazonaws.com"}
    with Stubber(iam) as stub:
        stub.add_response("list_service_specific_credentials",
                          {"ServiceSpecificCredentials": [item], "IsTruncated": True, "Marker": "m1"},
                          {"AllUsers": True})
        stub.add_response("list_service_specific_credentials",
                          {"ServiceSpecificCredentials": [bedrock], "IsTruncated": False}, {"AllUsers": True, "Marker": "m1"})
        listed = list_ssc_all(iam)
        stub.add_client_error("list_service_specific_credentials", service_error_code="ValidationError",
                              http_status_code=400, expected_params={"AllUsers": True})
        assert list_ssc_all(iam) is None                      # AllUsers refused: per user instead
        stub.add_response("list_service_specific_credentials",
                          {"ServiceSpecificCredentials": [item], "IsTruncated": False}, {"UserName": "ci-api"})
        assert list_ssc_user(iam, "ci-api") == [item]
        stub.assert_no_pending_responses()
    assert [x["ServiceSpecificCredentialId"] for x in listed] == ["ACCAEXAMPLE1ABCDEFGHIJ", "ACCAEXAMPLE2ABCDEFGHIJ"]
    ctx = UserCtx(name="ml-bot", arn="arn:aws:iam::123456789012:user/ml-bot", privilege="write",
                   scopes=("inline:bedrock",), tags={})
    ident = with_actions(service_credential(c.name, bedrock, "123456789012", ctx, None))
    assert (ident.kind, ident.name, ident.owner, ident.status) == ("service_credential", "ml-bot+1", "ml-bot", "expired")
    assert ident.uid == f"{SOURCE}:service_credential:123456789012:ACCAEXAMPLE2ABCDEFGHIJ"
    assert ident.expires_at == created + timedelta(days=30) and ident.created_at == created
    assert ident.details["service"] == "bedrock.amazonaws.com" and not ident.usage_tracked
    assert ident.actions == ("delete",)
    active = with_actions(service_credential(c.name, item, "123456789012", replace(ctx, name="ci-api"), None))
    assert active.actions == ("deactivate", "delete")


# --- the scale: 200 users, 400 keys, 50 roles ------------------------------------------------------

async def test_ground_truth_at_200_users_400_keys_50_roles_in_another_account(fake):
    """The big world lives in its own account of the same moto server, reached by AssumeRole."""
    big = World(iam_users=200, access_keys=400, roles=50, aws_account="444455556666")
    fake.seed_world(big)
    c = connector(fake, accounts=[big.aws_account], role_name="NHIAuditor")
    rows = await scan(c)
    assert len(rows) == len(big.expected_for("aws")) > 700
    problems = ground_truth_diff(rows, big, SOURCE)
    assert not problems, "\n".join(problems[:20])
    scored = by_uid(evaluate(rows))
    wrong = [(e.kind, e.native_id) for e in big.expected_for("aws")
             if set(scored[f"{SOURCE}:{e.kind}:{e.native_id}"].finding_ids) != set(e.findings)]
    assert not wrong, wrong[:10]
    assert c.report.blind_spots == [] and c.report.facts["accounts"] == [big.aws_account]


# --- privilege from policy documents --------------------------------------------------------------------

def test_privilege_of_policy_documents():
    assert action_privilege("*") == "admin" and action_privilege("iam:*") == "admin"
    assert action_privilege("s3:GetObject") == "read" and action_privilege("s3:List*") == "read"
    assert action_privilege("s3:*") == "write" and action_privilege("s3:PutObject") == "write"
    doc = {"Statement": [{"Effect": "Allow", "Action": ["s3:Get*"], "Resource": "*"},
                         {"Effect": "Deny", "Action": "*", "Resource": "*"}]}
    assert document_privilege(doc) == "read"
    assert document_privilege(json.dumps({"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}})) == "admin"
    assert document_privilege({"Statement": [{"Effect": "Allow", "NotAction": ["iam:*", "organizations:*"],
                                              "Resource": "*"}]}) == "write"
    assert document_privilege({"Statement": [{"Effect": "Allow", "NotAction": "s3:*", "Resource": "*"}]}) == "admin"
    assert document_privilege("not json") == "none" and document_privilege(None) == "none"
