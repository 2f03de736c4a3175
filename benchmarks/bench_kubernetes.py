"""Benchmark: the Kubernetes connector against the fake API server at 50 ms per request.

Cluster: 50 namespaces x 40 service accounts x 1 legacy token Secret each, 500 role bindings, pods for
a third of the service accounts. The fake runs in a child process (a real API server is another host;
sharing this interpreter's GIL would measure the fake). Prints requests, wall time, the critical-path
lower bound (the longest chain of sequential pages, plus /version, times the latency: the lists run
concurrently, the pages of one list cannot) and the ratio; also the CPU the connector spends, and
checks the scan against the ground truth.

    .venv/bin/python benchmarks/bench_kubernetes.py [--quick] [--latency 0.05]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

FULL = dict(namespaces=50, service_accounts=40, token_secrets=1, bindings=500)
QUICK = dict(namespaces=10, service_accounts=20, token_secrets=1, bindings=100)
PAGE = 500


def _serve(scale: dict[str, int], latency: float, conn: Any) -> None:
    from nhitui.model import make_uid
    from nhitui.sandbox.kubernetes import KubernetesFake
    from nhitui.sandbox.server import Knobs
    from nhitui.sandbox.world import World

    world = World(seed=11)
    fake = KubernetesFake(world, Knobs(latency=latency), **scale).start()
    expected = {make_uid("bench", e.kind, e.native_id) for e in world.expected_for("kubernetes")}
    sizes = {r: len(fake.store.list(g, r)) for g, r in (("", "serviceaccounts"), ("", "secrets"), ("", "pods"),
                                                         ("rbac.authorization.k8s.io", "rolebindings"))}
    cpu0 = time.process_time()
    conn.send((fake.source("bench", readonly=True), fake.env, expected, sizes))
    conn.recv()
    conn.send((sum(fake.server.calls.values()), time.process_time() - cpu0))
    fake.stop()


async def _collect(connector: Any) -> list[Any]:
    rows: list[Any] = []
    async for batch in connector.collect():
        rows.extend(batch)
    return rows


def run(quick: bool = False, latency: float = 0.05) -> list[tuple[str, float, float, str]]:
    import kubernetes_asyncio.client  # noqa: F401 - imported once per process, not per scan: not timed
    import kubernetes_asyncio.config  # noqa: F401

    from connectors.kubernetes import KubernetesConnector

    scale = QUICK if quick else FULL
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_serve, args=(scale, latency, child), daemon=True)
    proc.start()
    settings, env, expected, sizes = parent.recv()
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        connector = KubernetesConnector(settings)
        cpu0, t0 = time.process_time(), time.perf_counter()
        rows = asyncio.run(_collect(connector))
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    finally:
        parent.send("stop")
        served, server_cpu = parent.recv()
        proc.join(timeout=10)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    got = {i.uid for i in rows}
    if got != expected:
        raise SystemExit(f"ground truth mismatch: {len(got ^ expected)} uids differ")
    longest = max(math.ceil(n / PAGE) for n in sizes.values())
    bound = (longest + 2) * latency        # /version, then the longest list's pages, then connect's plugin
    label = "x".join(str(scale[k]) for k in ("namespaces", "service_accounts", "token_secrets"))
    print(f"\nkubernetes {label}, {scale['bindings']} bindings: {len(rows)} identities, {served} requests, "
          f"{wall:.2f} s wall, {cpu:.2f} s connector CPU, {server_cpu:.2f} s fake-server CPU, "
          f"lower bound {bound:.2f} s, load average {os.getloadavg()[0]:.1f}")
    return [
        (f"k8s scan {label} @{latency * 1000:.0f}ms: wall / lower bound", wall / bound, 4.0, "x"),
        ("k8s scan: connector CPU seconds", cpu, 3.0, "s"),
        ("k8s scan: requests / minimum", served / (sum(math.ceil(n / PAGE) for n in sizes.values()) + 11), 1.1,
         "x"),
    ]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--latency", type=float, default=0.05)
    args = ap.parse_args()
    from benchmarks.report import print_rows

    print_rows("bench_kubernetes", run(args.quick, args.latency))
    return 0


if __name__ == "__main__":
    sys.exit(main())
