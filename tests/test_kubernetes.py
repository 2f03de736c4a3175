"""Kubernetes connector against the fake API server: ground truth, never holding a token, kubeconfig auth
(exec plugins), pagination and its failure modes, blind spots, and actions that touch only their target."""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from connectors.base import AuthError, ConnectorError
from connectors.kubernetes import KubernetesConnector
from nhitui.model import Identity, iso, make_uid
from nhitui.policy import evaluate
from nhitui.sandbox.kubernetes import CANARY, CONTEXT, KubernetesFake, exec_user
from nhitui.sandbox.server import Knobs
from nhitui.sandbox.world import World

SCHEMAS = json.loads((Path(__file__).parent / "k8s_schemas" / "v1.33.json").read_text())


def validate(instance: Any, definition: str) -> None:
    """Validate against one definition (no meta-validation of the 200-definition document: slow)."""
    schema = {"$ref": f"#/$defs/{definition}", "$defs": SCHEMAS["$defs"]}
    jsonschema.Draft202012Validator(schema).validate(instance)
CANARY_FORMS = (CANARY, base64.b64encode(CANARY.encode()).decode(), CANARY.encode("utf-16-le").decode("latin-1"))


@pytest.fixture(scope="module")
def fake() -> Iterator[KubernetesFake]:
    f = KubernetesFake(World()).start()
    saved = {k: os.environ.get(k) for k in f.env}
    os.environ.update(f.env)
    yield f
    f.stop()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def collect(settings: dict[str, Any]) -> tuple[list[Identity], KubernetesConnector]:
    connector = KubernetesConnector(settings)

    async def run() -> list[Identity]:
        rows: list[Identity] = []
        async for batch in connector.collect():
            rows.extend(batch)
        return rows

    return asyncio.run(run()), connector


@pytest.fixture(scope="module")
def scanned(fake: KubernetesFake) -> tuple[list[Identity], KubernetesConnector]:
    rows, connector = collect(fake.source("k8s"))
    return rows, connector


def aws_admin_role(world: World) -> Identity:
    """The AWS role the AWS connector would report for the demo's admin role (details["arn"])."""
    from nhitui.sandbox.aws import plan_roles

    name = next(r.name for r in plan_roles(world) if r.privilege == "admin")
    arn = f"arn:aws:iam::{world.aws_account}:role/{name}"
    return Identity(uid=make_uid("aws", "iam_role", arn), source="aws", provider="aws", kind="iam_role", name=name,
                    privilege="admin", details={"arn": arn})


def field_of(identity: Identity, key: str) -> Any:
    value = getattr(identity, key) if hasattr(identity, key) else identity.details.get(key)
    if key.endswith("_at"):
        return value.strftime("%Y-%m-%d") if value is not None else None
    return value


def test_scan_lists_every_planted_identity_with_fields_privilege_links_and_findings(fake, scanned):
    rows, _ = scanned
    scored = {i.uid: i for i in evaluate(rows + [aws_admin_role(fake.world)])}
    expected = fake.world.expected_for("kubernetes")
    assert len(expected) > 20
    for e in expected:
        uid = make_uid("k8s", e.kind, e.native_id)
        assert uid in scored, uid
        got = scored[uid]
        for key, want in e.fields.items():
            assert field_of(got, key) == want, (uid, key, field_of(got, key), want)
        assert e.findings == set(got.finding_ids), (uid, e.findings, got.finding_ids)
    assert {make_uid("k8s", e.kind, e.native_id) for e in expected} == {i.uid for i in rows}
    # Links: a token points at its SA and the SA lists its tokens; the IRSA role is a cloud identity.
    token = scored[make_uid("k8s", "k8s_token_secret", f"{CONTEXT}/ci/ci-deployer-token")]
    sa = scored[token.details["service_account_uid"]]
    assert sa.name == "ci-deployer" and token.uid in sa.details["token_secrets"]
    assert [b["binding"] for b in sa.details["bindings"]] == ["ClusterRoleBinding/ci-deployer-admin"]
    assert token.last_used_at is not None and token.usage_tracked
    payments = scored[make_uid("k8s", "k8s_service_account", f"{CONTEXT}/payments/payments-api")]
    assert payments.details["cloud_identity"]["id"].endswith(":role/gha-org-wildcard")
    assert payments.details["mounted_by"] == [] and payments.details["used_by_count"] == 1
    argo = scored[make_uid("k8s", "k8s_service_account", f"{CONTEXT}/argocd/argocd-application-controller")]
    assert {u.split(" ")[0] for u in argo.details["mounted_by"]} == {
        "Pod/argocd-application-controller-0", "StatefulSet/argocd-application-controller"}
    # Only planted findings: a filler SA with no bindings has none, and privilege "none".
    quiet = [i for i in scored.values() if i.provider == "kubernetes" and i.name == "default"
             and i.details["namespace"] == "payments"]
    assert quiet and quiet[0].privilege == "none" and not quiet[0].findings


