"""Benchmark: an AWS scan against IAM throttled at 20 / 50 / 100 calls per second (the sandbox's
`rate_limit` knob: a token bucket; calls beyond it answer `Throttling: Rate exceeded`).

Prints, for the connector's own AIMD pacing (connectors/aws/pacing.py) and for botocore's adaptive
mode (`pacing = false`, what the connector did before): throttles (and their share of the IAM calls),
wall time, and the ratio of the wall time to what the limit allows, which is the larger of
(IAM calls - burst) / rate and the unthrottled scan's wall time. Also, to show that pacing costs
nothing when nothing throttles: the unthrottled wall time of both (runs interleaved, medians), the
time of one call after another on one client, and the unpaced limiter's own cost per call (the
sandbox shares two cores with other work, so whole scans vary by +-15 % from run to run).
Prints, never asserts.

    .venv/bin/python benchmarks/bench_aws_throttle.py [--users 60 --keys 120 --roles 40 --rates 20,50,100]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

import boto3

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connectors.aws import AwsConnector  # noqa: E402
from connectors.aws.pacing import AimdLimiter  # noqa: E402
from nhitui.sandbox.aws import AwsFake, ground_truth_diff  # noqa: E402
from nhitui.sandbox.world import World  # noqa: E402

SOURCE = "bench-aws"
BURST = 5.0


def scan(fake: AwsFake, pacing: bool) -> tuple[AwsConnector, list, float, int]:
    """(connector, identities, wall seconds, IAM calls) of one scan."""
    c = AwsConnector({**fake.source(SOURCE), "pacing": pacing}, lambda ref: "")
    before = sum(n for (svc, _a), n in fake.calls.items() if svc == "iam")

    async def rows() -> list:
        return [i for batch in [b async for b in c.collect()] for i in batch]

    t0 = time.perf_counter()
    out = asyncio.run(rows())
    wall = time.perf_counter() - t0
    return c, out, wall, sum(n for (svc, _a), n in fake.calls.items() if svc == "iam") - before


def per_call(fake: AwsFake, pacing: bool, calls: int = 150) -> float:
    """Seconds per call of one client making cheap IAM calls one after another (the hooks' cost)."""
    c = AwsConnector({**fake.source(SOURCE), "pacing": pacing}, lambda ref: "")
    iam = c._client(boto3.Session(), "iam")
    user = iam.list_users(MaxItems=1)["Users"][0]["UserName"]
    t0 = time.perf_counter()
    for _ in range(calls):
        iam.list_access_keys(UserName=user)
    took = (time.perf_counter() - t0) / calls
    c._close_clients("collect")
    return took


def limiter_cost(rounds: int = 100_000) -> float:
    """Seconds an unpaced limiter adds to one call (acquire + release, no other work)."""
    lim = AimdLimiter(concurrency=16)
    t0 = time.perf_counter()
    for _ in range(rounds):
        lim.release(lim.acquire())
    return (time.perf_counter() - t0) / rounds


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=60)
    ap.add_argument("--keys", type=int, default=120)
    ap.add_argument("--roles", type=int, default=40)
    ap.add_argument("--rates", default="20,50,100")
    ap.add_argument("--repeat", type=int, default=5, help="unthrottled scans per mode (median shown)")
    args = ap.parse_args()
    rates = [float(r) for r in args.rates.split(",") if r]

    fake = AwsFake(World(iam_users=args.users, access_keys=args.keys, roles=args.roles))
    fake.start()
    os.environ.update(fake.env)
    try:
        modes = {"aimd": True, "adaptive": False}
        walls: dict[str, list[float]] = {name: [] for name in modes}
        expected: set[str] = set()
        for _ in range(args.repeat):              # interleaved: the machine's load hits both alike
            for name, pacing in modes.items():
                c, rows, wall, iam_calls = scan(fake, pacing)
                walls[name].append(wall)
                expected = {i.uid for i in rows}
        free = {name: statistics.median(w) for name, w in walls.items()}
        for name in modes:
            print(f"unthrottled {name:8s}: {len(rows)} identities, {iam_calls} IAM calls, wall {free[name]:.2f} s "
                  f"(median of {args.repeat}: {', '.join(f'{w:.2f}' for w in walls[name])})")
        print(f"unthrottled wall aimd / adaptive: {free['aimd'] / free['adaptive']:.2f}")
        each: dict[str, list[float]] = {name: [] for name in modes}
        for _ in range(args.repeat):
            for name, pacing in modes.items():
                each[name].append(per_call(fake, pacing))
        one = {name: statistics.median(v) for name, v in each.items()}
        print(f"one call after another: aimd {one['aimd'] * 1e3:.2f} ms, adaptive {one['adaptive'] * 1e3:.2f} ms "
              f"a call (median of {args.repeat} x 150), ratio {one['aimd'] / one['adaptive']:.3f}")
        cost = limiter_cost()
        print(f"the unpaced limiter's own cost: {cost * 1e6:.1f} us a call, {cost / one['adaptive'] * 100:.3f} % of "
              "one call")
        for rate in rates:
            for name, pacing in modes.items():
                fake.rate_limit(rate, burst=BURST)
                try:
                    c, rows, wall, iam_calls = scan(fake, pacing)
                finally:
                    fake.rate_limit(None)
                hits = int(c.report.facts.get("throttled", 0))
                allowed = max((iam_calls - BURST) / rate, free[name])
                complete = {i.uid for i in rows} == expected and not ground_truth_diff(rows, fake.world, SOURCE)
                rates_seen = ", ".join(f"{lim.rate:.0f}" for lim in c.limiters if lim.rate) or "-"
                print(f"IAM {rate:5.0f}/s {name:8s}: throttles {hits:3d} ({100 * hits / max(1, iam_calls):.1f} % of "
                      f"{iam_calls} calls), wall {wall:6.2f} s, allowed {allowed:5.2f} s, ratio x{wall / allowed:.2f}, "
                      f"complete {complete}, final pace {rates_seen}")
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
