"""History: the saved snapshots (h), and the diff between any two of them or one and the current scan.

The history database is read in worker threads (see tui/snapshots.py). Every string that came
from a provider or a snapshot (names, uids, source names, paths) is sanitized and shown as plain
`Content`: option lists have markup off and nothing here parses markup.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from nhitui.history import Diff, Snapshot
from nhitui.model import Identity, SourceStatus, sanitize
from nhitui.tui.snapshots import changed_fields, compute_diff, list_snapshots, source_states
from nhitui.tui.view import human_span
from nhitui.tui.widgets.status import STATE_GLYPH, STATE_STYLE

CURRENT = "current"
SHOWN_PER_SECTION = 1000
SELECTED = "\u25cf "
SECTIONS = (
    ("added", "Added", "+", "$text-success", "absent from the older scan"),
    ("removed", "Removed", "\u2212", "$text-error", "gone, and their source was complete in the newer scan"),
    ("changed", "Changed", "~", "$text-warning", ""),
    ("unknown", "Unknown", "?", "$text-muted", "not seen, but their source was partial or failed in the newer scan"),
)

CSS = """
{name} {{ align: center middle; }}
{name} > #dialog {{ width: 130; max-width: 96%; height: 90%; border: thick $accent 70%;
                    background: $surface; padding: 0 1; }}
{name} #title {{ text-style: bold; }}
{name} #hint {{ color: $text-muted; }}
{name} #message {{ height: auto; }}
{name} OptionList {{ height: 1fr; border: none; background: $surface; padding: 0; }}
"""


def when(taken_at: str, now: datetime | None = None) -> str:
    """'2025-06-01 12:00Z (3d ago)' from a snapshot's ISO time."""
    try:
        t = datetime.fromisoformat(taken_at.replace("Z", "+00:00"))
    except ValueError:
        return sanitize(taken_at)
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    ago = human_span(((now or datetime.now(timezone.utc)) - t).total_seconds())
    return f"{t.astimezone(timezone.utc):%Y-%m-%d %H:%M:%S}Z ({ago} ago)"


def states_content(pairs: list[tuple[str, str]]) -> Content:
    parts: list[Content] = []
    for name, state in pairs:
        style = STATE_STYLE.get(state, "")
        parts.append(Content.assemble((f"{STATE_GLYPH.get(state, '?')} ", style), sanitize(name), " ",
                                      (sanitize(state) or "?", style)))
    return Content("  ").join(parts) if parts else Content.styled("no source", "$text-muted")


