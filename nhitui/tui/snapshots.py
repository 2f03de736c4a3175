"""The TUI's side of scan history: record a finished scan, list snapshots, compute a diff.

Plain functions with no Textual import: the app runs them in worker threads. Each call opens the
history database, does its work and closes it again (an SQLite connection belongs to the thread
that made it), so a slow save of 100k rows never blocks the event loop.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nhitui.history import Diff, History, Snapshot
from nhitui.model import Identity, SourceStatus

BUSY = ("running", "pending")


@dataclass
class ScanRecord:
    """What recording one finished scan did.

    `new_uids` is None when there was no earlier snapshot to compare with (the first scan ever):
    then nothing is marked new, rather than everything.
    """

    previous: Snapshot | None = None
    new_uids: set[str] | None = None
    saved: int | None = None
    pruned: int = 0
    warnings: list[str] = field(default_factory=list)


def scan_finished(statuses: Mapping[str, SourceStatus]) -> bool:
    """Every source has an outcome (ok, partial or failed): a snapshot may be taken."""
    return bool(statuses) and not any(s.state in BUSY for s in statuses.values())


def record_scan(path: Path, rows: Iterable[Identity], statuses: Mapping[str, SourceStatus], *, save: bool = True,
                fingerprint: str = "", keep: int | None = None, keep_days: int | None = None) -> ScanRecord:
    """Read the newest snapshot's uids (what is new), then save this scan and prune (when `save`).

    With saving off, an existing history is still read for the `new` marker; none is created.
    """
    record = ScanRecord()
    rows = list(rows)
    if not save and not path.exists():
        return record
    db = History(path)
    try:
        record.warnings += db.warnings
        snaps = db.snapshots()
        if snaps:
            record.previous = snaps[0]
            before = db.uids(snaps[0].id)
            record.new_uids = {i.uid for i in rows if i.uid not in before}
        if save:
            record.saved = db.save(rows, statuses, config_fingerprint=fingerprint)
            record.pruned = db.prune(keep=keep, keep_days=keep_days)
    finally:
        db.close()
    return record


def list_snapshots(path: Path) -> tuple[list[Snapshot], list[str]]:
    """(snapshots newest first, warnings); no database is created when there is none."""
    if not path.exists():
        return [], []
    db = History(path)
    try:
        return db.snapshots(), list(db.warnings)
    finally:
        db.close()


def compute_diff(path: Path, old: int, new: int | None, rows: Iterable[Identity] = (),
                 statuses: Mapping[str, SourceStatus] | None = None) -> Diff:
    """Snapshot `old` against snapshot `new`, or against `rows` (the current inventory) when None."""
    db = History(path)
    try:
        if new is None:
            return db.diff_with(old, rows, statuses or {}, label="current scan")
        return db.diff(old, new)
    finally:
        db.close()


def source_states(summary: str) -> list[tuple[str, str]]:
    """A snapshot's `summary` ("a:ok, b:partial") as (source, state) pairs."""
    out: list[tuple[str, str]] = []
    for part in summary.split(", ") if summary else ():
        name, sep, state = part.rpartition(":")
        out.append((name, state) if sep else (part, ""))
    return out


def changed_fields(old: Mapping[str, Any], new: Mapping[str, Any], limit: int = 6) -> list[tuple[str, str, str]]:
    """(field, old, new) of the compared fields that differ, as text."""
    keys = ("name", "owner", "target", "privilege", "scopes", "status", "created_at", "expires_at",
            "last_used_at", "credential", "stale", "findings")
    out = []
    for key in keys:
        a, b = old.get(key), new.get(key)
        if a != b:
            out.append((key, _text(a), _text(b)))
    return out[:limit]


def _text(value: Any) -> str:
    if value is None or value == "" or value == []:
        return "\u2014"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return str(value)
