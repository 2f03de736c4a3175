"""Which CI workloads an IAM role's trust policy admits through OIDC (GitHub Actions, GitLab CI, others).

Pure: no boto3, no I/O, so it can be fuzzed. `parse_trust(policy)` takes the role's
`AssumeRolePolicyDocument` (a dict, a JSON string, or the URL-encoded JSON the raw IAM API returns)
and returns one `Trust` per (Allow statement x OIDC principal) that lets `sts:AssumeRoleWithWebIdentity`
through. Deny statements never admit anything and are ignored. Malformed input ends in a
`ValueError` with a clear message, never another exception type.

What a trust admits is read from its conditions:
- `<host>:sub` under StringEquals / StringLike (with ForAnyValue: / ForAllValues: prefixes and the
  IfExists suffix), a single value or a list; StringEquals and StringLike on the same key both
  apply (the admitted subjects are the equal values the patterns also match).
- GitHub subjects: `repo:ORG/REPO:ref:refs/heads/BRANCH`, `...:ref:refs/tags/TAG`,
  `...:environment:NAME`, `...:pull_request`, and customised subjects made of other claim pairs
  (`repository_owner:ORG:...`, `repository_owner_id:1:repository_id:2:...`).
- GitLab subjects (gitlab.com and self-managed hosts):
  `project_path:GROUP/PROJECT:ref_type:branch|tag:ref:NAME`.
- Claim keys other than sub (`<host>:repository`, `:repository_owner`, `:project_path`,
  `:namespace_path`, `:ref`, `:environment`...) restrict the same way when present.
Negative operators (StringNotEquals, StringNotLike) never pin a trust to a repository, so they do
not count as a subject condition. Under StringEquals a `*` is a literal character, not a pattern.

Flags (mutually exclusive, in the order the risk rules read them):
- `no_sub`: nothing restricts the subject and there is no audience check either.
- `aud_only`: the audience is checked, the subject is not.
- `wildcard_sub`: the subject is restricted, but a pattern lets more than one repository through
  (`repo:acme/*`, `*`, `repo:acme/api*`, or only the owner / namespace / ref is pinned).
  A wildcard only in the ref part (`repo:acme/api:*`) keeps the trust pinned to one repository:
  it shows as ref `*`, not as a wildcard subject.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from nhitui.model import ClaimCondition, FederatedTrust

WEB_IDENTITY = "sts:assumerolewithwebidentity"
GITHUB_HOST = "token.actions.githubusercontent.com"
MAX_TEXT = 1_000_000
# Issuers whose audience is the tenant (a Cognito identity pool id): checking it is the pinning.
AUD_PINS = frozenset({"cognito-identity.amazonaws.com"})

# GitHub claim names that may appear as `key:value` pairs in a (customised) subject.
GITHUB_CLAIMS = frozenset({
    "repo", "repository", "environment", "ref", "ref_type", "job_workflow_ref", "job_workflow_sha",
    "repository_owner", "repository_owner_id", "repository_id", "repository_visibility", "workflow",
    "workflow_ref", "workflow_sha", "context", "actor", "actor_id", "event_name", "head_ref", "base_ref",
    "enterprise", "enterprise_id", "runner_environment", "check_run_id",
})
# Claims that pin a trust to a repository / project (directly or to a whole owner / namespace).
REPO_CLAIMS = frozenset({"sub", "repository", "repository_owner", "repository_owner_id", "repository_id",
                         "job_workflow_ref", "project_path", "project_id", "namespace_path", "namespace_id"})
POSITIVE_OPS = frozenset({"stringequals", "stringlike", "stringequalsignorecase"})


@dataclass(frozen=True)
class Trust:
    """One OIDC provider a role trusts, and what its conditions admit."""

    provider: str                    # github | gitlab | other
    host: str                        # issuer without scheme, e.g. token.actions.githubusercontent.com
    provider_arn: str = ""
    audiences: tuple[str, ...] = ()
    subjects: tuple[str, ...] = ()   # sub values / patterns as written in the policy
    repos: tuple[str, ...] = ()      # org/repo or group/project admitted; patterns kept (acme/*)
    refs: tuple[str, ...] = ()       # refs/heads/main, refs/tags/v*, environment:production, pull_request, *
    repo_ids: tuple[str, ...] = ()   # repository ids from immutable (id-based) subjects
    wildcard_sub: bool = False
    no_sub: bool = False
    aud_only: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider, "host": self.host, "provider_arn": self.provider_arn,
            "audiences": list(self.audiences), "subjects": list(self.subjects), "repos": list(self.repos),
            "refs": list(self.refs), "repo_ids": list(self.repo_ids), "wildcard_sub": self.wildcard_sub,
            "no_sub": self.no_sub, "aud_only": self.aud_only,
        }


@dataclass(frozen=True)
class _Cond:
    op: str          # base operator, lower case, without ForAnyValue:/ForAllValues: and IfExists
    key: str         # condition key, lower case
    values: tuple[str, ...]
    raw: str = ""    # the condition as written: {"Operator": {"key": value}}

    @property
    def positive(self) -> bool:
        return self.op in POSITIVE_OPS

    @property
    def like(self) -> bool:
        return self.op == "stringlike"


def parse_trust(policy: dict[str, Any] | str | bytes) -> list[Trust]:
    """The OIDC trusts of a role trust policy (see the module docstring). Raises only ValueError."""
    try:
        return _parse(policy)
    except ValueError:
        raise
    except RecursionError:
        raise ValueError("trust policy is nested too deeply") from None
    except (TypeError, AttributeError, KeyError, IndexError) as exc:  # defensive: never leak another type
        raise ValueError(f"malformed trust policy: {type(exc).__name__}") from None


def _parse(policy: Any) -> list[Trust]:
    return [_trust(host, arn, conds) for host, arn, conds in _walk(policy)]


def _walk(policy: Any) -> list[tuple[str, str, list[_Cond]]]:
    """Every (issuer host, provider ARN, conditions) the policy's Allow statements admit."""
    doc = _load(policy)
    if not isinstance(doc, dict):
        raise ValueError(f"trust policy must be a JSON object, not {type(doc).__name__}")
    statements = doc.get("Statement")
    if statements is None:
        return []
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list):
        raise ValueError("trust policy Statement must be an object or a list of objects")
    found: list[tuple[str, str, list[_Cond]]] = []
    for n, st in enumerate(statements):
        if not isinstance(st, dict):
            raise ValueError(f"trust policy Statement[{n}] is not an object")
        found.extend(_admissions(st, n))
    return found


