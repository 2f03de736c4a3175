"""What changed between two scans: the Diff record, the change classifier and its renderings.

`History.diff` computes which fields moved inside SQLite and hands this module a bit mask per
changed identity; a JSON-export diff and a diff against the live inventory compare row dicts. Both
go through `describe`, so the three agree on what counts as a change and how it is worded.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The fields a reviewer cares about, in the order of their bit in a change mask. The history
# database keeps them as columns of its `rows` table so a diff of two snapshots never decodes a row.
TRACKED = ("created_at", "last_used_at", "privilege", "scopes", "findings", "status", "expires_at", "owner",
           "name", "target")
BIT = {name: 1 << n for n, name in enumerate(TRACKED)}
LISTS = ("scopes", "findings")


class DiffError(Exception):
    """A diff input that cannot be read (not an nhitui JSON export)."""


class Change:
    """One identity present in both scans with a tracked field changed.

    `old` and `new` are the full rows. A snapshot diff of 100,000 changed identities would spend
    seconds decoding rows nobody looks at, so there they are fetched on first access through
    `load`; a diff of dicts passes them directly.
    """

    __slots__ = ("uid", "what", "_old", "_new", "_load")

    def __init__(self, uid: str, what: tuple[str, ...], old: Any, new: Any,
                 load: Callable[[Any], dict[str, Any]] | None = None) -> None:
        self.uid = uid
        self.what = what
        self._old, self._new, self._load = old, new, load

    @property
    def old(self) -> dict[str, Any]:
        if self._load is not None and not isinstance(self._old, dict):
            self._old = self._load(self._old) or {"uid": self.uid}
        return self._old

    @property
    def new(self) -> dict[str, Any]:
        if self._load is not None and not isinstance(self._new, dict):
            self._new = self._load(self._new) or {"uid": self.uid}
        return self._new

    @property
    def pending(self) -> tuple[Any, ...]:
        """The stored versions not loaded yet (the history's row keys), for a batch load."""
        return tuple(v for v in (self._old, self._new) if not isinstance(v, dict))

    def __repr__(self) -> str:
        return f"Change({self.uid!r}, {self.what!r})"


@dataclass
class Diff:
    old: str
    new: str
    added: list[dict[str, Any]] = field(default_factory=list)
    removed: list[dict[str, Any]] = field(default_factory=list)
    changed: list[Change] = field(default_factory=list)
    unknown: list[dict[str, Any]] = field(default_factory=list)
    # Fetches the stored rows of some changes in one go (set by the history's snapshot diff).
    fetch: Callable[[list[Change]], None] | None = None

    def load(self, changes: Iterable[Change] | None = None) -> None:
        """Load the rows of `changes` (default: all) before reading them one by one."""
        if self.fetch is not None:
            self.fetch(self.changed if changes is None else list(changes))


def mask_of(old: Mapping[str, Any], new: Mapping[str, Any]) -> int:
    mask = 0
    for name in TRACKED:
        if old.get(name) != new.get(name):
            mask |= BIT[name]
    return mask


def describe(mask: int, gained: Iterable[str] = ()) -> tuple[str, ...]:
    """The change mask in words; empty when nothing a reviewer tracks moved (lost findings alone,
    or only an untracked field such as the provider URL, are not changes)."""
    what = []
    if mask & BIT["created_at"]:
        what.append("rotated")
    if mask & BIT["last_used_at"]:
        what.append("last used moved")
    if mask & (BIT["privilege"] | BIT["scopes"]):
        what.append("privilege/scopes changed")
    gained = sorted(set(gained))
    if mask & BIT["findings"] and gained:
        what.append("new findings: " + ", ".join(gained))
    for name in ("status", "expires_at", "owner", "name", "target"):
        if mask & BIT[name]:
            what.append(f"{name} changed")
    return tuple(what)


def what_changed(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[str, ...]:
    gained = set(new.get("findings") or ()) - set(old.get("findings") or ())
    return describe(mask_of(old, new), gained)


def compare(old_rows: Mapping[str, dict[str, Any]], new_rows: Mapping[str, dict[str, Any]],
            new_states: Mapping[str, str], old_label: str, new_label: str) -> Diff:
    """Added / removed / changed by uid; the maps may hold every row or only the rows that differ."""
    diff = Diff(old=old_label, new=new_label)
    for uid, row in new_rows.items():
        before = old_rows.get(uid)
        if before is None:
            diff.added.append(row)
            continue
        what = what_changed(before, row)
        if what:
            diff.changed.append(Change(uid, what, before, row))
    gone = [row for uid, row in old_rows.items() if uid not in new_rows]
    split_gone(diff, gone, new_states)
    return diff


def split_gone(diff: Diff, gone: Iterable[dict[str, Any]], new_states: Mapping[str, str]) -> None:
    """A row missing from the newer scan is removed only when its source completed there; otherwise
    it may simply not have been seen (a blind spot, a failed source), so it is unknown."""
    for row in gone:
        if new_states.get(row.get("source", ""), "missing") != "ok":
            diff.unknown.append(row)
        else:
            diff.removed.append(row)


def load_export(path: str) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
        rows = {r["uid"]: r for r in doc["identities"]}
        states = {s["name"]: s.get("status", "ok") for s in doc.get("sources", [])}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DiffError(f"{path}: not an nhitui JSON export ({type(exc).__name__})") from None
    return rows, states


def render_diff(diff: Diff, fmt: str) -> str:
    from nhitui.export import safe_cell
    from nhitui.model import sanitize

    diff.load()
    records = ([("added", r["uid"], r.get("kind", ""), r.get("name", ""), "") for r in diff.added]
               + [("removed", r["uid"], r.get("kind", ""), r.get("name", ""), "") for r in diff.removed]
               + [("changed", c.uid, c.new.get("kind", ""), c.new.get("name", ""), "; ".join(c.what))
                  for c in diff.changed]
               + [("unknown", r["uid"], r.get("kind", ""), r.get("name", ""),
                   "its source was incomplete in the newer scan") for r in diff.unknown])
    if fmt == "json":
        return json.dumps({"old": diff.old, "new": diff.new,
                           "added": diff.added, "removed": diff.removed,
                           "changed": [{"uid": c.uid, "what": list(c.what), "old": c.old, "new": c.new}
                                       for c in diff.changed],
                           "unknown": diff.unknown}, ensure_ascii=False, indent=1) + "\n"
    if fmt == "csv":
        import csv
        import io

        buf = io.StringIO(newline="")
        w = csv.writer(buf, lineterminator="\r\n")
        w.writerow(("change", "uid", "kind", "name", "detail"))
        for r in records:
            w.writerow([safe_cell(str(x)) for x in r])
        return buf.getvalue()
    lines = [f"{diff.old} -> {diff.new}: {len(diff.added)} added, {len(diff.removed)} removed, "
             f"{len(diff.changed)} changed, {len(diff.unknown)} unknown"]
    lines += [f"{c:<8} {sanitize(u)}  {sanitize(k)}  {sanitize(n)[:50]}" + (f"  ({sanitize(d)})" if d else "")
              for c, u, k, n, d in records]
    return "\n".join(lines) + "\n"
