"""Identity rows for service accounts, their user-managed keys and WIF providers.

Pure builders over what the family modules read; the scan (connector.py) calls them. Last use
follows activity.py's semantics: a recorded day, "never used" only when the object is younger
than Activity Analyzer's observation window, and otherwise `usage_tracked` False with
`no_use_since` (the window start) in details, so the shared rules never call it "never used".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

from connectors.gcp import wif
from connectors.gcp.activity import Usage
from connectors.gcp.iam_policy import Binding, privilege_of, scope_label
from connectors.gcp.keys import Key
from connectors.gcp.orgpolicy import KeyPolicy
from connectors.gcp.service_accounts import ServiceAccount
from nhitui.model import TRUSTS_DETAIL, Identity, iso, make_uid, max_privilege

SA_KIND, KEY_KIND, WIF_KIND = "gcp_service_account", "sa_key", "wif_provider"
CONSOLE = "https://console.cloud.google.com"


@dataclass
class AccountFacts:
    """What the project scan learned about one service account."""

    account: ServiceAccount
    bindings: list[tuple[Binding, str]] = field(default_factory=list)     # (binding, where: "" | org | folder)
    impersonators: list[str] = field(default_factory=list)                # "role: member"
    policy_read: bool = True
    keys: list[Key] = field(default_factory=list)
    system_keys: int = 0
    keys_read: bool = True

    @property
    def privilege(self) -> str:
        return privilege_of([b for b, _ in self.bindings])

    @property
    def scopes(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(scope_label(b, where) for b, where in self.bindings))

    @property
    def agent(self) -> bool:
        return self.account.kind == "service-agent"


def last_use(join: str, created: datetime | None, usage: Usage | None, window_start: datetime | None,
             disabled_key: bool = False) -> tuple[datetime | None, bool, dict[str, Any]]:
    """(last_used_at, usage_tracked, details) for one object."""
    if usage is None or not usage.read:
        return None, False, {"last_use": "unknown: Activity Analyzer could not be read (see blind spots)"}
    if disabled_key:
        return None, False, {"last_use": "unknown: Activity Analyzer does not report disabled keys"}
    window: dict[str, Any] = {}
    # Only this project's own observation window counts: borrowing another project's would call
    # objects "never used" in a project Activity Analyzer said nothing about.
    start = usage.window_start
    if start is not None:
        window["observed_since"] = iso(start)
    if usage.window_end is not None:
        window["observed_until"] = iso(usage.window_end)
    if join in usage.last:
        return usage.last[join], True, {**window, "last_use_granularity": "day"}
    if start is None:
        return None, False, {"last_use": "unknown: Activity Analyzer reported no observation window"}
    end = usage.window_end
    if created is not None and created >= start and end is not None and created < end:
        return None, True, window       # existed inside the observed window and was never seen
    if created is not None and end is not None and created >= end:
        return None, False, {**window, "last_use": "unknown: created after the end of Activity Analyzer's "
                                                   f"observation window ({end:%Y-%m-%d})"}
    return None, False, {**window, "no_use_since": iso(start),
                         "last_use": f"no recorded use since {start:%Y-%m-%d} (older use is not known)"}


def account_identity(source: str, facts: AccountFacts, usage: Usage | None, window: datetime | None,
                     actions: tuple[str, ...]) -> Identity:
    sa = facts.account
    last, tracked, use = last_use(sa.unique_id, None, usage, window)
    roles = sorted({b.role for b, _ in facts.bindings})
    details: dict[str, Any] = {
        "email": sa.email, "project_id": sa.project.id, "project_number": sa.project.number,
        "unique_id": sa.unique_id, "display_name": sa.display_name, "description": sa.description,
        "sa_kind": sa.kind, "service_agent": facts.agent, "roles": roles,
        "impersonated_by": sorted(set(facts.impersonators)), "user_managed_keys": len(facts.keys),
        "system_managed_keys": facts.system_keys, **use,
    }
    if not facts.policy_read:
        details["impersonation"] = "unknown: the service account's IAM policy could not be read"
    return Identity(
        uid=make_uid(source, SA_KIND, sa.unique_id), source=source, provider="gcp", kind=SA_KIND,
        name=sa.email, owner="", target=sa.project.id, scopes=facts.scopes, privilege=facts.privilege,
        last_used_at=last, status="inactive" if sa.disabled else "active", credential="ephemeral",
        actions=actions, usage_tracked=tracked, details=details,
        url=f"{CONSOLE}/iam-admin/serviceaccounts/details/{sa.unique_id}?project={quote(sa.project.id)}",
    )


def key_status(key: Key, now: datetime) -> str:
    if key.disabled:
        return "inactive"
    if key.expires is not None and key.expires <= now:
        return "expired"
    return "active"


def key_identity(source: str, key: Key, facts: AccountFacts, usage: Usage | None, window: datetime | None,
                 policy: KeyPolicy | None, actions: tuple[str, ...], now: datetime) -> Identity:
    sa = key.account
    last, tracked, use = last_use(key.key_id, key.created, usage, window, disabled_key=key.disabled)
    details: dict[str, Any] = {
        "key_id": key.key_id, "sa_email": sa.email, "sa_unique_id": sa.unique_id, "project_id": sa.project.id,
        "project_number": sa.project.number, "sa_kind": sa.kind, "sa_disabled": sa.disabled,
        "algorithm": key.algorithm, "origin": key.origin, "disable_reason": key.disable_reason,
        "exposed": list(key.exposed), **use,
    }
    if policy is not None and policy.read:
        details["key_creation_disabled"] = bool(policy.key_creation_disabled)
        details["key_expiry_hours"] = policy.key_expiry_hours
    return Identity(
        uid=make_uid(source, KEY_KIND, key.key_id), source=source, provider="gcp", kind=KEY_KIND,
        name=key.key_id, owner=sa.email, target=sa.project.id, scopes=facts.scopes, privilege=facts.privilege,
        created_at=key.created, expires_at=key.expires, last_used_at=last, status=key_status(key, now),
        credential="static", actions=actions, usage_tracked=tracked, details=details,
        url=f"{CONSOLE}/iam-admin/serviceaccounts/details/{sa.unique_id}/keys?project={quote(sa.project.id)}",
    )


def provider_identity(source: str, provider: wif.Provider, grants: list[wif.Grant],
                      actions: tuple[str, ...]) -> Identity:
    pool = provider.pool
    trusts = wif.trusts(provider, grants)
    scopes = tuple(dict.fromkeys(f"{g.role} -> {g.target}" for g in grants))
    whole = sorted({f"{g.role} -> {g.target}" for g in grants if g.principal.whole_pool})
    details: dict[str, Any] = {
        "provider_name": provider.name, "pool": pool.pool_id, "pool_name": pool.name,
        "project_id": pool.project.id, "project_number": pool.project.number, "protocol": provider.protocol,
        "issuer": provider.issuer, "issuer_host": wif.issuer_host(provider.issuer) if provider.issuer else "",
        "allowed_audiences": list(provider.audiences), "attribute_mapping": dict(provider.mapping),
        "attribute_condition": provider.condition or "", "pool_disabled": pool.disabled,
        "provider_disabled": provider.disabled, "whole_pool_grants": whole,
        "grants": [{"member": g.principal.member, "role": g.role, "target": g.target} for g in grants],
        TRUSTS_DETAIL: trusts,
    }
    status = "inactive" if provider.disabled or pool.disabled else "active"
    return Identity(
        uid=make_uid(source, WIF_KIND, provider.name), source=source, provider="gcp", kind=WIF_KIND,
        name=f"{pool.pool_id}/{provider.provider_id}", owner="", target=pool.project.id, scopes=scopes,
        privilege=max_privilege(*(g.privilege for g in grants)) if grants else "none",
        status=status, credential="federated", actions=actions, usage_tracked=False, details=details,
        url=(f"{CONSOLE}/iam-admin/workload-identity-pools/pool/{quote(pool.pool_id)}/provider/"
             f"{quote(provider.provider_id)}?project={quote(pool.project.id)}"),
    )
