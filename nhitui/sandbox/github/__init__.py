"""A fake GitHub REST API (the api.github.com flavour) seeded from the World.

It serves the endpoints the GitHub connector reads and writes, shaped like GitHub's published
OpenAPI description (tests/openapi/ checks every response against it): `Link` pagination with
`per_page` (default 30, max 100), `x-ratelimit-*` headers and a primary rate limit that answers 403
at zero, 401 for a wrong token, 403 with `x-accepted-github-permissions` for a denied endpoint or a
write with the read-only token, 404 for unknown repositories and objects, 204 on delete.

Conditional requests as GitHub serves them: every 200 GET carries an `ETag` (a hash of the body and
its `Link`); a GET whose `If-None-Match` matches it is answered `304 Not Modified` with no body and
is not charged to the primary rate limit (GitHub does not count an authorised 304).

State is kept: a deleted key or runner disappears from the next list, a deactivated webhook shows
`active: false`. Secret values (Actions secrets, webhook secrets) are planted as canaries and are
never served, exactly as GitHub never returns them.

GitHub App auth: with `app=True` the fake has an RSA key pair; `POST /app/installations/{id}/
access_tokens` verifies the app's JWT with the public key and issues installation tokens.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import random
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode

from flask import Flask, Response, request
from flask import g as flask_g

from nhitui.sandbox.server import FakeServer, Knobs
from nhitui.sandbox.world import SERVICES, World

PROVIDER = "github"
MAX_PER_PAGE = 100
DEFAULT_PER_PAGE = 30
DOCS = "https://docs.github.com/rest"

# What each endpoint family needs, as GitHub names it in `x-accepted-github-permissions`.
PERMISSIONS = (
    ("/personal-access-token-requests", "organization_personal_access_token_requests=read"),
    ("/personal-access-tokens", "organization_personal_access_tokens=read"),
    ("/credential-authorizations", "organization_administration=read"),
    ("/actions/runner-groups", "organization_self_hosted_runners=read"),
    ("/actions/oidc", "actions=read"),
    ("/dependabot/secrets", "dependabot_secrets=read"),
    ("/secrets", "secrets=read"),
    ("/actions/runners", "administration=read; organization_self_hosted_runners=read"),
    ("/installations", "organization_administration=read"),
    ("/hooks", "repository_hooks=read; organization_hooks=read"),
    ("/keys", "administration=read"),
    ("/environments", "actions=read"),
    ("/members", "members=read"),
)

_fake_ids = itertools.count(1)


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(timezone.utc).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def _public(obj: dict[str, Any]) -> dict[str, Any]:
    """The API view of a stored object: private fields (leading underscore) never leave."""
    return {k: v for k, v in obj.items() if not k.startswith("_")}


def _perm_for(path: str) -> str:
    for fragment, perm in PERMISSIONS:
        if fragment in path:
            return perm
    return "metadata=read"


@dataclass
class _Repo:
    id: int
    full_name: str
    private: bool
    keys: list[dict] = field(default_factory=list)
    secrets: dict[str, list[dict]] = field(default_factory=lambda: {"actions": [], "dependabot": []})
    environments: list[dict] = field(default_factory=list)
    env_secrets: dict[str, list[dict]] = field(default_factory=dict)
    runners: list[dict] = field(default_factory=list)
    hooks: list[dict] = field(default_factory=list)
    oidc: dict = field(default_factory=lambda: {"use_default": True})


@dataclass
class _Org:
    login: str
    id: int
    members: list[str]
    repos: list[str] = field(default_factory=list)
    secrets: dict[str, list[dict]] = field(default_factory=lambda: {"actions": [], "dependabot": []})
    runner_groups: list[dict] = field(default_factory=list)
    runners: list[dict] = field(default_factory=list)
    installations: list[dict] = field(default_factory=list)
    pat_grants: list[dict] = field(default_factory=list)
    pat_requests: list[dict] = field(default_factory=list)
    credentials: list[dict] = field(default_factory=list)
    hooks: list[dict] = field(default_factory=list)
    oidc: dict = field(default_factory=lambda: {"include_claim_keys": ["repo", "context"]})


class GitHubFake:
    """The fake GitHub API for one World; `start()`, `stop()`, `source(name)`, `env`.

    Knobs beyond the shared fault knobs:
    - token / readonly_token: the full and the read-only token. `source()` puts the read-only one
      in `token` and the full one in `revoke_token`, like a careful operator would.
    - deny: path prefixes ("/orgs/acme/personal-access-tokens") or fragments ("credential-
      authorizations") answering 403 with GitHub's body and `x-accepted-github-permissions`.
    - app: also act as a GitHub App (RSA key, installation tokens); `source(app=True)` uses it.
    - ghes: serve under /api/v3 like GitHub Enterprise Server (no credential authorizations, no
      rate-limit headers).
    - extra_orgs: more organisations (a few repos, keys and a secret each) for multi-org sources.
    - rate_limit / rate_window: the primary rate limit (403 with remaining 0 once spent).
    - link_loop: paths whose `Link: rel="next"` points back at the same page.
    - secondary_rate: probability a GET meets GitHub's secondary rate limit (403 + Retry-After of
      `knobs.retry_after` seconds).
    - link_on_304: whether a 304 repeats the `Link` header of the 200 it stands for (RFC 9110 does
      not require it).
    """

    def __init__(self, world: World, knobs: Knobs | None = None, token: str | None = None,
                 readonly_token: str | None = None, deny: Iterable[str] = (), *, app: bool = False,
                 ghes: bool = False, extra_orgs: Iterable[str] = (), rate_limit: int = 5000,
                 rate_window: float = 3600.0, link_loop: Iterable[str] = (), record: bool = False,
                 secondary_rate: float = 0.0, link_on_304: bool = True) -> None:
        self.world = world
        self.knobs = knobs or Knobs()
        digest = hashlib.sha256(f"github:{world.seed}".encode()).hexdigest()
        self.token = token or f"ghp_{digest[:36]}"
        self.readonly_token = readonly_token or f"ghp_{digest[36:64]}ro"
        self.deny = tuple(deny)
        self.ghes = ghes
        self.app_enabled = app
        self.extra_orgs = tuple(extra_orgs)
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        # GitHub's wording; an independent server may word it otherwise (the headers still say it).
        self.rate_limit_message = ("API rate limit exceeded for user ID 1. If you reach out to GitHub Support "
                                   "for help, please include the request ID.")
        self.link_loop = set(link_loop)
        self.record = record
        self.secondary_rate = secondary_rate
        self.link_on_304 = link_on_304
        self._secondary_rng = random.Random(f"{self.knobs.seed}:secondary")
        self.recorded: list[dict[str, Any]] = []
        self.requests_log: Counter[tuple[str, str]] = Counter()
        self.app_id = 424242
        self.installation_id = 7100001
        self.issued: dict[str, datetime] = {}
        self.canaries: list[str] = []
        self.expected_facts: dict[str, Any] = {}
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self._used = 0
        self.not_modified = 0
        self._window_reset = math.ceil(time.time() + rate_window)
        self._n = next(_fake_ids)
        self._private_pem: str | None = None
        self._public_key: Any = None
        if app:
            self._make_app_key()
        self.orgs: dict[str, _Org] = {}
        self.repos: dict[str, _Repo] = {}
        self._seed()
        self.flask = self._build_app()
        self.server = FakeServer(self._wsgi, self.knobs, retry_header="Retry-After")

    # --- lifecycle --------------------------------------------------------------------------------

    def start(self) -> str:
        return self.server.start()

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self) -> GitHubFake:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def api_url(self) -> str:
        return self.server.url + ("/api/v3" if self.ghes else "")

    @property
    def rate_used(self) -> int:
        """Primary rate-limit units charged in the current window (304s are not charged)."""
        with self._lock:
            return self._used

    @property
    def _var(self) -> str:
        return f"NHITUI_FAKE_GITHUB_{self._n}"

    @property
    def env(self) -> dict[str, str]:
        env = {f"{self._var}_TOKEN": self.readonly_token, f"{self._var}_ADMIN_TOKEN": self.token}
        if self._private_pem is not None:
            env[f"{self._var}_APP_KEY"] = self._private_pem
        return env

    def source(self, name: str, app: bool | None = None, **overrides: Any) -> dict[str, Any]:
        """A `[[source]]` table pointing at this fake (credential values live in `env`)."""
        orgs = [self.world.org, *self.extra_orgs]
        table: dict[str, Any] = {"type": "github", "name": name, "api_url": self.api_url}
        if len(orgs) == 1:
            table["org"] = orgs[0]
        else:
            table["orgs"] = orgs
        if app if app is not None else self.app_enabled:
            if self._private_pem is None:
                self._make_app_key()
            table.update(app_id=self.app_id, app_private_key=f"env:{self._var}_APP_KEY",
                         app_installation_id=self.installation_id)
        else:
            table.update(token=f"env:{self._var}_TOKEN", revoke_token=f"env:{self._var}_ADMIN_TOKEN")
        table.update(overrides)
        return table

    def _make_app_key(self) -> None:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._private_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()).decode()
        self._public_key = key.public_key()
        self.app_enabled = True

    # --- seeding ----------------------------------------------------------------------------------

    def _expect(self, kind: str, native_id: str, findings: set[str], **fields: Any) -> None:
        fields.setdefault("expires_at", None)
        fields.setdefault("last_used_at", None)
        self.world.expect(PROVIDER, kind, native_id, findings=frozenset(findings), **fields)

    def _user(self, login: str, uid: int | None = None, kind: str = "User") -> dict[str, Any]:
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

    def _repo_json(self, repo: _Repo) -> dict[str, Any]:
        owner, name = repo.full_name.split("/", 1)
        api = f"https://api.github.com/repos/{repo.full_name}"
        org = self.orgs.get(owner)
        out = {
            "id": repo.id, "node_id": f"R_{repo.id}", "name": name, "full_name": repo.full_name,
            "owner": self._user(owner, org.id if org else None, "Organization"), "private": repo.private,
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

    def _new_id(self, base: int) -> int:
        return base + next(self._ids)

    def _seed(self) -> None:
        w = self.world
        # The fake is the only GitHub seeder: a second fake on the same world replaces, not doubles, the truth.
        w.expected[:] = [e for e in w.expected if e.provider != PROVIDER]
        self._seed_org(w.org, w.repo_names(), list(w.members), full=True)
        for extra in self.extra_orgs:
            names = [f"{extra}/{SERVICES[j % len(SERVICES)]}" for j in range(3)]
            self._seed_org(extra, names, list(w.members[:5]), full=False)
        self._seed_sprawl()
        orgs = [w.org, *self.extra_orgs]
        self.expected_facts = {
            "members": sorted({m for o in orgs for m in self.orgs[o].members}),
            "oidc_sub": {"org": dict(self.orgs[w.org].oidc),
                         "repos": {r.full_name: dict(r.oidc) for r in self.repos.values()
                                   if not r.oidc.get("use_default", True)}},
        }

    def _seed_org(self, login: str, repo_names: list[str], members: list[str], full: bool) -> None:
        org = _Org(login=login, id=self._new_id(9_000_000), members=members)
        self.orgs[login] = org
        for i, full_name in enumerate(repo_names):
            repo = _Repo(id=self._new_id(500_000), full_name=full_name, private=(i % 7 != 3))
            self.repos[full_name] = repo
            org.repos.append(full_name)
        if not full:
            for full_name in repo_names:
                self._add_key(full_name, profile=3, k=next(self._ids))
            self._add_secret(login, None, None, "actions", "ORG2_TOKEN", 40, 40, visibility="private", repos=[],
                             findings=set())
            return
        self._seed_keys(repo_names)
        self._seed_secrets(login, repo_names)
        self._seed_runners(login, repo_names)
        self._seed_installations(login)
        self._seed_pats(login, repo_names, members)
        self._seed_credentials(login, members)
        self._seed_hooks(login, repo_names)
        org.oidc = {"include_claim_keys": ["repo", "context"], "use_immutable_subject": False}
        self.repos[repo_names[0]].oidc = {"use_default": False, "include_claim_keys": ["repo", "context", "job_workflow_ref"],
                                          "use_immutable_subject": False, "sub_claim_prefix": "repo"}
        if len(repo_names) > 3:
            self.repos[repo_names[3]].oidc = {"use_default": False,
                                              "include_claim_keys": ["repository_owner_id", "repository_id"],
                                              "use_immutable_subject": True, "sub_claim_prefix": "repository_owner_id"}

    # deploy keys: six profiles, each planting a known mix of findings
    def _seed_keys(self, repo_names: list[str]) -> None:
        k = 0
        for i, full_name in enumerate(repo_names):
            if i % 2:
                continue
            for _ in range(2 if i % 6 == 0 else 1):
                self._add_key(full_name, profile=k % 6, k=k)
                k += 1

    def _add_key(self, full_name: str, profile: int, k: int) -> None:
        w = self.world
        repo = self.repos[full_name]
        key_id = self._new_id(9_100_000)
        short = full_name.split("/", 1)[1]
        title = w.hostile(k) if k % 4 == 1 else f"{short}-deploy-{k}"
        added_by: str | None
        findings: set[str] = set()
        read_only, enabled, last_used = True, True, None
        if profile == 0:      # stale, added by someone who left, never rotated
            added_by, created, last_used = w.departed[k % len(w.departed)], 400, 200
            findings = {"stale-unused", "owner-departed", "old-rotation"}
        elif profile == 1:    # can push
            added_by, created, last_used, read_only = w.members[k % len(w.members)], 100, 3, False
            findings = {"write-deploy-key"}
        elif profile == 2:    # never used since it was added
            added_by, created = w.members[(k + 1) % len(w.members)], 120
            findings = {"never-used"}
        elif profile == 3:    # healthy
            added_by, created, last_used = w.members[(k + 2) % len(w.members)], 60, 1
        elif profile == 4:    # added by a bot, old
            added_by, created, last_used = "github-actions[bot]", 700, 10
            findings = {"old-rotation"}
        else:                 # legacy key without added_by, disabled
            added_by, created, last_used, enabled = None, 50, 5, False
        body = {
            "id": key_id, "key": f"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI{hashlib.sha256(str(key_id).encode()).hexdigest()[:43]}",
            "url": f"https://api.github.com/repos/{full_name}/keys/{key_id}", "title": title, "verified": True,
            "created_at": _iso(w.days_ago(created)), "read_only": read_only, "added_by": added_by,
            "last_used": _iso(w.days_ago(last_used)) if last_used is not None else None, "enabled": enabled,
        }
        repo.keys.append(body)
        self._expect("deploy_key", key_id, findings, name=title, owner=added_by or "", target=full_name,
                     privilege="read" if read_only else "write",
                     scopes=("contents:read",) if read_only else ("contents:write",),
                     status="active" if enabled else "inactive", credential="static", usage_tracked=True,
                     created_at=w.days_ago(created), last_used_at=w.days_ago(last_used) if last_used is not None else None,
                     actions=("delete",),
                     details={"repo": full_name, "read_only": read_only, "enabled": enabled, "added_by": added_by or "",
                              "verified": True})

    def _add_secret(self, org: str, repo: str | None, env: str | None, stype: str, name: str, created: int,
                    updated: int, visibility: str | None = None, repos: list[str] | None = None,
                    findings: set[str] | None = None) -> None:
        w = self.world
        findings = set(findings or ())
        if updated > 365:
            findings.add("old-rotation")
        value = f"CANARY-{stype}-{name}-{hashlib.sha256(f'{org}{repo}{env}{name}'.encode()).hexdigest()[:16]}"
        self.canaries.append(value)
        body: dict[str, Any] = {"name": name, "created_at": _iso(w.days_ago(created)),
                                "updated_at": _iso(w.days_ago(updated)), "_value": value}
        if repo is None:
            body["visibility"] = visibility
            if visibility == "selected":
                body["selected_repositories_url"] = \
                    f"https://api.github.com/orgs/{org}/{stype}/secrets/{name}/repositories"
            body["_repos"] = list(repos or [])
            self.orgs[org].secrets[stype].append(body)
            native, scope, target = f"org:{org}:{name}", "org", org
        elif env is None:
            self.repos[repo].secrets[stype].append(body)
            native, scope, target = f"repo:{repo}:{name}", "repo", repo
        else:
            self.repos[repo].env_secrets.setdefault(env, []).append(body)
            native, scope, target = f"env:{repo}:{env}:{name}", "environment", repo
        kind = "actions_secret" if stype == "actions" else "dependabot_secret"
        details: dict[str, Any] = {"scope": scope, "secret_name": name, "rotated_at": _iso(w.days_ago(updated))}
        if scope == "org":
            details["visibility"] = visibility
            if visibility == "selected":
                details["repos"] = sorted(repos or [])
        if scope != "org":
            details["repos"] = [repo]
        if env:
            details["environment"] = env
        self._expect(kind, native, findings, name=name, owner="", target=target, privilege="none", scopes=(),
                     status="active", credential="static", usage_tracked=False, created_at=w.days_ago(created),
                     actions=("delete",), details=details)

    def _seed_secrets(self, org: str, repo_names: list[str]) -> None:
        self._add_secret(org, None, None, "actions", "ORG_DEPLOY_TOKEN", 300, 30, "all", [],
                         {"org-secret-visible-to-all"})
        self._add_secret(org, None, None, "actions", "SONAR_TOKEN", 800, 400, "private", [])
        self._add_secret(org, None, None, "actions", "RELEASE_PAT", 50, 10, "selected", repo_names[:2])
        self._add_secret(org, None, None, "dependabot", "NPM_REGISTRY_TOKEN", 90, 20, "selected", repo_names[2:5])
        self._add_secret(org, None, None, "dependabot", "DEPENDABOT_GH_TOKEN", 150, 100, "all", [],
                         {"org-secret-visible-to-all"})
        for i, repo in enumerate(repo_names):
            short = repo.split("/", 1)[1].upper().replace("-", "_")
            if i % 4 != 3:
                old = i % 3 == 0
                self._add_secret(org, repo, None, "actions", "NPM_TOKEN", 600 if old else 40, 500 if old else 40)
            if i % 9 == 4:
                self._add_secret(org, repo, None, "actions", "DEPLOY_SSH_KEY", 200, 200)
            if i % 5 == 2:
                self._add_secret(org, repo, None, "actions", f"{short}_SIGNING_KEY", 30, 30)
            if i % 10 == 1:
                self._add_secret(org, repo, None, "dependabot", "NPM_TOKEN", 60, 60)
            if i % 5 == 0:
                repo_obj = self.repos[repo]
                for env in ("production", "staging"):
                    env_id = self._new_id(300_000)
                    repo_obj.environments.append({
                        "id": env_id, "node_id": f"EN_{env_id}", "name": env,
                        "url": f"https://api.github.com/repos/{repo}/environments/{env}",
                        "html_url": f"https://github.com/{repo}/deployments/activity_log?environments_filter={env}",
                        "created_at": _iso(self.world.days_ago(300)), "updated_at": _iso(self.world.days_ago(20)),
                        "protection_rules": [], "deployment_branch_policy": None,
                    })
                self._add_secret(org, repo, "production", "actions", "PROD_DB_PASSWORD", 200, 20)
                self._add_secret(org, repo, "staging", "actions", "STAGING_DB_PASSWORD", 500, 450)
                if i == 0:
                    self._add_secret(org, repo, "production", "actions", "PAGERDUTY_KEY", 100, 100)

    def _seed_sprawl(self) -> None:
        """secret-name-sprawl is cross-object: count the places each name lives, as the policy does."""
        targets: dict[str, set[str]] = {}
        for e in self.world.expected_for(PROVIDER):
            if e.kind in ("actions_secret", "dependabot_secret"):
                targets.setdefault(e.fields["name"].upper(), set()).add(e.fields["target"])
        updated = []
        for e in self.world.expected:
            if e.provider == PROVIDER and e.kind in ("actions_secret", "dependabot_secret") \
                    and len(targets[e.fields["name"].upper()]) >= 5:
                e = type(e)(e.provider, e.kind, e.native_id, e.fields, e.findings | {"secret-name-sprawl"})
            updated.append(e)
        self.world.expected[:] = updated

    def _seed_runners(self, org_login: str, repo_names: list[str]) -> None:
        w = self.world
        org = self.orgs[org_login]
        groups = [
            {"id": 1, "name": "Default", "visibility": "all", "default": True, "allows_public_repositories": False,
             "_repos": []},
            {"id": 2, "name": "public-ci", "visibility": "all", "default": False, "allows_public_repositories": True,
             "_repos": []},
            {"id": 3, "name": "deploy", "visibility": "selected", "default": False,
             "allows_public_repositories": False, "_repos": repo_names[:2]},
        ]
        for g in groups:
            base = f"https://api.github.com/orgs/{org_login}/actions/runner-groups/{g['id']}"
            g.update(runners_url=f"{base}/runners", hosted_runners_url=f"{base}/hosted-runners", inherited=False,
                     workflow_restrictions_read_only=False, restricted_to_workflows=False, selected_workflows=[])
            if g["visibility"] == "selected":
                g["selected_repositories_url"] = f"{base}/repositories"
        org.runner_groups = groups
        by_id = {g["id"]: g for g in groups}
        plan = [("build-linux-01", 1, "online", True, False, "Linux"),
                (w.hostile(0), 2, "online", False, False, "Linux"),
                ("build-mac-01", 2, "offline", False, False, "macOS"),
                ("deploy-prod-01", 3, "online", False, True, "Linux"),
                ("legacy-win", 1, "offline", False, False, "Windows"),
                (w.hostile(5), 1, "online", False, False, "Linux")]
        for name, gid, status, busy, ephemeral, os_name in plan:
            runner_id = self._new_id(100)
            body = self._runner_json(runner_id, name, status, busy, ephemeral, os_name, gid)
            org.runners.append(body)
            g = by_id[gid]
            findings = {"runner-group-public-repos"} if g["allows_public_repositories"] else set()
            self._expect("runner", f"org:{org_login}:{runner_id}", findings, name=name, owner="", target=org_login,
                         privilege="none", scopes=(), status="active" if status == "online" else "offline",
                         credential="ephemeral" if ephemeral else "static", usage_tracked=False, created_at=None,
                         actions=("remove",),
                         details={"scope": "org", "labels": ["self-hosted", os_name, "X64"], "ephemeral": ephemeral,
                                  "busy": busy, "os": os_name.lower(), "group": g["name"],
                                  "group_visibility": g["visibility"],
                                  "allows_public_repositories": g["allows_public_repositories"],
                                  "repos": sorted(g["_repos"])})
        m = 0
        for i, full_name in enumerate(repo_names):
            if i % 8 != 2:
                continue
            runner_id = self._new_id(100)
            status = "online" if m % 2 == 0 else "offline"
            name = w.hostile(m + 2) if m % 3 == 1 else f"{full_name.split('/')[1]}-runner"
            self.repos[full_name].runners.append(self._runner_json(runner_id, name, status, False, False, "Linux", 1))
            self._expect("runner", f"repo:{full_name}:{runner_id}", set(), name=name, owner="", target=full_name,
                         privilege="none", scopes=(), status="active" if status == "online" else "offline",
                         credential="static", usage_tracked=False, created_at=None, actions=("remove",),
                         details={"scope": "repo", "labels": ["self-hosted", "Linux", "X64"], "ephemeral": False,
                                  "busy": False, "os": "linux", "allows_public_repositories": False,
                                  "repos": [full_name]})
            m += 1

    @staticmethod
    def _runner_json(runner_id: int, name: str, status: str, busy: bool, ephemeral: bool, os_name: str,
                     group: int) -> dict[str, Any]:
        labels = [{"id": 1, "name": "self-hosted", "type": "read-only"},
                  {"id": 2, "name": os_name, "type": "read-only"},
                  {"id": 3, "name": "X64", "type": "read-only"}]
        return {"id": runner_id, "runner_group_id": group, "name": name, "os": os_name.lower(), "status": status,
                "busy": busy, "ephemeral": ephemeral, "labels": labels, "version": "2.321.0"}

    def _seed_installations(self, org_login: str) -> None:
        w = self.world
        org = self.orgs[org_login]
        plan = [
            ("acme-ci-bot", "all", {"contents": "write", "metadata": "read", "pull_requests": "write",
                                    "checks": "write"}, 500, None, {"app-all-repos-write"}, "write"),
            ("renovate", "selected", {"contents": "write", "pull_requests": "write", "metadata": "read",
                                      "workflows": "write"}, 200, None, set(), "write"),
            ("slack", "all", {"metadata": "read", "issues": "read"}, 900, None, set(), "read"),
            ("legacy-deployer", "selected", {"administration": "write", "contents": "write", "metadata": "read"},
             800, 30, {"admin-scope"}, "admin"),
        ]
        for slug, selection, perms, created, suspended, findings, privilege in plan:
            inst_id = self._new_id(5_000_000)
            app_id = self._new_id(900_000)
            body = {
                "id": inst_id, "account": self._user(org_login, org.id, "Organization"),
                "repository_selection": selection,
                "access_tokens_url": f"https://api.github.com/app/installations/{inst_id}/access_tokens",
                "repositories_url": "https://api.github.com/installation/repositories",
                "html_url": f"https://github.com/organizations/{org_login}/settings/installations/{inst_id}",
                "app_id": app_id, "client_id": f"Iv1.{inst_id:016x}", "target_id": org.id,
                "target_type": "Organization", "permissions": dict(perms), "events": ["push", "pull_request"],
                "created_at": _iso(w.days_ago(created)), "updated_at": _iso(w.days_ago(min(created, 40))),
                "single_file_name": None, "has_multiple_single_files": False, "single_file_paths": [],
                "app_slug": slug,
                "suspended_by": self._user(w.members[0]) if suspended else None,
                "suspended_at": _iso(w.days_ago(suspended)) if suspended else None,
            }
            org.installations.append(body)
            self._expect("app_installation", inst_id, findings, name=slug, owner="", target=org_login,
                         privilege=privilege, scopes=tuple(sorted(f"{k}:{v}" for k, v in perms.items())),
                         status="suspended" if suspended else "active", credential="ephemeral", usage_tracked=False,
                         created_at=w.days_ago(created), actions=(),
                         details={"repository_selection": selection, "app_slug": slug, "suspended": bool(suspended),
                                  "app_id": app_id})

    def _seed_pats(self, org_login: str, repo_names: list[str], members: list[str]) -> None:
        w = self.world
        org = self.orgs[org_login]
        #  name, owner, selection, repos, perms, granted, expires(+ahead/-ago/None), last_used, findings, privilege
        plan = [
            (w.hostile(1), members[0], "all", [], {"repository": {"contents": "write", "metadata": "read"}},
             60, 60, 2, {"pat-all-repos"}, "write"),
            ("ci-readonly", members[1], "subset", repo_names[:2],
             {"repository": {"contents": "read", "metadata": "read"}}, 200, -10, 40, {"expired-present"}, "read"),
            ("old-automation", w.departed[0], "subset", repo_names[2:3],
             {"repository": {"contents": "write", "issues": "write"}, "organization": {"members": "read"}},
             250, None, 200, {"no-expiry", "owner-departed", "stale-unused"}, "write"),
            ("never-used-token", members[2], "none", [], {"organization": {"members": "read"}},
             100, 200, None, {"never-used"}, "read"),
            ("org-admin-token", members[3], "subset", repo_names[3:4],
             {"organization": {"organization_administration": "write"}, "repository": {"metadata": "read"}},
             20, 30, 1, {"admin-scope"}, "admin"),
        ]
        for name, owner, selection, repos, perms, granted, expires, used, findings, privilege in plan:
            pat_id = self._new_id(70_000)
            token_id = self._new_id(80_000)
            expires_at = None if expires is None else (w.days_ahead(expires) if expires > 0 else w.days_ago(-expires))
            body = {
                "id": pat_id, "owner": self._user(owner), "repository_selection": selection,
                "repositories_url": f"https://api.github.com/orgs/{org_login}/personal-access-tokens/{pat_id}/repositories",
                "permissions": perms, "access_granted_at": _iso(w.days_ago(granted)), "token_id": token_id,
                "token_name": name, "token_expired": expires is not None and expires < 0,
                "token_expires_at": _iso(expires_at), "token_last_used_at": _iso(w.days_ago(used)) if used else None,
                "_repos": list(repos),
            }
            org.pat_grants.append(body)
            self._expect("fine_grained_pat", f"grant:{org_login}:{pat_id}", findings, name=name, owner=owner,
                         target=org_login, privilege=privilege, scopes=_pat_scopes(perms),
                         status="expired" if body["token_expired"] else "active", credential="static",
                         usage_tracked=True, created_at=w.days_ago(granted), expires_at=expires_at,
                         last_used_at=w.days_ago(used) if used else None, actions=("revoke",),
                         details={"repository_selection": selection, "token_name": name, "token_id": token_id,
                                  "repos": sorted(repos), "pat_id": pat_id})
        req_id = self._new_id(60_000)
        token_id = self._new_id(80_000)
        perms = {"repository": {"deployments": "write", "metadata": "read"}}
        body = {
            "id": req_id, "reason": "needed for deploys", "owner": self._user(members[4]),
            "repository_selection": "subset",
            "repositories_url": f"https://api.github.com/orgs/{org_login}/personal-access-token-requests/{req_id}/repositories",
            "permissions": perms, "created_at": _iso(w.days_ago(3)), "token_id": token_id,
            "token_name": "deploy-bot-request", "token_expired": False, "token_expires_at": _iso(w.days_ahead(30)),
            "token_last_used_at": None, "_repos": repo_names[:1],
        }
        org.pat_requests.append(body)
        self._expect("fine_grained_pat", f"request:{org_login}:{req_id}", set(), name="deploy-bot-request",
                     owner=members[4], target=org_login, privilege="write", scopes=_pat_scopes(perms),
                     status="pending", credential="static", usage_tracked=True, created_at=w.days_ago(3),
                     expires_at=w.days_ahead(30), last_used_at=None, actions=("deny",),
                     details={"repository_selection": "subset", "token_name": "deploy-bot-request",
                              "token_id": token_id, "repos": repo_names[:1], "request_id": req_id})

    def _seed_credentials(self, org_login: str, members: list[str]) -> None:
        w = self.world
        org = self.orgs[org_login]
        plan = [
            ("personal access token", members[0], ["repo", "admin:org"], 100, 5, None, "release automation", None,
             {"admin-scope", "no-expiry"}, "admin"),
            ("personal access token", w.departed[1], ["repo"], 400, 300, None, w.hostile(2), None,
             {"stale-unused", "owner-departed", "no-expiry", "old-rotation"}, "write"),
            ("SSH key", members[1], [], 50, 2, None, None, w.hostile(6), set(), "write"),
            ("personal access token", members[2], ["read:org"], 30, 1, 30, "org reader", None, set(), "read"),
        ]
        for ctype, login, scopes, authorized, accessed, expires, note, title, findings, privilege in plan:
            cred_id = self._new_id(40_000)
            last_eight = hashlib.sha256(str(cred_id).encode()).hexdigest()[:8]
            body: dict[str, Any] = {
                "login": login, "credential_id": cred_id, "credential_type": ctype,
                "credential_authorized_at": _iso(w.days_ago(authorized)), "scopes": scopes,
                "credential_accessed_at": _iso(w.days_ago(accessed)), "authorized_credential_id": cred_id + 1_000_000,
                "authorized_credential_title": title, "authorized_credential_note": note,
                "authorized_credential_expires_at": _iso(w.days_ahead(expires)) if expires else None,
            }
            if ctype == "SSH key":
                body["fingerprint"] = f"SHA256:{hashlib.sha256(str(cred_id).encode()).hexdigest()[:43]}"
                name = title
            else:
                body["token_last_eight"] = last_eight
                name = note
            org.credentials.append(body)
            details = {"credential_type": ctype, "token_last_eight": body.get("token_last_eight", "")}
            self._expect("sso_credential", f"{org_login}:{cred_id}", findings, name=name, owner=login,
                         target=org_login, privilege=privilege, scopes=tuple(scopes), status="active",
                         credential="static", usage_tracked=True, created_at=w.days_ago(authorized),
                         expires_at=w.days_ahead(expires) if expires else None, last_used_at=w.days_ago(accessed),
                         actions=("revoke",), details=details)

    def _hook(self, url: str, hook_id: int, api: str, secret: str | None, active: bool, events: list[str],
              created: int, insecure: str = "0", last_response: dict | None = None) -> dict[str, Any]:
        w = self.world
        config: dict[str, Any] = {"url": url, "content_type": "json", "insecure_ssl": insecure}
        body: dict[str, Any] = {
            "type": "Organization" if last_response is None else "Repository", "id": hook_id, "name": "web",
            "active": active, "events": events, "config": config, "updated_at": _iso(w.days_ago(min(created, 10))),
            "created_at": _iso(w.days_ago(created)), "url": f"{api}/{hook_id}", "ping_url": f"{api}/{hook_id}/pings",
            "deliveries_url": f"{api}/{hook_id}/deliveries", "_secret": secret,
        }
        if last_response is not None:
            body["test_url"] = f"{api}/{hook_id}/test"
            body["last_response"] = last_response
        if secret:
            self.canaries.append(secret)
        return body

    def _seed_hooks(self, org_login: str, repo_names: list[str]) -> None:
        w = self.world
        org = self.orgs[org_login]
        api = f"https://api.github.com/orgs/{org_login}/hooks"
        plan = [("https://hooks.slack.example.com/services/T000/B000/XXXX", True, True, ["push", "pull_request"], 200,
                 "0", set()),
                ("http://insecure.example.net/hook", False, True, ["*"], 100, "1", set())]
        for url, has_secret, active, events, created, insecure, findings in plan:
            hook_id = self._new_id(4_000_000)
            secret = f"whsec-CANARY-{hook_id}" if has_secret else None
            org.hooks.append(self._hook(url, hook_id, api, secret, active, events, created, insecure))
            self._expect_hook(f"org:{org_login}:{hook_id}", org_login, url, secret, active, events, created, None,
                              findings)
        m = 0
        for i, full_name in enumerate(repo_names):
            if i % 6 != 1:
                continue
            hook_id = self._new_id(4_000_000)
            api = f"https://api.github.com/repos/{full_name}/hooks"
            profile = m % 4
            url = f"https://ci.example.com/{full_name.split('/')[1]}/hook"
            secret: str | None = f"whsec-CANARY-{hook_id}"
            active, created, findings = True, 50, set()
            response = {"code": 200, "status": "active", "message": "OK"}
            if profile == 1:
                secret, created = None, 80
                url = f"https://ci.example.com/hook?name={w.hostile(m)}"
            elif profile == 2:
                active, created = False, 150
                response = {"code": 410, "status": "failed", "message": "Invalid HTTP Response: 410"}
            elif profile == 3:
                created, findings = 500, {"old-rotation"}
            self.repos[full_name].hooks.append(self._hook(url, hook_id, api, secret, active, ["push"], created,
                                                          last_response=response))
            self._expect_hook(f"repo:{full_name}:{hook_id}", full_name, url, secret, active, ["push"], created,
                              response, findings)
            m += 1

    def _expect_hook(self, native: str, target: str, url: str, secret: str | None, active: bool,
                     events: list[str], created: int, response: dict | None, findings: set[str]) -> None:
        details: dict[str, Any] = {"secret_set": bool(secret), "active": active, "events": list(events)}
        if response is not None:
            details["last_response"] = dict(response)
        self._expect("webhook", native, findings, name=url, owner="", target=target, privilege="none", scopes=(),
                     status="active" if active else "inactive", credential="static", usage_tracked=False,
                     created_at=self.world.days_ago(created),
                     actions=("deactivate", "delete") if active else ("activate", "delete"), details=details)

    # --- HTTP -------------------------------------------------------------------------------------

    def _wsgi(self, environ: dict, start_response: Any) -> Any:
        if self.ghes:
            path = environ.get("PATH_INFO", "")
            if path.startswith("/api/v3/") or path == "/api/v3":
                environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + "/api/v3"
                environ["PATH_INFO"] = path[len("/api/v3"):] or "/"
            else:
                body = b'{"message":"Not Found","documentation_url":"https://docs.github.com/enterprise-server/rest"}'
                start_response("404 Not Found", [("Content-Type", "application/json"),
                                                  ("Content-Length", str(len(body)))])
                return [body]
        return self.flask.wsgi_app(environ, start_response)

    def _json(self, data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        body = b"" if status == 204 else json.dumps(data).encode()
        resp = Response(body, status=status, content_type="application/json; charset=utf-8")
        for k, v in (headers or {}).items():
            resp.headers[k] = v
        return resp

    def _error(self, status: int, message: str, headers: dict[str, str] | None = None) -> Response:
        return self._json({"message": message, "documentation_url": DOCS, "status": str(status)}, status, headers)

    def _not_found(self) -> Response:
        return self._error(404, "Not Found")

    def _page(self, items: list[Any], key: str | None = None, link: bool = True) -> Response:
        max_page = self.knobs.page_size or MAX_PER_PAGE
        try:
            per_page = max(1, min(int(request.args.get("per_page", DEFAULT_PER_PAGE)), max_page, MAX_PER_PAGE))
            page = max(1, int(request.args.get("page", 1)))
        except ValueError:
            return self._error(422, "Validation Failed")
        chunk = [_public(i) if isinstance(i, dict) else i for i in items[(page - 1) * per_page: page * per_page]]
        last = max(1, math.ceil(len(items) / per_page))
        headers: dict[str, str] = {}

        def url(n: int) -> str:
            args = dict(request.args.items())
            args["page"] = str(n)
            return f"{request.base_url}?{urlencode(args)}"

        if request.path in self.link_loop:
            headers["Link"] = f'<{request.url}>; rel="next"'
        elif link and last > 1:
            rels = []
            if page < last:
                rels += [f'<{url(page + 1)}>; rel="next"', f'<{url(last)}>; rel="last"']
            if page > 1:
                rels += [f'<{url(1)}>; rel="first"', f'<{url(page - 1)}>; rel="prev"']
            if rels:
                headers["Link"] = ", ".join(rels)
        body: Any = chunk if key is None else {"total_count": len(items), key: chunk}
        return self._json(body, 200, headers)

    def _token_of(self) -> str | None:
        auth = request.headers.get("Authorization", "")
        scheme, _, value = auth.partition(" ")
        if scheme.lower() in ("token", "bearer") and value:
            return value.strip()
        return None

    def _rate_headers(self) -> dict[str, str]:
        with self._lock:
            now = time.time()
            if now >= self._window_reset:
                self._used = 0
                self._window_reset = math.ceil(now + self.rate_window)
            return {"x-ratelimit-limit": str(self.rate_limit),
                    "x-ratelimit-remaining": str(max(0, self.rate_limit - self._used)),
                    "x-ratelimit-used": str(self._used), "x-ratelimit-reset": str(self._window_reset),
                    "x-ratelimit-resource": "core"}

    def _conditional(self, resp: Response) -> Response:
        """Tag a 200 GET with an ETag; answer 304 (and refund the rate limit) when the client has it."""
        body = resp.get_data()
        link = resp.headers.get("Link", "")
        tag = 'W/"' + hashlib.sha256(body + b"\n" + link.encode()).hexdigest()[:40] + '"'
        resp.headers["ETag"] = tag
        resp.headers["Vary"] = "Accept, Authorization, Cookie, X-GitHub-OTP"
        asked = request.headers.get("If-None-Match", "")
        if not asked:
            return resp
        wanted = {t.strip().removeprefix("W/") for t in asked.split(",")}
        if "*" not in wanted and tag.removeprefix("W/") not in wanted:
            return resp
        with self._lock:
            self.not_modified += 1
            charged = flask_g.get("charged")
            if charged is not None and charged == self._window_reset and self._used > 0:
                self._used -= 1
        out = Response(b"", status=304)
        for k in ("ETag", "Link", "Vary") if self.link_on_304 else ("ETag", "Vary"):
            if k in resp.headers:
                out.headers[k] = resp.headers[k]
        return out

    def _denied(self, path: str) -> bool:
        for d in self.deny:
            if (d.startswith("/") and path.startswith(d)) or (not d.startswith("/") and d in path):
                return True
        return False

    def _build_app(self) -> Flask:
        app = Flask(f"fake-github-{self._n}")
        fake = self

        @app.before_request
        def gate() -> Response | None:
            path = request.path
            with fake._lock:
                qs = request.query_string.decode()
                fake.requests_log[(request.method, path + ("?" + qs if qs else ""))] += 1
            if path.startswith("/app/"):
                return None  # JWT-authenticated, checked by the handler
            token = fake._token_of()
            valid = token is not None and (token in (fake.token, fake.readonly_token) or token in fake.issued)
            if not valid:
                return fake._error(401, "Bad credentials")
            if token in fake.issued and fake.issued[token] < datetime.now(timezone.utc):
                return fake._error(401, "Bad credentials")
            if not fake.ghes:
                with fake._lock:
                    now = time.time()
                    if now >= fake._window_reset:
                        fake._used = 0
                        fake._window_reset = math.ceil(now + fake.rate_window)
                    if fake._used >= fake.rate_limit:
                        return fake._error(403, fake.rate_limit_message)
                    fake._used += 1
                    flask_g.charged = fake._window_reset
            if fake.secondary_rate and request.method == "GET":
                with fake._lock:
                    hit = fake._secondary_rng.random() < fake.secondary_rate
                if hit:
                    wait = fake.knobs.retry_after
                    return fake._error(403, "You have exceeded a secondary rate limit. Please wait a few minutes "
                                            "before you try again.",
                                       {"Retry-After": str(int(wait)) if float(wait).is_integer() else str(wait)})
            if fake._denied(path):
                return fake._error(403, "Resource not accessible by personal access token",
                                   {"x-accepted-github-permissions": _perm_for(path)})
            if request.method != "GET" and token == fake.readonly_token:
                return fake._error(403, "Resource not accessible by personal access token",
                                   {"x-accepted-github-permissions": _perm_for(path).replace("=read", "=write")})
            return None

        @app.after_request
        def decorate(resp: Response) -> Response:
            if request.method == "GET" and resp.status_code == 200:
                resp = fake._conditional(resp)
            if not fake.ghes:
                for k, v in fake._rate_headers().items():
                    resp.headers.setdefault(k, v)
            resp.headers.setdefault("X-GitHub-Api-Version-Selected", "2022-11-28")
            if fake.record and request.url_rule is not None:
                body = resp.get_data()
                fake.recorded.append({"method": request.method.lower(), "path": request.path,
                                      "status": resp.status_code, "body": json.loads(body) if body else None,
                                      "headers": dict(resp.headers)})
            return resp

        @app.errorhandler(404)
        def not_found(_exc: Any) -> Response:
            return fake._not_found()

        @app.errorhandler(405)
        def not_allowed(_exc: Any) -> Response:
            return fake._error(404, "Not Found")

        def org_or_404(org: str) -> _Org | None:
            return fake.orgs.get(org)

        def repo_or_404(owner: str, repo: str) -> _Repo | None:
            return fake.repos.get(f"{owner}/{repo}")

        # -- org level ----------------------------------------------------------------------------

        @app.get("/orgs/<org>/repos")
        def org_repos(org: str) -> Response:
            o = org_or_404(org)
            if o is None:
                return fake._not_found()
            return fake._page([fake._repo_json(fake.repos[r]) for r in o.repos])

        @app.get("/orgs/<org>/members")
        def org_members(org: str) -> Response:
            o = org_or_404(org)
            if o is None:
                return fake._not_found()
            return fake._page([fake._user(m) for m in o.members])

        @app.get("/orgs/<org>/<any(actions, dependabot):stype>/secrets")
        def org_secrets(org: str, stype: str) -> Response:
            o = org_or_404(org)
            return fake._not_found() if o is None else fake._page(o.secrets[stype], "secrets")

        def find_secret(items: list[dict], name: str) -> dict | None:
            return next((s for s in items if s["name"].upper() == name.upper()), None)

        @app.get("/orgs/<org>/<any(actions, dependabot):stype>/secrets/<secret_name>/repositories")
        def org_secret_repos(org: str, stype: str, secret_name: str) -> Response:
            o = org_or_404(org)
            s = find_secret(o.secrets[stype], secret_name) if o else None
            if s is None:
                return fake._not_found()
            repos = [fake._repo_json(fake.repos[r]) for r in s["_repos"] if r in fake.repos]
            return fake._page(repos, "repositories", link=False)

        @app.delete("/orgs/<org>/<any(actions, dependabot):stype>/secrets/<secret_name>")
        def org_secret_delete(org: str, stype: str, secret_name: str) -> Response:
            o = org_or_404(org)
            s = find_secret(o.secrets[stype], secret_name) if o else None
            if s is None:
                return fake._not_found()
            with fake._lock:
                o.secrets[stype].remove(s)
            return fake._json(None, 204)

        @app.get("/orgs/<org>/actions/runner-groups")
        def runner_groups(org: str) -> Response:
            o = org_or_404(org)
            return fake._not_found() if o is None else fake._page(o.runner_groups, "runner_groups", link=False)

        @app.get("/orgs/<org>/actions/runner-groups/<int:runner_group_id>/repositories")
        def runner_group_repos(org: str, runner_group_id: int) -> Response:
            o = org_or_404(org)
            g = next((g for g in o.runner_groups if g["id"] == runner_group_id), None) if o else None
            if g is None:
                return fake._not_found()
            return fake._page([fake._repo_json(fake.repos[r]) for r in g["_repos"]], "repositories", link=False)

        @app.get("/orgs/<org>/actions/runners")
        def org_runners(org: str) -> Response:
            o = org_or_404(org)
            return fake._not_found() if o is None else fake._page(o.runners, "runners")

        @app.route("/orgs/<org>/actions/runners/<int:runner_id>", methods=["GET", "DELETE"])
        def org_runner(org: str, runner_id: int) -> Response:
            o = org_or_404(org)
            r = next((r for r in o.runners if r["id"] == runner_id), None) if o else None
            if r is None:
                return fake._not_found()
            if request.method == "DELETE":
                with fake._lock:
                    o.runners.remove(r)
                return fake._json(None, 204)
            return fake._json(_public(r))

        @app.get("/orgs/<org>/installations")
        def installations(org: str) -> Response:
            o = org_or_404(org)
            return fake._not_found() if o is None else fake._page(o.installations, "installations")

        @app.route("/orgs/<org>/personal-access-tokens", methods=["GET", "POST"])
        def pat_grants(org: str) -> Response:
            o = org_or_404(org)
            if o is None:
                return fake._not_found()
            if request.method == "POST":
                body = request.get_json(silent=True) or {}
                ids = body.get("pat_ids")
                if body.get("action") != "revoke" or not isinstance(ids, list) or not ids:
                    return fake._error(422, "Validation Failed")
                with fake._lock:
                    o.pat_grants = [g for g in o.pat_grants if g["id"] not in set(ids)]
                return fake._json({}, 202)
            return fake._page(o.pat_grants)

        @app.post("/orgs/<org>/personal-access-tokens/<int:pat_id>")
        def pat_grant_update(org: str, pat_id: int) -> Response:
            o = org_or_404(org)
            g = next((g for g in o.pat_grants if g["id"] == pat_id), None) if o else None
            if g is None:
                return fake._not_found()
            if (request.get_json(silent=True) or {}).get("action") != "revoke":
                return fake._error(422, "Validation Failed")
            with fake._lock:
                o.pat_grants.remove(g)
            return fake._json(None, 204)

        @app.get("/orgs/<org>/personal-access-tokens/<int:pat_id>/repositories")
        def pat_grant_repos(org: str, pat_id: int) -> Response:
            o = org_or_404(org)
            g = next((g for g in o.pat_grants if g["id"] == pat_id), None) if o else None
            if g is None:
                return fake._not_found()
            return fake._page([fake._repo_json(fake.repos[r]) for r in g["_repos"]])

        @app.get("/orgs/<org>/personal-access-token-requests")
        def pat_requests(org: str) -> Response:
            o = org_or_404(org)
            return fake._not_found() if o is None else fake._page(o.pat_requests)

        @app.post("/orgs/<org>/personal-access-token-requests/<int:pat_request_id>")
        def pat_request_review(org: str, pat_request_id: int) -> Response:
            o = org_or_404(org)
            r = next((r for r in o.pat_requests if r["id"] == pat_request_id), None) if o else None
            if r is None:
                return fake._not_found()
            action = (request.get_json(silent=True) or {}).get("action")
            if action not in ("approve", "deny"):
                return fake._error(422, "Validation Failed")
            with fake._lock:
                o.pat_requests.remove(r)
            return fake._json(None, 204)

        @app.get("/orgs/<org>/personal-access-token-requests/<int:pat_request_id>/repositories")
        def pat_request_repos(org: str, pat_request_id: int) -> Response:
            o = org_or_404(org)
            r = next((r for r in o.pat_requests if r["id"] == pat_request_id), None) if o else None
            if r is None:
                return fake._not_found()
            return fake._page([fake._repo_json(fake.repos[x]) for x in r["_repos"]])

        @app.get("/orgs/<org>/credential-authorizations")
        def credentials(org: str) -> Response:
            o = org_or_404(org)
            if o is None or fake.ghes:
                return fake._not_found()
            return fake._page(o.credentials)

        @app.delete("/orgs/<org>/credential-authorizations/<int:credential_id>")
        def credential_delete(org: str, credential_id: int) -> Response:
            o = org_or_404(org)
            c = next((c for c in o.credentials if c["credential_id"] == credential_id), None) if o else None
            if c is None or fake.ghes:
                return fake._not_found()
            with fake._lock:
                o.credentials.remove(c)
            return fake._json(None, 204)

        def hook_view(h: dict) -> dict:
            out = _public(h)
            out["config"] = dict(h["config"])
            if h.get("_secret"):
                out["config"]["secret"] = "********"
            return out

        def hook_write(hooks: list[dict], hook_id: int) -> Response:
            h = next((h for h in hooks if h["id"] == hook_id), None)
            if h is None:
                return fake._not_found()
            if request.method == "DELETE":
                with fake._lock:
                    hooks.remove(h)
                return fake._json(None, 204)
            if request.method == "PATCH":
                body = request.get_json(silent=True)
                if not isinstance(body, dict):
                    return fake._error(400, "Problems parsing JSON")
                if "active" in body and not isinstance(body["active"], bool):
                    return fake._error(422, "Validation Failed")
                with fake._lock:
                    if "active" in body:
                        h["active"] = body["active"]
                    if "events" in body and isinstance(body["events"], list):
                        h["events"] = [str(e) for e in body["events"]]
                    if isinstance(body.get("config"), dict):
                        # GitHub's warning: a config update without the secret drops it.
                        cfg = body["config"]
                        h["config"] = {k: v for k, v in cfg.items() if k != "secret"}
                        h["_secret"] = cfg.get("secret") or None
                    h["updated_at"] = _iso(datetime.now(timezone.utc))
            return fake._json(hook_view(h))

        @app.get("/orgs/<org>/hooks")
        def org_hooks(org: str) -> Response:
            o = org_or_404(org)
            return fake._not_found() if o is None else fake._page([hook_view(h) for h in o.hooks])

        @app.route("/orgs/<org>/hooks/<int:hook_id>", methods=["GET", "PATCH", "DELETE"])
        def org_hook(org: str, hook_id: int) -> Response:
            o = org_or_404(org)
            return fake._not_found() if o is None else hook_write(o.hooks, hook_id)

        @app.get("/orgs/<org>/actions/oidc/customization/sub")
        def org_oidc(org: str) -> Response:
            o = org_or_404(org)
            return fake._not_found() if o is None else fake._json(o.oidc)

        # -- repo level ---------------------------------------------------------------------------

        @app.get("/repos/<owner>/<repo>/keys")
        def keys(owner: str, repo: str) -> Response:
            r = repo_or_404(owner, repo)
            return fake._not_found() if r is None else fake._page(r.keys)

        @app.route("/repos/<owner>/<repo>/keys/<int:key_id>", methods=["GET", "DELETE"])
        def key(owner: str, repo: str, key_id: int) -> Response:
            r = repo_or_404(owner, repo)
            k = next((k for k in r.keys if k["id"] == key_id), None) if r else None
            if k is None:
                return fake._not_found()
            if request.method == "DELETE":
                with fake._lock:
                    r.keys.remove(k)
                return fake._json(None, 204)
            return fake._json(_public(k))

        @app.get("/repos/<owner>/<repo>/<any(actions, dependabot):stype>/secrets")
        def repo_secrets(owner: str, repo: str, stype: str) -> Response:
            r = repo_or_404(owner, repo)
            return fake._not_found() if r is None else fake._page(r.secrets[stype], "secrets")

        @app.delete("/repos/<owner>/<repo>/<any(actions, dependabot):stype>/secrets/<secret_name>")
        def repo_secret_delete(owner: str, repo: str, stype: str, secret_name: str) -> Response:
            r = repo_or_404(owner, repo)
            s = find_secret(r.secrets[stype], secret_name) if r else None
            if s is None:
                return fake._not_found()
            with fake._lock:
                r.secrets[stype].remove(s)
            return fake._json(None, 204)

        @app.get("/repos/<owner>/<repo>/environments")
        def environments(owner: str, repo: str) -> Response:
            r = repo_or_404(owner, repo)
            return fake._not_found() if r is None else fake._page(r.environments, "environments")

        @app.get("/repos/<owner>/<repo>/environments/<environment_name>/secrets")
        def env_secrets(owner: str, repo: str, environment_name: str) -> Response:
            r = repo_or_404(owner, repo)
            if r is None or not any(e["name"] == environment_name for e in r.environments):
                return fake._not_found()
            return fake._page(r.env_secrets.get(environment_name, []), "secrets")

        @app.delete("/repos/<owner>/<repo>/environments/<environment_name>/secrets/<secret_name>")
        def env_secret_delete(owner: str, repo: str, environment_name: str, secret_name: str) -> Response:
            r = repo_or_404(owner, repo)
            s = find_secret(r.env_secrets.get(environment_name, []), secret_name) if r else None
            if s is None:
                return fake._not_found()
            with fake._lock:
                r.env_secrets[environment_name].remove(s)
            return fake._json(None, 204)

        @app.get("/repos/<owner>/<repo>/actions/runners")
        def repo_runners(owner: str, repo: str) -> Response:
            r = repo_or_404(owner, repo)
            return fake._not_found() if r is None else fake._page(r.runners, "runners")

        @app.route("/repos/<owner>/<repo>/actions/runners/<int:runner_id>", methods=["GET", "DELETE"])
        def repo_runner(owner: str, repo: str, runner_id: int) -> Response:
            r = repo_or_404(owner, repo)
            x = next((x for x in r.runners if x["id"] == runner_id), None) if r else None
            if x is None:
                return fake._not_found()
            if request.method == "DELETE":
                with fake._lock:
                    r.runners.remove(x)
                return fake._json(None, 204)
            return fake._json(_public(x))

        @app.get("/repos/<owner>/<repo>/hooks")
        def repo_hooks(owner: str, repo: str) -> Response:
            r = repo_or_404(owner, repo)
            return fake._not_found() if r is None else fake._page([hook_view(h) for h in r.hooks])

        @app.route("/repos/<owner>/<repo>/hooks/<int:hook_id>", methods=["GET", "PATCH", "DELETE"])
        def repo_hook(owner: str, repo: str, hook_id: int) -> Response:
            r = repo_or_404(owner, repo)
            return fake._not_found() if r is None else hook_write(r.hooks, hook_id)

        @app.get("/repos/<owner>/<repo>/actions/oidc/customization/sub")
        def repo_oidc(owner: str, repo: str) -> Response:
            r = repo_or_404(owner, repo)
            return fake._not_found() if r is None else fake._json(r.oidc)

        # -- GitHub App --------------------------------------------------------------------------

        @app.post("/app/installations/<int:installation_id>/access_tokens")
        def access_token(installation_id: int) -> Response:
            if fake._public_key is None:
                return fake._not_found()
            token = fake._token_of()
            try:
                import jwt

                claims = jwt.decode(token or "", fake._public_key, algorithms=["RS256"], leeway=60,
                                    options={"require": ["exp", "iat", "iss"]})
            except Exception:  # noqa: BLE001 - any bad JWT is a 401, as on GitHub
                return fake._error(401, "A JSON web token could not be decoded")
            if str(claims.get("iss")) != str(fake.app_id):
                return fake._error(401, "'Issuer' claim ('iss') must be an Integer")
            if installation_id != fake.installation_id:
                return fake._not_found()
            with fake._lock:
                issued = f"ghs_{hashlib.sha256(f'{fake._n}:{len(fake.issued)}'.encode()).hexdigest()[:36]}"
                expires = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(hours=1)
                fake.issued[issued] = expires
            return fake._json({"token": issued, "expires_at": _iso(expires),
                               "permissions": {"organization_personal_access_tokens": "write",
                                               "organization_administration": "read", "members": "read",
                                               "administration": "write", "secrets": "write"},
                               "repository_selection": "all"}, 201)

        return app


def _pat_scopes(perms: dict[str, dict[str, str]]) -> tuple[str, ...]:
    return tuple(sorted(f"{group}:{name}:{level}" for group, items in perms.items() for name, level in items.items()))
