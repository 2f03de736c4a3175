"""Scan snapshots in SQLite, and the diff between two of them.

Rows are content-addressed: each distinct version of an identity is stored once, keyed by a
64-bit hash of its exported fields, and a snapshot is a compressed array of those keys. Fifty
scans of a mostly unchanged org therefore cost little more than one, and a diff compares two
arrays before it reads only the rows that differ. A source that was partial or failed in the newer
scan never turns its missing rows into "removed": they are reported as unknown.

The same file keeps an HTTP cache for conditional requests (`HttpCache`): per source and URL, the
ETag and body of the last 200 answer, so a re-scan of an unchanged organisation is answered with
304s that do not spend the provider's rate limit. Entries the last complete scan did not use are
pruned; nothing else (no token, no request header) is stored.
"""

from __future__ import annotations

import array
import gc
import hashlib
import json
import os
import sqlite3
import threading
import time
import zlib
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from nhitui.export import row_values
from nhitui.model import COLUMNS, SourceStatus, iso

SCHEMA_VERSION = 3
COMPARED = ("name", "owner", "target", "privilege", "status", "created_at", "expires_at", "last_used_at",
            "credential", "stale")


class HistoryError(Exception):
    """A history problem phrased for the user (bad ref, newer schema)."""


@dataclass
class Snapshot:
    id: int
    taken_at: str
    count: int
    summary: str
    config: str = ""


@dataclass
class Change:
    uid: str
    what: list[str]
    old: dict[str, Any]
    new: dict[str, Any]


@dataclass
class Diff:
    old: str
    new: str
    added: list[dict[str, Any]] = field(default_factory=list)
    removed: list[dict[str, Any]] = field(default_factory=list)
    changed: list[Change] = field(default_factory=list)
    unknown: list[dict[str, Any]] = field(default_factory=list)


def default_path() -> Path:
    from nhitui.config import state_dir

    return state_dir() / "history.sqlite"


