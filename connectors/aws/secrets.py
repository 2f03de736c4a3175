"""Secrets Manager: `ListSecrets` per configured region, planned deletions included.

Secret values are never read: nothing here (or anywhere in the connector) calls GetSecretValue.
A secret scheduled for deletion is `inactive` until its deletion date; one owned by another service
(RDS, ...) is listed but offers no action (it is deleted there).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from botocore.parsers import ResponseParserError

from connectors.aws.roles import console, tags
from nhitui.model import Identity, iso, make_uid, sanitize, utc

PROVIDER = "aws"


def list_secrets(sm: Any) -> list[dict[str, Any]]:
    """Every secret of the region. A page without `SecretList` (AWS always sends one, if empty) is an
    empty or cut body, which botocore's JSON parser reads as `{}`: raised as unparseable (retried,
    then a blind spot), never taken for "no secrets"."""
    secrets: list[dict[str, Any]] = []
    for page in sm.get_paginator("list_secrets").paginate(IncludePlannedDeletion=True,
                                                          PaginationConfig={"PageSize": 100}):
        if "SecretList" not in page:
            raise ResponseParserError("secretsmanager:ListSecrets answered without SecretList (an empty body)")
        secrets.extend(page["SecretList"])
    return secrets


def secret(source: str, s: dict[str, Any], account: str, region: str, profile: str | None) -> Identity:
    """One entry of ListSecrets (or DescribeSecret, when re-read after an action)."""
    arn = s.get("ARN", "")
    name = s.get("Name", "")
    deleted = utc(s.get("DeletedDate"))
    rules = s.get("RotationRules") or {}
    return Identity(
        uid=make_uid(source, "secret", arn), source=source, provider=PROVIDER, kind="secret", name=name, owner="",
        target=account, privilege="none", created_at=utc(s.get("CreatedDate")),
        last_used_at=utc(s.get("LastAccessedDate")), status="inactive" if deleted else "active",
        credential="static",
        url=f"https://{region}.{console(arn)}/secretsmanager/secret?name={quote(name, safe='')}&region={region}",
        details={"account": account, "region": region, "arn": sanitize(arn),
                 "rotation_enabled": bool(s.get("RotationEnabled", False)),
                 "rotation_days": rules.get("AutomaticallyAfterDays"),
                 "rotated_at": iso(utc(s.get("LastRotatedDate"))) or None,
                 "next_rotation_at": iso(utc(s.get("NextRotationDate"))) or None,
                 "changed_at": iso(utc(s.get("LastChangedDate"))) or None,
                 "deletion_date": iso(deleted) or None, "description": sanitize(s.get("Description", "")) or None,
                 "kms_key_id": sanitize(s.get("KmsKeyId", "")) or None,
                 "owning_service": sanitize(s.get("OwningService", "")) or None, "tags": tags(s.get("Tags")),
                 "profile": profile})
