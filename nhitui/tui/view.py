"""The table's view model: which inventory rows are visible, in which order, and how cells read.

Pure Python (no Textual) so it can be measured and tested on its own. The inventory stays the
single store; the view is a list of row indexes into `inventory.rows`, recomputed when the filter,
the sort or the inventory changes. Streaming batches only append to the inventory, so the view
filters just the new rows; a full recompute happens when rows were replaced (end of a source,
rescoring, a revocation).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from nhitui.inventory import Inventory
from nhitui.model import SEVERITIES, Identity, privilege_rank, sanitize
from nhitui.query import FLAGS, Query

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
    """Filtered, sorted row indexes over an `Inventory`, plus the marked uids."""

    def __init__(self, inventory: Inventory) -> None:
        self.inventory = inventory
        self.query: Query | None = None
        self.query_text = ""
        self.view: list[int] = []
        self.sort_key: str | None = None
        self.reverse = False
        self.marked: set[str] = set()
        # uids absent from the previous history snapshot (the `new` marker and filter term);
        # updated in place so a parsed `new` term keeps seeing the current set.
        self.new_uids: set[str] = set()
        self._rows_ref: list[Identity] | None = None
        self._seen = 0
        self._version = -1
        self._sort_cache: dict[str, tuple[int, int, list[Any]]] = {}
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
        return [rows[i] for i in self.view if i < len(rows)]

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

    # --- changing --------------------------------------------------------------------------------

    def set_query(self, query: Query | None, force: bool = False) -> None:
        """Apply a parsed filter; scans only the current view when the new filter narrows it
        (`force`: a fact the filter reads changed, such as the `new` uids: filter every row again)."""
        text = query.text if query is not None else ""
        if not force and self.query is not None and query is not None and not self._changed() and narrows(
                self.query_text, text):
            self.view = select(self.inventory.rows, self.inventory.haystacks, self.view, query)
            self.query, self.query_text = query, text
            self.generation += 1
            return
        self.query, self.query_text = query, text
        self.recompute()

    def set_sort(self, key: str | None, reverse: bool = False) -> None:
        self.sort_key, self.reverse = key, reverse
        self._sort()
        self.generation += 1

    def recompute(self) -> None:
        inv = self.inventory
        rows = inv.rows
        self.view = select(rows, inv.haystacks, range(len(rows)), self.query)
        self._rows_ref, self._seen, self._version = rows, len(rows), inv.version
        self._sort()
        if self.marked:
            self.marked = {u for u in self.marked if inv.get(u) is not None}
        self.generation += 1

    def sync(self) -> bool:
        """Catch up with the inventory; returns True when the view changed."""
        inv = self.inventory
        if inv.version == self._version:
            return False
        rows = inv.rows
        if rows is self._rows_ref and len(rows) > self._seen:
            # Streaming: the store only appended (or upserted in place); filter the new rows only.
            new = select(rows, inv.haystacks, range(self._seen, len(rows)), self.query)
            self._seen, self._version = len(rows), inv.version
            if new:
                self.view.extend(new)
                if self.sort_key:
                    self._sort()
            self.generation += 1
            return True
        self.recompute()
        return True

    def _changed(self) -> bool:
        return self.inventory.version != self._version or self.inventory.rows is not self._rows_ref

    def _sort(self) -> None:
        """Sort the view by `sort_key`.

        The first sort of a column after a change compares the real values (strings, times);
        when the view holds every row, its order then becomes a per-row rank array, and later
        sorts of that column (reverse, back from another column, a new filter) compare small ints.
        """
        key = self.sort_key
        if not key:
            return
        inv = self.inventory
        rows = inv.rows
        cached = self._sort_cache.get(key)
        if cached is not None and cached[0] == inv.version and cached[1] == len(rows):
            self.view.sort(key=cached[2].__getitem__, reverse=self.reverse)
            return
        column = next(c for c in COLUMNS if c.key == key)
        keys = list(map(column.sort_key, rows))
        self.view.sort(key=keys.__getitem__)
        if len(self.view) == len(rows):
            ranks = [0] * len(rows)
            for position, i in enumerate(self.view):
                ranks[i] = position
            self._sort_cache[key] = (inv.version, len(rows), ranks)
        else:
            self._sort_cache[key] = (inv.version, len(rows), keys)
        if self.reverse:
            self.view.sort(key=self._sort_cache[key][2].__getitem__, reverse=True)

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
