"""The GitHub reads' transport (connectors/github/transport.py) against a real local HTTP server.

It replaced requests under PyGithub for the scan's GETs, so what requests did must still happen:
compressed bodies decoded, the named charset honoured, oversized bodies refused, the response time
counted for the pacer, the credential sent, and a proxy from the environment still honoured (that
last one is in tests/test_enterprise_network.py, which fails if this transport ignored the proxy).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connectors import pooled
from connectors.base import Report
from connectors.github import retry, transport
from connectors.github.client import GitHubClient, HttpError
from tests.local_http import SEEN, serve

TOKEN = "ghp_transporttest0123456789abcdefghijklmn"


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with serve() as url:
        yield url


@pytest.fixture
def client(server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[GitHubClient]:
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    settings = {"name": "gh", "type": "github", "org": "acme", "api_url": server, "token": "env:T",
                "concurrency": 2}
    gh = GitHubClient(settings, lambda ref: TOKEN, Report("gh", "github"), None)
    gh.open()
    try:
        yield gh
    finally:
        gh.close()


def test_reads_go_through_the_pooled_transport(client: GitHubClient) -> None:
    SEEN.clear()
    client._get_sync("/gzip", None)
    req = client._requester()
    assert isinstance(req._Requester__createConnection(), transport.ReadConnection)
    sent = SEEN[-1]
    assert sent["authorization"] == f"token {TOKEN}"     # PyGithub's Requester still signs the request
    assert sent["x-github-api-version"] == "2022-11-28"
    assert "gzip" in sent["accept-encoding"]


def test_a_compressed_body_is_decoded(client: GitHubClient) -> None:
    _, data = client._get_sync("/gzip", None)
    assert data == {"login": "zipped"}


def test_the_named_charset_is_honoured_and_bad_bytes_replaced(client: GitHubClient) -> None:
    assert client._get_sync("/latin1", None)[1] == {"name": "café"}
    assert client._get_sync("/badutf8", None)[1] == {"name": "a\ufffd\ufffdb"}


def test_decode_falls_back_to_utf8_for_an_unknown_charset() -> None:
    assert pooled.decode("é".encode(), "application/json; charset=x-no-such-codec") == "é"
    assert pooled.decode("é".encode(), "application/json") == "é"


def test_an_announced_oversized_body_is_refused(client: GitHubClient) -> None:
    with pytest.raises(HttpError, match="announces .* more than the"):
        client._get_sync("/announced-huge", None)


def test_a_streamed_body_past_the_bound_stops_reading(client: GitHubClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(retry, "MAX_BODY", 1_000_000)      # the server sends ~2.6 MB
    with pytest.raises(HttpError, match="exceeds the 1000000 byte bound"):
        client._get_sync("/streamed-huge", None)
    assert client._get_sync("/gzip", None)[1] == {"login": "zipped"}     # the pool still serves


def test_an_error_status_is_pygithubs_exception_turned_into_ours(client: GitHubClient) -> None:
    with pytest.raises(HttpError) as caught:
        client._get_sync("/nothing-here", None)
    assert caught.value.status == 404 and caught.value.message == "Not Found"


def test_response_time_reaches_the_pacer(client: GitHubClient) -> None:
    before = client.pacer.total_time
    client._get_sync("/slow", None)
    assert 0.2 <= client._local.rt < 2.0        # the transport's measure, not the pacer's own fallback
    assert client.pacer.total_time - before >= 0.2


def test_threads_share_one_pool(client: GitHubClient) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: client._get_sync("/gzip", None)[1], range(40)))
    assert answers == [{"login": "zipped"}] * 40
    assert client._pool is not None and client._pool.num_connections <= 4
