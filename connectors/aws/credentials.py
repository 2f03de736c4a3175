"""A user's long-lived credentials: access keys, SSH public keys, signing certificates, service credentials.

- Access keys: `ListAccessKeys` per user; last use from the credential report when fresh, else
  `GetAccessKeyLastUsed` per key (service and region kept).
- SSH public keys (`ListSSHPublicKeys`, CodeCommit) and X.509 signing certificates
  (`ListSigningCertificates`, expiry read from the PEM, the body never kept): IAM tracks no use.
- Service-specific credentials (`ListServiceSpecificCredentials(AllUsers=true)` once, per user if the
  endpoint refuses AllUsers): long-lived passwords for CodeCommit, Keyspaces, Bedrock... reported
  with kind `service_credential` (the design's kinds table has none for them).
Each inherits the user's privilege, policies and tags (`UserCtx`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

import botocore.exceptions as bx

from connectors.aws.client import GONE_CODES, error_parts, marker_pages
from connectors.aws.roles import console
from nhitui.model import Identity, make_uid, sanitize, utc

PROVIDER = "aws"
STATUS = {"Active": "active", "Inactive": "inactive", "Expired": "expired"}
NOT_A_VALUE = (None, "N/A", "not_supported")


@dataclass
class UserCtx:
    """What every credential of a user inherits from it."""

    name: str
    arn: str
    privilege: str
    scopes: tuple[str, ...]
    tags: dict[str, str]


def user_url(arn: str, name: str) -> str:
    return f"https://{console(arn)}/iam/home#/users/details/{quote(name, safe='')}?section=security_credentials"


# --- the calls (each runs in a worker thread) --------------------------------------------------------

def list_access_keys(iam: Any, user: str) -> list[dict[str, Any]]:
    return [k for page in iam.get_paginator("list_access_keys").paginate(UserName=user)
            for k in page.get("AccessKeyMetadata", [])]


def list_ssh_keys(iam: Any, user: str) -> list[dict[str, Any]]:
    return [k for page in iam.get_paginator("list_ssh_public_keys").paginate(UserName=user)
            for k in page.get("SSHPublicKeys", [])]


def list_certificates(iam: Any, user: str) -> list[dict[str, Any]]:
    return [c for page in iam.get_paginator("list_signing_certificates").paginate(UserName=user)
            for c in page.get("Certificates", [])]


def list_ssc_all(iam: Any) -> list[dict[str, Any]] | None:
    """Every user's service-specific credentials, or None when AllUsers is refused (list per user)."""
    try:
        return marker_pages(iam.list_service_specific_credentials, "ServiceSpecificCredentials", AllUsers=True)
    except bx.ClientError as exc:
        if error_parts(exc)[0] in ("ValidationError", "InvalidInput", "InvalidParameterValue"):
            return None
        raise


def list_ssc_user(iam: Any, user: str) -> list[dict[str, Any]]:
    return marker_pages(iam.list_service_specific_credentials, "ServiceSpecificCredentials", UserName=user)


def key_last_used(iam: Any, key_id: str) -> dict[str, Any]:
    info = iam.get_access_key_last_used(AccessKeyId=key_id).get("AccessKeyLastUsed", {}) or {}
    return {"date": utc(info.get("LastUsedDate")), "service": info.get("ServiceName"), "region": info.get("Region")}


# --- the identities -------------------------------------------------------------------------------------

def _details(ctx: UserCtx, account: str, profile: str | None, **extra: Any) -> dict[str, Any]:
    return {"account": account, "user": ctx.name, "user_arn": sanitize(ctx.arn), "user_tags": ctx.tags,
            "profile": profile, **extra}


def access_key(source: str, k: dict[str, Any], account: str, ctx: UserCtx, used: dict[str, Any],
               profile: str | None) -> Identity:
    """An access key; `used` is its last use (date, service, region, where it was read)."""
    kid = str(k["AccessKeyId"])
    service, region = used.get("service"), used.get("region")
    return Identity(
        uid=make_uid(source, "access_key", kid), source=source, provider=PROVIDER, kind="access_key", name=kid,
        owner=ctx.name, target=account, scopes=ctx.scopes, privilege=ctx.privilege,
        created_at=utc(k.get("CreateDate")), last_used_at=used.get("date"),
        status=STATUS.get(k.get("Status", ""), "active"), credential="static", url=user_url(ctx.arn, ctx.name),
        details=_details(ctx, account, profile,
                         last_used_service=None if service in NOT_A_VALUE else service,
                         last_used_region=None if region in NOT_A_VALUE else region,
                         last_used_source=used.get("source"),
                         last_used_unknown=used.get("known") is False or None))


