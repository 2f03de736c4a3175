"""Graph and ARM pacing: the decisions on an explicit clock, then scans against the fake Graph's
resource-unit bucket (Graph's throttling, scaled to 0.5 s windows so the tests stay quick)."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterator
from typing import Any

import pytest

from connectors.azure import AzureConnector
from connectors.azure.client import limits_for
from connectors.azure.pacing import Limits, Pacer, cost, graph_limits, is_report
from connectors.base import ConnectorError
from nhitui.config import ConfigError, parse
from nhitui.model import Identity
from nhitui.sandbox.azure import AzureFake
from nhitui.sandbox.azure.throttle import Bucket
from nhitui.sandbox.server import Knobs
from nhitui.sandbox.world import World

WINDOW = 0.5


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def pacer(**kw: Any) -> tuple[Pacer, Clock]:
    clock = Clock()
    return Pacer(Limits(**kw), clock=clock), clock


# --- the decisions ------------------------------------------------------------------------------


def test_documented_costs() -> None:
    g = "https://graph.microsoft.com/v1.0"
    assert cost("GET", f"{g}/applications") == 2
    assert cost("GET", f"{g}/applications?$select=id,appId") == 1
    assert cost("GET", f"{g}/applications?$select=id&$expand=owners") == 2
    assert cost("GET", f"{g}/users?$top=10") == 1
    assert cost("GET", f"{g}/oauth2PermissionGrants?$top=999") == 2
    assert cost("GET", f"{g}/servicePrincipals/abc/appRoleAssignments?$top=999") == 2
    assert cost("GET", f"{g}/servicePrincipals?$select=id&$expand=appRoleAssignments&$top=999") == 1
    assert cost("GET", f"{g}/groups/abc/members") == 3
    assert cost("GET", f"{g}/groups/abc/transitiveMembers?$expand=x") == 6
    assert cost("GET", f"{g}/servicePrincipals?$select=id&$top=5") == 1        # never under 1
    assert cost("PATCH", f"{g}/applications/abc") == 1
    assert is_report("/beta/reports/servicePrincipalSignInActivities") and not is_report("/v1.0/applications")


@pytest.mark.parametrize("off_by_one", [False, True])
def test_graphs_bucket_never_refuses_nor_warns_and_is_used(off_by_one: bool) -> None:
    """A simulated scan (8 in flight, 20 ms each, costs 1-3) against an independent token bucket.
    `off_by_one`: a third of the requests really cost one RU more than estimated (the answer says so
    only once they are done): the margin still keeps Graph's bucket from running dry."""
    p, clock = pacer(budget=100, window=10, concurrency=8)
    bucket = Bucket(100, 10, clock=clock)
    rng = random.Random(5)
    running: list[tuple[float, Any, float]] = []
    log: list[tuple[float, float]] = []
    total = 0.0
    while clock.t < 1000 + 120:
        units = float(rng.choice((1, 2, 2, 3)))
        while len(running) < 8 and p.delay(units, False, clock.t) == 0:
            ticket = p.start(units, False, clock.t)
            real = units + (rng.random() < 1 / 3 if off_by_one else 0)
            paid, used, _ = bucket.take(real)
            assert paid, f"refused at {clock.t - 1000:.2f} s"
            assert used < (0.9 if off_by_one else 0.8)         # exact estimates: Graph would not even warn
            log.append((clock.t, real))
            running.append((clock.t + 0.02, ticket, real))
            total += real
            units = float(rng.choice((1, 2, 2, 3)))
        assert p.used(clock.t) <= 75 + 4 + 8 * off_by_one    # our bucket: 0.75 x 100 (and what is in flight)
        running.sort(key=lambda r: r[0])
        clock.t = running[0][0] if running else clock.t + p.delay(units, False, clock.t)
        for r in [r for r in running if r[0] <= clock.t]:
            running.remove(r)
            p.finish(r[1], clock.t, units=r[2])
    assert bucket.refused == 0
    # and it used what it may: 75 RU at once, then 7.5 RU/s, over two minutes
    assert 0.95 * (75 + 7.5 * 120) <= total <= 75 + 7.5 * 120 + 4 + 8 * off_by_one
    # steadily: no second of the run without a request once the first 75 RU are spent
    assert {int(t - 1000) for t, _ in log} == set(range(120))


