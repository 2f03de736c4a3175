"""GitHub: every non-human identity of one or more organisations, and how to revoke it.

The package, read top down:
- `client.py`   authentication (token or GitHub App), PyGithub requesters, ETag cache, pages, rate budget;
- `retry.py`    when to retry and how long to wait (Retry-After, rate-limit reset, secondary limits);
- `scan.py`     one scan: which kinds are read per organisation and repository, and the blind spots;
- one module per family of kinds, each "which endpoint, which fields, which Identity":
  `keys.py` (deploy keys), `secrets.py` (Actions/Dependabot/Codespaces/agents secrets), `runners.py`
  (self-hosted runners and their groups), `hooks.py` (webhooks), `apps.py` (App installations),
  `pats.py` (fine-grained PAT grants and requests), `credentials.py` (SAML SSO authorizations), and
  the facts `members.py` and `oidc.py`;
- `fields.py`   GitHub values to Identity fields (privilege levels, safe text, dates);
- `actions.py`  what can be done to each kind, the call that does it, its undo.

`report.facts` carries `rate_limit_used` (requests the primary limit was charged for),
`not_modified`, and the pacer's `secondary_limit_hits` (403/429s GitHub answered for a secondary
limit: zero when pacing works), `pacer_waits`, `primary_budget_waits` and `peak_concurrency`. Secret values never enter this package's output: GitHub does not return
secret values, and the masked webhook secret (`********`) becomes `secret_set = True`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Mapping, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from connectors.base import ConnectorError, Report, Resolve
from connectors.github import actions
from connectors.github.client import DEFAULT_API, GitHubClient
from connectors.github.retry import SECONDARY_WAIT
from connectors.github.retry import make_retry as _make_retry
from connectors.github.scan import Scan
from nhitui.model import Action, ActionResult, Identity

__all__ = ["CONNECTOR", "DEFAULT_API", "SECONDARY_WAIT", "GitHubConnector", "_make_retry"]


class GitHubConnector:
    """One `[[source]]` of type github: one or more organisations on github.com, GHEC or GHES."""

    provider = "github"

    def __init__(self, settings: Mapping[str, Any], resolve: Resolve,
                 cache: MutableMapping[str, tuple[str, bytes]] | None = None) -> None:
        self.settings = dict(settings)
        self.name = str(settings["name"])
        self.report = Report(source=self.name, provider=self.provider)
        orgs = settings.get("orgs") or ([settings["org"]] if settings.get("org") else [])
        if isinstance(orgs, str):
            orgs = [orgs]
        self.orgs = [str(o) for o in dict.fromkeys(orgs) if o]
        if not self.orgs:
            raise ConnectorError(f"{self.name}: no organisation configured (org = \"acme\" or orgs = [...])")
        self.client = GitHubClient(settings, resolve, self.report, cache)
        self.api_url = self.client.api_url
        self.web_url = self.client.web_url
        self.concurrency = self.client.concurrency

    @property
    def cache(self) -> MutableMapping[str, tuple[str, bytes]] | None:
        """URL -> (ETag, body) of earlier GETs; the core sets one it keeps between scans (or None)."""
        return self.client.cache

    @cache.setter
    def cache(self, cache: MutableMapping[str, tuple[str, bytes]] | None) -> None:
        self.client.cache = cache

    @property
    def write_interval(self) -> float:
        """Seconds between two writes (GitHub asks integrators for at least one)."""
        return self.client.write_interval

    @write_interval.setter
    def write_interval(self, seconds: float) -> None:
        self.client.write_interval = seconds

    def __repr__(self) -> str:
        return f"<GitHubConnector {self.name} {self.api_url} orgs={self.orgs}>"

    async def collect(self) -> AsyncIterator[list[Identity]]:
        gh = self.client
        queue: asyncio.Queue[Any] = asyncio.Queue()
        done = object()
        gh.pool = ThreadPoolExecutor(max_workers=gh.concurrency, thread_name_prefix=f"github-{self.name}")
        main: asyncio.Future[Any] | None = None
        requests0, not_modified0 = self.report.requests, gh.not_modified
        completed = False
        try:
            await asyncio.get_running_loop().run_in_executor(gh.pool, gh.open)
            main = asyncio.ensure_future(Scan(gh, self.orgs, queue.put_nowait).run())
            main.add_done_callback(lambda _f: queue.put_nowait(done))
            while True:
                item = await queue.get()
                if item is done:
                    break
                yield item
            main.result()
            completed = True
        finally:
            if main is not None and not main.done():
                main.cancel()
                try:
                    await main
                except BaseException:  # noqa: BLE001,S110 - we are unwinding already
                    pass
            not_modified = gh.not_modified - not_modified0
            self.report.facts["not_modified"] = not_modified
            self.report.facts["rate_limit_used"] = self.report.requests - requests0 - not_modified
            pacer = gh.pacer
            self.report.facts.update(secondary_limit_hits=pacer.hits, pacer_waits=pacer.waits,
                                     primary_budget_waits=pacer.budget_waits, peak_concurrency=pacer.peak)
            pool, gh.pool = gh.pool, None
            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=True)
                if completed:   # idle threads: join them; after a cancel (scan timeout) never wait on a hung read
                    await asyncio.get_running_loop().run_in_executor(None, pool.shutdown, True)
            gh.close()

    def actions(self, identity: Identity) -> list[Action]:
        return actions.offered(identity, self.client.has_app)

    def unavailable(self, identity: Identity) -> str:
        """Why no action is offered on `identity` with this source's credentials ("" if it has some)."""
        return actions.needs(identity, self.client.has_app)

    async def execute(self, identity: Identity, action: str) -> ActionResult:
        return await actions.execute(self.client, identity, action)

    async def revoke_pat_grants(self, grants: Iterable[Identity | int | str],
                                org: str | None = None) -> list[ActionResult]:
        """Bulk-revoke fine-grained PAT grants (POST /orgs/{org}/personal-access-tokens, 202, async at GitHub).

        `grants` are identities (their org is read from them) or grant ids of `org` (default: the first
        configured organisation). Returns one result per organisation batch of at most 100 ids.
        """
        return await actions.revoke_pat_grants(self.client, grants, org or self.orgs[0])


CONNECTOR = GitHubConnector
