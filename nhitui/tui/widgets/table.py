"""The identity table: a virtualised Line-API ScrollView over `TableView`.

Only the visible rows are ever turned into Segments, so 100k rows cost what 40 do. Every cell is
plain, sanitized text in a `Segment`: no markup is parsed, no control byte reaches the terminal.
Line 0 is a sticky column header; data row `p` is drawn on line `p - scroll_y + 1`.
Colours come from component classes styled with theme variables in DEFAULT_CSS / nhitui.tcss.
"""

from __future__ import annotations

from datetime import datetime

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.reactive import Reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from nhitui.model import Identity, sanitize
from nhitui.tui.view import COLUMNS, MARK_WIDTH, TableView, cells, column_widths, now_utc, severity_rank

SEVERITY_CLASS = {4: "critical", 3: "high", 2: "medium", 1: "low", 0: "low"}
ROW_CACHE_LIMIT = 4096
ARROW_UP, ARROW_DOWN = "\u25b2", "\u25bc"
MARKED_GLYPH, NEW_GLYPH = "\u25cf", "+"   # the gutter: marked wins; a marked new row's dot is coloured as new


def fit(text: str, width: int) -> str:
    """Pad or cut `text` to exactly `width` cells, with an ellipsis when cut (wide glyphs safe)."""
    if width <= 0:
        return ""
    if len(text) <= width and text.isascii():
        return text.ljust(width)
    if cell_len(text) <= width:
        return set_cell_size(text, width)
    return set_cell_size(text, width - 1) + "\u2026"


