"""Storage account access keys (`storage_account_key`): their age, never their values.

`GET /subscriptions/{sub}/providers/Microsoft.Storage/storageAccounts` returns, with Reader,
`properties.keyCreationTime.{key1,key2}` (when each key was last generated; null for accounts made
before Azure recorded it), `keyPolicy.keyExpirationPeriodInDays` (a rotation reminder, not an
expiry) and `allowSharedKeyAccess` (false: the keys are refused, whatever their age). `listKeys`
returns the key values and is never called. A key is full control of the account's data (every
container, table and queue, and signing SAS tokens): privilege admin. Rotating one
(`regenerateKey`) answers with the new value, so no action is offered: rotate in the portal or CLI.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from connectors._http import clean
from connectors.azure.client import Api
from connectors.azure.tenant import moment
from connectors.base import Report
from nhitui.model import Identity, make_uid

STORAGE_API = "2023-01-01"
KIND = "storage_account_key"


async def collect_storage(arm: Api, report: Report, sub: str) -> list[Mapping[str, Any]]:
    items = await arm.items(f"/subscriptions/{quote(sub)}/providers/Microsoft.Storage/storageAccounts"
                            f"?api-version={STORAGE_API}", f"storage accounts of subscription {sub}",
                            "Reader on the subscription", report)
    return list(items or ())


def storage_keys(source: str, account: Mapping[str, Any], tenant_id: str) -> list[Identity]:
    rid = account.get("id")
    props = account.get("properties")
    if not isinstance(rid, str) or not rid.startswith("/subscriptions/") or not isinstance(props, Mapping):
        return []
    name = clean(account.get("name"), 100) or rid.rsplit("/", 1)[-1]
    created = props.get("keyCreationTime") if isinstance(props.get("keyCreationTime"), Mapping) else {}
    policy = props.get("keyPolicy") if isinstance(props.get("keyPolicy"), Mapping) else {}
    shared = props.get("allowSharedKeyAccess") is not False          # null means allowed
    period = policy.get("keyExpirationPeriodInDays")
    out = []
    for key in ("key1", "key2"):
        when = moment(created.get(key))
        details = {"account_id": clean(rid, 400), "key_name": key, "allow_shared_key_access": shared,
                   "key_expiration_period_days": period if isinstance(period, int) else None,
                   "tenant_id": tenant_id, "location": clean(account.get("location"), 60)}
        if when is None:
            details["created_note"] = "no keyCreationTime: the key predates Azure recording it, or was never rotated"
        out.append(Identity(
            uid=make_uid(source, KIND, f"{rid}/{key}"), source=source, provider="azure", kind=KIND,
            name=f"{name} {key}", target=name, scopes=("storage:shared-key (full data access)",),
            privilege="admin" if shared else "none", created_at=when, status="active" if shared else "inactive",
            credential="static", actions=(), usage_tracked=False, details=details))
    return out
