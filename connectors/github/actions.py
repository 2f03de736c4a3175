"""What can be done to each GitHub kind, the REST call that does it, and its undo.

`call` maps (identity, action) to one request; `offered` lists the actions of an identity, reversible
first, each naming its call; `execute` sends it with the write credential (`client.write`) and
reads the answer. GitHub answers 404, not 403, for what a token may not see: a 404 counts as
"already absent" only when the same credential can list the parent collection.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from connectors.base import AuthError, ConnectorError
from connectors.github import groups, hooks, pats, secrets
from connectors.github.client import message
from nhitui.model import Action, ActionResult, Identity, sanitize

if TYPE_CHECKING:
    from connectors.github.client import GitHubClient

Call = tuple[str, str, "dict[str, Any] | None"]
SECRET_TYPES = {kind: stype for stype, kind in secrets.KINDS.items()}     # actions_secret -> actions


def _org(identity: Identity) -> str:
    return str(identity.details.get("org") or identity.target.split("/", 1)[0])


def call(identity: Identity, action: str) -> Call | None:
    """(verb, path, body) of `action` on `identity`, or None when it is not one of its actions."""
    d = identity.details
    org = _org(identity)
    kind = identity.kind
    if kind == "deploy_key" and action == "delete":
        return "DELETE", f"/repos/{d.get('repo') or identity.target}/keys/{d.get('key_id') or identity.native_id}", None
    if kind == "runner" and action == "remove":
        rid = d.get("runner_id") or identity.native_id.rsplit(":", 1)[-1]
        if d.get("scope") == "repo":
            return "DELETE", f"/repos/{d.get('repo') or identity.target}/actions/runners/{rid}", None
        return "DELETE", f"/orgs/{quote(org)}/actions/runners/{rid}", None
    if kind in SECRET_TYPES and action == "delete":
        stype = SECRET_TYPES[kind]
        name = quote(str(d.get("secret_name") or identity.name), safe="")
        scope = d.get("scope")
        if scope == "org":
            return "DELETE", f"/orgs/{quote(org)}/{stype}/secrets/{name}", None
        if scope == "environment":
            env = quote(str(d.get("environment")), safe="")
            repo = d.get("repo") or identity.target.rsplit(":", 1)[0]
            return "DELETE", f"/repos/{repo}/environments/{env}/secrets/{name}", None
        return "DELETE", f"/repos/{identity.target}/{stype}/secrets/{name}", None
    if kind == "fine_grained_pat":
        if identity.status == "pending" and action == "deny":
            return "POST", f"/orgs/{quote(org)}/personal-access-token-requests/{d.get('request_id')}", \
                {"action": "deny"}
        if identity.status != "pending" and action == "revoke":
            return "POST", f"/orgs/{quote(org)}/personal-access-tokens/{d.get('pat_id')}", {"action": "revoke"}
    if kind == "sso_credential" and action == "revoke":
        return "DELETE", f"/orgs/{quote(org)}/credential-authorizations/{d.get('credential_id')}", None
    if kind == "webhook" and action in ("deactivate", "activate", "delete"):
        hid = d.get("hook_id") or identity.native_id.rsplit(":", 1)[-1]
        base = f"/repos/{d.get('repo') or identity.target}/hooks/{hid}" if d.get("scope") == "repo" \
            else f"/orgs/{quote(org)}/hooks/{hid}"
        if action == "delete":
            return "DELETE", base, None
        return "PATCH", base, {"active": action == "activate"}
    return None


def needs(identity: Identity, app: bool) -> str:
    """Why `identity` has no action with this source's credentials ("" when it has its actions)."""
    if identity.kind == "fine_grained_pat" and not app:
        return f"needs {pats.NEEDS_APP}"
    return ""


def offered(identity: Identity, app: bool) -> list[Action]:
    """The actions of `identity`, most reversible first, each with the call it will make; `app`: the
    source has a GitHub App (the only credential GitHub accepts on the fine-grained PAT endpoints)."""
    if needs(identity, app):
        return []
    def show(action: str) -> str:
        spec = call(identity, action)
        if spec is None:
            return ""
        verb, path, body = spec
        return f"{verb} {path}" + (f" {json.dumps(body, separators=(',', ':'))}" if body else "")

    kind = identity.kind
    if kind == "deploy_key":
        return [Action("delete", "no", "Delete the deploy key. Keys cannot be disabled; restoring access "
                                       "means adding its public key again.", show("delete"))]
    if kind == "runner":
        remove = Action("remove", "no", "Remove the self-hosted runner; its host must register again with a "
                                        "new registration token.", show("remove"))
        return [*groups.offered(identity), remove]
    if kind in SECRET_TYPES:
        return [Action("delete", "no", "Delete the secret; its value is gone and workflows using it fail "
                                       "until it is set again.", show("delete"))]
    if kind == "fine_grained_pat":
        if identity.status == "pending":
            return [Action("deny", "holder", "Deny the pending request; its owner can ask again.", show("deny"))]
        return [Action("revoke", "holder", "Revoke the token's access to the organisation; the token itself "
                                           "survives and its owner can request access again.", show("revoke"))]
    if kind == "sso_credential":
        return [Action("revoke", "holder", "Remove the SAML SSO authorization of this credential for the "
                                           "organisation; its holder can authorize it again.", show("revoke"))]
    if kind == "webhook":
        delete = Action("delete", "no", "Delete the webhook and its secret.", show("delete"))
        if identity.status == "inactive":
            return [Action("activate", "yes", "Re-enable deliveries of the webhook.", show("activate"),
                           undo="deactivate"), delete]
        # Only `active` is sent: GitHub drops the secret when an update carries `config` without it,
        # and keeps it on an `active`-only PATCH (observed; the documentation only warns, apis.md 1.8).
        return [Action("deactivate", "yes", "Stop deliveries; only `active` is sent, so the webhook and its "
                                            "secret are kept.", show("deactivate"), undo="activate"), delete]
    return []


