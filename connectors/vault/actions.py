"""What can be done to a Vault identity, the calls, and what each cannot undo.

- Token: `disable` its entity (reversible: every token of the entity gets 403 until `enable`;
  only tokens with an entity — a plain `auth/token/create` token has none), or `revoke` by accessor
  (irreversible; cascades to every non-orphan child token and their leases. Vault exposes no token
  tree, so the children cannot be counted in advance: the plan says so).
- AppRole secret ID: `destroy` by accessor (irreversible; tokens already issued with it stay valid).
- Auth role: `delete-role` (irreversible; new logins stop, existing tokens survive). Never offered
  first; the plan shows the role's settings so it can be recreated.
The uid carries the namespace and path, so an action needs no re-scan to find its target.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from connectors.vault.client import VaultClient, errors_of
from nhitui.model import Action, ActionResult, Identity

CASCADE = ("Revoke the token: irreversible. Vault also revokes every non-orphan child token it created and "
           "their leases (dynamic credentials); Vault does not expose the token tree, so how many cannot be "
           "shown beforehand.")


def native_parts(identity: Identity) -> tuple[str, list[str]]:
    """(namespace, path parts) from the uid's native id (`ns//mount/role/...` or `mount/role/...`)."""
    native = identity.native_id
    namespace, _, rest = native.rpartition("//") if "//" in native else ("", "", native)
    return namespace, rest.split("/")


def available(identity: Identity) -> list[Action]:
    d = identity.details
    if identity.kind == "vault_token":
        acts = []
        if d.get("entity_id") and identity.status != "inactive":
            acts.append(Action("disable", "yes", "Disable the token's entity: this token and every other token of "
                               "the same entity (for an AppRole or JWT login: the whole role) get 403 until "
                               "it is enabled again.", call=f"POST identity/entity/id/{d['entity_id']} "
                               '{"disabled": true}', undo="enable"))
        if d.get("entity_id") and identity.status == "inactive":
            acts.append(Action("enable", "yes", "Enable the token's entity again.",
                               call=f"POST identity/entity/id/{d['entity_id']} {{\"disabled\": false}}",
                               undo="disable"))
        acts.append(Action("revoke", "no", CASCADE,
                           call=f"POST auth/token/revoke-accessor accessor={d.get('accessor', '')}"))
        return acts
    if identity.kind == "approle_secret_id":
        return [Action("destroy", "no", "Destroy the secret ID: irreversible. Tokens already issued with it stay "
                       "valid until they expire; revoke those separately.",
                       call=f"POST auth/{d.get('mount')}/role/{d.get('role')}/secret-id-accessor/destroy")]
    if identity.kind == "vault_auth_role":
        config = json.dumps(d.get("config") or {}, sort_keys=True)[:1500]
        return [Action("delete-role", "no", "Delete the role: irreversible. Logins through it stop (pipelines "
                       "using it break); tokens already issued stay valid. To recreate it, write these "
                       f"settings back: {config}", call=f"DELETE auth/{d.get('mount')}/role/{d.get('role')}")]
    return []


async def execute(client: VaultClient, identity: Identity, action: str) -> ActionResult:
    namespace, _ = native_parts(identity)
    client = client.within(namespace)
    d = identity.details
    if identity.kind == "vault_token" and action == "revoke":
        return await _revoke(client, str(d.get("accessor") or ""))
    if identity.kind == "vault_token" and action in ("disable", "enable") and d.get("entity_id"):
        return await _entity(client, identity, str(d["entity_id"]), disabled=action == "disable")
    if identity.kind == "approle_secret_id" and action == "destroy":
        return await _destroy(client, str(d.get("mount")), str(d.get("role")), str(d.get("accessor")))
    if identity.kind == "vault_auth_role" and action == "delete-role":
        return await _delete_role(client, str(d.get("mount")), str(d.get("role")))
    return ActionResult(state="failed", message=f"{action!r} is not an action of a {identity.kind}")


def _failed(reply: Any, what: str) -> ActionResult:
    hint = "; the write credential needs update on that path (see the README's nhi-revoker policy)" \
        if reply.status == 403 else ""
    return ActionResult(state="failed", status_code=reply.status,
                        message=f"{what}: HTTP {reply.status} {errors_of(reply)}{hint}".strip())


async def _revoke(client: VaultClient, accessor: str) -> ActionResult:
    reply = await client.write("auth/token/revoke-accessor", {"accessor": accessor}, final=frozenset({500}))
    warnings = reply.data.get("warnings") if isinstance(reply.data, Mapping) else None
    if reply.ok and isinstance(warnings, list) and any("no token found" in str(w).lower() for w in warnings):
        return ActionResult(state="already-absent", status_code=reply.status,
                            message="no token has this accessor any more", removed=True)
    if reply.status == 400 and "invalid accessor" in errors_of(reply).lower():
        return ActionResult(state="already-absent", status_code=400, message="the accessor is no longer valid",
                            removed=True)
    if reply.ok:
        return ActionResult(state="ok", status_code=reply.status, message="token revoked (with its children)",
                            removed=True)
    return _failed(reply, "revoke-accessor")


async def _entity(client: VaultClient, identity: Identity, entity: str, disabled: bool) -> ActionResult:
    current = await client.call("GET", f"identity/entity/id/{entity}")
    if current.status == 404:
        return ActionResult(state="failed", status_code=404, message="the token's entity no longer exists")
    reply = await client.write(f"identity/entity/id/{entity}", {"disabled": disabled})
    if not reply.ok:
        return _failed(reply, "entity update")
    actions = ("enable", "revoke") if disabled else ("disable", "revoke")
    details = {**identity.details, "entity_disabled": disabled}
    return ActionResult(state="ok", status_code=reply.status,
                        message="entity disabled: its tokens get 403" if disabled else "entity enabled again",
                        identity=replace(identity, status="inactive" if disabled else "active", actions=actions,
                                         details=details))


async def _destroy(client: VaultClient, mount: str, role: str, accessor: str) -> ActionResult:
    base = f"auth/{mount}/role/{role}"
    look = await client.write(f"{base}/secret-id-accessor/lookup", {"secret_id_accessor": accessor},
                              final=frozenset({500}))
    # Only a 404 (or "role does not exist") proves it gone; a 500 may be a storage or namespace
    # error, so the destroy is still attempted and its own answer decides.
    if look.status == 404 or (look.status == 400 and "does not exist" in errors_of(look)):
        return ActionResult(state="already-absent", status_code=look.status,
                            message="the secret ID (or its role) no longer exists", removed=True)
    if look.status == 403:
        return _failed(look, "secret-id lookup")
    reply = await client.write(f"{base}/secret-id-accessor/destroy", {"secret_id_accessor": accessor},
                               final=frozenset({500}))
    if reply.ok:
        return ActionResult(state="ok", status_code=reply.status, removed=True,
                            message="secret ID destroyed; tokens already issued with it stay valid")
    if reply.status == 500 and "failed to find accessor" in errors_of(reply):
        return ActionResult(state="already-absent", status_code=500, message="already destroyed", removed=True)
    return _failed(reply, "secret-id destroy")


async def _delete_role(client: VaultClient, mount: str, role: str) -> ActionResult:
    current = await client.call("GET", f"auth/{mount}/role/{role}")
    if current.status == 404:
        return ActionResult(state="already-absent", status_code=404, message="the role no longer exists",
                            removed=True)
    reply = await client.call("DELETE", f"auth/{mount}/role/{role}")
    if reply.ok:
        return ActionResult(state="ok", status_code=reply.status, removed=True,
                            message="role deleted; tokens already issued through it stay valid")
    return _failed(reply, "role delete")
