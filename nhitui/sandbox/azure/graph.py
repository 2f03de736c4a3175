"""Fake Microsoft Graph (v1.0 and beta) and the Entra token endpoint, as a Flask app.

Collections honour `$top` (1..999, else 400 `Request_UnsupportedQuery`; 100 at most with
`$expand`), `$select`, and page with an absolute `@odata.nextLink` carrying an opaque
`$skiptoken`. Errors use Graph's shape `{"error": {"code", "message", "innerError"}}`.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode

from flask import Flask, Response, g, request

from nhitui.sandbox.azure.throttle import graph_cost, retry_after

if TYPE_CHECKING:
    from nhitui.sandbox.azure import AzureFake

FIC_FIELDS = ("id", "name", "issuer", "subject", "description", "audiences")


def graph_error(status: int, code: str, message: str) -> Response:
    body = {"error": {"code": code, "message": message,
                      "innerError": {"date": time.strftime("%Y-%m-%dT%H:%M:%S"), "request-id": secrets.token_hex(8),
                                     "client-request-id": secrets.token_hex(8)}}}
    return Response(json.dumps(body), status=status, mimetype="application/json")


def _project(obj: dict[str, Any], select: str | None) -> dict[str, Any]:
    if not select:
        return {k: v for k, v in obj.items() if k != "appRoles"}
    fields = [f.strip() for f in select.split(",") if f.strip()]
    return {f: obj.get(f) for f in ["id", *fields] if f in obj or f == "id"}


def _skip(token: str | None) -> int:
    if not token:
        return 0
    try:
        return int(base64.urlsafe_b64decode(token + "==").decode().split(":")[1])
    except (ValueError, IndexError, UnicodeDecodeError):
        return -1


def page(fake: AzureFake, items: list[dict[str, Any]], context: str, expand: bool = False,
         render: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> Response:
    """One page of a collection with the nextLink Graph would send."""
    args = request.args
    try:
        top = int(args.get("$top", "100"))
    except ValueError:
        top = 0
    if not 1 <= top <= 999:
        return graph_error(400, "Request_UnsupportedQuery",
                           f"Invalid page size specified: '{args.get('$top')}'. Must be between 1 and 999 inclusive.")
    size = min(top, 100 if expand else 999, fake.knobs.page_size or 999)
    start = _skip(args.get("$skiptoken"))
    if start < 0:
        return graph_error(400, "Directory_InvalidSkipToken", "The skip token is invalid.")
    chunk = items[start:start + size]
    body: dict[str, Any] = {"@odata.context": f"{request.host_url}v1.0/$metadata#{context}",
                            "value": [render(o) if render else _project(o, args.get("$select")) for o in chunk]}
    nxt = start + size
    if fake.cycle_next and nxt >= len(items) and start > 0:
        nxt = 0 if fake.cycle_next == "first" else start
        body["@odata.nextLink"] = _link(nxt)
    elif nxt < len(items):
        body["@odata.nextLink"] = _link(nxt)
    return Response(json.dumps(body), mimetype="application/json")


def _link(offset: int) -> str:
    query = [(k, v) for k, v in parse_qsl(request.query_string.decode(), keep_blank_values=True) if k != "$skiptoken"]
    if offset:
        query.append(("$skiptoken", base64.urlsafe_b64encode(f"RFNwdA:{offset}:x".encode()).decode().rstrip("=")))
    return f"{request.base_url}?{urlencode(query)}" if query else request.base_url


def make_graph_app(fake: AzureFake) -> Flask:
    app = Flask("nhitui-fake-graph")
    s = fake.state

    def auth(write: bool = False) -> Response | None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        level = fake.graph_tokens.get(token) if scheme.lower() == "bearer" else None
        if level is not None and not fake.spend(token):
            return graph_error(401, "InvalidAuthenticationToken", "Lifetime validation failed, the token is expired.")
        if level is None:
            if token in fake.arm_tokens:
                return graph_error(401, "InvalidAuthenticationToken", "Access token validation failure. Invalid audience.")
            return graph_error(401, "InvalidAuthenticationToken", "Access token is empty or invalid.")
        if write and level != "write":
            return graph_error(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
        return None

    @app.before_request
    def gate() -> Response | None:
        path = request.path
        if "/oauth2/" in path or path.endswith("/openid-configuration"):
            return None
        denied = auth(write=request.method != "GET")
        if denied is not None:
            return denied
        if any(path.startswith(p) for p in fake.deny):
            return graph_error(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
        if "/reports/" in path and path.startswith("/beta/") and fake.no_p1:
            return graph_error(403, "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
                               "Neither tenant is B2C or tenant doesn't have premium license")
        if fake.throttle_left > 0 and request.method == "GET" and path.startswith(fake.throttle_prefix):
            with fake.lock:
                fake.throttle_left -= 1
                fake.throttled += 1
            resp = graph_error(429, "TooManyRequests", "Too many requests.")
            resp.headers["Retry-After"] = str(fake.throttle_seconds)
            resp.headers["x-ms-throttle-scope"] = f"Tenant_Application/ReadWrite/x/{s.tenant_id}"
            resp.headers["x-ms-throttle-information"] = "ResourceUnitLimitExceeded"
            return resp
        return charge(path)

    def charge(path: str) -> Response | None:
        """The `ru_limit` knob: pay the request from Graph's RU bucket (or the reports' own), or 429."""
        bucket, reports = fake.ru_bucket, fake.reports_bucket
        if bucket is None or reports is None:
            return None
        report = "/reports/" in path or "/auditLogs/" in path
        units = 1 if report else graph_cost(request.method, path, dict(request.args))
        paid, used, wait = (reports if report else bucket).take(units)
        if not paid:
            with fake.lock:
                fake.throttled += 1
            resp = graph_error(429, "TooManyRequests", "Too many requests.")
            resp.headers["Retry-After"] = retry_after(wait)
            resp.headers["x-ms-throttle-scope"] = f"Tenant_Application/ReadWrite/{fake.client_id}/{s.tenant_id}"
            if not report:     # the reports' own limit: Graph documents no information value for it
                resp.headers["x-ms-throttle-information"] = "ResourceUnitLimitExceeded"
            return resp
        if not report:
            g.ru = (units, used)
        return None

    @app.after_request
    def ru_headers(resp: Response) -> Response:
        charged = g.pop("ru", None)
        if charged is not None:
            units, used = charged
            resp.headers["x-ms-resource-unit"] = str(units)
            if used >= 0.8:
                resp.headers["x-ms-throttle-limit-percentage"] = f"{used:.2f}"
        return resp

    def app_by_id(oid: str) -> dict[str, Any] | None:
        return s.apps.get(oid)

    @app.get("/<version>/applications")
    def applications(version: str) -> Response:
        if version not in ("v1.0", "beta") or (version == "beta" and fake.no_beta):
            return graph_error(400, "BadRequest", "Resource not found for the segment 'applications'.")
        expand = request.args.get("$expand", "")
        select = request.args.get("$select")
        if expand.startswith("federatedIdentityCredentials") and fake.refuse_expand:
            return graph_error(400, "Request_BadRequest", "Could not find a property named 'federatedIdentityCredentials'.")

        def render(a: dict[str, Any]) -> dict[str, Any]:
            obj = _project(a, select)
            if expand.startswith("owners"):
                obj["owners"] = list(s.owners.get(a["id"], []))[:20]
            elif expand.startswith("federatedIdentityCredentials"):
                obj["federatedIdentityCredentials"] = [
                    {k: f.get(k) for k in FIC_FIELDS} if version == "v1.0" and isinstance(f, dict) else f
                    for f in s.fics.get(a["id"], [])][:20]
            return obj

        return page(fake, list(s.apps.values()), "applications", expand=bool(expand), render=render)

    @app.route("/v1.0/applications/<oid>", methods=["GET", "PATCH"])
    def application(oid: str) -> Response:
        a = app_by_id(oid)
        if a is None:
            return graph_error(404, "Request_ResourceNotFound", f"Resource '{oid}' does not exist.")
        if request.method == "PATCH":
            body = request.get_json(silent=True) or {}
            if "passwordCredentials" in body:
                return graph_error(400, "Request_BadRequest", "passwordCredentials cannot be updated with PATCH.")
            if "keyCredentials" in body:
                with fake.lock:
                    a["keyCredentials"] = [dict(k) for k in body["keyCredentials"]]
            return Response(status=204)
        return _one(a)

    @app.post("/v1.0/<collection>/<oid>/removePassword")
    def remove_password(collection: str, oid: str) -> Response:
        obj = s.apps.get(oid) if collection == "applications" else s.sps.get(oid) if collection == "servicePrincipals" else None
        if obj is None:
            return graph_error(404, "Request_ResourceNotFound", f"Resource '{oid}' does not exist.")
        key = str((request.get_json(silent=True) or {}).get("keyId", ""))
        with fake.lock:
            before = len(obj["passwordCredentials"])
            obj["passwordCredentials"] = [c for c in obj["passwordCredentials"] if c["keyId"] != key]
        if len(obj["passwordCredentials"]) == before:
            return graph_error(400, "Request_BadRequest", f"No password credential found with keyId '{key}'.")
        return Response(status=204)

    @app.get("/<version>/applications/<oid>/federatedIdentityCredentials")
    def fics(version: str, oid: str) -> Response:
        if version not in ("v1.0", "beta") or (version == "beta" and fake.no_beta):
            return graph_error(400, "BadRequest", "Resource not found for the segment 'federatedIdentityCredentials'.")
        if app_by_id(oid) is None:
            return graph_error(404, "Request_ResourceNotFound", f"Resource '{oid}' does not exist.")
        items = [f if version == "beta" else {k: f.get(k) for k in FIC_FIELDS} for f in s.fics.get(oid, [])]
        return page(fake, items, f"applications('{oid}')/federatedIdentityCredentials")

    @app.delete("/v1.0/applications/<oid>/federatedIdentityCredentials/<fid>")
    def delete_fic(oid: str, fid: str) -> Response:
        with fake.lock:
            found = [f for f in s.fics.get(oid, []) if fid in (f["id"], f["name"])]
            if not found:
                return graph_error(404, "Request_ResourceNotFound", f"Resource '{fid}' does not exist.")
            s.fics[oid] = [f for f in s.fics[oid] if f not in found]
        return Response(status=204)

    @app.get("/v1.0/servicePrincipals")
    def service_principals() -> Response:
        expand = request.args.get("$expand", "")
        if expand and (expand != "appRoleAssignments" or fake.refuse_expand):
            return graph_error(400, "Request_BadRequest", f"Could not find a property named '{expand}'.")
        select = request.args.get("$select")

        def render(sp: dict[str, Any]) -> dict[str, Any]:
            obj = _project(sp, select)
            if expand:
                obj["appRoleAssignments"] = list(s.assignments.get(sp["id"], []))[:20]
            return obj

        return page(fake, list(s.sps.values()), "servicePrincipals", expand=bool(expand), render=render)

    @app.route("/v1.0/servicePrincipals/<path:sub>", methods=["GET", "PATCH"])
    def service_principal_by_id(sub: str) -> Response:
        return service_principal("/" + sub)

    @app.route("/v1.0/servicePrincipals<path:rest>", methods=["GET", "PATCH"])
    def service_principal(rest: str) -> Response:
        sp = _find_sp(fake, rest)
        if isinstance(sp, Response):
            return sp
        tail = rest.split("/", 2)[2] if rest.count("/") >= 2 else ""
        if tail == "appRoleAssignments":
            return page(fake, s.assignments.get(sp["id"], []), f"servicePrincipals('{sp['id']}')/appRoleAssignments")
        if tail:
            return graph_error(400, "BadRequest", f"Resource not found for the segment '{tail}'.")
        if request.method == "PATCH":
            body = request.get_json(silent=True) or {}
            if sp["servicePrincipalType"] == "ManagedIdentity":
                return graph_error(400, "Request_BadRequest", "Managed identities cannot be updated.")
            with fake.lock:
                if "accountEnabled" in body:
                    sp["accountEnabled"] = bool(body["accountEnabled"])
                if "keyCredentials" in body:
                    sp["keyCredentials"] = [dict(k) for k in body["keyCredentials"]]
            return Response(status=204)
        return _one(sp)

    @app.get("/v1.0/oauth2PermissionGrants")
    def grants() -> Response:
        return page(fake, s.grants, "oauth2PermissionGrants")

    @app.get("/v1.0/roleManagement/directory/roleAssignments")
    def dir_roles() -> Response:
        return page(fake, s.dir_roles, "roleManagement/directory/roleAssignments")

    @app.get("/v1.0/roleManagement/directory/roleDefinitions")
    def dir_definitions() -> Response:
        from nhitui.sandbox.azure.state import APP_ADMIN_ROLE

        return page(fake, [{"id": APP_ADMIN_ROLE, "displayName": "Application Administrator",
                            "templateId": APP_ADMIN_ROLE, "isBuiltIn": True}], "roleManagement/directory/roleDefinitions")

    @app.get("/<version>/reports/<name>")
    def reports(version: str, name: str) -> Response:
        if version != "beta":
            return graph_error(400, "BadRequest", f"Resource not found for the segment '{name}'.")
        rows = {"servicePrincipalSignInActivities": s.sp_activity,
                "appCredentialSignInActivities": s.cred_activity}.get(name)
        if rows is None:
            return graph_error(400, "BadRequest", f"Resource not found for the segment '{name}'.")
        return page(fake, rows, f"reports/{name}")

    # --- token endpoint (authority host) -------------------------------------------------------

    @app.get("/<tenant>/v2.0/.well-known/openid-configuration")
    def openid(tenant: str) -> Response:
        base = fake.authority_url or request.host_url.rstrip("/")
        body = {"token_endpoint": f"{base}/{tenant}/oauth2/v2.0/token",
                "authorization_endpoint": f"{base}/{tenant}/oauth2/v2.0/authorize",
                "issuer": f"{base}/{tenant}/v2.0", "device_authorization_endpoint": f"{base}/{tenant}/oauth2/v2.0/devicecode",
                "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt"]}
        return Response(json.dumps(body), mimetype="application/json")

    @app.post("/<tenant>/oauth2/v2.0/token")
    def token(tenant: str) -> Response:
        form = request.form
        fake.token_requests += 1
        if tenant != s.tenant_id or form.get("client_id") != fake.client_id or \
                form.get("client_secret") != fake.client_secret:
            body = {"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided.",
                    "error_codes": [7000215]}
            return Response(json.dumps(body), status=401, mimetype="application/json")
        scope = form.get("scope", "")
        issued = "issued-" + secrets.token_urlsafe(24)
        if scope.startswith(fake.arm_url):
            fake.arm_tokens[issued] = "read"
        else:
            fake.graph_tokens[issued] = "read"
        body = {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": issued}
        return Response(json.dumps(body), mimetype="application/json")

    return app


def _one(obj: dict[str, Any]) -> Response:
    return Response(json.dumps(_project(obj, request.args.get("$select"))), mimetype="application/json")


def _find_sp(fake: AzureFake, rest: str) -> dict[str, Any] | Response:
    s = fake.state
    if rest.startswith("(appId="):
        app_id = rest[len("(appId="):].split(")", 1)[0].strip("'")
        sp = next((p for p in s.sps.values() if p["appId"] == app_id), None)
    else:
        sp = s.sps.get(rest.strip("/").split("/", 1)[0])
    if sp is None:
        return graph_error(404, "Request_ResourceNotFound", f"Resource '{rest}' does not exist.")
    return sp


Handler = Callable[..., Response]
