"""Corporate networks: a private CA and an HTTPS proxy, for every connector.

Each provider's fake sits behind `TlsFront` (https://localhost:PORT with a certificate from a CA
generated for the test, tests/netfixtures.py); AWS is moto behind the same front. For each:

- TLS is verified: with `ca_bundle` the scan is complete; without it, or with another CA's bundle,
  the source fails at once with a reason naming TLS / the certificate (no retry storm, no traceback);
- `SSL_CERT_FILE` and `REQUESTS_CA_BUNDLE` (and `AWS_CA_BUNDLE` for AWS) work instead of `ca_bundle`;
- `HTTPS_PROXY` is honoured (the CONNECT proxy sees the tunnel to the server) and `NO_PROXY` too
  (the proxy sees nothing, the scan still completes).
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from netfixtures import ConnectProxy, TlsFront, make_ca

from nhitui import config as config_mod
from nhitui.collect import Collector
from nhitui.inventory import Inventory
from nhitui.model import SourceStatus, make_uid
from nhitui.sandbox.aws import AwsFake
from nhitui.sandbox.chain import SOURCE_NAMES, _fake_class
from nhitui.sandbox.server import Knobs
from nhitui.sandbox.world import World
from tests.helpers import aws_running

PROVIDERS = ("github", "gitlab", "npm", "dockerhub", "jfrog", "aws")
URL_KEY = {"github": "api_url", "gitlab": "url", "npm": "registry", "dockerhub": "api_url", "jfrog": "url",
           "aws": "endpoint_url"}
TINY = dict(repos=3, projects=4, iam_users=2, access_keys=2, roles=2, registry_tokens=4)
NETWORK_VARS = ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "AWS_CA_BUNDLE",
                "HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY",
                "no_proxy")
TLS_REASON = re.compile(r"TLS|SSL|[Cc]ertificate")


@pytest.fixture(autouse=True)
def clean_network_env(monkeypatch):
    for var in NETWORK_VARS:
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> tuple[Path, Path, Path, Path]:
    """(our CA, server cert, server key, an unrelated CA)."""
    ca, cert, key = make_ca(tmp_path_factory.mktemp("pki"))
    other, _, _ = make_ca(tmp_path_factory.mktemp("other-pki"))
    return ca, cert, key, other


@pytest.fixture(scope="module")
def aws_fake() -> Iterator[AwsFake]:
    with aws_running(World(**TINY)) as fake:
        yield fake


@contextmanager
def behind_tls(provider: str, pki: tuple[Path, ...], request: pytest.FixtureRequest,
               monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, TlsFront, dict[str, Any], set[str]]]:
    """The provider's fake behind a TLS front: (fake, front, source pointing at https://localhost, truth)."""
    _, cert, key, _ = pki
    if provider == "aws":
        fake = request.getfixturevalue("aws_fake")
        plain = fake.url
    else:
        fake = _fake_class(provider)(World(**TINY), Knobs())
        fake.start()
        plain = fake.server.url
        for k, v in fake.env.items():
            monkeypatch.setenv(k, v)
    front = TlsFront(int(plain.rsplit(":", 1)[1]), cert, key).start()
    try:
        src = dict(fake.source(SOURCE_NAMES[provider]))
        src[URL_KEY[provider]] = src[URL_KEY[provider]].replace(plain, front.url)
        assert src[URL_KEY[provider]].startswith("https://localhost:")
        src["timeout"] = 5
        truth = {make_uid(SOURCE_NAMES[provider], e.kind, e.native_id) for e in fake.world.expected_for(provider)}
        yield fake, front, src, truth
    finally:
        front.stop()
        if provider != "aws":
            fake.stop()


def collect(src: dict[str, Any]) -> tuple[SourceStatus, set[str], float]:
    inventory = Inventory()
    t0 = time.monotonic()
    status = asyncio.run(Collector(inventory, [src], timeout=60).run())[src["name"]]
    return status, {i.uid for i in inventory.by_source(src["name"])}, time.monotonic() - t0


