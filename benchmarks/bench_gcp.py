"""Benchmark: the GCP connector against the fake Google services (200 projects x 10 SAs x 3 keys, 50 ms).

The fake runs in a child process, as Google would be on another host (sharing one interpreter and
its GIL with the four servers would measure the fake's CPU as much as the connector's). Prints the
requests against the minimum a complete scan needs with these APIs, and the wall time against the
concurrency lower bound (requests x latency / concurrency).

The minimum, from the API shapes: per container (organization, folder) one projects.list and one
folders.list; the organization's IAM policy; per project the service-account list (pages of 100),
the project IAM policy, per account its keys (unpaged) and its IAM policy, the pool list, one
provider list per federation pool, one Activity Analyzer query per type (unfiltered, or batched by
ten for few names) and, where user-managed keys exist, the three key org-policy constraints.

    .venv/bin/python benchmarks/bench_gcp.py [--projects 200] [--sas 10] [--keys 3] [--latency 0.05]
        [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import multiprocessing as mp
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connectors.gcp import GcpConnector  # noqa: E402
from nhitui.sandbox.gcp import GcpFake  # noqa: E402
from nhitui.sandbox.server import Knobs  # noqa: E402
from nhitui.sandbox.world import World  # noqa: E402


def minimum_requests(fake: GcpFake) -> int:
    s = fake.state
    total = 2 * (1 + len(s.folders)) + 1 + len(s.folders)      # walk, organization and folder policies
    for pid, project in s.projects.items():
        if project["state"] != "ACTIVE":
            continue
        accounts = s.accounts.get(pid, [])
        total += max(1, math.ceil(len(accounts) / 100)) + 1 + 2 * len(accounts) + 1
        total += sum(1 for p in s.pools.get(pid, []) if p["mode"] == "FEDERATION_ONLY")
        user_keys = [k for a in accounts for k in s.keys.get(a["email"], []) if k["keyType"] == "USER_MANAGED"]
        total += (1 if accounts else 0) + (1 if any(not k.get("disabled") for k in user_keys) else 0)
        total += 3 if user_keys else 0
    return total


def _serve(projects: int, sas: int, keys: int, latency: float, conn: Any) -> None:
    fake = GcpFake(World(), Knobs(latency=latency), extra_projects=projects, sas_per_project=sas,
                   keys_per_sa=keys).start()
    conn.send((fake.source("bench-gcp"), fake.token, len(fake.world.expected_for("gcp")), minimum_requests(fake)))
    conn.recv()
    conn.send(time.process_time())
    fake.stop()


async def _collect(connector: GcpConnector) -> int:
    n = 0
    async for batch in connector.collect():
        n += len(batch)
    return n


def measure(projects: int, sas: int, keys: int, latency: float, concurrency: int) -> dict[str, Any]:
    parent, child = mp.Pipe()
    proc = mp.get_context("fork").Process(target=_serve, args=(projects, sas, keys, latency, child), daemon=True)
    proc.start()
    source, token, expected, minimum = parent.recv()
    try:
        connector = GcpConnector({**source, "concurrency": concurrency, "timeout": 30}, lambda _ref: token)
        t0, c0 = time.perf_counter(), time.process_time()
        rows = asyncio.run(_collect(connector))
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    finally:
        parent.send("stop")
        server_cpu = parent.recv()
        proc.join(timeout=10)
    report = connector.report
    return {"rows": rows, "expected": expected, "requests": report.requests, "retries": report.retries,
            "minimum": minimum, "wall": wall, "cpu": cpu, "server_cpu": server_cpu,
            "bound": report.requests * latency / concurrency, "blind_spots": len(report.blind_spots)}


def run(quick: bool = False) -> list[tuple[str, float, float, str]]:
    projects = 40 if quick else 200
    m = measure(projects, 10, 3, 0.05, 16)
    return [
        (f"gcp: {projects} projects x 10 SAs x 3 keys at 50 ms (s)", m["wall"], projects * 0.1, "s"),
        ("gcp: wall / lower bound (requests x 50 ms / 16)", m["wall"] / m["bound"], 1.5, "x"),
        (f"gcp: requests / minimum ({m['minimum']})", m["requests"] / m["minimum"], 1.01, "x"),
        ("gcp: identities found / seeded", m["rows"] / m["expected"], 1.0, "x"),
    ]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--projects", type=int, default=200)
    ap.add_argument("--sas", type=int, default=10)
    ap.add_argument("--keys", type=int, default=3)
    ap.add_argument("--latency", type=float, default=0.05)
    ap.add_argument("--concurrency", type=int, default=16)
    args = ap.parse_args()
    m = measure(args.projects, args.sas, args.keys, args.latency, args.concurrency)
    print(f"projects          {args.projects} (+3 planted) x {args.sas} SAs x {args.keys} keys")
    print(f"identities        {m['rows']} (seeded {m['expected']})")
    print(f"requests          {m['requests']} (retries {m['retries']}); minimum {m['minimum']}; "
          f"ratio {m['requests'] / m['minimum']:.2f}")
    print(f"blind spots       {m['blind_spots']}")
    print(f"wall time         {m['wall']:.2f} s")
    print(f"cpu               connector {m['cpu']:.2f} s, fake server {m['server_cpu']:.2f} s")
    print(f"lower bound       {m['bound']:.2f} s  (requests x {args.latency * 1000:.0f} ms / {args.concurrency})")
    print(f"ratio             {m['wall'] / m['bound']:.2f}" if m["bound"] else "ratio             n/a")
    return 0 if m["rows"] == m["expected"] and not m["blind_spots"] else 1


if __name__ == "__main__":
    sys.exit(main())
