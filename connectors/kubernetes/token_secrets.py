"""Legacy service-account token Secrets and Argo CD cluster Secrets (`k8s_token_secret`), metadata only.

Lists, with `Accept: application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1`:
- `/api/v1/secrets?fieldSelector=type=kubernetes.io/service-account-token` — the type is known only
  from that selector (PartialObjectMetadata has no `type`);
- `/api/v1/secrets?labelSelector=argocd.argoproj.io/secret-type=cluster` — Argo CD's credentials for
  remote clusters (their `config` holds a bearer token or client key).
A server (or proxy) that ignores the header sends full Secrets: the client's parser has already
dropped every `data`/`stringData` value, and this is recorded as a blind spot so nobody mistakes the
cluster for one that honours metadata-only listing.

Usage: `kubernetes.io/legacy-token-last-used` is a UTC day. Whether its absence means "unused since
tracking began" depends on `kube-system/kube-apiserver-legacy-service-account-token-tracking`
(`data.since`): without it, usage is unknown.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from connectors.kubernetes.service_accounts import Place
from nhitui.model import Identity, sanitize, utc

KIND = "k8s_token_secret"
TOKEN_TYPE = "kubernetes.io/service-account-token"
SA_NAME = "kubernetes.io/service-account.name"
SA_UID = "kubernetes.io/service-account.uid"
LAST_USED = "kubernetes.io/legacy-token-last-used"
INVALID_SINCE = "kubernetes.io/legacy-token-invalid-since"
ARGOCD_LABEL = "argocd.argoproj.io/secret-type"
TRACKING = ("kube-system", "kube-apiserver-legacy-service-account-token-tracking")


def metadata_of(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The `metadata` of each listed item, whatever the list's flavour (values were dropped at parsing)."""
    return [i["metadata"] for i in items if isinstance(i.get("metadata"), Mapping)]


def _day(value: Any) -> datetime | None:
    if not isinstance(value, str) or len(value) != 10:
        return None
    return utc(value)


def build(place: Place, token_meta: list[dict[str, Any]], argocd_meta: list[dict[str, Any]],
          service_accounts: Mapping[tuple[str, str], Identity], tracking_since: datetime | None,
          sa_visible: bool) -> list[Identity]:
    """One Identity per token Secret; privilege and scopes are those of the SA whose token it holds."""
    out = []
    seen: set[tuple[str, str]] = set()
    for meta in token_meta:
        ns, name = str(meta.get("namespace") or ""), str(meta.get("name") or "")
        if not name or (ns, name) in seen:
            continue
        seen.add((ns, name))
        annotations = meta.get("annotations") if isinstance(meta.get("annotations"), Mapping) else {}
        labels = meta.get("labels") if isinstance(meta.get("labels"), Mapping) else {}
        sa_name = str(annotations.get(SA_NAME) or "")
        sa = service_accounts.get((ns, sa_name))
        sa_uid_ok = sa is not None and (not annotations.get(SA_UID) or annotations.get(SA_UID) == sa.details.get(
            "k8s_uid"))
        created = utc(meta.get("creationTimestamp"))
        last_used = _day(labels.get(LAST_USED))
        invalid_since = _day(labels.get(INVALID_SINCE))
        # Absence of the label means something only once tracking runs, and only for the time since then.
        if last_used is not None:
            tracked, unused_since = True, None
        elif tracking_since is not None:
            tracked = created is not None and created >= tracking_since
            unused_since = max(d for d in (tracking_since, created) if d is not None)
        else:
            tracked, unused_since = False, None
        status = "active"
        if invalid_since is not None or (sa_visible and not sa_uid_ok):
            status = "inactive"
        details: dict[str, Any] = {
            "context": place.context, "cluster": place.cluster, "namespace": ns, "k8s_uid": meta.get("uid"),
            "resource_version": meta.get("resourceVersion"), "service_account": sanitize(sa_name),
            "service_account_uid": sa.uid if sa is not None else None, "sa_exists": sa_uid_ok if sa_visible else None,
            "auto_generated": bool(sa is not None and name in (sa.details.get("secret_refs") or ())),
            "invalid_since": invalid_since.strftime("%Y-%m-%d") if invalid_since else None,
            "tracking_since": tracking_since.strftime("%Y-%m-%d") if tracking_since else None,
            "unused_since": unused_since.strftime("%Y-%m-%d") if unused_since else None,
            "secret_type": TOKEN_TYPE, "argocd_cluster": False,
        }
        if sa is not None and sa_uid_ok:
            privilege, scopes = sa.privilege, sa.scopes
        else:
            privilege, scopes = "none", ()
        out.append(Identity(
            uid=place.uid(KIND, ns, name), source=place.source, provider="kubernetes", kind=KIND, name=name,
            owner=sa_name, target=place.target(ns), scopes=scopes, privilege=privilege, created_at=created,
            last_used_at=last_used, status=status, credential="static", usage_tracked=tracked, details=details))
    for meta in argocd_meta:
        ns, name = str(meta.get("namespace") or ""), str(meta.get("name") or "")
        if not name or (ns, name) in seen:
            continue
        seen.add((ns, name))
        out.append(Identity(
            uid=place.uid(KIND, ns, name), source=place.source, provider="kubernetes", kind=KIND, name=name,
            owner="argocd", target=place.target(ns), scopes=("remote cluster credential",), privilege="none",
            created_at=utc(meta.get("creationTimestamp")), status="active", credential="static",
            usage_tracked=False,
            details={"context": place.context, "cluster": place.cluster, "namespace": ns,
                     "k8s_uid": meta.get("uid"), "resource_version": meta.get("resourceVersion"),
                     "secret_type": "argocd-cluster", "argocd_cluster": True,
                     "note": "Argo CD credential for another cluster; its rights there are not visible from here"}))
    return out
