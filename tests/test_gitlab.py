"""The GitLab connector against the fake GitLab over real HTTP: ground truth, actions, blind spots,
faults, pagination, rate limits and the secret canary."""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime
from typing import Any

import pytest
from flask import Flask, Response, request

from connectors.base import AuthError
from connectors.gitlab import GitLabConnector, _retry_after, resource_privilege, scope_privilege
from nhitui.model import Identity, sanitize
from nhitui.policy import Policy, evaluate
from nhitui.sandbox.gitlab import CANARY, ENV_TOKEN, GitLabFake
from nhitui.sandbox.server import FakeServer, Knobs
from nhitui.sandbox.world import World

FIELDS = ("name", "owner", "target", "privilege", "status", "created_at", "expires_at", "last_used_at", "scopes")


def connector(fake: GitLabFake, token: str | None = None, revoke_token: str | None = None,
              **overrides: Any) -> GitLabConnector:
    env = {ENV_TOKEN: token or fake.token, "REVOKE": revoke_token or ""}
    source = fake.source(**overrides)
    if revoke_token:
        source["revoke_token"] = "env:REVOKE"
    return GitLabConnector(source, lambda ref: env[ref.split(":", 1)[1]])


async def collect(conn: GitLabConnector) -> list[Identity]:
    rows: list[Identity] = []
    async for batch in conn.collect():
        rows.extend(batch)
    return rows


def key(i: Identity) -> tuple[str, str]:
    return i.kind, i.native_id


def mismatches(rows: list[Identity], world: World, conn: GitLabConnector,
               skip: set[tuple[str, str]] = frozenset()) -> list[str]:
    """Every expected object present with every expected field and planted finding; nothing extra."""
    status = conn.report.status("ok", len(rows))
    scored = {key(i): i for i in evaluate(rows, {conn.name: status}, Policy())}
    expected = [e for e in world.expected_for("gitlab") if (e.kind, e.native_id) not in skip]
    problems = []
    for e in expected:
        got = scored.get((e.kind, e.native_id))
        if got is None:
            problems.append(f"missing {e.kind} {e.native_id}")
            continue
        for field, want in e.fields.items():
            have = getattr(got, field)
            if field == "name":
                want = sanitize(want)
            if isinstance(want, datetime) or isinstance(have, datetime):
                ok = want is not None and have is not None and abs((want - have).total_seconds()) < 1
            else:
                ok = tuple(want) == tuple(have) if field == "scopes" else want == have
            if not ok:
                problems.append(f"{e.kind} {e.native_id}: {field} {have!r} != {want!r}")
        if set(got.finding_ids) != set(e.findings):
            problems.append(f"{e.kind} {e.native_id}: findings {sorted(got.finding_ids)} != {sorted(e.findings)}")
    extra = set(scored) - {(e.kind, e.native_id) for e in expected}
    problems += [f"unexpected {k}" for k in sorted(extra)]
    return problems


@pytest.fixture
def small() -> Any:
    fake = GitLabFake(World(projects=12)).start()
    yield fake
    fake.stop()


# ----------------------------------------------------------------------------------- ground truth

async def test_ground_truth_300_projects_in_nested_groups() -> None:
    world = World(projects=300)
    fake = GitLabFake(world, Knobs(page_size=None)).start()
    try:
        conn = connector(fake)
        rows = await collect(conn)
    finally:
        fake.stop()
    assert conn.report.blind_spots == []
    assert len(rows) == len({i.uid for i in rows}), "duplicate uids"
    assert mismatches(rows, world, conn) == []
    kinds = {i.kind for i in rows}
    assert kinds == {"personal_access_token", "project_access_token", "group_access_token", "deploy_key",
                     "deploy_token", "runner", "ci_variable", "trigger_token", "ssh_key", "agent_token"}
    members = conn.report.facts["members"]
    assert "alice" in members and "root" in members and "mallory-gone" not in members
    assert {p.rsplit("/", 1)[0] for p in world.project_paths()} <= {i.target.rsplit("/", 1)[0] for i in rows}
    assert conn.report.requests >= 300 * 6 and conn.report.rate_limit_limit == 20000
    # Usage is unknown, not "never", where GitLab does not track it.
    for i in rows:
        assert i.usage_tracked == (i.kind not in ("deploy_key", "deploy_token", "ci_variable")), i.uid


