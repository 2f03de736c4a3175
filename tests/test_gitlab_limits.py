"""The GitLab connector inside GitLab's authenticated API limit (issue 19), against the fake GitLab
enforcing a small fixed window per token, over real HTTP.

GitLab sends `RateLimit-*` on an unthrottled answer only behind a feature flag, so these fakes send
them only with a 429: the connector has to keep the limit from its configuration (or, unconfigured,
from the first 429), not from headers. The "minute" is scaled to 1 s (`rate_window`), as the
benchmark scales it.
"""

from __future__ import annotations

import hashlib
import threading
import time
from typing import Any

import pytest

from connectors.base import ConnectorError
from connectors.gitlab import GitLabConnector
from nhitui.sandbox.gitlab import ENV_TOKEN, GitLabFake
from nhitui.sandbox.server import Knobs
from nhitui.sandbox.world import World

LIMIT = 40          # requests per 1 s window


def connector(fake: GitLabFake, **overrides: Any) -> GitLabConnector:
    return GitLabConnector(fake.source(**overrides), lambda ref: {ENV_TOKEN: fake.token}[ref.split(":", 1)[1]])


async def scan(fake: GitLabFake, **overrides: Any) -> tuple[GitLabConnector, set[tuple[str, str]]]:
    conn = connector(fake, **overrides)
    rows = {(i.kind, i.native_id) async for batch in conn.collect() for i in batch}
    return conn, rows


def expected(world: World) -> set[tuple[str, str]]:
    return {(e.kind, e.native_id) for e in world.expected_for("gitlab")}


def quiet_fake(world: World) -> GitLabFake:
    fake = GitLabFake(world, rate_limit=LIMIT, rate_window=1.0)
    fake.rate_headers_always = False        # RateLimit-* only with a 429, as GitLab without the flag
    return fake


async def test_a_configured_limit_is_kept_with_no_header_to_go_by() -> None:
    world = World(projects=8)
    with quiet_fake(world) as fake:
        conn, rows = await scan(fake, requests_per_minute=LIMIT, rate_window=1.0)
    assert conn.report.requests > 2 * LIMIT          # the limit bound for more than two windows
    assert fake.throttled == 0                       # the server never had to say no
    assert conn.report.retries == 0 and "rate_limit_hits" not in conn.report.facts
    assert conn.report.blind_spots == []
    assert rows == expected(world)


async def test_an_unannounced_limit_is_met_once_then_kept() -> None:
    """No rate configured and no header before the first 429: that 429's RateLimit-Limit becomes the
    rate, so only the requests already in flight then are refused, not a burst every window."""
    world = World(projects=8)
    with quiet_fake(world) as fake:
        conn, rows = await scan(fake, rate_window=1.0, concurrency=4)
    assert conn.report.requests > 3 * LIMIT
    assert 0 < fake.throttled <= 4                   # one wave, at most the 4 requests in flight
    assert conn.report.facts["rate_limit_hits"] == fake.throttled
    assert conn.report.retries == fake.throttled     # each refused request was retried once, after the reset
    assert conn.report.blind_spots == []
    assert rows == expected(world)


async def test_headers_on_every_answer_do_not_make_a_paced_scan_wait_for_resets() -> None:
    """With the rate known, RateLimit-Remaining on every answer only matters when the server says the
    window is nearly spent (someone else shares the limit): a scan inside its own pace is never held
    until RateLimit-Reset (an integer second, up to a second late) because of requests in flight."""
    world = World(projects=8)
    with GitLabFake(world, Knobs(latency=0.02), rate_limit=LIMIT, rate_window=1.0) as fake:
        conn, rows = await scan(fake, requests_per_minute=LIMIT, rate_window=1.0)   # headers on every answer
    assert conn.report.requests > 2 * LIMIT          # the pace bound
    assert conn.pacer.waits > 0                      # it did wait, for its own pace
    assert conn.pacer.budget_waits == 0              # never for a reset
    assert fake.throttled == 0 and conn.report.retries == 0
    assert rows == expected(world)


async def test_a_limit_shared_with_another_client_is_kept_by_the_headers() -> None:
    """Another client spends most of the same user's window: the connector's own pace would overrun
    it, and RateLimit-Remaining is what keeps the scan to what is left."""
    world = World(projects=8)
    with GitLabFake(world, rate_limit=100, rate_window=1.0) as fake:
        key = hashlib.sha256(fake.token.encode()).hexdigest()[:16]
        other = threading.Event()

        def neighbour() -> None:         # takes 60 of every window, as another script of the same user
            while not other.is_set():
                with fake.lock:
                    start, used = fake.windows.get(key, (time.time(), 0))
                    if time.time() - start >= fake.rate_window:
                        start, used = time.time(), 0
                    fake.windows[key] = (start, max(used, 60))
                other.wait(0.01)

        thread = threading.Thread(target=neighbour, daemon=True)
        thread.start()
        try:
            conn, rows = await scan(fake, requests_per_minute=100, rate_window=1.0)
        finally:
            other.set()
            thread.join()
    assert conn.report.requests > 2 * 40             # more than two windows of what the neighbour leaves
    assert fake.throttled <= 16                      # at most the requests in flight when it was told
    assert conn.report.blind_spots == []
    assert rows == expected(world)


def test_the_rate_setting() -> None:
    def per_minute(**settings: Any) -> float | None:
        return GitLabConnector({"name": "g", **settings}, str).per_minute

    assert per_minute() == 2000                                      # gitlab.com: its documented limit
    assert per_minute(url="https://gitlab.example.org") is None      # self-managed: off unless set
    assert per_minute(url="https://gitlab.example.org", requests_per_minute=600) == 600
    assert per_minute(requests_per_minute=0) is None                 # 0: no rate known
    for bad in ("fast", -5, float("nan")):
        with pytest.raises(ConnectorError, match="requests_per_minute"):
            per_minute(requests_per_minute=bad)
