"""A fake Kubernetes API server: the object store and the HTTP behaviour the connector must handle.

Written to the API's documented behaviour (shared/reference/kubernetes.md §8): typed lists whose
items carry no kind/apiVersion, `limit`/`continue` pages, 410 Expired on a stale continue token,
`PartialObjectMetadataList` for the metadata-only Accept header (or, with `ignore_metadata_header`,
the full objects a careless proxy would send), field selectors for Secret `type` and Pod
`spec.serviceAccountName`, label selectors, Status objects for 401/403/404/409/422, APF 429 as plain
text with Retry-After (and the JSON Status flavour), DELETE with preconditions and `dryRun=All`,
merge patches and JSON patches with `test`.
"""

from __future__ import annotations

import base64
import copy
import json
import threading
from collections import defaultdict
from typing import Any

from flask import Flask, Response, request

# (group, resource) -> (list kind, namespaced)
RESOURCES: dict[tuple[str, str], tuple[str, bool]] = {
    ("", "namespaces"): ("NamespaceList", False),
    ("", "serviceaccounts"): ("ServiceAccountList", True),
    ("", "secrets"): ("SecretList", True),
    ("", "pods"): ("PodList", True),
    ("", "configmaps"): ("ConfigMapList", True),
    ("apps", "deployments"): ("DeploymentList", True),
    ("apps", "statefulsets"): ("StatefulSetList", True),
    ("apps", "daemonsets"): ("DaemonSetList", True),
    ("batch", "jobs"): ("JobList", True),
    ("batch", "cronjobs"): ("CronJobList", True),
    ("rbac.authorization.k8s.io", "roles"): ("RoleList", True),
    ("rbac.authorization.k8s.io", "rolebindings"): ("RoleBindingList", True),
    ("rbac.authorization.k8s.io", "clusterroles"): ("ClusterRoleList", False),
    ("rbac.authorization.k8s.io", "clusterrolebindings"): ("ClusterRoleBindingList", False),
}
VERSIONS = {"": "v1", "apps": "v1", "batch": "v1", "rbac.authorization.k8s.io": "v1"}
FIELD_SELECTORS = {"secrets": {"type", "metadata.name", "metadata.namespace"},
                   "pods": {"spec.serviceAccountName", "metadata.name", "metadata.namespace", "spec.nodeName",
                            "status.phase"}}
APF_BODY = b"Too many requests, please try again later.\n"


def status(code: int, reason: str, message: str, details: dict[str, Any] | None = None,
           metadata: dict[str, Any] | None = None) -> Response:
    body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": metadata or {},
                            "status": "Failure" if code >= 300 else "Success", "message": message,
                            "reason": reason, "code": code}
    if details is not None:
        body["details"] = details
    if code < 300:
        body.pop("message")
        body.pop("reason")
    return Response(json.dumps(body), status=code, content_type="application/json")


def _obj_key(group: str, resource: str, namespace: str, name: str) -> tuple[str, str, str, str]:
    return (group, resource, namespace, name)


def _field(obj: dict[str, Any], path: str) -> str:
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return "" if value is None else str(value)


def _label_match(labels: dict[str, str], selector: str) -> bool:
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in term:
            k, v = term.split("!=", 1)
            if labels.get(k) == v:
                return False
        elif "=" in term:
            k, v = term.replace("==", "=").split("=", 1)
            if labels.get(k) != v:
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


