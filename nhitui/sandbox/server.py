"""A local HTTP server for one fake provider API, with fault and latency knobs.

Each fake is a WSGI app (Flask) served by werkzeug's threaded server on 127.0.0.1 and an
ephemeral port. `Faults` wraps the app so every provider gets the same knobs: latency, 5xx,
429 with the provider's own Retry-After flavour, hung responses, dropped connections, truncated,
empty and oversized bodies. Requests are counted per (method, path) so tests can assert what a
scan or a dry-run did (or did not) call.
"""

from __future__ import annotations

import email.parser
import logging
import os
import random
import re
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

logging.getLogger("werkzeug").setLevel(logging.CRITICAL)
logging.getLogger("werkzeug").disabled = True


@dataclass
class Knobs:
    """Fault and latency settings shared by every fake. Deterministic under `seed`.

    - latency: seconds added to every request.
    - error_rate: probability of a 500/502/503 answer.
    - throttle_rate: probability of a 429 with a Retry-After in the provider's flavour.
    - retry_after: the seconds that Retry-After announces.
    - retry_after_style: "seconds", "http-date" or "unix" (Docker Hub's X-Retry-After).
    - hang_rate: probability the server accepts the request and answers only after `hang_seconds`.
    - truncate_rate: probability a 200 body is cut in half (truncated JSON).
    - html_error_rate: probability of a 502 with an HTML body (a proxy's error page).
    - writes_faulty: whether faults also hit non-GET requests.
    - page_size: the fake's maximum page size (None: the provider's documented maximum).
    - reset_rate: probability the server drops the connection without answering (TCP reset).
    - empty_rate: probability of a 200 with an empty body.
    - oversize_rate: probability of a 200 JSON body of `oversize_bytes`, streamed without a length.
    - error_status: the status `error_rate` answers (None: one of 500, 502 and 503 at random).
    - fault_limit: at most this many faults in all, then the server is healthy again (None: no
      limit): a transient outage that a client's retries must get through.
    """

    latency: float = 0.0
    error_rate: float = 0.0
    throttle_rate: float = 0.0
    retry_after: float = 1.0
    retry_after_style: str = "seconds"
    hang_rate: float = 0.0
    hang_seconds: float = 30.0
    truncate_rate: float = 0.0
    html_error_rate: float = 0.0
    writes_faulty: bool = False
    page_size: int | None = None
    seed: int = 0
    reset_rate: float = 0.0
    empty_rate: float = 0.0
    oversize_rate: float = 0.0
    oversize_bytes: int = 60 * 1024 * 1024
    error_status: int | None = None
    fault_limit: int | None = None


StartResponse = Callable[..., Any]


class SandboxReset(ConnectionResetError):
    """Raised by `Faults` to drop a connection; the request handler closes it at once."""


WSGIApp = Callable[[dict, StartResponse], Iterable[bytes]]


