"""Service accounts of a project (IAM v1), recognised by their email shape.

`serviceAccounts.list` pages at most 100 per page (default 20). proto3 JSON omits defaults:
`disabled` is absent when false, `displayName` / `description` when empty, so every field is read
with `.get()`. `uniqueId` is the stable key (never reused when an email is recreated).

Email shapes: `NAME@PROJECT.iam.gserviceaccount.com` (user-managed),
`NUMBER-compute@developer.gserviceaccount.com` (Compute Engine default),
`PROJECT@appspot.gserviceaccount.com` (App Engine default); anything else under
`gserviceaccount.com` (`service-N@gcp-sa-*`, `N@cloudservices`, `N@cloudbuild`) is a Google
service agent: shown, never offered for revocation.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from connectors._http import clean
from connectors.gcp.client import Api, GaveUp, TooLarge, classify
from connectors.gcp.projects import Project

PAGE_SIZE = 100
_COMPUTE = re.compile(r"^\d+-compute@developer\.gserviceaccount\.com$")
_USER = re.compile(r"^[a-z0-9][a-z0-9_.-]*@([a-z][a-z0-9-]{4,28}[a-z0-9])\.iam\.gserviceaccount\.com$")


def sa_kind(email: str) -> str:
    """user-managed, default-compute, default-appengine, service-agent, or external."""
    e = email.lower()
    if _COMPUTE.match(e):
        return "default-compute"
    if e.endswith("@appspot.gserviceaccount.com"):
        return "default-appengine"
    m = _USER.match(e)
    if m and not m.group(1).startswith("gcp-sa-"):
        return "user-managed"
    if e.endswith(".gserviceaccount.com") or e.endswith("@gserviceaccount.com"):
        return "service-agent"
    return "external"


@dataclass(frozen=True)
class ServiceAccount:
    project: Project
    email: str
    unique_id: str
    display_name: str
    description: str
    disabled: bool
    oauth2_client_id: str

    @property
    def kind(self) -> str:
        return sa_kind(self.email)

    @property
    def path(self) -> str:
        """The REST path, with the real project id (the `-` wildcard answers 403 for a missing SA)."""
        return f"v1/projects/{quote(self.project.id, safe='')}/serviceAccounts/{quote(self.email, safe='@')}"

    @property
    def full_name(self) -> str:
        """Policy Analyzer's name (project id, not number)."""
        return f"//iam.googleapis.com/projects/{self.project.id}/serviceAccounts/{self.email}"


def parse_account(project: Project, obj: Mapping[str, Any]) -> ServiceAccount | None:
    email = obj.get("email")
    uid = obj.get("uniqueId")
    if not isinstance(email, str) or "@" not in email or not isinstance(uid, str) or not uid.isdigit():
        return None
    return ServiceAccount(project=project, email=email, unique_id=uid,
                          display_name=clean(obj.get("displayName"), 100),
                          description=clean(obj.get("description"), 256),
                          disabled=obj.get("disabled") is True,
                          oauth2_client_id=clean(obj.get("oauth2ClientId"), 40))


async def list_accounts(api: Api, project: Project) -> list[ServiceAccount] | None:
    """Every service account of the project, or None when the list could not be read (blind spot)."""
    what = f"service accounts of {project.id}"
    out: dict[str, ServiceAccount] = {}
    try:
        async for items, reply in api.pages("iam", f"v1/projects/{quote(project.id, safe='')}/serviceAccounts",
                                            "accounts", what, {"pageSize": PAGE_SIZE}):
            if not reply.ok:
                api.report.blind_spot(what, classify(
                    reply, "grant roles/iam.serviceAccountViewer (iam.serviceAccounts.list)").text)
                return None if not out else list(out.values())
            for obj in items:
                sa = parse_account(project, obj)
                if sa is not None:
                    out.setdefault(sa.unique_id, sa)
    except (GaveUp, TooLarge) as exc:
        api.report.blind_spot(what, str(exc))
        return None if not out else list(out.values())
    return list(out.values())