async def test_small_pages_and_keyset_listing_give_the_same_inventory() -> None:
    world = World(projects=30)
    fake = GitLabFake(world, Knobs(page_size=4)).start()
    try:
        first = connector(fake)
        paged = await collect(first)
        # instance = true without groups: every project through keyset pagination on /projects.
        conn = connector(fake, groups=[])
        keyset = await collect(conn)
        calls = dict(fake.server.calls)
    finally:
        fake.stop()
    assert mismatches(paged, world, first) == []
    # Without a group there is no credentials inventory: the SSH keys are a blind spot, the rest is the same.
    assert sorted(i.uid for i in paged if i.kind != "ssh_key") == sorted(i.uid for i in keyset)
    assert [b.what for b in conn.report.blind_spots] == ["users' SSH keys"]
    assert calls[("GET", "/api/v4/projects")] >= 30 // 4
    assert "members" not in conn.report.facts     # no configured group: no member list to compare with


# ----------------------------------------------------------------------------------- permissions

async def test_non_admin_token_sees_its_own_tokens_and_reports_admin_lists_as_blind_spots(small: GitLabFake) -> None:
    conn = connector(small, token=small.user_token)
    rows = await collect(conn)
    spots = {b.what: b.reason for b in conn.report.blind_spots}
    for what in ("GET /runners/all", "GET /admin/ci/variables", "GET /deploy_keys", "GET /deploy_tokens",
                 "GET /personal_access_tokens (other users)"):
        assert what in spots, spots
        assert "administrator" in spots[what]
    assert spots["GET /runners/all"].startswith("403")
    pats = [i for i in rows if i.kind == "personal_access_token"]
    # Its own tokens, the enterprise users' (credentials inventory) and the group's service accounts':
    # never root's (no enterprise user) nor the instance service account's.
    owners = {i.owner for i in pats}
    assert "alice" in owners and "mallory-gone" in owners and "root" not in owners
    assert {i.details.get("service_account_group") for i in pats if i.details.get("service_account")} == {"acme"}
    # Everything an admin-only list would add is missing; the rest is there.
    skip = set(small.instance_only)
    assert mismatches(rows, small.world, conn, skip=skip) == []


async def test_denied_endpoint_is_a_blind_spot_not_an_empty_list() -> None:
    world = World(projects=12)
    fake = GitLabFake(world, deny=["/projects/*/variables"]).start()
    try:
        conn = connector(fake)
        rows = await collect(conn)
    finally:
        fake.stop()
    spots = [b for b in conn.report.blind_spots if b.what.startswith("GET /projects/:id/variables")]
    assert len(spots) == 1 and "403" in spots[0].reason and "Maintainer" in spots[0].reason
    assert "and 9 more" in spots[0].what
    assert not [i for i in rows if i.kind == "ci_variable" and i.details["scope"] == "project"]
    assert [i for i in rows if i.kind == "ci_variable" and i.details["scope"] == "group"]
    assert conn.report.status("ok", len(rows)).blind_spots


async def test_wrong_token_is_an_auth_error(small: GitLabFake) -> None:
    conn = connector(small, token="glpat-wrong")
    with pytest.raises(AuthError) as err:
        await collect(conn)
    assert "glpat-wrong" not in str(err.value)
    assert "401" in str(err.value)


async def test_bearer_auth_accepted_by_the_fake(small: GitLabFake) -> None:
    import requests

    ok = requests.get(small.url + "/api/v4/user", headers={"Authorization": f"Bearer {small.token}"}, timeout=5)
    bad = requests.get(small.url + "/api/v4/user", headers={"Authorization": "Bearer nope"}, timeout=5)
    assert ok.status_code == 200 and ok.json()["username"] == "root"
    assert bad.status_code == 401 and bad.json() == {"message": "401 Unauthorized"}
    assert "RateLimit-Remaining" in ok.headers and ok.headers["RateLimit-Limit"] == "20000"


