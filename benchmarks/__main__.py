"""Run every benchmark on the sandbox and print figures and ratios: `python -m benchmarks [--quick] [SUITE...]`.

A suite is `core`, `collect`, `tui`, `demo`, `open` or a provider's (`vault`, ...) (or its module name, `bench_core`).

`--quick` shrinks the worlds so the whole run stays around a minute.
"""

from __future__ import annotations

import importlib
import sys
import time

from benchmarks.report import print_rows

SUITES = ("bench_core", "bench_collect", "bench_tui", "bench_demo", "bench_vault", "bench_azure", "bench_gcp",
          "bench_kubernetes", "bench_store", "bench_open")


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    only = {a if a.startswith("bench_") else f"bench_{a}" for a in argv if not a.startswith("-")}
    if only - set(SUITES):
        print(f"unknown suite(s): {', '.join(sorted(only - set(SUITES)))}; choose from {', '.join(SUITES)}",
              file=sys.stderr)
        return 2
    started = time.perf_counter()
    for name in SUITES:
        if only and name not in only:
            continue
        module = importlib.import_module(f"benchmarks.{name}")
        t = time.perf_counter()
        rows = module.run(quick=quick)
        print_rows(f"{name} ({time.perf_counter() - t:.0f} s)", rows)
    print(f"\nall benchmarks: {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
