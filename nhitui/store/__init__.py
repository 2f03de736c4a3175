"""Where snapshots live: the embedded SQLite history (default) or a team store on PostgreSQL.

`[store] url = "postgresql://user@host/db"` (or `--store URL`) selects PostgreSQL; the password
comes from `[store] password = "env:…" | "keyring:…"` or libpq's own conventions (`PGPASSWORD`,
`~/.pgpass`, `sslmode` in the URL). A password written in the URL is refused like any literal
secret in the config. psycopg is imported only when a store URL is used.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

SCHEMES = ("postgresql", "postgres")


class StoreConfigError(Exception):
    """A store URL that cannot be used; phrased for the user."""


def check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise StoreConfigError(f"store url {url!r}: must start with postgresql:// (the embedded SQLite history "
                               "needs no url)")
    if parts.password:
        raise StoreConfigError("store url: a password in the URL is not allowed; use [store] password = "
                               "\"env:NAME\" or \"keyring:service/user\", or PGPASSWORD / ~/.pgpass")
    return url


def open_store(url: str, password: str | None = None, connect_timeout: float = 5.0) -> Any:
    from nhitui.store.postgres import PostgresStore

    return PostgresStore(check_url(url), password=password, connect_timeout=connect_timeout)
