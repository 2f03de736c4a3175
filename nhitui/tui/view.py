"""The table's view model: which inventory rows are visible, in which order, and how cells read.

Pure Python (no Textual) so it can be measured and tested on its own. The inventory stays the
single store; the view is a list of row indexes into `inventory.rows`, recomputed when the filter,
the sort or the inventory changes. Streaming batches only append to the inventory, so the view
filters just the new rows; a full recompute happens when rows were replaced (end of a source,
rescoring, a revocation).
"""

from __future__ import annotations

import array
import itertools
import operator
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from nhitui.inventory import Inventory
from nhitui.model import SEVERITIES, Identity, privilege_rank, sanitize
from nhitui.query import FLAGS, Query, column_of, word_of

NEVER_USED = "never"
UNKNOWN = "?"


def human_span(seconds: float) -> str:
    """A compact duration: 5h, 3d, 14mo, 3y (months until two years, so '14mo' stays readable)."""
    seconds = max(0.0, seconds)
    days = seconds / 86400
    if days < 1:
        hours = int(seconds // 3600)
        return f"{hours}h" if hours else "<1h"
    if days < 60:
        return f"{int(days)}d"
    months = days / 30.4375
    if months < 24:
        return f"{int(months)}mo"
    return f"{int(days // 365.25)}y"


def age_text(identity: Identity, now: datetime) -> str:
    if identity.created_at is None:
        return UNKNOWN
    return human_span((now - identity.created_at).total_seconds())


def last_used_text(identity: Identity, now: datetime) -> str:
    """'never' only when the provider tracks use; '?' when it does not say."""
    if identity.last_used_at is None:
        return NEVER_USED if identity.usage_tracked else UNKNOWN
    return human_span((now - identity.last_used_at).total_seconds())


def expires_text(identity: Identity, now: datetime) -> str:
    if identity.expires_at is None:
        return "never" if identity.credential == "static" else "\u2014"
    left = (identity.expires_at - now).total_seconds()
    if left <= 0:
        return "expired"
    return human_span(left)


def severity_rank(identity: Identity) -> int:
    """Highest finding severity as an index into SEVERITIES, -1 without findings."""
    best = -1
    for f in identity.findings:
        try:
            best = max(best, SEVERITIES.index(f.severity))
        except ValueError:
            continue
    return best


def findings_text(identity: Identity) -> str:
    return " ".join(f.rule for f in identity.findings)


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    width: int
    text: Callable[[Identity, datetime], str]
    sort_key: Callable[[Identity], Any]
    flex: int = 0   # 0: fixed width; else a share of the spare width (`width` is then the minimum)


_FAR = float("inf")


_SEVERITY_INDEX = {s: n for n, s in enumerate(SEVERITIES)}


def _ts(value: datetime | None, missing: float) -> float:
    return value.timestamp() if value is not None else missing


def _findings_key(findings: tuple[Any, ...]) -> int:
    if not findings:
        return 1
    best = -1
    for f in findings:
        rank = _SEVERITY_INDEX.get(f.severity, -1)
        if rank > best:
            best = rank
    return -(best * 1000 + len(findings))


COLUMNS: tuple[Column, ...] = (
    Column("provider", "provider", 9, lambda i, n: i.provider, lambda i: i.provider),
    Column("kind", "kind", 18, lambda i, n: i.kind, lambda i: i.kind),
    Column("name", "name", 14, lambda i, n: i.name, lambda i: i.name.casefold(), flex=3),
    Column("owner", "owner", 15, lambda i, n: i.owner, lambda i: i.owner.casefold(), flex=1),
    Column("target", "target", 10, lambda i, n: i.target, lambda i: i.target.casefold(), flex=2),
    # Highest privilege first when sorted.
    Column("privilege", "priv", 5, lambda i, n: i.privilege, lambda i: -privilege_rank(i.privilege)),
    # Oldest first.
    Column("age", "age", 4, age_text, lambda i: i.created_at.timestamp() if i.created_at is not None else _FAR),
    # Never used first, then the longest idle; unknown last.
    Column("last_used", "used", 5, last_used_text,
           lambda i: _ts(i.last_used_at, -_FAR if i.usage_tracked else _FAR)),
    # Soonest (or already) expiring first, never-expiring last.
    Column("expires", "expires", 7, expires_text,
           lambda i: i.expires_at.timestamp() if i.expires_at is not None else _FAR),
    Column("status", "status", 8, lambda i, n: i.status, lambda i: i.status),
    # Most severe first, then the most findings.
    Column("findings", "findings", 12, lambda i, n: findings_text(i), lambda i: _findings_key(i.findings), flex=3),
)
COLUMN_KEYS = tuple(c.key for c in COLUMNS)
MARK_WIDTH = 2
TITLES = {"privilege": "privilege", "last_used": "last used"}   # long names, for help and sort info

# The default order: what needs attention first. Not a column; `s` cycles through it and every column.
ATTENTION = "attention"
TITLES[ATTENTION] = "attention (severity, stale, oldest use)"
SORT_CYCLE = (ATTENTION, *COLUMN_KEYS)
_NEVER, _UNKNOWN_USE = -1.0, 1e12   # seconds since the epoch: before and after any real last use


def attention_key(identity: Identity) -> float:
    """Most severe finding first, then stale, then the oldest last use (never used before any use,
    unknown use last). One float, so 100k rows sort at C speed: (4 - severity) * 4e12 + (not stale)
    * 2e12 + last-use timestamp, whose range (-1 .. 1e12) stays inside its 2e12 slot."""
    severity = -1
    for f in identity.findings:
        rank = _SEVERITY_INDEX.get(f.severity, -1)
        if rank > severity:
            severity = rank
    used = identity.last_used_at
    seconds = used.timestamp() if used is not None else (_NEVER if identity.usage_tracked else _UNKNOWN_USE)
    return (4 - severity) * 4e12 + (0.0 if identity.stale else 2e12) + seconds


SORT_KEYS: dict[str, Callable[[Identity], Any]] = {c.key: c.sort_key for c in COLUMNS}
SORT_KEYS[ATTENTION] = attention_key


def column_widths(available: int) -> list[int]:
    """Each column's width for a table `available` cells wide: fixed columns keep theirs,
    flexible ones share what is left (at least their minimum, then the table scrolls)."""
    minimum = MARK_WIDTH + sum(c.width + 1 for c in COLUMNS)
    spare = max(0, available - minimum)
    flex_total = sum(c.flex for c in COLUMNS)
    widths = [c.width + (spare * c.flex // flex_total if c.flex else 0) for c in COLUMNS]
    used = MARK_WIDTH + sum(w + 1 for w in widths)
    if spare and used < available:
        last = max(i for i, c in enumerate(COLUMNS) if c.flex)
        widths[last] += available - used
    return widths


def cells(identity: Identity, now: datetime) -> tuple[str, ...]:
    """Every column's display text, sanitized (uid, kind and status are provider text too)."""
    return tuple(sanitize(c.text(identity, now)) for c in COLUMNS)


def _is_word(term: str) -> bool:
    return not any(ch in term for ch in ':<>=!"\'') and term.lower() not in FLAGS


def narrows(old: str, new: str) -> bool:
    """True when every row matching `new` also matches `old`, so only old's matches need scanning.

    Holds when `new` only adds terms, or only lengthens its last free word (`acm` -> `acme`).
    """
    if '"' in old + new or "'" in old + new:
        return False
    a, b = old.split(), new.split()
    if not a or len(b) < len(a):
        return False
    if b[: len(a)] == a:
        return True
    if len(a) == len(b) and a[:-1] == b[:-1]:
        last_old, last_new = a[-1], b[-1]
        return _is_word(last_old) and _is_word(last_new) and last_old.casefold() in last_new.casefold()
    return False


def _cost(predicate: Any) -> int:
    """Terms that read one list at C speed first: later, per-row terms then see fewer rows."""
    if column_of(predicate) is not None:
        return 0
    return 1 if word_of(predicate) is not None else 2


COLUMN_FIELDS = ("provider", "kind", "status", "findings", "stale", "credential", "privilege")


def ordered_values(rows: list[Identity], order: list[int], field: str) -> list[Any]:
    """Every row's `field`, laid out in `order`. The rows are read in storage order (where they
    lie in memory), then the values permuted: several times faster than reading rows in order."""
    stored = list(map(operator.attrgetter(field), rows))
    return list(map(stored.__getitem__, order))


HAY = "\x00haystacks"     # the ordered haystacks, kept with the columns under this name
_BUILDING = threading.Lock()   # one worker lays out columns at a time: each holds ~35 MB while it works


@dataclass
class ColumnJob:
    """Columns to lay out off the UI thread, from copies taken on it (see `TableView.column_job`).

    The worker writes each finished column into `store`, the view's dict for this very order and
    data (a dict item set is atomic): the UI thread uses it from then on, and a store the view has
    moved past is garbage. Workers take turns, so a burst of keystrokes never lays out the same
    columns several times at once."""

    rows: list[Identity]
    hay: list[str]
    order: list[int]
    positions: list[int] | None           # the view's matches (None: every row)
    store: dict[str, list[Any]]
    fields: tuple[str, ...]

    def run(self) -> ColumnJob:
        with _BUILDING:
            for name in self.fields:
                if name not in self.store:
                    self.store[name] = ordered_values(self.rows, self.order, name)
            if HAY not in self.store:
                self.store[HAY] = ordered_haystacks(self.hay, self.order)
        self.rows = self.hay = []     # the copies are done with, whoever still holds the job
        return self

    def values(self, name: str) -> Iterable[Any]:
        """The column's values for the view's matches only."""
        values = self.store[name]
        return values if self.positions is None else map(values.__getitem__, self.positions)


def ordered_haystacks(hay: list[str], order: list[int]) -> list[str]:
    """The haystacks in `order`, copied so they also lie in that order in memory: one join and
    one split allocate every string anew, one after another (C speed)."""
    return "\x01".join(map(hay.__getitem__, order)).split("\x01") if order else []


def select(rows: list[Identity], hay: list[str], candidates: Iterable[int], query: Query | None) -> list[int]:
    """Indexes among `candidates` that match `query`, one predicate at a time (fast path for words)."""
    idx = list(candidates)
    if query is None or query.empty:
        return idx
    predicates = query.predicates
    if len(query.words) == len(predicates):
        for word in query.words:
            idx = [i for i in idx if word in hay[i]]
        return idx
    for predicate in predicates:
        idx = [i for i in idx if predicate(rows[i], hay[i])]
        if not idx:
            break
    return idx


class TableView:
    """Filtered, sorted row indexes over an `Inventory`, plus the marked uids.

    Speed at 100k rows comes from never sorting what is already in order: each sort key keeps
    its per-row key list and the full sorted order of every row, both brought up to date
    incrementally (only rows that are new or replaced get a new key; the old order, nearly sorted,
    re-sorts in linear time). A filter walks that full order, so its matches come out sorted;
    clearing the filter copies it; narrowing filters the view in place.
    """

    def __init__(self, inventory: Inventory) -> None:
        self.inventory = inventory
        self.query: Query | None = None
        self.query_text = ""
        self.view: list[int] = []
        self.sort_key: str | None = ATTENTION
        self.reverse = False
        self.marked: set[str] = set()
        # uids absent from the previous history snapshot (the `new` marker and filter term);
        # updated in place so a parsed `new` term keeps seeing the current set.
        self.new_uids: set[str] = set()
        self._rows_ref: list[Identity] | None = None
        self._positions: list[int] | None = None   # matches, as positions in the forward full order
        self._columns_key: Any = None
        self._order_copy: tuple[Any, list[int]] = (None, [])
        self._recent_key: Any = None
        self._range: list[int] = []
        self._recent: dict[str, list[int]] = {}
        self._columns: dict[str, list[Any]] = {}
        self._seen = 0
        self._version = -1
        # Per sort key: (rows the keys were computed for, keys), and (version, full order, ranks).
        self._keys: dict[str, tuple[list[Identity], list[Any]]] = {}
        self._orders: dict[str | None, tuple[int, array.array, array.array]] = {}
        self.generation = 0   # bumps on every change of `view`, for render caches

    # --- reading ---------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.view)

    def identity(self, position: int) -> Identity | None:
        if 0 <= position < len(self.view):
            rows = self.inventory.rows
            i = self.view[position]
            if i < len(rows):
                return rows[i]
        return None

    def identities(self) -> list[Identity]:
        rows = self.inventory.rows
        if self._version == self.inventory.version:
            return list(map(rows.__getitem__, self.view))
        n = len(rows)
        return [rows[i] for i in self.view if i < n]

    def position_of(self, uid: str | None) -> int | None:
        """Where `uid` sits in the view, or None."""
        if uid is None:
            return None
        i = self.inventory.position(uid)
        if i is None:
            return None
        try:
            return self.view.index(i)
        except ValueError:
            return None

    @property
    def stale_count(self) -> int:
        rows = self.inventory.rows
        return sum(1 for i in self.view if rows[i].stale)

    @property
    def outdated(self) -> bool:
        """The inventory changed since the view was computed."""
        return self._changed()

    @property
    def is_full(self) -> bool:
        """The view shows every row (no filter)."""
        return self.query is None

    # --- changing --------------------------------------------------------------------------------

    def set_query(self, query: Query | None, force: bool = False) -> None:
        """Apply a parsed filter; scans only the current matches when the new filter narrows it
        (`force`: a fact the filter reads changed, such as the `new` uids: filter every row again)."""
        text = query.text if query is not None else ""
        narrowing = (not force and self.query is not None and query is not None and not self._changed()
                     and self._positions is not None and narrows(self.query_text, text))
        self.query, self.query_text = query, text
        recent = self._recall(query) if not force and not self._changed() else None
        if narrowing or recent is not None:
            self._positions = recent if recent is not None else self._filter(self._positions)
            self._remember(query)
            self.view = self._view_of(self._positions)
            self.generation += 1
            return
        self.recompute()
        self._remember(query)

    # Backspace widens the filter to one just shown: its matches are kept (for free-word filters,
    # whose answer depends on nothing but the rows) while the order and the data stay the same.
    RECENT = 4

    def _recall(self, query: Query | None) -> list[int] | None:
        if query is None or self._recent_key != self._columns_key_now():
            return None
        return self._recent.get(query.text)

    def _remember(self, query: Query | None) -> None:
        if query is None or self._positions is None or len(query.words) != len(query.predicates):
            return
        key = self._columns_key_now()
        if self._recent_key != key:
            self._recent_key, self._recent = key, {}
        self._recent.pop(query.text, None)
        self._recent[query.text] = self._positions
        while len(self._recent) > self.RECENT:
            del self._recent[next(iter(self._recent))]

    def _columns_key_now(self) -> tuple[Any, ...]:
        inv = self.inventory
        return (self.sort_key, inv.version, len(inv.rows))

    def set_sort(self, key: str | None, reverse: bool = False) -> None:
        self.sort_key, self.reverse = key, reverse
        self.recompute()

    def recompute(self) -> None:
        inv = self.inventory
        rows = inv.rows
        self._rows_ref, self._seen, self._version = rows, len(rows), inv.version
        self._positions = None if self.query is None else self._filter(None)
        self.view = self._view_of(self._positions)
        if self.marked:
            self.marked = {u for u in self.marked if inv.get(u) is not None}
        self.generation += 1

    def sync(self) -> bool:
        """Catch up with the inventory; returns True when the view changed."""
        if self.inventory.version == self._version:
            return False
        self.recompute()
        return True

    def matching(self) -> list[Identity]:
        """The rows of the view in storage order (for facet counts: faster to walk than the view)."""
        rows = self.inventory.rows
        if self._changed():
            return self.identities()
        if self._positions is None:
            return list(rows)
        order = self._order(self.sort_key)[1]
        return list(map(rows.__getitem__, sorted(map(order.__getitem__, self._positions))))

    def _changed(self) -> bool:
        return self.inventory.version != self._version or self.inventory.rows is not self._rows_ref

    # --- filter and order -------------------------------------------------------------------------
    #
    # At 100k rows, where a row sits in memory matters more than how many rows a filter reads:
    # reading rows in sorted order misses the CPU cache on almost every row (3-4x slower than
    # in storage order), and a Python call per row costs more than the test itself. So matches
    # are kept as positions in the forward full order, and the filter reads lists laid out in
    # that order: the haystacks for free words, and the field a term tests (`query.reads`) for
    # the rest, both tested with C-level `map`/`compress`. Only terms that read several fields
    # (`unused>`, `finding:`) call their predicate per row.

    def _filter(self, positions: list[int] | None) -> list[int]:
        """Positions (in the forward full order) among `positions` (None: all) matching the query."""
        query = self.query
        assert query is not None
        hay = self._ordered_hay()
        everything = self._indexes(len(hay))
        found: Iterable[int] | None = positions
        for predicate in sorted(query.predicates, key=_cost):
            word, column = word_of(predicate), column_of(predicate)
            if word is not None or column is not None:
                values: list[Any] = hay if column is None else self._ordered_column(column[0])
                read = values if found is None else map(values.__getitem__, found)
                if column is None:
                    kept: Iterable[Any] = map(operator.contains, read, itertools.repeat(word))
                else:
                    kept = read if column[1] is None else map(column[1], read)
                found = list(itertools.compress(everything if found is None else found, kept))
            else:
                rows, order = self.inventory.rows, self._order_list()
                found = [j for j in (everything if found is None else found) if predicate(rows[order[j]], hay[j])]
            if not found:
                break
        return list(everything) if found is None else list(found)

    def _indexes(self, n: int) -> list[int]:
        """0 .. n-1, kept: matches are picked from this list, so every list of positions shares
        its int objects instead of allocating 32 bytes per match (at 100k rows, megabytes per
        keystroke that fragment the heap)."""
        if len(self._range) != n:
            self._range = list(range(n))
        return self._range

    def _view_of(self, positions: list[int] | None) -> list[int]:
        order = self._order_list()
        view = list(order) if positions is None else list(map(order.__getitem__, positions))
        if self.reverse:
            view.reverse()
        return view

    def full_order(self) -> list[int]:
        """Every row index in the current sort order (arrival order without a sort key)."""
        return self._view_of(None)

    def warm(self) -> None:
        """Build what the next filter keystroke needs (the ordered haystacks) ahead of it, at an
        idle moment, so the first keystroke after a scan or a sort does not pay for it."""
        if self.inventory.rows:
            self._ordered_hay()

    def _order_list(self) -> list[int]:
        """The current order as a list (indexing a list is twice as fast as an array; only the
        current order is kept as one, the others stay compact arrays)."""
        entry = self._order(self.sort_key)
        if self._order_copy[0] is not entry:
            self._order_copy = (entry, entry[1].tolist())
        return self._order_copy[1]

    def _columns_for_now(self) -> dict[str, list[Any]]:
        """The columns (and haystacks) laid out for the current order and data."""
        key = self._columns_key_now()
        if self._columns_key != key:
            self._columns_key, self._columns = key, {}
        return self._columns

    def _ordered_column(self, field: str) -> list[Any]:
        """Every row's `field` in the forward full order (kept for the current order and data)."""
        columns = self._columns_for_now()
        values = columns.get(field)
        if values is None:
            values = columns[field] = ordered_values(self.inventory.rows, self._order_list(), field)
        return values

    def _ordered_hay(self) -> list[str]:
        """The haystacks in the forward full order."""
        columns = self._columns_for_now()
        hay = columns.get(HAY)
        if hay is None:
            hay = columns[HAY] = ordered_haystacks(self.inventory.haystacks, self._order_list())
        return hay

    def column_job(self, fields: Iterable[str] = COLUMN_FIELDS) -> ColumnJob | None:
        """What a worker thread needs to lay out the columns (and haystacks) the next keystroke
        and the facet counts read, copied here on the UI thread so the worker reads no live state.
        None when the view is behind the inventory (it is recomputed first)."""
        if self._changed():
            return None
        inv, store = self.inventory, self._columns_for_now()
        ready = HAY in store and all(f in store for f in fields)     # then the copies are not needed
        return ColumnJob(rows=[] if ready else list(inv.rows), hay=[] if ready else list(inv.haystacks),
                         order=self._order_list(), positions=self._positions, store=store, fields=tuple(fields))

    def _order(self, key: str | None) -> tuple[int, array.array, array.array]:
        """(version, forward order of every row, rank of each row) for `key` (None: arrival), kept
        up to date incrementally: only rows that are new or were replaced get a new sort key, and
        the previous order, nearly sorted, re-sorts in linear time."""
        inv = self.inventory
        cached = self._orders.get(key)
        n = len(inv.rows)
        if cached is not None and cached[0] == inv.version and len(cached[1]) == n:
            return cached
        if key is None:
            order = list(range(n))
        else:
            # Per-row keys are kept for the current sort only (string keys cost megabytes a column);
            # other columns keep their compact order and ranks, valid until the data changes.
            for other in [k for k in self._keys if k != key]:
                del self._keys[other]
            keys = self._key_list(key)
            if cached is not None:
                old = cached[1]
                order = [i for i in old if i < n] if len(old) > n else old.tolist()
                order.extend(range(len(old), n))
            else:
                order = list(range(n))
            order.sort(key=keys.__getitem__)
        ranks = array.array("l", bytes(array.array("l").itemsize * n))
        for position, i in enumerate(order):
            ranks[i] = position
        entry = (inv.version, array.array("l", order), ranks)
        self._orders[key] = entry
        return entry

    def _key_list(self, key: str) -> list[Any]:
        """The sort key of every row; recomputed only for rows that are new or were replaced."""
        rows = self.inventory.rows
        function = SORT_KEYS[key]
        cached = self._keys.get(key)
        if cached is None:
            keys = list(map(function, rows))
        else:
            seen, keys = cached
            common = min(len(seen), len(rows))
            del keys[len(rows):]
            for i in itertools.compress(range(common), map(operator.is_not, rows, seen)):
                keys[i] = function(rows[i])
            keys.extend(map(function, rows[common:]))
        self._keys[key] = (list(rows), keys)
        return keys

    def set_new(self, uids: set[str] | None) -> None:
        """Replace the `new` uids (in place: parsed queries hold this very set)."""
        self.new_uids.clear()
        self.new_uids.update(uids or ())
        self.generation += 1

    def toggle_mark(self, uid: str) -> bool:
        if uid in self.marked:
            self.marked.discard(uid)
            return False
        self.marked.add(uid)
        return True

    def mark_all_visible(self) -> int:
        """Mark every visible row; if all are marked already, unmark them. Returns marked count."""
        uids = [r.uid for r in self.identities()]
        if uids and all(u in self.marked for u in uids):
            self.marked.difference_update(uids)
        else:
            self.marked.update(uids)
        return len(self.marked)


def now_utc() -> datetime:
    return datetime.now(timezone.utc)
