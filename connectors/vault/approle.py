"""AppRole: roles (`approle_role`) and their secret IDs (`approle_secret_id`), per AppRole mount.

`LIST auth/<m>/role` (404 = none), `GET auth/<m>/role/<r>` (token policies, secret-id TTL and
uses, CIDR bindings, `bind_secret_id`; older Vault also says `policies`/`period`/`bound_cidr_list`),
`LIST auth/<m>/role/<r>/secret-id` → accessors, then `POST …/secret-id-accessor/lookup` per accessor
(`update` is needed even to read). A secret ID's `expiration_time` of `0001-01-01T00:00:00Z` means it
never expires; `last_updated_time` is not a last use (it moves only for use-limited IDs), so secret
IDs are `usage_tracked=False`. The secret ID itself is never returned by these calls.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from datetime import datetime, timezone
from typing import Any

from connectors._http import when
from connectors.vault.client import Denied
from connectors.vault.scan import Scan, seconds, strings, text_map
from nhitui.model import Identity, make_uid, sanitize

ROLE_KIND = "approle_role"
SECRET_KIND = "approle_secret_id"


def role_settings(role: Mapping[str, Any]) -> dict[str, Any]:
    """The role's security-relevant settings, old and new field names merged."""
    return {
        "token_policies": strings(role.get("token_policies")) or strings(role.get("policies")),
        "bind_secret_id": role.get("bind_secret_id") is not False,
        "secret_id_ttl": seconds(role.get("secret_id_ttl")),
        "secret_id_num_uses": seconds(role.get("secret_id_num_uses")),
        "secret_id_bound_cidrs": strings(role.get("secret_id_bound_cidrs")) or strings(role.get("bound_cidr_list")),
        "token_bound_cidrs": strings(role.get("token_bound_cidrs")),
        "token_ttl": seconds(role.get("token_ttl")), "token_max_ttl": seconds(role.get("token_max_ttl")),
        "token_period": seconds(role.get("token_period")) or seconds(role.get("period")),
        "token_type": sanitize(role.get("token_type") or "default")[:20],
        "token_num_uses": seconds(role.get("token_num_uses")),
    }


async def collect(scan: Scan, mount: str) -> AsyncIterator[list[Identity]]:
    base = f"auth/{mount.strip('/')}"
    try:
        names, _ = await scan.client.list(f"{base}/role")
    except Denied as exc:
        scan.blind(f"{base}/role", exc, f"list on {base}/role/ and read on {base}/role/+")
        return
    for name in names:
        try:
            role = await scan.client.read(f"{base}/role/{name}")
        except Denied as exc:
            scan.blind(f"{base}/role/+", exc, f"read on {base}/role/+")
            return
        if role is None:
            continue
        settings = role_settings(role)
        privilege, reason = await scan.privilege(settings["token_policies"])
        batch = [_role_identity(scan, mount, name, settings, privilege, reason)]
        batch += await _secret_ids(scan, base, mount, name, settings, privilege)
        yield batch


def _role_identity(scan: Scan, mount: str, name: str, settings: dict[str, Any], privilege: str,
                   reason: str) -> Identity:
    return Identity(
        uid=make_uid(scan.source, ROLE_KIND, scan.native(mount, name)), source=scan.source, provider="vault",
        kind=ROLE_KIND, name=sanitize(name)[:200], owner="", target=scan.target,
        scopes=tuple(settings["token_policies"]), privilege=privilege, credential="static", actions=(),
        usage_tracked=False, details={"mount": mount.strip("/"), "role": sanitize(name)[:200],
                                      "namespace": scan.namespace, "privilege_reason": reason, **settings},
    )


async def _secret_ids(scan: Scan, base: str, mount: str, role: str, settings: dict[str, Any],
                      privilege: str) -> list[Identity]:
    try:
        accessors, _ = await scan.client.list(f"{base}/role/{role}/secret-id")
    except Denied as exc:
        scan.blind(f"{base}/role/+/secret-id", exc, f"list on {base}/role/+/secret-id/")
        return []
    sem = asyncio.Semaphore(scan.concurrency)
    denied: list[Denied] = []

    async def one(accessor: str) -> Identity | None:
        async with sem:
            reply = await scan.client.write(f"{base}/role/{role}/secret-id-accessor/lookup",
                                            {"secret_id_accessor": accessor}, final=frozenset({500}))
        if reply.status == 403:
            denied.append(Denied("POST", f"{base}/role/+/secret-id-accessor/lookup", ""))
            return None
        if not reply.ok or not isinstance(reply.data, Mapping) or not isinstance(reply.data.get("data"), Mapping):
            return None     # destroyed or expired since the LIST
        return _secret_identity(scan, mount, role, accessor, reply.data["data"], settings, privilege)

    found = await asyncio.gather(*(one(a) for a in accessors))
    if denied:
        scan.blind(f"{base}/role/+/secret-id-accessor/lookup", denied[0],
                   f"update on {base}/role/+/secret-id-accessor/lookup")
    return [i for i in found if i is not None]


def _secret_identity(scan: Scan, mount: str, role: str, accessor: str, d: Mapping[str, Any],
                     settings: dict[str, Any], privilege: str) -> Identity:
    expires = when(d.get("expiration_time"))
    now = datetime.now(timezone.utc)
    cidrs = strings(d.get("cidr_list"))
    return Identity(
        uid=make_uid(scan.source, SECRET_KIND, scan.native(mount, role, accessor)), source=scan.source,
        provider="vault", kind=SECRET_KIND, name=f"{sanitize(role)[:120]} secret-id {sanitize(accessor)[:8]}",
        owner=sanitize(role)[:200], target=scan.target, scopes=tuple(settings["token_policies"]),
        privilege=privilege, created_at=when(d.get("creation_time")), expires_at=expires,
        status="expired" if expires is not None and expires <= now else "active", credential="static",
        actions=("destroy",), usage_tracked=False,
        details={"mount": mount.strip("/"), "role": sanitize(role)[:200], "accessor": sanitize(accessor)[:80],
                 "namespace": scan.namespace, "uses_left": seconds(d.get("secret_id_num_uses")),
                 "cidr_list": cidrs, "token_bound_cidrs": strings(d.get("token_bound_cidrs")),
                 "metadata": text_map(d.get("metadata")),
                 "role_secret_id_bound_cidrs": settings["secret_id_bound_cidrs"],
                 "last_use": "unknown: Vault records no last use of a secret ID (vault#14002)"},
    )
