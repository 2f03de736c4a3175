"""Pacing for Microsoft Graph and ARM: stay inside the documented throttling instead of being throttled.

Graph's "identity and access" service (applications, servicePrincipals, oauth2PermissionGrants,
directoryObjects...) keeps one token bucket of resource units (RU) per app and tenant (reference
azure.md §8): 3,500 RU per 10 s for a tenant under 50 users (S), 5,000 (M, 50-500), 8,000 (L). A
request costs what `x-ms-resource-unit` says; before the answer we estimate it from the documented
table (`cost`). The usage reports allow 5 requests per 10 s per app and tenant. ARM keeps a bucket
of 250 reads refilled at 25/s per principal (250 per 10 s).

The pacer keeps its own token bucket of `safety` x the budget (0.75), refilled in the same window.
Whatever it lets through, Graph's bucket (started full, refilled faster) holds at least a quarter of
its budget more than ours: it never refuses, and never reaches the 80 % where it starts sending
`x-ms-throttle-limit-percentage`. Unlike a fixed window, a bucket lets requests through at a steady
rate, so chains of pages keep moving instead of stalling until the next window. The header is then a signal that
someone else shares our bucket (another tool with the same app): the pacer halves its window (the
requests in flight, `cwnd`) and its share of the budget, at most once per round trip, and grows
them back additively while the server stays quiet. A 429 still waits `Retry-After` (the session
retries it); until then no request of the same family (RU-charged or reports) starts, and the hit
is counted.

The decisions (`delay`, `start`, `finish`, `signal`) are pure functions of the state and an
explicit `now`, unit-tested without a loop; `acquire`/`release` wrap them for asyncio tasks.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, urlsplit

from connectors._http import parse_wait

TENANT_BUDGET = {"S": 3500.0, "M": 5000.0, "L": 8000.0}   # RU per 10 s per app+tenant, by tenant size
WINDOW = 10.0
REPORTS_PER_WINDOW = 5.0
ARM_READS = 250.0                                          # bucket 250, refilled 25/s: 250 per 10 s
WARN_AT = 0.8                                              # Graph sends the percentage from 0.8 upwards
MICROSOFT_HOSTS = ("graph.microsoft.com", "graph.microsoft.us", "dod-graph.microsoft.us",
                   "microsoftgraph.chinacloudapi.cn", "management.azure.com", "management.usgovcloudapi.net",
                   "management.chinacloudapi.cn")


@dataclass
class Limits:
    """One API's documented budget per window (`reports` None: no reports limit applies)."""

    budget: float = TENANT_BUDGET["S"]     # RU (Graph) or reads (ARM) per window
    window: float = WINDOW
    reports: float | None = REPORTS_PER_WINDOW
    concurrency: int = 16                  # our own ceiling (the source's `concurrency`)
    safety: float = 0.75                   # our bucket's share of the budget (below Graph's 80 % warning)
    fixed_cost: float | None = None        # ARM: every request costs 1 (no RU table)
    min_share: float = 1 / 16              # the share never halves below this
    max_pause: float = 60.0                # a longer Retry-After is not waited for (the session gives up)


def graph_limits(size: str = "S", concurrency: int = 16, budget: float | None = None,
                 window: float = WINDOW) -> Limits:
    """Graph's app+tenant bucket for a tenant size (S, M, L); `budget`/`window` scale it (the sandbox)."""
    return Limits(budget=budget if budget is not None else TENANT_BUDGET[size.upper()], window=window,
                  reports=REPORTS_PER_WINDOW, concurrency=concurrency)


def arm_limits(concurrency: int = 16) -> Limits:
    # ARM sends no early warning to stay below: 90 % leaves room for other tools as the same principal.
    return Limits(budget=ARM_READS, window=WINDOW, reports=None, concurrency=concurrency, fixed_cost=1.0,
                  safety=0.9)


def is_report(path: str) -> bool:
    """The reports family (usage reports, audit logs): 5 requests per 10 s, outside the RU bucket."""
    parts = [p.lower() for p in path.split("/") if p]
    return len(parts) > 1 and parts[1] in ("reports", "auditlogs")


def route(path: str) -> str:
    """The shape of a Graph path, for learning costs: the version dropped, ids (every second
    segment, and a key in parentheses) replaced by `{}`."""
    parts = [unquote(p) for p in path.split("/") if p][1:]
    return "/" + "/".join("{}" if i % 2 else p.split("(", 1)[0] + ("({})" if "(" in p else "")
                          for i, p in enumerate(parts))


BASE_COST = {"applications": 2.0, "users": 2.0, "oauth2PermissionGrants": 2.0}


