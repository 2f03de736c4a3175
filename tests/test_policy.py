"""Staleness at its boundaries and the risk rules."""

from __future__ import annotations

import pytest

from nhitui.model import SourceStatus
from nhitui.policy import Graph, Policy, evaluate
from tests.helpers import NOW, days, ident


def score(i, policy=None, statuses=None):
    return evaluate([i], statuses, policy or Policy(), NOW)[0]


def rules(i, **kw) -> set[str]:
    return {f.rule for f in score(i, **kw).findings}


@pytest.mark.parametrize("used, stale", [(89, False), (90, True), (91, True)])
def test_stale_after_days_boundary(used, stale):
    assert score(ident(last_used_at=days(used))).stale is stale


@pytest.mark.parametrize("age, stale", [(29, False), (30, True), (31, True)])
def test_never_used_grace_period(age, stale):
    assert score(ident(last_used_at=None, created_at=days(age))).stale is stale


def test_missing_dates_are_unknown_not_stale():
    assert not score(ident(last_used_at=None, created_at=None)).stale
    assert not score(ident(last_used_at=None, created_at=days(500), usage_tracked=False)).stale


def test_expired_but_present_is_stale_even_without_usage_data():
    i = score(ident(expires_at=days(1), usage_tracked=False, last_used_at=None))
    assert i.stale and "expired-present" in {f.rule for f in i.findings}


def test_thresholds_come_from_policy():
    assert not score(ident(last_used_at=days(100)), Policy(stale_after_days=120)).stale
    assert score(ident(last_used_at=days(50), kind="access_key"), Policy(kinds={"access_key": {"stale_after_days": 45}})).stale


def test_disabled_rule_does_not_fire():
    assert "stale-unused" not in rules(ident(last_used_at=days(200)), policy=Policy(disabled=frozenset({"stale-unused"})))


def test_revoked_rows_are_not_stale():
    assert not score(ident(last_used_at=days(200), status="revoked")).stale


def test_no_expiry_only_for_kinds_that_support_it():
    assert "no-expiry" in rules(ident(provider="gitlab", kind="personal_access_token", expires_at=None))
    assert "no-expiry" not in rules(ident(provider="github", kind="actions_secret", expires_at=None))


def test_old_rotation_boundary():
    assert "old-rotation" in rules(ident(created_at=days(366)))
    assert "old-rotation" not in rules(ident(created_at=days(364)))


def test_owner_departed_uses_members_and_ignores_bots():
    statuses = {"src": SourceStatus("src", "github", "ok", facts={"members": ["alice"]})}
    assert "owner-departed" in rules(ident(owner="mallory"), statuses=statuses)
    assert "owner-departed" not in rules(ident(owner="alice"), statuses=statuses)
    assert "owner-departed" not in rules(ident(owner="dependabot[bot]"), statuses=statuses)
    assert "owner-departed" not in rules(ident(owner="mallory"))   # membership unknown: no guess


def test_privilege_rules():
    assert "write-deploy-key" in rules(ident(privilege="write"))
    assert "admin-scope" in rules(ident(privilege="admin"))
    app = ident(kind="app_installation", privilege="write", details={"repository_selection": "all"})
    assert "app-all-repos-write" in rules(app)
    assert "pat-all-repos" in rules(ident(kind="fine_grained_pat", details={"repository_selection": "all"}))


def test_oidc_rules():
    def role(**trust):
        return ident(provider="aws", kind="iam_role", credential="federated",
                     details={"trusts": [{"host": "token.actions.githubusercontent.com", "repos": ["acme/*"], **trust}]})
    assert "oidc-wildcard-sub" in rules(role(wildcard_sub=True))
    assert "oidc-no-sub" in rules(role(no_sub=True))
    assert "oidc-aud-only" in rules(role(aud_only=True))


def test_secret_sprawl_and_org_visibility():
    secrets = [ident(n, kind="actions_secret", name="NPM_TOKEN", target=f"acme/r{n}", usage_tracked=False,
                     details={"secret_name": "NPM_TOKEN"}) for n in range(5)]
    scored = evaluate(secrets, None, Policy(), NOW)
    assert all("secret-name-sprawl" in {f.rule for f in s.findings} for s in scored)
    assert "secret-name-sprawl" not in {f.rule for s in evaluate(secrets[:4], None, Policy(), NOW) for f in s.findings}
    org = ident(kind="actions_secret", details={"scope": "org", "visibility": "all"}, usage_tracked=False)
    assert "org-secret-visible-to-all" in rules(org)


