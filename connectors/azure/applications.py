"""App registrations: their client secrets (`app_secret`) and certificates (`app_certificate`).

`GET /v1.0/applications?$select=...&$top=999&$expand=owners(...)`: secrets and certificates live
on the **application** object (`passwordCredentials`, `keyCredentials`), with `startDateTime`,
`endDateTime`, `hint` (first 3 characters of a secret) and `keyId`; `secretText` and `key` are
null in lists and never kept. `requiredResourceAccess` is what the app *requests* (kept as a
detail); what it *has* is its service principal's, which gives each credential its privilege.
An `$expand` of owners returns at most 20, which is plenty to name an owner.

Federated credentials come from one expanded list on Graph beta (which adds the flexible
`claimsMatchingExpression`), falling back to v1.0 when beta is not available.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from connectors._http import clean
from connectors.azure.client import Api, reason
from connectors.azure.tenant import Tenant, moment, seq
from connectors.base import Report
from nhitui.model import Identity, make_uid

APP_SELECT = ("id,appId,displayName,createdDateTime,signInAudience,publisherDomain,passwordCredentials,"
              "keyCredentials,requiredResourceAccess,disabledByMicrosoftStatus,tags")
OWNERS = "owners($select=id,displayName,userPrincipalName,appId)"
NO_EXPIRY_DAYS = 36_500


async def collect_apps(graph: Api, tenant: Tenant, report: Report) -> None:
    items = await graph.items(f"/v1.0/applications?$select={APP_SELECT}&$expand={OWNERS}&$top=999",
                              "app registrations", "Application.Read.All", report)
    if items is None:
        tenant.apps_known = False
        return
    tenant.apps = [a for a in items if isinstance(a.get("id"), str) and a.get("id")]
    for app in tenant.apps:
        names = []
        for o in seq(app.get("owners")):
            if isinstance(o, Mapping):
                name = o.get("userPrincipalName") or o.get("displayName") or o.get("appId") or o.get("id")
                if name:
                    names.append(clean(name, 200))
        tenant.owners[app["id"]] = names


async def collect_app_fics(graph: Api, tenant: Tenant, report: Report) -> None:
    """Every application's federated credentials in one paged list: `$expand` returns at most 20
    items, which is the documented maximum of FICs per application, so nothing is cut. Graph beta
    adds the flexible `claimsMatchingExpression`; without beta (a national cloud, a proxy that blocks
    it), v1.0 is read and the missing expressions are a named blind spot. A Graph that refuses the
    expansion is asked per application afterwards (`collect_app_fics_per_app`)."""
    what = "federated credentials of app registrations"
    query = "applications?$select=id&$expand=federatedIdentityCredentials&$top=999"
    version = "beta"
    items, failed = await graph.try_items(f"/beta/{query}", what, report)
    if failed is not None and failed.status in (400, 404):
        probe = await graph.try_items("/beta/applications?$select=id&$top=1", what, report)
        if probe[1] is not None:          # beta itself is missing, not the expansion
            version = "v1.0"
            report.blind_spot("flexible federated credentials", (
                f"Graph beta answered {failed.status} on {failed.path}: federated credentials are read from "
                "v1.0, where a flexible credential's claimsMatchingExpression is not visible"))
            items, failed = await graph.try_items(f"/v1.0/{query}", what, report)
    if failed is not None and failed.status == 400:
        tenant.fic_fallback = version
        return
    if failed is not None:
        report.blind_spot(what, reason(failed, "Application.Read.All"))
    for a in items or ():
        fics = a.get("federatedIdentityCredentials")
        if isinstance(a.get("id"), str) and isinstance(fics, list):
            tenant.app_fics[a["id"]] = [f for f in fics if isinstance(f, Mapping)]


async def collect_app_fics_per_app(graph: Api, tenant: Tenant, report: Report, concurrency: int) -> None:
    """One `federatedIdentityCredentials` list per application, when the expansion was refused."""
    gate = asyncio.Semaphore(concurrency)
    what = "federated credentials of app registrations"

    async def one(app_id: str) -> None:
        async with gate:
            items = await graph.items(f"/{tenant.fic_fallback}/applications/{quote(app_id)}/federatedIdentityCredentials",
                                      what, "Application.Read.All", report)
        if items is not None:
            tenant.app_fics[app_id] = list(items)

    await asyncio.gather(*(one(a["id"]) for a in tenant.apps))


def lifetime_days(start: datetime | None, end: datetime | None) -> int | None:
    if start is None or end is None:
        return None
    return int((end - start) / timedelta(days=1))


def credential_identity(source: str, tenant: Tenant, cred: Mapping[str, Any], *, kind: str, native: str,
                        origin: str, target: str, owner: str, scopes: tuple[str, ...], privilege: str,
                        details: dict[str, Any], now: datetime, url: str = "") -> Identity | None:
    """One secret or certificate (of an application or set directly on a service principal)."""
    key_id = cred.get("keyId")
    if not isinstance(key_id, str) or not key_id:
        return None
    start, end = moment(cred.get("startDateTime")), moment(cred.get("endDateTime"))
    days = lifetime_days(start, end)
    no_expiry = end is None or (days is not None and days >= NO_EXPIRY_DAYS)
    hint = clean(cred.get("hint"), 3) if kind == "app_secret" else ""
    label = clean(cred.get("displayName"), 200)
    if not label:
        label = f"secret {hint}\u2026" if hint else f"{'secret' if kind == 'app_secret' else 'certificate'} {key_id[:8]}"
    activity = tenant.cred_activity.get((key_id.lower(), origin)) if tenant.usage_reports else None
    d = dict(details)
    d.update({"key_id": clean(key_id, 64), "credential_origin": origin, "lifetime_days": days,
              "no_expiry": no_expiry, "tenant_id": tenant.tenant_id})
    if kind == "app_secret":
        d["hint"] = hint
    else:
        d["certificate_type"] = clean(cred.get("type"), 60)
        d["usage"] = clean(cred.get("usage"), 20)
        d["thumbprint"] = clean(cred.get("customKeyIdentifier"), 100)
    if tenant.usage_reports and activity is None:
        d["last_used_note"] = "no row in appCredentialSignInActivities: last use unknown"
    expired = end is not None and end <= now
    return Identity(
        uid=make_uid(source, kind, native), source=source, provider="azure", kind=kind, name=label,
        owner=owner, target=target, scopes=scopes, privilege=privilege, created_at=start,
        expires_at=None if no_expiry else end, last_used_at=activity.last_used if activity else None,
        status="expired" if expired else "active", credential="static", actions=("remove",), url=url,
        usage_tracked=activity is not None and activity.last_used is not None, details=d)


def app_credentials(source: str, tenant: Tenant, app: Mapping[str, Any], perms: tuple[tuple[str, ...], list[str], str],
                    now: datetime, portal: bool) -> list[Identity]:
    """The secrets and certificates of one application, with its service principal's privilege."""
    app_obj = str(app["id"])
    app_id = clean(app.get("appId"), 64)
    scopes, tier0, privilege = perms
    owners = tenant.owners.get(app_obj, [])
    details = {"app_id": app_id, "app_object_id": clean(app_obj, 64),
               "sp_object_id": tenant.sp_by_app.get(app_id.lower(), ""), "owners": owners,
               "tier0": list(tier0), "publisher": "own",
               "requested_permissions": requested(app), "sign_in_audience": clean(app.get("signInAudience"), 60)}
    url = (f"https://portal.azure.com/#view/Microsoft_AAD_RegisteredApps/ApplicationMenuBlade/~/Credentials/"
           f"appId/{quote(app_id)}") if portal and app_id else ""
    target = clean(app.get("displayName"), 300) or app_id
    out = []
    for field, kind in (("passwordCredentials", "app_secret"), ("keyCredentials", "app_certificate")):
        for cred in seq(app.get(field)):
            if not isinstance(cred, Mapping) or not isinstance(cred.get("keyId"), str):
                continue
            i = credential_identity(source, tenant, cred, kind=kind, native=f"{app_obj}/{cred['keyId']}",
                                    origin="application", target=target, owner=owners[0] if owners else "",
                                    scopes=scopes, privilege=privilege, details=details, now=now, url=url)
            if i is not None:
                out.append(i)
    return out


def requested(app: Mapping[str, Any]) -> list[str]:
    """`requiredResourceAccess` as `resourceAppId:Role|Scope:id` strings (requested, not granted)."""
    out = []
    for r in seq(app.get("requiredResourceAccess")):
        if not isinstance(r, Mapping):
            continue
        for a in seq(r.get("resourceAccess")):
            if isinstance(a, Mapping):
                out.append(f"{clean(r.get('resourceAppId'), 64)}:{clean(a.get('type'), 10)}:{clean(a.get('id'), 64)}")
    return out[:200]