def _key(data: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big", signed=True)


def _pack(keys: Iterable[int]) -> bytes:
    return zlib.compress(array.array("q", keys).tobytes(), 1)


def _unpack(blob: bytes) -> array.array:
    a = array.array("q")
    a.frombytes(zlib.decompress(blob))
    return a


class History:
    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path else default_path()
        self.warnings: list[str] = []
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.db = self._open()

    def _open(self) -> sqlite3.Connection:
        fresh = not self.path.exists()
        if fresh:
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
        try:
            db = sqlite3.connect(self.path)
            db.execute("PRAGMA journal_mode=WAL")
            check = db.execute("PRAGMA quick_check").fetchone()
            if check and check[0] != "ok":
                raise sqlite3.DatabaseError(check[0])
            self._migrate(db)
            return db
        except sqlite3.DatabaseError as exc:
            try:
                db.close()
            except Exception:  # noqa: BLE001,S110
                pass
            aside = self.path.with_name(f"{self.path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
            os.replace(self.path, aside)
            for suffix in ("-wal", "-shm"):
                side = Path(str(self.path) + suffix)
                if side.exists():
                    os.replace(side, Path(str(aside) + suffix))
            self.warnings.append(f"{self.path} was unreadable ({exc}); moved aside to {aside} and started anew")
            return self._open()

    def _migrate(self, db: sqlite3.Connection) -> None:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if version > SCHEMA_VERSION:
            db.close()
            raise HistoryError(f"{self.path} was written by a newer nhitui (schema {version} > "
                               f"{SCHEMA_VERSION}); upgrade nhitui or use another history path")
        if version == 0 and "snapshots" not in tables:
            db.executescript("""
                CREATE TABLE snapshots (id INTEGER PRIMARY KEY, taken_at TEXT NOT NULL, config TEXT,
                                        count INTEGER NOT NULL, summary TEXT, members BLOB NOT NULL);
                CREATE TABLE sources (snapshot_id INTEGER NOT NULL REFERENCES snapshots(id) ON DELETE CASCADE,
                                      name TEXT, provider TEXT, state TEXT, error TEXT, count INTEGER,
                                      blind_spots TEXT);
                CREATE TABLE rows (id INTEGER PRIMARY KEY, uid TEXT NOT NULL, data BLOB NOT NULL);
                CREATE INDEX sources_snapshot ON sources(snapshot_id);
            """)
        elif version <= 1:
            # Schema 1 had no blind spots per source.
            db.execute("ALTER TABLE sources ADD COLUMN blind_spots TEXT")
        if version <= 2:
            # Schema 2 had no HTTP cache.
            _create_http_cache(db)
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        db.commit()

    def close(self) -> None:
        self.db.close()

    # --- writing ----------------------------------------------------------------------------------

    def save(self, identities: Iterable[Any], statuses: Mapping[str, SourceStatus],
             config_fingerprint: str = "", taken_at: datetime | None = None) -> int:
        rows = list(identities)
        dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
        blobs = [dumps(list(row_values(i).values())).encode() for i in rows]
        keys = [_key(b) for b in blobs]
        taken = iso(taken_at or datetime.now(timezone.utc))
        summary = ", ".join(f"{s.source}:{s.state}" for s in statuses.values())
        with self.db:
            self.db.executemany("INSERT OR IGNORE INTO rows(id, uid, data) VALUES (?, ?, ?)",
                                zip(keys, (i.uid for i in rows), blobs))
            cur = self.db.execute(
                "INSERT INTO snapshots(taken_at, config, count, summary, members) VALUES (?, ?, ?, ?, ?)",
                (taken, hashlib.sha256(config_fingerprint.encode()).hexdigest()[:16], len(rows), summary,
                 _pack(keys)))
            snap = int(cur.lastrowid or 0)
            self.db.executemany(
                "INSERT INTO sources(snapshot_id, name, provider, state, error, count, blind_spots) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(snap, s.source, s.provider, s.state, s.error, s.count,
                  json.dumps([{"what": b.what, "reason": b.reason} for b in s.blind_spots]))
                 for s in statuses.values()])
        return snap

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

    def _rows(self, keys: Iterable[int]) -> dict[int, dict[str, Any]]:
        """Rows by key. Parsed a chunk at a time as one JSON array, with the garbage collector paused:
        row-by-row parsing of 100k small documents spends most of its time in allocation and GC."""
        out: dict[int, dict[str, Any]] = {}
        keys = list(keys)
        enabled = gc.isenabled()
        gc.disable()
        try:
            for n in range(0, len(keys), 900):
                chunk = keys[n:n + 900]
                q = f"SELECT id, data FROM rows WHERE id IN ({','.join('?' * len(chunk))})"
                fetched = self.db.execute(q, chunk).fetchall()
                blob = b"[" + b",".join(bytes(d) if not isinstance(d, str) else d.encode() for _, d in fetched) + b"]"
                for (k, _), values in zip(fetched, json.loads(blob)):
                    out[k] = dict(zip(COLUMNS, values))
        finally:
            if enabled:
                gc.enable()
        return out

    def uids(self, snap: int) -> set[str]:
        keys = list(self._members(snap))
        out: set[str] = set()
        for n in range(0, len(keys), 900):
            chunk = keys[n:n + 900]
            out.update(u for (u,) in self.db.execute(
                f"SELECT uid FROM rows WHERE id IN ({','.join('?' * len(chunk))})", chunk))
        return out

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
        a, b = self._members(old), self._members(new)
        only_a, only_b = set(a) - set(b), set(b) - set(a)
        rows = self._rows(only_a | only_b)
        old_rows = {rows[k]["uid"]: rows[k] for k in only_a if k in rows}
        new_rows = {rows[k]["uid"]: rows[k] for k in only_b if k in rows}
        return compare(old_rows, new_rows, self.statuses(new), f"snapshot {old}", f"snapshot {new}")

    def diff_with(self, old: int, identities: Iterable[Any], statuses: Mapping[str, SourceStatus],
                  label: str = "current") -> Diff:
        """Snapshot `old` against identities that are not saved (the TUI's current inventory)."""
        dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
        current = {_key(b): b for b in (dumps(list(row_values(i).values())).encode() for i in identities)}
        a = set(self._members(old))
        old_rows = {r["uid"]: r for r in self._rows(a - current.keys()).values()}
        new_rows = {}
        for k in current.keys() - a:
            row = dict(zip(COLUMNS, json.loads(current[k])))
            new_rows[row["uid"]] = row
        states = {s.source: s.state for s in statuses.values()}
        return compare(old_rows, new_rows, states, f"snapshot {old}", label)

    def diff_refs(self, old: str | None, new: str | None) -> Diff:
        if (old and old.endswith(".json")) or (new and new.endswith(".json")):
            if not (old and new):
                raise HistoryError("to compare JSON exports, give both files")
            o, n = _load_export(old), _load_export(new)
            return compare(o[0], n[0], n[1], old, new)
        return self.diff(self.resolve(old, 1), self.resolve(new, 0))


