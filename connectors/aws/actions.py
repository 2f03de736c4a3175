"""What can be done to an AWS identity, the calls that do it, and their undo.

- Access keys, SSH keys, signing certificates, service credentials: deactivate (undo: activate),
  activate (undo: deactivate), delete (no undo). `iam:Update*` / `iam:Delete*`.
- Roles: revoke-sessions (an inline `AWSRevokeOlderSessions` Deny on `aws:TokenIssueTime`, as the
  console's "Revoke active sessions"; undo: restore-sessions, which deletes that policy). Refused on
  service-linked roles, checked against `GetRole` before writing.
- Secrets: delete with a 30-day recovery window (undo: restore); none for a secret another service owns.
Every write runs with the write session (`revoke_profile`, else the read credentials, assuming
`role_name` where the scan did), then re-reads the identity so the inventory shows the provider's
state, not ours.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import botocore.exceptions as bx

from connectors.aws.client import CREDENTIAL_ERRORS, GONE_CODES, TRANSPORT, error_parts
from connectors.aws.credentials import native_id, reread_credential
from connectors.aws.roles import REVOKE_POLICY, reread_role
from connectors.aws.secrets import secret
from connectors.base import ConnectorError
from nhitui.model import Action, ActionResult, Identity

if TYPE_CHECKING:
    from connectors.aws import AwsConnector

RECOVERY_DAYS = 30
# kind -> (IAM operation suffix, id parameter, boto3 method suffix): iam:UpdateAccessKey is update_access_key.
CREDENTIAL_OPS = {
    "access_key": ("AccessKey", "AccessKeyId", "access_key"),
    "ssh_public_key": ("SSHPublicKey", "SSHPublicKeyId", "ssh_public_key"),
    "signing_certificate": ("SigningCertificate", "CertificateId", "signing_certificate"),
    "service_credential": ("ServiceSpecificCredential", "ServiceSpecificCredentialId", "service_specific_credential"),
}


def available(identity: Identity) -> list[Action]:
    """The actions an identity offers in its current state."""
    d = identity.details
    kind, status = identity.kind, identity.status
    if kind in CREDENTIAL_OPS:
        op, param, _ = CREDENTIAL_OPS[kind]
        target = f"UserName={d.get('user', identity.owner)} {param}={native_id(identity)}"
        out = []
        if status == "active":
            out.append(Action("deactivate", "yes", "Set the credential Inactive: it stops working at once and "
                              "can be reactivated.", f"iam:Update{op} {target} Status=Inactive", undo="activate"))
        elif status == "inactive":
            out.append(Action("activate", "yes", "Set the credential Active again.",
                              f"iam:Update{op} {target} Status=Active", undo="deactivate"))
        out.append(Action("delete", "no", "Delete the credential for good; its holder needs a new one.",
                          f"iam:Delete{op} {target}"))
        return out
    if kind == "iam_role":
        if d.get("service_linked"):
            return []
        name = identity.name
        out = [Action("revoke-sessions", "yes",
                      "Deny every session issued before now (inline policy AWSRevokeOlderSessions, as the console's "
                      "'Revoke active sessions'); new sessions still work. Propagation takes a few minutes.",
                      f"iam:PutRolePolicy RoleName={name} PolicyName={REVOKE_POLICY}", undo="restore-sessions")]
        if d.get("sessions_revoked_before"):
            out.append(Action("restore-sessions", "yes", "Remove the AWSRevokeOlderSessions policy: older "
                              "sessions work again until they expire.",
                              f"iam:DeleteRolePolicy RoleName={name} PolicyName={REVOKE_POLICY}",
                              undo="revoke-sessions"))
        return out
    if kind == "secret":
        if d.get("owning_service"):
            return []                 # managed by another service (RDS...): delete there
        region = d.get("region", "")
        if status == "inactive":
            return [Action("restore", "yes", "Cancel the scheduled deletion.",
                           f"secretsmanager:RestoreSecret SecretId={identity.name} ({region})", undo="delete")]
        return [Action("delete", "yes", f"Schedule deletion with a {RECOVERY_DAYS}-day recovery window; the "
                       "secret cannot be read meanwhile and can be restored.",
                       f"secretsmanager:DeleteSecret SecretId={identity.name} RecoveryWindowInDays={RECOVERY_DAYS} "
                       f"({region})", undo="restore")]
    return []


def with_actions(identity: Identity) -> Identity:
    """The identity with the names of the actions it offers (how every AWS identity leaves the connector)."""
    names = tuple(a.name for a in available(identity))
    return identity if names == identity.actions else replace(identity, actions=names)


def execute(conn: AwsConnector, identity: Identity, action: str) -> ActionResult:
    """Run one action (in a worker thread); its clients are closed when it ends."""
    owner = f"execute-{threading.get_ident()}-{time.monotonic_ns()}"
    conn._local.owner = owner
    try:
        return _execute(conn, identity, action)
    finally:
        del conn._local.owner
        conn._close_clients(owner)


def _execute(conn: AwsConnector, identity: Identity, action: str) -> ActionResult:
    try:
        account = str(identity.details.get("account") or identity.target)
        session = conn._write_session(account, identity.details.get("profile"))
        if identity.kind == "secret":
            return _secret(conn, session, identity, action)
        iam = conn._client(session, "iam")
        if identity.kind == "iam_role":
            return _role(conn, iam, identity, action)
        return _credential(conn, iam, identity, action)
    except bx.ClientError as exc:
        code, msg, status = error_parts(exc)
        if code in GONE_CODES:
            return ActionResult(state="already-absent", status_code=status, message=f"{code}: {msg}", removed=True)
        return ActionResult(state="failed", status_code=status, message=f"{code}: {msg}")
    except CREDENTIAL_ERRORS as exc:
        return ActionResult(state="failed", message=f"no usable AWS credentials: {error_parts(exc)[1]}")
    except ConnectorError as exc:
        return ActionResult(state="failed", message=str(exc))
    except TRANSPORT as exc:
        return ActionResult(state="failed", message=f"{error_parts(exc)[0]}: {error_parts(exc)[1]}")


def _credential(conn: AwsConnector, iam: Any, identity: Identity, action: str) -> ActionResult:
    if identity.kind not in CREDENTIAL_OPS:
        return ActionResult(state="failed", message=f"no action {action!r} for {identity.kind}")
    _, param, snake = CREDENTIAL_OPS[identity.kind]
    who = {"UserName": str(identity.details.get("user") or identity.owner), param: native_id(identity)}
    status = {"deactivate": "Inactive", "activate": "Active"}.get(action)
    if status:
        getattr(iam, f"update_{snake}")(**who, Status=status)
    else:
        getattr(iam, f"delete_{snake}")(**who)
        return ActionResult(state="ok", removed=True, message="deleted")
    return _reread(lambda: reread_credential(conn.name, iam, identity), action)


def _role(conn: AwsConnector, iam: Any, identity: Identity, action: str) -> ActionResult:
    name = identity.name
    current = iam.get_role(RoleName=name)["Role"]
    if str(current.get("Path", "")).startswith("/aws-service-role/"):
        return ActionResult(state="failed", message="refused: sessions of a service-linked role cannot be "
                                                    "revoked (AWS manages that role)")
    if action == "revoke-sessions":
        now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        doc = {"Version": "2012-10-17", "Statement": [{
            "Effect": "Deny", "Action": ["*"], "Resource": ["*"],
            "Condition": {"DateLessThan": {"aws:TokenIssueTime": now}}}]}
        iam.put_role_policy(RoleName=name, PolicyName=REVOKE_POLICY, PolicyDocument=json.dumps(doc))
    elif action == "restore-sessions":
        try:
            iam.delete_role_policy(RoleName=name, PolicyName=REVOKE_POLICY)
        except bx.ClientError as exc:
            if error_parts(exc)[0] not in GONE_CODES:
                raise
    done = (f"sessions of {name} issued before now are denied" if action == "revoke-sessions"
            else f"older sessions of {name} work again")
    return _reread(lambda: reread_role(conn.name, iam, identity, conn._managed), action, done)


def _secret(conn: AwsConnector, session: Any, identity: Identity, action: str) -> ActionResult:
    region = str(identity.details.get("region") or conn.regions[0])
    sm = conn._client(session, "secretsmanager", region)
    arn = str(identity.details.get("arn") or identity.name)
    if action == "delete":
        sm.delete_secret(SecretId=arn, RecoveryWindowInDays=RECOVERY_DAYS)
    elif action == "restore":
        sm.restore_secret(SecretId=arn)
    account = str(identity.details.get("account") or identity.target)
    return _reread(lambda: secret(conn.name, sm.describe_secret(SecretId=arn), account, region,
                                  identity.details.get("profile")), action)


def _reread(read: Callable[[], Identity | None], action: str, done: str = "") -> ActionResult:
    """The result of a write that succeeded: the identity re-read from the provider when possible."""
    try:
        fresh = read()
    except (bx.ClientError, *TRANSPORT) as exc:
        code, msg, _ = error_parts(exc)
        return ActionResult(state="ok", message=f"{action} done; re-reading it failed ({code}: {msg})")
    if fresh is None:
        return ActionResult(state="ok", removed=True, message=f"{action} done; it no longer exists")
    fresh = with_actions(fresh)
    return ActionResult(state="ok", identity=fresh, message=f"{action} done; " + (done or f"status is now {fresh.status}"))
