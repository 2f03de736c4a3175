"""Federated trust, every dialect: what a trust admits, and one rule set for all of them.

Connectors emit trusts as `nhitui.model.FederatedTrust` in `Identity.details[TRUSTS_DETAIL]` (a
tuple of FederatedTrust, or their `as_dict()` forms once read back from JSON). This module reads
them without knowing the dialect:

- `assess(trust)` -> `Assessment`: the issuer's family (github, gitlab, kubernetes, a known CI, or
  other), the admitted alternatives (repository or project pattern x ref/environment/pull_request),
  and the scope: exact (these repos/refs), org (an org- or group-wide pattern), any (any repository
  of any org on this issuer), pattern (a subject pattern on an issuer without repository
  vocabulary), unknown (a condition could not be read: the widest reading, said so).
- `findings(assessment, ci)` -> the shared rules (`RULES`), worded with the condition as written
  (`ClaimCondition.raw`) and the admitted set. `ci` (`CiScope`) is what the inventory knows of the
  CI side: the orgs/groups scanned, the configured issuers.
- `admits(assessment, repo, ...)` tells whether a concrete repository or project of the inventory
  can present a token the trust accepts (used for the links and the trust map).

Subject formats, as the CI providers document them:
- GitHub: `repo:ORG/REPO:ref:refs/heads/BRANCH`, `...:ref:refs/tags/TAG`, `...:environment:NAME`,
  `...:pull_request`; an org or repository may customise it (`GET .../actions/oidc/customization/sub`,
  collected by the GitHub connector in `SourceStatus.facts["oidc_sub"]` as {"orgs": {org: {...}},
  "repos": {repo: {...}}}): `include_claim_keys` lists the claims in order, each as `key:value`,
  with `context` standing for the default ref/environment/pull_request part and `repo` for
  `repo:ORG/REPO` (e.g. `repository_owner_id:1:repository_id:2:environment:prod`).
- GitLab (gitlab.com and self-managed issuers, whatever the host):
  `project_path:GROUP/PROJECT:ref_type:branch|tag:ref:NAME`; claims `namespace_path`,
  `project_path`, `ref`, `ref_type`, `ref_protected`, `environment`.
- Kubernetes: `system:serviceaccount:NAMESPACE:NAME`.

Coordination keys read in `Identity.details` (documented here, set by connectors):
- `details[TRUSTS_DETAIL]`: the trusts an identity accepts (what a token holder becomes is the identity).
- `details["cloud_identity"] = {"provider": "aws"|"gcp"|"azure", "id": ARN|email|client_id}` on a
  Kubernetes service account annotated to a cloud identity (IRSA, GKE Workload Identity, Azure
  workload identity): the service account "can become" that identity.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from nhitui.model import ClaimCondition, FederatedTrust, privilege_rank
from nhitui.rules import Rule
from nhitui.subjects import (  # noqa: F401 - re-exported: the subject readers are part of this API
    GITHUB_KEYS,
    GITLAB_KEYS,
    github_subject,
    github_template_subject,
    gitlab_ref,
    gitlab_subject,
    glob_match,
    is_pattern,
    kubernetes_subject,
    subject_fields,
)

RULES: tuple[Rule, ...] = (
    Rule("oidc-no-sub", "critical", "NHI6", "OIDC trust without a subject condition"),
    Rule("oidc-aud-only", "critical", "NHI6", "OIDC trust checks only the audience"),
    Rule("oidc-wildcard-sub", "high", "NHI6", "OIDC trust with a wildcard subject"),
    Rule("oidc-unparsed-condition", "high", "NHI6", "OIDC trust condition nhitui cannot read"),
    Rule("oidc-pull-request-write", "high", "NHI8", "pull-request workflows can assume a write identity"),
    Rule("oidc-any-ref-admin", "high", "NHI8", "any branch can assume an admin identity"),
    Rule("oidc-unexpected-audience", "medium", "NHI6", "OIDC audience is not the provider's documented one"),
    Rule("oidc-unknown-issuer", "medium", "NHI3", "OIDC issuer is neither a known CI nor a configured source"),
    Rule("oidc-outside-scope", "medium", "NHI3", "OIDC trust admits an org or group outside the scanned sources"),
)
RULE_IDS = tuple(r.id for r in RULES)

SCOPES = ("none", "exact", "pattern", "org", "any", "unknown")   # narrow -> wide
CI_FAMILIES = ("github", "gitlab")
# Issuers known by their host: (host or host prefix, family). GitLab is also recognised by its
# subject vocabulary (self-managed hosts), GitHub Enterprise Server by `/_services/token`.
KNOWN_ISSUERS = (
    ("token.actions.githubusercontent.com", "github"), ("gitlab.com", "gitlab"),
    ("oidc.eks.", "kubernetes"), ("container.googleapis.com/", "kubernetes"), ("oic.prod-aks.azure.com", "kubernetes"),
    ("kubernetes.default.svc", "kubernetes"), ("app.terraform.io", "terraform"), ("oidc.circleci.com", "circleci"),
    ("api.bitbucket.org", "bitbucket"), ("vstoken.dev.azure.com", "azure-devops"), ("agent.buildkite.com", "buildkite"),
    ("accounts.google.com", "google"), ("cognito-identity.amazonaws.com", "cognito"),
    ("sts.windows.net", "entra"), ("login.microsoftonline.com", "entra"),
)
REPO_CLAIMS = frozenset({"sub", "repository", "repository_owner", "repository_owner_id", "repository_id",
                         "job_workflow_ref", "project_path", "project_id", "namespace_path", "namespace_id"})
AUDIENCE_CLAIMS = frozenset({"aud", "azp", "oaud"})
REF_CLAIMS = ("ref", "environment", "ref_type", "actor", "ref_protected", "event_name")


# --- what one trust admits ------------------------------------------------------------------------

@dataclass(frozen=True)
class Admitted:
    """One alternative a trust admits: a repository/project/service account (pattern kept, `*` = any)
    and a ref (`refs/heads/main`, `refs/tags/v*`, `environment:prod`, `pull_request`, `*`)."""

    repo: str
    ref: str = "*"
    repo_id: str = ""


@dataclass(frozen=True)
class Assessment:
    """A trust read without its dialect: family, scope, what it admits, and why."""

    trust: FederatedTrust
    family: str
    host: str
    scope: str
    admitted: tuple[Admitted, ...] = ()
    subjects: tuple[str, ...] = ()
    subject_pinned: bool = False
    audience_checked: bool = False
    pins: tuple[ClaimCondition, ...] = ()      # the conditions that restrict who (quoted in findings)

    @property
    def repos(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(a.repo for a in self.admitted if a.repo))

    @property
    def refs(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(a.ref for a in self.admitted if a.repo or a.repo_id))

    @property
    def owners(self) -> tuple[str, ...]:
        """Orgs / top-level groups the trust names (literally): who the inventory must see."""
        out = []
        for a in self.admitted:
            head = a.repo.split("/", 1)[0]
            if head and not is_pattern(head) and "/" in a.repo and not head.startswith("owner#"):
                out.append(head)
        return tuple(dict.fromkeys(out))

    @property
    def widest(self) -> bool:
        return self.scope in ("any", "unknown")

    def label(self) -> str:
        """The admitted set in words, for explanations and the trust map."""
        where = self.host or "any issuer"
        if self.scope == "unknown":
            return f"unknown: a condition could not be read, so any token of {where} (widest reading)"
        if self.scope == "any":
            what = "any service account" if self.family == "kubernetes" else "any repository of any org"
            return f"{what} on {where}" + _refs_text(self)
        if self.scope == "none":
            return "nothing (no real token can match the subject as written)"
        if self.scope == "pattern":
            return f"subjects matching {', '.join(self.subjects)} on {where}"
        names = [_name(a) for a in self.admitted]
        if not names:
            return f"the subjects {', '.join(self.subjects)} on {where}" if self.subjects else \
                "nothing (no value can match the conditions as written)"
        kind = "org-wide: " if self.scope == "org" else ""
        return kind + ", ".join(dict.fromkeys(names)) + _refs_text(self)


def _name(a: Admitted) -> str:
    if a.repo.startswith("owner#"):
        return f"every repository of the org with id {a.repo[6:].rsplit('/', 1)[0]}"
    return a.repo or f"repository id {a.repo_id}"


def _refs_text(a: Assessment) -> str:
    refs = [r for r in a.refs if r]
    if not refs or refs == ["*"]:
        return " (any ref)" if a.family in CI_FAMILIES else ""
    return f" ({', '.join(refs)})"


def issuer_host(issuer: str) -> str:
    host = issuer.strip()
    if "://" in host:
        host = host.split("://", 1)[1]
    return host.rstrip("/").lower()


def issuer_family(host: str, subjects: Iterable[str] = (), claims: Iterable[str] = ()) -> str:
    """github, gitlab, kubernetes, another known issuer's name, or `other`."""
    subjects, claims = list(subjects), set(claims)
    if host.startswith("token.actions.githubusercontent.com") or host.endswith("/_services/token"):
        return "github"
    if "gitlab" in host or any(s.startswith("project_path:") for s in subjects) or \
            claims & {"project_path", "namespace_path"}:
        return "gitlab"
    if any(s.startswith("system:serviceaccount:") for s in subjects):
        return "kubernetes"
    for prefix, family in KNOWN_ISSUERS:
        if host.startswith(prefix) or f".{prefix}" in host or host.endswith(prefix):
            return family
    return "other"


