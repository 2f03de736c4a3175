"""The fake GitHub API answers what GitHub's published OpenAPI description says GitHub answers.

tests/openapi/github-subset.json is a trimmed copy of `@octokit/openapi` (regenerate with
tests/openapi/regenerate.py). Every response the fake serves during a scan, every action and a
few direct calls (single objects, errors) is recorded and validated against the operation's schema
for that status code. A fake that drifts from GitHub (a field of the wrong type, a missing required
field, an undeclared status) fails here, as the last test shows on purpose.
"""

from __future__ import annotations

import copy
import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import requests

from connectors.github import GitHubConnector
from nhitui.sandbox.github import GitHubFake
from nhitui.sandbox.server import Knobs
from nhitui.sandbox.world import World

SPEC = json.loads((Path(__file__).parent / "openapi" / "github-subset.json").read_text())


def _nullable(node: Any) -> Any:
    """OpenAPI 3.0 `nullable: true` -> JSON Schema (draft 4) null type."""
    if isinstance(node, list):
        return [_nullable(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _nullable(v) for k, v in node.items() if k != "nullable"}
    if node.get("nullable") is True:
        if "type" in out and "$ref" not in out:
            out["type"] = [out["type"], "null"] if isinstance(out["type"], str) else [*out["type"], "null"]
            if "enum" in out:
                out["enum"] = [*out["enum"], None]
        else:
            return {"anyOf": [out, {"type": "null"}]}
    return out


COMPONENTS = _nullable(SPEC["components"])
FORMATS = jsonschema.FormatChecker(formats=())


@FORMATS.checks("date-time", raises=ValueError)
def _date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    datetime.fromisoformat(value.replace("Z", "+00:00"))
    return bool(re.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$", value))


OPERATIONS = [(method, re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(path)) + "$"), path, op)
              for path, ops in SPEC["paths"].items() for method, op in ops.items()]


def _operation(method: str, path: str) -> tuple[str, dict] | None:
    for m, pattern, template, op in OPERATIONS:
        if m == method and pattern.match(path):
            return template, op
    return None


def _response_schema(op: dict, status: int) -> tuple[bool, dict | None]:
    """(declared, schema) for a status: undeclared errors fall back to GitHub's basic-error."""
    responses = op["responses"]
    resp = responses.get(str(status)) or responses.get("default")
    if resp is None:
        if status >= 400:
            return False, {"$ref": "#/components/schemas/basic-error"}
        raise AssertionError(f"status {status} is not declared")
    if "$ref" in resp:
        resp = SPEC["components"]["responses"][resp["$ref"].rsplit("/", 1)[1]]
    schema = (resp.get("content") or {}).get("application/json", {}).get("schema")
    return True, _nullable(schema) if schema else None


def validate(method: str, path: str, status: int, body: Any) -> str:
    found = _operation(method, path)
    assert found is not None, f"the fake serves {method.upper()} {path}, which is not in the subset"
    template, op = found
    _, schema = _response_schema(op, status)
    if schema is None:
        assert body in (None, {}, b""), f"{method.upper()} {template} {status} should have no body"
        return template
    root = {"components": COMPONENTS, "allOf": [schema]}
    jsonschema.Draft4Validator(root, format_checker=FORMATS).validate(body)
    return template


def _resolve(fake: GitHubFake):
    return lambda ref: fake.env[ref.split(":", 1)[1]]


async def _scan(connector: GitHubConnector) -> list:
    rows = []
    async for batch in connector.collect():
        rows.extend(batch)
    return rows


@pytest.fixture
def fake():
    f = GitHubFake(World(repos=12), Knobs(page_size=3), record=True, app=True)
    f.start()
    yield f
    f.stop()


async def test_every_response_of_a_scan_and_of_every_action_matches_the_openapi_description(fake):
    source = fake.source("gh", app=True)
    connector = GitHubConnector(source, _resolve(fake))
    rows = await _scan(connector)
    # GitHub refuses App tokens on the org's Codespaces secrets: the one thing an App source cannot see.
    assert [b.what for b in connector.report.blind_spots] == ["org codespaces secrets (acme)"]
    # One identity of every action-bearing kind, then act on it (deletes, PATCH, POST revoke/deny).
    by_kind: dict[tuple, Any] = {}
    for row in rows:
        key = (row.kind, row.details.get("scope"), row.status == "pending")
        by_kind.setdefault(key, row)
    token_source = fake.source("gh-token")
    writer = GitHubConnector(token_source, _resolve(fake))
    writer.write_interval = 0.0
    for row in by_kind.values():
        for action in writer.actions(row):
            result = await writer.execute(row, action.name)
            assert result.state in ("ok", "already-absent"), (row.uid, action.name, result)
            if action.name in ("deactivate", "activate"):
                break
    grants = [r for r in rows if r.kind == "fine_grained_pat" and r.status == "active"]
    assert all(r.state == "ok" for r in await writer.revoke_pat_grants(grants))

    # Direct calls: single objects and the error answers GitHub documents.
    base, admin = fake.api_url, {"Authorization": f"token {fake.token}"}
    repo = fake.repos["acme/web"]
    for path in (f"/repos/acme/web/keys/{repo.keys[0]['id']}" if repo.keys else "/repos/acme/api/keys/1",
                 "/repos/acme/does-not-exist/keys", "/orgs/acme/actions/runners/999999",
                 f"/orgs/acme/hooks/{fake.orgs['acme'].hooks[0]['id']}" if fake.orgs["acme"].hooks else "/orgs/acme/hooks/1"):
        requests.get(base + path, headers=admin, timeout=5)
    for path in ("/orgs/acme/codespaces/secrets",
                 "/orgs/acme/codespaces/secrets/DEVCONTAINER_REGISTRY_TOKEN/repositories"):
        requests.get(base + path, headers=admin, timeout=5)
    requests.delete(base + "/orgs/acme/codespaces/secrets/CODESPACES_NPM_TOKEN", headers=admin, timeout=5)
    requests.get(base + "/orgs/acme/members", headers={"Authorization": "token wrong"}, timeout=5)
    requests.delete(base + "/repos/acme/api/keys/1", headers={"Authorization": f"token {fake.readonly_token}"},
                    timeout=5)
    fake.deny = ("/orgs/acme/personal-access-tokens",)
    requests.get(base + "/orgs/acme/personal-access-tokens", headers=admin, timeout=5)

    templates, statuses = set(), set()
    for rec in fake.recorded:
        templates.add((rec["method"], validate(rec["method"], rec["path"], rec["status"], rec["body"])))
        statuses.add(rec["status"])
    assert {200, 201, 202, 204, 401, 403, 404} <= statuses
    served = {(m, p) for p, ops in SPEC["paths"].items() for m in ops}
    assert len(templates) >= 35, sorted(served - templates)
    assert len(fake.recorded) > 150


