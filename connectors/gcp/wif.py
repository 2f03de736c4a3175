"""Workload Identity Federation pools and providers (IAM v1), and the trusts they give.

Pools: `GET v1/projects/{P}/locations/global/workloadIdentityPools` (page <= 1000); providers:
`.../workloadIdentityPools/{POOL}/providers` (page <= 100). Names use the project *number*
(`projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/ID`), as do the
`principalSet://` members that bind pool identities to roles. GKE's system pools
(`PROJECT.svc.id.goog`, mode SYSTEM_TRUST_DOMAIN) answer 400 to providers.list: skipped.

A provider's trust: every token of its issuer whose claims pass `attributeCondition` enters the
pool; a binding of a pool principal (`principalSet://.../attribute.repository/acme/api`, `.../*`,
`principal://.../subject/S`) then lets it act as a service account or on a project. Each (binding
x way through the condition) is one FederatedTrust; a provider with no binding still has the pool
trust itself (grants the pool, privilege none).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from connectors._http import clean
from connectors.gcp import wif_trust
from connectors.gcp.client import Api, GaveUp, TooLarge, classify
from connectors.gcp.projects import Project
from nhitui.model import FederatedTrust, sanitize

# Names are used in write paths (PATCH v1/{name}): only the documented shape is accepted.
_ID = r"[A-Za-z0-9][A-Za-z0-9._-]*"
POOL_NAME = re.compile(rf"^projects/{_ID}/locations/global/workloadIdentityPools/{_ID}$")
PROVIDER_NAME = re.compile(rf"^projects/{_ID}/locations/global/workloadIdentityPools/{_ID}/providers/{_ID}$")
MULTI_TENANT_ISSUERS = frozenset({"token.actions.githubusercontent.com", "gitlab.com", "app.terraform.io",
                                  "accounts.google.com"})


@dataclass
class Pool:
    name: str                       # projects/NUMBER/locations/global/workloadIdentityPools/POOL
    project: Project
    pool_id: str
    disabled: bool
    mode: str
    display_name: str


@dataclass
class Provider:
    name: str
    pool: Pool
    provider_id: str
    display_name: str
    disabled: bool
    state: str
    issuer: str
    audiences: tuple[str, ...]
    mapping: dict[str, str]
    condition: str | None
    protocol: str


@dataclass(frozen=True)
class Grant:
    """A pool principal bound to a role: on a service account (`sa`) or on a project/org (`resource`)."""

    principal: wif_trust.PoolPrincipal
    role: str
    target: str                     # SA email, `project acme-prod`, `folders/N` or `organizations/N`
    target_kind: str                # gcp_service_account | gcp_project | gcp_folder | gcp_organization
    privilege: str


@dataclass
class WifInventory:
    pools: list[Pool] = field(default_factory=list)
    providers: list[Provider] = field(default_factory=list)


def normalise_issuer(uri: str) -> str:
    """Lowercase host, no trailing slash (Google's docs show GitHub's issuer both ways)."""
    text = uri.strip()
    if "://" in text:
        scheme, _, rest = text.partition("://")
        host, slash, path = rest.partition("/")
        text = f"{scheme.lower()}://{host.lower()}{slash}{path}"
    return text.rstrip("/")


def issuer_host(uri: str) -> str:
    rest = normalise_issuer(uri).partition("://")[2]
    return rest.split("/", 1)[0]


def parse_provider(pool: Pool, obj: Mapping[str, Any]) -> Provider | None:
    name = obj.get("name")
    if not isinstance(name, str) or not PROVIDER_NAME.match(name) or ".." in name:
        return None
    mapping_raw = obj.get("attributeMapping") if isinstance(obj.get("attributeMapping"), Mapping) else {}
    mapping = {sanitize(k)[:100]: sanitize(v) for k, v in mapping_raw.items()}
    issuer, audiences, protocol = "", (), "oidc"
    for proto in ("oidc", "aws", "saml", "x509"):
        if isinstance(obj.get(proto), Mapping):
            protocol = proto
            break
    if protocol == "oidc":
        oidc = obj.get("oidc") if isinstance(obj.get("oidc"), Mapping) else {}
        issuer = sanitize(oidc.get("issuerUri") or "")[:500]
        auds = oidc.get("allowedAudiences")
        audiences = tuple(sanitize(a)[:500] for a in auds) if isinstance(auds, list) else ()
    elif protocol == "aws":
        aws = obj.get("aws") if isinstance(obj.get("aws"), Mapping) else {}
        issuer = f"aws account {clean(aws.get('accountId', ''), 20)}"
    cond = obj.get("attributeCondition")
    return Provider(name=name, pool=pool, provider_id=name.rsplit("/", 1)[1],
                    display_name=clean(obj.get("displayName"), 100), disabled=obj.get("disabled") is True,
                    state=str(obj.get("state") or "ACTIVE"), issuer=issuer, audiences=audiences,
                    mapping=mapping, condition=sanitize(cond) if isinstance(cond, str) and cond.strip() else None,
                    protocol=protocol)


async def list_wif(api: Api, project: Project) -> WifInventory:
    inv = WifInventory()
    base = f"v1/projects/{quote(project.id, safe='')}/locations/global/workloadIdentityPools"
    what = f"workload identity pools of {project.id}"
    try:
        async for items, reply in api.pages("iam", base, "workloadIdentityPools", what, {"pageSize": 1000}):
            if not reply.ok:
                api.report.blind_spot(what, classify(
                    reply, "grant roles/iam.workloadIdentityPoolViewer (iam.workloadIdentityPools.list)").text)
                return inv
            for obj in items:
                name = obj.get("name")
                if not isinstance(name, str) or not POOL_NAME.match(name) or ".." in name:
                    continue
                if str(obj.get("state") or "ACTIVE") != "ACTIVE":
                    continue
                inv.pools.append(Pool(name=name, project=project, pool_id=name.rsplit("/", 1)[1],
                                      disabled=obj.get("disabled") is True, mode=str(obj.get("mode") or ""),
                                      display_name=clean(obj.get("displayName"), 100)))
    except (GaveUp, TooLarge) as exc:
        api.report.blind_spot(what, str(exc))
        return inv
    for pool in inv.pools:
        if pool.mode in ("SYSTEM_TRUST_DOMAIN", "TRUST_DOMAIN"):
            continue
        pwhat = f"providers of pool {pool.pool_id} in {project.id}"
        try:
            async for items, reply in api.pages("iam", f"{base}/{quote(pool.pool_id, safe='')}/providers",
                                                "workloadIdentityPoolProviders", pwhat, {"pageSize": 100}):
                if reply.status == 400:
                    break           # a GKE system pool not marked as such
                if not reply.ok:
                    api.report.blind_spot(pwhat, classify(
                        reply, "grant roles/iam.workloadIdentityPoolViewer "
                               "(iam.workloadIdentityPoolProviders.list)").text)
                    break
                for obj in items:
                    provider = parse_provider(pool, obj)
                    if provider is not None and provider.state == "ACTIVE":
                        inv.providers.append(provider)
        except (GaveUp, TooLarge) as exc:
            api.report.blind_spot(pwhat, str(exc))
    return inv


def default_audiences(provider: Provider) -> tuple[str, ...]:
    """With no allowedAudiences, `aud` must be the provider's own resource name (with or without https:)."""
    return (f"//iam.googleapis.com/{provider.name}", f"https://iam.googleapis.com/{provider.name}")


