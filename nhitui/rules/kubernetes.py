"""Risk rules that only kubernetes identities can trip (the shared rules in nhitui.policy apply too).

The connector puts what these need in `details`: `bindings` (each with role and via), `automount`,
`automount_effective`, `mounted_by`, `cloud_identity`, `sa_exists`, `unused_since`. The cloud-admin
rule looks the annotated identity up in the whole inventory (AWS roles by `details["arn"]`, GCP
service accounts by email, Entra apps / managed identities by client id).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nhitui.model import Identity
from nhitui.rules import Context, Rule

RULES: tuple[Rule, ...] = (
    Rule("k8s-cluster-admin-sa", "critical", "NHI5", "service account bound to cluster-admin"),
    Rule("k8s-default-sa-bound", "medium", "NHI5", "a namespace's default service account has role bindings"),
    Rule("k8s-automount-privileged", "high", "NHI5", "privileged service account whose token pods mount"),
    Rule("k8s-legacy-token-unused", "medium", "NHI1", "legacy token with no recorded use within the stale window"),
    Rule("k8s-token-of-deleted-sa", "low", "NHI1", "legacy token Secret of a service account that no longer exists"),
    Rule("k8s-cloud-admin-link", "critical", "NHI5", "service account annotated to a cloud identity that is "
                                                     "admin there"),
)
SA = "k8s_service_account"
TOKEN = "k8s_token_secret"
# Where each cloud's identities keep the id a Kubernetes annotation names.
CLOUD_KEYS = {"aws": ("arn",), "gcp": ("email",), "azure": ("client_id", "app_id", "appId")}
_LAST: list[tuple[Any, dict[tuple[str, str], Identity]]] = [(None, {})]   # (last inventory mapping, its index)


def _cloud_index(by_uid: Mapping[str, Identity]) -> dict[tuple[str, str], Identity]:
    """(provider, id) -> identity, built once per inventory mapping (policy builds one per evaluation)."""
    seen, cached = _LAST[0]
    if seen is by_uid:
        return cached
    index: dict[tuple[str, str], Identity] = {}
    for ident in by_uid.values():
        for key in CLOUD_KEYS.get(ident.provider, ()):
            value = ident.details.get(key)
            if isinstance(value, str) and value:
                index.setdefault((ident.provider, value.casefold()), ident)
    _LAST[0] = (by_uid, index)
    return index


def check(identity: Identity, ctx: Context) -> list[tuple[str, str]]:
    if identity.kind == SA:
        return _service_account(identity, ctx)
    if identity.kind == TOKEN:
        return _token(identity, ctx)
    return []


def _service_account(i: Identity, ctx: Context) -> list[tuple[str, str]]:
    d = i.details
    found: list[tuple[str, str]] = []
    ns = d.get("namespace", "")
    bindings = [b for b in d.get("bindings") or [] if isinstance(b, Mapping)]
    admin = [b["binding"] for b in bindings if b.get("role") == "ClusterRole/cluster-admin"]
    if admin:
        found.append(("k8s-cluster-admin-sa", f"{ns}/{i.name} is bound to cluster-admin by {', '.join(admin[:3])}; "
                                              "anyone holding one of its tokens controls "
                                              + ("the whole cluster." if any(b.startswith("ClusterRoleBinding/")
                                                                             for b in admin) else "the namespace.")))
    direct = [b["binding"] for b in bindings if b.get("via") == "ServiceAccount"]
    if i.name == "default" and direct:
        found.append(("k8s-default-sa-bound", f"The default service account of {ns} is bound by "
                                              f"{', '.join(direct[:3])}: every pod of {ns} that names no service "
                                              "account runs with these rights."))
    if i.privilege == "admin" and d.get("automount") is not False and d.get("automount_effective", True):
        users = d.get("mounted_by") or []
        where = f"mounted by {len(users)} pod(s)/workload(s), e.g. {users[0]}" if users else \
            "not disabled, so every new pod using it gets the token"
        found.append(("k8s-automount-privileged", f"Admin-level service account whose token is {where}; set "
                                                  "automountServiceAccountToken: false where the API is not needed."))
    cloud = d.get("cloud_identity")
    if isinstance(cloud, Mapping) and cloud.get("id"):
        target = _cloud_index(ctx.by_uid).get((str(cloud.get("provider")), str(cloud["id"]).casefold()))
        if target is not None and target.privilege == "admin":
            found.append(("k8s-cloud-admin-link", f"Annotated to {cloud.get('provider')} identity {target.name!r}, "
                                                  "which is admin there: pods running as it become a cloud admin."))
    return found


def _token(i: Identity, ctx: Context) -> list[tuple[str, str]]:
    d = i.details
    found: list[tuple[str, str]] = []
    if d.get("argocd_cluster"):
        return found
    if d.get("sa_exists") is False:
        found.append(("k8s-token-of-deleted-sa", f"Service account {d.get('namespace')}/{i.owner} no longer exists "
                                                 "(or was recreated); the token cannot authenticate. Delete the Secret."))
    unused = d.get("unused_since")
    if i.status == "active" and i.last_used_at is None and unused and not i.usage_tracked:
        from nhitui.model import utc

        since = utc(unused)
        limit = ctx.policy.for_kind(i.kind, "stale_after_days") if ctx.policy is not None else 90
        if since is not None and (ctx.now - since).days >= limit:
            found.append(("k8s-legacy-token-unused", f"No use recorded since legacy-token tracking began on {unused} "
                                                     f"({(ctx.now - since).days} days); manual token Secrets are never "
                                                     "cleaned up by Kubernetes. Quarantine or delete it."))
    return found
