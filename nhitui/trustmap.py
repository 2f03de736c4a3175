"""Who can become what: every federated trust of the inventory against its CI side.

Built once per inventory (`TrustIndex`), used by the policy (findings), the delivery-chain graph
(links both ways, `reaches:` and `assumable-by:`), `nhitui trust` and the TUI's trust map.
The CI side is what the inventory shows: GitHub repositories and environments, GitLab projects
(from the targets and details of their identities), Kubernetes service accounts; GitHub subject
customisations come from the GitHub source's `facts["oidc_sub"]`. See `nhitui.trust` for the model.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from nhitui.model import TRUSTS_DETAIL, ClaimCondition, FederatedTrust, Identity, SourceStatus, privilege_rank
from nhitui.subjects import MAX_MATCH
from nhitui.trust import (
    CI_FAMILIES,
    SCOPES,
    Assessment,
    CiScope,
    assess,
    findings,
    github_template_subject,
    glob_match,
    is_pattern,
    issuer_host,
)

SEVERITY_RANK = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}


def trusts_of(identity: Identity) -> tuple[FederatedTrust, ...]:
    """The identity's trusts in the shared model; legacy AWS `details["trusts"]` dicts converted."""
    d = identity.details
    found = d.get(TRUSTS_DETAIL)
    if found:
        return tuple(t if isinstance(t, FederatedTrust) else FederatedTrust.from_dict(t)
                     for t in found if isinstance(t, (FederatedTrust, Mapping)))
    grants = str(d.get("arn") or identity.uid)
    return tuple(_legacy(t, grants, identity.privilege) for t in d.get("trusts") or () if isinstance(t, Mapping))


def _legacy(t: Mapping[str, Any], grants: str, privilege: str) -> FederatedTrust:
    """A `connectors.aws.trust.Trust.as_dict()` (the transition form) as a FederatedTrust."""
    host = str(t.get("host") or "")
    provider = str(t.get("provider") or ("github" if "githubusercontent" in host else "other"))
    issuer = host if host == "*" or "://" in host else f"https://{host}"
    audiences = tuple(str(a) for a in t.get("audiences") or ())
    base = dict(issuer=issuer, grants=grants, grants_kind="aws_role", privilege=privilege, dialect="aws-iam")
    if t.get("no_sub"):
        return FederatedTrust(**base)  # type: ignore[arg-type]
    if t.get("aud_only"):
        return FederatedTrust(audiences=audiences or ("(checked)",), **base)  # type: ignore[arg-type]
    wild = bool(t.get("wildcard_sub"))
    conds: list[ClaimCondition] = []
    repos = [str(r) for r in t.get("repos") or ()]
    if provider == "other" or not repos and not t.get("repo_ids"):
        subs = [str(s) for s in t.get("subjects") or ()] or (["*"] if wild else [])
        if subs:
            conds.append(ClaimCondition("sub", "glob" if wild else "equals", tuple(subs), "sub: " + ", ".join(subs)))
    else:
        claim = "project_path" if provider == "gitlab" else "repository"
        if repos:
            conds.append(ClaimCondition(claim, "glob" if wild else "equals", tuple(repos), f"{claim}: {', '.join(repos)}"))
        if t.get("repo_ids"):
            ids = tuple(str(i) for i in t["repo_ids"])
            conds.append(ClaimCondition("repository_id", "equals", ids, f"repository_id: {', '.join(ids)}"))
        refs = [str(r) for r in t.get("refs") or () if r != "*"]
        envs = [r.split(":", 1)[1] for r in refs if r.startswith("environment:")]
        plain = [r for r in refs if not r.startswith("environment:")]
        if envs:
            conds.append(ClaimCondition("environment", "equals", tuple(envs), f"environment: {', '.join(envs)}"))
        elif plain:
            conds.append(ClaimCondition("ref", "glob", tuple(plain), f"ref: {', '.join(plain)}"))
    return FederatedTrust(audiences=audiences, conditions=tuple(conds), **base)  # type: ignore[arg-type]


def repos_of(i: Identity) -> set[str]:
    """Repositories / projects an identity is attached to (the CI side of the chain)."""
    repos = {str(r) for r in i.details.get("repos") or () if r}
    repo = i.details.get("repo") or i.details.get("project")
    if repo:
        repos.add(str(repo))
    if i.provider in ("github", "gitlab") and "/" in i.target:
        repos.add(i.target.split(":", 1)[0])     # acme/api:production is attached to acme/api
    return repos


@dataclass(frozen=True)
class Edge:
    """One "who can become what": `who` (a repo, project, service account, or the admitted set in
    words) can become the identity `uid` through `via` (its trust's assessment)."""

    who: str
    uid: str
    via: Assessment | None
    privilege: str
    refs: tuple[str, ...] = ()
    known: bool = True       # `who` is a repo / account of the inventory (else: the admitted set in words)


