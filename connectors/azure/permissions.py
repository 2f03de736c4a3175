"""What a service principal actually holds: app-role assignments, delegated grants, directory roles.

- Application permissions: expanded in the SP list, or `GET /servicePrincipals/{id}/appRoleAssignments`
  when the expansion was cut at 20 (what *it* was granted; not `appRoleAssignedTo`, the reverse), each `appRoleId` resolved to a permission name through the
  resource SP's `appRoles` (Microsoft Graph's fetched once by its well-known appId).
- Delegated grants: `GET /oauth2PermissionGrants` once (`clientId` is the client SP's object id).
- Directory roles: `GET /roleManagement/directory/roleAssignments` once (all principals, paged;
  `roleDefinitionId` is the template id for built-in roles), names from `roleDefinitions`.
`requiredResourceAccess` on the application is only what it *requests*; it is kept as a detail.

Privilege: tier-0 ("path to Global Administrator") Graph permissions and privileged directory
roles are admin; `*.ReadWrite*` / other write permissions are write; `*.Read*` read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from connectors._http import GaveUp, TooLarge, clean
from connectors.azure.client import Api
from connectors.azure.tenant import Tenant
from connectors.base import Report
from nhitui.model import max_privilege

GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"

# Tier-0 Microsoft Graph application permissions (re-derived from the tiering literature, not copied).
TIER0_PERMISSIONS = frozenset({
    "RoleManagement.ReadWrite.Directory", "AppRoleAssignment.ReadWrite.All", "Application.ReadWrite.All",
    "Application.ReadWrite.OwnedBy", "Directory.ReadWrite.All", "Group.ReadWrite.All",
    "GroupMember.ReadWrite.All", "User.ReadWrite.All", "UserAuthenticationMethod.ReadWrite.All",
    "Policy.ReadWrite.ConditionalAccess", "Policy.ReadWrite.PermissionGrant", "Domain.ReadWrite.All",
    "Organization.ReadWrite.All", "RoleAssignmentSchedule.ReadWrite.Directory",
    "RoleEligibilitySchedule.ReadWrite.Directory", "PrivilegedAccess.ReadWrite.AzureAD",
    "PrivilegedAccess.ReadWrite.AzureADGroup", "Synchronization.ReadWrite.All",
    "AdministrativeUnit.ReadWrite.All", "EntitlementManagement.ReadWrite.All",
    "DeviceManagementRBAC.ReadWrite.All", "DeviceManagementScripts.ReadWrite.All",
})

# Well-known Graph app-role ids: a fallback when Graph's own SP cannot be read.
GRAPH_ROLE_IDS = {
    "9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30": "Application.Read.All",
    "1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9": "Application.ReadWrite.All",
    "18a4783c-866b-4cc7-a460-3d5e5662c884": "Application.ReadWrite.OwnedBy",
    "06b708a9-e830-4db3-a914-8e69da51d44f": "AppRoleAssignment.ReadWrite.All",
    "7ab1d382-f21e-4acd-a863-ba3e13f7da61": "Directory.Read.All",
    "19dbc75e-c2e2-444c-a770-ec69d8559fc7": "Directory.ReadWrite.All",
    "483bed4a-2ad3-4361-a73b-c83ccdbdc53c": "RoleManagement.Read.Directory",
    "9e3f62cf-ca93-4989-b6ce-bf83c28f9fe8": "RoleManagement.ReadWrite.Directory",
    "b0afded3-3588-46d8-8b3d-9842eff778da": "AuditLog.Read.All",
    "246dd0d5-5bd0-4def-940b-0421030a5b68": "Policy.Read.All",
}

# Directory role template ids that lead to tenant control (admin); a few read-only ones.
PRIVILEGED_ROLES = {
    "62e90394-69f5-4237-9190-012177145e10": "Global Administrator",
    "e8611ab8-c189-46e8-94e1-60213ab1f814": "Privileged Role Administrator",
    "7be44c8a-adaf-4e2a-84d6-ab2649e08a13": "Privileged Authentication Administrator",
    "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3": "Application Administrator",
    "158c047a-c907-4556-b7ef-446551a6b5f7": "Cloud Application Administrator",
    "8ac3fc64-6eca-42ea-9e69-59f4c7b60eb2": "Hybrid Identity Administrator",
    "194ae4cb-b126-40b2-bd5b-6091b380977d": "Security Administrator",
    "fe930be7-5e62-47db-91af-98c3a49a38b1": "User Administrator",
    "b1be1c3e-b65d-4f19-8427-f6fa0d97feb9": "Conditional Access Administrator",
    "c4e39bd9-1100-46d3-8c65-fb160da0071f": "Authentication Administrator",
    "0526716b-113d-4c15-b2c8-68e3c22b9f80": "Authentication Policy Administrator",
    "8329153b-31d0-4727-b945-745eb3bc5f31": "Domain Name Administrator",
    "be2f45a1-457d-42af-a067-6ec1fa63bc45": "External Identity Provider Administrator",
    "d29b2b05-8046-44ba-8758-1e26182fcf32": "Directory Synchronization Accounts",
    "e00e864a-17c5-4a4b-9c06-f5b95a8d5bd8": "Partner Tier2 Support",
}
READ_ROLES = {
    "88d8e3e3-8f55-4a1e-953a-9b9898b8876b": "Directory Readers",
    "f2ef992c-3afb-46b9-b7cf-a126ee74c451": "Global Reader",
    "5d6b6bb7-de71-4623-b4af-96380a352509": "Security Reader",
    "4a5d8f65-41da-4de4-8968-e035b65339cf": "Reports Reader",
}
WRITE_WORDS = ("ReadWrite", ".Write", "Manage", "FullControl", "Send", "Create", "Delete", "Update")


OIDC_SCOPES = frozenset({"openid", "profile", "email", "offline_access"})


def permission_privilege(value: str) -> str:
    """Privilege of one Graph (or other API) permission name."""
    if value in OIDC_SCOPES:
        return "none"
    if value in TIER0_PERMISSIONS:
        return "admin"
    if any(w in value for w in WRITE_WORDS):
        return "write"
    if ".Read" in value or value.startswith("Read") or value.endswith(".Read"):
        return "read"
    return "write" if value else "read"      # an unknown role is not assumed harmless


def directory_role_privilege(template_id: str) -> str:
    if template_id in PRIVILEGED_ROLES:
        return "admin"
    return "read" if template_id in READ_ROLES else "write"


async def collect_graph_roles(graph: Api, tenant: Tenant, report: Report) -> None:
    """Microsoft Graph's app roles (id -> permission name) in this tenant."""
    tenant.role_names.update({("graph", k): v for k, v in GRAPH_ROLE_IDS.items()})
    try:
        reply = await graph.get(f"/v1.0/servicePrincipals(appId='{GRAPH_APP_ID}')?$select=id,appRoles")
    except (GaveUp, TooLarge) as exc:
        report.blind_spot("Microsoft Graph app roles", f"{exc}: permission ids shown as well-known names only")
        return
    if reply.ok and isinstance(reply.data, Mapping):
        tenant.graph_sp_id = clean(reply.data.get("id"), 64)
        _roles(tenant, tenant.graph_sp_id, reply.data.get("appRoles"))
    elif reply.status != 404:
        report.blind_spot("Microsoft Graph app roles", f"{reply.status} on {reply.path}: permission ids shown as "
                                                       "well-known names only; needs Application.Read.All")