def test_cloud_admin_link_needs_the_cloud_identity_in_the_inventory(scanned):
    rows, _ = scanned
    infra = next(i for i in evaluate(rows) if i.name == "infra-admin")
    assert "k8s-cloud-admin-link" not in infra.finding_ids
    assert infra.details["cloud_identity"]["provider"] == "aws"


def test_source_details_name_what_the_cluster_cannot_show(fake, scanned):
    _, connector = scanned
    assert "EKS Pod Identity" in connector.report.facts["not_visible"]
    assert "annotation-free GKE" in connector.report.facts["not_visible"]
    assert connector.report.blind_spots == []          # a complete scan is "ok"
    assert connector.report.facts["legacy_token_tracking"] == fake.world.days_ago(400).strftime("%Y-%m-%d")
    assert connector.report.facts["server_versions"] == {CONTEXT: "v1.30.4"}


def test_secrets_are_asked_for_metadata_only(fake, scanned):
    accepts = fake.api.seen_accept["secrets"]
    assert accepts and all(a == "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1" for a in accepts)


# --- the fake's shapes against the Kubernetes OpenAPI schemas ---------------------------------------------

@pytest.mark.parametrize("path,definition", [
    ("/api/v1/serviceaccounts", "io.k8s.api.core.v1.ServiceAccountList"),
    ("/api/v1/secrets", "io.k8s.api.core.v1.SecretList"),
    ("/api/v1/pods", "io.k8s.api.core.v1.PodList"),
    ("/api/v1/namespaces", "io.k8s.api.core.v1.NamespaceList"),
    ("/apis/rbac.authorization.k8s.io/v1/clusterroles", "io.k8s.api.rbac.v1.ClusterRoleList"),
    ("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", "io.k8s.api.rbac.v1.ClusterRoleBindingList"),
    ("/apis/rbac.authorization.k8s.io/v1/roles", "io.k8s.api.rbac.v1.RoleList"),
    ("/apis/rbac.authorization.k8s.io/v1/rolebindings", "io.k8s.api.rbac.v1.RoleBindingList"),
    ("/apis/apps/v1/deployments", "io.k8s.api.apps.v1.DeploymentList"),
    ("/apis/apps/v1/statefulsets", "io.k8s.api.apps.v1.StatefulSetList"),
    ("/apis/apps/v1/daemonsets", "io.k8s.api.apps.v1.DaemonSetList"),
    ("/api/v1/namespaces/kube-system/configmaps/kube-apiserver-legacy-service-account-token-tracking",
     "io.k8s.api.core.v1.ConfigMap"),
    ("/api/v1/namespaces/ci/secrets/nope", "io.k8s.apimachinery.pkg.apis.meta.v1.Status"),
])
def test_fake_answers_match_the_openapi_schemas(fake, path, definition):
    body = fake_get(fake, path)
    validate(body, definition)


def test_partial_object_metadata_list_shape(fake):
    body = fake_get(fake, "/api/v1/secrets?fieldSelector=type%3Dkubernetes.io%2Fservice-account-token&limit=2",
                    accept="application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1")
    assert body["kind"] == "PartialObjectMetadataList" and body["apiVersion"] == "meta.k8s.io/v1"
    assert body["metadata"]["continue"] and len(body["items"]) == 2
    for item in body["items"]:
        assert set(item) == {"kind", "apiVersion", "metadata"} and item["kind"] == "PartialObjectMetadata"
        validate(item["metadata"], "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta")
    # Metadata can still carry a copy: kubectl's last-applied annotation (the connector drops it).
    for item in body["items"]:
        annotations = dict(item["metadata"].get("annotations") or {})
        annotations.pop("kubectl.kubernetes.io/last-applied-configuration", None)
        assert CANARY not in json.dumps({**item, "metadata": {**item["metadata"], "annotations": annotations}})


