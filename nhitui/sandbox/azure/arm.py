"""Fake Azure Resource Manager: subscriptions, role assignments, user-assigned MIs and their FICs.

Every call needs `api-version`. Role assignments at subscription scope return those at, above and
below it unless `$filter=atScope()` (then only at or above), as documented. Paths are matched
case-insensitively, as ARM does (`resourcegroups` vs `resourceGroups`). Errors use ARM's shape.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode

from flask import Flask, Response, request

if TYPE_CHECKING:
    from nhitui.sandbox.azure import AzureFake


def arm_error(status: int, code: str, message: str) -> Response:
    return Response(json.dumps({"error": {"code": code, "message": message}}), status=status,
                    mimetype="application/json")


def _page(fake: AzureFake, items: list[dict[str, Any]]) -> Response:
    size = fake.knobs.page_size or 100
    try:
        start = int(request.args.get("$skipToken", "0"))
    except ValueError:
        return arm_error(400, "InvalidSkipToken", "The skip token is invalid.")
    body: dict[str, Any] = {"value": items[start:start + size]}
    if start + size < len(items):
        query = [(k, v) for k, v in parse_qsl(request.query_string.decode()) if k != "$skipToken"]
        body["nextLink"] = f"{request.base_url}?{urlencode(query + [('$skipToken', str(start + size))])}"
    return Response(json.dumps(body), mimetype="application/json")


def make_arm_app(fake: AzureFake) -> Flask:
    app = Flask("nhitui-fake-arm")
    s = fake.state

    @app.before_request
    def gate() -> Response | None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        level = fake.arm_tokens.get(token) if scheme.lower() == "bearer" else None
        if level is not None and not fake.spend(token):
            return arm_error(401, "ExpiredAuthenticationToken", "The access token expiry UTC time is in the past.")
        if level is None:
            return arm_error(401, "InvalidAuthenticationToken", "The access token is invalid or has the wrong audience.")
        if not request.args.get("api-version"):
            return arm_error(400, "MissingApiVersionParameter", "The api-version query parameter is required.")
        if request.method != "GET" and level != "write" or any(request.path.lower().startswith(p.lower())
                                                               for p in fake.arm_deny):
            return arm_error(403, "AuthorizationFailed", f"The client does not have authorization to perform "
                                                         f"action over scope '{request.path}'.")
        return None

    @app.get("/subscriptions")
    def subscriptions() -> Response:
        if fake.no_subscriptions:
            return _page(fake, [])
        return _page(fake, [{"id": f"/subscriptions/{s.subscription}", "subscriptionId": s.subscription,
                             "tenantId": s.tenant_id, "displayName": f"{s.world.org}-prod", "state": "Enabled",
                             "authorizationSource": "RoleBased", "managedByTenants": [], "tags": {}}])

    @app.route("/subscriptions/<path:rest>", methods=["GET", "DELETE", "POST"])
    def resource(rest: str) -> Response:
        path = f"/subscriptions/{rest}"
        low = path.lower()
        sub = f"/subscriptions/{s.subscription}".lower()
        if not low.startswith(sub):
            return arm_error(404, "SubscriptionNotFound", f"The subscription '{rest.split('/')[0]}' could not be found.")
        tail = low[len(sub):]
        if tail == "/providers/microsoft.authorization/roleassignments":
            items = s.arm_roles
            if "atScope()" in request.args.get("$filter", ""):
                items = [a for a in items if a["properties"]["scope"].lower() in (sub, "/")]
            return _page(fake, items)
        if tail == "/providers/microsoft.authorization/roledefinitions":
            wanted = request.args.get("$filter", "").replace(" ", "").lower()
            return _page(fake, [d for d in s.custom_roles
                                if not wanted or wanted == "type eq 'customrole'".replace(" ", "")])
        if tail == "/providers/microsoft.storage/storageaccounts":
            return _page(fake, s.storage)
        if "/listkeys" in tail:
            fake.list_keys_calls += 1                    # must never happen: it returns the key values
            return arm_error(403, "AuthorizationFailed", "listKeys is not allowed for this identity.")
        if tail == "/providers/microsoft.managedidentity/userassignedidentities":
            return _page(fake, list(s.uamis.values()))
        for uid in list(s.uamis):
            base = uid.lower() + "/federatedidentitycredentials"
            if low == base:
                return _page(fake, list(s.uami_fics.get(uid, {}).values()))
            if low.startswith(base + "/"):
                name = path[len(base) + 1:]
                fics = s.uami_fics.get(uid, {})
                if name not in fics:
                    return arm_error(404, "NotFound", f"Federated identity credential '{name}' not found.")
                if request.method == "DELETE":
                    with fake.lock:
                        del fics[name]
                    return Response(status=200)
                return Response(json.dumps(fics[name]), mimetype="application/json")
        return arm_error(404, "ResourceNotFound", f"The resource '{path}' was not found.")

    return app