class TrustIndex:
    """The inventory's trusts, assessed once, with the CI side they are evaluated against."""

    def __init__(self, identities: Iterable[Identity], statuses: Mapping[str, SourceStatus] | None = None,
                 family: Mapping[str, set[str]] | None = None) -> None:
        """`family` (repo -> providers of the identities attached to it, as the delivery-chain graph
        reads it) saves reading every row twice."""
        rows = identities if isinstance(identities, list) else list(identities)
        self.by_uid = {i.uid: i for i in rows}
        self.family: dict[str, set[str]] = defaultdict(set)       # repo -> providers it was seen on
        if family is None:
            for i in rows:
                for repo in repos_of(i):
                    self.family[repo].add(i.provider)
        else:
            self.family.update(family)
        self.accounts: dict[str, Identity] = {}                   # "ns/name" -> k8s service account
        self.assessed: dict[str, list[Assessment]] = {}
        annotated: list[Identity] = []
        for i in rows:
            d = i.details
            if not d:
                continue
            if d.get(TRUSTS_DETAIL) or d.get("trusts"):
                trusts = trusts_of(i)
                if trusts:
                    self.assessed[i.uid] = [assess(t) for t in trusts]
            if i.kind == "k8s_service_account":
                ns = str(d.get("namespace") or i.target.rsplit("/", 1)[-1])
                self.accounts[f"{ns}/{i.name}"] = i
                if isinstance(d.get("cloud_identity"), Mapping):
                    annotated.append(i)
        self.templates = _templates(statuses or {})
        self.ci = _ci_scope(self.family, statuses or {})
        self.becomes = _annotations(rows, annotated) if annotated else {}
        self.edges = self._edges()
        self._by_who: dict[str, set[str]] = defaultdict(set)     # known repo / account -> what it can become
        for e in self.edges:
            if e.known:
                self._by_who[e.who].add(e.uid)

    # --- matching ------------------------------------------------------------------------------

    def admits(self, a: Assessment, repo: str) -> bool:
        """Can a workflow of `repo` (a repository / project of the inventory) present a token `a` accepts?"""
        seen = self.family.get(repo, set()) & set(CI_FAMILIES)
        if a.family in CI_FAMILIES and seen and a.family not in seen or a.family not in CI_FAMILIES:
            return False
        if a.scope in ("any", "unknown"):
            return True
        hit = [x for x in a.admitted if x.repo and (glob_match(repo, x.repo) if is_pattern(x.repo) else repo == x.repo)]
        if not hit:
            return False
        template = self.templates.get(repo) or self.templates.get(repo.split("/", 1)[0])
        if a.family != "github" or not template:
            return True
        subs = [c for c in a.trust.conditions if c.claim == "sub" and c.operator in ("equals", "glob")]
        return not subs or any(self._subject_passes(repo, x.ref, template, subs) for x in hit)

    def _candidates(self, a: Assessment, repos: list[str]) -> list[str]:
        """The repos (sorted, as `repos`) that `admits` can say yes to: with a trust that names its
        repos, those named and those its patterns match, rather than all of them; an organisation's
        thousands of repos against its hundreds of trusts made this the policy's costliest step."""
        if a.family not in CI_FAMILIES:
            return []
        if a.scope in ("any", "unknown"):
            return repos
        named = {x.repo for x in a.admitted if x.repo and not is_pattern(x.repo) and x.repo in self.family}
        for pattern in {x.repo for x in a.admitted if x.repo and is_pattern(x.repo)}:
            # A match starts with the pattern's literal part: in sorted `repos`, one run of them.
            head = pattern[:MAX_MATCH]
            head = head[:min((i for i in (head.find("*"), head.find("?")) if i >= 0), default=len(head))]
            for r in repos[bisect.bisect_left(repos, head):]:
                if not r.startswith(head):
                    break
                if glob_match(r, pattern):
                    named.add(r)
        return sorted(named)

    @staticmethod
    def _subject_passes(repo: str, ref: str, template: Mapping[str, Any], subs: list[ClaimCondition]) -> bool:
        claims = {"repository": repo, "repository_owner": repo.split("/", 1)[0]}
        if ref.startswith("environment:"):
            claims["environment"] = ref.split(":", 1)[1]
        elif ref == "pull_request":
            claims["event_name"] = "pull_request"
        else:
            claims["ref"] = ref
        subject = github_template_subject(claims, template)
        return all(any(subject == v if c.operator == "equals" else glob_match(subject, v) for v in c.values)
                   for c in subs)

    def _edges(self) -> list[Edge]:
        edges: list[Edge] = []
        repos = sorted(self.family)
        # Many trusts read alike (one pattern on many roles): match each reading against the repos once.
        matched: dict[tuple[Any, ...], list[str]] = {}
        for uid, assessed in self.assessed.items():
            target = self.by_uid[uid]
            for a in assessed:
                if a.trust.disabled:
                    continue
                privilege = a.trust.privilege if a.trust.privilege != "none" else target.privilege
                refs = a.refs
                key = (a.family, a.scope, a.admitted, tuple(c for c in a.trust.conditions if c.claim == "sub"))
                known = matched.get(key)
                if known is None:
                    if a.family == "kubernetes":
                        known = [n for n in self.accounts if a.scope in ("any", "unknown")
                                 or any(glob_match(n, x.repo) for x in a.admitted)]
                    else:
                        known = [r for r in self._candidates(a, repos) if self.admits(a, r)]
                    matched[key] = known
                edges.extend(Edge(who, uid, a, privilege, refs) for who in known)
                if a.scope != "exact":
                    edges.append(Edge(a.label(), uid, a, privilege, refs, known=False))
                elif not known:
                    names = [x.repo or f"repository id {x.repo_id}" for x in a.admitted]
                    edges.append(Edge(", ".join(dict.fromkeys(names)) or a.label(), uid, a, privilege, refs,
                                      known=False))
        for sa_uid, target_uid in self.becomes.items():
            sa = self.by_uid[sa_uid]
            ns = str(sa.details.get("namespace") or sa.target.rsplit("/", 1)[-1])
            edges.append(Edge(f"{ns}/{sa.name}", target_uid, None, self.by_uid[target_uid].privilege))
        return edges

    # --- questions -------------------------------------------------------------------------------

    def assumable_by(self, who: str) -> set[str]:
        """Identities a repo / project / `ns/service-account` (`*` patterns allowed) can become.

        A name the inventory does not know is read against the trusts' admitted sets directly."""
        out = set(self._by_who.get(who, ()))
        if is_pattern(who):
            for name, uids in self._by_who.items():
                if glob_match(name, who):
                    out |= uids
        if who in self.family or who in self.accounts or is_pattern(who):
            return out
        for uid, assessed in self.assessed.items():
            for a in assessed:
                if a.trust.disabled or a.family not in (*CI_FAMILIES, "kubernetes"):
                    continue
                if a.scope in ("any", "unknown") or any(
                        glob_match(who, x.repo) if is_pattern(x.repo) else who == x.repo for x in a.admitted):
                    out.add(uid)
        return out

    def assumers(self, uid: str) -> list[str]:
        """Who can become `uid`: known repos / accounts first, then the admitted set in words."""
        edges = [e for e in self.edges if e.uid == uid]
        edges.sort(key=lambda e: e.known)
        return list(dict.fromkeys(self._who(e) for e in edges))

    @staticmethod
    def _who(e: Edge) -> str:
        refs = [r for r in e.refs if r != "*"]
        return e.who + (f" ({', '.join(refs)})" if refs and e.via and e.via.scope == "exact" else "")

    def findings(self, identity: Identity) -> list[tuple[str, str, str]]:
        return [f for a in self.assessed.get(identity.uid, ()) for f in findings(a, self.ci)]

    def federated_repos(self, provider: str) -> set[str]:
        """Repositories named exactly by a trust of `provider`'s identities: a static `provider`
        credential used there is not needed."""
        return {x.repo for uid, assessed in self.assessed.items() if self.by_uid[uid].provider == provider
                for a in assessed if a.subject_pinned for x in a.admitted if x.repo and not is_pattern(x.repo)}

    def rows(self) -> list[dict[str, Any]]:
        """The trust map: one row per (who, what), widest and most privileged first.

        An exact trust gives one row per repository / project it names; a wider one gives one row
        naming the admitted set in words, with the known repositories it reaches in `known`."""
        out = []
        grouped: dict[tuple[str, int], list[Edge]] = defaultdict(list)
        for e in self.edges:
            grouped[(e.uid, id(e.via))].append(e)
        for edges in grouped.values():
            a = edges[0].via
            wide = a is not None and a.scope != "exact"
            known = sorted({e.who for e in edges if e.known})
            shown = [e for e in edges if not e.known] if wide else [e for e in edges if e.known or not known]
            found = findings(a, self.ci) if a is not None else []
            worst = max((SEVERITY_RANK.get(f[1], 0) for f in found), default=-1)
            for e in shown:
                target = self.by_uid[e.uid]
                out.append({
                    "who": e.who, "scope": a.scope if a else "exact", "family": a.family if a else "kubernetes",
                    "issuer": a.host if a else "", "refs": [r for r in e.refs if r != "*"] if a else [],
                    "known": known if wide else [], "becomes": target.name, "becomes_uid": target.uid,
                    "provider": target.provider, "kind": target.kind, "privilege": e.privilege,
                    "findings": sorted({f[0] for f in found}),
                    "severity": next((k for k, v in SEVERITY_RANK.items() if v == worst), ""),
                    "via": a.trust.dialect if a else "annotation",
                })
        unique = {(r["who"], r["becomes_uid"], tuple(r["refs"]), tuple(r["findings"])): r for r in out}
        out = list(unique.values())
        out.sort(key=lambda r: (-SCOPES.index(r["scope"]) if r["scope"] in SCOPES else 0,
                                -privilege_rank(r["privilege"]), -SEVERITY_RANK.get(r["severity"], -1),
                                r["who"], r["becomes"]))
        return out


