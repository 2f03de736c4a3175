"""Risk rules only Vault/OpenBao identities can trip (the shared rules, trust rules included, apply too).

Why each matters (reference/vault.md §3.2, §4.4, §5): a root token or a token that never expires is
a permanent key to everything; a periodic token renews forever; a secret ID that never expires or
an AppRole that needs no secret ID (`bind_secret_id = false`: the role ID, which nobody treats as a
secret, is enough) is a static credential in disguise; a role minting batch tokens hides them from
any inventory; a JWT role whose `user_claim` is shared (`actor`, `repository_owner`, …) merges many
workloads into one entity; a Kubernetes role bound to any service account admits every pod.
"""

from __future__ import annotations

from nhitui.model import Identity
from nhitui.rules import Context, Rule

RULES: tuple[Rule, ...] = (
    Rule("vault-root-token", "critical", "NHI5", "Vault token holding the root policy"),
    Rule("vault-token-no-expiry", "medium", "NHI7", "Vault token that never expires"),
    Rule("vault-periodic-token", "low", "NHI7", "periodic Vault token that can be renewed forever"),
    Rule("vault-secret-id-no-expiry", "medium", "NHI7", "AppRole secret ID that never expires"),
    Rule("vault-approle-role-id-only", "high", "NHI4", "AppRole login needs only the role ID"),
    Rule("vault-approle-unbound", "low", "NHI4", "AppRole secret IDs usable without limit from anywhere"),
    Rule("vault-batch-tokens", "info", "NHI1", "role mints batch tokens, which no inventory can list"),
    Rule("vault-shared-user-claim", "medium", "NHI9", "JWT role merges workloads through a shared user claim"),
    Rule("vault-k8s-any-sa", "high", "NHI5", "Kubernetes auth role admits any service account of a namespace"),
)

SHARED_CLAIMS = frozenset({"actor", "repository_owner", "repository_owner_id", "namespace_path", "namespace_id",
                           "user_email", "user_login", "aud", "iss"})


def check(identity: Identity, ctx: Context) -> list[tuple[str, str]]:
    d = identity.details
    out: list[tuple[str, str]] = []
    live = identity.status not in ("revoked", "expired")
    if identity.kind == "vault_token" and live:
        if "root" in identity.scopes:
            out.append(("vault-root-token", "It holds the root policy: it can do anything on this server. Root "
                        "tokens should exist only while an operator needs one."))
        if identity.expires_at is None and not d.get("period"):
            out.append(("vault-token-no-expiry", "Its TTL is 0: it stays valid until someone revokes it."))
        if d.get("period"):
            out.append(("vault-periodic-token", f"It is periodic ({int(d['period']) // 3600} h): every renewal "
                        "resets its TTL, so it can live forever."))
    if identity.kind == "approle_secret_id" and live and identity.expires_at is None:
        out.append(("vault-secret-id-no-expiry", f"Role {d.get('role')!r} issued it with secret_id_ttl 0: it never "
                    "expires."))
    if identity.kind == "approle_role":
        if d.get("bind_secret_id") is False:
            out.append(("vault-approle-role-id-only", "bind_secret_id is false: the role ID alone logs in, and role "
                        "IDs are not kept secret."))
        if d.get("bind_secret_id") is not False and not d.get("secret_id_num_uses") \
                and not d.get("secret_id_bound_cidrs") and not d.get("token_bound_cidrs"):
            out.append(("vault-approle-unbound", "Its secret IDs have no use limit and no CIDR binding: a leaked "
                        "one works from anywhere, any number of times."))
    if identity.kind in ("approle_role", "vault_auth_role") and d.get("token_type") == "batch":
        out.append(("vault-batch-tokens", "It mints batch tokens: Vault never lists them, so the tokens it "
                    "issued are invisible here (this role is their only trace)."))
    if identity.kind == "vault_auth_role" and d.get("mount_type") == "jwt":
        claim = str(d.get("user_claim") or "")
        if claim in SHARED_CLAIMS:
            out.append(("vault-shared-user-claim", f"user_claim is {claim!r}: every workload with the same "
                        f"{claim} shares one entity, its policies and its audit trail."))
    if identity.kind == "vault_auth_role" and d.get("mount_type") == "kubernetes":
        config = d.get("config") or {}
        names = config.get("bound_service_account_names") or []
        namespaces = config.get("bound_service_account_namespaces") or []
        # Both '*' is the shared trust rules' oidc-no-sub; a wildcard name in pinned namespaces is ours.
        if "*" in names and "*" not in namespaces:
            out.append(("vault-k8s-any-sa", f"bound_service_account_names is '*': any pod in "
                        f"{', '.join(namespaces)} can log in."))
    return out
