from __future__ import annotations

import json

import pytest

from nhitui.journal import Journal


def test_records_are_fsynced_lines_with_operator_and_private_file(tmp_path):
    j = Journal(tmp_path / "j.jsonl")
    j.append({"event": "intent", "attempt": "a1", "uid": "s:k:1", "action": "delete", "plan": "p"})
    j.append({"event": "result", "attempt": "a1", "uid": "s:k:1", "action": "delete", "plan": "p", "result": "ok"})
    lines = (tmp_path / "j.jsonl").read_text().splitlines()
    assert [json.loads(x)["event"] for x in lines] == ["intent", "result"]
    assert json.loads(lines[0])["operator"]
    assert ((tmp_path / "j.jsonl").stat().st_mode & 0o777) == 0o600
    assert j.pending() == [] and j.done("p") == {("s:k:1", "delete")}


def test_torn_last_line_is_tolerated_and_reported(tmp_path):
    path = tmp_path / "j.jsonl"
    j = Journal(path)
    j.append({"event": "intent", "attempt": "a1", "uid": "u", "action": "x", "plan": "p"})
    with open(path, "a") as fh:
        fh.write('{"event": "res')   # killed mid-write
    reading = j.read()
    assert len(reading.records) == 1 and reading.corrupt == [2]
    j.append({"event": "intent", "attempt": "a2", "uid": "v", "action": "x", "plan": "p"})
    assert [r["attempt"] for r in j.read().records] == ["a1", "a2"]
    assert {r["attempt"] for r in j.pending()} == {"a1", "a2"}


def test_secret_keys_are_refused(tmp_path):
    with pytest.raises(ValueError):
        Journal(tmp_path / "j.jsonl").append({"event": "result", "token": "x"})
