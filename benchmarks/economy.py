"""Request economy: the fewest requests an inventory needs, counted from the pages the fakes serve.

`Recorder` wraps a fake's WSGI app (inside the fault and latency layer) and, per list resource
(method + path + query without the paging parameters), records every request and the items of
each distinct page it served. The minimum for a resource is ceil(items / the provider's largest
page) requests, at least one; whatever a client makes beyond that (a second fetch of a page,
a trailing empty page, smaller pages than allowed, retries, requests that answer 304) shows as excess.

The set of endpoints is the connector's own: an endpoint it did not need to read would count as
needed here. Each connector's endpoints are listed in reference/apis.md with the kind each one
carries; none has a bulk alternative except where the connector already uses it (AWS's
GetAccountAuthorizationDetails, whose bound `benchmarks.bench_aws.lower_bound` counts from the world).
"""

from __future__ import annotations

import json
import math
import threading
from collections import defaultdict
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, urlencode

# Query parameters that select a page or its size, not the list.
PAGING = frozenset({"page", "per_page", "perPage", "page_size", "id_after", "cursor", "after", "offset", "limit"})
# The largest page each provider serves (the fakes follow the providers' documented maxima).
MAX_PAGE = {"github": 100, "gitlab": 100, "npm": 10, "dockerhub": 100, "jfrog": 1_000_000}   # JFrog: one unpaged list
TOTALS = ("total_count", "total", "count")
# Token exchanges the provider requires before any read (Docker Hub's PAT -> JWT, a GitHub App's
# installation token): one each is needed.
AUTH = ("/v2/auth/token", "/v2/users/login", "/access_tokens", "/oauth/token")
HEADER_TOTALS = ("x-total",)


def _items(body: bytes) -> tuple[int | None, int | None]:
    """(items on this page, the list's total when the page says it), or (None, None) for a non-list."""
    try:
        data = json.loads(body) if body else None
    except ValueError:
        return None, None
    if isinstance(data, list):
        return len(data), None
    if isinstance(data, dict):
        lists = [v for v in data.values() if isinstance(v, list)]
        if not lists:
            return None, None
        total = next((data[k] for k in TOTALS if isinstance(data.get(k), int) and not isinstance(data[k], bool)),
                     None)
        return max(len(v) for v in lists), total
    return None, None


class Recorder:
    """WSGI middleware: per resource, the requests made and the items of each page served."""

    def __init__(self, app: Any, provider: str) -> None:
        self.app = app
        self.provider = provider
        self._lock = threading.Lock()
        self.requests: dict[str, int] = defaultdict(int)
        self.pages: dict[str, dict[str, int]] = defaultdict(dict)
        self.totals: dict[str, int] = {}
        self.lists: set[str] = set()

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.pages.clear()
            self.totals.clear()
            self.lists.clear()

    def __call__(self, environ: dict, start_response: Any) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        query = parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        resource = f"{method} {environ.get('SCRIPT_NAME', '')}{environ.get('PATH_INFO', '')}"
        rest = sorted((k, v) for k, v in query if k not in PAGING)
        if rest:
            resource += "?" + urlencode(rest)
        page = urlencode(sorted((k, v) for k, v in query if k in PAGING))
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list, exc_info: Any = None) -> Any:
            captured["status"], captured["headers"] = status, headers
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        body = b"".join(self.app(environ, capture))
        with self._lock:
            self.requests[resource] += 1
        if method == "GET" and str(captured.get("status", "")).startswith("200"):
            n, total = _items(body)
            headers = {str(k).lower(): str(v) for k, v in captured.get("headers", [])}
            for h in HEADER_TOTALS:
                if headers.get(h, "").isdigit():
                    total = int(headers[h])
            with self._lock:
                if n is not None:
                    self.lists.add(resource)
                    self.pages[resource][page] = n
                    if total is not None:
                        self.totals[resource] = max(total, self.totals.get(resource, 0))
        return [body]

    def minimum(self) -> int:
        """The fewest requests that read every list (and every single object) this scan read."""
        with self._lock:
            need = 0
            for resource in self.requests:
                if not resource.startswith("GET "):
                    need += 1 if resource.split("?", 1)[0].endswith(AUTH) else 0   # writes: not needed
                    continue
                if resource in self.lists:
                    items = max(sum(self.pages[resource].values()), self.totals.get(resource, 0))
                    need += max(1, math.ceil(items / MAX_PAGE.get(self.provider, 100)))
                else:
                    need += 1
            return need

    def made(self) -> int:
        with self._lock:
            return sum(self.requests.values())

    def excess(self, top: int = 5) -> list[tuple[str, int, int]]:
        """The resources with the most requests beyond their minimum: (resource, made, minimum)."""
        out = []
        size = MAX_PAGE.get(self.provider, 100)
        with self._lock:
            for resource, made in self.requests.items():
                if resource in self.lists:
                    items = max(sum(self.pages[resource].values()), self.totals.get(resource, 0))
                    need = max(1, math.ceil(items / size))
                elif resource.startswith("GET "):
                    need = 1
                else:
                    need = 1 if resource.split("?", 1)[0].endswith(AUTH) else 0
                if made > need:
                    out.append((resource, made, need))
        out.sort(key=lambda r: r[1] - r[2], reverse=True)
        return out[:top]


def install(fakes: dict[str, Any]) -> dict[str, Recorder]:
    """Put a Recorder inside the fault layer of every HTTP fake (AWS's moto server is counted apart)."""
    out = {}
    for provider, fake in fakes.items():
        server = getattr(fake, "server", None)
        faults = getattr(server, "faults", None)
        if faults is None:
            continue
        rec = Recorder(faults.app, provider)
        faults.app = rec
        out[provider] = rec
    return out
