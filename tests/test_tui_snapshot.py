"""Opening instantly: the newest local snapshot shows first, then the scan refreshes it in place."""

from __future__ import annotations

import asyncio

from test_tui_support import SIZE, FakeConnector, config, ident, install, scored, settle, wait_until

from nhitui.history import History
from nhitui.model import SourceStatus
from nhitui.snapshot_open import SnapshotReader
from nhitui.tui.app import NhiApp


def saved(tmp_path, n: int = 30, state: str = "ok"):
    path = tmp_path / "history.sqlite"
    rows = scored([ident(i) for i in range(n)])
    h = History(path)
    h.save(rows, {"acme-aws": SourceStatus("acme-aws", "aws", state=state, count=n)})
    h.close()
    return path, rows


def test_reader_gives_rows_in_chunks_with_findings_and_statuses(tmp_path) -> None:
    path, rows = saved(tmp_path, 50)
    reader = SnapshotReader.open(path)
    assert reader is not None
    try:
        chunks = list(reader.chunks(size=20, first=20))
        statuses = reader.statuses()
    finally:
        reader.close()
    assert [len(c) for c in chunks] == [20, 20, 10]
    got = {i.uid: i for c in chunks for i in c}
    assert set(got) == {i.uid for i in rows}
    for i in rows:
        assert got[i.uid].finding_ids == i.finding_ids and got[i.uid].privilege == i.privilege
        assert all(f.severity == g.severity for f, g in zip(got[i.uid].findings, i.findings))
    assert statuses[0].state == "ok" and "rows from the snapshot of" in statuses[0].facts["note"]
    assert not statuses[0].error          # a note, not an error
    assert SnapshotReader.open(tmp_path / "absent.sqlite") is None


async def test_snapshot_first_then_the_refresh_replaces_rows_in_place(tmp_path, monkeypatch) -> None:
    path, _ = saved(tmp_path, 30)
    gate = asyncio.Event()
    fresh = [ident(i, name=f"fresh-{i}") for i in range(10)]
    fake = FakeConnector("acme-aws", batches=[fresh], gates=[gate])
    install(monkeypatch, {"acme-aws": fake})
    app = NhiApp(config(tmp_path, history_path=path), snapshot=True)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: len(app.inventory) == 30 and len(app.view) == 30)
        assert app.inventory.get(ident(3).uid).name == "key-0003"
        await wait_until(pilot, lambda: app.collecting)
        gate.set()
        await settle(pilot)
        assert sorted(i.name for i in app.inventory) == sorted(f"fresh-{i}" for i in range(10))
        assert app.inventory.statuses["acme-aws"].state == "ok"


async def test_a_failed_refresh_keeps_the_snapshot_rows_marked_failed(tmp_path, monkeypatch) -> None:
    path, _ = saved(tmp_path, 12)
    install(monkeypatch, {"acme-aws": FakeConnector("acme-aws", fail="401 Unauthorized: token revoked")})
    app = NhiApp(config(tmp_path, history_path=path), snapshot=True)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.inventory.statuses.get("acme-aws") is not None
                         and app.inventory.statuses["acme-aws"].state == "failed")
        await settle(pilot)
        assert len(app.inventory) == 12
        assert "401" in app.inventory.statuses["acme-aws"].error
        assert "showing the 12 rows of an earlier scan" in app.inventory.statuses["acme-aws"].error


async def test_a_large_snapshot_streams_in_whole_most_urgent_rows_on_top(tmp_path, monkeypatch) -> None:
    """Many chunks (made small here): every row arrives once, the statuses say how old the rows
    are, and the table's top rows are the snapshot's most urgent ones."""
    from nhitui import snapshot_open
    from nhitui.sandbox.synthetic import make_identities
    from nhitui.tui.view import attention_key

    monkeypatch.setattr(snapshot_open, "START", 50)
    monkeypatch.setattr(snapshot_open, "CHUNK", 400)
    path = tmp_path / "history.sqlite"
    rows = [i for i in make_identities(1500, seed=4) if i.source == "acme-aws"]
    h = History(path)
    h.save(rows, {"acme-aws": SourceStatus("acme-aws", "aws", state="ok", count=len(rows))})
    h.close()
    app = NhiApp(config(tmp_path, history_path=path), snapshot=True, collect=False)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: len(app.view) == len(rows))
        await settle(pilot)
        assert sorted(i.uid for i in app.inventory) == sorted(i.uid for i in rows)
        assert "min old)" in app.inventory.statuses["acme-aws"].facts["note"]
        top = [app.view.identity(n) for n in range(20)]
        assert [attention_key(i) for i in top] == sorted(attention_key(i) for i in app.inventory)[:20]
