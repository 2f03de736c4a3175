"""Which credential signs a request: `token`, `revoke_token`, or a GitHub App installation.

Reads use the GitHub App when one is configured (the fine-grained PAT endpoints accept only App
installation tokens), else `token`. Writes use `revoke_token`, else the read credential, except the
PAT-grant and request writes, which use the App when there is one. Credential values are resolved
here, at the moment of use, and never kept by the client beyond the PyGithub auth object.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from github import Auth

from connectors.base import AuthError, ConnectorError, Resolve


def auth_for(settings: Mapping[str, Any], resolve: Resolve, source: str, write: bool,
             app_only: bool = False) -> Auth.Auth:
    """A PyGithub Auth for a read, or for a write (`app_only`: a write GitHub accepts only from an App)."""
    s = settings
    if write and s.get("revoke_token") and not (app_only and s.get("app_id")):
        return _token_auth(resolve, str(s["revoke_token"]), source)
    if s.get("app_id"):
        if not s.get("app_private_key") or not s.get("app_installation_id"):
            raise AuthError(f"authentication failed: {source} has app_id but no app_private_key or "
                            "app_installation_id")
        pem = resolve(str(s["app_private_key"]))
        try:
            app = Auth.AppAuth(str(s["app_id"]), pem)
            app.create_jwt()      # fail here, without a network call, on a bad key
            installation = int(s["app_installation_id"])
        except ConnectorError:
            raise
        except (KeyError, TypeError, ValueError, AssertionError, AttributeError) as exc:
            raise AuthError(f"authentication failed: the GitHub App settings of {source} are not usable "
                            f"({type(exc).__name__}: check app_id, app_private_key (a PEM private key) and "
                            "app_installation_id)") from None
        except Exception as exc:  # noqa: BLE001 - PyJWT / cryptography key errors
            raise AuthError(f"authentication failed: the GitHub App private key of {source} cannot sign "
                            f"a JWT ({type(exc).__name__})") from None
        return Auth.AppInstallationAuth(app, installation)
    if not s.get("token"):
        raise AuthError(f"authentication failed: no token configured for {source}")
    return _token_auth(resolve, str(s["token"]), source)


def _token_auth(resolve: Resolve, ref: str, source: str) -> Auth.Auth:
    token = resolve(ref).strip()
    if not token:
        raise AuthError(f"authentication failed: the credential {ref} of {source} is empty")
    return Auth.Token(token)


class LockedAuth(Auth.Auth):
    """Share one PyGithub auth between thread-local requesters (App token refresh is not thread-safe)."""

    def __init__(self, inner: Auth.Auth) -> None:
        self._inner = inner
        self._lock = threading.Lock()

    @property
    def token_type(self) -> str:
        return self._inner.token_type

    @property
    def token(self) -> str:
        with self._lock:
            return self._inner.token

    def authentication(self, headers: dict) -> None:
        with self._lock:
            headers["Authorization"] = f"{self._inner.token_type} {self._inner.token}"

    def __repr__(self) -> str:
        return "<auth>"
