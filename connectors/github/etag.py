"""Conditional requests: what of a GET is kept so the next scan can ask `If-None-Match`.

The cache (URL -> (ETag, body)) is injected by the core and kept between scans. GitHub does not
charge an authorised `304 Not Modified` to the primary rate limit, so an unchanged organisation
costs little to rescan. Only GET responses are kept, keyed by origin, path and sorted query, never
by a credential. A 304 need not repeat the `Link` header, so the Link is kept beside the body.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any
from urllib.parse import urlencode

Cache = MutableMapping[str, tuple[str, bytes]]


def key(origin: str, path: str, query: tuple) -> str:
    """The cache key of a GET: origin, path and sorted query (never a credential)."""
    return origin + path + (f"?{urlencode(query)}" if query else "")


def remember(cache: Cache, key: str, status: int, headers: dict[str, str], output: Any,
             cached: tuple[str, bytes] | None) -> None:
    """Keep a 200's ETag and body (and its Link, which a 304 need not repeat); restore the Link on a 304."""
    link_key = key + "#link"
    if status == 304 and cached:
        if "link" not in headers:
            link = cache.get(link_key)
            if link is not None and link[0] == cached[0]:
                headers["link"] = link[1].decode("utf-8", "replace")
        return
    if status != 200:
        return
    etag = headers.get("etag")
    if not etag:
        if cached:
            cache.pop(key, None)
            cache.pop(link_key, None)
        return
    cache[key] = (etag, output.encode("utf-8") if isinstance(output, str) else bytes(output))
    if "link" in headers:
        cache[link_key] = (etag, headers["link"].encode("utf-8"))
    elif cached:
        cache.pop(link_key, None)


def touch(cache: Cache, key: str) -> None:
    """Mark an entry (and its Link) as used by this scan without a request: an answer replayed from a
    checkpoint keeps the ETag it was read with, so a complete scan does not prune it."""
    cache.get(key)
    cache.get(key + "#link")