def fake_get(fake: KubernetesFake, path: str, accept: str = "application/json") -> Any:
    import urllib.error
    import urllib.request

    req = urllib.request.Request(fake.url + path, headers={"Authorization": f"Bearer {fake.token}", "Accept": accept})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:   # noqa: S310 - the local fake
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return json.loads(exc.read())


# --- never holding a token ----------------------------------------------------------------------------------

def grep_canary(text: str) -> list[str]:
    return [form for form in CANARY_FORMS if form in text]


def test_ignored_metadata_header_is_detected_and_values_never_kept(fake):
    fake.api.ignore_metadata_header = True
    try:
        rows, connector = collect(fake.source("k8s"))
    finally:
        fake.api.ignore_metadata_header = False
    spots = " ".join(f"{b.what} {b.reason}" for b in connector.report.blind_spots)
    assert "ignored the metadata-only Accept header" in spots
    assert any(i.name == "ci-deployer-token" for i in rows)
    dump = repr([(i, dict(i.details)) for i in rows]) + repr(connector.report)
    assert not grep_canary(dump)


def test_canary_absent_from_scan_exports_logs_journal_and_errors(fake, tmp_path):
    """The CLI end to end with DEBUG logging, on a server that ignores the metadata-only header."""
    config = tmp_path / "config.toml"
    source = fake.source("k8s")
    lines = [f"[journal]\npath = {json.dumps(str(tmp_path / 'journal.jsonl'))}\n",
             f"[history]\npath = {json.dumps(str(tmp_path / 'history.sqlite'))}\n", "[[source]]"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in source.items()]
    config.write_text("\n".join(lines) + "\n")
    config.chmod(0o600)
    env = {**os.environ, **fake.env}
    log = tmp_path / "debug.log"
    uid = make_uid("k8s", "k8s_token_secret", f"{CONTEXT}/ci/old-builder-token-q8z2n")
    # One interpreter runs the three commands (scan JSON, scan CSV, revoke) with DEBUG logging of every library.
    runs = [["--config", str(config), "scan", "--format", fmt, "-o", str(tmp_path / f"scan.{fmt}")]
            for fmt in ("json", "csv")] + [["--config", str(config), "revoke", uid, "--action", "delete", "--yes"]]
    script = ("import json, logging, sys; logging.basicConfig(filename=sys.argv[1], level=logging.DEBUG)\n"
              "from nhitui.cli import main\n"
              "codes = [main(args) for args in json.loads(sys.argv[2])]\n"
              "print('CODES', json.dumps(codes))\n")
    fake.api.ignore_metadata_header = True
    try:
        run = subprocess.run([sys.executable, "-c", script, str(log), json.dumps(runs)], capture_output=True,
                             text=True, env=env, timeout=180)
    finally:
        fake.api.ignore_metadata_header = False
    codes = json.loads(run.stdout.rsplit("CODES", 1)[1])
    assert codes == [3, 3, 0], run.stderr[-2000:]      # partial: the server ignored the metadata-only header
    outputs = [run.stdout, run.stderr, (tmp_path / "scan.json").read_text(), (tmp_path / "scan.csv").read_text()]
    scan = json.loads(outputs[2])
    assert any(i["name"] == "ci-deployer-token" for i in scan["identities"])
    assert [s["status"] for s in scan["sources"]] == ["partial"]
    journal = (tmp_path / "journal.jsonl").read_text()
    assert uid in journal and '"result"' in journal
    history = b"".join(p.read_bytes() for p in tmp_path.glob("history.sqlite*"))
    everything = "\n".join(outputs) + journal + log.read_text(errors="replace") + history.decode("latin-1")
    assert not grep_canary(everything)
    assert fake.store.get("", "secrets", "ci", "old-builder-token-q8z2n") is None
    fake.store.put("", "secrets", restore_old_builder(fake))


def restore_old_builder(fake: KubernetesFake) -> dict[str, Any]:
    from nhitui.sandbox.kubernetes.seed import TOKEN_TYPE

    return {"metadata": {"name": "old-builder-token-q8z2n", "namespace": "ci",
                         "creationTimestamp": iso(fake.world.days_ago(500)),
                         "annotations": {"kubernetes.io/service-account.name": "old-builder",
                                         "kubernetes.io/service-account.uid": "00000000-0000-4000-8000-0000deadbeef"}},
            "type": TOKEN_TYPE, "data": {"token": base64.b64encode(CANARY.encode()).decode()}}


