"""The shared federated-trust model: the AWS dialect table (documented examples, safe to dangerous),
every rule on hand-built trusts, the inventory side (templates, scope, links), and fuzzed subjects."""

from __future__ import annotations

import fnmatch
import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.aws.trust import federated_trusts
from nhitui.model import TRUSTS_DETAIL, ClaimCondition, FederatedTrust, SourceStatus
from nhitui.policy import Graph, Policy, evaluate
from nhitui.trust import (
    RULE_IDS,
    CiScope,
    assess,
    findings,
    github_subject,
    github_template_subject,
    gitlab_subject,
    glob_match,
    kubernetes_subject,
    subject_fields,
)
from nhitui.trustmap import TrustIndex, render_map
from tests.helpers import NOW, ident

GH = "token.actions.githubusercontent.com"
ROLE = "arn:aws:iam::123456789012:role/deploy"
WEB = "sts:AssumeRoleWithWebIdentity"
AUD = {f"{GH}:aud": "sts.amazonaws.com"}


def doc(condition, host=GH):
    st_ = {"Effect": "Allow", "Principal": {"Federated": f"arn:aws:iam::123456789012:oidc-provider/{host}"},
           "Action": WEB}
    if condition is not None:
        st_["Condition"] = condition
    return {"Version": "2012-10-17", "Statement": [st_]}


def rules_of(trust: FederatedTrust, ci: CiScope | None = None) -> set[str]:
    return {f[0] for f in findings(assess(trust), ci)}


# --- the AWS dialect, from the providers' documented examples, safe to dangerous ---------------------

AWS_CASES = [
    # (name, condition, issuer host, privilege, scope, rules)
    ("github docs: one repo, one branch", {"StringEquals": {**AUD, f"{GH}:sub": "repo:octo-org/octo-repo:ref:refs/heads/main"}},
     GH, "admin", "exact", set()),
    ("environment pin", {"StringEquals": {**AUD, f"{GH}:sub": "repo:octo-org/octo-repo:environment:prod"}},
     GH, "admin", "exact", set()),
    ("release tags only", {"StringLike": {f"{GH}:sub": "repo:octo-org/octo-repo:ref:refs/tags/v*"}, "StringEquals": AUD},
     GH, "write", "exact", set()),
    ("custom template: ids and environment",
     {"StringEquals": {**AUD, f"{GH}:sub": "repository_owner_id:1:repository_id:456:environment:prod"}},
     GH, "admin", "exact", set()),
    ("pull requests on a write role", {"StringEquals": {**AUD, f"{GH}:sub": "repo:octo-org/octo-repo:pull_request"}},
     GH, "write", "exact", {"oidc-pull-request-write"}),
    ("every ref of one repo, admin", {"StringLike": {f"{GH}:sub": "repo:octo-org/octo-repo:*"}, "StringEquals": AUD},
     GH, "admin", "exact", {"oidc-any-ref-admin", "oidc-pull-request-write"}),
    ("custom audience", {"StringEquals": {f"{GH}:aud": "https://github.com/octo-org",
                                          f"{GH}:sub": "repo:octo-org/octo-repo:ref:refs/heads/main"}},
     GH, "read", "exact", {"oidc-unexpected-audience"}),
    ("custom template: owner id and environment",
     {"StringEquals": {**AUD, f"{GH}:sub": "repository_owner_id:42:environment:prod"}},
     GH, "read", "org", {"oidc-wildcard-sub"}),
    ("custom template: owner and context", {"StringEquals": {**AUD, f"{GH}:sub": "repository_owner:octo-org:environment:prod"}},
     GH, "read", "org", {"oidc-wildcard-sub"}),
    ("org-wide wildcard", {"StringLike": {f"{GH}:sub": "repo:octo-org/*"}, "StringEquals": AUD},
     GH, "read", "org", {"oidc-wildcard-sub", }),
    ("any repo of any org", {"StringLike": {f"{GH}:sub": "repo:*"}, "StringEquals": AUD},
     GH, "read", "any", {"oidc-wildcard-sub"}),
    ("audience only", {"StringEquals": AUD}, GH, "read", "any", {"oidc-aud-only"}),
    ("no condition", None, GH, "read", "any", {"oidc-no-sub"}),
    ("unreadable operator, widest reading", {"Bool": {f"{GH}:runner_environment": "true"}},
     GH, "read", "unknown", {"oidc-unparsed-condition"}),
    ("gitlab.com: one project, one branch",
     {"StringEquals": {"gitlab.com:sub": "project_path:mygroup/myproject:ref_type:branch:ref:main"}},
     "gitlab.com", "admin", "exact", set()),
    ("gitlab self-managed: group wildcard, tags",
     {"StringLike": {"gitlab.acme.internal:sub": "project_path:acme/apps/*:ref_type:tag:ref:v*"}},
     "gitlab.acme.internal", "write", "org", {"oidc-wildcard-sub"}),
    ("gitlab self-managed, host without 'gitlab': recognised by the subject",
     {"StringEquals": {"code.example.org:sub": "project_path:grp/proj:ref_type:branch:ref:main"}},
     "code.example.org", "write", "exact", set()),
    ("gitlab any branch, admin", {"StringLike": {"gitlab.com:sub": "project_path:grp/proj:ref_type:branch:ref:*"}},
     "gitlab.com", "admin", "exact", {"oidc-any-ref-admin"}),
    ("eks service account", {"StringEquals": {"oidc.eks.eu-west-1.amazonaws.com/id/ABC:sub":
                                              "system:serviceaccount:payments:api"}},
     "oidc.eks.eu-west-1.amazonaws.com/id/ABC", "write", "exact", set()),
    ("unknown issuer", {"StringEquals": {"ci.example.net:sub": "job-42"}}, "ci.example.net", "read", "exact",
     {"oidc-unknown-issuer"}),
    ("unknown issuer with a wildcard subject", {"StringLike": {"ci.example.net:sub": "job-*"}}, "ci.example.net",
     "read", "pattern", {"oidc-unknown-issuer", "oidc-wildcard-sub"}),
]


