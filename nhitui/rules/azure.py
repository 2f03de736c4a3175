"""Risk rules that only Azure / Entra identities can trip (the shared rules in nhitui.policy apply too).

They read what the connector put in `details`: `tier0` (tier-0 Graph permissions and privileged
directory roles of the service principal), `sp_credential` (a credential set on the service
principal itself rather than its application), `lifetime_days` / `no_expiry` of a secret or
certificate, and `publisher` (own, microsoft, third-party, managed-identity). Federated trust
(subjects, wildcards, pull requests, audiences) is judged by the shared trust rules, not here.
"""

from __future__ import annotations

from datetime import timedelta

from nhitui.model import Identity, privilege_rank
from nhitui.rules import Context, Rule

EXPIRING_DAYS = 30
MAX_LIFETIME_DAYS = 366          # Microsoft recommends secrets shorter than 12 months
CREDENTIAL_KINDS = ("app_secret", "app_certificate")

RULES: tuple[Rule, ...] = (
    Rule("azure-tier0-permission", "critical", "NHI5",
         "holds a tier-0 Entra permission or directory role (a path to Global Administrator)"),
    Rule("azure-sp-credential", "high", "NHI4",
         "credential set directly on a service principal (a persistence technique)"),
    Rule("azure-secret-expiring", "medium", "NHI7", "secret or certificate expires within 30 days"),
    Rule("azure-long-lived-secret", "medium", "NHI7", "secret or certificate valid for over a year, or forever"),
    Rule("azure-fic-privileged-app", "high", "NHI6",
         "federated credential on an app or managed identity with administrative privilege"),
    Rule("azure-third-party-privileged", "high", "NHI3", "third-party service principal with write or admin access"),
)


def check(identity: Identity, ctx: Context) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    d = identity.details
    kind = identity.kind
    live = identity.status not in ("revoked", "expired")
    tier0 = [str(t) for t in d.get("tier0") or ()]
    if tier0 and live and kind in ("service_principal", "managed_identity", *CREDENTIAL_KINDS):
        holder = "It" if kind in ("service_principal", "managed_identity") else "Its service principal"
        out.append(("azure-tier0-permission", f"{holder} holds {', '.join(tier0[:4])}: enough to take over the "
                                              "tenant; whoever holds its credentials can too."))
    if kind in CREDENTIAL_KINDS and live:
        if d.get("sp_credential"):
            what = "secret" if kind == "app_secret" else "certificate"
            out.append(("azure-sp-credential", f"This {what} is set on the service principal itself (publisher: "
                                               f"{d.get('publisher') or 'unknown'}), where the portal does not show "
                                               "it: a known way to keep access unnoticed."))
        expires = identity.expires_at
        if expires is not None and ctx.now < expires <= ctx.now + timedelta(days=EXPIRING_DAYS):
            days = (expires - ctx.now).days
            out.append(("azure-secret-expiring", f"It expires in {days} days ({expires:%Y-%m-%d}): rotate it before "
                                                 "whatever uses it breaks."))
        lifetime = d.get("lifetime_days")
        if d.get("no_expiry"):
            out.append(("azure-long-lived-secret", "It never expires (end date absent or beyond a century)."))
        elif isinstance(lifetime, int) and lifetime > MAX_LIFETIME_DAYS:
            out.append(("azure-long-lived-secret", f"It is valid for {lifetime} days; keep credentials under "
                                                   "12 months."))
    if kind == "federated_credential" and identity.privilege == "admin" and live:
        what = ", ".join(tier0[:3]) or ", ".join(identity.scopes[:3]) or "administrative privilege"
        out.append(("azure-fic-privileged-app", f"An external token can become an identity holding {what}."))
    if kind == "service_principal" and d.get("publisher") == "third-party" and live and \
            privilege_rank(identity.privilege) >= privilege_rank("write"):
        out.append(("azure-third-party-privileged", f"An app published by another tenant "
                                                    f"({d.get('publisher_tenant') or 'unknown'}) holds "
                                                    f"{identity.privilege} access here: "
                                                    f"{', '.join(identity.scopes[:3])}."))
    return out
