"""Pilot tests of the dashboard: streaming, filter, keys, acting, undo, export, read-only."""

from __future__ import annotations

import asyncio
import csv
import json

from test_tui_support import (
    SIZE,
    FakeConnector,
    config,
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
from textual.widgets import Input, OptionList

from nhitui.journal import Journal
from nhitui.tui.app import NhiApp
from nhitui.tui.screens.act import ActScreen
from nhitui.tui.screens.export import ExportScreen
from nhitui.tui.screens.info import HelpScreen, SecretScreen, SourcesScreen
from nhitui.tui.view import TableView, column_widths, narrows
from nhitui.tui.widgets.facets import FacetList


def rows(n: int = 30, **kw) -> list:
    return [ident(i, **kw) for i in range(n)]


# --- streaming and sources -----------------------------------------------------------------------

async def test_rows_stream_in_while_filtering_and_cursor_stays(tmp_path, monkeypatch):
    gates = [asyncio.Event() for _ in range(3)]
    batch1 = [ident(i, name=f"deploy-{i}" if i % 2 else f"other-{i}") for i in range(10)]
    batch2 = [ident(i, name=f"deploy-{i}" if i % 2 else f"other-{i}") for i in range(10, 20)]
    batch3 = [ident(i, name=f"other-{i}") for i in range(20, 25)]
    fake = FakeConnector("acme-aws", batches=[batch1, batch2, batch3], gates=gates)
    install(monkeypatch, {"acme-aws": fake})
    app = NhiApp(config(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert "running" in (await shown(pilot))
        gates[0].set()
        await wait_until(pilot, lambda: len(app.view) == 10)
        await pilot.press("slash", *"deploy", "enter")
        await pilot.pause()
        assert sorted(visible_names(app)) == sorted(f"deploy-{i}" for i in range(1, 10, 2))
        await pilot.press("down", "down")
        cursor_uid = app.table.cursor_uid
        assert app.table.cursor == 2
        gates[1].set()
        await wait_until(pilot, lambda: len(app.inventory) == 20 and len(app.view) == 10)
        # The filter survived the batch and applies to new rows; the cursor kept its uid.
        assert app.filter_input.value == "deploy"
        assert len(app.view) == 10 and all(n.startswith("deploy-") for n in visible_names(app))
        assert app.table.cursor_uid == cursor_uid
        await pilot.press("question_mark")       # a modal on top while the scan finishes
        gates[2].set()
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert len(app.inventory) == 25 and len(app.view) == 10
        assert app.table.cursor_uid == cursor_uid
        assert app.inventory.statuses["acme-aws"].state == "ok"
        assert "acme-aws ok 25" in (await shown(pilot))


async def test_a_source_failing_mid_scan_shows_failed_with_the_reason(tmp_path, monkeypatch):
    gate = asyncio.Event()
    good = FakeConnector("acme-aws", batches=[rows(5), rows(10)[5:]], gates=[asyncio.Event(), gate])
    good.gates[0].set()
    bad = FakeConnector("acme-bad", fail="401 Unauthorized: the token was revoked")
    half = FakeConnector("acme-half", batches=[rows(3, source="acme-half")],
                         fail="502 Bad Gateway on page 2 of /users")
    install(monkeypatch, {"acme-aws": good, "acme-bad": bad, "acme-half": half})
    app = NhiApp(config(tmp_path, names=["acme-aws", "acme-bad", "acme-half"]))
    seen = record_notifications(app)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: "acme-bad failed" in screen_text(app))
        # acme-aws is still scanning while acme-bad has already failed.
        assert app.inventory.statuses["acme-bad"].state == "failed"
        assert app.inventory.statuses["acme-aws"].state == "running"
        text = (await shown(pilot))
        assert "acme-bad failed: 401 Unauthorized: the token was revoked" in text
        gate.set()
        await settle(pilot)
        text = (await shown(pilot))
        assert "acme-half partial 3" in text and "502 Bad Gateway" in text
        assert "acme-aws ok 10" in text
        assert any("acme-bad failed: 401" in m for m, _ in seen)
        await pilot.press("i")
        await pilot.pause()
        assert isinstance(app.screen, SourcesScreen)
        assert "401 Unauthorized" in (await shown(pilot))


async def test_refresh_all_and_refresh_one_source(tmp_path, monkeypatch):
    a = FakeConnector("acme-aws", batches=[rows(4)])
    b = FakeConnector("acme-b", batches=[rows(2, source="acme-b")])
    install(monkeypatch, {"acme-aws": a, "acme-b": b})
    app = NhiApp(config(tmp_path, names=["acme-aws", "acme-b"]))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert (a.collected, b.collected) == (1, 1)
        # The two sources finish in either order: put the cursor on an acme-aws row by filtering.
        await pilot.press("slash", *"source:acme-aws", "enter")
        await pilot.pause()
        cursor_uid = app.table.cursor_uid
        assert app.table.cursor_identity.source == "acme-aws"
        await pilot.press("r")
        await settle(pilot)
        assert (a.collected, b.collected) == (2, 2)
        assert app.table.cursor_uid == cursor_uid        # a rescan keeps the cursor on its row
        await pilot.press("R")
        await settle(pilot)
        assert (a.collected, b.collected) == (3, 2)
        assert len(app.inventory) == 6


# --- filter --------------------------------------------------------------------------------------

async def test_filter_inline_error_escape_clears_and_returns_focus(tmp_path):
    app = prefilled_app(tmp_path, rows(20) + [ident(50, provider="github", source="acme-aws", name="gh")])
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.focused is app.table            # AUTO_FOCUS: `/` is not swallowed by the input
        await pilot.press("slash")
        assert app.focused is app.filter_input
        await pilot.press(*"provider:github")
        await pilot.pause()
        assert visible_names(app) == ["gh"]
        await pilot.press(" ", "!")
        await pilot.pause()
        error = app.query_one("#filter-error")
        assert error.display and "needs a term to negate" in (await shown(pilot))
        assert visible_names(app) == ["gh"]      # the last good view stays
        app.filter_input.value = "provider:github age>soon"
        await pilot.pause()
        assert "not a duration" in (await shown(pilot)) and visible_names(app) == ["gh"]
        await pilot.press("escape")
        await pilot.pause()
        assert app.filter_input.value == "" and not error.display
        assert len(app.view) == 21 and app.focused is app.table


async def test_narrowing_filter_equals_full_scan():
    from nhitui.inventory import Inventory
    from nhitui.query import parse

    inventory = Inventory()
    inventory.add(scored(rows(300)))
    view = TableView(inventory)
    for text in ("k", "ke", "key-00", "key-00 stale", "key-00 stale privilege>=read"):
        view.set_query(parse(text))
        full = TableView(inventory)
        full.query = None
        full.set_query(parse(text))
        assert view.view == full.view, text
    assert narrows("acm", "acme") and narrows("a", "a stale")
    assert not narrows("provider:git", "provider:github") and not narrows("stale", "stale1")
    assert sum(column_widths(140)) + 2 + 11 == 140


async def test_facet_selection_adds_a_term(tmp_path):
    app = prefilled_app(tmp_path, rows(5) + [ident(60, provider="github", kind="deploy_key", name="gh-key")])
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        facets = app.query_one(FacetList)
        assert not facets.display                # 140 columns: hidden until `f`
        await pilot.press("f")
        await settle(pilot)
        assert facets.display and app.focused is facets
        index = facets.get_option_index("provider:github")
        facets.highlighted = index
        await pilot.press("enter")
        await pilot.pause()
        assert app.filter_input.value == "provider:github"
        assert visible_names(app) == ["gh-key"]
        await settle(pilot)
        facets.highlighted = facets.get_option_index("provider:github")
        await pilot.press("enter")               # selecting it again removes the term
        await pilot.pause()
        assert app.filter_input.value == "" and len(app.view) == 6


# --- keys ----------------------------------------------------------------------------------------

async def test_sort_reverse_mark_and_mark_all(tmp_path):
    data = [ident(i, name=f"n{i:02d}", privilege=("admin" if i == 7 else "read")) for i in range(12)]
    app = prefilled_app(tmp_path, data)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("s", "s", "s")         # provider -> kind -> name
        assert app.view.sort_key == "name" and not app.view.reverse
        assert visible_names(app)[0] == "n00"
        await pilot.press("S")
        assert app.view.reverse and visible_names(app)[0] == "n11"
        assert "sort: name" in (await shown(pilot))
        for _ in range(3):
            await pilot.press("s")
        assert app.view.sort_key == "privilege" and visible_names(app)[0] == "n07"
        await pilot.press("home", "space")
        assert app.view.marked == {data[7].uid} and app.table.cursor == 1
        await pilot.press("slash", *"n0", "enter")
        await pilot.press("a")
        assert len(app.view.marked) == 10        # n00..n09 visible, all marked
        await pilot.press("a")
        assert app.view.marked == set()
        await pilot.pause()
        assert "10 marked" not in (await shown(pilot))


async def test_open_copy_help_palette_and_quit(tmp_path, monkeypatch):
    opened: list[str] = []
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.setattr("nhitui.tui.app.webbrowser.open", lambda url, new=0: opened.append(url) or True)
    data = rows(8)
    app = prefilled_app(tmp_path, data)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        first = app.table.cursor_identity        # the top row of the default (attention) order
        await pilot.press("o")
        await app.workers.wait_for_complete()
        assert opened == [first.url] and first.uid in {r.uid for r in data}
        await pilot.press("c")
        assert app.clipboard == first.uid
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        text = app.screen.body.plain
        for binding in app.BINDINGS:
            assert binding.description in text
        assert "PyPI has no API" in text and "pypi.org/manage/account" in text
        await pilot.press("escape")
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"stale admin")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause()
        assert app.filter_input.value == "stale privilege>=admin"
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0


async def test_open_without_a_browser_is_a_no_op(tmp_path, monkeypatch):
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "BROWSER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("nhitui.tui.app.sys.platform", "linux")
    monkeypatch.setattr("nhitui.tui.app.webbrowser.open", lambda *a, **k: (_ for _ in ()).throw(AssertionError))
    app = prefilled_app(tmp_path, rows(2))
    seen = record_notifications(app)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("o")
        await app.workers.wait_for_complete()
    assert any("No browser here" in m for m, _ in seen)


async def test_keys_are_rebindable_from_config(tmp_path):
    app = prefilled_app(tmp_path, rows(3), keys={"quit": "x", "filter": "ctrl+f", "bogus": "z"})
    seen = record_notifications(app)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("q")
        assert app.is_running
        await pilot.press("ctrl+f")
        assert app.focused is app.filter_input
        await pilot.press("escape", "x")
        await pilot.pause()
    assert app.return_code == 0
    assert any("bogus" in m for m, _ in seen)


# --- acting --------------------------------------------------------------------------------------

async def test_act_confirm_updates_from_provider_and_journals(tmp_path):
    fake = FakeConnector("acme-aws")
    data = rows(5)
    app = prefilled_app(tmp_path, data, fake=fake)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        first = app.table.cursor_identity
        assert "deactivate" in app.query_one("#detail").text and "reversible" in app.query_one("#detail").text
        await pilot.press("d")
        await pilot.pause()
        assert isinstance(app.screen, ActScreen)
        text = (await shown(pilot))
        assert f"UpdateAccessKey {first.native_id} Status=Inactive" in text and "revoke_profile admin" in text
        assert "reversible" in text and first.uid in text
        await pilot.press("y")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "1 done, 0 failed" in (await shown(pilot))
        await pilot.press("enter")
        await pilot.pause()
        assert not isinstance(app.screen, ActScreen)
        assert app.inventory.get(first.uid).status == "inactive"
        assert app.table.cursor_identity.status == "inactive"
        assert fake.executed == [(first.uid, "deactivate")]
        events = [(r["event"], r.get("result")) for r in Journal(tmp_path / "journal.jsonl")]
        assert events == [("intent", None), ("result", "ok")]

        # u undoes it: the plan is the reverse action, confirmed like any other.
        await pilot.press("u")
        await pilot.pause()
        assert isinstance(app.screen, ActScreen) and f"Undo: activate {first.name}" in (await shown(pilot))
        await pilot.press("y")
        await app.workers.wait_for_complete()
        await pilot.press("escape")
        await pilot.pause()
        assert app.inventory.get(first.uid).status == "active"
        assert fake.executed[-1] == (first.uid, "activate")
        notes = record_notifications(app)
        await pilot.press("u")
        await pilot.pause()
        assert not isinstance(app.screen, ActScreen) and notes[-1][0] == "Nothing to undo."


async def test_cancel_sends_nothing(tmp_path):
    fake = FakeConnector("acme-aws")
    app = prefilled_app(tmp_path, rows(3), fake=fake)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("d")
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, ActScreen)
        await pilot.press("d")
        await pilot.pause()
        await pilot.click("#cancel")
        await pilot.pause()
    assert fake.executed == []
    assert not (tmp_path / "journal.jsonl").exists()


