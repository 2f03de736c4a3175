"""A reader for the small subset of CEL that workload identity attribute conditions use.

Pure and bounded: tokens (strings with CEL escapes, raw strings, numbers, operators, names), then
a syntax tree of `Path` (`assertion.repository`, `assertion['x']`), `Lit` (strings, numbers,
booleans, lists of literals), `Atom` (`==`, `!=`, `in`, and the `startsWith` / `endsWith` /
`contains` / `matches` methods), `Not`, `And`, `Or`, and `Opaque` for any part outside the subset
(kept as written). Text outside the grammar raises `CelError`; nesting and length are bounded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

MAX_TEXT = 4096          # Google caps attributeCondition at 4096 characters
MAX_DEPTH = 64


class CelError(ValueError):
    """The text is not in the CEL subset this module reads."""


# --- tokens -------------------------------------------------------------------------------------

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<str>[rR]?(?:"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'))
  | (?P<num>-?\d+(?:\.\d+)?)
  | (?P<op>==|!=|&&|\|\||<=|>=|[!<>()\[\],.+])
  | (?P<id>[A-Za-z_][A-Za-z0-9_]*)
""", re.X)

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"', "`": "`", "?": "?",
            "a": "\a", "b": "\b", "f": "\f", "v": "\v"}


@dataclass(frozen=True)
class Tok:
    kind: str      # str, num, op, id, end
    value: str
    start: int
    end: int


def _unquote(text: str) -> str:
    raw = text[0] in "rR"
    body = text[2:-1] if raw else text[1:-1]
    if raw:
        return body
    out = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        nxt = body[i + 1] if i + 1 < len(body) else ""
        if nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            i += 2
        elif nxt in ("u", "x", "U"):
            width = {"u": 4, "x": 2, "U": 8}[nxt]
            digits = body[i + 2:i + 2 + width]
            if len(digits) != width or not all(c in "0123456789abcdefABCDEF" for c in digits):
                raise CelError(f"bad escape \\{nxt}{digits}")
            code = int(digits, 16)
            if code > 0x10FFFF:
                raise CelError(f"bad escape \\{nxt}{digits}")
            out.append(chr(code))
            i += 2 + width
        else:
            raise CelError(f"unknown escape \\{nxt}")
    return "".join(out)


def tokenize(text: str) -> list[Tok]:
    toks: list[Tok] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise CelError(f"unexpected character {text[pos]!r} at {pos}")
        kind = m.lastgroup or ""
        if kind != "ws":
            toks.append(Tok(kind, m.group(), m.start(), m.end()))
        pos = m.end()
    toks.append(Tok("end", "", len(text), len(text)))
    return toks


# --- syntax tree --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Path:
    parts: tuple[str, ...]          # ("assertion", "repository")


@dataclass(frozen=True)
class Lit:
    value: Any                      # str, bool, int/float, or a tuple of literals (a list)


@dataclass(frozen=True)
class Atom:
    """One test on one value: `op` is ==, !=, in, startsWith, endsWith, contains, matches."""

    left: Any                       # Path or Lit
    op: str
    right: Any
    raw: str


@dataclass(frozen=True)
class Opaque:
    """A part of the expression outside the subset (kept as written)."""

    raw: str


@dataclass(frozen=True)
class Not:
    inner: Any
    raw: str


@dataclass(frozen=True)
class And:
    items: tuple[Any, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Any, ...]


