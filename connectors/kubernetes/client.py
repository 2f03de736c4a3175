"""One cluster context: authenticated requests, list pages, Status errors (kubeconfig loading: kubeconfig.py).

`kubernetes_asyncio` is used for what it does well (kubeconfig merging, contexts, client certificates,
CA data, exec credential plugins v1/v1beta1, in-cluster config) and as the transport; every request
goes through `ApiClient.call_api` with `_preload_content=False`, because:

- typed calls overwrite the Accept header, and the metadata-only listing of Secrets needs our own;
- with preloaded content its REST layer logs every response body at DEBUG, and a server that ignores
  the metadata-only header would put token values in a log.

So bodies are read here, parsed with a hook that drops Secret `data`/`stringData` before anything
else sees them, and never logged. Status objects (401/403/404/409/410/422) become typed errors that
name the verb and resource; an APF 429 (plain text with Retry-After) is waited out a few times; an
expired `continue` (410) restarts the list from the beginning.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator, Mapping
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

from connectors.base import AuthError, ConnectorError, Report
from connectors.kubernetes.kubeconfig import Target, load_context

METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
METADATA_ONE = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"
PAGE = 500
MAX_RETRIES = 4
BACKOFF = 0.25            # seconds; doubled per attempt (5xx: 0.5, 1, 2, 4 s; network: 0.4 times that)
MAX_WAIT = 32.0
MAX_RESTARTS = 3
MAX_PAGES = 10_000        # of one list (5 million objects at PAGE): beyond that, a server that never ends it
MAX_BODY = 64 * 1024 * 1024
# Keys whose values are credentials in any Kubernetes object we might be sent; dropped while parsing.
SECRET_KEYS = frozenset({"data", "stringData", "binaryData"})
# Holds a full copy of what was applied, Secret data included when someone applied a manifest with it.
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


class ApiError(ConnectorError):
    """A Status answer (or a bare HTTP error) of the API server, with what we asked for."""

    def __init__(self, status: int, reason: str, message: str, verb: str, resource: str,
                 retry_after: float | None = None) -> None:
        self.status = status
        self.reason = reason
        self.verb = verb
        self.resource = resource
        self.retry_after = retry_after
        head = f"{verb} {resource}: HTTP {status}" + (f" {reason}" if reason else "")
        super().__init__((f"{head}: {message}" if message else head)[:400])


class TooLarge(ConnectorError):
    """An answer over MAX_BODY: not retried."""


class TlsError(ConnectorError):
    """The server's certificate is not trusted by the kubeconfig's CA: not retried."""


def _drop_secrets(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """json object hook: no credential value survives parsing, whatever the server sent."""
    out = {}
    for key, value in pairs:
        if key in SECRET_KEYS:
            continue
        if key == "annotations" and isinstance(value, dict):
            value = {k: v for k, v in value.items() if k != LAST_APPLIED}
        out[key] = value
    return out


def parse_body(raw: bytes, keep_data: bool = False) -> Any:
    """Parse a response body with Secret values and last-applied copies removed on the way in.

    `keep_data` only for a ConfigMap read by name (the legacy-token tracking date lives in its data).
    """
    return json.loads(raw) if keep_data else json.loads(raw, object_pairs_hook=_drop_secrets)


def _retry_after(headers: Mapping[str, str], status: dict[str, Any] | None) -> float:
    value = headers.get("Retry-After")
    try:
        seconds = float(value) if value is not None else float(
            ((status or {}).get("details") or {}).get("retryAfterSeconds") or 1)
    except (TypeError, ValueError):
        seconds = 1.0
    return max(0.0, min(seconds, MAX_WAIT))


class Client:
    """Authenticated requests to one context; create with `await Client.connect(...)`."""

    def __init__(self, api: Any, target: Target, report: Report, concurrency: int = 8,
                 max_attempts: int = MAX_RETRIES + 1, backoff: float = BACKOFF) -> None:
        self.api = api
        self.target = target
        self.report = report
        self.gate = asyncio.Semaphore(concurrency)
        self.sleep = asyncio.sleep
        # The source's `max_attempts` and `backoff`, as the REST sources read them (connectors/_http.py).
        self.max_attempts = max(1, min(10, int(max_attempts)))
        self.backoff = max(0.0, float(backoff))

    @classmethod
    async def connect(cls, kubeconfig: str | None, context: str | None, report: Report,
                      concurrency: int = 8, timeout: float = 30.0, max_attempts: int = MAX_RETRIES + 1,
                      backoff: float = BACKOFF) -> Client:
        """Load one context (or the in-cluster identity); a failing exec plugin is an AuthError here."""
        from kubernetes_asyncio.client import ApiClient

        cfg, target = await load_context(kubeconfig, context)
        cfg.connection_pool_maxsize = max(concurrency, 4)
        client = cls(ApiClient(configuration=cfg), target, report, concurrency, max_attempts, backoff)
        client.timeout = timeout
        return client

    timeout: float = 30.0

    async def close(self) -> None:
        await self.api.close()

    # --- requests ----------------------------------------------------------------------------------

    async def request(self, method: str, path: str, query: list[tuple[str, str]] | None = None,
                      accept: str = "application/json", body: Any = None, content_type: str = "",
                      verb: str = "", resource: str = "", parse: bool = True, keep_data: bool = False) -> Any:
        """One call; the parsed body (secret values removed), or None.

        Retried (`max_attempts`): 429 (after Retry-After) and 5xx for every method (neither was applied);
        network failures, timeouts and cut, empty or garbled bodies for GET only (a write may have landed).
        """
        verb = verb or method.lower()
        resource = resource or path
        headers = {"Accept": accept}
        if content_type:
            headers["Content-Type"] = content_type
        attempt = 0
        while True:
            attempt += 1
            retry_left = attempt < self.max_attempts
            try:
                status_code, resp_headers, raw = await self._send(method, path, query, headers, body, verb, resource)
                if 200 <= status_code < 300:
                    if not parse:
                        return None
                    if not raw:
                        if method == "GET":     # every read answers JSON: an empty body is a cut answer
                            raise ConnectorError(f"{verb} {resource}: the server sent an empty body")
                        return None
                    try:
                        return parse_body(raw, keep_data)
                    except (ValueError, RecursionError):
                        raise ConnectorError(f"{verb} {resource}: the server sent a body that is not JSON") from None
            except (AuthError, TooLarge, TlsError):
                raise
            except ConnectorError:
                if method != "GET" or not retry_left:
                    raise
                self.report.count_retry()
                await self.sleep(min(2 ** attempt * self.backoff * 0.4, 2.0))
                continue
            status_obj = _status_object(raw, resp_headers.get("Content-Type", ""))
            if (status_code == 429 or status_code >= 500) and retry_left:
                self.report.count_retry()
                await self.sleep(_retry_after(resp_headers, status_obj) if status_code == 429
                                 else min(2 ** attempt * self.backoff, 4.0))
                continue
            raise _error(status_code, status_obj, raw, verb, resource, resp_headers)

    async def _send(self, method: str, path: str, query: list[tuple[str, str]] | None, headers: dict[str, str],
                    body: Any, verb: str, resource: str) -> tuple[int, Mapping[str, str], bytes]:
        """(status, headers, body) of one HTTP exchange; transport failures as ConnectorError."""
        self.report.count_request()
        async with self.gate:
            try:
                resp = await self.api.call_api(
                    path, method, query_params=list(query or []), header_params=dict(headers), body=body,
                    auth_settings=["BearerToken"], _preload_content=False, _return_http_data_only=True,
                    _request_timeout=self.timeout)
                try:
                    raw = await _read_capped(resp)
                finally:
                    resp.release()
            except asyncio.TimeoutError:
                raise ConnectorError(f"{verb} {resource}: timed out") from None
            except ssl.SSLCertVerificationError as exc:     # aiohttp's certificate error is one too
                cause = getattr(exc, "certificate_error", None) or exc
                why = getattr(cause, "verify_message", None) or type(cause).__name__
                raise TlsError(f"{verb} {resource}: TLS certificate not trusted: {why}") from None
            except OSError as exc:
                raise ConnectorError(f"{verb} {resource}: network error: "
                                     f"{exc.strerror or type(exc).__name__}") from None
            except Exception as exc:  # noqa: BLE001 - aiohttp client errors, bad URLs
                if type(exc).__module__.startswith("aiohttp"):
                    raise ConnectorError(f"{verb} {resource}: network error: {type(exc).__name__}") from None
                raise
        if len(raw) > MAX_BODY:
            raise TooLarge(f"{verb} {resource}: answer larger than {MAX_BODY // 2**20} MiB")
        return resp.status, resp.headers, raw

    async def pages(self, path: str, query: list[tuple[str, str]] | None = None, accept: str = "application/json",
                    verb: str = "list", resource: str = "") -> AsyncIterator[dict[str, Any]]:
        """Every page of a list (`limit`/`continue`); an expired continue restarts the list from scratch.

        Pages are yielded only once the whole list is read, so a restart never duplicates items. A
        `continue` token already used (a server looping) or more than MAX_PAGES pages end the list with a
        blind spot: what was read is kept, and the list is said to be incomplete.
        """
        restarts = 0
        what = f"{verb} {resource or path}"
        while True:
            collected: list[dict[str, Any]] = []
            token = ""
            used: set[str] = set()
            try:
                while True:
                    q = list(query or []) + [("limit", str(PAGE))] + ([("continue", token)] if token else [])
                    page = await self.request("GET", path, q, accept=accept, verb=verb, resource=resource or path)
                    if not isinstance(page, dict):
                        raise ConnectorError(f"{what}: the answer is not a list")
                    collected.append(page)
                    used.add(token)
                    token = str((page.get("metadata") or {}).get("continue") or "")
                    if not token:
                        break
                    if token in used or len(collected) >= MAX_PAGES:
                        why = ("points back to a page already read" if token in used
                               else f"goes on past {MAX_PAGES} pages")
                        self.report.blind_spot(f"{what} (context {self.target.context})",
                                               f"the continue token of {what} {why}; stopped after "
                                               f"{len(collected)} pages, the list may be incomplete")
                        break
            except ApiError as exc:
                if exc.status == 410 and token and restarts < MAX_RESTARTS:
                    restarts += 1
                    self.report.count_retry()
                    continue
                raise
            for page in collected:
                yield page
            return

    async def items(self, path: str, query: list[tuple[str, str]] | None = None, accept: str = "application/json",
                    resource: str = "") -> tuple[str, list[dict[str, Any]]]:
        """(the list's kind, every item) of a paged list."""
        kind = ""
        out: list[dict[str, Any]] = []
        seen: set[str] = set()
        async for page in self.pages(path, query, accept, resource=resource):
            kind = kind or str(page.get("kind") or "")
            items = page.get("items")
            for item in items if isinstance(items, list) else []:
                if not isinstance(item, dict):
                    continue
                item = _shaped(item)
                meta = item["metadata"]
                uid = meta.get("uid")
                key = uid if isinstance(uid, str) and uid else f"{meta.get('namespace')!s}/{meta.get('name')!s}"
                if key in seen:
                    continue            # a page served twice (a `continue` that went back): one object each
                seen.add(key)
                out.append(item)
        return kind, out

    async def version(self) -> str:
        """The server's gitVersion (`v1.30.2`), or "" when /version is not readable."""
        try:
            body = await self.request("GET", "/version", resource="/version")
        except ApiError:
            return ""
        return str((body or {}).get("gitVersion") or "") if isinstance(body, dict) else ""


async def _read_capped(resp: Any) -> bytes:
    """The whole body, stopping one chunk past MAX_BODY (a hostile server cannot fill memory)."""
    chunks: list[bytes] = []
    size = 0
    while size <= MAX_BODY:
        chunk = await resp.content.readany()
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _status_object(raw: bytes, content_type: str) -> dict[str, Any] | None:
    if "json" not in content_type.lower() or not raw:
        return None
    try:
        body = parse_body(raw)
    except (ValueError, RecursionError):
        return None
    return body if isinstance(body, dict) and body.get("kind") == "Status" else None


def _error(code: int, status: dict[str, Any] | None, raw: bytes, verb: str, resource: str,
           headers: Mapping[str, str]) -> ApiError:
    if status is not None:
        reason = str(status.get("reason") or "")
        message = " ".join(str(status.get("message") or "").split())[:300]
    else:
        reason = {401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 429: "TooManyRequests"}.get(code, "")
        if not reason and code in HTTPStatus._value2member_map_:
            reason = HTTPStatus(code).phrase.replace(" ", "")      # a proxy's or load balancer's 5xx
        message = _plain_message(raw, headers.get("Content-Type", ""))
    if code == 401:
        return AuthApiError(code, reason or "Unauthorized", message, verb, resource)
    retry = _retry_after(headers, status) if code == 429 else None
    return ApiError(code, reason, message, verb, resource, retry)


def _plain_message(raw: bytes, content_type: str) -> str:
    """What a non-Status error body says: a short printable text (APF's 429), a JSON `message`, or that
    it was an HTML page (a proxy's); never the raw markup."""
    text = raw[:200].decode("utf-8", "replace")
    head = text.lstrip()[:15].lower()
    if "html" in content_type.lower() or head.startswith(("<!doctype", "<html")):
        return "an HTML error page (a proxy's or load balancer's)"
    if "json" in content_type.lower():
        try:
            data = parse_body(raw)
        except (ValueError, RecursionError):
            data = None
        if isinstance(data, dict) and isinstance(data.get("message"), str):
            text = data["message"][:200]
    flat = " ".join(text.split())
    return flat if flat.isprintable() else ""


class AuthApiError(ApiError, AuthError):
    """401: the context's credential was refused."""


def path_of(group: str, version: str, resource: str, namespace: str = "", name: str = "", sub: str = "") -> str:
    base = f"/api/{version}" if not group else f"/apis/{group}/{version}"
    if namespace:
        base += f"/namespaces/{quote(namespace, safe='')}"
    base += f"/{resource}"
    if name:
        base += f"/{quote(name, safe='')}"
    if sub:
        base += f"/{sub}"
    return base


_MAPS = ("metadata", "spec", "roleRef", "aggregationRule", "data")
_RULE_LISTS = ("verbs", "apiGroups", "resources", "resourceNames", "nonResourceURLs")


def _strs(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _shaped(item: dict[str, Any]) -> dict[str, Any]:
    """An object with the shapes the parsers rely on: a hostile or broken server's `metadata: null`,
    `verbs: "x"` or `subjects: 5` becomes an empty value here, never a TypeError mid-scan."""
    for key in _MAPS:
        if key in item and not isinstance(item[key], dict):
            item[key] = {}
    meta = item.setdefault("metadata", {})
    for key in ("annotations", "labels"):
        if key in meta and not isinstance(meta[key], dict):
            meta[key] = {}
    for key in ("ownerReferences", "finalizers"):
        if key in meta and not isinstance(meta[key], list):
            meta[key] = []
    if "rules" in item:
        rules = item["rules"] if isinstance(item["rules"], list) else []
        item["rules"] = [{**r, **{k: _strs(r.get(k)) for k in _RULE_LISTS if k in r}} for r in rules
                         if isinstance(r, dict)]
    if "subjects" in item:
        item["subjects"] = [x for x in item["subjects"] if isinstance(x, dict)] \
            if isinstance(item["subjects"], list) else []
    return item