def _create_http_cache(db: sqlite3.Connection) -> None:
    db.execute("""CREATE TABLE IF NOT EXISTS http_cache (source TEXT NOT NULL, url TEXT NOT NULL,
                  etag TEXT NOT NULL, body BLOB NOT NULL, stored_at TEXT NOT NULL, PRIMARY KEY (source, url))""")


class SourceCache(MutableMapping[str, tuple[str, bytes]]):
    """One source's cache entries (url -> (etag, body)) in memory during a scan; thread-safe.

    Connectors read and write it from worker threads; `HttpCache.save` writes the changes back.
    """

    def __init__(self, source: str, entries: dict[str, tuple[str, bytes]]) -> None:
        self.source = source
        self._entries = entries
        self._lock = threading.Lock()
        self.used: set[str] = set()
        self.dirty: set[str] = set()
        self.deleted: set[str] = set()

    def __getitem__(self, url: str) -> tuple[str, bytes]:
        with self._lock:
            value = self._entries[url]
            self.used.add(url)
            return value

    def __setitem__(self, url: str, value: tuple[str, bytes]) -> None:
        etag, body = value
        with self._lock:
            self._entries[url] = (str(etag), bytes(body))
            self.used.add(url)
            self.dirty.add(url)
            self.deleted.discard(url)

    def __delitem__(self, url: str) -> None:
        with self._lock:
            del self._entries[url]
            self.used.discard(url)
            self.dirty.discard(url)
            self.deleted.add(url)

    def __iter__(self) -> Iterator[str]:
        with self._lock:
            return iter(list(self._entries))

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


class HttpCache:
    """ETag cache of GET answers per source, in the history database (table `http_cache`).

    `for_source(name)` loads a source's entries for one scan; `save(cache, complete)` writes back
    what changed and, after a complete scan, drops the entries that scan did not use (objects gone
    at the provider, pages that no longer exist).
    """

    def __init__(self, path: Path | None = None) -> None:
        self.history = History(path)
        self.db = self.history.db
        self._lock = threading.Lock()

    def for_source(self, source: str) -> SourceCache:
        with self._lock:
            entries = {url: (etag, bytes(body)) for url, etag, body in self.db.execute(
                "SELECT url, etag, body FROM http_cache WHERE source = ?", (source,))}
        return SourceCache(source, entries)

    def save(self, cache: SourceCache, complete: bool = False) -> None:
        now = iso(datetime.now(timezone.utc))
        with cache._lock:
            entries = dict(cache._entries)
            dirty, used, deleted = set(cache.dirty), set(cache.used), set(cache.deleted)
        with self._lock, self.db:
            self.db.executemany("DELETE FROM http_cache WHERE source = ? AND url = ?",
                                [(cache.source, u) for u in deleted])
            self.db.executemany(
                "INSERT OR REPLACE INTO http_cache(source, url, etag, body, stored_at) VALUES (?, ?, ?, ?, ?)",
                [(cache.source, u, entries[u][0], entries[u][1], now) for u in dirty if u in entries])
            if complete:
                unused = [u for u in entries if u not in used]
                self.db.executemany("DELETE FROM http_cache WHERE source = ? AND url = ?",
                                    [(cache.source, u) for u in unused])
        with cache._lock:
            cache.dirty.clear()
            cache.deleted.clear()

    def clear(self, source: str | None = None) -> None:
        with self._lock, self.db:
            if source is None:
                self.db.execute("DELETE FROM http_cache")
            else:
                self.db.execute("DELETE FROM http_cache WHERE source = ?", (source,))

    def close(self) -> None:
        self.history.close()


