"""The GitHubFake: one World's organisations served as GitHub's REST API.

Each family module seeds its kinds (recording the ground truth with `expect`) and registers its
routes; `serving.py` answers what every endpoint shares (auth, rate limits, pages, ETags).
"""

from __future__ import annotations

import hashlib
import itertools
import math
import random
import threading
import time
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from flask import Flask, Response

from nhitui.sandbox.github import apps, credentials, hooks, keys, pats, runners, secrets
from nhitui.sandbox.github import org as org_endpoints
from nhitui.sandbox.github.serving import GitHubHTTP, install
from nhitui.sandbox.github.state import PROVIDER, Org, Repo, repo_json
from nhitui.sandbox.server import FakeServer, Knobs
from nhitui.sandbox.world import SERVICES, World

_fake_ids = itertools.count(1)


class GitHubFake(GitHubHTTP):
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
        self.lock = threading.RLock()
        self.ids = itertools.count(1)
        self._used = 0
        self.not_modified = 0
        self._window_reset = math.ceil(time.time() + rate_window)
        self._n = next(_fake_ids)
        self._private_pem: str | None = None
        self._public_key: Any = None
        if app:
            self._make_app_key()
        self.orgs: dict[str, Org] = {}
        self.repos: dict[str, Repo] = {}
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
        with self.lock:
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

    # --- seeding: each family seeds its kinds and records the ground truth ------------------------

    def expect(self, kind: str, native_id: Any, findings: set[str], **fields: Any) -> None:
        """Record what the connector must report for one seeded object (and which findings fire)."""
        fields.setdefault("expires_at", None)
        fields.setdefault("last_used_at", None)
        self.world.expect(PROVIDER, kind, native_id, findings=frozenset(findings), **fields)

    def new_id(self, base: int) -> int:
        return base + next(self.ids)

    def repo(self, owner: str, name: str) -> Repo | None:
        return self.repos.get(f"{owner}/{name}")

    def repo_json(self, repo: Repo) -> dict[str, Any]:
        org = self.orgs.get(repo.full_name.split("/", 1)[0])
        return repo_json(repo, org.id if org else None)

    def repo_page(self, names: list[str], key: str | None = None, link: bool = True) -> Response:
        """A page of repository objects (the `_repos` of a selected secret, group or token)."""
        return self.page([self.repo_json(self.repos[r]) for r in names if r in self.repos], key, link=link)

    def _seed(self) -> None:
        w = self.world
        # The fake is the only GitHub seeder: a second fake on the same world replaces, not doubles, the truth.
        w.expected[:] = [e for e in w.expected if e.provider != PROVIDER]
        self._seed_org(w.org, w.repo_names(), list(w.members), full=True)
        for extra in self.extra_orgs:
            names = [f"{extra}/{SERVICES[j % len(SERVICES)]}" for j in range(3)]
            self._seed_org(extra, names, list(w.members[:5]), full=False)
        secrets.seed_sprawl(self)
        orgs = [w.org, *self.extra_orgs]
        self.expected_facts = {
            "members": sorted({m for o in orgs for m in self.orgs[o].members}),
            "oidc_sub": {"org": dict(self.orgs[w.org].oidc),
                         "repos": {r.full_name: dict(r.oidc) for r in self.repos.values()
                                   if not r.oidc.get("use_default", True)}},
        }

    def _seed_org(self, login: str, repo_names: list[str], members: list[str], full: bool) -> None:
        org = Org(login=login, id=self.new_id(9_000_000), members=members)
        self.orgs[login] = org
        for i, full_name in enumerate(repo_names):
            repo = Repo(id=self.new_id(500_000), full_name=full_name, private=(i % 7 != 3))
            self.repos[full_name] = repo
            org.repos.append(full_name)
        if not full:
            for full_name in repo_names:
                keys.add_key(self, full_name, profile=3, k=next(self.ids))
            secrets.add_secret(self, login, None, None, "actions", "ORG2_TOKEN", 40, 40, visibility="private",
                               repos=[], findings=set())
            return
        keys.seed_keys(self, repo_names)
        secrets.seed_secrets(self, login, repo_names)
        runners.seed_runners(self, login, repo_names)
        apps.seed_installations(self, login)
        pats.seed_pats(self, login, repo_names, members)
        credentials.seed_credentials(self, login, members)
        hooks.seed_hooks(self, login, repo_names)
        org_endpoints.seed_oidc(self, org, repo_names)

    def _build_app(self) -> Flask:
        app = Flask(f"fake-github-{self._n}")
        install(app, self)
        for family in (org_endpoints, keys, secrets, runners, apps, pats, credentials, hooks):
            family.routes(app, self)
        return app
