"""Async HTTP plumbing shared by the registry connectors (npm, Docker Hub, JFrog).

One `Session` per collection or action (an `httpx.AsyncClient` bound to the running event loop,
closed at the end, so the credential it carries does not outlive the operation). Every request:

- is counted on the report (`count_request`, `count_retry`) and records the rate-limit headers;
- is retried, a bounded number of times within a bounded total time, on 429, 408, 5xx, timeouts,
  connection resets, truncated or invalid JSON and HTML error pages, waiting what the server
  asks (`Retry-After` in seconds or as an HTTP date, Docker Hub's `X-Retry-After` Unix timestamp,
  `X-RateLimit-Reset` when the budget is spent) or backing off exponentially otherwise;
- reads at most `max_bytes` of body (50 MB): a bigger answer is an error, not memory exhaustion.

`pages()` follows `next` links and stops, with a blind spot, when a link points back to a page
already read or leaves the host the credential belongs to.

TLS is always verified: `ca_bundle` (or `REQUESTS_CA_BUNDLE`, else httpx's own `SSL_CERT_FILE`
handling) and `trust_env` stays on so HTTPS_PROXY/NO_PROXY keep working. Messages never carry a
credential: only methods, paths, status codes and the provider's (sanitized) message.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import httpx

from connectors.base import AuthError, ConnectorError, Report
from nhitui.model import Identity, sanitize, utc

MAX_BODY = 50 * 1024 * 1024
MAX_ATTEMPTS = 5
MAX_PAGES = 10_000
USER_AGENT = "nhitui/0.1 (+https://github.com/nhitui)"
RETRY_STATUSES = {408, 425, 429}


class TooLarge(ConnectorError):
    """The server sent more than the response size bound."""


class GaveUp(ConnectorError):
    """Retries exhausted (or the wait the server asked for exceeds the budget)."""


@dataclass
class Reply:
    """A final answer (2xx, or a 4xx that retrying cannot fix)."""

    status: int
    headers: httpx.Headers
    data: Any
    url: str
    method: str = "GET"

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def path(self) -> str:
        return urlsplit(self.url).path or "/"

    def message(self) -> str:
        """The provider's own error message, sanitized and short (never the raw body)."""
        return provider_message(self.data)


def provider_message(data: Any) -> str:
    text = ""
    if isinstance(data, Mapping):
        for key in ("message", "detail", "error", "error_description", "text", "reason"):
            value = data.get(key)
            if isinstance(value, str) and value:
                text = value
                break
        nested = data.get("error")
        if not text and isinstance(nested, Mapping):      # Google and Microsoft: {"error": {"message": ...}}
            value = nested.get("message") or nested.get("status") or nested.get("code")
            text = value if isinstance(value, str) else ""
        if not text and isinstance(data.get("errors"), list) and data["errors"]:
            first = data["errors"][0]
            text = first.get("message", "") if isinstance(first, Mapping) else str(first)
    elif isinstance(data, str):
        text = data
    return sanitize(" ".join(str(text).split()))[:300]


def when(value: Any) -> datetime | None:
    """A provider timestamp as aware UTC; Go's zero time ("0001-01-01T00:00:00Z") and 0 mean "never"."""
    parsed = utc(value)
    if parsed is None or parsed.year < 1971:
        return None
    return parsed


def clean(value: Any, limit: int = 300) -> str:
    """Provider text for `details`: one line, no control bytes, bounded."""
    return sanitize(value)[:limit] if value not in (None, "") else ""


