"""Credential references: "env:NAME" and "keyring:service/user", never plaintext in a file.

Values are returned to the caller and never logged; error messages name the reference, not the
value. On a headless Linux box with no keyring backend the error says how to use `env:` instead.
"""

from __future__ import annotations

import os


class CredentialError(Exception):
    """A reference that cannot be resolved; the message is safe to show (it holds no secret)."""


def resolve(reference: str) -> str:
    """Turn a reference into its secret value."""
    if not isinstance(reference, str) or ":" not in reference:
        raise CredentialError("a credential must be a reference like env:NAME or keyring:service/user")
    scheme, _, rest = reference.partition(":")
    if scheme == "env":
        value = os.environ.get(rest)
        if not value:
            raise CredentialError(f"environment variable {rest} (from {reference}) is not set or empty")
        return value
    if scheme == "keyring":
        service, _, user = rest.partition("/")
        if not service or not user:
            raise CredentialError(f"{reference}: write keyring:service/user, e.g. keyring:nhitui/acme-github")
        value = _keyring_get(service, user, reference)
        if value is None:
            raise CredentialError(f"{reference}: no such entry in the OS keyring; store it with "
                                  f"`nhitui auth set {user}`")
        return value
    raise CredentialError(f"{reference}: unknown reference type {scheme!r} (use env: or keyring:)")


def _keyring_get(service: str, user: str, reference: str) -> str | None:
    import keyring
    from keyring.errors import KeyringError, NoKeyringError

    try:
        return keyring.get_password(service, user)
    except NoKeyringError:
        raise CredentialError(_no_backend(reference)) from None
    except KeyringError as exc:
        raise CredentialError(f"{reference}: the OS keyring refused: {type(exc).__name__}") from None
    except RuntimeError as exc:  # some backends raise this when locked or absent
        raise CredentialError(f"{reference}: {_no_backend(reference)} ({type(exc).__name__})") from None


def _no_backend(reference: str) -> str:
    return (f"{reference}: no OS keyring backend is available (headless Linux?). Export the secret in "
            "an environment variable and write token = \"env:VARIABLE\" in the config instead")


def store(service: str, user: str, value: str) -> None:
    """Save a secret in the OS keyring (`nhitui auth set`)."""
    import keyring
    from keyring.errors import KeyringError, NoKeyringError

    try:
        keyring.set_password(service, user, value)
    except NoKeyringError:
        raise CredentialError(_no_backend(f"keyring:{service}/{user}")) from None
    except (KeyringError, RuntimeError) as exc:
        raise CredentialError(f"keyring:{service}/{user}: the OS keyring refused: {type(exc).__name__}") from None
