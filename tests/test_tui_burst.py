"""Keys arriving in one burst (a fast typist, a paste, tmux send-keys) go where a person means them."""

from __future__ import annotations

from test_tui_support import SIZE, ident, prefilled_app, settle
from textual import events
from textual.widgets import Input

from nhitui.tui.screens.export import ExportScreen


def burst(app, text: str) -> None:
    """Queue every key before the app handles the first, as a terminal delivers a burst."""
    for ch in text:
        app.post_message(events.Key("slash" if ch == "/" else ch, ch))


async def test_slash_then_a_word_in_one_burst_filters(tmp_path) -> None:
    app = prefilled_app(tmp_path, [ident(i, name=f"stale-{i}" if i % 3 else f"fresh-{i}") for i in range(30)])
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        sort_before = app.view.sort_key
        burst(app, "/stale")
        await settle(pilot)
        assert app.filter_input.value == "stale"
        assert app.view.sort_key == sort_before          # no `s` reached the table as "sort"
        # A `/` typed inside the filter is text (reaches:acme/api), not a new focus request.
        burst(app, " x/y")
        await settle(pilot)
        assert app.filter_input.value == "stale x/y"


async def test_slash_in_a_dialog_text_box_is_text(tmp_path) -> None:
    app = prefilled_app(tmp_path, [ident(i) for i in range(5)])
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("e")
        await settle(pilot)
        assert isinstance(app.screen, ExportScreen)
        box = app.screen.query_one(Input)
        box.value = ""
        box.focus()
        await settle(pilot)
        burst(app, "/tmp/out.csv")
        await settle(pilot)
        assert box.value == "/tmp/out.csv"
        assert not app.filter_input.value
