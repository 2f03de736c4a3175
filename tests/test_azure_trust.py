"""The Entra federated-credential parser (connectors/azure/fic_trust.py): documented examples, table
driven, and property tests that any input ends in a FederatedTrust, never an exception."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.azure.fic_trust import EXCHANGE_AUDIENCE, fic_trust, parse_expression
from nhitui.model import FederatedTrust

FAST = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
GH = "https://token.actions.githubusercontent.com"


def conds(expression: str) -> list[tuple[str, str, tuple[str, ...]]]:
    conditions, unparsed = parse_expression(expression)
    assert not unparsed, unparsed
    return [(c.claim, c.operator, c.values) for c in conditions]


# --- flexible expressions: documented forms ---------------------------------------------------

@pytest.mark.parametrize(("expression", "expected"), [
    ("claims['sub'] matches 'repo:contoso/app:ref:refs/heads/*'",
     [("sub", "glob", ("repo:contoso/app:ref:refs/heads/*",))]),
    ("claims['sub'] eq 'repo:contoso/app:environment:prod'",
     [("sub", "equals", ("repo:contoso/app:environment:prod",))]),
    ("claims['sub'] matches 'repo:contoso/*' and claims['job_workflow_ref'] eq "
     "'contoso/workflows/.github/workflows/deploy.yml@refs/heads/main'",
     [("sub", "glob", ("repo:contoso/*",)),
      ("job_workflow_ref", "equals", ("contoso/workflows/.github/workflows/deploy.yml@refs/heads/main",))]),
    ("claims['sub'] matches 'project_path:group/project:ref_type:branch:ref:*'",
     [("sub", "glob", ("project_path:group/project:ref_type:branch:ref:*",))]),
    ("claims['sub'] matches 'organization:acme:project:*:workspace:prod:run_phase:?pply'",
     [("sub", "glob", ("organization:acme:project:*:workspace:prod:run_phase:?pply",))]),
    ('claims["sub"] eq \'repo:a/b:pull_request\'', [("sub", "equals", ("repo:a/b:pull_request",))]),
    ("  claims[ 'sub' ]   MATCHES   'repo:a/*'  AND claims['sub'] eq 'repo:a/b:ref:refs/heads/main' ",
     [("sub", "glob", ("repo:a/*",)), ("sub", "equals", ("repo:a/b:ref:refs/heads/main",))]),
    # ' and ' inside a quoted comparand is part of the value
    ("claims['sub'] eq 'repo:a/b and c:ref:refs/heads/main'", [("sub", "equals", ("repo:a/b and c:ref:refs/heads/main",))]),
    # or on one claim and one operator: one condition with alternatives
    ("claims['sub'] eq 'repo:a/b:ref:refs/heads/main' or claims['sub'] eq 'repo:a/b:ref:refs/heads/dev'",
     [("sub", "equals", ("repo:a/b:ref:refs/heads/main", "repo:a/b:ref:refs/heads/dev"))]),
])
def test_flexible_expressions(expression: str, expected: list[tuple[str, str, tuple[str, ...]]]) -> None:
    assert conds(expression) == expected


@pytest.mark.parametrize(("expression", "kept"), [
    ("claims['sub'] eq 'a' or claims['aud'] eq 'b'", 0),             # or across claims
    ("claims['sub'] eq 'a' or claims['sub'] matches 'b*'", 0),       # or across operators
    ("claims['sub'] eq 'a' and claims['ref'] eq 'b' or claims['sub'] eq 'c'", 0),
    ("(claims['sub'] eq 'a')", 0),                                    # parentheses: not in the grammar
    ("claims['sub'] contains 'a'", 0),                                # unknown operator
    ("claims['sub'] eq 'unterminated", 0),
    ("sub eq 'a'", 0),
    ("claims['sub'] eq 'a' and claims['aud'] ne 'b'", 1),             # the readable term stays
    ("claims['sub'] matches 'repo:a/*' and garbage", 1),
    ("", 0),
])
def test_unreadable_parts_are_kept(expression: str, kept: int) -> None:
    conditions, unparsed = parse_expression(expression)
    assert len(conditions) == kept and unparsed
    assert all(isinstance(u, str) for u in unparsed)


# --- whole credentials ----------------------------------------------------------------------------

def test_regular_fic_is_exact_and_case_sensitive() -> None:
    fic = {"id": "1", "name": "gh", "issuer": GH, "subject": "repo:Contoso/App:ref:refs/heads/Main",
           "audiences": [EXCHANGE_AUDIENCE]}
    t = fic_trust(fic, grants="app-id", grants_kind="azure_app", privilege="admin")
    assert (t.issuer, t.grants, t.grants_kind, t.privilege, t.dialect) == (GH, "app-id", "azure_app", "admin", "azure-fic")
    assert [(c.claim, c.operator, c.values) for c in t.conditions] == [
        ("sub", "equals", ("repo:Contoso/App:ref:refs/heads/Main",))]
    assert t.audiences == (EXCHANGE_AUDIENCE,) and t.expected_audiences == (EXCHANGE_AUDIENCE,) and not t.unparsed


def test_star_in_a_regular_subject_is_literal() -> None:
    t = fic_trust({"issuer": GH, "subject": "repo:acme/*", "audiences": ["api://custom"]}, "a", "azure_app")
    assert [(c.operator, c.values) for c in t.conditions] == [("equals", ("repo:acme/*",))]
    assert t.audiences == ("api://custom",)


def test_flexible_fic_has_null_subject() -> None:
    fic = {"issuer": GH, "subject": None, "audiences": [EXCHANGE_AUDIENCE],
           "claimsMatchingExpression": {"value": "claims['sub'] matches 'repo:acme/web:*'", "languageVersion": 1}}
    t = fic_trust(fic, "mi-client", "azure_managed_identity", "write")
    assert t.dialect == "azure-flexible" and t.grants_kind == "azure_managed_identity"
    assert [(c.claim, c.operator, c.values, c.glob_crosses_slash) for c in t.conditions] == [
        ("sub", "glob", ("repo:acme/web:*",), True)]


@pytest.mark.parametrize("fic", [
    {"issuer": GH, "subject": None},                                                       # neither
    {"issuer": GH, "subject": ""},
    {"issuer": GH, "subject": 42},
    {"issuer": GH, "claimsMatchingExpression": "claims['sub'] eq 'a'"},                    # not an object
    {"issuer": GH, "claimsMatchingExpression": {"value": "claims['sub'] eq 'a'", "languageVersion": 2}},
    {"issuer": GH, "claimsMatchingExpression": {"value": None, "languageVersion": 1}},
])
def test_unreadable_credentials_are_unparsed(fic: dict[str, Any]) -> None:
    t = fic_trust(fic, "a", "azure_app")
    assert t.unparsed and not t.conditions


def test_arm_properties_shape() -> None:
    props = {"issuer": "https://westeurope.oic.prod-aks.azure.com/t/g/", "subject": "system:serviceaccount:prod:builder",
             "audiences": ["api://AzureADTokenExchange"]}
    t = fic_trust(props, "client", "azure_managed_identity", "write")
    assert t.conditions[0].values == ("system:serviceaccount:prod:builder",) and t.dialect == "azure-fic"


# --- properties -----------------------------------------------------------------------------------

CLAIMS = st.sampled_from(["sub", "job_workflow_ref", "aud", "repository", "", "su'b", "x" * 50])
OPS = st.sampled_from(["eq", "matches", "EQ", "ne", "contains", "", "=="])
VALUES = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30)
SAFE_VALUES = st.text(alphabet="abcdefgh:/*?._-@ ", max_size=30).filter(lambda v: " and " not in v.lower()
                                                                       and " or " not in v.lower())


@st.composite
def expressions(draw: Any) -> str:
    terms = []
    for _ in range(draw(st.integers(1, 4))):
        q = draw(st.sampled_from(["'", '"', ""]))
        terms.append(f"claims[{q}{draw(CLAIMS)}{q}] {draw(OPS)} '{draw(VALUES)}'")
    joiners = [draw(st.sampled_from([" and ", " or ", " AND ", " ", " and (", ") or "])) for _ in terms[1:]]
    text = terms[0] + "".join(j + t for j, t in zip(joiners, terms[1:]))
    return draw(st.sampled_from([text, text[: draw(st.integers(0, len(text)))], f"({text})"]))


@FAST
@given(expressions())
def test_any_expression_parses_or_is_unparsed(expression: str) -> None:
    conditions, unparsed = parse_expression(expression)
    assert conditions or unparsed
    assert all(c.operator in ("equals", "glob") and c.values for c in conditions)


@FAST
@given(st.lists(st.tuples(st.sampled_from(["sub", "job_workflow_ref", "ref"]), st.sampled_from(["eq", "matches"]),
                          SAFE_VALUES), min_size=1, max_size=5))
def test_well_formed_conjunctions_keep_every_term(terms: list[tuple[str, str, str]]) -> None:
    text = " and ".join(f"claims['{c}'] {op} '{v}'" for c, op, v in terms)
    assert conds(text) == [(c, "equals" if op == "eq" else "glob", (v,)) for c, op, v in terms]


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                    max_leaves=10)


@FAST
@given(st.fixed_dictionaries({}, optional={"issuer": JSON, "subject": JSON, "audiences": JSON,
                                           "claimsMatchingExpression": JSON | st.fixed_dictionaries(
                                               {"value": JSON | expressions(), "languageVersion": JSON})}))
def test_any_credential_gives_a_trust(fic: dict[str, Any]) -> None:
    t = fic_trust(fic, "app", "azure_app", "read")
    assert isinstance(t, FederatedTrust) and t.dialect in ("azure-fic", "azure-flexible")
    assert t.conditions or t.unparsed
    assert FederatedTrust.from_dict(t.as_dict()) == t
