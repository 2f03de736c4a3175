"""Azure / Microsoft Entra ID: app credentials, service principals, managed identities, federated
credentials and Azure RBAC, with revocation.

One scan reads, concurrently: app registrations and their federated credentials
(`applications`), service principals with their app-role assignments expanded
(`service_principals`), what else they hold (`permissions`: delegated grants, directory roles),
Azure role assignments, user-assigned managed identities (`arm`) and storage account key age
(`storage`), last use (`signins`, beta
reports needing P1/P2); then the full app-role assignments of the few SPs whose expansion was cut. Rows are built once everything is known, because a credential's privilege is its
service principal's. Actions live in `actions`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from datetime import datetime, timezone
from typing import Any

from connectors.azure import actions as azure_actions
from connectors.azure.applications import (
    app_credentials,
    collect_app_fics,
    collect_app_fics_per_app,
    collect_apps,
)
from connectors.azure.arm import collect_arm
from connectors.azure.client import GRAPH_URL, Api, Tokens, creds_for, pacing_facts
from connectors.azure.federated import app_fic_identity, uami_fic_identity
from connectors.azure.permissions import (
    collect_assignments,
    collect_directory_roles,
    collect_grants,
    collect_graph_roles,
    sp_permissions,
)
from connectors.azure.service_principals import (
    collect_sps,
    included,
    sp_credential_identities,
    sp_identity,
    uami_identity,
)
from connectors.azure.signins import collect_signins
from connectors.azure.storage import storage_keys
from connectors.azure.tenant import Tenant, seq
from connectors.base import ConnectorError, Report, Resolve, setting
from nhitui.model import Action, ActionResult, Identity

BATCH = 500
Perms = tuple[tuple[str, ...], list[str], str]


class AzureConnector:
    provider = "azure"

    def __init__(self, settings: Mapping[str, Any], resolve: Resolve) -> None:
        self.settings = dict(settings)
        self.name = str(settings["name"])
        self.report = Report(self.name, self.provider)
        self._resolve = resolve
        self.tenant_id = str(settings.get("tenant_id") or "")
        self.subscriptions = [str(s) for s in seq(settings.get("subscriptions")) if str(s)]
        self.concurrency = max(1, min(64, int(setting(settings, "concurrency", 16))))
        self.portal = str(setting(settings, "graph_url", GRAPH_URL)).rstrip("/") == GRAPH_URL

    # --- collection --------------------------------------------------------------------------

    async def collect(self) -> AsyncIterator[list[Identity]]:
        if not self.tenant_id:
            raise ConnectorError("tenant_id: missing (the Entra tenant id)")
        tenant = Tenant(self.tenant_id)
        self.report.facts["tenant_id"] = self.tenant_id
        tokens = Tokens(self.settings, self._resolve, creds_for(self.settings, write=False))
        try:
            async with Api("graph", tokens, self.report, self.settings) as graph:
                await asyncio.gather(
                    collect_apps(graph, tenant, self.report), collect_sps(graph, tenant, self.report),
                    collect_graph_roles(graph, tenant, self.report), collect_grants(graph, tenant, self.report),
                    collect_directory_roles(graph, tenant, self.report), collect_signins(graph, tenant, self.report),
                    collect_app_fics(graph, tenant, self.report), self._arm(tokens, tenant))
                if not tenant.apps_known and not tenant.sps_known:
                    spots = "; ".join(b.reason for b in self.report.blind_spots[:2])
                    raise ConnectorError(f"neither app registrations nor service principals are readable: {spots}"[:500])
                # SPs whose expanded assignments were cut at 20 (or not expanded) are read in full.
                tenant.learn()
                missing = [sid for sid, sp in tenant.sps.items() if included(tenant, sp) and sid not in tenant.assignments]
                await asyncio.gather(
                    collect_assignments(graph, tenant, self.report, missing, self.concurrency),
                    collect_app_fics_per_app(graph, tenant, self.report, self.concurrency) if tenant.fic_fallback
                    else asyncio.sleep(0))
                pacing_facts(self.report, "graph", graph.pacer)
        finally:
            tokens.close()
        rows = self.build(tenant, datetime.now(timezone.utc))
        for i in range(0, len(rows), BATCH):
            yield rows[i:i + BATCH]

    async def _arm(self, tokens: Tokens, tenant: Tenant) -> None:
        what = "Azure role assignments and managed identities (ARM)"
        try:
            async with Api("arm", tokens, self.report, self.settings) as arm:
                await collect_arm(arm, tenant, self.report, self.subscriptions, self.concurrency)
                pacing_facts(self.report, "arm", arm.pacer)
        except ConnectorError as exc:        # refused token, unreachable ARM: Graph's inventory stands
            tenant.arm_known = False
            self.report.blind_spot(what, f"{exc}; Azure roles (Owner, Contributor...) are not counted in privilege")

    def build(self, tenant: Tenant, now: datetime) -> list[Identity]:
        """Every row, from what the scan gathered (pure: no request)."""
        tenant.learn()
        cache: dict[str, Perms] = {}

        def perms(sp_id: str) -> Perms:
            if not sp_id:
                return (), [], "none"
            if sp_id not in cache:
                scopes, tier0, privilege = sp_permissions(tenant, sp_id)
                cache[sp_id] = (tuple(scopes), tier0, privilege)
            return cache[sp_id]

        rows: list[Identity] = []
        apps_by_app_id = {str(a.get("appId") or "").lower(): a for a in tenant.apps}
        for app in tenant.apps:
            sp_id = tenant.sp_by_app.get(str(app.get("appId") or "").lower(), "")
            p = perms(sp_id)
            rows += app_credentials(self.name, tenant, app, p, now, self.portal)
            owners = tenant.owners.get(app["id"], [])
            for fic in tenant.app_fics.get(app["id"], ()):
                i = app_fic_identity(self.name, fic, app=app, owner=owners[0] if owners else "", perms=p,
                                     sp_id=sp_id, tenant_id=tenant.tenant_id)
                if i is not None:
                    rows.append(i)
        uami_by_principal = {u["principal_id"]: u for u in tenant.uamis if u.get("principal_id")}
        skipped = 0
        for sid, sp in tenant.sps.items():
            if not included(tenant, sp):
                skipped += 1
                continue
            publisher = tenant.publisher(sp)
            app = apps_by_app_id.get(str(sp.get("appId") or "").lower()) if publisher == "own" else None
            uami = uami_by_principal.get(sid)
            federated = bool(app is not None and tenant.app_fics.get(app["id"])) or bool(uami and uami.get("fics"))
            rows.append(sp_identity(self.name, tenant, sp, perms(sid), app, federated, now, uami))
            if publisher != "managed-identity":
                rows += sp_credential_identities(self.name, tenant, sp, perms(sid), now)
        for u in tenant.uamis:
            p = perms(u.get("principal_id", ""))
            if u.get("principal_id") not in tenant.sps:
                rows.append(uami_identity(self.name, tenant, u, p, now))
            for fic in u.get("fics") or ():
                i = uami_fic_identity(self.name, fic, uami=u, perms=p, tenant_id=tenant.tenant_id)
                if i is not None:
                    rows.append(i)
        for account in tenant.storage_accounts:
            rows += storage_keys(self.name, account, tenant.tenant_id)
        self.report.facts["microsoft_service_principals_not_listed"] = skipped
        self.report.facts["usage_tracked"] = tenant.usage_reports
        unique: dict[str, Identity] = {}
        for r in rows:
            unique.setdefault(r.uid, r)
        return list(unique.values())

    # --- actions -----------------------------------------------------------------------------

    def actions(self, identity: Identity) -> list[Action]:
        return azure_actions.actions_for(identity)

    async def execute(self, identity: Identity, action: str) -> ActionResult:
        return await azure_actions.execute(self.settings, self._resolve, identity, action)


CONNECTOR = AzureConnector

__all__ = ["CONNECTOR", "AzureConnector"]
