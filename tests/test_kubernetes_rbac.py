"""RBAC resolution: which bindings reach a service account and what tier their roles give (pure, no server)."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.kubernetes.rbac import Rbac, classify, rule_allows

RBAC = "rbac.authorization.k8s.io"


def rule(groups: list[str], resources: list[str], verbs: list[str], names: list[str] | None = None) -> dict[str, Any]:
    r: dict[str, Any] = {"apiGroups": groups, "resources": resources, "verbs": verbs}
    if names:
        r["resourceNames"] = names
    return r


@pytest.mark.parametrize("rules,scope,tier,reason", [
    ([rule(["*"], ["*"], ["*"])], "cluster", "admin", "* on * cluster-wide"),
    ([rule([RBAC], ["clusterroles"], ["escalate"])], "cluster", "admin", "escalate clusterroles cluster-wide"),
    ([rule([RBAC], ["roles"], ["bind"], ["admin"])], "ci", "admin", "bind roles in namespace ci"),
    ([rule([""], ["serviceaccounts"], ["impersonate"])], "ci", "admin", "impersonate serviceaccounts in namespace ci"),
    ([rule(["authentication.k8s.io"], ["uids"], ["impersonate"])], "cluster", "admin", "impersonate uids cluster-wide"),
    ([rule([""], ["serviceaccounts/token"], ["create"])], "ci", "admin", "create serviceaccounts/token in namespace ci"),
    ([rule([""], ["secrets"], ["list"])], "cluster", "admin", "read secrets cluster-wide"),
    ([rule([""], ["secrets"], ["get", "watch"])], "ci", "admin", "read secrets in namespace ci"),
    ([rule([""], ["secrets"], ["patch"])], "ci", "admin", "write secrets in namespace ci"),
    ([rule([""], ["pods/exec"], ["create"])], "ci", "admin", "exec into pods in namespace ci"),
    ([rule([""], ["pods/exec"], ["get"])], "ci", "admin", "exec into pods in namespace ci"),   # websocket upgrade
    ([rule([""], ["*/exec"], ["create"])], "ci", "admin", "exec into pods in namespace ci"),
    ([rule([""], ["pods", "pods/exec"], ["*"])], "ci", "admin", "exec into pods in namespace ci"),
    ([rule([""], ["nodes/proxy"], ["get"])], "cluster", "admin", "proxy to nodes cluster-wide"),
    ([rule([RBAC], ["rolebindings"], ["create"])], "ci", "admin", "write rolebindings in namespace ci"),
    ([rule(["apps"], ["deployments"], ["create", "update"])], "ci", "write", ""),
    ([rule([""], ["pods"], ["delete"])], "ci", "write", ""),
    ([rule([""], ["configmaps"], ["get", "list", "watch"])], "cluster", "read", ""),
    ([rule([""], ["secrets"], ["get"], ["one-secret"])], "ci", "read", ""),       # named: not "read all secrets"
    ([rule(["apps"], ["secrets"], ["list"])], "cluster", "read", ""),            # wrong group: not core secrets
    ([rule([""], ["pods"], ["exec"])], "ci", "read", ""),                        # a verb named exec is not pods/exec
    ([{"nonResourceURLs": ["/metrics"], "verbs": ["get"]}], "cluster", "read", ""),
    ([], "cluster", "none", ""),
])
def test_rule_tiers(rules, scope, tier, reason):
    got, reasons = classify(rules, scope)
    assert got == tier
    if reason:
        assert reason in reasons
    else:
        assert reasons == ()


def test_star_resource_matches_subresources_and_groups_are_checked():
    assert rule_allows(rule([""], ["*"], ["create"]), "create", "", "pods/exec")
    assert not rule_allows(rule(["apps"], ["*"], ["create"]), "create", "", "pods/exec")
    assert rule_allows(rule(["*"], ["pods/exec"], ["create"]), "create", "", "pods/exec")
    assert not rule_allows(rule([""], ["pods"], ["create"]), "create", "", "pods/exec")


def meta(name: str, ns: str = "", labels: dict[str, str] | None = None) -> dict[str, Any]:
    m: dict[str, Any] = {"name": name, "uid": f"uid-{name}", "resourceVersion": "7"}
    if ns:
        m["namespace"] = ns
    if labels:
        m["labels"] = labels
    return m


def binding(name: str, role: str, subjects: list[dict[str, Any]], ns: str = "", kind: str = "ClusterRole") -> dict:
    return {"metadata": meta(name, ns), "roleRef": {"apiGroup": RBAC, "kind": kind, "name": role},
            "subjects": subjects}


def sa(ns: str, name: str) -> dict[str, str]:
    return {"kind": "ServiceAccount", "name": name, "namespace": ns}


AGG = "rbac.authorization.k8s.io/aggregate-to-"
CLUSTER_ROLES = [
    {"metadata": meta("cluster-admin"), "rules": [rule(["*"], ["*"], ["*"])]},
    {"metadata": meta("edit"), "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {f"{AGG}edit": "true"}}]},
     "rules": []},
    {"metadata": meta("view"), "aggregationRule": {"clusterRoleSelectors": [
        {"matchExpressions": [{"key": f"{AGG}view", "operator": "In", "values": ["true"]}]}]}, "rules": []},
    {"metadata": meta("edit-part", labels={f"{AGG}edit": "true"}),
     "rules": [rule([""], ["secrets"], ["get", "create"]), rule(["apps"], ["deployments"], ["create"])]},
    {"metadata": meta("view-part", labels={f"{AGG}view": "true", f"{AGG}edit": "true"}),
     "rules": [rule([""], ["pods"], ["get", "list"])]},
    # An aggregated role selecting another aggregated role: rules flow through.
    {"metadata": meta("meta-agg"), "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"tier": "top"}}]}},
    {"metadata": meta("mid", labels={"tier": "top"}),
     "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {f"{AGG}view": "true"}}]}},
    {"metadata": meta("impersonator"), "rules": [rule([""], ["users"], ["impersonate"])]},
]
ROLES = [{"metadata": meta("deployer", "ci"), "rules": [rule(["apps"], ["deployments"], ["update"])]}]


def rbac(cluster_bindings: list[dict], bindings: list[dict] | None = None) -> Rbac:
    return Rbac(CLUSTER_ROLES, ROLES, cluster_bindings, bindings or [])


def test_aggregated_roles_get_the_rules_of_the_roles_they_select():
    r = rbac([])
    assert {x["resources"][0] for x in r.cluster_role_rules("edit")} == {"secrets", "deployments", "pods"}
    assert {x["resources"][0] for x in r.cluster_role_rules("view")} == {"pods"}
    assert {x["resources"][0] for x in r.cluster_role_rules("meta-agg")} == {"pods"}


def test_group_subjects_reach_service_accounts():
    r = rbac([binding("all-view", "view", [{"kind": "Group", "apiGroup": RBAC, "name": "system:serviceaccounts"}]),
              binding("ci-edit", "edit", [{"kind": "Group", "apiGroup": RBAC, "name": "system:serviceaccounts:ci"}]),
              binding("authn", "impersonator", [{"kind": "Group", "apiGroup": RBAC, "name": "system:authenticated"}]),
              binding("people", "cluster-admin", [{"kind": "Group", "apiGroup": RBAC, "name": "ops-team"}])])
    ci = {g.binding_name: g for g in r.grants("ci", "builder")}
    other = {g.binding_name: g for g in r.grants("web", "api")}
    assert set(ci) == {"all-view", "ci-edit", "authn"} and set(other) == {"all-view", "authn"}
    assert ci["ci-edit"].privilege == "admin" and "read secrets cluster-wide" in ci["ci-edit"].reasons
    assert ci["ci-edit"].via == "Group system:serviceaccounts:ci" and not ci["ci-edit"].direct
    assert other["all-view"].privilege == "read"
    assert other["authn"].privilege == "admin" and "impersonate users cluster-wide" in other["authn"].reasons


def test_subjects_by_name_by_user_name_and_rolebinding_scope():
    r = rbac([binding("deployer-admin", "cluster-admin", [sa("ci", "deployer"), sa("web", "x")])],
             [binding("own", "deployer", [{"kind": "ServiceAccount", "name": "builder"}], ns="ci", kind="Role"),
              binding("as-user", "edit", [{"kind": "User", "apiGroup": RBAC, "name": "system:serviceaccount:ci:builder"}],
                      ns="web"),
              binding("ns-admin", "cluster-admin", [sa("ci", "builder")], ns="ci")])
    deployer = r.grants("ci", "deployer")
    assert [(g.binding_kind, g.privilege, g.subject_index, g.subject_count) for g in deployer] == [
        ("ClusterRoleBinding", "admin", 0, 2)]
    assert deployer[0].reasons[0] == "cluster-admin cluster-wide"
    builder = {g.binding_name: g for g in r.grants("ci", "builder")}
    assert set(builder) == {"own", "as-user", "ns-admin"}          # empty subject namespace = the binding's
    assert builder["own"].privilege == "write" and builder["own"].scope_label == "Role/deployer@ci"
    assert builder["as-user"].via == "User system:serviceaccount:ci:builder" and builder["as-user"].direct
    assert builder["as-user"].scope == "web" and "read secrets in namespace web" in builder["as-user"].reasons
    assert builder["ns-admin"].reasons[0] == "cluster-admin in namespace ci"
    assert r.grants("web", "builder") == [] and r.grants("ci", "nobody") == []


def test_a_missing_role_grants_nothing_and_hostile_subjects_are_ignored():
    r = rbac([binding("dangling", "no-such-role", [sa("ci", "a")]),
              {"metadata": meta("odd"), "roleRef": {"kind": "ClusterRole", "name": "cluster-admin"},
               "subjects": [None, "x", {"kind": "User", "name": "system:serviceaccount:bad"}, sa("ci", "a")]}])
    grants = {g.binding_name: g for g in r.grants("ci", "a")}
    assert grants["dangling"].privilege == "none"
    assert grants["odd"].privilege == "admin" and grants["odd"].subject_index == 3


def test_server_text_in_binding_details_is_sanitized():
    hostile = "evil\x1b]52;c;ZXZpbA==\x07[@click=app.quit]x[/]"
    r = rbac([binding(hostile, "cluster-admin", [sa("ci", "a")])])
    shown = r.grants("ci", "a")[0].as_dict()
    assert "\x1b" not in shown["binding"] and "\x07" not in shown["binding"]
    assert shown["binding"].startswith("ClusterRoleBinding/evil\ufffd]52")
    assert shown["name"] == hostile            # the raw name stays for the API call that acts on it


def test_malformed_objects_from_a_hostile_server_never_raise() -> None:
    from connectors.kubernetes.client import _shaped

    roles = [_shaped({"metadata": None, "rules": [{"verbs": "get", "apiGroups": None, "resources": 5}, 7]}),
             _shaped({"metadata": {"name": "r", "annotations": 3, "labels": [1]}, "rules": "all"})]
    assert roles[0]["metadata"] == {} and roles[0]["rules"] == [{"verbs": [], "apiGroups": [], "resources": []}]
    assert roles[1]["rules"] == [] and roles[1]["metadata"]["annotations"] == {} == roles[1]["metadata"]["labels"]
    binding = _shaped({"metadata": None, "subjects": 5, "roleRef": None})
    assert binding["subjects"] == [] and binding["roleRef"] == {}
    Rbac(roles, [], [binding], [])
