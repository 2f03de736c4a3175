"""The seeded, believable organisation every fake provider serves.

`World` holds what is shared across providers (the org, its people, its repositories, the hostile
names) and the ground truth tests compare against: each provider module adds the objects it
seeded with `world.expect(...)`, including the findings it planted on purpose.
Deterministic under `seed`; dates are relative to `now` so "used 200 days ago" stays true.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

# Names a provider may hand us that must render literally and never drive the terminal.
HOSTILE_NAMES = (
    "[@click=app.quit]x[/]",
    "weird[/]name",
    "[bold red]not bold[/bold red]",
    "dependabot[bot]",
    "osc52\x1b]52;c;ZXZpbA==\x07clipboard",
    "ansi\x1b[2Jclear\x1b[31mred",
    "c1\u009b31mcsi",
    "rtl\u202egnp.exe",
    "nul\x00byte",
    "=HYPERLINK(\"http://x\")",
    "+cmd|' /C calc'!A0",
    "emoji \U0001f511 \u9375\u306e\u540d\u524d",
    "T" * 300,
)

FIRST = ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy",
         "mallory", "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter", "yara")
SERVICES = ("api", "web", "billing", "payments", "auth", "search", "infra", "platform", "mobile",
            "data", "ml", "docs", "gateway", "ledger", "notify", "reports", "cdn", "queue", "etl", "admin")


@dataclass(frozen=True)
class Expected:
    """One object a fake seeded: what a connector must report for it (ground truth)."""

    provider: str
    kind: str
    native_id: str
    fields: dict[str, Any]
    findings: frozenset[str] = frozenset()


@dataclass
class World:
    """One organisation across GitHub, GitLab, AWS and the registries.

    Scale arguments size each provider; the defaults are the quick demo world.
    """

    seed: int = 7
    org: str = "acme"
    repos: int = 40
    projects: int = 30
    iam_users: int = 20
    access_keys: int = 40
    roles: int = 10
    registry_tokens: int = 12
    aws_account: str = "123456789012"
    now: datetime = field(default_factory=lambda: datetime.now(timezone.utc).replace(microsecond=0))
    expected: list[Expected] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        people = [f"{first}-{i}" if i else first for i in range(4) for first in FIRST]
        self.members: list[str] = people[: max(8, len(FIRST))]
        self.departed: list[str] = ["mallory-gone", "oscar-left", "zed-former"]
        self.bots: list[str] = ["dependabot[bot]", "github-actions[bot]", "renovate[bot]"]

    # --- shared vocabulary -------------------------------------------------------------------

    def rng_for(self, provider: str) -> random.Random:
        """An independent stream per provider so adding a GitLab object never moves GitHub's."""
        return random.Random(f"{self.seed}:{provider}")

    def repo_names(self) -> list[str]:
        """`org/name` of every GitHub repository; the first ones are the well-known services."""
        names = []
        for i in range(self.repos):
            base = SERVICES[i % len(SERVICES)]
            names.append(f"{self.org}/{base}" if i < len(SERVICES) else f"{self.org}/{base}-{i // len(SERVICES)}")
        return names

    def project_paths(self) -> list[str]:
        """`group/sub/project` paths for GitLab, in nested groups."""
        groups = [self.org, f"{self.org}/platform", f"{self.org}/platform/tools", f"{self.org}/apps"]
        return [f"{groups[i % len(groups)]}/{SERVICES[i % len(SERVICES)]}-{i}" for i in range(self.projects)]

    def days_ago(self, days: float) -> datetime:
        return self.now - timedelta(days=days)

    def days_ahead(self, days: float) -> datetime:
        return self.now + timedelta(days=days)

    def hostile(self, i: int) -> str:
        return HOSTILE_NAMES[i % len(HOSTILE_NAMES)]

    # --- ground truth ----------------------------------------------------------------------------

    def expect(self, provider: str, kind: str, native_id: Any, findings: set[str] | frozenset[str] = frozenset(),
               **fields: Any) -> None:
        """Record an object a fake seeded, the fields a connector must report and planted findings."""
        self.expected.append(Expected(provider, kind, str(native_id), fields, frozenset(findings)))

    def forget(self, provider: str, kind: str, native_id: Any) -> None:
        """Drop an object from the ground truth (a test revoked it)."""
        self.expected = [e for e in self.expected
                         if not (e.provider == provider and e.kind == kind and e.native_id == str(native_id))]

    def expected_for(self, provider: str) -> list[Expected]:
        return [e for e in self.expected if e.provider == provider]
