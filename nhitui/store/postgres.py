"""The team store on PostgreSQL (psycopg 3): per-source snapshots, the merged current inventory,
diffs, the journal mirror and the HTTP cache, shared by scheduled scanners and responders.

Why per-source snapshots: each scanner runs next to its own credentials and schedule, so a team
inventory is "the latest complete snapshot of each source". A snapshot is written in one
transaction (its header row and every identity, by COPY): a scanner killed mid-write leaves
nothing, and readers keep seeing the previous snapshot (MVCC) until the commit. Two scanners of
different sources never touch the same rows. A failed scan is recorded (so the team sees the
failure and its reason) but never replaces the rows of the last good one.

Schema versions live in `nhitui_meta`; `migrate()` applies the missing steps in one transaction
under an advisory lock, so two processes starting at once do not race.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import psycopg
from psycopg.copy import QueuedLibpqWriter

from nhitui.diff import Diff, compare
from nhitui.model import BlindSpot, Identity, SourceStatus
from nhitui.store.rows import Decoder, copy_text, decode_texts, paused_gc

LOCK_ID = 0x6E686974   # "nhit": the advisory lock that serialises migrations

# Each step takes the schema from version n to n+1. Never edit a step that has shipped: add one.
MIGRATIONS: tuple[str, ...] = (
    # 1: snapshots per source and their rows
    """
    CREATE TABLE snapshots (
        id bigserial PRIMARY KEY, source text NOT NULL, provider text NOT NULL, state text NOT NULL,
        error text NOT NULL DEFAULT '', blind_spots jsonb NOT NULL DEFAULT '[]', taken_at timestamptz NOT NULL,
        count integer NOT NULL);
    CREATE INDEX snapshots_source_taken ON snapshots (source, taken_at DESC);
    CREATE TABLE snapshot_rows (
        snapshot_id bigint NOT NULL REFERENCES snapshots (id) ON DELETE CASCADE, uid text NOT NULL,
        digest bytea NOT NULL, doc jsonb NOT NULL, PRIMARY KEY (snapshot_id, uid));
    """,
    # 2: who scanned (host, actor) and what it cost; the journal mirror; the HTTP cache
    """
    ALTER TABLE snapshots ADD COLUMN scanner text NOT NULL DEFAULT '';
    ALTER TABLE snapshots ADD COLUMN requests integer NOT NULL DEFAULT 0;
    CREATE TABLE journal (
        id bigserial PRIMARY KEY, local_key text NOT NULL UNIQUE, at timestamptz NOT NULL,
        actor text NOT NULL, host text NOT NULL, uid text NOT NULL DEFAULT '', action text NOT NULL DEFAULT '',
        record jsonb NOT NULL);
    CREATE INDEX journal_at ON journal (at);
    CREATE TABLE http_cache (
        source text NOT NULL, url text NOT NULL, etag text NOT NULL, body bytea NOT NULL,
        stored_at timestamptz NOT NULL, PRIMARY KEY (source, url));
    """,
    # 3: documents as json, not jsonb: nothing queries inside them, and jsonb's binary conversion was
    # half the server's time in a save; json keeps the text as written (still validated), so reads
    # return it without re-serialising
    """
    ALTER TABLE snapshot_rows ALTER COLUMN doc TYPE json USING doc::json;
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


class StoreError(Exception):
    """The store cannot be reached or used; the message names the host, never a password."""


@dataclass(frozen=True)
class SourceSnapshot:
    id: int
    source: str
    provider: str
    state: str
    taken_at: datetime
    count: int
    scanner: str = ""
    error: str = ""

    @property
    def age_seconds(self) -> float:
        return (datetime.now(timezone.utc) - self.taken_at).total_seconds()


def _where(url: str) -> str:
    info = psycopg.conninfo.conninfo_to_dict(url)
    return f"{info.get('host') or 'local socket'}:{info.get('port') or 5432}/{info.get('dbname') or ''}"


