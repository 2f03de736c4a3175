"""Vault/OpenBao ACL policies: parse the text (HCL or JSON, legacy `policy = "write"` too) and classify it.

Pure, no I/O, fuzzed: `parse_policy(text)` returns the path rules; `classify(rules)` says what a
token holding the policy can do, in nhitui's four levels, with the rule that decided it.

Why parse rather than ask the server: `sys/capabilities-accessor` costs one call per token and
probe path; a policy's text is read once (`GET sys/policies/acl/NAME`) and shared by every token
holding it. The classification follows the reference's table:
- admin: `root`; any `sudo`; write on `*`/`+…`; write on `sys/*` (policies, auth, mounts, raw, audit,
  leases/revoke), `identity/*`, `auth/token/create*`, `auth/token/roles/*`, `auth/*/role/*`,
  `auth/*/users/*`, `auth/*/config` — each lets the holder mint a login with any policy.
- write: create/update/patch/delete anywhere else, or `read` on a `*/creds/*` path (it mints a credential).
- read: read/list only.
The built-in `default` policy only lets a token manage itself; it is never counted.
Unknown capability names (newer Vault adds some) are treated as write, the conservative reading.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from fnmatch import fnmatchcase

WRITE_CAPS = frozenset({"create", "update", "patch", "delete"})
KNOWN_CAPS = frozenset({"create", "read", "update", "patch", "delete", "list", "sudo", "deny"})
LEGACY = {"read": ("read", "list"), "write": ("create", "read", "update", "delete", "list"),
          "sudo": ("create", "read", "update", "delete", "list", "sudo"), "deny": ("deny",)}
# Paths where write access lets the holder create a login, a token or a policy of its choosing.
ESCALATION = ("sys/*", "sys/policies/acl/*", "sys/policy/*", "sys/auth*", "sys/mounts*", "sys/raw*", "sys/audit*",
              "sys/leases/revoke*", "identity/*", "auth/token/create*", "auth/token/roles/*", "auth/*/role/*",
              "auth/*/users/*", "auth/*/config", "auth/*/certs/*")
MAX_POLICY = 1_000_000


@dataclass(frozen=True)
class PathRule:
    path: str
    capabilities: frozenset[str]


@dataclass(frozen=True)
class Classification:
    privilege: str          # none | read | write | admin
    reason: str             # the rule that decided it, quoted


def parse_policy(text: str) -> list[PathRule]:
    """The path rules of one policy; ValueError (with a reason) for text that is not a policy."""
    if not isinstance(text, str):
        raise ValueError("policy text must be a string")
    if len(text) > MAX_POLICY:
        raise ValueError("policy text is larger than 1 MB")
    stripped = text.strip()
    if not stripped:
        return []
    if stripped.startswith("{"):
        try:
            return _from_json(json.loads(stripped))
        except json.JSONDecodeError as exc:
            raise ValueError(f"invalid JSON policy: {exc.msg} at line {exc.lineno}") from None
    return _from_hcl(stripped)


def _caps(value: object, legacy: object) -> frozenset[str]:
    caps: set[str] = set()
    if isinstance(value, list):
        caps |= {str(c).strip().lower() for c in value}
    elif isinstance(value, str):
        caps.add(value.strip().lower())
    if isinstance(legacy, str) and legacy.strip().lower() in LEGACY:
        caps |= set(LEGACY[legacy.strip().lower()])
    elif isinstance(legacy, str) and legacy.strip():
        caps.add(legacy.strip().lower())      # unknown legacy word: kept, classified conservatively
    return frozenset(caps)


def _from_json(data: object) -> list[PathRule]:
    if not isinstance(data, dict):
        raise ValueError("a JSON policy must be an object")
    paths = data.get("path", {})
    rules: list[PathRule] = []
    blocks = paths if isinstance(paths, list) else [paths]
    for block in blocks:
        if not isinstance(block, dict):
            raise ValueError("`path` must map paths to rules")
        for path, body in block.items():
            body = body[0] if isinstance(body, list) and body and isinstance(body[0], dict) else body
            if not isinstance(body, dict):
                raise ValueError(f"the rule for path {path!r} is not an object")
            rules.append(PathRule(str(path), _caps(body.get("capabilities"), body.get("policy"))))
    return rules


_TOKEN = re.compile(r'\s+|#[^\n]*|//[^\n]*|/\*.*?\*/|"(?:[^"\\]|\\.)*"|[{}\[\]=,]|[A-Za-z_][A-Za-z0-9_\-]*|[^\s]',
                    re.S)


def _tokens(text: str) -> list[str]:
    out = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:   # pragma: no cover - the last alternative matches any character
            raise ValueError(f"unreadable policy text at offset {pos}")
        tok = m.group(0)
        pos = m.end()
        if tok.isspace() or tok.startswith(("#", "//", "/*")):
            continue
        out.append(tok)
    return out


def _string(tok: str) -> str:
    if len(tok) >= 2 and tok[0] == tok[-1] == '"':
        try:
            return json.loads(tok)
        except json.JSONDecodeError:
            return tok[1:-1]
    return tok


def _from_hcl(text: str) -> list[PathRule]:
    toks = _tokens(text)
    rules: list[PathRule] = []
    i = 0

    def expect(want: str) -> None:
        nonlocal i
        if i >= len(toks) or toks[i] != want:
            got = toks[i] if i < len(toks) else "end of text"
            raise ValueError(f"expected {want!r} in policy, found {got[:40]!r}")
        i += 1

    def value() -> object:
        nonlocal i
        if i >= len(toks):
            raise ValueError("policy ends where a value was expected")
        tok = toks[i]
        if tok == "[":
            i += 1
            items: list[object] = []
            while i < len(toks) and toks[i] != "]":
                items.append(value())
                if i < len(toks) and toks[i] == ",":
                    i += 1
            expect("]")
            return items
        if tok == "{":
            return block()
        i += 1
        return _string(tok)

    def block() -> dict[str, object]:
        nonlocal i
        expect("{")
        body: dict[str, object] = {}
        while i < len(toks) and toks[i] != "}":
            key = _string(toks[i])
            i += 1
            if i < len(toks) and toks[i] == "=":
                i += 1
            body[key] = value()
            if i < len(toks) and toks[i] == ",":
                i += 1
        expect("}")
        return body

    while i < len(toks):
        head = toks[i]
        i += 1
        if head != "path":
            # Other top-level blocks (e.g. OpenBao's `name`) carry no access: skip their value.
            if i < len(toks) and toks[i] == "=":
                i += 1
            value()
            continue
        if i >= len(toks):
            raise ValueError("`path` without a path string")
        path = _string(toks[i])
        i += 1
        if i < len(toks) and toks[i] == "=":
            i += 1
        body = block()
        rules.append(PathRule(path, _caps(body.get("capabilities"), body.get("policy"))))
    return rules


# Under a role, creating secret IDs or destroying them logs in as that role only (its own policies):
# credential minting, not escalation.
ROLE_CREDENTIAL = re.compile(r"^auth/[^/]+/role/[^/]+/(secret-id|custom-secret-id)")


def _reaches(rule: str, pattern: str) -> bool:
    """Does the rule's path cover some path `pattern` (fnmatch, `*` crossing `/`) describes?"""
    wild = rule.endswith("*")
    base = rule[:-1] if wild else rule
    if fnmatchcase(base.replace("+", "x"), pattern):
        return True
    if wild:
        # `base*` covers everything below base: does pattern live there?
        head = pattern.split("*", 1)[0]
        return head.startswith(base) or fnmatchcase(head, base.replace("+", "*") + "*")
    return False


