"""The header: totals, then one chip per source with its live state.

Everything is assembled as `Content` from plain strings (a source's error text comes from the
provider), so nothing here parses markup.
"""

from __future__ import annotations

from collections.abc import Mapping

from textual.content import Content
from textual.widget import Widget

from nhitui.model import SourceStatus, sanitize

SPINNER = "\u280b\u2819\u2839\u2838\u283c\u2834\u2826\u2827\u2807\u280f"
STATE_GLYPH = {"ok": "\u2714", "partial": "\u25b2", "failed": "\u2716", "pending": "\u2026"}
STATE_STYLE = {"ok": "$text-success", "partial": "$text-warning", "failed": "$text-error bold",
               "running": "$text-accent", "pending": "$text-muted"}
ERROR_WIDTH = 48


def source_chip(status: SourceStatus, frame: int = 0) -> Content:
    """One source: glyph, name, state, count, rate-limit budget, blind spots, the error reason."""
    state = status.state
    glyph = SPINNER[frame % len(SPINNER)] if state == "running" else STATE_GLYPH.get(state, "?")
    style = STATE_STYLE.get(state, "")
    parts: list[str | tuple[str, str]] = [(f"{glyph} ", style), (sanitize(status.source), "bold"), " ",
                                          (state, style)]
    if status.count or state != "failed":
        parts.append(f" {status.count:,}")
    if status.rate_limit_remaining is not None:
        budget = f"{status.rate_limit_remaining:,}"
        if status.rate_limit_limit:
            budget += f"/{status.rate_limit_limit:,}"
        low = status.rate_limit_limit and status.rate_limit_remaining < status.rate_limit_limit * 0.1
        parts += [" \u00b7 rate ", (budget, "$text-warning" if low else "$text-muted")]
    if status.blind_spots:
        n = len(status.blind_spots)
        parts += [" \u00b7 ", (f"{n} blind spot{'s' if n != 1 else ''}", "$text-warning")]
    note = status.facts.get("note") if isinstance(status.facts, Mapping) else None
    if status.error or note:
        # An error reads as one; a note (rows shown from a snapshot, their age) is plain information.
        text = sanitize(status.error or note)
        if len(text) > ERROR_WIDTH:
            text = text[: ERROR_WIDTH - 1] + "\u2026"
        parts += [": ", (text, "$text-error" if status.error else "$text-muted")]
    return Content.assemble(*parts)


class StatusHeader(Widget):
    """Title, totals and per-source live state; a spinner turns while any source runs."""

    DEFAULT_CSS = """
    StatusHeader {
        height: auto;
        max-height: 6;
        background: $panel;
        color: $foreground;
        padding: 0 1;
    }
    """

    def __init__(self, title: str = "nhitui", *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.title_text = title
        self.statuses: Mapping[str, SourceStatus] = {}
        self.totals: dict[str, int] = {}
        self.read_only = False
        self.configured = 0
        self.history_note: Content | None = None   # "3 new since #4", "first snapshot: nothing marked new"
        self.frame = 0
        self._timer = None
        self._lines = 0

    def on_mount(self) -> None:
        self._timer = self.set_interval(0.1, self._spin, pause=True)

    def _spin(self) -> None:
        self.frame += 1
        if not self.running:
            if self._timer is not None:
                self._timer.pause()
        self.refresh(layout=False)

    @property
    def running(self) -> bool:
        return any(s.state in ("running", "pending") for s in self.statuses.values())

    def update_state(self, statuses: Mapping[str, SourceStatus], totals: dict[str, int],
                     read_only: bool) -> None:
        self.statuses = dict(statuses)
        self.totals = totals
        self.read_only = read_only
        if self.running and self._timer is not None:
            self._timer.resume()
        # A new layout only when the height changes (the chips come, go, or wrap onto another line):
        # a layout pass re-renders the whole screen, and the header is updated on every filter
        # keystroke. The height actually laid out is checked too: a header left one line tall with
        # sources to show (seen in tmux: a layout request lost while the scan started) gets its
        # chips back at the next update instead of never.
        lines = self._wanted_lines()
        laid_out = self.size.height
        self.refresh(layout=lines != self._lines or 0 < laid_out < min(lines, 2))
        self._lines = lines

    def _wanted_lines(self) -> int:
        """The summary line plus the chips' lines at this width (an estimate by cell length: word
        wrapping may need one more), within the header's max-height."""
        if not self.statuses:
            return 1
        width = max(1, self.size.width - 2) if self.size.width else 0
        if not width:
            return 2
        chips = Content("   ").join([source_chip(s) for s in self.statuses.values()])
        return min(6, 1 + max(1, -(-chips.cell_length // width)))

    def summary(self) -> Content:
        t = self.totals
        parts: list[str | tuple[str, str] | Content] = [
            (sanitize(self.title_text), "bold $text-accent"), "  ",
            (f"{t.get('total', 0):,}", "bold"), " identities \u00b7 ",
            (f"{t.get('stale', 0):,}", "bold $text-warning"), " stale \u00b7 ",
            (f"{t.get('findings', 0):,}", "bold"), " with findings \u00b7 ",
            (f"{t.get('shown', 0):,}", "bold"), " shown",
        ]
        if t.get("marked"):
            parts += [" \u00b7 ", (f"{t['marked']:,}", "bold $text-accent"), " marked"]
        if self.history_note is not None:
            parts += [" \u00b7 ", self.history_note]
        if self.read_only:
            parts += ["   ", (" READ-ONLY ", "bold reverse $text-warning")]
        if not self.statuses:
            parts += ["   ", ("not scanned yet (r scans)" if self.configured else "no source configured",
                              "$text-muted")]
        return Content.assemble(*parts)

    def render(self) -> Content:
        lines = [self.summary()]
        chips = [source_chip(s, self.frame) for s in self.statuses.values()]
        if chips:
            lines.append(Content("   ").join(chips))
        return Content("\n").join(lines)