def _roles(tenant: Tenant, resource_id: str, roles: Any) -> None:
    if not isinstance(roles, list):
        return
    for r in roles:
        if isinstance(r, Mapping) and isinstance(r.get("id"), str):
            tenant.role_names[(resource_id, r["id"])] = clean(r.get("value") or r.get("displayName"), 200)


async def collect_assignments(graph: Api, tenant: Tenant, report: Report, sp_ids: list[str],
                              concurrency: int) -> None:
    """Application permissions granted to each SP in `sp_ids`, resolving unknown resources' roles."""
    gate = asyncio.Semaphore(concurrency)
    what = "service principal app-role assignments"

    async def one(sp_id: str) -> None:
        async with gate:
            items = await graph.items(f"/v1.0/servicePrincipals/{quote(sp_id)}/appRoleAssignments?$top=999",
                                      what, "Application.Read.All", report)
        if items is None:
            tenant.assignments_unknown.add(sp_id)
            return
        tenant.assignments[sp_id] = list(items)

    await asyncio.gather(*(one(s) for s in sp_ids))
    resources = {str(a.get("resourceId")) for items in tenant.assignments.values() for a in items
                 if a.get("resourceId") and a.get("resourceId") != tenant.graph_sp_id}
    resources -= {r for (r, _) in tenant.role_names}

    async def roles_of(resource_id: str) -> None:
        async with gate:
            try:
                reply = await graph.get(f"/v1.0/servicePrincipals/{quote(resource_id)}?$select=id,appRoles")
            except (GaveUp, TooLarge) as exc:
                report.blind_spot("app roles of other APIs", f"{exc}: those permissions show as role ids")
                return
        if reply.ok and isinstance(reply.data, Mapping):
            _roles(tenant, resource_id, reply.data.get("appRoles"))

    await asyncio.gather(*(roles_of(r) for r in sorted(resources)))


