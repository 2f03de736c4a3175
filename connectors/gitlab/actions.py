"""What can be done to a GitLab identity: the calls, whether they can be undone, and doing them.

| kind | action | call | undo |
|---|---|---|---|
| personal/project/group access token | revoke | `DELETE /personal_access_tokens/:id`, `/projects/:id/access_tokens/:id`, `/groups/:id/access_tokens/:id` | none: still listed as revoked |
| same | rotate | `POST …/:id/rotate` (after a fresh read: rotating a revoked token revokes its family) | none: the new value is shown once |
| deploy key | delete | `DELETE /projects/:id/deploy_keys/:key_id` (unlinks it; gone once no project uses it) | none |
| deploy token | revoke | `DELETE /projects/:id/deploy_tokens/:id`, `/groups/:id/deploy_tokens/:id` | none |
| runner | pause / unpause | `PUT /runners/:id paused=true / false` | unpause / pause |
| runner | delete | `DELETE /runners/:id` | none: register it again |
| CI variable | delete | `DELETE …/variables/:key?filter[environment_scope]=…`, `/admin/ci/variables/:key` | none |
| trigger token | delete | `DELETE /projects/:id/triggers/:id` | none |

Each action runs with the write credential (`revoke_token`, else `token`), loaded for that call only.
A 404 is "already absent". A rotated token's new value travels only in `ActionResult.secret`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import gitlab.exceptions as glexc
import requests

from connectors.gitlab.client import API, BadResponse, Client, Stopped, enc, pages, scrub
from connectors.gitlab.runners import parse_runner
from connectors.gitlab.tokens import TOKEN_KINDS, parse_token
from nhitui.model import Action, ActionResult, Identity, sanitize

if TYPE_CHECKING:
    from connectors.gitlab import GitLabConnector

UNDO = {"pause": "unpause", "unpause": "pause"}


# --- planning (no request) -------------------------------------------------------------------------

def plan(identity: Identity) -> list[Action]:
    """The actions offered for `identity`, reversible first."""
    out: list[Action] = []
    for name in identity.actions:
        call = _call(identity, name)
        if call is None:
            continue
        out.append(Action(name=name, reversible="yes" if name in UNDO else "no",
                          description=_describe(identity, name), call=call, undo=UNDO.get(name, "")))
    order = {"yes": 0, "holder": 1, "no": 2}
    return sorted(out, key=lambda a: order.get(a.reversible, 3))


def token_path(identity: Identity) -> str | None:
    """Where a token lives: a group's service account, a group's credentials inventory, the token API."""
    d = identity.details
    tid = d.get("token_id")
    if tid is None:
        return None
    if identity.kind == "personal_access_token":
        if d.get("service_account_group") and d.get("user_id") is not None:
            return f"/groups/{enc(d['service_account_group'])}/service_accounts/{enc(d['user_id'])}" \
                   f"/personal_access_tokens/{tid}"
        if d.get("manage_group"):
            return f"/groups/{enc(d['manage_group'])}/manage/personal_access_tokens/{tid}"
        return f"/personal_access_tokens/{tid}"
    if identity.kind == "project_access_token" and d.get("project_id") is not None:
        return f"/projects/{d['project_id']}/access_tokens/{tid}"
    if identity.kind == "group_access_token" and d.get("group_id") is not None:
        return f"/groups/{d['group_id']}/access_tokens/{tid}"
    return None


def _call(identity: Identity, action: str) -> str | None:
    d, kind = identity.details, identity.kind
    path: str | None = None
    verb = "DELETE"
    if kind in TOKEN_KINDS:
        path = token_path(identity)
        if path and action == "rotate":
            verb, path = "POST", path + "/rotate"
        elif action != "revoke":
            path = None
    elif kind == "deploy_key" and action == "delete":
        path = None if d.get("project_id") is None else \
            f"/projects/{d['project_id']}/deploy_keys/{d.get('key_id')}"
    elif kind == "deploy_token" and action == "revoke" and d.get("scope") in ("project", "group"):
        sid = d.get(f"{d['scope']}_id")
        path = f"/{d['scope']}s/{sid}/deploy_tokens/{d.get('token_id')}"
    elif kind == "runner":
        rid = d.get("runner_id")
        if action == "delete":
            path = f"/runners/{rid}"
        elif action in ("pause", "unpause"):
            return f"PUT {API}/runners/{rid} paused={'true' if action == 'pause' else 'false'}"
    elif kind == "ci_variable" and action == "delete":
        key = enc(d.get("key"))
        if d.get("scope") == "instance":
            path = f"/admin/ci/variables/{key}"
        else:
            sid = d.get(f"{d.get('scope')}_id")
            path = f"/{d.get('scope')}s/{sid}/variables/{key}?filter[environment_scope]=" \
                   f"{enc(d.get('environment_scope') or '*')}"
    elif kind == "trigger_token" and action == "delete":
        path = f"/projects/{d.get('project_id')}/triggers/{d.get('trigger_id')}"
    elif kind == "ssh_key" and action == "delete" and d.get("group"):
        path = f"/groups/{enc(d['group'])}/manage/ssh_keys/{d.get('key_id')}"
    elif kind == "agent_token" and action == "revoke":
        path = f"/projects/{d.get('project_id')}/cluster_agents/{d.get('agent_id')}/tokens/{d.get('token_id')}"
    return f"{verb} {API}{path}" if path else None


def _describe(identity: Identity, action: str) -> str:
    kind = identity.kind
    if action == "revoke" and kind in TOKEN_KINDS:
        return "Revoke the token: every client using it fails at once. GitLab keeps it listed as revoked; " \
               "it cannot be restored, only replaced."
    if action == "rotate":
        return "Revoke the token and issue a replacement with the same name and scopes (GitLab's default " \
               "expiry: one week). The new value is shown once; the old one stops working."
    if kind == "deploy_key":
        return f"Remove the deploy key from {identity.target}. GitLab deletes the key once no project uses " \
               "it; while another project still has it, it can be re-enabled here."
    if kind == "deploy_token":
        return "Revoke the deploy token; it cannot be restored."
    if action == "pause":
        return "Pause the runner: it takes no new jobs until it is unpaused (reversible)."
    if action == "unpause":
        return "Unpause the runner: it takes jobs again."
    if kind == "runner":
        return "Delete the runner; it must be registered again to come back. A non-administrator " \
               "cannot delete a runner that serves more than one project."
    if kind == "ci_variable":
        return "Delete the CI/CD variable (its value is lost; pipelines that read it fail)."
    if kind == "trigger_token":
        return "Delete the pipeline trigger token; callers using it get 404."
    if kind == "ssh_key":
        return f"Delete {identity.owner or 'the user'}'s SSH key through the group's credentials inventory; " \
               "the user is notified and must add a new key to push or pull over SSH."
    if kind == "agent_token":
        return f"Revoke the token of agent {identity.details.get('agent') or ''}: the agent disconnects until it " \
               "is given a new token. It cannot be restored."
    return action


# --- doing -----------------------------------------------------------------------------------------

def execute(site: GitLabConnector, gl: Client, identity: Identity, action: str) -> ActionResult:
    """Perform one action (blocking; the connector runs it in a thread)."""
    session = gl.counted
    d, kind = identity.details, identity.kind
    try:
        if kind in TOKEN_KINDS:
            return _token_action(site, gl, identity, action)
        if kind == "deploy_key":     # a key no project uses has no delete in GitLab's API: never here
            gl.projects.get(d["project_id"], lazy=True).keys.delete(d["key_id"])
            return ActionResult("ok", session.last_status, "deploy key removed", removed=True)
        if kind == "deploy_token":
            parent = gl.projects if d["scope"] == "project" else gl.groups
            parent.get(d[f"{d['scope']}_id"], lazy=True).deploytokens.delete(d["token_id"])
            return ActionResult("ok", session.last_status, "deploy token revoked", removed=True)
        if kind == "runner":
            return _runner_action(site, gl, identity, action)
        if kind == "ci_variable":
            key = d["key"]
            if d["scope"] == "instance":
                gl.variables.delete(key)
            else:
                parent = gl.projects if d["scope"] == "project" else gl.groups
                parent.get(d[f"{d['scope']}_id"], lazy=True).variables.delete(
                    key, filter={"environment_scope": d.get("environment_scope") or "*"})
            return ActionResult("ok", session.last_status, "variable deleted", removed=True)
        if kind == "trigger_token":
            gl.projects.get(d["project_id"], lazy=True).triggers.delete(d["trigger_id"])
            return ActionResult("ok", session.last_status, "trigger token deleted", removed=True)
        call = _call(identity, action)
        if kind in ("ssh_key", "agent_token") and call is not None:
            # No python-gitlab manager for these: the documented DELETE, as planned.
            gl.http_delete(call.split(" ", 1)[1][len(API):])
            done = "SSH key deleted" if kind == "ssh_key" else "agent token revoked"
            return ActionResult("ok", session.last_status, done, removed=True)
    except glexc.GitlabAuthenticationError:
        return ActionResult("failed", 401, "authentication failed: GitLab refused the token")
    except glexc.GitlabError as exc:
        code = exc.response_code
        if code == 404:
            return ActionResult("already-absent", 404, "not found at GitLab (already gone)", removed=True)
        return ActionResult("failed", code, sanitize(str(exc.error_message or "request failed"))[:300])
    except (requests.RequestException, Stopped) as exc:
        return ActionResult("failed", None, f"network error: {type(exc).__name__}")
    return ActionResult("failed", message=f"unsupported action {action!r} for {kind}")


def _runner_action(site: GitLabConnector, gl: Client, identity: Identity, action: str) -> ActionResult:
    rid = identity.details["runner_id"]
    if action == "delete":
        gl.runners.delete(rid)
        return ActionResult("ok", gl.counted.last_status, "runner deleted", removed=True)
    gl.runners.update(rid, {"paused": action == "pause"})
    code = gl.counted.last_status
    done = f"runner {'paused' if action == 'pause' else 'unpaused'}"
    try:
        fresh = scrub(gl.http_get(f"/runners/{enc(rid)}"))
    except (glexc.GitlabError, requests.RequestException):
        return ActionResult("ok", code, done + " (re-reading it failed: rescan to see it)")
    return ActionResult("ok", code, done, identity=parse_runner(site, fresh, fallback_target=identity.target))


def _rotation_refused(gl: Client, identity: Identity) -> str:
    """Why not to rotate, read fresh: GitLab answers the rotation of an already revoked token by
    revoking its whole family (every token rotated from it), so the state seen at scan time,
    possibly minutes old, is not enough."""
    if not token_path(identity):
        return ""
    try:
        data = _current(gl, identity)
    except glexc.GitlabHttpError as exc:
        if exc.response_code == 404:
            return "not rotated: the token no longer exists (rescan to see it)"
        return f"not rotated: its current state could not be read (HTTP {exc.response_code})"
    except (glexc.GitlabError, requests.RequestException) as exc:
        return f"not rotated: its current state could not be read ({type(exc).__name__})"
    if not isinstance(data, dict) or data.get("revoked") or data.get("active") is False:
        return ("not rotated: the token is already revoked or inactive, and rotating a revoked token "
                "revokes every token rotated from it")
    return ""


def _scope_id(identity: Identity) -> Any:
    d = identity.details
    return d.get("project_id") if identity.kind == "project_access_token" else \
        d.get("group_id") if identity.kind == "group_access_token" else None


def _token_action(site: GitLabConnector, gl: Client, identity: Identity, action: str) -> ActionResult:
    kind = identity.kind
    tid = identity.details["token_id"]
    path = token_path(identity)
    if path is None:
        return ActionResult("failed", message=f"no API path for {kind} {tid}")
    if action == "rotate":
        refused = _rotation_refused(gl, identity)
        if refused:
            return ActionResult("failed", message=refused)
        data = gl.http_post(path + "/rotate")
        code = gl.counted.last_status
        if not isinstance(data, dict):
            return ActionResult("ok", code, f"rotated token {tid}, but GitLab's answer is not a token: rescan")
        secret = data.pop("token", None)
        scrub(data)
        fresh = _reparse(site, identity, data)
        del data
        return ActionResult("ok", code, f"rotated: token {tid} is revoked, its replacement is token "
                                        f"{fresh.details.get('token_id')}", identity=fresh, secret=secret)
    if action != "revoke":
        return ActionResult("failed", message=f"unsupported action {action!r} for {kind}")
    gl.http_delete(path)
    code = gl.counted.last_status
    try:
        data = _current(gl, identity)
    except glexc.GitlabHttpError as exc:
        if exc.response_code == 404:
            return ActionResult("ok", code, "token revoked", removed=True)
        return ActionResult("ok", code, "token revoked (re-reading it failed: rescan to see it)")
    except (glexc.GitlabError, requests.RequestException):
        return ActionResult("ok", code, "token revoked (re-reading it failed: rescan to see it)")
    if not isinstance(data, dict):
        return ActionResult("ok", code, "token revoked", removed=True)
    return ActionResult("ok", code, "token revoked", identity=_reparse(site, identity, data))


def _reparse(site: GitLabConnector, identity: Identity, data: dict[str, Any]) -> Identity:
    """The token as GitLab now answers it, found where the old one was (same owner, target, path)."""
    d = identity.details
    extra = {k: d[k] for k in ("service_account", "service_account_group", "manage_group") if k in d}
    return parse_token(site, identity.kind, data, identity.owner, identity.target, _scope_id(identity), extra=extra)


def _current(gl: Client, identity: Identity) -> Any:
    """The token's state now. The service-account and inventory APIs have no single-token GET: their
    list is read (filtered by name) and the token picked from it; absent means 404."""
    path = token_path(identity) or ""
    d = identity.details
    if not (d.get("service_account_group") or d.get("manage_group")):
        return scrub(gl.http_get(path))
    listing = path.rsplit("/", 1)[0]
    try:
        for page in pages(gl, listing, {"search": identity.name} if d.get("manage_group") else None):
            for item in page:
                if str(item.get("id")) == str(d.get("token_id")):
                    return item
    except BadResponse as exc:
        raise glexc.GitlabParsingError(str(exc)) from exc
    raise glexc.GitlabHttpError("404 Not found", response_code=404)
