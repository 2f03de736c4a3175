"""Entra federated identity credentials (FICs) as provider-neutral `FederatedTrust` records.

Pure: no I/O, so it can be fuzzed. Two dialects:

- `azure-fic`: a regular FIC. Entra matches `issuer`, `subject` and the one audience exactly and,
  since 2024, case-sensitively; a `*` in a subject is a literal character. The subject becomes one
  condition `sub equals <subject>`.
- `azure-flexible` (Graph beta, preview): `claimsMatchingExpression.value` replaces the subject
  (which is then null). Documented grammar: `claims['<claim>'] <op> '<comparand>'` terms joined by
  `and`, operators `eq` (exact) and `matches` (`*` any run of characters, `?` one character),
  `languageVersion` 1. Each term becomes a condition (`eq` -> equals, `matches` -> glob whose `*`
  crosses `/`). An `or` between terms on the same claim with the same operator becomes one
  condition with several values; anything else (mixed `or`, parentheses, unknown operators or
  language versions, unterminated quotes) is kept as written in `unparsed`, so the trust is
  evaluated with the widest reading instead of silently narrowed.

Malformed input (non-strings, wrong types) never raises: it ends up in `unparsed`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from nhitui.model import ClaimCondition, FederatedTrust, sanitize

EXCHANGE_AUDIENCE = "api://AzureADTokenExchange"
MAX_EXPRESSION = 4096
OPERATORS = {"eq": "equals", "matches": "glob"}

# claims['sub'] matches 'repo:acme/*'  (double quotes accepted around the claim name)
_TERM = re.compile(
    r"""\s*claims\s*\[\s*(?:'(?P<c1>[^'\\]*)'|"(?P<c2>[^"\\]*)")\s*\]\s+(?P<op>[A-Za-z]+)\s+'(?P<val>[^']*)'\s*""",
)
_WORD = re.compile(r"\s+(and|or)\s+", re.IGNORECASE)


def _text(value: Any, limit: int = 600) -> str:
    return sanitize(value)[:limit] if isinstance(value, str) else ""


def _split_words(text: str) -> list[str] | None:
    """Split on `and` / `or` outside quotes, keeping the joiners: [term, joiner, term, ...]."""
    parts: list[str] = []
    start = 0
    i = 0
    in_quote = ""
    while i < len(text):
        ch = text[i]
        if in_quote:
            if ch == in_quote:
                in_quote = ""
            i += 1
            continue
        if ch in "'\"":
            in_quote = ch
            i += 1
            continue
        if ch in "()":
            return None
        m = _WORD.match(text, i)
        if m and i > start:
            parts.append(text[start:i])
            parts.append(m.group(1).lower())
            i = start = m.end()
            continue
        i += 1
    if in_quote:
        return None
    parts.append(text[start:])
    return parts


def _term(text: str) -> ClaimCondition | None:
    m = _TERM.fullmatch(text)
    if m is None:
        return None
    op = OPERATORS.get(m.group("op").lower())
    claim = m.group("c1") if m.group("c1") is not None else m.group("c2")
    if op is None or not claim:
        return None
    return ClaimCondition(claim=claim, operator=op, values=(m.group("val"),), raw=text.strip(),
                          glob_crosses_slash=True)


def parse_expression(expression: Any) -> tuple[tuple[ClaimCondition, ...], tuple[str, ...]]:
    """(conditions ANDed, unparsed pieces) of a flexible FIC's `claimsMatchingExpression.value`."""
    if not isinstance(expression, str) or not expression.strip():
        return (), (f"claimsMatchingExpression: {_text(repr(expression), 200)}",)
    text = expression.strip()
    if len(text) > MAX_EXPRESSION:
        return (), (_text(text, 600) + "\u2026",)
    parts = _split_words(text)
    if parts is None:
        return (), (_text(text),)
    terms = parts[0::2]
    joiners = set(parts[1::2])
    if "or" in joiners:
        if "and" in joiners:
            return (), (_text(text),)       # A and B or C: not one conjunction of conditions
        conds = [_term(t) for t in terms]
        if any(c is None for c in conds):
            return (), (_text(text),)
        first = conds[0]
        assert first is not None
        if any(c is not None and (c.claim, c.operator) != (first.claim, first.operator) for c in conds):
            return (), (_text(text),)       # an OR across claims cannot narrow any one of them
        values = tuple(dict.fromkeys(c.values[0] for c in conds if c is not None))
        return (ClaimCondition(claim=first.claim, operator=first.operator, values=values, raw=_text(text),
                               glob_crosses_slash=True),), ()
    conditions: list[ClaimCondition] = []
    unparsed: list[str] = []
    for t in terms:
        c = _term(t)
        if c is None:
            unparsed.append(_text(t.strip()))
        else:
            conditions.append(c)
    return tuple(conditions), tuple(unparsed)


def fic_trust(fic: Mapping[str, Any], grants: str, grants_kind: str, privilege: str = "none") -> FederatedTrust:
    """The `FederatedTrust` of one FIC (Graph `federatedIdentityCredential` or ARM `properties`)."""
    issuer = _text(fic.get("issuer"))
    raw_aud = fic.get("audiences")
    audiences = tuple(_text(a) for a in raw_aud if isinstance(a, str)) if isinstance(raw_aud, list) else ()
    common = dict(issuer=issuer, grants=grants, grants_kind=grants_kind, privilege=privilege,
                  audiences=audiences, expected_audiences=(EXCHANGE_AUDIENCE,))
    cme = fic.get("claimsMatchingExpression")
    if cme is not None:
        if not isinstance(cme, Mapping):
            return FederatedTrust(**common, unparsed=(f"claimsMatchingExpression: {_text(repr(cme), 200)}",),
                                  dialect="azure-flexible")
        version = cme.get("languageVersion", 1)
        value = cme.get("value")
        if version not in (1, "1"):
            return FederatedTrust(**common, unparsed=(f"languageVersion {_text(str(version), 20)}: "
                                                      f"{_text(value)}",), dialect="azure-flexible")
        conditions, unparsed = parse_expression(value)
        return FederatedTrust(**common, conditions=conditions, unparsed=unparsed, dialect="azure-flexible")
    subject = fic.get("subject")
    if isinstance(subject, str) and subject:
        cond = ClaimCondition(claim="sub", operator="equals", values=(_text(subject),),
                              raw=f"subject == {_text(subject)}")
        return FederatedTrust(**common, conditions=(cond,), dialect="azure-fic")
    return FederatedTrust(**common, unparsed=(f"subject: {_text(repr(subject), 200)} and no "
                                              "claimsMatchingExpression",), dialect="azure-fic")
