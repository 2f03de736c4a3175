"""Run every configured connector concurrently and stream their batches into the inventory.

One failing source never stops the others: its exception becomes a `failed` (or `partial`, when
some pages arrived) status with the reason, with any credential value scrubbed from the message.
A source's rows are swapped in atomically when it finishes, so rows that vanished at the
provider vanish here too; while it runs, batches are upserted as they arrive for the TUI.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

from nhitui import credentials
from nhitui.inventory import Inventory
from nhitui.model import Identity, SourceStatus
from nhitui.policy import Policy, evaluate

log = logging.getLogger("nhitui.collect")

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


def make_connector(settings: dict[str, Any], resolve: Callable[[str], str] | None = None) -> Any:
    from connectors import connector_class

    cls = connector_class(settings["type"])
    return cls(settings, resolve or REDACTOR.resolve)


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

    def _changed(self, source: str) -> None:
        if self.on_change is not None:
            self.on_change(source)

    async def run(self, only: Iterable[str] | None = None) -> dict[str, SourceStatus]:
        wanted = set(only) if only else None
        chosen = [s for s in self.sources if s.get("enabled", True) and (wanted is None or s["name"] in wanted)]
        for s in chosen:
            self.inventory.set_status(SourceStatus(s["name"], s["type"], state="running",
                                                   started_at=datetime.now(timezone.utc)))
        await asyncio.gather(*(self._one(s) for s in chosen))
        self.rescore()
        return {s["name"]: self.inventory.statuses[s["name"]] for s in chosen}

    def rescore(self) -> None:
        """Re-run the policy over everything: cross-source rules need the whole inventory."""
        self.inventory.replace_all(evaluate(self.inventory.rows, self.inventory.statuses, self.policy))

    async def _one(self, settings: dict[str, Any]) -> None:
        name, provider = settings["name"], settings["type"]
        started = datetime.now(timezone.utc)
        rows: list[Identity] = []
        connector = None
        state, error = "ok", ""
        t0 = time.monotonic()
        try:
            connector = make_connector(settings)
            self.connectors[name] = connector
            await asyncio.wait_for(self._drain(connector, name, rows), timeout=settings.get("scan_timeout",
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
        if state == "ok" or rows:
            # A failed source keeps what an earlier scan saw, flagged by its status, rather than
            # showing an empty, clean-looking list.
            self.inventory.replace_source(name, rows)
        self.inventory.set_status(status)
        self._changed(name)

    async def _drain(self, connector: Any, name: str, rows: list[Identity]) -> None:
        async for batch in connector.collect():
            if not batch:
                continue
            scored = evaluate(batch, None, self.policy)
            rows.extend(scored)
            self.inventory.add(scored)
            self._changed(name)


def scan(sources: list[dict[str, Any]], policy: Policy | None = None, timeout: float = 600.0,
         inventory: Inventory | None = None) -> Inventory:
    """Headless: collect every source, return the scored inventory."""
    inventory = inventory or Inventory()
    collector = Collector(inventory, sources, policy or Policy(), timeout)
    asyncio.run(collector.run())
    return inventory
