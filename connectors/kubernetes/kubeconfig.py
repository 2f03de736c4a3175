"""Kubeconfig and in-cluster loading for one context, as kubectl does it, through `kubernetes_asyncio`.

The kubeconfig path list comes from the source's `kubeconfig`, else `$KUBECONFIG`, else `~/.kube/config`;
inside a pod with none of them, the pod's own service account (in-cluster config). Files are merged
(the first file defining a name wins; relative certificate paths resolve beside their own file) and never
written back. Exec credential plugins run here: one that fails, or prints neither a token nor a
certificate, is an `AuthError` naming the context (the library itself would log it and carry on
unauthenticated). Expired exec tokens are re-fetched before the next request.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from typing import Any

from connectors.base import AuthError, ConnectorError


@dataclass
class Target:
    """Where a context points: its name, its cluster's name and the server URL (no credential)."""

    context: str
    cluster: str
    server: str
    namespace: str = ""


def kubeconfig_paths(setting: str | None) -> str:
    """The kubeconfig path list as kubectl finds it: the setting, else $KUBECONFIG, else ~/.kube/config."""
    # Several files may be listed (':' on Unix); the merger expands '~' in each.
    return setting or os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")


def in_cluster(setting: str | None) -> bool:
    """Inside a pod with no kubeconfig configured or present: use the mounted service-account token."""
    if setting or os.environ.get("KUBECONFIG"):
        return False
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and not os.path.exists(
        os.path.expanduser("~/.kube/config"))


def read_kubeconfig(paths: str) -> Any:
    """The merged kubeconfig node (first file defining a name wins; each entry remembers its file for
    relative certificate paths), or a clear error."""
    from kubernetes_asyncio.config.kube_config import KubeConfigMerger

    try:
        merged = KubeConfigMerger(paths).config
    except Exception as exc:  # noqa: BLE001 - YAML errors, unreadable files: a source error
        raise ConnectorError(f"kubeconfig {paths}: cannot read it ({type(exc).__name__})") from None
    if merged is None:
        raise ConnectorError(f"kubeconfig {paths}: no such file (set kubeconfig = \"...\" or $KUBECONFIG)")
    return merged


def _entries(config: Any, key: str) -> list[dict[str, Any]]:
    """The named entries of a merged kubeconfig (merged entries are wrapped nodes) as plain dicts."""
    value = getattr(config, "value", config)
    out = []
    for entry in value.get(key) or []:
        entry = getattr(entry, "value", entry)
        if isinstance(entry, dict):
            out.append(entry)
    return out


def contexts_of(config: Any) -> tuple[list[str], str]:
    names = [str(c.get("name")) for c in _entries(config, "contexts")]
    return names, str(getattr(config, "value", config).get("current-context") or "")


def describe_target(config: Any, context: str) -> Target:
    ctx = next((c for c in _entries(config, "contexts") if c.get("name") == context), None)
    if ctx is None:
        raise ConnectorError(f"kubeconfig: no context named {context!r}")
    inner = ctx.get("context") or {}
    cluster_name = str(inner.get("cluster") or context)
    cluster = next((c for c in _entries(config, "clusters") if c.get("name") == cluster_name), None) or {}
    server = str((cluster.get("cluster") or {}).get("server") or "")
    return Target(context=context, cluster=cluster_name, server=server, namespace=str(inner.get("namespace") or ""))


async def load_context(kubeconfig: str | None, context: str | None) -> tuple[Any, Target]:
    """(a kubernetes_asyncio Configuration with credentials loaded, where it points) for one context."""
    from kubernetes_asyncio.client import Configuration
    from kubernetes_asyncio.config import ConfigException, incluster_config, kube_config

    cfg = Configuration()
    if in_cluster(kubeconfig) and not context:
        try:
            incluster_config.load_incluster_config(client_configuration=cfg)
        except ConfigException as exc:
            raise ConnectorError(f"in-cluster config: {exc}") from None
        target = Target(context="in-cluster", cluster="in-cluster", server=cfg.host)
    else:
        paths = kubeconfig_paths(kubeconfig)
        config = read_kubeconfig(paths)
        names, current = contexts_of(config)
        name = context or current
        if not name:
            raise ConnectorError(f"kubeconfig {paths}: no current-context; list contexts = [...] in the source")
        if name not in names:
            raise ConnectorError(f"kubeconfig {paths}: no context named {name!r} (has: {', '.join(names)})")
        target = describe_target(config, name)
        try:
            loader = kube_config.KubeConfigLoader(config_dict=config, active_context=name, config_base_path=None)
        except (ConfigException, AssertionError) as exc:
            raise ConnectorError(f"kubeconfig {paths}: context {name}: {exc or 'incomplete'}") from None
        user = loader._user.value if loader._user is not None else {}
        try:
            await loader.load_and_set(cfg)
        except ConfigException as exc:
            raise AuthError(f"context {name}: credential plugin failed: {exc}") from None
        except (OSError, ValueError) as exc:
            raise AuthError(f"context {name}: cannot load its credentials: {exc}") from None
        if "exec" in user:
            if not cfg.api_key.get("BearerToken") and not cfg.cert_file:
                # The library logs and carries on unauthenticated; we refuse instead.
                raise AuthError(f"context {name}: the exec credential plugin "
                                f"{user['exec'].get('command')!r} returned neither a token nor a certificate")
            cfg.refresh_api_key_hook = _exec_refresher(loader)
    return cfg, target


def _exec_refresher(loader: Any) -> Any:
    """A refresh hook re-running the exec plugin once its token expired (EKS tokens live 15 minutes)."""
    lock = asyncio.Lock()

    async def refresh(cfg: Any) -> None:
        from kubernetes_asyncio.config.kube_config import _is_expired

        expiry = getattr(loader, "exec_plugin_expiry", None)
        if expiry is None or not _is_expired(expiry):
            return
        async with lock:
            if _is_expired(loader.exec_plugin_expiry):
                try:
                    await loader.load_from_exec_plugin()
                except Exception as exc:  # noqa: BLE001 - ConfigException and the plugin's own failures
                    raise AuthError(f"the exec credential plugin failed to refresh the token: {exc}") from None
                cfg.api_key["BearerToken"] = loader.token

    return refresh
