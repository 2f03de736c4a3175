"""The filter language of design.md, parsed once into a predicate.

    free words            match name, owner, target (substring, case-insensitive)
    field:value[,value]   provider kind source status credential owner target name scope finding
                          uid reaches   (`,` is OR; `*` in a value is a wildcard)
    assumable-by:REPO     identities a repository / project / `ns/service-account` can become
                          (federated trust of any provider)
    age>90d  unused>30d  expires<7d   durations in d/w/m/y (a bare number is days)
    privilege>=write      none < read < write < admin; also > < <= = :
    stale  never-used  no-expiry  new  federated  static      flags
    !term                 negates any term

Terms combine with AND. A bad term raises `QueryError` naming the term and why, so the TUI can
show it inline and the CLI can exit 2.
"""

from __future__ import annotations

import fnmatch
import functools
import operator
import re
import shlex
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from nhitui.model import PRIVILEGES, Identity

Predicate = Callable[[Identity, str], bool]

UNITS = {"d": 1, "w": 7, "m": 30, "y": 365}
TEXT_FIELDS = {
    "provider": lambda i: (i.provider,),
    "kind": lambda i: (i.kind,),
    "source": lambda i: (i.source,),
    "status": lambda i: (i.status,),
    "credential": lambda i: (i.credential,),
    "owner": lambda i: (i.owner,),
    "target": lambda i: (i.target, *i.target.rpartition(":")[::2]),   # acme/api:production matches either part
    "name": lambda i: (i.name,),
    "uid": lambda i: (i.uid,),
    "scope": lambda i: i.scopes,
    "finding": lambda i: tuple(f.rule for f in i.findings),
    "action": lambda i: i.actions,
    "severity": lambda i: tuple(f.severity for f in i.findings),
}
SINGLE = {"source", "owner", "name", "uid"}
CANONICAL = {"provider", "kind", "status", "credential"}   # always lowercase: compare directly
ALIASES = {"scopes": "scope", "findings": "finding", "type": "kind", "state": "status", "actions": "action"}
FLAGS = ("stale", "never-used", "no-expiry", "new", "federated", "static", "ephemeral", "expired", "marked")
COMPARABLE = ("age", "unused", "expires", "privilege")
_COMPARISON = re.compile(r"^(age|unused|expires|privilege)\s*(>=|<=|>|<|=|:)\s*(.*)$")
MAX_SPAN_DAYS = 365_000    # 1000 years: beyond that, date arithmetic overflows
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*([dwmy]?)$")


class QueryError(ValueError):
    """A term the language does not understand; `term` is the offending text."""

    def __init__(self, term: str, reason: str) -> None:
        super().__init__(f"{term!r}: {reason}")
        self.term = term
        self.reason = reason


@dataclass
class Context:
    """Facts a query may need beyond the row: snapshot novelty, the delivery-chain graph, marks."""

    new_uids: Collection[str] = field(default_factory=frozenset)
    reaches: Callable[[str], Collection[str]] | None = None
    marked: Collection[str] = field(default_factory=frozenset)
    assumable_by: Callable[[str], Collection[str]] | None = None


@dataclass
class Query:
    """A parsed filter: `matches(identity, haystack)`; `text` is what the user typed."""

    text: str
    predicates: list[Predicate]
    words: list[str]

    def __call__(self, identity: Identity, hay: str) -> bool:
        return all(p(identity, hay) for p in self.predicates)

    def filter(self, rows: list[Identity], hay: list[str], indexes: list[int] | None = None) -> list[int]:
        """Indexes of matching rows, narrowing term by term (much faster than row by row)."""
        idx = list(range(len(rows))) if indexes is None else indexes
        for p in self._by_selectivity(rows, hay, idx):
            idx = [i for i in idx if p(rows[i], hay[i])]
            if not idx:
                break
        return idx
    def _by_selectivity(self, rows: list[Identity], hay: list[str], idx: list[int]) -> list[Predicate]:
        """Most selective term first, judged on an even sample: later terms then see few rows."""
        if len(self.predicates) < 2 or len(idx) < 4096:
            return self.predicates
        step = len(idx) // 256
        sample = idx[::step]
        return sorted(self.predicates, key=lambda p: sum(1 for i in sample if p(rows[i], hay[i])))

    @property
    def empty(self) -> bool:
        return not self.predicates


