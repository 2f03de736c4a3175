"""Open the last saved snapshot at once, a chunk at a time, while a fresh scan starts behind it.

Why: at 100k identities a full scan takes minutes (hours inside GitHub's documented limits); the
responder needs the inventory now. The TUI shows the newest snapshot of the local history first,
each source marked with the snapshot's age, and the refresh replaces rows in place as sources
finish (a source whose refresh fails keeps its snapshot rows, marked failed). `--fresh` skips it.

What makes it fast (issue 19: first rows < 0.5 s after launch at 100k rows):
- `prefetch` starts in the launcher before Textual is imported: the database is opened read-only
  (no integrity check of the whole file: a damaged file fails the read, and the next save moves it
  aside), and SQLite picks the first chunk while the interpreter imports the UI. SQLite runs
  without the GIL, so on a second core that costs the launch nothing.
- The first chunk is small and holds the snapshot's most urgent rows in the table's default
  "attention" order (severity, stale, oldest last use; nhitui/tui/view.py), so the first screen is
  the final one; later rows sort in below it. The order is computed inside SQLite from the stored
  `findings` and `last_used_at` columns (staleness is read from the findings, as the policy sets it),
  once, when the snapshot is saved (`save_head`): at 100k rows that ranking takes ~0.25 s.
- The launcher draws those rows before Textual is even imported (nhitui/tui/prepaint.py).
- Rows are decoded straight from the stored JSON arrays with shared Finding objects and parsed
  times: about twice as fast as the general store decoder, and still through `Identity`, which
  sanitises the text (the file could have been tampered with).
- Each statement returns one row (json_group_array, group_concat): every returned row is a GIL
  hand-over with the thread importing or painting the UI. Later chunks double in size (few
  repaints and facet recounts over the whole table), and the TUI decodes the second chunk only
  after the first rows are on screen.
What remains of the launch is the UI's own start (Textual and nhitui imports, first paint):
benchmarks/bench_open.py prints it as "first frame, --fresh" beside the first rows.

Rows come back as the exported columns (the history does not keep provider details), so their
findings carry the rule's title, not the scan-time explanation, until the refresh rescores them.
"""

from __future__ import annotations

import array
import bisect
import itertools
import json
import operator
import sqlite3
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from nhitui.model import COLUMNS, BlindSpot, Finding, Identity, SourceStatus, utc
from nhitui.store.rows import cached_time

FIRST = 200      # the first chunk: more rows than the tallest screen shows
START = 2000     # the second chunk; each later one doubles, up to CHUNK
CHUNK = 25_000   # the largest: the TUI adds a chunk in one go (~50 ms at this size) and then
                 # repaints and recounts facets over every row, so few large chunks cost far less
                 # than many small ones (20 chunks of 5,000 took 3x the CPU of the decode itself)
SLICE = 2500     # rows decoded between two `pause` calls (~60 ms of one core)
_TIMES_LIMIT = 50_000    # bounded caches: hostile rows cannot grow them without limit


