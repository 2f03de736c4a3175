from __future__ import annotations

import sqlite3
from dataclasses import replace

import pytest

from nhitui.history import SCHEMA_VERSION, History, HistoryError, render_diff
from nhitui.model import SourceStatus
from tests.helpers import days, ident

OK = {"src": SourceStatus("src", "github", "ok")}


def test_diff_added_removed_changed(tmp_path):
    h = History(tmp_path / "h.sqlite")
    a = [ident(n) for n in range(5)]
    first = h.save(a, OK)
    b = [replace(a[0], created_at=days(1))] + a[1:3] + [ident(9)]
    second = h.save(b, OK)
    d = h.diff(first, second)
    assert [r["uid"] for r in d.added] == [ident(9).uid]
    assert sorted(r["uid"] for r in d.removed) == sorted([a[3].uid, a[4].uid])
    assert [c.uid for c in d.changed] == [a[0].uid] and "rotated" in d.changed[0].what
    assert "2 removed" in render_diff(d, "table")


def test_partial_source_is_unknown_not_removed(tmp_path):
    h = History(tmp_path / "h.sqlite")
    first = h.save([ident(1), ident(2)], OK)
    second = h.save([ident(1)], {"src": SourceStatus("src", "github", "partial")})
    d = h.diff(first, second)
    assert d.removed == [] and [r["uid"] for r in d.unknown] == [ident(2).uid]


def test_default_refs_are_last_two_and_errors_are_clear(tmp_path):
    h = History(tmp_path / "h.sqlite")
    with pytest.raises(HistoryError, match="at least 2"):
        h.diff_refs(None, None)
    h.save([ident(1)], OK)
    h.save([ident(1), ident(2)], OK)
    assert len(h.diff_refs(None, None).added) == 1
    with pytest.raises(HistoryError):
        h.diff_refs("999", None)


def test_retention_prunes_rows(tmp_path):
    h = History(tmp_path / "h.sqlite")
    for n in range(5):
        h.save([ident(n)], OK)
    assert h.prune(keep=2) == 3
    assert len(h.snapshots()) == 2
    assert h.db.execute("SELECT count(*) FROM rows").fetchone()[0] == 2


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "h.sqlite"
    History(path).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    with pytest.raises(HistoryError, match="newer nhitui"):
        History(path)