def test_static_where_federation_exists_and_graph_links():
    role = ident(1, provider="aws", kind="iam_role", name="deploy-api", credential="federated", target="123",
                 details={"trusts": [{"host": "token.actions.githubusercontent.com", "repos": ["acme/api"]}]})
    secret = ident(2, kind="actions_secret", name="AWS_ACCESS_KEY_ID", target="acme/api", usage_tracked=False,
                   details={"secret_name": "AWS_ACCESS_KEY_ID", "repo": "acme/api"})
    key = ident(3, provider="aws", kind="access_key", target="123", details={"user_tags": {"repo": "acme/api"}})
    scored = {i.uid: {f.rule for f in i.findings} for i in evaluate([role, secret, key], None, Policy(), NOW)}
    assert "static-where-federation-exists" in scored[secret.uid]
    assert "static-where-federation-exists" in scored[key.uid]
    graph = Graph([role, secret, key])
    assert graph.links(role)["assumable by"] == ["acme/api"]
    assert graph.links(secret)["can assume"] == ["deploy-api (aws iam_role, read)"]
    assert {role.uid, secret.uid} <= graph.reaches("acme/api")


def test_every_finding_has_severity_tag_and_explanation():
    i = score(ident(privilege="admin", last_used_at=days(300), created_at=days(800)))
    assert i.findings
    for f in i.findings:
        assert f.severity in ("low", "medium", "high", "critical")
        assert f.owasp.startswith("NHI")
        assert len(f.explanation) > 10


# --- two active access keys (a rotation that never finished) ---------------------------------------------

def two_keys(newer_age: float, older_age: float = 60, policy: Policy | None = None,
             newer_used: float | None = None, **kw):
    """Two access keys of one user (the older one changed by `kw`), scored together. The older key was
    used yesterday; the newer one `newer_used` days ago (None: not used yet)."""
    common = dict(provider="aws", kind="access_key", owner="ci-api", target="111122223333", privilege="write",
                  last_used_at=days(1), details={"account": "111122223333", "user": "ci-api"})
    old = ident(1, name="AKIAOLD", created_at=days(older_age), **{**common, **kw})
    new = ident(2, name="AKIANEW", created_at=days(newer_age),
                **{**common, "last_used_at": days(newer_used) if newer_used is not None else None})
    return evaluate([old, new], None, policy or Policy(), NOW)


@pytest.mark.parametrize("newer_age, found", [(6, False), (7, True), (8, True)])
def test_two_active_keys_after_the_rotation_grace(newer_age, found):
    """A second key not yet used is a rotation in progress for the grace period, then a finding."""
    old, new = two_keys(newer_age)
    assert ("two-active-keys" in old.finding_ids) is found and ("two-active-keys" in new.finding_ids) is found
    if found:
        text = next(f for f in new.findings if f.rule == "two-active-keys")
        assert (text.severity, text.owasp) == ("medium", "NHI7")
        assert "AKIAOLD (60 days old)" in text.explanation and f"AKIANEW ({newer_age} days old)" in text.explanation


def test_two_keys_both_in_use_are_flagged_within_the_grace():
    """The issue's seeded user: keys 60 and 5 days old, both used yesterday — two live credentials."""
    old, new = two_keys(5, newer_used=1)
    assert "two-active-keys" in old.finding_ids and "two-active-keys" in new.finding_ids
    text = next(f for f in old.findings if f.rule == "two-active-keys").explanation
    assert "AKIAOLD (60 days old)" in text and "AKIANEW (5 days old)" in text and "Both have been used" in text
    # The old key last used before the new one existed: consumers moved, a rotation in progress.
    old, new = two_keys(5, newer_used=1, last_used_at=days(6))
    assert "two-active-keys" not in old.finding_ids


def test_two_active_keys_grace_comes_from_policy_and_needs_both_active():
    assert "two-active-keys" in two_keys(5, policy=Policy(rotation_grace_days=5))[0].finding_ids
    assert "two-active-keys" not in two_keys(8, policy=Policy(rotation_grace_days=9))[1].finding_ids
    assert not any("two-active-keys" in i.finding_ids for i in two_keys(30, status="inactive"))
    # Keys of two different users never pair up.
    assert not any("two-active-keys" in i.finding_ids for i in two_keys(30, owner="other",
                                                                        details={"account": "111122223333"}))
    # More than two keys cannot be one IAM user's (the grouping is wrong): nothing to pair.
    third = ident(3, name="AKIATHIRD", provider="aws", kind="access_key", owner="ci-api", created_at=days(90),
                  details={"account": "111122223333", "user": "ci-api"})
    old, new = two_keys(30)
    assert not any("two-active-keys" in i.finding_ids for i in evaluate([old, new, third], None, Policy(), NOW))
    assert Policy.from_config({"rotation_grace_days": 3}).rotation_grace_days == 3
    assert Policy.from_config({}).rotation_grace_days == 7


@pytest.mark.parametrize("value, ok", [(0, True), (14, True), (-1, False), ("7", False)])
def test_rotation_grace_days_is_validated_at_load(tmp_path, value, ok):
    from nhitui import config

    path = tmp_path / "config.toml"
    path.write_text(f"[policy]\nrotation_grace_days = {value!r}\n".replace("'", '"') +
                    '[[source]]\ntype = "aws"\nname = "a"\n')
    if ok:
        assert config.load(path).policy.rotation_grace_days == value
    else:
        with pytest.raises(config.ConfigError, match="rotation_grace_days"):
            config.load(path)
