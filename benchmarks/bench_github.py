"""Benchmark: the GitHub connector on a 1,000-repository organisation at 50 ms per request.

The lower bound of any client that keeps `concurrency` requests in flight is
requests x latency / concurrency; the ratio says how close the connector gets (target <= 1.5).
The fake API runs in a child process, as a real server would run elsewhere: in-process it would
compete with the connector for the interpreter lock and the benchmark would measure the fake.

    python benchmarks/bench_github.py [--repos 1000] [--latency 0.05] [--concurrency 16]
    python benchmarks/bench_github.py --limits --window 6 [--repos 100]

With `--limits` the fake enforces GitHub's documented secondary limits (issue 19), scaled from a
60 s window to `--window` seconds with the same rates (90 s of response time per 60 s, 900 points
per endpoint per 60 s): the target is zero secondary-limit hits, and the bound is what those limits
allow, max(total response time / (90/60), most GETs to one endpoint / (900/60 per s)), with the
total response time as the client measured it (GitHub says to estimate server time that way).
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

from benchmarks.bench_collect import tree_cpu  # noqa: E402
from connectors.github import GitHubConnector  # noqa: E402
from nhitui.sandbox.github import GitHubFake  # noqa: E402
from nhitui.sandbox.server import Knobs  # noqa: E402
from nhitui.sandbox.world import World  # noqa: E402


def serve(repos: int, latency: float, conn: Any, window: float = 0.0) -> None:
    """Child process: seed the world, serve the fake until told to stop, report what it saw."""
    from benchmarks import keepalive

    keepalive.install()     # connections kept alive, as GitHub does
    world = World(repos=repos)
    fake = GitHubFake(world, Knobs(latency=latency), rate_limit=1_000_000)
    if window:
        from nhitui.sandbox.github.serving import SecondaryLimits

        fake.secondary = SecondaryLimits(window=window, server_seconds=90 * window / 60, points=900 * window / 60)
    with fake:
        conn.send((fake.source("bench"), fake.env, len(world.expected_for("github"))))
        conn.recv()
        from connectors.pacer import github_endpoint

        per_endpoint: dict[str, int] = {}
        for (_m, path), n in fake.requests_log.items():
            per_endpoint[github_endpoint(path)] = per_endpoint.get(github_endpoint(path), 0) + n
        conn.send((sum(fake.requests_log.values()), dict(fake.secondary.hits) if window else {},
                   max(per_endpoint.values(), default=0)))


async def run(repos: int, latency: float, concurrency: int, window: float = 0.0) -> None:
    t0 = time.perf_counter()
    parent, child = multiprocessing.Pipe()
    server = multiprocessing.get_context("spawn").Process(target=serve, args=(repos, latency, child, window),
                                                         daemon=True)
    server.start()
    source, env, expected = parent.recv()
    print(f"fake started in {time.perf_counter() - t0:.2f} s: {repos} repositories, {expected} identities")
    try:
        source["concurrency"] = concurrency
        if window:
            source.update(pacing=True, secondary_window=window, server_seconds=90 * window / 60, endpoint_points=900 * window / 60)
        connector = GitHubConnector(source, lambda ref: env[ref.split(":", 1)[1]])
        first = None
        count = 0
        fake0 = tree_cpu(server.pid)
        t0, cpu0 = time.perf_counter(), time.process_time()
        async for batch in connector.collect():
            if first is None:
                first = time.perf_counter() - t0
            count += len(batch)
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        fake_cpu = tree_cpu(server.pid) - fake0
        parent.send("stop")
        seen, hits, busiest = parent.recv()
    finally:
        server.join(timeout=10)
        if server.is_alive():
            server.terminate()
    report = connector.report
    if window:
        pacer = connector.client.pacer
        by_time = pacer.total_time / (90 / 60)
        by_points = busiest / (900 / 60)
        bound = max(by_time, by_points)
        print(f"identities      {count} (expected {expected})")
        print(f"requests        {report.requests} ({report.retries} retries; the server saw {seen})")
        print(f"secondary hits  server {sum(hits.values())} {hits or ''}; client counted "
              f"{report.facts.get('secondary_limit_hits')}  (target 0)")
        print(f"response time   {pacer.total_time:.1f} s in all, {pacer.total_time / max(1, pacer.finished) * 1000:.0f} ms "
              f"mean; peak {pacer.peak} in flight")
        print(f"wall time       {wall:.2f} s")
        print(f"limit bound     {bound:.2f} s = max({pacer.total_time:.1f} s / 1.5 = {by_time:.1f}, busiest endpoint "
              f"{busiest} GETs / 15 per s = {by_points:.1f})  (window {window:g} s)")
        print(f"ratio           {wall / bound:.2f}  (target <= 1.3)")
        print(f"blind spots     {len(report.blind_spots)}")
        return
    bound = report.requests * latency / concurrency
    print(f"identities      {count} (expected {expected})")
    per = 1000 / max(report.requests, 1)
    print(f"CPU per request connector {cpu * per:.2f} ms, fake {fake_cpu * per:.2f} ms")
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
    parser.add_argument("--limits", action="store_true", help="the fake enforces GitHub's secondary limits")
    parser.add_argument("--window", type=float, default=60.0, help="with --limits: their window, scaled (s)")
    args = parser.parse_args()
    asyncio.run(run(args.repos, args.latency, args.concurrency, args.window if args.limits else 0.0))


if __name__ == "__main__":
    main()
