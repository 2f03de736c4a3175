"""Workload Identity Federation conditions and bindings, normalised to the shared trust model.

Pure (the syntax is read by cel.py): no I/O, so it can be fuzzed. Google evaluates a provider's `attributeCondition` (CEL) on
every token exchange; GitHub/GitLab setups use a small subset of CEL, which this module reads:
`==`, `!=`, `in [..]`, `.startsWith()`, `.endsWith()`, `.contains()`, `.matches()`, `&&`, `||`,
`!`, parentheses and `true`/`false`. The result is a disjunction: each way in (one `Alternative`)
is a conjunction of `ClaimCondition`s plus the parts that could not be read (`unparsed`, quoted
as written). Nothing is dropped: a negation or an unknown function becomes an unparsed part, which
the shared rules read as "anything may pass" for that part.

Claims are named as the token issuer names them: `assertion.sub` -> `sub`; a mapped attribute
(`attribute.repository`, `google.subject`) is resolved through the provider's attribute mapping
when the mapping is a plain claim (`assertion.repository`), and is unparsed otherwise.

CEL `matches()` is RE2 *search* (unanchored). Its pattern is stored rewritten so that a full
match and a search of the stored pattern both mean what CEL means: `acme/.*` becomes
`.*(?:acme/.*).*`, while an anchored `^acme/api$` is kept as written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from connectors.gcp.cel import MAX_TEXT, And, Atom, CelError, Lit, Not, Opaque, Or, Path, parse
from nhitui.model import ClaimCondition

MAX_ALTERNATIVES = 32    # more ways in than this: the condition is reported unparsed as a whole

__all__ = ["MAX_TEXT", "Alternative", "CelError", "Mapping", "PoolPrincipal", "alternatives", "mapped_claim",
           "parse", "pool_principal", "search_as_fullmatch"]


# --- normalisation ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Alternative:
    """One way through the condition: every condition holds, and every unparsed part is unknown."""

    conditions: tuple[ClaimCondition, ...] = ()
    unparsed: tuple[str, ...] = ()


@dataclass
class Mapping:
    """The provider's attribute mapping, to name conditions after the issuer's claims."""

    table: dict[str, str] = field(default_factory=dict)

    def claim_of(self, path: tuple[str, ...]) -> str | None:
        """`("assertion","sub")` -> sub; `("attribute","repo")` -> the claim it maps, or None."""
        if len(path) >= 2 and path[0] == "assertion":
            return ".".join(path[1:])
        if len(path) == 2 and path[0] in ("attribute", "google"):
            expr = self.table.get(f"{path[0]}.{path[1]}")
            return mapped_claim(expr) if expr is not None else None
        return None


_PLAIN_CLAIM = re.compile(r"^\s*assertion(?:\.([A-Za-z_][A-Za-z0-9_]*)|\[\s*(['\"])([^'\"\\]+)\2\s*\])\s*$")


def mapped_claim(expr: str | None) -> str | None:
    """The claim a mapping expression copies as is (`assertion.sub` -> sub), else None."""
    if not isinstance(expr, str):
        return None
    m = _PLAIN_CLAIM.match(expr)
    if not m:
        return None
    return m.group(1) or m.group(3)


def search_as_fullmatch(pattern: str) -> str:
    """An RE2 search pattern rewritten so a full match means the same (anchored ones stay)."""
    if pattern.startswith("^") and pattern.endswith("$") and not pattern.endswith("\\$") and "|" not in pattern:
        return pattern
    return f".*(?:{pattern}).*"


def _glob_escape_free(value: str) -> bool:
    return not any(ch in value for ch in "*?[]\\")


def _atom_condition(atom: Atom, mapping: Mapping) -> ClaimCondition | None:
    left, right, op = atom.left, atom.right, atom.op
    if op in ("==", "!=") and isinstance(left, Lit) and isinstance(right, Path):
        left, right = right, left
    if not isinstance(left, Path) or not isinstance(right, Lit):
        return None
    claim = mapping.claim_of(left.parts)
    if claim is None:
        return None
    value = right.value
    if op == "==":
        if isinstance(value, tuple):
            return None
        return ClaimCondition(claim, "equals", (_text(value),), atom.raw)
    if op == "in":
        if not isinstance(value, tuple) or not value or any(isinstance(v, tuple) for v in value):
            return None
        return ClaimCondition(claim, "equals", tuple(dict.fromkeys(_text(v) for v in value)), atom.raw)
    if not isinstance(value, str):
        return None
    if op == "startsWith":
        return ClaimCondition(claim, "prefix", (value,), atom.raw)
    if op in ("endsWith", "contains"):
        if _glob_escape_free(value):
            glob = f"*{value}" if op == "endsWith" else f"*{value}*"
            return ClaimCondition(claim, "glob", (glob,), atom.raw)
        regex = f".*{re.escape(value)}" if op == "endsWith" else f".*{re.escape(value)}.*"
        return ClaimCondition(claim, "regex", (regex,), atom.raw)
    if op == "matches":
        try:
            re.compile(value)
        except re.error:
            return None
        return ClaimCondition(claim, "regex", (search_as_fullmatch(value),), atom.raw)
    return None


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _raw(node: Any) -> str:
    if isinstance(node, (Atom, Opaque, Not)):
        return node.raw
    if isinstance(node, Lit):
        return _text(node.value)
    if isinstance(node, And):
        return " && ".join(_group(x) for x in node.items)
    if isinstance(node, Or):
        return " || ".join(_group(x) for x in node.items)
    return "?"


def _group(node: Any) -> str:
    return f"({_raw(node)})" if isinstance(node, Or) else _raw(node)


# A disjunct while expanding: (conditions, unparsed), or None for "false" (no way through).
_Dis = tuple[tuple[ClaimCondition, ...], tuple[str, ...]]


def _dnf(node: Any, mapping: Mapping) -> list[_Dis]:
    if isinstance(node, Lit):
        if node.value is True:
            return [((), ())]
        if node.value is False:
            return []
        return [((), (_raw(node),))]
    if isinstance(node, Atom):
        cond = _atom_condition(node, mapping)
        return [((cond,), ())] if cond is not None else [((), (node.raw,))]
    if isinstance(node, (Opaque, Not)):
        return [((), (node.raw,))]
    if isinstance(node, Or):
        out: list[_Dis] = []
        for item in node.items:
            out.extend(_dnf(item, mapping))
            if len(out) > MAX_ALTERNATIVES:
                raise CelError("too many alternatives")
        return out
    if isinstance(node, And):
        acc: list[_Dis] = [((), ())]
        for item in node.items:
            part = _dnf(item, mapping)
            acc = [(a[0] + b[0], a[1] + b[1]) for a in acc for b in part]
            if len(acc) > MAX_ALTERNATIVES:
                raise CelError("too many alternatives")
        return acc
    return [((), (_raw(node),))]


def alternatives(condition: str | None, mapping: dict[str, str] | None = None) -> list[Alternative]:
    """The ways through `condition` as alternatives; an empty list means nothing passes.

    No condition (None or blank) is one alternative with no condition. A text outside the
    grammar is one alternative whose only part is the whole text, unparsed.
    """
    if condition is None or not str(condition).strip():
        return [Alternative()]
    text = str(condition)
    table = Mapping({str(k): str(v) for k, v in (mapping or {}).items()})
    try:
        tree = parse(text)
        found = _dnf(tree, table)
    except CelError:
        return [Alternative(unparsed=(text.strip(),))]
    out: list[Alternative] = []
    seen: set[Alternative] = set()
    for conds, unparsed in found:
        alt = Alternative(tuple(dict.fromkeys(conds)), tuple(dict.fromkeys(unparsed)))
        if alt not in seen:
            seen.add(alt)
            out.append(alt)
    return out


# --- principals in IAM bindings -----------------------------------------------------------------

_POOL = re.compile(r"^(principal|principalSet)://iam\.googleapis\.com/projects/([^/]+)/locations/global/"
                   r"workloadIdentityPools/([^/]+)/(.+)$")


@dataclass(frozen=True)
class PoolPrincipal:
    """A `principal://` or `principalSet://` member of a workload identity pool.

    `pool` is `projects/NUMBER/locations/global/workloadIdentityPools/POOL` (the pool's `name`);
    `selector` is `*` (the whole pool), `subject`, `group` or `attribute.NAME`; `value` its value.
    """

    member: str
    pool: str
    selector: str
    value: str

    @property
    def whole_pool(self) -> bool:
        return self.selector == "*"

    @property
    def attribute(self) -> str:
        """The mapped attribute the member selects on (`google.subject`, `attribute.repository`), or ""."""
        if self.whole_pool:
            return ""
        return {"subject": "google.subject", "group": "google.groups"}.get(self.selector, self.selector)

    def applies_to(self, mapping: dict[str, str] | None) -> bool:
        """A provider that does not map the attribute gives its identities none: the member never matches them."""
        return self.whole_pool or self.attribute in (mapping or {})

    def condition(self, mapping: dict[str, str] | None) -> ClaimCondition | None:
        """The claim condition the member adds, or None for the whole pool; `any` if unreadable."""
        if self.whole_pool:
            return None
        key = self.attribute
        claim = mapped_claim((mapping or {}).get(key))
        if claim is None:
            return ClaimCondition(key, "any", (), self.member)
        return ClaimCondition(claim, "equals", (self.value,), self.member)


def pool_principal(member: str) -> PoolPrincipal | None:
    """Parse a WIF pool member; None for anything else (users, SAs, workforce pools)."""
    m = _POOL.match(member or "")
    if not m:
        return None
    kind, project, pool, rest = m.groups()
    pool_name = f"projects/{project}/locations/global/workloadIdentityPools/{pool}"
    if kind == "principalSet" and rest == "*":
        return PoolPrincipal(member, pool_name, "*", "")
    head, _, value = rest.partition("/")
    if kind == "principal" and head == "subject" and value:
        return PoolPrincipal(member, pool_name, "subject", value)
    if kind == "principalSet" and head == "group" and value:
        return PoolPrincipal(member, pool_name, "group", value)
    if kind == "principalSet" and head.startswith("attribute.") and value:
        return PoolPrincipal(member, pool_name, head, value)
    return None