def drop_connection(environ: dict) -> None:
    """Drop the request's connection without an answer (SO_LINGER 0: the client sees a TCP reset)."""
    sock = environ.get("werkzeug.socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.shutdown(socket.SHUT_RD)       # a handler that reads again gets EOF and closes
        except OSError:
            pass
    # werkzeug treats ConnectionError as "client went away": nothing is written back.
    raise SandboxReset("sandbox reset_rate: connection dropped without an answer")


class FaultDice:
    """The seeded dice and the counters every fault-injecting middleware shares (this one, AWS's)."""

    knobs: Knobs

    def __init__(self, knobs: Knobs) -> None:
        self._rng = random.Random(knobs.seed)
        self._lock = threading.Lock()
        self.calls: Counter[tuple[str, str]] = Counter()
        self.faults: Counter[str] = Counter()
        self._injected = 0
        self.stopping = threading.Event()

    def _roll(self) -> float:
        with self._lock:
            return self._rng.random()

    def reset_counts(self) -> None:
        """Forget the faults injected so far (`faults`, and what `fault_limit` counts)."""
        with self._lock:
            self.faults.clear()
            self._injected = 0

    def _take(self, fault: str, rate: float) -> bool:
        """Roll for one fault and count it; False without rolling once `fault_limit` faults were injected."""
        if not rate:
            return False
        with self._lock:
            limit = self.knobs.fault_limit
            if limit is not None and self._injected >= limit:
                return False
            if self._rng.random() >= rate:
                return False
            self._injected += 1
            if fault:
                self.faults[fault] += 1
            return True


class Faults(FaultDice):
    """WSGI middleware that injects the knobs' faults before the fake sees the request."""

    def __init__(self, app: WSGIApp, knobs: Knobs, retry_header: str = "Retry-After") -> None:
        self.app = app
        self.knobs = knobs
        self.retry_header = retry_header
        super().__init__(knobs)

    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "")
        with self._lock:
            self.calls[(method, path)] += 1
        k = self.knobs
        if k.latency:
            time.sleep(k.latency)
        if method != "GET" and not k.writes_faulty:
            return self.app(environ, start_response)
        if self._take("hang", k.hang_rate):
            self.stopping.wait(k.hang_seconds)
        if self._take("reset", k.reset_rate):
            drop_connection(environ)
        if self._take("", k.error_rate):
            code = k.error_status or random.Random(self._roll()).choice([500, 502, 503])
            self.faults[str(code)] += 1
            return self._reply(start_response, f"{code} Server Error", b'{"message":"Server Error"}')
        if self._take("html", k.html_error_rate):
            body = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
            return self._reply(start_response, "502 Bad Gateway", body, "text/html")
        if self._take("429", k.throttle_rate):
            return self._reply(
                start_response, "429 Too Many Requests", b'{"message":"rate limited"}',
                extra=[(self.retry_header, self._retry_value())],
            )
        if self._take("empty", k.empty_rate):
            return self._reply(start_response, "200 OK", b"")
        if self._take("truncated", k.truncate_rate):
            return self._truncated(environ, start_response)
        if self._take("oversize", k.oversize_rate):
            return self._oversize(start_response)
        return self.app(environ, start_response)

    def _oversize(self, start_response: StartResponse) -> Iterable[bytes]:
        total = self.knobs.oversize_bytes
        chunk = b" " * 65536

        def body() -> Iterable[bytes]:
            yield b'{"padding": "'
            sent = 0
            while sent < total and not self.stopping.is_set():
                piece = chunk[: min(len(chunk), total - sent)]
                sent += len(piece)
                yield piece
            yield b'"}'

        start_response("200 OK", [("Content-Type", "application/json")])
        return body()

    def _retry_value(self) -> str:
        k = self.knobs
        if k.retry_after_style == "http-date":
            return formatdate(time.time() + k.retry_after, usegmt=True)
        if k.retry_after_style == "unix":
            return str(int(time.time() + k.retry_after + 0.999))
        return str(max(0, int(k.retry_after)) if float(k.retry_after).is_integer() else k.retry_after)

    def _truncated(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list, exc_info: Any = None) -> Any:
            captured["status"], captured["headers"] = status, headers
            return lambda _data: None

        body = b"".join(self.app(environ, capture))
        status = captured.get("status", "200 OK")
        if not status.startswith("200") or len(body) < 2:
            headers = [(h, v) for h, v in captured.get("headers", [])]
            start_response(status, headers)
            return [body]
        cut = body[: len(body) // 2]
        headers = [(h, v) for h, v in captured["headers"] if h.lower() != "content-length"]
        headers.append(("Content-Length", str(len(cut))))
        start_response(status, headers)
        return [cut]

    @staticmethod
    def _reply(start_response: StartResponse, status: str, body: bytes,
               content_type: str = "application/json", extra: list | None = None) -> Iterable[bytes]:
        headers = [("Content-Type", content_type), ("Content-Length", str(len(body)))]
        start_response(status, headers + (extra or []))
        return [body]


# A header line as the email parser reads it when nothing is unusual: a name of visible characters
# other than ':', then the value without leading blanks nor the line end. Anything else (a folded
# line, "From ", a name with blanks) is left to the email parser, as http.server does.
_HEADER_LINE = re.compile(rb"([\x21-\x39\x3b-\x7e]+):[ \t]*([^\r\n]*)\r?\n?")
_MAXLINE, _MAXHEADERS = 65536, 100      # http.client's limits


_READY_R, _READY_W = os.pipe()       # one byte written and never read: always readable
os.write(_READY_W, b"\0")


class _Quiet:
    """The connection as werkzeug's post-response drain sees it: readable at once, so the drain's
    `select` returns without waiting (it waits 10 ms for a descriptor that is not readable, and the
    next request of a kept-alive connection would wait with it)."""

    def __init__(self, real: Any) -> None:
        self._real = real

    def fileno(self) -> int:
        return _READY_R

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


class _Drained:
    """The request stream as the drain reads it: at its end (the request had no body), so the
    drain stops at once and leaves the next request line of the connection in the socket."""

    def __init__(self, real: Any) -> None:
        self._real = real

    def read(self, _size: int = -1) -> bytes:
        return b""

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


class KeepAliveHandler(WSGIRequestHandler):
    """HTTP/1.1 with keep-alive, as real providers serve: a new TCP connection per request would
    double the CPU of both sides and distort every benchmark (and slow the demo). Idle connections
    close after 5 s.

    werkzeug 3.1's handler sends `Connection: close` on every response and then drains the socket
    for 10 ms, which would eat the next request line of a kept-alive connection. For requests
    without a body (every GET and DELETE here) this handler omits that header and lets the drain
    see a readable descriptor and an ended stream, so it neither reads nor waits (waiting 10 ms per
    request held every kept-alive connection's next request: 20 % of a 50 ms latency).
    The response leaves in one write (headers and body buffered, flushed by werkzeug after the
    body): fewer system calls, and no wait for the client's delayed ACK between the two.
    TCP_NODELAY for bodies larger than the buffer, written in two.
    """

    protocol_version = "HTTP/1.1"
    timeout = 5
    disable_nagle_algorithm = True
    wbufsize = 256 * 1024
    _reuse: bool = False

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass

    def _reusable(self) -> bool:
        h = self.headers
        return (self.request_version == "HTTP/1.1" and h is not None
                and h.get("Content-Length", "0") in ("", "0") and not h.get("Transfer-Encoding")
                and h.get("Connection", "").lower() != "close")

    def parse_request(self) -> bool:
        """http.server's `parse_request` for a plain HTTP/1.1 request line, with the header lines split
        here instead of by the email parser (a sixth of a fake's CPU per request); any other request
        line goes to http.server's own."""
        requestline = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        words = requestline.split()
        if len(words) != 3 or words[2] != "HTTP/1.1":
            return super().parse_request()
        self.requestline, self.request_version, self.close_connection = requestline, "HTTP/1.1", False
        self.command, self.path = words[0], words[1]
        if self.path.startswith("//"):
            self.path = "/" + self.path.lstrip("/")
        lines = []
        while True:
            line = self.rfile.readline(_MAXLINE + 1)
            if len(line) > _MAXLINE:
                self.send_error(431, "Line too long", "header line")
                return False
            lines.append(line)
            if len(lines) > _MAXHEADERS:
                self.send_error(431, "Too many headers", f"got more than {_MAXHEADERS} headers")
                return False
            if line in (b"\r\n", b"\n", b""):
                break
        headers = self.MessageClass()
        for line in lines[:-1]:
            m = _HEADER_LINE.fullmatch(line)
            if m is None:
                headers = email.parser.Parser(_class=self.MessageClass).parsestr(b"".join(lines).decode("iso-8859-1"))
                break
            headers[m[1].decode("iso-8859-1")] = m[2].decode("iso-8859-1")
        self.headers = headers
        if headers.get("Connection", "").lower() == "close":
            self.close_connection = True
        if headers.get("Expect", "").lower() == "100-continue":
            return bool(self.handle_expect_100())
        return True

    def send_header(self, keyword: str, value: str) -> None:
        if self._reuse and keyword.lower() == "connection" and value.lower() == "close":
            return
        super().send_header(keyword, value)

    def make_environ(self) -> Any:
        environ = super().make_environ()
        if isinstance(self.rfile, _Drained):
            environ["wsgi.input"] = self.rfile._real     # the app reads the real (empty) body
        return environ

    def run_wsgi(self) -> None:
        if self.headers.get("Expect", "").lower().strip(" \t") == "100-continue":
            # werkzeug writes this without a flush; the buffered writer would hold it back.
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self.wfile.flush()
            del self.headers["Expect"]
        self._reuse = self._reusable()
        if not self._reuse:
            return super().run_wsgi()
        real, real_in = self.connection, self.rfile
        self.connection, self.rfile = _Quiet(real), _Drained(real_in)
        try:
            return super().run_wsgi()
        finally:
            self.connection, self.rfile = real, real_in
            self._reuse = False

    def connection_dropped(self, error: BaseException, environ: Any = None) -> None:
        if isinstance(self.connection, _Quiet):
            self.connection = self.connection._real
        if isinstance(self.rfile, _Drained):
            self.rfile = self.rfile._real
        if isinstance(error, SandboxReset):
            # Close now, before socketserver's shutdown(SHUT_WR) would send a FIN: with SO_LINGER 0
            # the client sees a reset. The real close happens once rfile/wfile are closed.
            self.close_connection = True
            self.connection.close()


class FakeServer:
    """Serve one WSGI app on 127.0.0.1:<ephemeral> in a daemon thread; `stop()` frees the port."""

    def __init__(self, app: WSGIApp, knobs: Knobs | None = None, retry_header: str = "Retry-After") -> None:
        self.knobs = knobs or Knobs()
        self.faults = Faults(app, self.knobs, retry_header)
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "server not started"
        return f"http://127.0.0.1:{self._server.server_port}"

    @property
    def calls(self) -> Counter[tuple[str, str]]:
        return self.faults.calls

    def writes(self) -> int:
        """How many non-GET requests reached the server (for 'a dry run makes no call')."""
        return sum(n for (method, _), n in self.calls.items() if method != "GET")

    def start(self) -> str:
        self._server = make_server("127.0.0.1", 0, self.faults, threaded=True, request_handler=KeepAliveHandler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"fake-{self._server.server_port}", daemon=True)
        self._thread.start()
        return self.url

    def stop(self) -> None:
        self.faults.stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> FakeServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