async def test_a_scoped_variable_shows_its_environment_everywhere_and_stays_attached(small: GitLabFake) -> None:
    """Issue 16: `DATABASE_URL_1` in `production` and in `staging` are two rows a reader tells apart."""
    import csv
    import io

    from nhitui.export import render, write_csv
    from nhitui.inventory import haystack
    from nhitui.policy import Graph
    from nhitui.query import Context, parse

    rows = await collect(connector(small))
    variables = [i for i in rows if i.kind == "ci_variable"]
    staging = next(i for i in variables if i.details["environment_scope"] == "staging")
    project = staging.details["project"]
    production = next(i for i in variables if i.name == staging.name and i.details["environment_scope"] == "production")
    assert staging.target == f"{project}:staging" and production.target == f"{project}:production"
    assert staging.uid.endswith(":staging")                                 # the uid is unchanged
    assert staging.details["environment"] == "staging"
    everywhere = [i for i in variables if i.details["environment_scope"] == "*"]
    assert everywhere and all(":" not in i.target for i in everywhere)     # `*` shows no suffix
    assert pick(rows, "ci_variable", target="instance")

    buf = io.StringIO()
    write_csv([staging, production], buf)
    table = list(csv.DictReader(io.StringIO(buf.getvalue())))
    assert [r["target"] for r in table] == [staging.target, production.target]
    document = json.loads(render([staging, production], {}, "json"))
    assert [r["target"] for r in document["identities"]] == [staging.target, production.target]

    graph = Graph(rows)
    for query in ("target:*:production", "production"):
        q = parse(query, context=Context(reaches=graph.reaches))
        matched = {i.uid for i in rows if q(i, haystack(i))}
        assert production.uid in matched and staging.uid not in matched, query
    # Still attached to its project: `reaches:` finds both scopes.
    reached = graph.reaches(project)
    assert {staging.uid, production.uid} <= reached


# ----------------------------------------------------------------------------------- actions

def snapshot(rows: list[Identity]) -> dict[str, tuple[Any, ...]]:
    return {i.uid: (i.status, i.name, i.privilege, i.expires_at, i.last_used_at, i.actions, i.target)
            for i in rows}


async def act(fake: GitLabFake, identity: Identity, action: str, **kw: Any) -> tuple[Any, set[str], dict, dict]:
    before = snapshot(await collect(connector(fake)))
    conn = connector(fake, **kw)
    result = await conn.execute(identity, action)
    after = snapshot(await collect(connector(fake)))
    changed = {uid for uid in before.keys() | after.keys() if before.get(uid) != after.get(uid)}
    return result, changed, before, after


def pick(rows: list[Identity], kind: str, **where: Any) -> Identity:
    for i in rows:
        if i.kind == kind and all((i.details.get(k[2:]) if k.startswith("d_") else getattr(i, k)) == v
                                  for k, v in where.items()):
            return i
    raise AssertionError(f"no {kind} with {where}")


