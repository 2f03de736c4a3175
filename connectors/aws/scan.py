"""One scan: every account concurrently, and within an account every independent read at once.

Each read runs in a worker thread through `AccountScan.read`, which turns AccessDenied, exhausted
retries or a transport failure into a blind spot of that endpoint (never an empty list) and an
authentication error into the loss of the account. One failing account (AssumeRole denied, expired
SSO credentials) becomes a blind spot naming the account and the reason; the others complete. The
source fails only when nothing at all could be read.

Calls per account (U users, K keys, R roles, P OIDC providers), in the kind modules:
- `GetAccountAuthorizationDetails` pages for users, groups, roles and customer policies (roles.py,
  policies.py), not N x GetRole; `ListUsers` pages for password last use (users.py).
- The credential report when it is fresh (report.py), else per-key and per-user calls (users.py).
- Per user: `ListAccessKeys`, `ListSSHPublicKeys`, `ListSigningCertificates` (credentials.py).
- `ListServiceSpecificCredentials(AllUsers=true)` once (per user if the endpoint refuses AllUsers).
- `ListOpenIDConnectProviders` + `GetOpenIDConnectProvider` each (roles.py); `ListSecrets` per
  region (secrets.py).
"""

from __future__ import annotations

import asyncio
import functools
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import botocore.exceptions as bx

from connectors.aws import credentials, policies, report, roles, secrets, users
from connectors.aws.actions import with_actions
from connectors.aws.client import (
    AUTH_CODES,
    CREDENTIAL_ERRORS,
    DENIED_CODES,
    GONE_CODES,
    TRANSPORT,
    CredentialsLost,
    Target,
    error_parts,
)
from connectors.base import AuthError, ConnectorError
from nhitui.model import Identity

if TYPE_CHECKING:
    from connectors.aws import AwsConnector

BATCH = 100
Run = Callable[..., Any]


@dataclass
class Account:
    """Per-account scan state (a blind spot per failing endpoint, aggregated over users)."""

    account: str
    label: str
    lost: CredentialsLost | None = None
    failures: dict[str, list[tuple[str, str]]] = field(default_factory=lambda: defaultdict(list))
    produced: int = 0


@dataclass
class AccountScan:
    """What every read of one account shares: its clients, its state, the thread pool and the output."""

    conn: AwsConnector
    state: Account
    profile: str | None
    clients: dict[str, Any]
    run: Run
    queue: asyncio.Queue[list[Identity] | None]

    @property
    def account(self) -> str:
        return self.state.account

    @property
    def source(self) -> str:
        return self.conn.name

    @property
    def iam(self) -> Any:
        return self.clients["iam"]

    def read(self, what: str, fn: Callable[..., Any], *args: Any, permission: str = "", per: str = "",
             regional: bool = False) -> asyncio.Future[Any]:
        """Run one read in the pool; its failure becomes a failure of `what` (None is returned)."""
        return asyncio.ensure_future(self.run(self.guard, what, permission or what, fn, *args, per=per,
                                              regional=regional))

    def guard(self, what: str, permission: str, fn: Callable[..., Any], *args: Any, per: str = "",
              regional: bool = False) -> Any:
        """Run one read; AccessDenied / exhausted retries become a failure of `what`, not an empty list.

        An authentication error loses the whole account, except in a regional call: a region not
        enabled for the account answers UnrecognizedClientException to valid credentials.
        """
        state = self.state
        if state.lost is not None:
            return None
        try:
            return self.conn._retry_unparseable(fn, *args)
        except bx.ClientError as exc:
            code, msg, status = error_parts(exc)
            if code in AUTH_CODES and regional:
                state.failures[what].append((per, f"{code}: {msg} (is the region enabled for the account?)"))
                return None
            if code in AUTH_CODES:
                state.lost = state.lost or CredentialsLost(code, msg)
                return None
            if code in GONE_CODES and per:
                return None             # the user vanished between two calls: nothing to list
            if code in DENIED_CODES:
                reason = f"{code}: needs {permission}" + (f" ({msg})" if msg else "")
            else:
                reason = f"{code}" + (f" (HTTP {status})" if status else "") + (f": {msg}" if msg else "")
            state.failures[what].append((per, reason))
        except CREDENTIAL_ERRORS as exc:
            state.lost = state.lost or CredentialsLost(type(exc).__name__, error_parts(exc)[1])
        except (*TRANSPORT, ValueError) as exc:
            code, msg, _ = error_parts(exc)
            state.failures[what].append((per, f"{code}: {msg}"))
        return None

    async def emit(self, items: list[Identity]) -> None:
        """Hand identities to the scan in batches, each with the actions it offers."""
        for i in range(0, len(items), BATCH):
            chunk = [with_actions(x) for x in items[i:i + BATCH]]
            if chunk:
                self.state.produced += len(chunk)
                await self.queue.put(chunk)


