"""The normalized records every part of nhitui exchanges.

Pure dataclasses and small helpers, no I/O: connectors build these, the core stores, filters,
scores and exports them, the TUI draws them. Field names of `Identity` are the CSV/JSON columns
of design.md, in order (`COLUMNS`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

PROVIDERS = ("github", "gitlab", "aws", "npm", "dockerhub", "jfrog", "gcp", "azure", "kubernetes", "vault")
PRIVILEGES = ("none", "read", "write", "admin")
STATUSES = ("active", "inactive", "expired", "revoked", "offline", "pending", "suspended")
CREDENTIALS = ("static", "federated", "ephemeral")
SEVERITIES = ("info", "low", "medium", "high", "critical")

COLUMNS = (
    "uid", "source", "provider", "kind", "name", "owner", "target", "scopes", "privilege",
    "created_at", "expires_at", "last_used_at", "status", "credential", "stale", "findings",
    "actions", "url",
)

# C0, DEL, C1, zero-width and bidi controls: terminal escapes and spoofing live here. Lone
# surrogates too: JSON may carry "\ud800", and no UTF-8 file or terminal can take one.
_UNSAFE = re.compile("[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff\ud800-\udfff]")
_SURROGATE = re.compile("[\ud800-\udfff]")
MAX_TEXT = 4096


def sanitize(value: Any) -> str:
    """Make a provider string safe to store and display: one line, no control bytes.

    Provider text (token titles, runner names, owners) is attacker-controlled. Replacing the
    control characters with U+FFFD keeps the evidence visible without letting it drive the terminal.
    Very long titles are cut so one hostile row cannot cost megabytes everywhere it is shown.
    """
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    if len(text) > MAX_TEXT:
        text = text[:MAX_TEXT] + "\u2026"
    return _UNSAFE.sub("\ufffd", text)


def utc(value: Any) -> datetime | None:
    """Parse a provider timestamp (ISO 8601, epoch seconds or datetime) to aware UTC, or None.

    A value no calendar can hold (1e18 seconds, inf, year 99999) is None, not an exception: one
    hostile timestamp must never fail a whole source.
    """
    try:
        return _utc(value)
    except (OverflowError, OSError, ValueError):
        return None


def _utc(value: Any) -> datetime | None:
    if isinstance(value, float) and value != value:     # NaN
        return None
    if value in (None, "", 0, "N/A", "no_information", "not_supported"):
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    if isinstance(value, (int, float)):
        seconds = value / 1000 if value > 10**11 else value
        return datetime.fromtimestamp(seconds, tz=timezone.utc)
    text = str(value).strip()
    if text.isdigit():
        return _utc(int(text))
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        try:
            parsed = datetime.strptime(text[:10], "%Y-%m-%d")
        except ValueError:
            return None
    return parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed.astimezone(timezone.utc)


def iso(value: datetime | None) -> str:
    """ISO 8601 UTC with a Z, or empty: the one spelling of time in exports."""
    if value is None:
        return ""
    if value.tzinfo is not timezone.utc:
        value = value.astimezone(timezone.utc)
    # %-formatting: twice as fast as isoformat(), and a history save formats 300,000 of these.
    return "%04d-%02d-%02dT%02d:%02d:%02dZ" % (  # noqa: UP031
        value.year, value.month, value.day, value.hour, value.minute, value.second)


def privilege_rank(privilege: str) -> int:
    try:
        return PRIVILEGES.index(privilege)
    except ValueError:
        return 0


def max_privilege(*privileges: str) -> str:
    return max(privileges, key=privilege_rank, default="none") if privileges else "none"


def make_uid(source: str, kind: str, native_id: Any) -> str:
    return f"{source}:{kind}:{native_id}"


@dataclass(frozen=True, slots=True)
class Finding:
    """One risk rule that fired on one identity, with the evidence in a sentence."""

    rule: str
    severity: str
    owasp: str
    explanation: str


@dataclass(frozen=True, slots=True)
class Action:
    """Something the provider lets us do to an identity.

    `reversible` is "yes", "no" or "holder" (only the credential's holder can restore access).
    `undo` names the action that reverses this one, when there is one.
    `call` is the exact API call, shown in plans so a responder knows what will be sent.
    """

    name: str
    reversible: str
    description: str
    call: str
    undo: str = ""


@dataclass(frozen=True, slots=True)
class ActionResult:
    """What the provider answered to an action.

    `state` is "ok", "already-absent" or "failed". `removed` says the identity is gone from the
    provider (the inventory drops it); `identity` is its new state when it still exists.
    `secret` carries a value the provider returned once (a rotated token): shown once, never
    journaled or logged.
    """

    state: str
    status_code: int | None = None
    message: str = ""
    removed: bool = False
    identity: Identity | None = None
    secret: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class Identity:
    """One non-human identity, normalized across providers.

    `details` holds provider facts the core needs beyond the columns (visibility, the repos an
    OIDC role admits, whether the provider tracks last use at all). It is not compared or hashed.
    `usage_tracked` False means an empty `last_used_at` is "unknown", not "never used".
    """

    uid: str
    source: str
    provider: str
    kind: str
    name: str
    owner: str = ""
    target: str = ""
    scopes: tuple[str, ...] = ()
    privilege: str = "none"
    created_at: datetime | None = None
    expires_at: datetime | None = None
    last_used_at: datetime | None = None
    status: str = "active"
    credential: str = "static"
    stale: bool = False
    findings: tuple[Finding, ...] = ()
    actions: tuple[str, ...] = ()
    url: str = ""
    usage_tracked: bool = True
    details: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        for name in ("name", "owner", "target"):
            value = getattr(self, name)
            if not isinstance(value, str) or _UNSAFE.search(value) or len(value) > MAX_TEXT:
                object.__setattr__(self, name, sanitize(value))
        if _UNSAFE.search(self.url):
            object.__setattr__(self, "url", sanitize(self.url))
        if _SURROGATE.search(self.uid):
            # Unencodable anywhere (file, terminal, HTTP); other characters stay, as revocation may
            # read the provider's id back out of the uid. Exports and screens sanitize it.
            object.__setattr__(self, "uid", _SURROGATE.sub("\ufffd", self.uid))
        scopes = self.scopes
        if not isinstance(scopes, tuple) or any(_UNSAFE.search(s) for s in scopes):
            object.__setattr__(self, "scopes", tuple(sanitize(s) for s in scopes))

    @property
    def finding_ids(self) -> tuple[str, ...]:
        return tuple(f.rule for f in self.findings)

    @property
    def native_id(self) -> str:
        return self.uid.split(":", 2)[2] if self.uid.count(":") >= 2 else self.uid


@dataclass(frozen=True, slots=True)
class BlindSpot:
    """Something a source could not see, and why: shown, never an empty list that looks clean."""

    what: str
    reason: str


@dataclass(frozen=True, slots=True)
class SourceStatus:
    """How collection of one configured source went.

    `state`: pending, running, ok, partial (some endpoints not visible) or failed.
    `facts` carries provider context the risk engine needs (e.g. current org members).
    """

    source: str
    provider: str
    state: str = "pending"
    error: str = ""
    blind_spots: tuple[BlindSpot, ...] = ()
    count: int = 0
    requests: int = 0
    retries: int = 0
    rate_limit_remaining: int | None = None
    rate_limit_limit: int | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    facts: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def complete(self) -> bool:
        return self.state == "ok"


# --- federated trust ---------------------------------------------------------------------------
# One shape for every dialect (AWS trust policies, GCP WIF attribute conditions, Azure federated
# credentials, Vault JWT roles, Kubernetes annotations): the parsers beside each connector emit it,
# `nhitui.trust` evaluates it against the CI side of the inventory and applies one rule set.

TRUST_OPERATORS = ("equals", "glob", "prefix", "regex", "any")


@dataclass(frozen=True, slots=True)
class ClaimCondition:
    """One condition on one token claim, normalised.

    `claim` is the issuer's claim name (`sub`, `repository`, `repository_owner_id`, `project_path`,
    `ref`, `environment`, ...). `operator`: equals (exact, case-sensitive), glob (`*`/`?` patterns;
    whether `*` crosses `/` is the dialect's and recorded in `glob_crosses_slash`), prefix, regex
    (anchored as the dialect anchors it), any (the claim is not restricted). `values` are
    alternatives (OR). `raw` is the condition as written, quoted in explanations.
    """

    claim: str
    operator: str
    values: tuple[str, ...] = ()
    raw: str = ""
    glob_crosses_slash: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {"claim": self.claim, "operator": self.operator, "values": list(self.values), "raw": self.raw,
                "glob_crosses_slash": self.glob_crosses_slash}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ClaimCondition:
        return cls(claim=str(d.get("claim", "")), operator=str(d.get("operator", "any")),
                   values=tuple(str(v) for v in d.get("values") or ()), raw=str(d.get("raw", "")),
                   glob_crosses_slash=bool(d.get("glob_crosses_slash", True)))


@dataclass(frozen=True, slots=True)
class FederatedTrust:
    """Who may exchange an external (OIDC/JWT) token for what, in one provider-neutral form.

    - `issuer`: the token issuer URL as configured (`https://token.actions.githubusercontent.com`).
    - `audiences`: accepted `aud` values (empty = the dialect checks none).
    - `conditions`: every claim condition the trust applies (AND between conditions).
    - `unparsed`: conditions the parser could not read, as written. They are never dropped: the
      trust is then evaluated with the widest reading (anything may pass) and says so.
    - `grants`: what a token holder becomes (role ARN, SA email, app id, `policies: a,b`, ...);
      `grants_kind` names its type (`aws_role`, `gcp_service_account`, `gcp_project`, `azure_app`,
      `azure_managed_identity`, `vault_policies`, `k8s_service_account`); `privilege` is the granted
      privilege (none/read/write/admin) as the connector knows it.
    - `dialect`: which parser produced it (`aws-iam`, `gcp-cel`, `azure-fic`, `azure-flexible`,
      `vault-jwt`, `vault-kubernetes`, ...); `expected_audiences` lists the audience the provider
      documents for this kind of trust (`sts.amazonaws.com`, `api://AzureADTokenExchange`), empty
      when it documents none.
    - `ignored`: conditions read but left out of `conditions` because they can only narrow what the
      trust admits and the model has no way to say so (AWS `StringNotLike`, `Null`, conditions on
      another issuer's keys), each with the reason. The evaluation reads the trust without them
      (wider, never narrower); they are shown so a reader sees the whole trust.
    - `audience_pins`: the audience names the tenant (an AWS Cognito identity pool id), so checking
      it is what pins the trust to one set of callers.
    """

    issuer: str
    grants: str
    grants_kind: str
    privilege: str = "none"
    audiences: tuple[str, ...] = ()
    conditions: tuple[ClaimCondition, ...] = ()
    unparsed: tuple[str, ...] = ()
    dialect: str = ""
    expected_audiences: tuple[str, ...] = ()
    disabled: bool = False
    ignored: tuple[str, ...] = ()
    audience_pins: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"issuer": self.issuer, "grants": self.grants, "grants_kind": self.grants_kind,
                "privilege": self.privilege, "audiences": list(self.audiences),
                "conditions": [c.as_dict() for c in self.conditions], "unparsed": list(self.unparsed),
                "dialect": self.dialect, "expected_audiences": list(self.expected_audiences),
                "disabled": self.disabled, "ignored": list(self.ignored), "audience_pins": self.audience_pins}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FederatedTrust:
        return cls(issuer=str(d.get("issuer", "")), grants=str(d.get("grants", "")),
                   grants_kind=str(d.get("grants_kind", "")), privilege=str(d.get("privilege", "none")),
                   audiences=tuple(str(a) for a in d.get("audiences") or ()),
                   conditions=tuple(ClaimCondition.from_dict(c) for c in d.get("conditions") or ()),
                   unparsed=tuple(str(u) for u in d.get("unparsed") or ()), dialect=str(d.get("dialect", "")),
                   expected_audiences=tuple(str(a) for a in d.get("expected_audiences") or ()),
                   disabled=bool(d.get("disabled", False)), ignored=tuple(str(i) for i in d.get("ignored") or ()),
                   audience_pins=bool(d.get("audience_pins", False)))


# Identities that carry trusts put them here, as a tuple of FederatedTrust, in `Identity.details`.
TRUSTS_DETAIL = "federated_trusts"