# --- kubeconfig and credentials -----------------------------------------------------------------------------

PLUGIN_OK = """#!{python}
import json, os, sys
info = json.loads(os.environ["KUBERNETES_EXEC_INFO"])
print(json.dumps({{"apiVersion": info["apiVersion"], "kind": "ExecCredential",
                   "status": {{"token": {token!r}, "expirationTimestamp": "2099-01-01T00:00:00Z"}}}}))
"""
PLUGIN_FAIL = """#!{python}
import sys
sys.stderr.write("error: SSO session expired, run aws sso login\\n")
sys.exit(1)
"""
PLUGIN_EMPTY = """#!{python}
import json
print(json.dumps({{"apiVersion": "client.authentication.k8s.io/v1beta1", "kind": "ExecCredential", "status": {{}}}}))
"""


def write_plugin(tmp_path: Path, name: str, text: str, **kw: str) -> str:
    path = tmp_path / name
    path.write_text(text.format(python=sys.executable, **kw))
    path.chmod(0o700)
    return str(path)


@pytest.mark.parametrize("api_version", ["client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1"])
def test_exec_plugin_script_in_the_kubeconfig_authenticates(fake, tmp_path, api_version):
    plugin = write_plugin(tmp_path, "get-token", PLUGIN_OK, token=fake.token)
    path = fake.write_kubeconfig(tmp_path / "kubeconfig", {"eks": exec_user("", api_version, plugin, [])})
    rows, _ = collect({"type": "kubernetes", "name": "k8s", "kubeconfig": str(path), "contexts": ["eks"]})
    assert any(i.name == "ci-deployer" for i in rows)
    assert all(i.uid.split(":", 2)[2].startswith("eks/") for i in rows)


def test_failing_exec_plugin_is_a_clear_source_error_not_an_anonymous_request(fake, tmp_path):
    before = sum(fake.server.calls.values())
    for name, text, words in (("fail", PLUGIN_FAIL, "SSO session expired"),
                              ("empty", PLUGIN_EMPTY, "neither a token nor a certificate")):
        plugin = write_plugin(tmp_path, name, text)
        path = fake.write_kubeconfig(tmp_path / f"kubeconfig-{name}", {"eks": exec_user("", "client.authentication"
                                                                                          ".k8s.io/v1beta1", plugin, [])})
        with pytest.raises(AuthError) as err:
            collect({"type": "kubernetes", "name": "k8s", "kubeconfig": str(path)})
        assert "context eks" in str(err.value) and words in str(err.value)
    assert sum(fake.server.calls.values()) == before      # not one request went out unauthenticated


PLUGIN_COUNTING = """#!{python}
import json, os, sys
runs = {count!r}
n = len(open(runs).read()) if os.path.exists(runs) else 0
open(runs, "a").write("x")
if n >= {fail_after}:
    sys.stderr.write("error: refresh token revoked\\n")
    sys.exit(2)
expiry = "2000-01-01T00:00:00Z" if n == 0 else "2099-01-01T00:00:00Z"   # the first token is already stale
print(json.dumps({{"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
                   "status": {{"token": {token!r}, "expirationTimestamp": expiry}}}}))
"""


def test_expired_exec_token_is_refreshed_and_a_failed_refresh_is_an_auth_error(fake, tmp_path):
    count = tmp_path / "runs"
    plugin = write_plugin(tmp_path, "expiring", PLUGIN_COUNTING, token=fake.token, count=str(count), fail_after="99")
    path = fake.write_kubeconfig(tmp_path / "kc", {"eks": exec_user("", "client.authentication.k8s.io/v1", plugin, [])})
    rows, _ = collect({"type": "kubernetes", "name": "k8s", "kubeconfig": str(path)})
    assert rows and len(count.read_text()) == 2         # at connect, then once when its token was stale
    count.unlink()
    plugin = write_plugin(tmp_path, "expiring2", PLUGIN_COUNTING, token=fake.token, count=str(count), fail_after="1")
    path = fake.write_kubeconfig(tmp_path / "kc2", {"eks": exec_user("", "client.authentication.k8s.io/v1", plugin, [])})
    with pytest.raises(AuthError, match="failed to refresh the token: .*refresh token revoked"):
        collect({"type": "kubernetes", "name": "k8s", "kubeconfig": str(path)})