def _load(policy: Any) -> Any:
    if isinstance(policy, (bytes, bytearray)):
        try:
            policy = bytes(policy).decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError("trust policy is not UTF-8") from None
    if isinstance(policy, str):
        text = policy.strip()
        if len(text) > MAX_TEXT:
            raise ValueError("trust policy is too large")
        if text.startswith("%7B") or text.startswith("%7b"):
            text = unquote(text)             # the raw IAM API URL-encodes policy documents
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"trust policy is not valid JSON: {exc.msg} at line {exc.lineno}") from None
    return policy


def _strings(value: Any, what: str) -> list[str]:
    """A policy element that may be one value or a list of values, as strings."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        out = []
        for v in value:
            if isinstance(v, (dict, list, tuple)):
                raise ValueError(f"{what} must hold strings, not {type(v).__name__}")
            out.append(_scalar(v))
        return out
    if isinstance(value, dict):
        raise ValueError(f"{what} must be a string or a list of strings")
    return [_scalar(value)]


def _scalar(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return "" if v is None else str(v)


def _admits_web_identity(st: dict[str, Any], n: int) -> bool:
    if "Action" in st:
        actions = _strings(st["Action"], f"Statement[{n}].Action")
        return any(_like(WEB_IDENTITY, a.lower()) for a in actions)
    if "NotAction" in st:
        excluded = _strings(st["NotAction"], f"Statement[{n}].NotAction")
        return not any(_like(WEB_IDENTITY, a.lower()) for a in excluded)
    return False


def _federated(st: dict[str, Any], n: int) -> list[str]:
    """The federated principals of a statement; "*" for a wildcard principal."""
    principal = st.get("Principal")
    if principal is None:
        return []
    if isinstance(principal, str):
        return ["*"] if principal.strip() == "*" else []
    items = principal if isinstance(principal, list) else [principal]
    found: list[str] = []
    for item in items:
        if isinstance(item, str):
            if item.strip() == "*":
                found.append("*")
            continue
        if not isinstance(item, dict):
            raise ValueError(f"Statement[{n}].Principal must be an object or \"*\"")
        for key, value in item.items():
            if str(key).lower() == "federated":
                found.extend(_strings(value, f"Statement[{n}].Principal.Federated"))
    return found


def _conditions(st: dict[str, Any], n: int) -> list[_Cond]:
    block = st.get("Condition")
    if block is None:
        return []
    if not isinstance(block, dict):
        raise ValueError(f"Statement[{n}].Condition must be an object")
    out: list[_Cond] = []
    for op, pairs in block.items():
        if not isinstance(pairs, dict):
            raise ValueError(f"Statement[{n}].Condition.{op} must be an object")
        base = str(op).lower()
        for prefix in ("foranyvalue:", "forallvalues:"):
            if base.startswith(prefix):
                base = base[len(prefix):]
        if base.endswith("ifexists"):
            base = base[: -len("ifexists")]
        for key, value in pairs.items():
            values = tuple(_strings(value, f"Statement[{n}].Condition.{op}.{key}"))
            raw = json.dumps({str(op): {str(key): value}}, default=str, ensure_ascii=False)
            out.append(_Cond(base, str(key).lower(), values, raw))
    return out


def _host_of(principal: str) -> tuple[str, str]:
    """(host, arn) of a federated principal: the issuer of an oidc-provider ARN, or the name itself."""
    marker = ":oidc-provider/"
    if marker in principal:
        return principal.split(marker, 1)[1].strip().lower(), principal
    return principal.strip().lower(), ""


def _admissions(st: dict[str, Any], n: int) -> list[tuple[str, str, list[_Cond]]]:
    """(issuer host, provider ARN, conditions) for each OIDC principal an Allow statement admits."""
    effect = st.get("Effect")
    if not isinstance(effect, str) or effect.strip().lower() != "allow":
        return []                                      # Deny (or nonsense) admits nobody
    if "NotPrincipal" in st and "Principal" not in st:
        return []
    principals = _federated(st, n)
    if not principals or not _admits_web_identity(st, n):
        return []
    conds = _conditions(st, n)
    out: list[tuple[str, str, list[_Cond]]] = []
    for principal in dict.fromkeys(principals):
        if ":saml-provider/" in principal:
            continue                                   # SAML federation uses AssumeRoleWithSAML
        if principal == "*":
            prefixes = sorted({c.key.rsplit(":", 1)[0] for c in conds if ":" in c.key}) or ["*"]
            out.extend((p, "", conds) for p in prefixes)
        else:
            host, arn = _host_of(principal)
            out.append((host, arn, conds))
    return out


def _claims(conds: list[_Cond], host: str) -> dict[str, list[_Cond]]:
    """Positive conditions on this host's claims, by claim name."""
    by_claim: dict[str, list[_Cond]] = {}
    prefix = host + ":"
    for c in conds:
        if c.positive and c.key.startswith(prefix):
            by_claim.setdefault(c.key[len(prefix):], []).append(c)
    return by_claim