async def test_each_action_changes_exactly_its_target(small: GitLabFake) -> None:
    rows = await collect(connector(small))
    conn = connector(small)

    # Personal access token: revoke -> still listed, revoked.
    pat = next(i for i in rows if i.kind == "personal_access_token" and i.status == "active" and i.owner != "root"
               and i.owner != "alice")
    assert [a.name for a in conn.actions(pat)] == ["revoke", "rotate"]
    result, changed, _, after = await act(small, pat, "revoke")
    assert result.state == "ok" and result.status_code == 204 and not result.removed
    assert result.identity.status == "revoked" and result.identity.actions == ()
    assert changed == {pat.uid} and after[pat.uid][0] == "revoked"

    # Project access token: rotate -> the old one revoked, a new one (new id) active; secret returned once.
    token = pick(rows, "project_access_token", status="active")
    result, changed, _, after = await act(small, token, "rotate")
    assert result.state == "ok" and result.secret and result.secret.startswith("glpat-")
    assert result.secret not in repr(result)
    new = result.identity
    assert new.uid != token.uid and new.status == "active" and new.owner == token.owner
    assert new.target == token.target and new.scopes == token.scopes
    assert changed == {token.uid, new.uid}
    assert after[token.uid][0] == "revoked" and after[new.uid][0] == "active"

    # Group access token: revoke.
    gtoken = pick(rows, "group_access_token", status="active")
    result, changed, _, after = await act(small, gtoken, "revoke")
    assert result.state == "ok" and changed == {gtoken.uid} and after[gtoken.uid][0] == "revoked"

    # Shared deploy key: unlinking it from one project leaves the other link alone.
    key_id = next(i.details["key_id"] for i in rows if i.kind == "deploy_key" and i.name == "shared-release-key")
    links = [i for i in rows if i.kind == "deploy_key" and i.details["key_id"] == key_id]
    assert len(links) == 2
    writer = next(i for i in links if i.details["can_push"])
    result, changed, _, after = await act(small, writer, "delete")
    assert result.state == "ok" and result.removed and result.status_code == 204
    assert changed == {writer.uid} and writer.uid not in after
    assert next(i.uid for i in links if i is not writer) in after

    # Deploy token (project).
    dtoken = pick(rows, "deploy_token", status="active", d_scope="project")
    result, changed, _, after = await act(small, dtoken, "revoke")
    assert result.state == "ok" and result.removed and changed == {dtoken.uid}

    # Runner: pause (reversible) then unpause restores it; delete removes it.
    runner = pick(rows, "runner", status="active", d_runner_type="group_type")
    actions = conn.actions(runner)
    assert [a.name for a in actions] == ["pause", "delete"] and actions[0].reversible == "yes"
    assert actions[0].undo == "unpause" and actions[1].reversible == "no"
    result, changed, before, after = await act(small, runner, "pause")
    assert result.state == "ok" and result.identity.status == "inactive"
    assert result.identity.details["paused"] is True and result.identity.actions == ("unpause", "delete")
    assert changed == {runner.uid} and after[runner.uid][0] == "inactive"
    assert after[runner.uid][5] == ("unpause", "delete")
    result, changed, _, restored = await act(small, result.identity, "unpause")
    assert result.state == "ok" and result.identity.status == "active"
    assert changed == {runner.uid} and restored[runner.uid] == before[runner.uid]
    result, changed, _, after = await act(small, runner, "delete")
    assert result.state == "ok" and result.removed and changed == {runner.uid}

    # Trigger token.
    trigger = pick(rows, "trigger_token")
    result, changed, _, _ = await act(small, trigger, "delete")
    assert result.state == "ok" and result.removed and changed == {trigger.uid}

    # CI variable with two environment scopes: delete one, the other stays.
    staging = next(i for i in rows if i.kind == "ci_variable" and i.details["environment_scope"] == "staging")
    production = next(i for i in rows if i.kind == "ci_variable" and i.name == staging.name
                      and i.details["project"] == staging.details["project"]
                      and i.details["environment_scope"] == "production")
    result, changed, _, after = await act(small, staging, "delete")
    assert result.state == "ok" and changed == {staging.uid} and production.uid in after

    # Instance variable and orphan deploy key (admin endpoints).
    inst = pick(rows, "ci_variable", target="instance")
    result, changed, _, _ = await act(small, inst, "delete")
    assert result.state == "ok" and changed == {inst.uid}
    # GitLab has no API to delete a key no project uses: no action offered, and a forced one fails.
    orphan = pick(rows, "deploy_key", target="instance")
    assert conn.actions(orphan) == [] and orphan.url.endswith("/admin/deploy_keys")
    result, changed, _, _ = await act(small, orphan, "delete")
    assert result.state == "failed" and "not available" in result.message and changed == set()

    # Something already gone is not an error.
    again = await conn.execute(trigger, "delete")
    assert again.state == "already-absent" and again.status_code == 404


async def test_personal_token_rotation_replaces_the_identity(small: GitLabFake) -> None:
    rows = await collect(connector(small))
    pat = next(i for i in rows if i.kind == "personal_access_token" and i.status == "active" and i.owner == "alice")
    result, changed, _, after = await act(small, pat, "rotate")
    assert result.state == "ok" and result.secret
    assert changed == {pat.uid, result.identity.uid}
    assert after[pat.uid][0] == "revoked" and result.identity.expires_at is not None
    assert result.identity.created_at is not None and result.identity.last_used_at is None


async def test_rotating_a_token_revoked_since_the_scan_is_refused(small: GitLabFake) -> None:
    """Rotating a revoked token revokes its whole family on GitLab: the second rotation of the same
    (stale) row must be refused after a fresh read, and the replacement must stay active."""
    rows = await collect(connector(small))
    pat = next(i for i in rows if i.kind == "personal_access_token" and i.status == "active" and i.owner == "alice")
    first, _, _, _ = await act(small, pat, "rotate")
    assert first.state == "ok"
    second, changed, _, after = await act(small, pat, "rotate")
    assert second.state == "failed" and "already revoked" in second.message
    assert changed == set() and after[first.identity.uid][0] == "active"


