"""Staleness and risk rules, tagged with the OWASP NHI Top 10 (2025), and the delivery-chain graph.

`evaluate()` scores a whole inventory at once because several rules look across rows and sources
(a secret name copied into many repos, an owner who left the org, a static AWS key where an OIDC
role for the same repo exists). Missing dates stay "unknown": a provider that never reports last
use can make nothing stale except expiry, and a never-used credential gets a grace period.
"""

from __future__ import annotations

import fnmatch
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any

from nhitui.model import SEVERITIES, Finding, Identity, SourceStatus, privilege_rank, utc
from nhitui.rules import Context, Rule, provider_rules
from nhitui.trust import RULES as TRUST_RULES
from nhitui.trustmap import TrustIndex, repos_of

_PROVIDER_RULES, _PROVIDER_CHECKS = provider_rules()

RULES: dict[str, Rule] = {r.id: r for r in (
    Rule("stale-unused", "medium", "NHI1", "not used within the stale window"),
    Rule("never-used", "medium", "NHI1", "never used since it was created"),
    Rule("expired-present", "low", "NHI1", "expired but still present"),
    Rule("no-expiry", "medium", "NHI7", "never expires"),
    Rule("old-rotation", "medium", "NHI7", "not rotated within the maximum age"),
    Rule("owner-departed", "high", "NHI1", "its owner is no longer a member"),
    Rule("write-deploy-key", "medium", "NHI5", "deploy key with write access"),
    Rule("admin-scope", "high", "NHI5", "administrative privilege"),
    Rule("app-all-repos-write", "high", "NHI5", "app installed on all repositories with write access"),
    Rule("pat-all-repos", "medium", "NHI5", "token granted to all repositories"),
    *TRUST_RULES,
    Rule("org-secret-visible-to-all", "medium", "NHI8", "organisation secret visible to every repository"),
    Rule("runner-group-public-repos", "high", "NHI8", "runner group accepts public repositories"),
    Rule("secret-name-sprawl", "medium", "NHI9", "the same secret name in many repositories"),
    Rule("static-where-federation-exists", "high", "NHI4", "static cloud credential where OIDC federation exists"),
    Rule("two-active-keys", "medium", "NHI7", "two active access keys: a rotation that never finished"),
    *_PROVIDER_RULES,
)}

# Kinds whose provider lets the creator set an expiry: no expiry there is a choice, and a finding.
EXPIRING_KINDS = {
    ("github", "fine_grained_pat"), ("github", "sso_credential"),
    ("gitlab", "personal_access_token"), ("gitlab", "project_access_token"),
    ("gitlab", "group_access_token"), ("gitlab", "deploy_token"), ("gitlab", "deploy_key"),
    ("gitlab", "trigger_token"), ("gitlab", "ssh_key"), ("dockerhub", "dockerhub_token"), ("jfrog", "jfrog_token"),
}
SECRET_KINDS = {"actions_secret", "dependabot_secret", "ci_variable"}
STATIC_AWS_SECRET = re.compile(r"^AWS_(ACCESS_KEY_ID|SECRET_ACCESS_KEY)$", re.I)
REPO_TAGS = ("repo", "repository", "github_repo", "gitlab_project", "ci_repo")
INACTIVE_FOR_STALENESS = {"revoked", "pending"}
STALE_RULES = {"stale-unused", "never-used", "expired-present"}


@dataclass
class Policy:
    """Thresholds from `[policy]`; `disabled` switches rules off; `kinds` overrides per kind."""

    stale_after_days: int = 90
    never_used_grace_days: int = 30
    max_age_days: int = 365
    sprawl_threshold: int = 5
    rotation_grace_days: int = 7          # a second key younger than this, not yet used alongside the old one,
                                          # is a rotation in progress
    disabled: frozenset[str] = frozenset()
    kinds: Mapping[str, Mapping[str, int]] = field(default_factory=dict)

    def for_kind(self, kind: str, key: str) -> int:
        return int(self.kinds.get(kind, {}).get(key, getattr(self, key)))

    @classmethod
    def from_config(cls, table: Mapping[str, Any] | None) -> Policy:
        table = dict(table or {})
        return cls(
            stale_after_days=int(table.get("stale_after_days", 90)),
            never_used_grace_days=int(table.get("never_used_grace_days", 30)),
            max_age_days=int(table.get("max_age_days", 365)),
            sprawl_threshold=int(table.get("sprawl_threshold", 5)),
            rotation_grace_days=int(table.get("rotation_grace_days", 7)),
            disabled=frozenset(table.get("disable", ())),
            kinds={k: dict(v) for k, v in dict(table.get("kind", {})).items()},
        )


