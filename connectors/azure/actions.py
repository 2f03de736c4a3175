"""What can be done to an Entra identity, and doing it with the write credential.

- Service principal: `disable` (`PATCH /servicePrincipals/{id} {"accountEnabled": false}`) and
  `enable`, reversible. It blocks *new* tokens in this tenant; access tokens already issued stay
  valid until they expire (typically 60-90 minutes). Managed identities cannot be disabled
  through Graph: no action is offered for them.
- Secret: `remove` (`POST .../removePassword {"keyId"}`), irreversible.
- Certificate: `remove` by rewriting `keyCredentials` without it (`PATCH`), irreversible.
  (`removeKey` needs a proof-of-possession token signed by one of the app's own certificates,
  which an administrator does not hold.)
- Federated credential: `delete` (`DELETE .../federatedIdentityCredentials/{id}` in Graph, or the
  ARM resource for a managed identity), irreversible; the plan quotes issuer and subject so it
  can be recreated.
Each change is read back; something already gone answers `already-absent`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from connectors.azure.client import Api, Tokens, creds_for, error_of
from connectors.azure.federated import is_fic_of
from connectors.base import ConnectorError, Report, Resolve
from nhitui.model import Action, ActionResult, Identity

MSI_API = "2023-01-31"
TOKEN_CAVEAT = ("access tokens already issued stay valid until they expire (typically 60-90 minutes)")


def _split(native: str) -> tuple[str, str, str]:
    """("application" | "servicePrincipal", parent object id, key id) of a credential's native id."""
    if native.startswith("sp/"):
        _, parent, key = native.split("/", 2)
        return "servicePrincipal", parent, key
    parent, _, key = native.partition("/")
    return "application", parent, key


def _parent_path(origin: str, parent: str) -> str:
    return f"/v1.0/{'servicePrincipals' if origin == 'servicePrincipal' else 'applications'}/{quote(parent)}"


def actions_for(identity: Identity) -> list[Action]:
    kind = identity.kind
    native = identity.native_id
    if kind == "service_principal" and identity.details.get("publisher") == "microsoft":
        return []          # disabling Microsoft's own SP breaks its service; remove planted credentials instead
    if kind == "service_principal":
        path = f"/v1.0/servicePrincipals/{quote(native)}"
        return [
            Action("disable", "yes", "Disable the service principal: no new tokens in this tenant; " + TOKEN_CAVEAT
                   + ".", call=f'PATCH {path} {{"accountEnabled": false}}', undo="enable"),
            Action("enable", "yes", "Enable the service principal again.", call=f'PATCH {path} {{"accountEnabled": true}}',
                   undo="disable"),
        ]
    if kind == "app_secret":
        origin, parent, key = _split(native)
        return [Action("remove", "no", "Remove the client secret: whatever uses it can no longer sign in; the value "
                                       "cannot be restored (a new secret must be added); " + TOKEN_CAVEAT + ".",
                       call=f'POST {_parent_path(origin, parent)}/removePassword {{"keyId": "{key}"}}')]
    if kind == "app_certificate":
        origin, parent, key = _split(native)
        return [Action("remove", "no", "Remove the certificate from the key credentials (the list is rewritten "
                                       "without it); re-adding needs the public certificate; " + TOKEN_CAVEAT + ".",
                       call=f"PATCH {_parent_path(origin, parent)} {{keyCredentials: all but {key}}}")]
    if kind == "federated_credential":
        d = identity.details
        what = (f"issuer {d.get('issuer') or '?'}, subject {d.get('subject') or ''}"
                + (f", expression {d['claims_matching_expression']}" if d.get("claims_matching_expression") else "")
                + f", audiences {','.join(d.get('audiences') or [])}")
        call = (f"DELETE {native}?api-version={MSI_API}" if native.startswith("/subscriptions/")
                else f"DELETE /v1.0/applications/{quote(native.split('/', 1)[0])}/federatedIdentityCredentials/"
                     f"{quote(native.split('/', 1)[-1])}")
        return [Action("delete", "no", f"Delete the federated credential ({what}); recreate it with the same "
                                       "values to undo. " + TOKEN_CAVEAT[0].upper() + TOKEN_CAVEAT[1:] + ".",
                       call=f"{call}  [{what}]")]
    return []


async def execute(settings: Mapping[str, Any], resolve: Resolve, identity: Identity, action: str) -> ActionResult:
    names = [a.name for a in actions_for(identity)]
    if action not in names:
        return ActionResult(state="failed", message=f"{identity.kind} supports {', '.join(names) or 'no action'}, "
                                                    f"not {action!r}")
    report = Report(str(settings.get("name") or ""), "azure")
    tokens = Tokens(settings, resolve, creds_for(settings, write=True))
    arm = identity.kind == "federated_credential" and identity.native_id.startswith("/subscriptions/")
    try:
        async with Api("arm" if arm else "graph", tokens, report, settings) as api:
            if identity.kind == "service_principal":
                return await _set_enabled(api, identity, action == "enable")
            if identity.kind == "app_secret":
                return await _remove_secret(api, identity)
            if identity.kind == "app_certificate":
                return await _remove_certificate(api, identity)
            return await _delete_fic(api, identity, arm)
    except ConnectorError as exc:
        return ActionResult(state="failed", message=str(exc))
    finally:
        tokens.close()