def _load_export(path: str) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
        rows = {r["uid"]: r for r in doc["identities"]}
        states = {s["name"]: s.get("status", "ok") for s in doc.get("sources", [])}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise HistoryError(f"{path}: not an nhitui JSON export ({type(exc).__name__})") from None
    return rows, states


def _what_changed(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    what = []
    if old.get("created_at") != new.get("created_at"):
        what.append("rotated")
    if old.get("last_used_at") != new.get("last_used_at"):
        what.append("last used moved")
    if old.get("privilege") != new.get("privilege") or old.get("scopes") != new.get("scopes"):
        what.append("privilege/scopes changed")
    gained = set(new.get("findings") or ()) - set(old.get("findings") or ())
    if gained:
        what.append("new findings: " + ", ".join(sorted(gained)))
    for f in ("status", "expires_at", "owner", "name", "target"):
        if old.get(f) != new.get(f):
            what.append(f"{f} changed")
    return what


def compare(old_rows: Mapping[str, dict[str, Any]], new_rows: Mapping[str, dict[str, Any]],
            new_states: Mapping[str, str], old_label: str, new_label: str) -> Diff:
    """Added / removed / changed by uid; the maps may hold every row or only the rows that differ."""
    diff = Diff(old=old_label, new=new_label)
    for uid, row in new_rows.items():
        before = old_rows.get(uid)
        if before is None:
            diff.added.append(row)
            continue
        what = _what_changed(before, row)
        if what:
            diff.changed.append(Change(uid, what, before, row))
    for uid, row in old_rows.items():
        if uid in new_rows:
            continue
        if new_states.get(row.get("source", ""), "missing") != "ok":
            diff.unknown.append(row)
        else:
            diff.removed.append(row)
    return diff


def render_diff(diff: Diff, fmt: str) -> str:
    from nhitui.export import safe_cell

    records = ([("added", r["uid"], r.get("kind", ""), r.get("name", ""), "") for r in diff.added]
               + [("removed", r["uid"], r.get("kind", ""), r.get("name", ""), "") for r in diff.removed]
               + [("changed", c.uid, c.new.get("kind", ""), c.new.get("name", ""), "; ".join(c.what))
                  for c in diff.changed]
               + [("unknown", r["uid"], r.get("kind", ""), r.get("name", ""),
                   "its source was incomplete in the newer scan") for r in diff.unknown])
    if fmt == "json":
        return json.dumps({"old": diff.old, "new": diff.new,
                           "added": diff.added, "removed": diff.removed,
                           "changed": [{"uid": c.uid, "what": c.what, "old": c.old, "new": c.new}
                                       for c in diff.changed],
                           "unknown": diff.unknown}, ensure_ascii=False, indent=1) + "\n"
    if fmt == "csv":
        import csv
        import io

        buf = io.StringIO(newline="")
        w = csv.writer(buf, lineterminator="\r\n")
        w.writerow(("change", "uid", "kind", "name", "detail"))
        for r in records:
            w.writerow([safe_cell(str(x)) for x in r])
        return buf.getvalue()
    from nhitui.model import sanitize

    lines = [f"{diff.old} -> {diff.new}: {len(diff.added)} added, {len(diff.removed)} removed, "
             f"{len(diff.changed)} changed, {len(diff.unknown)} unknown"]
    lines += [f"{c:<8} {sanitize(u)}  {sanitize(k)}  {sanitize(n)[:50]}" + (f"  ({sanitize(d)})" if d else "")
              for c, u, k, n, d in records]
    return "\n".join(lines) + "\n"