@pytest.mark.parametrize("name,condition,host,privilege,scope,expected", AWS_CASES, ids=[c[0] for c in AWS_CASES])
def test_aws_dialect_table(name, condition, host, privilege, scope, expected):
    (trust,) = federated_trusts(doc(condition, host), ROLE, privilege)
    a = assess(trust)
    assert a.scope == scope, a
    assert rules_of(trust) == expected
    for _, _, text in findings(a):
        assert a.host in text     # every explanation names the issuer


def test_admin_wildcard_is_critical_and_explanations_quote_the_condition():
    (trust,) = federated_trusts(doc({"StringLike": {f"{GH}:sub": "repo:octo-org/*"}, "StringEquals": AUD}), ROLE,
                                "admin")
    (found,) = [f for f in findings(assess(trust)) if f[0] == "oidc-wildcard-sub"]
    assert found[1] == "critical"
    assert '"StringLike"' in found[2] and "repo:octo-org/*" in found[2] and "org-wide: octo-org/*" in found[2]
    (trust,) = federated_trusts(doc({"StringLike": {f"{GH}:sub": "repo:octo-org/*"}, "StringEquals": AUD}), ROLE,
                                "read")
    assert [f[1] for f in findings(assess(trust)) if f[0] == "oidc-wildcard-sub"] == ["high"]


# --- every rule on hand-built trusts (any dialect) -------------------------------------------------

def trust(*conds, issuer=f"https://{GH}", privilege="write", audiences=("sts.amazonaws.com",), **kw):
    return FederatedTrust(issuer=issuer, grants="target", grants_kind="test", privilege=privilege,
                          audiences=audiences, conditions=tuple(conds), dialect="test", **kw)


def c(claim, operator, *values, crosses=True):
    return ClaimCondition(claim, operator, values, f"{claim} {operator} {values}", crosses)


