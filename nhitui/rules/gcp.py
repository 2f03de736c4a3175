"""Risk rules that only gcp identities can trip (the shared rules in nhitui.policy apply too).

Federated-trust findings (no condition, wildcards, any ref, audiences) come from the shared trust
rule set over `details[TRUSTS_DETAIL]`; these are the GCP-only facts:

- a default Compute Engine / App Engine account holding Editor or Owner (granted automatically to
  projects of organizations created before 2024-05-03);
- a key Google found published (`extendedStatus` KEY_EXPOSED / compromise detected): permanent,
  it survives re-enabling;
- a user-managed key on a Google service agent;
- a key older than the organization's key-expiry policy allows (the policy is not retroactive);
- a workload identity pool granted as a whole (`principalSet://.../*`): every identity the
  provider admits can act;
- `google.subject` mapped to a claim many workloads share (owner, actor, namespace...);
- no recorded use since Activity Analyzer's observation window opened, when that is longer than
  the stale window: reported as `stale-unused` (the row's last use is otherwise unknown).
"""

from __future__ import annotations

import re
from datetime import timedelta

from nhitui.model import Identity, utc
from nhitui.rules import Context, Rule

RULES: tuple[Rule, ...] = (
    Rule("gcp-default-sa-editor", "high", "NHI5", "default service account holds Editor or Owner"),
    Rule("gcp-key-exposed", "critical", "NHI2", "Google found this key published"),
    Rule("gcp-service-agent-key", "high", "NHI7", "user-managed key on a Google service agent"),
    Rule("gcp-key-exceeds-expiry-policy", "medium", "NHI7", "key older than the org's key expiry policy"),
    Rule("gcp-wif-whole-pool", "high", "NHI6", "a whole workload identity pool is granted access"),
    Rule("gcp-wif-subject-not-unique", "high", "NHI6", "google.subject is mapped to a shared claim"),
)

BASIC_WRITE = {"roles/editor", "roles/owner"}
SHARED_CLAIMS = frozenset({
    "repository_owner", "repository_owner_id", "actor", "actor_id", "aud", "workflow", "event_name", "ref",
    "ref_type", "environment", "repository_visibility", "runner_environment", "iss", "namespace_path",
    "namespace_id", "user_login", "user_id", "user_email", "ref_protected", "enterprise", "enterprise_id",
})
_PLAIN = re.compile(r"^\s*assertion\.([A-Za-z_][A-Za-z0-9_]*)\s*$")


def check(identity: Identity, ctx: Context) -> list[tuple[str, str]]:
    d = identity.details
    out: list[tuple[str, str]] = []
    live = identity.status not in ("revoked", "expired")
    if identity.kind == "gcp_service_account" and live:
        held = sorted(BASIC_WRITE & {str(r) for r in d.get("roles") or ()})
        if d.get("sa_kind") in ("default-compute", "default-appengine") and held:
            out.append(("gcp-default-sa-editor", f"The default service account holds {', '.join(held)}: every VM "
                        "or app running as it, and anyone who can act as it, can change almost anything in "
                        f"{identity.target}. Grant it narrow roles instead."))
    if identity.kind == "sa_key":
        exposed = [s for s in d.get("exposed") or () if "EXPOSED" in s or "COMPROMISE" in s]
        reason = str(d.get("disable_reason") or "")
        if exposed or reason.endswith(("_EXPOSED", "_COMPROMISE_DETECTED")):
            out.append(("gcp-key-exposed", "Google reports this key's private key as published or compromised "
                        f"({', '.join(exposed) or reason}); delete it and review what it accessed."))
        if d.get("sa_kind") == "service-agent" and live:
            out.append(("gcp-service-agent-key", f"{identity.owner} is a Google service agent; a user-managed key "
                        "lets anyone holding it act as Google's agent. It cannot be revoked from here: remove "
                        "it in the console and find out who created it."))
        hours = d.get("key_expiry_hours")
        if isinstance(hours, int) and hours > 0 and identity.created_at is not None and identity.status == "active":
            limit = timedelta(hours=hours)
            lifetime = (identity.expires_at - identity.created_at) if identity.expires_at else None
            if ctx.now - identity.created_at > limit and (lifetime is None or lifetime > limit):
                out.append(("gcp-key-exceeds-expiry-policy", f"The organization's policy gives new keys at most "
                            f"{hours} hours ({hours // 24} days); this key predates it and "
                            + ("never expires." if identity.expires_at is None
                               else f"expires only on {identity.expires_at:%Y-%m-%d}.")))
    if identity.kind == "wif_provider":
        whole = list(d.get("whole_pool_grants") or ())
        if whole and live:
            out.append(("gcp-wif-whole-pool", f"Every identity pool {d.get('pool')!r} admits can act: "
                        f"{'; '.join(whole[:3])}. Bind a principalSet narrowed to one repository instead."))
        mapping = d.get("attribute_mapping") or {}
        m = _PLAIN.match(str(mapping.get("google.subject") or ""))
        if m and m.group(1) in SHARED_CLAIMS:
            out.append(("gcp-wif-subject-not-unique", f"google.subject is mapped to assertion.{m.group(1)}, which "
                        "many workloads share: they all become one principal (principal://.../subject/...). Map "
                        "it to assertion.sub."))
    start = utc(d.get("no_use_since"))
    if start is not None and not identity.usage_tracked and identity.status == "active":
        days = int((ctx.now - start).total_seconds() // 86400)
        stale_after = ctx.policy.for_kind(identity.kind, "stale_after_days")
        if days >= stale_after:
            out.append(("stale-unused", f"No recorded use since {start:%Y-%m-%d} ({days} days, the start of "
                        f"Activity Analyzer's observation window); the limit is {stale_after} days. Use before "
                        "that is not known."))
    return out
