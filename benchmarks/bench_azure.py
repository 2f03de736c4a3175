"""Benchmark: the Azure / Entra connector against the fake Graph + ARM (2,000 apps x 2 secrets, 50 ms).

The fake runs in a child process, as Graph would be on another host. Prints rows, requests made
against the minimum the APIs allow for the same data (every list paged at Graph's caps: 100 per
page with `$expand`, 999 without; one request per fixed endpoint), wall time, and the lower bound
of the wall: the longest chain of pages that must be read one after the other (a page's
`@odata.nextLink` is only known once it arrives), times the latency.

    .venv/bin/python benchmarks/bench_azure.py [--apps 2000] [--latency 0.05] [--concurrency 16]
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

from connectors.azure import AzureConnector  # noqa: E402
from nhitui.sandbox.azure import AzureFake  # noqa: E402
from nhitui.sandbox.server import Knobs  # noqa: E402
from nhitui.sandbox.world import World  # noqa: E402

EXPAND_PAGE = 100
PAGE = 999


def _serve(apps: int, latency: float, conn: Any) -> None:
    from benchmarks import keepalive

    keepalive.install()
    fake = AzureFake(World(), Knobs(latency=latency), extra_apps=apps).start()
    st = fake.state
    shape = {"apps": len(st.apps), "sps": len(st.sps), "sp_rows": len(st.sp_activity),
             "cred_rows": len(st.cred_activity), "uamis": len(st.uamis), "arm_roles": len(st.arm_roles)}
    conn.send((fake.source("bench-entra", write=False), fake.env, len(fake.world.expected_for("azure")), shape))
    conn.recv()
    conn.send(time.process_time())
    fake.stop()


def minimum(shape: dict[str, int]) -> tuple[int, int]:
    """(fewest requests for the data, longest chain of sequential pages)."""
    apps = math.ceil(shape["apps"] / EXPAND_PAGE)            # owners expanded
    fics = math.ceil(shape["apps"] / EXPAND_PAGE)            # FICs expanded (beta)
    sps = math.ceil(shape["sps"] / EXPAND_PAGE)              # app-role assignments expanded
    reports = math.ceil(max(1, shape["sp_rows"]) / PAGE) + math.ceil(max(1, shape["cred_rows"]) / PAGE)
    fixed = 4                                                # Graph's app roles, grants, role assignments, definitions
    # subscriptions, role assignments (100 a page), custom roles, storage accounts, UAMIs, one FIC list per UAMI
    arm = 5 + math.ceil(max(1, shape["arm_roles"]) / 100) - 1 + shape["uamis"]
    return apps + fics + sps + reports + fixed + arm, max(apps, fics, sps) + 1


async def _collect(c: AzureConnector) -> int:
    n = 0
    async for batch in c.collect():
        n += len(batch)
    return n


def measure(apps: int, latency: float, concurrency: int) -> dict[str, Any]:
    parent, child = mp.Pipe()
    proc = mp.get_context("fork").Process(target=_serve, args=(apps, latency, child), daemon=True)
    proc.start()
    source, env, expected, shape = parent.recv()
    try:
        c = AzureConnector({**source, "concurrency": concurrency, "timeout": 30},
                           lambda ref: env[ref.removeprefix("env:")])
        t0, c0 = time.perf_counter(), time.process_time()
        rows = asyncio.run(_collect(c))
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    finally:
        parent.send("stop")
        server_cpu = parent.recv()
        proc.join(timeout=10)
    least, chain = minimum(shape)
    return {"apps": apps, "rows": rows, "expected": expected, "requests": c.report.requests,
            "retries": c.report.retries, "minimum": least, "blind_spots": len(c.report.blind_spots), "wall": wall,
            "cpu": cpu, "server_cpu": server_cpu, "bound": chain * latency, "chain": chain}


def run(quick: bool = False, latency: float = 0.05) -> list[tuple[str, float, float, str]]:
    apps = 300 if quick else 2000
    r = measure(apps, latency, 16)
    label = f"azure {apps} apps x 2 secrets, {latency * 1000:.0f} ms"
    return [
        (f"{label}: requests vs minimum", r["requests"], r["minimum"], ""),
        (f"{label}: wall vs 3x page-chain bound", r["wall"], 3 * r["bound"], "s"),
        (f"{label}: connector cpu per 1,000 rows", r["cpu"] * 1000 / max(1, r["rows"]), 1.0, "s"),
    ]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--apps", type=int, default=2000)
    ap.add_argument("--latency", type=float, default=0.05)
    ap.add_argument("--concurrency", type=int, default=16)
    args = ap.parse_args()
    r = measure(args.apps, args.latency, args.concurrency)
    print(f"apps              {r['apps']} (+ the planted demo tenant)")
    print(f"identities        {r['rows']} (seeded {r['expected']})")
    print(f"requests          {r['requests']} (retries {r['retries']}), minimum {r['minimum']}, "
          f"ratio {r['requests'] / r['minimum']:.2f}")
    print(f"blind spots       {r['blind_spots']}")
    print(f"wall time         {r['wall']:.2f} s")
    print(f"cpu               connector {r['cpu']:.2f} s, fake server {r['server_cpu']:.2f} s")
    print(f"lower bound       {r['bound']:.2f} s  ({r['chain']} sequential pages x {args.latency * 1000:.0f} ms)")
    print(f"ratio             {r['wall'] / r['bound']:.2f}" if r["bound"] else "ratio             n/a")
    return 0 if r["rows"] == r["expected"] and not r["blind_spots"] else 1


if __name__ == "__main__":
    sys.exit(main())
