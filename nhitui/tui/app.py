"""The nhitui dashboard: every non-human identity in one virtualised table, and safe revocation.

Layout: a header with totals and each source's live state; a facet sidebar; the filter bar;
the identity table (a Line-API ScrollView, see widgets/table.py); the detail pane; the footer.

Collection runs as an async worker on the app's loop (connectors push blocking SDK calls to
threads themselves). The collector calls `on_change` after each batch; repaints are coalesced to
at most one every 100 ms (longer when a repaint itself costs more), so a 100k-row scan stays
responsive. Every provider string is sanitized and drawn without markup parsing.

Keys (all rebindable through `[keys]` in the config, by binding id): see BINDINGS and `?`.
`r` rescans every source; `R` rescans only the cursor row's source.

History: when every source has finished, the scan is saved as a snapshot (config [history]) in a
worker thread, after reading the previous snapshot's uids: identities absent from it carry the
`new` marker (`+` in the gutter) and match the filter term `new`. `h` lists the snapshots and
compares any two (or one with the current scan). A history problem is a notification, never a crash.
"""

from __future__ import annotations

import gc
import os
import sys
import time
import webbrowser
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from textual import events, on
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Input, Static

from nhitui import export, history
from nhitui.collect import Collector
from nhitui.config import Config
from nhitui.inventory import Inventory
from nhitui.journal import Journal
from nhitui.model import Identity, SourceStatus, sanitize
from nhitui.policy import Graph
from nhitui.query import Context, QueryError, parse
from nhitui.revoke import Outcome, RevokeError, Revoker
from nhitui.tui import prepaint
from nhitui.tui.handover import keeping_first_screen
from nhitui.tui.screens.act import ActScreen
from nhitui.tui.screens.export import ExportScreen, default_path
from nhitui.tui.screens.history import HistoryScreen
from nhitui.tui.screens.info import HelpScreen, SecretScreen, SourcesScreen
from nhitui.tui.snapshots import ScanRecord, record_scan, scan_finished
from nhitui.tui.view import ATTENTION, COLUMNS, SORT_CYCLE, TITLES, TableView
from nhitui.tui.widgets.detail import DetailPane, describe
from nhitui.tui.widgets.facets import FacetList, count_columns, count_facets
from nhitui.tui.widgets.filterbox import FilterInput
from nhitui.tui.widgets.footer import KeyFooter
from nhitui.tui.widgets.status import StatusHeader
from nhitui.tui.widgets.table import IdentityTable

MIN_REPAINT = 0.1
FACETS_MIN_WIDTH = 150   # below this the facet sidebar starts hidden (f shows it)
FACET_DELAY = 0.05     # debounce: facets are counted once typing pauses this long
GRAPH_MAX_AGE = 2.0
THREAD_ROWS = 20_000   # above this, the graph and facet counts are computed in a thread
FREEZE_ROWS = 5_000    # freeze the garbage collector's view of the heap after this many new rows
IDLE_GC = 2.0          # with a frozen heap, full collections wait until input pauses this long
ACTING = ("act", "act_marked", "undo")

QUICK_FILTERS = (
    ("stale", "Filter: stale", "identities the policy marks stale (unused, never used, expired)"),
    ("never-used", "Filter: never used", "credentials the provider says were never used"),
    ("no-expiry", "Filter: no expiry", "static credentials without an expiry date"),
    ("privilege>=admin", "Filter: admin", "identities with administrative privilege"),
    ("stale privilege>=admin", "Filter: stale admin", "stale identities with administrative privilege"),
    ("new", "Filter: new", "identities absent from the previous history snapshot"),
)


