"""The first screen, drawn before Textual is imported: the saved snapshot's most urgent rows.

Why: issue 19 asks for rows within 0.5 s of launch at 100k identities. The dashboard's own start
cannot meet that: importing Textual takes ~0.4 s and our UI modules ~0.2 s before its first frame
(~0.25 s). The rows themselves are ready far sooner (the snapshot's stored head: a few
milliseconds). So the launcher draws them straight to the terminal, in the table's columns and
order, and the dashboard's first frame replaces them: a responder sees the most urgent identities
while the UI loads, and can already type (keys wait in the terminal and reach the dashboard).

How it stays safe:
- Only on a POSIX terminal (stdin and stdout ttys, TERM not dumb), else nothing is drawn.
- The rows go through `cells` like the table's (sanitised: no control character from a provider
  reaches the terminal) and are cut to the terminal's width by cell width.
- Echo and line editing are turned off while the screen is up, so typed keys are not echoed over
  it; the terminal's modes are restored before Textual saves them (`hand_over`), so Textual puts
  back the user's own modes on exit. Any exit before the dashboard takes over (an error, Ctrl+C)
  restores them too, leaves the alternate screen and shows the cursor (`abandon`, also at exit).
- Nothing here imports Textual: this module runs before it is loaded.
"""

from __future__ import annotations

import atexit
import os
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from rich.cells import cell_len, set_cell_size

from nhitui.model import Identity
from nhitui.tui.view import COLUMNS, MARK_WIDTH, cells, column_widths, now_utc, severity_rank

ENTER = "\x1b[?1049h\x1b[?25l\x1b[H\x1b[2J"     # alternate screen, cursor hidden, cleared
LEAVE = "\x1b[?25h\x1b[?1049l"
_SEVERITY_SGR = {4: "1;31", 3: "31", 2: "33", 1: "36", 0: "36"}

_saved: list[Any] | None = None      # the terminal's modes before the screen went up
_shown = False


def fit(text: str, width: int) -> str:
    """`text` padded or cut to exactly `width` cells, with an ellipsis when cut (as the table does)."""
    if width <= 0:
        return ""
    if cell_len(text) <= width:
        return set_cell_size(text, width)
    return set_cell_size(text, width - 1) + "\u2026"


def frame(rows: Sequence[Identity], total: int, taken: str, width: int, height: int,
          now: datetime | None = None, colour: bool = True) -> str:
    """The screen: a title line, the table's header and as many rows as fit, in the table's columns.
    Every line is exactly `width` cells; SGR styling only (no cursor movement inside a line)."""
    now = now or now_utc()

    def sgr(code: str, text: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if colour and code else text

    widths = column_widths(width)
    title = (f" nhitui  {len(rows):,} identities shown of {total:,} \u00b7 most urgent first \u00b7 snapshot "
             f"{taken} \u00b7 the rest loading\u2026")
    lines = [sgr("1;7", fit(title, width))]
    header = " " * MARK_WIDTH + "".join(fit(c.title, w) + " " for c, w in zip(COLUMNS, widths))
    lines.append(sgr("1", fit(header, width)))
    for identity in rows[:max(0, height - 3)]:
        texts = cells(identity, now)
        severity = severity_rank(identity)
        parts = [" " * MARK_WIDTH]
        used = MARK_WIDTH
        for column, w, text in zip(COLUMNS, widths, texts):
            if used >= width:
                break
            piece = fit(fit(text, w) + " ", min(w + 1, width - used))
            used += w + 1
            if column.key == "findings" and severity >= 0:
                piece = sgr(_SEVERITY_SGR[severity], piece)
            elif column.key == "privilege" and identity.privilege == "admin":
                piece = sgr("31", piece)
            parts.append(piece)
        line = "".join(parts)
        if used < width:
            line += " " * (width - used)
        lines.append(line)
    while len(lines) < height - 1:
        lines.append(" " * width)
    lines.append(sgr("2", fit(" loading the dashboard\u2026 keys typed now reach it", width)))
    return "\r\n".join(lines[:height])


def usable() -> bool:
    """A POSIX terminal on both ends that understands the alternate screen."""
    if os.name != "posix" or os.environ.get("TERM", "dumb") in ("", "dumb"):
        return False
    try:
        return os.isatty(sys.stdin.fileno()) and os.isatty(sys.stdout.fileno())
    except (AttributeError, OSError, ValueError):
        return False


def show(rows: Sequence[Identity], total: int, taken: str) -> bool:
    """Draw the first screen if the terminal allows; True when it is up."""
    global _saved, _shown
    if _shown or not rows or not usable():
        return False
    import termios

    fd = sys.stdin.fileno()
    try:
        size = os.get_terminal_size(sys.stdout.fileno())
        saved = termios.tcgetattr(fd)
        quiet = termios.tcgetattr(fd)
        quiet[3] &= ~(termios.ECHO | termios.ICANON)      # lflag: no echo, no line editing
        termios.tcsetattr(fd, termios.TCSANOW, quiet)
    except (OSError, termios.error):
        return False
    _saved, _shown = saved, True
    atexit.register(abandon)
    try:
        text = frame(rows, total, taken, size.columns, size.lines, colour=not os.environ.get("NO_COLOR"))
        os.write(sys.stdout.fileno(), (ENTER + text).encode("utf-8", "replace"))
    except OSError:
        abandon()
        return False
    return True


def active() -> bool:
    return _shown


def hand_over() -> None:
    """The dashboard takes the terminal: give back the user's modes for it to save (it restores them
    on exit), and keep the screen as it is for its first frame to overwrite."""
    global _shown
    _restore_modes()
    _shown = False


def abandon() -> None:
    """The dashboard never took over: put the terminal back as it was."""
    global _shown
    if not _shown:
        return
    _shown = False
    _restore_modes()
    try:
        os.write(sys.stdout.fileno(), LEAVE.encode())
    except (OSError, ValueError):
        pass


def _restore_modes() -> None:
    global _saved
    if _saved is None:
        return
    import termios

    try:
        termios.tcsetattr(sys.stdin.fileno(), termios.TCSANOW, _saved)
    except (OSError, termios.error, ValueError):
        pass
    _saved = None
