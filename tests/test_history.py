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
