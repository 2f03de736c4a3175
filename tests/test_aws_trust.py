"""The OIDC trust-policy parser: hand-written policies for each case, and a fuzz test."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.aws.trust import Trust, parse_trust

ACCT = "123456789012"
GH = "token.actions.githubusercontent.com"
GH_ARN = f"arn:aws:iam::{ACCT}:oidc-provider/{GH}"
GL_ARN = f"arn:aws:iam::{ACCT}:oidc-provider/gitlab.com"
WEB = "sts:AssumeRoleWithWebIdentity"


def policy(condition=None, federated=GH_ARN, action=WEB, effect="Allow", as_list=True, **extra):
    st_ = {"Effect": effect, "Principal": {"Federated": federated}, "Action": action, **extra}
    if condition is not None:
        st_["Condition"] = condition
    return {"Version": "2012-10-17", "Statement": [st_] if as_list else st_}


def one(doc) -> Trust:
    trusts = parse_trust(doc)
    assert len(trusts) == 1, trusts
    return trusts[0]


# --- GitHub ----------------------------------------------------------------------------------------

def test_pinned_branch():
    t = one(policy({"StringEquals": {f"{GH}:aud": "sts.amazonaws.com",
                                     f"{GH}:sub": "repo:acme/api:ref:refs/heads/main"}}))
    assert (t.provider, t.host, t.provider_arn) == ("github", GH, GH_ARN)
    assert t.repos == ("acme/api",) and t.refs == ("refs/heads/main",)
    assert t.audiences == ("sts.amazonaws.com",)
    assert not (t.wildcard_sub or t.no_sub or t.aud_only)


@pytest.mark.parametrize("sub,ref", [
    ("repo:acme/web:environment:production", "environment:production"),
    ("repo:acme/web:pull_request", "pull_request"),
    ("repo:acme/web:ref:refs/tags/v1.2.3", "refs/tags/v1.2.3"),
])
def test_subject_forms(sub, ref):
    t = one(policy({"StringEquals": {f"{GH}:sub": sub, f"{GH}:aud": "sts.amazonaws.com"}}))
    assert t.repos == ("acme/web",) and t.refs == (ref,)
    assert not t.wildcard_sub


def test_stringlike_org_wildcard():
    t = one(policy({"StringLike": {f"{GH}:sub": "repo:acme/*"}, "StringEquals": {f"{GH}:aud": "sts.amazonaws.com"}}))
    assert t.repos == ("acme/*",) and t.wildcard_sub
    assert t.subjects == ("repo:acme/*",)


def test_star_subject_and_prefix_wildcard():
    assert one(policy({"StringLike": {f"{GH}:sub": "*"}})).wildcard_sub
    t = one(policy({"StringLike": {f"{GH}:sub": "repo:acme/api*"}}))   # also admits acme/api-evil
    assert t.repos == ("acme/api*",) and t.wildcard_sub


def test_ref_wildcard_keeps_repo_pinned():
    t = one(policy({"StringLike": {f"{GH}:sub": "repo:acme/api:*"}}))
    assert t.repos == ("acme/api",) and t.refs == ("*",) and not t.wildcard_sub
    t = one(policy({"StringLike": {f"{GH}:sub": "repo:acme/api:ref:refs/heads/release-*"}}))
    assert t.refs == ("refs/heads/release-*",) and not t.wildcard_sub


def test_for_any_value_list_of_subjects():
    t = one(policy({"ForAnyValue:StringLike": {f"{GH}:sub": [
        "repo:acme/api:ref:refs/tags/v*", "repo:acme/web:environment:prod", "repo:acme/api:pull_request"]}}))
    assert t.repos == ("acme/api", "acme/web")
    assert t.refs == ("refs/tags/v*", "environment:prod", "pull_request")
    assert not t.wildcard_sub


def test_for_all_values_and_if_exists_prefixes():
    t = one(policy({"ForAllValues:StringEquals": {f"{GH}:sub": ["repo:acme/api:ref:refs/heads/main"]},
                    "StringEqualsIfExists": {f"{GH}:aud": "sts.amazonaws.com"}}))
    assert t.repos == ("acme/api",) and t.audiences == ("sts.amazonaws.com",)


def test_aud_only():
    t = one(policy({"StringEquals": {f"{GH}:aud": "sts.amazonaws.com"}}))
    assert t.aud_only and not t.no_sub and not t.wildcard_sub
    assert t.repos == ("*",)


def test_no_condition_at_all():
    t = one(policy(None))
    assert t.no_sub and not t.aud_only and t.repos == ("*",)


def test_negative_operator_is_not_a_subject_condition():
    t = one(policy({"StringNotLike": {f"{GH}:sub": "repo:evil/*"}, "StringEquals": {f"{GH}:aud": "sts.amazonaws.com"}}))
    assert t.aud_only


def test_equals_and_like_on_the_same_key_intersect():
    t = one(policy({"StringEquals": {f"{GH}:sub": ["repo:acme/api:ref:refs/heads/main", "repo:other/x:pull_request"]},
                    "StringLike": {f"{GH}:sub": "repo:acme/*"}}))
    assert t.repos == ("acme/api",) and not t.wildcard_sub


def test_literal_star_under_string_equals_admits_nothing():
    t = one(policy({"StringEquals": {f"{GH}:sub": "repo:acme/*"}}))
    assert t.repos == () and not t.wildcard_sub and not t.no_sub


def test_customised_and_immutable_subjects():
    t = one(policy({"StringEquals": {f"{GH}:sub": "repository_owner:acme:environment:prod"}}))
    assert t.repos == ("acme/*",) and t.wildcard_sub and t.refs == ("environment:prod",)
    t = one(policy({"StringEquals": {f"{GH}:sub": "repository_owner_id:1:repository_id:456:environment:prod"}}))
    assert t.repo_ids == ("456",) and t.repos == () and not t.wildcard_sub
    t = one(policy({"StringEquals": {f"{GH}:sub": "repo:acme/api:environment:prod:job_workflow_ref:"
                                                  "acme/wf/.github/workflows/d.yml@refs/heads/main"}}))
    assert t.repos == ("acme/api",) and t.refs == ("environment:prod",)


def test_other_claim_keys_pin_or_loosen():
    t = one(policy({"StringEquals": {f"{GH}:repository": "acme/api", f"{GH}:aud": "sts.amazonaws.com"}}))
    assert t.repos == ("acme/api",) and not t.aud_only and not t.wildcard_sub
    t = one(policy({"StringEquals": {f"{GH}:repository_owner": "acme"}}))
    assert t.repos == ("acme/*",) and t.wildcard_sub
    t = one(policy({"StringEquals": {f"{GH}:ref": "refs/heads/main", f"{GH}:aud": "sts.amazonaws.com"}}))
    assert t.repos == ("*",) and t.wildcard_sub and t.refs == ("refs/heads/main",)


def test_condition_keys_are_case_insensitive():
    t = one(policy({"stringequals": {"Token.Actions.GitHubUserContent.com:SUB": "repo:acme/api:ref:refs/heads/main"}}))
    assert t.repos == ("acme/api",)


def test_enterprise_issuer_and_ghes():
    host = f"{GH}/acme-enterprise"
    t = one(policy({"StringEquals": {f"{host}:sub": "repo:acme/api:ref:refs/heads/main"}},
                   federated=f"arn:aws:iam::{ACCT}:oidc-provider/{host}"))
    assert t.provider == "github" and t.repos == ("acme/api",)
    ghes = "ghe.acme.internal/_services/token"
    t = one(policy({"StringLike": {f"{ghes}:sub": "repo:acme/*"}}, federated=f"arn:aws:iam::{ACCT}:oidc-provider/{ghes}"))
    assert t.provider == "github" and t.wildcard_sub


# --- GitLab ----------------------------------------------------------------------------------------

def test_gitlab_branch_and_tag():
    t = one(policy({"StringEquals": {"gitlab.com:sub": "project_path:acme/platform/infra:ref_type:branch:ref:main",
                                     "gitlab.com:aud": "https://gitlab.com"}}, federated=GL_ARN))
    assert (t.provider, t.host) == ("gitlab", "gitlab.com")
    assert t.repos == ("acme/platform/infra",) and t.refs == ("refs/heads/main",)
    t = one(policy({"StringLike": {"gitlab.com:sub": "project_path:acme/app:ref_type:tag:ref:v*"}}, federated=GL_ARN))
    assert t.refs == ("refs/tags/v*",) and not t.wildcard_sub


def test_gitlab_self_managed_wildcard_group():
    host = "gitlab.acme.internal"
    t = one(policy({"StringLike": {f"{host}:sub": "project_path:acme/apps/*:ref_type:branch:ref:main"}},
                   federated=f"arn:aws:iam::{ACCT}:oidc-provider/{host}"))
    assert t.provider == "gitlab" and t.host == host
    assert t.repos == ("acme/apps/*",) and t.wildcard_sub


def test_self_managed_host_recognised_by_subject_format():
    host = "code.example.org"
    t = one(policy({"StringEquals": {f"{host}:sub": "project_path:grp/proj:ref_type:branch:ref:main"}},
                   federated=f"arn:aws:iam::{ACCT}:oidc-provider/{host}"))
    assert t.provider == "gitlab" and t.repos == ("grp/proj",)


def test_gitlab_aud_only_and_namespace_claim():
    assert one(policy({"StringEquals": {"gitlab.com:aud": "https://gitlab.com"}}, federated=GL_ARN)).aud_only
    t = one(policy({"StringEquals": {"gitlab.com:namespace_path": "acme"}}, federated=GL_ARN))
    assert t.repos == ("acme/*",) and t.wildcard_sub


# --- structure -------------------------------------------------------------------------------------

def test_statement_as_dict_and_principal_list():
    t = one(policy({"StringEquals": {f"{GH}:sub": "repo:acme/api:ref:refs/heads/main"}}, as_list=False))
    assert t.repos == ("acme/api",)
    trusts = parse_trust(policy(None, federated=[GH_ARN, GL_ARN]))
    assert [x.host for x in trusts] == [GH, "gitlab.com"] and all(x.no_sub for x in trusts)


def test_wildcard_principal_string():
    trusts = parse_trust({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": WEB,
                                         "Condition": {"StringLike": {f"{GH}:sub": "repo:acme/*"}}}]})
    assert len(trusts) == 1 and trusts[0].host == GH and trusts[0].wildcard_sub


def test_deny_and_non_oidc_statements_admit_nothing():
    assert parse_trust(policy(None, effect="Deny")) == []
    assert parse_trust({"Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                                       "Action": "sts:AssumeRole"}]}) == []
    assert parse_trust(policy(None, action="sts:AssumeRole")) == []
    saml = f"arn:aws:iam::{ACCT}:saml-provider/Okta"
    assert parse_trust(policy(None, federated=saml, action="sts:AssumeRoleWithSAML")) == []


def test_action_wildcards_and_not_action():
    assert one(policy(None, action=["sts:AssumeRole*"])).no_sub
    assert one(policy(None, action="*")).no_sub
    doc = {"Statement": [{"Effect": "Allow", "Principal": {"Federated": GH_ARN}, "NotAction": "sts:TagSession"}]}
    assert one(doc).no_sub
    doc["Statement"][0]["NotAction"] = "sts:AssumeRoleWith*"
    assert parse_trust(doc) == []


def test_json_string_and_url_encoded_input():
    doc = policy({"StringEquals": {f"{GH}:sub": "repo:acme/api:ref:refs/heads/main"}})
    assert one(json.dumps(doc)).repos == ("acme/api",)
    assert one(quote(json.dumps(doc))).repos == ("acme/api",)
    assert one(json.dumps(doc).encode()).repos == ("acme/api",)


def test_multiple_statements_give_multiple_trusts():
    doc = policy({"StringEquals": {f"{GH}:sub": "repo:acme/api:ref:refs/heads/main"}})
    doc["Statement"].append(policy({"StringEquals": {"gitlab.com:sub": "project_path:a/b:ref_type:tag:ref:v1"}},
                                   federated=GL_ARN)["Statement"][0])
    doc["Statement"].append({"Effect": "Deny", "Principal": {"Federated": GH_ARN}, "Action": WEB})
    assert [t.provider for t in parse_trust(doc)] == ["github", "gitlab"]


def test_as_dict_round_trip():
    d = one(policy({"StringLike": {f"{GH}:sub": "repo:acme/*"}})).as_dict()
    assert d["repos"] == ["acme/*"] and d["wildcard_sub"] is True and d["provider"] == "github"
    json.dumps(d)


@pytest.mark.parametrize("bad", [
    "not json", "[1, 2]", "42", 42, None, [], "{\"Statement\": 3}", {"Statement": [1]}, {"Statement": "x"},
    {"Statement": [{"Effect": "Allow", "Principal": 7, "Action": WEB}]},
    {"Statement": [{"Effect": "Allow", "Principal": {"Federated": GH_ARN}, "Action": WEB, "Condition": []}]},
    {"Statement": [{"Effect": "Allow", "Principal": {"Federated": {"x": 1}}, "Action": WEB}]},
    b"\xff\xfe", "[" * 100_000,
])
def test_malformed_input_is_a_value_error(bad):
    with pytest.raises(ValueError):
        parse_trust(bad)


def test_empty_and_statementless_policies():
    assert parse_trust({}) == []
    assert parse_trust("{}") == []
    assert parse_trust({"Statement": []}) == []


# --- fuzz ----------------------------------------------------------------------------------------------

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=20))
json_ish = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)), max_leaves=25)
keys = st.sampled_from([f"{GH}:sub", f"{GH}:aud", "gitlab.com:sub", f"{GH}:repository_owner", "x:sub", "aws:SourceIp"])
ops = st.sampled_from(["StringEquals", "StringLike", "ForAnyValue:StringLike", "ForAllValues:StringEquals",
                       "StringNotLike", "StringLikeIfExists", "Bool", "Null", "weird"])
sub_values = st.one_of(st.sampled_from(["repo:acme/*", "*", "repo:acme/api:*", "repo:a/b:ref:refs/heads/m",
                                        "project_path:g/p:ref_type:branch:ref:main", "repo:", ":::", "**??*"]),
                       st.text(max_size=30), json_ish)
conditions = st.dictionaries(ops, st.dictionaries(keys, st.one_of(sub_values, st.lists(sub_values, max_size=3)),
                                                  max_size=3), max_size=3)
statements = st.fixed_dictionaries({
    "Effect": st.one_of(st.sampled_from(["Allow", "Deny", "allow"]), json_ish),
    "Principal": st.one_of(st.sampled_from(["*", {"Federated": GH_ARN}, {"Federated": [GH_ARN, GL_ARN]},
                                            {"Service": "x"}]), json_ish),
    "Action": st.one_of(st.sampled_from([WEB, "*", ["sts:*"], "sts:AssumeRole"]), json_ish),
}, optional={"Condition": st.one_of(conditions, json_ish), "NotAction": json_ish})
policies = st.one_of(json_ish, st.fixed_dictionaries({"Statement": st.one_of(statements, st.lists(statements,
                                                                                                 max_size=3))}))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policies)
def test_fuzz_any_json_ish_input_ends_in_a_value_or_value_error(doc):
    for candidate in (doc, json.dumps(doc, default=str)):
        try:
            result = parse_trust(candidate)
        except ValueError:
            continue
        assert isinstance(result, list) and all(isinstance(t, Trust) for t in result)
        for t in result:
            json.dumps(t.as_dict())
            assert sum((t.no_sub, t.aud_only, t.wildcard_sub)) <= 1


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_fuzz_arbitrary_text(text):
    try:
        parse_trust(text)
    except ValueError:
        pass


# --- the shared model ------------------------------------------------------------------------------

ROLE = f"arn:aws:iam::{ACCT}:role/deploy"


def test_federated_trusts_normalises_operators_and_keeps_what_it_cannot_use():
    from connectors.aws.trust import federated_trusts
    (t,) = federated_trusts(policy({
        "ForAnyValue:StringLike": {f"{GH}:sub": ["repo:acme/*", "repo:acme/api:pull_request"]},
        "StringEquals": {f"{GH}:aud": "sts.amazonaws.com", f"{GH}:repository_owner": "acme"},
        "StringNotLike": {f"{GH}:sub": "repo:acme/secret*"},
        "DateGreaterThan": {f"{GH}:iat": "2020-01-01T00:00:00Z"},
        "IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}), ROLE, "admin")
    assert (t.issuer, t.grants, t.grants_kind, t.privilege, t.dialect) == (
        f"https://{GH}", ROLE, "aws_role", "admin", "aws-iam")
    assert t.audiences == ("sts.amazonaws.com",) and t.expected_audiences == ("sts.amazonaws.com",)
    by_claim = {c.claim: c for c in t.conditions}
    assert set(by_claim) == {"sub", "repository_owner"}
    assert by_claim["sub"].operator == "glob" and by_claim["sub"].values == ("repo:acme/*", "repo:acme/api:pull_request")
    assert "ForAnyValue:StringLike" in by_claim["sub"].raw
    assert by_claim["repository_owner"].operator == "equals"
    assert len(t.unparsed) == 1 and "DateGreaterThan" in t.unparsed[0]
    assert len(t.ignored) == 2 and any("StringNotLike" in i for i in t.ignored) and any("SourceIp" in i for i in t.ignored)


def test_federated_trusts_one_per_principal_and_gitlab_has_no_documented_audience():
    from connectors.aws.trust import federated_trusts
    trusts = federated_trusts(policy(None, federated=[GH_ARN, GL_ARN]), ROLE, "read")
    assert [t.issuer for t in trusts] == [f"https://{GH}", "https://gitlab.com"]
    assert [t.expected_audiences for t in trusts] == [("sts.amazonaws.com",), ()]
    assert all(t.conditions == () and t.audiences == () for t in trusts)
    assert federated_trusts(policy(None, effect="Deny"), ROLE, "read") == ()
    with pytest.raises(ValueError):
        federated_trusts("not json", ROLE, "read")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policies)
def test_fuzz_federated_trusts_match_parse_trust_and_assess(doc):
    """Same trusts as `parse_trust`, one per admission, and the shared evaluator reads the same flags."""
    from connectors.aws.trust import federated_trusts
    from nhitui.trust import assess

    try:
        old = parse_trust(doc)
    except ValueError:
        with pytest.raises(ValueError):
            federated_trusts(doc, ROLE, "write")
        return
    new = federated_trusts(doc, ROLE, "write")
    assert len(new) == len(old)
    for o, n in zip(old, new):
        json.dumps(n.as_dict())
        a = assess(n)
        if n.unparsed and not a.subject_pinned:
            assert a.scope == "unknown"      # the widest reading, said so (the legacy parser ignored them)
            continue
        assert (not a.subject_pinned and not a.audience_checked) == o.no_sub
        assert (not a.subject_pinned and a.audience_checked) == o.aud_only
        assert (a.subject_pinned and a.scope in ("org", "any", "pattern")) == o.wildcard_sub
        if a.subject_pinned and o.repos:
            assert set(a.repos) == set(o.repos) and set(a.refs) == set(o.refs)
