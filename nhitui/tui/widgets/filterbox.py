"""The filter box: a one-line Input whose typing never re-lays out the screen.

Why: Textual's Input sets its virtual size on every keystroke, and a virtual size change is a
layout change by default, so each key re-laid out and re-rendered every widget on the screen
(10-15 ms at 100k rows) before the filter even ran. The box has a fixed size and no scrollbar, so
only its own line needs drawing; horizontal scrolling reads the virtual size directly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.geometry import Size
from textual.reactive import Reactive
from textual.widgets import Input


class FilterInput(Input):
    """An Input for a fixed-size bar (CSS gives it its width and one line).

    `on_change(value)` is called as the value changes, before the box is redrawn: the filter is
    applied in the same frame as the keystroke instead of one message hop (and one screen
    refresh of the box alone) later. `Input.Changed` is still posted.
    """

    virtual_size: Reactive[Size] = Reactive(Size(0, 0), layout=False)

    def __init__(self, *args: Any, on_change: Callable[[str], object] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._on_change = on_change

    def _watch_value(self, value: str) -> None:
        super()._watch_value(value)
        if self._on_change is not None and self.is_mounted:
            self._on_change(value)
