"""The CEL-subset reader of WIF attribute conditions (connectors/gcp/wif_trust.py): documented examples
from safe to dangerous, binding members, and hypothesis fuzzing (no crash on any text; a condition
read into alternatives admits exactly what CEL admits, and never less when a part is unreadable)."""

from __future__ import annotations

import fnmatch
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.gcp import wif
from connectors.gcp.projects import Project
from connectors.gcp.wif_trust import (
    Alternative,
    alternatives,
    mapped_claim,
    pool_principal,
    search_as_fullmatch,
)
from nhitui.model import ClaimCondition

GH_MAP = {"google.subject": "assertion.sub", "attribute.actor": "assertion.actor",
          "attribute.repository": "assertion.repository", "attribute.repository_owner": "assertion.repository_owner",
          "attribute.repository_id": "assertion.repository_id"}


def conds(text: str | None, mapping: dict[str, str] | None = None) -> list[tuple[tuple[Any, ...], tuple[str, ...]]]:
    return [(tuple((c.claim, c.operator, c.values) for c in a.conditions), a.unparsed)
            for a in alternatives(text, GH_MAP if mapping is None else mapping)]


# Google's ranked examples (reference §6), safe -> dangerous, as the parser must read them.
DOCUMENTED = [
    ("1 immutable ids + branch pin",
     "assertion.repository_owner_id=='1342004' && assertion.repository_id=='260064828' && "
     "assertion.ref=='refs/heads/main'",
     [((("repository_owner_id", "equals", ("1342004",)), ("repository_id", "equals", ("260064828",)),
        ("ref", "equals", ("refs/heads/main",))), ())]),
    ("2 Google's baseline, name-based owner", "assertion.repository_owner=='acme'",
     [((("repository_owner", "equals", ("acme",)),), ())]),
    ("2b via a mapped attribute", "attribute.repository_owner == \"acme\"",
     [((("repository_owner", "equals", ("acme",)),), ())]),
    ("4 startsWith without the slash", "assertion.repository.startsWith('acme')",
     [((("repository", "prefix", ("acme",)),), ())]),
    ("4 contains", "assertion.repository.contains('acme')", [((("repository", "glob", ("*acme*",)),), ())]),
    ("4 unanchored matches", "assertion.sub.matches('acme/.*')",
     [((("sub", "regex", (".*(?:acme/.*).*",)),), ())]),
    ("anchored matches stays", "assertion.sub.matches('^repo:acme/api:ref:refs/heads/main$')",
     [((("sub", "regex", ("^repo:acme/api:ref:refs/heads/main$",)),), ())]),
    ("in a list", "assertion.repository in ['acme/api', \"acme/web\"]",
     [((("repository", "equals", ("acme/api", "acme/web")),), ())]),
    ("GitLab baseline", "assertion.namespace_id=='4242' && assertion.ref_protected=='true'",
     [((("namespace_id", "equals", ("4242",)), ("ref_protected", "equals", ("true",))), ())]),
    ("OR of two repositories: two ways in",
     "assertion.repository=='acme/api' || assertion.repository=='acme/web'",
     [((("repository", "equals", ("acme/api",)),), ()), ((("repository", "equals", ("acme/web",)),), ())]),
    ("negation is unreadable, never dropped", "assertion.repository_owner=='acme' && assertion.ref!='refs/heads/dev'",
     [((("repository_owner", "equals", ("acme",)),), ("assertion.ref!='refs/heads/dev'",))]),
    ("6 no condition at all", None, [((), ())]),
    ("a function outside the subset", "assertion.sub.extract('repo:{x}:') == 'acme'",
     [((), ("assertion.sub.extract('repo:{x}:') == 'acme'",))]),
    ("an attribute mapped by an expression", "attribute.branch == 'main'",
     [((), ("attribute.branch == 'main'",))]),
    ("syntax error: whole text unparsed", "assertion.repository_owner == 'acme' &&",
     [((), ("assertion.repository_owner == 'acme' &&",))]),
    ("false admits nothing", "false", []),
    ("true admits everything", "true", [((), ())]),
]


@pytest.mark.parametrize("label,text,expected", DOCUMENTED, ids=[d[0] for d in DOCUMENTED])
def test_documented_conditions(label: str, text: str | None, expected: list[Any]) -> None:
    mapping = {**GH_MAP, "attribute.branch": "assertion.ref.split('/')[2]"}
    assert conds(text, mapping) == expected


def test_claim_names_follow_the_mapping() -> None:
    assert mapped_claim("assertion.sub") == "sub"
    assert mapped_claim(" assertion['repository_id'] ") == "repository_id"
    assert mapped_claim("assertion.sub + assertion.ref") is None
    assert conds("google.subject == 'repo:acme/api:ref:refs/heads/main'") == [
        ((("sub", "equals", ("repo:acme/api:ref:refs/heads/main",)),), ())]
    # an attribute the mapping does not define is not a claim we can name
    assert conds("attribute.workflow == 'deploy'")[0][1] == ("attribute.workflow == 'deploy'",)


