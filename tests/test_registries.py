"""npm, Docker Hub and JFrog connectors against their sandbox fakes, over real HTTP."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email.utils import formatdate
from typing import Any

import pytest

from connectors._http import parse_wait, provider_message, retry_wait
from connectors.base import AuthError, ConnectorError
from connectors.dockerhub import DockerHubConnector, oat_scope_privilege, pat_privilege
from connectors.jfrog import JFrogConnector, scope_privilege, subject_user
from connectors.npm import NpmConnector, token_prefix
from nhitui.collect import Collector
from nhitui.inventory import Inventory
from nhitui.model import Identity
from nhitui.policy import Policy, evaluate
from nhitui.sandbox.registries import CANARY, DockerHubFake, JFrogFake, NpmFake
from nhitui.sandbox.server import Knobs
from nhitui.sandbox.world import World

REGISTRIES: dict[str, tuple[Any, Any]] = {
    "npm": (NpmFake, NpmConnector),
    "dockerhub": (DockerHubFake, DockerHubConnector),
    "jfrog": (JFrogFake, JFrogConnector),
}
PROVIDERS = tuple(REGISTRIES)
FAULTS = dict(error_rate=0.055, throttle_rate=0.055, truncate_rate=0.055, html_error_rate=0.055, retry_after=0.1)


@contextmanager
def running(provider: str, knobs: Knobs | None = None, world: World | None = None, **kw: Any) -> Iterator[Any]:
    fake = REGISTRIES[provider][0](world or World(seed=5), knobs, **kw)
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


def connector(fake: Any, readonly: bool = False, env: dict[str, str] | None = None, **settings: Any) -> Any:
    values = {**fake.env, **(env or {})}
    source = {**fake.source(f"t-{fake.provider}", readonly=readonly), "timeout": 5, **settings}
    return REGISTRIES[fake.provider][1](source, lambda ref: values[ref.removeprefix("env:")])


async def scan(c: Any) -> list[Identity]:
    out: list[Identity] = []
    async for batch in c.collect():
        out.extend(batch)
    return out


def by_native(ids: list[Identity]) -> dict[str, Identity]:
    return {i.native_id: i for i in ids}


# --- ground truth -------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_ground_truth(provider: str) -> None:
    with running(provider) as fake:
        c = connector(fake)
        ids = await scan(c)
    expected = {e.native_id: e for e in fake.world.expected_for(provider)}
    got = by_native(ids)
    assert len(ids) == len(got) == len(expected) == 12
    assert set(got) == set(expected)
    assert not c.report.blind_spots
    scored = by_native(evaluate(ids, {c.name: c.report.status("ok", len(ids))}, Policy()))
    for native, e in expected.items():
        i = got[native]
        assert i.uid == f"{c.name}:{e.kind}:{native}" and i.kind == e.kind and i.provider == provider
        for field, value in e.fields.items():
            assert getattr(i, field) == value, (native, field, getattr(i, field), value)
        assert set(scored[native].finding_ids) == set(e.findings), (native, i.name)
        assert list(i.actions) == [a.name for a in c.actions(i)]
    if provider in ("npm", "jfrog"):
        assert {i.target for i in ids} == {"127.0.0.1"}  # the registry / platform host
    # the planted mess is all there
    planted = set().union(*(e.findings for e in expected.values()))
    assert {"expired-present"} <= planted
    if provider != "npm":
        assert {"no-expiry", "admin-scope", "stale-unused", "owner-departed"} <= planted
        assert c.report.facts["members"]


async def test_dockerhub_details_and_rate_limit() -> None:
    with running("dockerhub") as fake:
        c = connector(fake)
        ids = await scan(c)
    kinds = {i.details["token_type"] for i in ids}
    assert kinds == {"personal", "organization"}
    assert {i.details["org"] for i in ids if i.details["token_type"] == "organization"} == {"acme"}
    assert c.report.rate_limit_limit == 600 and c.report.rate_limit_remaining is not None
    assert "acme-ci" in c.report.facts["members"] and "mallory-gone" not in c.report.facts["members"]


# --- actions ------------------------------------------------------------------------------------


async def test_npm_delete_changes_only_its_target() -> None:
    with running("npm") as fake:
        c = connector(fake)
        before = {i.uid: i for i in await scan(c)}
        victim = next(i for i in before.values() if i.status == "active")
        assert [a.reversible for a in c.actions(victim)] == ["no"]
        result = await c.execute(victim, "delete")
        assert (result.state, result.removed) == ("ok", True)
        after = {i.uid: i for i in await scan(connector(fake))}
        assert set(after) == set(before) - {victim.uid}
        assert all(after[u] == before[u] for u in after)
        again = await c.execute(victim, "delete")
        assert again.state == "already-absent" and again.removed
        assert fake.server.writes() == 2


async def test_dockerhub_deactivate_activate_delete() -> None:
    with running("dockerhub") as fake:
        c = connector(fake)
        before = {i.uid: i for i in await scan(c)}
        pat = next(i for i in before.values() if i.status == "active" and i.details["token_type"] == "personal")
        first = c.actions(pat)[0]
        assert (first.name, first.reversible, first.undo) == ("deactivate", "yes", "activate")

        result = await c.execute(pat, "deactivate")
        assert result.state == "ok" and not result.removed
        assert result.identity is not None and result.identity.status == "inactive"
        assert result.identity.actions == ("activate", "delete")
        after = {i.uid: i for i in await scan(connector(fake))}
        assert set(after) == set(before) and after[pat.uid].status == "inactive"
        assert all(after[u] == before[u] for u in after if u != pat.uid)

        undone = await c.execute(result.identity, "activate")
        assert undone.state == "ok" and undone.identity is not None and undone.identity.status == "active"
        assert {i.uid: i for i in await scan(connector(fake))} == before

        oat = next(i for i in before.values() if i.details["token_type"] == "organization")
        gone = await c.execute(oat, "delete")
        assert (gone.state, gone.removed) == ("ok", True)
        after = {i.uid: i for i in await scan(connector(fake))}
        assert set(after) == set(before) - {oat.uid}
        assert all(after[u] == before[u] for u in after)
        assert (await c.execute(oat, "delete")).state == "already-absent"
        assert (await c.execute(oat, "deactivate")).state == "already-absent"


async def test_jfrog_revoke_and_other_instance() -> None:
    with running("jfrog") as fake:
        c = connector(fake)
        before = {i.uid: i for i in await scan(c)}
        own = next(i for i in before.values() if i.details["issuer"] == fake.service_id)
        foreign = next(i for i in before.values() if i.details["issuer"] == fake.other_instance)
        result = await c.execute(own, "revoke")
        assert (result.state, result.status_code, result.removed) == ("ok", 200, True)
        again = await c.execute(own, "revoke")
        assert (again.state, again.status_code) == ("already-absent", 204)
        refused = await c.execute(foreign, "revoke")
        assert (refused.state, refused.status_code) == ("failed", 400)
        assert "another instance" in refused.message
        after = {i.uid: i for i in await scan(connector(fake))}
        assert set(after) == set(before) - {own.uid}
        assert all(after[u] == before[u] for u in after)


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_reads_with_token_and_writes_with_revoke_token(provider: str) -> None:
    with running(provider) as fake:
        c = connector(fake, readonly=True, revoke_token=f"env:{fake.env_var}")
        before = await scan(c)
        victim = next(i for i in before if i.status == "active")
        result = await c.execute(victim, c.actions(victim)[-1].name)  # the irreversible one
        assert result.state == "ok" and result.removed
        assert len(await scan(c)) == len(before) - 1


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_readonly_token_cannot_write(provider: str) -> None:
    with running(provider) as fake:
        c = connector(fake, readonly=True)
        before = await scan(c)
        assert len(before) == 12
        victim = next(i for i in before if i.status == "active")
        writes = fake.server.writes()
        result = await c.execute(victim, c.actions(victim)[0].name)
        assert (result.state, result.status_code) == ("failed", 403)
        assert fake.server.writes() - writes == (2 if provider == "dockerhub" else 1)  # docker: login + PATCH
        assert {i.uid: i for i in await scan(connector(fake))} == {i.uid: i for i in before}


# --- authentication -----------------------------------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_401_is_auth_error(provider: str) -> None:
    with running(provider) as fake:
        c = connector(fake, env={fake.env_var: "wrong-token-value-7f3a"})
        with pytest.raises(AuthError, match="authentication failed") as info:
            await scan(c)
        assert "wrong-token-value-7f3a" not in str(info.value)


async def test_one_registry_401_others_complete(monkeypatch: pytest.MonkeyPatch) -> None:
    fakes = [REGISTRIES[p][0](World(seed=5), None) for p in PROVIDERS]
    for fake in fakes:
        fake.start()
    try:
        for fake in fakes:
            for key, value in fake.env.items():
                monkeypatch.setenv(key, value)
        monkeypatch.setenv(fakes[1].env_var, "expired-login-token")  # Docker Hub refuses the login
        sources = [{**f.source(f"c-{f.provider}"), "timeout": 5} for f in fakes]
        statuses = await Collector(Inventory(), sources).run()
    finally:
        for fake in fakes:
            fake.stop()
    assert statuses["c-dockerhub"].state == "failed"
    assert "authentication failed" in statuses["c-dockerhub"].error
    assert "expired-login-token" not in statuses["c-dockerhub"].error
    for name in ("c-npm", "c-jfrog"):
        assert statuses[name].state == "ok" and statuses[name].count == 12


async def test_dockerhub_relogin_when_jwt_expires_mid_scan() -> None:
    with running("dockerhub") as fake:
        fake.expire_logins_after = 3
        c = connector(fake)
        ids = await scan(c)
        assert len(ids) == 12 and not c.report.blind_spots
        assert fake.server.calls[("POST", "/v2/auth/token")] == 2


async def test_dockerhub_renews_as_often_as_the_jwt_expires() -> None:
    """Every login expires after 3 calls here: a long session needs many renewals, each followed by
    success, and none of them may count against the next."""
    with running("dockerhub") as fake:
        fake.expire_logins_every = 3
        c = connector(fake, concurrency=1)      # one call at a time: each login really serves 2 calls
        ids = await scan(c)
        assert len(ids) == 12 and not c.report.blind_spots
        assert fake.server.calls[("POST", "/v2/auth/token")] >= 4


# --- retries, rate limits, pagination, bounds ---------------------------------------------------


def test_provider_messages_of_every_error_shape() -> None:
    """The reason a failed source shows: flat (npm, JFrog, Docker Hub), nested (Google, Microsoft
    Graph: {"error": {"message": ...}}), a list of errors, plain text; control characters removed."""
    assert provider_message({"message": "bad token"}) == "bad token"
    assert provider_message({"error": {"code": 503, "message": "The service is currently unavailable.",
                                       "status": "UNAVAILABLE"}}) == "The service is currently unavailable."
    assert provider_message({"error": {"code": "TooManyRequests"}}) == "TooManyRequests"
    assert provider_message({"error": {"code": 500}}) == ""
    assert provider_message({"errors": [{"message": "first"}, {"message": "second"}]}) == "first"
    assert provider_message("down\x1b[31m for\nmaintenance") == "down\ufffd[31m for maintenance"
    deep: dict[str, Any] = {}
    for _ in range(5000):
        deep = {"error": deep}
    assert provider_message(deep) == ""                # no recursion on hostile nesting


def test_retry_header_parsing() -> None:
    now = 1_700_000_000.0
    assert parse_wait("3", now) == 3
    assert parse_wait("0.5", now) == 0.5
    assert abs(parse_wait(formatdate(now + 5, usegmt=True), now) - 5) < 1.01
    assert parse_wait(str(int(now) + 7), now) == 7  # Docker Hub: a Unix timestamp, not 1.7e9 seconds
    assert parse_wait("garbage", now) is None
    assert retry_wait({"x-retry-after": str(int(now) + 3)}, now) == 3
    assert retry_wait({"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(now) + 4)}, now) == 4
    assert retry_wait({"x-ratelimit-remaining": "5", "x-ratelimit-reset": str(int(now) + 4)}, now) is None


async def test_dockerhub_429_x_retry_after_unix_timestamp_is_honoured() -> None:
    with running("dockerhub") as fake:
        fake.throttle(1, 1.0)
        c = connector(fake)
        t0 = time.monotonic()
        ids = await scan(c)
        elapsed = time.monotonic() - t0
    assert len(ids) == 12 and not c.report.blind_spots
    assert c.report.retries >= 1
    assert elapsed >= 0.5  # waited for the announced time (about 1-2 s), not 1.7e9 seconds


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_faults_give_complete_identities(provider: str) -> None:
    style = "http-date" if provider == "npm" else "seconds"
    knobs = Knobs(page_size=3, seed=23, retry_after_style=style, **FAULTS)
    world = World(seed=5)  # one world: the same timestamps with and without faults
    with running(provider, world=world) as clean_fake:
        truth = {i.uid: i for i in await scan(connector(clean_fake))}
    retries = 0
    with running(provider, knobs, world=world) as fake:
        for _ in range(10):  # JFrog needs only 2 requests a scan: scan until faults were injected
            c = connector(fake, backoff=0.05)
            got = {i.uid: i for i in await scan(c)}
            assert set(got) == set(truth)
            assert all(got[u] == truth[u] for u in got)
            assert not c.report.blind_spots
            retries += c.report.retries
            faults = sum(fake.server.faults.faults.values())
            if faults >= 3:
                break
    assert faults >= 3 and retries == faults  # every injected fault cost exactly one retry


async def test_hung_responses_time_out_and_retry() -> None:
    knobs = Knobs(hang_rate=0.3, hang_seconds=5, seed=4)
    with running("jfrog", knobs) as fake:
        for _ in range(6):
            c = connector(fake, timeout=0.4, backoff=0.05)
            assert len(await scan(c)) == 12 and not c.report.blind_spots
            if fake.server.faults.faults["hang"]:
                break
        assert fake.server.faults.faults["hang"] >= 1 and c.report.retries >= 1


async def test_unreachable_registry_is_a_clear_error() -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    c = NpmConnector({"type": "npm", "name": "down", "registry": f"http://127.0.0.1:{port}", "token": "env:X",
                      "backoff": 0.02, "timeout": 2}, lambda ref: "t")
    with pytest.raises(ConnectorError, match=r"gave up after 5 attempts .*network error"):
        await scan(c)
    assert c.report.requests == 10 and c.report.retries == 8  # whoami + list, 5 attempts each


def test_tls_settings() -> None:
    from connectors._http import Session, ssl_verify

    with pytest.raises(ConnectorError, match="ca_bundle"):
        ssl_verify("/nonexistent/ca.pem")
    session = Session(NpmConnector({"name": "x", "type": "npm", "token": "env:X"}, str).report, {})
    assert session.verify is not False  # verification is never turned off


async def test_proxy_environment_is_honoured() -> None:
    from connectors._http import Session

    report = NpmConnector({"name": "x", "type": "npm", "token": "env:X"}, str).report
    async with Session(report, {}) as s:
        assert s.client is not None and s.client.trust_env


@pytest.mark.parametrize("provider", ["npm", "dockerhub"])
async def test_cycling_next_link_stops_with_reason(provider: str) -> None:
    with running(provider, Knobs(page_size=5)) as fake:
        fake.cycle_next = True
        c = connector(fake)
        ids = await scan(c)
    assert len(ids) == 12
    reasons = " ".join(b.reason for b in c.report.blind_spots)
    assert "points back to a page already read" in reasons


async def test_next_link_to_another_host_is_not_followed() -> None:
    with running("npm", Knobs(page_size=5)) as fake:
        fake.foreign_next = "http://collector.example.invalid/-/npm/v1/tokens?page=9"
        c = connector(fake)
        ids = await scan(c)
    assert len(ids) == 12
    assert any("another host" in b.reason for b in c.report.blind_spots)


@pytest.mark.parametrize("declared", [False, True])
async def test_oversized_body_is_bounded(declared: bool) -> None:
    with running("jfrog") as fake:
        fake.oversize_bytes = 60 * 1024 * 1024
        fake.oversize_declared = declared
        c = connector(fake)
        t0 = time.monotonic()
        with pytest.raises(ConnectorError, match="byte bound"):
            await scan(c)
        assert time.monotonic() - t0 < 20
        assert c.report.retries == 0  # a size violation is not retried


async def test_body_bound_is_a_setting() -> None:
    with running("npm", Knobs(page_size=5)) as fake:
        c = connector(fake, max_response_bytes=4000)  # pages of 5 fit, the padding does not
        fake.oversize_bytes = 10_000
        with pytest.raises(ConnectorError, match="byte bound"):
            await scan(c)


# --- blind spots --------------------------------------------------------------------------------


async def test_denied_endpoints_are_blind_spots() -> None:
    with running("npm", deny=["/-/npm/v1/tokens"]) as fake:
        c = connector(fake)
        assert await scan(c) == []
        assert any("403" in b.reason for b in c.report.blind_spots)
    with running("dockerhub", deny=["/v2/orgs/acme/access-tokens"]) as fake:
        c = connector(fake)
        ids = await scan(c)
        assert {i.details["token_type"] for i in ids} == {"personal"} and len(ids) == 8
        assert any("owner" in b.reason and "403" in b.reason for b in c.report.blind_spots)
    with running("jfrog", deny=["/access/api/v2/users"]) as fake:
        c = connector(fake)
        ids = await scan(c)
        assert len(ids) == 12 and "members" not in c.report.facts
        assert any("not an admin" in b.reason for b in c.report.blind_spots)


@pytest.mark.parametrize("status", [404, 500])
async def test_jfrog_users_endpoint_unavailable_is_a_blind_spot_not_a_shorter_list(status: int) -> None:
    """Without the user list the connector cannot tell an admin's token (every token) from a user's
    (only its own): the possibly missing tokens are a blind spot, and no owner is called departed."""
    with running("jfrog") as fake:
        fake.users_status = status
        c = connector(fake, backoff=0.02)
        ids = await scan(c)
    assert len(ids) == 12 and "members" not in c.report.facts
    spot = next(b for b in c.report.blind_spots if b.what == "/access/api/v1/tokens (other users)")
    assert str(status) in spot.reason and "other users' tokens may be missing" in spot.reason
    assert "admin" in spot.reason
    scored = evaluate(ids, {c.name: c.report.status("ok", len(ids))}, Policy())
    assert not any("owner-departed" in i.finding_ids for i in scored)


# --- secrets ------------------------------------------------------------------------------------


async def test_canary_never_leaves_the_fakes(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    for provider in PROVIDERS:
        with running(provider) as fake:
            assert any(CANARY in str(v) for v in vars(fake).values() if isinstance(v, dict))
            c = connector(fake)
            ids = await scan(c)
            seen += [repr(i) + repr(dict(i.details)) for i in ids]
            seen.append(repr(c.report))
            victim = next(i for i in ids if i.status == "active")
            result = await c.execute(victim, c.actions(victim)[-1].name)
            seen.append(repr(result) + repr(result.identity))
    text = "\n".join(seen) + caplog.text
    assert CANARY not in text and "reg-secret" not in text
    assert "CANARY…" in text  # npm shows the truncated prefix only


def test_mappings() -> None:
    assert token_prefix("npm_abcdefghijklmnopqrstuvwxyz0123456789") == "npm_ab"
    assert token_prefix(CANARY) == "CANARY"
    assert subject_user("jfrt@01abc/users/bob") == "bob"
    assert subject_user("bob") == "bob"
    assert subject_user("jfrt@01abc") == ""
    assert scope_privilege(("applied-permissions/admin",)) == "admin"
    assert scope_privilege(("applied-permissions/user",)) == "write"
    assert scope_privilege(("applied-permissions/groups:readers",)) == "read"
    assert scope_privilege(("applied-permissions/groups:readers,deployers",)) == "write"
    assert scope_privilege(()) == "none"
    assert pat_privilege(("repo:read", "repo:write")) == "write"
    assert pat_privilege(("repo:public_read",)) == "read"
    assert pat_privilege(("repo:admin",)) == "admin"
    assert oat_scope_privilege("acme/*:scope-image-delete") == "admin"
    assert oat_scope_privilege("acme/api:scope-image-push") == "write"
    assert oat_scope_privilege("acme/api:scope-image-pull") == "read"


def test_a_jfrog_token_listed_without_scope_is_not_reported_harmless() -> None:
    """JFrog's documented token list has no `scope`: such a token acts with its subject's rights,
    so it must not come out as privilege "none" (which filters and rules would skip)."""
    from datetime import datetime, timezone

    conn = JFrogConnector({"name": "jf", "type": "jfrog", "url": "https://jf.example.test"}, lambda ref: "x")
    now = datetime.now(timezone.utc)
    listed = {"token_id": "t-1", "subject": "jfrt@01abc/users/bob", "issued_at": 1_700_000_000, "refreshable": False}
    assert conn._identity(listed, now).privilege == "write"
    assert conn._identity({**listed, "scope": "applied-permissions/admin"}, now).privilege == "admin"
    assert conn._identity({**listed, "scope": ""}, now).privilege == "none"
