"""Load-time checks of each source setting's value: URLs, ids, names and paths.

`nhitui.config` checks a setting's key and TOML type; this module checks that its value can work,
so a mistake is a config error (exit 2, one line naming the file, line and key, and what is
allowed) instead of a source that fails at scan time. `problem(kind, key, value)` returns that
message without the `file:line: ` prefix, or None. A value is never echoed when it may hold a
secret (a URL with credentials).
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

URL_KEYS = ("api_url", "url", "registry", "endpoint_url", "graph_url", "arm_url", "authority_host")
URL_ALLOWED = "http:// or https:// URL"
GCP_ENDPOINTS = ("iam", "cloudresourcemanager", "policyanalyzer", "orgpolicy", "iamcredentials")
GITHUB_DOTCOM_API = "api.github.com"

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$")
_SA_EMAIL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*@[A-Za-z0-9][A-Za-z0-9.-]*\.gserviceaccount\.com$")
_DNS_LABEL = re.compile(r"^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$")
_GITHUB_LOGIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$")
_GITLAB_GROUP = re.compile(r"^[A-Za-z0-9_.][A-Za-z0-9_.-]*(?:/[A-Za-z0-9_.][A-Za-z0-9_.-]*)*$")
_AWS_REGION = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-\d+$")
_AWS_ACCOUNT = re.compile(r"^\d{12}$")
_IAM_ROLE = re.compile(r"^[A-Za-z0-9+=,.@_-]{1,64}$")
_GCP_PROJECT = re.compile(r"^(?:[a-z0-9.-]+:)?[a-z0-9][a-z0-9-]{3,61}[a-z0-9]$")
_GCP_FOLDER = re.compile(r"^(?:folders/)?\d+$")
_BLANKS = re.compile(r"[\s\x00-\x1f\x7f]")


def url_problem(value: str) -> str | None:
    """Why `value` is not an http(s) URL with a host, or None."""
    if not value:
        return "empty (remove the key to use the default)"
    if _BLANKS.search(value):
        return "contains spaces or control characters"
    parts = urlsplit(value)
    if not parts.scheme or "://" not in value:
        return "no scheme"
    if parts.scheme.lower() not in ("http", "https"):
        return f"scheme {parts.scheme.lower()}:// is not allowed"
    if parts.username is not None or parts.password is not None:
        return "a user or password in the URL is a literal secret; use token = \"env:...\" or \"keyring:...\""
    if not parts.hostname:
        return "no host"
    try:
        parts.port  # noqa: B018 - raises ValueError on a port out of range or not a number
    except ValueError:
        return "invalid port"
    return None


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def ghes_problem(value: str) -> str | None:
    """A GitHub api_url on a host other than api.github.com must name the GHES REST root /api/v3.

    GHE.com (data residency) serves its API at api.SUBDOMAIN.ghe.com without a path, and a loopback
    address is a local fake or proxy, so neither is held to the GHES layout.
    """
    parts = urlsplit(value)
    host = (parts.hostname or "").lower()
    if host == GITHUB_DOTCOM_API or (host.startswith("api.") and host.endswith(".ghe.com")) or _loopback(host):
        return None
    if parts.path.rstrip("/").endswith("/api/v3"):
        return None
    fix = f"{parts.scheme.lower()}://{parts.netloc}/api/v3"
    return (f"a GitHub Enterprise Server API lives under /api/v3: write api_url = \"{fix}\" "
            f"(allowed: https://{GITHUB_DOTCOM_API}, or a GHES URL ending in /api/v3)")


def _path_problem(value: str) -> str | None:
    if not value.strip():
        return "empty"
    for part in value.split(os.pathsep):
        path = os.path.expanduser(part)
        if not os.path.exists(path):
            return f"{part} does not exist"
        if not os.path.isfile(path):
            return f"{part} is not a file"
    return None


def _pattern(regex: re.Pattern[str], allowed: str) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        text = str(value)
        return None if regex.match(text) else f"{text!r} is not valid (allowed: {allowed})"
    return check


def _positive_id(value: Any) -> str | None:
    if isinstance(value, int) and value > 0 or isinstance(value, str) and value.isdigit() and int(value) > 0:
        return None
    return f"{value!r} is not valid (allowed: a positive number, e.g. 12345)"


def _tenant(value: Any) -> str | None:
    if _GUID.match(value) or (_DOMAIN.match(value) and value.lower() not in ("common", "organizations")):
        return None
    return (f"{value!r} is not valid (allowed: the tenant's GUID, e.g. 00000000-0000-0000-0000-000000000000, "
            "or its domain, e.g. acme.onmicrosoft.com)")


def _vault_namespace(value: Any) -> str | None:
    if not value or _BLANKS.search(value):
        return f"{value!r} is not valid (allowed: a namespace path like team-a or team-a/app, no spaces)"
    if value.startswith("/") or value.endswith("/"):
        return f"{value!r} is not valid (allowed: a namespace path without a leading or trailing slash, e.g. team-a)"
    return None


def _gcp_organization(value: Any) -> str | None:
    if isinstance(value, int) and value > 0 or isinstance(value, str) and value.isdigit():
        return None
    return f"{value!r} is not valid (allowed: the numeric organization id, digits only, e.g. 123456789012)"


def _nonblank(value: Any) -> str | None:
    if not value or value != value.strip() or _BLANKS.search(value):
        return f"{value!r} is not valid (allowed: a non-empty name without spaces)"
    return None


_SA = _pattern(_SA_EMAIL, "a service account email, e.g. nhitui@my-project.iam.gserviceaccount.com")
_CLIENT = _pattern(_GUID, "the application (client) id, a GUID")
_PROJECT = _pattern(_GCP_PROJECT, "a project id, e.g. my-project-123")

# Checks of a scalar value, or of each item of a list value, by (source type or "*", key).
CHECKS: dict[tuple[str, str], Callable[[Any], str | None]] = {
    ("*", "ca_bundle"): _path_problem,
    ("github", "org"): _pattern(_GITHUB_LOGIN, "the organisation login, e.g. acme"),
    ("github", "orgs"): _pattern(_GITHUB_LOGIN, "organisation logins, e.g. [\"acme\", \"acme-labs\"]"),
    ("github", "app_id"): _positive_id,
    ("github", "app_installation_id"): _positive_id,
    ("gitlab", "groups"): _pattern(_GITLAB_GROUP, "group paths, e.g. [\"acme\", \"acme/platform\"]"),
    ("aws", "profile"): _nonblank,
    ("aws", "profiles"): _nonblank,
    ("aws", "revoke_profile"): _nonblank,
    ("aws", "regions"): _pattern(_AWS_REGION, "region names, e.g. [\"us-east-1\", \"eu-west-1\"]"),
    ("aws", "accounts"): _pattern(_AWS_ACCOUNT, "12-digit account ids, e.g. [\"111111111111\"]"),
    ("aws", "role_name"): _pattern(_IAM_ROLE, "an IAM role name, e.g. OrganizationAccountAccessRole"),
    ("dockerhub", "username"): _nonblank,
    ("dockerhub", "orgs"): _nonblank,
    ("gcp", "organization"): _gcp_organization,
    ("gcp", "folders"): _pattern(_GCP_FOLDER, "numeric folder ids, e.g. [\"123456789\"] or [\"folders/123456789\"]"),
    ("gcp", "projects"): _PROJECT,
    ("gcp", "quota_project"): _PROJECT,
    ("gcp", "impersonate"): _SA,
    ("gcp", "revoke_impersonate"): _SA,
    ("azure", "tenant_id"): _tenant,
    ("azure", "client_id"): _CLIENT,
    ("azure", "revoke_client_id"): _CLIENT,
    ("azure", "subscriptions"): _nonblank,
    ("azure", "graph_tenant_size"): _pattern(re.compile(r"^[SsMmLl]$"),
                                             "S (under 50 users), M (50-500) or L (over 500): Graph's throttling budget"),
    ("kubernetes", "kubeconfig"): _path_problem,
    ("kubernetes", "contexts"): _nonblank,
    ("kubernetes", "revoke_context"): _nonblank,
    ("kubernetes", "namespaces"): _pattern(_DNS_LABEL, "namespace names (lowercase DNS labels), e.g. [\"ci\"]"),
    ("vault", "namespace"): _vault_namespace,
    ("vault", "mounts"): _nonblank,
}


def problem(kind: str, key: str, value: Any) -> str | None:
    """`source.KEY: what is wrong (allowed: ...)` for one setting's value, or None when it can work."""
    if key in URL_KEYS and isinstance(value, str):
        why = url_problem(value)
        if why:
            return f"source.{key}: {why} (allowed: {URL_ALLOWED})"
        if kind == "github" and key == "api_url":
            why = ghes_problem(value)
            return f"source.{key}: {why}" if why else None
        return None
    if kind == "gcp" and key == "endpoints":
        return _endpoints_problem(value)
    check = CHECKS.get((kind, key)) or CHECKS.get(("*", key))
    if isinstance(value, list):
        if not value:
            return f"source.{key}: empty list (remove the key, or list at least one)"
        items = value
    else:
        items = [value]
    if check is None:
        return None
    for item in items:
        why = check(item)
        if why:
            return f"source.{key}: {why}"
    return None


def _endpoints_problem(table: dict[str, Any]) -> str | None:
    for service, url in table.items():
        if service not in GCP_ENDPOINTS:
            return f"source.endpoints.{service}: unknown service (allowed: {', '.join(GCP_ENDPOINTS)})"
        if not isinstance(url, str):
            return f"source.endpoints.{service}: must be a string (allowed: {URL_ALLOWED})"
        why = url_problem(url)
        if why:
            return f"source.endpoints.{service}: {why} (allowed: {URL_ALLOWED})"
    return None