def test_the_answer_corrects_the_estimate_and_is_learned() -> None:
    p, clock = pacer(budget=100, window=10)
    url = "https://graph.microsoft.com/v1.0/servicePrincipals/x/appRoleAssignments?$top=999"
    assert p.estimate("GET", url) == 2
    t = p.start(2, False, clock.t)
    assert p.used(clock.t) == 2
    p.release(t, "GET", url, 200, {"x-ms-resource-unit": "5"})
    assert p.used(clock.t) == 5 and p.charged == 5
    other = "https://graph.microsoft.com/v1.0/servicePrincipals/y/appRoleAssignments?$top=999"
    assert p.estimate("GET", other) == 5                       # the same route costs what it cost
    clock.t += 10
    assert p.used(clock.t) == 0                                # out of the window


def test_a_charge_waits_until_the_bucket_refills_enough() -> None:
    p, clock = pacer(budget=10, window=10, safety=1.0)         # 10 RU, refilled at 1 RU/s
    for _ in range(5):
        assert p.delay(2, False, clock.t) == 0
        p.finish(p.start(2, False, clock.t), clock.t, units=2)
    assert p.delay(1, False, clock.t) == pytest.approx(1)
    assert p.delay(3, False, clock.t) == pytest.approx(3)
    assert p.delay(3, False, clock.t + 2) == pytest.approx(1)
    assert p.delay(50, False, clock.t + 9) == pytest.approx(1)  # dearer than the bucket: when it is full


def test_throttle_percentage_halves_the_window_once_per_round_trip() -> None:
    p, clock = pacer(budget=1000, concurrency=16)
    early = [p.start(1, False, clock.t) for _ in range(4)]
    p.finish(early[0], clock.t, units=1, percentage=0.85)
    assert p.cwnd == 8 and p.share == 0.5 and p.warnings == 1
    p.finish(early[1], clock.t, units=1, percentage=0.9)       # started before the backoff: stale
    assert p.cwnd == 8 and p.share == 0.5 and p.warnings == 2 and p.backoffs == 1
    later = p.start(1, False, clock.t)
    p.finish(later, clock.t, units=1, percentage=0.82)          # a fresh signal halves again
    assert p.cwnd == 4 and p.share == 0.25
    p.finish(early[2], clock.t, units=1, percentage=0.5)        # under 0.8: not a signal
    assert p.cwnd == 4 and p.allowance() == pytest.approx(1000 * 0.75 * 0.25)
    # a quiet window gives the share back, additively
    clock.t += 10
    p.finish(early[3], clock.t, units=1)
    assert p.share == 0.5


def test_a_429_holds_every_request_for_retry_after_and_is_counted() -> None:
    p, clock = pacer(budget=1000)
    t = p.start(1, False, clock.t)
    p.finish(t, clock.t, units=None, throttled=True, retry_after=7)
    assert p.hits == 1 and p.delay(1, False, clock.t) == pytest.approx(7)
    assert p.delay(1, True, clock.t + 3) == 0                  # the reports' limit is another bucket
    assert p.delay(1, False, clock.t + 7) == 0
    assert p.cwnd == 8 and p.share == 0.5
    long, c2 = pacer(budget=1000, max_pause=60)
    long.finish(long.start(1, False, c2.t), c2.t, throttled=True, retry_after=3600)
    assert long.hits == 1 and long.delay(1, False, c2.t) == 0  # the session gives up on that one: no wait


def test_reports_are_limited_to_four_of_five_per_window() -> None:
    p, clock = pacer(budget=1000, window=10)
    for i in range(4):
        assert p.delay(1, True, clock.t + i) == 0
        p.finish(p.start(1, True, clock.t + i), clock.t + i)
    assert p.delay(1, True, clock.t + 4) == pytest.approx(6)
    assert p.delay(1, False, clock.t + 4) == 0                 # the RU bucket is another limit
    assert p.used(clock.t + 4) == 0


