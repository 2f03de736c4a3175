"""The GitHub client: settings, PyGithub requesters, one GET, one write, and the rate budget.

Built on PyGithub 2.10 for authentication (auth.py: a token, or a GitHub App installation whose
tokens PyGithub mints and refreshes) and retries (retry.py). Every request goes through a PyGithub
`Requester` (`requestJson`), with our own pagination (pages.py) and conditional requests (etag.py);
each request is counted on the report and the lowest `x-ratelimit-remaining` of the current window
is recorded. The scan's reads travel on one urllib3 pool given to PyGithub as its connection class
(transport.py: requests was half a GET's CPU); behind a proxy, and for writes (writes.py), on
PyGithub's own requests transport.

Concurrency: reads run in a bounded thread pool (`concurrency`, default 16, at most 100); each
worker thread has its own `Requester` (PyGithub's connection object is not safe to share between
threads) and they share one authentication object behind a lock. Every GET first asks the
source's pacer (connectors/pacer.py) for a slot: GitHub's secondary limits (100 concurrent, 900
points/min per endpoint, 90 s of response time per 60 s) and the primary budget are kept before
they are reached; a budget spent until a reset beyond `budget_wait` stops the scan (`BudgetStop`). Writes are sent one at a time, at
least a second apart, as GitHub asks of integrators.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qsl, urlparse

from github import Github
from github.GithubException import GithubException, RateLimitExceededException
from requests import exceptions as rex
from requests.utils import get_environ_proxies, select_proxy

from connectors import pacer as pacing
from connectors import pooled
from connectors.base import AuthError, ConnectorError, Report, Resolve, setting
from connectors.github import etag, retry, transport
from connectors.github.auth import LockedAuth, auth_for
from nhitui.model import Identity, make_uid, sanitize

log = logging.getLogger("nhitui.connectors.github")

# PyGithub attaches a stderr handler to its "github" logger at INFO: every retry would be printed over
# the TUI. Its records still reach the root logger's handlers (the application decides where they go).
_pygithub_log = logging.getLogger("github")
for _handler in list(_pygithub_log.handlers):
    if type(_handler) is logging.StreamHandler:
        _pygithub_log.removeHandler(_handler)
_pygithub_log.setLevel(logging.WARNING)

DEFAULT_API = "https://api.github.com"
API_VERSION = "2022-11-28"
PER_PAGE = 100

class HttpError(Exception):
    """One endpoint could not be read (or written): status (0 for transport errors) and a safe message."""

    def __init__(self, status: int, message: str, path: str = "", accepted: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.path = path
        self.accepted = accepted


class BudgetStop(ConnectorError):
    """The primary budget is spent until a reset further away than `budget_wait`: stop at a checkpoint."""

    def __init__(self, reset: float) -> None:
        at = time.strftime("%H:%M", time.gmtime(reset))
        super().__init__(f"rate-limit budget spent; resumes at {at} UTC (nhitui scan --resume)")
        self.reset = reset


class LoopError(Exception):
    """A `Link: next` pointed at a page already read (args[0] is the listing's path)."""


def lower(headers: Any) -> dict[str, str]:
    try:
        return {str(k).lower(): str(v) for k, v in dict(headers or {}).items()}
    except (TypeError, ValueError):
        return {}


def message(data: Any) -> str:
    """GitHub's own error message, sanitized and short (never the raw body)."""
    if isinstance(data, dict):
        msg = data.get("message")
        if isinstance(msg, str) and msg:
            return sanitize(" ".join(msg.split()))[:300]
    return ""


def _body(output: Any) -> Any:
    """A response body as PyGithub's Requester parses it (empty -> None; a truncated JSON body raises)."""
    if isinstance(output, bytes):
        output = output.decode("utf-8")
    if not output:
        return None
    try:
        return json.loads(output)
    except ValueError:
        if output.startswith(("{", "[")):
            raise
        return {"data": output}


class GitHubClient:
    """One source's connection to one GitHub host: reads through a thread pool, writes one at a time."""

    def __init__(self, settings: Mapping[str, Any], resolve: Resolve, report: Report,
                 cache: etag.Cache | None) -> None:
        self.settings = dict(settings)
        self.name = str(settings["name"])
        self.report = report
        self.cache = cache
        self._resolve = resolve
        self.api_url = str(setting(settings, "api_url", DEFAULT_API)).rstrip("/")
        parsed = urlparse(self.api_url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ConnectorError(f"{self.name}: api_url must be an http(s) URL, e.g. {DEFAULT_API}")
        self._origin = (parsed.scheme, parsed.hostname, parsed.port)
        self.prefix = parsed.path.rstrip("/")
        if parsed.hostname == "api.github.com":
            self.web_url = "https://github.com"
        elif self.prefix.endswith("/api/v3"):
            self.web_url = f"{parsed.scheme}://{parsed.netloc}{self.prefix[:-len('/api/v3')]}"
        else:
            self.web_url = self.api_url
        self.concurrency = max(1, min(int(setting(settings, "concurrency", 16)), 100))
        self.timeout = float(setting(settings, "timeout", 30))
        ca_bundle = setting(settings, "ca_bundle")
        if ca_bundle and not os.path.exists(os.path.expanduser(str(ca_bundle))):
            raise ConnectorError(f"{self.name}: ca_bundle {ca_bundle} does not exist")
        self.verify: bool | str = (os.path.expanduser(str(ca_bundle)) if ca_bundle else None) or \
            os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or \
            os.environ.get("SSL_CERT_FILE") or True
        # GitHub asks integrators to send writes serially, at least a second apart.
        self.write_interval = 1.0
        self._write_lock = threading.Lock()
        self._last_write = 0.0
        self._local = threading.local()
        self._requesters: list[Any] = []
        self.lock = threading.Lock()
        self._base: Any = None
        self._auth: Any = None
        self._pool: Any = None          # the reads' urllib3 pool (transport.py); None behind a proxy
        self.pool: ThreadPoolExecutor | None = None
        self.ok = 0                  # GETs that succeeded in this client's life
        self.not_modified = 0        # of which answered 304 from the cache
        self._rate: tuple[int, int] | None = None   # (reset, remaining)
        self._proxies: dict[str, str] = {}
        self._cache_origin = f"{parsed.scheme}://{parsed.hostname}" + (f":{parsed.port}" if parsed.port else "")
        self.pacer = pacing.Pacer(self._limits(settings))
        self.replay: dict[str, tuple[str, str]] = {}     # checkpoint: cache key -> (link, body) already read
        self.replayed = 0
        self.record: dict[str, tuple[str, str]] | None = None   # responses of this scan, for a checkpoint
        self.on_budget: Any = None      # called once with (remaining, limit, reset) of the first answer
        self.stopped: float | None = None   # the reset of a budget found spent in this scan (no more GETs)

    def _limits(self, settings: Mapping[str, Any]) -> pacing.Limits:
        """GitHub's documented secondary limits (apis.md §9) and primary budget, kept by default on
        GitHub's cloud (api.github.com, GHE.com); GHES has none unless its admin set them, so another
        host is paced only with `pacing = true`.

        `secondary_window`, `server_seconds` and `endpoint_points` exist so the sandbox can scale the
        minute down; `budget_wait` is how long a spent primary budget is waited for before the scan
        stops at a checkpoint (unpaced, the 403 that says so stops it).
        """
        host = urlparse(self.api_url).hostname or ""
        paced = bool(setting(settings, "pacing", host == "api.github.com" or host.endswith(".ghe.com")))
        self.paced = paced
        return pacing.Limits(
            concurrency=self.concurrency, max_concurrent=100,
            window=float(setting(settings, "secondary_window", 60.0)),
            server_seconds=float(setting(settings, "server_seconds", 90.0)) if paced else None,
            endpoint_points=float(setting(settings, "endpoint_points", 900.0)) if paced else None,
            budget_wait=float(setting(settings, "budget_wait", retry.MAX_WAIT)))

    @property
    def has_app(self) -> bool:
        """A GitHub App is configured (the only credential the fine-grained PAT endpoints accept)."""
        return bool(self.settings.get("app_id"))

    @property
    def ghes(self) -> bool:
        return self.prefix.endswith("/api/v3")

    def identity(self, kind: str, native: str, name: Any, **fields: Any) -> Identity:
        """An Identity of this source (uid from source, kind and GitHub's own id)."""
        return Identity(uid=make_uid(self.name, kind, native), source=self.name, provider="github", kind=kind,
                        name=sanitize(name), **fields)

    # --- authentication ---------------------------------------------------------------------------

    def auth_for(self, write: bool, app_only: bool = False) -> Any:
        return auth_for(self.settings, self._resolve, self.name, write, app_only)

    def _github(self, auth: Any) -> Any:
        policy = retry.make_retry(self._on_retry, self.pacer.limits.budget_wait)
        return Github(auth=auth, base_url=self.api_url, timeout=max(1, math.ceil(self.timeout)), user_agent="nhitui",
                      per_page=PER_PAGE, verify=self.verify, retry=policy, pool_size=max(2, self.concurrency),
                      seconds_between_requests=0, seconds_between_writes=0, lazy=True, api_version=API_VERSION)

    def _on_retry(self, secondary: bool = False) -> None:
        self.report.count_retry()
        self.report.count_request()
        if secondary:   # GitHub said we crossed a secondary limit: counted, shown, and the pacer backs off
            self.pacer.throttled()
            with self.lock:
                self.report.facts["secondary_limit_hits"] = self.pacer.hits

    # --- requesters (one per worker thread) -------------------------------------------------------

    def open(self) -> None:
        """Load the read credential and start the pool (call `close` after)."""
        auth = self.auth_for(write=False)
        self._base = self._github(auth)
        self._auth = LockedAuth(auth)
        self._proxies = get_environ_proxies(self.api_url)
        if select_proxy(self.api_url, self._proxies) is None:
            scheme, host, port = self._origin
            self._pool = pooled.pool_for(scheme, host, port, self.verify, max(2, self.concurrency))

    def _requester(self) -> Any:
        req = getattr(self._local, "requester", None)
        if req is None:
            req = self._base.requester.withAuth(self._auth)
            if self._pool is not None and hasattr(req, "_Requester__connectionClass"):
                req._Requester__connectionClass = transport.factory(self._pool, self._elapsed)
            else:       # a proxy (or a PyGithub without the parameter): PyGithub's requests transport
                self._tune(req)
            self._local.requester = req
            with self.lock:
                self._requesters.append(req)
        return req

    def _elapsed(self, seconds: float) -> None:
        """A response's time (sent to headers read) joins the thread's server-time tally."""
        self._local.rt = getattr(self._local, "rt", 0.0) + seconds

    def _timed(self, response: Any, *args: Any, **kwargs: Any) -> Any:
        """requests response hook: the same tally under PyGithub's requests transport."""
        try:
            self._elapsed(response.elapsed.total_seconds())
        except AttributeError:
            pass
        return response

    def _tune(self, req: Any) -> None:
        """PyGithub's requests transport (used behind a proxy): bounded bodies, timed responses, and the
        proxy environment read once per scan (requests re-reads it twice per request, a third of a GET's
        CPU); the CA bundle from the environment is in `self.verify` and PyGithub disables netrc."""
        try:
            session = req._Requester__createConnection().session
        except AttributeError:
            log.warning("PyGithub internals changed: response sizes are not bounded")
            return
        session.hooks["response"] += [retry.bounded_read, self._timed]
        session.trust_env = False
        session.proxies.update(self._proxies)

    def close(self) -> None:
        with self.lock:
            requesters, self._requesters = self._requesters, []
        for req in requesters:
            try:
                req.close()
            except Exception:  # noqa: BLE001,S110 - closing is best effort
                pass
        if self._base is not None:
            try:
                self._base.close()
            except Exception:  # noqa: BLE001,S110
                pass
        self._base = None
        self._auth = None
        if self._pool is not None:
            self._pool.close()
            self._pool = None
        self._local = threading.local()

    # --- one GET ----------------------------------------------------------------------------------

    def _note_rate(self, headers: dict[str, str]) -> None:
        remaining, limit, reset = (headers.get("x-ratelimit-remaining"), headers.get("x-ratelimit-limit"),
                                   headers.get("x-ratelimit-reset"))
        if remaining is None or not remaining.isdigit():
            return
        r = int(remaining)
        key = int(reset) if reset and reset.isdigit() else 0
        if self.paced:
            self.pacer.budget(r, float(key) if key else None)
        with self.lock:
            first, self.on_budget = self.on_budget, None
        if first is not None:      # the first answer of the scan: is the budget enough?
            first(r, int(limit) if limit and limit.isdigit() else 0, float(key) if key else None)
        with self.lock:
            if self._rate is None or key > self._rate[0] or (key == self._rate[0] and r < self._rate[1]):
                self._rate = (key, r)
                self.report.rate_limit(r, limit)

    def path_of(self, url: str) -> str:
        """The API path (without host and GHES prefix) of a URL, for messages."""
        path = urlparse(url).path if "://" in url else url.split("?", 1)[0]
        if self.prefix and path.startswith(self.prefix):
            path = path[len(self.prefix):]
        return path or "/"

    def _get_sync(self, url: str, params: dict[str, Any] | None) -> tuple[dict[str, str], Any]:
        path = self.path_of(url)
        if "://" in url and not self.same_origin(url):
            raise HttpError(0, "refused to follow a URL outside api_url", path)
        cache = self.cache
        key = etag.key(self._cache_origin, *self.canonical(url, params)) if cache is not None else ""
        rkey = key or (etag.key(self._cache_origin, *self.canonical(url, params))
                       if self.replay or self.record is not None else "")
        replayed = self.replay.get(rkey)
        if replayed is not None:        # read before a checkpoint: not asked again
            if cache is not None:       # its ETag (kept when it was read) is still current: not pruned
                etag.touch(cache, key)
            with self.lock:
                self.replayed += 1
                if self.record is not None:
                    self.record[rkey] = replayed
            return ({"link": replayed[0]} if replayed[0] else {}), _body(replayed[1])
        bad_bodies = rate_waits = 0
        endpoint = pacing.github_endpoint(path)
        while True:
            if self.stopped is not None:    # GitHub asks for no more requests while the budget is spent
                raise BudgetStop(self.stopped)
            cached = cache.get(key) if cache is not None else None
            try:
                ticket = self.pacer.acquire(endpoint, 1.0)
            except pacing.BudgetSpent as spent:
                raise self._stop(spent.reset) from None
            self.report.count_request()
            self._local.rt = 0.0
            try:
                req = self._requester()
                ask = {"If-None-Match": cached[0]} if cached else None
                try:
                    status, headers, output = req.requestJson("GET", url, parameters=params, headers=ask)
                finally:
                    self.pacer.release(ticket, getattr(self._local, "rt", None) or None)
                if status == 304 and cached:
                    try:
                        data = _body(cached[1])
                    except ValueError:          # a damaged cache entry: forget it and ask again
                        cache.pop(key, None)    # type: ignore[union-attr]
                        self.report.count_retry()
                        continue
                    with self.lock:
                        self.not_modified += 1
                    if self.paced:
                        # A 304 is not charged to the primary budget (etag.py): the estimate gets its
                        # unit back, or a rescan answered from the cache would stop at a checkpoint.
                        self.pacer.refund()
                else:
                    if status == 200 and not output:       # an empty 200 is as broken as a truncated one
                        raise json.JSONDecodeError("empty body", "", 0)
                    data = _body(output)
                    if status >= 400:
                        raise req.createException(status, headers, data)
            except RateLimitExceededException as exc:
                self._note_rate(lower(exc.headers))
                spent = self._spent_until(lower(exc.headers))
                if spent is not None:
                    raise self._stop(spent) from None
                raise HttpError(exc.status, "rate limit exhausted beyond the wait limit", path) from None
            except GithubException as exc:
                headers = lower(exc.headers)
                self._note_rate(headers)
                wait = retry.reset_wait(headers) if exc.status in (403, 429) else None
                spent = self._spent_until(headers) if exc.status in (403, 429) else None
                if spent is not None:
                    raise self._stop(spent) from None
                if wait is not None and rate_waits < retry.RATE_WAITS:
                    # The budget is spent (the headers say so) under a wording PyGithub does not know.
                    rate_waits += 1
                    self.report.count_retry()
                    time.sleep(wait)
                    continue
                if exc.status == 401:
                    said = message(exc.data) or "Bad credentials"
                    raise AuthError(f"authentication failed: GitHub answered 401 ({said}) for {path}") from None
                raise HttpError(exc.status, message(exc.data) or f"HTTP {exc.status}", path,
                                headers.get("x-accepted-github-permissions", "")) from None
            except retry.BudgetSpent as exc:
                raise self._stop(exc.reset) from None
            except retry.WaitTooLong as exc:
                raise HttpError(429, f"rate limited: {exc}, more than the {retry.MAX_WAIT:.0f} s limit",
                                path) from None
            except (json.JSONDecodeError, UnicodeDecodeError, rex.ChunkedEncodingError, rex.ContentDecodingError):
                bad_bodies += 1
                if bad_bodies > retry.BODY_RETRIES:
                    raise HttpError(0, "the response body was truncated or not JSON", path) from None
                self.report.count_retry()
                time.sleep(0.05 * bad_bodies)
                continue
            except retry.TooLarge as exc:
                raise HttpError(0, str(exc), path) from None
            except rex.SSLError:
                raise HttpError(0, "TLS certificate verification failed: set ca_bundle (or REQUESTS_CA_BUNDLE) "
                                   "for a private CA", path) from None
            except (rex.RequestException, OSError) as exc:
                raise HttpError(0, f"network error ({type(exc).__name__})", path) from None
            except AssertionError:
                raise HttpError(0, "refused to follow a URL outside api_url", path) from None
            headers = lower(headers)
            self._note_rate(headers)
            if cache is not None:
                etag.remember(cache, key, status, headers, output, cached)
            with self.lock:
                self.ok += 1
                if self.record is not None:
                    body = cached[1] if status == 304 and cached else output
                    text = body.decode("utf-8") if isinstance(body, bytes) else str(body or "")
                    self.record[rkey] = (headers.get("link", ""), text)
            return headers, data

    def _stop(self, reset: float) -> BudgetStop:
        """The budget is spent until `reset`: every GET of this scan after this one stops without a request
        (the requests already queued would each be refused, and GitHub may ban an integration that keeps
        sending requests while it is rate limited)."""
        with self.lock:
            self.stopped = reset
        return BudgetStop(reset)

    def _spent_until(self, headers: dict[str, str]) -> float | None:
        """The reset of a spent primary budget when it is further away than `budget_wait`, else None."""
        reset = str(headers.get("x-ratelimit-reset") or "")
        if headers.get("x-ratelimit-remaining") != "0" or not reset.isdigit():
            return None
        return float(reset) if int(reset) - time.time() > self.pacer.limits.budget_wait else None

    async def get(self, url: str, params: dict[str, Any] | None = None) -> tuple[dict[str, str], Any]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, self._get_sync, url, params)

    # --- URLs -------------------------------------------------------------------------------------

    def canonical(self, url: str, params: Mapping[str, Any] | None) -> tuple[str, tuple]:
        if "://" in url:
            u = urlparse(url)
            path, query = u.path, parse_qsl(u.query, keep_blank_values=True)
        else:
            path, query = self.prefix + url.split("?", 1)[0], []
        query = list(query) + [(str(k), str(v)) for k, v in (params or {}).items()]
        return path, tuple(sorted(query))

    def same_origin(self, url: str) -> bool:
        u = urlparse(url)
        port = u.port
        default = {"http": 80, "https": 443}
        ours = self._origin
        return (u.scheme, u.hostname, port or default.get(u.scheme)) == \
            (ours[0], ours[1], ours[2] or default.get(ours[0])) and u.path.startswith(self.prefix + "/")

    # --- one write --------------------------------------------------------------------------------

    def write(self, verb: str, path: str, body: Any, app_only: bool = False) -> tuple[int, dict[str, str], Any]:
        """One write with the revoke credential (writes.py); never raises for an HTTP or network failure."""
        from connectors.github import writes

        return writes.send(self, verb, path, body, app_only)
