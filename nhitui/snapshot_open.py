"""Open the last saved snapshot at once, a chunk at a time, while a fresh scan starts behind it.

Why: at 100k identities a full scan takes minutes (hours inside GitHub's documented limits); the
responder needs the inventory now. The TUI shows the newest snapshot of the local history first,
each source marked with the snapshot's age, and the refresh replaces rows in place as sources
finish (a source whose refresh fails keeps its snapshot rows, marked failed). `--fresh` skips it.

Rows come back as the exported columns (the history does not keep provider details), so their
findings carry the rule's title, not the scan-time explanation, until the refresh rescores them.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from nhitui.model import BlindSpot, Identity, SourceStatus, utc
from nhitui.store.rows import from_doc

CHUNK = 4000


class SnapshotReader:
    """The newest snapshot of a history file: its statuses, then its rows in chunks (one thread)."""

    def __init__(self, history: Any, snap: Any) -> None:
        self.history = history
        self.snap = snap
        self.taken_at = utc(snap.taken_at) or datetime.now(timezone.utc)

    @classmethod
    def open(cls, path: Path) -> SnapshotReader | None:
        if not Path(path).exists():
            return None
        from nhitui.history import History

        history = History(path)
        snaps = history.snapshots()
        if not snaps:
            history.close()
            return None
        return cls(history, snaps[0])

    @property
    def age(self) -> str:
        minutes = int((datetime.now(timezone.utc) - self.taken_at).total_seconds() // 60)
        if minutes < 60:
            return f"{minutes} min"
        if minutes < 48 * 60:
            return f"{minutes // 60} h"
        return f"{minutes // 1440} days"

    def statuses(self) -> list[SourceStatus]:
        import json

        out = []
        for name, provider, state, error, count, spots in self.history.db.execute(
                "SELECT name, provider, state, error, count, blind_spots FROM sources WHERE snapshot_id = ?",
                (self.snap.id,)):
            note = f"rows from the snapshot of {self.taken_at:%Y-%m-%d %H:%M} UTC ({self.age} old)"
            blind = tuple(BlindSpot(b["what"], b["reason"]) for b in json.loads(spots or "[]"))
            out.append(SourceStatus(source=name, provider=provider, state=state or "ok", error=error or "",
                                    count=count or 0, blind_spots=blind, finished_at=self.taken_at,
                                    facts={"snapshot_taken_at": self.taken_at.isoformat(), "note": note}))
        return out

    def chunks(self, size: int = CHUNK) -> Iterator[list[Identity]]:
        from nhitui.history import _decode_rows

        keys = list(self.history._members(self.snap.id))
        for n in range(0, len(keys), size):
            rows = _decode_rows(self.history.db, keys[n:n + size])
            yield [from_doc(r) for r in rows.values()]

    def close(self) -> None:
        self.history.close()
