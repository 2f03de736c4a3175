"""A thin Vault/OpenBao HTTP client on the shared `connectors._http.Session`.

Why not hvac: it ignores `VAULT_NAMESPACE`, reads TLS settings once at import and returns three
different shapes. Vault's conventions handled here, once:
- `X-Vault-Token` carries the token; `X-Vault-Namespace` picks the namespace per request.
- LIST is sent as `GET path?list=true`; an empty list is **404 `{"errors":[]}`**, not a failure.
- 403 has two texts (wrapped and bare) and means the same: a `Denied` the caller turns into a
  blind spot naming the path and capability. 503 "Vault is sealed" fails the source.
- 429 (a rate-limit quota, `Retry-After` absent or 0) and 5xx are retried with backoff by the
  Session; statuses Vault uses for final answers (500 "already destroyed") are passed through.
The token never appears in a message: only methods, paths and Vault's own (sanitised) errors.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from connectors._http import Reply, Session, auth_failed
from connectors.base import ConnectorError, Report


class Denied(Exception):
    """403 on a path: the caller records a blind spot and carries on."""

    def __init__(self, method: str, path: str, message: str) -> None:
        super().__init__(f"403 on {method} {path}: {message or 'permission denied'}")
        self.method = method
        self.path = path


class Sealed(ConnectorError):
    """The server is sealed (or not initialised): nothing can be read until an operator unseals it."""


def errors_of(reply: Reply) -> str:
    data = reply.data
    if isinstance(data, Mapping):
        errs = data.get("errors")
        if isinstance(errs, list) and errs:
            return " ".join(" ".join(str(e).replace("1 error occurred:", "").split()) for e in errs)[:300]
        inner = data.get("data")
        if isinstance(inner, Mapping) and isinstance(inner.get("error"), str):
            return inner["error"][:300]
    return reply.message()


class VaultClient:
    """Requests against one server and namespace; use inside the Session's `async with`."""

    def __init__(self, session: Session, url: str, namespace: str = "") -> None:
        self.session = session
        self.base = url.rstrip("/") + "/v1/"
        self.namespace = namespace.strip("/")

    @property
    def report(self) -> Report:
        return self.session.report

    def within(self, namespace: str) -> VaultClient:
        """The same server seen from another namespace (child namespaces are listed separately)."""
        return VaultClient(self.session, self.base[: -len("/v1/")], namespace)

    def _headers(self) -> dict[str, str]:
        return {"X-Vault-Namespace": self.namespace} if self.namespace else {}

    def url(self, path: str) -> str:
        return self.base + quote(path.lstrip("/"), safe="/-_.~+:@")

    async def call(self, method: str, path: str, body: Any = None, *, query: str = "",
                   final: frozenset[int] = frozenset()) -> Reply:
        url = self.url(path) + (f"?{query}" if query else "")
        # A 503 is looked at before any retry: "sealed" will not pass in seconds, other 503s may.
        reply = await self.session.request(method, url, json_body=body, headers=self._headers(),
                                           expect_json=method == "GET", final=final | {503})
        if reply.status == 503 and "sealed" in errors_of(reply).lower():
            raise Sealed("the Vault server is sealed: an operator must unseal it before it can be read")
        if reply.status == 503 and 503 not in final:
            self.report.count_retry()           # the session counts its own retries, not this one
            reply = await self.session.request(method, url, json_body=body, headers=self._headers(),
                                               expect_json=method == "GET", final=final)
        if reply.status == 401:
            raise auth_failed(reply, "Vault", "check the token")
        return reply

    async def read(self, path: str) -> Mapping[str, Any] | None:
        """`data` of a GET, None when the path does not exist (404); Denied on 403."""
        reply = await self.call("GET", path)
        if reply.status == 404:
            return None
        if reply.status == 403:
            raise Denied("GET", path, errors_of(reply))
        if not reply.ok or not isinstance(reply.data, Mapping):
            raise ConnectorError(f"GET {path}: HTTP {reply.status} {errors_of(reply)}".strip())
        data = reply.data.get("data")
        return data if isinstance(data, Mapping) else {}

    async def list(self, path: str) -> tuple[list[str], Mapping[str, Any]]:
        """Keys (and `key_info` when the server gives it) of a LIST; 404 is an empty list."""
        reply = await self.call("GET", path.rstrip("/"), query="list=true")
        if reply.status == 404:
            return [], {}
        if reply.status == 403:
            raise Denied("LIST", path, errors_of(reply))
        if not reply.ok or not isinstance(reply.data, Mapping):
            raise ConnectorError(f"LIST {path}: HTTP {reply.status} {errors_of(reply)}".strip())
        data = reply.data.get("data")
        if not isinstance(data, Mapping):
            return [], {}
        keys = data.get("keys")
        info = data.get("key_info")
        return ([str(k) for k in keys] if isinstance(keys, list) else [],
                info if isinstance(info, Mapping) else {})

    async def write(self, path: str, body: Any, *, final: frozenset[int] = frozenset()) -> Reply:
        return await self.call("POST", path, body if body is not None else {}, final=final)
