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
exactly as under requests). What requests did for us is done here the same way:

- TLS: verified, against `ca_bundle` (file or directory) or certifi's bundle, as requests does;
- the body is read at most `retry.MAX_BODY` bytes (`retry.read_at_most`, as under requests),
  gzip/deflate decoded, and decoded as text with the charset requests would pick (UTF-8 where it
  would guess), undecodable bytes replaced;
- failures are raised as requests' exceptions, as its adapter raises them, so the client handles
  one set whichever transport ran;
- the response time (request sent to headers read, retries included, as `Response.elapsed`) goes
  to `on_elapsed` for the pacer's server-time estimate.

A proxy from the environment (HTTPS_PROXY and friends, NO_PROXY, SOCKS, credentials in the URL)
keeps PyGithub's own requests transport, which knows every form of it: the client only installs
this one when no proxy applies to `api_url`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, ItemsView
from typing import Any

import urllib3
from requests import certs
from requests import exceptions as rex
from requests.utils import get_encoding_from_headers
from urllib3 import exceptions as u3

from connectors.github import retry

CHUNK = 65536


def pool_for(scheme: str, host: str, port: int | None, verify: bool | str, size: int) -> urllib3.HTTPConnectionPool:
    """The one pool of a client's reads (thread-safe: each thread takes a connection from it)."""
    if scheme == "http":
        return urllib3.HTTPConnectionPool(host, port, maxsize=size, block=False)
    where = certs.where() if verify is True else str(verify)
    trust = {"ca_cert_dir": where} if os.path.isdir(where) else {"ca_certs": where}
    return urllib3.HTTPSConnectionPool(host, port, maxsize=size, block=False, cert_reqs="CERT_REQUIRED", **trust)


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
            answer = self.pool.urlopen(verb, url, body=body, headers=sent, redirect=False, assert_same_host=False,
                                       preload_content=False, decode_content=False, retries=self.retry,
                                       timeout=self.timeout)
        except u3.MaxRetryError as exc:
            raise _after_retries(exc) from exc
        except (u3.ProtocolError, OSError, u3.HTTPError) as exc:
            raise _sending(exc) from exc
        finally:
            self.on_elapsed(time.monotonic() - t0)
        try:
            raw = read_bounded(answer)
        finally:
            answer.release_conn()
        return Response(answer.status, answer.headers, decode(raw, answer.headers.get("Content-Type", "")))

    def close(self) -> None:
        self._asked = None      # the pool belongs to the client, which closes it


def factory(pool: urllib3.HTTPConnectionPool, on_elapsed: Callable[[float], None]) -> Callable[..., ReadConnection]:
    """A connection "class" for PyGithub's Requester, bound to the client's pool."""
    def make(host: str, port: int | None = None, strict: bool = False, **kw: Any) -> ReadConnection:
        return ReadConnection(pool, on_elapsed, host, port, **kw)
    return make


def read_bounded(answer: urllib3.BaseHTTPResponse) -> bytes:
    """The decoded body, at most `retry.MAX_BODY` bytes (announced or sent): a bigger one is an error."""
    try:
        return retry.read_at_most(answer.headers.get("Content-Length", ""),
                                  answer.stream(CHUNK, decode_content=True), answer.close)
    except u3.ProtocolError as exc:
        raise rex.ChunkedEncodingError(exc) from exc
    except u3.DecodeError as exc:
        raise rex.ContentDecodingError(exc) from exc
    except u3.SSLError as exc:
        raise rex.SSLError(exc) from exc
    except (u3.ReadTimeoutError, u3.HTTPError, OSError) as exc:
        raise rex.ConnectionError(exc) from exc


def decode(raw: bytes, content_type: str) -> str:
    """The body as text, as requests' `Response.text` picks the charset from the headers (the one
    named, else its defaults), UTF-8 otherwise or for a charset Python does not know; bad bytes
    replaced."""
    named = get_encoding_from_headers({"content-type": content_type}) or "utf-8"
    try:
        return raw.decode(named, "replace")
    except LookupError:
        return raw.decode("utf-8", "replace")


def _after_retries(exc: u3.MaxRetryError) -> rex.RequestException:
    """requests' exception for a `MaxRetryError`, chosen as its HTTPAdapter chooses it."""
    reason = exc.reason
    if isinstance(reason, u3.ConnectTimeoutError) and not isinstance(reason, u3.NewConnectionError):
        return rex.ConnectTimeout(exc)
    if isinstance(reason, u3.ResponseError):
        return rex.RetryError(exc)
    if isinstance(reason, u3.SSLError):
        return rex.SSLError(exc)
    return rex.ConnectionError(exc)


def _sending(exc: BaseException) -> rex.RequestException:
    if isinstance(exc, u3.SSLError):
        return rex.SSLError(exc)
    if isinstance(exc, u3.ReadTimeoutError):
        return rex.ReadTimeout(exc)
    return rex.ConnectionError(exc)
