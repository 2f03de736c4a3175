"""Benchmark: the AWS connector against moto seeded with 500 users / 1,000 keys / 200 roles.

Prints the seeding time, the scan's wall time and request count, and their ratios to a lower bound:
- requests: the fewest calls that can list everything IAM offers here (bulk calls where IAM has them,
  one call per user for each per-user credential list, and per-key last use because moto's
  credential report is never fresh: its GeneratedTime is fixed in 2015);
- wall: that many calls at the latency of one cheap call measured here, one at a time (moto runs in
  this process, so the server shares the interpreter lock with the client: concurrency buys little).

    /work/venv/bin/python benchmarks/bench_aws.py [--users 500 --keys 1000 --roles 200 --concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connectors.aws import AwsConnector  # noqa: E402
from nhitui.sandbox.aws import AwsFake, ground_truth_diff, plan_secrets  # noqa: E402
from nhitui.sandbox.world import World  # noqa: E402

SOURCE = "bench-aws"


def lower_bound(users: int, keys: int, roles: int, groups: int, policies: int, providers: int, secrets: dict[str, int],
                fresh_report: bool) -> int:
    calls = 1                                              # sts:GetCallerIdentity
    calls += max(1, math.ceil((users + roles + groups + policies) / 1000))   # GetAccountAuthorizationDetails
    calls += max(1, math.ceil(users / 1000))               # ListUsers (password last use)
    calls += 3 * users                                     # ListAccessKeys, ListSSHPublicKeys, ListSigningCertificates
    calls += 1                                             # ListServiceSpecificCredentials(AllUsers)
    calls += 1 + providers                                 # ListOpenIDConnectProviders + Get each
    calls += sum(max(1, math.ceil(n / 100)) for n in secrets.values())   # ListSecrets per region
    calls += 2 if fresh_report else 2 + keys + users       # report; else GetAccessKeyLastUsed + GetLoginProfile
    return calls


async def scan(fake: AwsFake, concurrency: int) -> tuple[AwsConnector, list, float]:
    c = AwsConnector({**fake.source(SOURCE), "concurrency": concurrency}, lambda ref: "")
    t0 = time.perf_counter()
    rows = []
    async for batch in c.collect():
        rows.extend(batch)
    return c, rows, time.perf_counter() - t0


def single_call_latency(fake: AwsFake, user: str, samples: int = 40) -> float:
    iam = fake.client("iam")
    iam.list_access_keys(UserName=user)
    times = []
    for _ in range(samples):
        t0 = time.perf_counter()
        iam.list_access_keys(UserName=user)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=500)
    ap.add_argument("--keys", type=int, default=1000)
    ap.add_argument("--roles", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=16)
    args = ap.parse_args()

    world = World(iam_users=args.users, access_keys=args.keys, roles=args.roles)
    fake = AwsFake(world)
    t0 = time.perf_counter()
    fake.start()
    started = time.perf_counter() - t0
    os.environ.update(fake.env)
    for k in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        os.environ.pop(k, None)
    try:
        expected = world.expected_for("aws")
        print(f"world: {args.users} users, {args.keys} keys requested -> {sum(e.kind == 'access_key' for e in expected)}"
              f" (IAM allows 2 per user), {args.roles} roles, {len(expected)} identities")
        print(f"moto start {fake.start_seconds:.2f} s, seeding {fake.seed_seconds:.2f} s "
              f"({sum(fake.calls.values())} calls), total {started:.2f} s")
        before = Counter(fake.calls)
        c, rows, wall = asyncio.run(scan(fake, args.concurrency))
        n = len(rows)
        problems = ground_truth_diff(rows, world, SOURCE)
        served = sum((Counter(fake.calls) - before).values())
        latency = single_call_latency(fake, next(iter(fake.seeded["users"])))
        kinds = Counter(e.kind for e in expected)
        secrets = Counter(s.region for s in plan_secrets(world) if s.region in fake.regions)
        lb = lower_bound(kinds["iam_user"], kinds["access_key"], kinds["iam_role"], 1, 0, kinds["oidc_provider"],
                         dict(secrets), fresh_report=False)
        lb_fresh = lower_bound(kinds["iam_user"], kinds["access_key"], kinds["iam_role"], 1, 0,
                               kinds["oidc_provider"], dict(secrets), fresh_report=True)
        print(f"ground truth: {len(expected)} identities compared field by field, {len(problems)} differences"
              + (":\n  " + "\n  ".join(problems[:10]) if problems else ""))
        print(f"scan: {n} identities in {wall:.2f} s, {c.report.requests} requests counted "
              f"({served} served), {c.report.retries} retries, concurrency {args.concurrency}")
        print(f"requests / lower bound: {c.report.requests} / {lb} = {c.report.requests / lb:.2f} "
              f"(with a fresh credential report the bound would be {lb_fresh})")
        bound = lb * latency
        print(f"wall / lower bound: {wall:.2f} s / ({lb} x {latency * 1000:.1f} ms = {bound:.2f} s) = "
              f"{wall / bound:.2f}")
        print(f"identities per second: {n / wall:.0f}; blind spots: {len(c.report.blind_spots)}")
        top = (Counter(fake.calls) - before).most_common(8)
        print("calls by action: " + ", ".join(f"{a}={k}" for (_s, a), k in top))
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
