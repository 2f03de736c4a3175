"""An in-memory keyring backend for tests (selected with PYTHON_KEYRING_BACKEND)."""

from __future__ import annotations

from keyring.backend import KeyringBackend

STORE: dict[tuple[str, str], str] = {}


class MemoryKeyring(KeyringBackend):
    priority = 1  # type: ignore[assignment]

    def get_password(self, service: str, username: str) -> str | None:
        return STORE.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        STORE[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        STORE.pop((service, username), None)
