"""The append-only audit journal: one JSON line per intent and per result, flushed and fsynced.

Written before and after every provider call so a crash leaves intents without results: exactly
the actions whose outcome is unknown. Created 0600. A torn last line (killed mid-write) is
reported and skipped, never fatal. Records carry no secret: the writer refuses keys that could.
"""

from __future__ import annotations

import getpass
import json
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from nhitui.model import iso

FORBIDDEN_KEYS = {"token", "secret", "password", "value", "credential_value"}


def default_path() -> Path:
    from nhitui.config import state_dir

    return state_dir() / "journal.jsonl"


def operator() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid()) if hasattr(os, "getuid") else "unknown"


@dataclass
class Reading:
    records: list[dict[str, Any]] = field(default_factory=list)
    corrupt: list[int] = field(default_factory=list)


class Journal:
    """Append JSON Lines to `path` with fsync; thread-safe within a process."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path else default_path()
        self._lock = threading.Lock()
        # Called after each fsynced append (the team-store mirror); they must never raise.
        self.listeners: list[Callable[[], None]] = []

    def append(self, record: dict[str, Any]) -> dict[str, Any]:
        bad = FORBIDDEN_KEYS & record.keys()
        if bad:
            raise ValueError(f"journal records never hold secrets: {sorted(bad)}")
        full = {"time": iso(datetime.now(timezone.utc)), "operator": operator(), **record}
        line = json.dumps(full, ensure_ascii=False, separators=(",", ":")) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                self._repair_tail(fd)
                os.write(fd, line.encode("utf-8"))
                os.fsync(fd)
            finally:
                os.close(fd)
        for listener in self.listeners:
            listener()
        return full

    def _repair_tail(self, fd: int) -> None:
        """After a crash mid-write the file may end without a newline: start our line on a fresh one."""
        size = os.fstat(fd).st_size
        if size == 0:
            return
        with open(self.path, "rb") as fh:
            fh.seek(size - 1)
            if fh.read(1) != b"\n":
                os.write(fd, b"\n")

    def read(self) -> Reading:
        reading = Reading()
        if not self.path.exists():
            return reading
        with open(self.path, "rb") as fh:
            for number, raw in enumerate(fh, start=1):
                if not raw.strip():
                    continue
                try:
                    record = json.loads(raw.decode("utf-8"))
                    if not isinstance(record, dict):
                        raise ValueError("not an object")
                except (ValueError, UnicodeDecodeError):
                    reading.corrupt.append(number)
                    continue
                reading.records.append(record)
        return reading

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.read().records)

    def pending(self) -> list[dict[str, Any]]:
        """Intents with no later result for the same plan, uid and action: outcome unknown.

        A re-run of a plan after a crash settles an interrupted intent with its own attempt.
        """
        intents: dict[tuple[Any, Any, Any], list[dict[str, Any]]] = {}
        for r in self.read().records:
            key = (r.get("plan"), r.get("uid"), r.get("action"))
            if r.get("event") == "intent":
                intents.setdefault(key, []).append(r)
            elif r.get("event") == "result":
                intents.pop(key, None)
        return [r for group in intents.values() for r in group]

    def done(self, plan_id: str) -> set[tuple[str, str]]:
        """(uid, action) pairs of a plan that finished ok or already-absent."""
        return {(r["uid"], r["action"]) for r in self.read().records
                if r.get("event") == "result" and r.get("plan") == plan_id
                and r.get("result") in ("ok", "already-absent")}
