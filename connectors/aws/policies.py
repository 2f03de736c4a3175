"""The privilege (none / read / write / admin) an IAM policy grants, from its document or its name.

Customer managed policies come with their documents in the `GetAccountAuthorizationDetails` pages;
AWS managed ones are known by name when common (`KNOWN_MANAGED`), else fetched once with
`GetPolicy` + `GetPolicyVersion` and remembered for every account of the scan.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from nhitui.model import max_privilege

if TYPE_CHECKING:
    from connectors.aws.scan import AccountScan

KNOWN_MANAGED = {
    "AdministratorAccess": "admin", "IAMFullAccess": "admin", "PowerUserAccess": "write",
    "ReadOnlyAccess": "read", "ViewOnlyAccess": "read", "SecurityAudit": "read",
}
READ_VERBS = ("get", "list", "describe", "batchget", "head", "search", "query", "scan", "select", "view",
              "lookup", "filter")


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def load_document(doc: Any) -> dict[str, Any] | None:
    """A policy document as a dict (botocore decodes them; raw API answers are URL-encoded JSON)."""
    if isinstance(doc, dict):
        return doc
    if isinstance(doc, (str, bytes)):
        text = doc.decode("utf-8", "replace") if isinstance(doc, bytes) else doc
        text = text.strip()
        if text[:3].lower() == "%7b":
            text = unquote(text)
        try:
            parsed = json.loads(text)
        except (ValueError, RecursionError):
            return None
        return parsed if isinstance(parsed, dict) else None
    return None


def action_privilege(action: Any) -> str:
    """The privilege one IAM action (or action pattern) grants."""
    a = str(action).strip().lower()
    if a in ("*", "*:*"):
        return "admin"
    service, _, name = a.partition(":")
    if service == "iam" and name.startswith("*"):
        return "admin"                     # iam:* can grant itself anything
    if not name or name.startswith("*"):
        return "write"
    if name.startswith(READ_VERBS):
        return "read"
    return "write"


def document_privilege(doc: Any) -> str:
    """none / read / write / admin granted by the Allow statements of a policy document."""
    parsed = load_document(doc)
    if parsed is None:
        return "none"
    best = "none"
    for st in as_list(parsed.get("Statement")):
        if not isinstance(st, dict) or st.get("Effect") != "Allow":
            continue
        if "NotAction" in st:
            excluded = [str(x).lower() for x in as_list(st.get("NotAction"))]
            best = max_privilege(best, "write" if any(x in ("iam:*", "*") for x in excluded) else "admin")
            continue
        for action in as_list(st.get("Action")):
            best = max_privilege(best, action_privilege(action))
    return best


def policy_name(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


def is_aws_managed(arn: str) -> bool:
    return ":iam::aws:policy/" in arn


def fetch_policy(iam: Any, arn: str) -> str:
    """The privilege of a managed policy's default version (two calls)."""
    version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
    doc = iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"].get("Document")
    return document_privilege(doc)


def known_privilege(iam: Any, arn: str, remembered: dict[str, str]) -> str:
    """A managed policy's privilege by name or from memory, else fetched (for re-reading one role)."""
    known = KNOWN_MANAGED.get(policy_name(arn)) if is_aws_managed(arn) else None
    return known or remembered.get(arn) or fetch_policy(iam, arn)


async def policy_privileges(scan: AccountScan, authz: dict[str, Any]) -> dict[str, str]:
    """Privilege of every managed policy attached anywhere (customer docs are in the authz pages)."""
    privileges: dict[str, str] = {}
    for p in authz["policies"]:
        doc = next((v.get("Document") for v in p.get("PolicyVersionList", []) if v.get("IsDefaultVersion")), None)
        privileges[p["Arn"]] = document_privilege(doc)
    attached = {a["PolicyArn"] for kind in ("users", "roles", "groups") for item in authz[kind]
                for a in item.get("AttachedManagedPolicies", [])}
    remembered = scan.conn._managed
    missing = []
    for arn in attached - set(privileges):
        name = policy_name(arn)
        if is_aws_managed(arn) and name in KNOWN_MANAGED:
            privileges[arn] = KNOWN_MANAGED[name]
        elif arn in remembered:
            privileges[arn] = remembered[arn]
        else:
            missing.append(arn)
    fetched = await asyncio.gather(*(scan.read("iam:GetPolicyVersion", fetch_policy, scan.iam, arn,
                                               permission="iam:GetPolicy and iam:GetPolicyVersion")
                                     for arn in missing))
    for arn, priv in zip(missing, fetched):
        # Unreadable: assume write rather than none, so a hidden grant is not shown as harmless.
        privileges[arn] = priv or "write"
        if priv and is_aws_managed(arn):
            remembered[arn] = priv
    return privileges
