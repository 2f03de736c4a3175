"""Everything one scan learns about an Entra tenant (and its subscriptions), before it becomes rows.

The identities need facts from several endpoints at once (an app secret's privilege is its service
principal's app roles, directory roles and Azure roles), so the family modules first fill this
record, then build the identities from it.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from connectors._http import when


def moment(value: Any) -> datetime | None:
    """A Graph/ARM timestamp (an ISO string) as aware UTC; anything else, or out of range, is None."""
    if not isinstance(value, str):
        return None
    try:
        return when(value)
    except (OverflowError, OSError, ValueError):
        return None


def seq(value: Any) -> list[Any]:
    """A provider field that should be a JSON array, or [] when it is anything else (hostile data)."""
    return value if isinstance(value, list) else []


MICROSOFT_TENANTS = frozenset({"f8cdef31-a31e-4b4a-93e4-5f571e91255a", "72f988bf-86f1-41af-91ab-2d7cd011db47"})


@dataclass
class Activity:
    """Last sign-in of a service principal or credential, from the beta usage reports."""

    last_used: datetime | None
    kind: str = ""          # which activity field it came from


@dataclass
class Tenant:
    tenant_id: str
    apps: list[Mapping[str, Any]] = field(default_factory=list)
    apps_known: bool = True
    sps: dict[str, Mapping[str, Any]] = field(default_factory=dict)          # object id -> SP
    sps_known: bool = True
    sp_by_app: dict[str, str] = field(default_factory=dict)                  # appId -> SP object id
    owners: dict[str, list[str]] = field(default_factory=dict)               # app object id -> names
    app_fics: dict[str, list[Mapping[str, Any]]] = field(default_factory=dict)
    fic_fallback: str = ""                                                   # "beta"/"v1.0": read per app
    graph_sp_id: str = ""
    role_names: dict[tuple[str, str], str] = field(default_factory=dict)     # (resource, roleId) -> name
    assignments: dict[str, list[Mapping[str, Any]]] = field(default_factory=dict)
    assignments_unknown: set[str] = field(default_factory=set)
    grants: dict[str, list[dict[str, str]]] = field(default_factory=lambda: defaultdict(list))
    grants_known: bool = True
    directory_roles: dict[str, list[dict[str, str]]] = field(default_factory=lambda: defaultdict(list))
    directory_roles_known: bool = True
    arm_roles: dict[str, list[dict[str, str]]] = field(default_factory=lambda: defaultdict(list))
    arm_known: bool = True
    uamis: list[dict[str, Any]] = field(default_factory=list)                # ARM user-assigned MIs
    storage_accounts: list[Mapping[str, Any]] = field(default_factory=list)
    sp_activity: dict[str, Activity] = field(default_factory=dict)            # appId -> activity
    cred_activity: dict[tuple[str, str], Activity] = field(default_factory=dict)  # (keyId, origin)
    usage_reports: bool = False
    own_org: str = ""                                                        # the tenant's GUID, learnt
    app_ids: frozenset[str] = frozenset()

    def learn(self) -> None:
        """The tenant's own GUID from its apps' SPs: `tenant_id` may be a domain (acme.onmicrosoft.com),
        and comparing a domain with `appOwnerOrganizationId` would make every own app third-party."""
        self.app_ids = frozenset(str(a.get("appId") or "").lower() for a in self.apps)
        orgs = Counter(str(sp.get("appOwnerOrganizationId") or "").lower() for sp in self.sps.values()
                       if str(sp.get("appId") or "").lower() in self.app_ids and sp.get("appOwnerOrganizationId"))
        self.own_org = orgs.most_common(1)[0][0] if orgs else ""

    def publisher(self, sp: Mapping[str, Any]) -> str:
        """own, microsoft, third-party, or managed-identity / legacy for SPs without an app owner."""
        kind = sp.get("servicePrincipalType")
        if kind == "ManagedIdentity":
            return "managed-identity"
        owner_org = str(sp.get("appOwnerOrganizationId") or "").lower()
        if owner_org and owner_org in (self.tenant_id.lower(), self.own_org):
            return "own"
        if str(sp.get("appId") or "").lower() in self.app_ids:
            return "own"
        if owner_org in MICROSOFT_TENANTS:
            return "microsoft"
        if kind == "Legacy" or not owner_org:
            return "legacy" if kind == "Legacy" else "own"
        return "third-party"
