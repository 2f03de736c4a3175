"""The AWS limiter's decisions (connectors/aws/pacing.py), with an explicit clock and no threads; and
the limiter against a simulated throttling server (a token bucket, like the sandbox's front)."""

from __future__ import annotations

import heapq
import math

import pytest

from connectors.aws.pacing import AimdLimiter, Ticket


def answers(lim: AimdLimiter, n: int, rate: float, t: float) -> float:
    """`n` calls sent and accepted `1 / rate` apart from `t`; returns the time after the last."""
    for _ in range(n):
        ticket = lim.start(t)
        lim.finish(ticket, t)
        t += 1.0 / rate
    return t


def test_unpaced_until_a_throttle_only_the_concurrency_applies() -> None:
    lim = AimdLimiter(concurrency=3)
    tickets = [lim.start(0.0) for _ in range(3)]
    assert lim.rate is None
    assert lim.delay(0.0) == math.inf                 # the window is full: wait for an end
    lim.finish(tickets[0], 0.01)
    assert lim.delay(0.01) == 0.0                     # no pace: at once
    answers(lim, 500, 1000.0, 0.02)
    assert lim.cwnd == 3 and lim.rate is None and lim.decreases == 0


def test_a_throttle_paces_at_beta_times_the_accepted_rate() -> None:
    lim = AimdLimiter(concurrency=16)
    t = answers(lim, 64, 100.0, 0.0)
    late = lim.start(t)
    lim.finish(late, t + 0.01, throttled=True)
    assert lim.throttles == 1 and lim.decreases == 1
    assert lim.rate == pytest.approx(0.8 * 100.0, rel=0.05)
    # calls are spaced 1 / rate apart from now on, never in a burst
    now = t + 0.01
    assert lim.delay(now) == pytest.approx(1.0 / lim.rate, rel=0.01)
    now += lim.delay(now)
    pace = lim.rate
    lim.start(now)
    assert lim.next_at - now == pytest.approx(1.0 / pace)


def test_one_cut_per_round_and_the_window_shrinks_to_what_was_in_flight() -> None:
    lim = AimdLimiter(concurrency=16)
    t = answers(lim, 64, 100.0, 0.0)
    burst = [lim.start(t) for _ in range(10)]          # ten in flight when the throttles come
    lim.finish(burst[0], t + 0.02, throttled=True)
    rate, cwnd = lim.rate, lim.cwnd
    assert cwnd == pytest.approx(10 * 0.8)
    for ticket in burst[1:]:                           # sent before the cut: nothing new
        lim.finish(ticket, t + 0.03, throttled=True)
    assert lim.throttles == 10 and lim.decreases == 1 and lim.rate == rate and lim.cwnd == cwnd
    after = lim.start(t + 0.5)                         # sent after the cut, throttled: a new round
    lim.finish(after, t + 0.52, throttled=True)
    assert lim.decreases == 2 and lim.rate is not None and rate is not None and lim.rate < rate


def test_a_cut_is_at_most_beta_squared_of_the_pace() -> None:
    """A stall (few answers lately) must not drop the pace to what was measured during it."""
    lim = AimdLimiter(rate=50.0)
    lim.ceiling = 50.0
    t = answers(lim, 4, 2.0, 0.0)                      # two answers a second, lately
    ticket = lim.start(t)
    lim.finish(ticket, t, throttled=True)
    assert lim.rate == pytest.approx(0.8 * 0.8 * 50.0)


def test_the_pace_grows_while_quiet_only_when_it_holds_calls_back() -> None:
    lim = AimdLimiter(rate=10.0)
    lim.ceiling = 10.0
    t = 0.0
    for _ in range(200):                               # demand far below the pace: it never waits
        ticket = lim.start(t)
        lim.finish(ticket, t + 0.01)
        t += 1.0
    assert lim.rate == 10.0
    grown = AimdLimiter(rate=10.0)
    grown.ceiling = 10.0
    t = 0.0
    for _ in range(200):                               # demand at the pace: every call waits for it
        t += grown.delay(t)
        ticket = grown.start(t)
        grown.finish(ticket, t + 0.01)
    assert grown.rate is not None and grown.rate > 10.0
    assert grown.paced_at > 0