async def test_read_only_credential_fails_cleanly_and_changes_nothing(small: GitLabFake) -> None:
    rows = await collect(connector(small))
    trigger = pick(rows, "trigger_token")
    result, changed, _, _ = await act(small, trigger, "delete", revoke_token=small.readonly_token)
    assert result.state == "failed" and result.status_code == 403 and changed == set()
    bad = await connector(small, revoke_token="glpat-nope").execute(trigger, "delete")
    assert bad.state == "failed" and bad.status_code == 401 and "glpat-nope" not in bad.message


async def test_listing_and_planning_send_no_write(small: GitLabFake) -> None:
    conn = connector(small)
    rows = await collect(conn)
    plans = [a for i in rows for a in conn.actions(i)]
    assert plans and small.server.writes() == 0
    calls = {a.call.split(" ")[0] for a in plans}
    assert calls <= {"DELETE", "POST", "PUT"}
    variable = pick(rows, "ci_variable", d_environment_scope="production")
    assert "filter[environment_scope]=production" in conn.actions(variable)[0].call
    revoked = [i for i in rows if i.status == "revoked"]
    assert revoked and all(conn.actions(i) == [] for i in revoked)


# ----------------------------------------------------------------------------------- faults

async def test_faults_give_the_same_inventory_or_a_partial_source_with_reasons() -> None:
    world = World(projects=30)
    knobs = Knobs(error_rate=0.1, throttle_rate=0.1, truncate_rate=0.03, retry_after=0.1, seed=11)
    fake = GitLabFake(world, knobs).start()
    try:
        conn = connector(fake)
        t0 = time.monotonic()
        rows = await collect(conn)
        elapsed = time.monotonic() - t0
    finally:
        fake.stop()
    assert conn.report.retries > 0 and sum(fake.server.faults.faults.values()) > 0
    assert elapsed < 45
    if conn.report.blind_spots:
        assert all(b.reason for b in conn.report.blind_spots)
        assert {key(i) for i in rows} <= {(e.kind, e.native_id) for e in world.expected_for("gitlab")}
    else:
        assert mismatches(rows, world, conn) == []


async def test_hung_requests_time_out_and_are_retried() -> None:
    world = World(projects=8)
    fake = GitLabFake(world, Knobs(hang_rate=0.05, hang_seconds=3.0, seed=5)).start()
    try:
        conn = connector(fake, timeout=0.4)
        t0 = time.monotonic()
        rows = await collect(conn)
        elapsed = time.monotonic() - t0
    finally:
        fake.stop()
    assert fake.server.faults.faults["hang"] > 0 and conn.report.retries > 0
    assert elapsed < 20
    if not conn.report.blind_spots:
        assert mismatches(rows, world, conn) == []


async def test_rate_limit_headers_are_honoured() -> None:
    world = World(projects=6)
    fake = GitLabFake(world, rate_limit=40, rate_window=1.0).start()
    try:
        conn = connector(fake)
        t0 = time.monotonic()
        rows = await collect(conn)
        elapsed = time.monotonic() - t0
    finally:
        fake.stop()
    assert conn.report.requests > 40 and elapsed > 1.0       # it had to wait for a new window
    assert conn.report.blind_spots == []
    assert mismatches(rows, world, conn) == []
    assert conn.report.rate_limit_limit == 40


def _tiny_gitlab(pages: dict[str, Any]) -> FakeServer:
    app = Flask("tiny")

    @app.route("/api/v4/user")
    def user() -> Any:
        return {"id": 1, "username": "root"}

    @app.route("/api/v4/personal_access_tokens")
    def pats() -> Response:
        page = request.args.get("page", "1")
        body, headers = pages[page]
        return Response(json.dumps(body), headers=headers, mimetype="application/json")

    return FakeServer(app)


def _pat(i: int) -> dict[str, Any]:
    return {"id": i, "name": f"t{i}", "user_id": 1, "scopes": ["api"], "active": True, "revoked": False,
            "created_at": "2025-01-01T00:00:00Z"}


