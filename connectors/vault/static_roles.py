"""Static roles of secrets engines (`vault_static_role`) and a lease count per dynamic-credential mount.

A static role keeps one real account (a database user, an AWS IAM user) whose password Vault
rotates: `LIST <m>/static-roles`, `GET <m>/static-roles/<r>` → `username`, `rotation_period` (or
`rotation_schedule`), `last_vault_rotation`. The last rotation is the credential's age
(`details["rotated_at"]`, read by the shared old-rotation rule). Never `static-creds/*` or
`creds/*`: the first returns the live password, the second mints a credential.
Dynamic credentials are leases: `LIST sys/leases/lookup/<m>/creds/<role>/` (list + sudo) gives
their number per role, recorded in the source facts rather than as thousands of rows.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

from connectors._http import when
from connectors.vault.client import Denied
from connectors.vault.scan import Scan, seconds
from nhitui.model import Identity, iso, make_uid, sanitize

KIND = "vault_static_role"
STATIC_ENGINES = frozenset({"database", "aws", "ldap", "openldap", "gcp", "azure"})
MAX_LEASE_ROLES = 200


async def collect(scan: Scan, mount: str) -> AsyncIterator[list[Identity]]:
    base = mount.strip("/")
    try:
        names, _ = await scan.client.list(f"{base}/static-roles")
    except Denied as exc:
        scan.blind(f"{base}/static-roles", exc, f"list on {base}/static-roles/ and read on {base}/static-roles/+")
        return
    batch = []
    for name in names:
        try:
            role = await scan.client.read(f"{base}/static-roles/{name}")
        except Denied as exc:
            scan.blind(f"{base}/static-roles/+", exc, f"read on {base}/static-roles/+")
            break
        if role is not None:
            batch.append(_identity(scan, base, name, role))
    if batch:
        yield batch


def _identity(scan: Scan, mount: str, name: str, role: Mapping[str, Any]) -> Identity:
    rotated = when(role.get("last_vault_rotation"))
    period = seconds(role.get("rotation_period"))
    schedule = sanitize(role.get("rotation_schedule"))[:100]
    return Identity(
        uid=make_uid(scan.source, KIND, scan.native(mount, name)), source=scan.source, provider="vault", kind=KIND,
        name=f"{mount}/{sanitize(name)[:200]}", owner=sanitize(role.get("username"))[:200], target=scan.target,
        scopes=(sanitize(role.get("db_name"))[:100],) if role.get("db_name") else (), privilege="write",
        created_at=None, credential="static", actions=(), usage_tracked=False,
        details={"mount": mount, "role": sanitize(name)[:200], "namespace": scan.namespace,
                 "rotation_period": period, "rotation_schedule": schedule,
                 "rotated_at": iso(rotated) if rotated else "", "username": sanitize(role.get("username"))[:200]},
    )


async def lease_counts(scan: Scan, mount: str) -> dict[str, int] | None:
    """Live leases per role under `<mount>/creds/`; None when the lease list is not visible."""
    base = f"sys/leases/lookup/{mount.strip('/')}/creds"
    try:
        roles, _ = await scan.client.list(base)
    except Denied as exc:
        scan.blind("sys/leases/lookup", exc, "list + sudo on sys/leases/lookup/*")
        return None
    counts: dict[str, int] = {}
    for role in roles[:MAX_LEASE_ROLES]:
        try:
            leases, _ = await scan.client.list(f"{base}/{role.rstrip('/')}")
        except Denied:
            return None
        counts[sanitize(role.rstrip("/"))[:100]] = len(leases)
    return counts
