"""Auth roles that trust external tokens (`vault_auth_role`, credential `federated`).

JWT/OIDC mounts (`sys/auth` type jwt/oidc): `GET auth/<m>/config` gives the issuer (`bound_issuer`,
else the discovery URL); each role (`LIST auth/<m>/role`, `GET auth/<m>/role/<r>`) has bound
audiences, subject and claims (string vs glob), the user claim, token policies and TTLs.
Kubernetes mounts: roles bind service-account names and namespaces (`*` = any). Each role becomes
one identity whose `details[TRUSTS_DETAIL]` holds the normalised trust (connectors/vault/trust.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

from connectors.vault.client import Denied
from connectors.vault.scan import Scan, seconds, strings
from connectors.vault.trust import issuer_of, jwt_trust, kubernetes_trust
from nhitui.model import TRUSTS_DETAIL, Identity, make_uid, sanitize

KIND = "vault_auth_role"
ROLE_KEYS = ("role_type", "bound_audiences", "bound_subject", "bound_claims", "bound_claims_type", "user_claim",
             "groups_claim", "token_policies", "token_ttl", "token_max_ttl", "token_type", "token_bound_cidrs",
             "token_num_uses", "token_period", "bound_service_account_names", "bound_service_account_namespaces",
             "audience", "alias_name_source")


def saved_config(role: Mapping[str, Any]) -> dict[str, Any]:
    """The role's settings as Vault returned them (bounded), kept so a deleted role can be recreated."""
    out: dict[str, Any] = {}
    for key in ROLE_KEYS:
        if key in role:
            value = role[key]
            if isinstance(value, (str, int, float, bool)) or value is None:
                out[key] = sanitize(value)[:300] if isinstance(value, str) else value
            elif isinstance(value, list):
                out[key] = [sanitize(v)[:300] for v in value[:50]]
            elif isinstance(value, Mapping):
                out[key] = {sanitize(k)[:100]: (strings(v) if isinstance(v, list) else sanitize(v)[:300])
                            for k, v in list(value.items())[:50]}
    return out


async def collect(scan: Scan, mount: str, mount_type: str) -> AsyncIterator[list[Identity]]:
    base = f"auth/{mount.strip('/')}"
    try:
        config = await scan.client.read(f"{base}/config") or {}
    except Denied as exc:
        scan.blind(f"{base}/config", exc, f"read on {base}/config")
        config = {}
    try:
        names, _ = await scan.client.list(f"{base}/role")
    except Denied as exc:
        scan.blind(f"{base}/role", exc, f"list on {base}/role/ and read on {base}/role/+")
        return
    batch: list[Identity] = []
    for name in names:
        try:
            role = await scan.client.read(f"{base}/role/{name}")
        except Denied as exc:
            scan.blind(f"{base}/role/+", exc, f"read on {base}/role/+")
            break
        if role is None:
            continue
        batch.append(await _identity(scan, mount, mount_type, name, role, config))
    if batch:
        yield batch


async def _identity(scan: Scan, mount: str, mount_type: str, name: str, role: Mapping[str, Any],
                    config: Mapping[str, Any]) -> Identity:
    policies = strings(role.get("token_policies")) or strings(role.get("policies"))
    privilege, reason = await scan.privilege(policies)
    grants = f"policies: {', '.join(policies) or '(none)'}"
    if mount_type == "kubernetes":
        trust = kubernetes_trust(role, config, grants, privilege)
    else:
        trust = jwt_trust(role, config, grants, privilege)
    label = f"{mount.strip('/')}/{sanitize(name)[:200]}"
    return Identity(
        uid=make_uid(scan.source, KIND, scan.native(mount, name)), source=scan.source, provider="vault", kind=KIND,
        name=label, owner="", target=scan.target, scopes=tuple(policies), privilege=privilege,
        credential="federated", actions=("delete-role",), usage_tracked=False,
        details={"mount": mount.strip("/"), "mount_type": mount_type, "role": sanitize(name)[:200],
                 "namespace": scan.namespace, "issuer": sanitize(trust.issuer)[:300],
                 "privilege_reason": reason, "config": saved_config(role),
                 "user_claim": sanitize(role.get("user_claim"))[:100],
                 "token_type": sanitize(role.get("token_type") or "default")[:20],
                 "token_ttl": seconds(role.get("token_ttl")), "token_period": seconds(role.get("token_period")),
                 "disable_iss_validation": bool(config.get("disable_iss_validation")),
                 "mount_issuer": sanitize(issuer_of(config))[:300], TRUSTS_DETAIL: (trust,)},
    )
