"""Actions, Dependabot, Codespaces and Copilot-agent secrets: organisation, repository and environment level.

Endpoints (GitHub never returns a secret's value, only its name and dates):
- `GET /orgs/{org}/{actions|dependabot|codespaces|agents}/secrets` (`secrets`: `name`, `created_at`,
  `updated_at`, `visibility` all/private/selected) and, for `selected`, `.../secrets/{name}/repositories`;
  GitHub refuses GitHub App tokens on the organisation's Codespaces secrets, so a source that reads
  with an App reports them as a blind spot without asking;
- `GET /repos/{owner}/{repo}/{actions|dependabot|codespaces|agents}/secrets`; Codespaces and agents
  secrets exist on github.com and GHEC only, so a GHES source does not ask for them (a fact, not a
  blind spot);
- `GET /repos/{owner}/{repo}/environments` then `.../environments/{env}/secrets` (Actions only).

`updated_at` is the last time the value was set: `details["rotated_at"]`. An environment secret's
target is `owner/repo:environment` (the same name in `production` and `staging` are two rows a
reader must tell apart); its repository is `details["repo"]`. Action: delete (actions.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from connectors.github.fields import full_names, iso, text
from nhitui.model import Identity, utc

if TYPE_CHECKING:
    from connectors.github.client import GitHubClient
    from connectors.github.scan import Scan

HINTS = {
    "org actions secrets": "needs Organization 'Secrets' read (classic: admin:org)",
    "org dependabot secrets": "needs Organization 'Dependabot secrets' read (classic: admin:org)",
    "repo actions secrets": "needs Repository 'Secrets' read (classic: repo)",
    "repo dependabot secrets": "needs Repository 'Dependabot secrets' read (classic: repo)",
    "environments": "needs Repository 'Environments' read (classic: repo)",
    "environment secrets": "needs Repository 'Secrets' read (classic: repo)",
    "org codespaces secrets": "needs Organization 'Codespaces secrets' read (classic: admin:org); GitHub App tokens "
                              "are refused on this endpoint",
    "repo codespaces secrets": "needs Repository 'Codespaces secrets' read (classic: repo)",
    "org agents secrets": "needs Organization 'Secrets' read for Copilot agents (classic: admin:org)",
    "repo agents secrets": "needs Repository 'Secrets' read for Copilot agents (classic: repo)",
}
KINDS = {"actions": "actions_secret", "dependabot": "dependabot_secret", "codespaces": "codespaces_secret",
         "agents": "agents_secret"}
CLOUD_ONLY = ("codespaces", "agents")       # not in GitHub Enterprise Server's REST API


def _not_on_ghes(scan: Scan, stype: str) -> bool:
    """True (and noted as a fact) when this store does not exist on the source's GHES host."""
    if stype in CLOUD_ONLY and scan.gh.ghes:
        scan.report.facts[f"{stype}_secrets"] = "not applicable on GitHub Enterprise Server"
        return True
    return False


def secret(gh: GitHubClient, item: dict, kind: str, org: str, scope: str, target: str, native: str, url: str,
           extra: dict[str, Any]) -> Identity:
    name = text(item["name"])
    details: dict[str, Any] = {"scope": scope, "secret_name": name, "rotated_at": iso(item.get("updated_at")),
                               "org": org, **extra}
    return gh.identity(kind, native, name, owner="", target=target, privilege="none",
                       created_at=utc(item.get("created_at")), status="active", credential="static",
                       actions=("delete",), url=url, usage_tracked=False, details=details)


async def org_secrets(scan: Scan, org: str, stype: str) -> None:
    """Organisation secrets with their visibility (and, for `selected`, the repositories)."""
    kind = KINDS[stype]
    what = f"org {stype} secrets"
    base = f"/orgs/{quote(org)}/{stype}/secrets"
    if _not_on_ghes(scan, stype):
        return
    if stype == "codespaces" and scan.gh.has_app:
        scan.report.blind_spot(f"{what} ({org})", f"not read: GitHub refuses GitHub App tokens on {base}; "
                                                  f"{HINTS[what].split(';')[0]}, with a token")
        return

    async def one(item: dict) -> None:
        name = str(item.get("name", ""))
        visibility = text(item.get("visibility"))
        extra: dict[str, Any] = {"visibility": visibility}
        if visibility == "selected":
            extra["repos"] = None

            async def repos() -> None:
                extra["repos"] = full_names(await scan.list(f"{base}/{quote(name, safe='')}/repositories",
                                                            "repositories"))
            await scan.guard(what, org, repos())
        scan.out(scan.parse([item], secret, kind, org, "org", org, f"org:{org}:{name}",
                            f"{scan.gh.web_url}/organizations/{org}/settings/secrets/{stype}", extra))

    async def run() -> None:
        async for page, _ in scan.pages(base, "secrets"):
            await scan.gather(one(i) for i in page if isinstance(i, dict) and i.get("name"))
    await scan.guard(what, org, run())


async def repo_secrets(scan: Scan, org: str, repo: str, stype: str) -> None:
    kind = KINDS[stype]
    if _not_on_ghes(scan, stype):
        return
    async for page, _ in scan.pages(f"/repos/{repo}/{stype}/secrets", "secrets"):
        scan.out([secret(scan.gh, i, kind, org, "repo", repo, f"repo:{repo}:{i['name']}",
                         f"{scan.gh.web_url}/{repo}/settings/secrets/{stype}", {"repos": [repo]})
                  for i in page if isinstance(i, dict) and i.get("name")])


async def environment_secrets(scan: Scan, org: str, repo: str) -> None:
    envs = await scan.list(f"/repos/{repo}/environments", "environments")
    names = [str(e["name"]) for e in envs if isinstance(e, dict) and e.get("name")]

    async def one(env: str) -> None:
        async for page, _ in scan.pages(f"/repos/{repo}/environments/{quote(env, safe='')}/secrets", "secrets"):
            scan.out([secret(scan.gh, i, "actions_secret", org, "environment", f"{repo}:{env}",
                             f"env:{repo}:{env}:{i['name']}", f"{scan.gh.web_url}/{repo}/settings/environments",
                             {"repo": repo, "repos": [repo], "environment": env})
                      for i in page if isinstance(i, dict) and i.get("name")])
    await scan.gather(scan.guard("environment secrets", org, one(e), repo=True) for e in names)
