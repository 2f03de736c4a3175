"""The filter language: terms, units, OR, negation and clear errors."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nhitui.inventory import Inventory, haystack
from nhitui.query import QueryError, parse
from tests.helpers import NOW, days, ident


def match(q: str, i) -> bool:
    return parse(q, now=NOW)(i, haystack(i))


def test_free_words_match_name_owner_target_case_insensitively():
    i = ident(name="Deploy-Bot", owner="carol", target="acme/payments")
    assert match("deploy", i) and match("CAROL", i) and match("payments", i)
    assert not match("zebra", i)


def test_fields_and_or_values():
    i = ident(provider="gitlab", kind="runner")
    assert match("provider:github,gitlab", i)
    assert not match("provider:aws,npm", i)
    assert match("kind:run*", i)


@pytest.mark.parametrize("q, expected", [
    ("age>90d", True), ("age>399d", True), ("age>401d", False), ("age>13m", True), ("age>2y", False),
    ("age<1y", False), ("age>57w", True), ("age>400", False),
])
def test_age_units(q, expected):
    assert match(q, ident(created_at=days(400))) is expected


def test_unused_counts_never_used_from_creation_and_not_unknown():
    assert match("unused>30d", ident(last_used_at=days(31)))
    assert not match("unused>30d", ident(last_used_at=days(29)))
    assert match("unused>30d", ident(last_used_at=None, created_at=days(40)))
    assert not match("unused>30d", ident(last_used_at=None, usage_tracked=False))


def test_expires_and_flags():
    soon = ident(expires_at=NOW + (days(0) - days(3)))
    assert match("expires<7d", soon) and not match("expires>7d", soon)
    assert match("no-expiry", ident(expires_at=None))
    assert match("never-used", ident(last_used_at=None))
    assert not match("never-used", ident(last_used_at=None, usage_tracked=False))


def test_privilege_comparison():
    assert match("privilege>=write", ident(privilege="admin"))
    assert not match("privilege>=write", ident(privilege="read"))
    assert match("privilege:read", ident(privilege="read"))


def test_negation():
    i = ident(provider="aws")
    assert match("!provider:github", i)
    assert not match("!provider:aws", i)


def test_quoted_phrase():
    assert match('"deploy key"', ident(name="old deploy key"))


@pytest.mark.parametrize("q, term", [
    ("colour:red", "colour:red"), ("age>ninety", "age>ninety"), ("privilege>=god", "privilege>=god"),
    ("!", "!"), ('"open', '"open'), ("provider:", "provider:"), ("size>3", "size>3"),
])
def test_bad_terms_name_the_term(q, term):
    with pytest.raises(QueryError) as info:
        parse(q, now=NOW)
    assert info.value.term == term
    assert info.value.reason


def test_inventory_select_uses_query():
    inv = Inventory()
    inv.add([ident(n, provider="github" if n % 2 else "gitlab") for n in range(10)])
    assert len(inv.select(parse("provider:gitlab", now=NOW))) == 5


TERMS = st.sampled_from(["provider:github", "kind:deploy_key", "age>90d", "unused>30d", "expires<7d",
                         "privilege>=write", "stale", "never-used", "no-expiry", "alice", "key-3",
                         "scope:repo", "source:src", "status:active,inactive"])
IDENTS = st.builds(
    lambda n, prov, priv, used, exp: ident(n, provider=prov, privilege=priv, last_used_at=used, expires_at=exp),
    st.integers(0, 20), st.sampled_from(["github", "gitlab", "aws"]),
    st.sampled_from(["none", "read", "write", "admin"]),
    st.one_of(st.none(), st.integers(0, 500).map(days)), st.one_of(st.none(), st.integers(-30, 30).map(days)))


@settings(max_examples=200, deadline=None)
@given(TERMS, IDENTS)
def test_negation_is_the_complement(term, i):
    assert match(f"!{term}", i) is (not match(term, i))


@settings(max_examples=200, deadline=None)
@given(st.lists(TERMS, min_size=1, max_size=4), IDENTS)
def test_terms_combine_with_and(terms, i):
    assert match(" ".join(terms), i) is all(match(t, i) for t in terms)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_any_text_parses_or_raises_query_error(text):
    try:
        q = parse(text, now=NOW)
    except QueryError as exc:
        assert exc.term is not None
        return
    q(ident(), haystack(ident()))


def test_assumable_by_term_uses_the_graph_across_providers():
    from nhitui.model import TRUSTS_DETAIL, ClaimCondition, FederatedTrust
    from nhitui.policy import Graph
    from nhitui.query import Context as QueryContext

    def trusting(n, provider, kind, sub):
        t = FederatedTrust(issuer="https://token.actions.githubusercontent.com", grants=f"g{n}", grants_kind=kind,
                           privilege="write", conditions=(ClaimCondition("sub", "glob", (sub,), sub),))
        return ident(n, provider=provider, kind=kind, name=f"id{n}", details={TRUSTS_DETAIL: (t,)})

    rows = [trusting(1, "aws", "iam_role", "repo:acme/api:*"), trusting(2, "azure", "federated_credential", "repo:acme/*"),
            trusting(3, "gcp", "wif_provider", "repo:other/x:*"), ident(4, target="acme/api", details={"repo": "acme/api"})]
    graph = Graph(rows)
    hay = ["" for _ in rows]
    both = parse("assumable-by:acme/api", context=QueryContext(reaches=graph.reaches))   # the CLI's context
    assert [rows[i].name for i in both.filter(rows, hay)] == ["id1", "id2"]
    one = parse("assumable-by:acme/web", context=QueryContext(assumable_by=graph.assumable_by))
    assert [rows[i].name for i in one.filter(rows, hay)] == ["id2"]
    with pytest.raises(QueryError, match="assumable-by"):
        parse("assumable-by:acme/api")
    with pytest.raises(QueryError, match="needs a value"):
        parse("assumable-by:", context=QueryContext(assumable_by=graph.assumable_by))
