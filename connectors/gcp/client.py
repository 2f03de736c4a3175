"""Credentials (google-auth) and REST calls (httpx through `connectors._http`) for Google Cloud.

Credentials, in order: a bearer `token` (e.g. `gcloud auth print-access-token`) or Application
Default Credentials; either one may impersonate a service account (`impersonate`, through the
IAM Credentials API). Writes use `revoke_token` / `revoke_impersonate` when configured. google-auth
does blocking I/O, so refreshes run in a worker thread under a lock, over a small httpx transport
(TLS and proxies as every other request). Access tokens live an hour: a token that is no longer
`valid` is refreshed before the next call, and a 401 refreshes once.

Errors: Google's 403 means several things; `classify()` reads `error.details[].reason` (and the
legacy `errors[].reason`) so a blind spot names what to grant or enable. 5xx are retried by the
session; 429 `RESOURCE_EXHAUSTED` and 403 `RATE_LIMIT_EXCEEDED` (and legacy `rateLimitExceeded`)
are retried here, waiting the `google.rpc.RetryInfo.retryDelay` Google names (else Retry-After, else
a backoff).
No message ever carries a credential or a credential file path.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import httpx

from connectors._http import GaveUp, Reply, Session, TooLarge, clean, retry_wait, ssl_verify
from connectors.base import AuthError, ConnectorError, Report, Resolve
from nhitui.model import sanitize

SCOPE = "https://www.googleapis.com/auth/cloud-platform"
DEFAULT_ENDPOINTS = {
    "iam": "https://iam.googleapis.com",
    "cloudresourcemanager": "https://cloudresourcemanager.googleapis.com",
    "policyanalyzer": "https://policyanalyzer.googleapis.com",
    "orgpolicy": "https://orgpolicy.googleapis.com",
    "iamcredentials": "https://iamcredentials.googleapis.com",
}
RATE_REASONS = {"RATE_LIMIT_EXCEEDED", "rateLimitExceeded", "userRateLimitExceeded"}
MAX_PAGES = 5_000
RATE_403_RETRIES = 4
RATE_LIMITED = frozenset({429})     # returned by the session at once: `Api.call` reads Google's RetryInfo
_DURATION = re.compile(r"^\s*(\d{1,6}(?:\.\d{1,9})?)s\s*$")


class _NoPaths(logging.Filter):
    """google-auth logs the credential file's path at DEBUG; nhitui's logs never carry it."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else (record.args,) if record.args else ()
        if args:
            record.args = tuple("(path withheld)" if isinstance(a, (str, os.PathLike)) and
                                any(sep in str(a) for sep in ("/", "\\")) else a for a in args)
        return True


for _name in ("google.auth._default", "google.auth._cloud_sdk", "google.auth._credentials_async"):
    logging.getLogger(_name).addFilter(_NoPaths())


def endpoints(settings: Mapping[str, Any]) -> dict[str, str]:
    configured = settings.get("endpoints") or {}
    out = dict(DEFAULT_ENDPOINTS)
    if isinstance(configured, Mapping):
        for key, value in configured.items():
            if key in out and isinstance(value, str) and value:
                out[key] = value.rstrip("/")
    return out


# --- google-auth over httpx ---------------------------------------------------------------------

def _auth_transport(settings: Mapping[str, Any]) -> Any:
    """A google.auth.transport.Request over a sync httpx client (refreshes run in a thread)."""
    import google.auth.exceptions
    import google.auth.transport

    timeout = float(settings.get("timeout") or 30)
    verify = ssl_verify(settings.get("ca_bundle") or None)

    class _Response(google.auth.transport.Response):  # type: ignore[misc]
        def __init__(self, status: int, headers: Mapping[str, str], data: bytes) -> None:
            self._status, self._headers, self._data = status, headers, data

        @property
        def status(self) -> int:
            return self._status

        @property
        def headers(self) -> Mapping[str, str]:
            return self._headers

        @property
        def data(self) -> bytes:
            return self._data

    class _Request(google.auth.transport.Request):  # type: ignore[misc]
        def __init__(self) -> None:
            self.client = httpx.Client(verify=verify, trust_env=True, timeout=timeout)

        def __call__(self, url: str, method: str = "GET", body: Any = None, headers: Any = None,
                     timeout: Any = None, **kwargs: Any) -> Any:
            try:
                resp = self.client.request(method, url, content=body, headers=headers,
                                           timeout=timeout or self.client.timeout)
            except httpx.HTTPError as exc:
                raise google.auth.exceptions.TransportError(f"{method} {httpx.URL(url).path}: "
                                                            f"{type(exc).__name__}") from None
            return _Response(resp.status_code, dict(resp.headers), resp.content)

        def close(self) -> None:
            self.client.close()

    return _Request()