RULE_CASES = [
    ("exact", trust(c("sub", "equals", "repo:acme/api:environment:prod")), set()),
    ("no-sub", trust(audiences=()), {"oidc-no-sub"}),
    ("aud-only", trust(), {"oidc-aud-only"}),
    ("any operator restricts nothing", trust(c("sub", "any")), {"oidc-aud-only"}),
    ("wildcard by glob", trust(c("sub", "glob", "repo:acme/*:environment:prod")), {"oidc-wildcard-sub"}),
    ("wildcard by prefix", trust(c("sub", "prefix", "repo:acme/")), {"oidc-wildcard-sub", "oidc-pull-request-write"}),
    ("regex read by its literal prefix", trust(c("repository", "regex", "^acme/.*$")),
     {"oidc-wildcard-sub", "oidc-pull-request-write"}),
    ("literal regex is exact", trust(c("sub", "regex", r"^repo:acme/api:environment:prod$")), set()),
    ("owner claim only", trust(c("repository_owner", "equals", "acme")), {"oidc-wildcard-sub", "oidc-pull-request-write"}),
    ("ref claim only", trust(c("ref", "equals", "refs/heads/main")), {"oidc-wildcard-sub"}),
    ("pull request, write", trust(c("sub", "equals", "repo:acme/api:pull_request")), {"oidc-pull-request-write"}),
    ("pull request, read", trust(c("sub", "equals", "repo:acme/api:pull_request"), privilege="read"), set()),
    ("any ref, admin", trust(c("repository", "equals", "acme/api"), privilege="admin"),
     {"oidc-any-ref-admin", "oidc-pull-request-write"}),
    ("branch pattern, admin", trust(c("sub", "glob", "repo:acme/api:ref:refs/heads/*"), privilege="admin"),
     {"oidc-any-ref-admin"}),
    ("protected ref claims pin, admin", trust(c("repository", "equals", "acme/api"), c("ref", "equals", "refs/heads/main"),
                                             privilege="admin"), set()),
    ("gitlab protected refs pin, admin", trust(c("project_path", "equals", "g/p"), c("ref_protected", "equals", "true"),
                                              issuer="https://gitlab.example.com", privilege="admin", audiences=()),
     set()),
    ("gitlab any ref, admin", trust(c("project_path", "equals", "g/p"), issuer="https://gitlab.example.com",
                                    privilege="admin", audiences=()), {"oidc-any-ref-admin"}),
    ("unexpected audience", trust(c("sub", "equals", "repo:acme/api:ref:refs/heads/main"),
                                  audiences=("api://custom",), expected_audiences=("api://AzureADTokenExchange",)),
     {"oidc-unexpected-audience"}),
    ("expected audience", trust(c("sub", "equals", "repo:acme/api:ref:refs/heads/main"),
                                audiences=("api://AzureADTokenExchange",),
                                expected_audiences=("api://AzureADTokenExchange",)), set()),
    ("unknown issuer", trust(c("sub", "equals", "x"), issuer="https://idp.example.net"), {"oidc-unknown-issuer"}),
    ("unparsed and nothing else", trust(unparsed=("assertion.sub matches(...)",)), {"oidc-unparsed-condition"}),
    ("unparsed beside a pin", trust(c("sub", "equals", "repo:acme/api:environment:prod"), unparsed=("odd",)),
     {"oidc-unparsed-condition"}),
    ("disabled trust admits nobody", trust(audiences=(), disabled=True), set()),
    ("kubernetes claims pin", trust(c("kubernetes.io/serviceaccount/namespace", "equals", "payments"),
                                    c("kubernetes.io/serviceaccount/service-account.name", "equals", "api"),
                                    issuer="https://127.0.0.1:6443", audiences=()), set()),
    ("kubernetes any namespace", trust(c("sub", "glob", "system:serviceaccount:*:api"), issuer="https://k8s.example",
                                       audiences=()), {"oidc-wildcard-sub"}),
]


@pytest.mark.parametrize("name,t,expected", RULE_CASES, ids=[c[0] for c in RULE_CASES])
def test_rule_on_hand_built_trust(name, t, expected):
    assert rules_of(t) == expected


def test_unparsed_admin_is_critical_and_says_widest():
    (f,) = findings(assess(trust(privilege="admin", unparsed=("claims.x in [...]",))))
    assert f[:2] == ("oidc-unparsed-condition", "critical") and "widest" in f[2] and "claims.x in [...]" in f[2]


def test_outside_scope_and_configured_issuer():
    t = trust(c("sub", "equals", "repo:partner/tool:ref:refs/heads/main"))
    ci = CiScope(orgs={"github": frozenset({"acme"})})
    assert rules_of(t, ci) == {"oidc-outside-scope"}
    assert rules_of(t, CiScope()) == set()                   # no GitHub source scanned: nothing to compare
    assert rules_of(trust(c("sub", "equals", "repo:ACME/api:ref:refs/heads/main")), ci) == set()
    other = trust(c("sub", "equals", "x"), issuer="https://ci.acme.internal/oidc")
    assert rules_of(other, CiScope(issuers=frozenset({"ci.acme.internal/oidc"}))) == set()