async def test_lists_paginate_with_link_headers_and_errors_carry_githubs_headers(fake):
    base, admin = fake.api_url, {"Authorization": f"token {fake.token}"}
    first = requests.get(base + "/orgs/acme/repos", params={"per_page": 3}, headers=admin, timeout=5)
    assert first.status_code == 200 and len(first.json()) == 3
    assert 'rel="next"' in first.headers["Link"] and 'rel="last"' in first.headers["Link"]
    for header in ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-used", "x-ratelimit-reset",
                   "x-ratelimit-resource"):
        assert first.headers[header]
    nxt = requests.get(first.links["next"]["url"], headers=admin, timeout=5)
    assert [r["id"] for r in nxt.json()] != [r["id"] for r in first.json()]
    fake.deny = ("personal-access-tokens",)
    denied = requests.get(base + "/orgs/acme/personal-access-tokens", headers=admin, timeout=5)
    assert denied.status_code == 403
    assert denied.headers["x-accepted-github-permissions"] == "organization_personal_access_tokens=read"
    assert requests.get(base + "/repos/acme/nope/keys", headers=admin, timeout=5).status_code == 404
    deleted = requests.delete(base + f"/repos/acme/api/keys/{fake.repos['acme/api'].keys[0]['id']}", headers=admin,
                              timeout=5)
    assert deleted.status_code == 204 and deleted.content == b""
    hooks = requests.get(base + "/orgs/acme/hooks", headers=admin, timeout=5).json()
    assert {h["config"].get("secret") for h in hooks} <= {"********", None}
    assert not any(c in json.dumps(hooks) for c in fake.canaries)


async def test_a_deliberately_wrong_field_in_the_fake_fails_the_contract(fake):
    base, admin = fake.api_url, {"Authorization": f"token {fake.token}"}
    good = requests.get(base + "/repos/acme/api/keys", headers=admin, timeout=5).json()
    validate("get", "/repos/acme/api/keys", 200, good)

    fake.repos["acme/api"].keys[0]["read_only"] = "false"          # a string where GitHub sends a boolean
    bad = requests.get(base + "/repos/acme/api/keys", headers=admin, timeout=5).json()
    with pytest.raises(jsonschema.ValidationError, match="is not of type 'boolean'"):
        validate("get", "/repos/acme/api/keys", 200, bad)

    broken = copy.deepcopy(good)
    del broken[0]["verified"]                                        # a required field missing
    with pytest.raises(jsonschema.ValidationError, match="'verified' is a required property"):
        validate("get", "/repos/acme/api/keys", 200, broken)

    runners = requests.get(base + "/orgs/acme/actions/runners", headers=admin, timeout=5).json()
    runners["runners"][0]["labels"] = ["self-hosted"]                # labels are objects, not strings
    with pytest.raises(jsonschema.ValidationError):
        validate("get", "/orgs/acme/actions/runners", 200, runners)

    grants = requests.get(base + "/orgs/acme/personal-access-tokens", headers=admin, timeout=5).json()
    grants[0]["token_expired"] = "no"                                # not a boolean
    with pytest.raises(jsonschema.ValidationError):
        validate("get", "/orgs/acme/personal-access-tokens", 200, grants)

    secrets = requests.get(base + "/orgs/acme/actions/secrets", headers=admin, timeout=5).json()
    secrets["secrets"][0]["updated_at"] = "last tuesday"             # not a date-time
    with pytest.raises(jsonschema.ValidationError, match="is not a 'date-time'"):
        validate("get", "/orgs/acme/actions/secrets", 200, secrets)


def test_the_subset_covers_every_route_the_fake_serves():
    fake = GitHubFake(World(repos=3))
    rules = {(m.lower(), re.sub(r"<(?:[a-z]+(?:\([^)]*\))?:)?([a-z_]+)>", r"{\1}", r.rule))
             for r in fake.flask.url_map.iter_rules() for m in r.methods - {"HEAD", "OPTIONS"}
             if r.endpoint != "static"}
    expanded = set()
    for method, rule in rules:
        if "{stype}" in rule:
            expanded |= {(method, rule.replace("{stype}", s)) for s in ("actions", "dependabot", "codespaces", "agents")}
        else:
            expanded.add((method, rule))
    served = {(m, p) for p, ops in SPEC["paths"].items() for m in ops}
    assert expanded == served, (sorted(expanded - served), sorted(served - expanded))
