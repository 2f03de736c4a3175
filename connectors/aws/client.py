"""boto3 plumbing: sessions, profiles, assume-role, Organizations account discovery, retries, counting.

botocore's standard retry mode (`max_attempts=10`) retries throttling (`Throttling: Rate exceeded`)
and 5xx with its own backoff. Each client's attempts go through an AIMD limiter (pacing.py) hooked
on botocore's events (`before-send` takes a place, `needs-retry` gives it back with what the answer
said, `after-call[-error]` in case no answer came): unpaced until a throttle, then paced just under
the rate the account accepted (`pacing = false`: botocore's adaptive mode instead, as before).
Every attempt is counted through the client's event hooks (`before-send`), retries as the attempts
beyond the first of a call, and every throttled answer in `report.facts["throttled"]` (and
`rate_limit_hits`, the name every source's throttling is shown under). A body cut short
(unparseable) is retried here, a little.

Accounts: the standard credential chain (or `profile`), several `profiles`, an explicit list of
`accounts` with `role_name` to assume in each, or `organization = true` (Organizations
`ListAccounts`, then `role_name` in each member). In organization mode the caller's own account (the
management or delegated-administrator account) is read with the configured credentials: AWS creates
`OrganizationAccountAccessRole` only in members, so assuming it there would fail and hide the most
sensitive account.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import boto3
import botocore.exceptions as bx
import botocore.session
from botocore.config import Config
from botocore.credentials import RefreshableCredentials
from botocore.parsers import ResponseParserError

from connectors.aws.pacing import AimdLimiter, Ticket
from connectors.base import AuthError, ConnectorError, Report, setting
from nhitui.model import utc

PROVIDER = "aws"
SESSION_NAME = "nhitui-audit"

AUTH_CODES = frozenset({
    "InvalidClientTokenId", "SignatureDoesNotMatch", "ExpiredToken", "ExpiredTokenException",
    "UnrecognizedClientException", "InvalidAccessKeyId", "AuthFailure", "MissingAuthenticationToken",
    "IncompleteSignature", "InvalidToken", "RequestExpired", "InvalidSecurity",
})
DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation",
                          "AuthorizationError", "AccessDeniedFault", "UnauthorizedAccess"})
GONE_CODES = frozenset({"NoSuchEntity", "NoSuchEntityException", "ResourceNotFoundException"})
THROTTLE_CODES = frozenset({
    "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
    "TooManyRequestsException", "RequestLimitExceeded", "RequestThrottled", "SlowDown",
    "BandwidthLimitExceeded", "PriorRequestNotComplete", "EC2ThrottledException",
})
# Credential-chain failures: expired or missing SSO token, unknown profile, nothing configured.
CREDENTIAL_ERRORS: tuple[type[BaseException], ...] = tuple(
    cls for cls in (getattr(bx, n, None) for n in (
        "NoCredentialsError", "PartialCredentialsError", "CredentialRetrievalError", "TokenRetrievalError",
        "SSOTokenLoadError", "UnauthorizedSSOTokenError", "SSOError", "ProfileNotFound", "InvalidConfigError",
        "RefreshWithMFAUnsupportedError", "NoAuthTokenError"))
    if isinstance(cls, type))

# A body cut short or an HTML error page from a proxy: botocore does not retry these; we do, a little.
UNPARSEABLE = (ResponseParserError,)
# Anything botocore raises for one call that is not the provider's answer.
TRANSPORT = (bx.BotoCoreError, ResponseParserError)


def error_parts(exc: BaseException) -> tuple[str, str, int | None]:
    """(code, message, HTTP status) of a botocore error, without any credential in it."""
    if isinstance(exc, bx.ClientError):
        err = exc.response.get("Error", {}) or {}
        status = (exc.response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
        return str(err.get("Code") or "Error"), " ".join(str(err.get("Message") or "").split())[:300], status
    return type(exc).__name__, " ".join(str(exc).split())[:300], None


def marker_pages(call: Callable[..., dict[str, Any]], key: str, **kwargs: Any) -> list[dict[str, Any]]:
    """Marker/IsTruncated pagination for calls botocore has no paginator for; never loops."""
    items: list[dict[str, Any]] = []
    seen: set[str] = set()
    marker = None
    for _ in range(10_000):
        page = call(**kwargs, **({"Marker": marker} if marker else {}))
        items.extend(page.get(key, []))
        marker = page.get("Marker")
        if not page.get("IsTruncated") or not marker or marker in seen:
            break
        seen.add(marker)
    return items


class CredentialsLost(Exception):
    """The account's credentials stopped working (expired SSO token, revoked keys): stop this account."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass
