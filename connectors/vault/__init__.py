"""Vault / OpenBao: tokens, AppRole roles and secret IDs, auth roles that trust CI tokens, static roles.

Modules, in the order a scan reads them:
- `client.py`  — the thin HTTP client (token and namespace headers, LIST, 404-empty, 403, sealed);
- `scan.py`    — per-scan context: labels, the policy classifier, blind spots;
- `policies.py`— ACL policy parsing (HCL, JSON, legacy) and privilege classification (pure);
- `tokens.py`, `approle.py`, `auth_roles.py` (+ `trust.py`, pure), `static_roles.py` — one per kind;
- `actions.py` — revoke / disable-enable entity / destroy / delete-role.
A namespace (`namespace = "team-a"`) scopes the scan; child namespaces (`LIST sys/namespaces`,
direct children only, so walked recursively) are scanned too when the token may list them.
The token comes only from the configured reference (`token = "env:VAULT_TOKEN"`); `~/.vault-token`
is never read implicitly.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import urlsplit

from connectors._http import GaveUp, Session, TooLarge
from connectors.base import AuthError, ConnectorError, Report, Resolve, setting
from connectors.vault import actions as vault_actions
from connectors.vault import approle, auth_roles, static_roles, tokens
from connectors.vault.client import Denied, VaultClient, errors_of
from connectors.vault.scan import Scan
from nhitui.model import Action, ActionResult, Identity

MAX_NAMESPACES = 200
JWT_TYPES = frozenset({"jwt", "oidc"})


class VaultConnector:
    provider = "vault"

    def __init__(self, settings: Mapping[str, Any], resolve: Resolve) -> None:
        self.settings = dict(settings)
        self.name = str(settings["name"])
        self.report = Report(self.name, self.provider)
        self._resolve = resolve
        self.url = str(setting(settings, "url", "")).rstrip("/")
        self.host = urlsplit(self.url).netloc or self.url
        self.namespace = str(setting(settings, "namespace", "")).strip("/")
        self.concurrency = int(setting(settings, "concurrency", 8))   # measured: more only adds httpcore pool overhead locally

    def _session(self, report: Report, ref: str) -> Session:
        token = self._resolve(ref)
        # Vault's rate-limit quotas answer 429 without a usable Retry-After: allow a longer backoff
        # than the shared default before a lookup is given up.
        settings = {"max_attempts": 8, "backoff": 0.5, **self.settings}
        return Session(report, settings, {"X-Vault-Token": token}, provider="vault")

    # --- collection --------------------------------------------------------------------------

    async def collect(self) -> AsyncIterator[list[Identity]]:
        self.report.facts["not_visible"] = [
            "batch tokens (never stored, so never listed: roles that mint them are shown instead)",
            "last use of tokens and secret IDs (only the audit log records use)",
        ]
        async with self._session(self.report, str(self.settings.get("token") or "")) as session:
            root = VaultClient(session, self.url, self.namespace)
            try:
                await self._check_token(root)
                async for namespace in self._namespaces(root):
                    scan = Scan(self.name, root.within(namespace), self.host, self.concurrency)
                    async for batch in self._collect_namespace(scan):
                        yield batch
            except (GaveUp, TooLarge) as exc:
                raise ConnectorError(str(exc)) from None

    @staticmethod
    async def _check_token(root: VaultClient) -> None:
        """Vault answers 403 "permission denied" to an invalid or expired token, exactly as to a missing
        right: ask about the token itself first (every token may look itself up, `default` policy),
        so a bad token is an authentication failure, not a scan made only of blind spots."""
        reply = await root.call("GET", "auth/token/lookup-self")
        if reply.status == 403:
            raise AuthError("authentication failed: Vault refused the token on auth/token/lookup-self "
                            f"({errors_of(reply) or 'permission denied'}); it is invalid, expired or revoked, "
                            "or was made without the default policy (grant read on auth/token/lookup-self)")

    async def _namespaces(self, root: VaultClient) -> AsyncIterator[str]:
        """The configured namespace, then its descendants as far as the token may list them."""
        pending = [self.namespace]
        seen = 0
        while pending and seen < MAX_NAMESPACES:
            namespace = pending.pop(0)
            seen += 1
            yield namespace
            try:
                children, _ = await root.within(namespace).list("sys/namespaces")
            except Denied as exc:
                where = f"{namespace}: " if namespace else ""
                self.report.blind_spot(f"{where}sys/namespaces", f"{exc}; child namespaces are not scanned "
                                       "(needs list on sys/namespaces/)")
                continue
            except ConnectorError as exc:
                # A server without namespaces answers 400/404/405: nothing below. Anything else
                # (500, an unreadable answer) hides child namespaces: say so.
                if not any(f"HTTP {code}" in str(exc) for code in (400, 404, 405)):
                    where = f"{namespace}: " if namespace else ""
                    self.report.blind_spot(f"{where}sys/namespaces", f"{exc}; child namespaces are not scanned")
                continue
            pending += [f"{namespace}/{c.strip('/')}".strip("/") for c in children]
        if pending:
            self.report.blind_spot("sys/namespaces", f"more than {MAX_NAMESPACES} namespaces; the rest not scanned")

    async def _collect_namespace(self, scan: Scan) -> AsyncIterator[list[Identity]]:
        async for batch in tokens.collect(scan):
            yield batch
        mounts = await self._mounts_at(scan, "sys/auth")
        for path, kind in mounts:
            if kind == "approle":
                async for batch in approle.collect(scan, path):
                    yield batch
            elif kind in JWT_TYPES or kind == "kubernetes":
                async for batch in auth_roles.collect(scan, path, "kubernetes" if kind == "kubernetes" else "jwt"):
                    yield batch
            elif kind in ("userpass", "cert", "ldap"):
                scan.report.facts.setdefault("other_auth_mounts", []).append(f"{path} ({kind})")
        leases: dict[str, Any] = {}
        for path, kind in await self._mounts_at(scan, "sys/mounts"):
            if kind in static_roles.STATIC_ENGINES:
                async for batch in static_roles.collect(scan, path):
                    yield batch
                counts = await static_roles.lease_counts(scan, path)
                if counts is not None:
                    leases[path] = counts
        if leases:
            key = f"leases ({scan.namespace})" if scan.namespace else "leases"
            self.report.facts[key] = leases

    @staticmethod
    async def _mounts_at(scan: Scan, path: str) -> list[tuple[str, str]]:
        """`sys/auth` or `sys/mounts`: (path, type) of each mount; a denial is a blind spot."""
        try:
            data = await scan.client.read(path)
        except Denied as exc:
            scan.blind(path, exc)
            return []
        return _mounts(data)

    # --- actions -----------------------------------------------------------------------------

    def actions(self, identity: Identity) -> list[Action]:
        return vault_actions.available(identity)

    async def execute(self, identity: Identity, action: str) -> ActionResult:
        ref = str(self.settings.get("revoke_token") or self.settings.get("token") or "")
        report = Report(self.name, self.provider)
        try:
            async with self._session(report, ref) as session:
                return await vault_actions.execute(VaultClient(session, self.url), identity, action)
        except ConnectorError as exc:
            return ActionResult(state="failed", message=str(exc))


def _mounts(data: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """(path without trailing slash, type) of each mount in a `sys/auth` or `sys/mounts` answer."""
    out = []
    for path, info in (data or {}).items():
        if isinstance(info, Mapping) and isinstance(info.get("type"), str):
            out.append((str(path).strip("/"), info["type"]))
    return sorted(out)


CONNECTOR = VaultConnector

__all__ = ["CONNECTOR", "VaultConnector"]