def test_refused_token_and_missing_kubeconfig_are_source_errors(fake, tmp_path):
    path = fake.write_kubeconfig(tmp_path / "kc", {"bad": {"token": "not-a-valid-token"}})
    with pytest.raises(AuthError, match="refused the credential"):
        collect({"type": "kubernetes", "name": "k8s", "kubeconfig": str(path)})
    with pytest.raises(ConnectorError, match="no such file"):
        collect({"type": "kubernetes", "name": "k8s", "kubeconfig": str(tmp_path / "absent")})
    with pytest.raises(ConnectorError, match="no context named 'nope'"):
        collect({"type": "kubernetes", "name": "k8s", "kubeconfig": str(path), "contexts": ["nope"]})


def test_kubeconfig_path_lists_merge_and_the_first_file_wins(fake, tmp_path, monkeypatch):
    first = fake.write_kubeconfig(tmp_path / "first", {"prod": {"token": fake.token}})
    second = fake.write_kubeconfig(tmp_path / "second", {"prod": {"token": "wrong"}, "other": {"token": "x"}})
    monkeypatch.setenv("KUBECONFIG", f"{first}{os.pathsep}{second}")
    rows, _ = collect({"type": "kubernetes", "name": "k8s", "contexts": ["prod"]})
    assert any(i.name == "ci-deployer" for i in rows)
    # Reversed, the second file's "prod" (a refused token) wins: both contexts fail, the source fails.
    with pytest.raises(ConnectorError, match="context prod: credential refused"):
        collect({"type": "kubernetes", "name": "k8s", "kubeconfig": f"{second}{os.pathsep}{first}",
                 "contexts": ["other", "prod"]})


def test_two_contexts_give_two_identity_sets_and_one_bad_context_is_a_blind_spot(fake, tmp_path):
    users = {"a": {"token": fake.token}, "b": {"token": fake.token}, "broken": {"token": "wrong"}}
    path = fake.write_kubeconfig(tmp_path / "kc", users)
    rows, connector = collect({"type": "kubernetes", "name": "k8s", "kubeconfig": str(path),
                               "contexts": ["a", "b", "broken"]})
    a = {i.uid.split(":", 2)[2].split("/", 1)[1] for i in rows if i.details["context"] == "a"}
    b = {i.uid.split(":", 2)[2].split("/", 1)[1] for i in rows if i.details["context"] == "b"}
    assert a and a == b
    assert any(s.what == "context broken" for s in connector.report.blind_spots)


# --- transport: pages, expired continue, APF, forbidden lists ----------------------------------------------

def test_small_pages_expired_continue_and_apf_429_give_the_same_inventory(fake, scanned):
    baseline = {i.uid for i in scanned[0]}
    fake.api.page_limit, fake.api.expire_continue = 3, 2
    fake.api.throttle_plain, fake.api.throttle_json, fake.api.retry_after = 2, 1, "0"
    try:
        rows, connector = collect(fake.source("k8s"))
    finally:
        fake.api.page_limit, fake.api.expire_continue = 500, 0
        fake.api.throttle_plain = fake.api.throttle_json = 0
        fake.api.retry_after = "1"
    assert {i.uid for i in rows} == baseline and len(rows) == len(baseline)
    assert connector.report.retries >= 5


def test_transient_faults_are_retried_into_the_same_inventory(scanned):
    """5xx, proxies' HTML pages, cut bodies and dropped connections (the shared fault knobs), on a new fake."""
    baseline = {i.uid for i in scanned[0]}
    knobs = Knobs(error_rate=0.25, html_error_rate=0.1, truncate_rate=0.1, reset_rate=0.1, seed=4, fault_limit=8)
    with KubernetesFake(World(), knobs) as f:
        rows, connector = collect(f.source("k8s"))
        injected = sum(f.server.faults.faults.values())
    assert injected >= 5 and connector.report.retries >= injected - 2
    assert {i.uid for i in rows} == baseline


def test_a_forbidden_list_is_a_blind_spot_naming_verb_resource_and_scope(fake):
    fake.api.deny = {("list", "clusterrolebindings"), ("list", "pods")}
    try:
        rows, connector = collect(fake.source("k8s"))
    finally:
        fake.api.deny = set()
    spots = {b.what: b.reason for b in connector.report.blind_spots}
    assert f"list clusterrolebindings.rbac.authorization.k8s.io at cluster scope (context {CONTEXT})" in spots
    assert "needs 'list clusterrolebindings.rbac.authorization.k8s.io' at cluster scope" in " ".join(spots.values())
    assert any("privilege" in w for w in spots) and any("pods and workloads" in w for w in spots)
    deployer = next(i for i in rows if i.name == "ci-deployer")
    assert deployer.details["privilege_unknown"] is True and deployer.details["rbac_visible"] is False


