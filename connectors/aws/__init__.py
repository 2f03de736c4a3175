"""AWS: IAM users and their credentials, roles and their OIDC trust, OIDC providers, Secrets Manager.

boto3 with botocore's adaptive retry mode (`max_attempts=10`): throttling (`Throttling: Rate
exceeded`) and 5xx are retried with backoff by botocore itself. Every attempt is counted through the
client's event hooks (`before-send`), retries as the attempts beyond the first of a call, and every
throttled answer in `report.facts["throttled"]`.

Accounts: the standard credential chain (or `profile`), several `profiles`, an explicit list of
`accounts` with `role_name` to assume in each, or `organization = true` (Organizations `ListAccounts`,
then `role_name` in each). Accounts are scanned concurrently; one failing (AssumeRole denied, expired
SSO credentials) becomes a blind spot naming the account and the reason, and the others complete.
The source fails only when nothing at all could be read.

Calls per account (U users, K keys, R roles, P OIDC providers):
- `GetAccountAuthorizationDetails` pages for users, groups, roles and customer policies (with trust
  policies, `RoleLastUsed`, inline and attached policies and tags), not N x GetRole.
- `ListUsers` pages (password last use), the credential report when it is fresh (key last use,
  console password: no per-key call), else `GetAccessKeyLastUsed` per key and `GetLoginProfile` per
  user. The report's freshness is judged with an injectable clock (`clock=`): moto fixes its
  `GeneratedTime` at 2015, so against moto the per-key path is used unless a test says otherwise.
- Per user: `ListAccessKeys`, `ListSSHPublicKeys`, `ListSigningCertificates` (IAM has no bulk call).
- `ListServiceSpecificCredentials(AllUsers=true)` once (per user if the endpoint refuses AllUsers).
- `ListOpenIDConnectProviders` + `GetOpenIDConnectProvider` each; `ListSecrets` per region.

Service-specific credentials are reported with kind `service_credential` (the design's kinds table
has none for them; they are long-lived passwords for CodeCommit, Keyspaces, Bedrock...).
Secret values are never read: the connector has no call that returns one.
"""

from __future__ import annotations

import asyncio
import csv
import functools
import io
import json
import os
import threading
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote, unquote

import boto3
import botocore.exceptions as bx
import botocore.session
from botocore.config import Config
from botocore.credentials import RefreshableCredentials
from botocore.parsers import ResponseParserError

from connectors.aws.trust import parse_trust
from connectors.base import AuthError, ConnectorError, Report, setting
from nhitui.model import Action, ActionResult, Identity, iso, make_uid, max_privilege, sanitize, utc

PROVIDER = "aws"
REVOKE_POLICY = "AWSRevokeOlderSessions"
SESSION_NAME = "nhitui-audit"
RECOVERY_DAYS = 30
BATCH = 100

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

KNOWN_MANAGED = {
    "AdministratorAccess": "admin", "IAMFullAccess": "admin", "PowerUserAccess": "write",
    "ReadOnlyAccess": "read", "ViewOnlyAccess": "read", "SecurityAudit": "read",
}
READ_VERBS = ("get", "list", "describe", "batchget", "head", "search", "query", "scan", "select", "view",
              "lookup", "filter")
STATUS = {"Active": "active", "Inactive": "inactive", "Expired": "expired"}


# --- privilege of IAM policy documents ---------------------------------------------------------------

def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def load_document(doc: Any) -> dict[str, Any] | None:
    """A policy document as a dict (botocore decodes them; raw API answers are URL-encoded JSON)."""
    if isinstance(doc, dict):
        return doc
    if isinstance(doc, (str, bytes)):
        text = doc.decode("utf-8", "replace") if isinstance(doc, bytes) else doc
        text = text.strip()
        if text[:3].lower() == "%7b":
            text = unquote(text)
        try:
            parsed = json.loads(text)
        except (ValueError, RecursionError):
            return None
        return parsed if isinstance(parsed, dict) else None
    return None


def action_privilege(action: Any) -> str:
    """The privilege one IAM action (or action pattern) grants."""
    a = str(action).strip().lower()
    if a in ("*", "*:*"):
        return "admin"
    service, _, name = a.partition(":")
    if service == "iam" and name.startswith("*"):
        return "admin"                     # iam:* can grant itself anything
    if not name or name.startswith("*"):
        return "write"
    if name.startswith(READ_VERBS):
        return "read"
    return "write"


def document_privilege(doc: Any) -> str:
    """none / read / write / admin granted by the Allow statements of a policy document."""
    parsed = load_document(doc)
    if parsed is None:
        return "none"
    best = "none"
    for st in _as_list(parsed.get("Statement")):
        if not isinstance(st, dict) or st.get("Effect") != "Allow":
            continue
        if "NotAction" in st:
            excluded = [str(x).lower() for x in _as_list(st.get("NotAction"))]
            best = max_privilege(best, "write" if any(x in ("iam:*", "*") for x in excluded) else "admin")
            continue
        for action in _as_list(st.get("Action")):
            best = max_privilege(best, action_privilege(action))
    return best