def _admitted(conds: list[_Cond]) -> tuple[list[str], bool]:
    """Values admitted by several conditions on one key (AND), and whether they are patterns."""
    equals = [v for c in conds if not c.like for v in c.values]
    likes = [v for c in conds if c.like for v in c.values]
    if equals and likes:
        return [v for v in equals if any(_like(v, p) for p in likes)], False
    if likes:
        return likes, True
    return equals, False


def _like(value: str, pattern: str) -> bool:
    """IAM StringLike: `*` any run, `?` one character, everything else literal.

    Greedy two-pointer matching: linear-ish in practice and never exponential, whatever the pattern.
    """
    v = p = 0
    star, mark = -1, 0
    while v < len(value):
        if p < len(pattern) and (pattern[p] == "?" or pattern[p] == value[v]):
            v += 1
            p += 1
        elif p < len(pattern) and pattern[p] == "*":
            star, mark = p, v
            p += 1
        elif star >= 0:
            p = star + 1
            mark += 1
            v = mark
        else:
            return False
    while p < len(pattern) and pattern[p] == "*":
        p += 1
    return p == len(pattern)


def _is_pattern(text: str) -> bool:
    return "*" in text or "?" in text


def _provider(host: str, subjects: list[str], claims: dict[str, list[_Cond]]) -> str:
    if host.startswith(GITHUB_HOST) or host.endswith("/_services/token"):
        return "github"
    if "gitlab" in host or any(s.startswith("project_path:") for s in subjects) or \
            any(k in claims for k in ("project_path", "namespace_path")):
        return "gitlab"
    return "other"