async def test_pagination_by_x_next_page_and_loop_protection() -> None:
    server = _tiny_gitlab({"1": ([_pat(1)], {"X-Next-Page": "2"}), "2": ([_pat(2)], {"X-Next-Page": ""})})
    server.start()
    try:
        conn = GitLabConnector({"type": "gitlab", "name": "t", "url": server.url, "groups": [], "token": "env:T"},
                               lambda _: "x")
        rows = await collect(conn)
    finally:
        server.stop()
    assert sorted(i.name for i in rows) == ["t1", "t2"] and conn.report.blind_spots == []

    # A server whose Link: next points back to the first page (user_id as the connector sent it).
    link = '</api/v4/personal_access_tokens?user_id=1&page=1&per_page=100>; rel="next"'
    looping = {"1": ([_pat(1)], {"Link": link})}
    server = _tiny_gitlab(looping)
    server.start()
    try:
        conn = GitLabConnector({"type": "gitlab", "name": "t", "url": server.url, "groups": [], "token": "env:T"},
                               lambda _: "x")
        rows = await collect(conn)
    finally:
        server.stop()
    assert [i.name for i in rows] == ["t1"]
    assert any("already read" in b.reason for b in conn.report.blind_spots)


# ----------------------------------------------------------------------------------- secrets

async def test_canary_never_appears_in_identities_or_logs(small: GitLabFake, caplog: pytest.LogCaptureFixture) -> None:
    import requests

    # The fake does serve the canary: in variable values, trigger tokens and runner details.
    headers = {"PRIVATE-TOKEN": small.token}
    mine = next(t for t in small.triggers.values() if t["owner_id"] == small.root_id)   # shown in full
    for path in ("/projects/1001/variables", f"/projects/{mine['project_id']}/triggers", "/runners/900"):
        assert CANARY in requests.get(small.url + "/api/v4" + path, headers=headers, timeout=5).text, path
    caplog.set_level(logging.DEBUG)
    conn = connector(small)
    rows = await collect(conn)
    variables = [i for i in rows if i.kind == "ci_variable"]
    assert variables and any(i.details["hidden"] for i in variables) and any(i.details["masked"] for i in variables)
    for i in rows:
        assert CANARY not in repr(i) and CANARY not in repr(dict(i.details)), i.uid
        assert "value" not in i.details and "token" not in i.details
    trigger = pick(rows, "trigger_token")
    await conn.execute(trigger, "delete")
    token = pick(rows, "project_access_token", status="active")
    result = await conn.execute(token, "rotate")
    assert result.secret
    text = caplog.text
    assert CANARY not in text and result.secret not in text and small.token not in text
    assert result.secret not in repr(result)


# ----------------------------------------------------------------------------------- units

def test_privilege_mapping() -> None:
    assert scope_privilege(["read_api", "read_repository"]) == "read"
    assert scope_privilege(["api"]) == "write"
    assert scope_privilege(["write_registry"]) == "write"
    assert scope_privilege(["api", "sudo"]) == "admin"
    assert scope_privilege(["read_api", "admin_mode"]) == "admin"
    assert scope_privilege([]) == "none"
    assert resource_privilege(["api"], 40) == "admin"
    assert resource_privilege(["api"], 50) == "admin"
    assert resource_privilege(["api"], 30) == "write"
    assert resource_privilege(["read_api"], 50) == "read"
    assert resource_privilege(["write_repository"], 50) == "write"
    assert resource_privilege(["api"], 10) == "read"


def test_runner_token_expiry_is_read_where_the_api_shows_it() -> None:
    from connectors.gitlab.runners import parse_runner

    conn = GitLabConnector({"type": "gitlab", "name": "t", "url": "https://gitlab.example.com", "token": "env:T"},
                           lambda _: "x")
    base = {"id": 7, "runner_type": "project_type", "paused": False, "status": "online",
            "created_at": "2024-01-02T00:00:00Z", "projects": [{"id": 1, "path_with_namespace": "acme/api"}]}
    plain = parse_runner(conn, base)
    assert plain.expires_at is None and plain.status == "active" and plain.created_at.year == 2024
    later = parse_runner(conn, {**base, "token_expires_at": "2999-01-01T00:00:00Z"})
    assert later.expires_at is not None and later.expires_at.year == 2999 and later.status == "active"
    past = parse_runner(conn, {**base, "token_expires_at": "2020-01-01T00:00:00Z"})
    assert past.status == "expired"


def test_retry_after_forms() -> None:
    from email.utils import formatdate

    assert _retry_after("0.1") == pytest.approx(0.1)
    assert _retry_after("3") == 3.0
    assert 5 <= (_retry_after(formatdate(time.time() + 8, usegmt=True)) or 0) <= 8
    assert _retry_after("soon") is None and _retry_after(None) is None


# ----------------------------------------------------------------------------------- through the core