def _regex_literal(pattern: str) -> tuple[str, bool]:
    """(literal prefix, whole pattern is literal) of a regex: regexes are not run, only read."""
    body = pattern[1:] if pattern.startswith("^") else pattern
    out = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body) and not body[i + 1].isalnum():
            out.append(body[i + 1])
            i += 2
            continue
        if ch in ".^$*+?{}[]|()\\":
            rest = body[i:]
            return "".join(out), rest == "$"
        out.append(ch)
        i += 1
    return "".join(out), True


def _values(conds: list[ClaimCondition]) -> tuple[list[str], bool, bool]:
    """Values admitted by the conditions on one claim (AND between conditions): (values, patterns,
    glob crosses `/`). Prefix and regex conditions read as patterns (regex: its literal prefix + `*`)."""
    equals: list[str] = []
    patterns: list[str] = []
    crosses = True
    for c in conds:
        for v in c.values:
            if c.operator == "equals":
                equals.append(v)
            elif c.operator == "glob":
                patterns.append(v)
                crosses &= c.glob_crosses_slash
            elif c.operator == "prefix":
                patterns.append(v.replace("*", "?") + "*")
            elif c.operator == "regex":
                literal, whole = _regex_literal(v)
                (equals if whole else patterns).append(literal if whole else literal + "*")
    if equals and patterns:
        return [v for v in equals if any(glob_match(v, p, crosses) for p in patterns)], False, crosses
    if patterns:
        return patterns, True, crosses
    return equals, False, crosses


