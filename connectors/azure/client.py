"""Tokens and transport for Microsoft Graph and Azure Resource Manager.

Credentials (azure-identity, the synchronous classes run in a thread: `azure.identity.aio` needs
aiohttp, which nhitui does not install):
- `token` / `arm_token`: bearer tokens (e.g. from `az account get-access-token`), used as given;
- `client_id` + `client_secret` -> ClientSecretCredential; `client_id` + `client_certificate` (PEM
  with the private key) -> CertificateCredential;
- otherwise DefaultAzureCredential (environment, workload identity, managed identity, Azure CLI...).
`authority_host` goes to the credential (national clouds, tests); a custom one also turns off
MSAL's instance discovery, which only knows Microsoft's hosts. Graph and ARM each get their own
token (CLI and managed identity take one scope per request).

Transport is `connectors._http.Session` (httpx: retries with Retry-After on 429/503, counted, body
bounds, TLS always verified); `PacedSession` first takes a slot from the API's pacer (`pacing`:
Graph's resource units per app and tenant, the reports' 5 requests per 10 s, ARM's 250 reads per
10 s) for every attempt and tells it what the answer said. Graph pages follow `@odata.nextLink`
verbatim, ARM pages `nextLink`; `Session.pages` stops on a link back to a page already read or to
another host.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

import httpx

from connectors._http import GaveUp, Reply, Session, TooLarge, clean
from connectors.azure import pacing
from connectors.base import AuthError, ConnectorError, Report, Resolve, setting

GRAPH_URL = "https://graph.microsoft.com"
ARM_URL = "https://management.azure.com"
KNOWN_AUTHORITIES = {"login.microsoftonline.com", "login.microsoftonline.us", "login.chinacloudapi.cn",
                     "login.microsoftonline.de"}
LICENCE_CODE = "Authentication_RequestFromNonPremiumTenantOrB2CTenant"
DENIED_CODE = "Authorization_RequestDenied"
RENEW_BEFORE = 300.0


def error_of(reply: Reply) -> tuple[str, str]:
    """(code, message) of a Graph or ARM error body `{"error": {"code", "message"}}`, sanitized."""
    data = reply.data
    if isinstance(data, Mapping):
        err = data.get("error")
        if isinstance(err, Mapping):
            return clean(err.get("code"), 100), " ".join(clean(err.get("message"), 300).split())
        if isinstance(err, str):
            return clean(err, 100), clean(data.get("error_description") or data.get("message"), 300)
        return "", clean(data.get("message"), 300)
    return "", ""


def is_licence_error(reply: Reply) -> bool:
    code, message = error_of(reply)
    return code == LICENCE_CODE or "premium license" in message.lower()


def reason(reply: Reply, needs: str) -> str:
    """A blind-spot reason that names the error precisely: permission, licence or other."""
    code, message = error_of(reply)
    where = f"{reply.status} {code or 'error'} on {reply.method} {reply.path}"
    if message:
        where += f" ({message[:160]})"
    if reply.status == 403 and is_licence_error(reply):
        return f"{where}: the tenant has no Entra ID P1/P2 licence, which this report needs"
    if reply.status == 403:
        return f"{where}: permission missing, needs {needs}"
    if reply.status == 400 and "/beta/" not in reply.path and "reports" in reply.path:
        return f"{where}: this report exists only on Graph beta"
    return f"{where}" + (f"; reading it needs {needs}" if needs else "")


@dataclass
class Creds:
    """Which credential source a role (read or write) uses, for messages and plans."""

    graph_ref: str = ""
    arm_ref: str = ""
    client_id: str = ""
    secret_ref: str = ""
    certificate_ref: str = ""

    def label(self) -> str:
        if self.graph_ref:
            return f"bearer token {self.graph_ref}"
        if self.client_id and self.secret_ref:
            return f"client secret of {self.client_id}"
        if self.client_id and self.certificate_ref:
            return f"certificate of {self.client_id}"
        return "DefaultAzureCredential"


def creds_for(settings: Mapping[str, Any], write: bool) -> Creds:
    if write and (settings.get("revoke_token") or settings.get("revoke_client_id")):
        return Creds(graph_ref=str(settings.get("revoke_token") or ""),
                     arm_ref=str(settings.get("revoke_arm_token") or ""),
                     client_id=str(settings.get("revoke_client_id") or ""),
                     secret_ref=str(settings.get("revoke_client_secret") or ""))
    return Creds(graph_ref=str(settings.get("token") or ""), arm_ref=str(settings.get("arm_token") or ""),
                 client_id=str(settings.get("client_id") or ""),
                 secret_ref=str(settings.get("client_secret") or ""),
                 certificate_ref=str(settings.get("client_certificate") or ""))


class Tokens:
    """Access tokens for Graph and ARM from one configured credential; renewed before they expire."""

    def __init__(self, settings: Mapping[str, Any], resolve: Resolve, creds: Creds) -> None:
        self.settings = settings
        self.resolve = resolve
        self.creds = creds
        self.graph_url = str(setting(settings, "graph_url", GRAPH_URL)).rstrip("/")
        self.arm_url = str(setting(settings, "arm_url", ARM_URL)).rstrip("/")
        self._credential: Any = None
        self._retired: list[Any] = []
        self._cache: dict[str, tuple[str, float]] = {}
        self._lock = asyncio.Lock()

    def _scope(self, api: str) -> str:
        return f"{self.graph_url if api == 'graph' else self.arm_url}/.default"

    def _build(self) -> Any:
        from azure import identity

        # azure-identity logs every failed attempt as a warning; with no handler configured Python
        # prints it on stderr, over the TUI. The reason reaches the user in the AuthError instead.
        for name in ("azure.identity", "azure.core.pipeline.policies.http_logging_policy"):
            logging.getLogger(name).setLevel(logging.CRITICAL)

        tenant = str(self.settings.get("tenant_id") or "")
        kw: dict[str, Any] = {}
        authority = str(self.settings.get("authority_host") or "")
        if authority:
            kw["authority"] = authority
            if (urlsplit(authority).hostname or authority) not in KNOWN_AUTHORITIES:
                kw["disable_instance_discovery"] = True
        if self.settings.get("ca_bundle"):
            kw["connection_verify"] = str(self.settings["ca_bundle"])
        c = self.creds
        if c.client_id and c.secret_ref:
            return identity.ClientSecretCredential(tenant, c.client_id, self.resolve(c.secret_ref), **kw)
        if c.client_id and c.certificate_ref:
            pem = self.resolve(c.certificate_ref).encode()
            return identity.CertificateCredential(tenant, c.client_id, certificate_data=pem, **kw)
        if tenant:
            kw["additionally_allowed_tenants"] = [tenant]
        return identity.DefaultAzureCredential(**kw)

    async def get(self, api: str) -> str:
        """A bearer token for `graph` or `arm`; AuthError when the credential is refused."""
        ref = self.creds.graph_ref if api == "graph" else self.creds.arm_ref
        if ref:
            return self.resolve(ref)
        if self.creds.graph_ref and not self.creds.client_id:
            raise AuthError(f"no {api.upper()} token: set arm_token (revoke_arm_token for the write identity), a "
                            f"bearer token for {self.arm_url}, beside token; or use client_id / "
                            "DefaultAzureCredential")
        async with self._lock:
            cached = self._cache.get(api)
            if cached and cached[1] - RENEW_BEFORE > time.time():
                return cached[0]
            token, expires = await asyncio.to_thread(self._fetch, self._scope(api))
            self._cache[api] = (token, expires)
            return token

    def forget(self, api: str) -> None:
        """Drop a token the API refused. The credential goes too: azure-identity caches tokens until
        shortly before they expire and has no way to ask for a fresh one."""
        self._cache.pop(api, None)
        if self._credential is not None:
            self._retired.append(self._credential)   # may be in use by the other API's fetch: closed at the end
            self._credential = None

    def _fetch(self, scope: str) -> tuple[str, float]:
        from azure.core.exceptions import AzureError, ClientAuthenticationError

        try:
            if self._credential is None:
                self._credential = self._build()
            result = self._credential.get_token(scope, tenant_id=str(self.settings.get("tenant_id") or "") or None)
        except ClientAuthenticationError as exc:
            first = " ".join(str(exc.message or exc).split())[:300]
            raise AuthError(f"Entra sign-in failed ({self.creds.label()}): {clean(first, 300)}") from None
        except ValueError as exc:
            raise ConnectorError(f"Azure credential settings rejected: {clean(str(exc), 200)}") from None
        except AzureError as exc:      # the token endpoint unreachable, TLS refused...
            first = " ".join(str(getattr(exc, "message", None) or exc).split())[:300]
            raise ConnectorError(f"Entra sign-in failed ({self.creds.label()}): {type(exc).__name__}: "
                                 f"{clean(first, 300)}") from None
        return result.token, float(result.expires_on)

    def close(self) -> None:
        creds, self._retired = [*self._retired, self._credential], []
        self._credential = None
        for cred in creds:
            if cred is not None and hasattr(cred, "close"):
                try:
                    cred.close()
                except Exception:  # noqa: BLE001,S110 - closing only frees sockets
                    pass


class PacedSession(Session):
    """A Session whose every attempt (retries included) waits for the pacer first, and reports what
    the answer said of the budget; a 429 is counted in the source's facts as it happens."""

    def __init__(self, report: Report, settings: Mapping[str, Any], pacer: pacing.Pacer, kind: str) -> None:
        super().__init__(report, settings, provider="azure")
        self.pacer = pacer
        self.kind = kind

    async def _send(self, method: str, url: str, json_body: Any,
                    headers: Mapping[str, str] | None) -> tuple[int, httpx.Headers, bytearray]:
        ticket = await self.pacer.acquire(method, url)
        status: int | None = None
        answer: httpx.Headers | None = None
        try:
            status, answer, body = await super()._send(method, url, json_body, headers)
            return status, answer, body
        finally:
            hits = self.pacer.hits
            self.pacer.release(ticket, method, url, status, answer)
            if self.pacer.hits != hits:
                facts = self.report.facts
                facts[f"{self.kind}_throttled"] = self.pacer.hits
                facts["rate_limit_hits"] = int(facts.get("graph_throttled", 0)) + int(facts.get("arm_throttled", 0))


