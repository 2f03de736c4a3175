"""Benchmark: the GitHub connector on a 1,000-repository organisation at 50 ms per request.

The lower bound of any client that keeps `concurrency` requests in flight is
requests x latency / concurrency; the ratio says how close the connector gets (target <= 1.5).
The fake API runs in a child process, as a real server would run elsewhere: in-process it would
compete with the connector for the interpreter lock and the benchmark would measure the fake.

    python benchmarks/bench_github.py [--repos 1000] [--latency 0.05] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connectors.github import GitHubConnector  # noqa: E402
from nhitui.sandbox.github import GitHubFake  # noqa: E402
from nhitui.sandbox.server import Knobs  # noqa: E402
from nhitui.sandbox.world import World  # noqa: E402


def serve(repos: int, latency: float, conn: Any) -> None:
    """Child process: seed the world, serve the fake until told to stop, report what it saw."""
    from benchmarks import keepalive

    keepalive.install()     # connections kept alive, as GitHub does
    world = World(repos=repos)
    fake = GitHubFake(world, Knobs(latency=latency), rate_limit=1_000_000)
    with fake:
        conn.send((fake.source("bench"), fake.env, len(world.expected_for("github"))))
        conn.recv()
        conn.send(sum(fake.requests_log.values()))


async def run(repos: int, latency: float, concurrency: int) -> None:
    t0 = time.perf_counter()
    parent, child = multiprocessing.Pipe()
    server = multiprocessing.get_context("spawn").Process(target=serve, args=(repos, latency, child), daemon=True)
    server.start()
    source, env, expected = parent.recv()
    print(f"fake started in {time.perf_counter() - t0:.2f} s: {repos} repositories, {expected} identities")
    try:
        source["concurrency"] = concurrency
        connector = GitHubConnector(source, lambda ref: env[ref.split(":", 1)[1]])
        first = None
        count = 0
        t0 = time.perf_counter()
        async for batch in connector.collect():
            if first is None:
                first = time.perf_counter() - t0
            count += len(batch)
        wall = time.perf_counter() - t0
        parent.send("stop")
        seen = parent.recv()
    finally:
        server.join(timeout=10)
        if server.is_alive():
            server.terminate()
    report = connector.report
    bound = report.requests * latency / concurrency
    print(f"identities      {count} (expected {expected})")
    print(f"requests        {report.requests} ({report.retries} retries; the server saw {seen})")
    print(f"first batch     {first or 0:.2f} s")
    print(f"wall time       {wall:.2f} s")
    print(f"lower bound     {bound:.2f} s  (requests x {latency * 1000:.0f} ms / {concurrency})")
    print(f"ratio           {wall / bound:.2f}  (target <= 1.5)")
    print(f"blind spots     {len(report.blind_spots)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repos", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    asyncio.run(run(args.repos, args.latency, args.concurrency))


if __name__ == "__main__":
    main()