def assess(trust: FederatedTrust) -> Assessment:
    """What `trust` admits, read from its conditions (the AWS parser's reading, for every dialect)."""
    host = issuer_host(trust.issuer)
    claims: dict[str, list[ClaimCondition]] = {}
    for c in trust.conditions:
        if c.operator in ("equals", "glob", "prefix", "regex"):
            claims.setdefault(c.claim.lower(), []).append(c)
    subjects, sub_like, _ = _values(claims.get("sub", []))
    family = issuer_family(host, subjects, claims)
    k8s = {_k8s_claim(c) for c in trust.conditions} - {""}
    if k8s or "kubernetes" in trust.dialect:
        family = "kubernetes"
    admitted: list[Admitted] = []
    wildcard = False
    pinned = bool(claims.get("sub"))
    pins: list[ClaimCondition] = list(claims.get("sub", []))
    for s in subjects:
        if not sub_like and is_pattern(s) and family in CI_FAMILIES:
            continue                  # a literal `*` under an exact match matches no real token
        if family == "github":
            repo, ref, rid, _ = github_subject(s)
        elif family == "gitlab":
            repo, ref = gitlab_subject(s)
            rid = None
        elif family == "kubernetes":
            repo, ref, rid = kubernetes_subject(s), "*", None
            if repo is None:
                wildcard |= sub_like and is_pattern(s)
                continue
        else:
            wildcard |= sub_like and is_pattern(s)
            continue
        if repo is not None:
            wildcard |= is_pattern(repo) and (sub_like or not is_pattern(s))
        elif rid is None:
            repo, wildcard = "*", True     # the subject names no repository: any repository passes
        admitted.append(Admitted(repo or "", ref or "*", rid or ""))

    if not subjects and family == "kubernetes":
        names = {"namespace": ["*"], "name": ["*"]}
        for c in trust.conditions:
            part = _k8s_claim(c)
            if part and c.operator != "any":
                values, like, _ = _values([c])
                names[part] = values
                pins.append(c)
                pinned = True
                wildcard |= like and any(is_pattern(v) for v in values)
        if pinned:
            admitted = [Admitted(f"{ns}/{n}") for ns in names["namespace"] for n in names["name"]]
            wildcard |= any(is_pattern(a.repo) for a in admitted)
    elif not subjects:
        for claim in ("repository", "project_path"):
            values, like, _ = _values(claims.get(claim, []))
            admitted += [Admitted(v) for v in values]
            wildcard |= like and any(is_pattern(v) for v in values)
        for claim in ("repository_owner", "namespace_path"):
            values, _, _ = _values(claims.get(claim, []))
            if claims.get(claim) and not admitted:
                admitted += [Admitted(f"{v}/*") for v in values]
                wildcard = True
        for claim in ("repository_id", "project_id"):
            values, _, _ = _values(claims.get(claim, []))
            admitted += [Admitted("", "*", v) for v in values]
        if claims.get("job_workflow_ref"):
            values, like, _ = _values(claims["job_workflow_ref"])
            for v in values:
                repo = "/".join(v.split("@", 1)[0].split("/")[:2])
                if repo and not admitted:
                    admitted.append(Admitted(repo))
                wildcard |= like and is_pattern(repo)
        pinned = any(claims.get(c) for c in REPO_CLAIMS)
        pins = [c for claim in sorted(REPO_CLAIMS) for c in claims.get(claim, [])]
        refs = _claim_refs(claims, family)
        if not pinned and any(c in claims for c in REF_CLAIMS):
            pinned, wildcard = True, True      # pinned to a ref but not a repository: any repository passes
            admitted.append(Admitted("*"))
            pins = [c for claim in REF_CLAIMS for c in claims.get(claim, [])]
        if refs:
            admitted = [Admitted(a.repo, r, a.repo_id) for a in admitted for r in refs]

    audience_checked = bool(trust.audiences) or any(claims.get(c) for c in AUDIENCE_CLAIMS)
    if trust.audience_pins and audience_checked:
        pinned = True
    if not pinned:
        scope = "unknown" if trust.unparsed else "any"
        admitted = [Admitted("*")] if family != "other" else []
    elif wildcard:
        scope = "pattern" if family not in (*CI_FAMILIES, "kubernetes") else \
            "any" if any(_any_owner(a.repo) for a in admitted) else "org"
    elif not admitted and family in (*CI_FAMILIES, "kubernetes") and subjects:
        scope = "none"
    else:
        scope = "exact"
    return Assessment(trust=trust, family=family, host=host, scope=scope,
                      admitted=tuple(dict.fromkeys(admitted)), subjects=tuple(dict.fromkeys(subjects)),
                      subject_pinned=pinned, audience_checked=audience_checked, pins=tuple(pins))


