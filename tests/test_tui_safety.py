"""Provider strings are hostile: they render literally, never run actions, never crash, and no
control byte reaches the terminal. Uses the sandbox's HOSTILE_NAMES plus fields the model does not
sanitize itself (uid, kind, status, url, details, error messages)."""

from __future__ import annotations

import re
from dataclasses import replace

from test_tui_support import (
    SIZE,
    FakeConnector,
    hostile_rows,
    ident,
    prefilled_app,
    record_notifications,
    screen_text,
    shown,
)

from nhitui.model import BlindSpot, SourceStatus
from nhitui.sandbox.world import HOSTILE_NAMES
from nhitui.tui.screens.act import ActScreen
from nhitui.tui.widgets.table import IdentityTable

CONTROL = re.compile("[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
OSC = "\x1b]52;c;ZXZpbA==\x07"


def evil_identity(n: int = 0):
    return ident(800 + n, name="[@click=app.quit]x[/]",
                 uid=f"acme-aws:access_key:EVIL{n}{OSC}[/]", kind="access_key",
                 status=f"active{OSC}", url=f"https://example.com/{OSC}",
                 owner="dependabot[bot]", details={"note": f"weird[/]name \x1b[2J {OSC}", "tags": ["[b]x[/b]"]})


def assert_no_control(text: str) -> None:
    bad = CONTROL.findall(text.replace("\n", ""))
    assert not bad, f"control characters reached the screen: {bad!r}"


async def test_hostile_names_render_literally_and_no_escape_reaches_the_screen(tmp_path):
    rows = hostile_rows() + [evil_identity()]
    app = prefilled_app(tmp_path, rows, fake=FakeConnector("acme-aws"))
    app.inventory.set_status(SourceStatus("acme-aws", "aws", state="partial", count=len(rows),
                                          error=f"403 weird[/]name {OSC}\x1b[2J [@click=app.quit]q[/]",
                                          blind_spots=(BlindSpot("[b]x[/b]", f"denied {OSC}"),)))
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        click = next(r for r in rows if r.name == "[@click=app.quit]x[/]")
        app.table.move_cursor(app.view.position_of(click.uid))     # its full name is in the detail pane
        text = await shown(pilot)
        assert_no_control(text)
        assert "[@click=app.quit]x[/]" in text
        assert "weird[/]name" in text
        assert "[bold red]not bol" in text
        assert "dependabot[bot]" in text
        assert "403 weird[/]name" in text                     # the header's error, literally
        assert "osc52\ufffd]52;c;ZXZpb" in text
        # Every row's detail pane, every modal: still nothing raw.
        for position in range(len(app.view)):
            app.table.move_cursor(position)
            await pilot.pause()
            assert_no_control(screen_text(app))
        detail = app.query_one("#detail").text
        assert "weird[/]name" in detail and "[b]x[/b]" in detail
        assert_no_control(detail)
        await pilot.press("d")
        assert_no_control(await shown(pilot))
        await pilot.press("escape", "i")
        text = await shown(pilot)
        assert_no_control(text)
        assert "[b]x[/b]" in text
        await pilot.press("escape", "f")
        assert_no_control(await shown(pilot))
        assert app.is_running


async def test_clicking_a_click_markup_name_runs_nothing(tmp_path):
    rows = [ident(1, name="[@click=app.quit]x[/]"), ident(2)]
    app = prefilled_app(tmp_path, rows, fake=FakeConnector("acme-aws"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        table = app.query_one(IdentityTable)
        name_x = 2 + 10 + 19 + 1                                # mark, provider, kind, into the name
        for dx in range(0, 20, 4):
            await pilot.click(IdentityTable, offset=(name_x + dx, 1))
        assert app.is_running and table.cursor == 0
        detail = app.query_one("#detail-fields")
        for dx in range(0, 20, 4):
            await pilot.click(detail, offset=(dx, 0))
        assert app.is_running


async def test_confirm_modal_cannot_be_dismissed_by_a_name(tmp_path):
    fake = FakeConnector("acme-aws")
    rows = [ident(1, name="[@click=screen.dismiss(True)]ok[/]"), ident(2, name="[@click=app.quit]q[/]")]
    app = prefilled_app(tmp_path, rows, fake=fake)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("a", "ctrl+d")
        text = await shown(pilot)
        assert "[@click=screen.dismiss(True)]ok[/]" in text and "[@click=app.quit]q[/]" in text
        plan = app.screen.query_one("#plan")
        for y in (0, 4):                                           # the two names' lines
            for x in range(24, 62, 6):
                await pilot.click(plan, offset=(x, y))
        assert isinstance(app.screen, ActScreen) and app.is_running
    assert fake.executed == []


async def test_markup_in_every_field_never_crashes_and_notices_are_plain(tmp_path):
    rows = [ident(n, name=name, kind="weird[/]kind" if n % 2 else "access_key",
                  status="[/]" if n == 3 else "active") for n, name in enumerate(HOSTILE_NAMES)]
    rows.append(ident(99, name="fails [/] here"))
    fake = FakeConnector("acme-aws")
    app = prefilled_app(tmp_path, rows, fake=fake)
    seen = record_notifications(app)
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.pause()
        await pilot.press("c", "down", "c", "f")               # notices carry the uid and name
        await pilot.press("escape", "slash", *"weird[/]", "enter")
        await pilot.pause()
        assert len(app.view) >= 1
        await pilot.press("escape", "slash", *"fails", "enter", "d", "y")
        await app.workers.wait_for_complete()
        await pilot.press("enter")
        await pilot.pause()
        assert_no_control(await shown(pilot))
        assert app.is_running
    assert seen and all(kwargs.get("markup") is False for _, kwargs in seen)
    assert any("fails [/] here" in message for message, _ in seen)


async def test_sanitize_applies_to_unsanitized_model_fields(tmp_path):
    evil = evil_identity()
    app = prefilled_app(tmp_path, [evil])
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        row = app.table.row_text(0)
        assert_no_control(row)
        assert "active\ufffd]52" in row
        app.inventory.update(replace(evil, name="renamed \x9b31m"))
        app.data_changed()
        await pilot.pause()
        assert_no_control(await shown(pilot))
