"""IAM users, and for each user the calls that list its credentials (credentials.py builds them).

- The user list comes from the `GetAccountAuthorizationDetails` pages (policies, groups, tags); when
  that call is denied, from `ListUsers` (which also gives the console password's last use).
- Per user, at once: `ListAccessKeys`, `ListSSHPublicKeys`, `ListSigningCertificates`; then, where
  the credential report cannot answer, `GetLoginProfile` (console password?) and
  `GetAccessKeyLastUsed` per key.
- The user's privilege is the highest of its managed, inline and group policies; its last use the
  latest of its password's and its keys'.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import botocore.exceptions as bx

from connectors.aws.client import GONE_CODES, error_parts
from connectors.aws.credentials import (
    UserCtx,
    access_key,
    key_last_used,
    list_access_keys,
    list_certificates,
    list_ssc_user,
    list_ssh_keys,
    service_credential,
    signing_certificate,
    ssh_key,
    user_url,
)
from connectors.aws.policies import document_privilege, policy_name
from connectors.aws.report import key_use, report_bool
from connectors.aws.roles import tags
from nhitui.model import Identity, iso, make_uid, max_privilege, sanitize, utc

if TYPE_CHECKING:
    from connectors.aws.scan import AccountScan

PROVIDER = "aws"


def list_users(iam: Any) -> list[dict[str, Any]]:
    return [u for page in iam.get_paginator("list_users").paginate(PaginationConfig={"PageSize": 1000})
            for u in page.get("Users", [])]


def has_login(iam: Any, user: str) -> bool:
    """Whether the user has a console password (GetLoginProfile answers NoSuchEntity when not)."""
    try:
        iam.get_login_profile(UserName=user)
        return True
    except bx.ClientError as exc:
        if error_parts(exc)[0] in GONE_CODES:
            return False
        raise


@dataclass
class Joins:
    """Account-wide reads a user's identities wait for (started before the per-user calls)."""

    users: asyncio.Future[Any]                  # ListUsers: password last use
    service_credentials: asyncio.Future[Any]    # ListServiceSpecificCredentials(AllUsers) or None
    report: asyncio.Future[Any]                 # credential report rows or None


async def collect_user(scan: AccountScan, u: dict[str, Any], groups: dict[str, Any], policies: dict[str, str],
                       joins: Joins) -> list[Identity]:
    """The user and all its credentials."""
    iam, name, source, account, profile = scan.iam, u["UserName"], scan.source, scan.account, scan.profile
    keys, ssh, certs = await asyncio.gather(
        scan.read("iam:ListAccessKeys", list_access_keys, iam, name, per=name),
        scan.read("iam:ListSSHPublicKeys", list_ssh_keys, iam, name, per=name),
        scan.read("iam:ListSigningCertificates", list_certificates, iam, name, per=name))
    report_rows = await joins.report
    row = (report_rows or {}).get(name)
    all_ssc = await joins.service_credentials
    later = []
    if row is None:
        later.append(scan.read("iam:GetLoginProfile", has_login, iam, name, per=name))
    if all_ssc is None:
        later.append(scan.read("iam:ListServiceSpecificCredentials", list_ssc_user, iam, name, per=name))
    rest = list(await asyncio.gather(*later))
    console = report_bool(row.get("password_enabled")) if row is not None else rest.pop(0)
    if all_ssc is not None:
        creds = [c for c in all_ssc if c.get("UserName") == name]
    else:
        creds = rest.pop(0) or []
    password_used = {x["UserName"]: x.get("PasswordLastUsed") for x in await joins.users or []}

    ctx = user_ctx(u, groups, policies)
    last_used: dict[str, dict[str, Any]] = {}
    need_api = []
    for k in keys or []:
        found = key_use(row, k) if row is not None else None
        if found is not None:
            last_used[k["AccessKeyId"]] = found
        else:
            need_api.append(k["AccessKeyId"])
    fetched = await asyncio.gather(*(scan.read("iam:GetAccessKeyLastUsed", key_last_used, iam, kid, per=name)
                                     for kid in need_api))
    for kid, info in zip(need_api, fetched):
        last_used[kid] = dict(info or {}, source="api", known=info is not None)

    out: list[Identity] = [access_key(source, k, account, ctx, last_used.get(k["AccessKeyId"], {}), profile)
                           for k in keys or []]
    out.extend(ssh_key(source, k, account, ctx, profile) for k in ssh or [])
    out.extend(signing_certificate(source, c, account, ctx, profile) for c in certs or [])
    out.extend(service_credential(source, c, account, ctx, profile) for c in creds)
    key_uses = [i.last_used_at for i in out if i.kind == "access_key" and i.last_used_at]
    password_last = utc(password_used.get(name)) or (utc(row.get("password_last_used")) if row is not None else None)
    last = max([d for d in [password_last, *key_uses] if d], default=None)
    out.insert(0, iam_user(source, u, account, ctx, console, last, password_last, profile))
    return out


def user_ctx(u: dict[str, Any], groups: dict[str, Any], policies: dict[str, str]) -> UserCtx:
    """The user's privilege and policy names (its own and its groups'), and its tags."""
    privs: list[str] = []
    managed = sorted(policy_name(a["PolicyArn"]) for a in u.get("AttachedManagedPolicies", []))
    privs += [policies.get(a["PolicyArn"], "write") for a in u.get("AttachedManagedPolicies", [])]
    inline = sorted(p["PolicyName"] for p in u.get("UserPolicyList", []))
    privs += [document_privilege(p.get("PolicyDocument")) for p in u.get("UserPolicyList", [])]
    group_scopes: list[str] = []
    for g in sorted(u.get("GroupList", [])):
        detail = groups.get(g, {})
        for a in detail.get("AttachedManagedPolicies", []):
            group_scopes.append(f"group:{g}/{policy_name(a['PolicyArn'])}")
            privs.append(policies.get(a["PolicyArn"], "write"))
        for p in detail.get("GroupPolicyList", []):
            group_scopes.append(f"group:{g}/inline:{p['PolicyName']}")
            privs.append(document_privilege(p.get("PolicyDocument")))
    scopes = tuple(managed) + tuple(f"inline:{n}" for n in inline) + tuple(group_scopes)
    return UserCtx(name=u["UserName"], arn=u.get("Arn", ""), privilege=max_privilege(*privs) if privs else "none",
                   scopes=scopes, tags=tags(u.get("Tags")))


def iam_user(source: str, u: dict[str, Any], account: str, ctx: UserCtx, console: bool | None,
             last_used: datetime | None, password_last: datetime | None, profile: str | None) -> Identity:
    arn = u.get("Arn", "")
    return Identity(
        uid=make_uid(source, "iam_user", arn), source=source, provider=PROVIDER, kind="iam_user", name=ctx.name,
        owner="", target=account, scopes=ctx.scopes, privilege=ctx.privilege, created_at=utc(u.get("CreateDate")),
        last_used_at=last_used, status="active", credential="static", actions=(), url=user_url(arn, ctx.name),
        details={"account": account, "arn": sanitize(arn), "path": sanitize(u.get("Path", "/")), "tags": ctx.tags,
                 "has_console_password": console, "password_last_used": iso(password_last) or None,
                 "groups": [sanitize(g) for g in u.get("GroupList", [])],
                 "permissions_boundary": sanitize((u.get("PermissionsBoundary") or {}).get(
                     "PermissionsBoundaryArn", "")) or None, "profile": profile})
