"""GitHub's documented limits against the fake that enforces them (issue 19).

The fake's secondary limits are GitHub's scaled from a 60 s window to 2 s (same ratios: 90 s of
response time per 60 s -> 3 s per 2 s; the per-endpoint points are lowered so a small world
meets them), with 50 ms of latency so response time matters. The connector is given the same
window and `pacing = true` (the default only on GitHub's cloud hosts, which the fake's 127.0.0.1
is not); everything else is its ordinary behaviour.
"""

from __future__ import annotations

import re
import time
from typing import Any

from connectors.github import GitHubConnector
from nhitui.model import Identity, make_uid
from nhitui.sandbox.github import GitHubFake
from nhitui.sandbox.github.serving import SecondaryLimits
from nhitui.sandbox.server import Knobs
from nhitui.sandbox.world import World

SCALED = {"secondary_window": 2.0, "server_seconds": 3.0, "endpoint_points": 6}


def limited_fake(world: World) -> GitHubFake:
    fake = GitHubFake(world, Knobs(latency=0.05))
    fake.secondary = SecondaryLimits(window=2.0, server_seconds=3.0, points=6, retry_after=1)
    return fake


def connector_for(fake: GitHubFake, **overrides: Any) -> GitHubConnector:
    return GitHubConnector(fake.source("gh", **overrides), lambda ref: fake.env[ref.split(":", 1)[1]])


async def scan(connector: GitHubConnector) -> list[Identity]:
    rows: list[Identity] = []
    async for batch in connector.collect():
        rows.extend(batch)
    return rows


def truth(world: World) -> set[str]:
    return {make_uid("gh", e.kind, e.native_id) for e in world.expected_for("github")}


async def test_a_paced_scan_stays_inside_the_secondary_limits_and_is_complete():
    world = World(repos=8)
    with limited_fake(world) as fake:
        connector = connector_for(fake, pacing=True, **SCALED)
        rows = await scan(connector)
        hits = dict(fake.secondary.hits)
    assert hits == {}
    assert connector.report.facts["secondary_limit_hits"] == 0
    assert [r.uid for r in rows] and sorted(r.uid for r in rows) == sorted(truth(world))
    assert connector.report.blind_spots == []
    assert connector.report.facts["pacer_waits"] > 0          # the limits did bind: it waited, not hit


async def test_without_pacing_the_fake_throttles_and_the_hits_are_counted():
    """The same scan with pacing off crosses the limits: proof the fake enforces them and the
    connector still waits as GitHub asks (retry-after) and counts every hit."""
    world = World(repos=8)
    with limited_fake(world) as fake:
        connector = connector_for(fake, pacing=False)
        rows = await scan(connector)
        hits = sum(fake.secondary.hits.values())
    assert hits > 0 and connector.report.facts["secondary_limit_hits"] == hits
    assert {r.uid for r in rows} == truth(world)


def charged(fake: GitHubFake) -> int:
    """GETs the fake answered, less the free /rate_limit."""
    return sum(n for (m, p), n in fake.requests_log.items() if m == "GET" and not p.startswith("/rate_limit"))


def test_a_spent_budget_stops_at_a_checkpoint_and_resume_completes_it(tmp_path, monkeypatch):
    """A budget of 60 on a world needing ~100 GETs (a 5,000/h budget on a 20,000-request org, scaled):
    the scan says so up front, stops `partial` at a checkpoint, and `--resume` after the reset
    completes it with every identity once and at most 5 % more requests than one uninterrupted scan."""
    from nhitui.collect import scan as collect

    world = World(repos=8)
    fake = GitHubFake(world, rate_limit=1_000_000, rate_window=3.0)
    with fake:
        for k, v in fake.env.items():
            monkeypatch.setenv(k, v)
        source = fake.source("gh", checkpoint_dir=str(tmp_path), budget_wait=0, pacing=True)
        whole = collect([dict(source)])                     # the last complete scan: its size is kept
        assert whole.statuses["gh"].state == "ok"
        single = charged(fake)
        assert {r.uid for r in whole.rows} == truth(world)

        fake.rate_limit = 60
        fake._window_reset = 0          # the next request opens a fresh window of 60
        fake.requests_log.clear()
        first = collect([dict(source)])
        status = first.statuses["gh"]
        assert status.state == "partial"
        assert re.fullmatch(r"rate-limit budget spent; resumes at \d\d:\d\d UTC \(nhitui scan --resume\)",
                            status.error), status.error
        assert "stops at a checkpoint" in status.facts["budget_forecast"]
        kept = {r.uid for r in first.rows}
        assert kept and kept < truth(world)
        assert charged(fake) <= 60
        assert list(tmp_path.glob("*.checkpoint.json"))

        time.sleep(max(0.0, fake._window_reset - time.time()) + 0.05)   # the (short) reset itself
        second = collect([dict(source, resume=True)])
        status = second.statuses["gh"]
        assert status.state == "ok", status.error
        rows = [r.uid for r in second.rows]
        assert len(rows) == len(set(rows)) and set(rows) == truth(world)
        assert kept <= set(rows)
        assert status.facts["resumed_from_checkpoint"] > 0
        assert charged(fake) <= 1.05 * single, (charged(fake), single)
        assert not list(tmp_path.glob("*.checkpoint.json"))
