"""GitLab (gitlab.com and self-managed) connector, on python-gitlab 8.6.

What it lists, for the configured `groups` (full paths; their subgroups and projects are included)
and, with `instance = true`, the instance-wide admin lists as well:

| kind | endpoints | native id |
|---|---|---|
| personal_access_token | `GET /personal_access_tokens` (admin + instance: every user's; else the token's own user) | token id |
| project_access_token | `GET /projects/:id/access_tokens` | token id |
| group_access_token | `GET /groups/:id/access_tokens` | token id |
| deploy_key | `GET /projects/:id/deploy_keys`; admin `GET /deploy_keys` for keys outside the groups | `project_id:key_id` (`instance:key_id` for a key no project uses) |
| deploy_token | `GET /projects/:id/deploy_tokens`, `GET /groups/:id/deploy_tokens`; admin `GET /deploy_tokens` | token id |
| runner | `GET /groups/:id/runners` (group and allowed instance runners), `GET /projects/:id/runners?type=project_type`, admin `GET /runners/all`, then `GET /runners/:id` for `contacted_at`, tags, locked, access level | runner id |
| ci_variable | `GET /projects/:id/variables`, `GET /groups/:id/variables`, admin `GET /admin/ci/variables` | `project:<id>:<key>:<environment_scope>`, `group:<id>:<key>:<scope>`, `instance:<key>` |
| trigger_token | `GET /projects/:id/triggers` | trigger id |

`report.facts["members"]` holds the usernames of the members of the configured groups
(`GET /groups/:id/members/all`), so the policy can flag owners who left.

Privilege mapping (the same for every kind):
- personal access token scopes: `sudo` or `admin_mode` -> admin; `api`, any `write_*`, `manage_*`,
  `create_*` and `k8s_proxy` -> write; any other scope (`read_*`, `openid`, `profile`...) -> read.
  `api` is write, not admin, because the holder's role in each project is unknown from the token.
- project/group access tokens hold a role (`access_level`) too: the privilege is the lower of what the
  scopes allow (`api` reaches admin, `write_*` write, `read_*` read) and what the role allows (Owner 50 /
  Maintainer 40 -> admin, Developer 30 -> write, Guest 10 / Planner 15 / Reporter 20 -> read). So an
  `api` Maintainer token is admin, a `read_api` Owner token is read.
- deploy key: `can_push` -> write, else read; deploy token: any `write_*` scope -> write, else read;
  trigger token -> write (it starts pipelines); runners and CI variables -> none (they hold no API scope).

Secrets are never kept: every decoded page is scrubbed of `value` (CI variables), `token` (triggers,
old runner details), `runners_token` and `registration_token` before anything else reads it, and
lists go through `http_request` + our paginator, which yield plain dicts (python-gitlab objects would
keep every attribute). A rotated token's new value travels only in `ActionResult.secret`.

Retries and rate limits: python-gitlab's own retry (`obey_rate_limit`, `max_retries`,
`retry_transient_errors`) parses `Retry-After` with `int()` (a fractional value or an HTTP date
raises) and sleeps for whatever the server says, so it is switched off per request and a
`requests.Session` subclass does it instead: at most `MAX_RETRIES` retries on 429 / 5xx / connection
errors / truncated JSON, waiting `Retry-After` (seconds or HTTP date), else `RateLimit-ResetTime` /
`RateLimit-Reset`, else exponential backoff with jitter, each wait capped at `MAX_SLEEP` and all of
one request's waits at `MAX_WAIT`. A POST
(rotate) is retried only on 429: repeating a rotation that did happen would revoke the new token.
When `RateLimit-Remaining` falls near zero every worker waits for `RateLimit-Reset` (capped).
The same session counts every request and retry on the report.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import gitlab
import gitlab.exceptions as glexc
import requests
from requests.adapters import HTTPAdapter

from connectors.base import AuthError, ConnectorError, Report, setting
from nhitui.model import Action, ActionResult, Identity, make_uid, sanitize, utc

log = logging.getLogger("nhitui.connectors.gitlab")

API = "/api/v4"
PER_PAGE = 100
MAX_RETRIES = 5
MAX_SLEEP = 60.0          # longest single wait (Retry-After, rate-limit reset, backoff)
MAX_WAIT = 120.0          # longest total wait for one request across its retries
MAX_PAGES = 10_000
MAX_BODY = 50 * 1024 * 1024   # a bigger answer is an error, not memory exhaustion
RETRY_STATUS = {429, 500, 502, 503, 504, 520, 521, 522, 523, 524}
SECRET_KEYS = ("value", "token", "runners_token", "registration_token", "secret", "private_token")
TOKEN_KINDS = ("personal_access_token", "project_access_token", "group_access_token")
RESOURCE_BOT = re.compile(r"^(project|group)_\d+_bot(_[0-9a-f]+)?$")
ORDER = ("none", "read", "write", "admin")
ROLES = {50: "owner", 40: "maintainer", 30: "developer", 20: "reporter", 15: "planner", 10: "guest", 5: "minimal"}
_DONE = object()

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
}


# ----------------------------------------------------------------------------------- privileges

def scope_privilege(scopes: Any) -> str:
    """Privilege of a personal access token's scopes (see the module docstring)."""
    best = "none"
    for raw in scopes or ():
        s = str(raw).lower()
        if s in ("sudo", "admin_mode"):
            p = "admin"
        elif s == "api" or s.startswith(("write_", "manage_", "create_")) or s == "k8s_proxy":
            p = "write"
        elif s == "self_rotate":
            p = "none"
        else:
            p = "read"
        if ORDER.index(p) > ORDER.index(best):
            best = p
    return best


def role_privilege(level: Any) -> str | None:
    try:
        n = int(level)
    except (TypeError, ValueError):
        return None
    if n >= 40:
        return "admin"
    if n >= 30:
        return "write"
    if n >= 10:
        return "read"
    return "none"


def resource_privilege(scopes: Any, level: Any) -> str:
    """Project/group access token: the lower of the scopes' ceiling and the role's."""
    names = {str(s).lower() for s in scopes or ()}
    ceiling = "admin" if "api" in names else scope_privilege(names)
    role = role_privilege(level)
    if role is None:
        return ceiling
    return min(ceiling, role, key=ORDER.index)


# ----------------------------------------------------------------------------------- HTTP

class _Stopped(Exception):
    """The scan was cancelled: workers stop at their next request."""


class _BadResponse(Exception):
    """A page that is not what GitLab documents (not JSON, not a list, a pagination loop)."""


class _TooLarge(_BadResponse):
    """The server sent more than MAX_BODY bytes: reading stopped there."""


def _scrub(obj: Any) -> Any:
    """Drop secret values from a decoded GitLab object, in place, before anything reads it."""
    if isinstance(obj, dict):
        for key in SECRET_KEYS:
            obj.pop(key, None)
    return obj


