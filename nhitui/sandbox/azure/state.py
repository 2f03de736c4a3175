"""The Entra tenant (and one Azure subscription) the fake serves, seeded from the `World`.

Shapes follow the Graph v1.0/beta and ARM documents (field names exact). Planted on purpose, each
recorded with `world.expect(...)` and its findings: a secret expiring in 5 days, an expired secret
still listed, a 2-year secret, a secret that never expires, a secret set on a (Microsoft)
service principal, SAML signing material that must not be mistaken for secrets, an app granted
`RoleManagement.ReadWrite.Directory`, an app holding Owner on the subscription with federated
credentials for `repo:acme/api:ref:refs/heads/main` and `repo:acme/api:pull_request`, a flexible
(wildcard) federated credential, a third-party app with write permission, a disabled service
principal, a user-assigned managed identity trusted by an AKS service account, a system-assigned
one, a stale and a never-used credential, and a hostile display name. `extra_apps` adds plain
applications with two secrets each, for scale.
"""

from __future__ import annotations

import base64
import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from nhitui.sandbox.world import SERVICES, World

GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
EXO_APP_ID = "00000002-0000-0ff1-ce00-000000000000"
MS_TENANT = "f8cdef31-a31e-4b4a-93e4-5f571e91255a"
EXCHANGE = "api://AzureADTokenExchange"
GITHUB = "https://token.actions.githubusercontent.com"
GRAPH_ROLES = {
    "Application.Read.All": "9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30",
    "Application.ReadWrite.All": "1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9",
    "AppRoleAssignment.ReadWrite.All": "06b708a9-e830-4db3-a914-8e69da51d44f",
    "Directory.Read.All": "7ab1d382-f21e-4acd-a863-ba3e13f7da61",
    "Directory.ReadWrite.All": "19dbc75e-c2e2-444c-a770-ec69d8559fc7",
    "RoleManagement.ReadWrite.Directory": "9e3f62cf-ca93-4989-b6ce-bf83c28f9fe8",
    "AuditLog.Read.All": "b0afded3-3588-46d8-8b3d-9842eff778da",
    "Mail.ReadWrite": "e2a3a72e-5f79-4c64-b1b1-878b674786c9",
    "User.Read.All": "df021288-bdef-4463-88db-98f22de89214",
}
OWNER_ROLE = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
CONTRIBUTOR_ROLE = "b24988ac-6180-42a0-ab88-20f7382dd24c"
READER_ROLE = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
APP_ADMIN_ROLE = "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3"


