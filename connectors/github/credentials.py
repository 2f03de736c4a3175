"""SAML SSO credential authorizations: the members' PATs and SSH keys authorized for the organisation.

Endpoint: `GET /orgs/{org}/credential-authorizations` (GitHub Enterprise Cloud with SAML SSO only;
GitHub Enterprise Server has none, so nothing is asked there). Fields: `login`, `credential_id`,
`credential_type` ("personal access token" / "SSH key"), `scopes`, `token_last_eight`,
`fingerprint`, `credential_authorized_at`, `credential_accessed_at`,
`authorized_credential_note`/`_title`, `authorized_credential_expires_at`. Action: revoke the
authorization (actions.py).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING
from urllib.parse import quote

from connectors.github.fields import classic_privilege, text, texts
from nhitui.model import Identity, utc

if TYPE_CHECKING:
    from connectors.github.client import GitHubClient
    from connectors.github.scan import Scan

HINTS = {
    "SSO credential authorizations": "needs an organisation owner token (classic: read:org) on an organisation "
                                     "with SAML SSO (GitHub Enterprise Cloud only)",
}


def credential(gh: GitHubClient, item: dict, org: str) -> Identity:
    cid = int(item["credential_id"])
    ctype = text(item.get("credential_type"))
    scopes = tuple(texts(item.get("scopes")))
    last_eight = text(item.get("token_last_eight"))
    name = (item.get("authorized_credential_note") or item.get("authorized_credential_title")
            or (f"{ctype} \u2026{last_eight}" if last_eight else ctype))
    privilege = "write" if ctype.lower() == "ssh key" and not scopes else classic_privilege(scopes)
    expires = utc(item.get("authorized_credential_expires_at"))
    status = "expired" if expires is not None and expires <= datetime.now(timezone.utc) else "active"
    details = {"org": org, "credential_id": cid, "credential_type": ctype, "token_last_eight": last_eight,
               "fingerprint": text(item.get("fingerprint")),
               "authorized_credential_id": item.get("authorized_credential_id")}
    login = text(item.get("login"))
    return gh.identity(
        "sso_credential", f"{org}:{cid}", name, owner=login, target=org, scopes=scopes, privilege=privilege,
        created_at=utc(item.get("credential_authorized_at")), expires_at=expires,
        last_used_at=utc(item.get("credential_accessed_at")), status=status, credential="static",
        actions=("revoke",), url=f"{gh.web_url}/orgs/{org}/people/{quote(login)}/sso", usage_tracked=True,
        details=details)


async def collect(scan: Scan, org: str) -> None:
    if scan.gh.ghes:
        # GitHub Enterprise Server has no SAML credential authorizations (a GHEC feature): there is
        # nothing to miss, so this is a fact of the source, not a blind spot making it partial.
        scan.report.facts["sso_credentials"] = "not applicable on GitHub Enterprise Server"
        return

    async def run() -> None:
        async for page, _ in scan.pages(f"/orgs/{quote(org)}/credential-authorizations"):
            scan.out(scan.parse(page, credential, org))
    await scan.guard("SSO credential authorizations", org, run())
