"""RBAC privilege of a service account: which bindings reach it, what their roles allow, what tier that is.

A binding reaches an SA through a `ServiceAccount` subject (name + namespace; an empty namespace in a
RoleBinding means the binding's own), a `User` subject named `system:serviceaccount:NS:NAME`, or the
groups every SA carries: `system:serviceaccounts`, `system:serviceaccounts:NS`, `system:authenticated`.
Aggregated ClusterRoles get the union of their own rules and the rules of every ClusterRole their
selectors match (the aggregation controller may lag or be absent).

Tiers (issue 23 and shared/reference/kubernetes.md §4.5):
- admin: roleRef `cluster-admin`; `*` verbs on `*` resources in `*` groups; escalate/bind on roles;
  impersonate users/groups/serviceaccounts/uids/userextras; create `serviceaccounts/token`;
  read or write Secrets (reading returns every token in scope, writing mints legacy tokens) — the
  reason says "cluster-wide" or the namespace; `pods/exec|attach|portforward`; `nodes/proxy`;
  writing role bindings; approving CSRs; writing admission webhooks; ephemeral containers.
- write: any other create/update/patch/delete/deletecollection (workloads included).
- read: get/list/watch only.
Rules limited by `resourceNames` count as write at most, except escalate/bind/impersonate.
Other authorizers (GKE IAM, EKS access entries, AKS Azure RBAC, webhooks) are invisible here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from nhitui.model import sanitize

RBAC = "rbac.authorization.k8s.io"
WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection", "*"}
READ_VERBS = {"get", "list", "watch"}
RANK = {"none": 0, "read": 1, "write": 2, "admin": 3}

# (verbs, group, resource, reason): any match makes the rule admin.
ADMIN_CHECKS: tuple[tuple[frozenset[str], str, str, str], ...] = (
    (frozenset({"escalate"}), RBAC, "roles", "escalate roles"),
    (frozenset({"escalate"}), RBAC, "clusterroles", "escalate clusterroles"),
    (frozenset({"bind"}), RBAC, "roles", "bind roles"),
    (frozenset({"bind"}), RBAC, "clusterroles", "bind clusterroles"),
    (frozenset({"impersonate"}), "", "users", "impersonate users"),
    (frozenset({"impersonate"}), "", "groups", "impersonate groups"),
    (frozenset({"impersonate"}), "", "serviceaccounts", "impersonate serviceaccounts"),
    (frozenset({"impersonate"}), "authentication.k8s.io", "uids", "impersonate uids"),
    (frozenset({"impersonate"}), "authentication.k8s.io", "userextras/scopes", "impersonate userextras"),
    (frozenset({"create"}), "", "serviceaccounts/token", "create serviceaccounts/token"),
    (frozenset({"create", "get"}), "", "pods/exec", "exec into pods"),
    (frozenset({"create", "get"}), "", "pods/attach", "attach to pods"),
    (frozenset({"create", "get"}), "", "pods/portforward", "port-forward to pods"),
    (frozenset({"update", "patch"}), "", "pods/ephemeralcontainers", "add ephemeral containers"),
    (frozenset({"get", "create"}), "", "nodes/proxy", "proxy to nodes"),
    (frozenset({"create", "update", "patch"}), RBAC, "rolebindings", "write rolebindings"),
    (frozenset({"create", "update", "patch"}), RBAC, "clusterrolebindings", "write clusterrolebindings"),
    (frozenset({"update", "patch"}), "certificates.k8s.io", "certificatesigningrequests/approval", "approve CSRs"),
    (frozenset({"create", "update", "patch"}), "admissionregistration.k8s.io", "mutatingwebhookconfigurations",
     "write mutating webhooks"),
)
UNLIMITED_BY_NAME = {"escalate", "bind", "impersonate"}


def rule_allows(rule: Mapping[str, Any], verb: str, group: str, resource: str) -> bool:
    """Does one PolicyRule allow `verb` on `group`/`resource` (subresources as `pods/exec`)?"""
    verbs = rule.get("verbs") or []
    groups = rule.get("apiGroups") or []
    resources = rule.get("resources") or []
    if "*" not in verbs and verb not in verbs:
        return False
    if "*" not in groups and group not in groups:
        return False
    if "*" in resources or resource in resources:
        return True
    if "/" in resource:
        return f"*/{resource.split('/', 1)[1]}" in resources
    return False


def classify(rules: Iterable[Mapping[str, Any]], scope: str) -> tuple[str, tuple[str, ...]]:
    """(tier, reasons) of a role's rules applied at `scope` ("cluster" or a namespace)."""
    where = "cluster-wide" if scope == "cluster" else f"in namespace {scope}"
    tier = "none"
    reasons: list[str] = []

    def up(level: str, reason: str = "") -> None:
        nonlocal tier
        if RANK[level] > RANK[tier]:
            tier = level
        if reason and level == "admin" and reason not in reasons:
            reasons.append(reason)

    for rule in rules:
        if not isinstance(rule, Mapping):
            continue
        verbs = set(rule.get("verbs") or [])
        if rule.get("nonResourceURLs"):
            if verbs & WRITE_VERBS or "*" in verbs:
                up("write")
            elif verbs:
                up("read")
            continue
        limited = bool(rule.get("resourceNames"))
        if not limited and {"*"} <= verbs and "*" in (rule.get("apiGroups") or []) and "*" in (rule.get("resources") or []):
            up("admin", f"* on * {where}")
            continue
        for allowed, group, resource, reason in ADMIN_CHECKS:
            if limited and not allowed & UNLIMITED_BY_NAME:
                continue
            if any(rule_allows(rule, v, group, resource) for v in allowed):
                up("admin", f"{reason} {where}")
        if not limited:
            if any(rule_allows(rule, v, "", "secrets") for v in ("get", "list", "watch")):
                up("admin", f"read secrets {where}")
            if any(rule_allows(rule, v, "", "secrets") for v in ("create", "update", "patch")):
                up("admin", f"write secrets {where}")
        if verbs & WRITE_VERBS:
            up("write")
        elif verbs:
            up("read")
    return tier, tuple(reasons)