class IdentityTable(ScrollView, can_focus=True):
    """Rows of identities with a cursor that stays on the same uid while data streams in."""

    COMPONENT_CLASSES = {
        "identity-table--header",
        "identity-table--header-sorted",
        "identity-table--cursor",
        "identity-table--cursor-blurred",
        "identity-table--stale",
        "identity-table--admin",
        "identity-table--write",
        "identity-table--marked",
        "identity-table--new",
        "identity-table--muted",
        "identity-table--sev-critical",
        "identity-table--sev-high",
        "identity-table--sev-medium",
        "identity-table--sev-low",
    }

    DEFAULT_CSS = """
    IdentityTable {
        background: $surface;
        scrollbar-size-vertical: 1;
        overflow-y: scroll;   /* always there: see `virtual_size` */
        color: $foreground;
        & > .identity-table--header { background: $panel; color: $text-accent; text-style: bold; }
        & > .identity-table--header-sorted { background: $panel; color: $text-accent; text-style: bold underline; }
        & > .identity-table--cursor { background: $block-cursor-background; color: $block-cursor-foreground;
                                      text-style: bold; }
        & > .identity-table--cursor-blurred { background: $block-cursor-blurred-background; }
        & > .identity-table--stale { color: $text-warning; }
        & > .identity-table--admin { color: $text-error; text-style: bold; }
        & > .identity-table--write { color: $text-warning; }
        & > .identity-table--marked { background: $secondary 35%; }
        & > .identity-table--new { color: $text-success; text-style: bold; }
        & > .identity-table--muted { color: $text-muted; }
        & > .identity-table--sev-critical { color: $text-error; text-style: bold reverse; }
        & > .identity-table--sev-high { color: $text-error; }
        & > .identity-table--sev-medium { color: $text-warning; }
        & > .identity-table--sev-low { color: $text-muted; }
    }
    """

    BINDINGS = [
        Binding("up,k", "cursor_up", "Up", show=False),
        Binding("down,j", "cursor_down", "Down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home,g", "first", "First", show=False),
        Binding("end,G", "last", "Last", show=False),
        Binding("left", "scroll_left", "Left", show=False),
        Binding("right", "scroll_right", "Right", show=False),
    ]

    class CursorMoved(Message):
        """The cursor now sits on `uid` (None when the view is empty)."""

        def __init__(self, uid: str | None) -> None:
            super().__init__()
            self.uid = uid

    class HeaderClicked(Message):
        """A column title was clicked: sort by `key`."""

        def __init__(self, key: str) -> None:
            super().__init__()
            self.key = key

    # A filter keystroke changes the row count, hence the virtual size, which Textual treats as a
    # layout change: the whole screen re-laid out and every widget re-rendered (15-25 ms at 100k).
    # The scrollbar is always shown (CSS), so only the scrollbar and this widget need updating:
    # `_set_virtual_size` does that, and asks for a layout only if a scrollbar appears or goes.
    virtual_size: Reactive[Size] = Reactive(Size(0, 0), layout=False)

    def __init__(self, model: TableView, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.model = model
        self.cursor = 0
        self.cursor_uid: str | None = None
        self._cells: dict[int, tuple[Identity, tuple[str, ...]]] = {}
        self._styles: dict[str, Style] = {}
        self._now: datetime = now_utc()
        self._widths = [c.width for c in COLUMNS]
        self._width = MARK_WIDTH + sum(w + 1 for w in self._widths)
        self._last_posted: str | None = "\x00unset"

    # --- data changes ----------------------------------------------------------------------------

    def data_changed(self, keep_uid: bool = True) -> None:
        """The model's view changed: keep the cursor on its uid, resize, repaint visible rows."""
        model = self.model
        self._now = now_utc()
        if len(self._cells) > ROW_CACHE_LIMIT:
            self._cells.clear()
        old_screen_row = self.cursor - int(self.scroll_y)
        position = model.position_of(self.cursor_uid) if keep_uid and self.cursor_uid else None
        if position is None:
            position = min(self.cursor, max(0, len(model) - 1))
            found = False
        else:
            found = True
        self._set_virtual_size(Size(self._width, len(model) + 1))
        self._set_cursor(position, post=True)
        if found and 0 <= old_screen_row < self._page_height():
            # Keep the cursor row where the eye was, while rows stream in above it.
            self.scroll_to(y=max(0, position - old_screen_row), animate=False, immediate=True)
        else:
            self._scroll_cursor_visible()
        self.refresh()

    def on_resize(self) -> None:
        self._layout()

    def _layout(self) -> None:
        available = self.scrollable_content_region.width or self.size.width
        widths = column_widths(available)
        if widths != self._widths:
            self._widths = widths
            self._width = MARK_WIDTH + sum(w + 1 for w in widths)
            self._set_virtual_size(Size(self._width, len(self.model) + 1))
            self.refresh()

    def _set_virtual_size(self, size: Size) -> None:
        if size == self.virtual_size:
            return
        shown = (self.show_horizontal_scrollbar, self.show_vertical_scrollbar)
        self.virtual_size = size
        self._scroll_update(size)
        if (self.show_horizontal_scrollbar, self.show_vertical_scrollbar) != shown:
            self.refresh(layout=True)

    def invalidate_rows(self) -> None:
        """Identities changed in place (marks, a revocation): redraw without moving anything."""
        self._cells.clear()
        self.refresh()

    # --- cursor ----------------------------------------------------------------------------------

    @property
    def cursor_identity(self) -> Identity | None:
        return self.model.identity(self.cursor)

    def _page_height(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def _set_cursor(self, position: int, post: bool = True) -> None:
        n = len(self.model)
        position = max(0, min(position, n - 1)) if n else 0
        self.cursor = position
        identity = self.model.identity(position)
        self.cursor_uid = identity.uid if identity is not None else None
        if post and self.cursor_uid != self._last_posted:
            self._last_posted = self.cursor_uid
            self.post_message(self.CursorMoved(self.cursor_uid))

    def _scroll_cursor_visible(self) -> None:
        top = int(self.scroll_y)
        height = self._page_height()
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + height:
            self.scroll_to(y=self.cursor - height + 1, animate=False, immediate=True)

    def move_cursor(self, position: int) -> None:
        old = self.cursor
        self._set_cursor(position)
        self._scroll_cursor_visible()
        # Virtual line of data row p is p + 1 (line 0 is the header).
        self.refresh_line(old + 1)
        self.refresh_line(self.cursor + 1)

    def action_cursor_up(self) -> None:
        self.move_cursor(self.cursor - 1)

    def action_cursor_down(self) -> None:
        self.move_cursor(self.cursor + 1)

    def action_page_up(self) -> None:
        self.move_cursor(self.cursor - self._page_height())

    def action_page_down(self) -> None:
        self.move_cursor(self.cursor + self._page_height())

    def action_first(self) -> None:
        self.move_cursor(0)

    def action_last(self) -> None:
        self.move_cursor(len(self.model) - 1)

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        if offset.y == 0:
            x = offset.x + int(self.scroll_x) - MARK_WIDTH
            for column, width in zip(COLUMNS, self._widths):
                if x < width + 1:
                    self.post_message(self.HeaderClicked(column.key))
                    break
                x -= width + 1
            return
        self.move_cursor(int(self.scroll_y) + offset.y - 1)

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    # --- rendering -------------------------------------------------------------------------------

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._cells.clear()
        self._styles.clear()

    def _row_cells(self, identity: Identity) -> tuple[str, ...]:
        key = id(identity)
        hit = self._cells.get(key)
        if hit is not None and hit[0] is identity:
            return hit[1]
        texts = cells(identity, self._now)
        self._cells[key] = (identity, texts)
        return texts

    def _style(self, name: str) -> Style:
        # Textual computes these (and `rich_style`) afresh on every call, walking the ancestors:
        # a third of a table repaint. They change only when styles do (`notify_style_update`).
        style = self._styles.get(name)
        if style is None:
            style = self.rich_style if name == "" else self.get_component_rich_style(
                f"identity-table--{name}", partial=True)
            self._styles[name] = style
        return style

    def _header_strip(self, base: Style) -> Strip:
        header = base + self._style("header")
        sorted_style = base + self._style("header-sorted")
        key, reverse = self.model.sort_key, self.model.reverse
        segments = [Segment(" " * MARK_WIDTH, header)]
        for column, width in zip(COLUMNS, self._widths):
            title = column.title
            if column.key == key:
                title = f"{title}{ARROW_DOWN if reverse else ARROW_UP}"
            segments.append(Segment(fit(title, width) + " ", sorted_style if column.key == key else header))
        return Strip(segments, self._width)

    def _row_strip(self, position: int, base: Style) -> Strip:
        identity = self.model.identity(position)
        if identity is None:
            return Strip.blank(self._width, base)
        texts = self._row_cells(identity)
        row = base
        if identity.stale:
            row = row + self._style("stale")
        if identity.status in ("revoked", "inactive", "expired"):
            row = row + self._style("muted")
        marked = identity.uid in self.model.marked
        overlay: Style | None = None
        if marked:
            overlay = self._style("marked")
        if position == self.cursor:
            cursor = self._style("cursor" if self.has_focus else "cursor-blurred")
            overlay = cursor if overlay is None else overlay + cursor
        severity = severity_rank(identity)
        gutter = row if overlay is None else row + overlay
        if identity.uid in self.model.new_uids:
            gutter = gutter + self._style("new")
        segments = [Segment(self.marker(identity).ljust(MARK_WIDTH), gutter)]
        for column, width, text in zip(COLUMNS, self._widths, texts):
            style = row
            if column.key == "privilege":
                if identity.privilege == "admin":
                    style = style + self._style("admin")
                elif identity.privilege == "write":
                    style = style + self._style("write")
            elif column.key == "findings" and severity >= 0:
                style = style + self._style(f"sev-{SEVERITY_CLASS[severity]}")
            if overlay is not None:
                style = style + overlay
            segments.append(Segment(fit(text, width) + " ", style))
        return Strip(segments, self._width)

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.scrollable_content_region.width or self.size.width
        base = self._style("")
        if y == 0:
            strip = self._header_strip(base)
        else:
            strip = self._row_strip(scroll_y + y - 1, base)
        return strip.crop_extend(scroll_x, scroll_x + width, base)

    def marker(self, identity: Identity) -> str:
        """The gutter glyph: marked, new since the previous snapshot, or nothing."""
        if identity.uid in self.model.marked:
            return MARKED_GLYPH
        return NEW_GLYPH if identity.uid in self.model.new_uids else ""

    def row_text(self, position: int) -> str:
        """The plain text of one row as drawn (for tests and screen readers)."""
        identity = self.model.identity(position)
        if identity is None:
            return ""
        return " ".join(sanitize(t) for t in self._row_cells(identity))
