"""Vault/OpenBao auth roles as federated trusts: who may trade an external token for Vault policies.

Pure, no I/O, fuzzed. Two dialects:
- JWT/OIDC roles (`vault-jwt`): `bound_subject` is an exact compare; each `bound_claims` key is a
  condition whose list values are alternatives; `bound_claims_type: glob` makes `*` a pattern that
  crosses `/` (so `acme*` also admits `acme-evil/x`), while in the default `string` mode `*` is a
  literal character. `bound_audiences` are the accepted `aud` values; the issuer is the mount's
  `bound_issuer`, else its discovery URL. Claim keys may be JSON pointers (`/nested/claim`):
  kept as written.
- Kubernetes roles (`vault-kubernetes`): `bound_service_account_names` / `_namespaces` (`*` = any,
  other globs allowed) against the cluster's service-account token; the issuer is the mount's
  `issuer` or `kubernetes_host`.
A value this module cannot read (not a string or a list of strings) goes to `unparsed`, where
the shared rules read it as "anything may pass".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nhitui.model import ClaimCondition, FederatedTrust

SA_NAME = "kubernetes.io/serviceaccount/service-account.name"
SA_NAMESPACE = "kubernetes.io/serviceaccount/namespace"


def _strings(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, (str, int, float, bool)) for v in value):
        return tuple(str(v).lower() if isinstance(v, bool) else str(v) for v in value)
    if isinstance(value, (int, float, bool)):
        return (str(value).lower() if isinstance(value, bool) else str(value),)
    return None


def issuer_of(config: Mapping[str, Any]) -> str:
    """The issuer a JWT/OIDC mount accepts: `bound_issuer`, else the discovery URL, else ''."""
    for key in ("bound_issuer", "oidc_discovery_url"):
        value = config.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""


def jwt_trust(role: Mapping[str, Any], config: Mapping[str, Any], grants: str, privilege: str) -> FederatedTrust:
    """One JWT/OIDC role as a FederatedTrust (`grants` names the policies it hands out)."""
    conditions: list[ClaimCondition] = []
    unparsed: list[str] = []
    subject = role.get("bound_subject")
    if isinstance(subject, str) and subject:
        conditions.append(ClaimCondition("sub", "equals", (subject,), raw=f'bound_subject = "{subject}"'))
    elif subject not in (None, ""):
        unparsed.append(f"bound_subject = {subject!r}"[:300])
    glob = str(role.get("bound_claims_type") or "string").lower() == "glob"
    claims = role.get("bound_claims")
    if isinstance(claims, Mapping):
        for claim, raw_values in claims.items():
            values = _strings(raw_values)
            shown = f"{claim} = {raw_values!r}"[:300]
            if values is None:
                unparsed.append(shown)
                continue
            patterned = glob and any(ch in v for v in values for ch in "*?[")
            conditions.append(ClaimCondition(str(claim), "glob" if patterned else "equals", values,
                                             raw=f"bound_claims ({'glob' if glob else 'string'}): {shown}",
                                             glob_crosses_slash=True))
    elif claims not in (None, "", {}):
        unparsed.append(f"bound_claims = {claims!r}"[:300])
    audiences = _strings(role.get("bound_audiences"))
    if audiences is None:
        unparsed.append(f"bound_audiences = {role.get('bound_audiences')!r}"[:300])
        audiences = ()
    return FederatedTrust(issuer=issuer_of(config), grants=grants, grants_kind="vault_policies", privilege=privilege,
                          audiences=audiences, conditions=tuple(conditions), unparsed=tuple(unparsed),
                          dialect="vault-jwt")


def kubernetes_trust(role: Mapping[str, Any], config: Mapping[str, Any], grants: str,
                     privilege: str) -> FederatedTrust:
    """One Kubernetes auth role: which service accounts in which namespaces may log in."""
    conditions: list[ClaimCondition] = []
    unparsed: list[str] = []
    for key, claim in (("bound_service_account_names", SA_NAME), ("bound_service_account_namespaces", SA_NAMESPACE)):
        values = _strings(role.get(key))
        if values is None:
            unparsed.append(f"{key} = {role.get(key)!r}"[:300])
            continue
        shown = f"{key} = {list(values)!r}"
        if not values or "*" in values:
            conditions.append(ClaimCondition(claim, "any", (), raw=shown))
        elif any(ch in v for v in values for ch in "*?["):
            conditions.append(ClaimCondition(claim, "glob", values, raw=shown))
        else:
            conditions.append(ClaimCondition(claim, "equals", values, raw=shown))
    selector = role.get("bound_service_account_namespace_selector")
    if isinstance(selector, str) and selector.strip():
        unparsed.append(f"bound_service_account_namespace_selector = {selector!r}"[:300])
    audience = role.get("audience")
    audiences = (audience,) if isinstance(audience, str) and audience else ()
    issuer = ""
    for key in ("issuer", "kubernetes_host"):
        value = config.get(key)
        if isinstance(value, str) and value.strip():
            issuer = value.strip()
            break
    return FederatedTrust(issuer=issuer, grants=grants, grants_kind="vault_policies", privilege=privilege,
                          audiences=audiences, conditions=tuple(conditions), unparsed=tuple(unparsed),
                          dialect="vault-kubernetes")
