"""IAM throttling: the sandbox's front answers calls beyond a token bucket with IAM's own
`Throttling: Rate exceeded` (HTTP 400), and the connector's botocore adaptive mode still brings back
every identity, counting each throttle in the source's facts."""

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


def scan(fake: AwsFake) -> tuple[AwsConnector, list]:
    c = AwsConnector(fake.source(SOURCE), lambda ref: "")

    async def rows() -> list:
        return [i for batch in [b async for b in c.collect()] for i in batch]

    return c, asyncio.run(rows())


@pytest.fixture(scope="module")
def unlimited(fake: AwsFake) -> set[str]:
    fake.rate_limit(None)
    c, rows = scan(fake)
    assert c.report.facts["throttled"] == 0 and "rate_limit_hits" not in c.report.facts
    return {i.uid for i in rows}


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
    try:
        c, rows = scan(fake)
        bucket = fake.rate_bucket
        assert bucket is not None
    finally:
        fake.rate_limit(None)
    assert {i.uid for i in rows} == unlimited
    assert not ground_truth_diff(rows, fake.world, SOURCE) and not c.report.blind_spots
    # every throttle the front answered was seen, retried and counted
    assert bucket.refused > 0
    assert c.report.facts["throttled"] == bucket.refused == c.report.facts["rate_limit_hits"]
    assert c.report.retries >= bucket.refused
    # and shown: `nhitui scan` prints it under the source
    _print_statuses({SOURCE: c.report.status("ok", len(rows))})
    assert f"rate-limited {bucket.refused} time(s)" in capsys.readouterr().err