class Target:
    """One account to scan, and how to get a session for it (no `role_arn`: the credentials as they are)."""

    label: str                       # what the user configured: an account id or a profile name
    account: str = ""                # known up front in role mode
    profile: str | None = None
    role_arn: str = ""


class AwsClient:
    """Settings, boto3 sessions and clients of one AWS source (the connector builds on it)."""

    max_attempts = 10                         # botocore standard (or adaptive) retry: attempts per call

    def __init__(self, settings: Mapping[str, Any], resolve: Callable[[str], str],
                 clock: Callable[[], datetime] | None = None) -> None:
        self.settings = dict(settings)
        self.resolve = resolve
        self.name = str(settings["name"])
        self.report = Report(source=self.name, provider=PROVIDER)
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.profile = setting(settings, "profile")
        self.profiles = [str(p) for p in (setting(settings, "profiles") or [])]
        self.endpoint_url = setting(settings, "endpoint_url")
        self.regions = [str(r) for r in (setting(settings, "regions") or ["us-east-1"])]
        self.accounts = [str(a) for a in (setting(settings, "accounts") or [])]
        self.role_name = setting(settings, "role_name")
        self.organization = bool(setting(settings, "organization", False))
        self.revoke_profile = setting(settings, "revoke_profile")
        self.concurrency = max(1, min(int(setting(settings, "concurrency", 16)), 100))
        self.timeout = float(setting(settings, "timeout", 30))
        self.pacing = bool(setting(settings, "pacing", True))
        self.verify = setting(settings, "ca_bundle") or None
        self._local = threading.local()
        self._lock = threading.Lock()
        self._clients: list[tuple[str, Any]] = []  # (owner, client): closed when their scan / action ends
        self.limiters: list[AimdLimiter] = []     # one per client when pacing
        self.report.facts["throttled"] = 0

    # --- botocore plumbing ------------------------------------------------------------------------

    def _config(self) -> Config:
        mode = "standard" if self.pacing else "adaptive"
        return Config(retries={"mode": mode, "max_attempts": self.max_attempts}, connect_timeout=self.timeout,
                      read_timeout=self.timeout, max_pool_connections=max(10, self.concurrency),
                      user_agent_extra="nhitui")

    def _client(self, session: boto3.Session, service: str, region: str | None = None) -> Any:
        client = session.client(service, region_name=region or self.regions[0], endpoint_url=self.endpoint_url,
                                config=self._config(), verify=self._verify())
        with self._lock:
            self._clients.append((getattr(self._local, "owner", "collect"), client))
        events = client.meta.events
        events.register("before-call", self._before_call)
        events.register("before-send", self._before_send)
        events.register("needs-retry", self._needs_retry)
        if self.pacing:
            limiter = AimdLimiter(concurrency=self.concurrency)
            with self._lock:
                self.limiters.append(limiter)
            events.register("before-send", lambda **_: self._pace(limiter))
            events.register("after-call", self._unpace)
            events.register("after-call-error", self._unpace)
        return client

    def _pace(self, limiter: AimdLimiter) -> None:
        """Before an attempt is sent: wait for the client's limiter; the ticket ends in `_needs_retry`."""
        self._unpace()
        ticket = limiter.acquire()
        self._local.ticket = (limiter, ticket)

    def _unpace(self, throttled: bool = False, answered: bool = False, **_: Any) -> None:
        """An attempt ended (or its call did, without an answer the limiter saw): free its place."""
        held: tuple[AimdLimiter, Ticket] | None = getattr(self._local, "ticket", None)
        if held is not None:
            self._local.ticket = None
            held[0].release(held[1], throttled=throttled, answered=answered)

    def _close_clients(self, owner: str) -> None:
        with self._lock:
            mine = [c for o, c in self._clients if o == owner]
            self._clients = [(o, c) for o, c in self._clients if o != owner]
        for client in mine:
            try:
                client.close()
            except Exception:  # noqa: BLE001,S110 - closing is best effort
                pass

    def _verify(self) -> Any:
        if self.verify:
            return self.verify
        for var in ("AWS_CA_BUNDLE", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
            if os.environ.get(var):
                return os.environ[var]
        return None

    def _before_call(self, **_: Any) -> None:
        self._local.attempts = 0

    def _before_send(self, **_: Any) -> None:
        self.report.count_request()
        attempts = getattr(self._local, "attempts", 0) + 1
        self._local.attempts = attempts
        if attempts > 1:
            self.report.count_retry()

    def _needs_retry(self, response: Any = None, caught_exception: Any = None, **_: Any) -> None:
        http, parsed = response if response else (None, None)
        code = ((parsed or {}).get("Error") or {}).get("Code") if isinstance(parsed, dict) else None
        status = getattr(http, "status_code", None)
        throttled = code in THROTTLE_CODES or status == 429
        # a 5xx or a dropped connection says nothing of the rate: no growth, no cut
        self._unpace(throttled=throttled, answered=status is not None and status < 500 and not throttled)
        if isinstance(caught_exception, bx.SSLError):
            # botocore would retry a certificate failure up to max_attempts times, with backoff: it
            # never heals by itself, so fail now with botocore's own (clear) message.
            raise caught_exception
        if throttled:
            with self._lock:
                self.report.facts["throttled"] = int(self.report.facts.get("throttled", 0)) + 1
                # the name every provider's throttling is shown under (`nhitui scan` prints it)
                self.report.facts["rate_limit_hits"] = self.report.facts["throttled"]

    def _retry_unparseable(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Call `fn`, again (up to 3 times) when the answer could not be parsed (a truncated body)."""
        for attempt in range(3):
            try:
                return fn(*args)
            except UNPARSEABLE:
                if attempt == 2:
                    raise
                self.report.count_retry()
                time.sleep(0.1 * 2 ** attempt)
        return None

    # --- sessions -----------------------------------------------------------------------------------

    def _base_session(self, profile: str | None) -> boto3.Session:
        try:
            return boto3.Session(profile_name=profile) if profile else boto3.Session()
        except CREDENTIAL_ERRORS as exc:
            raise AuthError(f"AWS profile {profile!r}: {error_parts(exc)[1]}") from None

    def _assumed_session(self, base: boto3.Session, role_arn: str) -> boto3.Session:
        """A session on `role_arn` whose credentials refresh themselves (scans may outlast an hour)."""
        sts = self._client(base, "sts")

        def fetch() -> dict[str, Any]:
            c = sts.assume_role(RoleArn=role_arn, RoleSessionName=SESSION_NAME)["Credentials"]
            return {"access_key": c["AccessKeyId"], "secret_key": c["SecretAccessKey"], "token": c["SessionToken"],
                    "expiry_time": utc(c["Expiration"]).isoformat()}

        creds = RefreshableCredentials.create_from_metadata(metadata=fetch(), refresh_using=fetch,
                                                            method="sts-assume-role")
        core = botocore.session.get_session()
        core._credentials = creds        # botocore has no public setter for refreshable credentials
        return boto3.Session(botocore_session=core, region_name=self.regions[0])

    def _role_arn(self, account: str) -> str:
        region = self.regions[0]
        partition = "aws-us-gov" if region.startswith("us-gov-") else "aws-cn" if region.startswith("cn-") else "aws"
        return f"arn:{partition}:iam::{account}:role/{self.role_name}"

    def _caller_account(self, base: boto3.Session) -> str:
        return str(self._client(base, "sts").get_caller_identity()["Account"])

    def _targets(self) -> list[Target]:
        if self.profiles:
            return [Target(label=p, profile=p) for p in self.profiles]
        if self.accounts:
            return [Target(label=a, account=a, profile=self.profile, role_arn=self._role_arn(a))
                    for a in dict.fromkeys(self.accounts)]
        if self.organization:
            return self._organization_targets()
        return [Target(label=self.profile or "default", profile=self.profile)]

    def _organization_targets(self) -> list[Target]:
        """Every active account of the organization; the caller's own one without assuming a role."""
        base = self._base_session(self.profile)
        org = self._client(base, "organizations", "us-east-1")
        accounts: list[Target] = []
        try:
            mine = self._caller_account(base)
            for page in org.get_paginator("list_accounts").paginate():
                for acct in page.get("Accounts", []):
                    status = acct.get("Status") or acct.get("State")
                    if status not in (None, "ACTIVE"):
                        # Suspended / closing accounts accept no credentials: noted, not a blind spot.
                        self.report.facts.setdefault("skipped_accounts", {})[str(acct.get("Id"))] = \
                            str(status).lower()
                        continue
                    account = str(acct["Id"])
                    role_arn = "" if account == mine else self._role_arn(account)
                    accounts.append(Target(label=account, account=account, profile=self.profile, role_arn=role_arn))
        except bx.ClientError as exc:
            code, msg, _ = error_parts(exc)
            if code in AUTH_CODES:
                raise AuthError(f"authentication failed: {code}: {msg}") from None
            raise ConnectorError(f"organizations:ListAccounts failed ({code}): {msg}; it needs the "
                                 "management (or delegated administrator) account") from None
        except CREDENTIAL_ERRORS as exc:
            raise AuthError(f"no usable AWS credentials: {error_parts(exc)[1]}") from None
        except TRANSPORT as exc:
            raise ConnectorError(f"organizations:ListAccounts failed: {error_parts(exc)[1]}") from None
        return accounts

    def _open(self, target: Target) -> tuple[str, boto3.Session]:
        """(account id, session) of a target; raises CredentialsLost / ConnectorError for the account."""
        base = self._base_session(target.profile)
        try:
            if target.role_arn:
                session = self._retry_unparseable(self._assumed_session, base, target.role_arn)
                return target.account, session
            ident = self._retry_unparseable(self._client(base, "sts").get_caller_identity)
            return str(ident["Account"]), base
        except bx.ClientError as exc:
            code, msg, _ = error_parts(exc)
            what = f"sts:AssumeRole on {target.role_arn}" if target.role_arn else "sts:GetCallerIdentity"
            if code in AUTH_CODES:
                raise CredentialsLost(code, f"{what}: {msg}") from None
            raise ConnectorError(f"{what} failed ({code}): {msg}") from None
        except CREDENTIAL_ERRORS as exc:
            raise CredentialsLost(type(exc).__name__, error_parts(exc)[1]) from None
        except TRANSPORT as exc:
            raise ConnectorError(f"cannot reach AWS: {error_parts(exc)[1]}") from None

    def _write_session(self, account: str, profile: str | None) -> boto3.Session:
        """The session that acts in `account`: revoke_profile if set, else the read one (same role rules)."""
        if self.revoke_profile:
            base = self._base_session(self.revoke_profile)
            mine = self._caller_account(base)
            if mine == account:
                return base
            if self.role_name:
                return self._assumed_session(base, self._role_arn(account))
            raise ConnectorError(f"revoke_profile {self.revoke_profile!r} is in account {mine}, not {account}; "
                                 "set role_name to act in other accounts")
        base = self._base_session(profile or self.profile)
        if self.role_name and self.accounts:
            return self._assumed_session(base, self._role_arn(account))
        if self.role_name and self.organization and self._caller_account(base) != account:
            return self._assumed_session(base, self._role_arn(account))
        return base

    def _clients_for(self, session: boto3.Session) -> dict[str, Any]:
        clients = {"iam": self._client(session, "iam")}
        for region in self.regions:
            clients[f"secretsmanager:{region}"] = self._client(session, "secretsmanager", region)
        return clients