async def test_irreversible_action_needs_the_name_typed(tmp_path):
    fake = FakeConnector("acme-aws")
    data = rows(3)
    app = prefilled_app(tmp_path, data, fake=fake)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        first = app.table.cursor_identity
        await pilot.press("d")
        await pilot.pause()
        await pilot.press("down", "enter")       # choose "delete"
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ActScreen) and screen.plan.steps[0].action == "delete"
        assert "IRREVERSIBLE" in (await shown(pilot)) and screen.expected_word == first.name
        assert app.focused.id == "confirm-input"
        await pilot.press("y")                    # typed into the box: not a confirmation
        assert app.focused.value == "y" and fake.executed == []
        await pilot.press("backspace", *first.name[:-2], "enter")
        await pilot.pause()
        assert fake.executed == [] and screen.query_one("#confirm").disabled
        await pilot.press(*first.name[-2:], "enter")
        await app.workers.wait_for_complete()
        await pilot.press("enter")
        await pilot.pause()
    assert fake.executed == [(first.uid, "delete")] and first.uid in {r.uid for r in data}
    assert app.inventory.get(first.uid) is None and len(app.view) == 2


async def test_typing_the_name_straight_away_goes_into_the_confirmation_box(tmp_path):
    """The prompt says "type the name": a responder who types at once, with the action list still
    focused, must have every key land in the box, and Enter then confirms."""
    fake = FakeConnector("acme-aws")
    data = rows(3)
    app = prefilled_app(tmp_path, data, fake=fake)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        first = app.table.cursor_identity
        await pilot.press("d")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ActScreen) and app.focused.id == "actions"
        await pilot.press("down")                 # "delete", the irreversible one
        await pilot.pause()
        assert screen.expected_word == first.name
        await pilot.press(*first.name)
        assert app.focused.id == "confirm-input" and app.focused.value == first.name
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.press("enter")
        await pilot.pause()
    assert fake.executed == [(first.uid, "delete")] and first.uid in {r.uid for r in data}


