"""The scan of the collection benchmark, run as a child process: `nhitui scan` minus the export.

    python -m benchmarks.scan_child CONFIG OUT.json [--cache] [--sequential] [--processes]

Loads the config as `nhitui scan` does and runs the same `Collector` (with the HTTP cache in the
history database when `--cache`), then writes per-source figures (state, count, requests, retries,
seconds, rate-limit units, the identities' uids), the process's own wall, CPU and peak RSS, and the
CPU of its reaped children (the sources' processes under `--processes`) to OUT.json.
`--sequential` scans one source after another (the naive baseline, with concurrency 1 in CONFIG);
`--processes` runs each source in its own process (`nhitui scan --processes`).
"""

from __future__ import annotations

import time

T0 = time.perf_counter()

import asyncio  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402


def peak_rss_kb() -> int:
    """This program's peak RSS. ru_maxrss would also count the parent's pages inherited at fork,
    before exec (the benchmark parent holds 100k identities); VmHWM starts afresh at exec."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main(argv: list[str]) -> int:
    from nhitui import config
    from nhitui.collect import Collector
    from nhitui.inventory import Inventory

    cfg_path, out = Path(argv[0]), Path(argv[1])
    cfg = config.load(cfg_path)
    cache = cfg.history_path if "--cache" in argv else None
    inventory = Inventory()
    collector = Collector(inventory, list(cfg.sources), cfg.policy, cfg.scan_timeout, cache_path=cache,
                          processes="--processes" in argv)
    ready = time.perf_counter()
    seconds: dict[str, float] = {}
    if "--sequential" in argv:
        for s in cfg.sources:
            t = time.perf_counter()
            asyncio.run(collector.run(only=[s["name"]]))
            seconds[s["name"]] = time.perf_counter() - t
    else:
        asyncio.run(collector.run())
    done = time.perf_counter()
    ru = resource.getrusage(resource.RUSAGE_SELF)
    sources = {}
    for name, st in inventory.statuses.items():
        took = seconds.get(name)
        if took is None and st.started_at and st.finished_at:
            took = (st.finished_at - st.started_at).total_seconds()
        sources[name] = {"provider": st.provider, "state": st.state, "count": st.count, "requests": st.requests,
                         "retries": st.retries, "seconds": took, "error": st.error,
                         "rate_limit_used": st.facts.get("rate_limit_used"),
                         "not_modified": st.facts.get("not_modified"),
                         "process_cpu": st.facts.get("process_cpu_seconds"), "uids": []}
    for row in inventory.rows:
        if row.source in sources:
            sources[row.source]["uids"].append(row.uid)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    out.write_text(json.dumps({
        "startup": ready - T0, "collect": done - ready, "count": len(inventory.rows),
        "cpu": ru.ru_utime + ru.ru_stime, "cpu_children": kids.ru_utime + kids.ru_stime,
        "rss_kb": peak_rss_kb(), "sources": sources}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
