"""The Connector protocol and the small helpers every connector shares.

A connector knows one provider's API and `nhitui.model`, nothing else of nhitui. The core hands
it its source settings (the validated `[[source]]` table) and a `resolve` callable that turns a
credential reference ("env:NAME", "keyring:service/user") into its value, so the connector never
parses references itself and loads the write credential only when an action runs.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Protocol, runtime_checkable

from nhitui.model import Action, ActionResult, BlindSpot, Identity, SourceStatus

Resolve = Callable[[str], str]


class ConnectorError(Exception):
    """An expected failure (auth refused, host unreachable): its message is shown to the user as is.

    Messages must never contain a credential value.
    """


class AuthError(ConnectorError):
    """The provider refused our credential (401, expired login, bad signature)."""


@dataclass
class Report:
    """What a connector learns about its own collection while it runs (thread-safe counters).

    The collector turns it into a `SourceStatus`. Connectors record every endpoint they could not
    read as a blind spot, so a 403 never looks like an empty, clean list.
    """

    source: str
    provider: str
    requests: int = 0
    retries: int = 0
    rate_limit_remaining: int | None = None
    rate_limit_limit: int | None = None
    blind_spots: list[BlindSpot] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count_request(self, n: int = 1) -> None:
        with self._lock:
            self.requests += n

    def count_retry(self, n: int = 1) -> None:
        with self._lock:
            self.retries += n

    def rate_limit(self, remaining: Any, limit: Any = None) -> None:
        try:
            with self._lock:
                self.rate_limit_remaining = int(remaining)
                if limit is not None:
                    self.rate_limit_limit = int(limit)
        except (TypeError, ValueError):
            pass

    def blind_spot(self, what: str, reason: str) -> None:
        with self._lock:
            if not any(b.what == what for b in self.blind_spots):
                self.blind_spots.append(BlindSpot(what=what, reason=reason))

    def fail(self, reason: str) -> None:
        self.error = reason

    def status(self, state: str, count: int, started: datetime | None = None) -> SourceStatus:
        return SourceStatus(
            source=self.source,
            provider=self.provider,
            state=state,
            error=self.error,
            blind_spots=tuple(self.blind_spots),
            count=count,
            requests=self.requests,
            retries=self.retries,
            rate_limit_remaining=self.rate_limit_remaining,
            rate_limit_limit=self.rate_limit_limit,
            started_at=started,
            finished_at=datetime.now(timezone.utc),
            facts=dict(self.facts),
        )


@runtime_checkable
class Connector(Protocol):
    """One configured source.

    - `collect()` yields batches (lists) of identities as pages arrive; it records blind spots,
      request counts and rate-limit budget on `report`. It raises `ConnectorError` (or
      `AuthError`) for a failure that makes the whole source unreadable.
    - `actions(identity)` lists what can be done, reversible first.
    - `execute(identity, action)` performs one action with the write credential
      (`revoke_token`/`revoke_profile` when configured, else the read one), loaded for this call
      only. Something already gone answers `ActionResult(state="already-absent")`.
    """

    name: str
    provider: str
    report: Report

    def collect(self) -> AsyncIterator[list[Identity]]: ...

    def actions(self, identity: Identity) -> list[Action]: ...

    async def execute(self, identity: Identity, action: str) -> ActionResult: ...


def setting(settings: Mapping[str, Any], key: str, default: Any = None) -> Any:
    value = settings.get(key, default)
    return default if value in (None, "") else value
