"""GitHub's rules for waiting: when to retry, how long to wait, and how much body to read.

PyGithub's `GithubRetry` already retries 5xx and 403s that carry a rate-limit signal; `Retry` adds
429, an exact `Retry-After` (seconds, fractions or HTTP dates), `x-ratelimit-reset` when the budget
is spent, and GitHub's documented minute for a secondary limit that names no wait (apis.md §9).
No single wait may exceed `MAX_WAIT`: a longer one raises `WaitTooLong`, which the client reports.
A spent primary budget is waited for at most the source's `budget_wait`; a later reset raises
`BudgetSpent`, and the client stops the scan at a checkpoint.
"""

from __future__ import annotations

import email.utils
import time
from typing import Any

from github.GithubRetry import GithubRetry
from urllib3.exceptions import MaxRetryError
from urllib3.exceptions import SSLError as _Urllib3SSLError

from connectors import pooled

MAX_WAIT = 300.0          # longest single wait for a rate-limit reset or Retry-After
SECONDARY_WAIT = 60.0      # seconds, for a 403/429 secondary limit that gives neither Retry-After nor reset
RATE_WAITS = 3             # waits for a reset, per request, when a 403/429 says the budget is spent
RETRIES = 5               # per request, for 5xx / 429 / rate-limited 403 / connection errors
BODY_RETRIES = 3          # extra attempts when a 200 carries a truncated JSON body
MAX_BODY = 50 * 1024 * 1024   # a bigger answer is an error, not memory exhaustion


class TooLarge(Exception):
    """The server sent more than MAX_BODY bytes: reading stopped there."""


class WaitTooLong(Exception):
    def __init__(self, seconds: float) -> None:
        super().__init__(f"the server asked to wait {seconds:.0f} s")
        self.seconds = seconds


class BudgetSpent(WaitTooLong):
    """A 403/429 says the primary budget is spent until a reset further away than the source's
    `budget_wait`: the scan stops at a checkpoint instead of sleeping to the reset."""

    def __init__(self, reset: float) -> None:
        super().__init__(reset - time.time())
        self.reset = reset


def spent_reset(headers: Any) -> float | None:
    """The reset (epoch seconds) of a primary budget the headers say is spent (remaining 0), else None."""
    reset = str(headers.get("x-ratelimit-reset") or "")
    return float(reset) if headers.get("x-ratelimit-remaining") == "0" and reset.isdigit() else None


def bounded_read(response: Any, *args: Any, **kwargs: Any) -> Any:
    """requests response hook (runs before the body is read): read it, but at most MAX_BODY bytes."""
    if kwargs.get("stream"):
        return response
    declared = response.headers.get("Content-Length", "")
    response._content = pooled.read_at_most(declared, response.iter_content(65536), response.close, MAX_BODY, TooLarge)
    return response


class Retry(GithubRetry):
    """GithubRetry plus 429, exact Retry-After (fractions, HTTP dates) and x-ratelimit-reset waits.

    GithubRetry already retries 403s that carry a rate-limit signal and 5xx; its fixed 60 s wait for
    secondary limits applies only when GitHub sends no Retry-After. Every retry is counted.
    """

    def __init__(self, on_retry: Any = None, budget_wait: float | None = None, **kw: Any) -> None:
        super().__init__(**kw)
        self.on_retry = on_retry
        self.budget_wait = budget_wait

    def new(self, **kw: Any) -> Any:
        fresh = super().new(**kw)
        fresh.on_retry = self.on_retry
        fresh.budget_wait = self.budget_wait
        return fresh

    def _reset_wait_limit(self) -> float:
        return MAX_WAIT if self.budget_wait is None else max(MAX_WAIT, self.budget_wait)

    def increment(self, *args: Any, **kwargs: Any) -> Any:
        error = kwargs.get("error")
        if isinstance(error, _Urllib3SSLError):
            # A certificate that failed verification does not pass on the next attempt.
            url = args[1] if len(args) > 1 else kwargs.get("url")
            raise MaxRetryError(kwargs.get("_pool"), url or "", error)
        response = kwargs.get("response")
        if response is not None and self.budget_wait is not None and getattr(response, "status", 0) in (403, 429):
            # The primary budget is spent: sleeping to a reset beyond `budget_wait` is not what the
            # user asked for (PyGithub would wait up to its own limit); the client stops the scan.
            reset = spent_reset(response.headers)
            if reset is not None and reset - time.time() > self.budget_wait:
                raise BudgetSpent(reset)
        fresh = super().increment(*args, **kwargs)
        if self.on_retry is not None:
            self.on_retry(secondary_hit(response))
        return fresh

    def parse_retry_after(self, retry_after: str) -> float:
        value = retry_after.strip()
        try:
            seconds = float(value)
        except ValueError:
            try:
                seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
            except (TypeError, ValueError, IndexError, OverflowError):
                seconds = 1.0
        if seconds != seconds:  # NaN
            seconds = 1.0
        seconds = max(0.0, seconds)
        if seconds > MAX_WAIT:
            raise WaitTooLong(seconds)
        return seconds

    def get_retry_after(self, response: Any) -> float | None:
        value = response.headers.get("Retry-After")
        if value is not None:
            return self.parse_retry_after(value)
        if response.status in (403, 429) and response.headers.get("x-ratelimit-remaining") == "0":
            reset = str(response.headers.get("x-ratelimit-reset") or "")
            if reset.isdigit():
                wait = int(reset) - time.time() + 0.2
                if wait > self._reset_wait_limit():
                    raise WaitTooLong(wait)
                return max(wait, 0.05)
        if response.status == 429:
            # A secondary limit that names no wait: GitHub asks for at least a minute (apis.md §9).
            return SECONDARY_WAIT
        return None


def secondary_hit(response: Any) -> bool:
    """A 403/429 that is a secondary limit: not the primary budget spent (remaining is not 0)."""
    if response is None or getattr(response, "status", 0) not in (403, 429):
        return False
    headers = getattr(response, "headers", None) or {}
    return headers.get("x-ratelimit-remaining") != "0"


def make_retry(on_retry: Any, budget_wait: float | None = None) -> Retry:
    """The retry policy of one source; `budget_wait` (seconds) is the longest wait for a spent primary
    budget's reset: a later reset raises `BudgetSpent` (None: up to MAX_WAIT, then `WaitTooLong`)."""
    limit = MAX_WAIT if budget_wait is None else max(MAX_WAIT, budget_wait)
    return Retry(on_retry=on_retry, budget_wait=budget_wait, total=RETRIES, backoff_factor=0.25, backoff_max=10,
                 raise_on_status=False, status_forcelist=[429, 500, 502, 503, 504],
                 secondary_rate_wait=SECONDARY_WAIT, max_rate_limit_wait=limit)


def reset_wait(headers: dict[str, str]) -> float | None:
    """Seconds until the rate-limit reset when the headers say nothing remains, else None."""
    reset = str(headers.get("x-ratelimit-reset") or "")
    if headers.get("x-ratelimit-remaining") != "0" or not reset.isdigit():
        return None
    wait = int(reset) - time.time() + 0.2
    return max(wait, 0.05) if wait <= MAX_WAIT else None
