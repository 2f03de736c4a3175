"""Service principals (`service_principal`), managed identities (`managed_identity`) and the
credentials set directly on a service principal.

`GET /v1.0/servicePrincipals?$select=...&$top=999`. Each SP is classified by publisher:
own tenant (`appOwnerOrganizationId` = the tenant), Microsoft (its two first-party tenants),
third-party, managed identity (`servicePrincipalType` ManagedIdentity; `alternativeNames` carries
the ARM resource id and `isExplicit=True` for user-assigned), legacy. Microsoft's own SPs (hundreds
per tenant, not yours to manage) are left out unless someone set a credential on them.

Credentials on the SP itself are normally empty; a secret there is a known persistence trick. SAML
single sign-on puts a signing key (`usage: Sign`), its public half (`Verify`) and the PFX password
on the SP, sharing `customKeyIdentifier` (and the password shares the Sign key's `keyId`): those
are token-signing material, not client credentials, and are not listed.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from connectors._http import clean
from connectors.azure.applications import credential_identity
from connectors.azure.client import Api, reason
from connectors.azure.tenant import Tenant, moment, seq
from connectors.base import Report
from nhitui.model import Identity, make_uid

EXPAND_CAP = 20                 # Graph returns at most 20 items of an expanded directory relationship
SP_SELECT = ("id,appId,displayName,servicePrincipalType,accountEnabled,appOwnerOrganizationId,appDisplayName,"
             "passwordCredentials,keyCredentials,alternativeNames,tags,preferredSingleSignOnMode")


async def collect_sps(graph: Api, tenant: Tenant, report: Report) -> None:
    """Every SP, with its app-role assignments expanded (at most 20 come back that way: an SP with 20
    is read again in full by `permissions.collect_assignments`). A Graph that refuses the expansion
    is asked again without it."""
    what, needs = "service principals", "Application.Read.All"
    base = f"/v1.0/servicePrincipals?$select={SP_SELECT}&$top=999"
    items, failed = await graph.try_items(f"{base}&$expand=appRoleAssignments", what, report)
    expanded = items is not None
    if failed is not None and failed.status == 400:
        items, failed = await graph.try_items(base, what, report)
    if failed is not None:
        report.blind_spot(what, reason(failed, needs))
    if items is None:
        tenant.sps_known = False
        return
    for sp in items:
        sid = sp.get("id")
        if isinstance(sid, str) and sid:
            tenant.sps[sid] = sp
            if isinstance(sp.get("appId"), str):
                tenant.sp_by_app[sp["appId"].lower()] = sid
            assigned = sp.get("appRoleAssignments")
            if expanded and isinstance(assigned, list) and len(assigned) < EXPAND_CAP:
                tenant.assignments[sid] = [a for a in assigned if isinstance(a, Mapping)]


def saml_noise(sp: Mapping[str, Any]) -> tuple[set[str], set[str]]:
    """(keyIds, customKeyIdentifiers) of SAML token-signing material on an SP."""
    key_ids: set[str] = set()
    ckis: set[str] = set()
    for k in seq(sp.get("keyCredentials")):
        if isinstance(k, Mapping) and str(k.get("usage") or "").lower() == "sign":
            if isinstance(k.get("keyId"), str):
                key_ids.add(k["keyId"].lower())
            if k.get("customKeyIdentifier"):
                ckis.add(str(k["customKeyIdentifier"]))
    return key_ids, ckis


def sp_credentials(sp: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """(kind, credential) set directly on an SP, SAML signing material left out."""
    key_ids, ckis = saml_noise(sp)
    out: list[tuple[str, Mapping[str, Any]]] = []
    for field, kind in (("passwordCredentials", "app_secret"), ("keyCredentials", "app_certificate")):
        for c in seq(sp.get(field)):
            if not isinstance(c, Mapping) or not isinstance(c.get("keyId"), str):
                continue
            if c["keyId"].lower() in key_ids or (c.get("customKeyIdentifier") and
                                                 str(c["customKeyIdentifier"]) in ckis):
                continue
            out.append((kind, c))
    return out


def included(tenant: Tenant, sp: Mapping[str, Any]) -> bool:
    """Every SP but Microsoft's own, unless a credential was set on one of those."""
    return tenant.publisher(sp) != "microsoft" or bool(sp_credentials(sp))


def mi_type(sp: Mapping[str, Any]) -> tuple[str, str]:
    """("user-assigned" | "system-assigned" | "", ARM resource id) from `alternativeNames`."""
    names = [str(n) for n in seq(sp.get("alternativeNames")) if isinstance(n, str)]
    resource = next((n for n in names if n.lower().startswith("/subscriptions/")), "")
    explicit = next((n.split("=", 1)[1].lower() for n in names if n.lower().startswith("isexplicit=")), "")
    kind = "user-assigned" if explicit == "true" else "system-assigned" if explicit == "false" else ""
    return kind, clean(resource, 400)


