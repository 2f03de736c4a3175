"""Graph's "identity and access" throttling, as the fake enforces it (reference azure.md §8).

One token bucket of resource units (RU) per app and tenant: `budget` RU, refilled at `budget` per
`window` seconds (Graph: 3,500 / 5,000 / 8,000 RU per 10 s by tenant size). Each request costs what
Graph's table says: GET `applications`, `users`, `oauth2PermissionGrants`,
`servicePrincipals/{id}/appRoleAssignments` 2, `groups/{id}/members` 3, `transitiveMembers` 5, any
other GET 1, a write 1; `$select` -1, `$expand` +1, `$top` under 20 -1, at least 1. The answer
carries `x-ms-resource-unit`, and from 80 % of the bucket used `x-ms-throttle-limit-percentage`;
a request the bucket cannot pay is answered 429 with `Retry-After` (whole seconds),
`x-ms-throttle-scope` and `x-ms-throttle-information: ResourceUnitLimitExceeded`, and not charged.
The usage reports have their own limit: 5 requests per window.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field


def graph_cost(method: str, path: str, args: dict[str, str]) -> int:
    """Graph's documented RU cost of one request."""
    if method != "GET":
        return 1
    parts = [p for p in path.split("/") if p][1:]          # the version dropped
    head = parts[0].split("(", 1)[0] if parts else ""
    tail = parts[-1] if parts else ""
    if tail == "transitiveMembers":
        units = 5
    elif head == "groups" and tail == "members":
        units = 3
    elif head in ("applications", "users", "oauth2PermissionGrants") or \
            (head == "servicePrincipals" and tail == "appRoleAssignments"):
        units = 2
    else:
        units = 1
    if args.get("$select"):
        units -= 1
    if args.get("$expand"):
        units += 1
    top = args.get("$top", "")
    if top.isdigit() and int(top) < 20:
        units -= 1
    return max(1, units)


@dataclass
class Bucket:
    """A token bucket of `budget` units refilled at `budget` per `window` seconds (thread-safe)."""

    budget: float
    window: float
    clock: Callable[[], float] = time.monotonic
    level: float = -1.0
    at: float = 0.0
    charged: list[tuple[float, float]] = field(default_factory=list)   # (when, units) of every paid request
    refused: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self.level = self.budget
        self.at = self.clock()

    def take(self, units: float) -> tuple[bool, float, float]:
        """(paid, share of the bucket used after it, seconds until it could be paid)."""
        with self._lock:
            now = self.clock()
            rate = self.budget / self.window
            self.level = min(self.budget, self.level + (now - self.at) * rate)
            self.at = now
            if self.level + 1e-9 >= units:
                self.level -= units
                self.charged.append((now, units))
                return True, (self.budget - self.level) / self.budget, 0.0
            self.refused += 1
            return False, 1.0, (units - self.level) / rate


def retry_after(seconds: float) -> str:
    """Whole seconds, as Graph sends them (at least 1)."""
    return str(max(1, math.ceil(seconds)))