def parse_wait(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After-like header value.

    Accepts delta seconds ("3", "0.5"), an HTTP date, or a Unix timestamp (Docker Hub's
    `X-Retry-After` and the `*-Reset` headers): a number above 10^9 is a point in time.
    """
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    now = time.time() if now is None else now
    try:
        number = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        return max(0.0, when.timestamp() - now)
    if number != number or number < 0:  # NaN or negative
        return None
    if number > 1e9:
        return max(0.0, number - now)
    return number


def retry_wait(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """What the server asks us to wait, or None when it does not say."""
    for name in ("retry-after", "x-retry-after"):
        wait = parse_wait(headers.get(name), now)
        if wait is not None:
            return wait
    for prefix in ("x-ratelimit-", "ratelimit-"):
        remaining = headers.get(prefix + "remaining")
        reset = headers.get(prefix + "reset")
        if remaining is not None and remaining.strip() == "0" and reset:
            wait = parse_wait(reset, now)
            if wait is not None:
                return wait
    return None


def ssl_verify(ca_bundle: str | None) -> ssl.SSLContext | bool:
    """TLS verification is always on: `ca_bundle`, else REQUESTS_CA_BUNDLE, else httpx's default."""
    path = ca_bundle or os.environ.get("REQUESTS_CA_BUNDLE") or ""
    if not path:
        return True
    try:
        if os.path.isdir(path):
            return ssl.create_default_context(capath=path)
        return ssl.create_default_context(cafile=path)
    except (OSError, ssl.SSLError) as exc:
        raise ConnectorError(f"ca_bundle {path!r} cannot be used: {type(exc).__name__}") from None


def origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def canonical(url: str) -> str:
    """A URL with its query sorted, to recognise a page already fetched."""
    parts = urlsplit(url)
    query = urlencode(sorted(parse_qsl(parts.query, keep_blank_values=True)))
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path.rstrip("/") or "/", query, ""))


def looks_html(content_type: str, body: bytes | bytearray) -> bool:
    if "html" in content_type.lower():
        return True
    head = body[:64].lstrip().lower()
    return head.startswith((b"<!doctype", b"<html", b"<head", b"<body"))


