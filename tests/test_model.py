"""Untrusted text is data: every control, escape and bidi character is neutralised on entry."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nhitui.model import MAX_TEXT, Identity, iso, sanitize, utc
from nhitui.sandbox.world import HOSTILE_NAMES

DANGEROUS = [chr(c) for c in [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0), *range(0x200B, 0x2010),
                              *range(0x202A, 0x202F), *range(0x2066, 0x206A)]]


@given(st.text())
def test_sanitize_leaves_no_dangerous_character(text):
    clean = sanitize(text)
    assert not any(ch in clean for ch in DANGEROUS)


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_identity_fields_are_sanitized_on_construction(name):
    i = Identity(uid="s:k:1", source="s", provider="github", kind="deploy_key", name=name, owner=name,
                 target=name, scopes=(name,))
    for value in (i.name, i.owner, i.target, i.scopes[0]):
        assert "\x1b" not in value and "\x00" not in value and "\u202e" not in value and "\u009b" not in value
    if name == "dependabot[bot]":
        assert i.name == "dependabot[bot]"   # markup-looking text is kept literally


def test_huge_titles_are_bounded():
    i = Identity(uid="s:k:1", source="s", provider="github", kind="deploy_key", name="x" * 10_000)
    assert len(i.name) <= MAX_TEXT + 1


@pytest.mark.parametrize("value, expected", [
    ("2024-01-02T03:04:05Z", "2024-01-02T03:04:05Z"), ("2024-01-02T03:04:05.123+02:00", "2024-01-02T01:04:05Z"),
    (1704164645, "2024-01-02T03:04:05Z"), (1704164645000, "2024-01-02T03:04:05Z"), ("2024-01-02", "2024-01-02T00:00:00Z"),
    (None, ""), ("N/A", ""), ("garbage", ""),
])
def test_time_parsing(value, expected):
    assert iso(utc(value)) == expected
