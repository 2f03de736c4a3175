"""The planted Entra objects of the demo world, each with its ground truth (see state.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nhitui.sandbox.azure.state import AzureState


def seed(s: AzureState) -> None:
    from nhitui.sandbox.azure.state import (
        APP_ADMIN_ROLE,
        CONTRIBUTOR_ROLE,
        EXO_APP_ID,
        GRAPH_APP_ID,
        GRAPH_ROLES,
        MS_TENANT,
        OWNER_ROLE,
        READER_ROLE,
        iso,
    )

    w = s.world
    sub = f"/subscriptions/{s.subscription}"
    rg = f"{sub}/resourceGroups/rg-build"
    graph = s.add_sp("Microsoft Graph", GRAPH_APP_ID, MS_TENANT,
                     appRoles=[{"id": rid, "value": v, "displayName": v, "allowedMemberTypes": ["Application"],
                                "isEnabled": True, "origin": "Application", "description": v}
                               for v, rid in GRAPH_ROLES.items()])
    s.graph_sp = graph["id"]

    # ci-deployer: Owner on the subscription; a secret expiring in 5 days; GitHub FICs (main, pull_request).
    expiring = s.secret("gh-actions", 200, 5)
    ci, ci_sp = s.add_app("ci-deployer", 400, secrets=[expiring], owner=0)
    s.arm_role(ci_sp["id"], OWNER_ROLE, sub)
    main = s.fic(ci, "gh-main", "repo:acme/api:ref:refs/heads/main")
    pr = s.fic(ci, "gh-pull-request", "repo:acme/api:pull_request")
    s.sp_used(ci_sp, 2)
    s.cred_used(ci, ci_sp, expiring, 1)
    owner = s.user(0)["userPrincipalName"]
    s.expect("app_secret", f"{ci['id']}/{expiring['keyId']}", {"azure-secret-expiring", "admin-scope"},
             name="gh-actions", owner=owner, target="ci-deployer", privilege="admin", status="active",
             expires_at=w.days_ahead(5), created_at=w.days_ago(200), last_used_at=w.days_ago(1))
    s.expect("service_principal", ci_sp["id"], {"admin-scope"}, name="ci-deployer", privilege="admin",
             status="active", credential="federated", last_used_at=w.days_ago(2))
    # pull_request: any PR job of acme/api becomes an Owner (the shared trust rules judge it)
    for f, extra in ((main, set()), (pr, {"oidc-pull-request-write"})):
        s.expect("federated_credential", f"{ci['id']}/{f['id']}", {"azure-fic-privileged-app", "admin-scope", *extra},
                 name=f["name"], target="ci-deployer", privilege="admin", credential="federated", owner=owner)

    # legacy-sync: an expired secret still listed; the SP itself stale (last sign-in 300 days ago).
    expired = s.secret("old-secret", 385, -20)
    legacy, legacy_sp = s.add_app("legacy-sync", 900, secrets=[expired], owner=1)
    s.sp_used(legacy_sp, 300)
    s.cred_used(legacy, legacy_sp, expired, 300)
    s.expect("app_secret", f"{legacy['id']}/{expired['keyId']}", {"expired-present", "stale-unused"}, name="old-secret",
             status="expired", expires_at=w.days_ago(20), privilege="none")
    s.expect("service_principal", legacy_sp["id"], {"stale-unused"}, name="legacy-sync", credential="ephemeral",
             last_used_at=w.days_ago(300))

    # reporting-export: a 2-year secret, read permission, a delegated grant.
    two_year = s.secret("export-2y", 10, 720)
    report, report_sp = s.add_app("reporting-export", 12, secrets=[two_year], owner=2,
                                  requested=["Directory.Read.All"])
    s.grant_graph(report_sp, "Directory.Read.All")
    s.grants.append({"id": s.guid(), "clientId": report_sp["id"], "consentType": "AllPrincipals", "principalId": None,
                     "resourceId": graph["id"], "scope": "User.Read openid"})
    s.cred_used(report, report_sp, two_year, None)
    s.sp_used(report_sp, None)
    s.expect("app_secret", f"{report['id']}/{two_year['keyId']}", {"azure-long-lived-secret"}, name="export-2y",
             privilege="read", expires_at=w.days_ahead(720), last_used_at=None)

    # directory-admin-bot: granted RoleManagement.ReadWrite.Directory, authenticates with a certificate.
    cert = s.cert("CN=directory-admin-bot", 100, 265)
    dab, dab_sp = s.add_app("directory-admin-bot", 150, certs=[cert], owner=3,
                            requested=["RoleManagement.ReadWrite.Directory"])
    s.grant_graph(dab_sp, "RoleManagement.ReadWrite.Directory")
    s.sp_used(dab_sp, 5)
    s.cred_used(dab, dab_sp, cert, 5)
    s.expect("app_certificate", f"{dab['id']}/{cert['keyId']}", {"azure-tier0-permission", "admin-scope"},
             name="CN=directory-admin-bot", privilege="admin", expires_at=w.days_ahead(265))
    s.expect("service_principal", dab_sp["id"], {"azure-tier0-permission", "admin-scope"},
             name="directory-admin-bot", privilege="admin")

    # helpdesk-bot: Application Administrator directory role (tier-0 by role, not by permission).
    hcert = s.cert("CN=helpdesk", 30, 300)
    help_app, help_sp = s.add_app("helpdesk-bot", 40, certs=[hcert], owner=4)
    s.dir_roles.append({"id": s.guid(), "principalId": help_sp["id"], "roleDefinitionId": APP_ADMIN_ROLE,
                        "directoryScopeId": "/", "appScopeId": None, "condition": None})
    s.sp_used(help_sp, 1)
    s.expect("service_principal", help_sp["id"], {"azure-tier0-permission", "admin-scope"}, name="helpdesk-bot",
             privilege="admin")
    s.expect("app_certificate", f"{help_app['id']}/{hcert['keyId']}", {"azure-tier0-permission", "admin-scope"},
             name="CN=helpdesk",
             privilege="admin", last_used_at=None, expires_at=w.days_ahead(300))

    # web-flex: a flexible FIC matching any branch of acme/web; Contributor on a resource group.
    web, web_sp = s.add_app("web-flex", 60, owner=5)
    flex = s.fic(web, "gh-any-branch", None,
                 expression="claims['sub'] matches 'repo:acme/web:ref:refs/heads/*'")
    s.arm_role(web_sp["id"], CONTRIBUTOR_ROLE, rg)
    s.sp_used(web_sp, 3)
    s.expect("federated_credential", f"{web['id']}/{flex['id']}", set(), name="gh-any-branch", privilege="write",
             target="web-flex")

    # stale-batch: last used 200 days ago, 400 days old, a 2-year lifetime.
    stale = s.secret("batch", 400, 330)
    batch, batch_sp = s.add_app("stale-batch", 420, secrets=[stale], owner=6)
    s.cred_used(batch, batch_sp, stale, 200)
    s.sp_used(batch_sp, 200)
    s.expect("app_secret", f"{batch['id']}/{stale['keyId']}",
             {"stale-unused", "old-rotation", "azure-long-lived-secret"}, name="batch", last_used_at=w.days_ago(200))
    s.expect("service_principal", batch_sp["id"], {"stale-unused"}, name="stale-batch", last_used_at=w.days_ago(200))

    # never-used-tool: a one-year secret created 90 days ago, with no sign-in in the report. The
    # report's history depth is undocumented, so that is "last use unknown", not "never used".
    unused = s.secret("tool", 90, 275)
    tool, tool_sp = s.add_app("never-used-tool", 95, secrets=[unused], owner=7)
    s.cred_used(tool, tool_sp, unused, None)
    # ... holding a custom Azure role that may run deployments (write)
    role_id = s.guid()
    s.custom_roles.append({
        "id": f"{sub}/providers/Microsoft.Authorization/roleDefinitions/{role_id}", "name": role_id,
        "type": "Microsoft.Authorization/roleDefinitions",
        "properties": {"roleName": "acme-deployer", "type": "CustomRole", "description": "runs deployments",
                       "assignableScopes": [sub], "permissions": [{"actions": ["Microsoft.Resources/deployments/*",
                                                                                "*/read"], "notActions": [],
                                                                    "dataActions": [], "notDataActions": []}]}})
    s.arm_role(tool_sp["id"], role_id, sub)
    s.expect("app_secret", f"{tool['id']}/{unused['keyId']}", set(), name="tool", last_used_at=None,
             privilege="write", usage_tracked=False)

    # ancient-integration: a secret that never expires (end 9999-12-31).
    forever = s.secret("forever", 3000, None)
    anc, anc_sp = s.add_app("ancient-integration", 3100, secrets=[forever], owner=None)
    s.expect("app_secret", f"{anc['id']}/{forever['keyId']}", {"azure-long-lived-secret", "old-rotation"},
             name="forever", expires_at=None, owner="")

    # A hostile display name: rendered literally, never interpreted.
    hostile = w.hostile(0)
    hs = s.secret(None, 20, 100, hint="H0s")
    h_app, _ = s.add_app(hostile, 25, secrets=[hs], owner=8)
    s.expect("app_secret", f"{h_app['id']}/{hs['keyId']}", set(), name="secret H0s\u2026", target=hostile)

    # retired-job: a disabled service principal.
    _, retired_sp = s.add_app("retired-job", 700, owner=9)
    retired_sp["accountEnabled"] = False
    s.expect("service_principal", retired_sp["id"], set(), name="retired-job", status="inactive")

    # SAML SSO app: signing key, its public half and the PFX password share an identifier: not secrets.
    saml_app, saml_sp = s.add_app("saml-sso-portal", 200, owner=10)
    thumb = "5AML" + "0" * 36
    sign = s.cert("CN=saml", 100, 265, usage="Sign", thumb=thumb)
    verify = dict(s.cert("CN=saml", 100, 265, usage="Verify", thumb=thumb))
    pfx = s.secret("saml-pfx", 100, 265)
    pfx.update(keyId=sign["keyId"], customKeyIdentifier=thumb)
    saml_sp.update(keyCredentials=[sign, verify], passwordCredentials=[pfx], preferredSingleSignOnMode="saml")
    s.expect("service_principal", saml_sp["id"], set(), name="saml-sso-portal")

    # A secret added to Microsoft's Exchange Online service principal: the persistence trick.
    exo = s.add_sp("Office 365 Exchange Online", EXO_APP_ID, MS_TENANT)
    planted = s.secret("backup", 15, 700)
    exo["passwordCredentials"] = [planted]
    s.cred_used(None, exo, planted, 3, origin="servicePrincipal")
    s.expect("app_secret", f"sp/{exo['id']}/{planted['keyId']}", {"azure-sp-credential", "azure-long-lived-secret"},
             name="backup", target="Office 365 Exchange Online", last_used_at=w.days_ago(3))
    s.expect("service_principal", exo["id"], set(), name="Office 365 Exchange Online")
    s.add_sp("Office 365 SharePoint Online", "00000003-0000-0ff1-ce00-000000000000", MS_TENANT)

    # A third-party (multi-tenant) app consented with write access to mail.
    vendor = s.add_sp("Contoso Analytics", s.guid(), s.guid())
    s.grant_graph(vendor, "Mail.ReadWrite")
    s.sp_used(vendor, 4)
    s.expect("service_principal", vendor["id"], {"azure-third-party-privileged"}, name="Contoso Analytics",
             privilege="write")

    # A user-assigned managed identity trusted by an AKS service account; Contributor on the RG.
    uami_id = f"{sub}/resourcegroups/rg-build/providers/Microsoft.ManagedIdentity/userAssignedIdentities/uami-build"
    client_id = s.guid()
    mi = s.add_sp("uami-build", client_id, None, sp_type="ManagedIdentity",
                  alternativeNames=["isExplicit=True", uami_id])
    s.uamis[uami_id] = {"id": uami_id, "name": "uami-build", "type": "Microsoft.ManagedIdentity/userAssignedIdentities",
                        "location": "westeurope", "tags": {},
                        "properties": {"tenantId": s.tenant_id, "principalId": mi["id"], "clientId": client_id}}
    aks = f"https://westeurope.oic.prod-aks.azure.com/{s.tenant_id}/{s.guid()}/"
    fic_id = f"{uami_id}/federatedIdentityCredentials/aks-builder"
    s.uami_fics[uami_id] = {"aks-builder": {
        "id": fic_id, "name": "aks-builder",
        "type": "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials",
        "properties": {"issuer": aks, "subject": "system:serviceaccount:prod:builder",
                       "audiences": ["api://AzureADTokenExchange"]}}}
    s.arm_role(mi["id"], CONTRIBUTOR_ROLE, rg)
    s.expect("managed_identity", mi["id"], set(), name="uami-build", privilege="write", credential="federated")
    s.expect("federated_credential", fic_id, set(), name="aks-builder", privilege="write", target="uami-build")

    # Storage accounts: one whose key1 was last generated 500 days ago, one with shared keys turned off.
    for name, ages, shared in (("acmebuildlogs", (500, 30), None), ("acmesecure", (800, 800), False)):
        rid = f"{sub}/resourceGroups/rg-build/providers/Microsoft.Storage/storageAccounts/{name}"
        s.storage.append({
            "id": rid, "name": name, "type": "Microsoft.Storage/storageAccounts", "location": "westeurope",
            "kind": "StorageV2", "sku": {"name": "Standard_LRS", "tier": "Standard"},
            "properties": {"keyCreationTime": {"key1": iso(w.days_ago(ages[0])), "key2": iso(w.days_ago(ages[1]))},
                           "keyPolicy": {"keyExpirationPeriodInDays": 90}, "allowSharedKeyAccess": shared,
                           "provisioningState": "Succeeded", "creationTime": iso(w.days_ago(900))}})
        for key, age in zip(("key1", "key2"), ages):
            findings = ({"admin-scope"} | ({"old-rotation"} if age > 365 else set())) if shared is None else set()
            s.expect("storage_account_key", f"{rid}/{key}", findings, name=f"{name} {key}", created_at=w.days_ago(age),
                     status="active" if shared is None else "inactive")

    # A system-assigned managed identity of a VM, Reader on the subscription.
    vm = s.add_sp("vm-web-01", s.guid(), None, sp_type="ManagedIdentity", alternativeNames=[
        "isExplicit=False", f"{sub}/resourcegroups/rg-web/providers/Microsoft.Compute/virtualMachines/vm-web-01"])
    s.arm_role(vm["id"], READER_ROLE, sub)
    s.expect("managed_identity", vm["id"], set(), name="vm-web-01", privilege="read", credential="ephemeral")