class Session:
    """One operation's HTTP client: counted, retried, bounded. Use `async with`."""

    def __init__(self, report: Report, settings: Mapping[str, Any], headers: Mapping[str, str] | None = None,
                 *, provider: str = "") -> None:
        self.report = report
        self.provider = provider or report.provider
        self.timeout = float(settings.get("timeout") or 30)
        self.max_attempts = max(1, min(10, int(settings.get("max_attempts") or MAX_ATTEMPTS)))
        # Total seconds one logical request may take, retries and waits included.
        self.budget = float(settings.get("retry_budget") or max(60.0, 3 * self.timeout))
        self.max_wait = float(settings.get("max_retry_wait") or 60.0)
        self.max_bytes = int(settings.get("max_response_bytes") or MAX_BODY)
        self.backoff = float(settings.get("backoff") or 0.25)
        self.verify = ssl_verify(settings.get("ca_bundle") or None)
        self.headers = {"User-Agent": USER_AGENT, "Accept": "application/json", **dict(headers or {})}
        self.client: httpx.AsyncClient | None = None
        # Called once on a 401 (e.g. an expired short-lived login); True means "retry the request".
        self.reauth: Callable[[], Awaitable[bool]] | None = None
        self.renewals_in_a_row = 0      # logins renewed with no accepted request since
        self._rng = random.Random()

    async def __aenter__(self) -> Session:
        self._reauth_lock = asyncio.Lock()
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 15.0)),
            verify=self.verify, trust_env=True, follow_redirects=True,
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=16),
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        client, self.client = self.client, None
        self.headers.pop("Authorization", None)
        if client is not None:
            await client.aclose()

    def set_auth(self, value: str | None) -> None:
        if value:
            self.headers["Authorization"] = value
        else:
            self.headers.pop("Authorization", None)

    # --- one request, retried ----------------------------------------------------------------

    async def request(self, method: str, url: str, *, json_body: Any = None,
                      headers: Mapping[str, str] | None = None, expect_json: bool = True,
                      allow_reauth: bool = True, final: frozenset[int] = frozenset()) -> Reply:
        """Send one logical request; return the final Reply or raise GaveUp / TooLarge / ConnectorError.

        `final` lists statuses that retrying cannot change for this call (Vault answers 500 for
        "already destroyed"): they are returned at once instead of retried.
        """
        used = self.headers.get("Authorization")
        reply = await self._request(method, url, json_body, headers, expect_json, final)
        if reply.status == 401 and allow_reauth and self.reauth is not None:
            async with self._reauth_lock:
                # Concurrent requests share one renewal: only the first to see the 401 logs in again.
                if self.headers.get("Authorization") != used:
                    renewed = True
                else:
                    renewed = await self.reauth()
                    self.renewals_in_a_row += 1
            if renewed:
                reply = await self._request(method, url, json_body, headers, expect_json, final)
        if reply.status != 401:
            self.renewals_in_a_row = 0      # the login works: a later expiry may be renewed again
        return reply

    async def _request(self, method: str, url: str, json_body: Any, headers: Mapping[str, str] | None,
                       expect_json: bool, final: frozenset[int] = frozenset()) -> Reply:
        assert self.client is not None, "Session used outside `async with`"
        start = time.monotonic()
        deadline = start + self.budget
        path = urlsplit(url).path or "/"
        what = f"{method} {path}"
        last = ""
        attempt = 0
        while True:
            attempt += 1
            if attempt > 1:
                self.report.count_retry()
            self.report.count_request()
            wait: float | None = None
            try:
                remaining = max(0.5, deadline - time.monotonic())
                status, resp_headers, body = await asyncio.wait_for(
                    self._send(method, url, json_body, headers), timeout=min(3 * self.timeout, remaining))
            except TooLarge:
                raise
            except (asyncio.TimeoutError, httpx.TimeoutException):
                last = "timed out"
            except httpx.HTTPError as exc:
                text = str(exc)
                if "CERTIFICATE_VERIFY_FAILED" in text or isinstance(exc, httpx.UnsupportedProtocol):
                    raise ConnectorError(f"{what}: TLS or protocol error ({type(exc).__name__}); "
                                         "set ca_bundle for a private CA") from None
                last = f"network error ({type(exc).__name__})"
            else:
                self._rate_limits(resp_headers)
                content_type = resp_headers.get("content-type", "")
                if (status in RETRY_STATUSES or status >= 500) and status not in final:
                    wait = retry_wait(resp_headers)
                    if wait is not None and wait <= 0:
                        wait = None     # "Retry-After: 0" (Vault's quotas): back off, don't hammer
                    detail = "an HTML error page" if looks_html(content_type, body) else _short(body)
                    last = f"{status} ({detail})" if detail else str(status)
                elif 200 <= status < 300:
                    data, problem = _decode(body, content_type, expect_json and status != 204)
                    if problem is None:
                        return Reply(status, resp_headers, data, url, method)
                    last = f"{status} with {problem}"
                else:
                    data, _ = _decode(body, content_type, False)
                    return Reply(status, resp_headers, data, url, method)
            elapsed = time.monotonic() - start
            if attempt >= self.max_attempts:
                raise GaveUp(f"{what}: gave up after {attempt} attempts in {elapsed:.1f} s (last: {last})")
            if wait is not None:
                if wait > self.max_wait or time.monotonic() + wait > deadline:
                    raise GaveUp(f"{what}: rate limited; the server asks to wait {wait:.0f} s, more than "
                                 f"the retry budget (last: {last})")
                delay = max(0.05, wait + 0.05)
            else:
                delay = min(8.0, self.backoff * 2 ** (attempt - 1)) * (0.5 + self._rng.random() / 2)
            if time.monotonic() + delay > deadline:
                raise GaveUp(f"{what}: gave up after {attempt} attempts in {elapsed:.1f} s, retry budget "
                             f"spent (last: {last})")
            await asyncio.sleep(delay)

    async def _send(self, method: str, url: str, json_body: Any,
                    headers: Mapping[str, str] | None) -> tuple[int, httpx.Headers, bytearray]:
        assert self.client is not None
        merged = {**self.headers, **dict(headers or {})}
        async with self.client.stream(method, url, json=json_body, headers=merged) as resp:
            declared = resp.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > self.max_bytes:
                raise TooLarge(f"{method} {urlsplit(url).path}: the response announces {int(declared)} bytes, "
                               f"more than the {self.max_bytes} byte bound")
            buf = bytearray()
            async for chunk in resp.aiter_bytes():
                buf += chunk
                if len(buf) > self.max_bytes:
                    raise TooLarge(f"{method} {urlsplit(url).path}: the response exceeds the "
                                   f"{self.max_bytes} byte bound; stopped reading")
            return resp.status_code, resp.headers, buf  # no copy: at most one bounded buffer

    def _rate_limits(self, headers: httpx.Headers) -> None:
        for prefix in ("x-ratelimit-", "ratelimit-"):
            remaining = headers.get(prefix + "remaining")
            if remaining is not None:
                self.report.rate_limit(remaining.split(";")[0].strip(),
                                       (headers.get(prefix + "limit") or "").split(";")[0].strip() or None)
                return

    async def get(self, url: str, **kw: Any) -> Reply:
        return await self.request("GET", url, **kw)

    # --- pagination --------------------------------------------------------------------------

    async def pages(self, url: str, next_of: Callable[[Reply], str | None], what: str,
                    max_pages: int = MAX_PAGES) -> AsyncIterator[Reply]:
        """Yield each page; stop on a final non-2xx (yielded for the caller to judge) or the last page.

        A `next` link that points back to a page already read, leaves the credential's host, or a
        list longer than `max_pages` ends the walk with a blind spot instead of looping.
        """
        seen: set[str] = set()
        home = origin(url)
        count = 0
        while url:
            key = canonical(url)
            if key in seen:
                self.report.blind_spot(what, f"the next link of {what} points back to a page already read "
                                             f"({urlsplit(url).path}?{urlsplit(url).query}); stopped after "
                                             f"{count} pages, the list may be incomplete")
                return
            if count >= max_pages:
                self.report.blind_spot(what, f"{what} has more than {max_pages} pages; stopped reading")
                return
            seen.add(key)
            reply = await self.get(url)
            count += 1
            yield reply
            if not reply.ok:
                return
            link = next_of(reply)
            if not link or not isinstance(link, str):
                return
            following = urljoin(url, link)
            if origin(following) != home:
                self.report.blind_spot(what, f"the next link of {what} points to another host "
                                             f"({sanitize(urlsplit(following).netloc)[:100]}); not followed, "
                                             "the credential stays with its own host")
                return
            url = following


