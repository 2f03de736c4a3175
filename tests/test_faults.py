"""Fault matrix: every provider against every way a server can misbehave, through the real Collector.

Each fault is injected by the sandbox's knobs (nhitui/sandbox/server.py `Knobs`; AWS through the
front of `AwsFake`; Vault, a real OpenBao server, through a faulting proxy in front of it) in two forms:

- transient: the first N requests meet the fault (`fault_limit`), then the server is healthy. The
  source must end `ok` with exactly the world's ground truth, after counted retries.
- persistent: every read meets it. The source must end `failed`, with no rows, a reason naming the
  fault, and within a bound; never an empty list that looks clean.

Faults only one API answers are armed on that provider's fake in its own shape (`SHAPED`): Google's
429 RESOURCE_EXHAUSTED, 503 UNAVAILABLE and 403 RATE_LIMIT_EXCEEDED envelopes, the Kubernetes API
server's plain-text APF 429 and its JSON Status 429.

Then the cases that are not per-request: `Link: next` (or a Kubernetes `continue`) pointing at itself
or cycling, a page over the body bound, the overall scan timeout (`Collector(timeout=)`, `[scan] timeout`), and a refresh running
while a bulk revoke changes the same inventory.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

import connectors.github.retry as github_connector
import connectors.gitlab as gitlab_connector
from connectors.aws import AwsConnector
from nhitui.collect import Collector, scan
from nhitui.inventory import Inventory
from nhitui.journal import Journal
from nhitui.model import SourceStatus, make_uid
from nhitui.revoke import Revoker
from nhitui.sandbox.aws import AwsFake
from nhitui.sandbox.chain import SOURCE_NAMES, Sandbox, _fake_class
from nhitui.sandbox.server import Knobs
from nhitui.sandbox.vault import VaultFake
from nhitui.sandbox.vault.proxy import FaultyVault
from nhitui.sandbox.world import World
from tests.helpers import aws_running

TINY = dict(repos=3, projects=4, iam_users=2, access_keys=2, roles=2, registry_tokens=6)
# Per-request timeout 1 s and 3 attempts keep a persistent fault's retries short.
FAST = {"timeout": 1, "max_attempts": 3, "backoff": 0.05}
HTTP = ("github", "gitlab", "npm", "dockerhub", "jfrog")
PROVIDERS = (*HTTP, "aws", "azure", "gcp", "kubernetes", "vault")
# Fakes started once for the module (seeding, several servers, a process cost more than a case); each case
# sets its knobs. Vault is a real OpenBao server behind a faulting proxy (nhitui/sandbox/vault/proxy.py).
SHARED = ("gcp", "kubernetes", "vault")
BIG = 60 * 1024 * 1024

FAULTS: dict[str, dict[str, Any]] = {
    "500": dict(error_rate=1.0, error_status=500),
    "502": dict(error_rate=1.0, error_status=502),
    "503": dict(error_rate=1.0, error_status=503),
    "429-seconds": dict(throttle_rate=1.0, retry_after=0.1),
    "429-http-date": dict(throttle_rate=1.0, retry_after=0.1, retry_after_style="http-date"),
    "429-unix": dict(throttle_rate=1.0, retry_after=0.1, retry_after_style="unix"),
    "throttling": dict(throttle_rate=1.0),                 # AWS: 400 Throttling "Rate exceeded"
    "reset": dict(reset_rate=1.0),
    "hang": dict(hang_rate=1.0, hang_seconds=20.0),
    "truncated": dict(truncate_rate=1.0),
    "html": dict(html_error_rate=1.0),
    "empty": dict(empty_rate=1.0),
    # Armed on the provider's own fake in its own shape (see SHAPED), not through the shared knobs.
    "429-google": {}, "503-google": {}, "403-rate": {}, "429-apf": {}, "429-status": {},
}

# Provider-shaped faults, armed as a count of requests to fail on the fake itself: Google's error envelope
# (429 RESOURCE_EXHAUSTED, 503 UNAVAILABLE, 403 RATE_LIMIT_EXCEEDED) and the Kubernetes API server's 429s
# (API Priority and Fairness' plain text with Retry-After; a JSON Status with details.retryAfterSeconds).
SHAPED = {"429-google": 429, "503-google": 503, "403-rate": 403, "429-apf": "throttle_plain",
          "429-status": "throttle_json"}

# What each provider's API can do: Docker Hub's 429 always carries a Unix-timestamp X-Retry-After,
# AWS throttles with 400 Throttling (moto's front), the others send Retry-After.
APPLIES = {
    "github": ("500", "502", "503", "429-seconds", "429-http-date", "reset", "hang", "truncated", "html", "empty"),
    "gitlab": ("500", "502", "503", "429-seconds", "429-http-date", "reset", "hang", "truncated", "html", "empty"),
    "npm": ("500", "502", "503", "429-seconds", "429-http-date", "reset", "hang", "truncated", "html", "empty"),
    "jfrog": ("500", "502", "503", "429-seconds", "429-http-date", "reset", "hang", "truncated", "html", "empty"),
    "dockerhub": ("500", "502", "503", "429-unix", "reset", "hang", "truncated", "html", "empty"),
    "aws": ("500", "502", "503", "throttling", "reset", "hang", "truncated", "html", "empty"),
    "azure": ("500", "502", "503", "429-seconds", "429-http-date", "reset", "hang", "truncated", "html", "empty"),
    # Google's 429 is RESOURCE_EXHAUSTED in its JSON envelope with no Retry-After header (429-google stands
    # for it); its front ends also answer bare 5xx, HTML 502 pages and cut connections.
    "gcp": ("500", "502", "503", "503-google", "429-google", "403-rate", "reset", "hang", "truncated", "html",
            "empty"),
    # The API server's Retry-After is always whole seconds (never a date): 429-apf and 429-status stand for it.
    "kubernetes": ("500", "502", "503", "429-apf", "429-status", "reset", "hang", "truncated", "html", "empty"),
    # Through the proxy: Vault's rate-limit quota 429 (Retry-After in seconds, when it sends one), and what a
    # load balancer in front of it answers. A 503 "Vault is sealed" is tests/test_vault.py's.
    "vault": ("500", "502", "503", "429-seconds", "reset", "hang", "truncated", "html", "empty"),
}

# The reason a persistent fault must leave on the failed source (a regex searched in its error).
_HTTPX = {  # connectors/_http.py: npm, Docker Hub, JFrog
    "500": r"gave up after 3 attempts .*\(last: 500 ", "502": r"gave up after 3 attempts .*\(last: 502 ",
    "503": r"gave up after 3 attempts .*\(last: 503 ", "429-seconds": r"gave up after 3 attempts .*\(last: 429 ",
    "429-http-date": r"gave up after 3 attempts .*\(last: 429 ", "429-unix": r"gave up after 3 attempts .*\(last: 429 ",
    "reset": r"\(last: network error \(ReadError\)\)", "truncated": r"\(last: 200 with truncated or invalid JSON\)",
    "html": r"\(last: 502 \(an HTML error page\)\)", "empty": r"\(last: 200 with an empty body\)",
}
REASONS: dict[str, dict[str, str]] = {
    "npm": _HTTPX, "dockerhub": _HTTPX, "jfrog": _HTTPX, "azure": _HTTPX, "vault": _HTTPX,
    "gitlab": {
        "500": r"cannot read \S+/api/v4/user: HTTP 500", "502": r"cannot read \S+/api/v4/user: HTTP 502",
        "503": r"cannot read \S+/api/v4/user: HTTP 503", "429-seconds": r"cannot read \S+/api/v4/user: HTTP 429",
        "429-http-date": r"cannot read \S+/api/v4/user: HTTP 429", "reset": r"cannot reach \S+: ConnectionError",
        "truncated": r"/api/v4/user: the answer is not JSON", "html": r"cannot read \S+/api/v4/user: HTTP 502",
        "empty": r"/api/v4/user: the answer is not JSON",
    },
    "github": {
        "500": r"nothing could be read from \S+: HTTP 500 on /orgs/acme/\S+ after retries",
        "502": r"nothing could be read from \S+: HTTP 502 on /orgs/acme/\S+ after retries",
        "503": r"nothing could be read from \S+: HTTP 503 on /orgs/acme/\S+ after retries",
        "429-seconds": r"nothing could be read from \S+: HTTP 429 on /orgs/acme/\S+ after retries: rate limited",
        "429-http-date": r"nothing could be read from \S+: HTTP 429 on /orgs/acme/\S+ after retries: rate limited",
        "reset": r"nothing could be read from \S+: error on /orgs/acme/\S+ after retries: network error",
        "truncated": r"nothing could be read from \S+: error on /orgs/acme/\S+ after retries: the response body "
                     r"was truncated or not JSON",
        "html": r"nothing could be read from \S+: HTTP 502 on /orgs/acme/\S+ after retries",
        "empty": r"nothing could be read from \S+: error on /orgs/acme/\S+ after retries: the response body "
                 r"was (empty|truncated or not JSON)",
    },
    "aws": {
        "500": r"sts:GetCallerIdentity failed \(InternalFailure\)", "502": r"sts:GetCallerIdentity failed \(InternalFailure\)",
        "503": r"sts:GetCallerIdentity failed \(ServiceUnavailable\): Service is unavailable",
        "reset": r"cannot reach AWS: Connection was closed before we received a valid response",
        "truncated": r"cannot reach AWS: Unable to parse response .*invalid XML",
        "html": r"sts:GetCallerIdentity failed \(502\): Bad Gateway",
        "empty": r"cannot reach AWS: Unable to parse response .*invalid XML",
    },
}
_GCP = r"no project could be read: GET /v3/(projects|folders): "
_K8S = r"(list|get) \S+: "
REASONS["gcp"] = {
    **{fault: _GCP + r"gave up after 3 attempts .*\(last: " + fault[:3] + r"\b"
       for fault in ("500", "502", "503", "503-google")},
    "429-google": _GCP.replace("GET /v3", r"429 RATE_LIMIT_EXCEEDED on GET /v3") + r"rate limited, still refused "
                  r"after retries \(Quota exceeded for service 'cloudresourcemanager'\.\)(;| *$)",
    "403-rate": _GCP.replace("GET /v3", r"403 RATE_LIMIT_EXCEEDED on GET /v3") + r"rate limited, still refused "
                r"after retries \(Quota exceeded \(rate\)\.\)(;| *$)",
    "reset": _GCP + r"gave up .*\(last: network error \(ReadError\)\)",
    "truncated": _GCP + r"gave up .*\(last: 200 with truncated or invalid JSON\)",
    "html": _GCP + r"gave up .*\(last: 502 \(an HTML error page\)\)",
    "empty": _GCP + r"gave up .*\(last: 200 with an empty body\)",
}
REASONS["kubernetes"] = {
    "500": _K8S + "HTTP 500 InternalServerError: Server Error$", "502": _K8S + "HTTP 502 BadGateway: Server Error$",
    "503": _K8S + "HTTP 503 ServiceUnavailable: Server Error$",
    "html": _K8S + r"HTTP 502 BadGateway: an HTML error page \(a proxy's or load balancer's\)$",
    "429-apf": _K8S + r"HTTP 429 TooManyRequests: Too many requests, please try again later\.$",
    "reset": _K8S + "network error",
    "truncated": _K8S + "the server sent a body that is not JSON", "empty": _K8S + "the server sent an empty body",
}
# The AWS client backs off (and paces) on throttling for seconds per attempt: that persistent case is
# left to tests/test_aws.py (an endpoint down for good); hangs persist only in the scan-timeout tests.
# A JSON Status 429 asks for whole seconds (retryAfterSeconds is an integer, at least 1): its persistent
# case would wait seconds per retry on the path 429-apf already takes.
NO_PERSISTENT = {("aws", "throttling"), ("kubernetes", "429-status")} | {(p, "hang") for p in PROVIDERS}

# aiohttp (under kubernetes_asyncio) resends an idempotent request once, by itself and uncounted, when the
# connection drops: the two resets fall on one attempt of the connector, which retries (and counts) once.
UNCOUNTED = {("kubernetes", "reset"): 1}
# Transient 429s that ask for long enough to tell apart from a backoff (0.1 s) and from a whole clean scan
# (about 0.5 s): the scan cannot end before a throttled read is sent again, after the wait the server asked
# (Kubernetes' retryAfterSeconds; Google's RetryInfo retryDelay). The other 429s ask for 0.1 s.
WAITS = {("kubernetes", "429-status"): 1.0, ("gcp", "429-google"): 1.5}

TRANSIENT = [(p, f) for p in PROVIDERS for f in APPLIES[p]]
PERSISTENT = [(p, f) for p in PROVIDERS for f in APPLIES[p] if (p, f) not in NO_PERSISTENT]


# --- plumbing ------------------------------------------------------------------------------------------

@pytest.fixture(autouse=True)
def short_backoff(monkeypatch):
    """Production backoffs (seconds, growing) make a persistent fault slow; the logic stays the same."""
    monkeypatch.setattr(gitlab_connector._Session, "_backoff", staticmethod(lambda attempt: 0.02))
    monkeypatch.setattr(github_connector, "RETRIES", 2)
    monkeypatch.setattr(AwsConnector, "max_attempts", 3)


@pytest.fixture(scope="module")
def aws_fake() -> Iterator[AwsFake]:
    """One moto server for the module (moto's state is per process); each case sets its knobs."""
    with aws_running(World(**TINY)) as fake:
        yield fake


@pytest.fixture(scope="module")
def shared_fakes() -> Iterator[dict[str, Any]]:
    """The SHARED providers' fakes, each started on first use and stopped with the module."""
    fakes: dict[str, Any] = {}
    try:
        yield fakes
    finally:
        for fake in fakes.values():
            fake.stop()
            if isinstance(fake, FaultyVault):
                fake.vault.stop()


def start_shared(provider: str) -> Any:
    if provider == "vault":
        vault = VaultFake(World(**TINY))
        vault.start()
        try:
            return FaultyVault(vault).start()
        except BaseException:
            vault.stop()
            raise
    return _fake_class(provider)(World(**TINY)).start()


def set_knobs(fake: Any, knobs: Knobs) -> None:
    """New knobs on a running fake and each of its servers, with the fault counts forgotten."""
    fake.knobs = knobs
    for server in servers(fake):
        server.knobs = server.faults.knobs = knobs
        server.faults.reset_counts()


def arm(fake: Any, fault: str, count: int, wait: float = 0.1) -> None:
    """Make the next `count` requests meet a SHAPED fault; a 429 asks to wait `wait` seconds (a JSON
    Status 429 asks whole seconds, at least 1)."""
    disarm(fake)
    if hasattr(fake, "fail_next"):                       # GCP: Google's envelope, on every service
        fake.fail_next[SHAPED[fault]] = count
        fake.retry_delay = f"{wait:g}s" if fault == "429-google" else None     # google.rpc.RetryInfo
    else:                                                # Kubernetes: the API server's two 429s
        fake.api.retry_after = f"{wait:g}" if fault == "429-apf" else str(max(1, int(wait)))
        setattr(fake.api, str(SHAPED[fault]), count)


def fault_armed(fake: Any) -> bool:
    """Whether the fake takes SHAPED faults (GCP's and the Kubernetes API server's)."""
    return hasattr(fake, "fail_next") or hasattr(fake, "api")


def disarm(fake: Any) -> None:
    """Every SHAPED fault and pagination loop off again."""
    if hasattr(fake, "fail_next"):
        fake.fail_next.clear()
        fake.retry_delay = None
    else:
        fake.api.throttle_plain = fake.api.throttle_json = 0
        fake.api.retry_after = "1"
        fake.api.page_limit, fake.api.loop_continue = 500, ""


def unarmed(fake: Any, fault: str) -> int:
    """How many SHAPED faults the fake has yet to answer."""
    if hasattr(fake, "fail_next"):
        return fake.fail_next[SHAPED[fault]]
    return int(getattr(fake.api, str(SHAPED[fault])))


@contextmanager
def serving(provider: str, knobs: Knobs, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch,
            **kw: Any) -> Iterator[Any]:
    """The provider's fake with `knobs`, its credentials in the environment (as the CLI reads them)."""
    if provider in SHARED and not kw:
        fakes = request.getfixturevalue("shared_fakes")
        if provider not in fakes:
            fakes[provider] = start_shared(provider)
        fake = fakes[provider]
        set_knobs(fake, knobs)
        for key, value in fake.env.items():
            monkeypatch.setenv(key, value)
        try:
            yield fake
        finally:
            set_knobs(fake, Knobs())
            if fault_armed(fake):
                disarm(fake)
        return
    if provider == "aws":
        fake = request.getfixturevalue("aws_fake")
        fake.knobs = knobs
        fake.front.reset_counts()
        try:
            yield fake
        finally:
            fake.knobs = Knobs()
        return
    fake = _fake_class(provider)(World(**TINY), knobs, **kw)
    fake.start()
    for key, value in fake.env.items():
        monkeypatch.setenv(key, value)
    try:
        yield fake
    finally:
        fake.stop()


def servers(fake: Any) -> list[Any]:
    """The fake's HTTP servers, each counting its own `fault_limit` (Azure: Graph and ARM; GCP: one per
    service)."""
    if hasattr(fake, "server"):
        return [fake.server]
    if isinstance(getattr(fake, "servers", None), dict):
        return list(fake.servers.values())
    return [fake.graph, fake.arm]


def injected(fake: Any) -> int:
    if isinstance(fake, AwsFake):
        return sum(fake.front.faults.values())
    return sum(sum(server.faults.faults.values()) for server in servers(fake))


def truth(fake: Any, provider: str) -> set[str]:
    return {make_uid(SOURCE_NAMES[provider], e.kind, e.native_id) for e in fake.world.expected_for(provider)}


def source(fake: Any, provider: str, **settings: Any) -> dict[str, Any]:
    return {**fake.source(SOURCE_NAMES[provider]), **FAST, **settings}


def collect(sources: list[dict[str, Any]], timeout: float = 60.0,
            inventory: Inventory | None = None) -> tuple[Inventory, dict[str, SourceStatus], float]:
    inventory = inventory or Inventory()
    t0 = time.monotonic()
    statuses = asyncio.run(Collector(inventory, sources, timeout=timeout).run())
    return inventory, statuses, time.monotonic() - t0


def uids(inventory: Inventory, name: str) -> set[str]:
    return {i.uid for i in inventory.by_source(name)}


# --- the matrix --------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("provider", "fault"), TRANSIENT, ids=[f"{p}-{f}" for p, f in TRANSIENT])
def test_transient_fault_ends_in_the_complete_inventory(provider, fault, request, monkeypatch):
    # A hang costs one per-request timeout (1 s), a WAITS 429 its whole wait: one of them is enough.
    limit = 1 if fault == "hang" or (provider, fault) in WAITS else 2
    with serving(provider, Knobs(**FAULTS[fault], fault_limit=limit), request, monkeypatch) as fake:
        if fault in SHAPED:
            arm(fake, fault, limit, WAITS.get((provider, fault), 0.1))
        inventory, statuses, elapsed = collect([source(fake, provider)])
        expected = truth(fake, provider)
        faults = limit - unarmed(fake, fault) if fault in SHAPED else injected(fake)
        per_server = 1 if isinstance(fake, AwsFake) or fault in SHAPED else len(servers(fake))
    name = SOURCE_NAMES[provider]
    status = statuses[name]
    assert faults == limit * per_server, f"the fault was not injected: {faults}"
    assert status.state == "ok", (status.error, status.blind_spots)
    assert not status.error and not status.blind_spots
    assert uids(inventory, name) == expected
    assert status.retries >= UNCOUNTED.get((provider, fault), limit)   # it got there by retrying, and counted it
    assert WAITS.get((provider, fault), 0) <= elapsed < 20


@pytest.mark.parametrize(("provider", "fault"), PERSISTENT, ids=[f"{p}-{f}" for p, f in PERSISTENT])
def test_persistent_fault_fails_the_source_with_a_reason(provider, fault, request, monkeypatch):
    with serving(provider, Knobs(**FAULTS[fault]), request, monkeypatch) as fake:
        if fault in SHAPED:
            arm(fake, fault, 10**6)
        inventory, statuses, elapsed = collect([source(fake, provider)])
        faults = 10**6 - unarmed(fake, fault) if fault in SHAPED else injected(fake)
    name = SOURCE_NAMES[provider]
    status = statuses[name]
    assert status.state == "failed", (status.state, status.error, status.blind_spots)
    assert uids(inventory, name) == set() and status.count == 0
    assert re.search(REASONS[provider][fault], status.error), status.error
    assert "Traceback" not in status.error and "unexpected error" not in status.error
    assert faults >= 3                             # every attempt met the fault (max_attempts 3)
    assert elapsed < 20


# The body bound each connector keeps, and an answer just over it: connectors/_http.py's 50 MB (GCP too);
# the Kubernetes client's 64 MiB (a cluster's lists are bigger than a registry's).
OVERSIZE = {**{p: (BIG, "exceeds the 52428800 byte bound") for p in (*HTTP, "gcp")},
            "kubernetes": (70 * 1024 * 1024, "answer larger than 64 MiB")}


def test_a_google_429_asking_for_longer_than_max_retry_wait_is_reported_not_waited(request, monkeypatch):
    """RetryInfo asks for an hour: the scan does not stall on it (`max_retry_wait`, 60 s), it says so."""
    with serving("gcp", Knobs(), request, monkeypatch) as fake:
        arm(fake, "429-google", 10**6)
        fake.retry_delay = "3600s"
        inventory, statuses, elapsed = collect([source(fake, "gcp")], timeout=15)
        sent = 10**6 - unarmed(fake, "429-google")
    status = statuses["acme-gcp"]
    assert status.state == "failed" and status.count == 0
    assert re.search(_GCP + r"rate limited; Google asks to wait 3600 s, more than max_retry_wait \(60 s\)",
                     status.error), status.error
    assert status.retries == 0 and sent == 2        # the project and folder lists, each asked once
    assert elapsed < 5


@pytest.mark.parametrize("provider", list(OVERSIZE))
def test_a_page_over_50_mb_is_refused_not_read(provider, request, monkeypatch):
    """Every read answers more JSON than the bound (streamed, no Content-Length): the bound stops it."""
    size, reason = OVERSIZE[provider]
    with serving(provider, Knobs(oversize_rate=1.0, oversize_bytes=size), request, monkeypatch) as fake:
        inventory, statuses, elapsed = collect([source(fake, provider)])
    status = statuses[SOURCE_NAMES[provider]]
    assert status.state == "failed" and status.count == 0
    assert reason in status.error, status.error
    assert status.retries == 0                     # a size violation is not retried
    assert elapsed < 20


@pytest.mark.parametrize("provider", ["npm", "dockerhub"])
def test_an_empty_page_ends_the_list_even_with_a_next_link(provider, request, monkeypatch):
    """A `next` on every page, empty ones too: the list ends at the first empty page, complete."""
    with serving(provider, Knobs(page_size=2), request, monkeypatch) as fake:
        fake.endless_next = True
        inventory, statuses, _ = collect([source(fake, provider)])
        expected = truth(fake, provider)
        calls = sum(n for (method, path), n in fake.server.calls.items()
                    if method == "GET" and path == fake.list_path)
    status = statuses[SOURCE_NAMES[provider]]
    assert status.state == "ok" and uids(inventory, SOURCE_NAMES[provider]) == expected
    assert calls <= len(expected) // 2 + 2        # the full pages, one empty page, nothing more


# --- pagination loops --------------------------------------------------------------------------------------

def _loop(provider: str, fake: Any, kind: str) -> None:
    if provider == "kubernetes":                 # `continue` tokens, two objects a page
        fake.api.page_limit, fake.api.loop_continue = 2, kind
    elif provider == "gitlab":
        if kind == "self":
            fake.link_loop = {f"/groups/{fake.gid_by_path['acme']}/projects"}
        else:
            fake.cycle_next = True
    elif kind == "self":
        fake.self_next = True
    else:
        fake.cycle_next = True


LOOPS = [(p, k) for p in ("gitlab", "npm", "dockerhub", "kubernetes") for k in ("self", "cycle")]


@pytest.mark.parametrize(("provider", "kind"), LOOPS, ids=[f"{p}-{k}" for p, k in LOOPS])
def test_a_next_link_to_itself_or_back_ends_partial_with_a_reason(provider, kind, request, monkeypatch):
    """JFrog's token list is not paginated; GitHub's case is in test_github_link_loops below."""
    with serving(provider, Knobs(page_size=2), request, monkeypatch) as fake:
        _loop(provider, fake, kind)
        inventory, statuses, elapsed = collect([source(fake, provider)])
        expected = truth(fake, provider)
    name = SOURCE_NAMES[provider]
    status = statuses[name]
    got = uids(inventory, name)
    assert status.state == "partial"
    reasons = " ".join(b.reason for b in status.blind_spots)
    assert re.search(r"(points back to a page already read|points to a page already read)", reasons), reasons
    assert got <= expected and len(inventory.by_source(name)) == len(got) == status.count   # no duplicate rows
    if provider in ("gitlab", "kubernetes") and kind == "self":
        assert got < expected                      # what follows the looping page was never listed
    else:
        assert got == expected                     # every page was read once before the loop was seen
    assert elapsed < 20


def test_github_link_loops(request, monkeypatch):
    world_kw = dict(TINY, repos=6)
    for loop in ("/orgs/acme/repos",):
        fake = _fake_class("github")(World(**world_kw), Knobs(page_size=2), link_loop=[loop])
        fake.start()
        for key, value in fake.env.items():
            monkeypatch.setenv(key, value)
        try:
            inventory, statuses, elapsed = collect([source(fake, "github")])
            expected = truth(fake, "github")
        finally:
            fake.stop()
        status = statuses["acme-github"]
        got = uids(inventory, "acme-github")
        assert status.state == "partial" and got < expected
        reasons = " ".join(b.reason for b in status.blind_spots)
        assert "already" in reasons, reasons
        assert elapsed < 20


# --- the overall scan timeout ------------------------------------------------------------------------------

@pytest.mark.parametrize("hanging", PROVIDERS)
def test_a_hanging_source_times_out_within_the_bound_while_the_others_complete(hanging, request, monkeypatch):
    """The server accepts every read of `hanging` and never answers (within the test); per-request
    timeouts are long, so only the scan timeout can end it."""
    others = [p for p in ("npm", "jfrog", "gitlab") if p != hanging][:2]
    with serving(hanging, Knobs(hang_rate=1.0, hang_seconds=30.0), request, monkeypatch) as stuck, \
            serving(others[0], Knobs(), request, monkeypatch) as first, \
            serving(others[1], Knobs(), request, monkeypatch) as second:
        sources = [source(stuck, hanging, timeout=60), source(first, others[0]), source(second, others[1])]
        inventory, statuses, elapsed = collect(sources, timeout=2.0)
        expected = {others[0]: truth(first, others[0]), others[1]: truth(second, others[1])}
    status = statuses[SOURCE_NAMES[hanging]]
    assert status.state == "failed" and status.count == 0
    assert re.fullmatch(r"timed out after [23] s", status.error), status.error
    for other in others:
        assert statuses[SOURCE_NAMES[other]].state == "ok"
        assert uids(inventory, SOURCE_NAMES[other]) == expected[other]
    assert elapsed < 6


def test_scan_timeout_from_the_config_file(tmp_path):
    """`[scan] timeout` reaches the collector: `nhitui scan` ends, exit 3, the hung source named."""
    with Sandbox(World(**TINY), Knobs(hang_rate=1.0, hang_seconds=30.0), providers=("npm",)) as sandbox:
        text = sandbox.config_text("\n[scan]\ntimeout = 2\n")
        config = tmp_path / "config.toml"
        config.write_text(text)
        config.chmod(0o600)
        t0 = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "nhitui", "--config", str(config), "scan", "--no-save",
                               "--format", "json"], capture_output=True, text=True, timeout=60)
        elapsed = time.monotonic() - t0
    assert proc.returncode == 3, proc.stderr
    assert "source acme-npm (npm): failed, 0 identities" in proc.stderr
    # The source's own timeout (2 s) applied; the seconds shown are measured, so a loaded machine may say 3.
    assert re.search(r"timed out after [23] s", proc.stderr) and "Traceback" not in proc.stderr
    assert elapsed < 15


