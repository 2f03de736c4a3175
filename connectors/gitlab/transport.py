"""The scan's GETs under python-gitlab, on urllib3 pools instead of through requests.

Why: python-gitlab hands every request to a `requests.Session`, and requests' own per-request
work (preparing the request, merging session settings, cookie jars, the adapter, building the
Response) was about 45 % of the GitLab source's CPU in a profile, ~1 ms of a request's ~2.3 ms.
At organisation scale the source's threads share one interpreter lock, so that CPU is wall time
and, with ten sources on two cores, CPU taken from the others.

python-gitlab still makes every call (its URL, query, headers, auth, errors); `Session.request`
hands a GET here first, which sends it on a pool of its origin and returns a `requests.Response`
with what python-gitlab and our client read of one: status, reason, headers (one value per name,
joined as requests joins them), the body (`_content`), its encoding, `elapsed`, `url`, `request`.
What requests did is done the same way (connectors/pooled.py: TLS, the bounded body, requests'
exceptions); the headers are the session's merged with the request's, then python-gitlab's token
header, as requests' `prepare` merges and its `auth` sets them; the query is encoded as requests
encodes `params` (a None value left out, a list repeated).

`send` returns None, and requests carries the request as before, for anything else: a method other
than GET, a streamed download, a body, a proxy that applies to the URL (the environment's or the
session's), a client certificate, an auth other than python-gitlab's token headers, and a
redirect (requests follows it, as it would have; the 3xx answer is counted as a request). No
cookie is kept or sent on this path: GitLab's API authenticates by the token header alone.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests
import urllib3
from gitlab._backends import JobTokenAuth, OAuthTokenAuth, PrivateTokenAuth
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers, requote_uri, select_proxy

from connectors import pooled

TOKEN_AUTHS = (PrivateTokenAuth, OAuthTokenAuth, JobTokenAuth)
REDIRECTS = {301, 302, 303, 307, 308}
NO_RETRIES = urllib3.Retry(0, read=False)      # requests' HTTPAdapter default: the Session retries


class Redirected(Exception):
    """The answer was a redirect: requests sends the request again and follows it, as it would have."""


class _Headers:
    """What a requests auth sees of the request it signs: python-gitlab's only set and drop headers."""

    def __init__(self, headers: CaseInsensitiveDict[str]) -> None:
        self.headers = headers


class Pools:
    """One urllib3 pool per origin and trust setting, shared by the session's threads."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._pools: dict[tuple[str, str, int | None, Any], urllib3.HTTPConnectionPool] = {}
        self._lock = threading.Lock()

    def pool(self, scheme: str, host: str, port: int | None, verify: bool | str) -> urllib3.HTTPConnectionPool:
        key = (scheme, host, port, verify)
        with self._lock:
            found = self._pools.get(key)
            if found is None:
                found = self._pools[key] = pooled.pool_for(scheme, host, port, verify, self.size)
            return found

    def close(self) -> None:
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        for p in pools:
            p.close()


def query_string(params: Mapping[str, Any] | None) -> str:
    """`params` encoded as requests encodes them: a None value left out, a list or tuple repeated."""
    pairs: list[tuple[str, Any]] = []
    for key, value in (params or {}).items():
        for v in value if isinstance(value, (list, tuple)) else [value]:
            if v is not None:
                pairs.append((key, v))
    return urlencode(pairs)


def send(session: requests.Session, pools: Pools, verb: str, url: str, kwargs: Mapping[str, Any],
         limit: int, too_large: type[Exception]) -> requests.Response | None:
    """The answer to a GET sent on a pool, or None when requests must carry it (see the module);
    Redirected when the answer was a redirect."""
    auth = kwargs.get("auth")
    if verb != "GET" or kwargs.get("stream") or kwargs.get("files") or kwargs.get("data") \
            or kwargs.get("json") is not None or (auth is not None and not isinstance(auth, TOKEN_AUTHS)):
        return None
    settings = session.merge_environment_settings(url, kwargs.get("proxies") or {}, False, kwargs.get("verify"),
                                                  kwargs.get("cert"))
    if settings.get("cert") or select_proxy(url, settings.get("proxies") or {}):
        return None
    parts = urlsplit(requote_uri(url))
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    query = "&".join(q for q in (parts.query, query_string(kwargs.get("params"))) if q)
    target = (parts.path or "/") + (f"?{query}" if query else "")
    headers: CaseInsensitiveDict[str] = CaseInsensitiveDict(session.headers)
    headers.update(kwargs.get("headers") or {})
    for name in [k for k, v in headers.items() if v is None]:
        del headers[name]
    if auth is not None:
        auth(_Headers(headers))
    pool = pools.pool(parts.scheme, parts.hostname, parts.port, settings.get("verify", True))
    timeout = kwargs.get("timeout")
    connect, read = timeout if isinstance(timeout, tuple) else (timeout, timeout)
    t0 = time.monotonic()
    answer = pooled.urlopen(pool, verb, target, dict(headers.items()), None, NO_RETRIES,
                            urllib3.Timeout(connect=connect, read=read))
    elapsed = time.monotonic() - t0
    try:
        if answer.status in REDIRECTS and answer.headers.get("Location"):
            answer.drain_conn()
            raise Redirected()
        body = pooled.read_body(answer, limit, too_large)
    finally:
        answer.release_conn()
    return _response(answer, body, f"{parts.scheme}://{parts.netloc}{target}", headers, elapsed)


def _response(answer: urllib3.BaseHTTPResponse, body: bytes, url: str, headers: CaseInsensitiveDict[str],
              elapsed: float) -> requests.Response:
    """A requests Response as its HTTPAdapter builds one, with the body already read."""
    resp = requests.Response()
    resp.status_code = answer.status
    resp.reason = answer.reason or ""
    resp.headers = CaseInsensitiveDict(answer.headers)
    resp.encoding = get_encoding_from_headers(resp.headers)
    resp.url = url
    resp._content = body
    resp._content_consumed = True
    resp.elapsed = timedelta(seconds=elapsed)
    request = requests.PreparedRequest()
    request.method, request.url, request.headers = "GET", url, headers
    resp.request = request
    return resp