def _retry_after(value: str | None) -> float | None:
    """Retry-After as seconds: a number (fractions allowed) or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def _reset_epoch(headers: Mapping[str, str]) -> float | None:
    """When the rate-limit window resets, as epoch seconds (RateLimit-Reset is absolute on GitLab)."""
    reset = headers.get("RateLimit-Reset")
    if reset:
        try:
            value = float(reset)
            return value if value > 1e9 else time.time() + value
        except ValueError:
            pass
    reset_time = headers.get("RateLimit-ResetTime")
    if reset_time:
        seconds = _retry_after(reset_time)
        if seconds is not None:
            return time.time() + seconds
    return None


class _Session(requests.Session):
    """requests.Session with bounded retries, rate-limit pacing and request counting."""

    def __init__(self, report: Report, stop: threading.Event, pool: int, concurrency: int) -> None:
        super().__init__()
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool)
        self.mount("https://", adapter)
        self.mount("http://", adapter)
        self.report = report
        self.stop = stop
        self.concurrency = concurrency
        self.last_status: int | None = None
        self._lock = threading.Lock()
        self._not_before = 0.0
        self._env: dict[Any, Any] = {}

    def merge_environment_settings(self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any) -> Any:
        # requests re-reads the proxy and CA variables from os.environ on every request; a scan talks
        # to one host, so the answer is computed once per (host, settings) and reused.
        parts = urlsplit(url.decode() if isinstance(url, bytes) else str(url))
        key = (parts.scheme, parts.netloc, stream, verify, cert, tuple(sorted((proxies or {}).items())))
        cached = self._env.get(key)
        if cached is None:
            cached = self._env[key] = super().merge_environment_settings(url, proxies, stream, verify, cert)
        return {k: (dict(v) if isinstance(v, dict) else v) for k, v in cached.items()}

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        verb = (method.decode() if isinstance(method, bytes) else method).upper()
        attempt = 0
        waited = 0.0
        while True:
            self._pace()
            if self.stop.is_set():
                raise _Stopped()
            self.report.count_request()
            try:
                resp = super().request(method, url, *args, **{**kwargs, "stream": True})
                if not kwargs.get("stream"):
                    self._read_bounded(resp, verb, url)
            except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
                    requests.exceptions.ContentDecodingError) as exc:
                if isinstance(exc, requests.exceptions.SSLError):
                    raise           # a certificate does not become trusted by asking again
                delay = self._backoff(attempt)
                if verb == "POST" or attempt >= MAX_RETRIES or waited + delay > MAX_WAIT:
                    raise
                log.debug("%s %s: %s, retrying", verb, _path_of(url), type(exc).__name__)
            else:
                self.last_status = resp.status_code
                self._note(resp)
                if attempt >= MAX_RETRIES or not self._retryable(verb, resp):
                    return resp
                delay = self._delay(resp, attempt)
                if waited + delay > MAX_WAIT:
                    return resp
                log.debug("%s %s: %s, retrying", verb, _path_of(url), resp.status_code)
                resp.close()
            attempt += 1
            waited += delay
            self.report.count_retry()
            if self.stop.wait(delay):
                raise _Stopped()

    @staticmethod
    def _read_bounded(resp: requests.Response, verb: str, url: Any) -> None:
        """Read the body as requests would, but stop (and fail) past MAX_BODY bytes."""
        declared = resp.headers.get("Content-Length", "")
        buf = bytearray()
        if not (declared.isdigit() and int(declared) > MAX_BODY):
            for chunk in resp.iter_content(65536):
                buf += chunk
                if len(buf) > MAX_BODY:
                    break
            else:
                resp._content = bytes(buf)
                return
        resp.close()
        raise _TooLarge(f"{verb} {_path_of(url)}: the response exceeds the {MAX_BODY} byte bound; stopped reading")

    @staticmethod
    def _retryable(verb: str, resp: requests.Response) -> bool:
        code = resp.status_code
        if code == 429:
            return True
        if code in RETRY_STATUS:
            return verb != "POST"
        if code == 200 and verb == "GET":
            body = resp.content
            if not body:
                return True         # an empty 200 where GitLab always sends JSON: ask again
            ctype = resp.headers.get("Content-Type", "")
            if "json" in ctype or body[:1] in (b"[", b"{"):
                try:
                    resp._nhitui_json = json.loads(body)    # type: ignore[attr-defined] - reused by pages()
                except ValueError:
                    return True     # truncated or garbled: ask again
        return False

    @staticmethod
    def _backoff(attempt: int) -> float:
        return min(0.25 * 2 ** attempt, 8.0) * (0.5 + random.random() / 2)  # noqa: S311 - jitter

    def _delay(self, resp: requests.Response, attempt: int) -> float:
        wait = _retry_after(resp.headers.get("Retry-After"))
        if wait is None and resp.status_code == 429:
            reset = _reset_epoch(resp.headers)
            if reset is not None:
                wait = reset - time.time()
        if wait is None:
            wait = self._backoff(attempt)
        return min(max(wait, 0.0), MAX_SLEEP)

    def _note(self, resp: requests.Response) -> None:
        headers = resp.headers
        remaining = headers.get("RateLimit-Remaining")
        if remaining is None:
            return
        limit = headers.get("RateLimit-Limit")
        self.report.rate_limit(remaining, limit)
        try:
            left = int(remaining)
            cap = int(limit) if limit else 0
        except ValueError:
            return
        low = max(1, min(self.concurrency, cap // 10 if cap else self.concurrency))
        if left <= low:
            reset = _reset_epoch(headers)
            if reset is not None:
                with self._lock:
                    self._not_before = max(self._not_before, min(reset, time.time() + MAX_SLEEP))

    def _pace(self) -> None:
        with self._lock:
            wait = self._not_before - time.time()
        if wait > 0:
            self.stop.wait(min(wait, MAX_SLEEP))


class _Gitlab(gitlab.Gitlab):
    """python-gitlab with its own retry loop switched off: `_Session` retries, with bounded waits."""

    def http_request(self, verb: str, path: str, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs["obey_rate_limit"] = False
        kwargs["retry_transient_errors"] = False
        kwargs["max_retries"] = 0
        return super().http_request(verb, path, *args, **kwargs)


def _path_of(url: Any) -> str:
    text = url.decode() if isinstance(url, bytes) else str(url)
    path = urlsplit(text).path
    i = path.find(API)
    return path[i + len(API):] if i >= 0 else path


def _enc(value: Any) -> str:
    return quote(str(value), safe="")


def _labels(labels: list[str]) -> str:
    uniq = sorted({sanitize(x) for x in labels if x})
    if not uniq:
        return ""
    head = ", ".join(uniq[:3])
    return head + (f" and {len(uniq) - 3} more" if len(uniq) > 3 else "")


# ----------------------------------------------------------------------------------- connector

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
        self.report = Report(self.name, self.provider)

    # --- clients ---------------------------------------------------------------------------------

    def _verify(self) -> bool | str:
        if self.ca_bundle:
            return os.path.expanduser(str(self.ca_bundle))
        if not (os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")) and \
                os.environ.get("SSL_CERT_FILE"):
            return os.environ["SSL_CERT_FILE"]
        return True     # requests also honours REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE

    def _gitlab(self, token: str, stop: threading.Event, pool: int) -> _Gitlab:
        session = _Session(self.report, stop, pool=pool, concurrency=self.concurrency)
        return _Gitlab(self.url, private_token=token, timeout=self.timeout, ssl_verify=self._verify(),
                       session=session, per_page=PER_PAGE, keep_base_url=True,
                       user_agent=f"nhitui (python-gitlab {gitlab.__version__})")

    # --- collect ---------------------------------------------------------------------------------

    async def collect(self) -> Any:
        self.report = Report(self.name, self.provider)      # a fresh account of this scan
        token = self._resolve(str(self.settings.get("token") or ""))
        if not token:
            raise AuthError("authentication failed: the GitLab token is empty")
        loop = asyncio.get_running_loop()
        stop = threading.Event()
        gl = self._gitlab(token, stop, pool=self.concurrency + 4)
        del token
        queue: asyncio.Queue[Any] = asyncio.Queue()
        pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix=f"gitlab-{self.name}")
        scan = _Scan(self, gl, loop, queue, pool, stop)
        task = loop.create_task(scan.run())
        try:
            while True:
                item = await queue.get()
                if item is _DONE:
                    break
                batch = list(item)
                done = False
                while not queue.empty():          # coalesce what is already waiting
                    more = queue.get_nowait()
                    if more is _DONE:
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

    # --- parsing (shared by collect and execute) ------------------------------------------------

    def _identity(self, kind: str, native: Any, **fields: Any) -> Identity:
        return Identity(uid=make_uid(self.name, kind, native), source=self.name, provider=self.provider,
                        kind=kind, **fields)

    def parse_token(self, kind: str, d: Mapping[str, Any], owner: str, target: str = "",
                    scope_id: Any = None, web_url: str = "") -> Identity:
        now = datetime.now(timezone.utc)
        scopes = tuple(str(s) for s in d.get("scopes") or ())
        created, expires, used = utc(d.get("created_at")), utc(d.get("expires_at")), utc(d.get("last_used_at"))
        if d.get("revoked"):
            status = "revoked"
        elif (expires is not None and expires <= now) or d.get("active") is False:
            status = "expired"
        else:
            status = "active"
        actions: tuple[str, ...] = ("revoke", "rotate") if status == "active" else \
            ("revoke",) if status == "expired" else ()
        details: dict[str, Any] = {"token_id": d.get("id"), "user_id": d.get("user_id"),
                                   "description": sanitize(d.get("description") or "")}
        if kind == "personal_access_token":
            privilege = scope_privilege(scopes)
            url = f"{self.url}/-/user_settings/personal_access_tokens"
        else:
            level = d.get("access_level")
            privilege = resource_privilege(scopes, level)
            details["access_level"] = level
            details["role"] = ROLES.get(level, str(level)) if level is not None else ""
            key = "project" if kind == "project_access_token" else "group"
            details[f"{key}_id"] = scope_id
            details[key] = target
            url = f"{(web_url or f'{self.url}/{target}').rstrip('/')}/-/settings/access_tokens"
        return self._identity(kind, d.get("id"), name=str(d.get("name") or f"token {d.get('id')}"),
                              owner=owner, target=target, scopes=scopes, privilege=privilege,
                              created_at=created, expires_at=expires, last_used_at=used, status=status,
                              credential="static", actions=actions, url=url, usage_tracked=True,
                              details=details)

    def parse_deploy_key(self, d: Mapping[str, Any], project_id: Any, project: str, can_push: bool,
                         web_url: str = "") -> Identity:
        now = datetime.now(timezone.utc)
        expires = utc(d.get("expires_at"))
        kid = d.get("id")
        orphan = project_id is None
        details = {"key_id": kid, "project_id": project_id, "project": project, "can_push": can_push,
                   "fingerprint": sanitize(d.get("fingerprint_sha256") or d.get("fingerprint") or ""),
                   "usage_type": sanitize(d.get("usage_type") or "")}
        if orphan:
            # GitLab's API cannot delete a key no project uses (only Admin > Deploy keys can): no action.
            privilege, scopes, url = "none", (), f"{self.url}/admin/deploy_keys"
        else:
            privilege = "write" if can_push else "read"
            scopes = ("write_repository",) if can_push else ("read_repository",)
            url = f"{(web_url or f'{self.url}/{project}').rstrip('/')}/-/settings/repository#js-deploy-keys-settings"
        return self._identity("deploy_key", f"instance:{kid}" if orphan else f"{project_id}:{kid}",
                              name=str(d.get("title") or f"key {kid}"), owner="",
                              target="instance" if orphan else project, scopes=scopes, privilege=privilege,
                              created_at=utc(d.get("created_at")), expires_at=expires, last_used_at=None,
                              status="expired" if expires is not None and expires <= now else "active",
                              credential="static", actions=() if orphan else ("delete",), url=url,
                              usage_tracked=False,
                              details=details)

    def parse_deploy_token(self, d: Mapping[str, Any], scope: str, scope_id: Any, target: str,
                           web_url: str = "") -> Identity:
        now = datetime.now(timezone.utc)
        scopes = tuple(str(s) for s in d.get("scopes") or ())
        expires = utc(d.get("expires_at"))
        if d.get("revoked"):
            status = "revoked"
        elif d.get("expired") or (expires is not None and expires <= now):
            status = "expired"
        else:
            status = "active"
        privilege = "write" if any(s.startswith("write_") for s in scopes) else "read" if scopes else "none"
        attributed = scope in ("project", "group")
        details = {"token_id": d.get("id"), "username": sanitize(d.get("username") or ""), "scope": scope,
                   f"{scope}_id": scope_id, "expired": bool(d.get("expired"))}
        base = (web_url or (f"{self.url}/groups/{target}" if scope == "group" else f"{self.url}/{target}")).rstrip("/")
        url = f"{base}/-/settings/repository#js-deploy-tokens" if attributed else ""
        return self._identity("deploy_token", d.get("id"), name=str(d.get("name") or f"deploy token {d.get('id')}"),
                              owner="", target=target, scopes=scopes, privilege=privilege, created_at=None,
                              expires_at=expires, last_used_at=None, status=status, credential="static",
                              actions=("revoke",) if attributed and status != "revoked" else (), url=url,
                              usage_tracked=False, details=details)

    def parse_runner(self, d: Mapping[str, Any], group_paths: Mapping[Any, str] | None = None,
                     fallback_target: str = "", detailed: bool = True) -> Identity:
        rid = d.get("id")
        rtype = str(d.get("runner_type") or ("instance_type" if d.get("is_shared") else ""))
        paused = bool(d["paused"]) if d.get("paused") is not None else d.get("active") is False
        gitlab_status = str(d.get("status") or "")
        if paused:
            status = "inactive"
        elif gitlab_status == "online" or (not gitlab_status and d.get("online")):
            status = "active"
        else:
            status = "offline"
        projects = [p for p in d.get("projects") or () if isinstance(p, dict)]
        groups = [g for g in d.get("groups") or () if isinstance(g, dict)]
        group_paths = group_paths or {}
        group_names = []
        for g in groups:
            path = group_paths.get(g.get("id"))
            if not path and g.get("web_url"):
                path = urlsplit(str(g["web_url"])).path.strip("/").removeprefix("groups/")
            group_names.append(path or str(g.get("name") or g.get("id")))
        project_names = [str(p.get("path_with_namespace") or p.get("name") or p.get("id")) for p in projects]
        if rtype == "instance_type":
            target = "instance"
            url = f"{self.url}/admin/runners/{rid}"
        elif rtype == "group_type":
            target = group_names[0] if group_names else fallback_target
            url = f"{self.url}/groups/{target}/-/runners/{rid}" if target else ""
        else:
            target = project_names[0] if project_names else fallback_target
            url = f"{self.url}/{target}/-/runners/{rid}" if target else ""
        creator = d.get("created_by") if isinstance(d.get("created_by"), dict) else {}
        raw_tags = d.get("tag_list") or ()
        tags = tuple(sanitize(t) for t in ([raw_tags] if isinstance(raw_tags, str) else raw_tags))
        details = {"runner_id": rid, "runner_type": rtype, "gitlab_status": gitlab_status, "paused": paused,
                   "tags": tags, "locked": d.get("locked"), "access_level": d.get("access_level"),
                   "run_untagged": d.get("run_untagged"), "version": sanitize(d.get("version") or ""),
                   "platform": sanitize(d.get("platform") or ""), "projects": tuple(project_names),
                   "repos": tuple(project_names), "groups": tuple(group_names), "is_shared": d.get("is_shared")}
        name = d.get("description") or d.get("name") or f"runner {rid}"
        return self._identity("runner", rid, name=str(name), owner=str(creator.get("username") or ""),
                              target=target, scopes=(), privilege="none", created_at=utc(d.get("created_at")),
                              expires_at=None, last_used_at=utc(d.get("contacted_at")), status=status,
                              credential="static",
                              actions=("unpause", "delete") if paused else ("pause", "delete"), url=url,
                              usage_tracked=detailed, details=details)

    def parse_variable(self, d: Mapping[str, Any], scope: str, scope_id: Any, target: str,
                       web_url: str = "") -> Identity:
        if "value" in d:        # never kept, even by accident
            d = {k: v for k, v in d.items() if k != "value"}
        key = str(d.get("key") or "")
        env = str(d.get("environment_scope") or "*")
        native = f"instance:{key}" if scope == "instance" else f"{scope}:{scope_id}:{key}:{env}"
        details = {"scope": scope, f"{scope}_id": scope_id, "key": key, "environment_scope": env,
                   "masked": bool(d.get("masked")), "protected": bool(d.get("protected")),
                   "hidden": bool(d.get("hidden")), "raw": bool(d.get("raw")),
                   "variable_type": sanitize(d.get("variable_type") or "env_var"),
                   "description": sanitize(d.get("description") or ""), "secret_name": key}
        if scope == "instance":
            url = f"{self.url}/admin/application_settings/ci_cd#js-ci-cd-variables"
        else:
            base = (web_url or (f"{self.url}/groups/{target}" if scope == "group" else f"{self.url}/{target}"))
            url = f"{base.rstrip('/')}/-/settings/ci_cd#js-cicd-variables-settings"
        return self._identity("ci_variable", native, name=key, owner="", target=target, scopes=(),
                              privilege="none", created_at=None, expires_at=None, last_used_at=None,
                              status="active", credential="static", actions=("delete",), url=url,
                              usage_tracked=False, details=details)

    def parse_trigger(self, d: Mapping[str, Any], project_id: Any, project: str, web_url: str = "") -> Identity:
        now = datetime.now(timezone.utc)
        owner = d.get("owner") if isinstance(d.get("owner"), dict) else {}
        expires = utc(d.get("expires_at"))
        status = "expired" if expires is not None and expires <= now else "active"
        details = {"trigger_id": d.get("id"), "project_id": project_id, "project": project,
                   "owner_id": owner.get("id"), "updated_at": d.get("updated_at")}
        base = (web_url or f"{self.url}/{project}").rstrip("/")
        return self._identity("trigger_token", d.get("id"), name=str(d.get("description") or f"trigger {d.get('id')}"),
                              owner=str(owner.get("username") or ""), target=project, scopes=(), privilege="write",
                              created_at=utc(d.get("created_at")), expires_at=expires,
                              last_used_at=utc(d.get("last_used")), status=status, credential="static",
                              actions=("delete",), url=f"{base}/-/settings/ci_cd#js-pipeline-triggers",
                              usage_tracked=True, details=details)

    # --- actions ---------------------------------------------------------------------------------

    def actions(self, identity: Identity) -> list[Action]:
        out: list[Action] = []
        for name in identity.actions:
            call = self._call(identity, name)
            if call is None:
                continue
            out.append(Action(name=name, reversible=self._reversible(identity, name),
                              description=self._describe(identity, name), call=call,
                              undo={"pause": "unpause", "unpause": "pause"}.get(name, "")))
        order = {"yes": 0, "holder": 1, "no": 2}
        return sorted(out, key=lambda a: order.get(a.reversible, 3))

    @staticmethod
    def _reversible(identity: Identity, action: str) -> str:
        return "yes" if action in ("pause", "unpause") else "no"

    @staticmethod
    def _token_path(identity: Identity) -> str | None:
        d = identity.details
        tid = d.get("token_id")
        if tid is None:
            return None
        if identity.kind == "personal_access_token":
            return f"/personal_access_tokens/{tid}"
        if identity.kind == "project_access_token" and d.get("project_id") is not None:
            return f"/projects/{d['project_id']}/access_tokens/{tid}"
        if identity.kind == "group_access_token" and d.get("group_id") is not None:
            return f"/groups/{d['group_id']}/access_tokens/{tid}"
        return None

    def _call(self, identity: Identity, action: str) -> str | None:
        d, kind = identity.details, identity.kind
        path: str | None = None
        verb = "DELETE"
        if kind in TOKEN_KINDS:
            path = self._token_path(identity)
            if path and action == "rotate":
                verb, path = "POST", path + "/rotate"
            elif action != "revoke":
                path = None
        elif kind == "deploy_key" and action == "delete":
            path = None if d.get("project_id") is None else \
                f"/projects/{d['project_id']}/deploy_keys/{d.get('key_id')}"
        elif kind == "deploy_token" and action == "revoke" and d.get("scope") in ("project", "group"):
            sid = d.get(f"{d['scope']}_id")
            path = f"/{d['scope']}s/{sid}/deploy_tokens/{d.get('token_id')}"
        elif kind == "runner":
            rid = d.get("runner_id")
            if action == "delete":
                path = f"/runners/{rid}"
            elif action in ("pause", "unpause"):
                verb, path = "PUT", f"/runners/{rid}"
                return f"{verb} {API}{path} paused={'true' if action == 'pause' else 'false'}"
        elif kind == "ci_variable" and action == "delete":
            key = _enc(d.get("key"))
            if d.get("scope") == "instance":
                path = f"/admin/ci/variables/{key}"
            else:
                sid = d.get(f"{d.get('scope')}_id")
                path = f"/{d.get('scope')}s/{sid}/variables/{key}?filter[environment_scope]=" \
                       f"{_enc(d.get('environment_scope') or '*')}"
        elif kind == "trigger_token" and action == "delete":
            path = f"/projects/{d.get('project_id')}/triggers/{d.get('trigger_id')}"
        return f"{verb} {API}{path}" if path else None

    @staticmethod
    def _describe(identity: Identity, action: str) -> str:
        kind = identity.kind
        if action == "revoke" and kind in TOKEN_KINDS:
            return "Revoke the token: every client using it fails at once. GitLab keeps it listed as revoked; " \
                   "it cannot be restored, only replaced."
        if action == "rotate":
            return "Revoke the token and issue a replacement with the same name and scopes (GitLab's default " \
                   "expiry: one week). The new value is shown once; the old one stops working."
        if kind == "deploy_key":
            if identity.details.get("project_id") is None:
                return "Delete the deploy key from the instance (no project uses it)."
            return f"Remove the deploy key from {identity.target}. GitLab deletes the key once no project uses " \
                   "it; while another project still has it, it can be re-enabled here."
        if kind == "deploy_token":
            return "Revoke the deploy token; it cannot be restored."
        if action == "pause":
            return "Pause the runner: it takes no new jobs until it is unpaused (reversible)."
        if action == "unpause":
            return "Unpause the runner: it takes jobs again."
        if kind == "runner":
            return "Delete the runner; it must be registered again to come back. A non-administrator " \
                   "cannot delete a runner that serves more than one project."
        if kind == "ci_variable":
            return "Delete the CI/CD variable (its value is lost; pipelines that read it fail)."
        if kind == "trigger_token":
            return "Delete the pipeline trigger token; callers using it get 404."
        return action

    async def execute(self, identity: Identity, action: str) -> ActionResult:
        if action not in identity.actions:
            return ActionResult(state="failed", message=f"action {action!r} is not available for this identity")
        ref = self.settings.get("revoke_token") or self.settings.get("token") or ""
        token = self._resolve(str(ref))
        gl = self._gitlab(token, threading.Event(), pool=2)
        del token
        try:
            return await asyncio.to_thread(self._execute, gl, identity, action)
        finally:
            gl.session.close()
            del gl

    def _execute(self, gl: _Gitlab, identity: Identity, action: str) -> ActionResult:
        session: _Session = gl.session  # type: ignore[assignment]
        d, kind = identity.details, identity.kind
        try:
            if kind in TOKEN_KINDS:
                return self._token_action(gl, session, identity, action)
            if kind == "deploy_key":     # a key no project uses has no delete in GitLab's API: never here
                gl.projects.get(d["project_id"], lazy=True).keys.delete(d["key_id"])
                return ActionResult("ok", session.last_status, "deploy key removed", removed=True)
            if kind == "deploy_token":
                parent = gl.projects if d["scope"] == "project" else gl.groups
                parent.get(d[f"{d['scope']}_id"], lazy=True).deploytokens.delete(d["token_id"])
                return ActionResult("ok", session.last_status, "deploy token revoked", removed=True)
            if kind == "runner":
                rid = d["runner_id"]
                if action == "delete":
                    gl.runners.delete(rid)
                    return ActionResult("ok", session.last_status, "runner deleted", removed=True)
                gl.runners.update(rid, {"paused": action == "pause"})
                code = session.last_status
                done = f"runner {'paused' if action == 'pause' else 'unpaused'}"
                try:
                    fresh = _scrub(gl.http_get(f"/runners/{_enc(rid)}"))
                except (glexc.GitlabError, requests.RequestException):
                    return ActionResult("ok", code, done + " (re-reading it failed: rescan to see it)")
                return ActionResult("ok", code, done, identity=self.parse_runner(fresh, fallback_target=identity.target))
            if kind == "ci_variable":
                key = d["key"]
                if d["scope"] == "instance":
                    gl.variables.delete(key)
                else:
                    parent = gl.projects if d["scope"] == "project" else gl.groups
                    parent.get(d[f"{d['scope']}_id"], lazy=True).variables.delete(
                        key, filter={"environment_scope": d.get("environment_scope") or "*"})
                return ActionResult("ok", session.last_status, "variable deleted", removed=True)
            if kind == "trigger_token":
                gl.projects.get(d["project_id"], lazy=True).triggers.delete(d["trigger_id"])
                return ActionResult("ok", session.last_status, "trigger token deleted", removed=True)
        except glexc.GitlabAuthenticationError:
            return ActionResult("failed", 401, "authentication failed: GitLab refused the token")
        except glexc.GitlabError as exc:
            code = exc.response_code
            if code == 404:
                return ActionResult("already-absent", 404, "not found at GitLab (already gone)", removed=True)
            return ActionResult("failed", code, sanitize(str(exc.error_message or "request failed"))[:300])
        except (requests.RequestException, _Stopped) as exc:
            return ActionResult("failed", None, f"network error: {type(exc).__name__}")
        return ActionResult("failed", message=f"unsupported action {action!r} for {kind}")

    def _rotation_refused(self, gl: _Gitlab, identity: Identity) -> str:
        """Why not to rotate, read fresh: GitLab answers the rotation of an already revoked token by
        revoking its whole family (every token rotated from it), so the state seen at scan time,
        possibly minutes old, is not enough."""
        path = self._token_path(identity)
        if not path:
            return ""
        try:
            data = _scrub(gl.http_get(path))
        except glexc.GitlabHttpError as exc:
            if exc.response_code == 404:
                return "not rotated: the token no longer exists (rescan to see it)"
            return f"not rotated: its current state could not be read (HTTP {exc.response_code})"
        except (glexc.GitlabError, requests.RequestException) as exc:
            return f"not rotated: its current state could not be read ({type(exc).__name__})"
        if not isinstance(data, dict) or data.get("revoked") or data.get("active") is False:
            return ("not rotated: the token is already revoked or inactive, and rotating a revoked token "
                    "revokes every token rotated from it")
        return ""

    def _token_action(self, gl: _Gitlab, session: _Session, identity: Identity, action: str) -> ActionResult:
        d, kind = identity.details, identity.kind
        tid = d["token_id"]
        if kind == "personal_access_token":
            manager: Any = gl.personal_access_tokens
            scope_id = None
        elif kind == "project_access_token":
            scope_id = d["project_id"]
            manager = gl.projects.get(scope_id, lazy=True).access_tokens
        else:
            scope_id = d["group_id"]
            manager = gl.groups.get(scope_id, lazy=True).access_tokens
        if action == "rotate":
            refused = self._rotation_refused(gl, identity)
            if refused:
                return ActionResult("failed", message=refused)
            data = manager.rotate(tid)
            secret = data.pop("token", None)
            code = session.last_status
            _scrub(data)
            fresh = self.parse_token(kind, data, identity.owner, identity.target, scope_id)
            del data
            return ActionResult("ok", code, f"rotated: token {tid} is revoked, its replacement is token "
                                            f"{fresh.details.get('token_id')}", identity=fresh, secret=secret)
        if action != "revoke":
            return ActionResult("failed", message=f"unsupported action {action!r} for {kind}")
        manager.delete(tid)
        code = session.last_status
        path = self._token_path(identity)
        try:
            data = _scrub(gl.http_get(path)) if path else None
        except glexc.GitlabHttpError as exc:
            if exc.response_code == 404:
                return ActionResult("ok", code, "token revoked", removed=True)
            return ActionResult("ok", code, "token revoked (re-reading it failed: rescan to see it)")
        except (glexc.GitlabError, requests.RequestException):
            return ActionResult("ok", code, "token revoked (re-reading it failed: rescan to see it)")
        if not isinstance(data, dict):
            return ActionResult("ok", code, "token revoked", removed=True)
        fresh = self.parse_token(kind, data, identity.owner, identity.target, scope_id)
        return ActionResult("ok", code, "token revoked", identity=fresh)


# ----------------------------------------------------------------------------------- one scan

class _Scan:
    """The state of one collect(): the client, the worker pool, what was claimed and what failed.

    Work is a tree of small blocking jobs (one endpoint each) run on a bounded thread pool: groups
    spawn their descendants' and projects' jobs as pages arrive, runner lists spawn detail reads, so
    the pool stays busy and no endpoint waits for an unrelated one.
    """

    def __init__(self, conn: GitLabConnector, gl: _Gitlab, loop: asyncio.AbstractEventLoop,
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
        self.projects: set[Any] = set()
        self.runners: set[Any] = set()
        self.deploy_tokens: set[Any] = set()
        self.spots: dict[tuple[str, str], list[str]] = {}
        self.members: set[str] = set()
        self.members_ok = True
        self.admin_denied = False
        self.ok_reads = 0
        self.instance_keys: list[dict[str, Any]] = []
        self.instance_tokens: list[dict[str, Any]] = []

    # --- plumbing --------------------------------------------------------------------------------

    def emit(self, batch: list[Identity]) -> None:
        if not batch:
            return
        if threading.get_ident() == self.loop_thread:
            self.queue.put_nowait(batch)
        else:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, batch)

    def spawn(self, fn: Callable[..., Any], *args: Any) -> None:
        """Schedule a blocking job on the pool (call from the event loop thread)."""
        if self.stop.is_set():
            return
        self.outstanding += 1
        fut = self.loop.run_in_executor(self.pool, self._guard, fn, *args)
        fut.add_done_callback(self._finished)

    def spawn_threadsafe(self, fn: Callable[..., Any], *args: Any) -> None:
        # Runs before the calling job's own completion reaches the loop (both are FIFO callbacks),
        # so `outstanding` never drops to zero while a job is still handing out work.
        self.loop.call_soon_threadsafe(self.spawn, fn, *args)

    def _guard(self, fn: Callable[..., Any], *args: Any) -> None:
        try:
            fn(*args)
        except (AuthError, _Stopped):
            raise
        except Exception as exc:  # noqa: BLE001 - one endpoint's bug must not end the scan
            log.debug("gitlab job %s failed: %s", getattr(fn, "__name__", fn), type(exc).__name__)
            self.spot(getattr(fn, "__name__", "job"), "", f"unexpected error: {type(exc).__name__}")

    def _finished(self, fut: asyncio.Future[Any]) -> None:
        self.outstanding -= 1
        exc = None if fut.cancelled() else fut.exception()
        if exc is not None and not isinstance(exc, _Stopped) and self.error is None:
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

    def spot(self, what: str, label: str, reason: str) -> None:
        with self.lock:
            self.spots.setdefault((what, reason), []).append(label)

    def flush_spots(self) -> None:
        with self.lock:
            spots = list(self.spots.items())
            self.spots.clear()
        for (what, reason), labels in spots:
            shown = _labels(labels)
            self.c.report.blind_spot(f"{what} ({shown})" if shown else what, reason)

    def fail(self, what: str, label: str, need: str, exc: BaseException) -> None:
        """Turn an endpoint's error into a blind spot (or an AuthError for a 401)."""
        if isinstance(exc, _Stopped):
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
        elif isinstance(exc, (_BadResponse, ValueError, glexc.GitlabParsingError)):
            reason = f"unreadable answer: {sanitize(str(exc))[:120]}"
        elif isinstance(exc, requests.exceptions.SSLError):
            reason = "TLS certificate verification failed: set ca_bundle for a private CA"
        elif isinstance(exc, (requests.RequestException, glexc.GitlabError)):
            reason = f"network error after {MAX_RETRIES} retries: {type(exc).__name__}"
        else:
            raise exc
        log.debug("gitlab %s %s: %s", what, label, reason)
        self.spot(what, label, reason)

    def pages(self, path: str, params: Mapping[str, Any] | None = None) -> Iterator[list[dict[str, Any]]]:
        """Every page of a GitLab list as scrubbed dicts: Link rel=next (offset or keyset), else x-next-page."""
        url = path
        query: dict[str, Any] = {"per_page": PER_PAGE, **(params or {})}
        seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()

        def page_key(url: str, query: Mapping[str, Any]) -> tuple[str, tuple[tuple[str, str], ...]]:
            # per_page is left out: a server that caps it links back with its own value, and the
            # first page asked with ours is the same page (else a cycle re-reads it once).
            q = {k: str(v) for k, v in query.items() if k != "per_page"}
            if "page" not in q and q.get("pagination") != "keyset":
                q["page"] = "1"
            return url, tuple(sorted(q.items()))

        for _ in range(MAX_PAGES):
            seen.add(page_key(url, query))
            resp = self.gl.http_request("get", url, query_data=query)
            data = getattr(resp, "_nhitui_json", None)
            resp._nhitui_json = None                      # type: ignore[attr-defined]
            try:
                if data is None:
                    data = resp.json()
            except ValueError as exc:
                raise _BadResponse("the page is not JSON (truncated?)") from exc
            finally:
                resp.close()
            if not isinstance(data, list):
                raise _BadResponse("expected a JSON list")
            items = [_scrub(x) for x in data if isinstance(x, dict)]
            del data
            yield items
            nxt = self._next(resp, url, query)
            if nxt is None:
                return
            url, query = nxt
            if page_key(url, query) in seen:
                raise _BadResponse("the next-page link points to a page already read; stopped there")
        raise _BadResponse(f"more than {MAX_PAGES} pages; stopped there")

    @staticmethod
    def _next(resp: requests.Response, url: str, query: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
        link = (resp.links.get("next") or {}).get("url")
        if link:
            parts = urlsplit(link)
            i = parts.path.find(API)
            rel = parts.path[i + len(API):] if i >= 0 else parts.path
            return rel, dict(parse_qsl(parts.query, keep_blank_values=True))
        nxt = (resp.headers.get("X-Next-Page") or "").strip()
        if nxt.isdigit():
            return url, {**query, "page": int(nxt)}
        return None

    def read(self, what: str, label: str, need: str, path: str,
             params: Mapping[str, Any] | None = None) -> Iterator[list[dict[str, Any]]]:
        """`pages()` with errors turned into blind spots (the generator just ends)."""
        try:
            for page in self.pages(path, params):
                with self.lock:
                    self.ok_reads += 1
                yield page
        except (AuthError, _Stopped):
            raise
        except Exception as exc:  # noqa: BLE001 - classified by fail()
            self.fail(what, label, need, exc)

    def get(self, what: str, label: str, need: str, path: str, **params: Any) -> dict[str, Any] | None:
        try:
            data = self.gl.http_get(path, query_data=params or None)
        except (AuthError, _Stopped):
            raise
        except Exception as exc:  # noqa: BLE001 - classified by fail()
            self.fail(what, label, need, exc)
            return None
        if not isinstance(data, dict):
            self.fail(what, label, need, _BadResponse("expected a JSON object"))
            return None
        with self.lock:
            self.ok_reads += 1
        return _scrub(data)

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
            data = self.get("GET /users/:id", str(uid), "user", f"/users/{_enc(uid)}")
            if data is not None:
                name = str(data.get("username") or "")
                result = (name, bool(RESOURCE_BOT.match(name)))
        finally:
            fut.set_result(result)
        return result

    # --- the scan --------------------------------------------------------------------------------

    async def run(self) -> None:
        try:
            # The group walk starts with the identity check: a bad token fails both with a 401.
            for ref in self.c.groups:
                self.spawn(self.group_root, ref)
            await self.loop.run_in_executor(self.pool, self.whoami)
            self.spawn(self.personal_tokens)
            if self.c.instance:
                self.spawn(self.instance_runners)
                self.spawn(self.instance_variables)
                self.spawn(self.fetch_instance_deploy_keys)
                self.spawn(self.fetch_instance_deploy_tokens)
                if not self.c.groups:
                    self.spawn(self.all_projects)
                    self.spawn(self.all_groups)
            await self.drain()
            if self.c.instance:
                # Only after the group walk: these add what the project and group lists did not show.
                self.instance_deploy_keys()
                self.instance_deploy_tokens()
                if not self.admin and (self.admin_denied or "is_admin" in self.me):
                    self.spot("GET /personal_access_tokens (other users)", "",
                              "the token is not an administrator's, so only its own user's tokens are listed: "
                              "needs an administrator token")
            if self.c.groups and self.members_ok:
                self.c.report.facts["members"] = sorted(self.members)
            self.flush_spots()
            if self.ok_reads == 0 and self.c.report.blind_spots:
                first = self.c.report.blind_spots[0]
                raise ConnectorError(f"nothing could be read from {self.c.url}: {first.what}: {first.reason}")
        finally:
            self.stop.set()
            self.flush_spots()
            self.queue.put_nowait(_DONE)

    def whoami(self) -> None:
        try:
            me = self.gl.http_get("/user")
        except glexc.GitlabAuthenticationError as exc:
            raise AuthError("authentication failed: GitLab answered 401 to GET /user (the token is wrong, "
                            "expired or revoked)") from exc
        except glexc.GitlabHttpError as exc:
            raise ConnectorError(f"cannot read {self.c.url}{API}/user: HTTP {exc.response_code}") from exc
        except glexc.GitlabParsingError as exc:
            raise ConnectorError(f"cannot read {self.c.url}{API}/user: the answer is not JSON (empty or "
                                 "truncated)") from exc
        except _BadResponse as exc:
            raise ConnectorError(f"cannot read {self.c.url}{API}/user: {exc}") from exc
        except requests.exceptions.SSLError as exc:
            raise ConnectorError(f"TLS certificate verification failed for {self.c.url}: set ca_bundle (or "
                                 "REQUESTS_CA_BUNDLE) for a private CA") from exc
        except (requests.RequestException, glexc.GitlabError) as exc:
            raise ConnectorError(f"cannot reach {self.c.url}: {type(exc).__name__}") from exc
        if not isinstance(me, dict):
            raise ConnectorError(f"{self.c.url}{API}/user did not answer a GitLab user")
        self.me = _scrub(me)
        self.admin = me.get("is_admin") is True
        fut: Future[tuple[str, bool]] = Future()
        fut.set_result((str(me.get("username") or ""), False))
        self.users[me.get("id")] = fut

    # personal access tokens

    def personal_tokens(self) -> None:
        # Instance-wide, GitLab answers an administrator with every user's tokens and anyone else with
        # their own; otherwise ask for the token's own user only.
        params = {} if self.c.instance else {"user_id": self.me.get("id")}
        for page in self.read("GET /personal_access_tokens", "", "admin", "/personal_access_tokens", params):
            batch = []
            for d in page:
                owner, bot = self.user(d.get("user_id"))
                if bot:
                    continue        # a project/group access token: listed from its project or group
                batch.append(self.c.parse_token("personal_access_token", d, owner))
            self.emit(batch)

    # groups and projects

    def claim_group(self, g: dict[str, Any]) -> bool:
        with self.lock:
            if g.get("id") in self.groups:
                return False
            self.groups[g.get("id")] = g
            self.group_paths[g.get("id")] = str(g.get("full_path") or "")
            return True

    def group_root(self, ref: str) -> None:
        g = self.get("GET /groups/:id", ref, "group", f"/groups/{_enc(ref)}", with_projects="false")
        if g is None:
            with self.lock:
                self.members_ok = False
            return
        if self.claim_group(g):
            self.group_jobs(g)
        self.spawn_threadsafe(self.group_members, g)
        self.spawn_threadsafe(self.group_descendants, g)
        self.spawn_threadsafe(self.group_projects, g)

    def group_members(self, g: dict[str, Any]) -> None:
        ok = False
        names = []
        for page in self.read("GET /groups/:id/members/all", str(g.get("full_path")), "member",
                              f"/groups/{g['id']}/members/all"):
            ok = True
            names += [str(m.get("username")) for m in page if m.get("username")]
        with self.lock:
            self.members.update(names)
            if not ok:
                self.members_ok = False

    def group_descendants(self, g: dict[str, Any]) -> None:
        for page in self.read("GET /groups/:id/descendant_groups", str(g.get("full_path")), "member",
                              f"/groups/{g['id']}/descendant_groups"):
            for sub in page:
                if self.claim_group(sub):
                    self.group_jobs(sub)

    def group_projects(self, g: dict[str, Any]) -> None:
        params = {"include_subgroups": "true", "with_shared": "false", "simple": "true",
                  "order_by": "id", "sort": "asc"}
        for page in self.read("GET /groups/:id/projects", str(g.get("full_path")), "member",
                              f"/groups/{g['id']}/projects", params):
            self.project_jobs(page)

    def all_projects(self) -> None:
        params = {"pagination": "keyset", "order_by": "id", "sort": "asc", "simple": "true"}
        for page in self.read("GET /projects", "", "admin", "/projects", params):
            self.project_jobs(page)

    def all_groups(self) -> None:
        for page in self.read("GET /groups", "", "admin", "/groups", {"all_available": "true"}):
            for g in page:
                if self.claim_group(g):
                    self.group_jobs(g)

    def group_jobs(self, g: dict[str, Any]) -> None:
        for job in (self.group_tokens, self.group_deploy_tokens, self.group_variables, self.group_runners):
            self.spawn_threadsafe(job, g)

    def project_jobs(self, projects: list[dict[str, Any]]) -> None:
        for p in projects:
            with self.lock:
                if p.get("id") in self.projects:
                    continue
                self.projects.add(p.get("id"))
            for job in (self.project_tokens, self.project_deploy_keys, self.project_deploy_tokens,
                        self.project_variables, self.project_triggers, self.project_runners):
                self.spawn_threadsafe(job, p)

    # per group

    def group_tokens(self, g: dict[str, Any]) -> None:
        path = str(g.get("full_path"))
        for page in self.read("GET /groups/:id/access_tokens", path, "group_tokens", f"/groups/{g['id']}/access_tokens"):
            self.emit([self.c.parse_token("group_access_token", d, self.user(d.get("user_id"))[0], path, g["id"],
                                          str(g.get("web_url") or "")) for d in page])

    def group_deploy_tokens(self, g: dict[str, Any]) -> None:
        path = str(g.get("full_path"))
        for page in self.read("GET /groups/:id/deploy_tokens", path, "maintainer_group",
                              f"/groups/{g['id']}/deploy_tokens"):
            self.emit(self._deploy_tokens(page, "group", g["id"], path, str(g.get("web_url") or "")))

    def group_variables(self, g: dict[str, Any]) -> None:
        path = str(g.get("full_path"))
        for page in self.read("GET /groups/:id/variables", path, "maintainer_group", f"/groups/{g['id']}/variables"):
            self.emit([self.c.parse_variable(d, "group", g["id"], path, str(g.get("web_url") or "")) for d in page])

    def group_runners(self, g: dict[str, Any]) -> None:
        # Group runners of this group and its ancestors, plus the instance runners it may use.
        self.runner_list("GET /groups/:id/runners", str(g.get("full_path")), "maintainer_group",
                         f"/groups/{g['id']}/runners", {})

    # per project

    def project_tokens(self, p: dict[str, Any]) -> None:
        path = str(p.get("path_with_namespace"))
        for page in self.read("GET /projects/:id/access_tokens", path, "project_tokens",
                              f"/projects/{p['id']}/access_tokens"):
            self.emit([self.c.parse_token("project_access_token", d, self.user(d.get("user_id"))[0], path, p["id"],
                                          str(p.get("web_url") or "")) for d in page])

    def project_deploy_keys(self, p: dict[str, Any]) -> None:
        path = str(p.get("path_with_namespace"))
        for page in self.read("GET /projects/:id/deploy_keys", path, "maintainer_project",
                              f"/projects/{p['id']}/deploy_keys"):
            self.emit([self.c.parse_deploy_key(d, p["id"], path, bool(d.get("can_push")), str(p.get("web_url") or ""))
                       for d in page])

    def project_deploy_tokens(self, p: dict[str, Any]) -> None:
        path = str(p.get("path_with_namespace"))
        for page in self.read("GET /projects/:id/deploy_tokens", path, "maintainer_project",
                              f"/projects/{p['id']}/deploy_tokens"):
            self.emit(self._deploy_tokens(page, "project", p["id"], path, str(p.get("web_url") or "")))

    def project_variables(self, p: dict[str, Any]) -> None:
        path = str(p.get("path_with_namespace"))
        for page in self.read("GET /projects/:id/variables", path, "maintainer_project",
                              f"/projects/{p['id']}/variables"):
            self.emit([self.c.parse_variable(d, "project", p["id"], path, str(p.get("web_url") or "")) for d in page])

    def project_triggers(self, p: dict[str, Any]) -> None:
        path = str(p.get("path_with_namespace"))
        for page in self.read("GET /projects/:id/triggers", path, "maintainer_project", f"/projects/{p['id']}/triggers"):
            self.emit([self.c.parse_trigger(d, p["id"], path, str(p.get("web_url") or "")) for d in page])

    def project_runners(self, p: dict[str, Any]) -> None:
        self.runner_list("GET /projects/:id/runners", str(p.get("path_with_namespace")), "maintainer_project",
                         f"/projects/{p['id']}/runners", {"type": "project_type"})

    def _deploy_tokens(self, page: list[dict[str, Any]], scope: str, sid: Any, path: str,
                       web_url: str) -> list[Identity]:
        with self.lock:
            self.deploy_tokens.update(d.get("id") for d in page)
        return [self.c.parse_deploy_token(d, scope, sid, path, web_url) for d in page]

    # runners

    def runner_list(self, what: str, label: str, need: str, path: str, params: Mapping[str, Any]) -> None:
        for page in self.read(what, label, need, path, params):
            for stub in page:
                with self.lock:
                    if stub.get("id") in self.runners:
                        continue
                    self.runners.add(stub.get("id"))
                self.spawn_threadsafe(self.runner_detail, stub)

    def runner_detail(self, stub: dict[str, Any]) -> None:
        detail = self.get("GET /runners/:id", str(stub.get("id")), "runner", f"/runners/{_enc(stub.get('id'))}")
        if detail is None:
            # Without the detail there is no contacted_at: last use unknown, not "never".
            self.emit([self.c.parse_runner(stub, self.group_paths, detailed=False)])
            return
        self.emit([self.c.parse_runner({**stub, **detail}, self.group_paths)])

    # instance-wide (administrator) lists

    def instance_runners(self) -> None:
        self.runner_list("GET /runners/all", "", "admin", "/runners/all", {})

    def instance_variables(self) -> None:
        for page in self.read("GET /admin/ci/variables", "", "admin", "/admin/ci/variables"):
            self.emit([self.c.parse_variable(d, "instance", None, "instance") for d in page])

    def fetch_instance_deploy_keys(self) -> None:
        pages = list(self.read("GET /deploy_keys", "", "admin", "/deploy_keys"))
        self.instance_keys = [d for page in pages for d in page]

    def fetch_instance_deploy_tokens(self) -> None:
        pages = list(self.read("GET /deploy_tokens", "", "admin", "/deploy_tokens"))
        self.instance_tokens = [d for page in pages for d in page]

    def instance_deploy_keys(self) -> None:
        batch = []
        unlinked = 0
        for d in self.instance_keys:
            if "projects_with_write_access" not in d and "projects_with_readonly_access" not in d:
                unlinked += 1       # before GitLab 16.0 the list does not say which projects use a key
                continue
            links = [(p, True) for p in d.get("projects_with_write_access") or () if isinstance(p, dict)] + \
                    [(p, False) for p in d.get("projects_with_readonly_access") or () if isinstance(p, dict)]
            for p, push in links:
                if p.get("id") not in self.projects:
                    batch.append(self.c.parse_deploy_key(d, p.get("id"), str(p.get("path_with_namespace") or ""), push))
            if not links:
                batch.append(self.c.parse_deploy_key(d, None, "", False))
        if unlinked:
            self.c.report.blind_spot(
                "deploy keys outside the scanned groups",
                f"GET /deploy_keys does not say which projects use {unlinked} key(s) (GitLab before 16.0): "
                "only keys found through the scanned projects are listed")
        self.emit(batch)

    def instance_deploy_tokens(self) -> None:
        # The instance list does not say which project or group a token belongs to.
        self.emit([self.c.parse_deploy_token(d, "instance", None, "instance")
                   for d in self.instance_tokens if d.get("id") not in self.deploy_tokens])


CONNECTOR = GitLabConnector