@pytest.mark.parametrize("provider", PROVIDERS)
def test_private_ca_trusted_only_through_ca_bundle(provider, pki, request, monkeypatch):
    ca, _, _, other = pki
    with behind_tls(provider, pki, request, monkeypatch) as (_, front, src, truth):
        trusted, got, _ = collect({**src, "ca_bundle": str(ca)})
        assert trusted.state == "ok", trusted.error
        assert got == truth

        for label, settings in (("no ca_bundle", {}), ("another CA", {"ca_bundle": str(other)})):
            status, got, elapsed = collect({**src, **settings})
            assert status.state == "failed" and not got, (label, status.state)
            assert TLS_REASON.search(status.error), (label, status.error)
            assert "Traceback" not in status.error and "unexpected error" not in status.error
            assert elapsed < 5, f"{label}: {elapsed:.1f} s: a certificate failure must not be retried for long"
        assert front.wait_for_handshake_failures(2) >= 2    # the server really refused untrusted clients


ENV_CASES = [(p, v) for p in PROVIDERS for v in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")] + [("aws", "AWS_CA_BUNDLE")]


@pytest.mark.parametrize(("provider", "variable"), ENV_CASES, ids=[f"{p}-{v}" for p, v in ENV_CASES])
def test_ca_from_the_environment(provider, variable, pki, request, monkeypatch):
    ca = pki[0]
    with behind_tls(provider, pki, request, monkeypatch) as (_, _, src, truth):
        monkeypatch.setenv(variable, str(ca))
        status, got, _ = collect(src)
    assert status.state == "ok", status.error
    assert got == truth


@pytest.mark.parametrize("provider", PROVIDERS)
def test_https_proxy_and_no_proxy_are_honoured(provider, pki, request, monkeypatch):
    ca = pki[0]
    with behind_tls(provider, pki, request, monkeypatch) as (_, front, src, truth):
        src = {**src, "ca_bundle": str(ca)}
        proxy = ConnectProxy().start()
        try:
            monkeypatch.setenv("HTTPS_PROXY", proxy.url)
            status, got, _ = collect(src)
            assert status.state == "ok", status.error
            assert got == truth
            assert set(proxy.tunnels) == {f"localhost:{front.port}"}, proxy.tunnels

            proxy.tunnels.clear()
            monkeypatch.setenv("NO_PROXY", "localhost")
            status, got, _ = collect(src)
            assert status.state == "ok", status.error
            assert got == truth
            assert proxy.tunnels == []
        finally:
            proxy.stop()


def test_unreachable_proxy_is_a_clear_failure(pki, request, monkeypatch):
    """An HTTPS_PROXY that refuses connections: the source fails naming the network, not a traceback."""
    with behind_tls("npm", pki, request, monkeypatch) as (_, _, src, _):
        monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
        status, got, elapsed = collect({**src, "ca_bundle": str(pki[0]), "max_attempts": 2, "backoff": 0.05})
    assert status.state == "failed" and not got
    assert "network error" in status.error or "proxy" in status.error.lower(), status.error
    assert elapsed < 10


def test_cli_scan_without_the_ca_names_the_certificate_and_exits_3(pki, request, monkeypatch, tmp_path):
    with behind_tls("gitlab", pki, request, monkeypatch) as (_, _, src, _):
        lines = ["[[source]]"] + [f"{k} = {toml(v)}" for k, v in src.items()]
        cfg = tmp_path / "config.toml"
        cfg.write_text("\n".join(lines) + "\n")
        cfg.chmod(0o600)
        env = {k: v for k, v in os.environ.items() if k not in NETWORK_VARS and k != "NHITUI_DEBUG"}
        proc = subprocess.run([sys.executable, "-m", "nhitui", "--config", str(cfg), "scan", "--no-save",
                               "--format", "json"], capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 3, proc.stderr
    assert "Traceback" not in proc.stderr
    assert re.search(r"source acme-gitlab \(gitlab\): failed, 0 identities.* - TLS certificate verification "
                     r"failed for https://localhost:\d+: set ca_bundle", proc.stderr), proc.stderr


def test_there_is_no_switch_to_turn_verification_off(tmp_path):
    """`ca_bundle` is the only TLS setting: `verify`/`insecure`-style keys are config errors."""
    for key, value in (("verify", "false"), ("verify_ssl", "false"), ("insecure", "true"), ("ssl_verify", "false")):
        text = f'[[source]]\ntype = "npm"\nname = "n"\ntoken = "env:NPM_TOKEN"\n{key} = {value}\n'
        with pytest.raises(config_mod.ConfigError, match=rf":5: source\.{key}: unknown key"):
            config_mod.parse(text, "c.toml")


def toml(value: Any) -> str:
    import json

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml(v) for v in value) + "]"
    return json.dumps(str(value))