async def test_bulk_needs_the_count_and_shows_each_result(tmp_path):
    fake = FakeConnector("acme-aws")
    data = rows(4) + [ident(99, name="fails-here")]
    app = prefilled_app(tmp_path, data, fake=fake)
    seen = record_notifications(app)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("slash", *"fails", "enter", "space", "escape")
        await pilot.press("slash", *"key-", "enter", "home", "space", "space", "escape")
        assert len(app.view.marked) == 3
        await pilot.press("ctrl+d")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ActScreen) and len(screen.plan.steps) == 3 and screen.expected_word == "3"
        assert "type the number of identities" in (await shown(pilot))
        await pilot.press("y")                    # not a confirmation of a bulk plan: it goes into the box
        assert fake.executed == [] and screen.query_one("#confirm-input", Input).value == "y"
        assert app.focused is screen.query_one("#confirm-input", Input)
        await pilot.press("backspace", "3", "enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        text = (await shown(pilot))
        assert "2 done, 1 failed" in text and "AccessDenied: not allowed" in text and "HTTP 403" in text
        await pilot.press("enter")
        await pilot.pause()
    assert len(fake.executed) == 3
    assert app.view.marked == {data[-1].uid}      # the failed one stays marked
    assert any("1 failed" in m for m, _ in seen)


async def test_a_rotated_secret_is_shown_once_and_never_journaled(tmp_path):
    fake = FakeConnector("acme-aws", secret="AKIANEWSECRETVALUE123")
    app = prefilled_app(tmp_path, rows(2), fake=fake)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("d")
        await pilot.pause()
        options = app.screen.query_one("#actions", OptionList)
        options.highlighted = options.get_option_index("rotate")
        await pilot.press("enter")
        await pilot.pause()
        await pilot.press(*app.screen.expected_word, "enter")
        await app.workers.wait_for_complete()
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, SecretScreen)
        assert "AKIANEWSECRETVALUE123" in (await shown(pilot))
        await pilot.press("escape")
        await pilot.pause()
        assert "AKIANEWSECRETVALUE123" not in (await shown(pilot))
    assert "AKIANEWSECRETVALUE123" not in (tmp_path / "journal.jsonl").read_text()


