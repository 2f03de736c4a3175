"""Benchmark: the Vault connector over 10,000 tokens on a real OpenBao dev server.

Vault has no bulk token lookup: an inventory is 1 `LIST auth/token/accessors` plus one
`lookup-accessor` per token (reference/vault.md §1.5). This prints the wall time, the requests
against that minimum (1 + N, plus a constant handful for mounts and policies), and lookups per
second at the connector's default concurrency (8). The reference measured 4.2k lookups/s with
16 raw threads of http.client on this machine class: the target is half that through httpx async.

    python -m benchmarks vault [--quick]          # --quick: 2,000 tokens
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connectors.vault import VaultConnector  # noqa: E402
from nhitui.sandbox.vault.server import BaoServer  # noqa: E402


def _create(url: str, root: str, n: int) -> None:
    def worker(count: int) -> None:
        with httpx.Client(base_url=url + "/v1/", headers={"X-Vault-Token": root}, trust_env=False) as client:
            for i in range(count):
                r = client.post("auth/token/create", json={"policies": ["default"], "ttl": "2h",
                                                            "display_name": f"bench-{i}"})
                r.raise_for_status()
    threads = 16
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(worker, [n // threads + (1 if i < n % threads else 0) for i in range(threads)]))


async def _scan(connector: VaultConnector) -> int:
    n = 0
    async for batch in connector.collect():
        n += len(batch)
    return n


def run(quick: bool = False) -> list[tuple[str, float, float, str]]:
    tokens = 2_000 if quick else 10_000
    server = BaoServer()
    server.start()
    try:
        _create(server.url, server.root_token, tokens)
        os.environ["NHITUI_BENCH_VAULT"] = server.root_token
        source = {"type": "vault", "name": "bench-vault", "url": server.url, "token": "env:NHITUI_BENCH_VAULT",
                  "timeout": 30}
        connector = VaultConnector(source, lambda ref: os.environ[ref.removeprefix("env:")])
        t0 = time.perf_counter()
        rows = asyncio.run(_scan(connector))
        wall = time.perf_counter() - t0
    finally:
        server.stop()
        os.environ.pop("NHITUI_BENCH_VAULT", None)
    minimum = 1 + (tokens + 1)          # one LIST, one lookup per token (the root token included)
    return [
        (f"vault: {tokens} tokens listed and looked up (s)", wall, tokens / 2000, "s"),
        (f"vault: requests / minimum (1 LIST + {tokens + 1} lookups; +mounts)", connector.report.requests / minimum,
         1.01, "x"),
        ("vault: identities found / tokens", rows / (tokens + 1), 1.0, "x"),
    ]


if __name__ == "__main__":
    from benchmarks.report import print_rows

    print_rows("bench_vault", run(quick="--quick" in sys.argv))
