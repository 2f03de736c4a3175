"""Reads on one urllib3 pool, for the connectors whose SDK sits on requests (PyGithub, python-gitlab).

Why: at organisation scale a source makes thousands of GETs from 16 threads that share one
interpreter lock, and requests' per-request work (merging session settings through a
runtime-checked Protocol, cookie jars, hooks, preparing the request, building a Response) was
about half of a GET's client CPU. That CPU is wall time. The SDK still makes every call; only the
hop from requests to urllib3 is done here, the same way requests does it:

- TLS is verified against `ca_bundle` (a file or a directory), else certifi's bundle;
- a body is read at most `limit` bytes, announced or streamed (`read_at_most`), gzip/deflate
  decoded, and decoded as text with the charset requests would pick (`decode`);
- a request is sent by `urlopen`, whose failures become the requests exceptions its HTTPAdapter
  raises (`after_retries`, `while_sending`), so a connector handles one set whichever transport ran.

Each connector installs it only when no proxy applies to its URL: behind a proxy (HTTPS_PROXY and
friends, SOCKS, credentials in the proxy URL) requests, which knows every form of it, carries on.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import urllib3
from requests import certs
from requests import exceptions as rex
from requests.utils import get_encoding_from_headers
from urllib3 import exceptions as u3

CHUNK = 65536


def pool_for(scheme: str, host: str, port: int | None, verify: bool | str, size: int) -> urllib3.HTTPConnectionPool:
    """One origin's pool (thread-safe: each thread takes a connection from it)."""
    if scheme == "http":
        return urllib3.HTTPConnectionPool(host, port, maxsize=size, block=False)
    where = certs.where() if verify is True else str(verify)
    trust = {"ca_cert_dir": where} if os.path.isdir(where) else {"ca_certs": where}
    return urllib3.HTTPSConnectionPool(host, port, maxsize=size, block=False, cert_reqs="CERT_REQUIRED", **trust)


def urlopen(pool: urllib3.HTTPConnectionPool, verb: str, url: str, headers: Mapping[str, str], body: Any,
            retries: Any, timeout: urllib3.Timeout) -> urllib3.BaseHTTPResponse:
    """Send one request on `pool`, redirects not followed and the body left unread (`read_body`);
    a failure raised as requests' exception for it."""
    try:
        return pool.urlopen(verb, url, body=body, headers=dict(headers), redirect=False, assert_same_host=False,
                            preload_content=False, decode_content=False, retries=retries, timeout=timeout)
    except u3.MaxRetryError as exc:
        raise after_retries(exc) from exc
    except (u3.ProtocolError, OSError, u3.HTTPError) as exc:
        raise while_sending(exc) from exc


def read_at_most(declared: str, chunks: Iterable[bytes], close: Callable[[], None], limit: int,
                 too_large: type[Exception]) -> bytes:
    """The body from `chunks`, at most `limit` bytes (`declared`: its Content-Length, if any); past
    that, `close()` the response and raise `too_large`: a bigger answer is an error, not memory
    exhaustion. Both transports of a connector read through this."""
    if declared.isdigit() and int(declared) > limit:
        close()
        raise too_large(f"the response announces {declared} bytes, more than the {limit} byte bound")
    body = bytearray()
    for chunk in chunks:
        body += chunk
        if len(body) > limit:
            close()
            raise too_large(f"the response exceeds the {limit} byte bound; stopped reading")
    return bytes(body)


def read_body(answer: urllib3.BaseHTTPResponse, limit: int, too_large: type[Exception]) -> bytes:
    """An answer's decoded body, bounded as `read_at_most`; read errors raised as requests raises them."""
    try:
        return read_at_most(answer.headers.get("Content-Length", ""), answer.stream(CHUNK, decode_content=True),
                            answer.close, limit, too_large)
    except u3.ProtocolError as exc:
        raise rex.ChunkedEncodingError(exc) from exc
    except u3.DecodeError as exc:
        raise rex.ContentDecodingError(exc) from exc
    except u3.SSLError as exc:
        raise rex.SSLError(exc) from exc
    except (u3.ReadTimeoutError, u3.HTTPError, OSError) as exc:
        raise rex.ConnectionError(exc) from exc


def charset(content_type: str) -> str:
    """The charset requests' `Response.text` would use: the one named, else its defaults, else UTF-8."""
    return get_encoding_from_headers({"content-type": content_type}) or "utf-8"


def decode(raw: bytes, content_type: str) -> str:
    """The body as text in `charset`, UTF-8 for a charset Python does not know; bad bytes replaced."""
    try:
        return raw.decode(charset(content_type), "replace")
    except LookupError:
        return raw.decode("utf-8", "replace")


def after_retries(exc: u3.MaxRetryError) -> rex.RequestException:
    """requests' exception for a `MaxRetryError`, chosen as its HTTPAdapter chooses it."""
    reason = exc.reason
    if isinstance(reason, u3.ConnectTimeoutError) and not isinstance(reason, u3.NewConnectionError):
        return rex.ConnectTimeout(exc)
    if isinstance(reason, u3.ResponseError):
        return rex.RetryError(exc)
    if isinstance(reason, u3.SSLError):
        return rex.SSLError(exc)
    return rex.ConnectionError(exc)


def while_sending(exc: BaseException) -> rex.RequestException:
    """requests' exception for a failure of `urlopen` other than running out of retries."""
    if isinstance(exc, u3.SSLError):
        return rex.SSLError(exc)
    if isinstance(exc, u3.ReadTimeoutError):
        return rex.ReadTimeout(exc)
    return rex.ConnectionError(exc)