class PostgresStore:
    def __init__(self, url: str, password: str | None = None, connect_timeout: float = 5.0) -> None:
        self.url = url
        self.where = _where(url)
        kwargs: dict[str, Any] = {"connect_timeout": max(1, int(connect_timeout)), "autocommit": True}
        if password:
            kwargs["password"] = password
        try:
            self.conn = psycopg.connect(url, **kwargs)
            # JIT compiling costs ~0.25 s per query, and the planner, before autovacuum has analysed
            # a fresh snapshot, guesses costs high enough to trigger it on every diff and load.
            self.conn.execute("SET jit = off")
        except psycopg.Error as exc:
            raise StoreError(f"team store {self.where}: cannot connect ({_reason(exc)})") from None
        self.migrate()

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> PostgresStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- schema --------------------------------------------------------------------------------

    def version(self) -> int:
        with self.conn.cursor() as cur:
            cur.execute("SELECT to_regclass('nhitui_meta')")
            if cur.fetchone()[0] is None:
                return 0
            cur.execute("SELECT value FROM nhitui_meta WHERE key = 'schema_version'")
            row = cur.fetchone()
            return int(row[0]) if row else 0

    def migrate(self, target: int = SCHEMA_VERSION) -> None:
        try:
            with self.conn.transaction(), self.conn.cursor() as cur:
                cur.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_ID,))
                cur.execute("CREATE TABLE IF NOT EXISTS nhitui_meta (key text PRIMARY KEY, value text NOT NULL)")
                cur.execute("SELECT value FROM nhitui_meta WHERE key = 'schema_version'")
                row = cur.fetchone()
                current = int(row[0]) if row else 0
                if current > SCHEMA_VERSION:
                    raise StoreError(f"team store {self.where} has schema {current}, newer than this nhitui "
                                     f"({SCHEMA_VERSION}); upgrade nhitui")
                for step in range(current, target):
                    cur.execute(MIGRATIONS[step])
                if target > current:
                    cur.execute("INSERT INTO nhitui_meta VALUES ('schema_version', %s) ON CONFLICT (key) "
                                "DO UPDATE SET value = EXCLUDED.value", (str(target),))
        except psycopg.Error as exc:
            raise StoreError(f"team store {self.where}: migration failed ({_reason(exc)})") from None

    # --- snapshots ----------------------------------------------------------------------------

    def save_source(self, status: SourceStatus, identities: Iterable[Identity], scanner: str = "") -> int:
        """One source's scan as one snapshot, atomically; returns its id."""
        rows = [i for i in identities if i.source == status.source]
        spots = json.dumps([{"what": b.what, "reason": b.reason} for b in status.blind_spots])
        taken = status.finished_at or datetime.now(timezone.utc)
        try:
            with self.conn.transaction(), self.conn.cursor() as cur:
                cur.execute("INSERT INTO snapshots (source, provider, state, error, blind_spots, taken_at, count, "
                            "scanner, requests) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
                            (status.source, status.provider, status.state, status.error, spots, taken, len(rows),
                             scanner or default_scanner(), status.requests))
                snap = cur.fetchone()[0]
                # a writer thread sends each batch while the next is encoded (the server and this
                # process work at once); whole COPY lines: no per-value adaptation by psycopg
                with cur.copy("COPY snapshot_rows (snapshot_id, uid, digest, doc) FROM STDIN",
                              writer=QueuedLibpqWriter(cur)) as copy:
                    for start in range(0, len(rows), 2000):
                        copy.write("".join([copy_text(snap, i) for i in rows[start:start + 2000]]))
            return int(snap)
        except psycopg.Error as exc:
            raise StoreError(f"team store {self.where}: snapshot of {status.source} not saved "
                             f"({_reason(exc)})") from None

    def save(self, identities: Iterable[Identity], statuses: Mapping[str, SourceStatus],
             scanner: str = "") -> list[int]:
        rows = list(identities)
        return [self.save_source(status, rows, scanner) for status in statuses.values()]

    def snapshots(self, source: str | None = None, limit: int = 200) -> list[SourceSnapshot]:
        query = ("SELECT id, source, provider, state, taken_at, count, scanner, error FROM snapshots "
                 + ("WHERE source = %s " if source else "") + "ORDER BY taken_at DESC, id DESC LIMIT %s")
        params: tuple[Any, ...] = (source, limit) if source else (limit,)
        with self.conn.cursor() as cur:
            cur.execute(query, params)
            return [SourceSnapshot(*r) for r in cur.fetchall()]

    def current(self, as_of: datetime | None = None) -> list[SourceSnapshot]:
        """Per source, the snapshot whose rows are the team's inventory: the latest ok or partial one
        (at or before `as_of`). A newer failed scan is reported by `statuses()`, not used for rows."""
        with self.conn.cursor() as cur:
            cur.execute("""SELECT DISTINCT ON (source) id, source, provider, state, taken_at, count, scanner, error
                           FROM snapshots WHERE state IN ('ok', 'partial') AND taken_at <= %s
                           ORDER BY source, taken_at DESC, id DESC""", (as_of or datetime.now(timezone.utc),))
            return [SourceSnapshot(*r) for r in cur.fetchall()]

    def statuses(self) -> dict[str, SourceStatus]:
        """Each source's state as the team last saw it, with the rows' snapshot age in `facts`."""
        current = {s.source: s for s in self.current()}
        with self.conn.cursor() as cur:
            cur.execute("""SELECT DISTINCT ON (source) source, provider, state, error, blind_spots, taken_at, count,
                           requests FROM snapshots ORDER BY source, taken_at DESC, id DESC""")
            latest = cur.fetchall()
        out = {}
        for source, provider, state, error, spots, taken, _count, requests in latest:
            rows_from = current.get(source)
            if state == "failed" and rows_from is not None:
                error = f"{error} (rows from the snapshot of {rows_from.taken_at:%Y-%m-%d %H:%M} UTC)".strip()
            out[source] = SourceStatus(
                source=source, provider=provider, state=state, error=error,
                blind_spots=tuple(BlindSpot(b["what"], b["reason"]) for b in spots or ()),
                count=rows_from.count if rows_from else 0, requests=requests, finished_at=taken,
                facts={"snapshot_id": rows_from.id if rows_from else None,
                       "snapshot_taken_at": (rows_from or SourceSnapshot(0, source, provider, state, taken, 0))
                       .taken_at.isoformat()})
        return out

    def rows(self, snapshot_ids: Iterable[int]) -> list[Identity]:
        ids = list(snapshot_ids)
        if not ids:
            return []
        with self.conn.cursor() as cur, paused_gc():      # 100k fresh tuples: no collector passes
            cur.execute("SELECT doc::text FROM snapshot_rows WHERE snapshot_id = ANY(%s)", (ids,))
            texts = [r[0] for r in cur.fetchall()]
        return decode_texts(texts)

    def stream_current(self, chunk: int = 4000) -> Iterator[list[Identity]]:
        """The current rows a chunk at a time (a server-side cursor): the first screen does not wait
        for 100k rows to be decoded."""
        ids = [s.id for s in self.current()]
        if not ids:
            return
        decoder = Decoder()
        with self.conn.transaction(), self.conn.cursor(name="nhitui_current") as cur:
            cur.execute("SELECT doc::text FROM snapshot_rows WHERE snapshot_id = ANY(%s)", (ids,))
            while True:
                texts = [r[0] for r in cur.fetchmany(chunk)]
                if not texts:
                    return
                yield decode_texts(texts, decoder)

    def load_current(self) -> tuple[list[Identity], dict[str, SourceStatus]]:
        """The team's inventory: every source's current rows, and their statuses with ages."""
        return self.rows(s.id for s in self.current()), self.statuses()

    # --- diff ---------------------------------------------------------------------------------

    def diff(self, old: list[int], new: list[int], old_label: str = "", new_label: str = "") -> Diff:
        """What changed between two sets of snapshots (e.g. the team inventory then and now):
        the database pairs rows by uid and returns only those whose digest differs."""
        with self.conn.transaction(), self.conn.cursor() as cur:
            # The join sees only (uid, digest): documents stay on disk until a row is known to differ,
            # then each is fetched by its primary key. A hash join in a bigger work_mem (2 x 100k keys
            # in one batch) takes half the time of the merge join that unanalysed fresh rows lead the
            # planner to (two sorts of 100k text keys).
            cur.execute("SET LOCAL work_mem = '64MB'")
            cur.execute("SET LOCAL enable_mergejoin = off")
            cur.execute("""WITH d AS (
                             SELECT a.snapshot_id AS sa, b.snapshot_id AS sb, coalesce(a.uid, b.uid) AS uid FROM
                               (SELECT snapshot_id, uid, digest FROM snapshot_rows WHERE snapshot_id = ANY(%s)) a
                               FULL OUTER JOIN
                               (SELECT snapshot_id, uid, digest FROM snapshot_rows WHERE snapshot_id = ANY(%s)) b
                               ON a.uid = b.uid
                             WHERE a.digest IS DISTINCT FROM b.digest)
                           SELECT (SELECT r.doc::text FROM snapshot_rows r WHERE r.snapshot_id = d.sa AND r.uid = d.uid),
                                  (SELECT r.doc::text FROM snapshot_rows r WHERE r.snapshot_id = d.sb AND r.uid = d.uid)
                           FROM d""", (old, new))
            pairs = cur.fetchall()
            cur.execute("SELECT source, state FROM snapshots WHERE id = ANY(%s)", (new,))
            states = dict(cur.fetchall())
        olds = json.loads("[" + ",".join(p[0] for p in pairs if p[0]) + "]")
        news = json.loads("[" + ",".join(p[1] for p in pairs if p[1]) + "]")
        return compare({r["uid"]: r for r in olds}, {r["uid"]: r for r in news}, states,
                       old_label or f"snapshots {old}", new_label or f"snapshots {new}")

    def diff_team(self, old_at: datetime | None = None, new_at: datetime | None = None) -> Diff:
        """The team inventory at `old_at` against `new_at` (default: just before the newest snapshot
        was saved, against now — what the last scan changed, whichever scanner made it)."""
        new = self.current(new_at)
        if old_at is not None:
            old = self.current(old_at)
        elif new:
            newest = max(new, key=lambda s: (s.taken_at, s.id))
            with self.conn.cursor() as cur:
                cur.execute("""SELECT DISTINCT ON (source) id, source, provider, state, taken_at, count, scanner, error
                               FROM snapshots WHERE state IN ('ok', 'partial') AND (taken_at, id) < (%s, %s)
                               ORDER BY source, taken_at DESC, id DESC""", (newest.taken_at, newest.id))
                old = [SourceSnapshot(*r) for r in cur.fetchall()]
        else:
            old = []
        old_label = f"team inventory at {old_at:%Y-%m-%d %H:%M}" if old_at else "before the newest snapshot"
        new_label = f"team inventory at {new_at:%Y-%m-%d %H:%M}" if new_at else "current"
        return self.diff([s.id for s in old], [s.id for s in new], old_label, new_label)

    def prune(self, keep: int) -> int:
        """Keep the newest `keep` snapshots of each source; returns how many were dropped."""
        with self.conn.transaction(), self.conn.cursor() as cur:
            cur.execute("""DELETE FROM snapshots WHERE id IN (SELECT id FROM (SELECT id, row_number() OVER
                           (PARTITION BY source ORDER BY taken_at DESC, id DESC) AS n FROM snapshots) t
                           WHERE n > %s)""", (keep,))
            return cur.rowcount

    # --- journal mirror -----------------------------------------------------------------------

    def mirror(self, records: Iterable[tuple[str, dict[str, Any]]], actor: str, host: str) -> int:
        """Insert journal records keyed by their local key; records already there are skipped, so a
        catch-up after an outage can resend everything it is unsure of."""
        n = 0
        with self.conn.transaction(), self.conn.cursor() as cur:
            for key, record in records:
                at = record.get("time") or datetime.now(timezone.utc).isoformat()
                cur.execute("INSERT INTO journal (local_key, at, actor, host, uid, action, record) VALUES "
                            "(%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (local_key) DO NOTHING",
                            (key, at, record.get("actor") or actor, record.get("host") or host,
                             str(record.get("uid", "")), str(record.get("action", "")),
                             json.dumps(record, ensure_ascii=False)))
                n += cur.rowcount
        return n

    def journal(self, since: datetime | None = None, limit: int = 10_000) -> list[dict[str, Any]]:
        with self.conn.cursor() as cur:
            cur.execute("SELECT at, actor, host, record FROM journal WHERE at >= %s ORDER BY at, id LIMIT %s",
                        (since or datetime.fromtimestamp(0, timezone.utc), limit))
            return [{**rec, "actor": actor, "host": host} for _, actor, host, rec in cur.fetchall()]

    # --- HTTP cache (conditional requests shared by the scanners of one source) ---------------

    def cache_entries(self, source: str) -> dict[str, tuple[str, bytes]]:
        with self.conn.cursor() as cur:
            cur.execute("SELECT url, etag, body FROM http_cache WHERE source = %s", (source,))
            return {url: (etag, bytes(body)) for url, etag, body in cur.fetchall()}

    def save_cache(self, source: str, entries: Mapping[str, tuple[str, bytes]], complete: bool = False) -> None:
        with self.conn.transaction(), self.conn.cursor() as cur:
            if complete:
                cur.execute("DELETE FROM http_cache WHERE source = %s", (source,))
            now = datetime.now(timezone.utc)
            for url, (etag, body) in entries.items():
                cur.execute("INSERT INTO http_cache VALUES (%s, %s, %s, %s, %s) ON CONFLICT (source, url) DO UPDATE "
                            "SET etag = EXCLUDED.etag, body = EXCLUDED.body, stored_at = EXCLUDED.stored_at",
                            (source, url, etag, body, now))


def default_scanner() -> str:
    from nhitui.journal import operator

    return f"{operator()}@{socket.gethostname()}"


def _reason(exc: BaseException) -> str:
    """psycopg's message without the connection string (which may carry a password)."""
    text = " ".join(str(exc).split())
    return text[:300] if "password=" not in text else "authentication or connection error"
