"""Uniform printing of benchmark figures: value, target and their ratio."""

from __future__ import annotations

import os


def print_rows(section: str, rows: list[tuple[str, float, float, str]]) -> None:
    print(f"\n== {section} ({os.cpu_count()} cores) ==")
    print(f"{'figure':<62} {'value':>10} {'target':>8}  {'ratio':>6}")
    for name, value, target, unit in rows:
        if target != target:        # NaN: a figure shown for context, with no target of its own
            print(f"{name[:62]:<62} {value:>8.3g}{unit:<2}")
            continue
        ratio = value / target if target else float("nan")
        mark = "ok" if ratio <= 1.0 else "MISS"
        print(f"{name[:62]:<62} {value:>8.3g}{unit:<2} {target:>6g}{unit:<2} {ratio:>6.2f} {mark}")
