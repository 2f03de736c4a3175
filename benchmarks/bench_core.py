"""Core figures at organisation scale: filter, policy, export, history, startup.

Prints measured values next to their targets as ratios (value / target; <= 1.0 meets it).
"""

from __future__ import annotations

import dataclasses
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from nhitui import export
from nhitui.history import History
from nhitui.inventory import Inventory
from nhitui.model import SourceStatus
from nhitui.policy import evaluate
from nhitui.query import parse
from nhitui.sandbox.synthetic import make_identities


def timed(fn, repeat: int = 5) -> float:
    """Median wall seconds of `repeat` runs."""
    runs = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t)
    return statistics.median(runs)


def run(quick: bool = False) -> list[tuple[str, float, float, str]]:
    """Rows of (figure, value, target, unit)."""
    n = 100_000
    rows = make_identities(n)
    inv = Inventory()
    inv.add(rows)
    out: list[tuple[str, float, float, str]] = []
    for q in ("provider:github,gitlab privilege>=write unused>30d", "stale !kind:runner repo-1",
              "age>90d no-expiry owner:alice"):
        query = parse(q)
        out.append((f"filter 100k, 3 terms: {q}", timed(lambda query=query: inv.select(query)) * 1000, 50, "ms"))
    repeat = 1 if quick else 3
    out.append(("policy re-evaluation of 100k (unchanged)", timed(lambda: evaluate(rows), repeat), 2.0, "s"))
    out.append(("CSV export of 100k", timed(lambda: export.render(rows, {}, "csv"), repeat), 2.0, "s"))
    out += history_figures(rows, snapshots=5 if quick else 50)
    out += startup_figures()
    return out


def history_figures(rows, snapshots: int) -> list[tuple[str, float, float, str]]:
    statuses = {"s": SourceStatus("s", "github", "ok")}
    csv_size = len(export.render(rows, statuses, "csv").encode())
    with tempfile.TemporaryDirectory() as tmp:
        h = History(Path(tmp) / "h.sqlite")
        saves = []
        current = rows
        now = datetime.now(timezone.utc)
        for s in range(snapshots):
            # Each scan: 2% of identities used since the last one, 0.5% rotated.
            current = [dataclasses.replace(r, last_used_at=now) if (i + s) % 50 == 0 else r
                       for i, r in enumerate(current)]
            t = time.perf_counter()
            h.save(current, statuses)
            saves.append(time.perf_counter() - t)
        snaps = [x.id for x in h.snapshots()]
        diff_t = timed(lambda: h.diff(snaps[-1], snaps[0]), 3)
        h.close()
        size = sum(p.stat().st_size for p in Path(tmp).iterdir())
    return [
        (f"history save of 100k (median of {snapshots})", statistics.median(saves), 2.0, "s"),
        ("history save of 100k, the first (every row new)", saves[0], 2.0, "s"),
        ("history diff of two 100k snapshots", diff_t, 1.0, "s"),
        (f"history size / one CSV, {snapshots} snapshots", size / csv_size, 10.0, "x"),
    ]


def startup_figures() -> list[tuple[str, float, float, str]]:
    out = []
    for flag in ("--help", "--version"):
        def call(flag=flag):
            subprocess.run([sys.executable, "-m", "nhitui", flag], capture_output=True, check=True,
                           env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
        out.append((f"nhitui {flag} wall", timed(call, 5), 0.3, "s"))
    return out


if __name__ == "__main__":
    from benchmarks.report import print_rows

    print_rows("core", run(quick="--quick" in sys.argv))
