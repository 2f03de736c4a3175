"""GitLab (gitlab.com and self-managed) connector, on python-gitlab 8.6.

It lists, for the configured `groups` (full paths; their subgroups and projects are included) and,
with `instance = true`, the instance-wide administrator lists as well, one module per family:

| module | kinds |
|---|---|
| `tokens.py` | personal_access_token, project_access_token, group_access_token (and the privilege mapping) |
| `keys.py` | deploy_key |
| `deploy_tokens.py` | deploy_token |
| `runners.py` | runner |
| `variables.py` | ci_variable |
| `triggers.py` | trigger_token |
| `agents.py` | agent_token (Kubernetes cluster agents) |
| `service_accounts.py` | personal_access_token of group and instance service accounts (`details["service_account"]`) |
| `credentials_inventory.py` | other members' personal_access_token and ssh_key (GitLab.com group credentials inventory), and the blind spots when it is closed |
| `members.py` | `report.facts["members"]`: who belongs to the configured groups |

`walk.py` says what one scan reads and in which order, `scan.py` runs it (worker pool, blind spots,
paged reads), `client.py` is the HTTP side (python-gitlab, retries with our Retry-After handling,
the rate budget, pagination, scrubbing secret fields), `transport.py` carries its GETs on urllib3
pools instead of through requests, `actions.py` what can be done (revoke,
rotate, pause/unpause, unlink, delete) and how.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from connectors.base import AuthError, ConnectorError, Report, setting
from connectors.gitlab import actions as _actions
from connectors.gitlab import walk
from connectors.gitlab.client import API, Client, Session, connect, default_per_minute, retry_after
from connectors.gitlab.scan import DONE, Scan
from connectors.gitlab.tokens import resource_privilege, role_privilege, scope_privilege
from nhitui.model import Action, ActionResult, Identity

# Names the tests and older callers know.
_retry_after = retry_after
_Session = Session

__all__ = ["CONNECTOR", "GitLabConnector", "resource_privilege", "role_privilege", "scope_privilege"]


def _positive(settings: Mapping[str, Any], key: str, default: float | None) -> float | None:
    value = setting(settings, key, default)
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = -1.0
    if not number >= 0:         # also NaN
        raise ConnectorError(f"{key}: expected a number >= 0, got {str(value)[:40]!r}")
    return number


class GitLabConnector:
    """One `[[source]]` of type gitlab."""

    provider = "gitlab"

    def __init__(self, settings: Mapping[str, Any], resolve: Callable[[str], str]) -> None:
        self.settings = dict(settings)
        self.name = str(settings["name"])
        self._resolve = resolve
        url = str(setting(settings, "url", "https://gitlab.com")).rstrip("/")
        if url.endswith(API):
            url = url[: -len(API)]
        self.url = url
        self.groups = [str(g).strip("/") for g in settings.get("groups") or () if str(g).strip("/")]
        self.instance = bool(settings.get("instance", False))
        self.concurrency = max(1, min(int(setting(settings, "concurrency", 16)), 100))
        self.timeout = float(setting(settings, "timeout", 30))
        self.ca_bundle = setting(settings, "ca_bundle")
        # The user's (or GitLab.com's) authenticated API limit: requests per minute, 0 for none known.
        # `rate_window` scales the minute for the sandbox (requests_per_minute per rate_window seconds).
        self.per_minute = _positive(settings, "requests_per_minute", default_per_minute(url)) or None
        self.minute = _positive(settings, "rate_window", 60.0) or 60.0
        self.report = Report(self.name, self.provider)
        self.pacer: Any = None

    def client(self, token: str, stop: threading.Event, pool: int) -> Client:
        return connect(self.url, token, self.report, stop, pool=pool, concurrency=self.concurrency,
                       timeout=self.timeout, ca_bundle=self.ca_bundle, per_minute=self.per_minute,
                       minute=self.minute)

    async def collect(self) -> Any:
        self.report = Report(self.name, self.provider)      # a fresh account of this scan
        token = self._resolve(str(self.settings.get("token") or ""))
        if not token:
            raise AuthError("authentication failed: the GitLab token is empty")
        loop = asyncio.get_running_loop()
        stop = threading.Event()
        gl = self.client(token, stop, pool=self.concurrency + 4)
        del token
        self.pacer = gl.counted.pacer       # this scan's pacing, for benchmarks (waits, peak in flight)
        queue: asyncio.Queue[Any] = asyncio.Queue()
        pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix=f"gitlab-{self.name}")
        task = loop.create_task(walk.run(Scan(self, gl, loop, queue, pool, stop)))
        try:
            while True:
                item = await queue.get()
                if item is DONE:
                    break
                batch = list(item)
                done = False
                while not queue.empty():          # coalesce what is already waiting
                    more = queue.get_nowait()
                    if more is DONE:
                        done = True
                        break
                    batch.extend(more)
                if batch:
                    yield batch
                if done:
                    break
            await task
        finally:
            stop.set()
            if not task.done():
                task.cancel()
            pool.shutdown(wait=False, cancel_futures=True)
            gl.session.close()

    def actions(self, identity: Identity) -> list[Action]:
        return _actions.plan(identity)

    async def execute(self, identity: Identity, action: str) -> ActionResult:
        if action not in identity.actions:
            return ActionResult(state="failed", message=f"action {action!r} is not available for this identity")
        ref = self.settings.get("revoke_token") or self.settings.get("token") or ""
        token = self._resolve(str(ref))
        gl = self.client(token, threading.Event(), pool=2)
        del token
        try:
            return await asyncio.to_thread(_actions.execute, self, gl, identity, action)
        finally:
            gl.session.close()
            del gl


CONNECTOR = GitLabConnector
