"""ETag cache of GET answers per source and URL, kept in the history database.

A re-scan of an unchanged organisation is then answered with 304s that do not spend the provider's
rate limit. Only the ETag and body of the last 200 answer are stored (no token, no request header);
entries the last complete scan did not use are pruned.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, MutableMapping
from datetime import datetime, timezone
from pathlib import Path

from nhitui.history_db import Database
from nhitui.model import iso


class SourceCache(MutableMapping[str, tuple[str, bytes]]):
    """One source's cache entries (url -> (etag, body)) in memory during a scan; thread-safe.

    Connectors read and write it from worker threads; `HttpCache.save` writes the changes back.
    """

    def __init__(self, source: str, entries: dict[str, tuple[str, bytes]]) -> None:
        self.source = source
        self._entries = entries
        self._lock = threading.Lock()
        self.used: set[str] = set()
        self.dirty: set[str] = set()
        self.deleted: set[str] = set()

    def __getitem__(self, url: str) -> tuple[str, bytes]:
        with self._lock:
            value = self._entries[url]
            self.used.add(url)
            return value

    def __setitem__(self, url: str, value: tuple[str, bytes]) -> None:
        etag, body = value
        with self._lock:
            self._entries[url] = (str(etag), bytes(body))
            self.used.add(url)
            self.dirty.add(url)
            self.deleted.discard(url)

    def __delitem__(self, url: str) -> None:
        with self._lock:
            del self._entries[url]
            self.used.discard(url)
            self.dirty.discard(url)
            self.deleted.add(url)

    def __iter__(self) -> Iterator[str]:
        with self._lock:
            return iter(list(self._entries))

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


class HttpCache:
    """ETag cache of GET answers per source, in the history database (table `http_cache`).

    `for_source(name)` loads a source's entries for one scan; `save(cache, complete)` writes back
    what changed and, after a complete scan, drops the entries that scan did not use (objects gone
    at the provider, pages that no longer exist).
    """

    def __init__(self, path: Path | None = None) -> None:
        self.history = Database(path)
        self.db = self.history.db
        self._lock = threading.Lock()

    def for_source(self, source: str) -> SourceCache:
        with self._lock:
            entries = {url: (etag, bytes(body)) for url, etag, body in self.db.execute(
                "SELECT url, etag, body FROM http_cache WHERE source = ?", (source,))}
        return SourceCache(source, entries)

    def save(self, cache: SourceCache, complete: bool = False) -> None:
        now = iso(datetime.now(timezone.utc))
        with cache._lock:
            entries = dict(cache._entries)
            dirty, used, deleted = set(cache.dirty), set(cache.used), set(cache.deleted)
        with self._lock, self.db:
            self.db.executemany("DELETE FROM http_cache WHERE source = ? AND url = ?",
                                [(cache.source, u) for u in deleted])
            self.db.executemany(
                "INSERT OR REPLACE INTO http_cache(source, url, etag, body, stored_at) VALUES (?, ?, ?, ?, ?)",
                [(cache.source, u, entries[u][0], entries[u][1], now) for u in dirty if u in entries])
            if complete:
                unused = [u for u in entries if u not in used]
                self.db.executemany("DELETE FROM http_cache WHERE source = ? AND url = ?",
                                    [(cache.source, u) for u in unused])
        with cache._lock:
            cache.dirty.clear()
            cache.deleted.clear()

    def clear(self, source: str | None = None) -> None:
        with self._lock, self.db:
            if source is None:
                self.db.execute("DELETE FROM http_cache")
            else:
                self.db.execute("DELETE FROM http_cache WHERE source = ?", (source,))

    def close(self) -> None:
        self.history.close()
