"""The in-memory store of identities: streamed in by source, replaced atomically, filtered fast.

Rows live in one list in arrival order with a uid index. A refresh of a source collects into a
staging list and swaps it in one step (`replace_source`), so a reader never sees a half-refreshed
source. `version` increases on every change so views (TUI, exports) know when to recompute.

An action's result is newer than a collection that started before it: `mark_acted(uid)` records
it, and `add` / `replace_source` given the `since` version of their collection leave such uids as
the action left them (gone, or as the provider answered), not as the older listing saw them.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator

from nhitui.model import Identity, SourceStatus

FACETS = ("provider", "kind", "status", "source", "privilege", "credential")


def haystack(identity: Identity) -> str:
    """The casefolded text free words search: name, owner, target and the uid."""
    return "\x00".join((identity.name, identity.owner, identity.target, identity.uid)).casefold()


class Inventory:
    """Thread-safe store of `Identity` rows keyed by uid, plus each source's `SourceStatus`."""

    def __init__(self) -> None:
        self._rows: list[Identity] = []
        self._hay: list[str] = []
        self._index: dict[str, int] = {}
        self.statuses: dict[str, SourceStatus] = {}
        self.version = 0
        self._acted: dict[str, int] = {}       # uid -> version at which an action changed it
        self._lock = threading.RLock()

    # --- reading -------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._rows)

    def __iter__(self) -> Iterator[Identity]:
        return iter(list(self._rows))

    @property
    def rows(self) -> list[Identity]:
        """The live row list (do not mutate); index positions are stable until the next change."""
        return self._rows

    @property
    def haystacks(self) -> list[str]:
        return self._hay

    def get(self, uid: str) -> Identity | None:
        i = self._index.get(uid)
        return self._rows[i] if i is not None else None

    def position(self, uid: str) -> int | None:
        """Index of `uid` in `rows` (stable until the next change), or None."""
        return self._index.get(uid)

    def by_source(self, source: str) -> list[Identity]:
        return [r for r in self._rows if r.source == source]

    def select(self, predicate: Callable[[Identity, str], bool] | None) -> list[int]:
        """Indexes of rows that match `predicate(identity, haystack)`; all rows when None."""
        rows, hay = self._rows, self._hay
        if predicate is None:
            return list(range(len(rows)))
        narrowing = getattr(predicate, "filter", None)
        if narrowing is not None:
            return narrowing(rows, hay)
        return [i for i in range(len(rows)) if predicate(rows[i], hay[i])]

    def counts(self, field: str) -> Counter[str]:
        """Counts by one facet: provider, kind, status, source, privilege, credential, stale, finding."""
        if field == "stale":
            return Counter("stale" if r.stale else "fresh" for r in self._rows)
        if field == "finding":
            return Counter(f.rule for r in self._rows for f in r.findings)
        return Counter(getattr(r, field) for r in self._rows)

    def stats(self) -> dict[str, int]:
        return {
            "total": len(self._rows),
            "stale": sum(1 for r in self._rows if r.stale),
            "findings": sum(1 for r in self._rows if r.findings),
        }

    # --- writing -------------------------------------------------------------------------------

    def mark_acted(self, uid: str) -> None:
        """An action just changed or removed `uid`: collections that started earlier must not undo that."""
        with self._lock:
            self.version += 1
            self._acted[uid] = self.version

    def _acted_since(self, since: int | None) -> set[str]:
        if since is None:
            return set()
        return {uid for uid, v in self._acted.items() if v > since}

    def add(self, identities: Iterable[Identity], since: int | None = None) -> int:
        """Upsert a streamed batch; returns how many rows were new.

        `since`: the version when the batch's collection started; uids acted on after it are skipped.
        """
        added = 0
        with self._lock:
            acted = self._acted_since(since)
            for identity in identities:
                if identity.uid in acted:
                    continue
                i = self._index.get(identity.uid)
                if i is None:
                    self._index[identity.uid] = len(self._rows)
                    self._rows.append(identity)
                    self._hay.append(haystack(identity))
                    added += 1
                else:
                    self._rows[i] = identity
                    self._hay[i] = haystack(identity)
            self.version += 1
        return added

    def update(self, identity: Identity) -> None:
        self.add([identity])

    def replace_all(self, identities: Iterable[Identity]) -> None:
        """Swap every row at once (after the policy re-scored the whole inventory).

        A uid given twice is kept once (the last version, at the first position), as `add` does.
        """
        rows = list({r.uid: r for r in identities}.values())
        with self._lock:
            self._rows = rows
            self._hay = [haystack(r) for r in rows]
            self._index = {r.uid: i for i, r in enumerate(rows)}
            self.version += 1

    def replace_source(self, source: str, identities: Iterable[Identity], since: int | None = None) -> None:
        """Atomically swap one source's rows for a fresh collection, keeping other rows' order.

        `since`: the version when the collection started; uids acted on after it keep their current row.
        """
        fresh = list(identities)
        with self._lock:
            acted = self._acted_since(since)
            if acted:
                fresh = [r for r in fresh if r.uid not in acted]
                fresh += [r for r in self._rows if r.uid in acted and r.source == source]
            kept = [r for r in self._rows if r.source != source]
            self.replace_all(kept + fresh)

    def remove(self, uids: Iterable[str]) -> int:
        gone = set(uids)
        with self._lock:
            before = len(self._rows)
            if gone & self._index.keys():
                self.replace_all(r for r in self._rows if r.uid not in gone)
            return before - len(self._rows)

    def set_status(self, status: SourceStatus) -> None:
        with self._lock:
            self.statuses[status.source] = status
            self.version += 1