def _pairs(subject: str, single: frozenset[str] = frozenset()) -> tuple[dict[str, str], bool]:
    """Split `k1:v1:k2:v2...` into a dict; keys in `single` take no value. True if a bare `*` ends it."""
    parts = subject.split(":")
    fields: dict[str, str] = {}
    tail_wild = False
    i = 0
    while i < len(parts):
        key = parts[i]
        if key in single:
            fields[key] = ""
            i += 1
            continue
        if _is_pattern(key) and (i + 1 >= len(parts) or key.strip("*?") == ""):
            tail_wild = True                       # `...:*` admits anything after
            i += 1
            continue
        if i + 1 >= len(parts):
            fields.setdefault("_rest", key)
            break
        fields[key] = parts[i + 1]
        i += 2
    return fields, tail_wild


def _github_subject(subject: str) -> tuple[str | None, str | None, str | None]:
    """(repo or pattern, ref, repository id) a GitHub subject admits."""
    if subject.strip("*?") == "":
        return "*", "*", None
    fields, tail_wild = _pairs(subject, frozenset({"pull_request"}))
    repo = fields.get("repo") or fields.get("repository")
    if repo is None and "repository_owner" in fields:
        repo = f"{fields['repository_owner']}/*"
    if repo is None and "_rest" in fields and _is_pattern(fields["_rest"]):
        repo = "*"
    if "environment" in fields:
        ref = f"environment:{fields['environment']}"
    elif "ref" in fields:
        ref = fields["ref"]
    elif "pull_request" in fields:
        ref = "pull_request"
    else:
        ref = "*" if tail_wild or repo is not None else None
    return repo, ref, fields.get("repository_id")


def _gitlab_subject(subject: str) -> tuple[str | None, str | None]:
    """(project path or pattern, ref) a GitLab subject admits."""
    if subject.strip("*?") == "":
        return "*", "*"
    fields, tail_wild = _pairs(subject)
    project = fields.get("project_path")
    if project is None and "namespace_path" in fields:
        project = f"{fields['namespace_path']}/*"
    if project is None and "_rest" in fields and _is_pattern(fields["_rest"]):
        project = "*"
    return project, ("*" if tail_wild and "ref" not in fields else _gitlab_ref(fields.get("ref_type"), fields.get("ref")))