def test_escapes_and_raw_strings() -> None:
    assert conds(r"assertion.ref == 'refs/heads/it\'s'")[0][0] == (("ref", "equals", ("refs/heads/it's",)),)
    assert conds(r"assertion.sub.matches(r'^repo:acme/api:.*\.yml$')")[0][0] == (
        ("sub", "regex", (r"^repo:acme/api:.*\.yml$",)),)
    assert conds(r"assertion.sub == '\u0041'")[0][0] == (("sub", "equals", ("A",)),)
    assert conds(r"assertion.sub == '\q'")[0][1]            # an unknown escape: unreadable, kept


def test_pool_members() -> None:
    base = "projects/111/locations/global/workloadIdentityPools/github"
    whole = pool_principal(f"principalSet://iam.googleapis.com/{base}/*")
    assert whole and whole.whole_pool and whole.pool == base and whole.condition(GH_MAP) is None
    repo = pool_principal(f"principalSet://iam.googleapis.com/{base}/attribute.repository/acme/api")
    assert repo and repo.condition(GH_MAP) == ClaimCondition("repository", "equals", ("acme/api",), repo.member)
    subject = pool_principal(f"principal://iam.googleapis.com/{base}/subject/repo:acme/api:ref:refs/heads/main")
    assert subject and subject.condition(GH_MAP).claim == "sub"
    unmapped = pool_principal(f"principalSet://iam.googleapis.com/{base}/attribute.team/x")
    assert unmapped and unmapped.condition(GH_MAP).operator == "any"
    assert pool_principal("principal://iam.googleapis.com/locations/global/workforcePools/p/subject/x") is None
    assert pool_principal("serviceAccount:x@y.iam.gserviceaccount.com") is None


def test_trusts_of_a_provider() -> None:
    project = Project("acme-prod", "111")
    pool = wif.Pool("projects/111/locations/global/workloadIdentityPools/github", project, "github", False,
                    "FEDERATION_ONLY", "")
    provider = wif.parse_provider(pool, {
        "name": f"{pool.name}/providers/gh", "attributeMapping": GH_MAP, "state": "ACTIVE",
        "attributeCondition": "assertion.repository_owner == 'acme'",
        "oidc": {"issuerUri": "https://Token.Actions.GithubUserContent.com/"}})
    assert provider is not None
    member = pool_principal(f"principalSet://iam.googleapis.com/{pool.name}/attribute.repository/acme/api")
    grant = wif.Grant(member, "roles/iam.workloadIdentityUser", "deployer@acme-prod.iam.gserviceaccount.com",
                      "gcp_service_account", "admin")
    (trust,) = wif.trusts(provider, [grant])
    assert trust.issuer == "https://token.actions.githubusercontent.com"
    assert trust.grants == grant.target and trust.privilege == "admin" and trust.dialect == "gcp-cel"
    assert {(c.claim, c.values) for c in trust.conditions} == {("repository_owner", ("acme",)),
                                                               ("repository", ("acme/api",))}
    assert trust.audiences == trust.expected_audiences == wif.default_audiences(provider)
    (alone,) = wif.trusts(provider, [])
    assert alone.grants_kind == "gcp_wif_pool" and alone.privilege == "none"


# --- fuzzing ------------------------------------------------------------------------------------

CLAIMS = ("sub", "repository", "ref")
WORDS = st.sampled_from(["acme", "acme/api", "acme-evil", "refs/heads/main", "x", "", "a.b", "a*b", "it's"])


def cel_string(s: str) -> str:
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


@st.composite
def atom(draw: Any) -> tuple[str, Any]:
    claim = draw(st.sampled_from(CLAIMS))
    op = draw(st.sampled_from(["==", "in", "startsWith", "endsWith", "contains", "matches"]))
    if op == "in":
        values = draw(st.lists(WORDS, min_size=1, max_size=3))
        return f"assertion.{claim} in [{', '.join(cel_string(v) for v in values)}]", ("in", claim, values)
    value = draw(WORDS)
    if op == "==":
        return f"assertion.{claim} == {cel_string(value)}", ("==", claim, value)
    if op == "matches":
        value = re.escape(value) if draw(st.booleans()) else "^" + re.escape(value) + "$"
    return f"assertion.{claim}.{op}({cel_string(value)})", (op, claim, value)


def expr(depth: int = 3) -> Any:
    return st.recursive(atom(), lambda inner: st.one_of(
        st.tuples(inner, inner).map(lambda p: (f"({p[0][0]}) && ({p[1][0]})", ("and", p[0][1], p[1][1]))),
        st.tuples(inner, inner).map(lambda p: (f"({p[0][0]}) || ({p[1][0]})", ("or", p[0][1], p[1][1]))),
        inner.map(lambda p: (f"!({p[0]})", ("not", p[1])))), max_leaves=6)


