"""IAM throttling: the sandbox's front answers calls beyond a token bucket with IAM's own
`Throttling: Rate exceeded` (HTTP 400), and the connector (its AIMD limiter, connectors/aws/pacing.py,
or botocore's adaptive mode with `pacing = false`) still brings back every identity, counting each
throttle in the source's facts; unthrottled, the limiter never holds a call back."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import boto3
import botocore.exceptions as bx
import pytest
from botocore.config import Config

from connectors.aws import AwsConnector
from nhitui.cli import _print_statuses
from nhitui.sandbox.aws import AwsFake, ground_truth_diff
from nhitui.sandbox.world import World
from tests.helpers import aws_running

SOURCE = "acme-aws"


@pytest.fixture(scope="module")
def fake() -> Iterator[AwsFake]:
    with aws_running(World(iam_users=12, access_keys=20, roles=13)) as f:
        yield f


def scan(fake: AwsFake, **settings: object) -> tuple[AwsConnector, list]:
    c = AwsConnector({**fake.source(SOURCE), **settings}, lambda ref: "")

    async def rows() -> list:
        return [i for batch in [b async for b in c.collect()] for i in batch]

    return c, asyncio.run(rows())


def front_calls(fake: AwsFake, service: str | None = None) -> int:
    return sum(n for (svc, _action), n in fake.calls.items() if service in (None, svc))


@pytest.fixture(scope="module")
def unlimited_scan(fake: AwsFake) -> tuple[AwsConnector, list, int]:
    fake.rate_limit(None)
    before = front_calls(fake)
    c, rows = scan(fake)
    return c, rows, front_calls(fake) - before


@pytest.fixture(scope="module")
def unlimited(unlimited_scan: tuple[AwsConnector, list, int]) -> set[str]:
    c, rows, _calls = unlimited_scan
    assert c.report.facts["throttled"] == 0 and "rate_limit_hits" not in c.report.facts
    return {i.uid for i in rows}


def test_unthrottled_the_limiter_never_holds_a_call_back(unlimited_scan: tuple[AwsConnector, list, int]) -> None:
    c, rows, calls = unlimited_scan
    assert rows and c.limiters                                  # every client has one
    assert all(lim.rate is None and lim.waits == 0 and lim.decreases == 0 for lim in c.limiters)
    assert all(lim.in_flight == 0 for lim in c.limiters)         # every attempt gave its place back
    assert c.report.requests == calls and c.report.retries == 0  # each attempt counted once


def test_a_throttle_is_iams_own_error(fake: AwsFake) -> None:
    """What botocore parses from the front's answer: HTTP 400, code Throttling, "Rate exceeded"."""
    iam = boto3.client("iam", region_name="us-east-1", endpoint_url=fake.url,
                       config=Config(retries={"mode": "standard", "max_attempts": 1}))
    fake.rate_limit(0.001, burst=1)
    try:
        iam.list_users(MaxItems=1)                     # the one call the bucket holds
        with pytest.raises(bx.ClientError) as info:
            iam.list_users(MaxItems=1)
    finally:
        fake.rate_limit(None)
    err = info.value.response
    assert err["Error"]["Code"] == "Throttling" and err["Error"]["Message"] == "Rate exceeded"
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_throttled_iam_still_gives_the_whole_inventory(fake: AwsFake, unlimited: set[str],
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    fake.rate_limit(20, burst=2)          # ~77 IAM calls a scan, which unthrottled runs at ~50/s here
    before = front_calls(fake)
    try:
        c, rows = scan(fake)
        bucket = fake.rate_bucket
        assert bucket is not None
    finally:
        fake.rate_limit(None)
    calls = front_calls(fake) - before
    assert {i.uid for i in rows} == unlimited
    assert not ground_truth_diff(rows, fake.world, SOURCE) and not c.report.blind_spots
    # every throttle the front answered was seen, retried and counted
    assert bucket.refused > 0
    assert c.report.facts["throttled"] == bucket.refused == c.report.facts["rate_limit_hits"]
    assert c.report.retries >= bucket.refused
    # every attempt counted once, a retry as an attempt beyond a call's first
    assert c.report.requests == calls
    # the IAM client's limiter took the throttles as its signal: it paces, and gave every place back
    iam = [lim for lim in c.limiters if lim.throttles]
    assert len(iam) == 1 and iam[0].throttles == bucket.refused and iam[0].rate is not None
    assert all(lim.in_flight == 0 for lim in c.limiters)
    # and shown: `nhitui scan` prints it under the source
    _print_statuses({SOURCE: c.report.status("ok", len(rows))})
    assert f"rate-limited {bucket.refused} time(s)" in capsys.readouterr().err


def test_paced_throttles_are_few_beyond_the_first_unpaced_round(fake: AwsFake, unlimited: set[str]) -> None:
    """At most the calls in flight when the first throttle came (unpaced: `concurrency`), then few."""
    fake.rate_limit(20, burst=2)
    before = front_calls(fake, "iam")
    try:
        c, rows = scan(fake, concurrency=4)
        bucket = fake.rate_bucket
        assert bucket is not None
    finally:
        fake.rate_limit(None)
    iam_calls = front_calls(fake, "iam") - before
    assert {i.uid for i in rows} == unlimited and not c.report.blind_spots
    assert 0 < c.report.facts["throttled"] == bucket.refused <= 4 + 0.05 * iam_calls
    assert c.report.facts["rate_limit_hits"] == bucket.refused


def test_pacing_false_is_botocores_adaptive_mode(fake: AwsFake, unlimited: set[str]) -> None:
    fake.rate_limit(20, burst=2)
    try:
        c, rows = scan(fake, pacing=False)
        bucket = fake.rate_bucket
        assert bucket is not None
    finally:
        fake.rate_limit(None)
    assert c._config().retries["mode"] == "adaptive" and not c.limiters
    assert {i.uid for i in rows} == unlimited and not c.report.blind_spots
    assert c.report.facts["throttled"] == bucket.refused > 0


def test_every_attempt_gives_its_place_back_whatever_ends_it(fake: AwsFake, unlimited: set[str]) -> None:
    """Throttles, 5xx, dropped connections and empty bodies (the last raise before botocore's
    needs-retry: released by after-call-error): no limiter keeps a call in flight, none stalls."""
    fake.throttle_next(4, after=10)
    fake.knobs.error_rate, fake.knobs.reset_rate, fake.knobs.empty_rate = 0.05, 0.03, 0.03
    before = front_calls(fake)
    assert fake.front is not None
    faults = sum(fake.front.faults[k] for k in ("reset", "empty", "500", "503"))
    try:
        c, rows = scan(fake)
    finally:
        fake.knobs.error_rate = fake.knobs.reset_rate = fake.knobs.empty_rate = 0.0
        fake.throttle_next(0)
    assert sum(fake.front.faults[k] for k in ("reset", "empty", "500", "503")) > faults
    got = {i.uid for i in rows}
    assert got == unlimited or (got < unlimited and c.report.blind_spots)
    assert c.report.facts["throttled"] == 4 == sum(lim.throttles for lim in c.limiters)
    assert all(lim.in_flight == 0 for lim in c.limiters)
    assert c.report.requests == front_calls(fake) - before and c.report.retries > 4