def classify(rules: list[PathRule]) -> Classification:
    best = Classification("none", "")
    rank = {"none": 0, "read": 1, "write": 2, "admin": 3}

    def better(level: str, reason: str) -> None:
        nonlocal best
        if rank[level] > rank[best.privilege]:
            best = Classification(level, reason)

    for r in rules:
        caps = r.capabilities
        if "deny" in caps or not caps:
            continue
        quoted = f'path "{r.path}" {{{", ".join(sorted(caps))}}}'
        writes = bool(caps & WRITE_CAPS) or bool(caps - KNOWN_CAPS)
        if "sudo" in caps:
            better("admin", f"{quoted}: sudo")
        elif writes and r.path.strip() in ("*", "+") or writes and r.path.startswith("+"):
            better("admin", f"{quoted}: write on every path")
        elif writes and not ROLE_CREDENTIAL.match(r.path) and any(_reaches(r.path, e) for e in ESCALATION):
            better("admin", f"{quoted}: can mint logins, tokens or policies")
        elif writes:
            better("write", quoted)
        elif "read" in caps and "/creds/" in r.path + "/" or "read" in caps and r.path.endswith("/creds"):
            better("write", f"{quoted}: reading creds mints a credential")
        elif caps & {"read", "list"}:
            better("read", quoted)
    return best


def policy_privilege(name: str, text: str | None) -> Classification:
    """One named policy: `root` is admin, `default` counts for nothing, else its rules decide."""
    if name == "root":
        return Classification("admin", "the root policy")
    if name == "default":
        return Classification("none", "")
    if text is None:
        return Classification("none", "")
    return classify(parse_policy(text))
