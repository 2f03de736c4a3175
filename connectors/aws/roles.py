"""IAM roles (with their OIDC trust) and the account's OIDC identity providers.

- Roles come from the `GetAccountAuthorizationDetails` pages (users, groups and customer policies
  come along): trust policy, `RoleLastUsed`, inline and attached policies, tags, boundary.
  `credential` is `federated` when the trust admits an OIDC or SAML principal, else `ephemeral`.
  `details["trusts"]` is the parsed OIDC trust (connectors/aws/trust.py) the risk rules and the
  delivery-chain graph read; `details[TRUSTS_DETAIL]` the same trust in the provider-neutral model.
- OIDC providers: `ListOpenIDConnectProviders`, then `GetOpenIDConnectProvider` each; each knows
  which roles trust it.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from connectors.aws.policies import as_list, document_privilege, known_privilege, load_document, policy_name
from connectors.aws.trust import federated_trusts, parse_trust
from nhitui.model import TRUSTS_DETAIL, FederatedTrust, Identity, iso, make_uid, max_privilege, sanitize, utc

if TYPE_CHECKING:
    from connectors.aws.scan import AccountScan

PROVIDER = "aws"
REVOKE_POLICY = "AWSRevokeOlderSessions"


def console(arn: str) -> str:
    """The console host of the ARN's partition."""
    if arn.startswith("arn:aws-us-gov:"):
        return "console.amazonaws-us-gov.com"
    if arn.startswith("arn:aws-cn:"):
        return "console.amazonaws.cn"
    return "console.aws.amazon.com"


def tags(items: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for t in as_list(items):
        if isinstance(t, dict) and "Key" in t:
            out[sanitize(t["Key"])] = sanitize(t.get("Value", ""))
    return out


def authorization_details(iam: Any) -> dict[str, list[dict[str, Any]]]:
    """Users, roles, groups and customer managed policies, 1,000 per page."""
    out: dict[str, list[dict[str, Any]]] = {"users": [], "roles": [], "groups": [], "policies": []}
    pages = iam.get_paginator("get_account_authorization_details").paginate(
        Filter=["User", "Role", "Group", "LocalManagedPolicy"], PaginationConfig={"PageSize": 1000})
    for page in pages:
        out["users"].extend(page.get("UserDetailList", []))
        out["roles"].extend(page.get("RoleDetailList", []))
        out["groups"].extend(page.get("GroupDetailList", []))
        out["policies"].extend(page.get("Policies", []))
    return out


def role(source: str, r: dict[str, Any], account: str, policies: Mapping[str, str], profile: str | None) -> Identity:
    """One role of the authorization details (or of GetRole + its policies, when re-read)."""
    arn = r.get("Arn", "")
    name = r.get("RoleName", "")
    managed = r.get("AttachedManagedPolicies", [])
    inline = r.get("RolePolicyList", [])
    privs = [policies.get(a["PolicyArn"], "write") for a in managed]
    privs += [document_privilege(p.get("PolicyDocument")) for p in inline]
    privilege = max_privilege(*privs) if privs else "none"
    scopes = tuple(sorted(policy_name(a["PolicyArn"]) for a in managed)) + tuple(
        f"inline:{n}" for n in sorted(p["PolicyName"] for p in inline))
    trust_doc = r.get("AssumeRolePolicyDocument")
    trust_error = None
    model: tuple[FederatedTrust, ...] = ()
    try:
        trusts = [t.as_dict() for t in parse_trust(trust_doc if trust_doc is not None else {})]
    except ValueError as exc:
        trusts, trust_error = [], str(exc)
    try:
        model = federated_trusts(trust_doc if trust_doc is not None else {}, sanitize(arn), privilege)
    except ValueError:
        model = ()
    principals = trusted_principals(load_document(trust_doc) or {})
    federated = bool(trusts) or any(p.startswith("saml:") for p in principals)
    revoked = next((p for p in inline if p.get("PolicyName") == REVOKE_POLICY), None)
    revoked_before = revoke_time(revoked.get("PolicyDocument")) if revoked else None
    last = r.get("RoleLastUsed") or {}
    path = r.get("Path", "/")
    return Identity(
        uid=make_uid(source, "iam_role", arn), source=source, provider=PROVIDER, kind="iam_role", name=name,
        owner="", target=account, scopes=scopes, privilege=privilege,
        created_at=utc(r.get("CreateDate")), last_used_at=utc(last.get("LastUsedDate")), status="active",
        credential="federated" if federated else "ephemeral",
        url=f"https://{console(arn)}/iam/home#/roles/details/{quote(name, safe='')}",
        details={"account": account, "arn": sanitize(arn), "path": sanitize(path), "trusts": trusts,
                 TRUSTS_DETAIL: model, "trust_error": trust_error, "trusted_principals": principals,
                 "service_linked": path.startswith("/aws-service-role/"),
                 "policies": list(scopes), "tags": tags(r.get("Tags")),
                 "description": sanitize(r.get("Description", "")) or None,
                 "last_used_region": last.get("Region"), "sessions_revoked_before": revoked_before,
                 "max_session_seconds": r.get("MaxSessionDuration"), "profile": profile,
                 "permissions_boundary": sanitize((r.get("PermissionsBoundary") or {}).get(
                     "PermissionsBoundaryArn", "")) or None})


def reread_role(source: str, iam: Any, identity: Identity, remembered: dict[str, str]) -> Identity:
    """The role as IAM shows it now: GetRole, its inline and attached policies."""
    name = identity.name
    current = iam.get_role(RoleName=name)["Role"]
    names = [n for page in iam.get_paginator("list_role_policies").paginate(RoleName=name)
             for n in page.get("PolicyNames", [])]
    inline = [{"PolicyName": n, "PolicyDocument": iam.get_role_policy(RoleName=name, PolicyName=n).get(
        "PolicyDocument")} for n in names]
    attached = [a for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=name)
                for a in page.get("AttachedPolicies", [])]
    privileges = {a["PolicyArn"]: known_privilege(iam, a["PolicyArn"], remembered) for a in attached}
    detail = {**current, "RolePolicyList": inline, "AttachedManagedPolicies": attached}
    account = str(identity.details.get("account") or identity.target)
    return role(source, detail, account, privileges, identity.details.get("profile"))