def build_credentials(settings: Mapping[str, Any], resolve: Resolve, write: bool) -> tuple[Any, str]:
    """(google-auth credentials, a label naming which identity acts, never a secret or a path)."""
    import google.auth
    import google.auth.exceptions
    import google.oauth2.credentials
    from google.auth import impersonated_credentials

    token_key = "token"
    target = str(settings.get("impersonate") or "")
    if write and (settings.get("revoke_token") or settings.get("revoke_impersonate")):
        # The write identity: revoke_token as is, or revoke_impersonate reached from the read
        # credential (token or ADC), or revoke_token impersonating revoke_impersonate.
        token_key = "revoke_token" if settings.get("revoke_token") else "token"
        target = str(settings.get("revoke_impersonate") or "")
    ref = str(settings.get(token_key) or "") if token_key else ""
    quota = str(settings.get("quota_project") or "") or None
    if ref:
        value = resolve(ref)
        if not value:
            raise AuthError(f"{token_key}: the reference {ref} holds no value")
        source: Any = google.oauth2.credentials.Credentials(token=value)
        label = f"{token_key} {ref}"
    else:
        try:
            source, _project = google.auth.default(scopes=[SCOPE])
        except google.auth.exceptions.DefaultCredentialsError as exc:
            where = "the file named by GOOGLE_APPLICATION_CREDENTIALS" \
                if os.environ.get("GOOGLE_APPLICATION_CREDENTIALS") else "the environment"
            raise AuthError("no usable Application Default Credentials in " + where + " ("
                            + type(exc).__name__ + "); run `gcloud auth application-default login`, or set "
                            "token = \"env:GCP_ACCESS_TOKEN\" or impersonate") from None
        label = "Application Default Credentials"
    if target:
        ep = endpoints(settings)["iamcredentials"]
        creds = impersonated_credentials.Credentials(
            source_credentials=source, target_principal=target, target_scopes=[SCOPE], lifetime=3600,
            iam_endpoint_override=f"{ep}/v1/projects/-/serviceAccounts/{quote(target, safe='@.')}:generateAccessToken")
        label = f"{label} impersonating {target}"
    else:
        creds = source
    if quota and hasattr(creds, "with_quota_project"):
        creds = creds.with_quota_project(quota)
    return creds, label


# --- errors -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Problem:
    """A classified Google error: `reason` from ErrorInfo (or the status), and a sentence."""

    status: int
    reason: str
    text: str

    @property
    def api_disabled(self) -> bool:
        return self.reason == "SERVICE_DISABLED"


def error_info(data: Any) -> tuple[str, str, dict[str, str]]:
    """(status, reason, metadata) of a Google error envelope; empty strings when absent."""
    err = data.get("error") if isinstance(data, Mapping) else None
    if not isinstance(err, Mapping):
        return "", "", {}
    status = str(err.get("status") or "")
    details = err.get("details")
    if isinstance(details, list):
        for d in details:
            if isinstance(d, Mapping) and str(d.get("@type", "")).endswith("google.rpc.ErrorInfo"):
                meta = d.get("metadata") if isinstance(d.get("metadata"), Mapping) else {}
                return status, str(d.get("reason") or ""), {str(k): str(v) for k, v in meta.items()}
    legacy = err.get("errors")
    if isinstance(legacy, list) and legacy and isinstance(legacy[0], Mapping):
        return status, str(legacy[0].get("reason") or ""), {}
    return status, "", {}


def retry_delay(data: Any) -> float | None:
    """Seconds of a `google.rpc.RetryInfo` detail's `retryDelay` (a proto Duration, "30s"), or None."""
    err = data.get("error") if isinstance(data, Mapping) else None
    details = err.get("details") if isinstance(err, Mapping) else None
    for d in details if isinstance(details, list) else []:
        if isinstance(d, Mapping) and str(d.get("@type", "")).endswith("google.rpc.RetryInfo"):
            m = _DURATION.match(str(d.get("retryDelay") or ""))
            if m:
                return float(m.group(1))
    return None