class NhiApp(App[int]):
    """The dashboard. `inventory` may come pre-filled; `collect` starts a scan on mount."""

    CSS_PATH = "nhitui.tcss"
    AUTO_FOCUS = "#table"
    TITLE = "nhitui"

    BINDINGS = [
        # A priority binding: the app handles `/` before it forwards the next keys of a burst, so
        # `/stale` typed fast (or sent by tmux) lands in the filter box; see action_filter.
        Binding("slash", "filter", "Filter", id="filter", priority=True),
        Binding("s", "sort", "Sort", id="sort"),
        Binding("S", "sort_reverse", "Reverse", id="sort_reverse"),
        Binding("space", "mark", "Mark", id="mark"),
        Binding("a", "mark_all", "Mark all", id="mark_all"),
        Binding("d", "act", "Act", id="act"),
        Binding("ctrl+d", "act_marked", "Act on marked", id="act_marked"),
        Binding("u", "undo", "Undo", id="undo"),
        Binding("e", "export", "Export", id="export"),
        Binding("h", "history", "History", id="history"),
        Binding("r", "refresh", "Refresh", id="refresh"),
        Binding("R", "refresh_source", "Refresh source", id="refresh_source", show=False),
        Binding("o", "open_url", "Open", id="open"),
        Binding("c", "copy_uid", "Copy uid", id="copy"),
        Binding("f", "toggle_facets", "Facets", id="facets"),
        Binding("i", "sources", "Sources", id="sources"),
        Binding("t", "trust_map", "Trust map", id="trust_map"),
        Binding("question_mark", "help", "Help", id="help"),
        Binding("q", "quit", "Quit", id="quit"),
        Binding("escape", "escape", "Clear filter", id="clear_filter", show=False),
    ]

    def __init__(self, config: Config, read_only: bool = False, inventory: Inventory | None = None,
                 title: str = "nhitui", collect: bool = True, snapshot: bool = False,
                 reload: Callable[[], Inventory] | None = None, reader: Callable[[], Any] | None = None) -> None:
        super().__init__()
        # Where the first rows come from before any scan: the team store (`reader`), else the
        # newest local snapshot; either streams in chunks (nhitui/snapshot_open.py).
        self.reader = reader
        # Team mode: `r` reloads the team store's inventory (sources not configured here).
        self.reload = reload
        # Open the newest local snapshot first (then refresh in place): see nhitui/snapshot_open.py.
        self.open_snapshot = snapshot
        self.config = config
        self.read_only = bool(read_only or config.read_only)
        self.inventory = inventory if inventory is not None else Inventory()
        self.title_text = title
        self.title = title
        self.should_collect = collect
        self.view = TableView(self.inventory)
        self.collector = Collector(self.inventory, list(config.sources), config.policy, config.scan_timeout,
                                   on_change=self._source_changed)
        self.revoker = Revoker(self.inventory, list(config.sources), Journal(config.journal_path),
                               read_only=self.read_only, connectors=self.collector.connectors)
        self.collecting = False
        self._flush_timer: Timer | None = None
        self._facet_timer: Timer | None = None
        self._detail_timer: Timer | None = None
        self.facets_generation = -1     # the view generation the facet counts describe
        self._full_facets: tuple[int, dict[str, Any]] | None = None   # (inventory version, counts of every row)
        self._applied_filter: str | None = None
        self._frozen_rows = 0
        self._gc_threshold: tuple[int, int, int] | None = None   # the thresholds before we froze
        self._gc_timer: Timer | None = None
        self._repaint_interval = MIN_REPAINT
        self._last_flush = 0.0
        self._graph: Graph | None = None
        self._graph_at = (-1, 0.0)
        self._graph_timer: Timer | None = None
        self._graph_building = False
        self._stats_at = -1
        self._stats: dict[str, int] = {}
        self._detail_key: tuple[Any, ...] = ()
        self._filter_error = ""
        self.last_export: tuple[Path, str, int] | None = None
        self._facets_choice: bool | None = None
        self._widgets: dict[Any, Any] = {}
        self.history_path = Path(config.history_path) if config.history_path else history.default_path()
        # GitHub's conditional requests keep their ETags in the same database as the snapshots.
        self.collector.cache_path = self.history_path if config.history_save else None
        self.history_record: ScanRecord | None = None   # what the last finished scan recorded

    # --- layout ----------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield StatusHeader(self.title_text, id="header")
        with Horizontal(id="body"):
            yield FacetList(id="facets")
            with Vertical(id="main"):
                with Horizontal(id="filterbar"):
                    yield Static(Content.styled("/", "bold $text-accent"), id="filter-label")
                    yield FilterInput(id="filter", compact=True, on_change=self.apply_filter,
                                placeholder="filter: words, provider:github, stale, unused>90d, "
                                            "privilege>=admin \u2026  (/ to type, esc clears)")
                    yield Static(id="sortinfo")
                yield Static(id="filter-error")
                yield IdentityTable(self.view, id="table")
                yield DetailPane(id="detail")
        yield KeyFooter()

    def on_mount(self) -> None:
        if self.config.theme and self.config.theme in self.available_themes:
            self.theme = self.config.theme
        if self.config.keys:
            known = {b.id for b in self.BINDINGS if b.id}
            unknown = sorted(set(self.config.keys) - known)
            self.set_keymap({k: v for k, v in self.config.keys.items() if k in known})
            if unknown:
                self.notify(f"[keys] ignores unknown ids: {', '.join(unknown)}. Known: {', '.join(sorted(known))}",
                            severity="warning", markup=False, timeout=10)
        self.main_widget("#filter-error").display = False
        self._place_facets()
        self.view.recompute()
        self.table.data_changed()
        self._freeze_heap()
        self._update_header()
        self._update_sortinfo()
        self._schedule_facets(FACET_DELAY)
        if self.open_snapshot and not len(self.inventory):
            self.run_worker(self._load_snapshot, thread=True, group="snapshot", description="open the last snapshot",
                            exit_on_error=False)
        elif self.should_collect and self.config.sources:
            self.start_collection()

    def on_resize(self) -> None:
        try:
            self._place_facets()
        except NoMatches:   # a resize before the main screen is composed
            pass

    def _place_facets(self) -> None:
        show = self._facets_choice if self._facets_choice is not None else self.size.width >= FACETS_MIN_WIDTH
        self.main_widget(FacetList).display = show

    def action_toggle_facets(self) -> None:
        facets = self.main_widget(FacetList)
        self._facets_choice = not facets.display
        self._place_facets()
        if facets.display:
            facets.focus()
        elif self.focused is None or self.focused is facets:
            self.table.focus()

    def main_widget(self, selector: Any, expect: Any = None) -> Any:
        """A widget of the main screen, even while a modal is on top (App.query_one searches only
        the active screen). Cached: the main layout never changes."""
        key = (selector, expect)
        widget = self._widgets.get(key)
        if widget is None:
            screen = self.screen_stack[0] if self.screen_stack else self.screen
            widget = screen.query_one(selector, expect) if expect is not None else screen.query_one(selector)
            self._widgets[key] = widget
        return widget

    @property
    def table(self) -> IdentityTable:
        return self.main_widget("#table", IdentityTable)

    @property
    def filter_input(self) -> Input:
        return self.main_widget("#filter", Input)

    # --- the last snapshot, while the refresh starts ----------------------------------------------

    def _load_snapshot(self) -> None:
        """Thread worker: statuses, then rows a chunk at a time; the scan starts when it is done."""
        import threading

        from nhitui.snapshot_open import SnapshotReader

        reader = None
        # A local snapshot shows only the sources still configured; the team store shows all of its own.
        configured = set() if self.reader is not None else {s["name"] for s in self.config.sources}
        try:
            reader = self.reader() if self.reader is not None else SnapshotReader.open(self.history_path)
            if reader is not None:
                statuses = [s for s in reader.statuses() if not configured or s.source in configured]

                def pause() -> None:
                    """Between slices of decoding: when the event loop is slow to answer, it is
                    busy (a keystroke, a repaint), so step off the GIL for a while. Keystroke echo
                    while 100k rows stream in: median 0.13 s -> 0.08 s, for ~3% longer loading."""
                    began = time.monotonic()
                    self.call_from_thread(lambda: None)
                    lag = time.monotonic() - began
                    if lag > 0.01:
                        time.sleep(min(lag * 2, 0.25))

                chunks = iter(reader.chunks(pause=pause) if isinstance(reader, SnapshotReader) else reader.chunks())
                # The statuses and the first (most urgent) rows are painted together, at once; the
                # next chunk is decoded only after that paint, so it does not share the GIL with it.
                first = [r for r in next(chunks, []) if not configured or r.source in configured]
                painted = threading.Event()
                self.call_from_thread(self._snapshot_statuses, statuses, first)
                self.call_from_thread(self.call_after_refresh, painted.set)
                painted.wait(5.0)
                for rows in chunks:
                    rows = [r for r in rows if not configured or r.source in configured]
                    self.call_from_thread(self._snapshot_rows, rows)
                # The last rows now, not after the coalesced repaint's interval (up to 1 s at 100k).
                self.call_from_thread(self._sync_data)
        except Exception as exc:  # noqa: BLE001 - a history problem is a notification, never a crash
            self.call_from_thread(self.notify, f"The last snapshot was not opened: {type(exc).__name__}: "
                                  f"{sanitize(str(exc))}", severity="warning", markup=False)
        finally:
            if reader is not None:
                reader.close()
            if self.should_collect and self.config.sources:
                self.call_from_thread(self.start_collection)

    def _reload_store(self) -> None:
        assert self.reload is not None
        try:
            fresh = self.reload()
        except Exception as exc:  # noqa: BLE001 - a store outage is a notification, never a crash
            self.call_from_thread(self.notify, f"Team store not reloaded: {sanitize(str(exc))}", severity="error",
                                  markup=False, timeout=10)
            return
        self.call_from_thread(self._store_reloaded, fresh)

    def _store_reloaded(self, fresh: Inventory) -> None:
        local = {s["name"] for s in self.config.sources}
        for name, status in fresh.statuses.items():
            if name in local:
                continue            # refreshed live here, not from the store
            self.inventory.replace_source(name, fresh.by_source(name))
            self.inventory.set_status(status)
        self._schedule_flush(0)
        self.notify(f"Team store reloaded: {len(fresh)} identities.", markup=False)

    def _snapshot_statuses(self, statuses: list[SourceStatus], first: list[Identity] | None = None) -> None:
        for status in statuses:
            self.inventory.set_status(status)
        if first and not self.collecting:
            self.inventory.add(first)
            self._sync_data()       # now, not on the next timer: these are the first rows on screen
        self._schedule_flush(0)

    def _snapshot_rows(self, rows: list[Identity]) -> None:
        if not self.collecting:      # never over rows a refresh already brought
            self.inventory.add(rows)
            self._schedule_flush(self._repaint_interval)

    # --- collection ------------------------------------------------------------------------------

    def start_collection(self, only: list[str] | None = None) -> bool:
        if self.collecting:
            self.notify("A scan is already running.", markup=False)
            return False
        self.collecting = True
        self.run_worker(self._collect(only), group="collect", description="collect sources", exit_on_error=False)
        return True

    async def _collect(self, only: list[str] | None) -> None:
        before = {n: s.state for n, s in self.inventory.statuses.items()}
        try:
            self._schedule_flush(0)
            statuses = await self.collector.run(only)
        except Exception as exc:  # noqa: BLE001 - a scan failure is shown, never a crash
            self.notify(f"Scan stopped: {type(exc).__name__}: {sanitize(str(exc))}", severity="error",
                        markup=False, timeout=10)
            statuses = {}
        finally:
            self.collecting = False
        self._sync_data()
        for name, status in statuses.items():
            if status.state == "failed":
                self.notify(f"{sanitize(name)} failed: {sanitize(status.error) or 'no reason given'}",
                            severity="error", markup=False, timeout=10)
            elif status.state == "partial" and before.get(name) != "partial":
                n = len(status.blind_spots)
                self.notify(f"{sanitize(name)} is partial: {n} blind spot{'s' if n != 1 else ''} "
                            f"(press i for details)", severity="warning", markup=False)
        if statuses:
            self.record_history()

    # --- history ---------------------------------------------------------------------------------

    def record_history(self) -> bool:
        """Save the finished scan as a snapshot (in a thread) and mark what is new since the last one.

        Nothing is saved while a source is still running; partial and failed sources are saved as
        they are (the history records their state, so a diff reports their rows as unknown).
        """
        statuses = dict(self.inventory.statuses)
        if not scan_finished(statuses):
            return False
        rows = list(self.inventory.rows)
        cfg = self.config

        def work() -> None:
            try:
                record = record_scan(self.history_path, rows, statuses, save=cfg.history_save,
                                     fingerprint=str(cfg.path), keep=cfg.history_keep,
                                     keep_days=cfg.history_keep_days)
            except Exception as exc:  # noqa: BLE001 - a history problem is a notification, never a crash
                self.call_from_thread(self._history_failed, exc)
                return
            self.call_from_thread(self._history_recorded, record)

        self.run_worker(work, thread=True, group="history", description="save history snapshot",
                        exit_on_error=False)
        return True

    def _history_failed(self, exc: Exception) -> None:
        what = "not saved" if self.config.history_save else "not read"
        self.notify(f"History {what}: {type(exc).__name__}: {sanitize(str(exc))}", severity="error",
                    markup=False, timeout=10)
        self.main_widget(StatusHeader).history_note = Content.styled(f"history {what}", "$text-error")
        self._update_header()

    def _history_recorded(self, record: ScanRecord) -> None:
        self.history_record = record
        collector_warnings, self.collector.warnings[:] = list(self.collector.warnings), []
        for warning in collector_warnings + record.warnings:
            self.notify(f"History: {sanitize(warning)}", severity="warning", markup=False, timeout=10)
        self.view.set_new(record.new_uids)
        header = self.main_widget(StatusHeader)
        if record.previous is None:
            header.history_note = Content.styled(
                "first snapshot: nothing marked new" if record.saved is not None else "no snapshot to compare",
                "$text-muted")
        else:
            n = len(record.new_uids or ())
            header.history_note = Content.assemble((f"{n:,}", "bold $text-success" if n else "bold"),
                                                   f" new since #{record.previous.id}")
        if uses_new(self.filter_input.value):
            self.apply_filter(self.filter_input.value, force=True)
        self.table.invalidate_rows()
        self._update_header()
        self._update_detail(force=True)

    def action_history(self) -> None:
        current = None
        if self.inventory.statuses or len(self.inventory):
            def current() -> tuple[list[Any], dict[str, Any]]:
                return self.inventory.rows, self.inventory.statuses
        record = self.history_record
        self.push_screen(HistoryScreen(self.history_path, current, record.saved if record is not None else None))

    def _source_changed(self, source: str) -> None:
        """Collector callback (event loop thread): coalesce repaints."""
        self._schedule_flush(self._repaint_interval)

    def _schedule_flush(self, delay: float) -> None:
        if self._flush_timer is not None:
            return
        wait = max(0.0, delay - (time.monotonic() - self._last_flush)) if delay else 0.0
        self._flush_timer = self.set_timer(max(wait, 0.005), self._sync_from_timer)

    def _sync_from_timer(self) -> None:
        self._flush_timer = None
        try:
            self._sync_data()
        except NoMatches:     # the app is shutting down: its widgets are already gone
            pass

    def _freeze_heap(self) -> None:
        """Move every object alive now out of the cyclic garbage collector's reach (`gc.freeze`).

        100k identities are ~400k tracked objects; a full collection walks them all (0.1-0.6 s)
        and fires every few hundred keystrokes' worth of allocations, which is what made a
        keystroke or Escape take half a second now and then. Identities form no reference
        cycles, so they are still freed (by reference counting) when a rescan replaces them;
        only cyclic garbage among the frozen objects would wait, and little is alive here."""
        rows = len(self.inventory)
        if abs(rows - self._frozen_rows) >= FREEZE_ROWS:
            self._frozen_rows = rows
            self._freeze()

    def _freeze(self) -> None:
        """gc.freeze(), and full collections moved to idle moments (`_idle_gc`): even over the
        unfrozen rest of the heap (Textual's caches, the graph) one costs tens of ms, and the
        collector starts one every few dozen keystrokes. Undone when the app ends."""
        gc.freeze()
        if self._gc_threshold is None:
            self._gc_threshold = gc.get_threshold()
            young, middle, _ = self._gc_threshold
            gc.set_threshold(young, middle, 1_000_000)
        self._schedule_gc()

    def _restart(self, timer: Timer | None, delay: float, callback: Callable[[], Any]) -> Timer:
        """Debounce: drop `timer` (if pending) and call `callback` after `delay` from now."""
        if timer is not None:
            timer.stop()
        return self.set_timer(delay, callback)

    def _schedule_gc(self) -> None:
        if self._gc_threshold is None:
            return
        self._gc_timer = self._restart(self._gc_timer, IDLE_GC, self._idle_gc)

    def _idle_gc(self) -> None:
        self._gc_timer = None
        gc.collect()

    def on_unmount(self) -> None:
        if self._gc_threshold is not None:
            gc.set_threshold(*self._gc_threshold)
            self._gc_threshold = None
            gc.unfreeze()

    def _sync_data(self) -> None:
        """Bring the view, table, header and detail up to date with the inventory."""
        t0 = time.perf_counter()
        if self.view.sync():
            self.table.data_changed()
            self._schedule_facets(FACET_DELAY)
            self._freeze_heap()
        self._update_header()
        self._update_detail()
        cost = time.perf_counter() - t0
        self._last_flush = time.monotonic()
        self._repaint_interval = max(MIN_REPAINT, min(1.0, cost * 3))

    def data_changed(self) -> None:
        """The inventory changed outside the collector (a revocation): recompute now."""
        self.view.recompute()
        self.table.data_changed()
        self.table.invalidate_rows()
        self._update_header()
        self._update_detail(force=True)
        self._schedule_facets(0)

    # --- header, facets, detail ------------------------------------------------------------------

    def _totals(self) -> dict[str, int]:
        inv = self.inventory
        if self._stats_at != inv.version:
            self._stats = inv.stats()
            self._stats_at = inv.version
        return {**self._stats, "shown": len(self.view), "marked": len(self.view.marked)}

    def _update_header(self) -> None:
        header = self.main_widget(StatusHeader)
        header.configured = len(self.config.sources)
        header.update_state(self.inventory.statuses, self._totals(), self.read_only)

    def _update_sortinfo(self) -> None:
        key = self.view.sort_key
        text = "sort: arrival" if not key else f"sort: {TITLES.get(key, key)} " + (
            "\u25bc" if self.view.reverse else "\u25b2")
        self.main_widget("#sortinfo", Static).update(Content.styled(text, "$text-muted"))

    def _schedule_facets(self, delay: float) -> None:
        self._facet_timer = self._restart(self._facet_timer, max(delay, 0.005), self._update_facets)

    def _update_facets(self) -> None:
        """Count facets over the visible rows; in a thread when there are many of them, which
        also lays out the columns and haystacks the next keystroke's filter reads."""
        self._facet_timer = None
        generation = self.view.generation
        full = self.view.is_full and not self.view.outdated
        version = self.inventory.version
        if full and self._full_facets is not None and self._full_facets[0] == version:
            self._facets_counted(self._full_facets[1], generation)    # escape: every row, counted before
            return
        job = self.view.column_job() if len(self.inventory) >= THREAD_ROWS else None
        if job is not None:
            def count() -> None:
                counts = count_columns(job.run())
                self.call_from_thread(self._facets_counted, counts, generation, version if full else None)
        else:
            self.view.warm()    # input has paused: get the next keystroke's haystacks ready
            identities = self.view.matching()
            if len(identities) < THREAD_ROWS:
                self._facets_counted(count_facets(identities), generation, version if full else None)
                return

            def count() -> None:
                counts = count_facets(identities)
                self.call_from_thread(self._facets_counted, counts, generation, version if full else None)

        self.run_worker(count, thread=True, exclusive=True, group="facets", description="count facets",
                        exit_on_error=False)

    def _facets_counted(self, counts: dict[str, Any], generation: int, full_version: int | None = None) -> None:
        if full_version is not None:
            self._full_facets = (full_version, counts)
        if generation != self.view.generation:
            return   # the view moved on; a newer count is scheduled
        active = set(self.filter_input.value.split())
        self.main_widget(FacetList).update_counts(counts, active, largest=len(self.inventory))
        self.facets_generation = generation

    def graph(self) -> Graph:
        """The delivery-chain graph, built now (for `reaches:` filters)."""
        if self._graph is None or self._graph_at[0] != self.inventory.version:
            self._build_graph()
        assert self._graph is not None
        return self._graph

    def _build_graph(self) -> None:
        self._graph_timer = None
        self._graph = Graph(self.inventory.rows, self.inventory.statuses)
        self._graph_at = (self.inventory.version, time.monotonic())

    def _graph_for_detail(self) -> Graph | None:
        """The graph if it is current; otherwise build it soon (off the first paint) and redraw.

        Building it walks every row (~0.1 s at 100k), so while data streams it is rebuilt at
        most every few seconds and the detail shows the last one meanwhile.
        """
        version, built = self._graph_at
        current = self._graph is not None and version == self.inventory.version
        recent = self._graph is not None and self.collecting and time.monotonic() - built < GRAPH_MAX_AGE
        if not current and self._graph_timer is None and not recent and not self._graph_building:
            self._graph_timer = self.set_timer(0.05, self._graph_then_detail)
        return self._graph

    def _graph_then_detail(self) -> None:
        self._graph_timer = None
        if len(self.inventory) < THREAD_ROWS:
            self._build_graph()
            self._update_detail(force=True)
            return
        if self._graph_building:
            return
        self._graph_building = True
        rows, version, statuses = self.inventory.rows, self.inventory.version, dict(self.inventory.statuses)

        def build() -> None:
            graph = Graph(rows, statuses)
            self.call_from_thread(self._graph_built, graph, version)

        self.run_worker(build, thread=True, group="graph", description="build graph", exit_on_error=False)

    def _graph_built(self, graph: Graph, version: int) -> None:
        self._graph_building = False
        self._graph = graph
        self._graph_at = (version, time.monotonic())
        if len(self.inventory) >= FREEZE_ROWS:
            self._freeze()     # the graph is as big as the data (edges, trust assessments): see _freeze_heap
        self._update_detail(force=True)

    def _update_detail(self, force: bool = False) -> None:
        identity = self.table.cursor_identity
        new = identity is not None and identity.uid in self.view.new_uids
        key = (id(identity), self.read_only, new)
        if not force and key == self._detail_key:
            return
        self._detail_key = key
        pane = self.main_widget(DetailPane)
        if identity is None:
            empty = "No identity matches the filter." if len(self.inventory) else (
                "Collecting\u2026" if self.collecting else "No identities.")
            pane.show(Content.styled(empty, "$text-muted"))
            return
        graph = self._graph_for_detail()
        links = graph.links(identity) if graph is not None else {}
        actions = [] if self.read_only else self.revoker.available(identity)
        pane.show(*describe(identity, datetime.now(timezone.utc), links, actions, self.read_only, new=new))

    def _schedule_detail(self) -> None:
        """Show the cursor's identity once typing pauses: the pane's new height is a layout pass
        (10-30 ms), which must not sit between a keystroke and its filtered table."""
        self._detail_timer = self._restart(self._detail_timer, FACET_DELAY, self._detail_after_typing)

    def _detail_after_typing(self) -> None:
        self._detail_timer = None
        self._update_detail()

    @on(IdentityTable.CursorMoved)
    def _cursor_moved(self, event: IdentityTable.CursorMoved) -> None:
        if self._detail_timer is None:   # else the filter is being typed: the timer shows it
            self._update_detail()

    @on(IdentityTable.HeaderClicked)
    def _header_clicked(self, event: IdentityTable.HeaderClicked) -> None:
        reverse = self.view.sort_key == event.key and not self.view.reverse
        self.sort_by(event.key, reverse)

    # --- filter ----------------------------------------------------------------------------------

    def _query_context(self) -> Context:
        return Context(new_uids=self.view.new_uids, reaches=lambda repo: self.graph().reaches(repo),
                       marked=self.view.marked, assumable_by=lambda repo: self.graph().assumable_by(repo))

    def apply_filter(self, text: str, force: bool = False) -> bool:
        """Parse and apply `text`; a bad term shows inline and keeps the last good view.
        `force` filters every row again (a fact the filter reads, such as the new uids, changed)."""
        if not force and text == self._applied_filter and not self.view.outdated:
            return True    # already shown (escape clears the box, whose Changed event repeats it)
        error = self.main_widget("#filter-error", Static)
        try:
            query = parse(text, datetime.now(timezone.utc), self._query_context())
        except QueryError as exc:
            self._filter_error = f"{exc.term}: {exc.reason}"
            error.update(Content.assemble(("\u2716 ", "bold $text-error"), (sanitize(exc.term), "bold"), ": ",
                                          sanitize(exc.reason)))
            error.display = True
            self.filter_input.add_class("-invalid-term")
            return False
        if self._filter_error:
            self._filter_error = ""
            error.display = False
            self.filter_input.remove_class("-invalid-term")
        self.view.set_query(None if query.empty else query, force=force)
        self._applied_filter = text
        self._schedule_gc()
        self.table.data_changed()
        self._update_header()
        self._schedule_detail()
        self._schedule_facets(FACET_DELAY)
        return True

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.apply_filter(event.value)

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        self.table.focus()

    def add_filter_term(self, term: str) -> None:
        """Add `term` to the filter (AND); remove it when it is there already."""
        terms = self.filter_input.value.split()
        if term in terms:
            terms.remove(term)
        else:
            terms.append(term)
        self.set_filter(" ".join(terms))

    def set_filter(self, text: str) -> None:
        box = self.filter_input
        if box.value == text:
            self.apply_filter(text)
        else:
            box.value = text   # Input.Changed applies it
            self.apply_filter(text)

    @on(FacetList.Selected)
    def _facet_selected(self, event: FacetList.Selected) -> None:
        self.add_filter_term(event.term)

    # --- actions: navigation, sort, marks --------------------------------------------------------

    def action_filter(self) -> None:
        # Focus now, not after the queued events (Widget.focus defers it): `/d` typed fast, or
        # pasted, must put `d` in the filter box, not run `d` (act) on the table's row.
        focused = self.focused
        if isinstance(focused, Input):
            # The binding has priority, so it also sees a `/` typed into any text box (the filter's
            # `reaches:acme/api`, an export path): that `/` is text. It joins the box's own queue,
            # behind the keys typed before it, so the order of a burst is kept.
            focused._forward_event(events.Key("slash", "/"))
            return
        if self.screen is not self.screen_stack[0]:
            return          # a dialog is open: `/` means nothing there
        box = self.filter_input
        if box.screen is self.screen:
            self.screen.set_focus(box)
        else:
            box.focus()

    def action_escape(self) -> None:
        box = self.filter_input
        if box.value:
            box.value = ""
            self.apply_filter("")
        self.table.focus()

    def sort_by(self, key: str | None, reverse: bool = False) -> None:
        self.view.set_sort(key, reverse)
        self.table.data_changed()
        self._update_sortinfo()

    def action_sort(self) -> None:
        """Sort by the next order: attention (the default) -> provider -> ... -> findings -> attention."""
        key = self.view.sort_key
        i = SORT_CYCLE.index(key) if key in SORT_CYCLE else -1
        self.sort_by(SORT_CYCLE[(i + 1) % len(SORT_CYCLE)], False)

    def action_sort_reverse(self) -> None:
        self.sort_by(self.view.sort_key or ATTENTION, not self.view.reverse)

    def action_mark(self) -> None:
        identity = self.table.cursor_identity
        if identity is None:
            return
        self.view.toggle_mark(identity.uid)
        self.table.invalidate_rows()
        self.table.move_cursor(self.table.cursor + 1)
        self._update_header()

    def action_mark_all(self) -> None:
        self.view.mark_all_visible()
        self.table.invalidate_rows()
        self._update_header()

    # --- actions: acting -------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ACTING and self.read_only:
            return False
        return True

    def _targets(self, marked: bool) -> list[str]:
        if marked and self.view.marked:
            return [r.uid for r in self.view.identities() if r.uid in self.view.marked] + sorted(
                u for u in self.view.marked if self.view.position_of(u) is None)
        if marked:
            self.notify("No row is marked (space marks, a marks all shown): acting on the cursor's row.",
                        markup=False)
        identity = self.table.cursor_identity
        return [identity.uid] if identity is not None else []

    def action_act(self) -> None:
        self._act(self._targets(False))

    def action_act_marked(self) -> None:
        self._act(self._targets(True))

    def _act(self, uids: list[str], plan: Any = None, title: str = "") -> None:
        if self.read_only:
            return
        if not uids and plan is None:
            self.notify("No identity to act on.", markup=False)
            return
        self.push_screen(ActScreen(self.revoker, uids, plan=plan, title=title), self._acted)

    def _acted(self, outcomes: list[Outcome] | None) -> None:
        if not outcomes:
            return
        ok = [o for o in outcomes if o.state in ("ok", "already-absent")]
        failed = [o for o in outcomes if o.state == "failed"]
        self.view.marked.difference_update(o.step.uid for o in ok)
        self.data_changed()
        summary = f"{len(ok)} done, {len(failed)} failed"
        if failed:
            first = failed[0]
            summary += f" ({sanitize(first.step.name)}: {sanitize(first.message)})"
        self.notify(summary, severity="error" if failed else "information", markup=False)
        for outcome in outcomes:
            if outcome.secret:
                self.push_screen(SecretScreen(outcome.step.name, outcome.secret))
        self.table.focus()

    def action_undo(self) -> None:
        if self.read_only:
            return
        try:
            plan = self.revoker.plan_undo()
        except RevokeError as exc:
            self.notify(sanitize(str(exc)), severity="error", markup=False)
            return
        if plan is None:
            self.notify("Nothing to undo.", markup=False)
            return
        step = plan.steps[0]
        self._act([step.uid], plan=plan, title=f"Undo: {step.action} {sanitize(step.name)} (reverses the last action)")

    # --- actions: the rest -----------------------------------------------------------------------

    def action_refresh(self) -> None:
        if self.reload is not None:
            self.notify("Reloading the team store\u2026", markup=False)
            self.run_worker(self._reload_store, thread=True, group="store", description="reload the team store",
                            exit_on_error=False)
            if not self.config.sources:
                return
        if not self.config.sources:
            self.notify("No source is configured.", markup=False)
            return
        if self.start_collection():
            self.notify("Rescanning every source\u2026", markup=False)

    def action_refresh_source(self) -> None:
        identity = self.table.cursor_identity
        if identity is None or self.config.source(identity.source) is None:
            self.action_refresh()
            return
        if self.start_collection([identity.source]):
            self.notify(f"Rescanning {sanitize(identity.source)}\u2026", markup=False)

    def action_export(self) -> None:
        rows = self.view.identities()
        statuses = dict(self.inventory.statuses)

        def save(path: Path, fmt: str) -> int:
            export.save(path, rows, statuses, fmt)
            return len(rows)

        self.push_screen(ExportScreen(len(rows), save, default_path()), self._exported)

    def _exported(self, result: tuple[Path, str, int] | None) -> None:
        if result is None:
            return
        self.last_export = result
        path, fmt, n = result
        self.notify(f"Exported {n:,} rows as {fmt.upper()} to {sanitize(str(path))}", markup=False)

    def action_open_url(self) -> None:
        identity = self.table.cursor_identity
        url = identity.url if identity is not None else ""
        if not url.startswith(("https://", "http://")) or sanitize(url) != url or " " in url:
            self.notify("This identity has no web page." if not url else
                        f"Not opening a suspicious URL: {sanitize(url)}", markup=False)
            return
        if not browser_available():
            self.notify(f"No browser here; the page is {sanitize(url)}", markup=False, timeout=8)
            return
        self.run_worker(lambda: webbrowser.open(url, new=2), thread=True, group="browser",
                        description="open url", exit_on_error=False)
        self.notify(f"Opening {sanitize(url)}", markup=False)

    def action_copy_uid(self) -> None:
        identity = self.table.cursor_identity
        if identity is None:
            return
        self.copy_to_clipboard(identity.uid)
        self.notify(f"Copied {sanitize(identity.uid)}", markup=False)

    def action_sources(self) -> None:
        self.push_screen(SourcesScreen(self.inventory.statuses))

    def action_trust_map(self) -> None:
        """Who can become what (nhitui.trustmap), widest and most privileged first."""
        from nhitui.tui.screens.trust import TrustScreen

        self.push_screen(TrustScreen(self.graph().trust.rows()))

    def key_list(self) -> list[tuple[str, str, str]]:
        """(keys, description, note) of every binding, with the user's keymap applied."""
        notes = {"refresh": "every source", "refresh_source": "only the cursor row's source",
                 "act": "the cursor's row, reversible action first", "act_marked": "the marked rows",
                 "sort": "next column (also click a column title)", "clear_filter": "in the filter: clear it",
                 "export": "the visible rows, CSV or JSON",
                 "history": "saved scans; compare two, or one with the current scan"}
        out = []
        for b in self.BINDINGS:
            if not isinstance(b, Binding):
                continue
            if b.id in ACTING and self.read_only:
                continue
            keys = self._keymap.get(b.id or "", b.key)
            shown = ", ".join(self.get_key_display(replace(b, key=k.strip())) for k in keys.split(","))
            out.append((shown, b.description, notes.get(b.id or "", "") + (f"  [id {b.id}]" if b.id else "")))
        out += [("up/down j/k", "Move the cursor", ""), ("pgup/pgdn, g/G", "Page, first, last", ""),
                ("ctrl+p", "Command palette: every action, sorts and quick filters", ""),
                ("tab", "Move focus: table, facets (enter adds a term), filter", "")]
        return out

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.key_list(), self.read_only))

    async def action_quit(self) -> None:
        self.exit(0)

    # --- command palette -------------------------------------------------------------------------

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        commands: list[tuple[str, str, Any]] = [
            ("Filter", "Focus the filter (/)", self.action_filter),
            ("Clear filter", "Show every identity (esc)", lambda: self.set_filter("")),
            ("Sort: next column", "Sort by the next column (s)", self.action_sort),
            ("Sort: reverse", "Reverse the sort order (S)", self.action_sort_reverse),
            ("Mark row", "Mark or unmark the cursor's row (space)", self.action_mark),
            ("Mark all shown", "Mark every visible row (a)", self.action_mark_all),
            ("Refresh all sources", "Rescan every source (r)", self.action_refresh),
            ("Refresh this source", "Rescan the cursor row's source (R)", self.action_refresh_source),
            ("Export", "Save the visible rows as CSV or JSON (e)", self.action_export),
            ("Open in browser", "Open the provider's page of the cursor's row (o)", self.action_open_url),
            ("Copy uid", "Copy the cursor row's uid (c)", self.action_copy_uid),
            ("Sources", "Each source's state, budget and blind spots (i)", self.action_sources),
            ("Trust map", "Who can become what: CI identities and the cloud identities they can assume (t)",
             self.action_trust_map),
            ("History", "Saved scans: compare any two, or one with the current scan (h)", self.action_history),
            ("Toggle facets", "Show or hide the facet sidebar (f)", self.action_toggle_facets),
            ("Help", "Every key, the filter language, PyPI (?)", self.action_help),
        ]
        if not self.read_only:
            commands += [
                ("Act on row", "Deactivate / revoke / delete the cursor's row, with confirmation (d)",
                 self.action_act),
                ("Act on marked rows", "Act on every marked row, with typed confirmation (ctrl+d)",
                 self.action_act_marked),
                ("Undo", "Reverse the last reversible action (u)", self.action_undo),
            ]
        for title, help_text, callback in commands:
            yield SystemCommand(title, help_text, callback)
        for term, title, help_text in QUICK_FILTERS:
            yield SystemCommand(title, f"Add `{term}` to the filter: {help_text}",
                                lambda term=term: self.add_filter_term(term))
        for column in COLUMNS:
            title = TITLES.get(column.key, column.title)
            yield SystemCommand(f"Sort by {title}", f"Sort the table by {title}",
                                lambda key=column.key: self.sort_by(key))


def uses_new(text: str) -> bool:
    """The filter has a `new` (or `!new`) term."""
    return any(t.lstrip("!").lower() == "new" for t in text.split())


def browser_available() -> bool:
    """A graphical browser can open without taking over this terminal."""
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or os.environ.get("BROWSER"))


def run(config: Config, read_only: bool = False, inventory: Inventory | None = None, title: str = "nhitui",
        collect: bool = True, snapshot: bool = False, reload: Callable[[], Inventory] | None = None,
        reader: Callable[[], Any] | None = None) -> int:
    """Run the dashboard until the user quits; returns the exit code."""
    app = NhiApp(config, read_only=read_only, inventory=inventory, title=title, collect=collect, snapshot=snapshot,
                 reload=reload, reader=reader)
    if prepaint.active():
        app.driver_class = keeping_first_screen(app.driver_class)
    result = app.run()
    if app.return_code not in (None, 0):
        return int(app.return_code)
    return int(result or 0)