async def collect(conn: AwsConnector) -> AsyncIterator[list[Identity]]:
    """Every configured account, concurrently; batches as they are built."""
    loop = asyncio.get_running_loop()
    conn.limiters = []          # the last scan's clients' limiters (a previous scan's are done)
    pool = ThreadPoolExecutor(max_workers=conn.concurrency, thread_name_prefix=f"aws-{conn.name}"[:40])
    queue: asyncio.Queue[list[Identity] | None] = asyncio.Queue()

    async def run(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await loop.run_in_executor(pool, functools.partial(fn, *args, **kwargs))

    outcomes: list[tuple[Target, BaseException | None, Account | None]] = []
    tasks: list[asyncio.Task[Any]] = []
    try:
        targets = await run(conn._targets)
        if not targets:
            raise ConnectorError("no AWS account to scan (the organization lists no active account)")

        async def one(target: Target) -> None:
            state = None
            try:
                state = await scan_account(conn, target, run, queue)
                outcomes.append((target, state.lost if state else None, state))
            except (ConnectorError, CredentialsLost) as exc:
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
        conclude(conn, targets, outcomes, yielded)
    finally:
        for task in tasks:
            task.cancel()
        pool.shutdown(wait=False, cancel_futures=True)
        conn._close_clients("collect")


def conclude(conn: AwsConnector, targets: list[Target],
             outcomes: list[tuple[Target, BaseException | None, Account | None]], yielded: int) -> None:
    """Accounts read, a blind spot per account that failed, and the source's own failure if all did."""
    ok = [s.account for _t, exc, s in outcomes if exc is None and s is not None]
    conn.report.facts["accounts"] = sorted(ok)
    conn.report.facts["account"] = ok[0] if len(ok) == 1 else sorted(ok)
    failures = [(t, exc, s) for t, exc, s in outcomes if exc is not None]
    for target, exc, state in failures:
        who = state.account if state and state.account else target.label
        if isinstance(exc, CredentialsLost) and state is not None and state.produced:
            reason = (f"credentials stopped working mid-scan ({exc.code}: {exc.message}); this account is "
                      "incomplete: refresh the credentials (e.g. `aws sso login`) and scan again")
            conn.report.fail(f"account {who}: {reason}")
        elif isinstance(exc, CredentialsLost):
            reason = f"cannot authenticate ({exc.code}: {exc.message})"
        else:
            reason = str(exc)
        conn.report.blind_spot(f"account {who}", reason)
    if yielded == 0 and failures and len(failures) == len(outcomes):
        reasons = "; ".join(f"{(s.account if s and s.account else t.label)}: {e}" for t, e, s in failures)
        if all(isinstance(e, (CredentialsLost, AuthError)) for _t, e, _s in failures):
            raise AuthError(f"authentication failed: {reasons}"[:800])
        raise ConnectorError(f"no AWS account could be read: {reasons}"[:800])
    if len(targets) == 1 and failures and yielded == 0:
        _t, exc, _s = failures[0]
        if isinstance(exc, (CredentialsLost, AuthError)):
            raise AuthError(f"authentication failed: {exc}")
        raise ConnectorError(str(exc))


async def scan_account(conn: AwsConnector, target: Target, run: Run,
                       queue: asyncio.Queue[list[Identity] | None]) -> Account:
    """One account: roles first, then OIDC providers and secrets, then users as each completes."""
    account, session = await run(conn._open, target)
    clients = await run(conn._clients_for, session)
    scan = AccountScan(conn=conn, state=Account(account=account, label=target.label), profile=target.profile,
                       clients=clients, run=run, queue=queue)
    state = scan.state
    # Everything independent starts at once.
    authz_t = scan.read("iam:GetAccountAuthorizationDetails", roles.authorization_details, scan.iam)
    users_t = scan.read("iam:ListUsers", users.list_users, scan.iam)
    report_t = asyncio.ensure_future(run(report.credential_report, conn, scan.iam, state))
    oidc_t = asyncio.ensure_future(roles.oidc_providers(scan))
    secrets_t = [scan.read(f"secretsmanager:ListSecrets ({region})", secrets.list_secrets,
                           clients[f"secretsmanager:{region}"], permission="secretsmanager:ListSecrets", regional=True)
                 for region in conn.regions]
    ssc_t = scan.read("iam:ListServiceSpecificCredentials", credentials.list_ssc_all, scan.iam)
    user_tasks: list[asyncio.Future[list[Identity]]] = []
    try:
        authz = await authz_t
        if state.lost and authz is None:
            raise state.lost
        privileges: dict[str, str] = {}
        role_rows: list[Identity] = []
        if authz is not None:
            privileges = await policies.policy_privileges(scan, authz)
            role_rows = [roles.role(scan.source, r, account, privileges, scan.profile) for r in authz["roles"]]
            user_list = authz["users"]
        else:
            user_list = [{"UserName": u["UserName"], "Arn": u["Arn"], "Path": u.get("Path", "/"),
                          "CreateDate": u.get("CreateDate")} for u in await users_t or []]
        groups = {g["GroupName"]: g for g in (authz or {}).get("groups", [])}
        # The per-user calls are most of the work: start them now, report and lists join later.
        joins = users.Joins(users=users_t, service_credentials=ssc_t, report=report_t)
        user_tasks = [asyncio.ensure_future(users.collect_user(scan, u, groups, privileges, joins)) for u in user_list]
        await scan.emit(role_rows)
        providers = await oidc_t
        trusted_by = roles.trusted_by(role_rows)
        await scan.emit([roles.oidc_provider(scan.source, p, account, trusted_by, scan.profile)
                         for p in providers or []])
        for region, task in zip(conn.regions, secrets_t):
            await scan.emit([secrets.secret(scan.source, s, account, region, scan.profile) for s in await task or []])
        pending: list[Identity] = []
        for fut in asyncio.as_completed(user_tasks):
            pending.extend(await fut)
            if len(pending) >= BATCH:
                await scan.emit(pending)
                pending = []
        await scan.emit(pending)
    finally:
        for t in (authz_t, users_t, report_t, oidc_t, ssc_t, *secrets_t, *user_tasks):
            if not t.done():
                t.cancel()
    for what, fails in state.failures.items():
        per = [p for p, _ in fails if p]
        reason = fails[0][1]
        if per:
            reason = f"failed for {len(per)} user(s) (e.g. {per[0]}): {reason}"
        conn.report.blind_spot(f"{account}: {what}", reason)
    if state.lost is not None and state.produced == 0:
        raise state.lost
    return state
