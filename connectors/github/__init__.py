"""GitHub: every non-human identity of one or more organisations, and how to revoke it.

The package, read top down:
- `client.py`   authentication (token or GitHub App), PyGithub requesters, ETag cache, pages, rate budget;
- `transport.py` the reads' one urllib3 pool, PyGithub's connection class for the scan's GETs;
- `writes.py`   one write with the revoke credential, serially, a second apart;
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
import logging
import math
import time
from collections.abc import AsyncIterator, Iterable, Mapping, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from connectors.base import ConnectorError, Report, Resolve
from connectors.github import actions
from connectors.github.checkpoint import Checkpoints
from connectors.github.client import DEFAULT_API, BudgetStop, GitHubClient
from connectors.github.retry import SECONDARY_WAIT
from connectors.github.retry import make_retry as _make_retry
from connectors.github.scan import Scan
from nhitui.model import Action, ActionResult, Identity

log = logging.getLogger("nhitui.connectors.github")

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

    def _checkpoints(self) -> Checkpoints | None:
        where = self.settings.get("checkpoint_dir")
        return Checkpoints(str(where), self.name, self.api_url, self.orgs) if where else None

    def _forecast(self, budget: tuple[int, int, float | None], ckpt: Checkpoints | None) -> None:
        """Say up front (at the first answer's rate-limit headers) when the primary budget cannot
        cover the scan, and when it will be complete.

        The size is the last complete scan's GET count (less what a checkpoint already holds); GitHub's
        primary budget refills every hour.
        """
        last = ckpt.last_size() if ckpt is not None else None
        if budget is None or last is None:
            return
        remaining, limit, reset = budget
        if reset is None:
            return
        need = max(0, last - len(self.client.replay))
        if need <= remaining:
            self.report.facts["budget_forecast"] = f"needs about {need} requests; {remaining} of {limit} remain"
            return
        windows = math.ceil((need - remaining) / max(1, limit))
        finish = time.strftime("%H:%M", time.gmtime(reset + (windows - 1) * 3600))
        at = time.strftime("%H:%M", time.gmtime(reset))
        how = "waits for the reset" if reset - time.time() <= self.client.pacer.limits.budget_wait else \
            "stops at a checkpoint; nhitui scan --resume continues it after the reset"
        free = min(need, self._cached_answers())
        if need - free <= remaining:    # a 304 is not charged: an unchanged organisation fits
            text = (f"the last scan needed about {need} requests and {remaining} of {limit} remain until {at} UTC; "
                    f"{free} of them have an ETag (an unchanged answer, 304, is free): this scan fits if little "
                    f"changed, else it {how}; complete at the latest about {finish} UTC")
        else:
            text = (f"the last scan needed about {need} requests and {remaining} of {limit} remain until {at} UTC: "
                    f"this scan {how}; estimated complete about {finish} UTC")
        self.report.facts["budget_forecast"] = text
        log.warning("%s: %s", self.name, text)

    def _cached_answers(self) -> int:
        """GETs of this scan that may be answered 304 (their ETag is cached, no checkpoint answers them)."""
        cache, replay = self.client.cache, self.client.replay
        if not cache:
            return 0
        return sum(1 for k in list(cache) if not k.endswith("#link") and k not in replay)

    async def collect(self) -> AsyncIterator[list[Identity]]:
        gh = self.client
        queue: asyncio.Queue[Any] = asyncio.Queue()
        done = object()
        gh.pool = ThreadPoolExecutor(max_workers=gh.concurrency, thread_name_prefix=f"github-{self.name}")
        main: asyncio.Future[Any] | None = None
        requests0, not_modified0 = self.report.requests, gh.not_modified
        completed = False
        stopped: BudgetStop | None = None
        ckpt = self._checkpoints()
        gh.replay, gh.replayed, gh.record, gh.stopped = {}, 0, None, None
        if ckpt is not None:
            gh.record = {}
            if self.settings.get("resume"):
                gh.replay = ckpt.load()
                self.report.facts["resumed_from_checkpoint"] = len(gh.replay)
        try:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(gh.pool, gh.open)
            if ckpt is not None:
                gh.on_budget = lambda remaining, limit, reset: self._forecast((remaining, limit, reset), ckpt)
            main = asyncio.ensure_future(Scan(gh, self.orgs, queue.put_nowait).run())
            main.add_done_callback(lambda _f: queue.put_nowait(done))
            while True:
                item = await queue.get()
                if item is done:
                    break
                yield item
            try:
                main.result()
            except BudgetStop as exc:
                stopped = exc
                raise
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
                if completed or stopped:   # idle threads: join them (requests in flight are kept in the
                    # checkpoint); after a cancel (scan timeout) never wait on a hung read
                    await asyncio.get_running_loop().run_in_executor(None, pool.shutdown, True)
            gh.close()
            self._checkpoint(ckpt, stopped, completed, requests0)

    def _checkpoint(self, ckpt: Checkpoints | None, stopped: BudgetStop | None, completed: bool,
                    requests0: int) -> None:
        gh = self.client
        if ckpt is None:
            return
        with gh.lock:   # a scan stopped again before reaching every replayed answer keeps them all
            record = {**gh.replay, **(gh.record or {})}
        try:
            if stopped is not None:
                ckpt.save(record, stopped.reset)
                self.report.facts["checkpoint"] = f"{len(record)} answers kept; nhitui scan --resume continues"
            elif completed:
                ckpt.clear()
                ckpt.save_size(self.report.requests - requests0 + gh.replayed)
        except OSError as exc:
            log.warning("%s: checkpoint not saved: %s", self.name, exc.strerror or type(exc).__name__)

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
