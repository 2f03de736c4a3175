"""The default demo world as a new user meets it: `nhitui demo` first rows, `nhitui scan --demo` wall.

`nhitui demo` = start the sandbox, write its config, open the TUI, which collects. Measured here the
same way, in process: from the start of the sandbox until the table has drawn its first data row.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time

from benchmarks.bench_tui import FirstPaint
from nhitui import config as config_mod
from nhitui.sandbox.chain import Sandbox
from nhitui.sandbox.world import World
from nhitui.tui.app import NhiApp


async def first_rows() -> tuple[float, float, int]:
    """(seconds to first drawn row, seconds until every source finished, identities)."""
    t0 = time.perf_counter()
    with Sandbox(World(), wait=False) as sandbox:   # as `nhitui demo` starts it
        cfg = config_mod.load(sandbox.write_config())
        with FirstPaint() as paint:
            app = NhiApp(cfg, title="nhitui demo")
            async with app.run_test(size=(140, 40)) as pilot:
                deadline = time.perf_counter() + 60
                while time.perf_counter() < deadline:
                    await pilot.pause(0.05)
                    states = {s.state for s in app.inventory.statuses.values()}
                    if states and not states & {"pending", "running"}:
                        break
                done = time.perf_counter() - t0
                count = len(app.inventory)
    return (paint.at - t0 if paint.at is not None else float("inf")), done, count


def scan_wall() -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "nhitui", "scan", "--demo", "--no-save", "--format", "json",
                    "-o", os.devnull], check=True, capture_output=True, timeout=300)
    return time.perf_counter() - t


def run(quick: bool = False) -> list[tuple[str, float, float, str]]:
    first, done, count = asyncio.run(first_rows())
    print(f"demo world: {count} identities; first row drawn {first:.2f} s after launch, all sources done "
          f"{done:.2f} s")
    return [
        ("nhitui demo: first rows drawn after launch", first, 3.0, "s"),
        ("nhitui scan --demo wall", scan_wall(), 10.0, "s"),
    ]


if __name__ == "__main__":
    from benchmarks.report import print_rows

    print_rows("demo", run())
