"""The fake IAM v1 routes: service accounts, keys, WIF pools and providers, and IAM Credentials'
generateAccessToken (served by the same fake)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from flask import Response, jsonify, request

from nhitui.sandbox.gcp.http import _P, _POOL, _SA, Handler, _policy, denied, gerr, ok, page

if TYPE_CHECKING:
    from nhitui.sandbox.gcp import GcpFake


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


IAM_ROUTES: list[tuple[str, re.Pattern[str], Handler]] = [
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
]
