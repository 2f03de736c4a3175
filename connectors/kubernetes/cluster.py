"""Scan one context: every list the inventory needs, concurrently, each failure a named blind spot.

A 403 on one list makes that list a blind spot naming the verb, resource and scope the scanner's
identity needs, and the rest carries on (no RBAC lists: privilege shows as unknown, not "none"). A 401,
or a 403 for `system:anonymous`, means the credential failed: the whole context fails.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from connectors.base import AuthError, Report
from connectors.kubernetes import service_accounts, token_secrets
from connectors.kubernetes.client import METADATA_LIST, ApiError, Client, path_of
from connectors.kubernetes.rbac import RBAC, Rbac
from connectors.kubernetes.service_accounts import WORKLOADS, Place
from nhitui.model import Identity, utc

INVISIBLE = ("EKS Pod Identity associations, annotation-free GKE Workload Identity bindings and other "
             "authorizers (GKE IAM, EKS access entries, AKS Azure RBAC, webhooks) leave no trace in the "
             "cluster: a service account may hold cloud or cluster rights not shown here. Bound (projected) "
             "tokens are not listable; their use is unknown without audit logs.")
VERSION_QUARANTINE = (1, 29)


def parse_version(text: str) -> tuple[int, int] | None:
    """(major, minor) of a gitVersion like `v1.30.4-eks-1234`, or None."""
    try:
        major, minor = text.lstrip("v").split(".")[:2]
        return int(major), int("".join(ch for ch in minor if ch.isdigit()))
    except (ValueError, IndexError):
        return None


class ClusterScan:
    """The lists of one context, turned into identities."""

    def __init__(self, client: Client, place: Place, report: Report, namespaces: Iterable[str] = ()) -> None:
        self.client = client
        self.place = place
        self.report = report
        self.namespaces = [n for n in namespaces if n]
        self.version = ""

    def _blind(self, verb: str, group: str, resource: str, namespace: str, exc: ApiError, what: str = "") -> None:
        scope = f"in namespace {namespace}" if namespace else "at cluster scope"
        qual = f"{resource}.{group}" if group else resource
        reason = (f"HTTP {exc.status} {exc.reason}: the scanner needs '{verb} {qual}' {scope}"
                  if exc.status == 403 else f"HTTP {exc.status} {exc.reason}")
        self.report.blind_spot(what or f"{verb} {qual} {scope} (context {self.place.context})", reason)

    async def _list(self, group: str, resource: str, query: list[tuple[str, str]] | None = None,
                    accept: str = "application/json", namespaced: bool = True,
                    what: str = "") -> tuple[str, list[dict[str, Any]]] | None:
        """Items of a list over all namespaces (or each configured one); None when any part failed."""
        version = "v1"
        spaces = self.namespaces if namespaced and self.namespaces else [""]
        kind, items = "", []
        ok = True
        for ns in spaces:
            path = path_of(group, version, resource, namespace=ns)
            try:
                k, got = await self.client.items(path, query, accept, resource=resource)
            except ApiError as exc:
                if exc.status == 401 or (exc.status == 403 and "system:anonymous" in str(exc)):
                    raise AuthError(f"context {self.place.context}: the API server refused the credential "
                                    f"({exc.reason or exc.status})") from None
                if exc.status in (403, 404, 405, 406):
                    self._blind("list", group, resource, ns, exc, what)
                    ok = False
                    continue
                raise
            kind = kind or k
            items.extend(got)
        return (kind, items) if ok or items else None

    async def _tracking(self) -> datetime | None:
        ns, name = token_secrets.TRACKING
        try:
            body = await self.client.request("GET", path_of("", "v1", "configmaps", ns, name),
                                             verb="get", resource=f"configmaps/{name}", keep_data=True)
        except ApiError as exc:
            if exc.status == 404:
                self.report.facts["legacy_token_tracking"] = "off"
                return None
            if exc.status == 401:
                raise AuthError(f"context {self.place.context}: the API server refused the credential") from None
            self.report.blind_spot(f"get configmaps/{name} in kube-system (context {self.place.context})",
                                   f"HTTP {exc.status} {exc.reason}: without it, a token without the last-used "
                                   "label is 'usage unknown'; grant get on this ConfigMap (resourceNames)")
            return None
        since = utc(((body or {}).get("data") or {}).get("since")) if isinstance(body, dict) else None
        self.report.facts["legacy_token_tracking"] = since.strftime("%Y-%m-%d") if since else "unknown"
        return since

    async def run(self) -> list[Identity]:
        self.version = await self.client.version()
        self.report.facts.setdefault("server_versions", {})[self.place.context] = self.version or "unknown"
        token_q = [("fieldSelector", f"type={token_secrets.TOKEN_TYPE}")]
        argocd_q = [("labelSelector", f"{token_secrets.ARGOCD_LABEL}=cluster")]
        jobs = {
            "sa": self._list("", "serviceaccounts"),
            "tokens": self._list("", "secrets", token_q, METADATA_LIST,
                                 what=f"list secrets (service-account tokens, context {self.place.context})"),
            "argocd": self._list("", "secrets", argocd_q, METADATA_LIST,
                                 what=f"list secrets (Argo CD clusters, context {self.place.context})"),
            "pods": self._list("", "pods"),
            "tracking": self._tracking(),
            "cr": self._list(RBAC, "clusterroles", namespaced=False),
            "crb": self._list(RBAC, "clusterrolebindings", namespaced=False),
            "roles": self._list(RBAC, "roles"),
            "rb": self._list(RBAC, "rolebindings"),
        }
        for group, resource, _, _ in WORKLOADS:
            jobs[resource] = self._list(group, resource)
        results = dict(zip(jobs, await asyncio.gather(*jobs.values())))
        for key in ("tokens", "argocd"):
            got = results[key]
            if got is not None and got[0] and got[0] != "PartialObjectMetadataList":
                self.report.blind_spot(
                    f"metadata-only listing of secrets (context {self.place.context})",
                    f"the server answered {got[0]} instead of PartialObjectMetadataList: it ignored the "
                    "metadata-only Accept header and sent secret values, which were discarded unread. "
                    "Check proxies or API aggregation in front of the API server.")
        rbac = None
        if all(results[k] is not None for k in ("cr", "crb", "roles", "rb")):
            rbac = Rbac(results["cr"][1], results["roles"][1], results["crb"][1], results["rb"][1])
        else:
            self.report.blind_spot(f"service-account privilege (context {self.place.context})",
                                   "some RBAC lists were refused: privilege is unknown, not 'none'")
        token_meta = token_secrets.metadata_of(results["tokens"][1]) if results["tokens"] else []
        argocd_meta = token_secrets.metadata_of(results["argocd"][1]) if results["argocd"] else []
        tokens_by_sa: dict[tuple[str, str], list[str]] = defaultdict(list)
        for meta in token_meta:
            ns = str(meta.get("namespace") or "")
            sa = str((meta.get("annotations") or {}).get(token_secrets.SA_NAME) or "")
            tokens_by_sa[(ns, sa)].append(self.place.uid(token_secrets.KIND, ns, str(meta.get("name"))))
        workloads = {resource: results[resource][1] for _, resource, _, _ in WORKLOADS if results[resource]}
        if results["pods"] is None or len(workloads) < len(WORKLOADS):
            self.report.blind_spot(f"pods and workloads using each service account (context {self.place.context})",
                                   "some pod or workload lists were refused: automount and users are partial")
        users = service_accounts.collect_users(results["pods"][1] if results["pods"] else [], workloads)
        sa_items = results["sa"][1] if results["sa"] else []
        sas = service_accounts.build(self.place, sa_items, users, rbac, tokens_by_sa)
        if rbac is None:
            sas = [_unknown_privilege(i) for i in sas]
        by_name = {(i.details["namespace"], i.name): i for i in sas}
        tokens = token_secrets.build(self.place, token_meta, argocd_meta, by_name, results["tracking"],
                                     sa_visible=results["sa"] is not None)
        return sas + tokens


def _unknown_privilege(identity: Identity) -> Identity:
    from dataclasses import replace

    return replace(identity, details={**identity.details, "privilege_unknown": True})
