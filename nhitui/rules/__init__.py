"""Provider-specific risk rules, one module per provider, run by `nhitui.policy` beside the shared ones.

Each module defines `RULES` (a tuple of `Rule`) and `check(identity, ctx) -> list[tuple[rule_id,
explanation]]`. Rules that read several rows (links, graphs) get what they need from `ctx`. Keeping
them here lets a new provider add its rules without touching the shared rule engine, while every
rule still lands in one registry (`policy.RULES`) that `[policy] disable` and exports know.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from nhitui.model import Identity

PROVIDER_MODULES = ("gcp", "azure", "kubernetes", "vault")


@dataclass(frozen=True)
class Rule:
    id: str
    severity: str
    owasp: str
    title: str


@dataclass(frozen=True)
class Context:
    """What a provider rule may read besides the identity: time, thresholds, and the whole inventory."""

    now: datetime
    policy: Any                                   # nhitui.policy.Policy (not imported: no cycle)
    by_uid: Mapping[str, Identity] = field(default_factory=dict)
    statuses: Mapping[str, Any] = field(default_factory=dict)


Check = Callable[[Identity, Context], list[tuple[str, str]]]


def provider_rules() -> tuple[tuple[Rule, ...], dict[str, Check]]:
    """Every provider module's rules, and its check function by provider name."""
    rules: list[Rule] = []
    checks: dict[str, Check] = {}
    for name in PROVIDER_MODULES:
        module = importlib.import_module(f"nhitui.rules.{name}")
        rules.extend(module.RULES)
        checks[name] = module.check
    return tuple(rules), checks
