"""A faulting reverse proxy in front of the real OpenBao server: the shared `Knobs` faults for Vault.

OpenBao cannot be told to answer a 502, hang or cut a connection, and in production a load balancer
or proxy often stands in front of Vault and does exactly that. `VaultProxy` forwards each request
(method, raw path and query, headers, body) to the server and passes its answer back; it is served
by `FakeServer`, whose `Faults` middleware injects the knobs' faults before a request is forwarded
(so a faulted request never reaches OpenBao). `FaultyVault` is a started `VaultFake` seen through
the proxy, with the face of the other fakes (`server`, `knobs`, `world`, `env`, `source`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

import httpx

from nhitui.sandbox.server import FakeServer, Knobs, StartResponse

# Hop-by-hop headers (RFC 9110 §7.6.1) and what the proxy recomputes: never forwarded either way.
_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding",
                  "upgrade", "host", "content-length", "accept-encoding", "content-encoding"})


class VaultProxy:
    """A WSGI app forwarding to `upstream` over one pooled client, shared by the server's threads
    (httpx's pool is thread-safe; a client per connection would cost its setup on every POST, whose
    connections are not kept alive)."""

    def __init__(self, upstream: str, timeout: float = 30.0) -> None:
        self.upstream = upstream.rstrip("/")
        self.client = httpx.Client(timeout=timeout, trust_env=False,
                                   limits=httpx.Limits(max_connections=64, max_keepalive_connections=32))

    def close(self) -> None:
        self.client.close()

    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        target = environ.get("REQUEST_URI") or environ.get("RAW_URI") or (
            quote(environ.get("PATH_INFO", "")) + ("?" + environ["QUERY_STRING"] if environ.get("QUERY_STRING")
                                                   else ""))
        headers = {key[5:].replace("_", "-").title(): value for key, value in environ.items()
                   if key.startswith("HTTP_") and key[5:].replace("_", "-").lower() not in _HOP}
        if environ.get("CONTENT_TYPE"):
            headers["Content-Type"] = environ["CONTENT_TYPE"]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length > 0 else b""
        try:
            resp = self.client.request(environ.get("REQUEST_METHOD", "GET"), self.upstream + target,
                                          headers=headers, content=body)
        except httpx.HTTPError as exc:      # what a proxy answers when its upstream fails
            text = f'{{"errors":["proxy: upstream unreachable ({type(exc).__name__})"]}}'.encode()
            start_response("502 Bad Gateway", [("Content-Type", "application/json"),
                                               ("Content-Length", str(len(text)))])
            return [text]
        out = [(k, v) for k, v in resp.headers.items() if k.lower() not in _HOP]
        out.append(("Content-Length", str(len(resp.content))))
        start_response(f"{resp.status_code} {resp.reason_phrase or 'Status'}", out)
        return [resp.content]


class FaultyVault:
    """A started `VaultFake` behind a faulting `VaultProxy`; `stop()` stops the proxy only (the
    caller owns the Vault)."""

    provider = "vault"

    def __init__(self, vault: Any, knobs: Knobs | None = None) -> None:
        self.vault = vault
        self.world = vault.world
        self.knobs = knobs or Knobs()
        self.proxy = VaultProxy(vault.url)
        self.server = FakeServer(self.proxy, self.knobs)

    def start(self) -> FaultyVault:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()
        self.proxy.close()

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def env(self) -> dict[str, str]:
        return dict(self.vault.env)

    def source(self, name: str, **overrides: Any) -> dict[str, Any]:
        return self.vault.source(name, url=self.url, **overrides)


__all__ = ["FaultyVault", "VaultProxy"]
