"""SAML SSO credential authorizations (GHEC only: the GHES flavour answers 404).

Routes: `GET /orgs/{org}/credential-authorizations`, `DELETE .../{credential_id}`.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from flask import Flask, Response

from nhitui.sandbox.github.state import iso

if TYPE_CHECKING:
    from nhitui.sandbox.github.fake import GitHubFake


def seed_credentials(fake: GitHubFake, org_login: str, members: list[str]) -> None:
    w = fake.world
    org = fake.orgs[org_login]
    plan = [
        ("personal access token", members[0], ["repo", "admin:org"], 100, 5, None, "release automation", None,
         {"admin-scope", "no-expiry"}, "admin"),
        ("personal access token", w.departed[1], ["repo"], 400, 300, None, w.hostile(2), None,
         {"stale-unused", "owner-departed", "no-expiry", "old-rotation"}, "write"),
        ("SSH key", members[1], [], 50, 2, None, None, w.hostile(6), set(), "write"),
        ("personal access token", members[2], ["read:org"], 30, 1, 30, "org reader", None, set(), "read"),
    ]
    for ctype, login, scopes, authorized, accessed, expires, note, title, findings, privilege in plan:
        cred_id = fake.new_id(40_000)
        last_eight = hashlib.sha256(str(cred_id).encode()).hexdigest()[:8]
        body: dict[str, Any] = {
            "login": login, "credential_id": cred_id, "credential_type": ctype,
            "credential_authorized_at": iso(w.days_ago(authorized)), "scopes": scopes,
            "credential_accessed_at": iso(w.days_ago(accessed)), "authorized_credential_id": cred_id + 1_000_000,
            "authorized_credential_title": title, "authorized_credential_note": note,
            "authorized_credential_expires_at": iso(w.days_ahead(expires)) if expires else None,
        }
        if ctype == "SSH key":
            body["fingerprint"] = f"SHA256:{hashlib.sha256(str(cred_id).encode()).hexdigest()[:43]}"
            name = title
        else:
            body["token_last_eight"] = last_eight
            name = note
        org.credentials.append(body)
        details = {"credential_type": ctype, "token_last_eight": body.get("token_last_eight", "")}
        fake.expect("sso_credential", f"{org_login}:{cred_id}", findings, name=name, owner=login,
                    target=org_login, privilege=privilege, scopes=tuple(scopes), status="active",
                    credential="static", usage_tracked=True, created_at=w.days_ago(authorized),
                    expires_at=w.days_ahead(expires) if expires else None, last_used_at=w.days_ago(accessed),
                    actions=("revoke",), details=details)


def routes(app: Flask, fake: GitHubFake) -> None:
    """List and revoke credential authorizations."""

    @app.get("/orgs/<org>/credential-authorizations")
    def credentials(org: str) -> Response:
        o = fake.orgs.get(org)
        if o is None or fake.ghes:
            return fake.not_found()
        return fake.page(o.credentials)

    @app.delete("/orgs/<org>/credential-authorizations/<int:credential_id>")
    def credential_delete(org: str, credential_id: int) -> Response:
        o = fake.orgs.get(org)
        c = next((c for c in o.credentials if c["credential_id"] == credential_id), None) if o else None
        if c is None or fake.ghes:
            return fake.not_found()
        with fake.lock:
            o.credentials.remove(c)
        return fake.respond(None, 204)