def test_a_dear_request_is_not_starved_by_cheap_ones() -> None:
    """Requests take the bucket in arrival order: a 4 RU read waiting for a full bucket is not
    overtaken forever by 1 RU reads that each find just enough."""
    p = Pacer(Limits(budget=4, window=0.2, safety=1.0, concurrency=8))
    cheap = "https://graph.microsoft.com/v1.0/servicePrincipals?$top=999"
    dear = "https://graph.microsoft.com/v1.0/groups/g/transitiveMembers"

    async def hog(stop: asyncio.Event) -> None:
        while not stop.is_set():
            p.release(await p.acquire("GET", cheap), "GET", cheap, 200, {"x-ms-resource-unit": "1"})
            await asyncio.sleep(0)

    async def run() -> float:
        stop = asyncio.Event()
        hogs = [asyncio.ensure_future(hog(stop)) for _ in range(3)]
        await asyncio.sleep(0.05)
        t = time.monotonic()
        ticket = await asyncio.wait_for(p.acquire("GET", dear), 3.0)
        took = time.monotonic() - t
        stop.set()
        await asyncio.gather(*hogs)
        assert ticket.units == 5                   # more than the whole bucket: it went when it was full
        return took

    assert asyncio.run(run()) < 1.0


def test_limits_from_the_settings() -> None:
    assert limits_for("graph", {}, 16).budget == 3500               # graph.microsoft.com: paced, S
    assert limits_for("graph", {"graph_tenant_size": "l"}, 16).budget == 8000
    arm = limits_for("arm", {}, 16)
    assert arm is not None and arm.budget == 250
    arm_pacer = Pacer(arm)
    assert arm_pacer.allowance() == pytest.approx(225)
    assert arm_pacer.estimate("GET", "https://management.azure.com/subscriptions?api-version=2022-12-01") == 1
    assert limits_for("graph", {"graph_url": "http://127.0.0.1:1"}, 16) is None   # another host: opt in
    assert limits_for("graph", {"graph_url": "http://127.0.0.1:1", "pacing": True}, 16) is not None
    assert limits_for("graph", {"pacing": False}, 16) is None
    assert graph_limits("M").budget == 5000
    with pytest.raises(ConnectorError, match="graph_tenant_size"):
        limits_for("graph", {"graph_tenant_size": "XL"}, 16)
    base = '[[source]]\ntype = "azure"\nname = "e"\ntenant_id = "acme.onmicrosoft.com"\n'
    assert parse(base + 'graph_tenant_size = "M"\npacing = true\n').sources[0]["graph_tenant_size"] == "M"
    with pytest.raises(ConfigError, match=r"graph_tenant_size.*S \(under 50 users\)"):
        parse(base + 'graph_tenant_size = "huge"\n')


# --- scans against the fake's bucket -----------------------------------------------------------


@pytest.fixture(scope="module")
def fake() -> Iterator[AzureFake]:
    f = AzureFake(World(), Knobs(page_size=10), extra_apps=150).start()
    try:
        yield f
    finally:
        f.stop()


def connector(fake: AzureFake, **settings: Any) -> AzureConnector:
    env = fake.env
    return AzureConnector({**fake.source("acme-entra", write=False), "timeout": 5, **settings},
                          lambda ref: env[ref.removeprefix("env:")])


async def scan(c: AzureConnector) -> list[Identity]:
    return [i async for batch in c.collect() for i in batch]


@pytest.fixture(scope="module")
def unpaced(fake: AzureFake) -> tuple[set[str], float]:
    """The inventory with no limit anywhere, and the RU it costs (measured by a bucket too large to bite)."""
    fake.ru_limit(None)
    uids = {i.uid for i in asyncio.run(scan(connector(fake)))}
    fake.ru_limit(1_000_000, WINDOW)
    asyncio.run(scan(connector(fake)))
    assert fake.ru_bucket is not None
    total = sum(u for _, u in fake.ru_bucket.charged)
    fake.ru_limit(None)
    return uids, total


