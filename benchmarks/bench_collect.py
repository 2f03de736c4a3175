"""Collection at organisation scale against the sandbox with per-request latency.

The sandbox serves from this process; the scan runs as a child process (`benchmarks.scan_child`,
the `Collector` that `nhitui scan` runs) so its wall time, CPU and peak RSS are the program's own.

Per source: requests, wall, the lower bound (requests x latency / the source's concurrency: the
sources run side by side, each with its own pool), their ratio, and the request economy (requests
made / the fewest the inventory needs, counted from the pages the fakes served, see
`benchmarks.economy`). In total: the collection wall against the largest per-source bound.

A re-scan of the unchanged sandbox then shows the conditional requests: GitHub's primary
rate-limit units spent by the first scan and by the re-scan (the cache is in the history database).

The naive baseline is a sequential loop over the same endpoints with the same SDKs: our connectors
with `concurrency = 1`, one source after another. At full scale it would take half an hour, so it
runs on a smaller world and is compared per request (a sequential loop's cost is linear in requests).
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
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks import economy, keepalive
from nhitui.sandbox.chain import Sandbox
from nhitui.sandbox.server import Knobs
from nhitui.sandbox.world import World

FULL = dict(repos=2000, projects=1000, iam_users=500, access_keys=1000, roles=200, registry_tokens=300)
QUICK = dict(repos=100, projects=50, iam_users=30, access_keys=60, roles=15, registry_tokens=30)
CONCURRENCY = 16
SEQUENTIAL = {"npm", "jfrog"}       # connectors that page one request at a time (a handful of pages)


PROCESSES = "--processes" in sys.argv     # each source in its own process, as `nhitui scan --processes`


def child(config: Path, out: Path, *extra: str) -> dict[str, Any]:
    """Run one scan in a child; its JSON plus the wall seen from here (interpreter start included)."""
    if PROCESSES and "--sequential" not in extra:
        extra = (*extra, "--processes")
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "benchmarks.scan_child", str(config), str(out), *extra],
                          capture_output=True, text=True, env=os.environ.copy(), timeout=7200)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(f"scan failed ({proc.returncode}): {proc.stderr[-2000:]}")
    doc = json.loads(out.read_text())
    doc["wall"] = wall
    doc["rss_mb"] = doc["rss_kb"] / 1024      # the child's own peak
    return doc


def _cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def with_concurrency(text: str, n: int) -> str:
    text = re.sub(r"^concurrency = .*$", "", text, flags=re.M)
    return text.replace('[[source]]\n', f'[[source]]\nconcurrency = {n}\n')


def write_config(sandbox: Sandbox, directory: Path, concurrency: int) -> Path:
    cfg = directory / "config.toml"
    text = with_concurrency(sandbox.config_text(), concurrency)
    text = re.sub(r'^\[history\]\npath = .*$', f'[history]\npath = "{directory / "history.sqlite"}"', text,
                  flags=re.M)
    cfg.write_text(text)
    os.chmod(cfg, 0o600)
    return cfg


def aws_minimum(world: World, regions: tuple[str, ...]) -> int:
    from benchmarks.bench_aws import lower_bound
    from nhitui.sandbox.aws import plan_secrets

    kinds = Counter(e.kind for e in world.expected_for("aws"))
    secrets = Counter(s.region for s in plan_secrets(world) if s.region in regions)
    return lower_bound(kinds["iam_user"], kinds["access_key"], kinds["iam_role"], 1, 0, kinds["oidc_provider"],
                       dict(secrets), fresh_report=False)


def baseline(scale: dict[str, int], latency: float) -> tuple[float, int, dict[str, Any]]:
    """The naive sequential loop on `scale`: (collection seconds, requests, document)."""
    with Sandbox(World(seed=11, **scale), Knobs(latency=latency)) as sandbox, \
            tempfile.TemporaryDirectory() as tmp:
        cfg = write_config(sandbox, Path(tmp), 1)
        doc = child(cfg, Path(tmp) / "base.json", "--sequential")
    return doc["collect"], sum(s["requests"] or 0 for s in doc["sources"].values()), doc


def run(quick: bool = False, latency: float = 0.05) -> list[tuple[str, float, float, str]]:
    keepalive.install()
    scale = QUICK if quick else FULL
    rows: list[tuple[str, float, float, str]] = []
    world = World(seed=11, **scale)
    t = time.perf_counter()
    with Sandbox(world, Knobs(latency=latency)) as sandbox, tempfile.TemporaryDirectory() as tmp:
        print(f"\nsandbox seeded and serving in {time.perf_counter() - t:.1f} s")
        recorders = economy.install(sandbox.fakes)
        cfg = write_config(sandbox, Path(tmp), CONCURRENCY)
        gh = sandbox.fakes.get("github")
        if gh is not None:
            # A 2,000-repository scan needs ~15,000 units: three hours of a PAT's 5,000/hour, one of a
            # GitHub Enterprise Cloud App's 15,000. The benchmark measures time, so the limit is lifted.
            gh.rate_limit = 1_000_000
        used0 = gh.rate_used if gh is not None else 0
        cpu0 = _cpu()
        first = child(cfg, Path(tmp) / "first.json", "--cache")
        first["server_cpu"] = _cpu() - cpu0
        used1 = gh.rate_used if gh is not None else 0
        db = Path(tmp) / "history.sqlite"
        cache_mb = sum(f.stat().st_size for f in db.parent.glob(db.name + "*")) / 2**20
        made = {p: r.made() for p, r in recorders.items()}
        minimum = {p: r.minimum() for p, r in recorders.items()}
        excess = {p: r.excess(3) for p, r in recorders.items()}
        aws = sandbox.fakes.get("aws")
        if aws is not None:
            minimum["aws"] = aws_minimum(world, tuple(aws.regions))
        for r in recorders.values():
            r.reset()
        second = child(cfg, Path(tmp) / "second.json", "--cache")
        used2 = gh.rate_used if gh is not None else 0

    print(f"world: {scale}, latency {latency * 1000:.0f} ms/request, concurrency {CONCURRENCY} per source, "
          f"{first['count']} identities")
    print(f"scan: {first['wall']:.1f} s in the child ({first['startup']:.2f} s start-up and config, "
          f"{first['collect']:.1f} s collection), CPU {first['cpu']:.1f} s, peak RSS {first['rss_mb']:.0f} MB; "
          f"the fakes (this process) used {first['server_cpu']:.1f} s CPU meanwhile, on {os.cpu_count()} cores")
    print(f"{'source':<15} {'state':<7} {'count':>6} {'requests':>8} {'wall':>7} {'bound':>7} {'ratio':>6} "
          f"{'minimum':>8} {'economy':>7}")
    bounds = {}
    total_made = total_min = 0
    for name, s in first["sources"].items():
        provider = s["provider"]
        requests = s["requests"] or 0
        conc = 1 if provider in SEQUENTIAL else CONCURRENCY
        bound = requests * latency / conc
        bounds[name] = bound
        need = minimum.get(provider)
        got = made.get(provider, requests)
        total_made += got
        total_min += need or got
        econ = f"{got / need:.2f}x" if need else "-"
        took = s["seconds"] or 0.0
        print(f"{name:<15} {s['state']:<7} {s['count']:>6} {requests:>8} {took:>6.1f}s {bound:>6.1f}s "
              f"{took / max(bound, 1e-9):>5.2f}x {need if need else '-':>8} {econ:>7}")
        rows.append((f"{provider}: requests / minimum (pages)", got / need if need else 1.0, 1.05, "x"))
    for provider, top in excess.items():
        for resource_, got, need in top:
            print(f"  {provider} excess: {resource_[:90]} made {got}, needs {need}")
    worst = max(bounds, key=lambda n: bounds[n])
    lower = bounds[worst]
    print(f"lower bound of the whole collection: {lower:.1f} s ({worst}, the largest per-source bound); "
          f"collection took {first['collect']:.1f} s")
    rows.insert(0, ("collection wall / lower bound (largest source)", first["collect"] / max(lower, 1e-9), 1.3, "x"))
    rows.insert(1, ("scan wall incl. start-up / lower bound", first["wall"] / max(lower, 1e-9), 1.3, "x"))
    for name, s in first["sources"].items():
        if s["provider"] in ("github", "gitlab", "aws"):
            rows.append((f"{s['provider']}: source wall / its lower bound", (s["seconds"] or 0) / max(bounds[name], 1e-9),
                         1.3, "x"))
    rows.append(("all sources: requests / minimum", total_made / max(total_min, 1), 1.05, "x"))
    rows.append(("peak RSS of the scan", first["rss_mb"], 300, "MB"))

    gh_first = next((s for s in first["sources"].values() if s["provider"] == "github"), None)
    gh_second = next((s for s in second["sources"].values() if s["provider"] == "github"), None)
    if gh_first and gh_second:
        u1, u2 = gh_first["rate_limit_used"] or 0, gh_second["rate_limit_used"] or 0
        print(f"GitHub primary rate limit: first scan {u1} units ({used1 - used0} charged by the fake), "
              f"re-scan of the unchanged org {u2} units ({used2 - used1} charged; "
              f"{gh_second['not_modified']} of {gh_second['requests']} requests answered 304); "
              f"re-scan collection {second['collect']:.1f} s; the HTTP cache in the history database: "
              f"{cache_mb:.1f} MB")
        rows.append(("GitHub re-scan units / first scan units", u2 / max(u1, 1), 0.10, ""))

    small = {k: max(2, v // (40 if quick else 10)) for k, v in scale.items()}
    base_s, base_req, base = baseline(small, latency)
    ours_req = sum(s["requests"] or 0 for s in first["sources"].values())
    per_base = base_s / max(base_req, 1)
    extrapolated = per_base * ours_req
    speedup = extrapolated / max(first["collect"], 1e-9)
    print(f"naive baseline (sequential, concurrency 1) on {small}: {base_s:.1f} s for {base_req} requests "
          f"({per_base * 1000:.1f} ms each); for our {ours_req} requests it would take {extrapolated:.0f} s "
          f"against our {first['collect']:.1f} s: {speedup:.1f}x faster")
    rows.append(("speed-up over the sequential baseline: 10 / speed-up", 10 / speedup, 1.0, "x"))
    return rows


if __name__ == "__main__":
    from benchmarks.report import print_rows

    print_rows("collection", run(quick="--quick" in sys.argv))