def _days(delta: timedelta) -> int:
    return int(delta.total_seconds() // 86400)


def staleness(identity: Identity, policy: Policy, now: datetime) -> list[Finding]:
    """The staleness findings of one identity (stale = any of them)."""
    found: list[Finding] = []
    if identity.status in INACTIVE_FOR_STALENESS:
        return found
    kind = identity.kind
    if identity.expires_at is not None and identity.expires_at <= now or identity.status == "expired":
        when = f" on {identity.expires_at:%Y-%m-%d}" if identity.expires_at else ""
        found.append(_finding("expired-present", f"It expired{when} but is still listed; remove it."))
    if not identity.usage_tracked:
        return found
    stale_after = policy.for_kind(kind, "stale_after_days")
    grace = policy.for_kind(kind, "never_used_grace_days")
    if identity.last_used_at is not None:
        idle = _days(now - identity.last_used_at)
        if idle >= stale_after:
            found.append(_finding("stale-unused", f"Last used {idle} days ago ({identity.last_used_at:%Y-%m-%d}); "
                                                  f"the limit is {stale_after} days."))
    elif identity.created_at is not None:
        age = _days(now - identity.created_at)
        if age >= grace:
            found.append(_finding("never-used", f"Never used in the {age} days since it was created; "
                                                f"the grace period is {grace} days."))
    return found


def _finding(rule: str, explanation: str) -> Finding:
    r = RULES[rule]
    return Finding(rule=rule, severity=r.severity, owasp=r.owasp, explanation=explanation)


def _is_bot(owner: str) -> bool:
    return owner.endswith("[bot]") or owner.startswith(("project_", "group_")) and "_bot" in owner


def _secret_name(identity: Identity) -> str:
    return str(identity.details.get("secret_name") or identity.name)


class Graph:
    """The delivery chain: repo/project -> identities attached to it -> what its workflows can become.

    Who can become what comes from `nhitui.trustmap.TrustIndex` (every provider's federated trusts
    and Kubernetes service accounts annotated to cloud identities)."""

    def __init__(self, identities: Iterable[Identity], statuses: Mapping[str, SourceStatus] | None = None) -> None:
        rows = list(identities)
        self.attached: dict[str, set[str]] = defaultdict(set)     # repo -> uids attached to it
        self.repos: set[str] = set()
        self.names: dict[str, str] = {}
        self.kinds: dict[str, str] = {}
        family: dict[str, set[str]] = defaultdict(set)            # repo -> providers seen on it
        for i in rows:
            self.names[i.uid] = i.name
            self.kinds[i.uid] = f"{i.provider} {i.kind}"
            for repo in self._repos_of(i):
                self.attached[repo].add(i.uid)
                family[repo].add(i.provider)
        self.repos.update(self.attached)
        self.trust = TrustIndex(rows, statuses, family)

    @staticmethod
    def _repos_of(i: Identity) -> set[str]:
        return repos_of(i)

    def roles_for(self, repo: str) -> set[str]:
        """Identities a workflow of `repo` can assume (any provider, wildcard trusts included)."""
        return self.trust.assumable_by(repo)

    def assumable_by(self, repo: str) -> set[str]:
        """`assumable-by:` — what `repo` (a repo, project or `ns/service-account`; `*` allowed) can become."""
        matched = {r for r in self.repos | set(self.trust.accounts) if fnmatch.fnmatchcase(r, repo)} or {repo}
        return set().union(*(self.trust.assumable_by(r) for r in matched))

    def repos_for_role(self, role_uid: str) -> list[str]:
        return self.trust.assumers(role_uid)

    def reaches(self, repo: str) -> set[str]:
        """Everything tied to `repo`: what is attached to it and what it can become."""
        matched = {r for r in self.repos if fnmatch.fnmatchcase(r, repo)} or {repo}
        out: set[str] = set()
        for r in matched:
            out |= self.attached.get(r, set())
            out |= self.roles_for(r)
        return out

    def links(self, identity: Identity) -> dict[str, list[str]]:
        """For the detail pane: 'assumable by' (who can become it) and 'can assume' (what its
        repository's workflows, or this service account, can become), with privilege."""
        result: dict[str, list[str]] = {}
        who = self.trust.assumers(identity.uid)
        if who:
            result["assumable by"] = who
        uids = {u for r in self._repos_of(identity) for u in self.roles_for(r)}
        if identity.uid in self.trust.becomes:
            uids.add(self.trust.becomes[identity.uid])
        if uids:
            ranked = sorted(uids, key=lambda u: (-privilege_rank(self.trust.by_uid[u].privilege), self.names.get(u, u)))
            result["can assume"] = [f"{self.names.get(u, u)} ({self.kinds.get(u, '?')}, "
                                    f"{self.trust.by_uid[u].privilege})" for u in ranked]
        return result


def evaluate(identities: Iterable[Identity], statuses: Mapping[str, SourceStatus] | None = None,
             policy: Policy | None = None, now: datetime | None = None) -> list[Identity]:
    """Return the identities with `stale` and `findings` set under `policy`."""
    rows = list(identities)
    policy = policy or Policy()
    now = now or datetime.now(timezone.utc)
    statuses = statuses or {}
    members = {name: {str(m).casefold() for m in s.facts["members"]}
               for name, s in statuses.items() if s.facts.get("members")}
    graph = Graph(rows, statuses)
    federated_repos = graph.trust.federated_repos("aws")
    sprawl: dict[str, set[str]] = defaultdict(set)
    for i in rows:
        if i.kind in SECRET_KINDS and i.target:
            sprawl[_secret_name(i).upper()].add(i.target)

    ctx = Context(now=now, policy=policy, by_uid={i.uid: i for i in rows}, statuses=statuses)
    rotations = _two_active_keys(rows, policy, now)
    out = []
    for i in rows:
        found = staleness(i, policy, now) + _risk(i, policy, now, members, sprawl, federated_repos)
        found += rotations.get(i.uid, [])
        if i.status not in ("revoked", "expired"):
            found += [Finding(rule, sev, RULES[rule].owasp, text) for rule, sev, text in graph.trust.findings(i)]
        check = _PROVIDER_CHECKS.get(i.provider)
        if check is not None:
            found += [_finding(rule, text) for rule, text in check(i, ctx)]
        found = [f for f in found if f.rule not in policy.disabled]
        stale = any(f.rule in STALE_RULES for f in found)
        found.sort(key=lambda f: -SEVERITIES.index(f.severity))
        findings = tuple(found)
        out.append(i if (stale == i.stale and findings == i.findings) else replace(i, stale=stale, findings=findings))
    return out


def _two_active_keys(rows: list[Identity], policy: Policy, now: datetime) -> dict[str, list[Finding]]:
    """Both active access keys of a user that has two, unless the newer one is within the rotation grace."""
    keys: dict[tuple[str, str, str], list[Identity]] = defaultdict(list)
    for i in rows:
        if i.kind == "access_key" and i.status == "active":
            keys[(i.source, str(i.details.get("account") or i.target), str(i.details.get("user") or i.owner))].append(i)
    out: dict[str, list[Finding]] = {}
    for pair in keys.values():
        if len(pair) != 2:
            continue                      # IAM allows two keys a user
        ages = [_days(now - k.created_at) if k.created_at else None for k in pair]
        newest = min((a for a in ages if a is not None), default=None)
        newer_made = max((k.created_at for k in pair if k.created_at), default=None)
        # Both used since the newer key appeared: two live credentials in circulation, whatever the age.
        both_live = newer_made is not None and all(k.last_used_at is not None and k.last_used_at >= newer_made
                                                   for k in pair)
        if newest is not None and newest < policy.rotation_grace_days and not both_live:
            continue                      # a fresh second key not yet used alongside the old: a rotation in progress
        both = " and ".join(f"{k.name} ({'age unknown' if a is None else f'{a} days old'})" for k, a in zip(pair, ages))
        live = " Both have been used since the newer one was created." if both_live else ""
        text = (f"{pair[0].owner or 'The user'} has {len(pair)} active access keys: {both}.{live} A rotation that "
                "never finished leaves the old key valid; deactivate the one no longer in use.")
        out.update({k.uid: [_finding("two-active-keys", text)] for k in pair})
    return out


def _risk(i: Identity, policy: Policy, now: datetime, members: Mapping[str, set[str]],
          sprawl: Mapping[str, set[str]], federated_repos: set[str]) -> list[Finding]:
    found: list[Finding] = []
    d = i.details
    live = i.status not in ("revoked", "expired")
    if not live:
        return found
    cannot_expire = d.get("credential_type") == "SSH key"   # SSO-authorized SSH keys have no expiry field
    if (i.provider, i.kind) in EXPIRING_KINDS and i.expires_at is None and i.status != "pending" \
            and not cannot_expire:
        found.append(_finding("no-expiry", "It has no expiry date, so a leak stays valid until someone revokes it."))
    rotated = d.get("rotated_at") or i.created_at
    rotated_at = utc(rotated)
    max_age = policy.for_kind(i.kind, "max_age_days")
    if i.credential == "static" and rotated_at is not None and i.kind != "iam_user" and i.status == "active":
        age = _days(now - rotated_at)
        if age > max_age:
            found.append(_finding("old-rotation", f"Its secret is {age} days old (since {rotated_at:%Y-%m-%d}); "
                                                  f"rotate it at least every {max_age} days."))
    owner = i.owner
    if owner and not _is_bot(owner) and i.source in members and owner.casefold() not in members[i.source]:
        found.append(_finding("owner-departed", f"Its owner {owner!r} is not a current member of the "
                                                f"organisation, so nobody answers for it."))
    if i.kind == "deploy_key" and privilege_rank(i.privilege) >= privilege_rank("write"):
        found.append(_finding("write-deploy-key", f"This deploy key can push to {i.target or 'its repository'}; "
                                                  "read-only is enough for deployments."))
    if i.privilege == "admin":
        scopes = ", ".join(i.scopes[:4]) or "its policies"
        found.append(_finding("admin-scope", f"It holds administrative privilege ({scopes})."))
    selection = d.get("repository_selection")
    if i.kind == "app_installation" and selection == "all" and privilege_rank(i.privilege) >= 2:
        found.append(_finding("app-all-repos-write", "The app is installed on every repository and can write."))
    if i.kind == "fine_grained_pat" and selection == "all":
        found.append(_finding("pat-all-repos", "The token was granted access to every repository of the org."))
    if i.kind in ("actions_secret", "dependabot_secret", "codespaces_secret", "agents_secret") and d.get("scope") == "org" and d.get("visibility") == "all":
        found.append(_finding("org-secret-visible-to-all", "Every repository of the org, present and future, "
                                                           "can read this secret."))
    if i.kind == "runner" and d.get("allows_public_repositories"):
        group = d.get("group") or "its group"
        found.append(_finding("runner-group-public-repos", f"Runner group {group!r} accepts jobs from public "
                                                           "repositories: anyone can run code on it."))
    if i.kind in SECRET_KINDS and i.target:
        targets = sprawl.get(_secret_name(i).upper(), set())
        if len(targets) >= policy.sprawl_threshold:
            found.append(_finding("secret-name-sprawl", f"{_secret_name(i)} exists in {len(targets)} places: one "
                                                        "credential is likely copied around."))
    if federated_repos:
        repo = ""
        bare = i.target.split(":", 1)[0]       # an environment secret's target is repo:environment
        if i.kind in SECRET_KINDS and STATIC_AWS_SECRET.match(_secret_name(i)) and bare in federated_repos:
            repo = bare
        if i.kind == "access_key":
            tags = d.get("user_tags") or {}
            repo = next((str(tags[k]) for k in REPO_TAGS if str(tags.get(k, "")) in federated_repos), "")
        if repo:
            found.append(_finding("static-where-federation-exists", f"{repo} can already assume an AWS role "
                                                                    "through OIDC; this static key is not needed."))
    return found


def max_severity(identities: Iterable[Identity]) -> str | None:
    best = -1
    for i in identities:
        for f in i.findings:
            best = max(best, SEVERITIES.index(f.severity))
    return SEVERITIES[best] if best >= 0 else None
