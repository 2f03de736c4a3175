"""Scan snapshots in SQLite, and the diff between two of them.

Rows are content-addressed: each distinct version of an identity is stored once and a snapshot is
a compressed array of row keys, so fifty scans of a mostly unchanged org cost little more than one.
A key's high 32 bits hash the identity's uid and its low 32 bits hash the version, which lets a diff
pair the old and new version of each identity from the two key arrays alone. The fields a reviewer
tracks (`nhitui.diff.TRACKED`) are columns of `rows`, so SQLite compares the pairs and Python only
decodes the rows that were added or removed; changed rows are decoded when someone looks at them.
A source that was partial or failed in the newer scan never turns its missing rows into "removed":
they are reported as unknown.

The same file holds the HTTP cache of conditional requests (`nhitui.http_cache`); both open it
through `nhitui.history_db`, which owns the schema and its migrations.
"""

from __future__ import annotations

import array
import hashlib
import itertools
import json
import operator
import sqlite3
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from nhitui.diff import (
    BIT,
    TRACKED,
    Change,
    Diff,
    DiffError,
    compare,
    describe,
    load_export,
    render_diff,
    split_gone,
)
from nhitui.export import row_values
from nhitui.history_db import (
    LIST_SEP,
    SCHEMA_VERSION,
    Database,
    HistoryError,
    _key,
    _pack,
    _tracked,
    _unpack,
    default_path,
)
from nhitui.http_cache import HttpCache
from nhitui.model import COLUMNS, SourceStatus, iso
from nhitui.snapshot_open import drop_heads, save_head
from nhitui.store.rows import paused_gc

__all__ = ["SCHEMA_VERSION", "Change", "Diff", "History", "HistoryError", "HttpCache", "Snapshot", "default_path",
           "render_diff"]

UID_MISMATCH = 1 << len(TRACKED)
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


@dataclass
class Snapshot:
    id: int
    taken_at: str
    count: int
    summary: str
    config: str = ""


def _encode(identities: Iterable[Any]) -> tuple[list[dict[str, Any]], list[bytes], list[int]]:
    """(exported values, stored row, row key) of each identity: what a save stores and a diff
    against the live inventory compares."""
    values = [row_values(i) for i in identities]
    blobs = [_dumps(list(v.values())).encode() for v in values]
    return values, blobs, [_key(v["uid"], b) for v, b in zip(values, blobs)]


def _items(text: str | None) -> set[str]:
    return set(text.split(LIST_SEP)) - {""} if text else set()


# Viewed as 32-bit integers, a 64-bit key is its low half then its high (uid) half on a
# little-endian machine: slicing that view yields every key's uid half without a Python loop.
_HIGH = 1 if sys.byteorder == "little" else 0


def _sorted(keys: array.array) -> array.array:
    """Snapshots store their keys sorted; sorting is then a linear check (older snapshots were not)."""
    return array.array("q", sorted(keys))


def _halves(keys: array.array) -> array.array:
    if array.array("i").itemsize == 4:
        return array.array("i", keys.tobytes())[_HIGH::2]
    return array.array("q", map(operator.rshift, keys, itertools.repeat(32)))


def _split(keys: array.array, halves: array.array, lone: set[int]) -> tuple[array.array, list[int]]:
    """(the keys whose uid half is not in `lone`, the keys whose half is)."""
    flags = list(map(lone.__contains__, halves))
    return array.array("q", itertools.compress(keys, map(operator.not_, flags))), list(itertools.compress(keys, flags))


def _select_rows(db: sqlite3.Connection, columns: str, keys: Iterable[int]) -> Iterator[list[Any]]:
    """`SELECT columns FROM rows` for `keys`, a chunk at a time: older SQLite builds cap a statement
    at 999 parameters, and keys in order read the table in order."""
    ordered = sorted(keys)
    for n in range(0, len(ordered), 900):
        chunk = ordered[n:n + 900]
        yield db.execute(f"SELECT {columns} FROM rows WHERE id IN ({','.join('?' * len(chunk))})", chunk).fetchall()


def _decode_rows(db: sqlite3.Connection, keys: Iterable[int]) -> dict[int, dict[str, Any]]:
    """Rows by key. Parsed a chunk at a time as one JSON array, with the garbage collector paused:
    row-by-row parsing of 100k small documents spends most of its time in allocation and GC."""
    out: dict[int, dict[str, Any]] = {}
    with paused_gc():
        for fetched in _select_rows(db, "id, data", keys):
            blob = b"[" + b",".join(bytes(d) if not isinstance(d, str) else d.encode() for _, d in fetched) + b"]"
            for (k, _), values in zip(fetched, json.loads(blob)):
                out[k] = dict(zip(COLUMNS, values))
    return out




