"""Textual takes the terminal over from the first screen drawn before it loaded (prepaint.py).

Textual's driver enters the alternate screen on start, which clears it: the first screen's rows
would vanish for the ~0.25 s until the dashboard's first frame. The first screen is already on the
alternate screen, so this driver skips that one sequence and lets the first frame overwrite every
cell. It also gives the user's terminal modes back first, so Textual saves and later restores
those, not the first screen's (no echo).
"""

from __future__ import annotations

from typing import Any

from nhitui.tui import prepaint

ALT_SCREEN = "\x1b[?1049h"


def keeping_first_screen(base: type[Any]) -> type[Any]:
    """`base` (Textual's driver class), keeping the first screen up until the first frame. Only for
    Textual's POSIX driver, whose start is known; any other gets the screen cleared first."""
    try:
        from textual.drivers.linux_driver import LinuxDriver
    except ImportError:         # not POSIX: the first screen was never drawn
        prepaint.abandon()
        return base
    if not (isinstance(base, type) and issubclass(base, LinuxDriver)):
        prepaint.abandon()
        return base

    class KeepFirstScreen(base):  # type: ignore[misc,valid-type]
        _keep = False

        def start_application_mode(self) -> None:
            prepaint.hand_over()
            self._keep = True
            super().start_application_mode()

        def write(self, data: str) -> None:
            if self._keep and data == ALT_SCREEN:
                self._keep = False
                return
            super().write(data)

    return KeepFirstScreen