def cel_eval(node: Any, claims: dict[str, str]) -> bool:
    op = node[0]
    if op == "and":
        return cel_eval(node[1], claims) and cel_eval(node[2], claims)
    if op == "or":
        return cel_eval(node[1], claims) or cel_eval(node[2], claims)
    if op == "not":
        return not cel_eval(node[1], claims)
    value = claims[node[1]]
    return {"==": lambda: value == node[2], "in": lambda: value in node[2],
            "startsWith": lambda: value.startswith(node[2]), "endsWith": lambda: value.endswith(node[2]),
            "contains": lambda: node[2] in value, "matches": lambda: re.search(node[2], value) is not None}[op]()


def holds(c: ClaimCondition, claims: dict[str, str]) -> bool:
    value = claims[c.claim]
    if c.operator == "equals":
        return value in c.values
    if c.operator == "prefix":
        return any(value.startswith(v) for v in c.values)
    if c.operator == "glob":
        return any(fnmatch.fnmatchcase(value, v) for v in c.values)
    if c.operator == "regex":
        return any(re.fullmatch(v, value) and re.search(v, value) for v in c.values)
    raise AssertionError(c.operator)


def admits(alts: list[Alternative], claims: dict[str, str], widest: bool) -> bool:
    return any(all(holds(c, claims) for c in a.conditions) and (widest or not a.unparsed) for a in alts)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expr(), st.fixed_dictionaries({c: WORDS for c in CLAIMS}))
def test_alternatives_admit_what_cel_admits(generated: tuple[str, Any], claims: dict[str, str]) -> None:
    text, tree = generated
    alts = alternatives(text, {})
    truth = cel_eval(tree, claims)
    if truth:
        assert admits(alts, claims, widest=True), text     # never narrower than CEL
    if not any(a.unparsed for a in alts):
        assert admits(alts, claims, widest=False) == truth, text


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("assertion.subrepo_ref=!&|()[]'\" ,\\+<>-0123456789tfx")), max_size=80))
def test_any_text_reads_without_crashing(text: str) -> None:
    out = alternatives(text, GH_MAP)
    assert isinstance(out, list)
    for alt in out:
        for c in alt.conditions:
            assert c.operator in ("equals", "prefix", "glob", "regex", "any") and c.raw


def test_search_as_fullmatch_is_interpretation_free() -> None:
    for pattern, text in [("acme/.*", "xx acme/api"), ("^acme$", "acme"), ("a|b", "zzb"), ("^a|b$", "ab")]:
        rewritten = search_as_fullmatch(pattern)
        assert bool(re.search(pattern, text)) == bool(re.fullmatch(rewritten, text)) == bool(re.search(rewritten, text))


def test_huge_or_is_unparsed_as_a_whole() -> None:
    text = " && ".join(f"(assertion.sub == 'a{i}' || assertion.ref == 'b{i}')" for i in range(8))
    assert conds(text) == [((), (text,))]
    assert conds("x" * 5000) == [((), ("x" * 5000,))]


# --- the connector's parsers on arbitrary JSON ----------------------------------------------------

JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
                    max_leaves=20)
FIELDS = st.sampled_from(["name", "email", "uniqueId", "displayName", "disabled", "validAfterTime", "validBeforeTime",
                          "keyType", "extendedStatus", "attributeMapping", "attributeCondition", "oidc", "activity",
                          "observationPeriod", "fullResourceName", "error", "details", "reason", "metadata"])
OBJECTS = st.dictionaries(FIELDS, JSON, max_size=8)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(OBJECTS, OBJECTS, st.lists(OBJECTS, max_size=3))
def test_parsers_take_any_json(account: dict[str, Any], key: dict[str, Any], activities: list[Any]) -> None:
    import httpx

    from connectors._http import Reply
    from connectors.gcp.activity import KEY_TYPE, SA_TYPE, Usage, _absorb
    from connectors.gcp.client import classify
    from connectors.gcp.keys import parse_key
    from connectors.gcp.service_accounts import parse_account

    project = Project("acme-prod", "111")
    sa = parse_account(project, account)
    if sa is not None:
        assert sa.unique_id.isdigit() and "@" in sa.email
        parse_key(sa, key)
    pool = wif.Pool("projects/111/locations/global/workloadIdentityPools/p", project, "p", False, "", "")
    provider = wif.parse_provider(pool, {**key, "name": f"{pool.name}/providers/x"})
    if provider is not None:
        wif.trusts(provider, [])
    for kind in (SA_TYPE, KEY_TYPE):
        _absorb(Usage(), kind, activities)
    for data in (account, key, {"error": account}, {"error": {"details": activities}}):
        problem = classify(Reply(403, httpx.Headers(), data, "https://iam.googleapis.com/v1/x"))
        assert problem.text.startswith("403")
