"""One scan of a GitHub source: which kinds are read for each organisation and repository, in parallel,
and how an endpoint that cannot be read becomes a blind spot instead of an empty list.

The kind modules (keys, secrets, runners, hooks, apps, pats, credentials, members, oidc) each read
their endpoints through `Scan.pages`/`Scan.list`, build `Identity`s with their parse function and
hand them to `Scan.out`. Each declares in `HINTS` the permission its endpoints need: that text is
the reason of its blind spot on a 403/404.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any
from urllib.parse import quote

from connectors.base import ConnectorError
from connectors.github import apps, credentials, hooks, keys, members, oidc, pages, pats, runners, secrets
from connectors.github.client import BudgetStop, GitHubClient, HttpError, LoopError
from nhitui.model import Identity, sanitize

log = logging.getLogger("nhitui.connectors.github")

HINTS: dict[str, str] = {
    "repositories": "needs Repository 'Metadata' read on the organisation's repositories (classic: repo)",
    **members.HINTS, **secrets.HINTS, **runners.HINTS, **apps.HINTS, **pats.HINTS, **credentials.HINTS,
    **hooks.HINTS, **oidc.HINTS, **keys.HINTS,
}


class Scan:
    """The state of one collection: identities already emitted, blind spots, facts for the policy."""

    def __init__(self, gh: GitHubClient, orgs: list[str], emit: Callable[[list[Identity]], None]) -> None:
        self.gh = gh
        self.report = gh.report
        self.orgs = orgs
        self.get = gh.get
        self.pages = functools.partial(pages.pages, gh)
        self.list = functools.partial(pages.items, gh)
        self._emit = emit
        self._uids: set[str] = set()
        self._ok0 = gh.ok
        self._failures: list[str] = []
        self._repo_gaps: dict[tuple[str, str], list[HttpError | LoopError]] = {}
        self._repo_total: dict[str, int] = {}
        self.members: dict[str, list[str] | None] = {}
        self.oidc: dict[str, Any] = {"org": None, "orgs": {}, "repos": {}}

    # --- what every kind module uses --------------------------------------------------------------

    def out(self, identities: list[Identity]) -> None:
        """Emit identities not emitted before in this scan."""
        fresh = []
        for i in identities:
            if i.uid not in self._uids:
                self._uids.add(i.uid)
                fresh.append(i)
        if fresh:
            self._emit(fresh)

    def parse(self, items: Iterable[Any], build: Callable[..., Identity], *args: Any) -> list[Identity]:
        """`build(gh, item, *args)` for each item; a malformed item is skipped and reported once."""
        out = []
        for item in items:
            if not isinstance(item, dict):
                continue
            try:
                out.append(build(self.gh, item, *args))
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                name = getattr(build, "__name__", "?")
                log.debug("skipped a malformed %s item: %s", name, type(exc).__name__)
                self.report.blind_spot("malformed items", f"{name.lstrip('_')}: an item GitHub returned "
                                                          "could not be read and was skipped")
        return out

    async def gather(self, aws: Iterable[Awaitable[Any]]) -> None:
        """Run coroutines concurrently; the first unexpected error (e.g. AuthError) cancels the others.

        A spent budget (`BudgetStop`) does not cancel them: from then on every GET that needs the
        network stops at once without a request, while those a checkpoint answers still complete, so
        a resume that stops again still yields every row it could read. Then the stop goes on up."""
        tasks = [asyncio.ensure_future(a) for a in aws]
        if not tasks:
            return
        try:
            await asyncio.gather(*tasks)
        except BudgetStop as stop:
            try:
                results = await asyncio.gather(*tasks, return_exceptions=True)
            except BaseException:       # cancelled meanwhile (the scan's timeout): as below
                for t in tasks:
                    t.cancel()
                raise
            other = [r for r in results if isinstance(r, BaseException) and not isinstance(r, BudgetStop)]
            raise (other[0] if other else stop) from None
        except BaseException:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise

    async def guard(self, what: str, org: str, coro: Awaitable[Any], repo: bool = False) -> Any:
        """Await `coro`; an endpoint that fails becomes a blind spot named `what` (None is returned)."""
        try:
            return await coro
        except (HttpError, LoopError) as err:
            (self._repo_gap if repo else self._gap)(what, org, err)
            return None

    # --- blind spots ------------------------------------------------------------------------------

    def _reason(self, what: str, err: HttpError | LoopError) -> str:
        if isinstance(err, LoopError):
            return f"pagination loop on {err.args[0]}: the server's Link: next pointed at a page already read; " \
                   "the rest of the list could not be read"
        hint = HINTS.get(what, "")
        path = err.path or "?"
        if err.status in (403, 404):
            if what == "SSO credential authorizations" and err.status == 404:
                text = f"404 on {path}: not available here (SAML SSO credential authorizations exist only on " \
                       f"GitHub Enterprise Cloud) or {hint.replace('needs', 'it needs')}"
            else:
                text = f"{err.status} on {path}: {hint or err.message}"
            if err.accepted:
                text += f" (GitHub accepts: {sanitize(err.accepted)[:200]})"
            if err.message and err.status == 403 and "rate limit" in err.message.lower():
                text = f"403 on {path}: {err.message}"
            return text
        status = f"HTTP {err.status}" if err.status else "error"
        return f"{status} on {path} after retries: {err.message}"

    def _gap(self, what: str, org: str, err: HttpError | LoopError) -> None:
        reason = self._reason(what, err)
        self._failures.append(reason)
        self.report.blind_spot(f"{what} ({org})", reason)

    def _repo_gap(self, what: str, org: str, err: HttpError | LoopError) -> None:
        with self.gh.lock:
            self._repo_gaps.setdefault((org, what), []).append(err)

    def _flush_repo_gaps(self) -> None:
        """One blind spot per endpoint and organisation, counting the repositories it hides."""
        for (org, what), errs in sorted(self._repo_gaps.items()):
            reason = self._reason(what, errs[0])
            total = self._repo_total.get(org, 0)
            if len(errs) > 1:
                reason += f" (and {len(errs) - 1} more repositories)"
            self._failures.append(reason)
            self.report.blind_spot(f"{what} ({org}: {len(errs)} of {total} repositories)", reason)
        self._repo_gaps.clear()

    # --- the plan of a scan -----------------------------------------------------------------------

    async def run(self) -> None:
        await self.gather(self._org(org) for org in self.orgs)
        self._flush_repo_gaps()
        if all(self.members.get(o) is not None for o in self.orgs):
            self.report.facts["members"] = sorted({m for o in self.orgs for m in (self.members[o] or [])})
        self.oidc["org"] = self.oidc["orgs"].get(self.orgs[0])
        self.report.facts["oidc_sub"] = self.oidc
        if self.gh.ok == self._ok0 and self._failures:
            raise ConnectorError(f"nothing could be read from {self.gh.api_url}: {self._failures[0]}")

    async def _org(self, org: str) -> None:
        groups = asyncio.ensure_future(runners.runner_groups(self, org))
        try:
            await self.gather([
                self._repos(org), members.collect(self, org),
                secrets.org_secrets(self, org, "actions"), secrets.org_secrets(self, org, "dependabot"),
                secrets.org_secrets(self, org, "codespaces"), secrets.org_secrets(self, org, "agents"),
                runners.org_runners(self, org, groups), apps.collect(self, org),
                pats.grants(self, org), pats.requests(self, org), credentials.collect(self, org),
                hooks.org_hooks(self, org), oidc.org_customization(self, org), groups,
            ])
        finally:
            if not groups.done():
                groups.cancel()

    async def _repos(self, org: str) -> None:
        """Each repository's kinds are read as soon as the page that lists it arrives."""
        tasks: list[asyncio.Future[Any]] = []
        self._repo_total[org] = 0
        try:
            async for page, _ in self.pages(f"/orgs/{quote(org)}/repos"):
                for repo in page:
                    full = repo.get("full_name") if isinstance(repo, dict) else None
                    if not isinstance(full, str) or "/" not in full:
                        continue
                    self._repo_total[org] += 1
                    tasks.append(asyncio.ensure_future(self._repo(org, full)))
        except (HttpError, LoopError) as err:
            self._gap("repositories", org, err)
        except BaseException:
            for t in tasks:
                t.cancel()
            raise
        await self.gather(tasks)

    async def _repo(self, org: str, repo: str) -> None:
        await self.gather([
            self.guard("deploy keys", org, keys.collect(self, repo), repo=True),
            self.guard("repo actions secrets", org, secrets.repo_secrets(self, org, repo, "actions"), repo=True),
            self.guard("repo dependabot secrets", org, secrets.repo_secrets(self, org, repo, "dependabot"),
                       repo=True),
            self.guard("repo codespaces secrets", org, secrets.repo_secrets(self, org, repo, "codespaces"),
                       repo=True),
            self.guard("repo agents secrets", org, secrets.repo_secrets(self, org, repo, "agents"), repo=True),
            self.guard("environments", org, secrets.environment_secrets(self, org, repo), repo=True),
            self.guard("repo runners", org, runners.repo_runners(self, org, repo), repo=True),
            self.guard("repo webhooks", org, hooks.repo_hooks(self, org, repo), repo=True),
            self.guard("repo OIDC customization", org, oidc.repo_customization(self, repo), repo=True),
        ])
