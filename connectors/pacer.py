"""A per-source pacer: stay inside a provider's documented limits instead of discovering them by
being throttled.

GitHub documents (apis.md §9) secondary limits a client must not cross: at most 100 concurrent
requests; at most 900 points per minute per REST endpoint (GET = 1, write = 5); at most 90 s of
server time per 60 s of wall time, which GitHub says to estimate by the total response time of our
requests; and the primary budget of `x-ratelimit-remaining` until `x-ratelimit-reset`. GitLab sends
`RateLimit-Limit/-Remaining/-Reset` (a per-minute limit; 2,000 authenticated requests/min on
GitLab.com). A request may start only when every limit still has room (with a safety margin), so
the limit is never reached; `delay()` says how long to wait otherwise.

Concurrency adapts by AIMD: the window (`cwnd`) grows by one request per `cwnd` completions while
the response time of the trailing window stays under the server-time budget, and halves when a
request had to wait for that budget or the server reports a secondary-limit hit. It never exceeds
the configured concurrency nor the provider's concurrent maximum.

The decisions (`delay`, `start`, `finish`, `note_budget`) are pure functions of the state and an
explicit `now`, so they are unit-tested without threads; `acquire`/`release` wrap them for worker
threads.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field


class BudgetSpent(Exception):  # noqa: N818 - a condition, not a bug
    """The primary budget is spent and its reset is further away than the pacer may wait."""

    def __init__(self, reset: float) -> None:
        super().__init__(f"rate-limit budget spent until {reset:.0f}")
        self.reset = reset


@dataclass
class Limits:
    """One provider's documented limits (None: that limit does not apply)."""

    concurrency: int = 16                   # our own ceiling (the source's `concurrency`)
    max_concurrent: int = 100               # GitHub: 100 concurrent requests
    window: float = 60.0                    # seconds of every per-window limit below
    server_seconds: float | None = 90.0     # GitHub: response time per window
    endpoint_points: float | None = 900.0   # GitHub: points per endpoint per window (GET 1, write 5)
    requests_per_window: float | None = None  # GitLab.com: 2,000 requests per minute
    safety: float = 0.85                    # use at most this share of each limit
    budget_wait: float = 300.0              # wait for a primary reset at most this long, else BudgetSpent


@dataclass
class Ticket:
    endpoint: str
    points: float
    started: float


