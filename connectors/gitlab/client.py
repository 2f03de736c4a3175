"""The HTTP side of the GitLab connector: python-gitlab, our retries, the rate budget and pagination.

python-gitlab's own retry (`obey_rate_limit`, `max_retries`, `retry_transient_errors`) parses
`Retry-After` with `int()` (a fractional value or an HTTP date raises) and sleeps for whatever the
server says, so it is switched off per request and a `requests.Session` subclass does it instead: at
most `MAX_RETRIES` retries on 429 / 5xx / connection errors / truncated JSON, waiting `Retry-After`
(seconds or HTTP date), else `RateLimit-ResetTime` / `RateLimit-Reset`, else exponential backoff with
jitter, each wait capped at `MAX_SLEEP` and all of one request's waits at `MAX_WAIT`. A POST (rotate)
is retried only on 429: repeating a rotation that did happen would revoke the new token. The same
session counts every request and retry on the report. Its GETs travel on urllib3 pools
(transport.py: requests' per-request work was ~45 % of the source's CPU); anything else, and any
request behind a proxy, through requests.

Pacing (connectors/pacer.py): every attempt first takes a slot from the session's pacer, which
keeps `RateLimit-Remaining` until `RateLimit-Reset` (a request is not sent into a spent window: it
waits for the reset, capped) and, whether or not any header arrives, the source's requests per
minute (GitLab.com's documented 2,000 by default there; `requests_per_minute` elsewhere) in every
trailing minute. GitLab sends `RateLimit-*` on unthrottled answers only behind a feature flag, so the
first sign of a limit may be a 429: without a configured rate, its `RateLimit-Limit` (per minute)
becomes the rate, and the scan is throttled at most once. The concurrency never exceeds the
source's `concurrency`.

Secrets are never kept: every decoded page is scrubbed of `value` (CI variables), `token` (triggers,
old runner details), `runners_token` and `registration_token` before anything else reads it, and
lists go through `http_request` + `pages()`, which yield plain dicts (python-gitlab objects would
keep every attribute).
"""

from __future__ import annotations

import json
import logging
import os
import random
import threading
import time
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import gitlab
import requests
from requests.adapters import HTTPAdapter

from connectors import pacer as pacing
from connectors import pooled
from connectors.base import Report
from connectors.gitlab import transport

log = logging.getLogger("nhitui.connectors.gitlab")

API = "/api/v4"
PER_PAGE = 100
MAX_RETRIES = 5
MAX_SLEEP = 60.0          # longest single wait (Retry-After, rate-limit reset, backoff)
MAX_WAIT = 120.0          # longest total wait for one request across its retries
MAX_PAGES = 10_000
MAX_BODY = 50 * 1024 * 1024   # a bigger answer is an error, not memory exhaustion
GITLAB_COM_PER_MINUTE = 2000   # authenticated API requests per minute per user on GitLab.com (apis.md)
RETRY_STATUS = {429, 500, 502, 503, 504, 520, 521, 522, 523, 524}
SECRET_KEYS = ("value", "token", "runners_token", "registration_token", "secret", "private_token")


class Stopped(Exception):
    """The scan was cancelled: workers stop at their next request."""


class BadResponse(Exception):
    """A page that is not what GitLab documents (not JSON, not a list, a pagination loop)."""


class TooLarge(BadResponse):
    """The server sent more than MAX_BODY bytes: reading stopped there."""


def scrub(obj: Any) -> Any:
    """Drop secret values from a decoded GitLab object, in place, before anything reads it."""
    if isinstance(obj, dict):
        for key in SECRET_KEYS:
            obj.pop(key, None)
    return obj


def enc(value: Any) -> str:
    """A path segment (an id or a full path such as `acme/platform`), URL-encoded as GitLab wants."""
    return quote(str(value), safe="")


