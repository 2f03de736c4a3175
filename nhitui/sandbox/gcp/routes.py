"""The routes of the fake Google services (see the package docstring for the fidelity rules):
dispatch with the test knobs, Resource Manager v3, Policy Analyzer v1 and Org Policy v2 here, IAM v1
in iam.py."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, jsonify, request

from nhitui.sandbox.gcp.http import _P, Handler, _policy, denied, gerr, ok, page
from nhitui.sandbox.gcp.iam import IAM_ROUTES
from nhitui.sandbox.gcp.seed import pacific_day, stamp

if TYPE_CHECKING:
    from nhitui.sandbox.gcp import GcpFake

PA_TYPES = ("serviceAccountLastAuthentication", "serviceAccountKeyLastAuthentication")


def register(fake: GcpFake, service: str, app: Flask) -> None:
    routes = ROUTES[service]

    if service == "iam":
        @app.post("/token")
        def token() -> Any:
            """The OAuth token endpoint a service-account key file names (`token_uri`), for ADC tests."""
            minted = None
            if request.form.get("grant_type") == "urn:ietf:params:oauth:grant-type:jwt-bearer":
                minted = fake.oauth_token(request.form.get("assertion", ""))
            if minted is None:
                resp = jsonify({"error": "invalid_grant", "error_description": "Invalid JWT Signature."})
                resp.status_code = 400
                return resp
            return jsonify(minted)

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
                                    "RATE_LIMIT_EXCEEDED", metadata={"service": f"{service}.googleapis.com"},
                                    retry_delay=fake.retry_delay)
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


ROUTES: dict[str, list[tuple[str, re.Pattern[str], Handler]]] = {
    "cloudresourcemanager": [
        ("GET", re.compile(r"v3/projects"), crm_list("projects")),
        ("GET", re.compile(r"v3/folders"), crm_list("folders")),
        ("GET", re.compile(r"v3/projects/([^/:]+)"), crm_get_project),
        ("POST", re.compile(r"v3/projects/([^/:]+):getIamPolicy"), crm_policy("projects")),
        ("POST", re.compile(r"v3/organizations/([^/:]+):getIamPolicy"), crm_policy("organizations")),
        ("POST", re.compile(r"v3/folders/([^/:]+):getIamPolicy"), crm_policy("folders")),
    ],
    "iam": IAM_ROUTES,
    "policyanalyzer": [
        ("GET", re.compile(f"v1/{_P}/locations/global/activityTypes/([^/:]+)/activities:query"), pa_query),
        ("POST", re.compile(f"v1/{_P}/locations/global/activityTypes/([^/:]+)/activities:query"), pa_wrong_method),
    ],
    "orgpolicy": [
        ("GET", re.compile(f"v2/{_P}/policies/([^/:]+):getEffectivePolicy"), org_effective),
    ],
}