@dataclass
class Pacer:
    """The state of one source's requests against its limits (thread-safe through `acquire`/`release`)."""

    limits: Limits = field(default_factory=Limits)
    clock: Callable[[], float] = time.monotonic
    wall: Callable[[], float] = time.time

    def __post_init__(self) -> None:
        cap = max(1, min(self.limits.concurrency, self.limits.max_concurrent))
        self.cap = cap
        self.cwnd = float(cap)
        self.in_flight: list[Ticket] = []
        self._done: deque[tuple[float, float]] = deque()        # (finished at, response time)
        self._started: deque[float] = deque()                     # start times (requests per window)
        self._points: dict[str, deque[tuple[float, float]]] = {}  # endpoint -> (time, points)
        self._spent = 0.0                                         # response time in `_done`
        self._point_sum: dict[str, float] = {}                    # endpoint -> points in `_points`
        self._swept = float("-inf")
        self._mean = 0.1                                          # EWMA of response time
        self._grow = 0
        self.left: int | None = None          # primary budget left (our estimate)
        self.reset: float | None = None       # its reset (epoch seconds)
        self.hits = 0                         # secondary-limit hits the server reported
        self.waits = 0                        # times a request waited for a limit
        self.budget_waits = 0                 # of which for the primary budget's reset
        self.peak = 0                         # most requests in flight at once
        self.total_time = 0.0                 # response time of every finished request (for bounds)
        self.finished = 0
        self._cond = threading.Condition()

    # --- pure decisions ---------------------------------------------------------------------------

    def _expire(self, now: float) -> None:
        edge = now - self.limits.window
        while self._done and self._done[0][0] <= edge:
            self._spent -= self._done.popleft()[1]
        while self._started and self._started[0] <= edge:
            self._started.popleft()
        if self._points and now - self._swept >= 0.05:     # endpoints: at most every 50 ms
            self._swept = now
            for key, q in list(self._points.items()):
                while q and q[0][0] <= edge:
                    self._point_sum[key] -= q.popleft()[1]
                if not q:
                    del self._points[key], self._point_sum[key]

    def server_time(self, now: float) -> float:
        """Response time spent in the trailing window, counting what in-flight requests spent so far."""
        self._expire(now)
        return max(0.0, self._spent) + sum(now - t.started for t in self.in_flight)

    def delay(self, endpoint: str, points: float, now: float) -> float:
        """Seconds to wait before a request to `endpoint` may start (0: now). Raises BudgetSpent."""
        lim = self.limits
        self._expire(now)
        waits = [0.0]
        if len(self.in_flight) >= max(1, min(int(self.cwnd), self.cap)):
            waits.append(self._mean / 2)        # woken earlier by a finish
        if self.left is not None and self.left <= 0 and self.reset is not None:
            until = self.reset - self.wall()
            if until > 0:
                if until > lim.budget_wait:
                    raise BudgetSpent(self.reset)
                waits.append(until + 0.2)
        if lim.server_seconds is not None:
            budget = lim.server_seconds * lim.safety
            used = self.server_time(now) + len(self.in_flight) * self._mean + self._mean
            if used > budget:
                waits.append(self._until_freed(used - budget, now))
        if lim.endpoint_points is not None:
            q = self._points.get(endpoint)
            if q:
                edge = now - lim.window
                while q and q[0][0] <= edge:
                    self._point_sum[endpoint] -= q.popleft()[1]
                cap = lim.endpoint_points * lim.safety
                total = self._point_sum.get(endpoint, 0.0)
                if q and total + points > cap:
                    waits.append(self._until(q, total + points - cap, now))
        if lim.requests_per_window is not None:
            cap = max(1.0, lim.requests_per_window * lim.safety)
            if len(self._started) + 1 > cap:
                waits.append(self._started[0] + lim.window - now)
        return max(0.0, max(waits))

    def _until_freed(self, excess: float, now: float) -> float:
        """When enough response time leaves the window to free `excess` seconds of it."""
        freed = 0.0
        for at, spent in self._done:
            freed += spent
            if freed >= excess:
                return at + self.limits.window - now
        # only in-flight requests hold the budget: wait for one to finish
        return self._mean / 2

    def _until(self, q: deque[tuple[float, float]], excess: float, now: float) -> float:
        freed = 0.0
        for at, p in q:
            freed += p
            if freed >= excess:
                return at + self.limits.window - now
        return self.limits.window

    def start(self, endpoint: str, points: float, now: float) -> Ticket:
        ticket = Ticket(endpoint, points, now)
        self.in_flight.append(ticket)
        self.peak = max(self.peak, len(self.in_flight))
        self._started.append(now)
        if self.limits.endpoint_points is not None:
            self._points.setdefault(endpoint, deque()).append((now, points))
            self._point_sum[endpoint] = self._point_sum.get(endpoint, 0.0) + points
        if self.left is not None:
            self.left -= 1
        return ticket

    def finish(self, ticket: Ticket, response_time: float | None, now: float) -> None:
        """A request ended; `response_time` is what the server took (None: measure from its start)."""
        if ticket in self.in_flight:
            self.in_flight.remove(ticket)
        spent = max(0.0, now - ticket.started if response_time is None else response_time)
        self._done.append((now, spent))
        self._spent += spent
        self.total_time += spent
        self.finished += 1
        self._mean = 0.8 * self._mean + 0.2 * spent
        lim = self.limits
        if lim.server_seconds is None or self.server_time(now) < lim.server_seconds * lim.safety * 0.8:
            self._grow += 1
            if self._grow >= self.cwnd:
                self._grow = 0
                self.cwnd = min(float(self.cap), self.cwnd + 1)

    def backoff(self) -> None:
        """Multiplicative decrease: a request had to wait for the server-time budget, or was throttled."""
        self.cwnd = max(1.0, self.cwnd / 2)
        self._grow = 0

    def note_budget(self, remaining: int, reset: float | None, now_wall: float) -> None:
        """What a response said of the primary budget (remaining until `reset`, epoch seconds)."""
        others = max(0, len(self.in_flight) - 1)    # may be charged after this answer was counted
        estimate = remaining - others
        if reset is not None and (self.reset is None or reset > self.reset + 0.5 or self.reset <= now_wall):
            self.reset, self.left = reset, estimate
        elif self.left is None:
            self.left = estimate
        else:
            self.left = min(self.left, estimate)

    # --- blocking wrappers for worker threads -----------------------------------------------------

    def acquire(self, endpoint: str, points: float = 1.0, stop: threading.Event | None = None) -> Ticket:
        """Block until a request to `endpoint` may start; BudgetSpent when the budget is out for long."""
        waited = False
        with self._cond:
            while True:
                now = self.clock()
                if self.reset is not None and self.left is not None and self.left <= 0 and \
                        self.wall() >= self.reset:
                    self.left = None        # a new primary window: learn it from the next answer
                wait = self.delay(endpoint, points, now)
                if wait <= 0:
                    break
                if not waited:
                    waited = True
                    self.waits += 1
                    if self.left is not None and self.left <= 0:
                        self.budget_waits += 1
                    if self.limits.server_seconds is not None and \
                            self.server_time(now) + self._mean > self.limits.server_seconds * self.limits.safety:
                        self.backoff()
                if stop is not None and stop.is_set():
                    break
                self._cond.wait(min(wait, 1.0))
            return self.start(endpoint, points, now)

    def release(self, ticket: Ticket, response_time: float | None = None) -> None:
        with self._cond:
            self.finish(ticket, response_time, self.clock())
            self._cond.notify_all()

    def budget(self, remaining: int, reset: float | None) -> None:
        with self._cond:
            self.note_budget(remaining, reset, self.wall())

    def refund(self, units: int = 1) -> None:
        """Requests the budget did not charge after all (GitHub: a 304 answered from an ETag): the
        estimate gets them back, and a waiting request may go."""
        with self._cond:
            if self.left is not None:
                self.left += units
                self._cond.notify_all()

    def throttled(self) -> None:
        """The server answered a secondary limit: count it and halve the window."""
        with self._cond:
            self.hits += 1
            self.backoff()


def github_endpoint(path: str) -> str:
    """The REST endpoint (route) of a path, for the per-endpoint points limit: names become slots.

    `/repos/acme/api/keys` and `/repos/acme/web/keys` are one endpoint, `/repos/{o}/{r}/keys`.
    """
    parts = [p for p in path.split("?", 1)[0].split("/") if p]
    out: list[str] = []
    skip = 0
    for i, p in enumerate(parts):
        if skip:
            skip -= 1
            out.append("{}")
            continue
        if p.isdigit():
            out.append("{}")
            continue
        out.append(p)
        if p == "repos" and i == 0:
            skip = 2
        elif p in ("orgs", "users", "environments", "secrets", "variables"):
            skip = 1
    return "/" + "/".join(out)
