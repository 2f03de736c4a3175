"""Benchmark: the GitLab connector against the fake GitLab (300 projects, 50 ms per request).

The fake runs in a child process, as a real GitLab would be on another host: on this 2-core machine,
sharing one interpreter (and its GIL) with the server would measure the fake's CPU as much as the
connector's. Prints requests, wall time, the concurrency lower bound (requests x latency /
concurrency) and the ratio of the two.

    /work/venv/bin/python benchmarks/bench_gitlab.py [--projects 300] [--latency 0.05] [--concurrency 16]
        [--in-process]
    /work/venv/bin/python benchmarks/bench_gitlab.py --limits [--window 60] --projects 1000

With `--limits` the fake enforces GitLab.com's documented limit, 2,000 authenticated API requests per
minute per user (apis.md), as a fixed window per token scaled from 60 s to `--window` seconds at the
same rate (2000 x window / 60 per window; past it a 429 with Retry-After), and the connector is set
up as a user of GitLab.com would have it (`requests_per_minute = 2000`, the default on gitlab.com;
`rate_window` scales its minute like the fake's, so it is given 2000 x window / 60 per window).
`--headers-on-429` has the fake send RateLimit-* only with a 429, as GitLab does unless the
`rate_limiting_headers_for_unthrottled_requests` flag is on: the connector then has only its
configured rate to go by. The target is no 429 (counted by the fake) and a wall time within 1.3x of
the bound max(requests / (2000 / 60 per s), requests x latency / concurrency).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import logging
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connectors.gitlab import GitLabConnector  # noqa: E402
from nhitui.sandbox.gitlab import GitLabFake  # noqa: E402
from nhitui.sandbox.server import Knobs  # noqa: E402
from nhitui.sandbox.world import World  # noqa: E402

PER_MINUTE = 2000      # GitLab.com: authenticated API requests per minute per user


class RetryCauses(logging.Handler):
    """Counts the connector's "retrying" debug lines by cause (a status code or an exception name)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.causes: collections.Counter[str] = collections.Counter()

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg.endswith("retrying") and isinstance(record.args, tuple) and len(record.args) == 3:
            self.causes[str(record.args[2])] += 1


def _fake(projects: int, latency: float, window: float, quiet: bool = False) -> GitLabFake:
    limits = {"rate_limit": round(PER_MINUTE * window / 60), "rate_window": window} if window else {}
    fake = GitLabFake(World(projects=projects), Knobs(latency=latency), **limits)
    fake.rate_headers_always = not quiet
    return fake


def _serve(projects: int, latency: float, conn: Any, window: float = 0.0, quiet: bool = False) -> None:
    from benchmarks import keepalive

    keepalive.install()     # connections kept alive, as GitLab does
    fake = _fake(projects, latency, window, quiet).start()
    conn.send((fake.server.url, fake.token, len(fake.world.expected_for("gitlab"))))
    conn.recv()                     # wait for "stop"
    conn.send((time.process_time(), fake.throttled))
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
    ap.add_argument("--limits", action="store_true", help="the fake enforces GitLab.com's 2,000 requests/min")
    ap.add_argument("--window", type=float, default=60.0, help="with --limits: its window, scaled (s)")
    ap.add_argument("--headers-on-429", action="store_true", help="with --limits: RateLimit-* only on a 429")
    args = ap.parse_args()
    window = args.window if args.limits else 0.0
    causes = RetryCauses()
    logger = logging.getLogger("nhitui.connectors.gitlab")
    logger.addHandler(causes)
    logger.setLevel(logging.DEBUG)

    proc = None
    if args.in_process:
        fake = _fake(args.projects, args.latency, window, args.headers_on_429).start()
        url, token, expected = fake.server.url, fake.token, len(fake.world.expected_for("gitlab"))
    else:
        parent, child = mp.Pipe()
        proc = mp.get_context("fork").Process(target=_serve, args=(args.projects, args.latency, child, window,
                                                                          args.headers_on_429),
                                              daemon=True)
        proc.start()
        url, token, expected = parent.recv()
    try:
        source = {"type": "gitlab", "name": "bench-gitlab", "url": url, "groups": ["acme"], "instance": True,
                  "token": "env:BENCH", "concurrency": args.concurrency, "timeout": 30}
        if window:
            source.update(requests_per_minute=PER_MINUTE * window / 60, rate_window=window)
        connector = GitLabConnector(source, lambda _ref: token)
        t0, c0 = time.perf_counter(), time.process_time()
        rows = asyncio.run(_collect(connector))
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    finally:
        server_cpu = None
        if proc is not None:
            parent.send("stop")
            server_cpu, throttled = parent.recv()
            proc.join(timeout=10)
        else:
            throttled = fake.throttled
            fake.stop()
    report = connector.report
    bound = report.requests * args.latency / args.concurrency
    if window:
        return _limits_report(args, window, rows, expected, wall, bound, throttled, connector, causes)
    print(f"projects          {args.projects}")
    print(f"identities        {rows} (seeded {expected})")
    print(f"requests          {report.requests} (retries {report.retries}{_causes(causes)})")
    print(f"blind spots       {len(report.blind_spots)}")
    print(f"wall time         {wall:.2f} s")
    print(f"cpu               connector {cpu:.2f} s" + (f", fake server {server_cpu:.2f} s" if server_cpu else ""))
    print(f"lower bound       {bound:.2f} s  (requests x {args.latency * 1000:.0f} ms / {args.concurrency})")
    print(f"ratio             {wall / bound:.2f}" if bound else "ratio             n/a (zero latency)")
    return 0 if rows == expected and not report.blind_spots else 1


def _limits_report(args: Any, window: float, rows: int, expected: int, wall: float, by_latency: float,
                   throttled: int, connector: GitLabConnector, causes: RetryCauses) -> int:
    report = connector.report
    by_limit = report.requests / (PER_MINUTE / 60)
    bound = max(by_limit, by_latency)
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"projects          {args.projects}  (limit {PER_MINUTE}/min, window {window:g} s: "
          f"{PER_MINUTE * window / 60:g} per window; RateLimit-* "
          f"{'only on a 429' if args.headers_on_429 else 'on every answer'})")
    print(f"identities        {rows} (expected {expected})")
    print(f"requests          {report.requests} (retries {report.retries}{_causes(causes)})")
    print(f"429s              {throttled} sent by the fake; the connector counted "
          f"{report.facts.get('rate_limit_hits', 0)}  (target 0)")
    print(f"blind spots       {len(report.blind_spots)}")
    if pacer := getattr(connector, "pacer", None):
        print(f"pacer             {pacer.waits} requests waited for the limit ({pacer.budget_waits} of them for a "
              f"RateLimit-Reset); peak {pacer.peak} in flight")
    print(f"wall time         {wall:.2f} s  (load average {load})")
    print(f"limit bound       {by_limit:.2f} s = {report.requests} requests / ({PER_MINUTE}/60 per s)")
    print(f"latency bound     {by_latency:.2f} s = requests x {args.latency * 1000:.0f} ms / {args.concurrency}")
    print(f"ratio             {wall / bound:.2f}  (wall / max of the two; target <= 1.3)")
    return 0 if rows == expected and not report.blind_spots and not throttled else 1


def _causes(causes: RetryCauses) -> str:
    return ": " + ", ".join(f"{k} {n}" for k, n in causes.causes.most_common()) if causes.causes else ""


if __name__ == "__main__":
    sys.exit(main())
