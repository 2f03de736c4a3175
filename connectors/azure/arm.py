"""Azure Resource Manager: subscriptions, role assignments, user-assigned managed identities and their FICs.

- Subscriptions: the configured ones, else `GET /subscriptions?api-version=2022-12-01` (those the
  credential can see).
- Role assignments: `GET /subscriptions/{sub}/providers/Microsoft.Authorization/roleAssignments`
  **without** `atScope()`, so resource-group and resource-level assignments are included;
  `principalId` is the SP object id. Built-in role ids are constant; custom roles are read once
  per subscription and judged by their actions.
- Storage accounts (`storage`): the age of their access keys.
- User-assigned MIs: `GET /subscriptions/{sub}/providers/Microsoft.ManagedIdentity/userAssignedIdentities`,
  then each one's `federatedIdentityCredentials`.
Everything needs Reader on the subscription; a 403 (`AuthorizationFailed`) is a blind spot for
that subscription. Storage account key age comes from `storage`.
"""

from __future__ import annotations

import asyncio
import fnmatch
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from connectors._http import GaveUp, TooLarge, clean
from connectors.azure.client import Api
from connectors.azure.storage import collect_storage
from connectors.azure.tenant import Tenant, seq
from connectors.base import Report

RBAC_API = "2022-04-01"
SUBS_API = "2022-12-01"
MSI_API = "2023-01-31"
BUILTIN_ROLES = {
    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635": ("Owner", "admin"),
    "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9": ("User Access Administrator", "admin"),
    "f58310d9-a9f6-439a-9e8d-f62e7b41a168": ("Role Based Access Control Administrator", "admin"),
    "b24988ac-6180-42a0-ab88-20f7382dd24c": ("Contributor", "write"),
    "acdd72a7-3385-48ef-bd42-f606fba81ae7": ("Reader", "read"),
    "e40ec5ca-96e0-45a2-b4ff-59039f2c2b59": ("Managed Identity Contributor", "admin"),
}
NEEDS = "Reader on the subscription"


def custom_role_privilege(props: Mapping[str, Any]) -> str:
    """Privilege of a custom role definition from its `permissions[].actions`."""
    actions: list[str] = []
    not_actions: list[str] = []
    for p in seq(props.get("permissions")):
        if isinstance(p, Mapping):
            actions += [str(a).lower() for a in seq(p.get("actions")) if isinstance(a, str)]
            not_actions += [str(a).lower() for a in seq(p.get("notActions")) if isinstance(a, str)]
    # Any action pattern that can write role assignments (or everything under Authorization) is admin:
    # `Microsoft.Authorization/*/Write` and `*/write` grant it as surely as the literal action.
    grants_rbac = [a for a in actions if fnmatch.fnmatchcase("microsoft.authorization/roleassignments/write", a)]
    if any(a != "*" for a in grants_rbac) or ("*" in actions and not any(
            n.startswith("microsoft.authorization/") for n in not_actions)):
        return "admin"
    if any(a == "*" or a.endswith(("/write", "/delete", "/action", "/*")) for a in actions):
        return "write"
    return "read" if actions else "none"


def role_guid(role_definition_id: str) -> str:
    return role_definition_id.rstrip("/").rsplit("/", 1)[-1].lower()


async def _subscriptions(arm: Api, configured: list[str], report: Report) -> list[str]:
    if configured:
        return configured
    items = await arm.items(f"/subscriptions?api-version={SUBS_API}", "Azure subscriptions", NEEDS, report)
    subs = []
    for s in items or ():
        sid = s.get("subscriptionId")
        if isinstance(sid, str) and sid and s.get("state", "Enabled") not in ("Disabled", "Deleted"):
            subs.append(sid)
    return subs


async def collect_arm(arm: Api, tenant: Tenant, report: Report, configured: list[str], concurrency: int) -> None:
    try:
        subs = await _subscriptions(arm, configured, report)
    except (GaveUp, TooLarge) as exc:
        report.blind_spot("Azure subscriptions", str(exc))
        tenant.arm_known = False
        return
    report.facts["subscriptions"] = len(subs)
    if not subs:
        tenant.arm_known = False
        report.blind_spot("Azure subscriptions", "no subscription is visible to this identity: Azure roles (Owner, "
                                                 "Contributor...) and user-assigned managed identities are not "
                                                 "counted; grant Reader on the subscriptions or list them in "
                                                 "`subscriptions`")
    gate = asyncio.Semaphore(concurrency)
    await asyncio.gather(*(_subscription(arm, tenant, report, sub, gate) for sub in subs))


async def _subscription(arm: Api, tenant: Tenant, report: Report, sub: str, gate: asyncio.Semaphore) -> None:
    base = f"/subscriptions/{quote(sub)}"
    async with gate:
        accounts, assignments, customs, uamis = await asyncio.gather(
            collect_storage(arm, report, sub),
            arm.items(f"{base}/providers/Microsoft.Authorization/roleAssignments?api-version={RBAC_API}",
                      f"role assignments of subscription {sub}", NEEDS, report),
            arm.items(f"{base}/providers/Microsoft.Authorization/roleDefinitions?api-version={RBAC_API}"
                      "&$filter=type%20eq%20'CustomRole'", f"custom roles of subscription {sub}", NEEDS, report),
            arm.items(f"{base}/providers/Microsoft.ManagedIdentity/userAssignedIdentities?api-version={MSI_API}",
                      f"managed identities of subscription {sub}", NEEDS, report))
    tenant.storage_accounts.extend(accounts)
    if assignments is None:
        tenant.arm_known = False
    custom: dict[str, tuple[str, str]] = {}
    for d in customs or ():
        props = d.get("properties") if isinstance(d.get("properties"), Mapping) else {}
        guid = role_guid(str(d.get("name") or d.get("id") or ""))
        custom[guid] = (clean(props.get("roleName") or guid, 120), custom_role_privilege(props))
    for a in assignments or ():
        props = a.get("properties")
        if not isinstance(props, Mapping) or not isinstance(props.get("principalId"), str):
            continue
        guid = role_guid(str(props.get("roleDefinitionId") or ""))
        name, level = BUILTIN_ROLES.get(guid) or custom.get(guid) or (f"role {clean(guid, 40)}", "write")
        tenant.arm_roles[props["principalId"]].append({
            "name": name, "privilege": level, "scope": clean(props.get("scope") or base, 300),
            "id": clean(a.get("id"), 400)})
    await asyncio.gather(*(_uami(arm, tenant, report, sub, u, gate) for u in uamis or ()))


async def _uami(arm: Api, tenant: Tenant, report: Report, sub: str, u: Mapping[str, Any],
                gate: asyncio.Semaphore) -> None:
    rid = u.get("id")
    props = u.get("properties") if isinstance(u.get("properties"), Mapping) else {}
    if not isinstance(rid, str) or not rid.startswith("/subscriptions/"):
        return
    async with gate:
        fics = await arm.items(f"{rid}/federatedIdentityCredentials?api-version={MSI_API}",
                               f"federated credentials of managed identity {clean(u.get('name'), 100)}", NEEDS,
                               report)
    tenant.uamis.append({
        "id": clean(rid, 400), "name": clean(u.get("name"), 200), "subscription": sub,
        "location": clean(u.get("location"), 60), "principal_id": str(props.get("principalId") or ""),
        "client_id": clean(props.get("clientId"), 64), "fics": list(fics or ()), "fics_known": fics is not None,
        "tags": {clean(k, 100): clean(v, 200) for k, v in (u.get("tags") or {}).items()}
        if isinstance(u.get("tags"), Mapping) else {},
    })