def parse_duration(text: str, term: str) -> timedelta:
    m = _DURATION.match(text.strip().lower())
    if not m:
        raise QueryError(term, f"{text!r} is not a duration (use e.g. 90d, 12w, 6m, 1y)")
    days = float(m.group(1)) * UNITS[m.group(2) or "d"]
    if days > MAX_SPAN_DAYS:
        raise QueryError(term, f"{text!r} is longer than 1000 years")
    return timedelta(days=days)


OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt, "<": operator.lt, ">=": operator.ge, "<=": operator.le, "=": operator.eq, ":": operator.eq,
}
RANK = {p: n for n, p in enumerate(PRIVILEGES)}


def _split(text: str) -> list[str]:
    try:
        lexer = shlex.shlex(text, posix=True)
        lexer.whitespace_split = True
        lexer.commenters = ""
        return list(lexer)
    except ValueError as exc:
        raise QueryError(text, f"unbalanced quotes ({exc})") from None


def _value_matcher(values: list[str]) -> Callable[[str], bool]:
    patterns = [v.casefold() for v in values]
    if any(ch in v for v in patterns for ch in "*?["):
        return lambda s: any(fnmatch.fnmatchcase(s.casefold(), p) for p in patterns)
    exact = set(patterns)
    return lambda s: s.casefold() in exact


def reads(predicate: Predicate, field: str, test: Callable[[Any], Any] | None = None) -> Predicate:
    """Mark `predicate` as `test(identity.<field>)` (None: the field's truth), so a caller that
    keeps that field of every row in a list (the TUI's view) can filter 100k rows at C speed
    (`map(test, values)`) instead of calling the predicate row by row. The predicate itself is
    unchanged, and stays the reference: the two must agree (tests compare them)."""
    predicate.column = (field, test)  # type: ignore[attr-defined]
    return predicate


def column_of(predicate: Predicate) -> tuple[str, Callable[[Any], Any] | None] | None:
    """(field, test) of a predicate marked by `reads`, else None."""
    return getattr(predicate, "column", None)


def word_of(predicate: Predicate) -> str | None:
    """The free word a predicate looks for in the haystack, else None."""
    return getattr(predicate, "word", None)


def _flag(name: str, term: str, now: datetime, ctx: Context) -> Predicate:
    if name == "stale":
        return reads(lambda i, h: i.stale, "stale")
    if name == "never-used":
        return lambda i, h: i.usage_tracked and i.last_used_at is None
    if name == "no-expiry":
        return lambda i, h: i.expires_at is None and i.credential == "static"
    if name == "expired":
        return lambda i, h: i.status == "expired" or (i.expires_at is not None and i.expires_at <= now)
    if name == "new":
        new = ctx.new_uids
        return reads(lambda i, h: i.uid in new, "uid", new.__contains__)
    if name == "marked":
        marked = ctx.marked
        return reads(lambda i, h: i.uid in marked, "uid", marked.__contains__)
    return reads(lambda i, h: i.credential == name, "credential", functools.partial(operator.eq, name))


def _comparison(key: str, op: str, value: str, term: str, now: datetime) -> Predicate:
    if not value:
        raise QueryError(term, f"{key} needs a value after {op!r}")
    cmp = OPERATORS[op]
    if key == "privilege":
        level = value.strip().lower()
        if level not in PRIVILEGES:
            raise QueryError(term, f"privilege is one of {', '.join(PRIVILEGES)}")
        rank = RANK[level]
        return reads(lambda i, h: cmp(RANK.get(i.privilege, 0), rank), "privilege",
                     lambda p: cmp(RANK.get(p, 0), rank))
    span = parse_duration(value, term)
    # Compare datetimes against a fixed cut-off: no arithmetic per row.
    if key == "age":
        cut = now - span      # age > span  <=>  created_at < now - span
        return reads(lambda i, h: i.created_at is not None and cmp(cut, i.created_at), "created_at",
                     lambda c: c is not None and cmp(cut, c))
    if key == "unused":
        cut = now - span

        def unused(i: Identity, h: str) -> bool:
            if i.last_used_at is not None:
                return cmp(cut, i.last_used_at)
            if not i.usage_tracked or i.created_at is None:
                return False
            # Never used: idle since it was created.
            return cmp(cut, i.created_at)
        return unused
    # expires: time left until expiry (negative once expired) compared with span.
    cut = now + span
    return reads(lambda i, h: i.expires_at is not None and cmp(i.expires_at, cut), "expires_at",
                 lambda e: e is not None and cmp(e, cut))


