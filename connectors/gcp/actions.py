"""Actions on GCP identities, with the write identity (`revoke_token` / `revoke_impersonate`).

- Key: disable (reversible, `POST ...keys/K:disable {}`), enable, delete (irreversible: no key
  undelete, and tokens already minted from it stay valid until they expire). Before disabling,
  the key's last authentication is read: Activity Analyzer stops reporting disabled keys, so
  it would be lost otherwise; it goes into the result (journaled) and the returned row.
- Service account: disable (reversible; existing access tokens are rejected) / enable.
- WIF provider: disable / enable (`PATCH ...?updateMask=disabled`, a long-running operation);
  tokens already exchanged stay valid until they expire, and the plan says so.
Never on Google service agents (nor their keys): Google owns them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import quote

from connectors._http import GaveUp, Reply, TooLarge
from connectors.base import ConnectorError, Report, Resolve
from connectors.gcp.activity import KEY_TYPE, last_authentication
from connectors.gcp.client import Api, classify
from connectors.gcp.projects import Project
from connectors.gcp.wif import PROVIDER_NAME
from nhitui.model import Action, ActionResult, Identity, iso

OPERATION_POLLS = 10


def _sa_path(project: str, email: str, unique_id: str = "") -> str:
    """By uniqueId when known: a deleted and recreated account reuses the email, never the uniqueId,
    so an action can never land on a different account than the one scanned."""
    ref = unique_id or email
    return f"v1/projects/{quote(project, safe='')}/serviceAccounts/{quote(ref, safe='@')}"


def available(identity: Identity) -> list[Action]:
    d = identity.details
    if d.get("sa_kind") == "service-agent" or d.get("service_agent"):
        return []
    if identity.kind == "sa_key":
        account = _sa_path(str(d.get("project_id")), str(d.get("sa_email")), str(d.get("sa_unique_id") or ""))
        path = f"{account}/keys/{quote(identity.native_id, safe='')}"
        delete = Action("delete", "no", "Delete the key: it can never authenticate again and cannot be restored. "
                                        "Access tokens already minted from it stay valid until they expire.",
                        call=f"DELETE iam {path}")
        if identity.status == "inactive":
            return [Action("enable", "yes", "Enable the key again.", call=f"POST iam {path}:enable", undo="disable"),
                    delete]
        return [Action("disable", "yes", "Disable the key (its last use is recorded first: Activity Analyzer "
                                         "stops reporting disabled keys). Enable restores it.",
                       call=f"POST iam {path}:disable", undo="enable"), delete]
    if identity.kind == "gcp_service_account":
        path = _sa_path(str(d.get("project_id")), str(d.get("email")), str(d.get("unique_id") or ""))
        if identity.status == "inactive":
            return [Action("enable", "yes", "Enable the service account again.", call=f"POST iam {path}:enable",
                           undo="disable")]
        return [Action("disable", "yes", "Disable the service account: its existing access tokens are rejected "
                                         "and no new ones can be minted, with any key or impersonation.",
                       call=f"POST iam {path}:disable", undo="enable")]
    if identity.kind == "wif_provider":
        name = identity.native_id
        if not PROVIDER_NAME.match(name) or ".." in name:
            return []           # only a documented provider name goes into a write path
        if identity.status == "inactive":
            if d.get("pool_disabled") and not d.get("provider_disabled"):
                return []       # the pool is disabled, not the provider: nothing of ours to undo
            return [Action("enable", "yes", "Enable the provider again.",
                           call=f"PATCH iam v1/{name}?updateMask=disabled", undo="disable")]
        return [Action("disable", "yes", "Disable the provider: no new token exchanges. Tokens already exchanged "
                                         "stay valid until they expire (disabling the pool would revoke them).",
                       call=f"PATCH iam v1/{name}?updateMask=disabled", undo="enable")]
    return []


async def execute(settings: Mapping[str, Any], resolve: Resolve, source: str, identity: Identity,
                  action: str) -> ActionResult:
    names = [a.name for a in available(identity)]
    if action not in names:
        return ActionResult(state="failed", message=f"{action!r} is not available for this {identity.kind} "
                                                    f"(available: {', '.join(names) or 'none'})")
    report = Report(source, "gcp")
    try:
        async with Api(settings, resolve, report, write=True) as api:
            if identity.kind == "sa_key":
                return await _key(api, identity, action)
            if identity.kind == "gcp_service_account":
                return await _account(api, identity, action)
            return await _provider(api, identity, action)
    except (GaveUp, TooLarge, ConnectorError) as exc:
        return ActionResult(state="failed", message=str(exc))


def _failed(reply: Reply, what: str) -> ActionResult:
    if reply.status == 404:
        return ActionResult(state="already-absent", status_code=404, message=f"the {what} no longer exists",
                            removed=True)
    return ActionResult(state="failed", status_code=reply.status, message=classify(reply, f"needs a write identity "
                        f"allowed to change the {what} (set revoke_impersonate or revoke_token)").text)


async def _key(api: Api, identity: Identity, action: str) -> ActionResult:
    d = identity.details
    path = f"{_sa_path(str(d.get('project_id')), str(d.get('sa_email')))}/keys/{quote(identity.native_id, safe='')}"
    if action == "delete":
        reply = await api.call("DELETE", "iam", path, expect_json=False)
        if not reply.ok:
            return _failed(reply, "key")
        return ActionResult(state="ok", status_code=reply.status, removed=True,
                            message="key deleted; access tokens already minted from it stay valid until they expire")
    details = dict(d)
    note = ""
    if action == "disable":
        project = Project(id=str(d.get("project_id")), number=str(d.get("project_number") or ""))
        usage = await last_authentication(api, project, KEY_TYPE,
                                          [f"//iam.googleapis.com/{path.removeprefix('v1/')}"])
        if usage.read:
            last = usage.last.get(identity.native_id)
            since = f" since {usage.window_start:%Y-%m-%d}" if usage.window_start else ""
            note = f"last authentication before disabling: {last:%Y-%m-%d}" if last else \
                f"no recorded authentication{since} before disabling"
            details["last_use_before_disable"] = iso(last) if last else ""
        else:
            note = "last use before disabling could not be read (Activity Analyzer)"
    reply = await api.call("POST", "iam", f"{path}:{action}", body={}, expect_json=False)
    if not reply.ok:
        return _failed(reply, "key")
    status = "inactive" if action == "disable" else "active"
    if action == "enable" and identity.expires_at is not None and identity.expires_at <= _now():
        status = "expired"
    fresh = replace(identity, status=status, details=details)
    fresh = replace(fresh, actions=tuple(a.name for a in available(fresh)))
    return ActionResult(state="ok", status_code=reply.status, identity=fresh,
                        message=f"key {action}d" + (f"; {note}" if note else ""))


async def _account(api: Api, identity: Identity, action: str) -> ActionResult:
    d = identity.details
    path = _sa_path(str(d.get("project_id")), str(d.get("email")), str(d.get("unique_id") or ""))
    reply = await api.call("POST", "iam", f"{path}:{action}", body={}, expect_json=False)
    if not reply.ok:
        return _failed(reply, "service account")
    fresh = replace(identity, status="inactive" if action == "disable" else "active")
    fresh = replace(fresh, actions=tuple(a.name for a in available(fresh)))
    return ActionResult(state="ok", status_code=reply.status, identity=fresh, message=f"service account {action}d")


async def _provider(api: Api, identity: Identity, action: str) -> ActionResult:
    name = identity.native_id
    disabled = action == "disable"
    reply = await api.call("PATCH", "iam", f"v1/{name}", params={"updateMask": "disabled"},
                           body={"disabled": disabled})
    if not reply.ok:
        return _failed(reply, "workload identity provider")
    op = reply.data if isinstance(reply.data, Mapping) else {}
    for _ in range(OPERATION_POLLS):
        if op.get("done") is True or not isinstance(op.get("name"), str):
            break
        await asyncio.sleep(0.5)
        poll = await api.call("GET", "iam", f"v1/{op['name']}")
        op = poll.data if poll.ok and isinstance(poll.data, Mapping) else {}
    if isinstance(op.get("error"), Mapping):
        return ActionResult(state="failed", status_code=reply.status,
                            message=f"the operation failed: {str(op['error'].get('message', ''))[:200]}")
    if op.get("done") is not True:
        # Success is claimed only for an operation Google says is done: a lost poll or one still
        # running after the polls is reported as not confirmed (the provider may or may not be changed).
        return ActionResult(state="failed", status_code=reply.status, message=(
            "the change was accepted but not confirmed done (operation "
            f"{str(op.get('name') or 'unknown')[:120]}); rescan to see the provider's state"))
    details = {**identity.details, "provider_disabled": disabled}
    pool_disabled = bool(details.get("pool_disabled"))
    fresh = replace(identity, status="inactive" if disabled or pool_disabled else "active", details=details)
    fresh = replace(fresh, actions=tuple(a.name for a in available(fresh)))
    note = "; tokens already exchanged stay valid until they expire" if disabled else ""
    return ActionResult(state="ok", status_code=reply.status, identity=fresh,
                        message=f"workload identity provider {action}d{note}")


def _now() -> Any:
    from datetime import datetime, timezone

    return datetime.now(timezone.utc)
