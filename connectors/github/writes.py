"""One write to GitHub: the revoke credential, loaded for this call and dropped after.

Writes go one at a time, at least `write_interval` apart, as GitHub asks of integrators, on
PyGithub's own requests transport (a fresh `Github` per write: the credential does not outlive it).
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from github.GithubException import GithubException
from requests import exceptions as rex

from connectors.github import retry
from connectors.github.client import lower, message

if TYPE_CHECKING:
    from connectors.github.client import GitHubClient


def send(client: GitHubClient, verb: str, path: str, body: Any, app_only: bool = False) -> tuple[int, dict[str, str], Any]:
    """(status, lowercased headers, JSON body or None); status 0 for a network failure."""
    auth = client.auth_for(write=True, app_only=app_only)
    gh = client._github(auth)
    try:
        with client._write_lock:
            wait = client._last_write + client.write_interval - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            try:
                client.report.count_request()
                status, headers, output = gh.requester.requestJson(verb, path, input=body)
            finally:
                client._last_write = time.monotonic()
        try:
            data = json.loads(output) if output else None
        except (TypeError, ValueError):
            data = None
        return status, lower(headers), data
    except retry.WaitTooLong as exc:
        return 429, {}, {"message": f"rate limited: {exc}"}
    except GithubException as exc:      # a 403 that is not a rate limit is raised inside GithubRetry
        return exc.status or 0, lower(exc.headers), exc.data
    except (rex.RequestException, OSError) as exc:
        return 0, {}, {"message": f"network error ({type(exc).__name__})"}
    except Exception as exc:  # noqa: BLE001 - e.g. GithubException from the App token exchange
        status = getattr(exc, "status", 0) or 0
        return int(status), {}, {"message": message(getattr(exc, "data", None)) or type(exc).__name__}
    finally:
        try:
            gh.close()
        except Exception:  # noqa: BLE001,S110
            pass
        del auth, gh