def classify(reply: Reply, needs: str = "") -> Problem:
    """What a non-2xx answer means, phrased as what to grant or enable."""
    status, reason, meta = error_info(reply.data)
    err = reply.data.get("error") if isinstance(reply.data, Mapping) else None
    message = clean(err.get("message") if isinstance(err, Mapping) else reply.message(), 200)
    code = reply.status
    head = f"{code} {reason or status or 'error'} on {reply.method} {sanitize(reply.path)[:200]}"
    if reason == "SERVICE_DISABLED":
        service = clean(meta.get("service") or "the API", 80)
        consumer = clean(meta.get("consumer") or "the consumer project", 80)
        text = f"{head}: {service} is disabled in {consumer}; enable it there"
        if "quota project" in message.lower():
            text += " (user credentials without a quota project: set quota_project)"
    elif reason == "IAM_PERMISSION_DENIED" or (code == 403 and status == "PERMISSION_DENIED" and not reason):
        perm = clean(meta.get("permission"), 100)
        text = f"{head}: missing permission {perm or '(not named)'}"
        if meta.get("resource"):
            text += f" on {clean(meta['resource'], 120)}"
        text += " (or the resource does not exist)"
        if needs:
            text += f"; {needs}"
    elif reason == "ACCESS_TOKEN_SCOPE_INSUFFICIENT":
        text = f"{head}: the token's OAuth scopes are too narrow (e.g. VM access scopes); use cloud-platform"
    elif reason == "USER_PROJECT_DENIED":
        text = f"{head}: the caller lacks serviceusage.services.use on the quota project"
    elif reason == "BILLING_DISABLED":
        text = f"{head}: billing is disabled on the consumer project"
    elif reason in ("SECURITY_POLICY_VIOLATED", "vpcServiceControls"):
        text = f"{head}: blocked by a VPC Service Controls perimeter; scan from inside it or add an ingress rule"
    elif reason in RATE_REASONS or code == 429:
        # Returned only once `Api.call` has retried it: a quota, not a missing grant (no "grant ..." advice).
        text = f"{head}: rate limited, still refused after retries" + (f" ({message})" if message else "")
    else:
        text = f"{head}" + (f": {message}" if message else "")
        if needs and code == 403:
            text += f"; {needs}"
    return Problem(code, reason or status, text)


# --- the API session ----------------------------------------------------------------------------

