"""Risk rules that only vault identities can trip (the shared rules in nhitui.policy apply too)."""

from __future__ import annotations

from nhitui.model import Identity
from nhitui.rules import Context, Rule

RULES: tuple[Rule, ...] = ()


def check(identity: Identity, ctx: Context) -> list[tuple[str, str]]:
    return []
