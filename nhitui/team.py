"""Team mode glue for the CLI and the TUI: which store to use, and what goes to it.

A store is selected by `--store URL`, else `[store] url`. Its password, when not in libpq's own
places (PGPASSWORD, ~/.pgpass), is a credential reference (`[store] password = "env:…"`), resolved
here and never written anywhere. Scanners save one snapshot per source; responders load the
merged current inventory; every journal line is mirrored with the actor (OS user, host,
`--actor`), after the local fsynced write and without ever blocking it.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from nhitui.inventory import Inventory
from nhitui.journal import Journal
from nhitui.model import SourceStatus


def store_url(args: Any, cfg: Any) -> str:
    return str(getattr(args, "store", None) or getattr(cfg, "store_url", "") or "")


def open_team_store(url: str, cfg: Any) -> Any:
    from nhitui.credentials import resolve
    from nhitui.store import StoreConfigError, open_store
    from nhitui.store.postgres import StoreError

    ref = getattr(cfg, "store_password", "") or ""
    try:
        return open_store(url, password=resolve(ref) if ref else None)
    except (StoreConfigError, StoreError) as exc:
        raise TeamStoreError(str(exc)) from None


class TeamStoreError(Exception):
    """The team store cannot be used; one line for the user."""


def save_scan(store: Any, rows: list[Any], statuses: Mapping[str, SourceStatus]) -> list[int]:
    return store.save(rows, statuses)


def _noted(status: SourceStatus) -> SourceStatus:
    age = status.facts.get("snapshot_taken_at", "")
    note = f"team store snapshot of {age[:16].replace('T', ' ')} UTC" if age else "team store"
    return replace(status, facts={**status.facts, "note": note})


def load_inventory(store: Any) -> Inventory:
    """The team's current inventory, each source's status carrying its snapshot's age."""
    rows, statuses = store.load_current()
    inventory = Inventory()
    inventory.add(rows)
    for status in statuses.values():
        inventory.set_status(_noted(status))
    return inventory


class StoreReader:
    """The team store seen like a local snapshot (nhitui/snapshot_open.py): statuses, then rows in
    chunks, so the TUI shows the first rows of a 100k inventory at once and the rest streams in."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def statuses(self) -> list[SourceStatus]:
        return [_noted(s) for s in self.store.statuses().values()]

    def chunks(self, size: int = 4000) -> Any:
        return self.store.stream_current(size)

    def close(self) -> None:
        self.store.close()


def attach_mirror(journal: Journal, url: str, cfg: Any, actor: str = "") -> Any:
    """Mirror `journal` to the store after every append; catch up what an earlier outage left."""
    from nhitui.store.mirror import JournalMirror

    mirror = JournalMirror(journal, lambda: open_team_store(url, cfg), store_id=url, actor=actor)

    def after_append() -> None:
        if not mirror.sync():
            print(f"nhitui: {mirror.last_error}", file=sys.stderr)

    journal.listeners.append(after_append)
    mirror.sync()
    return mirror
