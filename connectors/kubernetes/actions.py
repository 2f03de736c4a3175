"""What a responder can do to a service account or a legacy token Secret, and the calls that do it.

Token Secret:
- `quarantine` (reversible, undo `restore`): label `kubernetes.io/legacy-token-invalid-since`; the API
  server then rejects the token. Offered from Kubernetes 1.29 (LegacyServiceAccountTokenCleanUp beta,
  on by default); on 1.28 and older the label is ignored, so it is not offered.
- `delete` (irreversible): DELETE with a uid precondition (not resourceVersion: the API server
  rewrites the last-used label daily); the plan names the SA and the last use.
Service account:
- `disable-automount` (reversible, undo `restore`): merge patch `automountServiceAccountToken: false`.
  Only pods created afterwards change; running pods keep their token, and a pod that sets true wins.
- `unbind:<binding>`: JSON patch removing the SA's subject (with a `test` of that exact subject), or
  `delete-binding:<binding>` when it is the binding's only subject. Removing a subject is an update
  checked for escalation: the acting identity needs every permission of the role, or `bind` on it.
Nothing is offered for kube-system controllers or bindings reached only through groups.
Every Secret request asks for PartialObjectMetadata and its answer body is never parsed.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

from connectors.kubernetes.client import METADATA_ONE, ApiError, Client, path_of
from connectors.kubernetes.rbac import RBAC
from connectors.kubernetes.token_secrets import INVALID_SINCE
from nhitui.model import Action, ActionResult, Identity

SA_KIND = "k8s_service_account"
TOKEN_KIND = "k8s_token_secret"


def _binding_ref(b: dict[str, Any]) -> str:
    return f"{b['kind']}/{b['namespace'] + '/' if b['namespace'] else ''}{b['name']}"


def _binding_path(b: dict[str, Any]) -> str:
    resource = "rolebindings" if b["kind"] == "RoleBinding" else "clusterrolebindings"
    return path_of(RBAC, "v1", resource, b["namespace"], b["name"])


def available(identity: Identity, version: tuple[int, int] | None) -> list[Action]:
    d = identity.details
    ns, name = d.get("namespace", ""), identity.name
    if identity.kind == TOKEN_KIND:
        path = path_of("", "v1", "secrets", ns, name)
        out = []
        if not d.get("argocd_cluster") and not d.get("invalid_since") and (version is None or version >= (1, 29)):
            out.append(Action("quarantine", "yes", "Label the token invalid (kubernetes.io/legacy-token-invalid-"
                              "since): the API server rejects it from now on; removing the label restores it. "
                              "Honoured from Kubernetes 1.29.", f"PATCH {path} (merge patch: label "
                              f"{INVALID_SINCE})", undo="restore"))
        if d.get("invalid_since"):
            out.append(Action("restore", "yes", "Remove the invalid-since label: the token works again.",
                              f"PATCH {path} (merge patch: remove label {INVALID_SINCE})"))
        used = identity.last_used_at.strftime("%Y-%m-%d") if identity.last_used_at else (
            f"no use recorded since {d['unused_since']}" if d.get("unused_since") else "unknown")
        who = "Argo CD's credential for another cluster" if d.get("argocd_cluster") else \
            f"the token of service account {ns}/{identity.owner}, last used {used}"
        out.append(Action("delete", "no", f"Delete the Secret holding {who}. A recreated Secret gets a new "
                           "token; the old one never works again.",
                           f"DELETE {path} (precondition: uid)"))
        return out
    if identity.kind != SA_KIND or d.get("system"):
        return []
    out = []
    path = path_of("", "v1", "serviceaccounts", ns, name)
    if d.get("automount") is not False:
        out.append(Action("disable-automount", "yes", "Set automountServiceAccountToken: false on the service "
                          "account. Only pods created afterwards change: running pods keep their token, and a "
                          "pod that sets it to true still gets one.", f"PATCH {path} (merge patch)",
                          undo="restore"))
    elif d.get("automount") is False and d.get("automount_disabled_by_nhitui"):
        out.append(Action("restore", "yes", "Unset automountServiceAccountToken (new pods mount the token again).",
                          f"PATCH {path} (merge patch)"))
    for b in d.get("bindings") or []:
        if not (b.get("via") == "ServiceAccount" or str(b.get("via", "")).startswith("User ")):
            continue
        ref = _binding_ref(b)
        if b.get("subject_count", 0) <= 1:
            out.append(Action(f"delete-binding:{ref}", "no", f"Delete {ref} (role {b['role']}), whose only subject "
                              "is this service account. Existing tokens stay valid; the rights go at once.",
                              f"DELETE {_binding_path(b)} (precondition: uid)"))
        else:
            out.append(Action(f"unbind:{ref}", "no", f"Remove this service account from {ref} (role {b['role']}); "
                              f"the other {b['subject_count'] - 1} subject(s) keep it. Needs update on the binding "
                              f"and bind (or every permission of {b['role']}) for the acting identity.",
                              f"PATCH {_binding_path(b)} (JSON patch: test + remove /subjects/{b['subject_index']})"))
    return out


def _now_day() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d")


async def execute(client: Client, identity: Identity, action: str) -> ActionResult:
    d = identity.details
    ns, name = d.get("namespace", ""), identity.name
    try:
        if identity.kind == TOKEN_KIND:
            path = path_of("", "v1", "secrets", ns, name)
            if action == "delete":
                body = {"kind": "DeleteOptions", "apiVersion": "v1",
                        "preconditions": {"uid": d.get("k8s_uid")}}
                await client.request("DELETE", path, body=body, verb="delete", resource=f"secrets/{name}",
                                     parse=False)
                return ActionResult("ok", 200, f"secret {ns}/{name} deleted", removed=True)
            if action in ("quarantine", "restore"):
                day = _now_day() if action == "quarantine" else None
                await client.request("PATCH", path, body={"metadata": {"labels": {INVALID_SINCE: day}}},
                                     accept=METADATA_ONE, content_type="application/merge-patch+json",
                                     verb="patch", resource=f"secrets/{name}", parse=False)
                fresh = replace(identity, status="inactive" if day else "active",
                                details={**d, "invalid_since": day})
                return ActionResult("ok", 200, f"secret {ns}/{name} {'quarantined' if day else 'restored'}",
                                    identity=fresh)
        elif identity.kind == SA_KIND:
            path = path_of("", "v1", "serviceaccounts", ns, name)
            if action in ("disable-automount", "restore"):
                value = False if action == "disable-automount" else None
                await client.request("PATCH", path, body={"automountServiceAccountToken": value},
                                     content_type="application/merge-patch+json", verb="patch",
                                     resource=f"serviceaccounts/{name}")
                fresh = replace(identity, details={**d, "automount": value, "automount_disabled_by_nhitui": value is
                                                   False})
                return ActionResult("ok", 200, f"automount {'disabled' if value is False else 'restored'} on "
                                               f"{ns}/{name}", identity=fresh)
            op, _, ref = action.partition(":")
            binding = next((b for b in d.get("bindings") or [] if _binding_ref(b) == ref), None)
            if op in ("unbind", "delete-binding") and binding is not None:
                return await _unbind(client, identity, binding, op)
        return ActionResult("failed", None, f"unknown action {action!r}")
    except ApiError as exc:
        if exc.status == 404:
            return ActionResult("already-absent", 404, str(exc))
        return ActionResult("failed", exc.status, str(exc))


async def _unbind(client: Client, identity: Identity, b: dict[str, Any], op: str) -> ActionResult:
    path = _binding_path(b)
    d = identity.details
    resource = f"{'rolebindings' if b['kind'] == 'RoleBinding' else 'clusterrolebindings'}/{b['name']}"
    if op == "delete-binding":
        # resourceVersion too: a subject added to the binding since the scan would lose its rights with
        # it (bindings, unlike token Secrets, are not rewritten daily by the API server).
        pre = {"uid": b.get("uid") or None}
        if b.get("resource_version"):
            pre["resourceVersion"] = b["resource_version"]
        body = {"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": pre}
        await client.request("DELETE", path, body=body, verb="delete", resource=resource, parse=False)
    else:
        subject = b.get("subject") or {"kind": "ServiceAccount", "name": identity.name,
                                         "namespace": d.get("namespace")}
        index = b["subject_index"]
        ops = [{"op": "test", "path": f"/subjects/{index}", "value": subject},
               {"op": "remove", "path": f"/subjects/{index}"}]
        await client.request("PATCH", path, body=ops, content_type="application/json-patch+json", verb="patch",
                             resource=resource)
    remaining = [x for x in d.get("bindings") or [] if _binding_ref(x) != _binding_ref(b)]
    from connectors.kubernetes.rbac import RANK

    privilege = max((x["privilege"] for x in remaining), key=RANK.__getitem__, default="none")
    scopes = tuple(sorted({f"{x['role']}@{x['scope']}" for x in remaining}))
    fresh = replace(identity, privilege=privilege, scopes=scopes, details={**d, "bindings": remaining})
    return ActionResult("ok", 200, f"{_binding_ref(b)} {'deleted' if op == 'delete-binding' else 'no longer binds'} "
                                   f"{d.get('namespace')}/{identity.name}", identity=fresh)
