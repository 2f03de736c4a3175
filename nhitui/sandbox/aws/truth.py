"""Comparing a scan of the fake with the ground truth the seeding recorded, field by field."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from nhitui.sandbox.world import World

# moto stamps "now" with sub-second precision while seeding runs: times compare within this margin.
TIME_TOLERANCE = timedelta(minutes=3)


def _same_time(got: Any, want: Any, tolerance: timedelta) -> bool:
    from nhitui.model import utc

    if got is None or want is None:
        return got is None and want is None
    g, w = utc(got), utc(want)
    return g is not None and w is not None and abs(g - w) <= tolerance


def ground_truth_diff(identities: Iterable[Any], world: World, source: str) -> list[str]:
    """Every difference between a scan and what the fake seeded, field by field (empty: identical)."""
    got = {i.uid: i for i in identities}
    expected = {f"{source}:{e.kind}:{e.native_id}": e for e in world.expected_for("aws")}
    problems = [f"missing {uid}" for uid in expected if uid not in got]
    problems += [f"unexpected {uid}" for uid in got if uid not in expected]
    for uid, exp in expected.items():
        ident = got.get(uid)
        if ident is None:
            continue
        for key, want in exp.fields.items():
            value = getattr(ident, key) if key in ident.__dataclass_fields__ else ident.details.get(key, "<absent>")
            if key in ("created_at", "last_used_at", "rotated_at"):
                ok = _same_time(value, want, TIME_TOLERANCE)
            elif key == "expires_at":
                ok = _same_time(value, want, timedelta(seconds=2))
            elif key == "trusts":
                ok = len(value) == len(want) and all(
                    all((list(g[k]) if isinstance(g[k], (list, tuple)) else g[k]) == v for k, v in w.items())
                    for g, w in zip(value, want))
            elif isinstance(want, (list, tuple)):
                ok = tuple(value) == tuple(want)
            else:
                ok = value == want
            if not ok:
                problems.append(f"{exp.kind} {ident.name}: {key} = {value!r}, want {want!r}")
    return problems
