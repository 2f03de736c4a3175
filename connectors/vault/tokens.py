"""Service tokens: `LIST auth/token/accessors` (needs sudo), then one `lookup-accessor` per token.

There is no bulk lookup and no pagination, so lookups run with bounded concurrency. Fields:
`display_name` (prefixed by the auth method), `policies` ∪ `identity_policies` (effective rights),
`creation_time` (epoch), `expire_time` (RFC 3339 or null = never), `ttl` (0 = never),
`explicit_max_ttl`, `renewable`, `orphan`, `period`, `entity_id`, `path` (which login or create
made it), `num_uses`. Vault records no last use (the audit log is the only source): every token is
`usage_tracked=False`, so an empty last use reads "unknown", never "never used". Batch tokens
are not stored and never listed: said in the source facts.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from datetime import datetime, timezone
from typing import Any

from connectors._http import GaveUp, when
from connectors.vault.client import Denied, errors_of
from connectors.vault.scan import Scan, seconds, strings, text_map
from nhitui.model import Identity, make_uid, sanitize

KIND = "vault_token"
BATCH = 500


async def collect(scan: Scan) -> AsyncIterator[list[Identity]]:
    try:
        accessors, _ = await scan.client.list("auth/token/accessors")
    except Denied as exc:
        scan.blind("auth/token/accessors", exc)
        return
    sem = asyncio.Semaphore(scan.concurrency)
    denied: list[str] = []
    lost: list[str] = []

    async def one(accessor: str) -> Identity | None:
        async with sem:
            try:
                reply = await scan.client.write("auth/token/lookup-accessor", {"accessor": accessor},
                                                final=frozenset({500}))
            except GaveUp as exc:     # rate limited or failing past the retry budget: say so, keep going
                lost.append(str(exc))
                return None
        if reply.status == 403:
            denied.append(errors_of(reply))
            return None
        if reply.status in (400, 404, 500) or not reply.ok or not isinstance(reply.data, Mapping):
            return None     # revoked or expired between the LIST and the lookup, or another namespace's
        data = reply.data.get("data")
        return await identity(scan, data) if isinstance(data, Mapping) else None

    for start in range(0, len(accessors), BATCH):
        chunk = accessors[start:start + BATCH]
        found = await asyncio.gather(*(one(a) for a in chunk))
        batch = [i for i in found if i is not None]
        if denied:
            scan.blind("auth/token/lookup-accessor", Denied("POST", "auth/token/lookup-accessor", denied[0]))
            return
        if batch:
            yield batch
    if lost:
        scan.blind("auth/token/lookup-accessor", f"{len(lost)} of {len(accessors)} token lookups failed after "
                   f"retries (last: {lost[-1]}); those tokens are missing from this scan")


async def identity(scan: Scan, d: Mapping[str, Any]) -> Identity | None:
    accessor = d.get("accessor")
    if not isinstance(accessor, str) or not accessor:
        return None
    policies = strings(d.get("policies"))
    identity_policies = strings(d.get("identity_policies"))
    effective = sorted(set(policies) | set(identity_policies))
    privilege, reason = await scan.privilege(effective)
    meta = text_map(d.get("meta"))
    path = sanitize(d.get("path"))[:200]
    expires = when(d.get("expire_time"))
    ttl = seconds(d.get("ttl"))
    if ttl == 0 and d.get("expire_time") in (None, ""):
        expires = None
    login = path.startswith("auth/") and not path.startswith("auth/token/")
    entity = sanitize(d.get("entity_id"))[:64]
    now = datetime.now(timezone.utc)
    details = {
        "accessor": sanitize(accessor)[:80], "namespace": scan.namespace, "policies": policies,
        "identity_policies": identity_policies, "privilege_reason": reason, "orphan": bool(d.get("orphan")),
        "renewable": bool(d.get("renewable")), "period": seconds(d.get("period")),
        "explicit_max_ttl": seconds(d.get("explicit_max_ttl")), "num_uses": seconds(d.get("num_uses")),
        "ttl": ttl, "creation_ttl": seconds(d.get("creation_ttl")), "path": path,
        "role": sanitize(d.get("role"))[:120], "entity_id": entity, "type": sanitize(d.get("type"))[:20],
        "meta": meta, "bound_cidrs": strings(d.get("bound_cidrs")),
        "last_renewal": sanitize(d.get("last_renewal"))[:40],
        "last_use": "unknown: Vault records no last use; only its audit log does",
    }
    return Identity(
        uid=make_uid(scan.source, KIND, scan.native(accessor)), source=scan.source, provider="vault", kind=KIND,
        name=sanitize(d.get("display_name") or "token")[:200],
        owner=meta.get("owner") or meta.get("role_name") or meta.get("role") or "",
        target=scan.target, scopes=tuple(effective), privilege=privilege,
        created_at=when(d.get("creation_time")), expires_at=expires,
        status="expired" if expires is not None and expires <= now else "active",
        credential="ephemeral" if login else "static",
        actions=("disable", "revoke") if entity else ("revoke",), usage_tracked=False, details=details,
    )