def parent_path(path: str) -> str:
    """The list an object of a write path belongs to (`/repos/o/r/keys/1` -> `/repos/o/r/keys`): a
    200 there with the same credential shows it may see such objects, so a 404 means gone."""
    parent = path.split("?", 1)[0].rstrip("/").rsplit("/", 1)[0]
    return f"{parent}?per_page=1" if parent.count("/") >= 2 else ""


def app_only(path: str) -> bool:
    """The fine-grained PAT grant and request endpoints: GitHub rejects classic PATs there."""
    return "/personal-access-token" in path


async def _write(gh: GitHubClient, verb: str, path: str, body: Any) -> tuple[int, dict[str, str], Any]:
    return await asyncio.to_thread(gh.write, verb, path, body, app_only(path))


async def _gone_or_hidden(gh: GitHubClient, path: str, said: str) -> ActionResult:
    """GitHub answers 404, not 403, when a token may not see a resource. So a 404 means
    "already gone" only if the same write credential can list the objects it was among;
    otherwise the revoke failed and the credential may still be live."""
    parent = parent_path(path)
    if parent:
        status, _, data = await _write(gh, "GET", parent, None)
        if status != 200:
            seen = message(data) or (f"HTTP {status}" if status else "request failed")
            where = parent.split("?", 1)[0]
            return ActionResult("failed", 404, f"GitHub answered 404 ({said}), and {where} is not visible "
                                f"with the write credential ({seen}): not found, or no access to it")
    return ActionResult("already-absent", 404, said, removed=True)


async def execute(gh: GitHubClient, identity: Identity, action: str) -> ActionResult:
    if identity.kind == "runner" and action in ("restrict-group", "restore"):
        return await groups.execute(gh, identity, action)
    spec = call(identity, action)
    if spec is None:
        return ActionResult("failed", message=f"{action!r} is not an action of a GitHub {identity.kind}")
    missing = needs(identity, gh.has_app)
    if missing:
        return ActionResult("failed", message=f"not sent: {action} {missing}")
    verb, path, body = spec
    try:
        status, headers, data = await _write(gh, verb, path, body)
    except (AuthError, ConnectorError) as exc:
        return ActionResult("failed", message=str(exc))
    said = message(data)
    if status == 404:
        return await _gone_or_hidden(gh, path, said or "Not Found")
    if not 200 <= status < 300:
        accepted = headers.get("x-accepted-github-permissions")
        text = said or (f"HTTP {status}" if status else "request failed")
        if accepted:
            text += f" (GitHub accepts: {sanitize(accepted)[:200]})"
        return ActionResult("failed", status or None, text)
    if identity.kind == "webhook" and action in ("deactivate", "activate"):
        d = identity.details
        repo = str(d.get("repo") or identity.target) if d.get("scope") == "repo" else None
        if not isinstance(data, dict) or "id" not in data:
            return ActionResult("ok", status, f"webhook {action}d", identity=None)
        return ActionResult("ok", status, f"webhook {action}d", identity=hooks.hook(gh, data, _org(identity), repo))
    return ActionResult("ok", status, said or "done", removed=True)


async def revoke_pat_grants(gh: GitHubClient, grants: Iterable[Identity | int | str],
                            default_org: str) -> list[ActionResult]:
    """Bulk-revoke fine-grained PAT grants (POST /orgs/{org}/personal-access-tokens, 202, async at GitHub);
    one result per organisation batch of at most 100 ids."""
    if not gh.has_app:
        return [ActionResult("failed", message=f"not sent: revoking grants needs {pats.NEEDS_APP}")]
    by_org: dict[str, list[int]] = {}
    for g in grants:
        if isinstance(g, Identity):
            pid, gorg = g.details.get("pat_id"), str(g.details.get("org") or g.target)
        else:
            pid, gorg = str(g).rsplit(":", 1)[-1], default_org
        try:
            by_org.setdefault(gorg, []).append(int(pid))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            continue
    results = []
    for gorg, ids in by_org.items():
        for start in range(0, len(ids), 100):
            chunk = ids[start:start + 100]
            status, _, data = await _write(gh, "POST", f"/orgs/{quote(gorg)}/personal-access-tokens",
                                           {"action": "revoke", "pat_ids": chunk})
            if 200 <= status < 300:
                results.append(ActionResult("ok", status, f"revoking {len(chunk)} grants of {gorg}", removed=True))
            else:
                results.append(ActionResult("failed", status or None, message(data) or f"HTTP {status}"))
    return results
