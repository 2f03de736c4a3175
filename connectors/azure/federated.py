"""Federated identity credentials (`federated_credential`) of applications and user-assigned MIs.

A FIC lets an external token (GitHub Actions, GitLab CI, Kubernetes, Terraform Cloud, another
tenant) be exchanged for the app's or managed identity's access: no secret, no expiry, so it never
looks stale, but it is trust. Each row carries its `FederatedTrust` (see `fic_trust`) in
`details[TRUSTS_DETAIL]`, granting the app id (or MI client id) with that identity's privilege;
the shared trust rules judge it. Deleting one is irreversible: the plan shows its issuer and
subject so it can be recreated.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from connectors._http import clean
from connectors.azure.fic_trust import fic_trust
from nhitui.model import TRUSTS_DETAIL, Identity, make_uid


def _fields(fic: Mapping[str, Any]) -> dict[str, Any]:
    cme = fic.get("claimsMatchingExpression")
    aud = fic.get("audiences")
    return {
        "issuer": clean(fic.get("issuer"), 600),
        "subject": clean(fic.get("subject"), 600) if isinstance(fic.get("subject"), str) else None,
        "audiences": [clean(a, 600) for a in aud if isinstance(a, str)] if isinstance(aud, list) else [],
        "claims_matching_expression": clean(cme.get("value"), 600) if isinstance(cme, Mapping) else None,
        "description": clean(fic.get("description"), 600),
    }


def app_fic_identity(source: str, fic: Mapping[str, Any], *, app: Mapping[str, Any], owner: str,
                     perms: tuple[tuple[str, ...], list[str], str], sp_id: str, tenant_id: str) -> Identity | None:
    fid = fic.get("id")
    if not isinstance(fid, str) or not fid:
        return None
    scopes, tier0, privilege = perms
    app_id = clean(app.get("appId"), 64)
    trust = fic_trust(fic, grants=app_id, grants_kind="azure_app", privilege=privilege)
    details = {**_fields(fic), "app_id": app_id, "app_object_id": clean(app.get("id"), 64), "sp_object_id": sp_id,
               "tier0": list(tier0), "fic_id": clean(fid, 64), "parent": "application", "tenant_id": tenant_id,
               TRUSTS_DETAIL: (trust,)}
    return Identity(
        uid=make_uid(source, "federated_credential", f"{app.get('id')}/{fid}"), source=source, provider="azure",
        kind="federated_credential", name=clean(fic.get("name"), 200) or fid, owner=owner,
        target=clean(app.get("displayName"), 300) or app_id, scopes=scopes, privilege=privilege,
        status="active", credential="federated", actions=("delete",), usage_tracked=False, details=details)


def is_fic_of(resource_id: str, uami_id: str) -> bool:
    """`{uami id}/federatedIdentityCredentials/{name}`, nothing else (ARM ids are case-insensitive)."""
    if not uami_id.startswith("/subscriptions/"):
        return False
    return re.fullmatch(re.escape(uami_id.rstrip("/")) + r"/federatedIdentityCredentials/[^/?#]+", resource_id,
                        re.IGNORECASE) is not None


def uami_fic_identity(source: str, fic: Mapping[str, Any], *, uami: Mapping[str, Any],
                      perms: tuple[tuple[str, ...], list[str], str], tenant_id: str) -> Identity | None:
    """An ARM FIC `{id, name, properties: {issuer, subject, audiences}}` of a user-assigned MI."""
    rid = fic.get("id")
    props = fic.get("properties")
    if not isinstance(rid, str) or not isinstance(props, Mapping) or not is_fic_of(rid, str(uami.get("id") or "")):
        return None     # the delete is sent to this id: it must name a FIC of this very identity
    scopes, tier0, privilege = perms
    client_id = str(uami.get("client_id") or "")
    trust = fic_trust(props, grants=client_id, grants_kind="azure_managed_identity", privilege=privilege)
    details = {**_fields(props), "client_id": client_id, "uami_id": uami.get("id", ""),
               "sp_object_id": uami.get("principal_id", ""), "tier0": list(tier0), "parent": "managed_identity",
               "tenant_id": tenant_id, TRUSTS_DETAIL: (trust,)}
    return Identity(
        uid=make_uid(source, "federated_credential", rid), source=source, provider="azure",
        kind="federated_credential", name=clean(fic.get("name"), 200) or rid.rsplit("/", 1)[-1],
        target=str(uami.get("name") or ""), scopes=scopes, privilege=privilege, status="active",
        credential="federated", actions=("delete",), usage_tracked=False, details=details)