def test_segment_bounded_glob_does_not_cross_slash():
    assert glob_match("acme/api", "acme/*", crosses_slash=False)
    assert not glob_match("acme/api/x", "acme/*", crosses_slash=False)
    assert glob_match("acme/api/x", "acme/*")
    assert not glob_match("a" * 3000, "*a*a*a*a*a*a*a*b")        # no exponential blow-up


def test_every_rule_is_covered_here():
    covered = {r for _, t, rules in RULE_CASES for r in rules} | {"oidc-outside-scope"}
    assert covered == set(RULE_IDS)


# --- subjects ----------------------------------------------------------------------------------

@pytest.mark.parametrize("subject,expected", [
    ("repo:acme/api:ref:refs/heads/main", ("acme/api", "refs/heads/main", None)),
    ("repo:acme/api:environment:prod", ("acme/api", "environment:prod", None)),
    ("repo:acme/api:pull_request", ("acme/api", "pull_request", None)),
    ("repo:acme/api:environment:eu:prod", ("acme/api", "environment:eu:prod", None)),   # a value with `:`
    ("repository_owner_id:1:repository_id:456:environment:prod", (None, "environment:prod", "456")),
    ("repo:acme/api:environment:prod:job_workflow_ref:acme/wf/.github/workflows/d.yml@refs/heads/main",
     ("acme/api", "environment:prod", None)),
    ("repo:acme/api:*", ("acme/api", "*", None)),
])
def test_github_subjects(subject, expected):
    assert github_subject(subject)[:3] == expected


def test_gitlab_and_kubernetes_subjects():
    assert gitlab_subject("project_path:g/sub/p:ref_type:tag:ref:v1") == ("g/sub/p", "refs/tags/v1")
    assert gitlab_subject("namespace_path:g:*") == ("g/*", "*")
    assert kubernetes_subject("system:serviceaccount:ns:sa") == "ns/sa"
    assert kubernetes_subject("system:serviceaccount:*") == "*"


def test_github_template_subjects():
    claims = {"repository": "acme/api", "repository_owner": "acme", "environment": "prod", "repository_id": "9"}
    assert github_template_subject(claims, None) == "repo:acme/api:environment:prod"
    tpl = {"use_default": False, "include_claim_keys": ["repository_owner", "context", "repository_id"]}
    assert github_template_subject(claims, tpl) == "repository_owner:acme:environment:prod:repository_id:9"


# --- the inventory side -----------------------------------------------------------------------------

def role(n, t, name="role"):
    return ident(n, provider="aws", kind="iam_role", name=name, credential="federated", privilege=t.privilege,
                 target="123", details={TRUSTS_DETAIL: (t,), "arn": f"arn:aws:iam::123:role/{name}"})


def secret(n, repo, **details):
    return ident(n, kind="actions_secret", name=f"S{n}", target=repo, usage_tracked=False,
                 details={"repo": repo, **details})


def test_custom_template_decides_which_repos_can_present_the_subject():
    pinned = role(1, trust(c("sub", "equals", "repo:acme/api:environment:prod")), "default-format")
    rows = [pinned, secret(2, "acme/api", environment="prod")]
    assert TrustIndex(rows).assumable_by("acme/api") == {pinned.uid}
    facts = {"oidc_sub": {"orgs": {"acme": {"include_claim_keys": ["repository_owner", "context"]}}, "repos": {}}}
    statuses = {"gh": SourceStatus("gh", "github", "ok", facts=facts)}
    assert TrustIndex(rows, statuses).assumable_by("acme/api") == set()     # acme's tokens say repository_owner:...
    owner = role(3, trust(c("sub", "equals", "repository_owner:acme:environment:prod")), "owner-format")
    assert TrustIndex([*rows, owner], statuses).assumable_by("acme/api") == {owner.uid}


repo_names = st.text(alphabet="ab", min_size=1, max_size=3).flatmap(
    lambda org: st.text(alphabet="ab-", min_size=1, max_size=4).map(lambda name: f"{org}/{name}"))