def trusted_principals(doc: dict[str, Any]) -> list[str]:
    """Who may assume a role, as `service:x`, `aws:arn`, `federated:x`, `saml:x` (for the detail pane)."""
    out: list[str] = []
    for st in as_list(doc.get("Statement")):
        if not isinstance(st, dict) or st.get("Effect") != "Allow":
            continue
        principal = st.get("Principal")
        if principal == "*":
            out.append("aws:*")
            continue
        if not isinstance(principal, dict):
            continue
        for kind, values in principal.items():
            for v in as_list(values):
                text = sanitize(v)
                if str(kind).lower() == "federated":
                    out.append(("saml:" if ":saml-provider/" in text else "federated:") + text)
                else:
                    out.append(f"{str(kind).lower()}:{text}")
    return sorted(dict.fromkeys(out))


def revoke_time(doc: Any) -> str | None:
    """The aws:TokenIssueTime of an AWSRevokeOlderSessions policy."""
    parsed = load_document(doc) or {}
    for st in as_list(parsed.get("Statement")):
        if isinstance(st, dict):
            for op in (st.get("Condition") or {}).values():
                if isinstance(op, dict):
                    for key, value in op.items():
                        if str(key).lower() == "aws:tokenissuetime":
                            return iso(utc(as_list(value)[0] if as_list(value) else None)) or str(value)
    return "unknown"


# --- OIDC identity providers ------------------------------------------------------------------------

async def oidc_providers(scan: AccountScan) -> list[dict[str, Any]]:
    """ListOpenIDConnectProviders, then GetOpenIDConnectProvider for each (client ids, thumbprints, tags)."""
    iam = scan.iam
    listed = await scan.read("iam:ListOpenIDConnectProviders",
                             lambda: iam.list_open_id_connect_providers().get("OpenIDConnectProviderList", []))
    arns = [p["Arn"] for p in listed or []]

    def get(arn: str) -> dict[str, Any]:
        detail = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
        return {"Arn": arn, **{k: v for k, v in detail.items() if k != "ResponseMetadata"}}

    details = await asyncio.gather(*(scan.read("iam:GetOpenIDConnectProvider", get, arn, per=arn) for arn in arns))
    return [d for d in details if d]


def trusted_by(roles: Iterable[Identity]) -> dict[str, list[str]]:
    """OIDC provider ARN -> names of the roles whose trust names it."""
    out: dict[str, list[str]] = defaultdict(list)
    for r in roles:
        for t in r.details.get("trusts", ()):
            if t.get("provider_arn"):
                out[t["provider_arn"]].append(r.name)
    return out


def oidc_provider(source: str, p: dict[str, Any], account: str, trusted: Mapping[str, list[str]],
                  profile: str | None) -> Identity:
    arn = p["Arn"]
    url = str(p.get("Url") or arn.split(":oidc-provider/", 1)[-1])
    host = url.split("://", 1)[-1]
    return Identity(
        uid=make_uid(source, "oidc_provider", arn), source=source, provider=PROVIDER, kind="oidc_provider",
        name=host, owner="", target=account, created_at=utc(p.get("CreateDate")), status="active",
        credential="federated", usage_tracked=False,
        url=f"https://{console(arn)}/iam/home#/identity_providers/details/OPENID/{quote(arn, safe='')}",
        details={"account": account, "arn": sanitize(arn), "url": sanitize(host),
                 "client_ids": [sanitize(c) for c in p.get("ClientIDList", [])],
                 "thumbprints": [sanitize(t) for t in p.get("ThumbprintList", [])],
                 "tags": tags(p.get("Tags")), "roles": sorted(trusted.get(arn, [])), "profile": profile})
