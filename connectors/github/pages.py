"""Pagination as GitHub serves it, made safe against servers that do not.

GitHub pages with `Link: <...>; rel="next"` (`per_page` up to 100). We follow `next` ourselves
rather than through PyGithub's `PaginatedList` because we need what it does not give: a `next`
that points at a page already fetched stops the listing (`LoopError`, a blind spot) instead of
looping; a `next` outside `api_url` is refused; a list without `Link` falls back to `total_count`
(or to a short page); an empty page ends the listing; and at most `MAX_PAGES` pages are read.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

from connectors.github.client import PER_PAGE, HttpError, LoopError

if TYPE_CHECKING:
    from connectors.github.client import GitHubClient

MAX_PAGES = 2000          # per listing: 200,000 items, far beyond any org; stops a runaway server

_LINK = re.compile(r'<([^>]*)>\s*;\s*rel="?([^",;]+)"?')


def links(header: str | None) -> dict[str, str]:
    """The URLs of a `Link` header by relation (`next`, `last`, ...)."""
    out: dict[str, str] = {}
    for url, rel in _LINK.findall(header or ""):
        for r in rel.split():
            out.setdefault(r, url.strip())
    return out


async def pages(gh: GitHubClient, path: str, key: str | None = None,
                params: Mapping[str, Any] | None = None) -> AsyncIterator[tuple[list[Any], Any]]:
    """Yield (items, raw page) per page of `path` (items under `key` when the page is an object)."""
    base = {"per_page": PER_PAGE, **(params or {})}
    url, query = path, dict(base)
    seen: set[tuple[str, tuple]] = set()
    fetched, page = 0, 1
    for _ in range(MAX_PAGES):
        canon = gh.canonical(url, query)
        if canon in seen:
            raise LoopError(path)
        seen.add(canon)
        headers, data = await gh.get(url, query)
        if key is None:
            items = data if isinstance(data, list) else None
        else:
            items = data.get(key) if isinstance(data, dict) else None
            items = [] if items is None and isinstance(data, dict) and data.get("total_count") == 0 else items
        if not isinstance(items, list):
            raise HttpError(0, "unexpected response shape", gh.path_of(path))
        yield items, data
        fetched += len(items)
        nxt = links(headers.get("link")).get("next")
        if nxt:
            if not items:
                return
            if not gh.same_origin(nxt):
                raise HttpError(0, "a Link header pointed outside api_url; not followed", gh.path_of(path))
            url, query = nxt, None
            continue
        if "link" in headers:
            return
        total = data.get("total_count") if isinstance(data, dict) else None
        if isinstance(total, (int, float)) and not isinstance(total, bool):
            more = fetched < total and bool(items)
        else:
            more = len(items) >= PER_PAGE
        if not more:
            return
        page += 1
        url, query = path, {**base, "page": page}
    raise LoopError(path)


async def items(gh: GitHubClient, path: str, key: str | None = None,
                params: Mapping[str, Any] | None = None) -> list[Any]:
    """Every item of every page of `path`."""
    out: list[Any] = []
    async for chunk, _ in pages(gh, path, key, params):
        out.extend(chunk)
    return out