def test_growth_is_slow_near_the_last_ceiling_and_quick_far_from_it() -> None:
    lim = AimdLimiter(rate=100.0)
    lim.ceiling = 100.0
    assert lim.growth(0.0) == pytest.approx(lim.probe)
    lim.rate = 100.0 * (1 - lim.spread)
    assert lim.growth(0.0) == pytest.approx(lim.quick)
    lim.rate = 100.0
    t = answers(lim, 2 * lim.hold, 100.0, 0.0)         # long after the cut (not paced: the rate stays)
    assert lim.rate == 100.0 and lim.growth(t) == pytest.approx(lim.quick)
    lim.finish(lim.start(t), t, throttled=True)
    assert lim.growth(t) < lim.quick                    # a cut: near the new ceiling again
    lim.ceiling, lim.rate = 50.0, 50.0
    lim.best, lim.best_at = 150.0, t                    # ... unless far below the best rate lately
    assert lim.growth(t) == pytest.approx(lim.quick)
    assert lim.growth(t + 3 * lim.memory) < lim.quick   # which is forgotten in time
    lim.ceiling = 0.0                                   # after the first cut, no ceiling yet
    assert lim.growth(t) == lim.rush


def test_a_transport_failure_is_no_signal() -> None:
    lim = AimdLimiter(rate=10.0, concurrency=2)
    ticket = lim.start(0.0)
    lim.finish(ticket, 0.1, answered=False)
    assert lim.in_flight == 0 and lim.rate == 10.0 and lim.decreases == 0 and not lim._accepted


def test_the_window_never_exceeds_the_configured_concurrency() -> None:
    lim = AimdLimiter(concurrency=4)
    t = answers(lim, 10, 100.0, 0.0)
    lim.finish(lim.start(t), t, throttled=True)
    answers(lim, 5000, 200.0, t + 1)
    assert lim.cwnd == 4


def simulate(limit: float, burst: float = 5.0, latency: float = 0.03, workers: int = 16,
             calls: int = 3000, dip: tuple[float, float, float] = (0.0, 0.0, 1.0),
             accepted: list[float] | None = None) -> tuple[float, int, int]:
    """`workers` threads making `calls` calls through one limiter to a server that accepts `limit`
    per second (a token bucket of `burst`; `dip`: from, until, share of the limit left meanwhile);
    a throttled call is retried after 0.5 s (botocore's mean first backoff). Returns (accepted calls
    per second, throttles, accepted calls); `accepted` gets the time of each accepted answer."""
    lim = AimdLimiter(concurrency=workers)
    level, filled = burst, 0.0
    events: list[tuple[float, int, str, Ticket | None]] = [(0.0, w, "ready", None) for w in range(workers)]
    heapq.heapify(events)
    done = throttles = 0
    waiting: list[int] = []
    end = 0.0
    while events and done < calls:
        now, worker, kind, ticket = heapq.heappop(events)
        if kind == "answer":
            assert ticket is not None
            share = dip[2] if dip[0] <= ticket.sent < dip[1] else 1.0
            level = min(burst, level + (ticket.sent - filled) * limit * share)   # the bucket, on arrival
            filled = ticket.sent
            throttled = level < 1.0
            if not throttled:
                level -= 1.0
            lim.finish(ticket, now, throttled=throttled)
            if throttled:
                throttles += 1
                heapq.heappush(events, (now + 0.5, worker, "ready", None))
            else:
                done += 1
                end = now
                if accepted is not None:
                    accepted.append(now)
                heapq.heappush(events, (now, worker, "ready", None))
            for w in waiting:                                             # a place in the window freed
                heapq.heappush(events, (now, w, "ready", None))
            waiting.clear()
            continue
        wait = lim.delay(now)
        if wait == math.inf:
            waiting.append(worker)
        elif wait > 0:
            heapq.heappush(events, (now + wait, worker, "ready", None))
        else:
            sent = lim.start(now)
            heapq.heappush(events, (now + latency, worker, "answer", sent))
    return done / end, throttles, done


@pytest.mark.parametrize(("limit", "latency"), [(5.0, 0.03), (20.0, 0.2), (50.0, 0.03), (100.0, 0.03),
                                                (100.0, 0.2), (400.0, 0.03)])
def test_against_a_token_bucket_it_runs_near_the_limit_with_few_throttles(limit: float, latency: float) -> None:
    """Throughput within 1.25x of what the limit (or 16 calls in flight) allows, throttles (the first,
    unpaced round included) at most 3 % of the calls, whatever the limit is."""
    workers = 16
    rate, throttles, done = simulate(limit, latency=latency, workers=workers)
    assert done == 3000
    assert rate >= 0.8 * min(limit, workers / latency)
    assert throttles <= 0.03 * done


def test_after_a_dip_in_what_the_server_allows_the_pace_comes_back_within_seconds() -> None:
    """Others use up the shared limit for 3 s (a tenth is left): cut after cut, then back near the
    limit within 10 s, not at the growth near a ceiling (0.1 % per answer)."""
    times: list[float] = []
    simulate(50.0, calls=2000, dip=(10.0, 13.0, 0.1), accepted=times)
    during = sum(1 for t in times if 10.5 <= t < 13.0) / 2.5
    after = sum(1 for t in times if 23.0 <= t < 28.0) / 5.0
    assert during < 0.3 * 50.0
    assert after >= 0.8 * 50.0
