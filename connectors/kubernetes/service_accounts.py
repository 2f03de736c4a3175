"""Service accounts (`k8s_service_account`): who runs as them, whether pods mount their token, what RBAC
gives them, and which cloud identity they are annotated to.

Lists: `/api/v1/serviceaccounts`, `/api/v1/pods` and the pod templates of Deployments, StatefulSets,
DaemonSets, Jobs and CronJobs (all namespaces, or each configured namespace). Pod specs are read for
`serviceAccountName` and `automountServiceAccountToken` only; nothing else of them is kept (env values
may hold secrets).

Effective automount of a pod = the pod's field if set, else the SA's, else true. An SA reports
`automount` (its own field), `mounted_by` (pods/workloads whose effective value is true) and
`automount_effective` (true when any user mounts it; with no user, what a new pod would get).
Bound (projected) tokens are neither stored nor listable, so usage is unknown (`usage_tracked` false).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from connectors.kubernetes.rbac import Rbac, summarize
from nhitui.model import Identity, make_uid, sanitize, utc

KIND = "k8s_service_account"
CLOUD_ANNOTATIONS = {
    "eks.amazonaws.com/role-arn": "aws",
    "iam.gke.io/gcp-service-account": "gcp",
    "azure.workload.identity/client-id": "azure",
}
KEPT_ANNOTATIONS = (*CLOUD_ANNOTATIONS, "azure.workload.identity/tenant-id", "eks.amazonaws.com/audience")
# (group, resource, path to the pod spec inside the object)
WORKLOADS = (
    ("apps", "deployments", ("spec", "template", "spec"), "Deployment"),
    ("apps", "statefulsets", ("spec", "template", "spec"), "StatefulSet"),
    ("apps", "daemonsets", ("spec", "template", "spec"), "DaemonSet"),
    ("batch", "jobs", ("spec", "template", "spec"), "Job"),
    ("batch", "cronjobs", ("spec", "jobTemplate", "spec", "template", "spec"), "CronJob"),
)


@dataclass
class Users:
    """Who runs as each SA: `(ns, sa) -> [(label, effective automount or None when it follows the SA)]`."""

    by_sa: dict[tuple[str, str], list[tuple[str, bool | None]]] = field(default_factory=lambda: defaultdict(list))

    def add(self, label: str, namespace: str, spec: Any) -> None:
        if not isinstance(spec, Mapping):
            return
        sa = str(spec.get("serviceAccountName") or spec.get("serviceAccount") or "default")
        pod_value = spec.get("automountServiceAccountToken")
        self.by_sa[(namespace, sa)].append((label, pod_value if isinstance(pod_value, bool) else None))


def _dig(obj: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        obj = obj.get(key) if isinstance(obj, Mapping) else None
    return obj


def collect_users(pods: list[dict[str, Any]], workloads: Mapping[str, list[dict[str, Any]]]) -> Users:
    users = Users()
    for pod in pods:
        meta = pod.get("metadata") or {}
        owners = [o for o in meta.get("ownerReferences") or [] if isinstance(o, Mapping) and o.get("controller")]
        if owners and owners[0].get("kind") in ("ReplicaSet", "StatefulSet", "DaemonSet", "Job"):
            label = f"Pod/{meta.get('name')} ({owners[0].get('kind')}/{owners[0].get('name')})"
        else:
            label = f"Pod/{meta.get('name')}"
        users.add(label, str(meta.get("namespace") or ""), pod.get("spec"))
    for _, resource, path, kind in WORKLOADS:
        for obj in workloads.get(resource, ()):
            meta = obj.get("metadata") or {}
            users.add(f"{kind}/{meta.get('name')}", str(meta.get("namespace") or ""), _dig(obj, path))
    return users


def cloud_identity(annotations: Mapping[str, Any]) -> dict[str, str] | None:
    for key, provider in CLOUD_ANNOTATIONS.items():
        value = annotations.get(key)
        if isinstance(value, str) and value.strip():
            return {"provider": provider, "id": sanitize(value.strip())}
    return None


@dataclass
class Place:
    """Where identities of one context live: source, context, cluster."""

    source: str
    context: str
    cluster: str

    def uid(self, kind: str, namespace: str, name: str) -> str:
        return make_uid(self.source, kind, f"{self.context}/{namespace}/{name}")

    def target(self, namespace: str) -> str:
        return f"{self.cluster}/{namespace}"


def build(place: Place, items: list[dict[str, Any]], users: Users, rbac: Rbac | None,
          tokens_by_sa: Mapping[tuple[str, str], list[str]]) -> list[Identity]:
    """One Identity per ServiceAccount object."""
    out = []
    for sa in items:
        meta = sa.get("metadata") or {}
        ns, name = str(meta.get("namespace") or ""), str(meta.get("name") or "")
        if not name:
            continue
        annotations = meta.get("annotations") if isinstance(meta.get("annotations"), Mapping) else {}
        labels = meta.get("labels") if isinstance(meta.get("labels"), Mapping) else {}
        own = sa.get("automountServiceAccountToken")
        own = own if isinstance(own, bool) else None
        default = True if own is None else own
        running = users.by_sa.get((ns, name), [])
        mounted_by = [label for label, value in running if (default if value is None else value)]
        effective = bool(mounted_by) if running else default
        grants = rbac.grants(ns, name) if rbac is not None else []
        privilege, scopes, reasons = summarize(grants)
        details: dict[str, Any] = {
            "context": place.context, "cluster": place.cluster, "namespace": ns, "k8s_uid": meta.get("uid"),
            "resource_version": meta.get("resourceVersion"), "automount": own, "automount_effective": effective,
            "mounted_by": mounted_by[:50], "used_by": [label for label, _ in running][:50],
            "used_by_count": len(running), "bindings": [g.as_dict() for g in grants], "privilege_reasons": reasons,
            "rbac_visible": rbac is not None,
            "annotations": {k: sanitize(annotations[k]) for k in KEPT_ANNOTATIONS if k in annotations},
            "token_secrets": list(tokens_by_sa.get((ns, name), ())),
            "secret_refs": [str(s.get("name")) for s in sa.get("secrets") or [] if isinstance(s, Mapping)],
            "image_pull_secrets": [sanitize(s.get("name")) for s in sa.get("imagePullSecrets") or []
                                   if isinstance(s, Mapping)],
            "system": ns == "kube-system",
        }
        cloud = cloud_identity(annotations)
        if cloud:
            details["cloud_identity"] = cloud
        managed = labels.get("app.kubernetes.io/managed-by")
        out.append(Identity(
            uid=place.uid(KIND, ns, name), source=place.source, provider="kubernetes", kind=KIND, name=name,
            owner=str(managed or ""), target=place.target(ns), scopes=scopes, privilege=privilege,
            created_at=utc(meta.get("creationTimestamp")), status="active", credential="ephemeral",
            usage_tracked=False, details=details))
    return out