# Patterns that can match: a repo name with one character made `?` and a run from another made `*`.
repo_patterns = st.one_of(
    st.text(alphabet="ab/*?-", min_size=1, max_size=6),
    st.tuples(repo_names, st.integers(0, 8), st.integers(0, 8)).map(
        lambda t: "".join("?" if i == t[1] else ch for i, ch in enumerate(t[0]))[:t[2] + 1] + "*"))


@settings(max_examples=150, deadline=None)
@given(st.lists(repo_names, min_size=1, max_size=12, unique=True),
       st.lists(st.tuples(st.sampled_from(["repository", "sub"]), st.sampled_from(["equals", "glob"]),
                          st.lists(st.one_of(repo_names, repo_patterns), min_size=1, max_size=3)),
                max_size=4))
def test_fuzz_indexed_edges_equal_every_repo_asked(repos, conds):
    """Who can become what is matched against the repos a trust names (and its patterns' literal
    runs) instead of every repo of the inventory: the answer must be the one asking each repo gives."""
    values = lambda kind, vs: tuple(f"repo:{v}:ref:refs/heads/main" if kind == "sub" else v for v in vs)  # noqa: E731
    rows = [secret(i, r) for i, r in enumerate(repos)]
    rows += [role(100 + i, trust(c(kind, op, *values(kind, vs))), f"r{i}") for i, (kind, op, vs) in enumerate(conds)]
    index = TrustIndex(rows)
    asked = {(r, uid) for uid, assessed in index.assessed.items() for a in assessed if not a.trust.disabled
             for r in sorted(index.family) if index.admits(a, r)}
    assert {(e.who, e.uid) for e in index.edges if e.known} == asked


def test_links_both_ways_kubernetes_edges_and_the_map_order():
    wide = role(1, trust(c("sub", "glob", "repo:acme/*"), privilege="admin"), "wide-admin")
    exact = role(2, trust(c("sub", "equals", "repo:acme/api:ref:refs/heads/main")), "api-deploy")
    gcp = ident(3, provider="gcp", kind="gcp_service_account", name="deployer", privilege="admin",
                details={"email": "deployer@p.iam.gserviceaccount.com"})
    sa = ident(4, provider="kubernetes", kind="k8s_service_account", name="api", target="prod/payments",
               details={"namespace": "payments",
                        "cloud_identity": {"provider": "gcp", "id": "deployer@p.iam.gserviceaccount.com"}})
    repo = secret(5, "acme/api")
    graph = Graph([wide, exact, gcp, sa, repo, secret(6, "acme/web")])
    assert graph.links(repo)["can assume"] == ["wide-admin (aws iam_role, admin)", "api-deploy (aws iam_role, write)"]
    assert graph.links(exact)["assumable by"] == ["acme/api (refs/heads/main)"]
    assert graph.links(wide)["assumable by"][0] == "org-wide: acme/* (any ref)"
    assert graph.links(sa)["can assume"] == ["deployer (gcp gcp_service_account, admin)"]
    assert graph.links(gcp)["assumable by"] == ["payments/api"]
    assert graph.assumable_by("acme/web") == {wide.uid}
    assert graph.assumable_by("payments/api") == {gcp.uid}
    assert {exact.uid, wide.uid, repo.uid} <= graph.reaches("acme/api")
    rows = graph.trust.rows()
    assert [r["becomes"] for r in rows] == ["wide-admin", "deployer", "api-deploy"]   # widest, then privilege
    assert rows[0]["known"] == ["acme/api", "acme/web"] and rows[0]["findings"]
    assert rows[1]["who"] == "payments/api" and rows[1]["via"] == "annotation"
    assert rows[2]["who"] == "acme/api" and rows[2]["refs"] == ["refs/heads/main"] and rows[2]["findings"] == []
    assert json.loads(render_map(rows, "json"))["count"] == 3
    assert render_map(rows, "csv").splitlines()[0].startswith("who,scope")


def test_policy_findings_come_from_the_shared_rules_with_severity_and_tag():
    admin = role(1, trust(c("sub", "glob", "repo:acme/*"), privilege="admin"), "wide-admin")
    (scored,) = evaluate([admin], None, Policy(), NOW)
    wild = [f for f in scored.findings if f.rule == "oidc-wildcard-sub"]
    assert wild and wild[0].severity == "critical" and wild[0].owasp == "NHI6"
    assert "org-wide: acme/*" in wild[0].explanation


