"""Last use from the usage-and-insights reports (Graph **beta** only; v1.0 answers 400).

- `GET /beta/reports/servicePrincipalSignInActivities`: per appId, the latest sign-in as client
  (app-only and delegated) and as resource. Staleness uses the *client* fields: an API that is only
  ever called (resource) is used, but its credentials may not be.
- `GET /beta/reports/appCredentialSignInActivities`: per credential `keyId` and origin
  (`application` / `servicePrincipal`).

Both need `AuditLog.Read.All` **and** an Entra ID P1/P2 licence. A 403 is named precisely as a
licence or a permission blind spot, and every row then says last use is unknown
(`usage_tracked=False`), never "never used". A row whose activity is null, or no row at all, is
unknown too: the reports' history depth is not documented, so "no sign-in recorded" is not "never
used" (reference/azure.md: no data is not unused).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from connectors._http import clean
from connectors.azure.client import Api, is_licence_error, reason
from connectors.azure.tenant import Activity, Tenant, moment
from connectors.base import Report

WHAT = "last use (sign-in activity reports)"
NEEDS = "AuditLog.Read.All and an Entra ID P1/P2 licence"
CLIENT_FIELDS = ("applicationAuthenticationClientSignInActivity", "delegatedClientSignInActivity")


def _last(obj: Any) -> datetime | None:
    if isinstance(obj, Mapping):
        return moment(obj.get("lastSignInDateTime"))
    return None


def sp_activity(row: Mapping[str, Any]) -> Activity:
    """The latest client sign-in of one servicePrincipalSignInActivity row (None: never as client)."""
    best: tuple[datetime, str] | None = None
    for key in CLIENT_FIELDS:
        t = _last(row.get(key))
        if t is not None and (best is None or t > best[0]):
            best = (t, key)
    return Activity(best[0], best[1]) if best else Activity(None, "")


async def _report(graph: Api, path: str, report: Report) -> list[Mapping[str, Any]] | None:
    """All rows of one report, or None after naming why it cannot be read."""
    items, failed = await graph.try_items(path, WHAT, report)
    if failed is not None and failed.status == 400 and "$top=" in path:
        # The largest page these reports accept is not documented: ask again with Graph's default.
        items, failed = await graph.try_items(path.split("?", 1)[0], WHAT, report)
    if failed is not None:
        report.blind_spot(WHAT, reason(failed, NEEDS))
        licence = failed.status == 403 and is_licence_error(failed)
        report.facts["usage_reports"] = "no-licence" if licence else "denied" if failed.status == 403 else "failed"
        return None
    if items is None:
        report.facts.setdefault("usage_reports", "failed")
    return items


async def collect_signins(graph: Api, tenant: Tenant, report: Report) -> None:
    sps, creds = await asyncio.gather(
        _report(graph, "/beta/reports/servicePrincipalSignInActivities?$top=999", report),
        _report(graph, "/beta/reports/appCredentialSignInActivities?$top=999", report))
    if sps is None or creds is None:
        return
    tenant.usage_reports = True
    report.facts["usage_reports"] = "ok"
    for row in sps:
        app_id = row.get("appId")
        if isinstance(app_id, str) and app_id:
            tenant.sp_activity[app_id.lower()] = sp_activity(row)
    for row in creds:
        key_id = row.get("keyId")
        if not isinstance(key_id, str) or not key_id:
            continue
        origin = clean(row.get("credentialOrigin") or "application", 40)
        tenant.cred_activity[(key_id.lower(), origin)] = Activity(_last(row.get("signInActivity")), "credential")