@dataclass(frozen=True)
class Grant:
    """One binding that reaches one SA, and what it gives."""

    binding_kind: str        # RoleBinding | ClusterRoleBinding
    binding_namespace: str
    binding_name: str
    role_kind: str
    role_name: str
    scope: str               # "cluster" or the RoleBinding's namespace
    via: str                 # "ServiceAccount", "User ...", "Group ..."
    privilege: str
    reasons: tuple[str, ...]
    subject_index: int       # position in `subjects` (for removal)
    subject_count: int
    uid: str = ""
    resource_version: str = ""
    subject: Mapping[str, Any] | None = None

    @property
    def scope_label(self) -> str:
        return f"{self.role_kind}/{self.role_name}@{self.scope}"

    @property
    def direct(self) -> bool:
        return self.via == "ServiceAccount" or self.via.startswith("User ")

    def as_dict(self) -> dict[str, Any]:
        """For `Identity.details`: names are the server's text, sanitized for display."""
        ns = sanitize(self.binding_namespace)
        return {"binding": sanitize(f"{self.binding_kind}/{ns + '/' if ns else ''}{self.binding_name}"),
                "kind": self.binding_kind, "namespace": self.binding_namespace, "name": self.binding_name,
                "role": sanitize(f"{self.role_kind}/{self.role_name}"), "scope": sanitize(self.scope),
                "via": sanitize(self.via), "privilege": self.privilege, "reasons": [sanitize(r) for r in self.reasons],
                "subject_index": self.subject_index, "subject_count": self.subject_count, "uid": self.uid,
                "resource_version": self.resource_version, "subject": dict(self.subject or {})}


