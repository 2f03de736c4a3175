"""Vault's pure parsers: ACL policies (HCL, JSON, legacy) to privilege, and auth roles to trusts."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.vault.policies import parse_policy, policy_privilege
from connectors.vault.trust import jwt_trust, kubernetes_trust

POLICY_CASES = [
    ("root", None, "admin"),
    ("default", 'path "auth/token/lookup-self" { capabilities = ["read"] }', "none"),
    ("p", 'path "*" { capabilities = ["read", "list"] }', "read"),
    ("p", 'path "*" { capabilities = ["update"] }', "admin"),
    ("p", 'path "+/x" { capabilities = ["create"] }', "admin"),
    ("p", 'path "secret/data/app/*" { capabilities = ["read"] }', "read"),
    ("p", 'path "secret/data/app/*" { capabilities = ["create", "update"] }', "write"),
    ("p", 'path "database/creds/app" { capabilities = ["read"] }', "write"),
    ("p", 'path "sys/policies/acl/*" { capabilities = ["update"] }', "admin"),
    ("p", 'path "auth/token/create" { capabilities = ["update"] }', "admin"),
    ("p", 'path "auth/jwt/role/x" { capabilities = ["update"] }', "admin"),
    ("p", 'path "auth/approle/role/x/secret-id" { capabilities = ["update"] }', "write"),
    ("p", 'path "identity/entity/id/x" { capabilities = ["update"] }', "admin"),
    ("p", 'path "auth/token/accessors/" { capabilities = ["list", "sudo"] }', "admin"),
    ("p", 'path "secret/*" { policy = "read" }', "read"),
    ("p", 'path "secret/*" { policy = "write" }', "write"),
    ("p", 'path "secret/*" { policy = "deny" }', "none"),
    ("p", 'path "secret/*" { capabilities = ["subscribe"] }', "write"),   # unknown: conservative
    ("p", '{"path": {"sys/mounts/x": {"capabilities": ["create"]}}}', "admin"),
    ("p", '{"path": {"kv/x": {"policy": "read"}}}', "read"),
    ("p", '# comment\n// another\n/* block */ path "kv/*" {\n capabilities = ["list",]\n}', "read"),
]


@pytest.mark.parametrize(("name", "text", "want"), POLICY_CASES)
def test_policy_privilege_table(name: str, text: str | None, want: str) -> None:
    assert policy_privilege(name, text).privilege == want


def test_policy_reason_quotes_the_deciding_rule() -> None:
    c = policy_privilege("ops", 'path "kv/*" { capabilities = ["read"] }\npath "sys/auth/*" { capabilities = ["update"] }')
    assert c.privilege == "admin" and 'path "sys/auth/*"' in c.reason


@pytest.mark.parametrize("bad", ['path "x" {', 'path {', '{"path": 3}', '{"path": {"x": 1}}', "{not json"])
def test_malformed_policy_is_a_value_error(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_policy(bad)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_policy_fuzz_only_value_error(text: str) -> None:
    try:
        rules = parse_policy(text)
    except ValueError:
        return
    assert isinstance(rules, list)


GH = {"bound_issuer": "https://token.actions.githubusercontent.com"}


def test_jwt_roles_safe_to_dangerous() -> None:
    g1 = jwt_trust({"bound_subject": "repo:acme/api:environment:production",
                    "bound_claims": {"repository_id": "123456789"},
                    "bound_audiences": ["https://vault.acme.example"]}, GH, "policies: ci", "write")
    assert [(c.claim, c.operator) for c in g1.conditions] == [("sub", "equals"), ("repository_id", "equals")]
    # string mode: `*` is a literal character, not a pattern
    literal = jwt_trust({"bound_claims": {"repository": "acme/*"}}, GH, "p", "read")
    assert literal.conditions[0].operator == "equals" and literal.conditions[0].values == ("acme/*",)
    g3 = jwt_trust({"bound_claims_type": "glob", "bound_claims": {"repository": ["acme*", "other/x"]}}, GH, "p", "write")
    assert g3.conditions[0].operator == "glob" and g3.conditions[0].glob_crosses_slash
    assert g3.conditions[0].values == ("acme*", "other/x")
    g5 = jwt_trust({"bound_audiences": ["https://github.com/acme"]}, GH, "p", "write")
    assert g5.conditions == () and g5.audiences == ("https://github.com/acme",)
    discovery = jwt_trust({}, {"oidc_discovery_url": "https://gitlab.example.com"}, "p", "read")
    assert discovery.issuer == "https://gitlab.example.com"
    odd = jwt_trust({"bound_claims": {"nested": {"a": 1}}, "bound_subject": 5}, GH, "p", "read")
    assert len(odd.unparsed) == 2 and odd.conditions == ()


def test_kubernetes_roles() -> None:
    anyone = kubernetes_trust({"bound_service_account_names": ["*"], "bound_service_account_namespaces": ["*"]},
                              {"kubernetes_host": "https://k8s:6443"}, "p", "write")
    assert {c.operator for c in anyone.conditions} == {"any"} and anyone.issuer == "https://k8s:6443"
    team = kubernetes_trust({"bound_service_account_names": ["payments"],
                             "bound_service_account_namespaces": ["team-*"], "audience": "vault"}, {}, "p", "read")
    assert [c.operator for c in team.conditions] == ["equals", "glob"] and team.audiences == ("vault",)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["bound_subject", "bound_claims", "bound_claims_type", "bound_audiences"]),
                       st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                                    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c,
                                                                                        max_size=3), max_leaves=8)))
def test_jwt_trust_fuzz_never_raises(role: dict) -> None:
    trust = jwt_trust(role, GH, "p", "read")
    assert trust.dialect == "vault-jwt"
