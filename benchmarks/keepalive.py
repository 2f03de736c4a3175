"""Keep-alive for the sandbox's fakes while benchmarking (a shim until nhitui/sandbox/server.py has it).

Real providers keep HTTP/1.1 connections open. werkzeug 3.1's request handler does not: it sends
`Connection: close` on every response and, after it, drains the socket for 10 ms, which would eat
the next request line of a kept-alive connection. `KeepAliveHandler` in nhitui/sandbox/server.py
sets HTTP/1.1 but inherits both, so every request opens a new TCP connection, which costs both
sides CPU (connect, accept, a server thread each) that a real provider would not charge. On 2 cores
that is most of the gap between the collection wall and its lower bound.

`install()` swaps in a handler that, for requests without a body (every GET and DELETE here), omits
`Connection: close` and points werkzeug's drain at a descriptor that is never readable, and sets
TCP_NODELAY (else the body of each response waits 40 ms for the client's delayed ACK).
"""

from __future__ import annotations

import os
from typing import Any

import nhitui.sandbox.server as server

_QUIET_R, _QUIET_W = os.pipe()       # nothing is ever written: never readable


class _Quiet:
    """The connection as werkzeug's post-response drain sees it: never readable."""

    def __init__(self, real: Any) -> None:
        self._real = real

    def fileno(self) -> int:
        return _QUIET_R

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


class KeepAliveHandler(server.KeepAliveHandler):
    # Headers and body leave in two writes: without TCP_NODELAY the body waits for the client's
    # delayed ACK of the headers (40 ms on Linux) on a kept-alive connection.
    disable_nagle_algorithm = True

    def _reusable(self) -> bool:
        h = self.headers
        return (self.request_version == "HTTP/1.1" and h is not None
                and h.get("Content-Length", "0") in ("", "0") and not h.get("Transfer-Encoding")
                and h.get("Connection", "").lower() != "close")

    def send_header(self, keyword: str, value: str) -> None:
        if keyword.lower() == "connection" and value.lower() == "close" and self._reusable():
            return
        super().send_header(keyword, value)

    def run_wsgi(self) -> None:
        if not self._reusable():
            return super().run_wsgi()
        real = self.connection
        self.connection = _Quiet(real)
        try:
            return super().run_wsgi()
        finally:
            self.connection = real

    def connection_dropped(self, error: BaseException, environ: Any = None) -> None:
        conn = self.connection
        if isinstance(conn, _Quiet):
            self.connection = conn._real
        super().connection_dropped(error, environ)


def install() -> None:
    """Fakes started after this call keep connections alive."""
    if not getattr(server.KeepAliveHandler, "_shim", False):
        KeepAliveHandler._shim = True  # type: ignore[attr-defined]
        server.KeepAliveHandler = KeepAliveHandler  # type: ignore[misc]
