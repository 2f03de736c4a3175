"""Synthetic identities in bulk, without any server: for benchmarks and store-level tests.

The HTTP fakes are the ground for connector tests; this is for "what happens at 100,000 rows".
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

from nhitui.model import Identity, make_uid
from nhitui.sandbox.world import HOSTILE_NAMES

KINDS = (
    ("github", "deploy_key"), ("github", "actions_secret"), ("github", "runner"), ("github", "fine_grained_pat"),
    ("github", "webhook"), ("gitlab", "personal_access_token"), ("gitlab", "project_access_token"),
    ("gitlab", "deploy_token"), ("gitlab", "runner"), ("gitlab", "ci_variable"), ("aws", "access_key"),
    ("aws", "iam_role"), ("npm", "npm_token"), ("dockerhub", "dockerhub_token"), ("jfrog", "jfrog_token"),
)
OWNERS = ("alice", "bob", "carol", "dave", "erin", "dependabot[bot]", "mallory-gone", "ci-bot")
PRIVS = ("read", "read", "write", "write", "admin", "none")


def identities(n: int, seed: int = 1, now: datetime | None = None, hostile: bool = True) -> list[Identity]:
    rng = random.Random(seed)
    now = now or datetime.now(timezone.utc)
    out = []
    for i in range(n):
        provider, kind = KINDS[i % len(KINDS)]
        source = f"{provider}-main"
        name = HOSTILE_NAMES[i % len(HOSTILE_NAMES)] if hostile and i % 97 == 0 else f"{kind}-{i}-{rng.randrange(1000)}"
        created = now - timedelta(days=rng.randrange(1, 900))
        used = None if rng.random() < 0.2 else now - timedelta(days=rng.randrange(0, 400))
        expires = None if rng.random() < 0.5 else now + timedelta(days=rng.randrange(-30, 365))
        out.append(Identity(
            uid=make_uid(source, kind, i), source=source, provider=provider, kind=kind, name=name,
            owner=OWNERS[i % len(OWNERS)], target=f"acme/repo-{i % 2000}", scopes=("repo", "read:org")[: 1 + i % 2],
            privilege=PRIVS[i % len(PRIVS)], created_at=created, expires_at=expires, last_used_at=used,
            status="active" if i % 11 else "inactive", credential="federated" if kind == "iam_role" else "static",
            actions=("delete",), url=f"https://example.invalid/{i}",
        ))
    return out
