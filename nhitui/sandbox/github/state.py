"""The fake's state: organisations and repositories as stored objects, and their JSON views.

Objects are kept as the dicts GitHub serves; keys starting with `_` are the fake's own (a secret's
planted value, the repositories of a `selected` secret) and never leave (`public`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

PROVIDER = "github"


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(timezone.utc).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def public(obj: dict[str, Any]) -> dict[str, Any]:
    """The API view of a stored object: private fields (leading underscore) never leave."""
    return {k: v for k, v in obj.items() if not k.startswith("_")}


@dataclass
class Repo:
    """One repository and everything stored under it (API objects as dicts; `_`-keys never served)."""

    id: int
    full_name: str
    private: bool
    keys: list[dict] = field(default_factory=list)
    secrets: dict[str, list[dict]] = field(default_factory=lambda: {"actions": [], "dependabot": [], "codespaces": [], "agents": []})
    environments: list[dict] = field(default_factory=list)
    env_secrets: dict[str, list[dict]] = field(default_factory=dict)
    runners: list[dict] = field(default_factory=list)
    hooks: list[dict] = field(default_factory=list)
    oidc: dict = field(default_factory=lambda: {"use_default": True})


@dataclass
class Org:
    """One organisation and its org-level objects."""

    login: str
    id: int
    members: list[str]
    repos: list[str] = field(default_factory=list)
    secrets: dict[str, list[dict]] = field(default_factory=lambda: {"actions": [], "dependabot": [], "codespaces": [], "agents": []})
    runner_groups: list[dict] = field(default_factory=list)
    runners: list[dict] = field(default_factory=list)
    installations: list[dict] = field(default_factory=list)
    pat_grants: list[dict] = field(default_factory=list)
    pat_requests: list[dict] = field(default_factory=list)
    credentials: list[dict] = field(default_factory=list)
    hooks: list[dict] = field(default_factory=list)
    oidc: dict = field(default_factory=lambda: {"include_claim_keys": ["repo", "context"]})



def user_json(login: str, uid: int | None = None, kind: str = "User") -> dict[str, Any]:
    uid = uid if uid is not None else int(hashlib.sha256(login.encode()).hexdigest()[:7], 16)
    base = f"https://api.github.com/users/{login}"
    return {
        "login": login, "id": uid, "node_id": f"U_{uid}", "avatar_url": f"https://avatars.githubusercontent.com/u/{uid}",
        "gravatar_id": "", "url": base, "html_url": f"https://github.com/{login}",
        "followers_url": f"{base}/followers", "following_url": f"{base}/following{{/other_user}}",
        "gists_url": f"{base}/gists{{/gist_id}}", "starred_url": f"{base}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{base}/subscriptions", "organizations_url": f"{base}/orgs",
        "repos_url": f"{base}/repos", "events_url": f"{base}/events{{/privacy}}",
        "received_events_url": f"{base}/received_events", "type": kind, "site_admin": False,
    }


def repo_json(repo: Repo, org_id: int | None) -> dict[str, Any]:
    owner, name = repo.full_name.split("/", 1)
    api = f"https://api.github.com/repos/{repo.full_name}"
    out = {
        "id": repo.id, "node_id": f"R_{repo.id}", "name": name, "full_name": repo.full_name,
        "owner": user_json(owner, org_id, "Organization"), "private": repo.private,
        "html_url": f"https://github.com/{repo.full_name}", "description": f"The {name} service", "fork": False,
        "url": api, "visibility": "private" if repo.private else "public",
    }
    for key, suffix in (
        ("archive_url", "/{archive_format}{/ref}"), ("assignees_url", "/assignees{/user}"),
        ("blobs_url", "/git/blobs{/sha}"), ("branches_url", "/branches{/branch}"),
        ("collaborators_url", "/collaborators{/collaborator}"), ("comments_url", "/comments{/number}"),
        ("commits_url", "/commits{/sha}"), ("compare_url", "/compare/{base}...{head}"),
        ("contents_url", "/contents/{+path}"), ("contributors_url", "/contributors"),
        ("deployments_url", "/deployments"), ("downloads_url", "/downloads"), ("events_url", "/events"),
        ("forks_url", "/forks"), ("git_commits_url", "/git/commits{/sha}"), ("git_refs_url", "/git/refs{/sha}"),
        ("git_tags_url", "/git/tags{/sha}"), ("hooks_url", "/hooks"), ("issue_comment_url", "/issues/comments{/number}"),
        ("issue_events_url", "/issues/events{/number}"), ("issues_url", "/issues{/number}"),
        ("keys_url", "/keys{/key_id}"), ("labels_url", "/labels{/name}"), ("languages_url", "/languages"),
        ("merges_url", "/merges"), ("milestones_url", "/milestones{/number}"),
        ("notifications_url", "/notifications{?since,all,participating}"), ("pulls_url", "/pulls{/number}"),
        ("releases_url", "/releases{/id}"), ("stargazers_url", "/stargazers"), ("statuses_url", "/statuses/{sha}"),
        ("subscribers_url", "/subscribers"), ("subscription_url", "/subscription"), ("tags_url", "/tags"),
        ("teams_url", "/teams"), ("trees_url", "/git/trees{/sha}"),
    ):
        out[key] = api + suffix
    return out