def _policy_name(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


def _is_aws_managed(arn: str) -> bool:
    return ":iam::aws:policy/" in arn


# --- small helpers -----------------------------------------------------------------------------------

def _error(exc: BaseException) -> tuple[str, str, int | None]:
    """(code, message, HTTP status) of a botocore error, without any credential in it."""
    if isinstance(exc, bx.ClientError):
        err = exc.response.get("Error", {}) or {}
        status = (exc.response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
        return str(err.get("Code") or "Error"), " ".join(str(err.get("Message") or "").split())[:300], status
    return type(exc).__name__, " ".join(str(exc).split())[:300], None


def _console(arn: str) -> str:
    if arn.startswith("arn:aws-us-gov:"):
        return "console.amazonaws-us-gov.com"
    if arn.startswith("arn:aws-cn:"):
        return "console.amazonaws.cn"
    return "console.aws.amazon.com"


def _tags(items: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for t in _as_list(items):
        if isinstance(t, dict) and "Key" in t:
            out[sanitize(t["Key"])] = sanitize(t.get("Value", ""))
    return out


def _cert_expiry(body: Any) -> datetime | None:
    """notAfter of a PEM certificate, or None (the body itself is never kept)."""
    if not isinstance(body, str) or "BEGIN CERTIFICATE" not in body:
        return None
    try:
        from cryptography import x509

        cert = x509.load_pem_x509_certificate(body.encode())
        return utc(getattr(cert, "not_valid_after_utc", None) or cert.not_valid_after)
    except Exception:  # noqa: BLE001 - an unparseable certificate just has no known expiry
        return None


class _CredentialsLost(Exception):
    """The account's credentials stopped working (expired SSO token, revoked keys): stop this account."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass
class _Target:
    """One account to scan, and how to get a session for it."""

    label: str                       # what the user configured: an account id or a profile name
    account: str = ""                # known up front in role mode
    profile: str | None = None
    role_arn: str = ""


@dataclass
class _Account:
    """Per-account scan state (a blind spot per failing endpoint, aggregated over users)."""

    account: str
    label: str
    lost: _CredentialsLost | None = None
    failures: dict[str, list[tuple[str, str]]] = field(default_factory=lambda: defaultdict(list))
    produced: int = 0
    report_rows: dict[str, dict[str, str]] | None = None


@dataclass
class _UserCtx:
    """What every credential of a user inherits from it."""

    name: str
    arn: str
    privilege: str
    scopes: tuple[str, ...]
    tags: dict[str, str]


class AwsConnector:
    """The AWS source (see the module docstring)."""

    provider = PROVIDER
    report_max_age = timedelta(hours=4)       # a credential report older than this is not trusted
    report_wait = 5.0                         # seconds to wait for a report being generated
    max_attempts = 10                         # botocore adaptive retry: attempts per call

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
        self.verify = setting(settings, "ca_bundle") or None
        self._local = threading.local()
        self._lock = threading.Lock()
        self._managed: dict[str, str] = {}       # policy arn -> privilege (AWS managed: shared by accounts)
        self._clients: list[tuple[str, Any]] = []  # (owner, client): closed when their scan / action ends
        self.report.facts["throttled"] = 0

    # --- botocore plumbing ------------------------------------------------------------------------

    def _config(self) -> Config:
        return Config(retries={"mode": "adaptive", "max_attempts": self.max_attempts}, connect_timeout=self.timeout,
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
        return client

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
        if isinstance(caught_exception, bx.SSLError):
            # botocore would retry a certificate failure up to max_attempts times, with backoff: it
            # never heals by itself, so fail now with botocore's own (clear) message.
            raise caught_exception
        if not response:
            return
        http, parsed = response
        code = ((parsed or {}).get("Error") or {}).get("Code") if isinstance(parsed, dict) else None
        if code in THROTTLE_CODES or getattr(http, "status_code", None) == 429:
            with self._lock:
                self.report.facts["throttled"] = int(self.report.facts.get("throttled", 0)) + 1

    # --- sessions -----------------------------------------------------------------------------------

    def _base_session(self, profile: str | None) -> boto3.Session:
        try:
            return boto3.Session(profile_name=profile) if profile else boto3.Session()
        except CREDENTIAL_ERRORS as exc:
            raise AuthError(f"AWS profile {profile!r}: {_error(exc)[1]}") from None

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

    def _targets(self) -> list[_Target]:
        if self.profiles:
            return [_Target(label=p, profile=p) for p in self.profiles]
        if self.accounts:
            return [_Target(label=a, account=a, profile=self.profile, role_arn=self._role_arn(a))
                    for a in dict.fromkeys(self.accounts)]
        if self.organization:
            base = self._base_session(self.profile)
            org = self._client(base, "organizations", "us-east-1")
            accounts: list[_Target] = []
            try:
                for page in org.get_paginator("list_accounts").paginate():
                    for acct in page.get("Accounts", []):
                        status = acct.get("Status") or acct.get("State")
                        if status not in (None, "ACTIVE"):
                            # Suspended / closing accounts accept no credentials: noted, not a blind spot.
                            self.report.facts.setdefault("skipped_accounts", {})[str(acct.get("Id"))] = \
                                str(status).lower()
                            continue
                        accounts.append(_Target(label=str(acct["Id"]), account=str(acct["Id"]),
                                                profile=self.profile, role_arn=self._role_arn(str(acct["Id"]))))
            except bx.ClientError as exc:
                code, msg, _ = _error(exc)
                if code in AUTH_CODES:
                    raise AuthError(f"authentication failed: {code}: {msg}") from None
                raise ConnectorError(f"organizations:ListAccounts failed ({code}): {msg}; it needs the "
                                     "management (or delegated administrator) account") from None
            except CREDENTIAL_ERRORS as exc:
                raise AuthError(f"no usable AWS credentials: {_error(exc)[1]}") from None
            except TRANSPORT as exc:
                raise ConnectorError(f"organizations:ListAccounts failed: {_error(exc)[1]}") from None
            return accounts
        return [_Target(label=self.profile or "default", profile=self.profile)]

    def _open(self, target: _Target) -> tuple[str, boto3.Session]:
        """(account id, session) of a target; raises _CredentialsLost / ConnectorError for the account."""
        base = self._base_session(target.profile)
        try:
            if target.role_arn:
                session = self._retry_unparseable(self._assumed_session, base, target.role_arn)
                return target.account, session
            ident = self._retry_unparseable(self._client(base, "sts").get_caller_identity)
            return str(ident["Account"]), base
        except bx.ClientError as exc:
            code, msg, _ = _error(exc)
            what = f"sts:AssumeRole on {target.role_arn}" if target.role_arn else "sts:GetCallerIdentity"
            if code in AUTH_CODES:
                raise _CredentialsLost(code, f"{what}: {msg}") from None
            raise ConnectorError(f"{what} failed ({code}): {msg}") from None
        except CREDENTIAL_ERRORS as exc:
            raise _CredentialsLost(type(exc).__name__, _error(exc)[1]) from None
        except TRANSPORT as exc:
            raise ConnectorError(f"cannot reach AWS: {_error(exc)[1]}") from None

    # --- collection -----------------------------------------------------------------------------------

    async def collect(self) -> AsyncIterator[list[Identity]]:
        loop = asyncio.get_running_loop()
        pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix=f"aws-{self.name}"[:40])
        queue: asyncio.Queue[list[Identity] | None] = asyncio.Queue()

        async def run(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
            return await loop.run_in_executor(pool, functools.partial(fn, *args, **kwargs))

        outcomes: list[tuple[_Target, BaseException | None, _Account | None]] = []
        tasks: list[asyncio.Task[Any]] = []
        try:
            targets = await run(self._targets)
            if not targets:
                raise ConnectorError("no AWS account to scan (the organization lists no active account)")

            async def one(target: _Target) -> None:
                state = None
                try:
                    state = await self._scan_account(target, run, queue)
                    outcomes.append((target, state.lost if state else None, state))
                except (ConnectorError, _CredentialsLost) as exc:
                    outcomes.append((target, exc, state))

            tasks = [asyncio.create_task(one(t)) for t in targets]

            async def close() -> None:
                await asyncio.gather(*tasks, return_exceptions=True)
                await queue.put(None)

            closer = asyncio.create_task(close())
            yielded = 0
            while True:
                batch = await queue.get()
                if batch is None:
                    break
                yielded += len(batch)
                yield batch
            await closer
            for task in tasks:
                if task.done() and not task.cancelled() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
            self._conclude(targets, outcomes, yielded)
        finally:
            for task in tasks:
                task.cancel()
            pool.shutdown(wait=False, cancel_futures=True)
            self._close_clients("collect")

    def _conclude(self, targets: list[_Target], outcomes: list[tuple[_Target, BaseException | None, _Account | None]],
                  yielded: int) -> None:
        ok = [s.account for _t, exc, s in outcomes if exc is None and s is not None]
        self.report.facts["accounts"] = sorted(ok)
        self.report.facts["account"] = ok[0] if len(ok) == 1 else sorted(ok)
        failures = [(t, exc, s) for t, exc, s in outcomes if exc is not None]
        for target, exc, state in failures:
            who = state.account if state and state.account else target.label
            if isinstance(exc, _CredentialsLost) and state is not None and state.produced:
                reason = (f"credentials stopped working mid-scan ({exc.code}: {exc.message}); this account is "
                          "incomplete: refresh the credentials (e.g. `aws sso login`) and scan again")
                self.report.fail(f"account {who}: {reason}")
            elif isinstance(exc, _CredentialsLost):
                reason = f"cannot authenticate ({exc.code}: {exc.message})"
            else:
                reason = str(exc)
            self.report.blind_spot(f"account {who}", reason)
        if yielded == 0 and failures and len(failures) == len(outcomes):
            reasons = "; ".join(f"{(s.account if s and s.account else t.label)}: {e}" for t, e, s in failures)
            if all(isinstance(e, (_CredentialsLost, AuthError)) for _t, e, _s in failures):
                raise AuthError(f"authentication failed: {reasons}"[:800])
            raise ConnectorError(f"no AWS account could be read: {reasons}"[:800])
        if len(targets) == 1 and failures and yielded == 0:
            _t, exc, _s = failures[0]
            if isinstance(exc, (_CredentialsLost, AuthError)):
                raise AuthError(f"authentication failed: {exc}")
            raise ConnectorError(str(exc))

    async def _scan_account(self, target: _Target, run: Callable[..., Any],
                            queue: asyncio.Queue[list[Identity] | None]) -> _Account:
        account, session = await run(self._open, target)
        state = _Account(account=account, label=target.label)
        profile = target.profile
        clients = await run(self._clients_for, session)
        iam = clients["iam"]

        async def emit(items: list[Identity]) -> None:
            for i in range(0, len(items), BATCH):
                chunk = items[i:i + BATCH]
                if chunk:
                    state.produced += len(chunk)
                    await queue.put(chunk)

        def guard(what: str, permission: str, fn: Callable[..., Any], *args: Any, per: str = "",
                  regional: bool = False) -> Any:
            """Run one read; AccessDenied / exhausted retries become a failure of `what`, not an empty list.

            An authentication error loses the whole account, except in a regional call: a region not
            enabled for the account answers UnrecognizedClientException to valid credentials.
            """
            if state.lost is not None:
                return None
            try:
                return self._retry_unparseable(fn, *args)
            except bx.ClientError as exc:
                code, msg, status = _error(exc)
                if code in AUTH_CODES and regional:
                    state.failures[what].append((per, f"{code}: {msg} (is the region enabled for the account?)"))
                    return None
                if code in AUTH_CODES:
                    state.lost = state.lost or _CredentialsLost(code, msg)
                    return None
                if code in GONE_CODES and per:
                    return None             # the user vanished between two calls: nothing to list
                if code in DENIED_CODES:
                    reason = f"{code}: needs {permission}" + (f" ({msg})" if msg else "")
                else:
                    reason = f"{code}" + (f" (HTTP {status})" if status else "") + (f": {msg}" if msg else "")
                state.failures[what].append((per, reason))
            except CREDENTIAL_ERRORS as exc:
                state.lost = state.lost or _CredentialsLost(type(exc).__name__, _error(exc)[1])
            except (*TRANSPORT, ValueError) as exc:
                code, msg, _ = _error(exc)
                state.failures[what].append((per, f"{code}: {msg}"))
            return None

        # Everything independent starts at once.
        authz_t = asyncio.ensure_future(run(guard, "iam:GetAccountAuthorizationDetails",
                                            "iam:GetAccountAuthorizationDetails", self._authz, iam))
        users_t = asyncio.ensure_future(run(guard, "iam:ListUsers", "iam:ListUsers", self._list_users, iam))
        report_t = asyncio.ensure_future(run(self._credential_report, iam, state))
        oidc_t = asyncio.ensure_future(self._oidc(iam, run, guard))
        secrets_t = [asyncio.ensure_future(run(guard, f"secretsmanager:ListSecrets ({region})",
                                               "secretsmanager:ListSecrets", self._list_secrets,
                                               clients[f"secretsmanager:{region}"], regional=True))
                     for region in self.regions]
        ssc_t = asyncio.ensure_future(run(guard, "iam:ListServiceSpecificCredentials",
                                          "iam:ListServiceSpecificCredentials", self._list_ssc_all, iam))
        user_tasks: list[asyncio.Future[list[Identity]]] = []
        try:
            authz = await authz_t
            if state.lost and authz is None:
                raise state.lost
            policies: dict[str, str] = {}
            roles: list[Identity] = []
            if authz is not None:
                policies = await self._policy_privileges(authz, iam, run, guard)
                roles = [self._role(r, account, policies, profile) for r in authz["roles"]]
                users = authz["users"]
            else:
                users = [{"UserName": u["UserName"], "Arn": u["Arn"], "Path": u.get("Path", "/"),
                          "CreateDate": u.get("CreateDate")} for u in await users_t or []]
            groups = {g["GroupName"]: g for g in (authz or {}).get("groups", [])}
            # The per-user calls are most of the work: start them now, report and lists join later.
            user_tasks = [asyncio.ensure_future(self._user(u, account, groups, policies, users_t, ssc_t, report_t,
                                                           iam, run, guard, profile)) for u in users]
            await emit(roles)
            providers = await oidc_t
            trusted_by: dict[str, list[str]] = defaultdict(list)
            for r in roles:
                for t in r.details.get("trusts", ()):
                    if t.get("provider_arn"):
                        trusted_by[t["provider_arn"]].append(r.name)
            await emit([self._oidc_identity(p, account, trusted_by, profile) for p in providers or []])
            for region, task in zip(self.regions, secrets_t):
                secrets = await task
                await emit([self._secret(s, account, region, profile) for s in secrets or []])
            pending: list[Identity] = []
            for fut in asyncio.as_completed(user_tasks):
                pending.extend(await fut)
                if len(pending) >= BATCH:
                    await emit(pending)
                    pending = []
            await emit(pending)
        finally:
            for t in (authz_t, users_t, report_t, oidc_t, ssc_t, *secrets_t, *user_tasks):
                if not t.done():
                    t.cancel()
        for what, fails in state.failures.items():
            per = [p for p, _ in fails if p]
            reason = fails[0][1]
            if per:
                reason = f"failed for {len(per)} user(s) (e.g. {per[0]}): {reason}"
            self.report.blind_spot(f"{account}: {what}", reason)
        if state.lost is not None and state.produced == 0:
            raise state.lost
        return state

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

    def _clients_for(self, session: boto3.Session) -> dict[str, Any]:
        clients = {"iam": self._client(session, "iam")}
        for region in self.regions:
            clients[f"secretsmanager:{region}"] = self._client(session, "secretsmanager", region)
        return clients

    # --- the reads (each runs in a worker thread) -------------------------------------------------------

    @staticmethod
    def _authz(iam: Any) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {"users": [], "roles": [], "groups": [], "policies": []}
        pages = iam.get_paginator("get_account_authorization_details").paginate(
            Filter=["User", "Role", "Group", "LocalManagedPolicy"], PaginationConfig={"PageSize": 1000})
        for page in pages:
            out["users"].extend(page.get("UserDetailList", []))
            out["roles"].extend(page.get("RoleDetailList", []))
            out["groups"].extend(page.get("GroupDetailList", []))
            out["policies"].extend(page.get("Policies", []))
        return out

    @staticmethod
    def _list_users(iam: Any) -> list[dict[str, Any]]:
        return [u for page in iam.get_paginator("list_users").paginate(PaginationConfig={"PageSize": 1000})
                for u in page.get("Users", [])]

    @staticmethod
    def _list_secrets(sm: Any) -> list[dict[str, Any]]:
        return [s for page in sm.get_paginator("list_secrets").paginate(IncludePlannedDeletion=True,
                                                                         PaginationConfig={"PageSize": 100})
                for s in page.get("SecretList", [])]

    @staticmethod
    def _marker_pages(call: Callable[..., dict[str, Any]], key: str, **kwargs: Any) -> list[dict[str, Any]]:
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

    def _list_ssc_all(self, iam: Any) -> list[dict[str, Any]] | None:
        try:
            return self._marker_pages(iam.list_service_specific_credentials, "ServiceSpecificCredentials",
                                      AllUsers=True)
        except bx.ClientError as exc:
            if _error(exc)[0] in ("ValidationError", "InvalidInput", "InvalidParameterValue"):
                return None               # AllUsers unsupported here: list per user instead
            raise

    def _list_ssc_user(self, iam: Any, user: str) -> list[dict[str, Any]]:
        return self._marker_pages(iam.list_service_specific_credentials, "ServiceSpecificCredentials", UserName=user)

    def _credential_report(self, iam: Any, state: _Account) -> dict[str, dict[str, str]] | None:
        """Rows of the credential report by user when it is fresh, else None (per-key calls instead)."""
        if state.lost is not None:
            return None
        try:
            status = iam.generate_credential_report().get("State")
            deadline = time.monotonic() + self.report_wait
            delay = 0.2
            while status != "COMPLETE" and time.monotonic() < deadline:
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
                status = iam.generate_credential_report().get("State")
            report = iam.get_credential_report()
        except (bx.ClientError, *TRANSPORT) as exc:
            self.report.facts.setdefault("credential_report", {})[state.account] = f"unavailable ({_error(exc)[0]})"
            return None
        generated = utc(report.get("GeneratedTime"))
        age = self.clock() - generated if generated else None
        if age is None or age > self.report_max_age or age < -timedelta(minutes=10):
            self.report.facts.setdefault("credential_report", {})[state.account] = \
                f"stale (generated {iso(generated)}): per-key calls"
            return None
        content = report.get("Content", b"")
        text = content.decode("utf-8", "replace") if isinstance(content, (bytes, bytearray)) else str(content)
        rows = {r.get("user", ""): r for r in csv.DictReader(io.StringIO(text))}
        self.report.facts.setdefault("credential_report", {})[state.account] = f"fresh (generated {iso(generated)})"
        return rows

    async def _policy_privileges(self, authz: dict[str, Any], iam: Any, run: Callable[..., Any],
                                 guard: Callable[..., Any]) -> dict[str, str]:
        """Privilege of every managed policy attached anywhere (customer docs are in the authz pages)."""
        privileges: dict[str, str] = {}
        for p in authz["policies"]:
            doc = next((v.get("Document") for v in p.get("PolicyVersionList", []) if v.get("IsDefaultVersion")), None)
            privileges[p["Arn"]] = document_privilege(doc)
        attached = {a["PolicyArn"] for kind in ("users", "roles", "groups") for item in authz[kind]
                    for a in item.get("AttachedManagedPolicies", [])}
        missing = []
        for arn in attached - set(privileges):
            name = _policy_name(arn)
            if _is_aws_managed(arn) and name in KNOWN_MANAGED:
                privileges[arn] = KNOWN_MANAGED[name]
            elif arn in self._managed:
                privileges[arn] = self._managed[arn]
            else:
                missing.append(arn)
        fetched = await asyncio.gather(*(run(guard, "iam:GetPolicyVersion", "iam:GetPolicy and iam:GetPolicyVersion",
                                             self._fetch_policy, iam, arn) for arn in missing))
        for arn, priv in zip(missing, fetched):
            # Unreadable: assume write rather than none, so a hidden grant is not shown as harmless.
            privileges[arn] = priv or "write"
            if priv and _is_aws_managed(arn):
                self._managed[arn] = priv
        return privileges

    @staticmethod
    def _fetch_policy(iam: Any, arn: str) -> str:
        version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
        doc = iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"].get("Document")
        return document_privilege(doc)

    async def _oidc(self, iam: Any, run: Callable[..., Any], guard: Callable[..., Any]) -> list[dict[str, Any]]:
        listed = await run(guard, "iam:ListOpenIDConnectProviders", "iam:ListOpenIDConnectProviders",
                           lambda: iam.list_open_id_connect_providers().get("OpenIDConnectProviderList", []))
        arns = [p["Arn"] for p in listed or []]

        def get(arn: str) -> dict[str, Any]:
            detail = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
            return {"Arn": arn, **{k: v for k, v in detail.items() if k != "ResponseMetadata"}}

        details = await asyncio.gather(*(run(guard, "iam:GetOpenIDConnectProvider", "iam:GetOpenIDConnectProvider",
                                             get, arn, per=arn) for arn in arns))
        return [d for d in details if d]

    async def _user(self, u: dict[str, Any], account: str, groups: dict[str, Any], policies: dict[str, str],
                    users_t: asyncio.Future[Any], ssc_t: asyncio.Future[Any], report_t: asyncio.Future[Any],
                    iam: Any, run: Callable[..., Any], guard: Callable[..., Any], profile: str | None) -> list[Identity]:
        name = u["UserName"]
        calls = [
            run(guard, "iam:ListAccessKeys", "iam:ListAccessKeys", lambda: [
                k for page in iam.get_paginator("list_access_keys").paginate(UserName=name)
                for k in page.get("AccessKeyMetadata", [])], per=name),
            run(guard, "iam:ListSSHPublicKeys", "iam:ListSSHPublicKeys", lambda: [
                k for page in iam.get_paginator("list_ssh_public_keys").paginate(UserName=name)
                for k in page.get("SSHPublicKeys", [])], per=name),
            run(guard, "iam:ListSigningCertificates", "iam:ListSigningCertificates", lambda: [
                c for page in iam.get_paginator("list_signing_certificates").paginate(UserName=name)
                for c in page.get("Certificates", [])], per=name),
        ]
        keys, ssh, certs = await asyncio.gather(*calls)
        report_rows = await report_t
        row = (report_rows or {}).get(name)
        all_ssc = await ssc_t
        later = []
        if row is None:
            later.append(run(guard, "iam:GetLoginProfile", "iam:GetLoginProfile", self._has_login, iam, name,
                             per=name))
        if all_ssc is None:
            later.append(run(guard, "iam:ListServiceSpecificCredentials", "iam:ListServiceSpecificCredentials",
                             self._list_ssc_user, iam, name, per=name))
        rest = list(await asyncio.gather(*later))
        console = _report_bool(row.get("password_enabled")) if row is not None else rest.pop(0)
        if all_ssc is not None:
            creds = [c for c in all_ssc if c.get("UserName") == name]
        else:
            creds = rest.pop(0) or []
        password_used = {x["UserName"]: x.get("PasswordLastUsed") for x in await users_t or []}

        ctx = self._user_ctx(u, groups, policies)
        last_used: dict[str, dict[str, Any]] = {}
        need_api = []
        for k in keys or []:
            found = _report_key(row, k) if row is not None else None
            if found is not None:
                last_used[k["AccessKeyId"]] = found
            else:
                need_api.append(k["AccessKeyId"])
        fetched = await asyncio.gather(*(run(guard, "iam:GetAccessKeyLastUsed", "iam:GetAccessKeyLastUsed",
                                             self._key_last_used, iam, kid, per=name) for kid in need_api))
        for kid, info in zip(need_api, fetched):
            last_used[kid] = dict(info or {}, source="api", known=info is not None)

        out: list[Identity] = []
        for k in keys or []:
            out.append(self._access_key(k, account, ctx, last_used.get(k["AccessKeyId"], {}), profile))
        out.extend(self._ssh(k, account, ctx, profile) for k in ssh or [])
        out.extend(self._cert(c, account, ctx, profile) for c in certs or [])
        out.extend(self._service_credential(c, account, ctx, profile) for c in creds)
        key_uses = [i.last_used_at for i in out if i.kind == "access_key" and i.last_used_at]
        password_last = utc(password_used.get(name)) or (
            utc(row.get("password_last_used")) if row is not None else None)
        out.insert(0, self._iam_user(u, account, ctx, console, max([d for d in [password_last, *key_uses] if d],
                                                                   default=None), password_last, profile))
        return out

    @staticmethod
    def _has_login(iam: Any, user: str) -> bool:
        try:
            iam.get_login_profile(UserName=user)
            return True
        except bx.ClientError as exc:
            if _error(exc)[0] in GONE_CODES:
                return False
            raise

    @staticmethod
    def _key_last_used(iam: Any, key_id: str) -> dict[str, Any]:
        info = iam.get_access_key_last_used(AccessKeyId=key_id).get("AccessKeyLastUsed", {}) or {}
        return {"date": utc(info.get("LastUsedDate")), "service": info.get("ServiceName"),
                "region": info.get("Region")}

    # --- identity builders -------------------------------------------------------------------------------

    def _user_ctx(self, u: dict[str, Any], groups: dict[str, Any], policies: dict[str, str]) -> _UserCtx:
        privs: list[str] = []
        managed = sorted(_policy_name(a["PolicyArn"]) for a in u.get("AttachedManagedPolicies", []))
        privs += [policies.get(a["PolicyArn"], "write") for a in u.get("AttachedManagedPolicies", [])]
        inline = sorted(p["PolicyName"] for p in u.get("UserPolicyList", []))
        privs += [document_privilege(p.get("PolicyDocument")) for p in u.get("UserPolicyList", [])]
        group_scopes: list[str] = []
        for g in sorted(u.get("GroupList", [])):
            detail = groups.get(g, {})
            for a in detail.get("AttachedManagedPolicies", []):
                group_scopes.append(f"group:{g}/{_policy_name(a['PolicyArn'])}")
                privs.append(policies.get(a["PolicyArn"], "write"))
            for p in detail.get("GroupPolicyList", []):
                group_scopes.append(f"group:{g}/inline:{p['PolicyName']}")
                privs.append(document_privilege(p.get("PolicyDocument")))
        scopes = tuple(managed) + tuple(f"inline:{n}" for n in inline) + tuple(group_scopes)
        return _UserCtx(name=u["UserName"], arn=u.get("Arn", ""), privilege=max_privilege(*privs) if privs else "none",
                        scopes=scopes, tags=_tags(u.get("Tags")))

    def _uid(self, kind: str, native: str) -> str:
        return make_uid(self.name, kind, native)

    def _user_url(self, arn: str, name: str) -> str:
        return f"https://{_console(arn)}/iam/home#/users/details/{quote(name, safe='')}?section=security_credentials"

    def _iam_user(self, u: dict[str, Any], account: str, ctx: _UserCtx, console: bool | None,
                  last_used: datetime | None, password_last: datetime | None, profile: str | None) -> Identity:
        arn = u.get("Arn", "")
        return Identity(
            uid=self._uid("iam_user", arn), source=self.name, provider=PROVIDER, kind="iam_user", name=ctx.name,
            owner="", target=account, scopes=ctx.scopes, privilege=ctx.privilege, created_at=utc(u.get("CreateDate")),
            last_used_at=last_used, status="active", credential="static", actions=(),
            url=self._user_url(arn, ctx.name),
            details={"account": account, "arn": sanitize(arn), "path": sanitize(u.get("Path", "/")), "tags": ctx.tags,
                     "has_console_password": console, "password_last_used": iso(password_last) or None,
                     "groups": [sanitize(g) for g in u.get("GroupList", [])],
                     "permissions_boundary": sanitize((u.get("PermissionsBoundary") or {}).get(
                         "PermissionsBoundaryArn", "")) or None, "profile": profile})

    def _cred_details(self, ctx: _UserCtx, account: str, profile: str | None, **extra: Any) -> dict[str, Any]:
        return {"account": account, "user": ctx.name, "user_arn": sanitize(ctx.arn), "user_tags": ctx.tags,
                "profile": profile, **extra}

    def _access_key(self, k: dict[str, Any], account: str, ctx: _UserCtx, used: dict[str, Any],
                    profile: str | None) -> Identity:
        kid = str(k["AccessKeyId"])
        status = STATUS.get(k.get("Status", ""), "active")
        service = used.get("service")
        region = used.get("region")
        ident = Identity(
            uid=self._uid("access_key", kid), source=self.name, provider=PROVIDER, kind="access_key", name=kid,
            owner=ctx.name, target=account, scopes=ctx.scopes, privilege=ctx.privilege,
            created_at=utc(k.get("CreateDate")), last_used_at=used.get("date"), status=status, credential="static",
            url=self._user_url(ctx.arn, ctx.name),
            details=self._cred_details(ctx, account, profile,
                                       last_used_service=None if service in (None, "N/A", "not_supported") else service,
                                       last_used_region=None if region in (None, "N/A", "not_supported") else region,
                                       last_used_source=used.get("source"),
                                       last_used_unknown=used.get("known") is False or None))
        return _with_actions(ident, self.actions(ident))

    def _ssh(self, k: dict[str, Any], account: str, ctx: _UserCtx, profile: str | None) -> Identity:
        kid = str(k["SSHPublicKeyId"])
        ident = Identity(
            uid=self._uid("ssh_public_key", f"{account}:{kid}"), source=self.name, provider=PROVIDER,
            kind="ssh_public_key", name=kid, owner=ctx.name, target=account, scopes=ctx.scopes,
            privilege=ctx.privilege, created_at=utc(k.get("UploadDate")), status=STATUS.get(k.get("Status"), "active"),
            credential="static", url=self._user_url(ctx.arn, ctx.name), usage_tracked=False,
            details=self._cred_details(ctx, account, profile, key_id=kid))
        return _with_actions(ident, self.actions(ident))

    def _cert(self, c: dict[str, Any], account: str, ctx: _UserCtx, profile: str | None) -> Identity:
        cid = str(c["CertificateId"])
        ident = Identity(
            uid=self._uid("signing_certificate", f"{account}:{cid}"), source=self.name, provider=PROVIDER,
            kind="signing_certificate", name=cid, owner=ctx.name, target=account, scopes=ctx.scopes,
            privilege=ctx.privilege, created_at=utc(c.get("UploadDate")), expires_at=_cert_expiry(c.get("CertificateBody")),
            status=STATUS.get(c.get("Status"), "active"), credential="static", url=self._user_url(ctx.arn, ctx.name),
            usage_tracked=False, details=self._cred_details(ctx, account, profile, certificate_id=cid))
        return _with_actions(ident, self.actions(ident))

    def _service_credential(self, c: dict[str, Any], account: str, ctx: _UserCtx, profile: str | None) -> Identity:
        cid = str(c["ServiceSpecificCredentialId"])
        label = c.get("ServiceUserName") or c.get("ServiceCredentialAlias") or cid
        ident = Identity(
            uid=self._uid("service_credential", f"{account}:{cid}"), source=self.name, provider=PROVIDER,
            kind="service_credential", name=str(label), owner=ctx.name, target=account, scopes=ctx.scopes,
            privilege=ctx.privilege, created_at=utc(c.get("CreateDate")), expires_at=utc(c.get("ExpirationDate")),
            status=STATUS.get(c.get("Status"), "active"), credential="static", url=self._user_url(ctx.arn, ctx.name),
            usage_tracked=False,
            details=self._cred_details(ctx, account, profile, credential_id=cid,
                                       service=sanitize(c.get("ServiceName", "")),
                                       alias=sanitize(c.get("ServiceCredentialAlias", "")) or None))
        return _with_actions(ident, self.actions(ident))

    def _role(self, r: dict[str, Any], account: str, policies: dict[str, str], profile: str | None) -> Identity:
        arn = r.get("Arn", "")
        name = r.get("RoleName", "")
        managed = r.get("AttachedManagedPolicies", [])
        inline = r.get("RolePolicyList", [])
        privs = [policies.get(a["PolicyArn"], "write") for a in managed]
        privs += [document_privilege(p.get("PolicyDocument")) for p in inline]
        scopes = tuple(sorted(_policy_name(a["PolicyArn"]) for a in managed)) + tuple(
            f"inline:{n}" for n in sorted(p["PolicyName"] for p in inline))
        trust_doc = r.get("AssumeRolePolicyDocument")
        trust_error = None
        try:
            trusts = [t.as_dict() for t in parse_trust(trust_doc if trust_doc is not None else {})]
        except ValueError as exc:
            trusts, trust_error = [], str(exc)
        principals = _principals(load_document(trust_doc) or {})
        federated = bool(trusts) or any(p.startswith("saml:") for p in principals)
        revoked = next((p for p in inline if p.get("PolicyName") == REVOKE_POLICY), None)
        revoked_before = _revoke_time(revoked.get("PolicyDocument")) if revoked else None
        last = r.get("RoleLastUsed") or {}
        path = r.get("Path", "/")
        ident = Identity(
            uid=self._uid("iam_role", arn), source=self.name, provider=PROVIDER, kind="iam_role", name=name,
            owner="", target=account, scopes=scopes, privilege=max_privilege(*privs) if privs else "none",
            created_at=utc(r.get("CreateDate")), last_used_at=utc(last.get("LastUsedDate")), status="active",
            credential="federated" if federated else "ephemeral",
            url=f"https://{_console(arn)}/iam/home#/roles/details/{quote(name, safe='')}",
            details={"account": account, "arn": sanitize(arn), "path": sanitize(path), "trusts": trusts,
                     "trust_error": trust_error, "trusted_principals": principals,
                     "service_linked": path.startswith("/aws-service-role/"),
                     "policies": list(scopes), "tags": _tags(r.get("Tags")),
                     "description": sanitize(r.get("Description", "")) or None,
                     "last_used_region": last.get("Region"), "sessions_revoked_before": revoked_before,
                     "max_session_seconds": r.get("MaxSessionDuration"), "profile": profile,
                     "permissions_boundary": sanitize((r.get("PermissionsBoundary") or {}).get(
                         "PermissionsBoundaryArn", "")) or None})
        return _with_actions(ident, self.actions(ident))

    def _oidc_identity(self, p: dict[str, Any], account: str, trusted_by: Mapping[str, list[str]],
                       profile: str | None) -> Identity:
        arn = p["Arn"]
        url = str(p.get("Url") or arn.split(":oidc-provider/", 1)[-1])
        host = url.split("://", 1)[-1]
        return Identity(
            uid=self._uid("oidc_provider", arn), source=self.name, provider=PROVIDER, kind="oidc_provider",
            name=host, owner="", target=account, created_at=utc(p.get("CreateDate")), status="active",
            credential="federated", usage_tracked=False,
            url=f"https://{_console(arn)}/iam/home#/identity_providers/details/OPENID/{quote(arn, safe='')}",
            details={"account": account, "arn": sanitize(arn), "url": sanitize(host),
                     "client_ids": [sanitize(c) for c in p.get("ClientIDList", [])],
                     "thumbprints": [sanitize(t) for t in p.get("ThumbprintList", [])],
                     "tags": _tags(p.get("Tags")), "roles": sorted(trusted_by.get(arn, [])), "profile": profile})

    def _secret(self, s: dict[str, Any], account: str, region: str, profile: str | None) -> Identity:
        arn = s.get("ARN", "")
        name = s.get("Name", "")
        deleted = utc(s.get("DeletedDate"))
        rules = s.get("RotationRules") or {}
        ident = Identity(
            uid=self._uid("secret", arn), source=self.name, provider=PROVIDER, kind="secret", name=name, owner="",
            target=account, privilege="none", created_at=utc(s.get("CreatedDate")),
            last_used_at=utc(s.get("LastAccessedDate")), status="inactive" if deleted else "active",
            credential="static",
            url=f"https://{region}.{_console(arn)}/secretsmanager/secret?name={quote(name, safe='')}&region={region}",
            details={"account": account, "region": region, "arn": sanitize(arn),
                     "rotation_enabled": bool(s.get("RotationEnabled", False)),
                     "rotation_days": rules.get("AutomaticallyAfterDays"),
                     "rotated_at": iso(utc(s.get("LastRotatedDate"))) or None,
                     "next_rotation_at": iso(utc(s.get("NextRotationDate"))) or None,
                     "changed_at": iso(utc(s.get("LastChangedDate"))) or None,
                     "deletion_date": iso(deleted) or None, "description": sanitize(s.get("Description", "")) or None,
                     "kms_key_id": sanitize(s.get("KmsKeyId", "")) or None,
                     "owning_service": sanitize(s.get("OwningService", "")) or None, "tags": _tags(s.get("Tags")),
                     "profile": profile})
        return _with_actions(ident, self.actions(ident))

    # --- actions ----------------------------------------------------------------------------------------

    def actions(self, identity: Identity) -> list[Action]:
        d = identity.details
        kind, status = identity.kind, identity.status
        user = d.get("user", identity.owner)
        if kind in ("access_key", "ssh_public_key", "signing_certificate", "service_credential"):
            op, param = {
                "access_key": ("AccessKey", "AccessKeyId"), "ssh_public_key": ("SSHPublicKey", "SSHPublicKeyId"),
                "signing_certificate": ("SigningCertificate", "CertificateId"),
                "service_credential": ("ServiceSpecificCredential", "ServiceSpecificCredentialId"),
            }[kind]
            cid = _native_id(identity)
            target = f"UserName={user} {param}={cid}"
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

    async def execute(self, identity: Identity, action: str) -> ActionResult:
        if action not in {a.name for a in self.actions(identity)}:
            return ActionResult(state="failed", message=f"{action!r} is not available for this {identity.kind}")
        return await asyncio.to_thread(self._execute, identity, action)

    def _write_session(self, identity: Identity) -> boto3.Session:
        """The revoke identity (revoke_profile) in the identity's account, else the read one."""
        account = str(identity.details.get("account") or identity.target)
        if self.revoke_profile:
            base = self._base_session(self.revoke_profile)
            mine = str(self._client(base, "sts").get_caller_identity()["Account"])
            if mine == account:
                return base
            if self.role_name:
                return self._assumed_session(base, self._role_arn(account))
            raise ConnectorError(f"revoke_profile {self.revoke_profile!r} is in account {mine}, not {account}; "
                                 "set role_name to act in other accounts")
        profile = identity.details.get("profile") or self.profile
        base = self._base_session(profile)
        if self.role_name and (self.accounts or self.organization):
            return self._assumed_session(base, self._role_arn(account))
        return base

    def _execute(self, identity: Identity, action: str) -> ActionResult:
        owner = f"execute-{threading.get_ident()}-{time.monotonic_ns()}"
        self._local.owner = owner
        try:
            return self._execute_as(identity, action)
        finally:
            del self._local.owner
            self._close_clients(owner)

    def _execute_as(self, identity: Identity, action: str) -> ActionResult:
        try:
            session = self._write_session(identity)
            if identity.kind == "secret":
                return self._execute_secret(session, identity, action)
            iam = self._client(session, "iam")
            if identity.kind == "iam_role":
                return self._execute_role(iam, identity, action)
            return self._execute_credential(iam, identity, action)
        except bx.ClientError as exc:
            code, msg, status = _error(exc)
            if code in GONE_CODES:
                return ActionResult(state="already-absent", status_code=status, message=f"{code}: {msg}", removed=True)
            return ActionResult(state="failed", status_code=status, message=f"{code}: {msg}")
        except CREDENTIAL_ERRORS as exc:
            return ActionResult(state="failed", message=f"no usable AWS credentials: {_error(exc)[1]}")
        except ConnectorError as exc:
            return ActionResult(state="failed", message=str(exc))
        except TRANSPORT as exc:
            return ActionResult(state="failed", message=f"{_error(exc)[0]}: {_error(exc)[1]}")

    def _execute_credential(self, iam: Any, identity: Identity, action: str) -> ActionResult:
        d = identity.details
        user = str(d.get("user") or identity.owner)
        cid = _native_id(identity)
        kind = identity.kind
        status = {"deactivate": "Inactive", "activate": "Active"}.get(action)
        if kind == "access_key":
            if status:
                iam.update_access_key(UserName=user, AccessKeyId=cid, Status=status)
            else:
                iam.delete_access_key(UserName=user, AccessKeyId=cid)
        elif kind == "ssh_public_key":
            if status:
                iam.update_ssh_public_key(UserName=user, SSHPublicKeyId=cid, Status=status)
            else:
                iam.delete_ssh_public_key(UserName=user, SSHPublicKeyId=cid)
        elif kind == "signing_certificate":
            if status:
                iam.update_signing_certificate(UserName=user, CertificateId=cid, Status=status)
            else:
                iam.delete_signing_certificate(UserName=user, CertificateId=cid)
        elif kind == "service_credential":
            if status:
                iam.update_service_specific_credential(UserName=user, ServiceSpecificCredentialId=cid, Status=status)
            else:
                iam.delete_service_specific_credential(UserName=user, ServiceSpecificCredentialId=cid)
        else:
            return ActionResult(state="failed", message=f"no action {action!r} for {kind}")
        if action == "delete":
            return ActionResult(state="ok", removed=True, message="deleted")
        return _reread(lambda: self._reread_credential(iam, identity), action)

    def _reread_credential(self, iam: Any, identity: Identity) -> Identity | None:
        """The credential as the provider shows it now (None when it no longer exists)."""
        d = identity.details
        account = str(d.get("account") or identity.target)
        ctx = _UserCtx(name=str(d.get("user") or identity.owner), arn=str(d.get("user_arn", "")),
                       privilege=identity.privilege, scopes=identity.scopes, tags=dict(d.get("user_tags") or {}))
        profile = d.get("profile")
        cid = _native_id(identity)
        try:
            if identity.kind == "access_key":
                items = self._marker_pages(iam.list_access_keys, "AccessKeyMetadata", UserName=ctx.name)
                item = next((k for k in items if k["AccessKeyId"] == cid), None)
                if item is None:
                    return None
                used = dict(self._key_last_used(iam, cid), source="api")
                return self._access_key(item, account, ctx, used, profile)
            if identity.kind == "ssh_public_key":
                items = self._marker_pages(iam.list_ssh_public_keys, "SSHPublicKeys", UserName=ctx.name)
                item = next((k for k in items if k["SSHPublicKeyId"] == cid), None)
                return self._ssh(item, account, ctx, profile) if item else None
            if identity.kind == "signing_certificate":
                items = self._marker_pages(iam.list_signing_certificates, "Certificates", UserName=ctx.name)
                item = next((c for c in items if c["CertificateId"] == cid), None)
                return self._cert(item, account, ctx, profile) if item else None
            items = self._list_ssc_user(iam, ctx.name)
            item = next((c for c in items if c["ServiceSpecificCredentialId"] == cid), None)
            return self._service_credential(item, account, ctx, profile) if item else None
        except bx.ClientError as exc:
            if _error(exc)[0] in GONE_CODES:
                return None
            raise

    def _execute_role(self, iam: Any, identity: Identity, action: str) -> ActionResult:
        name = identity.name
        role = iam.get_role(RoleName=name)["Role"]
        if str(role.get("Path", "")).startswith("/aws-service-role/"):
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
                if _error(exc)[0] not in GONE_CODES:
                    raise
        done = (f"sessions of {name} issued before now are denied" if action == "revoke-sessions"
                else f"older sessions of {name} work again")
        return _reread(lambda: self._reread_role(iam, identity, name), action, done)

    def _reread_role(self, iam: Any, identity: Identity, name: str) -> Identity:
        role = iam.get_role(RoleName=name)["Role"]
        names = [n for page in iam.get_paginator("list_role_policies").paginate(RoleName=name)
                 for n in page.get("PolicyNames", [])]
        inline = [{"PolicyName": n, "PolicyDocument": iam.get_role_policy(RoleName=name, PolicyName=n).get(
            "PolicyDocument")} for n in names]
        attached = [a for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=name)
                    for a in page.get("AttachedPolicies", [])]
        policies: dict[str, str] = {}
        for a in attached:
            arn = a["PolicyArn"]
            known = KNOWN_MANAGED.get(_policy_name(arn)) if _is_aws_managed(arn) else None
            policies[arn] = known or self._managed.get(arn) or self._fetch_policy(iam, arn)
        detail = {**role, "RolePolicyList": inline, "AttachedManagedPolicies": attached}
        account = str(identity.details.get("account") or identity.target)
        return self._role(detail, account, policies, identity.details.get("profile"))

    def _execute_secret(self, session: boto3.Session, identity: Identity, action: str) -> ActionResult:
        region = str(identity.details.get("region") or self.regions[0])
        sm = self._client(session, "secretsmanager", region)
        arn = str(identity.details.get("arn") or identity.name)
        if action == "delete":
            sm.delete_secret(SecretId=arn, RecoveryWindowInDays=RECOVERY_DAYS)
        elif action == "restore":
            sm.restore_secret(SecretId=arn)
        account = str(identity.details.get("account") or identity.target)
        return _reread(lambda: self._secret(sm.describe_secret(SecretId=arn), account, region,
                                            identity.details.get("profile")), action)


# --- module helpers ------------------------------------------------------------------------------------

def _reread(read: Callable[[], Identity | None], action: str, done: str = "") -> ActionResult:
    """The result of a write that succeeded: the identity re-read from the provider when possible."""
    try:
        fresh = read()
    except (bx.ClientError, *TRANSPORT) as exc:
        code, msg, _ = _error(exc)
        return ActionResult(state="ok", message=f"{action} done; re-reading it failed ({code}: {msg})")
    if fresh is None:
        return ActionResult(state="ok", removed=True, message=f"{action} done; it no longer exists")
    return ActionResult(state="ok", identity=fresh, message=f"{action} done; " + (done or f"status is now {fresh.status}"))


def _with_actions(identity: Identity, actions: Iterable[Action]) -> Identity:
    return replace(identity, actions=tuple(a.name for a in actions))


def _native_id(identity: Identity) -> str:
    """The provider's id of a credential (the part after the account for per-account ids)."""
    native = identity.native_id
    return native.rsplit(":", 1)[-1] if identity.kind != "access_key" else native


def _report_bool(value: Any) -> bool | None:
    if value in ("true", "TRUE", "True"):
        return True
    if value in ("false", "FALSE", "False"):
        return False
    return None


def _report_key(row: dict[str, str], key: dict[str, Any]) -> dict[str, Any] | None:
    """A key's last use from its credential-report row, or None when the row cannot say which slot it is.

    The report names keys 1 and 2, not their ids: a slot belongs to the key when it was last rotated
    in the second the key was created and its active flag agrees with the key's status (a key changed
    since the report falls back to the API). Two keys created in the same second with the same status
    are told apart only when both slots say the same thing.
    """
    created = utc(key.get("CreateDate"))
    if created is None:
        return None
    created = created.replace(microsecond=0)
    active = key.get("Status") == "Active"
    found = []
    for n in (1, 2):
        rotated = utc(row.get(f"access_key_{n}_last_rotated"))
        if rotated is None or rotated.replace(microsecond=0) != created:
            continue
        if _report_bool(row.get(f"access_key_{n}_active")) != active:
            continue
        found.append((utc(row.get(f"access_key_{n}_last_used_date")), row.get(f"access_key_{n}_last_used_service"),
                      row.get(f"access_key_{n}_last_used_region")))
    if not found or any(f != found[0] for f in found):
        return None
    date, service, region = found[0]
    return {"date": date, "service": service, "region": region, "source": "credential-report", "known": True}


def _principals(doc: dict[str, Any]) -> list[str]:
    """Who may assume a role, as `service:x`, `aws:arn`, `federated:x`, `saml:x` (for the detail pane)."""
    out: list[str] = []
    for st in _as_list(doc.get("Statement")):
        if not isinstance(st, dict) or st.get("Effect") != "Allow":
            continue
        principal = st.get("Principal")
        if principal == "*":
            out.append("aws:*")
            continue
        if not isinstance(principal, dict):
            continue
        for kind, values in principal.items():
            for v in _as_list(values):
                text = sanitize(v)
                if str(kind).lower() == "federated":
                    out.append(("saml:" if ":saml-provider/" in text else "federated:") + text)
                else:
                    out.append(f"{str(kind).lower()}:{text}")
    return sorted(dict.fromkeys(out))


def _revoke_time(doc: Any) -> str | None:
    """The aws:TokenIssueTime of an AWSRevokeOlderSessions policy."""
    parsed = load_document(doc) or {}
    for st in _as_list(parsed.get("Statement")):
        if isinstance(st, dict):
            for op in (st.get("Condition") or {}).values():
                if isinstance(op, dict):
                    for key, value in op.items():
                        if str(key).lower() == "aws:tokenissuetime":
                            return iso(utc(_as_list(value)[0] if _as_list(value) else None)) or str(value)
    return "unknown"


CONNECTOR = AwsConnector
