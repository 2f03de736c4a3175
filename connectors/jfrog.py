"""JFrog Platform access tokens (`/access/api/v1/tokens`), with revocation.

Admins see every token, other users only their own: the connector reads the user list
(`GET /access/api/v2/users`, admin-only, JFrog 7.49.3+) to tell the two apart and to know who is
still a user (`members` fact, so a token whose subject left is flagged). When that list cannot be
read (403: not an admin; 404: an older platform or a proxy blocking it; an error or an unreadable
answer), the token list may be only this user's: a blind spot says so, never a silently short list. Times are epoch seconds. `last_used` exists only on recent
versions with tracking enabled and is missing for short-lived, service and session tokens, so a
token's usage counts as tracked only when the server reports the field for it.
Revocation (`DELETE /access/api/v1/tokens/{id}`) is irreversible: 200 revoked, 204 already
revoked, 400 issued by another instance (which must revoke it).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from connectors._http import (
    GaveUp,
    Reply,
    Session,
    TooLarge,
    auth_failed,
    clean,
    denied_reason,
    fresh,
    raise_or_blind,
    when,
)
from connectors.base import AuthError, ConnectorError, Report, Resolve
from nhitui.model import Action, ActionResult, Identity, make_uid, max_privilege

KIND = "jfrog_token"
USERS_LIMIT = 99_999


def subject_user(subject: str) -> str:
    """`jfrt@01abc/users/bob` -> `bob`; a bare `bob` -> `bob`; a service subject -> ""."""
    if "/users/" in subject:
        return subject.rsplit("/users/", 1)[1].strip("/")
    if "/" not in subject and "@" not in subject:
        return subject
    return ""


def scope_privilege(scopes: tuple[str, ...]) -> str:
    ranks = []
    for scope in scopes:
        s = scope.lower()
        if s.endswith("/admin") or ":admin" in s or s == "admin":
            ranks.append("admin")
        elif s.startswith(("applied-permissions/groups:", "member-of-groups:")):
            groups = [g for g in s.split(":", 1)[1].split(",") if g]
            readers = bool(groups) and all(("read" in g or "viewer" in g) for g in groups)
            ranks.append("read" if readers else "write")
        elif s.startswith(("applied-permissions/", "member-of-groups", "api:")):
            # the user's, groups' or roles' own permissions: assume they may deploy
            ranks.append("write")
        elif s.endswith(":r") or ":r," in s or "read" in s:
            ranks.append("read")
        else:
            ranks.append("write")
    return max_privilege(*ranks) if ranks else "none"


class JFrogConnector:
    provider = "jfrog"

    def __init__(self, settings: Mapping[str, Any], resolve: Resolve) -> None:
        self.settings = dict(settings)
        self.name = str(settings["name"])
        self.report = Report(self.name, self.provider)
        self._resolve = resolve
        self.base = str(settings.get("url") or "").rstrip("/")
        self.host = urlsplit(self.base).hostname or ""

    async def collect(self) -> AsyncIterator[list[Identity]]:
        if not self.base:
            raise ConnectorError("url: missing (the JFrog platform URL, e.g. url = \"https://acme.jfrog.io\")")
        token = self._resolve(str(self.settings.get("token") or ""))
        what = "/access/api/v1/tokens"
        async with Session(self.report, self.settings, {"Authorization": f"Bearer {token}"}) as s:
            del token
            users_task = asyncio.ensure_future(self._users(s))
            try:
                try:
                    reply = await s.get(f"{self.base}/access/api/v1/tokens")
                except (GaveUp, TooLarge) as exc:
                    raise ConnectorError(str(exc)) from None
                if reply.status == 401:
                    raise auth_failed(reply, "JFrog", "check the access token; it may have expired")
                if not reply.ok:
                    self.report.blind_spot(what, denied_reason(reply, (
                        "needs JFrog Platform 7.21.1+ and an access token (admins see every token)")
                        if reply.status in (403, 404) else ""))
                    return
                tokens = reply.data.get("tokens") if isinstance(reply.data, Mapping) else None
                if not isinstance(tokens, list):
                    raise_or_blind(self.report, what, 0, f"{what} answered without a `tokens` list")
                    return
                batch = fresh(tokens, self._identity, set())
                users = await users_task
                if isinstance(users, str):
                    self.report.blind_spot(f"{what} (other users)", users)
                else:
                    self.report.facts["members"] = sorted(users)
                if batch:
                    yield batch
            finally:
                if not users_task.done():
                    users_task.cancel()
                await asyncio.gather(users_task, return_exceptions=True)

    async def _users(self, s: Session) -> set[str] | str:
        """Current (enabled) users, or why they are unknown (then other users' tokens may be missing)."""
        users: set[str] = set()
        url = f"{self.base}/access/api/v2/users?{urlencode({'limit': USERS_LIMIT})}"

        def next_of(reply: Reply) -> str | None:
            cursor = reply.data.get("cursor") if isinstance(reply.data, Mapping) else None
            if isinstance(cursor, str) and cursor:
                return f"{self.base}/access/api/v2/users?{urlencode({'limit': USERS_LIMIT, 'cursor': cursor})}"
            return None

        try:
            async for reply in s.pages(url, next_of, "/access/api/v2/users"):
                if reply.status == 403:
                    return ("403 on /access/api/v2/users: the token is not an admin's, and JFrog lists only its "
                            "own user's tokens to non-admins; use an admin-scoped token to see every token")
                rows = reply.data.get("users") if reply.ok and isinstance(reply.data, Mapping) else None
                if not isinstance(rows, list):
                    return _users_unknown(denied_reason(reply, "") if not reply.ok
                                          else "it answered without a `users` list")
                for u in rows:
                    if isinstance(u, Mapping) and u.get("username") and str(u.get("status", "")).lower() != "disabled":
                        users.add(str(u["username"]))
        except ConnectorError as exc:
            return _users_unknown(str(exc))
        if any(b.what == "/access/api/v2/users" for b in self.report.blind_spots):
            # an incomplete user list would call current users departed
            return _users_unknown("the user list is incomplete")
        return users

    def _identity(self, obj: Mapping[str, Any], now: datetime) -> Identity | None:
        token_id = obj.get("token_id")
        if not isinstance(token_id, str) or not token_id:
            return None
        subject = str(obj.get("subject") or "")
        description = obj.get("description")
        raw_scope = obj.get("scope")
        scopes = tuple(str(raw_scope).split()) if isinstance(raw_scope, str) else (
            tuple(str(x) for x in raw_scope) if isinstance(raw_scope, list) else ())
        expires = when(obj.get("expiry"))
        tracked = "last_used" in obj
        status = "expired" if expires is not None and expires <= now else "active"
        return Identity(
            uid=make_uid(self.name, KIND, token_id), source=self.name, provider=self.provider, kind=KIND,
            name=str(description) if isinstance(description, str) and description else subject,
            owner=subject_user(subject), target=self.host, scopes=scopes,
            # The documented list does not return `scope`: unknown is not "none". A token acts with its
            # subject's permissions by default (applied-permissions/user), so assume it may deploy.
            privilege=scope_privilege(scopes) if raw_scope is not None else "write",
            created_at=when(obj.get("issued_at")), expires_at=expires,
            last_used_at=when(obj.get("last_used")) if tracked else None, status=status, credential="static",
            actions=("revoke",), url="", usage_tracked=tracked,
            details={"subject": clean(subject, 400), "issuer": clean(obj.get("issuer"), 200),
                     "refreshable": bool(obj.get("refreshable")), "scope": clean(raw_scope, 1000),
                     "project_key": clean(obj.get("project_key"), 100)},
        )

    def actions(self, identity: Identity) -> list[Action]:
        return [Action("revoke", "no", "Revoke the token: it stops working at once and cannot be restored.",
                       call=f"DELETE /access/api/v1/tokens/{identity.native_id}")]

    async def execute(self, identity: Identity, action: str) -> ActionResult:
        if action != "revoke":
            return ActionResult(state="failed", message=f"JFrog tokens support only revoke, not {action!r}")
        ref = str(self.settings.get("revoke_token") or self.settings.get("token") or "")
        report = Report(self.name, self.provider)
        url = f"{self.base}/access/api/v1/tokens/{quote(identity.native_id, safe='')}"
        try:
            token = self._resolve(ref)
            async with Session(report, self.settings, {"Authorization": f"Bearer {token}"}) as s:
                del token
                reply = await s.request("DELETE", url, expect_json=False)
        except ConnectorError as exc:
            return ActionResult(state="failed", message=str(exc))
        message = reply.message()
        if reply.status == 200:
            return ActionResult(state="ok", status_code=200, message="token revoked", removed=True)
        if reply.status in (204, 404):
            return ActionResult(state="already-absent", status_code=reply.status, removed=True,
                                message="the token was already revoked" if reply.status == 204
                                else "the token no longer exists")
        if reply.ok:
            return ActionResult(state="ok", status_code=reply.status, message="token revoked", removed=True)
        if reply.status == 400:
            return ActionResult(state="failed", status_code=400, message=(
                f"400: {message or 'bad request'} (a token issued by another JFrog instance must be revoked "
                "there)"))
        if reply.status == 401:
            return ActionResult(state="failed", status_code=401, message=f"authentication failed: {message}".strip())
        if reply.status == 403:
            return ActionResult(state="failed", status_code=403, message=(
                f"403: this token may not revoke it ({message or 'forbidden'}); revoking other users' tokens "
                "needs an admin"))
        return ActionResult(state="failed", status_code=reply.status, message=message or f"HTTP {reply.status}")


def _users_unknown(why: str) -> str:
    return (f"/access/api/v2/users is not available to this token ({why}): it cannot be told whether the "
            "token is an admin's, and JFrog lists only its own user's tokens to non-admins, so other users' "
            "tokens may be missing; use an admin-scoped token on JFrog Platform 7.49.3+ to see every token")


CONNECTOR = JFrogConnector

__all__ = ["CONNECTOR", "JFrogConnector", "AuthError"]
