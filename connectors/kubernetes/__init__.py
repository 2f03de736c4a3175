"""Kubernetes: service accounts, legacy token Secrets, RBAC privilege and cloud-identity links, per context.

Source settings: `kubeconfig` (default `$KUBECONFIG`, then `~/.kube/config`; in-cluster inside a pod),
`contexts` (default the current context; one identity set per context, uids carry the context),
`namespaces` (default all), `revoke_context` (the write identity, loaded only to act); `timeout` (seconds per
request), `max_attempts` and `backoff` (retries of 429, 5xx and failed reads) as for the REST sources.
Layout: `kubeconfig.py` (contexts, credentials, exec plugins), `client.py` (transport, pages, Status
errors), `cluster.py` (the lists of one context), `service_accounts.py`, `token_secrets.py`, `rbac.py`,
`actions.py`.
The connector never holds a token: Secrets are listed metadata-only and any value a server sends
anyway is dropped while parsing (see client.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from connectors.base import AuthError, ConnectorError, Report, setting
from connectors.kubernetes import actions as _actions
from connectors.kubernetes.client import BACKOFF, MAX_RETRIES, Client
from connectors.kubernetes.cluster import INVISIBLE, ClusterScan, parse_version
from connectors.kubernetes.service_accounts import Place
from nhitui.model import Action, ActionResult, Identity

PROVIDER = "kubernetes"


class KubernetesConnector:
    """One `[[source]]` of type kubernetes: one or more contexts of one or more kubeconfig files."""

    provider = PROVIDER

    def __init__(self, settings: Mapping[str, Any], resolve: Callable[[str], str] | None = None) -> None:
        self.settings = dict(settings)
        self.name = str(settings["name"])
        self.report = Report(self.name, PROVIDER)
        self.kubeconfig = setting(settings, "kubeconfig")
        self.contexts: list[str | None] = list(setting(settings, "contexts", None) or [None])
        self.namespaces = [str(n) for n in setting(settings, "namespaces", None) or []]
        self.revoke_context = setting(settings, "revoke_context")
        self.concurrency = int(setting(settings, "concurrency", 8))
        self.timeout = float(setting(settings, "timeout", 30.0))
        self.max_attempts = int(setting(settings, "max_attempts", MAX_RETRIES + 1))
        self.backoff = float(setting(settings, "backoff", BACKOFF))
        self.versions: dict[str, tuple[int, int] | None] = {}

    async def _connect(self, context: str | None) -> Client:
        return await Client.connect(self.kubeconfig, context, self.report, self.concurrency, self.timeout,
                                    self.max_attempts, self.backoff)

    async def collect(self) -> AsyncIterator[list[Identity]]:
        # Stated in the source details rather than as a blind spot: no permission would reveal them, so
        # a blind spot would mark every Kubernetes scan incomplete forever.
        self.report.facts["not_visible"] = INVISIBLE
        self.report.facts["metadata_only_secrets"] = True
        failures: list[str] = []
        done = 0
        for context in self.contexts:
            try:
                client = await self._connect(context)
            except ConnectorError as exc:
                if len(self.contexts) == 1:
                    raise
                failures.append(str(exc))
                self.report.blind_spot(f"context {context}", str(exc))
                continue
            try:
                place = Place(self.name, client.target.context, client.target.cluster)
                scan = ClusterScan(client, place, self.report, self.namespaces)
                try:
                    rows = await scan.run()
                except ConnectorError as exc:
                    if len(self.contexts) == 1:
                        raise
                    why = "credential refused" if isinstance(exc, AuthError) else str(exc)
                    failures.append(f"context {client.target.context}: {why}")
                    self.report.blind_spot(f"context {client.target.context}", why)
                    continue
                self.versions[client.target.context] = parse_version(scan.version)
                done += 1
                yield rows
            finally:
                await client.close()
        if not done:
            raise ConnectorError("; ".join(failures) or "no context could be scanned")

    def actions(self, identity: Identity) -> list[Action]:
        context = identity.details.get("context")
        return _actions.available(identity, self.versions.get(str(context)))

    async def execute(self, identity: Identity, action: str) -> ActionResult:
        """Act with `revoke_context` when configured, else the identity's own context."""
        context = self.revoke_context or identity.details.get("context")
        try:
            client = await self._connect(context)
        except ConnectorError as exc:
            return ActionResult("failed", None, str(exc))
        try:
            return await _actions.execute(client, identity, action)
        finally:
            await client.close()


CONNECTOR = KubernetesConnector
__all__ = ["CONNECTOR", "KubernetesConnector"]
