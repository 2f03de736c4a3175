"""Small builders for store-level tests (no network)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from nhitui.model import Identity, make_uid

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)


def ident(n: int = 1, **kw: Any) -> Identity:
    base: dict[str, Any] = dict(
        uid=make_uid(kw.get("source", "src"), kw.get("kind", "deploy_key"), n), source="src", provider="github",
        kind="deploy_key", name=f"key-{n}", owner="alice", target="acme/api", privilege="read",
        created_at=NOW - timedelta(days=400), last_used_at=NOW - timedelta(days=1),
    )
    base.update(kw)
    return Identity(**base)


def days(n: float) -> datetime:
    return NOW - timedelta(days=n)
