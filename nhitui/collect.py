"""Run every configured connector concurrently and stream their batches into the inventory.

One failing source never stops the others: its exception becomes a `failed` (or `partial`, when
some pages arrived) status with the reason, with any credential value scrubbed from the message.
A source's rows are swapped in atomically when it finishes, so rows that vanished at the
provider vanish here too; while it runs, batches are upserted as they arrive for the TUI.

With a `cache_path` (the history database), connectors that take a `cache` (GitHub's) get their
source's HTTP cache for conditional requests; it is saved back when the source finishes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from nhitui import credentials
from nhitui.inventory import Inventory
from nhitui.model import Identity, SourceStatus
from nhitui.policy import Policy, evaluate

log = logging.getLogger("nhitui.collect")

CACHING_TYPES = {"github"}   # connectors that take an ETag cache
# Under `processes`, these still run in the main process: each reads one token listing of a few
# pages, and an interpreter of its own (~0.6 s of CPU to start, at the moment every other source
# starts too) costs more than all the parsing it would take off the main one.
IN_PROCESS_TYPES = {"npm", "dockerhub", "jfrog"}

OnChange = Callable[[str], None]


class Redactor:
    """Resolves credential references and remembers the values, to scrub them from any message."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()

    def resolve(self, reference: str) -> str:
        value = credentials.resolve(reference)
        if len(value) >= 4:
            self._secrets.add(value)
        return value

    def scrub(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, "***")
        return text


REDACTOR = Redactor()


def make_connector(settings: dict[str, Any], resolve: Callable[[str], str] | None = None,
                   cache: Any = None) -> Any:
    """The connector of one source; `cache` (url -> (etag, body)) goes to connectors that take one."""
    from connectors import connector_class

    cls = connector_class(settings["type"])
    connector = cls(settings, resolve or REDACTOR.resolve)
    if cache is not None and hasattr(connector, "cache"):
        connector.cache = cache
    return connector


def describe_error(exc: BaseException) -> str:
    """A one-line, secret-free reason for a failed source."""
    from connectors.base import ConnectorError

    if isinstance(exc, (ConnectorError, credentials.CredentialError)):
        text = str(exc)
    elif isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        text = "timed out"
    elif isinstance(exc, OSError):
        text = f"network error: {exc.strerror or type(exc).__name__}"
    else:
        text = f"unexpected error: {type(exc).__name__}: {exc}"
    return REDACTOR.scrub(" ".join(text.split()))[:500]