def sp_identity(source: str, tenant: Tenant, sp: Mapping[str, Any], perms: tuple[tuple[str, ...], list[str], str],
                app: Mapping[str, Any] | None, federated: bool, now: datetime,
                uami: Mapping[str, Any] | None = None) -> Identity:
    sid = str(sp["id"])
    publisher = tenant.publisher(sp)
    managed = publisher == "managed-identity"
    kind = "managed_identity" if managed else "service_principal"
    scopes, tier0, privilege = perms
    app_id = clean(sp.get("appId"), 64)
    owners = tenant.owners.get(str(app["id"]), []) if app is not None else []
    activity = tenant.sp_activity.get(app_id.lower()) if tenant.usage_reports else None
    enabled = sp.get("accountEnabled") is not False
    mi_kind, resource = mi_type(sp) if managed else ("", "")
    details: dict[str, Any] = {
        "app_id": app_id, "sp_object_id": clean(sid, 64), "sp_type": clean(sp.get("servicePrincipalType"), 40),
        "publisher": publisher, "publisher_tenant": clean(sp.get("appOwnerOrganizationId"), 64),
        "tier0": list(tier0), "owners": owners, "account_enabled": enabled, "tenant_id": tenant.tenant_id,
        "permissions_known": sid not in tenant.assignments_unknown and tenant.directory_roles_known,
        "federated": federated,
    }
    if managed:
        details.update({"mi_type": mi_kind or ("user-assigned" if uami else ""),
                        "resource_id": resource or (uami or {}).get("id", "")})
        if uami:
            details.update({"client_id": uami.get("client_id", ""), "subscription": uami.get("subscription", "")})
    if app is not None:
        details["app_object_id"] = clean(app.get("id"), 64)
    if tenant.usage_reports and activity is None:
        details["last_used_note"] = "no row in servicePrincipalSignInActivities: last use unknown"
    # Disabling a Microsoft first-party SP (Exchange Online, SharePoint...) breaks that service for
    # the tenant: only the credentials someone set on it are offered for removal.
    actions: tuple[str, ...] = () if managed or publisher == "microsoft" else ("disable", "enable")
    return Identity(
        uid=make_uid(source, kind, sid), source=source, provider="azure", kind=kind,
        name=clean(sp.get("displayName"), 300) or app_id or sid, owner=owners[0] if owners else "",
        target=tenant.tenant_id, scopes=scopes, privilege=privilege,
        created_at=_created(app), last_used_at=activity.last_used if activity else None,
        status="active" if enabled else "inactive", credential="federated" if federated else "ephemeral",
        actions=actions, url="", usage_tracked=activity is not None and activity.last_used is not None,
        details=details)


def uami_identity(source: str, tenant: Tenant, uami: Mapping[str, Any], perms: tuple[tuple[str, ...], list[str], str],
                  now: datetime) -> Identity:
    """A user-assigned MI seen only through ARM (its SP was not visible in Graph)."""
    scopes, tier0, privilege = perms
    pid = str(uami.get("principal_id") or uami["id"])
    return Identity(
        uid=make_uid(source, "managed_identity", pid), source=source, provider="azure", kind="managed_identity",
        name=str(uami.get("name") or pid), target=tenant.tenant_id, scopes=scopes, privilege=privilege,
        status="active", credential="federated" if uami.get("fics") else "ephemeral", usage_tracked=False,
        details={"mi_type": "user-assigned", "resource_id": uami.get("id", ""), "client_id": uami.get("client_id", ""),
                 "sp_object_id": clean(pid, 64), "subscription": uami.get("subscription", ""), "tier0": list(tier0),
                 "publisher": "managed-identity", "tenant_id": tenant.tenant_id, "federated": bool(uami.get("fics"))})


def sp_credential_identities(source: str, tenant: Tenant, sp: Mapping[str, Any],
                             perms: tuple[tuple[str, ...], list[str], str], now: datetime) -> list[Identity]:
    """Secrets and certificates set on the SP itself (persistence), SAML material left out."""
    sid = str(sp["id"])
    scopes, tier0, privilege = perms
    out = []
    details = {"app_id": clean(sp.get("appId"), 64), "sp_object_id": clean(sid, 64), "tier0": list(tier0),
               "publisher": tenant.publisher(sp), "sp_credential": True,
               "publisher_tenant": clean(sp.get("appOwnerOrganizationId"), 64)}
    for kind, c in sp_credentials(sp):
        i = credential_identity(source, tenant, c, kind=kind, native=f"sp/{sid}/{c['keyId']}",
                                origin="servicePrincipal", target=clean(sp.get("displayName"), 300),
                                owner="", scopes=scopes, privilege=privilege, details=details, now=now)
        if i is not None:
            out.append(i)
    return out


def _created(app: Mapping[str, Any] | None) -> datetime | None:
    return moment(app.get("createdDateTime")) if app is not None else None

