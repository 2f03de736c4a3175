"""Property tests: any input to the config loader, the filter language and the AWS trust-policy
parser ends in a usable value or a clear error, never another exception.

tests/test_config.py, tests/test_query.py and tests/test_aws_trust.py fuzz random text; random text
rarely gets past the first syntax check. These strategies build inputs from each language's own
vocabulary (every section and key, right and wrong value types, every operator and unit), so the
validation and evaluation code behind the parser is exercised too, and "a value" is checked to be
usable: the parsed config scores an identity, the parsed query evaluates and filters rows.
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.aws.trust import Trust, parse_trust
from nhitui import config
from nhitui.config import COMMON, SECTIONS, SOURCE_KEYS, ConfigError
from nhitui.inventory import haystack
from nhitui.model import PROVIDERS, Identity, make_uid
from nhitui.policy import RULES, evaluate
from nhitui.query import ALIASES, COMPARABLE, FLAGS, TEXT_FIELDS, Context, QueryError, parse

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)
FAST = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def sample_identities() -> list[Identity]:
    base = dict(source="src", provider="github", kind="deploy_key", owner="alice", target="acme/api")
    return [
        Identity(uid=make_uid("src", "deploy_key", 1), name="key-1", privilege="write",
                 created_at=NOW - timedelta(days=400), last_used_at=NOW - timedelta(days=200), **base),
        Identity(uid=make_uid("src", "deploy_key", 2), name="[b]x[/b]", privilege="admin", scopes=("repo", "admin"),
                 created_at=None, last_used_at=None, expires_at=NOW + timedelta(days=3), usage_tracked=True,
                 **base),
        Identity(uid=make_uid("src", "access_key", 3), source="src", provider="aws", kind="access_key", name="",
                 privilege="none", status="inactive", created_at=NOW - timedelta(days=1),
                 expires_at=NOW - timedelta(days=1)),
    ]


# --- config ---------------------------------------------------------------------------------------------

def toml(value: object) -> str:
    """A TOML literal for a generated value (strings may hold anything, escaped)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(str(k))} = {toml(v)}" for k, v in value.items()) + "}"
    return json.dumps(str(value), ensure_ascii=False).replace("\x7f", "\\u007f")


STRINGS = st.one_of(
    st.sampled_from(["", "acme", "env:TOKEN", "keyring:nhitui/acme", "ghp_literalsecret", "https://x.example",
                     "~/state/journal.jsonl", "ctrl+r", "github", "gitlab", "aws", "npm", "dockerhub", "jfrog",
                     "stale-unused", "no-expiry", "access_key", "a b", "-x", "x" * 300]),
    st.text(max_size=12),
)
SCALARS = st.one_of(
    st.booleans(), st.integers(-5, 400), st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True), STRINGS,
    st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2100, 1, 1), timezones=st.just(timezone.utc)),
)
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(STRINGS, inner, max_size=3)), max_leaves=6)
BASE_SOURCES = {
    "github": {"org": "acme", "token": "env:GITHUB_TOKEN"},
    "gitlab": {"groups": ["acme"], "token": "env:GITLAB_TOKEN"},
    "aws": {"profile": "prod"},
    "npm": {"token": "env:NPM_TOKEN"},
    "dockerhub": {"username": "acme", "token": "env:DOCKERHUB_TOKEN"},
    "jfrog": {"url": "https://acme.jfrog.io", "token": "env:JFROG_TOKEN"},
}
BASE = {
    "policy": {"stale_after_days": 90, "never_used_grace_days": 30, "max_age_days": 365, "sprawl_threshold": 5,
               "disable": ["no-expiry"]},
    "journal": {"path": "~/state/journal.jsonl"},
    "history": {"path": "~/state/history.sqlite", "save": True, "keep": 50, "keep_days": 400},
    "scan": {"timeout": 600},
    "ui": {"read_only": False, "theme": "textual-dark"},
    "keys": {"refresh": "ctrl+r"},
}
NUMBERS = st.one_of(st.integers(-5, 400), st.integers(-(2**63), 2**63 - 1), st.integers(2**63, 2**70),
                    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0, -1, 0.0, -0.0, 1e308]))
EDIT_VALUES = st.one_of(NUMBERS, VALUES)
KINDS = st.sampled_from(["access_key", "deploy_key", "npm_token", "x y", ""])
POLICY_KEYS = ["stale_after_days", "never_used_grace_days", "max_age_days", "sprawl_threshold", "junk"]
SECTION_EDIT = st.sampled_from(sorted(SECTIONS)).flatmap(lambda name: st.tuples(
    st.just(name), st.sampled_from(sorted(SECTIONS[name]) + ["junk"] if SECTIONS[name] else ["quit", "junk"]),
    EDIT_VALUES))
KIND_EDIT = st.tuples(st.just("policy.kind"), KINDS, st.one_of(
    st.dictionaries(st.sampled_from(POLICY_KEYS), EDIT_VALUES, max_size=3), EDIT_VALUES))
