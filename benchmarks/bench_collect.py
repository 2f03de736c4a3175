"""Collection at organisation scale against the sandbox with per-request latency.

The sandbox serves from this process; the scan runs as a child process (`nhitui scan`) so its
wall time and peak RSS are the program's own. Per source: requests, wall, the concurrency lower
bound (requests x latency / concurrency) and the ratio. The naive baseline is the same scan with
`concurrency = 1` everywhere (a sequential loop over the same endpoints with the same SDKs); it runs
on a smaller world and is compared per request, since at full scale it would take most of an hour.
"""

from __future__ import annotations

import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from nhitui.sandbox.chain import Sandbox
from nhitui.sandbox.server import Knobs
from nhitui.sandbox.world import World

FULL = dict(repos=2000, projects=1000, iam_users=500, access_keys=1000, roles=200, registry_tokens=300)
QUICK = dict(repos=150, projects=80, iam_users=40, access_keys=80, roles=20, registry_tokens=40)


def scan_child(config: Path) -> tuple[float, dict, int]:
    """Run `nhitui scan` in a child; return (wall seconds, JSON document, child's peak RSS in KB)."""
    out = Path(config).with_suffix(".json")
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "nhitui", "--config", str(config), "scan", "--no-save",
                           "--format", "json", "-o", str(out)], capture_output=True, text=True,
                          env=os.environ.copy(), timeout=3600)
    wall = time.perf_counter() - t
    if proc.returncode not in (0, 3):
        raise RuntimeError(f"scan failed ({proc.returncode}): {proc.stderr[-2000:]}")
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, json.loads(out.read_text()), max(rss, before)


def with_concurrency(text: str, n: int) -> str:
    text = re.sub(r"^concurrency = .*$", "", text, flags=re.M)
    return text.replace('[[source]]\n', f'[[source]]\nconcurrency = {n}\n')


def measure(world_args: dict, latency: float, concurrency: int = 16) -> dict:
    with Sandbox(World(seed=11, **world_args), Knobs(latency=latency)) as sandbox, \
            tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "config.toml"
        cfg.write_text(with_concurrency(sandbox.config_text(), concurrency))
        os.chmod(cfg, 0o600)
        wall, doc, rss = scan_child(cfg)
    sources = {s["name"]: s for s in doc["sources"]}
    return {"wall": wall, "sources": sources, "rss_mb": rss / 1024, "count": len(doc["identities"])}


def run(quick: bool = False, latency: float = 0.05) -> list[tuple[str, float, float, str]]:
    scale = QUICK if quick else FULL
    ours = measure(scale, latency)
    rows: list[tuple[str, float, float, str]] = []
    total_requests = 0
    print(f"\nworld: {scale}, latency {latency * 1000:.0f} ms/request, concurrency 16, "
          f"{ours['count']} identities, scan wall {ours['wall']:.1f} s, peak RSS {ours['rss_mb']:.0f} MB")
    print(f"{'source':<16} {'state':<8} {'count':>7} {'requests':>9} {'lower bound':>12}")
    http_requests = 0
    for name, s in ours["sources"].items():
        requests = s.get("requests") or 0
        total_requests += requests
        bound = requests * latency / 16
        if not name.endswith("aws"):   # moto has its own latency, not the knob's
            http_requests += requests
        print(f"{name:<16} {s['status']:<8} {s['count']:>7} {requests:>9} {bound:>11.1f}s")
    lower = http_requests * latency / 16
    rows.append(("collection wall / concurrency lower bound (HTTP fakes)", ours["wall"] / max(lower, 1e-9), 1.3, "x"))
    rows.append(("peak RSS of the scan", ours["rss_mb"], 300, "MB"))
    small = {k: max(2, v // 10) for k, v in scale.items()}
    base = measure(small, latency, concurrency=1)
    ours_small = measure(small, latency)
    base_req = sum(s.get("requests") or 0 for s in base["sources"].values())
    ours_req = sum(s.get("requests") or 0 for s in ours_small["sources"].values())
    speedup = (base["wall"] / max(base_req, 1)) / (ours_small["wall"] / max(ours_req, 1))
    print(f"naive baseline (concurrency 1) on {small}: {base['wall']:.1f} s for {base_req} requests; "
          f"ours {ours_small['wall']:.1f} s for {ours_req} requests")
    rows.append(("speed-up over the sequential baseline (per request)", 10 / speedup, 1.0, "x"))
    print(f"speed-up: {speedup:.1f}x (target >= 10x; the ratio column shows 10/speed-up)")
    return rows


if __name__ == "__main__":
    from benchmarks.report import print_rows

    print_rows("collection", run(quick="--quick" in sys.argv))