class Api:
    """One operation's authenticated REST session (use `async with`)."""

    def __init__(self, settings: Mapping[str, Any], resolve: Resolve, report: Report, *, write: bool = False) -> None:
        self.settings = settings
        self.resolve = resolve
        self.report = report
        self.write = write
        self.endpoints = endpoints(settings)
        self.session = Session(report, settings, provider="gcp")
        self.creds: Any = None
        self.label = ""
        self._transport: Any = None
        self._lock = asyncio.Lock()
        self._rng = random.Random()
        # Requests in flight at once, across every project being scanned.
        self.gate = asyncio.Semaphore(max(1, min(100, int(settings.get("concurrency") or 16))))

    async def __aenter__(self) -> Api:
        self.creds, self.label = await asyncio.to_thread(build_credentials, self.settings, self.resolve, self.write)
        self._transport = _auth_transport(self.settings)
        await self.session.__aenter__()
        self.session.reauth = self._reauth
        try:
            await self._refresh(force=False)
        except BaseException:
            await self.__aexit__()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.session.__aexit__(*exc)
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        self.creds = None

    async def _refresh(self, force: bool) -> None:
        import google.auth.exceptions

        async with self._lock:
            creds = self.creds
            if not force and creds.token and creds.valid:
                self._apply()
                return
            if isinstance(creds, _static_type()) and not getattr(creds, "refresh_token", None):
                if force:
                    raise AuthError(f"authentication failed: Google refused the bearer token ({self.label}); "
                                    "it may have expired (they last an hour): issue a new one")
                self._apply()
                return
            try:
                await asyncio.to_thread(creds.refresh, self._transport)
            except google.auth.exceptions.RefreshError as exc:
                detail = clean(" ".join(str(a) for a in exc.args[:1]), 200)
                raise AuthError(f"authentication failed: could not obtain a Google access token with "
                                f"{self.label}: {detail}") from None
            except google.auth.exceptions.TransportError as exc:
                raise ConnectorError(f"Google token endpoint unreachable: {clean(str(exc), 200)}") from None
            self.report.count_request()
            self._apply()

    def _apply(self) -> None:
        headers: dict[str, str] = {}
        self.creds.apply(headers)
        for key, value in headers.items():
            if key.lower() == "authorization":
                self.session.set_auth(value)
            else:
                self.session.headers[key] = value

    async def _reauth(self) -> bool:
        await self._refresh(force=True)
        return True

    def url(self, service: str, path: str, params: Mapping[str, Any] | list[tuple[str, Any]] | None = None) -> str:
        base = self.endpoints[service]
        query = urlencode(list(params.items()) if isinstance(params, Mapping) else (params or []), doseq=True)
        return f"{base}/{path.lstrip('/')}" + (f"?{query}" if query else "")

    async def call(self, method: str, service: str, path: str, *, params: Any = None, body: Any = None,
                   expect_json: bool = True) -> Reply:
        """One request; 429 and 403 rate-limit answers are retried (counted), waiting what Google asks."""
        if not (self.creds.token and self.creds.valid) and not isinstance(self.creds, _static_type()):
            await self._refresh(force=False)
        url = self.url(service, path, params)
        attempt = 0
        while True:
            async with self.gate:
                reply = await self.session.request(method, url, json_body=body, expect_json=expect_json,
                                                   final=RATE_LIMITED)
            if reply.status == 401:
                raise AuthError(f"authentication failed: Google answered 401 on {method} {sanitize(reply.path)} "
                                f"with {self.label}")
            _, reason, _ = error_info(reply.data)
            # As many attempts as the session gives a 5xx (`max_attempts`), at most RATE_403_RETRIES retries.
            retries = min(RATE_403_RETRIES, self.session.max_attempts - 1)
            limited = reply.status == 429 or (reply.status == 403 and reason in RATE_REASONS)
            if not limited or attempt >= retries:
                return reply
            asked = retry_delay(reply.data)
            if asked is None:
                asked = retry_wait(reply.headers)
            if asked is not None and asked > self.session.max_wait:
                raise GaveUp(f"{method} {sanitize(reply.path)}: rate limited; Google asks to wait {asked:.0f} s, "
                             f"more than max_retry_wait ({self.session.max_wait:.0f} s)")
            attempt += 1
            self.report.count_retry()
            backoff = min(8.0, self.session.backoff * 2 ** attempt) * (0.5 + self._rng.random() / 2)
            await asyncio.sleep(max(asked, 0.05) if asked is not None else backoff)

    async def pages(self, service: str, path: str, items_key: str, what: str, params: Mapping[str, Any] | None = None,
                    ) -> AsyncIterator[tuple[list[Any], Reply]]:
        """Yield (items, reply) per page, following `nextPageToken` with a loop guard.

        A non-2xx page is yielded with no items for the caller to classify; a token seen before or
        more than MAX_PAGES pages end the walk with a blind spot.
        """
        seen: set[str] = set()
        token = ""
        for count in range(MAX_PAGES + 1):
            if count == MAX_PAGES:
                self.report.blind_spot(what, f"{what} has more than {MAX_PAGES} pages; stopped reading")
                return
            query = dict(params or {})
            if token:
                query["pageToken"] = token
            reply = await self.call("GET", service, path, params=query)
            if not reply.ok:
                yield [], reply
                return
            data = reply.data if isinstance(reply.data, Mapping) else {}
            items = data.get(items_key) or []
            if not isinstance(items, list):
                items = []
            yield [x for x in items if isinstance(x, Mapping)], reply
            nxt = data.get("nextPageToken")
            if not isinstance(nxt, str) or not nxt:
                return
            if nxt in seen or nxt == token:
                self.report.blind_spot(what, f"the nextPageToken of {what} repeats an earlier one; stopped after "
                                             f"{count + 1} pages, the list may be incomplete")
                return
            seen.add(nxt)
            token = nxt


def _static_type() -> type:
    import google.oauth2.credentials

    return google.oauth2.credentials.Credentials


__all__ = ["Api", "GaveUp", "Problem", "TooLarge", "classify", "endpoints", "error_info", "retry_delay"]
