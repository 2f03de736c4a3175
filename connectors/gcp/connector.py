"""The GCP source: projects -> service accounts, user-managed keys, IAM, last use, WIF trust.

Per project, concurrently (requests bounded by `concurrency`): the service-account list, each
account's keys (one unpaged call, every key type) and IAM policy (who can become it), the project
IAM policy (what each account holds), WIF pools and providers, Activity Analyzer last use (two
types, batched) and, where user-managed keys exist, the key org-policy constraints. Each project
yields its accounts and keys as soon as it is read; WIF providers come last, once every project's
bindings are known (a pool in one project may be bound in another). Organization and configured
folder IAM policies are read first, so inherited grants count.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from datetime import datetime, timezone
from typing import Any

from connectors.base import Report, Resolve
from connectors.gcp import actions as gcp_actions
from connectors.gcp import wif, wif_trust
from connectors.gcp.activity import KEY_TYPE, SA_TYPE, Usage, last_authentication
from connectors.gcp.client import Api
from connectors.gcp.iam_policy import IMPERSONATION_ROLES, Policy, resource_policy, role_privilege
from connectors.gcp.identities import AccountFacts, account_identity, key_identity, provider_identity
from connectors.gcp.keys import list_keys
from connectors.gcp.orgpolicy import KeyPolicy, key_policy
from connectors.gcp.projects import Project, ancestry, discover
from connectors.gcp.service_accounts import ServiceAccount, list_accounts
from nhitui.model import Action, ActionResult, Identity


class GcpConnector:
    provider = "gcp"

    def __init__(self, settings: Mapping[str, Any], resolve: Resolve) -> None:
        self.settings = dict(settings)
        self.name = str(settings["name"])
        self.report = Report(self.name, self.provider)
        self._resolve = resolve
        self.concurrency = max(1, min(100, int(settings.get("concurrency") or 16)))

    # --- collection --------------------------------------------------------------------------

    async def collect(self) -> AsyncIterator[list[Identity]]:
        self._providers: list[wif.Provider] = []
        self._grants: list[wif.Grant] = []
        self._window: datetime | None = None
        self._unread_activity: dict[str, list[str]] = {}     # reason -> projects
        async with Api(self.settings, self._resolve, self.report) as api:
            folders: dict[str, str] = {}
            projects = await discover(api, self.settings, self.concurrency, folders)
            self.report.facts["projects"] = [p.id for p in projects]
            policies = await self._ancestor_policies(api, folders)
            tasks = [asyncio.ensure_future(self._project(
                api, p, [policies[a] for a in ancestry(p.parent, folders) if a in policies])) for p in projects]
            try:
                for next_done in asyncio.as_completed(tasks):
                    batch = await next_done
                    if batch:
                        yield batch
            finally:
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
            self._activity_blind_spots()
            rows = []
            for provider in self._providers:
                grants = wif.applicable(provider, self._grants)
                ident = provider_identity(self.name, provider, grants, ())
                rows.append(_with_actions(ident, self.actions(ident)))
            if rows:
                yield rows

    async def _ancestor_policies(self, api: Api, folders: dict[str, str]) -> dict[str, Policy]:
        """IAM policies of the organization and of every folder walked or configured (inherited grants)."""
        names: list[str] = []
        org = self.settings.get("organization")
        if org:
            names.append("organizations/" + str(org).removeprefix("organizations/"))
        names += ["folders/" + str(f).removeprefix("folders/") for f in self.settings.get("folders") or []]
        names += list(folders)

        async def read(name: str) -> Policy:
            kind = "organization" if name.startswith("organizations/") else "folder"
            return await resource_policy(
                api, "cloudresourcemanager", f"v3/{name}", name, f"IAM policy of {name}",
                f"grant roles/iam.securityReviewer on the {kind} (resourcemanager.{kind}s.getIamPolicy); "
                "grants inherited from it are not counted")

        read_all = await asyncio.gather(*(read(n) for n in dict.fromkeys(names)))
        readable = {p.resource: p for p in read_all if p.read}
        for pol in readable.values():      # pool identities granted roles on a whole folder / organization
            kind = "gcp_organization" if pol.resource.startswith("organizations/") else "gcp_folder"
            for b in pol.bindings:
                for member in b.members:
                    principal = wif_trust.pool_principal(member)
                    if principal is not None:
                        self._grants.append(wif.Grant(principal, b.role, pol.resource, kind, role_privilege(b.role)))
        self.report.facts["ancestor_policies"] = sorted(readable)
        return readable

    async def _project(self, api: Api, project: Project, ancestors: list[Policy]) -> list[Identity]:
        accounts, policy, inv = await _all(
            self._accounts(api, project),
            resource_policy(api, "cloudresourcemanager", f"v3/projects/{project.id}", f"projects/{project.id}",
                            f"IAM policy of {project.id}",
                            "grant roles/iam.securityReviewer (resourcemanager.projects.getIamPolicy)"),
            wif.list_wif(api, project))
        facts: list[AccountFacts] = accounts
        self._apply_policies(project, facts, policy, ancestors)
        names_sa = [f.account.full_name for f in facts if not f.agent]
        keys = [k for f in facts for k in f.keys if not k.disabled]
        sa_usage, key_usage, key_pol = await _all(
            last_authentication(api, project, SA_TYPE, names_sa),
            last_authentication(api, project, KEY_TYPE, [k.full_name for k in keys]),
            key_policy(api, project) if any(f.keys for f in facts) else _no_policy(),
        )
        for usage in (sa_usage, key_usage):
            if usage.problem:
                self._unread_activity.setdefault(usage.problem.replace(project.id, "{project}"), []).append(project.id)
            if usage.window_start is not None and (self._window is None or usage.window_start < self._window):
                self._window = usage.window_start
        self._providers.extend(inv.providers)
        self.report.facts["system_managed_keys"] = self.report.facts.get("system_managed_keys", 0) + sum(
            f.system_keys for f in facts)
        if key_pol is not None and key_pol.read:
            pols = self.report.facts.setdefault("org_policy", {})
            pols[project.id] = {"key_creation_disabled": bool(key_pol.key_creation_disabled),
                                "key_expiry_hours": key_pol.key_expiry_hours}
        now = datetime.now(timezone.utc)
        rows: list[Identity] = []
        for f in facts:
            ident = account_identity(self.name, f, sa_usage if not f.agent else None, self._window, ())
            rows.append(_with_actions(ident, self.actions(ident)))
            for key in f.keys:
                kid = key_identity(self.name, key, f, key_usage, self._window, key_pol, (), now)
                rows.append(_with_actions(kid, self.actions(kid)))
        return rows

    def _activity_blind_spots(self) -> None:
        """One blind spot per reason Activity Analyzer could not be read, naming the projects."""
        for reason, projects in self._unread_activity.items():
            names = sorted(set(projects))
            where = names[0] if len(names) == 1 else f"{len(names)} projects"
            shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
            self.report.blind_spot(f"last authentication in {where}",
                                   reason.replace("{project}", names[0]) + f"; projects: {shown}; last use of "
                                   "their accounts and keys is unknown (not 'never used')")

    async def _accounts(self, api: Api, project: Project) -> list[AccountFacts]:
        facts = [AccountFacts(sa) for sa in await list_accounts(api, project) or []]
        await _all(*(self._account(api, f) for f in facts))
        return facts

    async def _account(self, api: Api, facts: AccountFacts) -> None:
        sa = facts.account
        keys, policy = await _all(
            list_keys(api, sa),
            resource_policy(api, "iam", sa.path, sa.email, f"IAM policies of service accounts in {sa.project.id}",
                            "grant roles/iam.securityReviewer (iam.serviceAccounts.getIamPolicy)"))
        if keys is None:
            facts.keys_read = False
        else:
            facts.keys, facts.system_keys = keys
        facts.policy_read = policy.read
        for b in policy.bindings:
            for member in b.members:
                principal = wif_trust.pool_principal(member)
                if principal is not None and b.role in IMPERSONATION_ROLES:
                    self._grants.append(wif.Grant(principal, b.role, sa.email, "gcp_service_account", "none"))
                if b.role in IMPERSONATION_ROLES:
                    facts.impersonators.append(f"{b.role}: {member}")

    def _apply_policies(self, project: Project, facts: list[AccountFacts], policy: Policy,
                        ancestors: list[Policy]) -> None:
        by_member = {f"serviceAccount:{f.account.email}": f for f in facts}
        for where, pol in [("", policy)] + [(a.resource, a) for a in ancestors]:
            for b in pol.bindings:
                for member in b.members:
                    f = by_member.get(member)
                    if f is not None:
                        f.bindings.append((b, where))
                    if b.role in IMPERSONATION_ROLES:
                        scope = f"({where or 'project'}) {b.role}: {member}"
                        for other in facts:
                            other.impersonators.append(scope)
                    principal = wif_trust.pool_principal(member)
                    if principal is not None and not where:
                        self._grants.append(wif.Grant(principal, b.role, f"project {project.id}", "gcp_project",
                                                      role_privilege(b.role)))
        # Grants to pool principals on an account carry the account's privilege, known only now.
        privileges = {f.account.email: f.privilege for f in facts}
        self._grants[:] = [wif.Grant(g.principal, g.role, g.target, g.target_kind, privileges[g.target])
                           if g.target_kind == "gcp_service_account" and g.target in privileges
                           and g.privilege == "none" else g for g in self._grants]

    # --- actions -----------------------------------------------------------------------------

    def actions(self, identity: Identity) -> list[Action]:
        return gcp_actions.available(identity)

    async def execute(self, identity: Identity, action: str) -> ActionResult:
        return await gcp_actions.execute(self.settings, self._resolve, self.name, identity, action)


async def _all(*aws: Any) -> list[Any]:
    """gather(), but a failure or a cancellation stops the siblings too: nothing keeps using the
    session after the scan has ended."""
    tasks = [asyncio.ensure_future(a) for a in aws]
    try:
        return list(await asyncio.gather(*tasks))
    finally:
        pending = [t for t in tasks if not t.done()]
        for t in pending:
            t.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)


async def _no_policy() -> KeyPolicy | None:
    return None


def _with_actions(identity: Identity, actions: list[Action]) -> Identity:
    from dataclasses import replace

    return replace(identity, actions=tuple(a.name for a in actions))


__all__ = ["GcpConnector", "ServiceAccount", "Usage"]
