"""Organization-policy constraints that matter for keys (Org Policy v2 `getEffectivePolicy`).

`GET v2/projects/{P}/policies/{CONSTRAINT}:getEffectivePolicy` merges the hierarchy; permission
`orgpolicy.policy.get` (roles/orgpolicy.policyViewer). Both the legacy and the `iam.managed.*`
name of key creation are read (either may be the one in force). `dryRunSpec` is audit-only and
not counted. Key expiry values are hour durations, `"2160h"` (some IaC writes `"2160"`).
Constraints are read only for projects that hold user-managed keys: that is where they matter.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from connectors.gcp.client import Api, GaveUp, TooLarge, classify
from connectors.gcp.projects import Project

KEY_CREATION = ("iam.disableServiceAccountKeyCreation", "iam.managed.disableServiceAccountKeyCreation")
KEY_EXPIRY = "iam.serviceAccountKeyExpiryHours"
_HOURS = re.compile(r"^\s*(\d{1,6})\s*h?\s*$")


@dataclass(frozen=True)
class KeyPolicy:
    read: bool = True
    key_creation_disabled: bool | None = None
    key_expiry_hours: int | None = None


def enforced(data: Any) -> bool:
    spec = data.get("spec") if isinstance(data, Mapping) else None
    rules = spec.get("rules") if isinstance(spec, Mapping) else None
    return any(isinstance(r, Mapping) and r.get("enforce") is True and not r.get("condition")
               for r in rules or [])


def expiry_hours(data: Any) -> int | None:
    spec = data.get("spec") if isinstance(data, Mapping) else None
    rules = spec.get("rules") if isinstance(spec, Mapping) else None
    for r in rules or []:
        values = r.get("values") if isinstance(r, Mapping) else None
        allowed = values.get("allowedValues") if isinstance(values, Mapping) else None
        for v in allowed or []:
            m = _HOURS.match(str(v))
            if m:
                return int(m.group(1))
    return None


async def key_policy(api: Api, project: Project) -> KeyPolicy:
    out: dict[str, Any] = {}
    read = True
    for constraint in (*KEY_CREATION, KEY_EXPIRY):
        path = f"v2/projects/{quote(project.id, safe='')}/policies/{constraint}:getEffectivePolicy"
        try:
            reply = await api.call("GET", "orgpolicy", path)
        except (GaveUp, TooLarge) as exc:
            api.report.blind_spot(f"org policy of {project.id}", str(exc))
            read = False
            continue
        if not reply.ok:
            if reply.status in (400, 404):
                continue            # a constraint this organization does not know (e.g. managed ones)
            api.report.blind_spot(f"org policy of {project.id}", classify(
                reply, "grant roles/orgpolicy.policyViewer (orgpolicy.policy.get)").text)
            read = False
            break
        if constraint in KEY_CREATION:
            out["creation"] = out.get("creation", False) or enforced(reply.data)
        else:
            out["expiry"] = expiry_hours(reply.data)
    return KeyPolicy(read=read, key_creation_disabled=out.get("creation"), key_expiry_hours=out.get("expiry"))
