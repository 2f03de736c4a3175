"""Small builders for store-level tests (no network)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
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


@contextmanager
def aws_running(world: Any) -> Iterator[Any]:
    """moto seeded with `world`, its credentials in the environment (as boto3's chain reads them);
    the environment is restored afterwards."""
    from nhitui.sandbox.aws import AwsFake

    fake = AwsFake(world)
    fake.start()
    saved = {k: os.environ.get(k) for k in (*fake.env, "AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE",
                                            "AWS_SHARED_CREDENTIALS_FILE")}
    for k in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        os.environ.pop(k, None)
    os.environ.update(fake.env)
    try:
        yield fake
    finally:
        fake.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
