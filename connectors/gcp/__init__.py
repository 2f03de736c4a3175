"""Google Cloud: service accounts, user-managed keys with last authentication, IAM, WIF trust.

One package, one module per family: `client` (google-auth credentials, REST session, error
classes), `projects`, `service_accounts`, `keys`, `iam_policy`, `activity` (Policy Analyzer last
authentication), `orgpolicy`, `wif` + `wif_trust` + `cel` (the pure CEL reader), `identities` (rows),
`actions` (disable / enable / delete) and `connector` (the scan). Facts and response shapes:
shared/reference/gcp.md; settings and least-privilege roles: docs/gcp.md.
"""

from __future__ import annotations

from connectors.base import AuthError, ConnectorError
from connectors.gcp.connector import GcpConnector

CONNECTOR = GcpConnector

__all__ = ["CONNECTOR", "AuthError", "ConnectorError", "GcpConnector"]
