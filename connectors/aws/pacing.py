"""Pace one AWS client's calls by what its throttles say: AWS publishes no rate for IAM.

IAM's limit is account-wide and shared with the console and every other tool (apis.md §9); the only
signal is a throttled answer (`Throttling: Rate exceeded`, HTTP 400). botocore's adaptive mode
reacts to it with a CUBIC token bucket that, after the first throttles, settles far below the rate
the account allows. This limiter does what a TCP sender does instead (AIMD):

- Until the first throttle nothing is paced: only the configured concurrency applies, so a scan
  that is never throttled runs as fast as without the limiter.
- A throttle sets the pace to `beta` times the rate at which the server accepted the last `sample`
  calls (while we exceed the limit, that is the limit, plus what is left of the server's burst
  allowance), but neither above the pace nor below `beta` times it (a stall also lowers what is
  measured), and shrinks the concurrency window to `beta` times what was in flight. One cut per
  round: a throttle of a call sent before the last cut says nothing new.
- While quiet, the pace grows by a share of itself per accepted answer: `probe` near the pace the
  last cut cut (the ceiling), `quick` far from it (well below: recovering; well above: the
  limit was higher, or others stopped using it), like TCP CUBIC's plateau around its last maximum;
  `quick` too once `hold` answers passed since the cut, or while the pace is below `deep` times the
  best rate a cut measured lately (cut after cut by noise or by others' calls: back within seconds).
  After the first cut (measured while the scan sped up) there is no ceiling yet: `rush`, quicker.
  It grows only while the pace holds calls back and is at most `slack` times the rate the server
  accepts. The concurrency window grows by one per window of answers, up to the configured
  concurrency.
- Calls are spaced evenly (`1 / rate` apart), never sent in bursts.

Growth per answer is a share of the rate, so throttles per call do not depend on what the limit is.
The decisions (`delay`, `start`, `finish`) are pure functions of the state and an explicit `now`;
`acquire` / `release` wrap them for worker threads.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Ticket:
    """One call on the wire: when it was sent."""

    sent: float


@dataclass
class AimdLimiter:
    """One AWS client's pace (calls per second; None: unpaced) and concurrency window."""

    concurrency: int = 16          # the source's `concurrency`: the window never exceeds it
    beta: float = 0.8              # multiplicative decrease
    rush: float = 0.05             # growth per accepted answer, as a share of the pace, after the first cut
    quick: float = 0.02            # ... far from the ceiling (the pace the last cut cut)
    probe: float = 0.001           # ... and near it
    spread: float = 0.4            # "far": this share of the ceiling away from it
    hold: int = 100                # ... or this many answers after the last cut (ramping up over as many again)
    deep: float = 0.5              # ... or below this share of the best accepted rate a cut measured lately
    memory: float = 30.0           # ... which halves every this many seconds
    sample: int = 32               # accepted answers a cut measures the accepted rate over ...
    window: float = 3.0            # ... within at most this many seconds
    min_rate: float = 0.5          # calls per second the pace never goes below
    slack: float = 1.5             # the pace grows only while at most this multiple of the accepted rate
    clock: Callable[[], float] = time.monotonic
    rate: float | None = None
    cwnd: float = field(init=False)
    in_flight: int = field(default=0, init=False)
    throttles: int = field(default=0, init=False)    # throttled answers seen
    decreases: int = field(default=0, init=False)    # times the pace was cut
    waits: int = field(default=0, init=False)        # calls that waited for the pace or the window

    def __post_init__(self) -> None:
        self.cap = max(1, int(self.concurrency))
        self.cwnd = float(self.cap)
        self.ceiling = 0.0                           # the pace the last cut cut (0: none yet)
        self.best, self.best_at = 0.0, 0.0           # the highest accepted rate a paced cut measured lately
                                                     # (it halves every `memory` s)
        self.next_at = -math.inf                     # earliest time the next call may be sent
        self.paced_at = -math.inf                    # last time the pace held a call back
        self.last_decrease = -math.inf
        self._accepted: deque[float] = deque()       # times of the last `sample` accepted answers
        self.first_answer = math.inf
        self._grow = 0
        self._since_cut = 0                          # accepted answers since the last cut
        self._cond = threading.Condition()

    # --- pure decisions ---------------------------------------------------------------------------

    def delay(self, now: float) -> float:
        """Seconds before a call may be sent (0: now; inf: once a call in flight ends).

        Notes when the pace, not the window, holds a call back: only then may the pace grow.
        """
        if self.in_flight >= max(1, min(int(self.cwnd), self.cap)):
            return math.inf
        if self.rate is None:
            return 0.0
        wait = self.next_at - now
        if wait > 0:
            self.paced_at = now
        return max(0.0, wait)

    def start(self, now: float) -> Ticket:
        self.in_flight += 1
        if self.rate is not None:
            self.next_at = max(self.next_at, now) + 1.0 / self.rate
        return Ticket(sent=now)

    def accepted_rate(self, now: float, last: int | None = None) -> float:
        """Calls per second the server accepted lately: the last `last` (default `sample`) answers, over
        the time since the first of them (since the first answer or `window` s ago when fewer came)."""
        edge = now - self.window
        answers = self._accepted
        while answers and answers[0] <= edge:
            answers.popleft()
        n = min(last or self.sample, self.sample)
        if not answers:
            return 0.0
        if len(answers) >= n:
            return n / max(now - answers[-n], 0.05)
        return len(answers) / max(now - max(edge, self.first_answer), 0.05)

    def finish(self, ticket: Ticket, now: float, throttled: bool = False, answered: bool = True) -> None:
        """A call ended: throttled, accepted (`answered`), or neither (a transport failure: no signal)."""
        self.in_flight = max(0, self.in_flight - 1)
        if throttled:
            self.throttles += 1
            if ticket.sent >= self.last_decrease:
                self._decrease(now)
            return
        if not answered:
            return
        self.first_answer = min(self.first_answer, now)
        self._accepted.append(now)
        if len(self._accepted) > self.sample:
            self._accepted.popleft()
        self._grow += 1
        self._since_cut += 1
        if self._grow >= self.cwnd:
            self._grow = 0
            self.cwnd = min(float(self.cap), self.cwnd + 1)
        if self.rate is not None and now - self.paced_at <= 1.0 and \
                self.rate <= self.slack * self.accepted_rate(now):
            self.rate += self.growth(now) * self.rate

    def growth(self, now: float) -> float:
        """Share of the pace it grows by per accepted answer: `probe` near the ceiling, `quick` far from
        it or long after the last cut (a low estimate must not keep the pace low for long)."""
        if self.rate is None or self.ceiling <= 0:
            return self.rush
        far = min(1.0, (abs(self.rate / self.ceiling - 1.0) / self.spread) ** 2)
        late = min(1.0, max(0.0, (self._since_cut - self.hold) / self.hold))
        if self.rate < self.deep * self.best * 0.5 ** ((now - self.best_at) / self.memory):
            late = 1.0      # cut after cut (noise, a burst of others' calls): back up quickly
        return self.probe + (self.quick - self.probe) * max(far, late)

    def _decrease(self, now: float) -> None:
        measured = self.accepted_rate(now)
        if self.rate is None:
            # unpaced: the scan may just have sped up, so the last few answers count too
            base = max(measured, self.accepted_rate(now, self.sample // 4))
        else:
            # a stall (the server's or ours) lowers what was measured: cut the pace by beta² at most
            base = min(self.rate, max(measured, self.beta * self.rate))
            if self._since_cut >= self.sample // 4 or self.ceiling > 0:   # not right after the first cut
                # the pace that was throttled is the plateau to come back to (CUBIC's last maximum)
                self.ceiling = self.rate
                if measured >= self.best * 0.5 ** ((now - self.best_at) / self.memory):
                    self.best, self.best_at = measured, now
        # The first cut (and one right after it) measured a scan speeding up: no ceiling yet, the pace
        # grows quickly until a cut of a settled pace sets one.
        if base <= 0:
            base = self.min_rate / self.beta
        self.rate = max(self.min_rate, self.beta * base)
        self.cwnd = max(1.0, min(self.cwnd, float(self.in_flight + 1)) * self.beta)
        self._grow = 0
        self._since_cut = 0
        self.decreases += 1
        self.last_decrease = now
        self.next_at = max(self.next_at, now + 1.0 / self.rate)

    # --- blocking wrappers for worker threads -----------------------------------------------------

    def acquire(self) -> Ticket:
        """Block until a call may be sent."""
        with self._cond:
            waited = False
            while True:
                now = self.clock()
                wait = self.delay(now)
                if wait <= 0:
                    return self.start(now)
                if not waited:
                    waited = True
                    self.waits += 1
                self._cond.wait(min(wait, 1.0))

    def release(self, ticket: Ticket, throttled: bool = False, answered: bool = True) -> None:
        with self._cond:
            self.finish(ticket, self.clock(), throttled, answered)
            self._cond.notify()
