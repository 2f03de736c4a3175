"""Docker Hub personal and organization access tokens, with deactivate / activate / delete.

Login: `POST /v2/auth/token {identifier, secret}` returns a short-lived JWT used as Bearer; when
it expires mid-scan (401) the connector logs in once more. Personal access tokens come from
`GET /v2/access-tokens` (`{count, next, results}`, `next` an absolute URL, `page_size` <= 100);
organization access tokens from `GET /v2/orgs/{org}/access-tokens`, whose scopes are only in the
single-token GET (`resources[{type, path, scopes}]`), fetched concurrently. Org members
(`GET /v2/orgs/{org}/members`) become the `members` fact, so a token created by someone who left
is flagged. On 429 Docker Hub sends `X-Retry-After` as a Unix timestamp (handled by `_http`).
Deactivating (`PATCH {"is_active": false}`) is reversible; deleting is not.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote, urlsplit

from connectors._http import (
    GaveUp,
    Reply,
    Session,
    TooLarge,
    auth_failed,
    clean,
    denied_reason,
    fresh,
    merge,
    when,
)
from connectors.base import AuthError, ConnectorError, Report, Resolve, setting
from nhitui.model import Action, ActionResult, Identity, make_uid, max_privilege

DEFAULT_API = "https://hub.docker.com"
KIND = "dockerhub_token"
PAGE_SIZE = 100
PAT_PRIVILEGE = {"repo:admin": "admin", "repo:write": "write", "repo:read": "read", "repo:public_read": "read"}


def pat_privilege(scopes: tuple[str, ...]) -> str:
    return max_privilege(*(PAT_PRIVILEGE.get(s.lower(), "write") for s in scopes)) if scopes else "none"


def oat_scope_privilege(scope: str) -> str:
    s = scope.lower()
    if "admin" in s or "delete" in s:
        return "admin"
    if any(w in s for w in ("push", "write", "edit", "create", "manage")):
        return "write"
    if any(w in s for w in ("pull", "read", "list", "view")):
        return "read"
    return "write"  # an unknown scope is not assumed harmless


class DockerHubConnector:
    provider = "dockerhub"

    def __init__(self, settings: Mapping[str, Any], resolve: Resolve) -> None:
        self.settings = dict(settings)
        self.name = str(settings["name"])
        self.report = Report(self.name, self.provider)
        self._resolve = resolve
        self.api = str(setting(settings, "api_url", DEFAULT_API)).rstrip("/")
        self.username = str(settings.get("username") or "")
        self.orgs = [str(o) for o in (settings.get("orgs") or []) if str(o)]
        self.concurrency = max(1, min(100, int(settings.get("concurrency") or 16)))
        self.is_hub = (urlsplit(self.api).hostname or "") == "hub.docker.com"
        self._read = 0
        self._failures: list[str] = []
        self._members: set[str] = set()
        self._members_ok = True

    # --- login -------------------------------------------------------------------------------

    async def _login(self, s: Session, secret: str) -> None:
        s.set_auth(None)
        reply = await s.request("POST", f"{self.api}/v2/auth/token",
                                json_body={"identifier": self.username, "secret": secret}, allow_reauth=False)
        if reply.status in (401, 403):
            raise auth_failed(reply, "Docker Hub", f"login as {clean(self.username, 100)!r} refused; check the "
                                                   "username and the access token (SSO orgs need a PAT)")
        token = reply.data.get("access_token") if reply.ok and isinstance(reply.data, Mapping) else None
        if not isinstance(token, str) or not token:
            raise ConnectorError(f"Docker Hub login failed: {denied_reason(reply, '')}")
        s.set_auth(f"Bearer {token}")

    def _session(self, report: Report, secret_ref: str) -> Session:
        """A session whose login is renewed on a 401: the JWT lives 10 minutes, and a long scan or
        revoke session outlives several. Two renewals in a row with nothing accepted in between mean
        the login itself is refused, so the third 401 is final."""
        s = Session(report, self.settings, provider=self.provider)

        async def reauth() -> bool:
            if s.renewals_in_a_row >= 2:
                return False
            await self._login(s, self._resolve(secret_ref))
            return True

        s.reauth = reauth
        return s

    # --- collection --------------------------------------------------------------------------

    async def collect(self) -> AsyncIterator[list[Identity]]:
        if not self.username:
            raise ConnectorError("username: missing (the Docker Hub user or organisation that logs in)")
        ref = str(self.settings.get("token") or "")
        s = self._session(self.report, ref)
        self._read = 0
        self._failures = []
        self._members = set()
        self._members_ok = True
        async with s:
            await self._login(s, self._resolve(ref))
            producers = [self._pats(s)] + [self._org_tokens(s, org) for org in self.orgs]
            producers += [self._org_members(s, org) for org in self.orgs]
            async for batch in merge(producers):
                if batch:
                    self._read += len(batch)
                    yield batch
        if self.orgs and self._members_ok:
            self.report.facts["members"] = sorted(self._members | {self.username})
        if not self._read and self._failures and len(self._failures) >= 1 + len(self.orgs):
            raise ConnectorError("; ".join(self._failures)[:500])

    def _fail(self, what: str, reason: str) -> None:
        self._failures.append(reason)
        self.report.blind_spot(what, reason)

    async def _pats(self, s: Session) -> AsyncIterator[list[Identity]]:
        what = "/v2/access-tokens"
        seen: set[str] = set()
        total: int | None = None
        try:
            async for reply in s.pages(f"{self.api}/v2/access-tokens?page=1&page_size={PAGE_SIZE}", _next, what):
                if reply.status == 401:
                    raise auth_failed(reply, "Docker Hub", "the login token was refused")
                if not reply.ok:
                    self._fail(what, denied_reason(reply, (
                        "needs a personal access token or password login of the user (an organization access "
                        "token cannot list personal tokens)") if reply.status in (403, 404) else ""))
                    return
                results = reply.data.get("results") if isinstance(reply.data, Mapping) else None
                if not isinstance(results, list):
                    self._fail(what, f"{what} answered without a `results` list")
                    return
                if total is None and isinstance(reply.data.get("count"), int):
                    total = reply.data["count"]
                if not results:
                    break               # an empty page ends the list, whatever `next` says
                batch = fresh(results, self._pat, seen)
                if results and not batch:
                    self.report.blind_spot(what, "a page repeated tokens already read; stopped paginating")
                    return
                yield batch
        except (GaveUp, TooLarge) as exc:
            if seen:
                self.report.blind_spot(what, str(exc))
            else:
                self._fail(what, str(exc))
            return
        if total is not None and len(seen) < total and not any(b.what == what for b in self.report.blind_spots):
            self.report.blind_spot(what, f"read {len(seen)} of the {total} tokens the server counts")

    async def _org_tokens(self, s: Session, org: str) -> AsyncIterator[list[Identity]]:
        what = f"/v2/orgs/{org}/access-tokens"
        seen: set[str] = set()
        gate = asyncio.Semaphore(self.concurrency)
        url = f"{self.api}/v2/orgs/{quote(org, safe='')}/access-tokens?page=1&page_size={PAGE_SIZE}"
        try:
            async for reply in s.pages(url, _next, what):
                if reply.status == 401:
                    raise auth_failed(reply, "Docker Hub", "the login token was refused")
                if not reply.ok:
                    self._fail(what, denied_reason(reply, f"needs an owner of the {org!r} organization "
                                                          "(organization access tokens are owner-only)"
                                                   if reply.status in (403, 404) else ""))
                    return
                results = reply.data.get("results") if isinstance(reply.data, Mapping) else None
                if not isinstance(results, list):
                    self._fail(what, f"{what} answered without a `results` list")
                    return
                if not results:
                    break               # an empty page ends the list, whatever `next` says
                fresh = [o for o in results if isinstance(o, Mapping) and isinstance(o.get("id"), str)
                         and o["id"] and f"{org}/{o['id']}" not in seen]
                if results and not fresh:
                    self.report.blind_spot(what, "a page repeated tokens already read; stopped paginating")
                    return
                for o in fresh:
                    seen.add(f"{org}/{o['id']}")

                async def one(obj: Mapping[str, Any]) -> Identity:
                    async with gate:
                        resources = await self._oat_resources(s, org, obj["id"])
                    return self._oat(org, obj, resources, datetime.now(timezone.utc))

                yield list(await asyncio.gather(*(one(o) for o in fresh)))
        except (GaveUp, TooLarge) as exc:
            if seen:
                self.report.blind_spot(what, str(exc))
            else:
                self._fail(what, str(exc))

    async def _oat_resources(self, s: Session, org: str, token_id: str) -> list[Mapping[str, Any]] | None:
        what = f"/v2/orgs/{org}/access-tokens/{{id}}"
        try:
            reply = await s.get(f"{self.api}/v2/orgs/{quote(org, safe='')}/access-tokens/{quote(token_id, safe='')}")
        except (GaveUp, TooLarge) as exc:
            self.report.blind_spot(what, f"scopes of some organization tokens unknown: {exc}")
            return None
        if reply.status == 401:
            raise auth_failed(reply, "Docker Hub", "the login token was refused")
        if not reply.ok or not isinstance(reply.data, Mapping):
            self.report.blind_spot(what, denied_reason(reply, "scopes of some organization tokens unknown"))
            return None
        resources = reply.data.get("resources")
        return [r for r in resources if isinstance(r, Mapping)] if isinstance(resources, list) else []

    async def _org_members(self, s: Session, org: str) -> AsyncIterator[list[Identity]]:
        url = f"{self.api}/v2/orgs/{quote(org, safe='')}/members?page=1&page_size={PAGE_SIZE}"
        try:
            async for reply in s.pages(url, _next, f"/v2/orgs/{org}/members"):
                # Hub's own description types this answer as a bare array; the site serves {results}.
                data = reply.data if reply.ok else None
                results = data if isinstance(data, list) else data.get("results") if isinstance(data, Mapping) else None
                if not isinstance(results, list):
                    self._members_ok = False  # members unknown: "owner departed" cannot be judged
                    return
                if not results:
                    break
                for m in results:
                    if isinstance(m, Mapping) and m.get("username"):
                        self._members.add(str(m["username"]))
        except ConnectorError:
            self._members_ok = False
        if False:  # pragma: no cover - makes this an async generator for merge()
            yield []

    # --- parsing -----------------------------------------------------------------------------

    def _status(self, is_active: Any, expires: datetime | None, now: datetime) -> str:
        if expires is not None and expires <= now:
            return "expired"
        return "active" if is_active is not False else "inactive"

    @staticmethod
    def _actions(status: str) -> tuple[str, ...]:
        if status == "active":
            return ("deactivate", "delete")
        if status == "inactive":
            return ("activate", "delete")
        return ("delete",)

    def _pat(self, obj: Mapping[str, Any], now: datetime) -> Identity | None:
        uuid = obj.get("uuid")
        if not isinstance(uuid, str) or not uuid:
            return None
        raw = obj.get("scopes") or []
        scopes = tuple(str(x) for x in raw) if isinstance(raw, list) else (str(raw),)
        expires = when(obj.get("expires_at"))
        status = self._status(obj.get("is_active"), expires, now)
        return Identity(
            uid=make_uid(self.name, KIND, uuid), source=self.name, provider=self.provider, kind=KIND,
            name=str(obj.get("token_label") or f"token {uuid[:8]}"), owner=self.username, target=self.username, scopes=scopes,
            privilege=pat_privilege(scopes), created_at=when(obj.get("created_at")), expires_at=expires,
            last_used_at=when(obj.get("last_used")), status=status, credential="static",
            actions=self._actions(status),
            url="https://app.docker.com/settings/personal-access-tokens" if self.is_hub else "",
            details={"token_type": "personal", "org": "", "is_active": obj.get("is_active") is not False,
                     "creator_ip": clean(obj.get("creator_ip"), 64), "creator_ua": clean(obj.get("creator_ua")),
                     "generated_by": clean(obj.get("generated_by"), 64)},
        )

    def _oat(self, org: str, obj: Mapping[str, Any], resources: list[Mapping[str, Any]] | None,
             now: datetime) -> Identity:
        scopes: list[str] = []
        for r in resources or []:
            path = str(r.get("path") or "")
            for scope in r.get("scopes") or []:
                scopes.append(f"{path}:{scope}" if path else str(scope))
        privilege = max_privilege(*(oat_scope_privilege(x) for x in scopes)) if scopes else "none"
        expires = when(obj.get("expires_at"))
        status = self._status(obj.get("is_active"), expires, now)
        native = f"{org}/{obj['id']}"
        return Identity(
            uid=make_uid(self.name, KIND, native), source=self.name, provider=self.provider, kind=KIND,
            name=str(obj.get("label") or f"token {str(obj['id'])[:8]}"), owner=str(obj.get("created_by") or ""), target=org,
            scopes=tuple(scopes), privilege=privilege, created_at=when(obj.get("created_at")), expires_at=expires,
            last_used_at=when(obj.get("last_used_at")), status=status, credential="static",
            actions=self._actions(status), url="",
            details={"token_type": "organization", "org": org, "is_active": obj.get("is_active") is not False,
                     "scopes_known": resources is not None,
                     "resources": [{"type": clean(r.get("type"), 32), "path": clean(r.get("path"), 200)}
                                   for r in resources or []]},
        )

    # --- actions -----------------------------------------------------------------------------

    def _path(self, identity: Identity) -> tuple[str, str]:
        """(org or "", token id) from the native id: `uuid` for a PAT, `org/id` for an org token."""
        native = identity.native_id
        org = str(identity.details.get("org") or "") if identity.details else ""
        if "/" in native:
            org, _, token_id = native.partition("/")
            return org, token_id
        return org, native

    def _endpoint(self, org: str, token_id: str) -> str:
        if org:
            return f"/v2/orgs/{quote(org, safe='')}/access-tokens/{quote(token_id, safe='')}"
        return f"/v2/access-tokens/{quote(token_id, safe='')}"

    def actions(self, identity: Identity) -> list[Action]:
        org, token_id = self._path(identity)
        path = self._endpoint(org, token_id)
        out: list[Action] = []
        if identity.status == "active":
            out.append(Action("deactivate", "yes", "Deactivate the token: it stops working until activated again.",
                              call=f"PATCH {path} {{\"is_active\": false}}", undo="activate"))
        elif identity.status == "inactive":
            out.append(Action("activate", "yes", "Activate the token again.",
                              call=f"PATCH {path} {{\"is_active\": true}}", undo="deactivate"))
        out.append(Action("delete", "no", "Delete the token permanently; it cannot be restored.",
                          call=f"DELETE {path}"))
        return out

    async def execute(self, identity: Identity, action: str) -> ActionResult:
        if action not in ("deactivate", "activate", "delete"):
            return ActionResult(state="failed", message=f"unknown action {action!r} for a Docker Hub token")
        org, token_id = self._path(identity)
        url = self.api + self._endpoint(org, token_id)
        ref = str(self.settings.get("revoke_token") or self.settings.get("token") or "")
        report = Report(self.name, self.provider)
        s = self._session(report, ref)
        try:
            async with s:
                await self._login(s, self._resolve(ref))
                if action == "delete":
                    reply = await s.request("DELETE", url, expect_json=False)
                else:
                    reply = await s.request("PATCH", url, json_body={"is_active": action == "activate"},
                                            expect_json=False)
                if reply.ok and action != "delete":
                    fresh = await self._reread(s, org, token_id, reply)
                    return ActionResult(state="ok", status_code=reply.status,
                                        message=f"token {action}d", identity=fresh)
        except AuthError as exc:
            return ActionResult(state="failed", status_code=401, message=str(exc))
        except ConnectorError as exc:
            return ActionResult(state="failed", message=str(exc))
        if reply.ok:
            return ActionResult(state="ok", status_code=reply.status, message="token deleted", removed=True)
        if reply.status == 404:
            return ActionResult(state="already-absent", status_code=404, message="the token no longer exists",
                                removed=True)
        message = reply.message()
        if reply.status == 401:
            return ActionResult(state="failed", status_code=401, message=f"authentication failed: {message}".strip())
        if reply.status == 403:
            return ActionResult(state="failed", status_code=403, message=(
                f"403: this login may not manage the token ({message or 'forbidden'}); a PAT-based login may not "
                "manage access tokens and org tokens need an owner"))
        return ActionResult(state="failed", status_code=reply.status, message=message or f"HTTP {reply.status}")

    async def _reread(self, s: Session, org: str, token_id: str, patched: Reply) -> Identity | None:
        now = datetime.now(timezone.utc)
        try:
            reply = await s.get(self.api + self._endpoint(org, token_id))
        except ConnectorError:
            reply = patched
        data = reply.data if reply.ok and isinstance(reply.data, Mapping) else (
            patched.data if isinstance(patched.data, Mapping) else None)
        if data is None:
            return None
        if org:
            resources = data.get("resources")
            resources = [r for r in resources if isinstance(r, Mapping)] if isinstance(resources, list) else None
            return self._oat(org, {**data, "id": data.get("id") or token_id}, resources, now)
        return self._pat({**data, "uuid": data.get("uuid") or token_id}, now)


def _next(reply: Reply) -> str | None:
    data = reply.data
    link = data.get("next") if isinstance(data, Mapping) else None
    return link if isinstance(link, str) and link else None


CONNECTOR = DockerHubConnector
