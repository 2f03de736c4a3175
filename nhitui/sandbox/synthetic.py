"""Synthetic identities of every kind, without any server: for benchmarks, TUI tests and store-level tests.

Deterministic under `seed`. Names include the sandbox's hostile names (markup, escape bytes, bidi
overrides) so every code path that draws a row is exercised with them.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

from nhitui.model import Identity, SourceStatus, make_uid
from nhitui.policy import Policy, evaluate
from nhitui.sandbox.world import HOSTILE_NAMES

KINDS: dict[str, tuple[str, ...]] = {
    "github": ("deploy_key", "actions_secret", "dependabot_secret", "runner", "app_installation",
               "fine_grained_pat", "sso_credential", "webhook"),
    "gitlab": ("personal_access_token", "project_access_token", "group_access_token", "deploy_key",
               "deploy_token", "runner", "ci_variable", "trigger_token"),
    "aws": ("iam_user", "access_key", "ssh_public_key", "signing_certificate", "iam_role", "oidc_provider",
            "secret"),
    "npm": ("npm_token",),
    "dockerhub": ("dockerhub_token",),
    "jfrog": ("jfrog_token",),
}
SOURCES = {"github": "acme-github", "gitlab": "acme-gitlab", "aws": "acme-aws", "npm": "acme-npm",
           "dockerhub": "acme-dockerhub", "jfrog": "acme-jfrog"}
OWNERS = ("alice", "bob", "carol", "dave", "erin", "dependabot[bot]", "github-actions[bot]", "mallory-gone",
          "ci-bot", "")
SERVICES = ("api", "web", "billing", "payments", "auth", "search", "infra", "platform", "mobile", "data")
SCOPES = {"none": (), "read": ("read_repository",), "write": ("repo", "write_packages"),
          "admin": ("admin:org", "AdministratorAccess")}
URLS = {"github": "https://github.com/", "gitlab": "https://gitlab.com/", "aws": "https://console.aws.amazon.com/iam/",
        "npm": "https://www.npmjs.com/settings/", "dockerhub": "https://hub.docker.com/settings/security",
        "jfrog": "https://acme.jfrog.io/ui/admin/"}
ACTIONS = {"github": ("delete",), "gitlab": ("pause", "revoke"), "aws": ("deactivate", "delete"),
           "npm": ("revoke",), "dockerhub": ("deactivate", "delete"), "jfrog": ("revoke",)}


def make_identities(n: int, seed: int = 1, now: datetime | None = None, score: bool = True,
                    hostile: bool = True) -> list[Identity]:
    """`n` identities spread over every provider and kind; scored by the default policy if `score`."""
    rng = random.Random(seed)
    now = now or datetime.now(timezone.utc).replace(microsecond=0)
    pairs = [(p, k) for p, kinds in KINDS.items() for k in kinds]
    out: list[Identity] = []
    for n_ in range(n):
        provider, kind = pairs[n_ % len(pairs)]
        source = SOURCES[provider]
        service = SERVICES[rng.randrange(len(SERVICES))]
        if hostile and n_ % 17 == 3:
            name = HOSTILE_NAMES[(n_ // 17) % len(HOSTILE_NAMES)]
        else:
            name = f"{service}-{kind.replace('_', '-')}-{n_}"
        privilege = rng.choices(("none", "read", "write", "admin"), weights=(1, 5, 4, 1))[0]
        created = now - timedelta(days=rng.randrange(1, 900), hours=rng.randrange(24))
        used_roll = rng.random()
        last_used = None if used_roll < 0.2 else created + (now - created) * rng.random()
        expires = None if rng.random() < 0.4 else now + timedelta(days=rng.randrange(-60, 400))
        status = rng.choices(("active", "inactive", "expired", "offline"), weights=(20, 2, 1, 1))[0]
        credential = "federated" if kind in ("iam_role", "oidc_provider") else "static"
        details: dict[str, object] = {}
        if kind == "iam_role" and rng.random() < 0.5:
            details["trusts"] = [{"host": "token.actions.githubusercontent.com", "wildcard_sub": True,
                                  "subjects": ["repo:acme/*"], "repos": ["acme/*"]}]
        target = {"aws": "123456789012", "npm": "acme", "dockerhub": "acme", "jfrog": "acme.jfrog.io"}.get(
            provider, f"acme/{service}")
        out.append(Identity(
            uid=make_uid(source, kind, f"{n_:07d}"),
            source=source, provider=provider, kind=kind, name=name,
            owner=OWNERS[rng.randrange(len(OWNERS))], target=target,
            scopes=SCOPES[privilege], privilege=privilege,
            created_at=created, expires_at=expires if credential == "static" else None,
            last_used_at=last_used, status=status, credential=credential,
            actions=ACTIONS[provider], url=URLS[provider] + f"{n_}",
            usage_tracked=provider not in ("jfrog",) and kind not in ("webhook",),
            details=details,
        ))
    if score:
        out = evaluate(out, None, Policy(), now)
    return out


def statuses_of(identities: list[Identity]) -> dict[str, SourceStatus]:
    """One `ok` status per source of `identities`, counting its rows: what a scan of them would have
    saved beside them in a snapshot."""
    counts: dict[tuple[str, str], int] = {}
    for i in identities:
        counts[(i.source, i.provider)] = counts.get((i.source, i.provider), 0) + 1
    return {s: SourceStatus(source=s, provider=p, state="ok", count=n) for (s, p), n in counts.items()}
