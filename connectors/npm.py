"""npm registry access tokens (`/-/npm/v1/tokens`), with deletion.

The registry lists the account's tokens as `{objects, urls.next}`; each object has a stable `key`,
a truncated `token` prefix, `created`, `readonly` and `cidr_whitelist` (whether `name`, `expires`
or a last-used field come back is unconfirmed, so they are used only when present). Only the
truncated prefix is kept, and only its first characters: a full token value never enters an
Identity. Deleting a token is irreversible. `GET /-/whoami` names the account (the owner).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import datetime
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
    raise_or_blind,
    when,
)
from connectors.base import AuthError, ConnectorError, Report, Resolve, setting
from nhitui.model import Action, ActionResult, Identity, make_uid

DEFAULT_REGISTRY = "https://registry.npmjs.org"
KIND = "npm_token"
PREFIX_CHARS = 6
LAST_USED_KEYS = ("last_used", "lastUsed", "last_used_at", "lastUsedAt")
EXPIRES_KEYS = ("expires", "expires_at", "expiresAt", "expiry")


def token_prefix(value: Any) -> str:
    """The registry's truncated token, cut again to a few characters (never a usable secret)."""
    if not isinstance(value, str):
        return ""
    text = value.strip().rstrip("…").rstrip(".")
    return clean(text[:PREFIX_CHARS], PREFIX_CHARS)


class NpmConnector:
    provider = "npm"

    def __init__(self, settings: Mapping[str, Any], resolve: Resolve) -> None:
        self.settings = dict(settings)
        self.name = str(settings["name"])
        self.report = Report(self.name, self.provider)
        self._resolve = resolve
        self.registry = str(setting(settings, "registry", DEFAULT_REGISTRY)).rstrip("/")
        self.host = urlsplit(self.registry).hostname or ""
        self.user = ""

    # --- collection --------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return f"{self.registry}/{path.lstrip('/')}"

    async def collect(self) -> AsyncIterator[list[Identity]]:
        token = self._resolve(str(self.settings.get("token") or ""))
        what = "/-/npm/v1/tokens"
        async with Session(self.report, self.settings, {"Authorization": f"Bearer {token}"}) as s:
            del token
            self.user = await self._whoami(s)
            seen: set[str] = set()
            read = 0
            try:
                async for reply in s.pages(self._url("-/npm/v1/tokens"), _next_link, what):
                    if reply.status == 401:
                        raise auth_failed(reply, "the npm registry", "check the token, or log in again")
                    if not reply.ok:
                        self.report.blind_spot(what, denied_reason(
                            reply, "needs a token that may list the account's tokens (a classic or granular "
                                   "token with read access to the account)" if reply.status in (401, 403)
                            else ""))
                        return
                    objects = reply.data.get("objects") if isinstance(reply.data, Mapping) else None
                    if not isinstance(objects, list):
                        raise_or_blind(self.report, what, read, "the registry answered without an `objects` list")
                        return
                    if not objects:
                        return          # an empty page ends the list, whatever `next` says
                    batch = fresh(objects, self._identity, seen)
                    if objects and not batch:
                        self.report.blind_spot(what, "a page repeated tokens already read; stopped paginating")
                        return
                    read += len(batch)
                    if batch:
                        yield batch
            except (GaveUp, TooLarge) as exc:
                raise_or_blind(self.report, what, read, str(exc))

    async def _whoami(self, s: Session) -> str:
        try:
            reply = await s.get(self._url("-/whoami"))
        except (GaveUp, TooLarge):
            return ""
        if reply.status == 401:
            raise auth_failed(reply, "the npm registry", "check the token, or log in again")
        if reply.ok and isinstance(reply.data, Mapping):
            return clean(reply.data.get("username"), 214)
        return ""

    def _identity(self, obj: Mapping[str, Any], now: datetime) -> Identity | None:
        key = obj.get("key")
        if not isinstance(key, str) or not key:
            return None
        prefix = token_prefix(obj.get("token"))
        name = obj.get("name") if isinstance(obj.get("name"), str) and obj.get("name") else ""
        if not name:
            name = f"{prefix}…" if prefix else f"token {key[:8]}"
        readonly = bool(obj.get("readonly"))
        scopes = ["read-only" if readonly else "publish"]
        if obj.get("automation"):
            scopes.append("automation")
        expires = next((when(obj[k]) for k in EXPIRES_KEYS if obj.get(k)), None)
        tracked = any(k in obj for k in LAST_USED_KEYS)
        last_used = next((when(obj[k]) for k in LAST_USED_KEYS if obj.get(k)), None)
        status = "expired" if expires is not None and expires <= now else "active"
        cidr = obj.get("cidr_whitelist") or []
        details = {
            "token_prefix": prefix,
            "readonly": readonly,
            "cidr_whitelist": [clean(c, 64) for c in cidr] if isinstance(cidr, list) else [clean(cidr, 200)],
            "registry": self.host,
            "updated": clean(obj.get("updated"), 40),
        }
        url = f"https://www.npmjs.com/settings/{quote(self.user)}/tokens" if (
            self.host == "registry.npmjs.org" and self.user) else ""
        return Identity(
            uid=make_uid(self.name, KIND, key), source=self.name, provider=self.provider, kind=KIND,
            name=name, owner=self.user, target=self.host, scopes=tuple(scopes),
            privilege="read" if readonly else "write", created_at=when(obj.get("created")),
            expires_at=expires, last_used_at=last_used, status=status, credential="static",
            actions=("delete",), url=url, usage_tracked=tracked, details=details,
        )

    # --- actions -----------------------------------------------------------------------------

    def actions(self, identity: Identity) -> list[Action]:
        key = identity.native_id
        return [Action("delete", "no", "Delete the token: everything using it stops working and it cannot be "
                                       "restored (a new token must be created).",
                       call=f"DELETE /-/npm/v1/tokens/token/{key}")]

    async def execute(self, identity: Identity, action: str) -> ActionResult:
        if action != "delete":
            return ActionResult(state="failed", message=f"npm tokens support only delete, not {action!r}")
        ref = str(self.settings.get("revoke_token") or self.settings.get("token") or "")
        report = Report(self.name, self.provider)
        key = identity.native_id
        try:
            token = self._resolve(ref)
            async with Session(report, self.settings, {"Authorization": f"Bearer {token}"}) as s:
                del token
                reply = await s.request("DELETE", self._url(f"-/npm/v1/tokens/token/{quote(key, safe='')}"),
                                        expect_json=False)
        except ConnectorError as exc:
            return ActionResult(state="failed", message=str(exc))
        return delete_result(reply)