METHODS = ("startsWith", "endsWith", "contains", "matches")


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = tokenize(text)
        self.i = 0
        self.depth = 0

    def take(self, value: str) -> Tok:
        t = self.toks[self.i]
        if t.value != value or t.kind == "end":
            raise CelError(f"expected {value!r} at {t.start}, found {t.value or 'the end'!r}")
        self.i += 1
        return t

    def parse(self) -> Any:
        node = self.or_()
        t = self.toks[self.i]
        if t.kind != "end":
            raise CelError(f"unexpected {t.value!r} at {t.start}")
        return node

    def _enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise CelError("the expression nests too deeply")

    def or_(self) -> Any:
        self._enter()
        items = [self.and_()]
        while self.toks[self.i].value == "||" and self.toks[self.i].kind == "op":
            self.i += 1
            items.append(self.and_())
        self.depth -= 1
        return items[0] if len(items) == 1 else Or(tuple(items))

    def and_(self) -> Any:
        items = [self.unary()]
        while self.toks[self.i].value == "&&" and self.toks[self.i].kind == "op":
            self.i += 1
            items.append(self.unary())
        return items[0] if len(items) == 1 else And(tuple(items))

    def unary(self) -> Any:
        t = self.toks[self.i]
        if t.kind == "op" and t.value == "!":
            self.i += 1
            self._enter()
            inner = self.unary()
            self.depth -= 1
            return Not(inner, self.text[t.start:self.toks[self.i - 1].end])
        return self.relation()

    def relation(self) -> Any:
        start = self.toks[self.i].start
        left = self.term()
        t = self.toks[self.i]
        if t.kind in ("op", "id") and t.value in ("==", "!=", "in", "<", ">", "<=", ">="):
            self.i += 1
            right = self.term()
            raw = self.text[start:self.toks[self.i - 1].end]
            if t.value in ("<", ">", "<=", ">=") or isinstance(left, (Opaque, Atom)) or isinstance(right, (Opaque, Atom)):
                return Opaque(raw)
            if isinstance(left, (And, Or, Not)) or isinstance(right, (And, Or, Not)):
                return Opaque(raw)
            return Atom(left, t.value, right, raw)
        if isinstance(left, Lit):
            return left
        if isinstance(left, (Atom, Opaque, And, Or, Not)):
            return left
        return Opaque(self.text[start:self.toks[self.i - 1].end])

    def term(self) -> Any:
        """A primary with `.field`, `[index]`, `.method(args)` and `+` concatenations."""
        start = self.toks[self.i].start
        node = self.primary()
        while True:
            t = self.toks[self.i]
            if t.kind == "op" and t.value == ".":
                self.i += 1
                name = self.toks[self.i]
                if name.kind != "id":
                    raise CelError(f"expected a name after '.' at {name.start}")
                self.i += 1
                if self.toks[self.i].value == "(" and self.toks[self.i].kind == "op":
                    args = self.args()
                    raw = self.text[start:self.toks[self.i - 1].end]
                    if name.value in METHODS and isinstance(node, Path) and len(args) == 1 \
                            and isinstance(args[0], Lit) and isinstance(args[0].value, str):
                        node = Atom(node, name.value, args[0], raw)
                    else:
                        node = Opaque(raw)
                elif isinstance(node, Path):
                    node = Path(node.parts + (name.value,))
                else:
                    node = Opaque(self.text[start:name.end])
            elif t.kind == "op" and t.value == "[":
                self.i += 1
                self._enter()
                index = self.or_()
                self.depth -= 1
                self.take("]")
                if isinstance(node, Path) and isinstance(index, Lit) and isinstance(index.value, str):
                    node = Path(node.parts + (index.value,))
                else:
                    node = Opaque(self.text[start:self.toks[self.i - 1].end])
            elif t.kind == "op" and t.value == "+":
                self.i += 1
                self.primary()
                node = Opaque(self.text[start:self.toks[self.i - 1].end])
            else:
                return node

    def args(self) -> list[Any]:
        self.take("(")
        out: list[Any] = []
        self._enter()
        if not (self.toks[self.i].value == ")" and self.toks[self.i].kind == "op"):
            out.append(self.or_())
            while self.toks[self.i].value == "," and self.toks[self.i].kind == "op":
                self.i += 1
                out.append(self.or_())
        self.depth -= 1
        self.take(")")
        return out

    def primary(self) -> Any:
        t = self.toks[self.i]
        if t.kind == "str":
            self.i += 1
            return Lit(_unquote(t.value))
        if t.kind == "num":
            self.i += 1
            return Lit(t.value)
        if t.kind == "id":
            self.i += 1
            if t.value in ("true", "false"):
                return Lit(t.value == "true")
            if self.toks[self.i].value == "(" and self.toks[self.i].kind == "op":
                self.args()         # a global function (size(), timestamp(), ...): outside the subset
                return Opaque(self.text[t.start:self.toks[self.i - 1].end])
            return Path((t.value,))
        if t.kind == "op" and t.value == "(":
            self.i += 1
            self._enter()
            node = self.or_()
            self.depth -= 1
            self.take(")")
            return node
        if t.kind == "op" and t.value == "[":
            self.i += 1
            items: list[Any] = []
            if not (self.toks[self.i].value == "]" and self.toks[self.i].kind == "op"):
                items.append(self.term())
                while self.toks[self.i].value == "," and self.toks[self.i].kind == "op":
                    self.i += 1
                    if self.toks[self.i].value == "]":
                        break       # CEL allows a trailing comma
                    items.append(self.term())
            self.take("]")
            if all(isinstance(x, Lit) and not isinstance(x.value, tuple) for x in items):
                return Lit(tuple(x.value for x in items))
            return Opaque(self.text[t.start:self.toks[self.i - 1].end])
        raise CelError(f"unexpected {t.value or 'end of text'!r} at {t.start}")


def parse(text: str) -> Any:
    """The syntax tree of a CEL condition (raises CelError outside the grammar)."""
    if len(text) > MAX_TEXT:
        raise CelError(f"the condition is longer than {MAX_TEXT} characters")
    return _Parser(text).parse()
