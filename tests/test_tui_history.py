"""Pilot tests of the TUI's history: snapshots saved after a scan, the `new` marker and filter term,
the history list (h), the diff view, and history problems reported as notifications, not crashes."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import timedelta

from test_tui_support import (
    NOW,
    SIZE,
    FakeConnector,
    config,
    hostile_rows,
    ident,
    install,
    prefilled_app,
    record_notifications,
    scored,
    screen_text,
    settle,
    shown,
    visible_names,
    wait_until,
)
from textual.widgets import OptionList

from nhitui.history import History
from nhitui.model import SourceStatus
from nhitui.tui.app import NhiApp
from nhitui.tui.screens.history import DiffScreen, HistoryScreen
from nhitui.tui.screens.info import HelpScreen

OK = {"acme-aws": SourceStatus("acme-aws", "aws", "ok", count=1)}
FAILED = {"acme-aws": SourceStatus("acme-aws", "aws", "failed", error="timeout")}


def rows(*numbers: int) -> list:
    return [ident(n) for n in numbers]


def save(path, identities, statuses=OK) -> int:
    db = History(path)
    try:
        return db.save(scored(identities), statuses)
    finally:
        db.close()


async def scan_and_record(pilot, app: NhiApp, saved: int) -> None:
    await wait_until(pilot, lambda: app.history_record is not None and app.history_record.saved == saved)
    await settle(pilot)


# --- scans save snapshots; `new` marker and filter ------------------------------------------------

async def test_second_scan_marks_new_identities_and_new_filters_to_exactly_them(tmp_path, monkeypatch):
    path = tmp_path / "history.sqlite"
    fake = FakeConnector("acme-aws", batches=[rows(*range(5))])
    install(monkeypatch, {"acme-aws": fake})
    app = NhiApp(config(tmp_path, history_path=path))
    notes = record_notifications(app)
    async with app.run_test(size=SIZE) as pilot:
        await scan_and_record(pilot, app, saved=1)
        # First scan ever: nothing is marked new, and the header says why.
        assert app.history_record.previous is None and not app.view.new_uids
        assert "first snapshot: nothing marked new" in await shown(pilot)
        assert not [line for line in screen_text(app).splitlines() if line.startswith("+ ")]
        await pilot.press("slash", *"new", "enter")
        await pilot.pause()
        assert len(app.view) == 0                    # no snapshot to compare with yet: nothing is new

        fake.batches = [rows(*range(8))]             # the second scan adds three identities
        await pilot.press("r")
        await scan_and_record(pilot, app, saved=2)
        new = {ident(n).uid for n in (5, 6, 7)}
        assert app.view.new_uids == new
        # The filter typed before the scan finished now shows exactly the new identities.
        assert app.filter_input.value == "new"
        assert sorted(visible_names(app)) == ["key-0005", "key-0006", "key-0007"]
        text = await shown(pilot)
        assert "3 new since #1" in text
        assert len([line for line in text.splitlines() if line.startswith("+ aws")]) == 3

        await pilot.press("escape")                  # clear the filter: every row, three of them marked
        await pilot.pause()
        assert len(app.view) == 8
        markers = {i.uid: app.table.marker(i) for i in app.view.identities()}
        assert {u for u, m in markers.items() if m == "+"} == new
        assert len([line for line in (await shown(pilot)).splitlines() if line.startswith("+ aws")]) == 3
        await pilot.press("slash", *"!new", "enter")
        await pilot.pause()
        assert sorted(visible_names(app)) == [f"key-{n:04d}" for n in range(5)]
        # The detail pane says so too.
        await pilot.press("escape", "slash", *"new", "enter")
        await pilot.pause()
        assert "NEW: not in the previous snapshot" in await shown(pilot)
    assert [s.id for s in History(path).snapshots()] == [2, 1]
    assert not [n for n in notes if n[1].get("severity") in ("error", "warning")]


async def test_no_snapshot_while_a_source_runs_and_partial_sources_saved_as_they_are(tmp_path):
    path = tmp_path / "history.sqlite"
    app = prefilled_app(tmp_path, rows(*range(3)), history_path=path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.inventory.set_status(SourceStatus("acme-aws", "aws", "running"))
        assert app.record_history() is False
        app.inventory.set_status(SourceStatus("acme-aws", "aws", "partial", count=3))
        assert app.record_history() is True
        await wait_until(pilot, lambda: app.history_record is not None)
        await settle(pilot)
    db = History(path)
    [snap] = db.snapshots()
    assert db.statuses(snap.id) == {"acme-aws": "partial"} and snap.count == 3


async def test_history_save_off_creates_no_file_but_still_marks_new(tmp_path, monkeypatch):
    path = tmp_path / "history.sqlite"
    fake = FakeConnector("acme-aws", batches=[rows(*range(4))])
    install(monkeypatch, {"acme-aws": fake})
    app = NhiApp(config(tmp_path, history_path=path, history_save=False))
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.history_record is not None)
        await settle(pilot)
        assert app.history_record.saved is None and not path.exists()
    save(path, rows(0, 1))
    app = NhiApp(config(tmp_path, history_path=path, history_save=False))
    install(monkeypatch, {"acme-aws": FakeConnector("acme-aws", batches=[rows(*range(4))])})
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.history_record is not None)
        await settle(pilot)
        assert app.view.new_uids == {ident(2).uid, ident(3).uid}
    assert len(History(path).snapshots()) == 1


# --- the history list and the diff view -----------------------------------------------------------

async def computed_diff(pilot, app: NhiApp):
    """The diff of the DiffScreen just opened, once its worker has computed it."""
    screen = app.screen
    assert isinstance(screen, DiffScreen)
    await wait_until(pilot, lambda: screen.diff is not None)
    return screen.diff


def two_snapshots(path) -> None:
    save(path, rows(0, 1, 2, 3, 4, 5))
    rotated = replace(ident(2), created_at=NOW - timedelta(days=1))
    save(path, rows(1, 3, 4, 5, 6, 7) + [rotated])   # 2 added, 1 removed (0), 1 changed (2)


async def test_h_opens_the_list_and_a_diff_shows_the_right_counts(tmp_path):
    path = tmp_path / "history.sqlite"
    two_snapshots(path)
    app = prefilled_app(tmp_path, rows(*range(8)), history_path=path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert "h History" in (await shown(pilot)).splitlines()[-1]    # the footer
        await pilot.press("h")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, HistoryScreen)
        await wait_until(pilot, lambda: screen.loaded)
        options = screen.query_one(OptionList)
        assert [options.get_option_at_index(i).id for i in range(options.option_count)] == [
            "current", "snap-2", "snap-1"]
        text = await shown(pilot)
        assert "2 snapshots, newest first" in text and "#2" in text and "acme-aws ok" in text
        assert "7 identities" in text and "6 identities" in text
        # Enter on the newest snapshot compares it with the one before it.
        assert options.highlighted_option.id == "snap-2"
        await pilot.press("enter")
        await pilot.pause()
        diff = await computed_diff(pilot, app)
        assert (len(diff.added), len(diff.removed), len(diff.changed), len(diff.unknown)) == (2, 1, 1, 0)
        assert diff.changed[0].uid == ident(2).uid and "rotated" in diff.changed[0].what
        text = await shown(pilot)
        assert "2 added \u00b7 1 removed \u00b7 1 changed \u00b7 0 unknown" in text
        assert "Added (2)" in text and "Removed (1)" in text and "Changed (1)" in text
        assert "key-0006" in text and "key-0000" in text and "created_at:" in text
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is screen                  # esc goes back to the list
        # One snapshot selected + the current scan (rows 0..7, no source status: unseen rows are unknown).
        await pilot.press("down", "space", "c")      # select #1
        await pilot.pause()
        diff = await computed_diff(pilot, app)
        assert diff.new == "current scan"
        assert (len(diff.added), len(diff.removed), len(diff.changed), len(diff.unknown)) == (2, 0, 0, 0)
        await pilot.press("escape", "escape")
        await pilot.pause()
        assert app.screen is app.screen_stack[0]


async def test_two_selected_snapshots_and_a_failed_source_reports_unknown(tmp_path):
    path = tmp_path / "history.sqlite"
    two_snapshots(path)
    save(path, rows(1, 3), FAILED)                   # the source failed: the rest is unknown, not removed
    app = prefilled_app(tmp_path, rows(1), history_path=path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("h")
        screen = app.screen
        await wait_until(pilot, lambda: screen.loaded)
        # current, #3, #2, #1 (the cursor starts on the newest snapshot): select #3 and #1, compare.
        await pilot.pause()
        assert screen.query_one(OptionList).highlighted_option.id == "snap-3"
        await pilot.press("space", "down", "down", "space")
        await pilot.pause()
        assert screen.selected == ["snap-3", "snap-1"]
        assert "\u25cf #3" in await shown(pilot)
        await pilot.press("d")
        await pilot.pause()
        diff = await computed_diff(pilot, app)
        assert diff.old == "snapshot 1" and diff.new == "snapshot 3"
        assert len(diff.removed) == 0 and len(diff.unknown) == 4 and len(diff.added) == 0
        assert "4 unknown" in await shown(pilot)


async def test_hostile_names_in_a_diff_are_shown_literally(tmp_path):
    path = tmp_path / "history.sqlite"
    save(path, rows(1))
    save(path, rows(1) + hostile_rows())
    app = prefilled_app(tmp_path, rows(1), history_path=path)
    quit_called = []
    app.action_quit = lambda: quit_called.append(True)  # type: ignore[method-assign]
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("h")
        screen = app.screen
        await wait_until(pilot, lambda: screen.loaded)
        await pilot.press("enter")
        await computed_diff(pilot, app)
        text = await shown(pilot)
        assert "dependabot[bot]" in text and "weird[/]name" in text and "[@click=app.quit]x[/]" in text
        assert "\x1b" not in text and "\u009b" not in text and "\u202e" not in text
        await pilot.click(OptionList, offset=(10, 3))
        await pilot.pause()
        assert not quit_called and app.is_running


# --- keys ------------------------------------------------------------------------------------------

async def test_history_key_is_in_help_and_palette_and_rebindable(tmp_path):
    app = prefilled_app(tmp_path, rows(0), history_path=tmp_path / "h.sqlite", keys={"history": "H"})
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert any(k == "H" and d == "History" for k, d, _ in app.key_list())
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "History" in titles and "Filter: new" in titles
        await pilot.press("H")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, HistoryScreen)
        await wait_until(pilot, lambda: screen.loaded)
        assert "No snapshot yet" in await shown(pilot)
        assert not (tmp_path / "h.sqlite").exists()     # looking does not create a database
        await pilot.press("escape", "question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        assert "History (H)" in app.screen.body.plain and "H lists the snapshots" in app.screen.body.plain


# --- history problems are notifications -------------------------------------------------------------

async def test_a_corrupt_history_file_is_a_notification_not_a_crash(tmp_path, monkeypatch):
    path = tmp_path / "history.sqlite"
    path.write_bytes(b"this is not a database\x00" * 400)
    install(monkeypatch, {"acme-aws": FakeConnector("acme-aws", batches=[rows(*range(3))])})
    app = NhiApp(config(tmp_path, history_path=path))
    notes = record_notifications(app)
    async with app.run_test(size=SIZE) as pilot:
        await scan_and_record(pilot, app, saved=1)
        warnings = [(m, kw) for m, kw in notes if "moved aside" in m]
        assert warnings and warnings[0][1]["markup"] is False and warnings[0][1]["severity"] == "warning"
        assert app.is_running and len(app.inventory) == 3
        assert not app.view.new_uids                 # a fresh history: nothing to compare with
    assert list(tmp_path.glob("history.sqlite.corrupt-*"))


async def test_a_newer_history_schema_is_reported_and_the_app_keeps_running(tmp_path, monkeypatch):
    path = tmp_path / "history.sqlite"
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version=999")
    db.commit()
    db.close()
    install(monkeypatch, {"acme-aws": FakeConnector("acme-aws", batches=[rows(*range(3))])})
    app = NhiApp(config(tmp_path, history_path=path))
    notes = record_notifications(app)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: any("History not saved" in m for m, _ in notes))
        await settle(pilot)
        error = next(kw for m, kw in notes if "History not saved" in m)
        assert error["severity"] == "error" and error["markup"] is False
        assert "history not saved" in await shown(pilot)
        await pilot.press("h")
        screen = app.screen
        await wait_until(pilot, lambda: isinstance(screen, HistoryScreen) and screen.loaded)
        assert "Cannot read the history" in await shown(pilot)
        await pilot.press("escape")
        await pilot.pause()
        assert app.is_running and len(app.inventory) == 3


def test_diff_with_the_current_scan_matches_the_diff_of_the_saved_snapshot(tmp_path):
    path = tmp_path / "history.sqlite"
    save(path, rows(0, 1, 2, 3))
    current = scored(rows(1, 3, 4) + [replace(ident(2), created_at=NOW - timedelta(days=1))])
    db = History(path)
    try:
        live = db.diff_with(1, current, OK)
        saved = db.diff(1, db.save(current, OK))
    finally:
        db.close()
    assert live.new == "current" and live.old == "snapshot 1"
    for part in ("added", "removed", "unknown"):
        assert sorted(r["uid"] for r in getattr(live, part)) == sorted(r["uid"] for r in getattr(saved, part))
    assert [(c.uid, c.what) for c in live.changed] == [(c.uid, c.what) for c in saved.changed]
    assert (len(live.added), len(live.removed), len(live.changed)) == (1, 1, 1)