def limits_for(kind: str, settings: Mapping[str, Any], concurrency: int) -> pacing.Limits | None:
    """The API's documented limits, or None when it is not paced.

    Pacing is on by default for Microsoft's own hosts (public and national clouds); `pacing = true`
    turns it on for another host. `graph_tenant_size` (S, M, L) picks Graph's budget (S, the smallest,
    by default); `graph_ru_budget` and `graph_ru_window` scale it down for the sandbox.
    """
    graph = kind == "graph"
    url = str(setting(settings, "graph_url" if graph else "arm_url", GRAPH_URL if graph else ARM_URL))
    host = (urlsplit(url).hostname or "").lower()
    if not setting(settings, "pacing", host in pacing.MICROSOFT_HOSTS):
        return None
    # A 429 holds the API's other requests while the session waits for it; a longer wait it gives up.
    pause = float(setting(settings, "max_retry_wait", 60.0))
    if kind == "arm":
        return replace(pacing.arm_limits(concurrency), max_pause=pause)
    budget = setting(settings, "graph_ru_budget")
    size = str(setting(settings, "graph_tenant_size", "S")).upper()
    if size not in pacing.TENANT_BUDGET:
        raise ConnectorError(f"graph_tenant_size: {size!r} is not valid (allowed: S, M, L)")
    return replace(pacing.graph_limits(size, concurrency, float(budget) if budget is not None else None,
                                       float(setting(settings, "graph_ru_window", pacing.WINDOW))), max_pause=pause)


