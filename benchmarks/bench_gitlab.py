"""Benchmark: the GitLab connector against the fake GitLab (300 projects, 50 ms per request).

The fake runs in a child process, as a real GitLab would be on another host: on this 2-core machine,
sharing one interpreter (and its GIL) with the server would measure the fake's CPU as much as the
connector's. Prints requests, wall time, the concurrency lower bound (requests x latency /
concurrency) and the ratio of the two.

    /work/venv/bin/python benchmarks/bench_gitlab.py [--projects 300] [--latency 0.05] [--concurrency 16]
        [--in-process]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connectors.gitlab import GitLabConnector  # noqa: E402
from nhitui.sandbox.gitlab import GitLabFake  # noqa: E402
from nhitui.sandbox.server import Knobs  # noqa: E402
from nhitui.sandbox.world import World  # noqa: E402


def _serve(projects: int, latency: float, conn: Any) -> None:
    from benchmarks import keepalive

    keepalive.install()     # connections kept alive, as GitLab does
    fake = GitLabFake(World(projects=projects), Knobs(latency=latency)).start()
    conn.send((fake.server.url, fake.token, len(fake.world.expected_for("gitlab"))))
    conn.recv()                     # wait for "stop"
    conn.send(time.process_time())
    fake.stop()


async def _collect(connector: GitLabConnector) -> int:
    n = 0
    async for batch in connector.collect():
        n += len(batch)
    return n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--projects", type=int, default=300)
    ap.add_argument("--latency", type=float, default=0.05)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--in-process", action="store_true", help="serve the fake from this process")
    args = ap.parse_args()

    proc = None
    if args.in_process:
        fake = GitLabFake(World(projects=args.projects), Knobs(latency=args.latency)).start()
        url, token, expected = fake.server.url, fake.token, len(fake.world.expected_for("gitlab"))
    else:
        parent, child = mp.Pipe()
        proc = mp.get_context("fork").Process(target=_serve, args=(args.projects, args.latency, child), daemon=True)
        proc.start()
        url, token, expected = parent.recv()
    try:
        source = {"type": "gitlab", "name": "bench-gitlab", "url": url, "groups": ["acme"], "instance": True,
                  "token": "env:BENCH", "concurrency": args.concurrency, "timeout": 30}
        connector = GitLabConnector(source, lambda _ref: token)
        t0, c0 = time.perf_counter(), time.process_time()
        rows = asyncio.run(_collect(connector))
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    finally:
        server_cpu = None
        if proc is not None:
            parent.send("stop")
            server_cpu = parent.recv()
            proc.join(timeout=10)
        else:
            fake.stop()
    report = connector.report
    bound = report.requests * args.latency / args.concurrency
    print(f"projects          {args.projects}")
    print(f"identities        {rows} (seeded {expected})")
    print(f"requests          {report.requests} (retries {report.retries})")
    print(f"blind spots       {len(report.blind_spots)}")
    print(f"wall time         {wall:.2f} s")
    print(f"cpu               connector {cpu:.2f} s" + (f", fake server {server_cpu:.2f} s" if server_cpu else ""))
    print(f"lower bound       {bound:.2f} s  (requests x {args.latency * 1000:.0f} ms / {args.concurrency})")
    print(f"ratio             {wall / bound:.2f}" if bound else "ratio             n/a (zero latency)")
    return 0 if rows == expected and not report.blind_spots else 1


if __name__ == "__main__":
    sys.exit(main())
