"""The pacer's decisions, on an explicit clock: every documented limit is kept before it is reached."""

from __future__ import annotations

import threading
import time

import pytest

from connectors.pacer import BudgetSpent, Limits, Pacer, github_endpoint


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def pacer(**kw) -> tuple[Pacer, Clock]:
    clock = Clock()
    return Pacer(Limits(**kw), clock=clock, wall=lambda: clock.t + 1_700_000_000), clock


def test_never_more_in_flight_than_the_concurrent_maximum():
    p, clock = pacer(concurrency=500, max_concurrent=100, server_seconds=None, endpoint_points=None)
    assert p.cap == 100
    for _ in range(100):
        assert p.delay("/x", 1, clock.t) == 0
        p.start("/x", 1, clock.t)
    assert p.delay("/x", 1, clock.t) > 0


def test_server_time_stays_under_90_seconds_per_minute():
    p, clock = pacer(concurrency=16, endpoint_points=None, safety=1.0)
    spent = 0.0
    running: list = []      # (ends at, ticket): 16 workers, 150 ms requests, 10 minutes of wall time
    while clock.t < 1600:
        while len(running) < 16 and p.delay("/x", 1, clock.t) == 0:
            running.append((clock.t + 0.15, p.start("/x", 1, clock.t)))
        assert p.server_time(clock.t) <= 90.0 + 1e-6
        running.sort(key=lambda r: r[0])
        nxt = running[0][0] if running else clock.t + max(p.delay("/x", 1, clock.t), 0.001)
        clock.t = max(clock.t, nxt) if running else nxt
        for end, ticket in [r for r in running if r[0] <= clock.t]:
            running.remove((end, ticket))
            p.finish(ticket, 0.15, clock.t)
            spent += 0.15
    assert p.peak > 1
    # and it used the budget: close to 90 s per 60 s over 10 minutes, never more
    assert 0.8 * 90 * 10 < spent <= 90 * 10 + 90


def test_points_per_endpoint_per_minute():
    p, clock = pacer(server_seconds=None, safety=1.0, endpoint_points=900)
    for _ in range(900):
        assert p.delay("/repos/{}/{}/keys", 1, clock.t) == 0
        p.finish(p.start("/repos/{}/{}/keys", 1, clock.t), 0.0, clock.t)
        clock.t += 0.01
    assert p.delay("/repos/{}/{}/keys", 1, clock.t) > 50     # the 901st waits for the window
    assert p.delay("/orgs/{}/hooks", 1, clock.t) == 0        # another endpoint does not
    assert p.delay("/repos/{}/{}/keys", 5, clock.t) > p.delay("/repos/{}/{}/keys", 1, clock.t) - 1e-9


def test_requests_per_minute_gitlab():
    p, clock = pacer(server_seconds=None, endpoint_points=None, requests_per_window=2000, safety=1.0)
    for _ in range(2000):
        assert p.delay("/x", 1, clock.t) == 0
        p.finish(p.start("/x", 1, clock.t), 0.0, clock.t)
    assert p.delay("/x", 1, clock.t) == pytest.approx(60.0)
    clock.t += 60.0
    assert p.delay("/x", 1, clock.t) == 0


def test_primary_budget_waits_a_short_reset_and_stops_for_a_long_one():
    p, clock = pacer(budget_wait=30)
    wall = clock.t + 1_700_000_000
    p.note_budget(2, wall + 10, wall)
    for _ in range(2):
        p.finish(p.start("/x", 1, clock.t), 0.01, clock.t)
    assert p.left == 0
    assert 10 <= p.delay("/x", 1, clock.t) <= 11
    p.note_budget(0, wall + 3600, wall)
    with pytest.raises(BudgetSpent) as err:
        p.delay("/x", 1, clock.t)
    assert err.value.reset == wall + 3600


def test_a_refunded_request_gives_the_budget_its_unit_back():
    """A 304 is not charged: with the estimate at 0 the next request would wait for the reset; the
    refund lets it go at once. Before any budget is known there is nothing to refund."""
    p, clock = pacer(budget_wait=30)
    p.refund()
    assert p.left is None
    wall = clock.t + 1_700_000_000
    p.note_budget(1, wall + 10, wall)
    p.finish(p.start("/x", 1, clock.t), 0.01, clock.t)
    assert p.left == 0 and p.delay("/x", 1, clock.t) >= 10
    p.refund()
    assert p.left == 1 and p.delay("/x", 1, clock.t) == 0


def test_aimd_halves_on_a_hit_and_grows_back():
    p, clock = pacer(concurrency=16)
    p.throttled()
    assert p.cwnd == 8 and p.hits == 1
    for _ in range(200):
        p.finish(p.start("/x", 1, clock.t), 0.01, clock.t)
        clock.t += 1
    assert p.cwnd == 16


def test_blocking_acquire_keeps_the_limit_across_threads():
    p = Pacer(Limits(concurrency=4, server_seconds=None, endpoint_points=None))
    seen = []
    lock = threading.Lock()

    def work():
        for _ in range(10):
            t = p.acquire("/x")
            with lock:
                seen.append(len(p.in_flight))
            time.sleep(0.001)
            p.release(t)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert max(seen) <= 4 and p.peak <= 4 and not p.in_flight


def test_endpoints_are_routes():
    assert github_endpoint("/repos/acme/api/keys") == github_endpoint("/repos/acme/web/keys") == "/repos/{}/{}/keys"
    assert github_endpoint("/orgs/acme/actions/secrets/X/repositories?page=2") == \
        "/orgs/{}/actions/secrets/{}/repositories"
    assert github_endpoint("/repos/a/b/environments/prod/secrets") == "/repos/{}/{}/environments/{}/secrets"
    assert github_endpoint("/orgs/acme/actions/runner-groups/7/runners") == "/orgs/{}/actions/runner-groups/{}/runners"


async def test_gitlab_is_paced_by_its_ratelimit_headers_and_never_answered_429():
    """GitLab's RateLimit-Remaining/-Reset (40 per 1 s window here): requests wait for the reset
    instead of being sent into a spent window, so no 429 is met and nothing is lost."""
    from connectors.gitlab import GitLabConnector
    from nhitui.sandbox.gitlab import ENV_TOKEN, GitLabFake
    from nhitui.sandbox.world import World

    world = World(projects=6)
    with GitLabFake(world, rate_limit=40, rate_window=1.0) as fake:
        conn = GitLabConnector(fake.source(), lambda ref: {ENV_TOKEN: fake.token}[ref.split(":", 1)[1]])
        rows = [i async for batch in conn.collect() for i in batch]
    assert conn.report.requests > 40                  # more than one window's worth: the limit did bind
    assert conn.report.retries == 0                   # and no 429 (nor anything else) was retried
    assert conn.report.blind_spots == []
    assert {(i.kind, i.native_id) for i in rows} == {(e.kind, e.native_id) for e in world.expected_for("gitlab")}