class Store:
    """Objects by (group, resource, namespace, name) with a global resourceVersion counter."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str, str], dict[str, Any]] = {}
        self._sorted: dict[tuple[str, str], list[dict[str, Any]]] = {}     # (group, resource) -> sorted, cached
        self.rv = 1000
        self.lock = threading.RLock()
        self.uids = 0

    def put(self, group: str, resource: str, obj: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            meta = obj.setdefault("metadata", {})
            self.rv += 1
            meta["resourceVersion"] = str(self.rv)
            if not meta.get("uid"):
                self.uids += 1
                meta["uid"] = f"00000000-0000-4000-8000-{self.uids:012d}"
            self.objects[_obj_key(group, resource, meta.get("namespace", ""), meta["name"])] = obj
            self._sorted.pop((group, resource), None)
            return obj

    def get(self, group: str, resource: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self.objects.get(_obj_key(group, resource, namespace, name))

    def delete(self, group: str, resource: str, namespace: str, name: str) -> None:
        with self.lock:
            self.objects.pop(_obj_key(group, resource, namespace, name), None)
            self._sorted.pop((group, resource), None)
            self.rv += 1

    def list(self, group: str, resource: str, namespace: str = "") -> list[dict[str, Any]]:
        with self.lock:
            every = self._sorted.get((group, resource))
            if every is None:
                every = sorted((o for (g, r, _, _), o in self.objects.items() if g == group and r == resource),
                               key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))
                self._sorted[(group, resource)] = every
        return [o for o in every if o["metadata"].get("namespace", "") == namespace] if namespace else list(every)


class ApiServer:
    """The Flask app over a `Store`; knobs are plain attributes a test may set at any time."""

    def __init__(self, store: Store, tokens: dict[str, str], version: str = "v1.30.4") -> None:
        self.store = store
        self.tokens = tokens                 # bearer value -> "read" | "write"
        self.version = version
        self.ignore_metadata_header = False  # answer metadata-only requests with full objects
        self.expire_continue = 0             # the next N continue requests answer 410 Expired
        self.throttle_plain = 0              # the next N requests answer APF's plain-text 429
        self.throttle_json = 0               # the next N requests answer a JSON Status 429
        self.retry_after = "1"
        self.deny: set[tuple[str, str]] = set()   # (verb, resource) answered 403 for every token
        self.page_limit = 500
        # A broken or hostile server's `continue`: "self", a page asked with a token answers that same token;
        # "cycle", the last page of a list points back to its first.
        self.loop_continue = ""
        self.seen_accept: dict[str, list[str]] = defaultdict(list)   # resource -> Accept headers sent
        self.app = Flask("nhitui-fake-kubernetes")
        self.app.add_url_rule("/version", "version", self._version)
        self.app.add_url_rule("/version/", "version2", self._version)
        self.app.add_url_rule("/<path:path>", "api", self._dispatch,
                              methods=["GET", "POST", "PUT", "PATCH", "DELETE"])

    # --- plumbing -----------------------------------------------------------------------------------

    def _version(self) -> Response:
        major, minor = self.version.lstrip("v").split(".")[:2]
        return Response(json.dumps({"major": major, "minor": minor, "gitVersion": self.version,
                                    "platform": "linux/amd64"}), content_type="application/json")

    def _who(self) -> str | None:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        return self.tokens.get(value) if scheme.lower() == "bearer" else None

    @staticmethod
    def _forbidden(verb: str, group: str, resource: str, namespace: str, name: str = "") -> Response:
        scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
        qual = f"{resource}.{group}" if group else resource
        what = f'{qual} "{name}"' if name else qual
        details = {"kind": resource, **({"group": group} if group else {}), **({"name": name} if name else {})}
        return status(403, "Forbidden", f'{what} is forbidden: User "system:serviceaccount:nhi:scanner" cannot '
                                        f'{verb} resource "{resource}" in API group "{group}" {scope}', details)

    def _dispatch(self, path: str) -> Response:
        if self.throttle_plain > 0:
            self.throttle_plain -= 1
            return Response(APF_BODY, status=429, content_type="text/plain; charset=utf-8",
                            headers={"Retry-After": self.retry_after,
                                     "X-Kubernetes-PF-FlowSchema-UID": "5b1d-fake",
                                     "X-Kubernetes-PF-PriorityLevel-UID": "0c8e-fake"})
        if self.throttle_json > 0:
            self.throttle_json -= 1
            return status(429, "TooManyRequests", "the server has received too many requests",
                          {"retryAfterSeconds": int(float(self.retry_after))})
        role = self._who()
        if role is None:
            return status(401, "Unauthorized", "Unauthorized")
        parts = path.strip("/").split("/")
        if parts[0] == "api" and len(parts) >= 2:
            group, rest = "", parts[2:]
        elif parts[0] == "apis" and len(parts) >= 3:
            group, rest = parts[1], parts[3:]
        else:
            return status(404, "NotFound", "the server could not find the requested resource")
        if group == "authentication.k8s.io" and rest == ["selfsubjectreviews"] and request.method == "POST":
            return Response(json.dumps({"kind": "SelfSubjectReview", "apiVersion": "authentication.k8s.io/v1",
                                        "metadata": {}, "status": {"userInfo": {
                                            "username": f"sandbox:{role}", "groups": ["system:authenticated"]}}}),
                            status=201, content_type="application/json")
        namespace = name = ""
        if len(rest) >= 3 and rest[0] == "namespaces":
            namespace, resource, name = rest[1], rest[2], (rest[3] if len(rest) > 3 else "")
        elif rest:
            resource, name = rest[0], (rest[1] if len(rest) > 1 else "")
        else:
            return status(404, "NotFound", "the server could not find the requested resource")
        if (group, resource) not in RESOURCES:
            return status(404, "NotFound", "the server could not find the requested resource")
        method = request.method
        verb = {"GET": "get" if name else "list", "DELETE": "delete", "PATCH": "patch", "PUT": "update",
                "POST": "create"}[method]
        if (verb, resource) in self.deny or (method != "GET" and role != "write"):
            return self._forbidden(verb, group, resource, namespace, name)
        if method == "GET" and not name:
            return self._list(group, resource, namespace)
        obj = self.store.get(group, resource, namespace, name)
        if obj is None:
            return status(404, "NotFound", f'{resource} "{name}" not found', {"name": name, "kind": resource})
        if method == "GET":
            return self._one(resource, obj)
        if method == "DELETE":
            return self._delete(group, resource, namespace, name, obj)
        if method == "PATCH":
            return self._patch(group, resource, obj)
        return status(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")

    # --- reads --------------------------------------------------------------------------------------

    def _metadata_only(self, resource: str, listing: bool) -> bool:
        accept = request.headers.get("Accept", "")
        self.seen_accept[resource].append(accept)
        wanted = "as=PartialObjectMetadataList" if listing else "as=PartialObjectMetadata;"
        return wanted in accept.replace(" ", "") + ";" and not self.ignore_metadata_header

    def _list(self, group: str, resource: str, namespace: str) -> Response:
        items = self.store.list(group, resource, namespace)
        fields = request.args.get("fieldSelector", "")
        for term in filter(None, fields.split(",")):
            key, _, value = term.partition("=")
            if key not in FIELD_SELECTORS.get(resource, {"metadata.name", "metadata.namespace"}):
                return status(400, "BadRequest", f'"{key}" is not a known field selector: only '
                                                 f'"metadata.name", "metadata.namespace"')
            items = [o for o in items if _field(o, key) == value]
        labels = request.args.get("labelSelector", "")
        if labels:
            items = [o for o in items if _label_match(o["metadata"].get("labels") or {}, labels)]
        start = 0
        token = request.args.get("continue", "")
        if token:
            if request.args.get("resourceVersion"):
                return status(400, "BadRequest", "specifying resource version is not allowed when using continue")
            if self.expire_continue > 0:
                self.expire_continue -= 1
                return status(410, "Expired", "The provided continue parameter is too old to display a consistent "
                                              "list result. You can start a new list without the continue "
                                              "parameter.", metadata={"continue": token})
            try:
                start = int(json.loads(base64.urlsafe_b64decode(token.encode()))["start"])
            except (ValueError, KeyError, TypeError):
                return status(400, "BadRequest", "continue key is not valid")
        limit = int(request.args.get("limit") or 0) or len(items) or 1
        limit = min(limit, self.page_limit)
        page = items[start:start + limit]
        meta: dict[str, Any] = {"resourceVersion": str(self.store.rv)}
        if start + limit < len(items):
            meta["continue"] = self._continue(start + limit)
            if not labels and not fields:
                meta["remainingItemCount"] = len(items) - start - limit
        if self.loop_continue == "self" and token:
            meta["continue"] = token
        elif self.loop_continue == "cycle" and start and "continue" not in meta:
            meta["continue"] = self._continue(0)
        kind, _ = RESOURCES[(group, resource)]
        if self._metadata_only(resource, True):
            body = {"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": meta,
                    "items": [{"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                               "metadata": o["metadata"]} for o in page]}
        else:
            version = VERSIONS[group]
            body = {"kind": kind, "apiVersion": f"{group}/{version}" if group else version, "metadata": meta,
                    "items": [{k: v for k, v in o.items() if k not in ("kind", "apiVersion")} for o in page]}
        return Response(json.dumps(body), content_type="application/json")

    def _continue(self, start: int) -> str:
        return base64.urlsafe_b64encode(json.dumps(
            {"v": "meta.k8s.io/v1", "rv": self.store.rv, "start": start}).encode()).decode()

    def _one(self, resource: str, obj: dict[str, Any]) -> Response:
        if self._metadata_only(resource, False):
            body = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]}
        else:
            body = obj
        return Response(json.dumps(body), content_type="application/json")

    # --- writes -------------------------------------------------------------------------------------

    def _dry_run(self) -> bool:
        return request.args.get("dryRun") == "All"

    def _delete(self, group: str, resource: str, namespace: str, name: str, obj: dict[str, Any]) -> Response:
        options = request.get_json(silent=True) or {}
        pre = options.get("preconditions") or {}
        meta = obj["metadata"]
        for key in ("uid", "resourceVersion"):
            if pre.get(key) and pre[key] != meta.get(key):
                return status(409, "Conflict", f'Operation cannot be fulfilled on {resource} "{name}": '
                                               f"Precondition failed: {key} in precondition: {pre[key]}, "
                                               f"{key} in object meta: {meta.get(key)}",
                              {"name": name, "kind": resource})
        if not self._dry_run():
            self.store.delete(group, resource, namespace, name)
        if resource == "serviceaccounts":
            return Response(json.dumps({"kind": "ServiceAccount", "apiVersion": "v1", **obj}),
                            content_type="application/json")
        details = {"name": name, "kind": resource, "uid": meta.get("uid"), **({"group": group} if group else {})}
        return status(200, "", "", details)

    def _patch(self, group: str, resource: str, obj: dict[str, Any]) -> Response:
        ctype = (request.content_type or "").split(";")[0].strip()
        try:
            patch = json.loads(request.get_data() or b"null")
        except ValueError:
            return status(400, "BadRequest", "the patch is not valid JSON")
        new = copy.deepcopy(obj)
        if ctype == "application/merge-patch+json" and isinstance(patch, dict):
            _merge(new, patch)
        elif ctype == "application/json-patch+json" and isinstance(patch, list):
            err = _json_patch(new, patch)
            if err:
                return status(422, "Invalid", err)
        else:
            return status(415, "UnsupportedMediaType", f"the body of the request was in an unknown format: {ctype}")
        if (new.get("roleRef") or None) != (obj.get("roleRef") or None):
            return status(422, "Invalid", "roleRef: Invalid value: cannot change roleRef")
        if not self._dry_run():
            self.store.put(group, resource, new)
        return self._one(resource, new)


def _merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def _json_patch(doc: dict[str, Any], ops: list[Any]) -> str:
    """Apply `test`/`remove`/`replace`/`add` on simple paths; an error string, or ""."""
    for op in ops:
        if not isinstance(op, dict):
            return "invalid patch operation"
        parts = [p.replace("~1", "/").replace("~0", "~") for p in str(op.get("path", "")).split("/")[1:]]
        parent: Any = doc
        for p in parts[:-1]:
            parent = parent[int(p)] if isinstance(parent, list) else parent.get(p)
            if parent is None:
                return f"path {op.get('path')} not found"
        last = parts[-1] if parts else ""
        try:
            key: Any = int(last) if isinstance(parent, list) else last
            current = parent[key] if isinstance(parent, list) else parent.get(key)
        except (ValueError, IndexError):
            return f"path {op.get('path')} not found"
        kind = op.get("op")
        if kind == "test":
            if current != op.get("value"):
                return f"the server rejected our request due to an error in our request: test failed at {op.get('path')}"
        elif kind == "remove":
            del parent[key]
        elif kind in ("replace", "add"):
            parent[key] = op.get("value")
        else:
            return f"unsupported patch operation {kind}"
    return ""