def test_namespaces_setting_limits_the_inventory(fake):
    rows, _ = collect({**fake.source("k8s"), "namespaces": ["ci"]})
    assert rows and {i.details["namespace"] for i in rows} == {"ci"}
    assert next(i for i in rows if i.name == "ci-deployer").privilege == "admin"   # ClusterRoleBindings still seen


# --- actions ------------------------------------------------------------------------------------------------

@pytest.fixture()
def fresh(tmp_path) -> Iterator[KubernetesFake]:
    f = KubernetesFake(World(seed=3)).start()
    saved = {k: os.environ.get(k) for k in f.env}
    os.environ.update(f.env)
    yield f
    f.stop()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def snapshot(fake: KubernetesFake) -> dict[Any, Any]:
    return copy.deepcopy(fake.store.objects)


def changed(before: dict[Any, Any], after: dict[Any, Any]) -> set[Any]:
    return {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}


def act(connector: KubernetesConnector, identity: Identity, action: str) -> Any:
    return asyncio.run(connector.execute(identity, action))


def test_actions_change_only_their_target(fresh):
    rows, connector = collect(fresh.source("k8s"))
    by = {(i.kind, i.details["namespace"], i.name): i for i in rows}
    token = by[("k8s_token_secret", "ci", "ci-deployer-token")]
    names = [a.name for a in connector.actions(token)]
    assert names == ["quarantine", "delete"]
    assert "ci-deployer" in connector.actions(token)[1].description and "last used" in connector.actions(token)[1].description

    before = snapshot(fresh)
    result = act(connector, token, "quarantine")
    assert result.state == "ok" and result.identity.status == "inactive"
    assert changed(before, snapshot(fresh)) == {("", "secrets", "ci", "ci-deployer-token")}
    labels = fresh.store.get("", "secrets", "ci", "ci-deployer-token")["metadata"]["labels"]
    assert "kubernetes.io/legacy-token-invalid-since" in labels
    assert [a.name for a in connector.actions(result.identity)] == ["restore", "delete"]
    assert act(connector, result.identity, "restore").state == "ok"
    assert "kubernetes.io/legacy-token-invalid-since" not in fresh.store.get(
        "", "secrets", "ci", "ci-deployer-token")["metadata"]["labels"]

    sa = by[("k8s_service_account", "ci", "ci-deployer")]
    assert [a.name for a in connector.actions(sa)] == ["disable-automount",
                                                       "delete-binding:ClusterRoleBinding/ci-deployer-admin"]
    before = snapshot(fresh)
    assert act(connector, sa, "disable-automount").state == "ok"
    assert changed(before, snapshot(fresh)) == {("", "serviceaccounts", "ci", "ci-deployer")}
    assert fresh.store.get("", "serviceaccounts", "ci", "ci-deployer")["automountServiceAccountToken"] is False

    before = snapshot(fresh)
    result = act(connector, sa, "delete-binding:ClusterRoleBinding/ci-deployer-admin")
    assert result.state == "ok" and result.identity.privilege == "none"
    assert changed(before, snapshot(fresh)) == {("rbac.authorization.k8s.io", "clusterrolebindings", "",
                                                 "ci-deployer-admin")}

    bot = by[("k8s_service_account", "ci", "release-bot")]
    unbind = "unbind:RoleBinding/ci/ci-shared-read"
    assert unbind in [a.name for a in connector.actions(bot)]
    before = snapshot(fresh)
    assert act(connector, bot, unbind).state == "ok"
    key = ("rbac.authorization.k8s.io", "rolebindings", "ci", "ci-shared-read")
    assert changed(before, snapshot(fresh)) == {key}
    assert fresh.store.objects[key]["subjects"] == [{"kind": "ServiceAccount", "name": "gitlab-runner",
                                                     "namespace": "ci"}]
    # The binding changed since the scan: the JSON patch's test refuses to remove someone else.
    assert act(connector, bot, unbind).state == "failed"

    before = snapshot(fresh)
    result = act(connector, token, "delete")
    assert result.state == "ok" and result.removed
    assert changed(before, snapshot(fresh)) == {("", "secrets", "ci", "ci-deployer-token")}
    assert act(connector, token, "delete").state == "already-absent"


