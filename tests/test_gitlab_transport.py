"""The GitLab reads' transport (connectors/gitlab/transport.py) against a real local HTTP server.

It replaced requests under python-gitlab for the scan's GETs, so what requests did must still
happen: the token and headers sent, `params` encoded as requests encodes them, compressed bodies
decoded, the named charset honoured, oversized bodies refused, redirects followed, the response
time counted for the pacer, and a proxy honoured (by leaving the request to requests).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import gitlab
import pytest
import requests

from connectors.base import Report
from connectors.gitlab import client as glc
from connectors.gitlab import transport
from tests.local_http import SEEN, serve

TOKEN = "glpat-transporttest0123456789"
PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY",
              "no_proxy")


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with serve() as url:
        yield url


@pytest.fixture
def gl(server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[glc.Client]:
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
    client = glc.connect(server, TOKEN, Report("gl", "gitlab"), threading.Event(), pool=4, concurrency=4,
                         timeout=10, ca_bundle=None)
    try:
        yield client
    finally:
        client.session.close()


def test_reads_go_through_the_pools_with_the_token_and_requests_headers(gl: glc.Client) -> None:
    SEEN.clear()
    pages = list(glc.pages(gl, "/list", {"scope": ["a", "b"], "skip": None}))
    assert pages == [[{"id": 1, "name": "a"}], [{"id": 2, "name": "b"}]]     # Link next followed, token scrubbed
    (pool,) = gl.counted.pools._pools.values()
    assert pool.num_requests == 2                   # both pages on the pool, none through requests
    sent = SEEN[0]
    assert sent["private-token"] == TOKEN
    assert sent["user-agent"].startswith("nhitui (python-gitlab")
    assert "gzip" in sent["accept-encoding"]
    assert sent["_query"] == "per_page=100&scope=a&scope=b"
    assert gl.counted.report.requests == 2


@pytest.mark.parametrize("params", [
    {"a": [1, 2], "b": None, "c": True, "d": "x y/é", "e": ("t", None)},
    {"page": 3, "per_page": 100, "pagination": "keyset", "order_by": "id"},
    {},
])
def test_the_query_is_encoded_as_requests_encodes_params(params: dict[str, object]) -> None:
    by_requests = requests.Request("GET", "http://h/api/v4/x", params=params).prepare().url or ""
    assert by_requests.partition("?")[2] == transport.query_string(params)


def test_a_compressed_body_and_a_named_charset(gl: glc.Client) -> None:
    assert gl.http_get("/gzip") == {"login": "zipped"}
    resp = gl.http_request("get", "/latin1")
    assert resp.encoding == "ISO-8859-1" and resp.json() == {"name": "café"}


def test_oversized_bodies_are_refused_and_the_pool_still_serves(gl: glc.Client,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(glc.TooLarge, match="GET /announced-huge: the response announces"):
        gl.http_request("get", "/announced-huge")
    monkeypatch.setattr(glc, "MAX_BODY", 1_000_000)      # the server streams ~2.6 MB
    with pytest.raises(glc.TooLarge, match="GET /streamed-huge: the response exceeds the 1000000 byte bound"):
        gl.http_request("get", "/streamed-huge")
    assert gl.http_get("/gzip") == {"login": "zipped"}


def test_a_redirect_is_followed_by_requests_and_both_requests_counted(gl: glc.Client) -> None:
    before = gl.counted.report.requests
    assert gl.http_request("get", "/redirect").json() == [{"id": 1, "name": "a", "token": "glrt-must-not-stay"}]
    assert gl.counted.report.requests - before == 2


def test_an_error_status_is_python_gitlabs_exception(gl: glc.Client) -> None:
    with pytest.raises(gitlab.GitlabHttpError) as caught:
        gl.http_get("/nothing-here")
    assert caught.value.response_code == 404 and caught.value.error_message == "404 Not Found"


def test_response_time_reaches_the_pacer(gl: glc.Client) -> None:
    before = gl.counted.pacer.total_time
    gl.http_get("/slow")
    assert gl.counted.pacer.total_time - before >= 0.2


def test_a_proxy_leaves_the_request_to_requests(gl: glc.Client, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"{gl.url}/api/v4/gzip"
    pools = transport.Pools(1)
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.invalid:3128")
    session = glc.Session(Report("p", "gitlab"), threading.Event(), pool=1, concurrency=1)
    assert transport.send(session, pools, "GET", url, {"verify": True}, 1000, glc.TooLarge) is None
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    session = glc.Session(Report("p", "gitlab"), threading.Event(), pool=1, concurrency=1)
    assert transport.send(session, pools, "GET", url, {"verify": True}, 1000, glc.TooLarge).json() == {
        "login": "zipped"}
    pools.close()


def test_a_refused_connection_is_requests_connection_error() -> None:
    pools = transport.Pools(1)
    session = glc.Session(Report("p", "gitlab"), threading.Event(), pool=1, concurrency=1)
    with pytest.raises(requests.ConnectionError):
        transport.send(session, pools, "GET", "http://127.0.0.1:9/api/v4/x", {"timeout": 2}, 1000, glc.TooLarge)
    pools.close()


def test_writes_streams_and_bodies_stay_on_requests(gl: glc.Client) -> None:
    pools = transport.Pools(1)
    url = f"{gl.url}/api/v4/gzip"
    for verb, kwargs in (("POST", {}), ("GET", {"stream": True}), ("GET", {"json": {"a": 1}}),
                         ("GET", {"auth": requests.auth.HTTPDigestAuth("u", "p")})):
        assert transport.send(gl.counted, pools, verb, url, kwargs, 1000, glc.TooLarge) is None
    assert pools._pools == {}
    pools.close()