def _annotations(rows: list[Identity], annotated: list[Identity]) -> dict[str, str]:
    """Kubernetes service account uid -> the cloud identity its `cloud_identity` annotation names.

    Matched on the identity's provider and one of its ids (ARN, email, client/app id, native id, name)."""
    ids: dict[str, str] = {}
    wanted = {str(i.details["cloud_identity"].get("provider", "")) for i in annotated}
    for i in rows:
        if i.provider not in wanted:
            continue
        for key in ("arn", "email", "client_id", "app_id", "unique_id"):
            if i.details.get(key):
                ids[f"{i.provider}:{str(i.details[key]).casefold()}"] = i.uid
        ids.setdefault(f"{i.provider}:{i.native_id.casefold()}", i.uid)
        ids.setdefault(f"{i.provider}:{i.name.casefold()}", i.uid)
    out = {}
    for sa in annotated:
        cloud = sa.details["cloud_identity"]
        target = ids.get(f"{cloud.get('provider')}:{str(cloud.get('id', '')).casefold()}")
        if target:
            out[sa.uid] = target
    return out


def _templates(statuses: Mapping[str, SourceStatus]) -> dict[str, Mapping[str, Any]]:
    """Custom GitHub subject templates by org and by repo (repo wins), from `facts["oidc_sub"]`."""
    out: dict[str, Mapping[str, Any]] = {}
    for s in statuses.values():
        facts = s.facts.get("oidc_sub") if isinstance(s.facts, Mapping) else None
        if not isinstance(facts, Mapping):
            continue
        for key in ("orgs", "repos"):
            for name, tpl in (facts.get(key) or {}).items():
                if isinstance(tpl, Mapping) and tpl.get("use_default") is not True and tpl.get("include_claim_keys"):
                    out[str(name)] = tpl
    return out