async def collect_grants(graph: Api, tenant: Tenant, report: Report) -> None:
    items = await graph.items("/v1.0/oauth2PermissionGrants?$top=999", "delegated permission grants",
                              "Directory.Read.All (or DelegatedPermissionGrant.ReadWrite.All)", report)
    if items is None:
        tenant.grants_known = False
        return
    for g in items:
        client = str(g.get("clientId") or "")
        scope = g.get("scope") if isinstance(g.get("scope"), str) else ""
        if client and scope:
            tenant.grants[client].append({"scope": scope, "consentType": clean(g.get("consentType"), 40),
                                          "resourceId": clean(g.get("resourceId"), 64)})


async def collect_directory_roles(graph: Api, tenant: Tenant, report: Report) -> None:
    what = "directory role assignments"
    needs = "RoleManagement.Read.Directory (or Directory.Read.All)"
    items, definitions = await asyncio.gather(
        graph.items("/v1.0/roleManagement/directory/roleAssignments?$top=999", what, needs, report),
        graph.items("/v1.0/roleManagement/directory/roleDefinitions?$select=id,displayName,templateId",
                    "directory role definitions", needs, report))
    names: dict[str, str] = {**PRIVILEGED_ROLES, **READ_ROLES}
    for d in definitions or ():
        name = clean(d.get("displayName"), 120)
        for key in ("id", "templateId"):
            if isinstance(d.get(key), str) and name:
                names.setdefault(d[key], name)
    if items is None:
        tenant.directory_roles_known = False
        return
    for a in items:
        principal = str(a.get("principalId") or "")
        role = str(a.get("roleDefinitionId") or "")
        if principal and role:
            tenant.directory_roles[principal].append({
                "role_id": clean(role, 64), "name": names.get(role, f"role {clean(role, 64)}"),
                "scope": clean(a.get("directoryScopeId") or "/", 200)})


def sp_permissions(tenant: Tenant, sp_id: str) -> tuple[list[str], list[str], str]:
    """(scopes, tier-0 names, privilege) of one SP from everything collected about it."""
    scopes: list[str] = []
    tier0: list[str] = []
    privileges = ["none"]
    for a in tenant.assignments.get(sp_id, ()):
        resource = str(a.get("resourceId") or "")
        role_id = str(a.get("appRoleId") or "")
        if role_id == "00000000-0000-0000-0000-000000000000":
            continue                              # default access, no specific role
        graph = resource == tenant.graph_sp_id or (not tenant.graph_sp_id and
                                                   a.get("resourceDisplayName") == "Microsoft Graph")
        name = (tenant.role_names.get((resource, role_id)) or
                (tenant.role_names.get(("graph", role_id)) if graph else None) or f"role {clean(role_id, 64)}")
        api = "Graph" if graph else clean(a.get("resourceDisplayName") or resource, 80)
        scopes.append(f"{api}:{name}")
        level = permission_privilege(name)
        if graph and name in TIER0_PERMISSIONS:
            tier0.append(name)
        elif level == "admin" and not graph:
            level = "write"                        # tier-0 names are Graph's
        privileges.append(level)
    for g in tenant.grants.get(sp_id, ()):
        for s in g["scope"].split():
            scopes.append(f"delegated:{clean(s, 100)}")
            level = permission_privilege(s)
            privileges.append("write" if level == "admin" else level)
    for r in tenant.directory_roles.get(sp_id, ()):
        scopes.append(f"role:{r['name']}" + ("" if r["scope"] == "/" else f"@{r['scope']}"))
        level = directory_role_privilege(r["role_id"])
        if level == "admin":
            tier0.append(r["name"])
        privileges.append(level)
    for r in tenant.arm_roles.get(sp_id, ()):
        scopes.append(f"azure:{r['name']}@{r['scope']}")
        privileges.append(r["privilege"])
    return scopes, tier0, max_privilege(*privileges)