def cost(method: str, url: str) -> float:
    """The documented RU cost of one Graph request (azure.md §8), before its answer says.

    GET `applications`, `users`, `oauth2PermissionGrants`, `servicePrincipals/{id}/appRoleAssignments`
    2; `groups/{id}/members` 3; `transitiveMembers` 5; any other GET 1; a write 1. `$select` -1,
    `$expand` +1, `$top` under 20 -1; never under 1.
    """
    if method.upper() != "GET":
        return 1.0
    split = urlsplit(url)
    parts = [unquote(p) for p in split.path.split("/") if p][1:]
    first = parts[0].split("(", 1)[0] if parts else ""
    last = parts[-1] if parts else ""
    if last == "transitiveMembers":
        base = 5.0
    elif first == "groups" and last == "members":
        base = 3.0
    elif first == "servicePrincipals" and last == "appRoleAssignments":
        base = 2.0
    else:
        base = BASE_COST.get(first, 1.0)
    query = {k.lower(): v for k, v in parse_qsl(split.query, keep_blank_values=True)}
    if query.get("$select"):
        base -= 1
    if query.get("$expand"):
        base += 1
    top = query.get("$top", "")
    if top.isdigit() and int(top) < 20:
        base -= 1
    return max(1.0, base)


@dataclass
class Ticket:
    started: float
    units: float             # RU taken from the bucket (the estimate), corrected by the answer
    report: bool
    seq: int