def iso(dt: datetime | None) -> str | None:
    return None if dt is None else dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class AzureState:
    """Graph and ARM objects as the APIs return them (owners and FICs kept beside each app)."""

    world: World
    extra_apps: int = 0
    rng: random.Random = field(init=False)
    tenant_id: str = ""
    subscription: str = ""
    apps: dict[str, dict[str, Any]] = field(default_factory=dict)
    owners: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    fics: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    sps: dict[str, dict[str, Any]] = field(default_factory=dict)
    assignments: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    grants: list[dict[str, Any]] = field(default_factory=list)
    dir_roles: list[dict[str, Any]] = field(default_factory=list)
    arm_roles: list[dict[str, Any]] = field(default_factory=list)
    custom_roles: list[dict[str, Any]] = field(default_factory=list)
    storage: list[dict[str, Any]] = field(default_factory=list)
    uamis: dict[str, dict[str, Any]] = field(default_factory=dict)
    uami_fics: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    sp_activity: list[dict[str, Any]] = field(default_factory=list)
    cred_activity: list[dict[str, Any]] = field(default_factory=list)
    graph_sp: str = ""

    def __post_init__(self) -> None:
        self.rng = self.world.rng_for("azure")
        self.tenant_id = self.guid()
        self.subscription = self.guid()
        self.record = not self.world.expected_for("azure")
        self._seed()

    # --- helpers -----------------------------------------------------------------------------

    def guid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def expect(self, kind: str, native: str, findings: set[str] | None = None, **fields: Any) -> None:
        if self.record:
            self.world.expect("azure", kind, native, findings or set(), **fields)

    def user(self, i: int) -> dict[str, Any]:
        name = self.world.members[i % len(self.world.members)]
        return {"@odata.type": "#microsoft.graph.user", "id": str(uuid.UUID(int=i + 1)), "displayName": name,
                "userPrincipalName": f"{name}@{self.world.org}.example"}

    def secret(self, name: str | None, start_days: float, end_days: float | None, hint: str = "") -> dict[str, Any]:
        return {"customKeyIdentifier": None, "displayName": name,
                "endDateTime": "9999-12-31T23:59:59Z" if end_days is None else iso(self.world.days_ahead(end_days)),
                "hint": hint or self.rng.choice(["Q~a", "x8Q", "7v~", "Fz1"]), "keyId": self.guid(),
                "secretText": None, "startDateTime": iso(self.world.days_ago(start_days))}

    def cert(self, name: str, start_days: float, end_days: float, usage: str = "Verify",
             thumb: str | None = None) -> dict[str, Any]:
        return {"customKeyIdentifier": thumb or f"{self.rng.getrandbits(160):040X}", "displayName": name,
                "endDateTime": iso(self.world.days_ahead(end_days)), "key": None, "keyId": self.guid(),
                "startDateTime": iso(self.world.days_ago(start_days)), "type": "AsymmetricX509Cert", "usage": usage}

    def add_app(self, name: str, created_days: float, secrets: list[dict[str, Any]] | None = None,
                certs: list[dict[str, Any]] | None = None, owner: int | None = 0,
                requested: list[str] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
        app_obj, app_id, sp_id = self.guid(), self.guid(), self.guid()
        app = {"id": app_obj, "appId": app_id, "displayName": name, "createdDateTime": iso(self.world.days_ago(created_days)),
               "signInAudience": "AzureADMyOrg", "publisherDomain": f"{self.world.org}.example",
               "passwordCredentials": secrets or [], "keyCredentials": certs or [],
               "requiredResourceAccess": [{"resourceAppId": GRAPH_APP_ID, "resourceAccess": [
                   {"id": GRAPH_ROLES[r], "type": "Role"} for r in requested or []]}] if requested else [],
               "disabledByMicrosoftStatus": None, "tags": []}
        self.apps[app_obj] = app
        self.owners[app_obj] = [self.user(owner)] if owner is not None else []
        self.fics[app_obj] = []
        sp = self.add_sp(name, app_id, self.tenant_id, sp_id=sp_id)
        return app, sp

    def add_sp(self, name: str, app_id: str, owner_org: str | None, sp_type: str = "Application",
               enabled: bool = True, sp_id: str | None = None, **extra: Any) -> dict[str, Any]:
        sp = {"id": sp_id or self.guid(), "appId": app_id, "displayName": name, "servicePrincipalType": sp_type,
              "accountEnabled": enabled, "appOwnerOrganizationId": owner_org, "appDisplayName": name,
              "passwordCredentials": [], "keyCredentials": [], "alternativeNames": [], "tags": [],
              "preferredSingleSignOnMode": None, "appRoles": [], **extra}
        self.sps[sp["id"]] = sp
        self.assignments[sp["id"]] = []
        return sp

    def grant_graph(self, sp: dict[str, Any], permission: str, days: float = 100) -> None:
        self.assignments[sp["id"]].append({
            "id": base64.urlsafe_b64encode(self.rng.randbytes(24)).decode().rstrip("="), "deletedDateTime": None,
            "appRoleId": GRAPH_ROLES[permission], "createdDateTime": iso(self.world.days_ago(days)),
            "principalDisplayName": sp["displayName"], "principalId": sp["id"], "principalType": "ServicePrincipal",
            "resourceDisplayName": "Microsoft Graph", "resourceId": self.graph_sp})

    def arm_role(self, principal: str, role: str, scope: str) -> None:
        name = self.guid()
        self.arm_roles.append({
            "id": f"{scope}/providers/Microsoft.Authorization/roleAssignments/{name}",
            "type": "Microsoft.Authorization/roleAssignments", "name": name,
            "properties": {"roleDefinitionId": f"/subscriptions/{self.subscription}/providers/"
                                               f"Microsoft.Authorization/roleDefinitions/{role}",
                           "principalId": principal, "principalType": "ServicePrincipal", "scope": scope,
                           "condition": None, "conditionVersion": None, "createdOn": iso(self.world.days_ago(90)),
                           "updatedOn": iso(self.world.days_ago(90)), "createdBy": self.guid(),
                           "updatedBy": self.guid(), "delegatedManagedIdentityResourceId": None,
                           "description": None}})

    def sp_used(self, sp: dict[str, Any], days: float | None) -> None:
        when = None if days is None else {"lastSignInDateTime": iso(self.world.days_ago(days)),
                                          "lastSignInRequestId": self.guid()}
        self.sp_activity.append({
            "id": base64.b64encode(sp["appId"].encode()).decode(), "appId": sp["appId"], "lastSignInActivity": when,
            "applicationAuthenticationClientSignInActivity": when, "applicationAuthenticationResourceSignInActivity": None,
            "delegatedClientSignInActivity": None, "delegatedResourceSignInActivity": None})

    def cred_used(self, app: dict[str, Any] | None, sp: dict[str, Any], cred: dict[str, Any], days: float | None,
                  origin: str = "application") -> None:
        self.cred_activity.append({
            "id": base64.b64encode(f"{cred['keyId']}|{origin}".encode()).decode(), "keyId": cred["keyId"],
            "keyType": "clientSecret" if "hint" in cred else "certificate", "keyUsage": "sign" if "hint" in cred else "verify",
            "appId": sp["appId"], "appObjectId": app["id"] if app else None, "servicePrincipalObjectId": sp["id"],
            "resourceId": self.graph_sp, "credentialOrigin": origin, "createdDateTime": cred["startDateTime"],
            "expirationDateTime": cred["endDateTime"],
            "signInActivity": None if days is None else {"lastSignInDateTime": iso(self.world.days_ago(days)),
                                                         "lastSignInRequestId": self.guid()}})

    def fic(self, app: dict[str, Any], name: str, subject: str | None, issuer: str = GITHUB,
            expression: str | None = None) -> dict[str, Any]:
        f = {"id": self.guid(), "name": name, "issuer": issuer, "subject": subject, "description": None,
             "audiences": [EXCHANGE],
             "claimsMatchingExpression": {"value": expression, "languageVersion": 1} if expression else None}
        self.fics[app["id"]].append(f)
        return f

    # --- the tenant --------------------------------------------------------------------------

    def _seed(self) -> None:
        from nhitui.sandbox.azure.seed import seed

        seed(self)
        for i in range(self.extra_apps):
            self._filler(i)
        # Every other listed service principal is ground truth too (Microsoft's own are not listed).
        known = {e.native_id for e in self.world.expected_for("azure")}
        for sp in self.sps.values():
            listed = sp["appOwnerOrganizationId"] != MS_TENANT or sp["passwordCredentials"]
            if listed and sp["id"] not in known:
                kind = "managed_identity" if sp["servicePrincipalType"] == "ManagedIdentity" else "service_principal"
                self.expect(kind, sp["id"], name=sp["displayName"])

    def _filler(self, i: int) -> None:
        name = f"svc-{SERVICES[i % len(SERVICES)]}-{i}"
        secrets = [self.secret("ci", 30 + i % 200, 150 - i % 300), self.secret("rotation", 5 + i % 20, 170)]
        app, sp = self.add_app(name, 400, secrets=secrets, owner=i)
        for s in secrets:
            self.expect("app_secret", f"{app['id']}/{s['keyId']}", name=s["displayName"], target=name)
