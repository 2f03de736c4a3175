"""What every Vault kind module shares during one scan: the client, the source's labels, the
policy classifier (each policy's text read once, whatever number of tokens hold it) and the mount list."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from connectors.base import Report
from connectors.vault.client import Denied, VaultClient
from connectors.vault.policies import Classification, policy_privilege
from nhitui.model import privilege_rank, sanitize

# Paths and the capability each needs, for blind-spot messages (the reference's inventory policy).
NEEDS = {
    "auth/token/accessors": "list + sudo on auth/token/accessors/",
    "auth/token/lookup-accessor": "update on auth/token/lookup-accessor",
    "sys/auth": "read on sys/auth",
    "sys/mounts": "read on sys/mounts",
    "sys/policies/acl": "list on sys/policies/acl/ and read on sys/policies/acl/*",
    "sys/namespaces": "list on sys/namespaces/",
}


@dataclass
class Scan:
    source: str
    client: VaultClient
    host: str
    concurrency: int = 16
    policy_cache: dict[str, Classification] = field(default_factory=dict)
    policy_unreadable: bool = False
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)

    @property
    def report(self) -> Report:
        return self.client.report

    @property
    def namespace(self) -> str:
        return self.client.namespace

    @property
    def target(self) -> str:
        """Where an identity lives: the server, and the namespace when not the root one."""
        return f"{self.host}:{self.namespace}" if self.namespace else self.host

    def native(self, *parts: str) -> str:
        """A native id unique across namespaces (the uid keeps it; actions read it back)."""
        key = "/".join(p.strip("/") for p in parts)
        return f"{self.namespace}//{key}" if self.namespace else key

    def blind(self, path: str, exc: Denied | str, needs: str = "") -> None:
        where = f"{self.namespace}: " if self.namespace else ""
        text = str(exc)
        need = needs or NEEDS.get(path, "")
        self.report.blind_spot(f"{where}{path}", f"{text}; needs {need}" if need else text)

    async def policy(self, name: str) -> Classification:
        if name in self.policy_cache:
            return self.policy_cache[name]
        lock = self._locks.setdefault(name, asyncio.Lock())
        async with lock:
            if name in self.policy_cache:
                return self.policy_cache[name]
            text: str | None = None
            if name not in ("root", "default"):
                try:
                    data = await self.client.read(f"sys/policies/acl/{name}")
                    text = str(data.get("policy") or "") if data is not None else None
                except Denied as exc:
                    self.policy_unreadable = True
                    self.blind("sys/policies/acl", exc)
            try:
                result = policy_privilege(name, text)
            except ValueError as exc:
                result = Classification("none", f"policy {name!r} could not be parsed: {exc}")
                self.report.blind_spot(f"policy {sanitize(name)[:80]}", f"its text could not be parsed ({exc}); "
                                       "privilege from it is unknown")
            self.policy_cache[name] = result
            return result

    async def privilege(self, policies: Iterable[str]) -> tuple[str, str]:
        """The highest privilege among `policies`, and the rule that decided it."""
        best = Classification("none", "")
        for name in policies:
            c = await self.policy(name)
            if privilege_rank(c.privilege) > privilege_rank(best.privilege):
                best = Classification(c.privilege, f"{name}: {c.reason}" if c.reason else name)
        return best.privilege, best.reason


def strings(value: Any) -> list[str]:
    if isinstance(value, list):
        return [sanitize(v)[:200] for v in value if isinstance(v, (str, int))]
    if isinstance(value, str) and value:
        return [sanitize(value)[:200]]
    return []


def text_map(value: Any) -> dict[str, str]:
    """Provider metadata (untrusted keys and values) as short, sanitised strings."""
    if not isinstance(value, Mapping):
        return {}
    return {sanitize(k)[:80]: sanitize(v)[:200] for k, v in list(value.items())[:50]}


def seconds(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError, OverflowError):
        return 0