# --- refresh during a bulk revoke ----------------------------------------------------------------------------

def test_refresh_while_a_bulk_revoke_runs_loses_no_journal_line_and_shows_no_stale_row(tmp_path):
    """A Collector refresh and a Revoker bulk action share one Inventory in one event loop. Slow,
    small pages make the refresh list tokens before they are deleted/deactivated and finish after."""
    knobs = Knobs(latency=0.03, page_size=2)
    with Sandbox(World(registry_tokens=20), knobs, providers=("npm", "dockerhub")) as sandbox:
        sources = sandbox.sources()
        inventory, first, _ = collect(sources)
        assert {s.state for s in first.values()} == {"ok"}
        before = {i.uid for i in inventory.rows}
        journal = Journal(tmp_path / "journal.jsonl")
        revoker = Revoker(inventory, sources, journal)
        plan = revoker.plan(sorted(before))
        assert len(plan.steps) == len(before) == 40
        assert {s.action for s in plan.steps} == {"delete", "deactivate"}

        async def both() -> tuple[Any, Any]:
            return await asyncio.gather(Collector(inventory, sources).run(), revoker.execute(plan))

        statuses, outcomes = asyncio.run(both())
        at_provider = {i.uid: i.status for i in scan(sources).rows}

    assert {o.state for o in outcomes} <= {"ok", "already-absent"}
    records = journal.read().records
    intents = [(r["plan"], r["attempt"]) for r in records if r["event"] == "intent"]
    results = [(r["plan"], r["attempt"]) for r in records if r["event"] == "result"]
    assert len(intents) == len(results) == len(plan.steps)
    assert sorted(intents) == sorted(results) and journal.pending() == []
    shown = {i.uid: i.status for i in inventory.rows}
    stale = {uid for uid in shown if uid not in at_provider}
    assert not stale, f"deleted at the provider, still shown: {len(stale)}"
    assert {uid: s for uid, s in shown.items() if s != at_provider[uid]} == {}
    for name, status in statuses.items():
        mine = {uid for uid in at_provider if uid.startswith(name + ":")}
        if status.state == "ok":
            assert {uid for uid in shown if uid.startswith(name + ":")} == mine
        else:       # pages shifted under deletion: the listing says so instead of looking complete
            assert status.blind_spots or status.error
    assert {r["uid"] for r in records if r["event"] == "result" and r["result"] == "ok"
            and r["action"] == "delete"}.isdisjoint(shown)


def test_the_fake_faults_keep_their_defaults():
    """The knobs added for this matrix are off by default: the existing API is unchanged."""
    k = Knobs()
    assert (k.reset_rate, k.empty_rate, k.oversize_rate, k.error_status, k.fault_limit) == (0.0, 0.0, 0.0, None, None)