def _gitlab_ref(ref_type: str | None, ref: str | None) -> str:
    if ref is None:
        return "*"
    if ref_type == "branch":
        return f"refs/heads/{ref}"
    if ref_type == "tag":
        return f"refs/tags/{ref}"
    return ref


def _trust(host: str, arn: str, conds: list[_Cond]) -> Trust:
    claims = _claims(conds, host)
    subjects, sub_like = _admitted(claims.get("sub", []))
    audiences, _ = _admitted(claims.get("aud", []))
    provider = _provider(host, subjects, claims)

    repos: list[str] = []
    refs: list[str] = []
    ids: list[str] = []
    wildcard = False
    subject_pinned = bool(claims.get("sub"))
    for s in subjects:
        if not sub_like and _is_pattern(s):
            continue                  # a literal `*` under StringEquals matches no real token
        if provider == "github":
            repo, ref, rid = _github_subject(s)
        elif provider == "gitlab":
            repo, ref = _gitlab_subject(s)
            rid = None
        else:
            if sub_like and _is_pattern(s):
                wildcard = True       # other issuers: no repository vocabulary, only the pattern
            continue
        if rid:
            ids.append(rid)
        if repo is not None:
            repos.append(repo)
            if _is_pattern(repo) and (sub_like or not _is_pattern(s)):
                wildcard = True        # a pattern, or a whole owner / namespace named by the subject
        elif rid is None:
            repos.append("*")          # the subject names no repository: any repository passes
            wildcard = True
        if ref is not None:
            refs.append(ref)

    # Other claims that pin (or loosen) the repository when there is no sub condition.
    if not subjects:
        for claim in ("repository", "project_path"):
            values, like = _admitted(claims.get(claim, []))
            for v in values:
                repos.append(v)
                wildcard |= like and _is_pattern(v)
            subject_pinned |= bool(claims.get(claim))
        for claim in ("repository_owner", "namespace_path"):
            values, _ = _admitted(claims.get(claim, []))
            if claims.get(claim) and not repos:
                repos.extend(f"{v}/*" for v in values)
                wildcard = True
            subject_pinned |= bool(claims.get(claim))
        for claim in ("repository_id", "project_id"):
            values, _ = _admitted(claims.get(claim, []))
            ids.extend(values)
            subject_pinned |= bool(claims.get(claim))
        if claims.get("job_workflow_ref"):
            subject_pinned = True
            values, like = _admitted(claims["job_workflow_ref"])
            for v in values:
                repo = "/".join(v.split("@", 1)[0].split("/")[:2])
                if repo and not repos:
                    repos.append(repo)
                wildcard |= like and _is_pattern(repo)
        refs.extend(_claim_refs(claims, provider))
        if not subject_pinned and any(c in claims for c in ("ref", "environment", "ref_type", "actor")):
            subject_pinned = True       # pinned to a ref but not a repository: any repository passes
            repos.append("*")
            wildcard = True
        if subject_pinned and repos and not refs:
            refs.append("*")

    audience_checked = bool(claims.get("aud")) or bool(claims.get("azp"))
    if host in AUD_PINS and audience_checked:
        subject_pinned = True
    no_sub = not subject_pinned and not audience_checked
    aud_only = not subject_pinned and audience_checked
    if no_sub or aud_only:
        wildcard = False
        repos, refs = (["*"], ["*"]) if provider != "other" else ([], [])
    return Trust(
        provider=provider, host=host, provider_arn=arn,
        audiences=tuple(dict.fromkeys(audiences)), subjects=tuple(dict.fromkeys(subjects)),
        repos=tuple(dict.fromkeys(repos)), refs=tuple(dict.fromkeys(refs)), repo_ids=tuple(dict.fromkeys(ids)),
        wildcard_sub=wildcard and not (no_sub or aud_only), no_sub=no_sub, aud_only=aud_only,
    )