async def test_read_only_hides_every_action(tmp_path):
    fake = FakeConnector("acme-aws")
    app = prefilled_app(tmp_path, rows(3), fake=fake, read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        footer = (await shown(pilot)).splitlines()[-1]
        assert "Act" not in footer and "Undo" not in footer and "Filter" in footer
        assert "READ-ONLY" in (await shown(pilot))
        assert "read-only mode" in app.query_one("#detail").text
        await pilot.press("d", "ctrl+d", "u")
        await pilot.pause()
        assert not isinstance(app.screen, ActScreen)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Act on row" not in titles and "Undo" not in titles and "Export" in titles
        await pilot.press("question_mark")
        assert "every action is hidden" in app.screen.body.plain
    assert fake.executed == []


# --- export --------------------------------------------------------------------------------------

async def test_export_writes_the_filtered_view(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = rows(10) + [ident(70, name="=cmd|calc", target="gh"), ident(71, name="keep-me")]
    app = prefilled_app(tmp_path, data)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("slash", *"keep-me =cmd", "enter")
        await pilot.press("escape")
        await pilot.press("slash", *"-me", "enter")
        assert visible_names(app) == ["keep-me"]
        await pilot.press("e")
        await pilot.pause()
        assert isinstance(app.screen, ExportScreen)
        box = app.screen.query_one("#path", Input)
        assert box.value.startswith("./nhitui-") and box.value.endswith(".csv")
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        path, fmt, n = app.last_export
        with open(tmp_path / path, newline="", encoding="utf-8") as fh:
            table = list(csv.DictReader(fh))
        assert n == 1 and [r["name"] for r in table] == ["keep-me"]

        await pilot.press("escape", "s", "s", "s")     # no filter, sorted by name
        await pilot.press("e")
        await pilot.pause()
        app.screen.query_one("#fmt-json").value = True
        await pilot.pause()
        box = app.screen.query_one("#path", Input)
        assert box.value.endswith(".json")
        box.value = str(tmp_path / "all.json")
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
    document = json.loads((tmp_path / "all.json").read_text())
    names = [r["name"] for r in document["identities"]]
    assert names == sorted(names, key=str.casefold) and len(names) == 12


async def test_export_shows_an_inline_error_for_a_bad_path(tmp_path):
    app = prefilled_app(tmp_path, rows(2))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("e")
        await pilot.pause()
        app.screen.query_one("#path", Input).value = str(tmp_path / "missing" / "x.csv")
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ExportScreen)
        assert "does not exist" in str(app.screen.query_one("#error").visual)
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, ExportScreen)


async def test_acting_on_an_inactive_row_never_defaults_to_restoring_it(tmp_path):
    fake = FakeConnector("acme-aws")
    app = prefilled_app(tmp_path, [ident(1, status="inactive")], fake=fake)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("d")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ActScreen)
        assert [a.name for a in screen.choices] == ["delete", "activate"]
        assert screen.plan.steps[0].action == "delete"