GRAPH_TERMS = ("reaches", "assumable-by")


def _assumable_by(ctx: Context) -> Callable[[str], Collection[str]] | None:
    """The graph's `assumable_by`: given, or the one of the graph whose `reaches` was given."""
    if ctx.assumable_by is not None:
        return ctx.assumable_by
    graph = getattr(ctx.reaches, "__self__", None)
    found = getattr(graph, "assumable_by", None)
    if found is None and ctx.reaches is not None:
        return lambda repo: ()        # a validation-only context (`reaches` without a graph)
    return found


def _term(term: str, now: datetime, ctx: Context) -> tuple[Predicate, str | None]:
    """One term -> (predicate, free word or None)."""
    m = _COMPARISON.match(term)
    if m:
        return _comparison(m.group(1), m.group(2), m.group(3), term, now), None
    if ":" in term and not term.startswith(":"):
        key, _, value = term.partition(":")
        key = ALIASES.get(key.lower(), key.lower())
        if key in TEXT_FIELDS or key in GRAPH_TERMS:
            values = [v for v in value.split(",") if v.strip()]
            if not values:
                raise QueryError(term, f"{key}: needs a value")
            if key == "assumable-by":
                lookup = _assumable_by(ctx)
                if lookup is None:
                    raise QueryError(term, "assumable-by: needs the delivery-chain graph (not available here)")
                allowed = set().union(*(set(lookup(v.strip())) for v in values))
                return reads(lambda i, h: i.uid in allowed, "uid", allowed.__contains__), None
            if key == "reaches":
                if ctx.reaches is None:
                    raise QueryError(term, "reaches: needs the delivery-chain graph (not available here)")
                sets = [set(ctx.reaches(v.strip())) for v in values]
                allowed = set().union(*sets)
                return reads(lambda i, h: i.uid in allowed, "uid", allowed.__contains__), None
            if key in CANONICAL and not any(ch in value for ch in "*?["):
                exact = {v.strip().lower() for v in values}
                attr = key
                return reads(lambda i, h: getattr(i, attr) in exact, attr, exact.__contains__), None
            getter = TEXT_FIELDS[key]
            match = _value_matcher([v.strip() for v in values])
            if key in SINGLE:
                attr = key
                return reads(lambda i, h: match(getattr(i, attr)), attr, match), None
            return (lambda i, h: any(match(x) for x in getter(i))), None
        if key.isidentifier() or "-" in key:
            known = ", ".join(sorted([*TEXT_FIELDS, *GRAPH_TERMS, *COMPARABLE]))
            raise QueryError(term, f"unknown field {key!r} (known: {known})")
    if term.lower() in FLAGS:
        return _flag(term.lower(), term, now, ctx), None
    if any(op in term for op in (">", "<")) and term.split(">")[0].split("<")[0].isalpha():
        key = re.split(r"[<>=]", term, maxsplit=1)[0]
        raise QueryError(term, f"{key!r} cannot be compared (comparable: {', '.join(COMPARABLE)})")
    word = term.casefold()
    predicate = lambda i, h: word in h  # noqa: E731
    predicate.word = word  # type: ignore[attr-defined]
    return predicate, word


def parse(text: str, now: datetime | None = None, context: Context | None = None) -> Query:
    """Parse `text` once; raise QueryError on the first bad term."""
    now = now or datetime.now(timezone.utc)
    ctx = context or Context()
    predicates: list[Predicate] = []
    words: list[str] = []
    for raw in _split(text or ""):
        term = raw.strip()
        if not term:
            continue
        negate = term.startswith("!")
        body = term[1:].strip() if negate else term
        if not body:
            raise QueryError(term, "'!' needs a term to negate")
        predicate, word = _term(body, now, ctx)
        if negate:
            negated: Predicate = lambda i, h, p=predicate: not p(i, h)  # noqa: E731
            column = column_of(predicate)
            if column is not None:
                test = column[1]
                reads(negated, column[0], operator.not_ if test is None else (lambda v, t=test: not t(v)))
            predicates.append(negated)
        else:
            predicates.append(predicate)
            if word:
                words.append(word)
    return Query(text=text or "", predicates=predicates, words=words)
