"""GitHub values to Identity fields: privilege levels, safe text, dates.

Shared by the kind modules so that a permission level, a classic scope or a timestamp reads the same
wherever GitHub returns it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from nhitui.model import max_privilege, sanitize, utc

ADMIN_PERMISSIONS = {"administration", "organization_administration"}
CLASSIC_WRITE = {"repo", "public_repo", "workflow", "gist", "user", "project", "codespace", "repo:invite",
                 "repo_deployment", "repo:status", "security_events", "notifications", "delete_repo"}
CLASSIC_ADMIN = {"delete_repo", "site_admin", "admin"}


def level_privilege(name: str, level: str) -> str:
    """A fine-grained permission (`contents: write`) as a privilege; write on administration is admin."""
    level = str(level).lower()
    if level == "admin" or (level == "write" and name in ADMIN_PERMISSIONS):
        return "admin"
    if level == "write":
        return "write"
    if level == "read":
        return "read"
    return "none"


def classic_privilege(scopes: Iterable[str]) -> str:
    """The highest privilege among classic OAuth scopes (`admin:org` is admin, `repo` is write)."""
    best = "none"
    for s in scopes:
        s = str(s).lower()
        if s.startswith("admin:") or s in CLASSIC_ADMIN:
            p = "admin"
        elif s.startswith(("write:", "delete:")) or s in CLASSIC_WRITE:
            p = "write"
        else:
            p = "read"
        best = max_privilege(best, p)
    return best


def text(value: Any) -> str:
    """Provider text for details: one safe line (it is shown in the detail pane)."""
    return sanitize(value)[:1000]


def texts(value: Any) -> list[str]:
    return [text(v) for v in value] if isinstance(value, list) else []


def iso(value: Any) -> str | None:
    dt = utc(value)
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ") if dt else None


def full_names(found: Iterable[Any]) -> list[str]:
    """The sorted `full_name`s of a repository list (items without one are skipped)."""
    return sorted(str(r["full_name"]) for r in found if isinstance(r, dict) and r.get("full_name"))