def ssh_key(source: str, k: dict[str, Any], account: str, ctx: UserCtx, profile: str | None) -> Identity:
    kid = str(k["SSHPublicKeyId"])
    return Identity(
        uid=make_uid(source, "ssh_public_key", f"{account}:{kid}"), source=source, provider=PROVIDER,
        kind="ssh_public_key", name=kid, owner=ctx.name, target=account, scopes=ctx.scopes,
        privilege=ctx.privilege, created_at=utc(k.get("UploadDate")), status=STATUS.get(k.get("Status"), "active"),
        credential="static", url=user_url(ctx.arn, ctx.name), usage_tracked=False,
        details=_details(ctx, account, profile, key_id=kid))


def signing_certificate(source: str, c: dict[str, Any], account: str, ctx: UserCtx, profile: str | None) -> Identity:
    cid = str(c["CertificateId"])
    return Identity(
        uid=make_uid(source, "signing_certificate", f"{account}:{cid}"), source=source, provider=PROVIDER,
        kind="signing_certificate", name=cid, owner=ctx.name, target=account, scopes=ctx.scopes,
        privilege=ctx.privilege, created_at=utc(c.get("UploadDate")), expires_at=cert_expiry(c.get("CertificateBody")),
        status=STATUS.get(c.get("Status"), "active"), credential="static", url=user_url(ctx.arn, ctx.name),
        usage_tracked=False, details=_details(ctx, account, profile, certificate_id=cid))


def service_credential(source: str, c: dict[str, Any], account: str, ctx: UserCtx, profile: str | None) -> Identity:
    cid = str(c["ServiceSpecificCredentialId"])
    label = c.get("ServiceUserName") or c.get("ServiceCredentialAlias") or cid
    return Identity(
        uid=make_uid(source, "service_credential", f"{account}:{cid}"), source=source, provider=PROVIDER,
        kind="service_credential", name=str(label), owner=ctx.name, target=account, scopes=ctx.scopes,
        privilege=ctx.privilege, created_at=utc(c.get("CreateDate")), expires_at=utc(c.get("ExpirationDate")),
        status=STATUS.get(c.get("Status"), "active"), credential="static", url=user_url(ctx.arn, ctx.name),
        usage_tracked=False,
        details=_details(ctx, account, profile, credential_id=cid, service=sanitize(c.get("ServiceName", "")),
                         alias=sanitize(c.get("ServiceCredentialAlias", "")) or None))


def cert_expiry(body: Any) -> datetime | None:
    """notAfter of a PEM certificate, or None (the body itself is never kept)."""
    if not isinstance(body, str) or "BEGIN CERTIFICATE" not in body:
        return None
    try:
        from cryptography import x509

        cert = x509.load_pem_x509_certificate(body.encode())
        return utc(getattr(cert, "not_valid_after_utc", None) or cert.not_valid_after)
    except Exception:  # noqa: BLE001 - an unparseable certificate just has no known expiry
        return None


# --- after an action ---------------------------------------------------------------------------------

def native_id(identity: Identity) -> str:
    """The provider's id of a credential (the part after the account for per-account ids)."""
    native = identity.native_id
    return native.rsplit(":", 1)[-1] if identity.kind != "access_key" else native


def reread_credential(source: str, iam: Any, identity: Identity) -> Identity | None:
    """The credential as the provider shows it now (None when it no longer exists)."""
    d = identity.details
    account = str(d.get("account") or identity.target)
    ctx = UserCtx(name=str(d.get("user") or identity.owner), arn=str(d.get("user_arn", "")),
                  privilege=identity.privilege, scopes=identity.scopes, tags=dict(d.get("user_tags") or {}))
    profile = d.get("profile")
    cid = native_id(identity)
    try:
        if identity.kind == "access_key":
            items = marker_pages(iam.list_access_keys, "AccessKeyMetadata", UserName=ctx.name)
            item = next((k for k in items if k["AccessKeyId"] == cid), None)
            if item is None:
                return None
            return access_key(source, item, account, ctx, dict(key_last_used(iam, cid), source="api"), profile)
        if identity.kind == "ssh_public_key":
            items = marker_pages(iam.list_ssh_public_keys, "SSHPublicKeys", UserName=ctx.name)
            item = next((k for k in items if k["SSHPublicKeyId"] == cid), None)
            return ssh_key(source, item, account, ctx, profile) if item else None
        if identity.kind == "signing_certificate":
            items = marker_pages(iam.list_signing_certificates, "Certificates", UserName=ctx.name)
            item = next((c for c in items if c["CertificateId"] == cid), None)
            return signing_certificate(source, item, account, ctx, profile) if item else None
        items = list_ssc_user(iam, ctx.name)
        item = next((c for c in items if c["ServiceSpecificCredentialId"] == cid), None)
        return service_credential(source, item, account, ctx, profile) if item else None
    except bx.ClientError as exc:
        if error_parts(exc)[0] in GONE_CODES:
            return None
        raise