def pacing_facts(report: Report, kind: str, pacer: pacing.Pacer | None) -> None:
    """What the pacer saw, in the source's facts: `rate_limit_hits` (429s, zero when pacing works) is
    the count every provider shows; the rest says how close the scan came to the limit."""
    if pacer is None:
        return
    facts = report.facts
    facts[f"{kind}_throttled"] = pacer.hits
    facts["rate_limit_hits"] = int(facts.get("graph_throttled", 0)) + int(facts.get("arm_throttled", 0))
    facts[f"{kind}_pacer_waits"] = pacer.waits
    facts[f"{kind}_peak_concurrency"] = pacer.peak
    if kind == "graph":
        facts["graph_resource_units"] = round(pacer.charged)
        facts["graph_throttle_warnings"] = pacer.warnings
        if pacer.max_percentage:
            facts["graph_throttle_max_percentage"] = round(pacer.max_percentage, 2)


class Api:
    """One API (Graph or ARM) over one `Session`, with a token renewed on 401."""

    def __init__(self, kind: str, tokens: Tokens, report: Report, settings: Mapping[str, Any]) -> None:
        self.kind = kind
        self.tokens = tokens
        self.base = tokens.graph_url if kind == "graph" else tokens.arm_url
        concurrency = max(1, min(64, int(setting(settings, "concurrency", 16))))
        limits = limits_for(kind, settings, concurrency)
        self.pacer = pacing.Pacer(limits) if limits is not None else None
        self.session = Session(report, settings, provider="azure") if self.pacer is None else \
            PacedSession(report, settings, self.pacer, kind)
        self.next_key = "@odata.nextLink" if kind == "graph" else "nextLink"

        async def reauth() -> bool:
            if self.session.renewals_in_a_row >= 1 or self.tokens.creds.graph_ref:
                return False          # a fixed bearer token cannot be renewed
            self.tokens.forget(kind)
            self.session.set_auth(f"Bearer {await self.tokens.get(kind)}")
            return True

        self.session.reauth = reauth

    async def __aenter__(self) -> Api:
        await self.session.__aenter__()
        self.session.set_auth(f"Bearer {await self.tokens.get(self.kind)}")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.session.__aexit__(*exc)

    def url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else f"{self.base}/{path.lstrip('/')}"

    async def get(self, path: str, headers: Mapping[str, str] | None = None) -> Reply:
        reply = await self.session.get(self.url(path), headers=headers)
        self._check_auth(reply)
        return reply

    async def send(self, method: str, path: str, body: Any = None) -> Reply:
        reply = await self.session.request(method, self.url(path), json_body=body, expect_json=False)
        self._check_auth(reply)
        return reply

    def _check_auth(self, reply: Reply) -> None:
        if reply.status == 401:
            code, message = error_of(reply)
            raise AuthError(f"{'Graph' if self.kind == 'graph' else 'ARM'} refused the token: 401 {code} on "
                            f"{reply.method} {reply.path}" + (f" ({message[:160]})" if message else ""))

    async def pages(self, path: str, what: str) -> AsyncIterator[Reply]:
        """Every page of a collection; a final non-2xx reply is yielded for the caller to judge."""
        def next_of(reply: Reply) -> str | None:
            data = reply.data
            link = data.get(self.next_key) if isinstance(data, Mapping) else None
            return link if isinstance(link, str) and link else None

        async for reply in self.session.pages(self.url(path), next_of, what):
            self._check_auth(reply)
            yield reply

    async def items(self, path: str, what: str, needs: str, report: Report) -> list[Mapping[str, Any]] | None:
        """All `value` items of a collection, or None (with a blind spot) when it cannot be read."""
        items, failed = await self.try_items(path, what, report)
        if failed is not None:
            report.blind_spot(what, reason(failed, needs))
        return items

    async def try_items(self, path: str, what: str,
                        report: Report) -> tuple[list[Mapping[str, Any]] | None, Reply | None]:
        """(items, None), or (None, the refusing reply) for the caller to judge, or (None, None) after
        a blind spot for a body or transport problem."""
        out: list[Mapping[str, Any]] = []
        try:
            async for reply in self.pages(path, what):
                if not reply.ok:
                    return None, reply
                values = reply.data.get("value") if isinstance(reply.data, Mapping) else None
                if not isinstance(values, list):
                    report.blind_spot(what, f"{reply.path} answered without a `value` list")
                    return None, None
                out.extend(v for v in values if isinstance(v, Mapping))
        except (GaveUp, TooLarge) as exc:
            report.blind_spot(what, str(exc))
            return None, None
        return out, None
