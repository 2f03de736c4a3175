"""The journal mirror: every local journal record also lands in the team store, with its actor.

The local file stays first and authoritative: `Journal.append` fsyncs the line before anything
here runs, and nothing here can fail an action. After each append (and when nhitui starts) the
mirror sends the lines written since its watermark — a byte offset kept beside the journal, per
store — and advances the watermark only once the store committed them. A store that is down
therefore blocks nothing and loses nothing: the next sync resends what it is unsure of, and the
store skips lines it already has (each line's key is its host and digest).
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nhitui.journal import Journal, operator


class JournalMirror:
    def __init__(self, journal: Journal, open_store: Callable[[], Any], store_id: str, actor: str = "") -> None:
        self.journal = journal
        self.open_store = open_store
        self.actor = actor or operator()
        self.host = socket.gethostname()
        digest = hashlib.sha256(store_id.encode()).hexdigest()[:12]
        self.mark = journal.path.with_name(f"{journal.path.name}.mirrored-{digest}")
        self.last_error = ""
        self._lock = threading.Lock()

    def _offset(self) -> int:
        try:
            return int(self.mark.read_text().strip() or 0)
        except (OSError, ValueError):
            return 0

    def _save_offset(self, offset: int) -> None:
        tmp = self.mark.with_name(self.mark.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(str(offset))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.mark)

    def pending(self) -> list[tuple[int, str, dict[str, Any]]]:
        """(end offset, key, record) of each complete local line not yet mirrored."""
        path: Path = self.journal.path
        if not path.exists():
            return []
        start = self._offset()
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if start > size:          # the journal was replaced: resend it (the store skips duplicates)
                start = 0
            fh.seek(start)
            data = fh.read()
        out = []
        pos = start
        for raw in data.split(b"\n")[:-1]:      # the last piece is "" or an unfinished line
            pos += len(raw) + 1
            try:
                record = json.loads(raw)
            except ValueError:
                continue                         # a torn line (see Journal): never mirrored
            if isinstance(record, dict):
                key = f"{self.host}:{hashlib.sha256(raw).hexdigest()}"
                out.append((pos, key, {**record, "actor": record.get("actor") or self.actor, "host": self.host}))
        return out

    def sync(self) -> bool:
        """Send what is pending; False (with `last_error`) when the store is unreachable."""
        with self._lock:
            todo = self.pending()
            if not todo:
                return True
            try:
                store = self.open_store()
                try:
                    store.mirror(((key, rec) for _, key, rec in todo), self.actor, self.host)
                finally:
                    store.close()
            except Exception as exc:  # noqa: BLE001 - a store outage must never fail an action
                self.last_error = f"journal not mirrored to the team store yet ({len(todo)} records pending): " \
                                  f"{str(exc)[:200]}"
                return False
            self._save_offset(todo[-1][0])
            self.last_error = ""
            return True