def test_older_schema_is_migrated(tmp_path):
    path = tmp_path / "h.sqlite"
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE snapshots (id INTEGER PRIMARY KEY, taken_at TEXT NOT NULL, config TEXT,
                                count INTEGER NOT NULL, summary TEXT, members BLOB NOT NULL);
        CREATE TABLE sources (snapshot_id INTEGER, name TEXT, provider TEXT, state TEXT, error TEXT, count INTEGER);
        CREATE TABLE rows (id INTEGER PRIMARY KEY, uid TEXT NOT NULL, data BLOB NOT NULL);
        PRAGMA user_version=1;
    """)
    db.close()
    h = History(path)
    h.save([ident(1)], OK)
    assert h.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_corrupt_database_is_moved_aside_not_emptied(tmp_path):
    path = tmp_path / "h.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    h = History(path)
    assert h.warnings and "moved aside" in h.warnings[0]
    aside = [p for p in tmp_path.iterdir() if ".corrupt-" in p.name]
    assert aside and aside[0].read_bytes().startswith(b"this is not a database")


# --- the SQL diff agrees with the row-by-row comparison ------------------------------------------

def _as_dicts(rows):
    from nhitui.export import row_values

    return {r.uid: row_values(r) for r in rows}


def _summary(d):
    return (sorted(r["uid"] for r in d.added), sorted(r["uid"] for r in d.removed),
            sorted((c.uid, tuple(c.what)) for c in d.changed), sorted(r["uid"] for r in d.unknown))


def _mutations():
    from nhitui.model import Finding

    def finding(rule):
        return Finding(rule, "high", f"{rule} explained", "NHI1")

    return [
        lambda r: replace(r, created_at=days(2)),                       # rotated
        lambda r: replace(r, last_used_at=days(0)),                     # last used moved
        lambda r: replace(r, privilege="admin"),
        lambda r: replace(r, scopes=("repo", "admin:org")),
        lambda r: replace(r, findings=(finding("stale-unused"),)),      # gained a finding
        lambda r: replace(r, status="inactive"),
        lambda r: replace(r, expires_at=days(-30)),
        lambda r: replace(r, owner="mallory"),
        lambda r: replace(r, name="renamed"),
        lambda r: replace(r, target="acme/other"),
        lambda r: replace(r, url="https://example.test/moved"),         # untracked: not a change
        lambda r: replace(r, last_used_at=days(0), privilege="admin", owner="bob"),
    ]


def test_snapshot_diff_agrees_with_the_dict_comparison_for_every_tracked_field(tmp_path):
    from nhitui.diff import compare
    from nhitui.model import Finding

    had = Finding("no-expiry", "low", "never expires", "NHI7")
    before = [ident(n, findings=(had,) if n % 3 == 0 else ()) for n in range(60)]
    muts = _mutations()
    after = [muts[n % len(muts)](r) if n < 48 else r for n, r in enumerate(before)]
    after[1] = replace(after[1], findings=())                          # lost a finding only: not a change
    after = after[:55] + [ident(100 + n) for n in range(3)]            # 5 removed, 3 added
    h = History(tmp_path / "h.sqlite")
    d = h.diff(h.save(before, OK), h.save(after, OK))
    expected = compare(_as_dicts(before), _as_dicts(after), {"src": "ok"}, "a", "b")
    assert _summary(d) == _summary(expected)
    # 48 mutated, of which the 4 URL-only changes are untracked.
    assert len(d.added) == 3 and len(d.removed) == 5 and len(d.changed) == 44
    assert before[10].uid not in {c.uid for c in d.changed}
    assert any(w == "new findings: stale-unused" for c in d.changed for w in c.what)
    for c in d.changed:                                                 # full rows, decoded on demand
        assert c.old == expected_row(expected, c.uid, "old") and c.new == expected_row(expected, c.uid, "new")


def expected_row(diff, uid, side):
    return next(getattr(c, side) for c in diff.changed if c.uid == uid)


def test_changed_rows_load_after_the_history_is_closed(tmp_path):
    h = History(tmp_path / "h.sqlite")
    a = [ident(n) for n in range(5)]
    d = h.diff(h.save(a, OK), h.save([replace(a[2], owner="bob")] + a[:2], OK))
    h.close()
    d.load()
    (c,) = d.changed
    assert c.what == ("owner changed",) and (c.old["owner"], c.new["owner"]) == ("alice", "bob")
    assert c.new["uid"] == a[2].uid and "2 removed" in render_diff(d, "table")


def test_uid_hash_collisions_never_pair_two_identities(tmp_path, monkeypatch):
    """Every uid hashes to the same high half: pairing must fall back to the stored uids, and a
    lone pair of different uids must come out as one removed and one added."""
    import hashlib

    from nhitui import history

    def colliding(uid, data):
        return int.from_bytes(hashlib.blake2b(data, digest_size=4).digest(), "big")

    monkeypatch.setattr(history, "_key", colliding)
    h = History(tmp_path / "h.sqlite")
    a = [ident(n) for n in range(6)]
    b = [replace(a[0], privilege="admin"), replace(a[1], last_used_at=days(0))] + a[2:4] + [ident(7)]
    d = h.diff(h.save(a, OK), h.save(b, OK))
    assert _summary(d) == ([ident(7).uid], sorted([a[4].uid, a[5].uid]),
                           sorted([(a[0].uid, ("privilege/scopes changed",)), (a[1].uid, ("last used moved",))]), [])
    d = h.diff(h.save([ident(20)], OK), h.save([ident(21)], OK))
    assert _summary(d) == ([ident(21).uid], [ident(20).uid], [], [])


def test_schema_3_snapshots_are_rekeyed_and_still_compare(tmp_path):
    """A database written by schema 3 (rows keyed by a hash of the whole row, no tracked columns)
    keeps its snapshots: they diff as before, and a new save shares their stored rows."""
    import hashlib
    import json
    import zlib
    from array import array

    from nhitui.export import row_values

    def v3_key(data):
        return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big", signed=True)

    path = tmp_path / "h.sqlite"
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE snapshots (id INTEGER PRIMARY KEY, taken_at TEXT NOT NULL, config TEXT,
                                count INTEGER NOT NULL, summary TEXT, members BLOB NOT NULL);
        CREATE TABLE sources (snapshot_id INTEGER, name TEXT, provider TEXT, state TEXT, error TEXT, count INTEGER,
                              blind_spots TEXT);
        CREATE TABLE rows (id INTEGER PRIMARY KEY, uid TEXT NOT NULL, data BLOB NOT NULL);
        CREATE TABLE http_cache (source TEXT NOT NULL, url TEXT NOT NULL, etag TEXT NOT NULL, body BLOB NOT NULL,
                                 stored_at TEXT NOT NULL, PRIMARY KEY (source, url));
        PRAGMA user_version=3;
    """)
    first = [ident(n) for n in range(4)]
    second = [replace(first[0], created_at=days(3))] + first[1:3]
    for n, rows in enumerate((first, second), 1):
        blobs = [json.dumps(list(row_values(r).values()), ensure_ascii=False, separators=(",", ":")).encode()
                 for r in rows]
        keys = [v3_key(b) for b in blobs]
        db.executemany("INSERT OR IGNORE INTO rows VALUES (?, ?, ?)", zip(keys, (r.uid for r in rows), blobs))
        db.execute("INSERT INTO snapshots VALUES (?, ?, '', ?, 'src:ok', ?)",
                   (n, f"2026-11-0{n}T00:00:00Z", len(rows), zlib.compress(array("q", keys).tobytes())))
        db.execute("INSERT INTO sources VALUES (?, 'src', 'github', 'ok', '', ?, '[]')", (n, len(rows)))
    db.commit()
    db.close()
    h = History(path)
    assert h.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    d = h.diff(1, 2)
    assert _summary(d) == ([], [first[3].uid], [(first[0].uid, ("rotated",))], [])
    assert h.uids(2) == {r.uid for r in second}
    stored = h.db.execute("SELECT count(*) FROM rows").fetchone()[0]
    h.save(second, OK)
    assert h.db.execute("SELECT count(*) FROM rows").fetchone()[0] == stored
    assert _summary(h.diff(2, 3)) == ([], [], [], [])