def _k8s_claim(c: ClaimCondition) -> str:
    """`namespace` / `name` for a Kubernetes service-account claim (Vault's and the token's spellings)."""
    claim = c.claim.lower()
    if not ("kubernetes" in claim or claim in ("namespace", "service_account_name", "service_account_namespace")):
        return ""
    if claim.endswith("namespace"):
        return "namespace"
    if claim.endswith(("service-account.name", "service_account_name", "serviceaccount.name", "serviceaccount/name")):
        return "name"
    return ""


def _any_owner(repo: str) -> bool:
    head = repo.split("/", 1)[0]
    return repo in ("", "*") or is_pattern(head)


def _claim_refs(claims: Mapping[str, list[ClaimCondition]], family: str) -> list[str]:
    envs, _, _ = _values(claims.get("environment", []))
    if envs:
        return [f"environment:{e}" for e in envs]
    refs, _, _ = _values(claims.get("ref", []))
    if family == "gitlab" and refs:
        types, _, _ = _values(claims.get("ref_type", []))
        return [gitlab_ref(t, r) for r in refs for t in (types or [""])]
    protected, _, _ = _values(claims.get("ref_protected", []))
    if not refs and protected and all(p.lower() == "true" for p in protected):
        return ["protected refs"]        # GitLab: only branches and tags its maintainers protect
    return refs


# --- one rule set -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class CiScope:
    """What the inventory knows of the CI side, for the scope rules.

    `orgs`: family -> orgs / top-level groups the scanned sources cover (casefolded); a family
    absent here was not scanned, so nothing is called outside it. `issuers`: hosts of the configured
    sources (a self-hosted CI is then not an unknown issuer)."""

    orgs: Mapping[str, frozenset[str]] = None  # type: ignore[assignment]
    issuers: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.orgs is None:
            object.__setattr__(self, "orgs", {})


ANY_BRANCH_PROBE = "refs/heads/nhitui-any-branch"