def _claim_refs(claims: dict[str, list[_Cond]], provider: str) -> list[str]:
    envs, _ = _admitted(claims.get("environment", []))
    if envs:
        return [f"environment:{e}" for e in envs]
    refs, _ = _admitted(claims.get("ref", []))
    if provider == "gitlab" and refs:
        types, _ = _admitted(claims.get("ref_type", []))
        return [_gitlab_ref(t, r) for r in refs for t in (types or [None])]
    return refs


# --- the shared model (nhitui.model.FederatedTrust) ------------------------------------------------

GITHUB_AUDIENCE = "sts.amazonaws.com"     # what aws-actions/configure-aws-credentials asks GitHub for
_MODEL_OPERATORS = {"stringequals": "equals", "stringlike": "glob", "stringequalsignorecase": "equals"}
_NARROWING = {
    "stringnotequals": "a negative condition can only exclude callers, it never pins the trust",
    "stringnotlike": "a negative condition can only exclude callers, it never pins the trust",
    "stringnotequalsignorecase": "a negative condition can only exclude callers, it never pins the trust",
    "null": "a presence check restricts no value",
}


def federated_trusts(policy_document: dict[str, Any] | str | bytes, grants: str,
                     privilege: str) -> tuple[FederatedTrust, ...]:
    """The role's OIDC trusts in the provider-neutral model, one per (Allow statement x OIDC principal).

    `grants` is the role ARN, `privilege` what the role's policies grant. Conditions become
    `ClaimCondition`s: StringEquals -> equals (a `*` there is literal), StringLike -> glob (IAM's `*`
    crosses `/`), StringEqualsIgnoreCase -> equals (raw keeps the operator); ForAnyValue: /
    ForAllValues: / IfExists read as the base operator (a CI token always carries its `sub`). The
    audience goes to `audiences`. Negative operators and Null checks only narrow: `ignored`, with
    the reason. Any other operator on a claim of the issuer is `unparsed` (evaluated as the widest
    reading). Raises ValueError for a document that is not a policy, like `parse_trust`.
    """
    try:
        found = _walk(policy_document)
    except ValueError:
        raise
    except RecursionError:
        raise ValueError("trust policy is nested too deeply") from None
    except (TypeError, AttributeError, KeyError, IndexError) as exc:
        raise ValueError(f"malformed trust policy: {type(exc).__name__}") from None
    return tuple(_model(host, conds, grants, privilege) for host, _, conds in found)


def _model(host: str, conds: list[_Cond], grants: str, privilege: str) -> FederatedTrust:
    claims = _claims(conds, host)
    subjects, _ = _admitted(claims.get("sub", []))
    family = _provider(host, subjects, claims)
    prefix = host + ":"
    conditions: list[ClaimCondition] = []
    unparsed: list[str] = []
    ignored: list[str] = []
    for c in conds:
        if host == "*" or not c.key.startswith(prefix):
            ignored.append(f"{c.raw} (not a claim of this issuer's tokens)")
            continue
        claim = c.key[len(prefix):]
        if c.op in _MODEL_OPERATORS:
            if claim != "aud":
                conditions.append(ClaimCondition(claim, _MODEL_OPERATORS[c.op], c.values, c.raw, True))
        elif c.op in _NARROWING:
            ignored.append(f"{c.raw} ({_NARROWING[c.op]})")
        else:
            unparsed.append(c.raw)
    audiences, _ = _admitted(claims.get("aud", []))
    return FederatedTrust(
        issuer=host if host == "*" or "://" in host else f"https://{host}", grants=grants, grants_kind="aws_role",
        privilege=privilege, audiences=tuple(dict.fromkeys(audiences)), conditions=tuple(conditions),
        unparsed=tuple(unparsed), dialect="aws-iam",
        expected_audiences=(GITHUB_AUDIENCE,) if family == "github" else (),
        ignored=tuple(ignored), audience_pins=host in AUD_PINS)