def delete_result(reply: Reply) -> ActionResult:
    if reply.ok:
        return ActionResult(state="ok", status_code=reply.status, message="token deleted", removed=True)
    if reply.status == 404:
        return ActionResult(state="already-absent", status_code=404, message="the token no longer exists",
                            removed=True)
    message = reply.message()
    if reply.status == 401:
        challenge = reply.headers.get("www-authenticate", "").lower()
        if "otp" in challenge or "one-time" in message.lower() or "otp" in message.lower():
            return ActionResult(state="failed", status_code=401, message=(
                "the registry asks for a one-time password (2FA): delete it with `npm token revoke` or on "
                "npmjs.com"))
        return ActionResult(state="failed", status_code=401, message=f"authentication failed: {message}".strip())
    if reply.status == 403:
        return ActionResult(state="failed", status_code=403, message=(
            f"403: this credential may not delete tokens ({message or 'forbidden'}); set a revoke_token "
            "with write access to the account"))
    return ActionResult(state="failed", status_code=reply.status, message=message or f"HTTP {reply.status}")


def _next_link(reply: Reply) -> str | None:
    data = reply.data
    if isinstance(data, Mapping):
        urls = data.get("urls")
        if isinstance(urls, Mapping):
            link = urls.get("next")
            return link if isinstance(link, str) and link else None
    return None


CONNECTOR = NpmConnector

__all__ = ["CONNECTOR", "NpmConnector", "AuthError"]