DISABLE_EDIT = st.tuples(st.just("policy"), st.just("disable"), st.lists(
    st.one_of(st.sampled_from(sorted(RULES)), VALUES), max_size=3))
SOURCE_KEY_NAMES = sorted(set(COMMON) | {k for keys in SOURCE_KEYS.values() for k in keys} | {"junk"})
SOURCE_EDIT = st.tuples(st.just("source"), st.sampled_from(SOURCE_KEY_NAMES), EDIT_VALUES)
TOP_EDIT = st.tuples(st.just(""), st.sampled_from([*SECTIONS, "source", "junk"]), VALUES)
DOCUMENT = st.tuples(
    st.lists(st.sampled_from(sorted(BASE_SOURCES)), max_size=3),
    st.lists(st.one_of(SECTION_EDIT, KIND_EDIT, DISABLE_EDIT, SOURCE_EDIT, TOP_EDIT), min_size=1, max_size=3),
)


def build(kinds: list[str], edits: list[tuple[str, str, object]]) -> dict:
    """A valid config with a few keys replaced or added by generated values."""
    doc: dict = {name: dict(table) for name, table in BASE.items()}
    doc["source"] = [{"type": kind, "name": f"{kind}-{n}", **BASE_SOURCES[kind]} for n, kind in enumerate(kinds)]
    for where, key, value in edits:
        if where == "":
            doc[key] = value
        elif where == "policy.kind":
            policy = doc.get("policy")
            if isinstance(policy, dict) and isinstance(policy.setdefault("kind", {}), dict):
                policy["kind"][key] = value
        elif where == "source":
            if isinstance(doc.get("source"), list) and doc["source"] and isinstance(doc["source"][-1], dict):
                doc["source"][-1][key] = value
        elif isinstance(doc.get(where), dict):
            doc[where][key] = value
    return doc


def render(document: dict) -> str:
    head: list[str] = []
    lines: list[str] = []
    for name, table in document.items():
        if name == "source" and isinstance(table, list) and all(isinstance(t, dict) for t in table):
            for t in table:
                lines.append("[[source]]")
                lines += [f"{json.dumps(str(k))} = {toml(v)}" for k, v in t.items()]
        elif isinstance(table, dict) and name != "source":
            lines.append(f"[{name}]")
            lines += [f"{json.dumps(str(k))} = {toml(v)}" for k, v in table.items()]
        else:
            head.append(f"{json.dumps(name)} = {toml(table)}")
    return "\n".join(head + lines) + "\n"


def assert_usable(cfg: config.Config) -> None:
    """A config that loaded must drive a scan: sane numbers, and its policy scores identities."""
    assert math.isfinite(cfg.scan_timeout) and cfg.scan_timeout > 0, cfg.scan_timeout
    for keep in (cfg.history_keep, cfg.history_keep_days):
        assert keep is None or (isinstance(keep, int) and keep >= 0), keep
    for source in cfg.sources:
        assert source["type"] in PROVIDERS and re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]*$", source["name"])
        if "timeout" in source:
            assert math.isfinite(source["timeout"]) and source["timeout"] > 0, source["timeout"]
    rows = evaluate(sample_identities(), None, cfg.policy, NOW)
    assert len(rows) == 3


def assert_clear(exc: ConfigError, path: str) -> None:
    message = str(exc)
    assert re.match(re.escape(path) + r":\d+: \S", message), message
    assert "Traceback" not in message and len(message) < 2000


def test_the_base_document_is_valid():
    assert_usable(config.parse(render(build(sorted(BASE_SOURCES), [])), "base.toml"))


@FAST
@given(DOCUMENT)
def test_config_documents_built_from_the_schema_load_usably_or_fail_with_file_line(document):
    text = render(build(*document))
    try:
        cfg = config.parse(text, "fuzz.toml")
    except ConfigError as exc:
        assert_clear(exc, "fuzz.toml")
        return
    assert_usable(cfg)


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=200), st.sampled_from([b"", b"\xef\xbb\xbf", b"[scan]\ntimeout = 5\n"]))
def test_config_files_of_any_bytes_load_or_fail_with_the_path(tmp_path_factory, data, prefix):
    path = Path(tmp_path_factory.mktemp("cfg")) / "config.toml"
    path.write_bytes(prefix + data)
    path.chmod(0o600)
    try:
        cfg = config.load(path)
    except ConfigError as exc:
        assert str(exc).startswith(f"{path}:"), str(exc)
        return
    assert_usable(cfg)


# --- the filter language ------------------------------------------------------------------------------------

FIELD_NAMES = sorted({*TEXT_FIELDS, *ALIASES, "reaches", "bogus", ""})
OPS = [":", ">", "<", ">=", "<=", "=", "!=", "==", "=>", "><", ""]
AMOUNTS = st.one_of(st.integers(-10, 10**40).map(str), st.floats(allow_nan=True, allow_infinity=True).map(repr),
                    st.sampled_from(["", "nan", "inf", "1e9", "1.5", "0.0001", ".5", "5.", "٣", "1_000"]))