async def test_collector_and_revoker_pause_undo_and_rotate(small: GitLabFake, tmp_path: Any,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from nhitui.collect import Collector
    from nhitui.inventory import Inventory
    from nhitui.journal import Journal
    from nhitui.revoke import Revoker

    for name, value in small.env.items():
        monkeypatch.setenv(name, value)
    sources = [small.source("acme-gitlab")]
    inventory = Inventory()
    statuses = await Collector(inventory, sources).run()
    assert statuses["acme-gitlab"].state == "ok" and statuses["acme-gitlab"].requests > 0
    journal_path = tmp_path / "journal.jsonl"
    revoker = Revoker(inventory, sources, Journal(journal_path))

    runner = next(i for i in inventory if i.kind == "runner" and i.status == "active")
    plan = revoker.plan([runner.uid])
    assert [s.action for s in plan.steps] == ["pause"] and not plan.irreversible
    outcomes = await revoker.execute(plan)
    assert outcomes[0].state == "ok" and inventory.get(runner.uid).status == "inactive"
    undo = revoker.plan_undo()
    assert undo is not None and undo.steps[0].action == "unpause"
    assert (await revoker.execute(undo))[0].state == "ok"
    assert inventory.get(runner.uid).status == "active"

    token = next(i for i in inventory if i.kind == "group_access_token" and i.status == "active")
    plan = revoker.plan([token.uid], "rotate")
    assert plan.irreversible
    outcome = (await revoker.execute(plan))[0]
    assert outcome.state == "ok" and outcome.secret
    assert inventory.get(token.uid) is None           # replaced by the new token's identity
    fresh = [i for i in inventory if i.kind == "group_access_token" and i.name == token.name
             and i.status == "active"]
    assert len(fresh) == 1 and fresh[0].uid != token.uid
    assert outcome.secret not in journal_path.read_text()


def test_fake_entities_carry_the_documented_fields(small: GitLabFake) -> None:
    """reference/apis.md section 2: the fields each GitLab list documents are all there."""
    import requests

    def get(path: str) -> Any:
        resp = requests.get(small.url + "/api/v4" + path, headers={"PRIVATE-TOKEN": small.token}, timeout=5)
        assert resp.status_code == 200, path
        for header in ("X-Total", "X-Total-Pages", "X-Per-Page", "X-Page", "X-Next-Page", "Link",
                       "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "RateLimit-Observed",
                       "RateLimit-Name"):
            assert header in resp.headers or not isinstance(resp.json(), list), (path, header)
        return resp.json()

    pid = min(small.projects)
    gid = min(small.groups)
    docs = {
        "/personal_access_tokens": {"id", "name", "description", "revoked", "active", "created_at", "scopes",
                                    "user_id", "last_used_at", "expires_at"},
        f"/projects/{pid}/access_tokens": {"id", "name", "scopes", "user_id", "access_level", "active", "revoked",
                                           "created_at", "last_used_at", "expires_at"},
        f"/groups/{gid}/access_tokens": {"id", "name", "scopes", "user_id", "access_level", "active", "revoked",
                                         "created_at", "last_used_at", "expires_at"},
        f"/projects/{pid}/deploy_keys": {"id", "title", "created_at", "expires_at", "key", "usage_type",
                                         "fingerprint_sha256", "can_push"},
        f"/projects/{pid}/deploy_tokens": {"id", "name", "username", "expires_at", "revoked", "expired", "scopes"},
        "/runners/all": {"id", "description", "name", "paused", "is_shared", "runner_type", "online", "status",
                         "created_by", "created_at", "job_execution_status"},
        f"/projects/{pid}/variables": {"variable_type", "key", "value", "hidden", "protected", "masked", "raw",
                                       "environment_scope", "description"},
        f"/projects/{pid}/triggers": {"id", "token", "description", "created_at", "updated_at", "last_used",
                                      "expires_at", "owner"},
    }
    for path, fields in docs.items():
        items = get(path)
        assert items, path
        assert all(fields <= set(item) for item in items), (path, fields - set(items[0]))
    detail = get(f"/runners/{min(small.runners)}")
    assert {"contacted_at", "version", "platform", "tag_list", "locked", "access_level", "projects",
            "groups"} <= set(detail)
    hidden = [v for v in get(f"/projects/{pid}/variables") if v["hidden"]]
    assert hidden and all(v["value"] is None for v in hidden)