def retry_after(value: str | None) -> float | None:
    """Retry-After as seconds: a number (fractions allowed) or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def reset_epoch(headers: Mapping[str, str]) -> float | None:
    """When the rate-limit window resets, as epoch seconds (RateLimit-Reset is absolute on GitLab)."""
    reset = headers.get("RateLimit-Reset")
    if reset:
        try:
            value = float(reset)
            return value if value > 1e9 else time.time() + value
        except ValueError:
            pass
    reset_time = headers.get("RateLimit-ResetTime")
    if reset_time:
        seconds = retry_after(reset_time)
        if seconds is not None:
            return time.time() + seconds
    return None


def path_of(url: Any) -> str:
    """The part of a URL after /api/v4, for log lines (never the query, which may name things)."""
    text = url.decode() if isinstance(url, bytes) else str(url)
    path = urlsplit(text).path
    i = path.find(API)
    return path[i + len(API):] if i >= 0 else path


class Session(requests.Session):
    """requests.Session with bounded retries, rate-limit pacing and request counting."""

    def __init__(self, report: Report, stop: threading.Event, pool: int, concurrency: int,
                 per_minute: float | None = None, minute: float = 60.0) -> None:
        """`per_minute` requests per `minute` seconds (60; the sandbox scales it down), None: unknown."""
        super().__init__()
        self.pacer = pacing.Pacer(pacing.Limits(concurrency=concurrency, server_seconds=None, endpoint_points=None,
                                                requests_per_window=per_minute or None, window=minute,
                                                budget_wait=MAX_SLEEP))
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool)
        self.pools = transport.Pools(pool)
        self.mount("https://", adapter)
        self.mount("http://", adapter)
        self.report = report
        self.stop = stop
        self.concurrency = concurrency
        self.last_status: int | None = None
        self._lock = threading.Lock()
        self._not_before = 0.0
        self._env: dict[Any, Any] = {}

    def merge_environment_settings(self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any) -> Any:
        # requests re-reads the proxy and CA variables from os.environ on every request; a scan talks
        # to one host, so the answer is computed once per (host, settings) and reused.
        parts = urlsplit(url.decode() if isinstance(url, bytes) else str(url))
        key = (parts.scheme, parts.netloc, stream, verify, cert, tuple(sorted((proxies or {}).items())))
        cached = self._env.get(key)
        if cached is None:
            cached = self._env[key] = super().merge_environment_settings(url, proxies, stream, verify, cert)
        return {k: (dict(v) if isinstance(v, dict) else v) for k, v in cached.items()}

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        verb = (method.decode() if isinstance(method, bytes) else method).upper()
        attempt = 0
        waited = 0.0
        while True:
            self._pace()
            if self.stop.is_set():
                raise Stopped()
            try:
                ticket = self.pacer.acquire(path_of(url), 1.0, self.stop)
            except pacing.BudgetSpent:
                ticket = None       # a reset beyond MAX_SLEEP: send, and let a 429 say how long to wait
            self.report.count_request()
            rt: float | None = None
            try:
                try:
                    resp = self._send(verb, method, url, args, kwargs)
                    rt = resp.elapsed.total_seconds()
                finally:
                    if ticket is not None:
                        self.pacer.release(ticket, rt)
            except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
                    requests.exceptions.ContentDecodingError) as exc:
                if isinstance(exc, requests.exceptions.SSLError):
                    raise           # a certificate does not become trusted by asking again
                delay = self._backoff(attempt)
                if verb == "POST" or attempt >= MAX_RETRIES or waited + delay > MAX_WAIT:
                    raise
                log.debug("%s %s: %s, retrying", verb, path_of(url), type(exc).__name__)
            else:
                self.last_status = resp.status_code
                self._note(resp)
                if attempt >= MAX_RETRIES or not self._retryable(verb, resp):
                    return resp
                delay = self._delay(resp, attempt)
                if waited + delay > MAX_WAIT:
                    return resp
                log.debug("%s %s: %s, retrying", verb, path_of(url), resp.status_code)
                resp.close()
            attempt += 1
            waited += delay
            self.report.count_retry()
            if self.stop.wait(delay):
                raise Stopped()

    def _send(self, verb: str, method: str | bytes, url: str | bytes, args: tuple[Any, ...],
              kwargs: dict[str, Any]) -> requests.Response:
        """One attempt: a GET on the pools (transport.py), anything else through requests; the body
        read at most MAX_BODY bytes either way."""
        text = url.decode() if isinstance(url, bytes) else url
        try:
            try:
                resp = None if args else transport.send(self, self.pools, verb, text, kwargs, MAX_BODY, TooLarge)
            except transport.Redirected:
                self.report.count_request()     # the 3xx was a request; requests now follows it
                resp = None
            if resp is None:
                resp = super().request(method, url, *args, **{**kwargs, "stream": True})
                if not kwargs.get("stream"):
                    resp._content = pooled.read_at_most(resp.headers.get("Content-Length", ""),
                                                        resp.iter_content(pooled.CHUNK), resp.close, MAX_BODY,
                                                        TooLarge)
        except TooLarge as exc:
            raise TooLarge(f"{verb} {path_of(url)}: {exc}") from None
        return resp

    def close(self) -> None:
        self.pools.close()
        super().close()

    @staticmethod
    def _retryable(verb: str, resp: requests.Response) -> bool:
        code = resp.status_code
        if code == 429:
            return True
        if code in RETRY_STATUS:
            return verb != "POST"
        if code == 200 and verb == "GET":
            body = resp.content
            if not body:
                return True         # an empty 200 where GitLab always sends JSON: ask again
            ctype = resp.headers.get("Content-Type", "")
            if "json" in ctype or body[:1] in (b"[", b"{"):
                named = pooled.charset(ctype).lower() if "charset=" in ctype.lower() else "utf-8"
                try:
                    # json.loads reads bytes as UTF-8/16/32; a body in a charset the server names is text first.
                    text = body if named in ("utf-8", "utf8") else resp.text
                    resp._nhitui_json = json.loads(text)    # type: ignore[attr-defined] - reused by pages()
                except ValueError:
                    return True     # truncated or garbled: ask again
        return False

    @staticmethod
    def _backoff(attempt: int) -> float:
        return min(0.25 * 2 ** attempt, 8.0) * (0.5 + random.random() / 2)  # noqa: S311 - jitter

    def _delay(self, resp: requests.Response, attempt: int) -> float:
        wait = retry_after(resp.headers.get("Retry-After"))
        if wait is None and resp.status_code == 429:
            reset = reset_epoch(resp.headers)
            if reset is not None:
                wait = reset - time.time()
        if wait is None:
            wait = self._backoff(attempt)
        return min(max(wait, 0.0), MAX_SLEEP)

    def _note(self, resp: requests.Response) -> None:
        headers = resp.headers
        remaining = headers.get("RateLimit-Remaining")
        if remaining is None:
            return
        limit = headers.get("RateLimit-Limit")
        self.report.rate_limit(remaining, limit)
        try:
            left = int(remaining)
            cap = int(limit) if limit else 0
        except ValueError:
            return
        low = max(1, min(self.concurrency, cap // 10 if cap else self.concurrency))
        if self.pacer.limits.requests_per_window is None or left <= low or resp.status_code == 429:
            # With a rate of its own the pacer already keeps under the limit; its budget (which counts
            # every request in flight as not yet charged, and waits for an integer-second reset) is
            # for a window spent by someone else too, or for no rate known at all.
            self.pacer.budget(left, reset_epoch(headers))
        if resp.status_code == 429:     # met the limit after all (another client shares it): counted
            self.pacer.throttled()
            self.report.facts["rate_limit_hits"] = self.pacer.hits
            if cap > 0 and self.pacer.limits.requests_per_window is None:
                # No rate was known and no header came before this 429: keep the one it names
                # (RateLimit-Limit is per minute) from now on instead of meeting it every minute.
                self.pacer.limits.requests_per_window = float(cap)
                log.info("GitLab answered 429: pacing to its limit of %d requests per minute", cap)
        if left <= low:
            reset = reset_epoch(headers)
            if reset is not None:
                with self._lock:
                    self._not_before = max(self._not_before, min(reset, time.time() + MAX_SLEEP))

    def _pace(self) -> None:
        with self._lock:
            wait = self._not_before - time.time()
        if wait > 0:
            self.stop.wait(min(wait, MAX_SLEEP))


class Client(gitlab.Gitlab):
    """python-gitlab with its own retry loop switched off: `Session` retries, with bounded waits."""

    def http_request(self, verb: str, path: str, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs["obey_rate_limit"] = False
        kwargs["retry_transient_errors"] = False
        kwargs["max_retries"] = 0
        return super().http_request(verb, path, *args, **kwargs)

    @property
    def counted(self) -> Session:
        """The session that counts, paces and retries (its `last_status` is the last answer's code)."""
        return self.session  # type: ignore[return-value]


def ssl_verify(ca_bundle: Any) -> bool | str:
    """`ca_bundle`, else requests' own REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE, else SSL_CERT_FILE."""
    if ca_bundle:
        return os.path.expanduser(str(ca_bundle))
    if not (os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")) and \
            os.environ.get("SSL_CERT_FILE"):
        return os.environ["SSL_CERT_FILE"]
    return True


def default_per_minute(url: str) -> float | None:
    """GitLab.com's documented limit there; a self-managed instance has none unless its admin set one."""
    return GITLAB_COM_PER_MINUTE if (urlsplit(url).hostname or "").lower() == "gitlab.com" else None


def connect(url: str, token: str, report: Report, stop: threading.Event, *, pool: int, concurrency: int,
            timeout: float, ca_bundle: Any, per_minute: float | None = None, minute: float = 60.0) -> Client:
    """A client for one scan or one action; close it with `client.session.close()`."""
    session = Session(report, stop, pool=pool, concurrency=concurrency, per_minute=per_minute, minute=minute)
    return Client(url, private_token=token, timeout=timeout, ssl_verify=ssl_verify(ca_bundle),
                  session=session, per_page=PER_PAGE, keep_base_url=True,
                  user_agent=f"nhitui (python-gitlab {gitlab.__version__})")


def pages(gl: Client, path: str, params: Mapping[str, Any] | None = None) -> Iterator[list[dict[str, Any]]]:
    """Every page of a GitLab list as scrubbed dicts: Link rel=next (offset or keyset), else x-next-page.

    A next link back to a page already read, or more than MAX_PAGES pages, raises BadResponse.
    """
    url = path
    query: dict[str, Any] = {"per_page": PER_PAGE, **(params or {})}
    seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()

    def page_key(url: str, query: Mapping[str, Any]) -> tuple[str, tuple[tuple[str, str], ...]]:
        # per_page is left out: a server that caps it links back with its own value, and the
        # first page asked with ours is the same page (else a cycle re-reads it once).
        q = {k: str(v) for k, v in query.items() if k != "per_page"}
        if "page" not in q and q.get("pagination") != "keyset":
            q["page"] = "1"
        return url, tuple(sorted(q.items()))

    for _ in range(MAX_PAGES):
        seen.add(page_key(url, query))
        resp = gl.http_request("get", url, query_data=query)
        data = getattr(resp, "_nhitui_json", None)
        resp._nhitui_json = None                      # type: ignore[attr-defined]
        try:
            if data is None:
                data = resp.json()
        except ValueError as exc:
            raise BadResponse("the page is not JSON (truncated?)") from exc
        finally:
            resp.close()
        if not isinstance(data, list):
            raise BadResponse("expected a JSON list")
        items = [scrub(x) for x in data if isinstance(x, dict)]
        del data
        yield items
        nxt = _next_page(resp, url, query)
        if nxt is None:
            return
        url, query = nxt
        if page_key(url, query) in seen:
            raise BadResponse("the next-page link points to a page already read; stopped there")
    raise BadResponse(f"more than {MAX_PAGES} pages; stopped there")


def _next_page(resp: requests.Response, url: str, query: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    link = (resp.links.get("next") or {}).get("url")
    if link:
        parts = urlsplit(link)
        i = parts.path.find(API)
        rel = parts.path[i + len(API):] if i >= 0 else parts.path
        return rel, dict(parse_qsl(parts.query, keep_blank_values=True))
    nxt = (resp.headers.get("X-Next-Page") or "").strip()
    if nxt.isdigit():
        return url, {**query, "page": int(nxt)}
    return None