def _quote(conds: Iterable[Any], limit: int = 2) -> str:
    texts = [str(getattr(c, "raw", "") or _cond_text(c)) for c in conds]
    texts = [t if len(t) <= 200 else t[:199] + "\u2026" for t in texts if t]
    shown = "; ".join(texts[:limit])
    return shown + (f" (+{len(texts) - limit} more)" if len(texts) > limit else "")


def _cond_text(c: Any) -> str:
    if isinstance(c, ClaimCondition):
        return f"{c.claim} {c.operator} {', '.join(c.values)}"
    return str(c)


def _admits_pull_requests(a: Assessment) -> bool:
    return any(x.ref == "pull_request" or glob_match("pull_request", x.ref) for x in a.admitted)


def _admits_any_branch(a: Assessment) -> bool:
    return any(glob_match(ANY_BRANCH_PROBE, x.ref) for x in a.admitted)


def findings(a: Assessment, ci: CiScope | None = None) -> list[tuple[str, str, str]]:
    """(rule id, severity, explanation) for one assessed trust, the same rules for every dialect."""
    ci = ci or CiScope()
    t = a.trust
    if t.disabled:
        return []
    out: list[tuple[str, str, str]] = []
    who = f"The trust of {a.host or 'any OIDC issuer'}"
    admin = t.privilege == "admin"
    label = a.label()
    if a.scope == "unknown":
        out.append(("oidc-unparsed-condition", "critical" if admin else "high",
                    f"{who} has a condition nhitui cannot read ({_quote(t.unparsed)}); read as the widest, it admits "
                    f"{label}."))
    elif not a.subject_pinned and not a.audience_checked:
        anyone = "any workflow of any repository" if a.family in CI_FAMILIES else "any token holder of the issuer"
        out.append(("oidc-no-sub", "critical", f"{who} has no subject condition: {anyone} can assume "
                                               f"{_short(t.grants)} (admits {label})."))
    elif not a.subject_pinned:
        auds = ", ".join(t.audiences) or "an audience"
        out.append(("oidc-aud-only", "critical", f"{who} checks only the audience ({auds}): any repository on the "
                                                 f"provider can assume {_short(t.grants)} (admits {label})."))
    else:
        if a.scope in ("org", "any", "pattern"):
            subs = ", ".join(a.subjects) or "*"
            out.append(("oidc-wildcard-sub", "critical" if admin else "high",
                        f"{who} admits the wildcard subject {subs} ({_quote(a.pins)}): {label}."))
        if t.unparsed:
            out.append(("oidc-unparsed-condition", "medium",
                        f"{who} also has a condition nhitui cannot read ({_quote(t.unparsed)}); the admitted set "
                        f"may be narrower than {label}."))
        if a.family == "github" and privilege_rank(t.privilege) >= privilege_rank("write") and _admits_pull_requests(a):
            out.append(("oidc-pull-request-write", "critical" if admin else "high",
                        f"{who} lets pull-request workflows ({_quote(a.pins)}) assume {_short(t.grants)} with "
                        f"{t.privilege} privilege: code from a pull request can use it. Admits {label}."))
        if a.family in CI_FAMILIES and admin and _admits_any_branch(a):
            out.append(("oidc-any-ref-admin", "high",
                        f"{who} pins no branch or environment ({_quote(a.pins)}): any branch can assume "
                        f"{_short(t.grants)} with admin privilege (admits {label}); pin a protected ref or "
                        "environment."))
    unexpected = [x for x in t.audiences if t.expected_audiences and x not in t.expected_audiences]
    if unexpected:
        out.append(("oidc-unexpected-audience", "medium",
                    f"{who} accepts the audience {', '.join(unexpected)}; the provider documents "
                    f"{', '.join(t.expected_audiences)} for this trust."))
    if a.family == "other" and a.host not in ci.issuers:
        out.append(("oidc-unknown-issuer", "medium",
                    f"{a.host or 'Any OIDC issuer'} is neither a known CI issuer nor a configured source: the "
                    f"inventory cannot say who holds its tokens (admits {label})."))
    scanned = ci.orgs.get(a.family)
    if a.family in CI_FAMILIES and scanned:
        outside = [o for o in a.owners if o.casefold() not in scanned]
        if outside:
            out.append(("oidc-outside-scope", "medium",
                        f"{who} admits {', '.join(outside)}, which no scanned source covers: the inventory cannot "
                        f"see who that is ({_quote(a.pins)})."))
    return out


def _short(grants: str) -> str:
    return grants or "this identity"
