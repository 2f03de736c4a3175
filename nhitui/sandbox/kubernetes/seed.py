"""The demo cluster: what a delivery chain leaves in Kubernetes, with the ground truth recorded.

Planted on purpose: a CI deployer service account bound to cluster-admin with a manual legacy token
last used 200 days ago; an Argo CD application controller with a `*` ClusterRole and a cluster
secret; a service account annotated to the demo AWS role whose OIDC trust has a wildcard subject,
another to the AWS admin role; a legacy token of a deleted service account; the `default` SA of a
namespace bound to the aggregated `edit` role (whose rules the fake leaves empty, as a stale
aggregation controller would, so the connector must aggregate); a group binding to
`system:serviceaccounts:monitoring`. Every Secret holds `CANARY` as its token, a pod holds it in an
env value and a Secret's last-applied annotation holds a copy: none may reach any output.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone
from typing import Any

from nhitui.sandbox.kubernetes.api import Store
from nhitui.sandbox.world import SERVICES, World

CANARY = "CANARY-k8s-token-9c41"
RBAC = "rbac.authorization.k8s.io"
TOKEN_TYPE = "kubernetes.io/service-account-token"
AGG = "rbac.authorization.k8s.io/aggregate-to-"


def _ts(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _meta(name: str, ns: str, created: datetime, labels: dict[str, str] | None = None,
          annotations: dict[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "creationTimestamp": _ts(created)}
    if ns:
        meta["namespace"] = ns
    if labels:
        meta["labels"] = labels
    if annotations:
        meta["annotations"] = annotations
    return meta


def _rule(groups: list[str], resources: list[str], verbs: list[str]) -> dict[str, Any]:
    return {"apiGroups": groups, "resources": resources, "verbs": verbs}


def _sa_subject(ns: str, name: str) -> dict[str, str]:
    return {"kind": "ServiceAccount", "name": name, "namespace": ns}


class Seeder:
    """Fills a `Store` from a `World`; `expect` records the ground truth under the context's uids."""

    def __init__(self, store: Store, world: World, context: str, cluster: str, namespaces: int,
                 service_accounts: int, token_secrets: int, bindings: int, record: bool) -> None:
        self.s = store
        self.w = world
        self.context = context
        self.cluster = cluster
        self.rng = world.rng_for("kubernetes")
        self.record = record
        self.scale = (namespaces, service_accounts, token_secrets, bindings)
        self.sa_uids: dict[tuple[str, str], str] = {}
        self.expected: dict[tuple[str, str], tuple[set[str], dict[str, Any]]] = {}

    def expect(self, kind: str, ns: str, name: str, findings: set[str] | None = None, **fields: Any) -> None:
        # Kept here until the end of `run` so a later, more precise record replaces an earlier one.
        self.expected[(kind, f"{self.context}/{ns}/{name}")] = (findings or set(),
                                                                {"name": name, "target": f"{self.cluster}/{ns}", **fields})

    # --- object builders ----------------------------------------------------------------------------

    def ns(self, name: str, days: float = 900) -> None:
        self.s.put("", "namespaces", {"metadata": _meta(name, "", self.w.days_ago(days))})
        self.sa(name, "default", days=days)

    def sa(self, ns: str, name: str, days: float = 300, annotations: dict[str, str] | None = None,
           automount: bool | None = None, secrets: list[str] | None = None, expect: bool = True,
           **fields: Any) -> None:
        obj: dict[str, Any] = {"metadata": _meta(name, ns, self.w.days_ago(days), annotations=annotations)}
        if automount is not None:
            obj["automountServiceAccountToken"] = automount
        if secrets:
            obj["secrets"] = [{"name": s} for s in secrets]
        self.s.put("", "serviceaccounts", obj)
        self.sa_uids[(ns, name)] = obj["metadata"]["uid"]
        if expect:
            self.expect("k8s_service_account", ns, name, **fields)

    def token(self, ns: str, name: str, sa: str, days: float, last_used_days: float | None = None,
              sa_uid: str | None = None, extra_annotations: dict[str, str] | None = None) -> None:
        labels = {}
        if last_used_days is not None:
            labels["kubernetes.io/legacy-token-last-used"] = self.w.days_ago(last_used_days).strftime("%Y-%m-%d")
        annotations = {"kubernetes.io/service-account.name": sa,
                       "kubernetes.io/service-account.uid": sa_uid or self.sa_uids.get((ns, sa), "gone"),
                       **(extra_annotations or {})}
        data = {"token": base64.b64encode(CANARY.encode()).decode(), "ca.crt": "LS0tLS1CRUdJTg==",
                "namespace": base64.b64encode(ns.encode()).decode()}
        self.s.put("", "secrets", {"metadata": _meta(name, ns, self.w.days_ago(days), labels, annotations),
                                   "type": TOKEN_TYPE, "data": data})

    def role(self, name: str, rules: list[dict[str, Any]], ns: str = "", labels: dict[str, str] | None = None,
             aggregate: list[str] | None = None) -> None:
        obj: dict[str, Any] = {"metadata": _meta(name, ns, self.w.days_ago(800), labels), "rules": rules}
        if aggregate:
            obj["aggregationRule"] = {"clusterRoleSelectors": [{"matchLabels": {f"{AGG}{a}": "true"}}
                                                               for a in aggregate]}
            obj["rules"] = []
        self.s.put(RBAC, "roles" if ns else "clusterroles", obj)

    def bind(self, name: str, role: str, subjects: list[dict[str, str]], ns: str = "",
             role_kind: str = "ClusterRole") -> None:
        obj = {"metadata": _meta(name, ns, self.w.days_ago(600)),
               "roleRef": {"apiGroup": RBAC, "kind": role_kind, "name": role}, "subjects": subjects}
        self.s.put(RBAC, "rolebindings" if ns else "clusterrolebindings", obj)

    def pod(self, ns: str, name: str, sa: str, automount: bool | None = None,
            env: list[dict[str, str]] | None = None, owner: str = "") -> None:
        spec: dict[str, Any] = {"serviceAccountName": sa, "containers": [
            {"name": "main", "image": "registry.example/app:1", "env": env or []}]}
        if automount is not None:
            spec["automountServiceAccountToken"] = automount
        meta = _meta(name, ns, self.w.days_ago(3))
        if owner:
            meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": owner,
                                        "uid": "00000000-0000-4000-8000-ffffffffffff", "controller": True}]
        self.s.put("", "pods", {"metadata": meta, "spec": spec, "status": {"phase": "Running"}})

    def workload(self, group: str, resource: str, ns: str, name: str, sa: str, automount: bool | None = None) -> None:
        tspec: dict[str, Any] = {"serviceAccountName": sa,
                                 "containers": [{"name": "main", "image": "registry.example/app:1"}]}
        if automount is not None:
            tspec["automountServiceAccountToken"] = automount
        template = {"metadata": {"labels": {"app": name}}, "spec": tspec}
        if resource == "cronjobs":
            spec: dict[str, Any] = {"schedule": "0 3 * * *", "jobTemplate": {"spec": {"template": template}}}
        else:
            spec = {"selector": {"matchLabels": {"app": name}}, "template": template}
        self.s.put(group, resource, {"metadata": _meta(name, ns, self.w.days_ago(30)), "spec": spec})

    # --- the cluster --------------------------------------------------------------------------------

    def run(self, wildcard_role_arn: str, admin_role_arn: str | None) -> None:
        """Seed everything; `admin_role_arn` None: the AWS world has no admin role (no link to plant)."""
        w = self.w
        for name in ("kube-system", "default", "ci", "argocd", "monitoring", "legacy", "payments", "infra"):
            self.ns(name)
        self.s.put("", "configmaps", {
            "metadata": _meta("kube-apiserver-legacy-service-account-token-tracking", "kube-system",
                              w.days_ago(400)),
            "data": {"since": w.days_ago(400).strftime("%Y-%m-%d")}})
        self.roles()
        # CI deployer: cluster-admin and a manual legacy token, last used 200 days ago.
        self.sa("ci", "ci-deployer", days=700, privilege="admin", credential="ephemeral",
                findings={"admin-scope", "k8s-cluster-admin-sa", "k8s-automount-privileged"})
        self.bind("ci-deployer-admin", "cluster-admin", [_sa_subject("ci", "ci-deployer")])
        self.token("ci", "ci-deployer-token", "ci-deployer", days=690, last_used_days=200,
                   extra_annotations={"kubectl.kubernetes.io/last-applied-configuration": json.dumps(
                       {"apiVersion": "v1", "kind": "Secret", "stringData": {"token": CANARY}})})
        self.expect("k8s_token_secret", "ci", "ci-deployer-token", {"admin-scope", "stale-unused", "old-rotation"},
                    privilege="admin", credential="static", status="active", owner="ci-deployer",
                    last_used_at=w.days_ago(200).strftime("%Y-%m-%d"))
        # A runner with an auto-generated token (listed in the SA's secrets), in use.
        self.role("runner", [_rule([""], ["configmaps", "pods/log"], ["get", "list", "watch"])], ns="ci")
        self.sa("ci", "gitlab-runner", days=500, secrets=["gitlab-runner-token-7xk2p"], privilege="read")
        self.bind("gitlab-runner", "runner", [_sa_subject("ci", "gitlab-runner")], ns="ci", role_kind="Role")
        self.token("ci", "gitlab-runner-token-7xk2p", "gitlab-runner", days=500, last_used_days=2)
        self.expect("k8s_token_secret", "ci", "gitlab-runner-token-7xk2p", {"old-rotation"}, privilege="read",
                    owner="gitlab-runner", auto_generated=True)
        # The legacy token of a service account that was deleted.
        self.token("ci", "old-builder-token-q8z2n", "old-builder", days=500,
                   sa_uid="00000000-0000-4000-8000-0000deadbeef")
        self.expect("k8s_token_secret", "ci", "old-builder-token-q8z2n", {"k8s-token-of-deleted-sa"},
                    status="inactive", privilege="none", owner="old-builder")
        # A manual token nobody has used since tracking began (no last-used label).
        self.sa("ci", "release-bot", days=600, privilege="read")
        self.token("ci", "release-bot-token", "release-bot", days=550)
        self.bind("ci-shared-read", "runner", [_sa_subject("ci", "gitlab-runner"), _sa_subject("ci", "release-bot")],
                  ns="ci", role_kind="Role")
        self.expect("k8s_token_secret", "ci", "release-bot-token", {"k8s-legacy-token-unused", "old-rotation"},
                    owner="release-bot", last_used_at=None, usage_tracked=False,
                    unused_since=w.days_ago(400).strftime("%Y-%m-%d"))
        # Argo CD: a `*` controller, a server with an env secret in its pod, a remote cluster secret.
        self.sa("argocd", "argocd-application-controller", days=400, privilege="admin", automount_effective=True,
                findings={"admin-scope", "k8s-automount-privileged"})
        self.bind("argocd-application-controller", "argocd-application-controller",
                  [_sa_subject("argocd", "argocd-application-controller")])
        self.workload("apps", "statefulsets", "argocd", "argocd-application-controller",
                      "argocd-application-controller")
        self.pod("argocd", "argocd-application-controller-0", "argocd-application-controller")
        self.sa("argocd", "argocd-server", days=400, privilege="write")
        self.bind("argocd-server", "argocd-server", [_sa_subject("argocd", "argocd-server")], ns="argocd")
        self.workload("apps", "deployments", "argocd", "argocd-server", "argocd-server")
        self.pod("argocd", "argocd-server-5f7c9-x2x9z", "argocd-server", owner="argocd-server-5f7c9",
                 env=[{"name": "ADMIN_PASSWORD", "value": CANARY}])
        self.s.put("", "secrets", {
            "metadata": _meta("cluster-prod-us", "argocd", w.days_ago(250),
                              {"argocd.argoproj.io/secret-type": "cluster"}),
            "type": "Opaque", "data": {"name": base64.b64encode(b"prod-us").decode(),
                                       "config": base64.b64encode(json.dumps({"bearerToken": CANARY}).encode()).decode()}})
        self.expect("k8s_token_secret", "argocd", "cluster-prod-us", set(), argocd_cluster=True, credential="static")
        # Cloud links: the AWS role with a wildcard OIDC trust, the AWS admin role, GKE and Azure.
        self.sa("payments", "payments-api", days=200, automount=True, credential="ephemeral",
                annotations={"eks.amazonaws.com/role-arn": wildcard_role_arn}, automount_effective=False,
                cloud_identity={"provider": "aws", "id": wildcard_role_arn})
        self.pod("payments", "payments-api-7d9f-abcde", "payments-api", automount=False)
        admin_arn = admin_role_arn or f"arn:aws:iam::{w.aws_account}:role/OrganizationAdmin"
        self.sa("infra", "infra-admin", days=300, automount=False, credential="ephemeral",
                annotations={"eks.amazonaws.com/role-arn": admin_arn}, cloud_identity={"provider": "aws", "id": admin_arn},
                findings={"k8s-cloud-admin-link"} if admin_role_arn else set())
        gsa = f"exporter@{w.org}-prod.iam.gserviceaccount.com"
        self.sa("infra", "gke-exporter", days=100, annotations={"iam.gke.io/gcp-service-account": gsa},
                cloud_identity={"provider": "gcp", "id": gsa}, credential="ephemeral")
        client_id = "11111111-2222-4333-8444-555555555555"
        self.sa("infra", "aks-sync", days=100, annotations={"azure.workload.identity/client-id": client_id},
                cloud_identity={"provider": "azure", "id": client_id}, credential="ephemeral")
        # The default SA of a namespace bound to the aggregated `edit` role.
        self.bind("default-edit", "edit", [_sa_subject("legacy", "default")], ns="legacy")
        self.expect("k8s_service_account", "legacy", "default", {"admin-scope", "k8s-default-sa-bound",
                                                                 "k8s-automount-privileged"}, privilege="admin")
        # Read for every SA of a namespace through its group.
        self.sa("monitoring", "prometheus", days=365, privilege="read")
        self.expect("k8s_service_account", "monitoring", "default", privilege="read")
        self.bind("monitoring-view", "view", [{"kind": "Group", "apiGroup": RBAC,
                                               "name": "system:serviceaccounts:monitoring"}])
        self.workload("apps", "daemonsets", "monitoring", "node-exporter", "prometheus")
        for name in ("deployment-controller", "generic-garbage-collector"):
            self.sa("kube-system", name, days=900, system=True)
        self.filler()
        if self.record:
            for (kind, native), (findings, fields) in self.expected.items():
                w.expect("kubernetes", kind, native, findings, **fields)

    def roles(self) -> None:
        self.role("cluster-admin", [_rule(["*"], ["*"], ["*"]), {"nonResourceURLs": ["*"], "verbs": ["*"]}])
        self.role("admin", [], aggregate=["admin"])
        self.role("edit", [], aggregate=["edit"])
        self.role("view", [], aggregate=["view"])
        self.role("system:aggregate-to-view", [_rule(["", "apps", "batch"], ["pods", "configmaps", "services",
                                                                             "deployments", "jobs"],
                                                     ["get", "list", "watch"])],
                  labels={f"{AGG}view": "true", f"{AGG}edit": "true", f"{AGG}admin": "true"})
        self.role("system:aggregate-to-edit", [
            _rule([""], ["secrets", "pods", "configmaps"], ["create", "delete", "get", "list", "patch", "update",
                                                            "watch"]),
            _rule(["apps"], ["deployments", "statefulsets"], ["create", "delete", "patch", "update"])],
            labels={f"{AGG}edit": "true", f"{AGG}admin": "true"})
        self.role("system:aggregate-to-admin", [_rule([RBAC], ["roles", "rolebindings"], ["create", "delete",
                                                                                        "update", "patch"])],
                  labels={f"{AGG}admin": "true"})
        self.role("argocd-application-controller", [_rule(["*"], ["*"], ["*"])])
        self.role("argocd-server", [_rule(["argoproj.io"], ["applications", "appprojects"],
                                          ["create", "get", "list", "watch", "update", "delete", "patch"]),
                                    _rule([""], ["events"], ["create", "list"])])

    def filler(self) -> None:
        namespaces, per_ns, tokens, bindings = self.scale
        made = 0
        for n in range(namespaces):
            ns = f"team-{SERVICES[n % len(SERVICES)]}-{n}"
            self.ns(ns, days=600 - n)
            self.role("deployer", [_rule(["apps"], ["deployments"], ["get", "list", "create", "update", "patch"])], ns)
            self.role("reader", [_rule([""], ["configmaps"], ["get", "list"])], ns)
            for j in range(per_ns):
                name = f"svc-{SERVICES[(n + j) % len(SERVICES)]}-{j}"
                priv = "none"
                if made < bindings:
                    kind = "deployer" if j % 2 == 0 else "reader"
                    self.bind(f"{name}-{kind}", kind, [_sa_subject(ns, name)], ns=ns, role_kind="Role")
                    priv = "write" if kind == "deployer" else "read"
                    made += 1
                self.sa(ns, name, days=self.rng.randint(10, 700), privilege=priv)
                if j % 3 == 0:
                    self.pod(ns, f"{name}-0", name)
                for t in range(tokens):
                    used = self.rng.choice([None, 1, 30, 120])
                    days = self.rng.choice([10, 45, 200, 380, 420, 700])
                    self.token(ns, f"{name}-token-{t}", name, days=days, last_used_days=used)
                    self.expect("k8s_token_secret", ns, f"{name}-token-{t}", _token_findings(days, used),
                                privilege=priv, owner=name)


def _token_findings(days: int, used: int | None) -> set[str]:
    """What the default policy finds on a filler token (tracking began 400 days ago; no boundary values)."""
    found = {"old-rotation"} if days > 365 else set()
    if used is not None:
        return found | ({"stale-unused"} if used >= 90 else set())
    if days < 400:
        return found | ({"never-used"} if days >= 30 else set())
    return found | {"k8s-legacy-token-unused"}