@dataclass
class Pacer:
    """One API's requests against its budget (asyncio: one event loop, no lock needed)."""

    limits: Limits = field(default_factory=Limits)
    clock: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        self.cap = max(1, self.limits.concurrency)
        self.cwnd = float(self.cap)
        self.share = 1.0                       # of the budget x safety; halves on a signal
        self.in_flight = 0
        self.level = self.allowance()                 # RU in our bucket (negative: owed)
        self._at: float | None = None                 # its last refill
        self._reports: deque[float] = deque()         # starts of report requests in the window
        self._line: deque[object] = deque()           # RU requests waiting, in arrival order
        self._learned: dict[str, float] = {}          # route -> RU the server last charged
        self._seq = 0
        self._epoch = 0                        # a signal from a request started before this is stale
        self._calm_since: float | None = None  # last signal (or start): the share grows back after a window
        self._grow = 0
        self._mean = 0.05
        self.pause_until = [0.0, 0.0]          # a 429's Retry-After, [RU requests, reports]: none starts before
        self.hits = 0                          # 429s the server answered
        self.warnings = 0                      # answers with x-ms-throttle-limit-percentage >= 0.8
        self.backoffs = 0
        self.waits = 0                         # requests that waited for a limit
        self.peak = 0
        self.charged = 0.0                     # RU of every answer (as the server said when it did)
        self.max_percentage = 0.0

    # --- pure decisions ---------------------------------------------------------------------------

    def allowance(self) -> float:
        lim = self.limits
        return max(1.0, lim.budget * lim.safety * self.share)

    def reports_allowance(self) -> int:
        lim = self.limits
        return max(1, math.floor((lim.reports or 1) * min(1.0, lim.safety + 0.05) * max(self.share, 0.2)))

    def estimate(self, method: str, url: str) -> float:
        if self.limits.fixed_cost is not None:
            return self.limits.fixed_cost
        learned = self._learned.get(f"{method} {route(urlsplit(url).path)}?{_shape(url)}")
        return learned if learned is not None else cost(method, url)

    def _expire(self, now: float) -> None:
        cap = self.allowance()
        if self._at is not None and now > self._at:
            self.level = min(cap, self.level + (now - self._at) * cap / self.limits.window)
        self.level = min(cap, self.level)
        self._at = now if self._at is None else max(self._at, now)
        edge = now - self.limits.window
        while self._reports and self._reports[0] <= edge:
            self._reports.popleft()

    def used(self, now: float) -> float:
        """RU drawn from our bucket and not yet refilled (in-flight requests at their estimate)."""
        self._expire(now)
        return self.allowance() - self.level

    def delay(self, units: float, report: bool, now: float) -> float:
        """Seconds to wait before a request costing `units` may start (0: now)."""
        self._expire(now)
        waits = [0.0]
        if now < self.pause_until[report]:
            waits.append(self.pause_until[report] - now)
        if self.in_flight >= max(1, min(int(self.cwnd), self.cap)):
            waits.append(self._mean / 2)           # woken earlier by a finish
        if report and self.limits.reports is not None:
            if len(self._reports) + 1 > self.reports_allowance():
                waits.append(self._reports[0] + self.limits.window - now)
        elif not report:
            cap = self.allowance()
            need = min(units, cap)           # a request dearer than the whole bucket goes when it is full
            if self.level + 1e-9 < need:
                waits.append((need - self.level) * self.limits.window / cap)
        return max(0.0, max(waits))

    def start(self, units: float, report: bool, now: float) -> Ticket:
        self._seq += 1
        self._expire(now)
        if report:
            self._reports.append(now)
            units = 0.0
        else:
            self.level -= units
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        if self._calm_since is None:
            self._calm_since = now
        return Ticket(now, units, report, self._seq)

    def finish(self, ticket: Ticket, now: float, *, units: float | None = None, percentage: float | None = None,
               retry_after: float | None = None, throttled: bool = False, route_key: str = "") -> None:
        """A request ended. `units`: x-ms-resource-unit; `percentage`: x-ms-throttle-limit-percentage;
        `throttled`: a 429, with `retry_after` seconds asked."""
        self.in_flight = max(0, self.in_flight - 1)
        self._mean = 0.8 * self._mean + 0.2 * max(0.0, now - ticket.started)
        if units is not None and units >= 0 and not ticket.report:
            self.level -= units - ticket.units       # the answer says what it really cost
            ticket.units = units
            if route_key:
                self._learned[route_key] = max(1.0, units)
        if not throttled:
            self.charged += units if units is not None else ticket.units
        if percentage is not None:
            self.max_percentage = max(self.max_percentage, percentage)
        if throttled:
            self.hits += 1
            wait = retry_after if retry_after is not None and retry_after > 0 else 1.0
            if wait <= self.limits.max_pause:     # else the session gives up on it: nothing to wait for
                kind = int(ticket.report)
                self.pause_until[kind] = max(self.pause_until[kind], now + wait)
            self.signal(ticket, now)
        elif percentage is not None and percentage >= WARN_AT:
            self.warnings += 1
            self.signal(ticket, now)
        else:
            self._grow += 1
            if self._grow >= self.cwnd:
                self._grow = 0
                self.cwnd = min(float(self.cap), self.cwnd + 1)
            if self._calm_since is not None and now - self._calm_since >= self.limits.window and self.share < 1:
                self.share = min(1.0, self.share + 0.25)
                self._calm_since = now

    def signal(self, ticket: Ticket, now: float) -> None:
        """The server is near (or at) the limit: halve the window and the share, once per round trip
        (a signal from a request that started before the last backoff says nothing new)."""
        if ticket.seq <= self._epoch:
            return
        self._epoch = self._seq
        self.cwnd = max(1.0, self.cwnd / 2)
        self.share = max(self.limits.min_share, self.share / 2)
        self.level = min(self.level, self.allowance())
        self._grow = 0
        self._calm_since = now
        self.backoffs += 1

    # --- asyncio wrappers ---------------------------------------------------------------------------

    async def acquire(self, method: str, url: str) -> Ticket:
        """Wait until a request may start within every limit, then take its slot."""
        report = self.limits.reports is not None and is_report(urlsplit(url).path)
        units = self.estimate(method, url)
        waited = False
        place = object()          # RU requests go in arrival order: a dear one is not starved by cheap ones
        if not report:
            self._line.append(place)
        try:
            while True:
                now = self.clock()
                if report or self._line[0] is place:
                    wait = self.delay(units, report, now)
                else:
                    wait = max(0.005, self._mean / 2)
                if wait <= 0:
                    return self.start(units, report, now)
                if not waited:
                    waited = True
                    self.waits += 1
                await asyncio.sleep(min(wait, 1.0))
        finally:
            if not report:
                self._line.remove(place)

    def release(self, ticket: Ticket, method: str, url: str, status: int | None,
                headers: Mapping[str, str] | None) -> None:
        """What the answer said: its cost, how close the bucket is, a 429's wait."""
        units = percentage = retry_after = None
        if headers is not None:
            units = _number(headers.get("x-ms-resource-unit"))
            percentage = _number(headers.get("x-ms-throttle-limit-percentage"))
            if status == 429:
                retry_after = parse_wait(headers.get("retry-after"))
        key = f"{method} {route(urlsplit(url).path)}?{_shape(url)}" if self.limits.fixed_cost is None else ""
        self.finish(ticket, self.clock(), units=units, percentage=percentage, retry_after=retry_after,
                    throttled=status == 429, route_key=key)


def _shape(url: str) -> str:
    """The query options that change a request's cost ($select, $expand, a small $top)."""
    query = {k.lower(): v for k, v in parse_qsl(urlsplit(url).query, keep_blank_values=True)}
    top = query.get("$top", "")
    return ",".join(k for k in ("$select", "$expand") if query.get(k)) + \
        ("+small" if top.isdigit() and int(top) < 20 else "")


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(str(value).strip())
    except ValueError:
        return None
    return number if number == number and 0 <= number < 1e6 else None
