"""One collect() run: the worker pool, the tree of jobs, blind spots, paged reads and user look-ups.

Work is a tree of small blocking jobs (one endpoint each) run on a bounded thread pool: groups
spawn their descendants' and projects' jobs as pages arrive, runner lists spawn detail reads, so the
pool stays busy and no endpoint waits for an unrelated one. A job is a plain function
`job(scan, *args)` in the module of its kind; what runs in which order is `walk.py`.

An endpoint that fails becomes a blind spot naming what is needed (`NEEDS`); blind spots of the same
endpoint and reason are merged into one line ("GET /projects/:id/variables (a, b, c and 9 more)").
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import gitlab.exceptions as glexc
import requests

from connectors.base import AuthError, ConnectorError
from connectors.gitlab.client import API, MAX_RETRIES, BadResponse, Client, Stopped, enc, pages, scrub
from nhitui.model import Identity, make_uid, sanitize

if TYPE_CHECKING:
    from connectors.gitlab import GitLabConnector

log = logging.getLogger("nhitui.connectors.gitlab")

RESOURCE_BOT = re.compile(r"^(project|group)_\d+_bot(_[0-9a-f]+)?$")
DONE = object()

# What each endpoint needs, for blind-spot reasons.
NEEDS = {
    "project_tokens": "needs the Maintainer role on the project",
    "group_tokens": "needs the Owner role on the group",
    "maintainer_project": "needs the Maintainer role on the project",
    "maintainer_group": "needs the Maintainer role on the group",
    "owner_group": "needs the Owner role on the group",
    "admin": "needs an administrator token",
    "group": "the group does not exist or the token cannot see it",
    "member": "needs at least the Guest role on the group",
    "runner": "needs the Maintainer role on a project or group the runner serves (administrator for "
              "instance runners)",
    "user": "the user cannot be read",
    "inventory": "the credentials inventory is not open to this token",
    "service_accounts": "needs the Owner role on the top-level group, with Premium or Ultimate",
    "instance_service_accounts": "needs an administrator token, with Premium or Ultimate",
    "developer_project": "needs the Developer role on the project",
}


def identity(site: GitLabConnector, kind: str, native: Any, **fields: Any) -> Identity:
    """An Identity of this source (the model sanitises every text field)."""
    return Identity(uid=make_uid(site.name, kind, native), source=site.name, provider=site.provider,
                    kind=kind, **fields)


def labels(names: list[str]) -> str:
    uniq = sorted({sanitize(x) for x in names if x})
    if not uniq:
        return ""
    head = ", ".join(uniq[:3])
    return head + (f" and {len(uniq) - 3} more" if len(uniq) > 3 else "")


class Scan:
    """The state of one collect(): the client, the worker pool, what was claimed and what failed."""

    def __init__(self, conn: GitLabConnector, gl: Client, loop: asyncio.AbstractEventLoop,
                 queue: asyncio.Queue[Any], pool: ThreadPoolExecutor, stop: threading.Event) -> None:
        self.c = conn
        self.gl = gl
        self.loop = loop
        self.queue = queue
        self.pool = pool
        self.stop = stop
        self.lock = threading.Lock()
        self.loop_thread = threading.get_ident()
        self.outstanding = 0
        self.idle = asyncio.Event()
        self.error: BaseException | None = None
        self.me: dict[str, Any] = {}
        self.admin = False
        self.users: dict[Any, Future[tuple[str, bool]]] = {}
        self.groups: dict[Any, dict[str, Any]] = {}           # id -> group (configured and descendants)
        self.group_paths: dict[Any, str] = {}
        self.claimed: dict[str, set[Any]] = {}                # kind -> ids already listed
        self.spots: dict[tuple[str, str], list[str]] = {}
        self.service_accounts: dict[Any, dict[str, Any]] = {}   # user id -> {"username", "group" (or "")}
        self.members: set[str] = set()
        self.members_ok = True
        self.admin_denied = False
        self.ok_reads = 0
        self.after_walk: list[Callable[[], None]] = []

    # --- jobs ------------------------------------------------------------------------------------

    def emit(self, batch: list[Identity]) -> None:
        if not batch:
            return
        if threading.get_ident() == self.loop_thread:
            self.queue.put_nowait(batch)
        else:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, batch)

    def spawn(self, fn: Callable[..., Any], *args: Any) -> None:
        """Schedule `fn(self, *args)` on the pool (call from the event loop thread)."""
        if self.stop.is_set():
            return
        self.outstanding += 1
        fut = self.loop.run_in_executor(self.pool, self._guard, fn, *args)
        fut.add_done_callback(self._finished)

    def spawn_threadsafe(self, fn: Callable[..., Any], *args: Any) -> None:
        # Runs before the calling job's own completion reaches the loop (both are FIFO callbacks),
        # so `outstanding` never drops to zero while a job is still handing out work.
        self.loop.call_soon_threadsafe(self.spawn, fn, *args)

    def claim(self, kind: str, key: Any) -> bool:
        """True the first time `key` of `kind` is seen in this scan (lists overlap: list it once)."""
        with self.lock:
            seen = self.claimed.setdefault(kind, set())
            if key in seen:
                return False
            seen.add(key)
            return True

    def was_claimed(self, kind: str, key: Any) -> bool:
        with self.lock:
            return key in self.claimed.get(kind, ())

    def later(self, fn: Callable[[], None]) -> None:
        """Run `fn` once every job is done (to add what the project and group lists did not show)."""
        with self.lock:
            self.after_walk.append(fn)

    def _guard(self, fn: Callable[..., Any], *args: Any) -> None:
        try:
            fn(self, *args)
        except (AuthError, Stopped):
            raise
        except Exception as exc:  # noqa: BLE001 - one endpoint's bug must not end the scan
            log.debug("gitlab job %s failed: %s", getattr(fn, "__name__", fn), type(exc).__name__)
            self.spot(getattr(fn, "__name__", "job"), "", f"unexpected error: {type(exc).__name__}")

    def _finished(self, fut: asyncio.Future[Any]) -> None:
        self.outstanding -= 1
        exc = None if fut.cancelled() else fut.exception()
        if exc is not None and not isinstance(exc, Stopped) and self.error is None:
            self.error = exc
        if self.outstanding <= 0 or self.error is not None:
            self.idle.set()

    async def drain(self) -> None:
        """Wait until every job, and every job they spawned, is done (or one failed the source)."""
        while self.outstanding > 0 and self.error is None:
            self.idle.clear()
            await self.idle.wait()
        if self.error is not None:
            raise self.error

    # --- blind spots -----------------------------------------------------------------------------

    def spot(self, what: str, label: str, reason: str) -> None:
        with self.lock:
            self.spots.setdefault((what, reason), []).append(label)

    def flush_spots(self) -> None:
        with self.lock:
            spots = list(self.spots.items())
            self.spots.clear()
        for (what, reason), names in spots:
            shown = labels(names)
            self.c.report.blind_spot(f"{what} ({shown})" if shown else what, reason)

    def fail(self, what: str, label: str, need: str, exc: BaseException) -> None:
        """Turn an endpoint's error into a blind spot (or an AuthError for a 401)."""
        reason = self.reason(need, exc)
        log.debug("gitlab %s %s: %s", what, label, reason)
        self.spot(what, label, reason)

    def reason(self, need: str, exc: BaseException) -> str:
        """Why an endpoint could not be read, and what it needs (`NEEDS`); a 401 raises AuthError."""
        if isinstance(exc, Stopped):
            raise exc
        if isinstance(exc, glexc.GitlabAuthenticationError):
            raise AuthError("authentication failed: GitLab answered 401 (the token is wrong, expired or revoked)")
        if isinstance(exc, glexc.GitlabHttpError):
            code = exc.response_code
            message = str(exc.error_message or "")
            if code == 403 and "insufficient_scope" in message:
                reason = "403 insufficient_scope: the token needs the read_api (or api) scope"
            elif code == 403:
                reason = f"403 Forbidden: {NEEDS.get(need, need)}"
                if need == "admin":
                    self.admin_denied = True
            elif code == 404:
                reason = f"404 Not Found: {NEEDS.get(need, need)}" if need in ("group", "user") else \
                    f"404 Not Found: not visible to this token ({NEEDS.get(need, need)})"
            elif code == 429:
                reason = f"429 rate limited, still after {MAX_RETRIES} retries"
            elif code is not None and code >= 500:
                reason = f"5xx server errors, still after {MAX_RETRIES} retries"
            else:
                reason = f"{code} {sanitize(message)[:120]}"
        elif isinstance(exc, (BadResponse, ValueError, glexc.GitlabParsingError)):
            reason = f"unreadable answer: {sanitize(str(exc))[:120]}"
        elif isinstance(exc, requests.exceptions.SSLError):
            reason = "TLS certificate verification failed: set ca_bundle for a private CA"
        elif isinstance(exc, (requests.RequestException, glexc.GitlabError)):
            reason = f"network error after {MAX_RETRIES} retries: {type(exc).__name__}"
        else:
            raise exc
        return reason

    # --- reads -----------------------------------------------------------------------------------

    def read(self, what: str, label: str, need: str, path: str,
             params: Mapping[str, Any] | None = None) -> Iterator[list[dict[str, Any]]]:
        """Every page of a list, with errors turned into blind spots (the generator just ends)."""
        try:
            for page in pages(self.gl, path, params):
                with self.lock:
                    self.ok_reads += 1
                yield page
        except (AuthError, Stopped):
            raise
        except Exception as exc:  # noqa: BLE001 - classified by fail()
            self.fail(what, label, need, exc)

    def read_all(self, need: str, path: str, params: Mapping[str, Any] | None = None,
                 ) -> tuple[list[dict[str, Any]], str]:
        """Every item of a list, or what stopped the read: for callers that word their own blind spot."""
        items: list[dict[str, Any]] = []
        try:
            for page in pages(self.gl, path, params):
                with self.lock:
                    self.ok_reads += 1
                items += page
        except (AuthError, Stopped):
            raise
        except Exception as exc:  # noqa: BLE001 - classified by reason()
            return items, self.reason(need, exc)
        return items, ""

    def get(self, what: str, label: str, need: str, path: str, **params: Any) -> dict[str, Any] | None:
        try:
            data = self.gl.http_get(path, query_data=params or None)
        except (AuthError, Stopped):
            raise
        except Exception as exc:  # noqa: BLE001 - classified by fail()
            self.fail(what, label, need, exc)
            return None
        if not isinstance(data, dict):
            self.fail(what, label, need, BadResponse("expected a JSON object"))
            return None
        with self.lock:
            self.ok_reads += 1
        return scrub(data)

    def whoami(self) -> None:
        """`GET /user`: the first request; a bad token or an unreachable host fails the source here."""
        url = self.c.url
        try:
            me = self.gl.http_get("/user")
        except glexc.GitlabAuthenticationError as exc:
            raise AuthError("authentication failed: GitLab answered 401 to GET /user (the token is wrong, "
                            "expired or revoked)") from exc
        except glexc.GitlabHttpError as exc:
            raise ConnectorError(f"cannot read {url}{API}/user: HTTP {exc.response_code}") from exc
        except glexc.GitlabParsingError as exc:
            raise ConnectorError(f"cannot read {url}{API}/user: the answer is not JSON (empty or "
                                 "truncated)") from exc
        except BadResponse as exc:
            raise ConnectorError(f"cannot read {url}{API}/user: {exc}") from exc
        except requests.exceptions.SSLError as exc:
            raise ConnectorError(f"TLS certificate verification failed for {url}: set ca_bundle (or "
                                 "REQUESTS_CA_BUNDLE) for a private CA") from exc
        except (requests.RequestException, glexc.GitlabError) as exc:
            raise ConnectorError(f"cannot reach {url}: {type(exc).__name__}") from exc
        if not isinstance(me, dict):
            raise ConnectorError(f"{url}{API}/user did not answer a GitLab user")
        self.me = scrub(me)
        self.admin = me.get("is_admin") is True
        fut: Future[tuple[str, bool]] = Future()
        fut.set_result((str(me.get("username") or ""), False))
        self.users[me.get("id")] = fut

    def user(self, uid: Any) -> tuple[str, bool]:
        """(username, is a resource-token bot) of a user id, read once per scan."""
        if uid is None:
            return "", False
        with self.lock:
            fut = self.users.get(uid)
            mine = fut is None
            if fut is None:
                fut = self.users[uid] = Future()
        if not mine:
            return fut.result()
        result = ("", False)
        try:
            data = self.get("GET /users/:id", str(uid), "user", f"/users/{enc(uid)}")
            if data is not None:
                name = str(data.get("username") or "")
                result = (name, bool(RESOURCE_BOT.match(name)))
        finally:
            fut.set_result(result)
        return result