def test_paced_scan_stays_inside_a_small_bucket(fake: AzureFake, unpaced: tuple[set[str], float]) -> None:
    uids, total = unpaced
    budget = 24.0
    assert total > 2 * budget                                     # the scan needs several windows
    fake.ru_limit(budget, WINDOW)
    before = fake.throttled
    c = connector(fake, pacing=True, graph_ru_budget=budget, graph_ru_window=WINDOW)
    rows = asyncio.run(scan(c))
    bucket = fake.ru_bucket
    assert bucket is not None and fake.reports_bucket is not None
    assert {i.uid for i in rows} == uids and not c.report.blind_spots
    assert bucket.refused == 0 and fake.reports_bucket.refused == 0 and fake.throttled == before
    facts = c.report.facts
    assert facts["rate_limit_hits"] == 0 and facts["graph_throttled"] == 0
    assert facts["graph_resource_units"] == sum(u for _, u in bucket.charged) == total
    assert facts["graph_pacer_waits"] > 0
    # spread over the windows: no faster than 0.75 x budget per window allows
    times = [t for t, _ in bucket.charged]
    assert times[-1] - times[0] >= (total / (0.75 * budget) - 1.5) * WINDOW


def test_unpaced_the_same_bucket_throttles(fake: AzureFake, unpaced: tuple[set[str], float]) -> None:
    """The other side of the previous test: the bucket bites, and the session still waits it out."""
    uids, _ = unpaced
    fake.ru_limit(24.0, WINDOW)
    before = fake.throttled
    c = connector(fake)
    rows = asyncio.run(scan(c))
    assert fake.ru_bucket is not None and fake.ru_bucket.refused > 0
    assert fake.throttled - before == fake.ru_bucket.refused + (fake.reports_bucket.refused if fake.reports_bucket else 0)
    assert c.report.retries >= fake.ru_bucket.refused
    assert {i.uid for i in rows} == uids


def test_a_throttle_longer_than_the_retry_budget_is_a_blind_spot_not_a_stall(
        fake: AzureFake, unpaced: tuple[set[str], float]) -> None:
    uids, _ = unpaced
    fake.ru_limit(None)
    fake.throttle(1000, 3600, prefix="/beta/reports/")
    try:
        c = connector(fake, pacing=True)
        t = time.monotonic()
        rows = asyncio.run(scan(c))
        elapsed = time.monotonic() - t
    finally:
        fake.throttle(0)
    reason = {b.what: b.reason for b in c.report.blind_spots}["last use (sign-in activity reports)"]
    assert "rate limited" in reason and "3600" in reason
    assert {i.uid for i in rows} == uids and c.report.facts["rate_limit_hits"] >= 1
    assert elapsed < 30


def test_a_429_waits_retry_after_and_is_counted(fake: AzureFake, unpaced: tuple[set[str], float]) -> None:
    uids, _ = unpaced
    fake.ru_limit(None)
    before = fake.throttled
    fake.throttle(2, 1)
    c = connector(fake, pacing=True)
    t = time.monotonic()
    rows = asyncio.run(scan(c))
    assert time.monotonic() - t >= 1.0
    assert fake.throttled - before == 2
    assert c.report.facts["rate_limit_hits"] == 2 == c.report.facts["graph_throttled"]
    assert {i.uid for i in rows} == uids


def test_the_throttle_percentage_makes_the_pacer_back_off(fake: AzureFake, unpaced: tuple[set[str], float]) -> None:
    """The pacer believes in twice the real bucket (someone else shares it): Graph's 80 % header arrives
    and the pacer halves its share; every 429 that still comes is waited out and counted."""
    uids, _ = unpaced
    fake.ru_limit(24.0, WINDOW)
    before = fake.throttled
    c = connector(fake, pacing=True, graph_ru_budget=48.0, graph_ru_window=WINDOW)
    rows = asyncio.run(scan(c))
    facts = c.report.facts
    assert facts["graph_throttle_warnings"] > 0 and facts["graph_throttle_max_percentage"] >= 0.8
    assert facts["graph_throttled"] == fake.throttled - before
    assert {i.uid for i in rows} == uids and not c.report.blind_spots
