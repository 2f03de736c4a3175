"""The snapshot reader behind "open instantly" (nhitui/snapshot_open.py): the first chunk is the
snapshot's most urgent rows in the table's attention order, every row of the newest snapshot arrives
exactly once, rows decode exactly as the general store decoder does (hostile names included), and
statuses carry the snapshot's age. Timings live in benchmarks/bench_open.py."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from nhitui import snapshot_open
from nhitui.history import History, _decode_rows
from nhitui.model import COLUMNS, Finding
from nhitui.sandbox.synthetic import make_identities, statuses_of
from nhitui.snapshot_open import SnapshotReader, prefetch
from nhitui.store.rows import from_doc
from nhitui.tui.view import attention_key

ROWS = 3000




@pytest.fixture(scope="module")
def history(tmp_path_factory):
    """Two snapshots: an older one with extra critical rows that the newest no longer holds."""
    path = tmp_path_factory.mktemp("open") / "history.sqlite"
    rows = make_identities(ROWS, seed=5)
    gone = [replace(i, uid=i.uid + "-gone", last_used_at=None,
                    findings=(Finding("oidc-no-sub", "critical", "NHI5", "x"),)) for i in rows[:300]]
    taken = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=3)
    h = History(path)
    h.save(rows + gone, statuses_of(rows + gone), taken_at=taken - timedelta(days=1))
    h.save(rows, statuses_of(rows), taken_at=taken)
    h.close()
    return path, rows


def _read(path, **kw):
    reader = SnapshotReader.open(path)
    assert reader is not None
    try:
        return list(reader.chunks(**kw)), reader.statuses()
    finally:
        reader.close()


def test_first_chunk_is_the_most_urgent_rows_in_attention_order(history) -> None:
    path, rows = history
    chunks, _ = _read(path, size=1000, first=120)
    first, rest = chunks[0], [i for c in chunks[1:] for i in c]
    assert len(first) == 120
    keys = [attention_key(i) for i in first]
    assert keys == sorted(keys)
    # Nothing delivered later needs attention before the first screen's rows.
    assert max(keys) <= min(attention_key(i) for i in rest)
    # The same 120 keys as sorting every decoded row of the newest snapshot (the history keeps rule
    # ids, so severities are the rules' own: compare with its rows, not with the scan's identities).
    h = History(path)
    try:
        newest = h.snapshots()[0].id
        decoded = _decode_rows(h.db, h._members(newest)).values()
    finally:
        h.close()
    assert keys == sorted(attention_key(from_doc(r)) for r in decoded)[:120]
    # The older snapshot's critical rows are not part of the newest one.
    assert not [i for i in first if i.uid.endswith("-gone")]


def test_every_row_of_the_newest_snapshot_arrives_exactly_once_in_growing_chunks(history, monkeypatch) -> None:
    path, rows = history
    monkeypatch.setattr(snapshot_open, "START", 100)
    chunks, _ = _read(path, size=1000, first=50)
    uids = [i.uid for c in chunks for i in c]
    assert len(uids) == len(set(uids)) == ROWS
    assert set(uids) == {i.uid for i in rows}
    assert [len(c) for c in chunks] == [50, 100, 200, 400, 800, 1000, ROWS - 2550]


def test_rows_decode_exactly_as_the_general_decoder_does(history) -> None:
    """Identity equality covers every column; hostile names and scopes are sanitised the same way."""
    path, rows = history
    chunks, _ = _read(path)
    got = {i.uid: i for c in chunks for i in c}
    db = sqlite3.connect(path)
    try:
        stored = [json.loads(d) for (d,) in db.execute("SELECT data FROM rows")]
    finally:
        db.close()
    expected = {v[0]: from_doc(dict(zip(COLUMNS, v))) for v in stored}
    assert len(got) == ROWS
    assert all(got[u] == expected[u] for u in got)
    assert all(got[u].details == {"from_store": True} for u in got)
    # The hostile names of the synthetic org are among them, already made safe.
    assert any("\ufffd" in i.name for i in got.values())


def test_a_tampered_row_goes_through_the_general_decoder(tmp_path) -> None:
    path = tmp_path / "history.sqlite"
    rows = make_identities(40, seed=2)
    h = History(path)
    h.save(rows, statuses_of(rows))
    h.close()
    db = sqlite3.connect(path)
    key, data = db.execute("SELECT id, data FROM rows LIMIT 1").fetchone()
    values = json.loads(data)
    values[COLUMNS.index("stale")] = "true"             # a string, not a JSON boolean
    values[COLUMNS.index("scopes")] = "repo;admin:org"  # a joined string, not a list
    values[COLUMNS.index("name")] = "evil\x1b[31mname"
    db.execute("UPDATE rows SET data = ? WHERE id = ?", (json.dumps(values).encode(), key))
    db.commit()
    db.close()
    chunks, _ = _read(path)
    got = {i.uid: i for c in chunks for i in c}
    tampered = got[values[0]]
    assert tampered == from_doc(dict(zip(COLUMNS, values)))
    assert tampered.stale is True and tampered.scopes == ("repo", "admin:org")
    assert "\x1b" not in tampered.name
    assert len(got) == 40


def test_statuses_carry_the_snapshot_age(history) -> None:
    path, rows = history
    _, statuses = _read(path)
    assert {s.source for s in statuses} == {i.source for i in rows}
    for s in statuses:
        assert "(3 h old)" in s.facts["note"] and s.state == "ok" and not s.error
        taken = datetime.fromisoformat(s.facts["snapshot_taken_at"])
        assert timedelta(hours=2.9) < datetime.now(timezone.utc) - taken < timedelta(hours=3.1)
    assert sum(s.count for s in statuses) == ROWS


def test_a_prefetch_is_handed_over_once(history, tmp_path) -> None:
    path, rows = history
    prefetch(path, size=30)
    reader = SnapshotReader.open(path)
    assert reader is not None
    try:
        assert reader._first_rows is not None and len(reader._first_rows) == 30   # picked in the prefetch
        assert len({i.uid for c in reader.chunks(first=30) for i in c}) == ROWS
    finally:
        reader.close()
    # Taken: the next open reads afresh.
    again = SnapshotReader.open(path)
    assert again is not None and again._first_rows is None
    again.close()
    prefetch(tmp_path / "absent.sqlite")
    assert SnapshotReader.open(tmp_path / "absent.sqlite") is None


def test_a_damaged_file_fails_the_open_with_the_reason(tmp_path) -> None:
    path = tmp_path / "history.sqlite"
    path.write_bytes(b"not a database at all" * 100)
    prefetch(path)
    with pytest.raises(sqlite3.DatabaseError):
        SnapshotReader.open(path)
    with pytest.raises(sqlite3.DatabaseError):
        SnapshotReader.open(path)
    assert path.read_bytes().startswith(b"not a database")   # left for the next save to move aside


def test_a_chunk_beyond_sqlites_string_limit_is_read_in_parts(history) -> None:
    """SQLite refuses a string longer than its limit (huge rows); the reader then reads the chunk
    the way the history does, a statement per 900 keys, and still delivers every row once."""
    path, rows = history
    reader = SnapshotReader.open(path)
    assert reader is not None
    try:
        reader.db.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 200_000)   # a few hundred rows' worth
        with pytest.raises(sqlite3.DataError):
            reader.db.execute("SELECT group_concat(CAST(data AS TEXT)) FROM rows").fetchone()
        chunks = list(reader.chunks(size=2000, first=10))
    finally:
        reader.close()
    got = [i.uid for c in chunks for i in c]
    assert len(got) == len(set(got)) == ROWS and set(got) == {i.uid for i in rows}


def test_pause_is_called_between_slices_and_chunks_stay_whole(history, monkeypatch) -> None:
    """The TUI's loader steps off the GIL in `pause` while the UI is busy; slicing the decode must not
    change what the chunks hold."""
    path, rows = history
    monkeypatch.setattr(snapshot_open, "START", 100)
    monkeypatch.setattr(snapshot_open, "SLICE", 100)
    calls = []
    reader = SnapshotReader.open(path)
    assert reader is not None
    try:
        chunks = list(reader.chunks(size=1000, first=50, pause=lambda: calls.append(1)))
    finally:
        reader.close()
    assert [len(c) for c in chunks] == [50, 100, 200, 400, 800, 1000, ROWS - 2550]
    assert len(calls) == 1 + 2 + 4 + 8 + 10 + 5      # one per 100 rows after the first chunk
    uids = [i.uid for c in chunks for i in c]
    assert len(uids) == len(set(uids)) == ROWS


def test_the_head_is_stored_at_save_and_read_back_instead_of_ranked(history, tmp_path) -> None:
    """Saving stores the first chunk's keys (ranking 100k rows costs ~0.25 s of the 0.5 s launch);
    they equal the ranking done at open, a file without them (an older nhitui's) is ranked as before,
    and a head naming a row outside the snapshot (a tampered file) is ignored."""
    from nhitui.history_db import _pack

    path, _rows = history
    reader = SnapshotReader.open(path)
    assert reader is not None
    try:
        stored = snapshot_open._stored_head(reader.db, reader.snap, reader.members)
        assert stored is not None and len(stored) == snapshot_open.FIRST
        assert stored == snapshot_open._urgent(reader.db, reader.members, snapshot_open.FIRST)
        wanted = [i.uid for i in reader.first_rows()]
        min_key = reader.db.execute("SELECT min(id) FROM rows").fetchone()[0]
    finally:
        reader.close()

    older = _altered_copy(path, tmp_path / "older.sqlite", "DROP TABLE heads")
    assert _first_uids(older, stored=False) == wanted

    tampered = _altered_copy(
        path, tmp_path / "tampered.sqlite",
        # the newest head names one row key outside the snapshot (below every stored key)
        ("UPDATE heads SET keys = ? WHERE snapshot_id = (SELECT max(snapshot_id) FROM heads)",
         (_pack([min_key - 1]),)))
    assert _first_uids(tampered, stored=False) == wanted


def _altered_copy(path, copy, *statements):
    """A copy of the history file `path` with `statements` run on it (SQL, or (SQL, parameters))."""
    import shutil

    shutil.copy(path, copy)
    db = sqlite3.connect(copy)
    for statement in statements:
        db.execute(*((statement,) if isinstance(statement, str) else statement))
    db.commit()
    db.close()
    return copy


def _first_uids(path, stored: bool) -> list[str]:
    """The first chunk's uids of `path`'s newest snapshot, checking whether its stored head was used."""
    reader = SnapshotReader.open(path)
    assert reader is not None
    try:
        head = snapshot_open._stored_head(reader.db, reader.snap, reader.members)
        assert (head is not None) == stored
        return [i.uid for i in reader.first_rows()]
    finally:
        reader.close()


def test_pruning_a_snapshot_drops_its_head(tmp_path) -> None:
    path = tmp_path / "history.sqlite"
    rows = make_identities(50, seed=2)
    h = History(path)
    try:
        h.save(rows, statuses_of(rows))
        h.save(rows[:20], statuses_of(rows[:20]))
        assert h.db.execute("SELECT count(*) FROM heads").fetchone()[0] == 2
        assert h.prune(keep=1) == 1
        kept = h.snapshots()[0].id
        assert [r[0] for r in h.db.execute("SELECT snapshot_id FROM heads")] == [kept]
    finally:
        h.close()
