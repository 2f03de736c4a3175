"""Collect a source in its own process, so several sources use more than one core.

Why: SDK parsing (PyGithub and python-gitlab objects, boto3's XML, JSON decoding) is CPU work, and
one interpreter runs it on one core however many sources scan at once. With `[scan] processes =
true` (or `nhitui scan --processes`) each source (but the registries' few pages,
`collect.IN_PROCESS_TYPES`) runs the ordinary `Collector` in a child process
(spawned: the parent may hold threads) that streams its scored batches and its final status back
through a pipe; the parent upserts them exactly as for an in-process source, then rescores the
whole inventory. The child resolves the source's credentials itself and scrubs its own messages;
nothing but identities and statuses crosses the pipe. Actions still run in the parent.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from nhitui.inventory import Inventory
from nhitui.model import Identity, SourceStatus
from nhitui.policy import Policy

GRACE = 30.0     # seconds the parent waits past the source's own timeout before killing its process


class _Forwarding(Inventory):
    """The child's inventory: every batch goes to the parent; nothing is kept."""

    def __init__(self, send: Callable[[Any], None]) -> None:
        super().__init__()
        self._send = send

    def add(self, identities: Iterable[Identity], since: int | None = None) -> int:
        rows = list(identities)
        if rows:
            self._send(("batch", rows))
        return len(rows)

    def replace_source(self, source: str, identities: Iterable[Identity], since: int | None = None) -> None:
        return None     # the parent swaps the source's rows in itself


def _child(settings: dict[str, Any], policy: Policy, timeout: float, cache_path: Path | None, conn: Any) -> None:
    from nhitui.collect import Collector

    inventory = _Forwarding(conn.send)
    collector = Collector(inventory, [settings], policy, timeout, cache_path=cache_path)
    try:
        statuses = asyncio.run(collector.run())
        status = statuses[settings["name"]]
        # The process's CPU, its interpreter's start included: what this source costs the machine.
        status = replace(status, facts={**status.facts, "process_cpu_seconds": round(time.process_time(), 2)})
        conn.send(("status", status))
    finally:
        conn.close()


async def collect_in_process(settings: dict[str, Any], policy: Policy, timeout: float, cache_path: Path | None,
                             on_batch: Callable[[list[Identity]], None]) -> tuple[list[Identity], SourceStatus]:
    """Run one source in a child process; `on_batch` sees each batch as it arrives."""
    ctx = multiprocessing.get_context("spawn")
    receiver, sender = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(settings, policy, timeout, cache_path, sender), daemon=True,
                       name=f"nhitui-scan-{settings['name']}")
    started = datetime.now(timezone.utc)
    proc.start()
    sender.close()
    rows: list[Identity] = []
    status: SourceStatus | None = None

    def receive() -> Any:
        try:
            return receiver.recv()
        except (EOFError, OSError):
            return None

    async def pump() -> None:
        nonlocal status
        while True:
            message = await asyncio.to_thread(receive)
            if message is None:
                return
            kind, payload = message
            if kind == "batch":
                rows.extend(payload)
                on_batch(payload)
            elif kind == "status":
                status = payload

    error = ""
    try:
        await asyncio.wait_for(pump(), timeout=float(settings.get("scan_timeout", timeout)) + GRACE)
    except (asyncio.TimeoutError, TimeoutError):
        error = "timed out (the scanner process was stopped)"
    finally:
        if proc.is_alive():
            proc.terminate()
        await asyncio.to_thread(proc.join, 10)
        receiver.close()
    if status is None:
        error = error or f"the scanner process ended without a result (exit code {proc.exitcode})"
        status = SourceStatus(settings["name"], settings["type"], state="partial" if rows else "failed",
                              error=error, count=len(rows), started_at=started,
                              finished_at=datetime.now(timezone.utc))
    return rows, status
