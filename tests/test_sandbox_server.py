"""The sandbox server keeps bodiless requests' connections alive, as real providers do."""

from __future__ import annotations

import http.client

import pytest

from nhitui.sandbox.server import FakeServer


def _app(environ, start_response):
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok:" + body]


@pytest.fixture(scope="module")
def server():
    with FakeServer(_app) as srv:
        yield srv


def test_gets_share_one_connection(server):
    conn = http.client.HTTPConnection("127.0.0.1", int(server.url.rsplit(":", 1)[1]), timeout=5)
    conn.request("GET", "/a")
    first = conn.getresponse()
    assert first.read() == b"ok:" and first.getheader("Connection") is None
    sock = conn.sock
    for path in ("/b", "/c"):          # the drain would have eaten these request lines
        conn.request("GET", path)
        resp = conn.getresponse()
        assert resp.status == 200 and resp.read() == b"ok:"
    assert conn.sock is sock and sock is not None       # never reconnected
    conn.close()


def test_a_request_with_a_body_still_closes(server):
    conn = http.client.HTTPConnection("127.0.0.1", int(server.url.rsplit(":", 1)[1]), timeout=5)
    conn.request("POST", "/p", body=b"xyz")
    resp = conn.getresponse()
    assert resp.read() == b"ok:xyz" and resp.getheader("Connection") == "close"
    conn.close()
