"""A real local HTTP server for the transport tests (GitHub's and GitLab's reads on urllib3 pools).

Routes answer as a provider can: gzip, a named charset, bad UTF-8, oversized bodies (announced or
streamed), a slow answer, a redirect, a paginated list with `Link: rel="next"`, and a JSON 404.
A leading `/api/v4` (GitLab's API root) is ignored, so both clients reach the same routes. Each
request's headers (lower-cased) and query (as `_query`) are appended to `SEEN`.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HUGE = 50 * 1024 * 1024 + 1      # one byte past both connectors' bound
SEEN: list[dict[str, str]] = []


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        if "Content-Length" not in headers and headers.get("Transfer-Encoding") != "chunked":
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        path, _, query = self.path.partition("?")
        SEEN.append({**{k.lower(): v for k, v in self.headers.items()}, "_query": query})
        root = "/api/v4" if path.startswith("/api/v4/") else ""
        path = path[len(root):]
        if path == "/gzip":
            self._send(200, gzip.compress(json.dumps({"login": "zipped"}).encode()),
                       {"Content-Type": "application/json; charset=utf-8", "Content-Encoding": "gzip"})
        elif path == "/latin1":
            self._send(200, json.dumps({"name": "café"}, ensure_ascii=False).encode("latin-1"),
                       {"Content-Type": "application/json; charset=ISO-8859-1"})
        elif path == "/badutf8":
            self._send(200, b'{"name": "a\xff\xfeb"}', {"Content-Type": "application/json; charset=utf-8"})
        elif path == "/announced-huge":
            self._send(200, b"", {"Content-Type": "application/json", "Content-Length": str(HUGE)})
        elif path == "/streamed-huge":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            chunk = b"[" + b"1," * 32767 + b"1"
            try:
                for _ in range(40):
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.write(b"0\r\n\r\n")
            except OSError:
                pass
        elif path == "/slow":
            time.sleep(0.2)
            self._send(200, b'{"ok": true}', {"Content-Type": "application/json"})
        elif path == "/redirect":
            self._send(302, b"", {"Location": f"{root}/list"})
        elif path == "/list":
            second = "page=2" in query
            items = [{"id": 2, "name": "b"}] if second else [{"id": 1, "name": "a", "token": "glrt-must-not-stay"}]
            headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
            if not second:
                headers["Link"] = f'<http://{self.headers["Host"]}{root}/list?page=2&per_page=100>; rel="next"'
            self._send(200, gzip.compress(json.dumps(items).encode()), headers)
        else:
            self._send(404, b'{"message": "404 Not Found"}' if root else b'{"message": "Not Found"}',
                       {"Content-Type": "application/json"})


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass        # a client that hangs up mid-answer (an oversized body refused) is expected here


@contextmanager
def serve() -> Iterator[str]:
    """The server's base URL while the block runs."""
    httpd = Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