def _selector_matches(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return bool(selector.get("matchLabels") or selector.get("matchExpressions"))


class Rbac:
    """Roles and bindings of one cluster, indexed by the subjects that reach service accounts."""

    def __init__(self, cluster_roles: list[dict[str, Any]], roles: list[dict[str, Any]],
                 cluster_bindings: list[dict[str, Any]], bindings: list[dict[str, Any]]) -> None:
        self.cluster_roles = {str(r.get("metadata", {}).get("name")): r for r in cluster_roles}
        self.roles = {(str(r.get("metadata", {}).get("namespace")), str(r.get("metadata", {}).get("name"))): r
                      for r in roles}
        self._rules: dict[str, list[Any]] = {}
        self._tiers: dict[tuple[str, str, str, str], tuple[str, tuple[str, ...]]] = {}
        self.by_sa: dict[tuple[str, str], list[tuple[dict[str, Any], int, str]]] = defaultdict(list)
        self.by_group: dict[str, list[tuple[dict[str, Any], int, str]]] = defaultdict(list)
        for b in cluster_bindings:
            self._index(b, "ClusterRoleBinding")
        for b in bindings:
            self._index(b, "RoleBinding")

    def _index(self, binding: dict[str, Any], kind: str) -> None:
        binding["_kind"] = kind
        ns = str(binding.get("metadata", {}).get("namespace") or "")
        for i, s in enumerate(binding.get("subjects") or []):
            if not isinstance(s, Mapping):
                continue
            skind, name = s.get("kind"), str(s.get("name") or "")
            if skind == "ServiceAccount":
                self.by_sa[(str(s.get("namespace") or ns), name)].append((binding, i, "ServiceAccount"))
            elif skind == "User" and name.startswith("system:serviceaccount:") and name.count(":") == 3:
                _, _, sns, sname = name.split(":")
                self.by_sa[(sns, sname)].append((binding, i, f"User {name}"))
            elif skind == "Group":
                self.by_group[name].append((binding, i, f"Group {name}"))

    def cluster_role_rules(self, name: str, seen: frozenset[str] = frozenset()) -> list[Any]:
        """Own rules plus, for an aggregated role, the rules of every ClusterRole its selectors match."""
        if name in self._rules:
            return self._rules[name]
        role = self.cluster_roles.get(name)
        if role is None:
            return []
        rules = list(role.get("rules") or [])
        selectors = (role.get("aggregationRule") or {}).get("clusterRoleSelectors") or []
        if selectors:
            for other, obj in self.cluster_roles.items():
                if other == name or other in seen:
                    continue
                labels = (obj.get("metadata") or {}).get("labels") or {}
                if any(_selector_matches(sel, labels) for sel in selectors if isinstance(sel, Mapping)):
                    rules.extend(self.cluster_role_rules(other, seen | {name}))
        self._rules[name] = rules
        return rules

    def _tier(self, role_kind: str, role_name: str, ns: str, scope: str) -> tuple[str, tuple[str, ...]]:
        key = (role_kind, role_name, ns, scope)
        if key not in self._tiers:
            if role_kind == "ClusterRole":
                rules = self.cluster_role_rules(role_name)
            else:
                rules = list((self.roles.get((ns, role_name)) or {}).get("rules") or [])
            tier, reasons = classify(rules, scope)
            if role_kind == "ClusterRole" and role_name == "cluster-admin":
                where = "cluster-wide" if scope == "cluster" else f"in namespace {scope}"
                tier, reasons = "admin", (f"cluster-admin {where}",) + reasons
            self._tiers[key] = (tier, reasons)
        return self._tiers[key]

    def grants(self, ns: str, name: str) -> list[Grant]:
        """Every binding reaching SA `ns/name`, directly or through its groups."""
        hits = list(self.by_sa.get((ns, name), ()))
        for group in ("system:serviceaccounts", f"system:serviceaccounts:{ns}", "system:authenticated"):
            hits.extend(self.by_group.get(group, ()))
        out = []
        for binding, index, via in hits:
            meta = binding.get("metadata") or {}
            bns = str(meta.get("namespace") or "")
            ref = binding.get("roleRef") or {}
            role_kind, role_name = str(ref.get("kind") or ""), str(ref.get("name") or "")
            scope = bns or "cluster"
            tier, reasons = self._tier(role_kind, role_name, bns, scope)
            out.append(Grant(binding["_kind"], bns, str(meta.get("name") or ""), role_kind, role_name, scope, via,
                             tier, reasons, index, len(binding.get("subjects") or []), str(meta.get("uid") or ""),
                             str(meta.get("resourceVersion") or ""), (binding.get("subjects") or [])[index]))
        return out


def summarize(grants: list[Grant]) -> tuple[str, tuple[str, ...], list[str]]:
    """(privilege, scopes, reasons) of a list of grants."""
    privilege = max((g.privilege for g in grants), key=RANK.__getitem__, default="none")
    scopes = tuple(sorted({g.scope_label for g in grants}))
    reasons = sorted({r for g in grants for r in g.reasons})
    return privilege, scopes, reasons