class SnapshotReader:
    """The newest snapshot of a history file: its statuses, then its rows in chunks, most urgent
    first. One thread at a time (the connection may be handed from the prefetch thread over)."""

    def __init__(self, db: sqlite3.Connection, snap: int, taken_at: str, members: Any) -> None:
        self.db = db
        self.snap = snap
        self.taken_at = utc(taken_at) or datetime.now(timezone.utc)
        self.members = members
        self._first: list[int] | None = None
        self._first_rows: list[Identity] | None = None
        self._decoder = _RowDecoder()

    @classmethod
    def open(cls, path: Path) -> SnapshotReader | None:
        """The reader of `path`'s newest snapshot (None without one); a prefetch of `path` in
        flight is waited for and handed over."""
        pending = _take_prefetch(Path(path))
        if pending is not None:
            return pending.result()
        return cls._open(Path(path))

    @classmethod
    def _open(cls, path: Path) -> SnapshotReader | None:
        if not path.exists():
            return None
        from nhitui.history_db import SCHEMA_VERSION, _unpack

        db = _read_only(path)
        try:
            if db.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
                db.close()
                _migrate(path)          # an older schema: migrated once, as any history use would
                db = _read_only(path)
            row = db.execute("SELECT id, taken_at, members FROM snapshots ORDER BY id DESC LIMIT 1").fetchone()
        except BaseException:
            db.close()
            raise
        if row is None:
            db.close()
            return None
        return cls(db, row[0], row[1], _unpack(row[2]))

    @property
    def age(self) -> str:
        minutes = int((datetime.now(timezone.utc) - self.taken_at).total_seconds() // 60)
        if minutes < 60:
            return f"{minutes} min"
        if minutes < 48 * 60:
            return f"{minutes // 60} h"
        return f"{minutes // 1440} days"

    def statuses(self) -> list[SourceStatus]:
        out = []
        note = f"rows from the snapshot of {self.taken_at:%Y-%m-%d %H:%M} UTC ({self.age} old)"
        for name, provider, state, error, count, spots in self.db.execute(
                "SELECT name, provider, state, error, count, blind_spots FROM sources WHERE snapshot_id = ?",
                (self.snap,)):
            blind = tuple(BlindSpot(b["what"], b["reason"]) for b in json.loads(spots or "[]"))
            out.append(SourceStatus(source=name, provider=provider, state=state or "ok", error=error or "",
                                    count=count or 0, blind_spots=blind, finished_at=self.taken_at,
                                    facts={"snapshot_taken_at": self.taken_at.isoformat(), "note": note}))
        return out

    def first_keys(self, size: int = FIRST) -> list[int]:
        """The keys of the `size` most urgent rows, in attention order: stored with the snapshot, else
        computed once."""
        if self._first is None:
            self._first = _stored_head(self.db, self.snap, self.members)
        if self._first is None or len(self._first) < min(size, len(self.members)):
            self._first = _urgent(self.db, self.members, size)
            self._first_rows = None
        return self._first[:size]

    def first_rows(self, size: int = FIRST) -> list[Identity]:
        keys = self.first_keys(size)
        if self._first_rows is None or len(self._first_rows) != len(keys):
            self._first_rows = self._decode(keys)
        return self._first_rows

    def chunks(self, size: int | None = None, first: int = FIRST,
               pause: Callable[[], None] | None = None) -> Iterator[list[Identity]]:
        """The most urgent `first` rows, then every other row in chunks that double from START up
        to `size` (default CHUNK) rows: each row once. `pause` is called after every SLICE rows
        decoded, so the caller can let a busy UI thread have the GIL (see the TUI's loader)."""
        size = size or CHUNK
        head = self.first_rows(first)
        if head:
            yield head
        done = set(self.first_keys(first))
        rest = list(itertools.filterfalse(done.__contains__, dict.fromkeys(self.members)))
        n, step = 0, min(START, size)
        while n < len(rest):
            chunk: list[Identity] = []
            for m in range(n, min(n + step, len(rest)), SLICE):
                chunk += self._decode(rest[m:min(m + SLICE, n + step)])
                if pause is not None:
                    pause()
            yield chunk
            n, step = n + step, min(step * 2, size)

    def _decode(self, keys: list[int]) -> list[Identity]:
        """Identities of `keys`, in the order given. One statement, one result row: each row a
        statement returns is a GIL hand-over between the loading thread and the one painting the UI,
        and those hand-overs cost more than the reading."""
        from nhitui.store.rows import paused_gc

        if not keys:
            return []
        decode = self._decoder.identity
        try:
            ids, blob = self.db.execute(
                f"SELECT group_concat(id), '[' || group_concat(CAST(data AS TEXT), ',') || ']' FROM rows "
                f"WHERE {_MEMBERS}", (str(keys),)).fetchone()
            fetched = [] if ids is None else [(map(int, ids.split(",")), json.loads(blob))]
        except (sqlite3.OperationalError, sqlite3.DataError):
            # A chunk longer than SQLite's string limit (huge rows), or an SQLite without its JSON
            # functions: the rows one statement of 900 keys at a time, as the history reads them.
            from nhitui.history import _select_rows

            fetched = [(map(operator.itemgetter(0), part),
                        json.loads(b"[" + b",".join(d if isinstance(d, bytes) else str(d).encode()
                                                    for _, d in part) + b"]"))
                       for part in _select_rows(self.db, "id, data", keys)]
        by_key: dict[int, Identity] = {}
        with paused_gc():
            for ids_of, values in fetched:
                by_key.update(zip(ids_of, map(decode, values)))
        return [by_key[k] for k in keys if k in by_key]

    def close(self) -> None:
        self.db.close()


# --- the first chunk: the most urgent rows, picked inside SQLite -------------------------------------

_MEMBERS = "id IN (SELECT value FROM json_each(?))"


def _rank(findings: str) -> tuple[int, int]:
    """(severity index, stale) of a stored findings column, as `attention_key` ranks the decoded row:
    a rule the policy no longer knows is `info` (see `nhitui.store.rows._history_findings`)."""
    from nhitui.history_db import LIST_SEP
    from nhitui.model import SEVERITIES
    from nhitui.policy import RULES, STALE_RULES

    rules = [r for r in findings.split(LIST_SEP) if r]
    severity = max((SEVERITIES.index(RULES[r].severity) if r in RULES else 0 for r in rules), default=-1)
    return severity, int(any(r in STALE_RULES for r in rules))


def _urgent(db: sqlite3.Connection, members: Any, size: int) -> list[int]:
    """Keys of the `size` most urgent member rows: severity, then stale, then the oldest last use
    (never used first). Two SQLite passes, no row decoded: count the members per distinct findings
    value (few distinct values), rank those in Python, then order only the rows of the top classes."""
    if size <= 0 or not len(members):
        return []
    try:
        return _ranked(db, members, size)
    except (sqlite3.OperationalError, sqlite3.DataError):
        # An SQLite without its JSON functions, or a string limit below the key list: key order.
        return list(dict.fromkeys(members))[:size]


def _ranked(db: sqlite3.Connection, members: Any, size: int) -> list[int]:
    keys = str(members.tolist())       # a JSON array of integers, for json_each
    # One result row per statement (json_group_array): see `SnapshotReader._decode`.
    groups = json.loads(db.execute(
        f"SELECT json_group_array(json_array(f, n)) FROM (SELECT coalesce(findings, '') AS f, count(*) AS n "
        f"FROM rows WHERE {_MEMBERS} GROUP BY f)", (keys,)).fetchone()[0])
    ranked = sorted(((_rank(f), f, n) for f, n in groups), key=lambda g: g[0], reverse=True)
    classes: dict[tuple[int, int], int] = {}
    chosen: list[tuple[str, int]] = []
    total = 0
    for rank, findings, n in ranked:
        if total >= size and rank not in classes:
            break
        classes.setdefault(rank, len(classes))
        chosen.append((findings, classes[rank]))
        total += n
    # Within a class: the oldest last use first; never used ('' or NULL) sorts before any time.
    order: list[tuple[int, str, int]] = []
    for start in range(0, len(chosen), 400):       # older SQLite builds cap a statement at 999 parameters
        part = chosen[start:start + 400]
        case = " ".join("WHEN ? THEN ?" for _ in part)
        params: list[Any] = [*itertools.chain.from_iterable(part), keys, *(f for f, _ in part), size]
        found = db.execute(
            f"SELECT json_group_array(json_array(class, used, id)) FROM (SELECT id, CASE coalesce(findings, '') "
            f"{case} END AS class, coalesce(last_used_at, '') AS used FROM rows WHERE {_MEMBERS} "
            f"AND coalesce(findings, '') IN ({','.join('?' * len(part))}) ORDER BY class, used, id LIMIT ?)",
            params).fetchone()[0]
        order += [tuple(r) for r in json.loads(found)]
    order.sort()
    return [k for _, _, k in order[:size]]


# --- the stored head: the first chunk's keys, picked when the snapshot is saved ---------------------

_HEADS_DDL = "CREATE TABLE IF NOT EXISTS heads (snapshot_id INTEGER PRIMARY KEY, keys BLOB NOT NULL)"


def save_head(db: sqlite3.Connection, snap: int, keys: list[int]) -> None:
    """Store the keys of snapshot `snap`'s FIRST most urgent rows, inside the save's transaction.

    Ranking 100k rows in SQLite takes ~0.25 s, which is half the launch budget; at save time it is a
    small part of a save that takes seconds, and the order depends on nothing that changes later (the
    findings and last use stored with each row), so opening reads a few hundred bytes instead. The
    table is a cache of derived data, so it has no schema version of its own: an older nhitui ignores
    it, and a snapshot saved without one is ranked when it is opened, as before."""
    from nhitui.history_db import _pack

    db.execute(_HEADS_DDL)
    head = _urgent(db, array.array("q", keys), FIRST)
    db.execute("INSERT OR REPLACE INTO heads(snapshot_id, keys) VALUES (?, ?)", (snap, _pack(head)))


def drop_heads(db: sqlite3.Connection, snaps: Iterable[int]) -> None:
    db.execute(_HEADS_DDL)
    db.executemany("DELETE FROM heads WHERE snapshot_id = ?", [(s,) for s in snaps])


def _stored_head(db: sqlite3.Connection, snap: int, members: Any) -> list[int] | None:
    """The stored head, if every key in it is a member of the snapshot (members are stored sorted)."""
    from nhitui.history_db import _unpack

    try:
        row = db.execute("SELECT keys FROM heads WHERE snapshot_id = ?", (snap,)).fetchone()
        head = None if row is None else _unpack(row[0]).tolist()
    except (sqlite3.Error, zlib.error, ValueError, TypeError):   # no such table (older file), damaged blob
        return None
    n = len(members)
    if head is None or len(set(head)) != len(head):
        return None
    for k in head:
        i = bisect.bisect_left(members, k)
        if i == n or members[i] != k:
            return None
    return head


# --- decoding ---------------------------------------------------------------------------------------



class _RowDecoder:
    """Identities from history rows (JSON arrays in `COLUMNS` order), sharing Finding objects and
    parsed times across rows. Anything unusual (a tampered row) goes through the general decoder."""

    def __init__(self) -> None:
        self.findings: dict[tuple[str, ...], tuple[Finding, ...]] = {}
        self.times: dict[str, datetime | None] = {"": None}
        self._general: Any = None

    def identity(self, values: Any) -> Identity:
        try:
            return self._fast(values)
        except (TypeError, ValueError, AttributeError):
            return self.general(values)

    def general(self, values: Any) -> Identity:
        from nhitui.store.rows import Decoder

        if self._general is None:
            self._general = Decoder()
        doc = dict(zip(COLUMNS, values)) if isinstance(values, list) else values
        return self._general.general(doc)

    def _fast(self, values: list[Any]) -> Identity:
        (uid, source, provider, kind, name, owner, target, scopes, privilege, created, expires, used, status,
         credential, stale, findings, actions, url) = values
        if (scopes.__class__ is not list or findings.__class__ is not list or actions.__class__ is not list
                or stale.__class__ is not bool or uid.__class__ is not str):
            raise TypeError
        rules = tuple(findings)
        shared = self.findings.get(rules)
        if shared is None:
            shared = _findings(rules)
            if len(self.findings) < _TIMES_LIMIT:
                self.findings[rules] = shared
        time = self._time
        # Positional, in Identity's field order (COLUMNS, then usage_tracked and details): a
        # keyword call costs a fifth of the row here.
        return Identity(
            uid, str(source), str(provider), str(kind), str(name), str(owner), str(target),
            tuple(map(str, scopes)), str(privilege or "none"), time(created), time(expires), time(used),
            str(status or "active"), str(credential or "static"), stale, shared, tuple(map(str, actions)),
            str(url), True, {"from_store": True})

    def _time(self, value: Any) -> datetime | None:
        if value.__class__ is not str:
            raise TypeError
        return cached_time(value, self.times, _TIMES_LIMIT)


def _findings(rules: tuple[Any, ...]) -> tuple[Finding, ...]:
    from nhitui.store.rows import _history_findings

    return _history_findings({"findings": list(rules)})


# --- the read-only connection, and the prefetch -----------------------------------------------------

def _read_only(path: Path) -> sqlite3.Connection:
    # check_same_thread off: the prefetch thread opens it, the TUI's loader thread reads on (never both).
    return sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True, check_same_thread=False)


