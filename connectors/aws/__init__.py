"""AWS: IAM users and their credentials, roles and their OIDC trust, OIDC providers, Secrets Manager.

The package, one module per concern:
- client.py: boto3 sessions, profiles, assume-role, Organizations account discovery, retries, counting.
- pacing.py: the AIMD limiter each client's calls go through (AWS publishes no IAM rate).
- scan.py: one scan, every account concurrently, every independent read at once, blind spots.
- users.py / credentials.py: IAM users; their access keys, SSH keys, signing certificates and
  service-specific credentials. report.py: the credential report (key use without a call per key).
- roles.py: roles and their OIDC trust (trust.py, the pure parser), OIDC identity providers.
- policies.py: the privilege a policy grants. secrets.py: Secrets Manager.
- actions.py: deactivate / activate / delete, revoke-sessions, secret delete / restore, their undo.
Secret values are never read: the connector has no call that returns one.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from connectors.aws import actions as _actions
from connectors.aws import scan as _scan
from connectors.aws.client import AwsClient
from connectors.aws.credentials import UserCtx
from connectors.aws.policies import action_privilege, document_privilege, load_document
from nhitui.model import Action, ActionResult, Identity

_UserCtx = UserCtx     # the name tests and older callers import

__all__ = ["CONNECTOR", "AwsConnector", "UserCtx", "_UserCtx", "action_privilege", "document_privilege",
           "load_document"]


class AwsConnector(AwsClient):
    """The AWS source: settings and sessions (client.py), a scan (scan.py), actions (actions.py)."""

    provider = "aws"
    report_max_age = timedelta(hours=4)       # a credential report older than this is not trusted
    report_wait = 5.0                         # seconds to wait for a report being generated

    def __init__(self, settings: Mapping[str, Any], resolve: Callable[[str], str],
                 clock: Callable[[], datetime] | None = None) -> None:
        super().__init__(settings, resolve, clock)
        self._managed: dict[str, str] = {}       # policy arn -> privilege (AWS managed: shared by accounts)

    def collect(self) -> AsyncIterator[list[Identity]]:
        return _scan.collect(self)

    def actions(self, identity: Identity) -> list[Action]:
        return _actions.available(identity)

    async def execute(self, identity: Identity, action: str) -> ActionResult:
        if action not in {a.name for a in self.actions(identity)}:
            return ActionResult(state="failed", message=f"{action!r} is not available for this {identity.kind}")
        return await asyncio.to_thread(_actions.execute, self, identity, action)


CONNECTOR = AwsConnector