@dataclass
class Collector:
    """Collects `sources` into `inventory`, re-scoring with `policy` as sources complete.

    `on_change(source)` is called after every batch and status change (the TUI refreshes there).
    """

    inventory: Inventory
    sources: list[dict[str, Any]]
    policy: Policy = field(default_factory=Policy)
    timeout: float = 600.0
    on_change: OnChange | None = None
    connectors: dict[str, Any] = field(default_factory=dict)
    cache_path: Path | None = None      # the history database: HTTP cache for conditional requests
    warnings: list[str] = field(default_factory=list)
    processes: bool = False             # each source in its own process (nhitui/collect_process.py),
                                        # except IN_PROCESS_TYPES

    def _changed(self, source: str) -> None:
        if self.on_change is not None:
            self.on_change(source)

    async def run(self, only: Iterable[str] | None = None) -> dict[str, SourceStatus]:
        wanted = set(only) if only else None
        chosen = [s for s in self.sources if s.get("enabled", True) and (wanted is None or s["name"] in wanted)]
        for s in chosen:
            self.inventory.set_status(SourceStatus(s["name"], s["type"], state="running",
                                                   started_at=datetime.now(timezone.utc)))
        apart = [s for s in chosen if self.processes and s.get("type") not in IN_PROCESS_TYPES]
        here = [s for s in chosen if s not in apart]
        http = self._open_cache(here)
        try:
            await asyncio.gather(*(self._one_process(s) for s in apart), *(self._one(s, http) for s in here))
        finally:
            if http is not None:
                http.close()
        self.rescore()
        return {s["name"]: self.inventory.statuses[s["name"]] for s in chosen}

    def rescore(self) -> None:
        """Re-run the policy over everything: cross-source rules need the whole inventory."""
        self.inventory.replace_all(evaluate(self.inventory.rows, self.inventory.statuses, self.policy))

    def _open_cache(self, sources: list[dict[str, Any]]) -> Any:
        """The HTTP cache, when one of `sources` (those run in this process) takes it."""
        if self.cache_path is None:
            return None
        import sqlite3

        from nhitui import history
        from nhitui.http_cache import HttpCache

        if not any(s.get("type") in CACHING_TYPES for s in sources):
            return None
        try:
            http = HttpCache(self.cache_path)
            self.warnings += http.history.warnings     # e.g. a corrupt database moved aside
            return http
        except (history.HistoryError, sqlite3.Error, OSError) as exc:
            log.warning("HTTP cache unavailable (%s): scanning without conditional requests", exc)
            return None

    @staticmethod
    def _cache_for(http: Any, connector: Any, name: str) -> Any:
        if http is None or not hasattr(connector, "cache"):
            return None
        try:
            cache = http.for_source(name)
        except Exception as exc:  # noqa: BLE001 - sqlite3.Error and friends: scan without the cache
            log.warning("HTTP cache of %s unreadable: %s", name, exc)
            return None
        connector.cache = cache
        return cache

    @staticmethod
    def _save_cache(http: Any, cache: Any, complete: bool) -> None:
        if cache is None or http is None:
            return
        import sqlite3

        try:
            http.save(cache, complete=complete)
        except sqlite3.Error as exc:
            log.warning("HTTP cache of %s not saved: %s", cache.source, exc)

    async def _one(self, settings: dict[str, Any], http: Any = None) -> None:
        name, provider = settings["name"], settings["type"]
        started = datetime.now(timezone.utc)
        rows: list[Identity] = []
        connector = None
        state, error = "ok", ""
        t0 = time.monotonic()
        since = self.inventory.version     # actions from now on are newer than this collection
        cache = None
        try:
            # Importing an SDK takes a few hundred ms: off the loop, so fast sources start at once.
            connector = await asyncio.to_thread(make_connector, settings)
            cache = self._cache_for(http, connector, name)
            self.connectors[name] = connector
            await asyncio.wait_for(self._drain(connector, name, rows, since), timeout=settings.get("scan_timeout",
                                                                                             self.timeout))
        except (asyncio.TimeoutError, TimeoutError):
            error = f"timed out after {time.monotonic() - t0:.0f} s"
            state = "partial" if rows else "failed"
        except Exception as exc:  # noqa: BLE001 - one source must never stop the others
            log.debug("source %s failed: %s", name, type(exc).__name__)
            error = describe_error(exc)
            state = "partial" if rows else "failed"
        report = getattr(connector, "report", None)
        if report is not None:
            status = report.status(state, len(rows), started)
            if state == "ok" and (status.blind_spots or status.error):
                status = replace(status, state="partial")
            if error:
                status = replace(status, error=error)
        else:
            status = SourceStatus(name, provider, state=state, error=error, count=len(rows), started_at=started,
                                  finished_at=datetime.now(timezone.utc))
        if status.error:
            status = replace(status, error=REDACTOR.scrub(status.error))
        self._save_cache(http, cache, complete=status.state == "ok")
        self._settle(name, rows, status, state == "ok", stopped=bool(error and rows), since=since)

    def _settle(self, name: str, rows: list[Identity], status: SourceStatus, read_all: bool, stopped: bool,
                since: int | None) -> None:
        """Swap the source's rows for what this scan read (`read_all`: it ended without an error), and
        set its status.

        A failed source keeps what an earlier scan saw, flagged by its status, rather than showing an
        empty, clean-looking list. A source that stopped before its end (a spent rate-limit budget, a
        timeout) with rows read keeps the earlier rows it did not reach: they are unknown, not gone
        (its batches were already upserted), and its status says how many are shown.
        """
        if stopped:
            seen = {r.uid for r in rows}
            earlier = sum(1 for r in self.inventory.by_source(name) if r.uid not in seen)
            if earlier:
                status = replace(status, error=f"{status.error}; showing {earlier} rows of an earlier scan it did "
                                               "not reach".lstrip("; "))
        else:
            status = self._note_kept(status, read_all or bool(rows))
            if read_all or rows:
                self.inventory.replace_source(name, rows, since=since)
        self.inventory.set_status(status)
        self._changed(name)

    async def _one_process(self, settings: dict[str, Any]) -> None:
        from nhitui.collect_process import collect_in_process

        name = settings["name"]
        since = self.inventory.version

        read = 0

        def on_batch(batch: list[Identity]) -> None:
            nonlocal read
            read += len(batch)
            self.inventory.add(batch, since=since)
            self._count_so_far(name, read)
            self._changed(name)

        rows, status = await collect_in_process(settings, self.policy, self.timeout, self.cache_path, on_batch)
        self._settle(name, rows, status, status.state == "ok",
                     stopped=bool(status.error and rows and status.state == "partial"), since=since)

    def _note_kept(self, status: SourceStatus, replaced: bool) -> SourceStatus:
        """A source that failed outright keeps its earlier rows: its status says how many are shown."""
        kept = 0 if replaced else len(self.inventory.by_source(status.source))
        if not kept:
            return status
        return replace(status, error=f"{status.error}; showing the {kept} rows of an earlier scan".lstrip("; "))

    async def _drain(self, connector: Any, name: str, rows: list[Identity], since: int | None = None) -> None:
        async for batch in connector.collect():
            if not batch:
                continue
            scored = evaluate(batch, None, self.policy)
            rows.extend(scored)
            self.inventory.add(scored, since=since)
            self._count_so_far(name, len(rows))
            self._changed(name)

    def _count_so_far(self, name: str, count: int) -> None:
        """A running source's count is what it has read so far: its chip said 0 while its rows
        already filled the table."""
        status = self.inventory.statuses.get(name)
        if status is not None and status.state == "running":
            self.inventory.set_status(replace(status, count=count))


def scan(sources: list[dict[str, Any]], policy: Policy | None = None, timeout: float = 600.0,
         inventory: Inventory | None = None, cache_path: Path | None = None, processes: bool = False) -> Inventory:
    """Headless: collect every source, return the scored inventory."""
    inventory = inventory or Inventory()
    collector = Collector(inventory, sources, policy or Policy(), timeout, cache_path=cache_path,
                          processes=processes and len(sources) > 1)
    asyncio.run(collector.run())
    for warning in collector.warnings:
        log.warning("%s", warning)
    return inventory
