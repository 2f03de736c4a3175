"""A local HTTP server for one fake provider API, with fault and latency knobs.

Each fake is a WSGI app (Flask) served by werkzeug's threaded server on 127.0.0.1 and an
ephemeral port. `Faults` wraps the app so every provider gets the same knobs: latency, 5xx,
429 with the provider's own Retry-After flavour, hung responses and truncated bodies. Requests
are counted per (method, path) so tests can assert what a scan or a dry-run did (or did not) call.
"""

from __future__ import annotations

import logging
import random
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


StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict, StartResponse], Iterable[bytes]]


class Faults:
    """WSGI middleware that injects the knobs' faults before the fake sees the request."""

    def __init__(self, app: WSGIApp, knobs: Knobs, retry_header: str = "Retry-After") -> None:
        self.app = app
        self.knobs = knobs
        self.retry_header = retry_header
        self._rng = random.Random(knobs.seed)
        self._lock = threading.Lock()
        self.calls: Counter[tuple[str, str]] = Counter()
        self.faults: Counter[str] = Counter()
        self.stopping = threading.Event()

    def _roll(self) -> float:
        with self._lock:
            return self._rng.random()

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
        if k.hang_rate and self._roll() < k.hang_rate:
            self.faults["hang"] += 1
            self.stopping.wait(k.hang_seconds)
        if k.error_rate and self._roll() < k.error_rate:
            code = random.Random(self._roll()).choice([500, 502, 503])
            self.faults[str(code)] += 1
            return self._reply(start_response, f"{code} Server Error", b'{"message":"Server Error"}')
        if k.html_error_rate and self._roll() < k.html_error_rate:
            self.faults["html"] += 1
            body = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
            return self._reply(start_response, "502 Bad Gateway", body, "text/html")
        if k.throttle_rate and self._roll() < k.throttle_rate:
            self.faults["429"] += 1
            return self._reply(
                start_response, "429 Too Many Requests", b'{"message":"rate limited"}',
                extra=[(self.retry_header, self._retry_value())],
            )
        if k.truncate_rate and self._roll() < k.truncate_rate:
            self.faults["truncated"] += 1
            return self._truncated(environ, start_response)
        return self.app(environ, start_response)

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


class KeepAliveHandler(WSGIRequestHandler):
    """HTTP/1.1 with keep-alive, as real providers serve: a new TCP connection per request would
    double the CPU of both sides and distort every benchmark. Idle connections close after 5 s."""

    protocol_version = "HTTP/1.1"
    timeout = 5

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


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