UNITS_ = st.sampled_from(["", "d", "w", "m", "y", "D", "x", " d"])
QVALUES = st.one_of(
    st.sampled_from(["", "*", "write", "admin,read", "read,", ",", "'quoted value'", '"x y"', "[b]", "deploy_*",
                     "?", "[", "[!a]", "acme/api", "github,gitlab", "none", "ADMIN", "wrote"]),
    st.text(max_size=8),
)
TERM = st.one_of(
    st.tuples(st.booleans(), st.sampled_from(COMPARABLE), st.sampled_from(OPS), AMOUNTS, UNITS_).map(
        lambda t: ("!" if t[0] else "") + t[1] + t[2] + t[3] + t[4]),
    st.tuples(st.booleans(), st.sampled_from(["privilege"]), st.sampled_from(OPS), QVALUES).map(
        lambda t: ("!" if t[0] else "") + t[1] + t[2] + t[3]),
    st.tuples(st.booleans(), st.sampled_from(FIELD_NAMES), st.sampled_from(OPS), QVALUES).map(
        lambda t: ("!" if t[0] else "") + t[1] + t[2] + t[3]),
    st.tuples(st.booleans(), st.sampled_from([*FLAGS, "stalee", "marked"])).map(lambda t: ("!" if t[0] else "") + t[1]),
    st.sampled_from(["alice", "KEY", '"a b"', "'", '"', "!", "!!stale", "\\", "--", "\x00", "[@click=app.quit]"]),
    st.text(max_size=6),
)
QUERY = st.lists(TERM, max_size=5).map(" ".join)


@settings(max_examples=500, deadline=None)
@given(QUERY)
def test_filter_text_built_from_the_language_evaluates_or_names_the_bad_term(text):
    rows = sample_identities()
    hay = [haystack(r) for r in rows]
    context = Context(new_uids={rows[0].uid}, reaches=lambda repo: {rows[1].uid} if "acme" in repo else set(),
                      marked={rows[2].uid})
    try:
        query = parse(text, now=NOW, context=context)
    except QueryError as exc:
        assert isinstance(exc.term, str) and exc.term.strip(), (text, exc.term)
        assert exc.reason and str(exc)
        return
    answers = [query(r, h) for r, h in zip(rows, hay)]
    assert all(isinstance(a, bool) for a in answers), answers
    assert query.filter(rows, hay) == [i for i, a in enumerate(answers) if a]


# --- the AWS trust-policy parser ----------------------------------------------------------------------------

GH_ARN = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
SUB = "token.actions.githubusercontent.com:sub"
LEAVES = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=12),
                   st.sampled_from(["repo:acme/*", "*", "Allow", "sts:AssumeRoleWithWebIdentity", GH_ARN, SUB]))
TREES = st.recursive(LEAVES, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.one_of(st.text(max_size=8), st.sampled_from(
        ["Statement", "Effect", "Principal", "Federated", "Action", "Condition", "StringLike", SUB])), inner,
        max_size=3)), max_leaves=20)
STATEMENT = st.builds(lambda cond, extra: {"Effect": "Allow", "Principal": {"Federated": GH_ARN},
                                           "Action": "sts:AssumeRoleWithWebIdentity", "Condition": cond, **extra},
                      TREES, st.dictionaries(st.sampled_from(["NotAction", "Sid", "Principal", "Effect"]), TREES,
                                             max_size=2))


def parses_or_value_error(candidate: object) -> None:
    try:
        result = parse_trust(candidate)  # type: ignore[arg-type]
    except ValueError as exc:
        assert str(exc)
        return
    assert isinstance(result, list) and all(isinstance(t, Trust) for t in result)
    for trust in result:
        json.dumps(trust.as_dict())


@FAST
@given(st.one_of(TREES, st.lists(STATEMENT, max_size=3).map(lambda s: {"Statement": s})))
def test_trust_policies_as_object_json_bytes_and_url_encoded_end_in_trusts_or_value_error(doc):
    text = json.dumps(doc, default=str)
    for candidate in (doc, text, text.encode(), quote(text), b"\xff" + text.encode()):
        parses_or_value_error(candidate)


def test_trust_policy_edge_inputs_end_in_trusts_or_value_error():
    deep: object = "x"
    for _ in range(5000):
        deep = {"Statement": [deep]}
    for candidate in (None, 0, 1.5, [], [1], (), b"", "", "%7B", "%7Bnot json", "{" * 100_000, deep,
                      {1: 2}, {"Statement": {1: 2}}, {"Statement": [{"Condition": {1: {2: 3}}}]},
                      '{"Statement": [{"Effect": "Allow", "Principal": {"Federated": "' + "a" * 10_000 + '"}}]}',
                      '{"Statement": 1e999}', '{"Statement": [' + "1" * 5000 + "]}"):
        parses_or_value_error(candidate)
