"""The history database file: its schema, opening, checks and migrations.

Snapshots (`nhitui.history`) and the HTTP cache (`nhitui.http_cache`) share this one SQLite file;
both open it through `Database`, so neither module needs the other.
"""

from __future__ import annotations

import array
import hashlib
import json
import os
import sqlite3
import time
import zlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from nhitui.diff import LISTS, TRACKED
from nhitui.model import COLUMNS

SCHEMA_VERSION = 4
ROWS_DDL = f"CREATE TABLE rows (id INTEGER PRIMARY KEY, uid TEXT NOT NULL, {', '.join(TRACKED)}, data BLOB NOT NULL)"
LIST_SEP = "\x1f"


class HistoryError(Exception):
    """A history problem phrased for the user (bad ref, newer schema)."""


def default_path() -> Path:
    from nhitui.config import state_dir

    return state_dir() / "history.sqlite"


def _key(uid: str, data: bytes) -> int:
    """uid hash in the high half (signed), version hash in the low half: see `nhitui.history`'s docstring.
    Two different rows collide only if both halves do (about 2**-64 per pair, as a 64-bit hash)."""
    high = int.from_bytes(hashlib.blake2b(uid.encode("utf-8", "surrogatepass"), digest_size=4).digest(),
                          "big", signed=True)
    return high << 32 | int.from_bytes(hashlib.blake2b(data, digest_size=4).digest(), "big")


def _tracked(values: Mapping[str, Any]) -> list[Any]:
    """The TRACKED columns of a row. A list is joined with a C0 separator, which `sanitize` removes
    from every provider string: equal lists give equal text, and it costs a tenth of a JSON dump."""
    return [LIST_SEP.join(values.get(n) or ()) if n in LISTS else values.get(n) for n in TRACKED]


def _pack(keys: Iterable[int]) -> bytes:
    return zlib.compress(array.array("q", keys).tobytes(), 1)


def _unpack(blob: bytes) -> array.array:
    a = array.array("q")
    a.frombytes(zlib.decompress(blob))
    return a


def create_http_cache_table(db: sqlite3.Connection) -> None:
    db.execute("""CREATE TABLE IF NOT EXISTS http_cache (source TEXT NOT NULL, url TEXT NOT NULL,
                  etag TEXT NOT NULL, body BLOB NOT NULL, stored_at TEXT NOT NULL, PRIMARY KEY (source, url))""")


class Database:
    """The history database file, opened and at the current schema: checked, migrated in one
    transaction, or moved aside when unreadable (the reason lands in `warnings`)."""

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
        if version == SCHEMA_VERSION:
            return
        # One transaction: a crash mid-migration leaves the older schema intact, to be migrated again.
        db.execute("BEGIN IMMEDIATE")
        try:
            if version == 0 and "snapshots" not in tables:
                db.execute("""CREATE TABLE snapshots (id INTEGER PRIMARY KEY, taken_at TEXT NOT NULL, config TEXT,
                              count INTEGER NOT NULL, summary TEXT, members BLOB NOT NULL)""")
                db.execute("""CREATE TABLE sources (snapshot_id INTEGER NOT NULL REFERENCES snapshots(id)
                              ON DELETE CASCADE, name TEXT, provider TEXT, state TEXT, error TEXT, count INTEGER,
                              blind_spots TEXT)""")
                db.execute(ROWS_DDL)
                db.execute("CREATE INDEX sources_snapshot ON sources(snapshot_id)")
            else:
                if version <= 1:
                    # Schema 1 had no blind spots per source.
                    db.execute("ALTER TABLE sources ADD COLUMN blind_spots TEXT")
                if version <= 3:
                    _rekey_rows(db)
            if version <= 2:
                # Schema 2 had no HTTP cache.
                create_http_cache_table(db)
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            db.commit()
        except BaseException:
            db.rollback()
            raise

    def close(self) -> None:
        self.db.close()


def _rekey_rows(db: sqlite3.Connection) -> None:
    """Schema 3 -> 4: rows get the TRACKED columns and uid-halved keys; snapshots are rewritten to the
    new keys. Runs inside the migration's transaction."""
    if "rows" not in {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}:
        db.execute(ROWS_DDL)
        return
    db.execute("ALTER TABLE rows RENAME TO rows_v3")
    db.execute(ROWS_DDL)
    remap: dict[int, int] = {}
    insert = f"INSERT OR IGNORE INTO rows(id, uid, {', '.join(TRACKED)}, data) VALUES ({', '.join('?' * (len(TRACKED) + 3))})"
    cursor = db.execute("SELECT id, uid, data FROM rows_v3")
    while batch := cursor.fetchmany(5000):
        out = []
        for old_key, uid, data in batch:
            data = data.encode() if isinstance(data, str) else bytes(data)
            values = dict(zip(COLUMNS, json.loads(data)))
            remap[old_key] = key = _key(uid, data)
            out.append((key, uid, *_tracked(values), data))
        db.executemany(insert, out)
    for snap, blob in db.execute("SELECT id, members FROM snapshots").fetchall():
        db.execute("UPDATE snapshots SET members = ? WHERE id = ?",
                   (_pack(sorted(remap[k] for k in _unpack(blob) if k in remap)), snap))
    db.execute("DROP TABLE rows_v3")
