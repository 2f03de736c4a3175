"""The scan's transport under PyGithub: one urllib3 connection pool for all read threads.

Why: every GET of a scan went PyGithub -> requests -> urllib3, and requests' per-request work
(merging session settings through a runtime-checked Protocol, cookie jars, hooks, building a
Response) was about half of the client's CPU, ~1 ms of a GET's ~2 ms. At organisation scale the
scan's 16 threads share one interpreter lock, so that CPU is wall time.

PyGithub's `Requester` takes its connection class as a parameter (the `__connectionClass` its
record/replay tests replace): `ReadConnection` is that contract (`request`, then `getresponse`
with `status`, `getheaders()`, `read()`) on a urllib3 pool, so every GET still goes through
PyGithub's Requester (auth header, API version, redirects, its exceptions) and PyGithub's retry
policy (`retry.Retry`, a `GithubRetry`, which is a urllib3 `Retry` and runs inside `urlopen`
exactly as under requests). What requests did for us is done the same way (connectors/pooled.py:
TLS, the bounded body and its charset, requests' exceptions), and the response time (request sent
to headers read, retries included, as `Response.elapsed`) goes to `on_elapsed` for the pacer's
server-time estimate.

A proxy from the environment (HTTPS_PROXY and friends, NO_PROXY, SOCKS, credentials in the URL)
keeps PyGithub's own requests transport, which knows every form of it: the client only installs
this one when no proxy applies to `api_url`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, ItemsView
from typing import Any

import urllib3

from connectors import pooled
from connectors.github import retry


class Response:
    """What PyGithub reads of an answer: the status, the headers and the body as text."""

    def __init__(self, status: int, headers: urllib3.HTTPHeaderDict, text: str) -> None:
        self.status = status
        self.headers = headers
        self._text = text

    def getheaders(self) -> ItemsView[str, str]:
        return self.headers.items()

    def read(self) -> str:
        return self._text


class ReadConnection:
    """PyGithub's connection contract on a shared pool; one per thread, as PyGithub's requesters are.

    Made by `factory`: PyGithub calls it as it calls a connection class, (host, port, retry=...,
    pool_size=..., timeout=..., verify=...), and only the retry policy and timeout are taken from
    there; the pool was made for the client's one origin.
    """

    def __init__(self, pool: urllib3.HTTPConnectionPool, on_elapsed: Callable[[float], None], host: str,
                 port: int | None = None, retry: Any = None, timeout: float | None = None, **_: Any) -> None:
        self.pool = pool
        self.host = host
        self.port = port
        self.retry = retry if retry is not None else 0
        self.timeout = urllib3.Timeout(connect=timeout, read=timeout)
        self.on_elapsed = on_elapsed
        self._asked: tuple[str, str, Any, dict[str, str]] | None = None

    def request(self, verb: str, url: str, input: Any, headers: dict[str, str], stream: bool = False) -> None:
        if stream:
            raise NotImplementedError("the scan's transport does not stream")
        self._asked = (verb, url, input, headers)

    def getresponse(self) -> Response:
        assert self._asked is not None, "request() comes first"
        verb, url, body, headers = self._asked
        sent = dict(headers)
        sent.setdefault("Accept-Encoding", "gzip, deflate")
        sent.setdefault("Accept", "*/*")
        t0 = time.monotonic()
        try:
            answer = pooled.urlopen(self.pool, verb, url, sent, body, self.retry, self.timeout)
        finally:
            self.on_elapsed(time.monotonic() - t0)
        try:
            raw = pooled.read_body(answer, retry.MAX_BODY, retry.TooLarge)
        finally:
            answer.release_conn()
        return Response(answer.status, answer.headers, pooled.decode(raw, answer.headers.get("Content-Type", "")))

    def close(self) -> None:
        self._asked = None      # the pool belongs to the client, which closes it


def factory(pool: urllib3.HTTPConnectionPool, on_elapsed: Callable[[float], None]) -> Callable[..., ReadConnection]:
    """A connection "class" for PyGithub's Requester, bound to the client's pool."""
    def make(host: str, port: int | None = None, strict: bool = False, **kw: Any) -> ReadConnection:
        return ReadConnection(pool, on_elapsed, host, port, **kw)
    return make