class HistoryScreen(ModalScreen[None]):
    """The snapshots, newest first, under a "current scan" row; pick two and compare."""

    BINDINGS = [
        Binding("escape,q", "close", "Back"),
        Binding("space", "select", "Select"),
        Binding("d", "compare", "Compare"),
        Binding("c", "compare_current", "With current"),
    ]
    DEFAULT_CSS = CSS.format(name="HistoryScreen")

    def __init__(self, path: Path, current: Callable[[], tuple[list[Identity], Mapping[str, SourceStatus]]] | None,
                 saved_as: int | None = None) -> None:
        super().__init__()
        self.path = path
        self.current = current
        self.saved_as = saved_as
        self.snapshots: list[Snapshot] = []
        self.selected: list[str] = []
        self.loaded = False

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(Content.assemble(("History", "bold"), ("  " + sanitize(str(self.path)), "$text-muted")),
                         id="title")
            yield Static(Content("space selects (two, or one and the current scan) \u00b7 enter compares the "
                                 "selection, or the cursor's snapshot with the one before it \u00b7 c compares "
                                 "with the current scan \u00b7 esc goes back"), id="hint")
            yield Static(Content.styled("Reading the history\u2026", "$text-muted"), id="message")
            yield OptionList(markup=False, id="snapshots")

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()
        self.run_worker(self._load, thread=True, group="history", description="read history", exit_on_error=False)

    def _load(self) -> None:
        try:
            snaps, warnings = list_snapshots(self.path)
        except Exception as exc:  # noqa: BLE001 - a broken history is reported, never a crash
            self.app.call_from_thread(self._failed, f"Cannot read the history: {type(exc).__name__}: {exc}")
            return
        self.app.call_from_thread(self._loaded, snaps, warnings)

    def _failed(self, text: str) -> None:
        self.loaded = True
        self.query_one("#message", Static).update(Content.styled(sanitize(text), "$text-error"))
        self.app.notify(sanitize(text), severity="error", markup=False, timeout=10)

    def _loaded(self, snaps: list[Snapshot], warnings: list[str]) -> None:
        self.loaded = True
        self.snapshots = snaps
        for w in warnings:
            self.app.notify(sanitize(w), severity="warning", markup=False, timeout=10)
        message = self.query_one("#message", Static)
        if not snaps:
            message.update(Content.styled(
                "No snapshot yet: each completed scan saves one (config [history] save = true).", "$text-muted"))
        else:
            message.update(Content.assemble((f"{len(snaps)}", "bold"),
                                            f" snapshot{'s' if len(snaps) != 1 else ''}, newest first"))
        self._render_options()
        options = self.query_one(OptionList)
        if options.option_count:
            # Start on the newest snapshot: enter shows what the last scan changed.
            options.highlighted = 1 if self.current is not None and options.option_count > 1 else 0

    def _prompt(self, option_id: str) -> Content:
        mark = (SELECTED, "bold $text-accent") if option_id in self.selected else ("  ", "")
        if option_id == CURRENT:
            rows, statuses = self.current() if self.current is not None else ([], {})
            note = f"saved as #{self.saved_as}" if self.saved_as is not None else "not saved"
            return Content.assemble(mark, ("current ", "bold $text-accent"), (f" this session's scan ({note})", ""),
                                    (f"  {len(rows):>8,} identities  ", "bold"),
                                    states_content([(s.source, s.state) for s in statuses.values()]))
        snap = self.snapshot(option_id)
        if snap is None:
            return Content("?")
        return Content.assemble(mark, (f"#{snap.id:<7}", "bold"), when(snap.taken_at),
                                (f"  {snap.count:>8,} identities  ", "bold"), states_content(source_states(snap.summary)))

    def snapshot(self, option_id: str) -> Snapshot | None:
        if not option_id.startswith("snap-"):
            return None
        n = int(option_id[5:])
        return next((s for s in self.snapshots if s.id == n), None)

    def _ids(self) -> list[str]:
        ids = [CURRENT] if self.current is not None else []
        return ids + [f"snap-{s.id}" for s in self.snapshots]

    def _render_options(self) -> None:
        options = self.query_one(OptionList)
        highlighted = options.highlighted
        options.clear_options()
        options.add_options([Option(self._prompt(i), id=i) for i in self._ids()])
        if highlighted is not None and highlighted < options.option_count:
            options.highlighted = highlighted

    def _cursor_id(self) -> str | None:
        option = self.query_one(OptionList).highlighted_option
        return option.id if option is not None else None

    def action_select(self) -> None:
        option_id = self._cursor_id()
        if option_id is None:
            return
        if option_id in self.selected:
            self.selected.remove(option_id)
        else:
            self.selected.append(option_id)
            del self.selected[:-2]
        options = self.query_one(OptionList)
        options.replace_option_prompt(option_id, self._prompt(option_id))
        for other in self._ids():
            if other != option_id:
                options.replace_option_prompt(other, self._prompt(other))

    @on(OptionList.OptionSelected, "#snapshots")
    def _enter(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.action_compare()

    def action_compare(self) -> None:
        """Two selected: those. One: it and the cursor's row. None: the cursor's row and its predecessor."""
        picks = list(self.selected)
        cursor = self._cursor_id()
        if len(picks) < 2 and cursor is not None and cursor not in picks:
            picks.append(cursor)
        if len(picks) == 1:
            picks.append(self._before(picks[0]) or CURRENT)
        self._open(picks)

    def action_compare_current(self) -> None:
        picks = [p for p in self.selected if p != CURRENT][-1:] or [self._cursor_id() or ""]
        if picks[0] in ("", CURRENT):
            picks = [self._before(CURRENT) or ""]
        self._open([picks[0], CURRENT])

    def _before(self, option_id: str) -> str | None:
        """The snapshot taken before `option_id` (for the current scan: the newest one)."""
        ids = [f"snap-{s.id}" for s in self.snapshots]
        if option_id == CURRENT:
            return ids[0] if ids else None
        if option_id in ids:
            i = ids.index(option_id)
            return ids[i + 1] if i + 1 < len(ids) else None
        return None

    def _open(self, picks: list[str]) -> None:
        picks = [p for p in picks if (p == CURRENT and self.current is not None) or self.snapshot(p) is not None]
        if len(picks) != 2 or picks[0] == picks[1]:
            self.app.notify("Pick two different rows to compare (space selects)." if self.snapshots else
                            "No snapshot to compare with yet.", markup=False)
            return
        # Older first; the current scan is the newest.
        picks.sort(key=lambda p: float("inf") if p == CURRENT else int(p[5:]))
        old = self.snapshot(picks[0])
        assert old is not None
        new = self.snapshot(picks[1])
        if new is None:
            rows, statuses = self.current() if self.current is not None else ([], {})
            rows, statuses = list(rows), dict(statuses)

            def compute() -> Diff:
                return compute_diff(self.path, old.id, None, rows, statuses)
            new_label = "the current scan"
        else:
            new_id = new.id

            def compute() -> Diff:
                return compute_diff(self.path, old.id, new_id)
            new_label = f"#{new.id} {when(new.taken_at)}"
        self.app.push_screen(DiffScreen(f"#{old.id} {when(old.taken_at)}", new_label, compute))

    def action_close(self) -> None:
        self.dismiss(None)


def diff_summary(diff: Diff) -> Content:
    parts: list[Any] = []
    for key, title, _, style, _ in SECTIONS:
        n = len(getattr(diff, key))
        if parts:
            parts.append(" \u00b7 ")
        parts += [(f"{n:,}", f"bold {style}" if n else "bold"), f" {title.lower()}"]
    return Content.assemble(*parts)


def _row_prompt(glyph: str, style: str, row: Mapping[str, Any], detail: str = "") -> Content:
    text = Content.assemble(
        (f"  {glyph} ", f"bold {style}"), (f"{sanitize(str(row.get('provider', ''))):<9} ", ""),
        (f"{sanitize(str(row.get('kind', ''))):<20} ", "$text-muted"),
        (sanitize(str(row.get("name", ""))) or "(no name)", "bold"),
        ("  " + sanitize(str(row.get("owner", ""))), ""), ("  " + sanitize(str(row.get("target", ""))), "$text-muted"),
    )
    lines = [text, Content.styled("      " + sanitize(str(row.get("uid", ""))), "$text-muted")]
    if detail:
        lines.append(Content.assemble("      ", (sanitize(detail), style)))
    return Content("\n").join(lines)


def diff_options(diff: Diff, limit: int = SHOWN_PER_SECTION) -> list[Option]:
    options: list[Option] = []
    for key, title, glyph, style, note in SECTIONS:
        items = sorted(getattr(diff, key), key=lambda r: str(r.uid if key == "changed" else r.get("uid", "")))
        header = Content.assemble((f"{title} ({len(items):,})", f"bold {style}"),
                                  ("  " + note if note else "", "$text-muted"))
        options.append(Option(header, id=f"#{key}", disabled=True))
        if not items:
            options.append(Option(Content.styled("  \u2014 none", "$text-muted"), id=f"#{key}-none", disabled=True))
        if key == "changed":
            diff.load(items[:limit])        # one batch, not a database read per row
        for item in items[:limit]:
            if key == "changed":
                prompt = _row_prompt(glyph, style, item.new, "; ".join(item.what))
                fields = changed_fields(item.old, item.new)
                if fields:
                    prompt = Content("\n").join([prompt] + [
                        Content.assemble((f"        {f}: ", "$text-muted"), sanitize(a)[:60], " \u2192 ",
                                         (sanitize(b)[:60], "bold")) for f, a, b in fields])
            else:
                prompt = _row_prompt(glyph, style, item)
            options.append(Option(prompt))
        if len(items) > limit:
            options.append(Option(Content.styled(
                f"  \u2026 and {len(items) - limit:,} more (`nhitui diff` lists every row)", "bold"),
                id=f"#{key}-more", disabled=True))
    return options


class DiffScreen(ModalScreen[None]):
    """What appeared, disappeared, changed or could not be seen between two scans."""

    BINDINGS = [Binding("escape,q", "close", "Back")]
    DEFAULT_CSS = CSS.format(name="DiffScreen")

    def __init__(self, old_label: str, new_label: str, compute: Callable[[], Diff]) -> None:
        super().__init__()
        self.old_label = old_label
        self.new_label = new_label
        self.compute = compute
        self.diff: Diff | None = None
        self.error = ""

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(Content.assemble(("Diff ", "bold"), (sanitize(self.old_label), "bold $text-accent"),
                                          " \u2192 ", (sanitize(self.new_label), "bold $text-accent")), id="title")
            yield Static(Content.styled("Comparing\u2026", "$text-muted"), id="message")
            yield OptionList(markup=False, id="diff")
            yield Static(Content("esc goes back to the history"), id="hint")

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()
        self.run_worker(self._run, thread=True, group="diff", description="compare snapshots", exit_on_error=False)

    def _run(self) -> None:
        try:
            diff = self.compute()
            options = diff_options(diff)    # built here: it reads the changed rows from the database
        except Exception as exc:  # noqa: BLE001 - reported in the view, never a crash
            self.app.call_from_thread(self._failed, f"Cannot compare: {type(exc).__name__}: {exc}")
            return
        self.app.call_from_thread(self._show, diff, options)

    def _failed(self, text: str) -> None:
        self.error = text
        self.query_one("#message", Static).update(Content.styled(sanitize(text), "$text-error"))

    def _show(self, diff: Diff, options: list[Option]) -> None:
        self.diff = diff
        self.query_one("#message", Static).update(diff_summary(diff))
        shown = self.query_one(OptionList)
        shown.clear_options()
        shown.add_options(options)

    def action_close(self) -> None:
        self.dismiss(None)