def _decode(body: bytes | bytearray, content_type: str, expect_json: bool) -> tuple[Any, str | None]:
    if not body.strip():
        return None, ("an empty body" if expect_json else None)
    if looks_html(content_type, body):
        return None, ("an HTML page instead of JSON" if expect_json else None)
    try:
        return json.loads(body), None
    except (ValueError, UnicodeDecodeError):
        if expect_json:
            return None, "truncated or invalid JSON"
        return bytes(body[:300]).decode("utf-8", "replace"), None


def _short(body: bytes | bytearray) -> str:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return ""
    return provider_message(data)[:120]


def auth_failed(reply: Reply, provider: str, hint: str = "") -> AuthError:
    message = reply.message()
    text = f"authentication failed: {provider} answered 401 on {reply.method} {reply.path}"
    if message:
        text += f": {message}"
    if hint:
        text += f" ({hint})"
    return AuthError(text)


def denied_reason(reply: Reply, needs: str) -> str:
    message = reply.message()
    base = f"{reply.status} on {reply.path}"
    if message:
        base += f" ({message})"
    return f"{base}: {needs}" if needs else base


def raise_or_blind(report: Report, what: str, read: int, reason: str) -> None:
    """Nothing read yet: the source failed. Some pages read: a blind spot (the source is partial)."""
    if not read:
        raise ConnectorError(reason)
    report.blind_spot(what, reason)


async def merge(producers: Iterable[AsyncIterator[Any]]) -> AsyncIterator[Any]:
    """Interleave several async generators as their items arrive; the first error propagates."""
    queue: asyncio.Queue[Any] = asyncio.Queue()
    done = object()

    class Failed:
        def __init__(self, exc: BaseException) -> None:
            self.exc = exc

    async def drain(gen: AsyncIterator[Any]) -> None:
        try:
            async for item in gen:
                await queue.put(item)
        except Exception as exc:  # noqa: BLE001 - handed to the consumer
            queue.put_nowait(Failed(exc))
        finally:
            aclose = getattr(gen, "aclose", None)
            if aclose is not None:
                try:
                    await aclose()
                except Exception:  # noqa: BLE001,S110 - closing a generator that already failed
                    pass
            queue.put_nowait(done)

    tasks = [asyncio.ensure_future(drain(p)) for p in producers]
    try:
        open_ = len(tasks)
        while open_:
            item = await queue.get()
            if item is done:
                open_ -= 1
                continue
            if isinstance(item, Failed):
                raise item.exc
            yield item
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def fresh(objects: Iterable[Any], parse: Callable[[Mapping[str, Any], datetime], Identity | None],
          seen: set[str]) -> list[Identity]:
    """The identities of one page that no earlier page gave: a page of repeats means the provider's
    `next` link went round in a circle, and the caller stops paginating."""
    now = datetime.now(timezone.utc)
    batch = []
    for obj in objects:
        identity = parse(obj, now) if isinstance(obj, Mapping) else None
        if identity is not None and identity.uid not in seen:
            seen.add(identity.uid)
            batch.append(identity)
    return batch
