"""The header's source chips: always on screen when there are sources, wrapped within its height."""

from __future__ import annotations

from textual.app import App, ComposeResult

from nhitui.model import SourceStatus
from nhitui.tui.widgets.status import StatusHeader


class HeaderApp(App[None]):
    def compose(self) -> ComposeResult:
        yield StatusHeader("nhitui")


def _statuses(n: int) -> dict[str, SourceStatus]:
    return {f"source-{i}": SourceStatus(source=f"source-{i}", provider="github", state="ok", count=1000 + i)
            for i in range(n)}


async def test_a_header_left_one_line_tall_gets_its_chips_back_at_the_next_update() -> None:
    """A layout request lost while the scan started left the header one line tall for good (seen in
    tmux: no source chips at all). The next update sees the laid-out height and lays it out again."""
    app = HeaderApp()
    async with app.run_test(size=(120, 20)) as pilot:
        header = app.query_one(StatusHeader)
        header.update_state({}, {"total": 0}, False)
        await pilot.pause()
        assert header.size.height == 1
        header._lines = 2                     # as if the chips' layout had been requested and lost
        header.update_state(_statuses(2), {"total": 2000}, False)
        await pilot.pause()
        assert header.size.height == 2


async def test_chips_that_wrap_get_the_lines_they_need() -> None:
    app = HeaderApp()
    async with app.run_test(size=(80, 20)) as pilot:
        header = app.query_one(StatusHeader)
        header.update_state(_statuses(2), {"total": 2000}, False)
        await pilot.pause()
        assert header.size.height == 2
        header.update_state(_statuses(10), {"total": 10000}, False)
        await pilot.pause()
        assert header.size.height >= 4       # ten chips of ~25 cells at 78 cells: four lines
