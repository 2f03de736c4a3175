"""Service-account keys (IAM v1): user-managed keys are NHIs of ours; system-managed ones are counted.

`keys.list` is not paged: `{"keys": [...]}`, or `{}` when there are none. It is asked for every
key type (one call), so system-managed keys (Google holds and rotates them) are counted without
becoming rows. `validAfterTime` is the creation time in practice; `validBeforeTime`
`9999-12-31T23:59:59Z` means "never expires" (kept as no expiry: date arithmetic on it overflows).
An expired key is still listed and cannot authenticate. `disableReason` and `extendedStatus`
(KEY_EXPOSED / KEY_COMPROMISE_DETECTED) survive re-enabling: the durable "was leaked" flag.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from connectors._http import clean, when
from connectors.gcp.client import Api, GaveUp, TooLarge, classify
from connectors.gcp.service_accounts import ServiceAccount


@dataclass(frozen=True)
class Key:
    account: ServiceAccount
    key_id: str
    created: datetime | None
    expires: datetime | None
    disabled: bool
    algorithm: str
    origin: str
    key_type: str
    disable_reason: str
    exposed: tuple[str, ...]          # extendedStatus keys, e.g. SERVICE_ACCOUNT_KEY_EXTENDED_STATUS_KEY_EXPOSED

    @property
    def path(self) -> str:
        return f"{self.account.path}/keys/{self.key_id}"

    @property
    def full_name(self) -> str:
        return f"{self.account.full_name}/keys/{self.key_id}"


def never(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("9999-")


def parse_key(account: ServiceAccount, obj: Mapping[str, Any]) -> Key | None:
    name = obj.get("name")
    if not isinstance(name, str) or "/keys/" not in name:
        return None
    key_id = name.rsplit("/keys/", 1)[1]
    if not key_id or "/" in key_id:
        return None
    before = obj.get("validBeforeTime")
    status = obj.get("extendedStatus") if isinstance(obj.get("extendedStatus"), list) else []
    exposed = tuple(clean(s.get("key"), 80) for s in status if isinstance(s, Mapping) and s.get("key"))
    return Key(account=account, key_id=clean(key_id, 64), created=when(obj.get("validAfterTime")),
               expires=None if never(before) else when(before), disabled=obj.get("disabled") is True,
               algorithm=clean(obj.get("keyAlgorithm"), 40), origin=clean(obj.get("keyOrigin"), 40),
               key_type=clean(obj.get("keyType") or "USER_MANAGED", 40),
               disable_reason=clean(obj.get("disableReason"), 80), exposed=exposed)


async def list_keys(api: Api, account: ServiceAccount) -> tuple[list[Key], int] | None:
    """(user-managed keys, number of system-managed keys), or None when unreadable (blind spot)."""
    what = f"keys of {account.email}"
    try:
        reply = await api.call("GET", "iam", f"{account.path}/keys")
    except (GaveUp, TooLarge) as exc:
        api.report.blind_spot(what, str(exc))
        return None
    if reply.status == 404:
        return [], 0            # deleted between the list and this call
    if not reply.ok:
        api.report.blind_spot(f"keys in {account.project.id}", classify(
            reply, "grant roles/iam.serviceAccountKeyAdmin or a role with iam.serviceAccountKeys.list").text)
        return None
    raw = reply.data.get("keys") if isinstance(reply.data, Mapping) else None
    user: list[Key] = []
    system = 0
    for obj in raw if isinstance(raw, list) else []:
        if not isinstance(obj, Mapping):
            continue
        key = parse_key(account, obj)
        if key is None:
            continue
        if key.key_type == "SYSTEM_MANAGED":
            system += 1
        else:
            user.append(key)
    return user, system
