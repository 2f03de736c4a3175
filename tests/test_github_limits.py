"""GitHub's documented limits against the fake that enforces them (issue 19).

The fake's secondary limits are GitHub's scaled from a 60 s window to 2 s (same ratios: 90 s of
response time per 60 s -> 3 s per 2 s; the per-endpoint points are lowered so a small world
meets them), with 50 ms of latency so response time matters. The connector is given the same
window; everything else is its ordinary behaviour.
"""

from __future__ import annotations

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
        connector = connector_for(fake, **SCALED)
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