def test_legacy_trust_dicts_still_read():
    legacy = ident(1, provider="aws", kind="iam_role", credential="federated",
                   details={"trusts": [{"provider": "gitlab", "host": "gitlab.com", "repos": ["g/p"],
                                        "refs": ["refs/heads/main"]}]})
    (a,) = TrustIndex([legacy]).assessed[legacy.uid]
    assert (a.family, a.scope, a.repos, a.refs) == ("gitlab", "exact", ("g/p",), ("refs/heads/main",))


def test_hostile_text_in_the_map_is_sanitised():
    evil = role(1, trust(c("sub", "equals", "repo:acme/\x1b[31mapi:ref:refs/heads/main")), "r\x1b]0;x\x07")
    text = render_map(TrustIndex([evil]).rows(), "table")
    assert "\x1b" not in text and "\x07" not in text
    assert not any(cell.startswith("=") for cell in render_map(
        TrustIndex([role(2, trust(c("sub", "equals", "=cmd|x")), "=HYPERLINK()")]).rows(), "csv").split(","))


# --- fuzz ---------------------------------------------------------------------------------------------

segments = st.one_of(st.sampled_from(["repo", "ref", "environment", "pull_request", "repository_owner", "*", "**",
                                      "project_path", "ref_type", "system", "serviceaccount", "", "acme/api", "x?"]),
                     st.text(max_size=8))
subjects = st.lists(segments, max_size=10).map(":".join)


@settings(max_examples=120, deadline=None)
@given(subjects)
def test_fuzz_subject_parsers_never_raise(subject):
    repo, ref, rid, _ = github_subject(subject)
    assert repo is None or isinstance(repo, str)
    assert ref is None or isinstance(ref, str)
    gitlab_subject(subject)
    kubernetes_subject(subject)
    fields, _ = subject_fields(subject, frozenset({"repo", "ref", "environment", "pull_request"}))
    assert all(isinstance(v, str) for v in fields.values())


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="ab/*?", max_size=10), st.text(alphabet="ab/", max_size=10))
def test_fuzz_glob_agrees_with_a_regex_reference(pattern, value):
    crossing = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    bounded = "".join("[^/]*" if ch == "*" else "[^/]" if ch == "?" else re.escape(ch) for ch in pattern)
    assert glob_match(value, pattern) == bool(re.fullmatch(crossing, value, re.S))
    assert glob_match(value, pattern, crosses_slash=False) == bool(re.fullmatch(bounded, value, re.S))
    if "[" not in pattern:
        assert glob_match(value, pattern) == fnmatch.fnmatchcase(value, pattern)


operators = st.sampled_from(["equals", "glob", "prefix", "regex", "any", "bogus"])
claims = st.sampled_from(["sub", "aud", "repository", "repository_owner", "ref", "environment", "project_path",
                          "namespace_path", "kubernetes.io/serviceaccount/namespace", "x"])
conditions = st.builds(lambda cl, op, vals, crosses: ClaimCondition(cl, op, tuple(vals), "raw", crosses),
                       claims, operators, st.lists(subjects, max_size=3), st.booleans())
trusts = st.builds(lambda issuer, conds, unparsed, priv, auds: FederatedTrust(
    issuer=issuer, grants="g", grants_kind="k", privilege=priv, audiences=tuple(auds), conditions=tuple(conds),
    unparsed=tuple(unparsed), expected_audiences=("sts.amazonaws.com",)),
    st.sampled_from([f"https://{GH}", "https://gitlab.com", "https://x.example", "*", "", "https://g/_services/token"]),
    st.lists(conditions, max_size=4), st.lists(st.text(max_size=5), max_size=1),
    st.sampled_from(["none", "read", "write", "admin", "weird"]), st.lists(st.text(max_size=5), max_size=2))


@settings(max_examples=100, deadline=None)
@given(trusts)
def test_fuzz_any_trust_assesses_and_scores(t):
    a = assess(t)
    found = findings(a, CiScope(orgs={"github": frozenset({"acme"})}))
    assert {f[0] for f in found} <= set(RULE_IDS)
    assert sum(f[0] in ("oidc-no-sub", "oidc-aud-only") for f in found) <= 1
    assert a.label()
    TrustIndex([role(1, t)]).rows()