def applicable(provider: Provider, grants: list[Grant]) -> list[Grant]:
    """The grants of the provider's pool its identities can match (the attribute must be mapped)."""
    return [g for g in grants if g.principal.pool == provider.pool.name and g.principal.applies_to(provider.mapping)]


def trusts(provider: Provider, grants: list[Grant]) -> tuple[FederatedTrust, ...]:
    """The provider's trusts: one per (grant x way through its condition); the pool itself without grants."""
    grants = applicable(provider, grants)
    alts = wif_trust.alternatives(provider.condition, provider.mapping)
    disabled = provider.disabled or provider.pool.disabled
    issuer = normalise_issuer(provider.issuer) if provider.protocol == "oidc" else provider.issuer
    expected = default_audiences(provider)
    audiences = provider.audiences or expected
    out: list[FederatedTrust] = []
    targets: list[tuple[str, str, str, Any]] = [
        (g.target, g.target_kind, g.privilege, g.principal.condition(provider.mapping)) for g in grants]
    if not targets:
        targets = [(provider.pool.name, "gcp_wif_pool", "none", None)]
    for target, kind, privilege, extra in targets:
        for alt in alts:
            conditions = alt.conditions + ((extra,) if extra is not None else ())
            out.append(FederatedTrust(issuer=issuer, grants=target, grants_kind=kind, privilege=privilege,
                                      audiences=audiences, conditions=tuple(dict.fromkeys(conditions)),
                                      unparsed=alt.unparsed, dialect="gcp-cel", expected_audiences=expected,
                                      disabled=disabled))
    return tuple(dict.fromkeys(out))
