"""Shared pieces of the fake Google services: proto3 JSON, Google's error envelope, pages, policies."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flask import Response, jsonify, request

if TYPE_CHECKING:
    from nhitui.sandbox.gcp import GcpFake

Handler = Callable[..., Any]
_P = r"projects/([^/:]+)"
_SA = _P + r"/serviceAccounts/([^/:]+)"
_POOL = _P + r"/locations/global/workloadIdentityPools/([^/:]+)"


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
         metadata: dict[str, str] | None = None, retry_delay: str | None = None) -> Response:
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if reason:
        error["details"] = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason,
                             "domain": domain, "metadata": metadata or {}}]
    if retry_delay:
        error.setdefault("details", []).append({"@type": "type.googleapis.com/google.rpc.RetryInfo",
                                                "retryDelay": retry_delay})
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
