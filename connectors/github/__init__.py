"""GitHub: every non-human identity of one or more organisations, and how to revoke it.

Built on PyGithub 2.10 for authentication (a token, or a GitHub App installation whose tokens
PyGithub mints and refreshes), retries (`GithubRetry`, extended to 429 and to Retry-After in
seconds, fractions or HTTP dates, and to `x-ratelimit-reset`) and transport (TLS verification,
proxies, connection pooling). Every endpoint goes through the `Requester`
(`requestJsonAndCheck` / `requestJson`) with our own pagination, because we need what PyGithub's
`PaginatedList` does not give: a `Link: next` that points at a page already fetched stops the
listing instead of looping, an absent `Link` falls back to `total_count`, a page is never
fetched twice, lists of lazily-completed objects never trigger hidden per-item GETs, and each
request is counted.

Concurrency: requests run in a bounded thread pool (`concurrency`, default 16, at most 100); each
worker thread has its own `Requester` (PyGithub's connection object is not safe to share between
threads) and they share one authentication object behind a lock. Repositories are fetched in
parallel as soon as each page of the repository list arrives.

Conditional requests: with a `cache` (a mapping of URL -> (ETag, body), injected by the core, which
keeps it between scans), every GET sends `If-None-Match` with the ETag of the body it last saw and
reuses that body on `304 Not Modified`, which GitHub does not charge to the primary rate limit. Only
GET responses are cached, keyed by the URL without any credential. `report.facts` carries
`rate_limit_used` (requests the primary limit was charged for) and `not_modified` per scan.

Secret values never enter this module's output: GitHub does not return secret values, and the
masked webhook secret (`********`) becomes `secret_set = True`.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import math
import os
import re
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Iterable, Mapping, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlparse

from github import Auth, Github
from github.GithubException import GithubException, RateLimitExceededException
from github.GithubRetry import GithubRetry
from requests import exceptions as rex
from requests.utils import get_environ_proxies
from urllib3.exceptions import MaxRetryError
from urllib3.exceptions import SSLError as _Urllib3SSLError

from connectors.base import AuthError, ConnectorError, Report, Resolve, setting
from nhitui.model import Action, ActionResult, Identity, make_uid, max_privilege, sanitize, utc

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
MAX_PAGES = 2000          # per listing: 200,000 items, far beyond any org; stops a runaway server
MAX_WAIT = 300.0          # longest single wait for a rate-limit reset or Retry-After
SECONDARY_WAIT = 60.0      # seconds, for a 403/429 secondary limit that gives neither Retry-After nor reset
RATE_WAITS = 3             # waits for a reset, per request, when a 403/429 says the budget is spent
RETRIES = 5               # per request, for 5xx / 429 / rate-limited 403 / connection errors
BODY_RETRIES = 3          # extra attempts when a 200 carries a truncated JSON body
MAX_BODY = 50 * 1024 * 1024   # a bigger answer is an error, not memory exhaustion

HINTS = {
    "repositories": "needs Repository 'Metadata' read on the organisation's repositories (classic: repo)",
    "members": "needs Organization 'Members' read (classic: read:org)",
    "org actions secrets": "needs Organization 'Secrets' read (classic: admin:org)",
    "org dependabot secrets": "needs Organization 'Dependabot secrets' read (classic: admin:org)",
    "runner groups": "needs Organization 'Self-hosted runners' read (classic: admin:org)",
    "org runners": "needs Organization 'Self-hosted runners' read (classic: admin:org)",
    "app installations": "needs Organization 'Administration' read, as an organisation owner",
    "fine-grained PAT grants": "needs a GitHub App with Organization 'Personal access tokens' read "
                               "(classic PATs are refused)",
    "fine-grained PAT requests": "needs a GitHub App with Organization 'Personal access token requests' read "
                                 "(classic PATs are refused)",
    "SSO credential authorizations": "needs an organisation owner token (classic: read:org) on an organisation "
                                     "with SAML SSO (GitHub Enterprise Cloud only)",
    "org webhooks": "needs Organization 'Webhooks' read (classic: admin:org_hook)",
    "org OIDC customization": "needs Organization 'Administration' read (classic: read:org)",
    "deploy keys": "needs Repository 'Administration' read (classic: repo, with admin rights on the repository)",
    "repo actions secrets": "needs Repository 'Secrets' read (classic: repo)",
    "repo dependabot secrets": "needs Repository 'Dependabot secrets' read (classic: repo)",
    "environments": "needs Repository 'Environments' read (classic: repo)",
    "environment secrets": "needs Repository 'Secrets' read (classic: repo)",
    "repo runners": "needs Repository 'Administration' read (classic: repo)",
    "repo webhooks": "needs Repository 'Webhooks' read (classic: admin:repo_hook)",
    "repo OIDC customization": "needs Repository 'Actions' read (classic: repo)",
}

ADMIN_PERMISSIONS = {"administration", "organization_administration"}
CLASSIC_WRITE = {"repo", "public_repo", "workflow", "gist", "user", "project", "codespace", "repo:invite",
                 "repo_deployment", "repo:status", "security_events", "notifications", "delete_repo"}
CLASSIC_ADMIN = {"delete_repo", "site_admin", "admin"}

_LINK = re.compile(r'<([^>]*)>\s*;\s*rel="?([^",;]+)"?')


class _HttpError(Exception):
    """One endpoint could not be read (or written): status (0 for transport errors) and a safe message."""

    def __init__(self, status: int, message: str, path: str = "", accepted: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.path = path
        self.accepted = accepted


class _LoopError(Exception):
    pass


class _TooLarge(Exception):
    """The server sent more than MAX_BODY bytes: reading stopped there."""


def _bounded_read(response: Any, *args: Any, **kwargs: Any) -> Any:
    """requests response hook (runs before the body is read): read it, but at most MAX_BODY bytes."""
    if kwargs.get("stream"):
        return response
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        response.close()
        raise _TooLarge(f"the response announces {declared} bytes, more than the {MAX_BODY} byte bound")
    body = bytearray()
    for chunk in response.iter_content(65536):
        body += chunk
        if len(body) > MAX_BODY:
            response.close()
            raise _TooLarge(f"the response exceeds the {MAX_BODY} byte bound; stopped reading")
    response._content = bytes(body)
    return response


class _WaitTooLong(Exception):
    def __init__(self, seconds: float) -> None:
        super().__init__(f"the server asked to wait {seconds:.0f} s")
        self.seconds = seconds


# --- PyGithub plumbing ----------------------------------------------------------------------------

class _Retry(GithubRetry):
    """GithubRetry plus 429, exact Retry-After (fractions, HTTP dates) and x-ratelimit-reset waits.

    GithubRetry already retries 403s that carry a rate-limit signal and 5xx; its fixed 60 s wait for
    secondary limits applies only when GitHub sends no Retry-After. Every retry is counted.
    """

    def __init__(self, on_retry: Any = None, **kw: Any) -> None:
        super().__init__(**kw)
        self.on_retry = on_retry

    def new(self, **kw: Any) -> Any:
        fresh = super().new(**kw)
        fresh.on_retry = self.on_retry
        return fresh

    def increment(self, *args: Any, **kwargs: Any) -> Any:
        error = kwargs.get("error")
        if isinstance(error, _Urllib3SSLError):
            # A certificate that failed verification does not pass on the next attempt.
            url = args[1] if len(args) > 1 else kwargs.get("url")
            raise MaxRetryError(kwargs.get("_pool"), url or "", error)
        fresh = super().increment(*args, **kwargs)
        if self.on_retry is not None:
            self.on_retry()
        return fresh

    def parse_retry_after(self, retry_after: str) -> float:
        value = retry_after.strip()
        try:
            seconds = float(value)
        except ValueError:
            try:
                seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
            except (TypeError, ValueError, IndexError, OverflowError):
                seconds = 1.0
        if seconds != seconds:  # NaN
            seconds = 1.0
        seconds = max(0.0, seconds)
        if seconds > MAX_WAIT:
            raise _WaitTooLong(seconds)
        return seconds

    def get_retry_after(self, response: Any) -> float | None:
        value = response.headers.get("Retry-After")
        if value is not None:
            return self.parse_retry_after(value)
        if response.status in (403, 429) and response.headers.get("x-ratelimit-remaining") == "0":
            reset = str(response.headers.get("x-ratelimit-reset") or "")
            if reset.isdigit():
                wait = int(reset) - time.time() + 0.2
                if wait > MAX_WAIT:
                    raise _WaitTooLong(wait)
                return max(wait, 0.05)
        if response.status == 429:
            # A secondary limit that names no wait: GitHub asks for at least a minute (apis.md §9).
            return SECONDARY_WAIT
        return None


def _make_retry(on_retry: Any) -> _Retry:
    return _Retry(on_retry=on_retry, total=RETRIES, backoff_factor=0.25, backoff_max=10, raise_on_status=False,
                  status_forcelist=[429, 500, 502, 503, 504], secondary_rate_wait=SECONDARY_WAIT,
                  max_rate_limit_wait=MAX_WAIT)


class _LockedAuth(Auth.Auth):
    """Share one PyGithub auth between thread-local requesters (App token refresh is not thread-safe)."""

    def __init__(self, inner: Auth.Auth) -> None:
        self._inner = inner
        self._lock = threading.Lock()

    @property
    def token_type(self) -> str:
        return self._inner.token_type

    @property
    def token(self) -> str:
        with self._lock:
            return self._inner.token

    def authentication(self, headers: dict) -> None:
        with self._lock:
            headers["Authorization"] = f"{self._inner.token_type} {self._inner.token}"

    def __repr__(self) -> str:
        return "<auth>"


def _lower(headers: Any) -> dict[str, str]:
    try:
        return {str(k).lower(): str(v) for k, v in dict(headers or {}).items()}
    except (TypeError, ValueError):
        return {}


def _message(data: Any) -> str:
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


def _links(header: str | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for url, rel in _LINK.findall(header or ""):
        for r in rel.split():
            out.setdefault(r, url.strip())
    return out


# --- mapping helpers ------------------------------------------------------------------------------

def _level_privilege(name: str, level: str) -> str:
    level = str(level).lower()
    if level == "admin" or (level == "write" and name in ADMIN_PERMISSIONS):
        return "admin"
    if level == "write":
        return "write"
    if level == "read":
        return "read"
    return "none"


def _classic_privilege(scopes: Iterable[str]) -> str:
    best = "none"
    for s in scopes:
        s = str(s).lower()
        if s.startswith("admin:") or s in CLASSIC_ADMIN:
            p = "admin"
        elif s.startswith(("write:", "delete:")) or s in CLASSIC_WRITE:
            p = "write"
        else:
            p = "read"
        best = max_privilege(best, p)
    return best


def _str(value: Any) -> str:
    """Provider text for details: one safe line (it is shown in the detail pane)."""
    return sanitize(value)[:1000]


def _strs(value: Any) -> list[str]:
    return [_str(v) for v in value] if isinstance(value, list) else []


def _iso(value: Any) -> str | None:
    dt = utc(value)
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ") if dt else None


class GitHubConnector:
    """One `[[source]]` of type github: one or more organisations on github.com, GHEC or GHES."""

    provider = "github"

    def __init__(self, settings: Mapping[str, Any], resolve: Resolve,
                 cache: MutableMapping[str, tuple[str, bytes]] | None = None) -> None:
        self.settings = dict(settings)
        # URL -> (ETag, body) of earlier GETs; the core injects one kept between scans (or None).
        self.cache = cache
        self.name = str(settings["name"])
        self.report = Report(source=self.name, provider=self.provider)
        self._resolve = resolve
        orgs = settings.get("orgs") or ([settings["org"]] if settings.get("org") else [])
        if isinstance(orgs, str):
            orgs = [orgs]
        self.orgs = [str(o) for o in dict.fromkeys(orgs) if o]
        if not self.orgs:
            raise ConnectorError(f"{self.name}: no organisation configured (org = \"acme\" or orgs = [...])")
        self.api_url = str(setting(settings, "api_url", DEFAULT_API)).rstrip("/")
        parsed = urlparse(self.api_url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ConnectorError(f"{self.name}: api_url must be an http(s) URL, e.g. {DEFAULT_API}")
        self._origin = (parsed.scheme, parsed.hostname, parsed.port)
        self._prefix = parsed.path.rstrip("/")
        if parsed.hostname == "api.github.com":
            self.web_url = "https://github.com"
        elif self._prefix.endswith("/api/v3"):
            self.web_url = f"{parsed.scheme}://{parsed.netloc}{self._prefix[:-len('/api/v3')]}"
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
        self._req_lock = threading.Lock()
        self._base: Any = None
        self._auth: Any = None
        self._pool: ThreadPoolExecutor | None = None
        self._emit: Any = None
        self._uids: set[str] = set()
        self._ok = 0
        self._failures: list[str] = []
        self._repo_gaps: dict[tuple[str, str], list[_HttpError]] = {}
        self._repo_total: dict[str, int] = {}
        self._members: dict[str, list[str] | None] = {}
        self._oidc: dict[str, Any] = {"org": None, "orgs": {}, "repos": {}}
        self._rate: tuple[int, int] | None = None   # (reset, remaining)
        self._not_modified = 0
        self._proxies: dict[str, str] = {}
        self._cache_origin = f"{parsed.scheme}://{parsed.hostname}" + (f":{parsed.port}" if parsed.port else "")

    def __repr__(self) -> str:
        return f"<GitHubConnector {self.name} {self.api_url} orgs={self.orgs}>"

    # --- clients ----------------------------------------------------------------------------------

    def _auth_for(self, write: bool, app_only: bool = False) -> Any:
        """A PyGithub Auth: reads use the GitHub App when one is configured (PAT-grant endpoints accept
        only App tokens), else `token`; writes use `revoke_token`, else the read credential, except
        `app_only` writes (PAT grants and requests), which use the App when there is one."""
        s = self.settings
        if write and s.get("revoke_token") and not (app_only and s.get("app_id")):
            return self._token_auth(str(s["revoke_token"]))
        if s.get("app_id"):
            if not s.get("app_private_key") or not s.get("app_installation_id"):
                raise AuthError(f"authentication failed: {self.name} has app_id but no app_private_key or "
                                "app_installation_id")
            pem = self._resolve(str(s["app_private_key"]))
            try:
                app = Auth.AppAuth(str(s["app_id"]), pem)
                app.create_jwt()      # fail here, without a network call, on a bad key
                installation = int(s["app_installation_id"])
            except ConnectorError:
                raise
            except (KeyError, TypeError, ValueError, AssertionError, AttributeError) as exc:
                raise AuthError(f"authentication failed: the GitHub App settings of {self.name} are not usable "
                                f"({type(exc).__name__}: check app_id, app_private_key (a PEM private key) and "
                                "app_installation_id)") from None
            except Exception as exc:  # noqa: BLE001 - PyJWT / cryptography key errors
                raise AuthError(f"authentication failed: the GitHub App private key of {self.name} cannot sign "
                                f"a JWT ({type(exc).__name__})") from None
            return Auth.AppInstallationAuth(app, installation)
        if not s.get("token"):
            raise AuthError(f"authentication failed: no token configured for {self.name}")
        return self._token_auth(str(s["token"]))

    def _token_auth(self, ref: str) -> Any:
        token = self._resolve(ref).strip()
        if not token:
            raise AuthError(f"authentication failed: the credential {ref} of {self.name} is empty")
        return Auth.Token(token)

    def _github(self, auth: Any) -> Any:
        retry = _make_retry(self._on_retry)
        return Github(auth=auth, base_url=self.api_url, timeout=max(1, math.ceil(self.timeout)), user_agent="nhitui",
                      per_page=PER_PAGE, verify=self.verify, retry=retry, pool_size=max(2, self.concurrency),
                      seconds_between_requests=0, seconds_between_writes=0, lazy=True, api_version=API_VERSION)

    def _on_retry(self) -> None:
        self.report.count_retry()
        self.report.count_request()

    def _open(self) -> None:
        auth = self._auth_for(write=False)
        self._base = self._github(auth)
        self._auth = _LockedAuth(auth)
        self._proxies = get_environ_proxies(self.api_url)

    def _requester(self) -> Any:
        req = getattr(self._local, "requester", None)
        if req is None:
            req = self._base.requester.withAuth(self._auth)
            try:    # PyGithub reads bodies whole: bound them on this requester's own session
                req._Requester__createConnection().session.hooks["response"].append(_bounded_read)
            except AttributeError:
                log.warning("PyGithub internals changed: response sizes are not bounded")
            self._tune(req)
            self._local.requester = req
            with self._req_lock:
                self._requesters.append(req)
        return req

    def _tune(self, req: Any) -> None:
        """Read the proxy environment once per scan, not on every request.

        requests re-reads the whole environment twice per request for proxy settings (a third of a
        GET's CPU here). The proxies (HTTPS_PROXY, NO_PROXY ...) for api_url were resolved in `_open`;
        the environment's CA bundle is in `self.verify`, and PyGithub already disables netrc.
        """
        try:
            session = req._Requester__createConnection().session
        except AttributeError:      # a PyGithub without this internal: keep its per-request lookups
            return
        session.trust_env = False
        session.proxies.update(self._proxies)

    def _close(self) -> None:
        with self._req_lock:
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
        self._local = threading.local()

    # --- one request ------------------------------------------------------------------------------

    def _note_rate(self, headers: dict[str, str]) -> None:
        remaining, limit, reset = (headers.get("x-ratelimit-remaining"), headers.get("x-ratelimit-limit"),
                                   headers.get("x-ratelimit-reset"))
        if remaining is None or not remaining.isdigit():
            return
        r = int(remaining)
        key = int(reset) if reset and reset.isdigit() else 0
        with self._req_lock:
            if self._rate is None or key > self._rate[0] or (key == self._rate[0] and r < self._rate[1]):
                self._rate = (key, r)
                self.report.rate_limit(r, limit)

    def _path_of(self, url: str) -> str:
        """The API path (without host and GHES prefix) of a URL, for messages."""
        path = urlparse(url).path if "://" in url else url.split("?", 1)[0]
        if self._prefix and path.startswith(self._prefix):
            path = path[len(self._prefix):]
        return path or "/"

    def _cache_key(self, url: str, params: Mapping[str, Any] | None) -> str:
        """The cache key of a GET: origin, path and sorted query (never a credential)."""
        path, query = self._canonical(url, params)
        return self._cache_origin + path + (f"?{urlencode(query)}" if query else "")

    @staticmethod
    def _remember(cache: MutableMapping[str, tuple[str, bytes]], key: str, status: int, headers: dict[str, str],
                  output: Any, cached: tuple[str, bytes] | None) -> None:
        """Keep a 200's ETag and body (and its Link, which a 304 need not repeat); restore the Link on a 304."""
        link_key = key + "#link"
        if status == 304 and cached:
            if "link" not in headers:
                link = cache.get(link_key)
                if link is not None and link[0] == cached[0]:
                    headers["link"] = link[1].decode("utf-8", "replace")
            return
        if status != 200:
            return
        etag = headers.get("etag")
        if not etag:
            if cached:
                cache.pop(key, None)
                cache.pop(link_key, None)
            return
        cache[key] = (etag, output.encode("utf-8") if isinstance(output, str) else bytes(output))
        if "link" in headers:
            cache[link_key] = (etag, headers["link"].encode("utf-8"))
        elif cached:
            cache.pop(link_key, None)

    def _get_sync(self, url: str, params: dict[str, Any] | None) -> tuple[dict[str, str], Any]:
        path = self._path_of(url)
        if "://" in url and not self._same_origin(url):
            raise _HttpError(0, "refused to follow a URL outside api_url", path)
        cache = self.cache
        key = self._cache_key(url, params) if cache is not None else ""
        bad_bodies = rate_waits = 0
        while True:
            cached = cache.get(key) if cache is not None else None
            self.report.count_request()
            try:
                req = self._requester()
                ask = {"If-None-Match": cached[0]} if cached else None
                status, headers, output = req.requestJson("GET", url, parameters=params, headers=ask)
                if status == 304 and cached:
                    try:
                        data = _body(cached[1])
                    except ValueError:          # a damaged cache entry: forget it and ask again
                        cache.pop(key, None)    # type: ignore[union-attr]
                        self.report.count_retry()
                        continue
                    with self._req_lock:
                        self._not_modified += 1
                else:
                    if status == 200 and not output:       # an empty 200 is as broken as a truncated one
                        raise json.JSONDecodeError("empty body", "", 0)
                    data = _body(output)
                    if status >= 400:
                        raise req.createException(status, headers, data)
            except RateLimitExceededException as exc:
                self._note_rate(_lower(exc.headers))
                raise _HttpError(exc.status, "rate limit exhausted beyond the wait limit", path) from None
            except GithubException as exc:
                headers = _lower(exc.headers)
                self._note_rate(headers)
                wait = _reset_wait(headers) if exc.status in (403, 429) else None
                if wait is not None and rate_waits < RATE_WAITS:
                    # The budget is spent (the headers say so) under a wording PyGithub does not know.
                    rate_waits += 1
                    self.report.count_retry()
                    time.sleep(wait)
                    continue
                if exc.status == 401:
                    said = _message(exc.data) or "Bad credentials"
                    raise AuthError(f"authentication failed: GitHub answered 401 ({said}) for {path}") from None
                raise _HttpError(exc.status, _message(exc.data) or f"HTTP {exc.status}", path,
                                 headers.get("x-accepted-github-permissions", "")) from None
            except _WaitTooLong as exc:
                raise _HttpError(429, f"rate limited: {exc}, more than the {MAX_WAIT:.0f} s limit", path) from None
            except (json.JSONDecodeError, UnicodeDecodeError, rex.ChunkedEncodingError, rex.ContentDecodingError):
                bad_bodies += 1
                if bad_bodies > BODY_RETRIES:
                    raise _HttpError(0, "the response body was truncated or not JSON", path) from None
                self.report.count_retry()
                time.sleep(0.05 * bad_bodies)
                continue
            except _TooLarge as exc:
                raise _HttpError(0, str(exc), path) from None
            except rex.SSLError:
                raise _HttpError(0, "TLS certificate verification failed: set ca_bundle (or REQUESTS_CA_BUNDLE) "
                                    "for a private CA", path) from None
            except (rex.RequestException, OSError) as exc:
                raise _HttpError(0, f"network error ({type(exc).__name__})", path) from None
            except AssertionError:
                raise _HttpError(0, "refused to follow a URL outside api_url", path) from None
            headers = _lower(headers)
            self._note_rate(headers)
            if cache is not None:
                self._remember(cache, key, status, headers, output, cached)
            with self._req_lock:
                self._ok += 1
            return headers, data

    async def _get(self, url: str, params: dict[str, Any] | None = None) -> tuple[dict[str, str], Any]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._get_sync, url, params)

    def _canonical(self, url: str, params: Mapping[str, Any] | None) -> tuple[str, tuple]:
        if "://" in url:
            u = urlparse(url)
            path, query = u.path, parse_qsl(u.query, keep_blank_values=True)
        else:
            path, query = self._prefix + url.split("?", 1)[0], []
        query = list(query) + [(str(k), str(v)) for k, v in (params or {}).items()]
        return path, tuple(sorted(query))

    def _same_origin(self, url: str) -> bool:
        u = urlparse(url)
        port = u.port
        default = {"http": 80, "https": 443}
        ours = self._origin
        return (u.scheme, u.hostname, port or default.get(u.scheme)) == \
            (ours[0], ours[1], ours[2] or default.get(ours[0])) and u.path.startswith(self._prefix + "/")

    async def _pages(self, path: str, key: str | None = None,
                     params: Mapping[str, Any] | None = None) -> AsyncIterator[tuple[list[Any], Any]]:
        """Yield (items, raw page) per page, following `Link: next`; never the same page twice."""
        base = {"per_page": PER_PAGE, **(params or {})}
        url, query = path, dict(base)
        seen: set[tuple[str, tuple]] = set()
        fetched, page = 0, 1
        for _ in range(MAX_PAGES):
            canon = self._canonical(url, query)
            if canon in seen:
                raise _LoopError(path)
            seen.add(canon)
            headers, data = await self._get(url, query)
            if key is None:
                items = data if isinstance(data, list) else None
            else:
                items = data.get(key) if isinstance(data, dict) else None
                items = [] if items is None and isinstance(data, dict) and data.get("total_count") == 0 else items
            if not isinstance(items, list):
                raise _HttpError(0, "unexpected response shape", self._path_of(path))
            yield items, data
            fetched += len(items)
            nxt = _links(headers.get("link")).get("next")
            if nxt:
                if not items:
                    return
                if not self._same_origin(nxt):
                    raise _HttpError(0, "a Link header pointed outside api_url; not followed", self._path_of(path))
                url, query = nxt, None
                continue
            if "link" in headers:
                return
            total = data.get("total_count") if isinstance(data, dict) else None
            if isinstance(total, (int, float)) and not isinstance(total, bool):
                more = fetched < total and bool(items)
            else:
                more = len(items) >= PER_PAGE
            if not more:
                return
            page += 1
            url, query = path, {**base, "page": page}
        raise _LoopError(path)

    async def _list(self, path: str, key: str | None = None, params: Mapping[str, Any] | None = None) -> list[Any]:
        out: list[Any] = []
        async for items, _ in self._pages(path, key, params):
            out.extend(items)
        return out

    # --- blind spots ------------------------------------------------------------------------------

    def _reason(self, what: str, err: _HttpError | _LoopError) -> str:
        if isinstance(err, _LoopError):
            return f"pagination loop on {err.args[0]}: the server's Link: next pointed at a page already read; " \
                   "the rest of the list could not be read"
        hint = HINTS.get(what, "")
        path = err.path or "?"
        if err.status in (403, 404):
            if what == "SSO credential authorizations" and err.status == 404:
                text = f"404 on {path}: not available here (SAML SSO credential authorizations exist only on " \
                       f"GitHub Enterprise Cloud) or {hint.replace('needs', 'it needs')}"
            else:
                text = f"{err.status} on {path}: {hint or err.message}"
            if err.accepted:
                text += f" (GitHub accepts: {sanitize(err.accepted)[:200]})"
            if err.message and err.status == 403 and "rate limit" in err.message.lower():
                text = f"403 on {path}: {err.message}"
            return text
        status = f"HTTP {err.status}" if err.status else "error"
        return f"{status} on {path} after retries: {err.message}"

    def _gap(self, what: str, org: str, err: _HttpError | _LoopError) -> None:
        reason = self._reason(what, err)
        self._failures.append(reason)
        self.report.blind_spot(f"{what} ({org})", reason)

    def _repo_gap(self, what: str, org: str, err: _HttpError | _LoopError) -> None:
        with self._req_lock:
            self._repo_gaps.setdefault((org, what), []).append(err)  # type: ignore[arg-type]

    def _flush_repo_gaps(self) -> None:
        for (org, what), errs in sorted(self._repo_gaps.items()):
            first = errs[0]
            reason = self._reason(what, first)
            total = self._repo_total.get(org, 0)
            if len(errs) > 1:
                reason += f" (and {len(errs) - 1} more repositories)"
            self._failures.append(reason)
            self.report.blind_spot(f"{what} ({org}: {len(errs)} of {total} repositories)", reason)
        self._repo_gaps.clear()

    # --- collection -------------------------------------------------------------------------------

    def _out(self, identities: list[Identity]) -> None:
        fresh = []
        for i in identities:
            if i.uid not in self._uids:
                self._uids.add(i.uid)
                fresh.append(i)
        if fresh and self._emit is not None:
            self._emit(fresh)

    async def collect(self) -> AsyncIterator[list[Identity]]:
        queue: asyncio.Queue[Any] = asyncio.Queue()
        done = object()
        self._uids = set()
        self._emit = queue.put_nowait
        self._pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix=f"github-{self.name}")
        main: asyncio.Future[Any] | None = None
        requests0, not_modified0 = self.report.requests, self._not_modified
        completed = False
        try:
            await asyncio.get_running_loop().run_in_executor(self._pool, self._open)
            main = asyncio.ensure_future(self._collect_all())
            main.add_done_callback(lambda _f: queue.put_nowait(done))
            while True:
                item = await queue.get()
                if item is done:
                    break
                yield item
            main.result()
            completed = True
        finally:
            if main is not None and not main.done():
                main.cancel()
                try:
                    await main
                except BaseException:  # noqa: BLE001,S110 - we are unwinding already
                    pass
            self._emit = None
            not_modified = self._not_modified - not_modified0
            self.report.facts["not_modified"] = not_modified
            self.report.facts["rate_limit_used"] = self.report.requests - requests0 - not_modified
            pool, self._pool = self._pool, None
            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=True)
                if completed:   # idle threads: join them; after a cancel (scan timeout) never wait on a hung read
                    await asyncio.get_running_loop().run_in_executor(None, pool.shutdown, True)
            self._close()

    async def _all(self, aws: Iterable[Awaitable[Any]]) -> None:
        """Run coroutines concurrently; the first unexpected error (e.g. AuthError) cancels the others."""
        tasks = [asyncio.ensure_future(a) for a in aws]
        if not tasks:
            return
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise

    async def _collect_all(self) -> None:
        await self._all(self._org(org) for org in self.orgs)
        self._flush_repo_gaps()
        if all(self._members.get(o) is not None for o in self.orgs):
            self.report.facts["members"] = sorted({m for o in self.orgs for m in (self._members[o] or [])})
        self._oidc["org"] = self._oidc["orgs"].get(self.orgs[0])
        self.report.facts["oidc_sub"] = self._oidc
        if self._ok == 0 and self._failures:
            raise ConnectorError(f"nothing could be read from {self.api_url}: {self._failures[0]}")

    async def _org(self, org: str) -> None:
        groups = asyncio.ensure_future(self._runner_groups(org))
        try:
            await self._all([
                self._repos(org), self._org_members(org),
                self._org_secrets(org, "actions"), self._org_secrets(org, "dependabot"),
                self._org_runners(org, groups), self._installations(org),
                self._pat_grants(org), self._pat_requests(org), self._credentials(org),
                self._org_hooks(org), self._org_oidc(org), groups,
            ])
        finally:
            if not groups.done():
                groups.cancel()

    async def _guard(self, what: str, org: str, coro: Awaitable[Any], repo: bool = False) -> Any:
        try:
            return await coro
        except (_HttpError, _LoopError) as err:
            (self._repo_gap if repo else self._gap)(what, org, err)
            return None

    # --- organisation endpoints -------------------------------------------------------------------

    async def _org_members(self, org: str) -> None:
        async def run() -> None:
            users = await self._list(f"/orgs/{quote(org)}/members")
            self._members[org] = [str(u["login"]) for u in users if isinstance(u, dict) and u.get("login")]
        self._members[org] = None
        await self._guard("members", org, run())

    async def _org_oidc(self, org: str) -> None:
        async def run() -> None:
            _, data = await self._get(f"/orgs/{quote(org)}/actions/oidc/customization/sub")
            if isinstance(data, dict):
                data = {k: v for k, v in data.items() if k != "url"}
                self._oidc["orgs"][org] = data
        await self._guard("org OIDC customization", org, run())

    async def _repos(self, org: str) -> None:
        tasks: list[asyncio.Future[Any]] = []
        self._repo_total[org] = 0
        try:
            async for page, _ in self._pages(f"/orgs/{quote(org)}/repos"):
                for repo in page:
                    full = repo.get("full_name") if isinstance(repo, dict) else None
                    if not isinstance(full, str) or "/" not in full:
                        continue
                    self._repo_total[org] += 1
                    tasks.append(asyncio.ensure_future(self._repo(org, full)))
        except (_HttpError, _LoopError) as err:
            self._gap("repositories", org, err)
        except BaseException:
            for t in tasks:
                t.cancel()
            raise
        await self._all(tasks)

    async def _repo(self, org: str, repo: str) -> None:
        await self._all([
            self._guard("deploy keys", org, self._keys(repo), repo=True),
            self._guard("repo actions secrets", org, self._repo_secrets(org, repo, "actions"), repo=True),
            self._guard("repo dependabot secrets", org, self._repo_secrets(org, repo, "dependabot"), repo=True),
            self._guard("environments", org, self._environments(org, repo), repo=True),
            self._guard("repo runners", org, self._repo_runners(org, repo), repo=True),
            self._guard("repo webhooks", org, self._repo_hooks(org, repo), repo=True),
            self._guard("repo OIDC customization", org, self._repo_oidc(repo), repo=True),
        ])

    def _identity(self, kind: str, native: str, name: Any, **fields: Any) -> Identity:
        return Identity(uid=make_uid(self.name, kind, native), source=self.name, provider=self.provider, kind=kind,
                        name=sanitize(name), **fields)

    def _parse(self, items: Iterable[Any], build: Any, *args: Any) -> list[Identity]:
        out = []
        for item in items:
            if not isinstance(item, dict):
                continue
            try:
                out.append(build(item, *args))
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                log.debug("skipped a malformed %s item: %s", getattr(build, "__name__", "?"), type(exc).__name__)
                self.report.blind_spot("malformed items", f"{build.__name__.lstrip('_')}: an item GitHub returned "
                                                          "could not be read and was skipped")
        return out

    # secrets ------------------------------------------------------------------------------------------

    def _secret(self, item: dict, kind: str, org: str, scope: str, target: str, native: str, url: str,
                extra: dict[str, Any]) -> Identity:
        name = _str(item["name"])
        details: dict[str, Any] = {"scope": scope, "secret_name": name, "rotated_at": _iso(item.get("updated_at")),
                                   "org": org, **extra}
        return self._identity(kind, native, name, owner="", target=target, privilege="none",
                              created_at=utc(item.get("created_at")), status="active", credential="static",
                              actions=("delete",), url=url, usage_tracked=False, details=details)

    async def _org_secrets(self, org: str, stype: str) -> None:
        kind = "actions_secret" if stype == "actions" else "dependabot_secret"
        what = f"org {stype} secrets"

        async def one(item: dict) -> None:
            name = str(item.get("name", ""))
            visibility = _str(item.get("visibility"))
            extra: dict[str, Any] = {"visibility": visibility}
            if visibility == "selected":
                extra["repos"] = None

                async def repos() -> None:
                    found = await self._list(f"/orgs/{quote(org)}/{stype}/secrets/{quote(name, safe='')}/repositories",
                                             "repositories")
                    extra["repos"] = sorted(str(r["full_name"]) for r in found if isinstance(r, dict)
                                            and r.get("full_name"))
                await self._guard(what, org, repos())
            out = self._parse([item], self._secret, kind, org, "org", org, f"org:{org}:{name}",
                              f"{self.web_url}/organizations/{org}/settings/secrets/{stype}", extra)
            self._out(out)

        async def run() -> None:
            async for page, _ in self._pages(f"/orgs/{quote(org)}/{stype}/secrets", "secrets"):
                await self._all(one(i) for i in page if isinstance(i, dict) and i.get("name"))
        await self._guard(what, org, run())

    async def _repo_secrets(self, org: str, repo: str, stype: str) -> None:
        kind = "actions_secret" if stype == "actions" else "dependabot_secret"
        async for page, _ in self._pages(f"/repos/{repo}/{stype}/secrets", "secrets"):
            self._out([self._secret(i, kind, org, "repo", repo, f"repo:{repo}:{i['name']}",
                                    f"{self.web_url}/{repo}/settings/secrets/{stype}", {"repos": [repo]})
                       for i in page if isinstance(i, dict) and i.get("name")])

    async def _environments(self, org: str, repo: str) -> None:
        envs = await self._list(f"/repos/{repo}/environments", "environments")
        names = [str(e["name"]) for e in envs if isinstance(e, dict) and e.get("name")]

        async def secrets(env: str) -> None:
            async for page, _ in self._pages(f"/repos/{repo}/environments/{quote(env, safe='')}/secrets", "secrets"):
                self._out([self._secret(i, "actions_secret", org, "environment", repo, f"env:{repo}:{env}:{i['name']}",
                                        f"{self.web_url}/{repo}/settings/environments",
                                        {"repos": [repo], "environment": env})
                           for i in page if isinstance(i, dict) and i.get("name")])
        await self._all(self._guard("environment secrets", org, secrets(e), repo=True) for e in names)

    # runners ------------------------------------------------------------------------------------------

    async def _runner_groups(self, org: str) -> dict[int, dict[str, Any]]:
        groups: dict[int, dict[str, Any]] = {}

        async def members(group: dict[str, Any]) -> None:
            found = await self._list(f"/orgs/{quote(org)}/actions/runner-groups/{group['id']}/repositories",
                                     "repositories")
            group["repos"] = sorted(str(r["full_name"]) for r in found if isinstance(r, dict) and r.get("full_name"))

        async def run() -> None:
            found = await self._list(f"/orgs/{quote(org)}/actions/runner-groups", "runner_groups")
            for g in found:
                if not isinstance(g, dict) or not isinstance(g.get("id"), (int, float)):
                    continue
                groups[int(g["id"])] = {"id": int(g["id"]), "name": sanitize(g.get("name")),
                                        "visibility": _str(g.get("visibility")),
                                        "allows_public_repositories": g.get("allows_public_repositories") is True,
                                        "repos": []}
            await self._all(self._guard("runner groups", org, members(g)) for g in groups.values()
                            if g["visibility"] == "selected")
        await self._guard("runner groups", org, run())
        return groups

    def _runner(self, item: dict, org: str, repo: str | None, groups: dict[int, dict[str, Any]]) -> Identity:
        rid = int(item["id"])
        labels = [_str(lab.get("name")) for lab in item.get("labels") or [] if isinstance(lab, dict)]
        details: dict[str, Any] = {"scope": "repo" if repo else "org", "org": org, "runner_id": rid,
                                   "labels": labels, "ephemeral": item.get("ephemeral") is True,
                                   "busy": item.get("busy") is True, "os": _str(item.get("os"))}
        status = {"online": "active", "offline": "offline"}.get(_str(item.get("status")).lower(), "offline")
        if repo:
            details.update(repo=repo, repos=[repo], allows_public_repositories=False)
            native, target = f"repo:{repo}:{rid}", repo
            url = f"{self.web_url}/{repo}/settings/actions/runners/{rid}"
        else:
            group = groups.get(int(item["runner_group_id"])) if isinstance(item.get("runner_group_id"),
                                                                            (int, float)) else None
            details.update(group=group["name"] if group else None,
                           group_visibility=group["visibility"] if group else None,
                           allows_public_repositories=group["allows_public_repositories"] if group else None,
                           repos=list(group["repos"]) if group else [])
            native, target = f"org:{org}:{rid}", org
            url = f"{self.web_url}/organizations/{org}/settings/actions/runners/{rid}"
        return self._identity("runner", native, item.get("name"), owner="", target=target, privilege="none",
                              status=status, credential="ephemeral" if details["ephemeral"] else "static",
                              actions=("remove",), url=url, usage_tracked=False, details=details)

    async def _org_runners(self, org: str, groups_future: Awaitable[dict[int, dict[str, Any]]]) -> None:
        async def run() -> None:
            pages = []
            async for page, _ in self._pages(f"/orgs/{quote(org)}/actions/runners", "runners"):
                pages.append(page)
            groups = await groups_future or {}
            for page in pages:
                self._out(self._parse(page, self._runner, org, None, groups))
        await self._guard("org runners", org, run())

    async def _repo_runners(self, org: str, repo: str) -> None:
        async for page, _ in self._pages(f"/repos/{repo}/actions/runners", "runners"):
            self._out(self._parse(page, self._runner, org, repo, {}))

    # keys, hooks, OIDC ----------------------------------------------------------------------------------

    def _key(self, item: dict, org: str, repo: str) -> Identity:
        kid = int(item["id"])
        read_only = item.get("read_only") is True
        return self._identity(
            "deploy_key", str(kid), item.get("title"), owner=sanitize(item.get("added_by")), target=repo,
            scopes=("contents:read",) if read_only else ("contents:write",),
            privilege="read" if read_only else "write", created_at=utc(item.get("created_at")),
            last_used_at=utc(item.get("last_used")),
            status="inactive" if item.get("enabled") is False else "active", credential="static",
            actions=("delete",), url=f"{self.web_url}/{repo}/settings/keys",
            usage_tracked="last_used" in item,
            details={"repo": repo, "org": org, "key_id": kid, "read_only": read_only,
                     "enabled": item.get("enabled") is not False, "added_by": sanitize(item.get("added_by")),
                     "verified": item.get("verified") is True})

    async def _keys(self, repo: str) -> None:
        org = repo.split("/", 1)[0]
        async for page, _ in self._pages(f"/repos/{repo}/keys"):
            self._out(self._parse(page, self._key, org, repo))

    def _hook(self, item: dict, org: str, repo: str | None) -> Identity:
        hid = int(item["id"])
        config = item.get("config") if isinstance(item.get("config"), dict) else {}
        secret = config.get("secret")
        active = item.get("active") is not False
        details: dict[str, Any] = {"scope": "repo" if repo else "org", "org": org, "hook_id": hid,
                                   "secret_set": isinstance(secret, str) and secret != "",
                                   "active": active, "events": _strs(item.get("events")),
                                   "content_type": sanitize(config.get("content_type")),
                                   "insecure_ssl": str(config.get("insecure_ssl", "0")) not in ("0", "")}
        response = item.get("last_response")
        if isinstance(response, dict):
            details["last_response"] = {"code": response.get("code") if isinstance(response.get("code"), int) else None,
                                        "status": sanitize(response.get("status")) if response.get("status") else None,
                                        "message": sanitize(response.get("message"))[:300]
                                        if response.get("message") else None}
        if repo:
            details["repo"] = repo
            native, target, url = f"repo:{repo}:{hid}", repo, f"{self.web_url}/{repo}/settings/hooks/{hid}"
        else:
            native, target = f"org:{org}:{hid}", org
            url = f"{self.web_url}/organizations/{org}/settings/hooks/{hid}"
        return self._identity("webhook", native, config.get("url") or item.get("name"), owner="", target=target,
                              privilege="none", created_at=utc(item.get("created_at")),
                              status="active" if active else "inactive", credential="static",
                              actions=("deactivate", "delete") if active else ("activate", "delete"), url=url,
                              usage_tracked=False, details=details)

    async def _org_hooks(self, org: str) -> None:
        async def run() -> None:
            async for page, _ in self._pages(f"/orgs/{quote(org)}/hooks"):
                self._out(self._parse(page, self._hook, org, None))
        await self._guard("org webhooks", org, run())

    async def _repo_hooks(self, org: str, repo: str) -> None:
        async for page, _ in self._pages(f"/repos/{repo}/hooks"):
            self._out(self._parse(page, self._hook, org, repo))

    async def _repo_oidc(self, repo: str) -> None:
        _, data = await self._get(f"/repos/{repo}/actions/oidc/customization/sub")
        if isinstance(data, dict) and data.get("use_default") is False:
            self._oidc["repos"][repo] = {k: v for k, v in data.items() if k != "url"}

    # apps, PATs, SSO ------------------------------------------------------------------------------------

    def _installation(self, item: dict, org: str) -> Identity:
        iid = int(item["id"])
        perms = item.get("permissions") if isinstance(item.get("permissions"), dict) else {}
        scopes = tuple(sorted(f"{k}:{v}" for k, v in perms.items()))
        privilege = max_privilege(*(_level_privilege(str(k), str(v)) for k, v in perms.items())) if perms else "none"
        slug = _str(item.get("app_slug"))
        suspended = bool(item.get("suspended_at"))
        return self._identity(
            "app_installation", str(iid), slug or f"app {item.get('app_id')}", owner="", target=org, scopes=scopes,
            privilege=privilege, created_at=utc(item.get("created_at")),
            status="suspended" if suspended else "active", credential="ephemeral", actions=(),
            url=f"{self.web_url}/organizations/{org}/settings/installations/{iid}", usage_tracked=False,
            details={"org": org, "repository_selection": _str(item.get("repository_selection")), "app_slug": slug,
                     "app_id": item.get("app_id"), "suspended": suspended,
                     "suspended_at": _iso(item.get("suspended_at")), "events": _strs(item.get("events"))})

    async def _installations(self, org: str) -> None:
        async def run() -> None:
            async for page, _ in self._pages(f"/orgs/{quote(org)}/installations", "installations"):
                self._out(self._parse(page, self._installation, org))
        await self._guard("app installations", org, run())

    def _pat(self, item: dict, org: str, request: bool, repos: list[str] | None) -> Identity:
        pid = int(item["id"])
        perms = item.get("permissions") if isinstance(item.get("permissions"), dict) else {}
        scopes, privileges = [], []
        for group, items in perms.items():
            if isinstance(items, dict):
                for name, level in items.items():
                    scopes.append(f"{group}:{name}:{level}")
                    privileges.append(_level_privilege(str(name), str(level)))
        owner = item.get("owner") if isinstance(item.get("owner"), dict) else {}
        expires = utc(item.get("token_expires_at"))
        if request:
            status = "pending"
        elif item.get("token_expired") is True or (expires is not None and expires <= datetime.now(timezone.utc)):
            status = "expired"
        else:
            status = "active"
        details: dict[str, Any] = {"org": org, "repository_selection": _str(item.get("repository_selection")),
                                   "token_name": sanitize(item.get("token_name")), "token_id": item.get("token_id"),
                                   "repos": repos if repos is not None else []}
        details["request_id" if request else "pat_id"] = pid
        if request:
            details["reason"] = sanitize(item.get("reason"))[:500]
            native = f"request:{org}:{pid}"
            url = f"{self.web_url}/organizations/{org}/settings/personal-access-token-requests/{pid}"
        else:
            native = f"grant:{org}:{pid}"
            url = f"{self.web_url}/organizations/{org}/settings/personal-access-tokens/{pid}"
        return self._identity(
            "fine_grained_pat", native, item.get("token_name"), owner=sanitize(owner.get("login")), target=org,
            scopes=tuple(sorted(scopes)), privilege=max_privilege(*privileges) if privileges else "none",
            created_at=utc(item.get("created_at") if request else item.get("access_granted_at")),
            expires_at=expires, last_used_at=utc(item.get("token_last_used_at")), status=status,
            credential="static", actions=("deny",) if request else ("revoke",), url=url, usage_tracked=True,
            details=details)

    async def _pat_list(self, org: str, request: bool) -> None:
        what = "fine-grained PAT requests" if request else "fine-grained PAT grants"
        base = f"/orgs/{quote(org)}/personal-access-token-requests" if request \
            else f"/orgs/{quote(org)}/personal-access-tokens"

        async def one(item: dict) -> None:
            repos: list[str] | None = []
            if item.get("repository_selection") == "subset" and isinstance(item.get("id"), int):
                async def fetch() -> list[str]:
                    found = await self._list(f"{base}/{item['id']}/repositories")
                    return sorted(str(r["full_name"]) for r in found if isinstance(r, dict) and r.get("full_name"))
                repos = await self._guard(what, org, fetch())
            self._out(self._parse([item], self._pat, org, request, repos))

        async def run() -> None:
            async for page, _ in self._pages(base):
                await self._all(one(i) for i in page if isinstance(i, dict))
        await self._guard(what, org, run())

    async def _pat_grants(self, org: str) -> None:
        await self._pat_list(org, request=False)

    async def _pat_requests(self, org: str) -> None:
        await self._pat_list(org, request=True)

    def _credential(self, item: dict, org: str) -> Identity:
        cid = int(item["credential_id"])
        ctype = _str(item.get("credential_type"))
        scopes = tuple(_strs(item.get("scopes")))
        last_eight = _str(item.get("token_last_eight"))
        name = (item.get("authorized_credential_note") or item.get("authorized_credential_title")
                or (f"{ctype} \u2026{last_eight}" if last_eight else ctype))
        privilege = "write" if ctype.lower() == "ssh key" and not scopes else _classic_privilege(scopes)
        expires = utc(item.get("authorized_credential_expires_at"))
        status = "expired" if expires is not None and expires <= datetime.now(timezone.utc) else "active"
        details = {"org": org, "credential_id": cid, "credential_type": ctype, "token_last_eight": last_eight,
                   "fingerprint": _str(item.get("fingerprint")),
                   "authorized_credential_id": item.get("authorized_credential_id")}
        login = _str(item.get("login"))
        return self._identity(
            "sso_credential", f"{org}:{cid}", name, owner=login, target=org, scopes=scopes, privilege=privilege,
            created_at=utc(item.get("credential_authorized_at")), expires_at=expires,
            last_used_at=utc(item.get("credential_accessed_at")), status=status, credential="static",
            actions=("revoke",), url=f"{self.web_url}/orgs/{org}/people/{quote(login)}/sso", usage_tracked=True,
            details=details)

    async def _credentials(self, org: str) -> None:
        if self._prefix.endswith("/api/v3"):
            # GitHub Enterprise Server has no SAML credential authorizations (a GHEC feature): there is
            # nothing to miss, so this is a fact of the source, not a blind spot making it partial.
            self.report.facts["sso_credentials"] = "not applicable on GitHub Enterprise Server"
            return

        async def run() -> None:
            async for page, _ in self._pages(f"/orgs/{quote(org)}/credential-authorizations"):
                self._out(self._parse(page, self._credential, org))
        await self._guard("SSO credential authorizations", org, run())

    # --- actions ----------------------------------------------------------------------------------

    def _call(self, identity: Identity, action: str) -> tuple[str, str, dict[str, Any] | None] | None:
        d = identity.details
        org = str(d.get("org") or identity.target.split("/", 1)[0])
        kind = identity.kind
        if kind == "deploy_key" and action == "delete":
            return "DELETE", f"/repos/{d.get('repo') or identity.target}/keys/{d.get('key_id') or identity.native_id}", None
        if kind == "runner" and action == "remove":
            rid = d.get("runner_id") or identity.native_id.rsplit(":", 1)[-1]
            if d.get("scope") == "repo":
                return "DELETE", f"/repos/{d.get('repo') or identity.target}/actions/runners/{rid}", None
            return "DELETE", f"/orgs/{quote(org)}/actions/runners/{rid}", None
        if kind in ("actions_secret", "dependabot_secret") and action == "delete":
            stype = "actions" if kind == "actions_secret" else "dependabot"
            name = quote(str(d.get("secret_name") or identity.name), safe="")
            scope = d.get("scope")
            if scope == "org":
                return "DELETE", f"/orgs/{quote(org)}/{stype}/secrets/{name}", None
            if scope == "environment":
                env = quote(str(d.get("environment")), safe="")
                return "DELETE", f"/repos/{identity.target}/environments/{env}/secrets/{name}", None
            return "DELETE", f"/repos/{identity.target}/{stype}/secrets/{name}", None
        if kind == "fine_grained_pat":
            if identity.status == "pending" and action == "deny":
                return "POST", f"/orgs/{quote(org)}/personal-access-token-requests/{d.get('request_id')}", \
                    {"action": "deny"}
            if identity.status != "pending" and action == "revoke":
                return "POST", f"/orgs/{quote(org)}/personal-access-tokens/{d.get('pat_id')}", {"action": "revoke"}
        if kind == "sso_credential" and action == "revoke":
            return "DELETE", f"/orgs/{quote(org)}/credential-authorizations/{d.get('credential_id')}", None
        if kind == "webhook" and action in ("deactivate", "activate", "delete"):
            hid = d.get("hook_id") or identity.native_id.rsplit(":", 1)[-1]
            base = f"/repos/{d.get('repo') or identity.target}/hooks/{hid}" if d.get("scope") == "repo" \
                else f"/orgs/{quote(org)}/hooks/{hid}"
            if action == "delete":
                return "DELETE", base, None
            return "PATCH", base, {"active": action == "activate"}
        return None

    def actions(self, identity: Identity) -> list[Action]:
        def call(action: str) -> str:
            spec = self._call(identity, action)
            if spec is None:
                return ""
            verb, path, body = spec
            return f"{verb} {path}" + (f" {json.dumps(body, separators=(',', ':'))}" if body else "")

        kind = identity.kind
        if kind == "deploy_key":
            return [Action("delete", "no", "Delete the deploy key. Keys cannot be disabled; restoring access "
                                           "means adding its public key again.", call("delete"))]
        if kind == "runner":
            return [Action("remove", "no", "Remove the self-hosted runner; its host must register again with a "
                                           "new registration token.", call("remove"))]
        if kind in ("actions_secret", "dependabot_secret"):
            return [Action("delete", "no", "Delete the secret; its value is gone and workflows using it fail "
                                           "until it is set again.", call("delete"))]
        if kind == "fine_grained_pat":
            if identity.status == "pending":
                return [Action("deny", "holder", "Deny the pending request; its owner can ask again.",
                               call("deny"))]
            return [Action("revoke", "holder", "Revoke the token's access to the organisation; the token itself "
                                               "survives and its owner can request access again.", call("revoke"))]
        if kind == "sso_credential":
            return [Action("revoke", "holder", "Remove the SAML SSO authorization of this credential for the "
                                               "organisation; its holder can authorize it again.", call("revoke"))]
        if kind == "webhook":
            delete = Action("delete", "no", "Delete the webhook and its secret.", call("delete"))
            if identity.status == "inactive":
                return [Action("activate", "yes", "Re-enable deliveries of the webhook.", call("activate"),
                               undo="deactivate"), delete]
            return [Action("deactivate", "yes", "Stop deliveries; the webhook and its secret are kept.",
                           call("deactivate"), undo="activate"), delete]
        return []

    async def _gone_or_hidden(self, path: str, message: str) -> ActionResult:
        """GitHub answers 404, not 403, when a token may not see a resource. So a 404 means
        "already gone" only if the same write credential can list the objects it was among;
        otherwise the revoke failed and the credential may still be live."""
        parent = _parent_path(path)
        if parent:
            status, _, data = await asyncio.to_thread(self._write_request, "GET", parent, None)
            if status != 200:
                seen = _message(data) or (f"HTTP {status}" if status else "request failed")
                where = parent.split("?", 1)[0]
                return ActionResult("failed", 404, f"GitHub answered 404 ({message}), and {where} is not visible "
                                    f"with the write credential ({seen}): not found, or no access to it")
        return ActionResult("already-absent", 404, message, removed=True)

    def _write_request(self, verb: str, path: str, body: Any) -> tuple[int, dict[str, str], Any]:
        """One write with the revoke credential, loaded for this call and dropped after."""
        auth = self._auth_for(write=True, app_only=_app_only(path))
        gh = self._github(auth)
        try:
            with self._write_lock:
                wait = self._last_write + self.write_interval - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                try:
                    self.report.count_request()
                    status, headers, output = gh.requester.requestJson(verb, path, input=body)
                finally:
                    self._last_write = time.monotonic()
            try:
                data = json.loads(output) if output else None
            except (TypeError, ValueError):
                data = None
            return status, _lower(headers), data
        except _WaitTooLong as exc:
            return 429, {}, {"message": f"rate limited: {exc}"}
        except GithubException as exc:      # a 403 that is not a rate limit is raised inside GithubRetry
            return exc.status or 0, _lower(exc.headers), exc.data
        except (rex.RequestException, OSError) as exc:
            return 0, {}, {"message": f"network error ({type(exc).__name__})"}
        except Exception as exc:  # noqa: BLE001 - e.g. GithubException from the App token exchange
            status = getattr(exc, "status", 0) or 0
            return int(status), {}, {"message": _message(getattr(exc, "data", None)) or type(exc).__name__}
        finally:
            try:
                gh.close()
            except Exception:  # noqa: BLE001,S110
                pass
            del auth, gh

    async def execute(self, identity: Identity, action: str) -> ActionResult:
        spec = self._call(identity, action)
        if spec is None:
            return ActionResult("failed", message=f"{action!r} is not an action of a GitHub {identity.kind}")
        verb, path, body = spec
        try:
            status, headers, data = await asyncio.to_thread(self._write_request, verb, path, body)
        except (AuthError, ConnectorError) as exc:
            return ActionResult("failed", message=str(exc))
        message = _message(data)
        if status == 404:
            return await self._gone_or_hidden(path, message or "Not Found")
        if not 200 <= status < 300:
            accepted = headers.get("x-accepted-github-permissions")
            text = message or (f"HTTP {status}" if status else "request failed")
            if accepted:
                text += f" (GitHub accepts: {sanitize(accepted)[:200]})"
            return ActionResult("failed", status or None, text)
        if identity.kind == "webhook" and action in ("deactivate", "activate"):
            d = identity.details
            org = str(d.get("org") or identity.target.split("/", 1)[0])
            repo = str(d.get("repo") or identity.target) if d.get("scope") == "repo" else None
            if not isinstance(data, dict) or "id" not in data:
                return ActionResult("ok", status, f"webhook {action}d", identity=None)
            updated = self._hook(data, org, repo)
            return ActionResult("ok", status, f"webhook {action}d", identity=updated)
        return ActionResult("ok", status, message or "done", removed=True)

    async def revoke_pat_grants(self, grants: Iterable[Identity | int | str],
                                org: str | None = None) -> list[ActionResult]:
        """Bulk-revoke fine-grained PAT grants (POST /orgs/{org}/personal-access-tokens, 202, async at GitHub).

        `grants` are identities (their org is read from them) or grant ids of `org` (default: the first
        configured organisation). Returns one result per organisation batch of at most 100 ids.
        """
        by_org: dict[str, list[int]] = {}
        for g in grants:
            if isinstance(g, Identity):
                pid, gorg = g.details.get("pat_id"), str(g.details.get("org") or g.target)
            else:
                pid, gorg = str(g).rsplit(":", 1)[-1], org or self.orgs[0]
            try:
                by_org.setdefault(gorg, []).append(int(pid))  # type: ignore[arg-type]
            except (TypeError, ValueError):
                continue
        results = []
        for gorg, ids in by_org.items():
            for start in range(0, len(ids), 100):
                chunk = ids[start:start + 100]
                status, headers, data = await asyncio.to_thread(
                    self._write_request, "POST", f"/orgs/{quote(gorg)}/personal-access-tokens",
                    {"action": "revoke", "pat_ids": chunk})
                if 200 <= status < 300:
                    results.append(ActionResult("ok", status, f"revoking {len(chunk)} grants of {gorg}",
                                                removed=True))
                else:
                    results.append(ActionResult("failed", status or None, _message(data) or f"HTTP {status}"))
        return results


CONNECTOR = GitHubConnector


def _parent_path(path: str) -> str:
    """The list an object of a write path belongs to (`/repos/o/r/keys/1` -> `/repos/o/r/keys`): a
    200 there with the same credential shows it may see such objects, so a 404 means gone."""
    parent = path.split("?", 1)[0].rstrip("/").rsplit("/", 1)[0]
    return f"{parent}?per_page=1" if parent.count("/") >= 2 else ""


def _app_only(path: str) -> bool:
    """The fine-grained PAT grant and request endpoints: GitHub rejects classic PATs there."""
    return "/personal-access-token" in path


def _reset_wait(headers: dict[str, str]) -> float | None:
    """Seconds until the rate-limit reset when the headers say nothing remains, else None."""
    reset = str(headers.get("x-ratelimit-reset") or "")
    if headers.get("x-ratelimit-remaining") != "0" or not reset.isdigit():
        return None
    wait = int(reset) - time.time() + 0.2
    return max(wait, 0.05) if wait <= MAX_WAIT else None
