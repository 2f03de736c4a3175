"""The whole delivery chain end to end: sandbox -> real connectors over HTTP -> core -> CLI."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from nhitui.collect import scan
from nhitui.model import make_uid
from nhitui.sandbox.chain import SOURCE_NAMES, Sandbox
from nhitui.sandbox.server import Knobs
from nhitui.sandbox.world import World

KINDS = {
    "github": {"deploy_key", "actions_secret", "dependabot_secret", "codespaces_secret", "agents_secret", "runner",
               "app_installation", "fine_grained_pat", "sso_credential", "webhook"},
    "gitlab": {"personal_access_token", "project_access_token", "group_access_token", "deploy_key",
               "deploy_token", "runner", "ci_variable", "trigger_token", "ssh_key", "agent_token"},
    "aws": {"iam_user", "access_key", "ssh_public_key", "signing_certificate", "iam_role", "oidc_provider", "secret"},
    "npm": {"npm_token"}, "dockerhub": {"dockerhub_token"}, "jfrog": {"jfrog_token"},
    "gcp": {"gcp_service_account", "sa_key", "wif_provider"},
    "azure": {"service_principal", "app_secret", "app_certificate", "federated_credential", "managed_identity"},
    "kubernetes": {"k8s_service_account", "k8s_token_secret"},
    "vault": {"vault_token", "approle_role", "approle_secret_id", "vault_auth_role"},
}
TINY = dict(repos=4, projects=4, iam_users=2, access_keys=2, roles=4, registry_tokens=2)


def run_cli(*args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nhitui", *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def demo_json(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("demo") / "demo.json"
    proc = run_cli("scan", "--demo", "--format", "json", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return json.loads(out.read_text())


def test_scan_demo_lists_every_kind_with_all_sources_ok(demo_json):
    assert {s["status"] for s in demo_json["sources"]} == {"ok"}
    seen: dict[str, set[str]] = {}
    for row in demo_json["identities"]:
        seen.setdefault(row["provider"], set()).add(row["kind"])
    for provider, kinds in KINDS.items():
        assert kinds <= seen.get(provider, set()), (provider, kinds - seen.get(provider, set()))


def test_demo_findings_carry_severity_explanation_and_owasp_tag(demo_json):
    details = [d for row in demo_json["identities"] for d in row["finding_details"]]
    assert details
    assert all(d["severity"] and d["explanation"] and d["owasp"].startswith("NHI") for d in details)


def test_fail_on_high_exits_4_and_filter_narrows(tmp_path):
    proc = run_cli("scan", "--demo", "--no-save", "--format", "csv", "--filter", "provider:npm", "--fail-on", "critical")
    lines = proc.stdout.strip().splitlines()
    assert lines[0].startswith("uid,source,provider,kind,name")
    assert all(",npm," in line for line in lines[1:]) and len(lines) > 1
    assert proc.returncode in (0, 4)
    proc = run_cli("scan", "--demo", "--no-save", "--format", "json", "--fail-on", "high")
    assert proc.returncode == 4, proc.stderr[-500:]
    assert "high finding" in proc.stderr or "critical finding" in proc.stderr


def test_bad_filter_is_a_usage_error_before_any_scan():
    proc = run_cli("scan", "--demo", "--filter", "age>soon")
    assert proc.returncode == 2 and "age>soon" in proc.stderr and "Traceback" not in proc.stderr


def test_world_ground_truth_every_identity_and_every_planted_finding():
    """Each seeded object is found with exactly the findings its generator planted, and no others."""
    world = World(seed=3)
    with Sandbox(world) as sandbox:
        inventory = scan(sandbox.sources())
    assert {s.state for s in inventory.statuses.values()} == {"ok"}
    got = {i.uid: set(i.finding_ids) for i in inventory.rows}
    expected = {make_uid(SOURCE_NAMES[e.provider], e.kind, e.native_id): set(e.findings) for e in world.expected}
    assert set(got) == set(expected)
    wrong = {uid: (expected[uid], got[uid]) for uid in expected if expected[uid] != got[uid]}
    assert not wrong


def test_faults_end_in_the_same_identities_or_a_partial_source():
    providers = ("github", "gitlab", "npm", "dockerhub", "jfrog")
    world_args = dict(seed=5, repos=12, projects=10, registry_tokens=8)
    with Sandbox(World(**world_args), providers=providers) as sandbox:
        clean = scan(sandbox.sources())
    faulty_knobs = Knobs(error_rate=0.1, throttle_rate=0.1, retry_after=0.1, seed=9)
    with Sandbox(World(**world_args), faulty_knobs, providers=providers) as sandbox:
        faulty = scan(sandbox.sources())
        injected = sum(sum(f.server.faults.faults.values()) for f in sandbox.fakes.values())
    assert injected > 10
    for name, status in faulty.statuses.items():
        before = {i.uid for i in clean.by_source(name)}
        after = {i.uid for i in faulty.by_source(name)}
        if status.state == "ok":
            assert after == before, name
        else:
            assert status.error or status.blind_spots, name   # never silently fewer


def _listening_ports() -> set[int]:
    return {c.laddr.port for c in psutil.Process().net_connections(kind="tcp") if c.status == "LISTEN"}


def test_start_stop_twenty_times_leaks_no_thread_process_or_port():
    before_threads = threading.active_count()
    before_children = len(psutil.Process().children(recursive=True))
    before_ports = _listening_ports()
    urls = []
    for n in range(20):
        with Sandbox(World(seed=n, **TINY)) as sandbox:
            urls += [f.server.url if hasattr(f, "server") else f.url for f in sandbox.fakes.values()]
    deadline = time.time() + 10
    while threading.active_count() > before_threads and time.time() < deadline:
        time.sleep(0.1)
    assert threading.active_count() <= before_threads
    assert len(psutil.Process().children(recursive=True)) == before_children
    assert _listening_ports() <= before_ports
    for url in urls[-6:]:
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        with socket.socket() as s:
            s.settimeout(1)
            assert s.connect_ex(("127.0.0.1", port)) != 0


def test_demo_config_holds_no_secret_value():
    with Sandbox(World(**TINY)) as sandbox:
        text = sandbox.config_text()
        path = sandbox.write_config()
        assert (Path(path).stat().st_mode & 0o777) == 0o600
        for value in os.environ.values():
            if len(value) > 12 and ("sandbox" in value or value.startswith(("ghp_", "glpat"))):
                assert value not in text


def test_demo_start_returns_before_aws_seeding_and_the_scan_waits_for_it():
    world = World(seed=4, **TINY)
    with Sandbox(world, wait=False) as sandbox:
        inventory = scan(sandbox.sources())
        assert sandbox.fakes["aws"].ready.is_set() and sandbox.fakes["aws"].seed_error is None
    aws = {i.uid for i in inventory.rows if i.provider == "aws"}
    expected = {make_uid(SOURCE_NAMES["aws"], e.kind, e.native_id) for e in world.expected_for("aws")}
    assert aws == expected and inventory.statuses["acme-aws"].state == "ok"
