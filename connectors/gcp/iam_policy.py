"""IAM allow policies: who holds which role on a project, folder, organization or service account.

Policies are read with `requestedPolicyVersion: 3` (in the body for Resource Manager v3, as the
`options.requestedPolicyVersion` query parameter for service accounts): without it conditional
grants come back as `roles/X_withcond_<hash>` with the condition hidden. Both methods are POST.
A policy with no bindings may omit `bindings` entirely (proto3 JSON drops empty lists).

Role classes (for the privilege column): owner and `*admin*` roles are admin; editor and other
predefined roles are write; viewer/browser/`*.viewer` are read; custom roles are write (an unknown
permission set is not assumed harmless). `serviceAccountTokenCreator`, `serviceAccountUser`,
`workloadIdentityUser` and `serviceAccountKeyAdmin` on a service account (or on the project) are
impersonation paths: who can become that account.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from connectors._http import clean
from connectors.gcp.client import Api, GaveUp, Problem, TooLarge, classify
from nhitui.model import max_privilege

IMPERSONATION_ROLES = frozenset({
    "roles/iam.serviceAccountTokenCreator", "roles/iam.serviceAccountUser", "roles/iam.workloadIdentityUser",
    "roles/iam.serviceAccountKeyAdmin", "roles/iam.serviceAccountOpenIdTokenCreator",
})
READ_ROLES = frozenset({"roles/viewer", "roles/browser", "roles/iam.securityReviewer"})
_WITHCOND = re.compile(r"_withcond_[0-9a-f]+$")


def role_privilege(role: str) -> str:
    r = _WITHCOND.sub("", role)
    low = r.lower()
    if r == "roles/owner" or (r.startswith("roles/") and "admin" in low):
        return "admin"
    if r in READ_ROLES or low.endswith(("viewer", ".reader", "browser", "lister")):
        return "read"
    return "write"


@dataclass(frozen=True)
class Binding:
    role: str
    members: tuple[str, ...]
    condition: str = ""          # the condition's title or expression, when the grant is conditional


@dataclass
class Policy:
    """One resource's bindings; `read` False when it could not be read (a blind spot was recorded)."""

    resource: str
    bindings: list[Binding] = field(default_factory=list)
    read: bool = True

    def roles_of(self, member: str) -> list[Binding]:
        return [b for b in self.bindings if member in b.members]


def parse_policy(resource: str, data: Any) -> Policy:
    policy = Policy(resource)
    raw = data.get("bindings") if isinstance(data, Mapping) else None
    for b in raw if isinstance(raw, list) else []:
        if not isinstance(b, Mapping) or not isinstance(b.get("role"), str):
            continue
        raw = b.get("members")
        members = tuple(m for m in raw if isinstance(m, str)) if isinstance(raw, list) else ()
        cond = b.get("condition") if isinstance(b.get("condition"), Mapping) else {}
        text = clean(cond.get("title") or cond.get("expression") or "", 200) if cond else ""
        policy.bindings.append(Binding(b["role"], members, text))
    return policy


def scope_label(binding: Binding, where: str = "") -> str:
    """`roles/editor`, `roles/x (if until 2027)`, `roles/x @org` for the scopes column."""
    text = binding.role
    if where:
        text += f" @{where}"
    if binding.condition:
        text += f" (if {binding.condition})"
    return text


def privilege_of(bindings: list[Binding]) -> str:
    return max_privilege(*(role_privilege(b.role) for b in bindings)) if bindings else "none"


async def resource_policy(api: Api, service: str, path: str, resource: str, what: str, needs: str) -> Policy:
    """POST `{path}:getIamPolicy`; a refusal is a blind spot and an unread policy."""
    try:
        if service == "iam":
            reply = await api.call("POST", "iam", f"{path}:getIamPolicy",
                                   params={"options.requestedPolicyVersion": 3})
        else:
            reply = await api.call("POST", service, f"{path}:getIamPolicy",
                                   body={"options": {"requestedPolicyVersion": 3}})
    except (GaveUp, TooLarge) as exc:
        api.report.blind_spot(what, str(exc))
        return Policy(resource, read=False)
    if not reply.ok:
        problem: Problem = classify(reply, needs)
        if reply.status == 404:
            return Policy(resource, read=False)
        api.report.blind_spot(what, problem.text)
        return Policy(resource, read=False)
    return parse_policy(resource, reply.data)


def member_email(member: str) -> str:
    """The email of a `serviceAccount:` member (also `deleted:serviceAccount:x?uid=N`), else ""."""
    if member.startswith("serviceAccount:"):
        return member.split(":", 1)[1]
    return ""
