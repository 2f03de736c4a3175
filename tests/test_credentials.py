from __future__ import annotations

import pytest

from nhitui import credentials
from nhitui.credentials import CredentialError


def test_env_reference(monkeypatch):
    monkeypatch.setenv("NHITUI_T", "value-1")
    assert credentials.resolve("env:NHITUI_T") == "value-1"


def test_missing_env_names_variable_not_value(monkeypatch):
    monkeypatch.delenv("NHITUI_MISSING", raising=False)
    with pytest.raises(CredentialError, match="NHITUI_MISSING"):
        credentials.resolve("env:NHITUI_MISSING")


def test_no_keyring_backend_names_env_alternative():
    # conftest selects keyring's "fail" backend, as on a headless Linux box.
    with pytest.raises(CredentialError) as info:
        credentials.resolve("keyring:nhitui/acme")
    assert "env:" in str(info.value) and "keyring" in str(info.value)


def test_store_without_backend_is_a_clear_error():
    with pytest.raises(CredentialError, match="env:"):
        credentials.store("nhitui", "acme", "x")


@pytest.mark.parametrize("ref", ["plain", "vault:x", "keyring:nouser"])
def test_bad_references(ref):
    with pytest.raises(CredentialError):
        credentials.resolve(ref)