def _failed(reply: Any, doing: str) -> ActionResult:
    code, message = error_of(reply)
    hint = ""
    if reply.status == 403:
        hint = ("; the write identity needs Application.ReadWrite.All (or Application.ReadWrite.OwnedBy as an "
                "owner); set revoke_client_id/revoke_client_secret or revoke_token")
    return ActionResult(state="failed", status_code=reply.status,
                        message=f"{doing}: {reply.status} {code} {message}".strip()[:400] + hint)


async def _set_enabled(api: Api, identity: Identity, enabled: bool) -> ActionResult:
    path = f"/v1.0/servicePrincipals/{quote(identity.native_id)}"
    reply = await api.send("PATCH", path, {"accountEnabled": enabled})
    if reply.status == 404:
        return ActionResult(state="already-absent", status_code=404, message="the service principal no longer exists",
                            removed=True)
    if not reply.ok:
        return _failed(reply, "enable" if enabled else "disable")
    check = await api.get(f"{path}?$select=id,accountEnabled")
    now_enabled = check.data.get("accountEnabled") if check.ok and isinstance(check.data, Mapping) else None
    if now_enabled is not enabled:
        return ActionResult(state="failed", status_code=check.status,
                            message=f"Graph accepted the change but reads back accountEnabled={now_enabled!r}")
    details = {**identity.details, "account_enabled": enabled}
    fresh = dataclasses.replace(identity, status="active" if enabled else "inactive", details=details)
    word = "enabled" if enabled else f"disabled; {TOKEN_CAVEAT}"
    return ActionResult(state="ok", status_code=reply.status, message=f"service principal {word}", identity=fresh)


async def _credentials(api: Api, path: str, field: str) -> tuple[list[Mapping[str, Any]] | None, Any]:
    reply = await api.get(f"{path}?$select=id,{field}")
    if reply.ok and isinstance(reply.data, Mapping) and isinstance(reply.data.get(field), list):
        return [c for c in reply.data[field] if isinstance(c, Mapping)], reply
    return None, reply


async def _remove_secret(api: Api, identity: Identity) -> ActionResult:
    origin, parent, key = _split(identity.native_id)
    path = _parent_path(origin, parent)
    reply = await api.send("POST", f"{path}/removePassword", {"keyId": key})
    creds, check = await _credentials(api, path, "passwordCredentials")
    if check.status == 404:
        return ActionResult(state="already-absent", status_code=404, message="the application no longer exists",
                            removed=True)
    if creds is None:
        if reply.ok:
            return ActionResult(state="ok", status_code=reply.status, removed=True,
                                message=f"secret removed (could not read back: {check.status})")
        return _failed(reply, "removePassword")
    present = any(str(c.get("keyId", "")).lower() == key.lower() for c in creds)
    if not present:
        state = "ok" if reply.ok else "already-absent"
        return ActionResult(state=state, status_code=reply.status, removed=True,
                            message="secret removed" if reply.ok else "the secret was already gone")
    return _failed(reply, "removePassword") if not reply.ok else ActionResult(
        state="failed", status_code=reply.status, message="Graph accepted removePassword but the secret is still listed")


async def _remove_certificate(api: Api, identity: Identity) -> ActionResult:
    origin, parent, key = _split(identity.native_id)
    path = _parent_path(origin, parent)
    creds, check = await _credentials(api, path, "keyCredentials")
    if check.status == 404:
        return ActionResult(state="already-absent", status_code=404, message="the application no longer exists",
                            removed=True)
    if creds is None:
        return _failed(check, "reading keyCredentials")
    keep = [dict(c) for c in creds if str(c.get("keyId", "")).lower() != key.lower()]
    if len(keep) == len(creds):
        return ActionResult(state="already-absent", status_code=check.status, removed=True,
                            message="the certificate was already gone")
    reply = await api.send("PATCH", path, {"keyCredentials": keep})
    if not reply.ok:
        return _failed(reply, "rewriting keyCredentials")
    after, _ = await _credentials(api, path, "keyCredentials")
    if after is None or any(str(c.get("keyId", "")).lower() == key.lower() for c in after):
        return ActionResult(state="failed", status_code=reply.status,
                            message="Graph accepted the new keyCredentials but the certificate is still listed")
    return ActionResult(state="ok", status_code=reply.status, removed=True, message="certificate removed")


async def _delete_fic(api: Api, identity: Identity, arm: bool) -> ActionResult:
    native = identity.native_id
    if arm:
        if not is_fic_of(native, str(identity.details.get("uami_id") or "")):
            return ActionResult(state="failed", message="refused: the id is not a federated credential of this "
                                "managed identity, so an irreversible DELETE will not be sent to it")
        path = f"{native}?api-version={MSI_API}"
    else:
        app, _, fic = native.partition("/")
        path = f"/v1.0/applications/{quote(app)}/federatedIdentityCredentials/{quote(fic)}"
    reply = await api.send("DELETE", path)
    if reply.status == 404:
        return ActionResult(state="already-absent", status_code=404, message="the federated credential no longer exists",
                            removed=True)
    if reply.status == 409:
        return ActionResult(state="failed", status_code=409, message=(
            "409 Conflict: another change to this managed identity's federated credentials is running; retry"))
    if not reply.ok:
        return _failed(reply, "delete")
    d = identity.details
    return ActionResult(state="ok", status_code=reply.status, removed=True, message=(
        f"federated credential deleted (issuer {d.get('issuer', '')}, subject {d.get('subject') or ''})")[:400])
