"""Identities as stored documents and back: what a team store keeps of each row.

A stored row is the JSON export of the identity (the design's columns plus `finding_details`), so a
responder who opens the team inventory sees the same columns, findings and explanations the scanner
computed. Provider `details` are not stored: they can be large and carry provider context the
scanner needed, not the reader. `digest` identifies a version, so a diff compares digests in the
database and decodes only rows that differ.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from nhitui.export import json_identity
from nhitui.model import Finding, Identity, utc

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode


def to_doc(identity: Identity) -> tuple[str, bytes]:
    """(the row as JSON text, its digest)."""
    doc = json_identity(identity)
    doc["usage_tracked"] = identity.usage_tracked
    text = _dumps(doc)
    return text, hashlib.blake2b(text.encode(), digest_size=16).digest()


def _split(value: Any) -> tuple[str, ...]:
    if isinstance(value, list):
        return tuple(str(v) for v in value)
    return tuple(v for v in str(value or "").split(";") if v)


def from_doc(doc: Mapping[str, Any]) -> Identity:
    """An Identity rebuilt from a stored row (no provider details; usage tracking as recorded)."""
    if "finding_details" in doc:
        findings = tuple(Finding(rule=str(f.get("rule", "")), severity=str(f.get("severity", "info")),
                                 owasp=str(f.get("owasp", "")), explanation=str(f.get("explanation", "")))
                         for f in doc.get("finding_details") or ())
    else:      # a history row keeps rule ids only: severity and tag from the rule, its title as the text
        from nhitui.policy import RULES

        findings = tuple(Finding(rule=r, severity=RULES[r].severity, owasp=RULES[r].owasp,
                                 explanation=f"{RULES[r].title} (as of the saved snapshot)")
                         if r in RULES else Finding(rule=r, severity="info", owasp="", explanation=r)
                         for r in _split(doc.get("findings")))
    return Identity(
        uid=str(doc["uid"]), source=str(doc.get("source", "")), provider=str(doc.get("provider", "")),
        kind=str(doc.get("kind", "")), name=str(doc.get("name", "")), owner=str(doc.get("owner", "")),
        target=str(doc.get("target", "")), scopes=_split(doc.get("scopes")),
        privilege=str(doc.get("privilege") or "none"), created_at=utc(doc.get("created_at")),
        expires_at=utc(doc.get("expires_at")), last_used_at=utc(doc.get("last_used_at")),
        status=str(doc.get("status") or "active"), credential=str(doc.get("credential") or "static"),
        stale=doc.get("stale") in (True, "true", "True"), findings=findings, actions=_split(doc.get("actions")),
        url=str(doc.get("url", "")), usage_tracked=doc.get("usage_tracked", True) is not False,
        details={"from_store": True},
    )