def _migrate(path: Path) -> None:
    from nhitui.history import History

    History(path).close()


class _Prefetch:
    """`SnapshotReader._open(path)` and its first chunk, computed in a daemon thread."""

    def __init__(self, path: Path, size: int) -> None:
        self.reader: SnapshotReader | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(path, size), name="nhitui-snapshot-prefetch",
                                       daemon=True)
        self.thread.start()

    def _run(self, path: Path, size: int) -> None:
        try:
            self.reader = SnapshotReader._open(path)
            if self.reader is not None:
                self.reader.first_rows(size)
        except BaseException as exc:  # noqa: BLE001 - handed to the reader's user, who reports it
            self.error = exc

    def result(self) -> SnapshotReader | None:
        self.thread.join()
        if self.error is not None:
            raise self.error
        return self.reader


_prefetches: dict[Path, _Prefetch] = {}
_lock = threading.Lock()


def prefetch(path: Path, size: int = FIRST) -> None:
    """Start opening `path`'s newest snapshot and picking its first chunk now, in a thread; the next
    `SnapshotReader.open(path)` takes it over. For the launcher, before it imports the UI."""
    path = _where(path)
    with _lock:
        if path not in _prefetches:
            _prefetches[path] = _Prefetch(path, size)


def peek(path: Path) -> SnapshotReader | None:
    """The prefetched reader of `path` once its first chunk is read, left for `SnapshotReader.open`
    to take over (None without a prefetch, a snapshot, or on an error: the TUI reports that one)."""
    with _lock:
        pending = _prefetches.get(_where(path))
    if pending is None:
        return None
    pending.thread.join()
    return pending.reader if pending.error is None else None


def _take_prefetch(path: Path) -> _Prefetch | None:
    if not _prefetches:
        return None
    with _lock:
        return _prefetches.pop(_where(path), None)


def _where(path: Path) -> Path:
    return Path(path).expanduser().resolve()

