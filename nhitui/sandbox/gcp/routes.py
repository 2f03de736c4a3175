"""The routes of the four fake Google services (see the package docstring for the fidelity rules)."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, jsonify, request

from nhitui.sandbox.gcp.seed import pacific_day, stamp

if TYPE_CHECKING:
    from nhitui.sandbox.gcp import GcpFake

Handler = Callable[..., Any]
PA_TYPES = ("serviceAccountLastAuthentication", "serviceAccountKeyLastAuthentication")


def pb(obj: Any) -> Any:
    """proto3 JSON: drop false booleans, empty strings, empty lists and maps, None."""
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            v = pb(v)
            if v is False or v is None or v == "" or v == [] or v == {}:
                continue
            out[k] = v
        return out
    if isinstance(obj, list):
        return [pb(v) for v in obj]
    return obj


def gerr(code: int, status: str, message: str, reason: str = "", domain: str = "googleapis.com",
         metadata: dict[str, str] | None = None) -> Response:
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if reason:
        error["details"] = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason,
                             "domain": domain, "metadata": metadata or {}}]
    resp = jsonify({"error": error})
    resp.status_code = code
    return resp


def denied(permission: str, resource: str) -> Response:
    return gerr(403, "PERMISSION_DENIED", f"Permission '{permission}' denied on resource (or it may not exist).",
                "IAM_PERMISSION_DENIED", "iam.googleapis.com", {"permission": permission, "resource": resource})


def ok(obj: Any) -> Response:
    return jsonify(pb(obj))


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def page(fake: GcpFake, items: list[Any], key: str, default: int, cap: int, *, cycle: bool = False) -> Response:
    try:
        size = int(request.args.get("pageSize") or default)
    except ValueError:
        return gerr(400, "INVALID_ARGUMENT", "Invalid pageSize")
    size = max(1, min(size, cap, fake.knobs.page_size or cap))
    token = request.args.get("pageToken") or ""
    offset = 0
    if token:
        try:
            text = base64.urlsafe_b64decode(token.encode()).decode()
            offset = int(text.removeprefix("offset:"))
        except (ValueError, UnicodeDecodeError):
            return gerr(400, "INVALID_ARGUMENT", "The provided page token is invalid.")
    chunk = items[offset:offset + size]
    body: dict[str, Any] = {key: chunk}
    if offset + size < len(items):
        body["nextPageToken"] = _token(offset + size)
    elif cycle and offset:
        body["nextPageToken"] = _token(0)     # the last page points back to the first
    return ok(body)


def register(fake: GcpFake, service: str, app: Flask) -> None:
    routes = ROUTES[service]

    @app.route("/<path:path>", methods=["GET", "POST", "PATCH", "DELETE"])
    def dispatch(path: str) -> Any:
        access = fake.access(request.headers.get("Authorization", ""))
        if access is None:
            return gerr(401, "UNAUTHENTICATED", "Request had invalid authentication credentials. Expected OAuth 2 "
                                                "access token.", "ACCESS_TOKEN_TYPE_UNSUPPORTED")
        with fake.lock:
            for status in (429, 503, 403):
                if fake.fail_next[status] > 0:
                    fake.fail_next[status] -= 1
                    if status == 429:
                        return gerr(429, "RESOURCE_EXHAUSTED", f"Quota exceeded for service '{service}'.",
                                    "RATE_LIMIT_EXCEEDED", metadata={"service": f"{service}.googleapis.com"})
                    if status == 503:
                        return gerr(503, "UNAVAILABLE", "The service is currently unavailable.")
                    return gerr(403, "PERMISSION_DENIED", "Quota exceeded (rate).", "RATE_LIMIT_EXCEEDED")
        for fragment, reason in fake.deny.items():
            if fragment == service or (fragment.startswith("/") and fragment in "/" + path):
                return _deny(service, reason, path)
        for method, pattern, handler in routes:
            if method != request.method:
                continue
            m = pattern.fullmatch(path)
            if m:
                with fake.lock:
                    return handler(fake, access, *m.groups())
        return gerr(404, "NOT_FOUND", f"The requested URL /{path} was not found on this server.")


def _deny(service: str, reason: str, path: str) -> Response:
    if reason == "SERVICE_DISABLED":
        consumer = "projects/999999999999"
        return gerr(403, "PERMISSION_DENIED", f"{service} API has not been used in project 999999999999 before or it "
                                              "is disabled.", "SERVICE_DISABLED",
                    metadata={"service": f"{service}.googleapis.com", "consumer": consumer})
    if reason == "SECURITY_POLICY_VIOLATED":
        return gerr(403, "PERMISSION_DENIED", "Request is prohibited by organization's policy.",
                    "SECURITY_POLICY_VIOLATED")
    if reason == "ACCESS_TOKEN_SCOPE_INSUFFICIENT":
        return gerr(403, "PERMISSION_DENIED", "Request had insufficient authentication scopes.",
                    "ACCESS_TOKEN_SCOPE_INSUFFICIENT")
    return denied(f"{service}.denied.by.test", f"/{path}")


# --- Resource Manager v3 ------------------------------------------------------------------------

def crm_get_project(fake: GcpFake, access: str, ref: str) -> Any:
    p = fake.project(ref)
    if p is None:
        return denied("resourcemanager.projects.get", f"projects/{ref}")
    return ok(p)


def crm_list(collection: str) -> Handler:
    def handler(fake: GcpFake, access: str) -> Any:
        parent = request.args.get("parent") or ""
        if not parent:
            return gerr(400, "INVALID_ARGUMENT", "parent is required")
        source = fake.state.projects.values() if collection == "projects" else fake.state.folders.values()
        items = sorted((x for x in source if x["parent"] == parent), key=lambda x: x["displayName"])
        return page(fake, items, collection, 50, 300)
    return handler


def crm_policy(kind: str) -> Handler:
    def handler(fake: GcpFake, access: str, ref: str) -> Any:
        body = request.get_json(silent=True) or {}
        version = (body.get("options") or {}).get("requestedPolicyVersion")
        if kind == "projects":
            p = fake.project(ref)
            if p is None:
                return denied("resourcemanager.projects.getIamPolicy", f"projects/{ref}")
            resource = f"projects/{p['projectId']}"
        else:
            resource = f"{kind}/{ref}"
        bindings = fake.state.policies.get(resource, [])
        return ok(_policy(bindings, version == 3))
    return handler


def _policy(bindings: list[dict[str, Any]], v3: bool) -> dict[str, Any]:
    out = []
    for b in bindings:
        b2 = dict(b, members=list(b["members"]))
        if "condition" in b2 and not v3:
            b2["role"] = f"{b2['role']}_withcond_2a1bc3d4e5f6"
            b2.pop("condition")
        out.append(b2)
    conditional = any("condition" in b for b in bindings)
    return {"version": 3 if conditional and v3 else 1, "etag": "BwYxyz123=", "bindings": out}


# --- IAM v1 -------------------------------------------------------------------------------------

def _sa_or_error(fake: GcpFake, pid: str, ref: str, permission: str) -> Any:
    if pid != "-" and fake.project(pid) is None:
        return None, denied(permission, f"projects/{pid}")
    sa = fake.account(fake.project(pid)["projectId"] if pid != "-" else "-", ref)
    if sa is None:
        if pid == "-":
            return None, denied(permission, f"projects/-/serviceAccounts/{ref}")
        return None, gerr(404, "NOT_FOUND", f"Unknown service account {ref}")
    return sa, None


def _write(access: str, permission: str, resource: str) -> Response | None:
    return None if access == "write" else denied(permission, resource)


def iam_list_accounts(fake: GcpFake, access: str, pid: str) -> Any:
    p = fake.project(pid)
    if p is None:
        return denied("iam.serviceAccounts.list", f"projects/{pid}")
    return page(fake, fake.state.accounts.get(p["projectId"], []), "accounts", 20, 100, cycle=fake.cycle_tokens)


def iam_get_account(fake: GcpFake, access: str, pid: str, ref: str) -> Any:
    sa, err = _sa_or_error(fake, pid, ref, "iam.serviceAccounts.get")
    return err or ok(sa)


def iam_account_verb(fake: GcpFake, access: str, pid: str, ref: str, verb: str) -> Any:
    if verb == "generateAccessToken":
        body = request.get_json(silent=True) or {}
        minted = fake.mint(ref, access) if pid == "-" and body.get("scope") else None
        if minted is None:
            return denied("iam.serviceAccounts.getAccessToken", f"projects/-/serviceAccounts/{ref}")
        return jsonify(minted)
    sa, err = _sa_or_error(fake, pid, ref, f"iam.serviceAccounts.{verb}")
    if err:
        return err
    if verb == "getIamPolicy":
        if request.get_data():
            return gerr(400, "INVALID_ARGUMENT", "Invalid JSON payload received. Unknown name \"options\".")
        v3 = request.args.get("options.requestedPolicyVersion") == "3"
        bindings = fake.state.sa_policies.get(sa["email"])
        if not bindings:
            return jsonify({"etag": "ACAB"})
        return ok(_policy(bindings, v3))
    if verb in ("disable", "enable"):
        refused = _write(access, f"iam.serviceAccounts.{verb}", sa["name"])
        if refused:
            return refused
        sa["disabled"] = verb == "disable"
        return jsonify({})
    return gerr(400, "INVALID_ARGUMENT", f"Unknown verb {verb}")


def iam_list_keys(fake: GcpFake, access: str, pid: str, ref: str) -> Any:
    sa, err = _sa_or_error(fake, pid, ref, "iam.serviceAccountKeys.list")
    if err:
        return err
    types = request.args.getlist("keyTypes")
    if "KEY_TYPE_UNSPECIFIED" in types or len(types) != len(set(types)):
        return gerr(400, "INVALID_ARGUMENT", "Invalid keyTypes")
    keys = [k for k in fake.state.keys.get(sa["email"], []) if not types or k["keyType"] in types]
    return ok({"keys": keys})


def iam_key(fake: GcpFake, access: str, pid: str, ref: str, key_id: str) -> Any:
    sa, err = _sa_or_error(fake, pid, ref, "iam.serviceAccountKeys.get")
    if err:
        return err
    key = fake.key(sa["email"], key_id)
    if key is None:
        return gerr(404, "NOT_FOUND", f"Service account key {key_id} does not exist.")
    if request.method == "DELETE":
        refused = _write(access, "iam.serviceAccountKeys.delete", key["name"])
        if refused:
            return refused
        fake.state.keys[sa["email"]].remove(key)
        return jsonify({})
    return ok(key)


def iam_key_verb(fake: GcpFake, access: str, pid: str, ref: str, key_id: str, verb: str) -> Any:
    sa, err = _sa_or_error(fake, pid, ref, f"iam.serviceAccountKeys.{verb}")
    if err:
        return err
    key = fake.key(sa["email"], key_id)
    if key is None:
        return gerr(404, "NOT_FOUND", f"Service account key {key_id} does not exist.")
    refused = _write(access, f"iam.serviceAccountKeys.{verb}", key["name"])
    if refused:
        return refused
    if verb == "disable":
        key["disabled"] = True
        key.setdefault("disableReason", "SERVICE_ACCOUNT_KEY_DISABLE_REASON_USER_INITIATED")
    else:
        key["disabled"] = False
        if key.get("disableReason") == "SERVICE_ACCOUNT_KEY_DISABLE_REASON_USER_INITIATED":
            key.pop("disableReason")
    return jsonify({})


def iam_pools(fake: GcpFake, access: str, pid: str) -> Any:
    p = fake.project(pid)
    if p is None:
        return denied("iam.workloadIdentityPools.list", f"projects/{pid}")
    return page(fake, fake.state.pools.get(p["projectId"], []), "workloadIdentityPools", 50, 1000)


def _pool_name(fake: GcpFake, pid: str, pool: str) -> str | None:
    p = fake.project(pid)
    return None if p is None else f"{p['name']}/locations/global/workloadIdentityPools/{pool}"


def iam_providers(fake: GcpFake, access: str, pid: str, pool: str) -> Any:
    name = _pool_name(fake, pid, pool)
    if name is None or name not in fake.state.providers:
        return gerr(404, "NOT_FOUND", "Requested entity was not found.")
    p = fake.project(pid)
    pool_obj = next(x for x in fake.state.pools[p["projectId"]] if x["name"] == name)
    if pool_obj["mode"] == "SYSTEM_TRUST_DOMAIN":
        return gerr(400, "INVALID_ARGUMENT", "Operation is not supported for a system trust domain pool.")
    return page(fake, fake.state.providers[name], "workloadIdentityPoolProviders", 50, 100)


def iam_patch_provider(fake: GcpFake, access: str, pid: str, pool: str, provider_id: str) -> Any:
    name = _pool_name(fake, pid, pool)
    obj = fake.provider_obj(f"{name}/providers/{provider_id}") if name else None
    if obj is None:
        return gerr(404, "NOT_FOUND", "Requested entity was not found.")
    refused = _write(access, "iam.workloadIdentityPoolProviders.update", obj["name"])
    if refused:
        return refused
    mask = request.args.get("updateMask") or ""
    body = request.get_json(silent=True) or {}
    if mask != "disabled" or not isinstance(body.get("disabled", False), bool):
        return gerr(400, "INVALID_ARGUMENT", "updateMask must name the fields to update")
    obj["disabled"] = bool(body.get("disabled", False))
    return ok({"name": f"{obj['name']}/operations/op-{abs(hash(obj['name'])) % 10**8}", "done": True,
               "response": {"@type": "type.googleapis.com/google.iam.v1.WorkloadIdentityPoolProvider", **obj}})


# --- Policy Analyzer v1 -------------------------------------------------------------------------

_TERM = re.compile(r'activities\.(?:full_resource_name|fullResourceName)\s*=\s*"([^"]*)"')


def pa_query(fake: GcpFake, access: str, pid: str, activity_type: str) -> Any:
    p = fake.project(pid)
    if p is None:
        return denied(f"policyanalyzer.{activity_type}Activities.query", f"projects/{pid}")
    if activity_type not in PA_TYPES:
        return gerr(400, "INVALID_ARGUMENT", f"Unsupported activity type {activity_type}")
    text = request.args.get("filter") or ""
    wanted: set[str] | None = None
    if text.strip():
        terms = _TERM.findall(text)
        if not terms or len(re.split(r"\s+OR\s+", text.strip())) != len(terms):
            return gerr(400, "INVALID_ARGUMENT", "Invalid filter")
        if len(terms) > 10:
            return gerr(400, "INVALID_ARGUMENT", "The filter may contain at most 10 terms")
        wanted = set(terms)
    s = fake.state
    period = {"startTime": stamp(s.window_start), "endTime": stamp(s.window_end)}
    entries = []
    for sa in s.accounts.get(p["projectId"], []):
        if not isinstance(sa.get("email"), str) or not sa.get("uniqueId"):
            continue            # a malformed account a test planted: Google would have none
        sa_full = f"//iam.googleapis.com/projects/{p['projectId']}/serviceAccounts/{sa['email']}"
        objects: list[tuple[str, str, dict[str, Any] | None]] = []
        if activity_type == PA_TYPES[0]:
            objects.append((sa_full, sa["uniqueId"], None))
        else:
            for k in s.keys.get(sa["email"], []):
                if k["keyType"] == "USER_MANAGED" and not k.get("disabled"):
                    kid = k["name"].rsplit("/", 1)[1]
                    objects.append((f"{sa_full}/keys/{kid}", kid, k))
        for full, ref, _ in objects:
            if ref in s.unlisted or (wanted is not None and full not in wanted):
                continue
            inner: dict[str, Any] = {"fullResourceName": full, "projectNumber": p["name"].split("/")[1],
                                     "serviceAccountId": sa["uniqueId"]}
            activity: dict[str, Any] = {}
            used = s.used.get(ref)
            if used is not None and pacific_day(used) + timedelta(hours=7) <= s.window_end:
                # Preview lag: a use after the observation period's end is not reported yet.
                activity["lastAuthenticatedTime"] = stamp(pacific_day(used) + timedelta(hours=7))
            activity["serviceAccount" if activity_type == PA_TYPES[0] else "serviceAccountKey"] = inner
            entries.append({"fullResourceName": full, "activityType": activity_type, "observationPeriod": period,
                            "activity": activity})
    return page(fake, entries, "activities", 1000, 1000)


def pa_wrong_method(fake: GcpFake, access: str, pid: str, activity_type: str) -> Any:
    return gerr(404, "NOT_FOUND", "The requested URL was not found on this server (activities.query is a GET).")


# --- Org Policy v2 ------------------------------------------------------------------------------

def org_effective(fake: GcpFake, access: str, pid: str, constraint: str) -> Any:
    p = fake.project(pid)
    if p is None:
        return denied("orgpolicy.policy.get", f"projects/{pid}")
    body: dict[str, Any] = {"name": f"{p['name']}/policies/{constraint}"}
    policy = fake.state.org_policies.get((p["projectId"], constraint))
    if policy:
        body.update(policy)
    return ok(body)


_P = r"projects/([^/:]+)"
_SA = _P + r"/serviceAccounts/([^/:]+)"
_POOL = _P + r"/locations/global/workloadIdentityPools/([^/:]+)"
ROUTES: dict[str, list[tuple[str, re.Pattern[str], Handler]]] = {
    "cloudresourcemanager": [
        ("GET", re.compile(r"v3/projects"), crm_list("projects")),
        ("GET", re.compile(r"v3/folders"), crm_list("folders")),
        ("GET", re.compile(r"v3/projects/([^/:]+)"), crm_get_project),
        ("POST", re.compile(r"v3/projects/([^/:]+):getIamPolicy"), crm_policy("projects")),
        ("POST", re.compile(r"v3/organizations/([^/:]+):getIamPolicy"), crm_policy("organizations")),
        ("POST", re.compile(r"v3/folders/([^/:]+):getIamPolicy"), crm_policy("folders")),
    ],
    "iam": [
        ("GET", re.compile(f"v1/{_P}/serviceAccounts"), iam_list_accounts),
        ("GET", re.compile(f"v1/{_SA}"), iam_get_account),
        ("POST", re.compile(f"v1/{_SA}:(disable|enable|getIamPolicy|generateAccessToken)"), iam_account_verb),
        ("GET", re.compile(f"v1/{_SA}/keys"), iam_list_keys),
        ("GET", re.compile(f"v1/{_SA}/keys/([0-9a-f]+)"), iam_key),
        ("DELETE", re.compile(f"v1/{_SA}/keys/([0-9a-f]+)"), iam_key),
        ("POST", re.compile(f"v1/{_SA}/keys/([0-9a-f]+):(disable|enable)"), iam_key_verb),
        ("GET", re.compile(f"v1/{_P}/locations/global/workloadIdentityPools"), iam_pools),
        ("GET", re.compile(f"v1/{_POOL}/providers"), iam_providers),
        ("PATCH", re.compile(f"v1/{_POOL}/providers/([^/:]+)"), iam_patch_provider),
    ],
    "policyanalyzer": [
        ("GET", re.compile(f"v1/{_P}/locations/global/activityTypes/([^/:]+)/activities:query"), pa_query),
        ("POST", re.compile(f"v1/{_P}/locations/global/activityTypes/([^/:]+)/activities:query"), pa_wrong_method),
    ],
    "orgpolicy": [
        ("GET", re.compile(f"v2/{_P}/policies/([^/:]+):getEffectivePolicy"), org_effective),
    ],
}
