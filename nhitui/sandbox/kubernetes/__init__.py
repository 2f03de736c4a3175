"""The sandbox Kubernetes cluster: a fake API server seeded from the `World`, and the kubeconfig to reach it.

The kubeconfig the fake writes holds no credential: its users run an exec credential plugin (this
Python, printing an `ExecCredential` from an environment variable), as `aws eks get-token` or
`gke-gcloud-auth-plugin` would. Context `acme-prod` is the read identity; `acme-prod-admin`, the
write identity, is named by the source's `revoke_context`.

Knobs beside the shared `Knobs`: `api.ignore_metadata_header`, `api.expire_continue`,
`api.throttle_plain`, `api.throttle_json`, `api.retry_after`, `api.deny`, `api.page_limit`, `api.loop_continue`,
`api.version` (see `api.py`).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

from nhitui.sandbox.kubernetes.api import ApiServer, Store
from nhitui.sandbox.kubernetes.seed import CANARY, Seeder
from nhitui.sandbox.server import FakeServer, Knobs
from nhitui.sandbox.world import World

__all__ = ["CANARY", "KubernetesFake", "exec_user"]

CONTEXT = "acme-prod"
ADMIN_CONTEXT = "acme-prod-admin"
CLUSTER = "acme-prod"
TOKEN_ENV = "NHITUI_SANDBOX_K8S_TOKEN"
ADMIN_TOKEN_ENV = "NHITUI_SANDBOX_K8S_ADMIN_TOKEN"
PLUGIN = ("import json, os, sys; print(json.dumps({'apiVersion': sys.argv[1], 'kind': 'ExecCredential', "
          "'status': {'token': os.environ[sys.argv[2]]}}))")


def exec_user(env_var: str, api_version: str = "client.authentication.k8s.io/v1",
              command: str | None = None, args: list[str] | None = None) -> dict[str, Any]:
    """A kubeconfig user whose exec plugin prints the token held in `env_var`."""
    return {"exec": {"apiVersion": api_version, "command": command or sys.executable,
                     "args": args if args is not None else ["-I", "-S", "-c", PLUGIN, api_version, env_var],
                     "interactiveMode": "Never", "provideClusterInfo": False}}


def _roles(world: World) -> tuple[str, str | None]:
    """ARNs of the demo AWS role with a wildcard OIDC trust and of an admin role (None: the AWS world has
    none), as the AWS fake plans them."""
    from nhitui.sandbox.aws import plan_roles

    roles = plan_roles(world)
    wildcard = next((r.name for r in roles if "oidc-wildcard-sub" in r.findings), "gha-org-wildcard")
    admin = next((r.name for r in roles if r.privilege == "admin" and not r.service_linked), None)
    arn = f"arn:aws:iam::{world.aws_account}:role/"
    return arn + wildcard, (arn + admin) if admin else None


class KubernetesFake:
    """One cluster behind a fake API server; `namespaces`/`service_accounts`/`token_secrets`/`bindings`
    size the filler teams (the benchmark uses 50 x 40 x 1 and 500)."""

    def __init__(self, world: World, knobs: Knobs | None = None, token: str | None = None,
                 admin_token: str | None = None, namespaces: int = 3, service_accounts: int = 3,
                 token_secrets: int = 0, bindings: int = 6, version: str = "v1.30.4") -> None:
        self.world = world
        self.knobs = knobs or Knobs()
        self.token = token or f"sandbox-k8s-{world.seed}-read"
        self.admin_token = admin_token or f"sandbox-k8s-{world.seed}-admin"
        self.store = Store()
        record = not world.expected_for("kubernetes")
        Seeder(self.store, world, CONTEXT, CLUSTER, namespaces, service_accounts, token_secrets, bindings,
               record).run(*_roles(world))
        self.api = ApiServer(self.store, {self.token: "read", self.admin_token: "write"}, version)
        self.server = FakeServer(self.api.app, self.knobs)
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self.kubeconfig: Path | None = None

    def start(self) -> KubernetesFake:
        self.server.start()
        self._dir = tempfile.TemporaryDirectory(prefix="nhitui-k8s-")
        self.kubeconfig = Path(self._dir.name) / "kubeconfig"
        self.write_kubeconfig(self.kubeconfig)
        return self

    def stop(self) -> None:
        self.server.stop()
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    def __enter__(self) -> KubernetesFake:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def env(self) -> dict[str, str]:
        return {TOKEN_ENV: self.token, ADMIN_TOKEN_ENV: self.admin_token}

    def kubeconfig_dict(self, users: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
        users = users or {CONTEXT: exec_user(TOKEN_ENV), ADMIN_CONTEXT: exec_user(ADMIN_TOKEN_ENV)}
        return {"apiVersion": "v1", "kind": "Config", "current-context": next(iter(users)),
                "clusters": [{"name": CLUSTER, "cluster": {"server": self.url}}],
                "users": [{"name": f"{ctx}-user", "user": user} for ctx, user in users.items()],
                "contexts": [{"name": ctx, "context": {"cluster": CLUSTER, "user": f"{ctx}-user"}} for ctx in users]}

    def write_kubeconfig(self, path: Path, users: dict[str, dict[str, Any]] | None = None) -> Path:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            yaml.safe_dump(self.kubeconfig_dict(users), fh)
        return path

    def source(self, name: str, readonly: bool = False) -> dict[str, Any]:
        table: dict[str, Any] = {"type": "kubernetes", "name": name, "kubeconfig": str(self.kubeconfig),
                                 "contexts": [CONTEXT]}
        if not readonly:
            table["revoke_context"] = ADMIN_CONTEXT
        return table