def _few_uid_halves(uid, data):
    """A key whose uid half takes only 3 values: most identities share one with another."""
    import hashlib

    high = hashlib.blake2b(uid.encode(), digest_size=1).digest()[0] % 3 - 1
    return high << 32 | int.from_bytes(hashlib.blake2b(data, digest_size=4).digest(), "big")


@pytest.mark.parametrize("collide", [False, True], ids=["real-keys", "shared-uid-halves"])
def test_snapshot_diff_matches_the_dict_comparison_on_random_scans(collide, monkeypatch):
    """Random scans (fields changed, identities added, removed, kept), with real keys and with keys
    whose uid halves nearly all collide: the SQL diff must equal the plain dict comparison."""
    import tempfile
    from pathlib import Path

    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from nhitui import history
    from nhitui.diff import compare

    if collide:
        monkeypatch.setattr(history, "_key", _few_uid_halves)
    muts = _mutations()
    scan = st.lists(st.tuples(st.integers(0, 25), st.integers(-1, len(muts) - 1)), max_size=30)

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(first=scan, second=scan)
    def check(first, second):
        def rows(spec):
            out = {}
            for n, m in spec:
                out[n] = muts[m](ident(n)) if m >= 0 else ident(n)
            return list(out.values())

        a, b = rows(first), rows(second)
        with tempfile.TemporaryDirectory() as tmp:
            h = History(Path(tmp) / "h.sqlite")
            d = h.diff(h.save(a, OK), h.save(b, OK))
            expected = compare(_as_dicts(a), _as_dicts(b), {"src": "ok"}, "a", "b")
            assert _summary(d) == _summary(expected)
            d.load()
            assert {c.uid: (c.old, c.new) for c in d.changed} == {c.uid: (c.old, c.new) for c in expected.changed}
            h.close()

    check()