def _ci_scope(family: Mapping[str, set[str]], statuses: Mapping[str, SourceStatus]) -> CiScope:
    orgs: dict[str, set[str]] = defaultdict(set)
    for repo, providers in family.items():
        for p in providers & set(CI_FAMILIES):
            orgs[p].add(repo.split("/", 1)[0].casefold())
    issuers = set()
    for s in statuses.values():
        facts = s.facts if isinstance(s.facts, Mapping) else {}
        for key in ("oidc_issuer", "url", "api_url"):
            if facts.get(key):
                issuers.add(issuer_host(str(facts[key])))
    return CiScope(orgs={k: frozenset(v) for k, v in orgs.items()}, issuers=frozenset(issuers))


MAP_COLUMNS = ("who", "scope", "family", "issuer", "refs", "known", "becomes", "becomes_uid", "provider", "kind", "privilege",
               "severity", "findings", "via")


def render_map(rows: list[dict[str, Any]], fmt: str) -> str:
    """`nhitui trust` output: table (aligned, sanitized), csv (formula-safe) or json."""
    import csv
    import io
    import json

    from nhitui.export import safe_cell
    from nhitui.model import sanitize

    if fmt == "json":
        return json.dumps({"trust_map": rows, "count": len(rows)}, indent=2, ensure_ascii=False) + "\n"
    cells = [[sanitize(";".join(r[c]) if isinstance(r[c], list) else r[c]) for c in MAP_COLUMNS] for r in rows]
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(MAP_COLUMNS)
        writer.writerows([[safe_cell(v) for v in row] for row in cells])
        return out.getvalue()
    shown = ("who", "scope", "becomes", "provider", "kind", "privilege", "findings")
    idx = [MAP_COLUMNS.index(c) for c in shown]
    table = [[c.upper() for c in shown]] + [[_cut(_who(r) if n == 0 else cell[i], 56 if n == 0 else 48)
                                             for n, i in enumerate(idx)] for r, cell in zip(rows, cells)]
    widths = [max(len(r[n]) for r in table) for n in range(len(shown))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in table]
    if not rows:
        lines.append("no federated trust: nothing in the inventory can become anything through OIDC")
    return "\n".join(lines) + "\n"


def _who(row: Mapping[str, Any]) -> str:
    from nhitui.model import sanitize

    extra = f" [{', '.join(row['refs'])}]" if row["refs"] and row["scope"] == "exact" else \
        f" ({len(row['known'])} known)" if row.get("known") else ""
    return sanitize(str(row["who"]) + extra)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "\u2026"