class _Versions:
    """Stored rows decoded on first use, through a short-lived read-only connection of its own: the
    History that computed the diff may be closed by then, or live in another thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows: dict[int, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: int) -> dict[str, Any]:
        if key not in self.rows:
            self.fetch([key])
        return self.rows.get(key, {})

    def fetch(self, keys: Iterable[int]) -> None:
        with self._lock:
            missing = [k for k in keys if k not in self.rows]
            if not missing:
                return
            try:
                db = sqlite3.connect(self.path.resolve().as_uri() + "?mode=ro", uri=True)
                try:
                    self.rows.update(_decode_rows(db, missing))
                finally:
                    db.close()
            except sqlite3.Error:
                pass  # pruned or moved aside since the diff: the change keeps its uid and what moved
            for k in missing:
                self.rows.setdefault(k, {})


class History(Database):
    """Snapshots of the inventory and the diff between two of them (see the module docstring)."""

    # --- writing ----------------------------------------------------------------------------------

    def save(self, identities: Iterable[Any], statuses: Mapping[str, SourceStatus],
             config_fingerprint: str = "", taken_at: datetime | None = None) -> int:
        with paused_gc():
            return self._save(identities, statuses, config_fingerprint, taken_at)

    def _save(self, identities: Iterable[Any], statuses: Mapping[str, SourceStatus],
              config_fingerprint: str, taken_at: datetime | None) -> int:
        values, blobs, keys = _encode(identities)
        taken = iso(taken_at or datetime.now(timezone.utc))
        summary = ", ".join(f"{s.source}:{s.state}" for s in statuses.values())
        with self.db:
            # Most rows of a re-scan are stored already: look the keys up and build only the new rows.
            known = self._known(keys)
            self.db.executemany(
                f"INSERT OR IGNORE INTO rows(id, uid, {', '.join(TRACKED)}, data) "
                f"VALUES ({', '.join('?' * (len(TRACKED) + 3))})",
                # In key order: appending to the table's B-tree, not splitting pages at random.
                sorted((k, v["uid"], *_tracked(v), b) for k, v, b in zip(keys, values, blobs) if k not in known))
            cur = self.db.execute(
                "INSERT INTO snapshots(taken_at, config, count, summary, members) VALUES (?, ?, ?, ?, ?)",
                (taken, hashlib.sha256(config_fingerprint.encode()).hexdigest()[:16], len(values), summary,
                 _pack(sorted(keys))))
            snap = int(cur.lastrowid or 0)
            self.db.executemany(
                "INSERT INTO sources(snapshot_id, name, provider, state, error, count, blind_spots) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(snap, s.source, s.provider, s.state, s.error, s.count,
                  json.dumps([{"what": b.what, "reason": b.reason} for b in s.blind_spots]))
                 for s in statuses.values()])
            save_head(self.db, snap, keys)
        return snap

    def _known(self, keys: list[int]) -> set[int]:
        return {k for fetched in _select_rows(self.db, "id", keys) for (k,) in fetched}

    def prune(self, keep: int | None = None, keep_days: int | None = None) -> int:
        """Drop snapshots beyond the newest `keep` or older than `keep_days`; free unreferenced rows."""
        snaps = self.snapshots()
        drop = set()
        if keep is not None and keep >= 0:
            drop |= {s.id for s in snaps[keep:]}
        if keep_days is not None:
            cutoff = iso(datetime.fromtimestamp(time.time() - keep_days * 86400, tz=timezone.utc))
            drop |= {s.id for s in snaps[1:] if s.taken_at < cutoff}
        if not drop:
            return 0
        with self.db:
            self.db.executemany("DELETE FROM sources WHERE snapshot_id = ?", [(i,) for i in drop])
            self.db.executemany("DELETE FROM snapshots WHERE id = ?", [(i,) for i in drop])
            drop_heads(self.db, drop)
            live: set[int] = set()
            for (blob,) in self.db.execute("SELECT members FROM snapshots"):
                live.update(_unpack(blob))
            stale = [r for (r,) in self.db.execute("SELECT id FROM rows") if r not in live]
            self.db.executemany("DELETE FROM rows WHERE id = ?", [(r,) for r in stale])
        return len(drop)

    # --- reading ----------------------------------------------------------------------------------

    def snapshots(self) -> list[Snapshot]:
        """Newest first."""
        return [Snapshot(*r) for r in self.db.execute(
            "SELECT id, taken_at, count, summary, config FROM snapshots ORDER BY id DESC")]

    def _members(self, snap: int) -> array.array:
        row = self.db.execute("SELECT members FROM snapshots WHERE id = ?", (snap,)).fetchone()
        if row is None:
            raise HistoryError(f"no snapshot {snap}")
        return _unpack(row[0])

    def uids(self, snap: int) -> set[str]:
        return {u for fetched in _select_rows(self.db, "uid", self._members(snap)) for (u,) in fetched}

    def latest_uids(self) -> set[str] | None:
        """uids of the newest snapshot (None when there is none): the TUI's `new` marker."""
        snaps = self.snapshots()
        return self.uids(snaps[0].id) if snaps else None

    def statuses(self, snap: int) -> dict[str, str]:
        return {n: s for n, s in self.db.execute("SELECT name, state FROM sources WHERE snapshot_id = ?", (snap,))}

    def resolve(self, ref: str | None, default_index: int) -> int:
        snaps = self.snapshots()
        if ref is None:
            if len(snaps) <= default_index:
                raise HistoryError(f"{self.path}: need at least {default_index + 1} snapshot(s) to compare; "
                                   "run `nhitui scan` to take one")
            return snaps[default_index].id
        if ref.isdigit():
            if not any(s.id == int(ref) for s in snaps):
                raise HistoryError(f"no snapshot {ref} (see `nhitui history`)")
            return int(ref)
        try:
            day = datetime.fromisoformat(ref.replace("Z", "+00:00"))
        except ValueError:
            raise HistoryError(f"{ref!r} is not a snapshot id, a date or a JSON export") from None
        end = iso(day.replace(tzinfo=day.tzinfo or timezone.utc)) if "T" in ref else ref + "T23:59:59Z"
        match = [s for s in snaps if s.taken_at <= end]
        if not match:
            raise HistoryError(f"no snapshot on or before {ref}")
        return match[0].id

    def diff(self, old: int, new: int) -> Diff:
        """Snapshot `old` against snapshot `new`: pair the two versions of each identity by the uid
        half of their keys, compare the pairs' tracked columns inside SQLite, and decode only the
        rows that were added or removed."""
        with paused_gc():
            return self._diff(old, new)

    def _diff(self, old: int, new: int) -> Diff:
        pairs, lone_old, lone_new = self._pair(self._members(old), self._members(new))
        compared = self._compare(pairs)
        if any(row[3] & UID_MISMATCH for row in compared):
            # Two uids share a key half and were lined up with each other: pair those by stored uid.
            lone_old += [row[0] for row in compared if row[3] & UID_MISMATCH]
            lone_new += [row[1] for row in compared if row[3] & UID_MISMATCH]
            pairs, lone_old, lone_new = self._pair_by_uid(lone_old, lone_new)
            compared = [row for row in compared if not row[3] & UID_MISMATCH] + self._compare(pairs)
        diff = Diff(old=f"snapshot {old}", new=f"snapshot {new}")
        versions = _Versions(self.path)
        wording: dict[int, tuple[str, ...]] = {}
        for o, n, uid, mask, old_findings, new_findings in compared:
            if mask & BIT["findings"]:
                what = describe(mask, _items(new_findings) - _items(old_findings))
            elif mask in wording:
                what = wording[mask]
            else:
                what = wording[mask] = describe(mask)
            if what:
                diff.changed.append(Change(uid, what, o, n, versions.get))
        diff.fetch = lambda changes: versions.fetch([k for c in changes for k in c.pending])
        rows = _decode_rows(self.db, lone_old + lone_new)
        diff.added = [rows[k] for k in lone_new if k in rows]
        split_gone(diff, (rows[k] for k in lone_old if k in rows), self.statuses(new))
        return diff

    def _pair(self, old: array.array, new: array.array) -> tuple[list[tuple[int, int]], list[int], list[int]]:
        """(old key, new key) for each identity whose version changed, in key order (so SQLite reads
        both sides sequentially), and the keys without a partner.

        Sorted by key, two snapshots list their identities in the same order (the uid half leads),
        except for identities only one of them has. Set those aside and the rest line up position by
        position, so pairing is a handful of C-level array, set and map operations: a Python loop over
        100,000 big integers alone costs a third of a second. A uid half shared by two identities may
        line up wrongly; `_compare` flags such pairs and `_diff` re-pairs them by stored uid."""
        a, b = _sorted(old), _sorted(new)
        ha, hb = _halves(a), _halves(b)
        lone_old: list[int] = []
        lone_new: list[int] = []
        if ha != hb:
            only = set(ha).symmetric_difference(hb)
            a, lone_old = _split(a, ha, only)
            b, lone_new = _split(b, hb, only)
            if _halves(a) != _halves(b):    # a shared half with more keys on one side: no lining up
                return self._pair_by_uid(list(set(a) - set(b)) + lone_old, list(set(b) - set(a)) + lone_new)
        moved = list(map(operator.ne, a, b))
        return list(zip(itertools.compress(a, moved), itertools.compress(b, moved))), lone_old, lone_new

    def _pair_by_uid(self, gone: list[int], came: list[int]) -> tuple[list[tuple[int, int]], list[int], list[int]]:
        uid = self._uid_of(gone + came)
        by_uid = {uid[k]: k for k in gone if k in uid}
        pairs: list[tuple[int, int]] = []
        lone_new: list[int] = []
        for n in came:
            o = by_uid.pop(uid.get(n, ""), None)
            if o is None:
                lone_new.append(n)
            elif o != n:
                pairs.append((o, n))
        return sorted(pairs), list(by_uid.values()), lone_new

    def _uid_of(self, keys: list[int]) -> dict[int, str]:
        return {k: u for fetched in _select_rows(self.db, "id, uid", keys) for k, u in fetched}

    def _compare(self, pairs: list[tuple[int, int]]) -> list[tuple[int, int, str, int, Any, Any]]:
        """(old, new, uid, change mask, old findings, new findings) for the pairs whose tracked
        columns differ; the findings only when they differ, for the "new findings" wording."""
        mask = " | ".join(f"((a.{name} IS NOT b.{name}) << {bit})" for bit, name in enumerate(TRACKED))
        with self.db:
            self.db.execute("CREATE TEMP TABLE IF NOT EXISTS diff_pairs (old INTEGER, new INTEGER)")
            self.db.execute("DELETE FROM diff_pairs")
            self.db.executemany("INSERT INTO diff_pairs VALUES (?, ?)", pairs)
            out = self.db.execute(f"""
                SELECT * FROM (
                    SELECT a.id, b.id, b.uid, ((a.uid IS NOT b.uid) << {len(TRACKED)}) | {mask} AS m,
                           CASE WHEN a.findings IS NOT b.findings THEN a.findings END,
                           CASE WHEN a.findings IS NOT b.findings THEN b.findings END
                    FROM diff_pairs p JOIN rows a ON a.id = p.old JOIN rows b ON b.id = p.new)
                WHERE m != 0""").fetchall()
            self.db.execute("DELETE FROM diff_pairs")
        return out

    def diff_with(self, old: int, identities: Iterable[Any], statuses: Mapping[str, SourceStatus],
                  label: str = "current") -> Diff:
        """Snapshot `old` against identities that are not saved (the TUI's current inventory)."""
        values, _, keys = _encode(identities)
        current = dict(zip(keys, values))
        a = set(self._members(old))
        old_rows = {r["uid"]: r for r in _decode_rows(self.db, a - current.keys()).values()}
        new_rows = {current[k]["uid"]: current[k] for k in current.keys() - a}
        states = {s.source: s.state for s in statuses.values()}
        return compare(old_rows, new_rows, states, f"snapshot {old}", label)

    def diff_refs(self, old: str | None, new: str | None) -> Diff:
        if is_export_ref(old) or is_export_ref(new):
            return diff_exports(old, new)
        return self.diff(self.resolve(old, 1), self.resolve(new, 0))


def is_export_ref(ref: str | None) -> bool:
    """A diff argument naming a JSON export rather than a snapshot id or date."""
    return bool(ref and ref.endswith(".json"))


def diff_exports(old: str | None, new: str | None) -> Diff:
    """Diff of two JSON exports: needs no history database (a reviewer comparing two files a
    colleague sent may have none)."""
    if not (old and new):
        raise HistoryError("to compare JSON exports, give both files")
    try:
        (o, _), (n, states) = load_export(old), load_export(new)
    except DiffError as exc:
        raise HistoryError(str(exc)) from None
    return compare(o, n, states, old, new)