def test_read_only_context_cannot_act_and_old_servers_get_no_quarantine(fresh):
    settings = fresh.source("k8s", readonly=True)
    rows, connector = collect(settings)
    token = next(i for i in rows if i.name == "gitlab-runner-token-7xk2p")
    before = snapshot(fresh)
    result = act(connector, token, "delete")
    assert result.state == "failed" and result.status_code == 403 and "forbidden" in result.message
    assert changed(before, snapshot(fresh)) == set()
    fresh.api.version = "v1.28.9"
    rows, connector = collect(settings)
    token = next(i for i in rows if i.name == "gitlab-runner-token-7xk2p")
    assert [a.name for a in connector.actions(token)] == ["delete"]
    system = next(i for i in rows if i.name == "deployment-controller")
    assert connector.actions(system) == []



# --- TLS: CA data and client certificates from the kubeconfig -----------------------------------------------

def _pem_pair(subject: str, issuer: tuple[Any, Any] | None, ca: bool = False, ip: str = "") -> tuple[Any, Any]:
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    issuer_cert, issuer_key = issuer if issuer else (None, key)
    now = dt.datetime.now(dt.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(name)
               .issuer_name(issuer_cert.subject if issuer_cert else name).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(hours=1))
               .not_valid_after(now + dt.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ip:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]),
                                        critical=False)
    return builder.sign(issuer_key, hashes.SHA256()), key


def _pem(cert: Any, key: Any) -> tuple[bytes, bytes]:
    from cryptography.hazmat.primitives import serialization

    return (cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()))


def test_ca_data_and_client_certificate_from_the_kubeconfig(fake, tmp_path):
    import ssl
    import threading

    from werkzeug.serving import make_server

    ca = _pem_pair("test-ca", None, ca=True)
    server_cert, server_key = _pem(*_pem_pair("apiserver", ca, ip="127.0.0.1"))
    client_cert, client_key = _pem(*_pem_pair("system:serviceaccount:nhi:scanner", ca))
    ca_pem = _pem(*ca)[0]
    (tmp_path / "server.pem").write_bytes(server_cert)
    (tmp_path / "server.key").write_bytes(server_key)
    (tmp_path / "ca.pem").write_bytes(ca_pem)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "server.pem", tmp_path / "server.key")
    context.verify_mode = ssl.CERT_REQUIRED             # no client certificate, no handshake
    context.load_verify_locations(tmp_path / "ca.pem")
    server = make_server("127.0.0.1", 0, fake.api.app, threaded=True, ssl_context=context)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    b64 = lambda data: base64.b64encode(data).decode()  # noqa: E731
    try:
        url = f"https://127.0.0.1:{server.server_port}"

        def kubeconfig(name: str, user: dict[str, Any], ca_data: bytes = ca_pem) -> str:
            cfg = {"apiVersion": "v1", "kind": "Config", "current-context": "tls",
                   "clusters": [{"name": "tls", "cluster": {"server": url, "certificate-authority-data": b64(ca_data)}}],
                   "users": [{"name": "u", "user": user}],
                   "contexts": [{"name": "tls", "context": {"cluster": "tls", "user": "u"}}]}
            path = tmp_path / name
            path.write_text(json.dumps(cfg))                # JSON is YAML
            return str(path)

        with_cert = {"token": fake.token, "client-certificate-data": b64(client_cert),
                     "client-key-data": b64(client_key)}
        rows, _ = collect({"type": "kubernetes", "name": "k8s", "kubeconfig": kubeconfig("ok", with_cert)})
        assert any(i.name == "ci-deployer" for i in rows)
        with pytest.raises(ConnectorError, match="network error"):
            collect({"type": "kubernetes", "name": "k8s", "kubeconfig": kubeconfig("nocert", {"token": fake.token})})
        other_ca = _pem(*_pem_pair("other-ca", None, ca=True))[0]
        with pytest.raises(ConnectorError, match="TLS certificate not trusted"):
            collect({"type": "kubernetes", "name": "k8s", "kubeconfig": kubeconfig("badca", with_cert, other_ca)})
    finally:
        server.shutdown()
        thread.join(timeout=5)
