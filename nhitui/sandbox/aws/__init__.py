"""The AWS part of the sandbox: moto's ThreadedMotoServer, seeded through boto3 like a real account.

- The server binds 127.0.0.1 and port 0: the kernel picks a free ephemeral port at bind time and
  the server reports it, so there is no window in which another process can take a port we picked.
- moto keeps its state per process, so one `AwsFake` runs at a time; `start()` and `stop()` reset
  moto. AWS managed policies (AdministratorAccess, ReadOnlyAccess...) are loaded so that attaching
  them works as in a real account.
- A small WSGI front sits between the HTTP server and moto. It counts calls per (service, action),
  checks that the request is signed with a key the account knows (unknown or inactive key:
  `InvalidClientTokenId`, as AWS answers), applies the fault knobs in AWS's own error shapes
  (`Throttling: Rate exceeded`, `InternalFailure`, `ServiceUnavailable`), answers `AccessDenied` for
  denied actions (`deny`), can expire credentials mid-scan (`expire_after`), and implements the
  IAM service-specific-credential actions moto lacks.
- werkzeug logs every request to stderr: that logger is silenced (it would scribble over the TUI).

What moto cannot fake, so the ground truth says what really happens:
- moto stamps every creation "now" and records key/role use "now" (on the first request signed
  with the key or the assumed-role credentials). "Used 200 days ago" and "created 400 days ago"
  cannot be planted, so the AWS demo shows never-used keys (no signed request) next to keys used
  minutes ago, and no staleness finding fires on AWS until a key really ages.
- `LastAccessedDate` of secrets is never returned; `RoleLastUsed` has no Region.
- The credential report's `GeneratedTime` is fixed at 2015-02-02.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import random
import struct
import threading
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

from nhitui.sandbox.server import FaultDice, Knobs, drop_connection
from nhitui.sandbox.world import World

logging.getLogger("werkzeug").setLevel(logging.CRITICAL)
logging.getLogger("werkzeug").disabled = True

DEFAULT_ACCOUNT = "123456789012"
REGIONS = ("us-east-1", "eu-west-1")
ACCESS_KEY = "testing"
SECRET_KEY = "testing"
READONLY_KEY = "readonly"
GITHUB_HOST = "token.actions.githubusercontent.com"
GITLAB_HOST = "gitlab.com"
GITLAB_SELF = "gitlab.acme.internal"
READ_PREFIXES = ("Get", "List", "Describe", "Generate", "AssumeRole", "Head")
IAM_NS = "https://iam.amazonaws.com/doc/2010-05-08/"
ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
READONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"
POWERUSER = "arn:aws:iam::aws:policy/PowerUserAccess"

_ACTIVE_LOCK = threading.Lock()
_ACTIVE: list[AwsFake] = []


# --- the plan: what the world's AWS account holds (pure, deterministic) -----------------------------

def _doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def _allow(actions: Any, resource: Any = "*") -> dict[str, Any]:
    return {"Effect": "Allow", "Action": actions, "Resource": resource}


DEPLOY = _doc(_allow(["s3:PutObject", "s3:GetObject", "ecr:PutImage", "ecs:UpdateService"]))
READ_S3 = _doc(_allow(["s3:Get*", "s3:List*"]))
S3_ALL = _doc(_allow("s3:*", "arn:aws:s3:::acme-data/*"))
ALL = _doc(_allow("*"))
LOGS = _doc(_allow(["logs:CreateLogStream", "logs:PutLogEvents"]))


@dataclass
class KeyPlan:
    use: tuple[str, str] | None      # (service, region) of the signed request, or None: never used
    inactive: bool = False


@dataclass
class UserPlan:
    name: str
    path: str = "/"
    tags: dict[str, str] = field(default_factory=dict)
    managed: list[str] = field(default_factory=list)
    inline: dict[str, dict[str, Any]] = field(default_factory=dict)
    groups: list[str] = field(default_factory=list)
    console: bool = False
    keys: list[KeyPlan] = field(default_factory=list)
    ssh: list[bool] = field(default_factory=list)            # active?
    certs: list[tuple[bool, int]] = field(default_factory=list)   # (active, days of validity left)
    service_creds: list[tuple[str, bool]] = field(default_factory=list)  # (service, active)
    privilege: str = "none"
    scopes: tuple[str, ...] = ()


@dataclass
class RolePlan:
    name: str
    trust: dict[str, Any] | None          # None: a service-linked role (AWS writes its trust)
    managed: list[str] = field(default_factory=list)
    inline: dict[str, dict[str, Any]] = field(default_factory=dict)
    description: str = ""
    used: bool = False
    findings: set[str] = field(default_factory=set)
    credential: str = "ephemeral"
    trusts: list[dict[str, Any]] = field(default_factory=list)   # expected provider/host/repos/refs/flags
    privilege: str = "none"
    scopes: tuple[str, ...] = ()
    service_linked: bool = False


@dataclass
class SecretPlan:
    name: str
    region: str
    rotation_days: int = 0
    description: str = ""
    deleted: bool = False


GROUPS = {"deployers": [POWERUSER]}
MANAGED_PRIVILEGE = {ADMIN: "admin", READONLY: "read", POWERUSER: "write"}


def _policy_name(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


def _inline_privilege(doc: dict[str, Any]) -> str:
    """The privilege of the handful of documents the plan uses (the connector computes it generally)."""
    if doc is ALL:
        return "admin"
    if doc is READ_S3:
        return "read"
    return "write"


def _rank(p: str) -> int:
    return ("none", "read", "write", "admin").index(p)


def _finish_user(u: UserPlan) -> UserPlan:
    privs = [MANAGED_PRIVILEGE[a] for a in u.managed] + [_inline_privilege(d) for d in u.inline.values()]
    privs += [MANAGED_PRIVILEGE[a] for g in u.groups for a in GROUPS[g]]
    u.privilege = max(privs, key=_rank, default="none")
    u.scopes = tuple(sorted(_policy_name(a) for a in u.managed)) + tuple(
        f"inline:{n}" for n in sorted(u.inline)) + tuple(
        f"group:{g}/{_policy_name(a)}" for g in sorted(u.groups) for a in GROUPS[g])
    return u


def _finish_role(r: RolePlan) -> RolePlan:
    privs = [MANAGED_PRIVILEGE[a] for a in r.managed] + [_inline_privilege(d) for d in r.inline.values()]
    r.privilege = max(privs, key=_rank, default="none")
    r.scopes = tuple(sorted(_policy_name(a) for a in r.managed)) + tuple(f"inline:{n}" for n in sorted(r.inline))
    if r.privilege == "admin":
        r.findings.add("admin-scope")
    return r


def plan_users(world: World) -> list[UserPlan]:
    """IAM users, their policies and credentials, deterministic under the world's seed."""
    org = world.org
    shorts = [r.split("/", 1)[1] for r in world.repo_names()] or ["api"]
    specials = [
        UserPlan("ci-api", "/ci/", {"repo": f"{org}/api", "team": "platform"}, inline={"deploy-api": DEPLOY},
                 ssh=[True], service_creds=[("codecommit.amazonaws.com", True)]),
        UserPlan("admin-bootstrap", "/", {"owner": "alice"}, managed=[ADMIN], console=True, certs=[(True, 200)]),
        UserPlan("ci-infra", "/ci/", {"repo": f"{org}/infra", "team": "infra"}, inline={"everything": ALL}),
        UserPlan("=1+2", "/", {"note": "formula-probe"}, managed=[READONLY], console=True),
        UserPlan("svc-reports", "/service/", {"team": "data"}, managed=[READONLY]),
    ]
    users: list[UserPlan] = []
    used_names: set[str] = set()
    for i in range(world.iam_users):
        if i < len(specials):
            u = specials[i]
        else:
            short = shorts[i % len(shorts)]
            t = i % 6
            if t == 0:
                u = UserPlan(f"ci-{short}", "/ci/", {"repo": f"{org}/{short}", "team": "platform"},
                             inline={f"deploy-{short}": DEPLOY})
            elif t == 1:
                u = UserPlan(f"svc-{short}", "/service/", {"team": "data"}, managed=[READONLY])
            elif t == 2:
                u = UserPlan(f"deploy-{short}", "/", {"team": "release"}, groups=["deployers"], ssh=[i % 4 != 0])
            elif t == 3:
                u = UserPlan(f"legacy-{short}", "/", {}, console=True, certs=[(i % 9 != 3, 30 + i)])
            elif t == 4:
                u = UserPlan(f"bot-{short}", "/bots/", {"team": "platform"}, inline={"read-artifacts": READ_S3},
                             service_creds=[("codecommit.amazonaws.com", i % 8 != 4)])
            else:
                u = UserPlan(f"etl-{short}", "/", {"repo": f"{org}/{short}", "team": "data"},
                             inline={"data-lake": S3_ALL})
        if u.name in used_names:
            u.name = f"{u.name}-{i}"
        used_names.add(u.name)
        users.append(u)
    # Access keys: one per user first, then a second one (IAM allows two per user).
    total = min(world.access_keys, 2 * len(users))
    uses = (("sts", "us-east-1"), ("iam", "us-east-1"), None, ("sts", "eu-west-1"), None, ("sts", "us-east-1"))
    for j in range(total):
        u = users[j % len(users)] if users else None
        if u is None:
            break
        use = uses[j % len(uses)]
        u.keys.append(KeyPlan(use=use, inactive=(j % 6 == 5) or (j % 10 == 9)))
    return [_finish_user(u) for u in users]


def _oidc(host: str, account: str, condition: dict[str, Any] | None, action: str = "sts:AssumeRoleWithWebIdentity",
          ) -> dict[str, Any]:
    st: dict[str, Any] = {"Effect": "Allow", "Principal": {"Federated": f"arn:aws:iam::{account}:oidc-provider/{host}"},
                          "Action": action}
    if condition is not None:
        st["Condition"] = condition
    return _doc(st)


def _trust_truth(provider: str, host: str, repos: list[str], refs: list[str], wildcard: bool = False,
                 no_sub: bool = False, aud_only: bool = False) -> dict[str, Any]:
    return {"provider": provider, "host": host, "repos": repos, "refs": refs, "wildcard_sub": wildcard,
            "no_sub": no_sub, "aud_only": aud_only}


def plan_roles(world: World) -> list[RolePlan]:
    acct, org = world.aws_account, world.org
    aud = {f"{GITHUB_HOST}:aud": "sts.amazonaws.com"}
    gh = GITHUB_HOST
    paths = world.project_paths()
    gl_project = paths[2] if len(paths) > 2 else f"{org}/platform/deploy"
    shorts = [r.split("/", 1)[1] for r in world.repo_names()] or ["api"]
    printable = [h for h in (world.hostile(i) for i in range(13))
                 if all(ch in "\t\n\r" or 0x20 <= ord(ch) <= 0x7E or 0xA1 <= ord(ch) <= 0xFF for ch in h)]
    specials = [
        RolePlan("gha-api-deploy", _oidc(gh, acct, {"StringEquals": {
            **aud, f"{gh}:sub": f"repo:{org}/api:ref:refs/heads/main"}}), inline={"deploy": DEPLOY}, used=True,
            credential="federated", trusts=[_trust_truth("github", gh, [f"{org}/api"], ["refs/heads/main"])]),
        RolePlan("gha-web-production", _oidc(gh, acct, {"StringEquals": {
            **aud, f"{gh}:sub": f"repo:{org}/web:environment:production"}}), inline={"deploy": DEPLOY},
            credential="federated",
            trusts=[_trust_truth("github", gh, [f"{org}/web"], ["environment:production"])]),
        RolePlan("gha-org-wildcard", _oidc(gh, acct, {"StringLike": {f"{gh}:sub": f"repo:{org}/*"},
                                                      "StringEquals": aud}),
                 managed=[READONLY], credential="federated", findings={"oidc-wildcard-sub"},
                 trusts=[_trust_truth("github", gh, [f"{org}/*"], ["*"], wildcard=True)]),
        RolePlan("gha-no-sub", _oidc(gh, acct, None), inline={"artifacts": S3_ALL}, credential="federated",
                 findings={"oidc-no-sub"}, trusts=[_trust_truth("github", gh, ["*"], ["*"], no_sub=True)]),
        RolePlan("gha-aud-only", _oidc(gh, acct, {"StringEquals": aud}), managed=[POWERUSER],
                 credential="federated", findings={"oidc-aud-only"},
                 trusts=[_trust_truth("github", gh, ["*"], ["*"], aud_only=True)]),
        RolePlan("gitlab-deploy", _oidc(GITLAB_HOST, acct, {"StringEquals": {
            f"{GITLAB_HOST}:aud": "https://gitlab.com",
            f"{GITLAB_HOST}:sub": f"project_path:{gl_project}:ref_type:branch:ref:main"}}),
            inline={"deploy": DEPLOY}, credential="federated",
            trusts=[_trust_truth("gitlab", GITLAB_HOST, [gl_project], ["refs/heads/main"])]),
        RolePlan("gitlab-release", _oidc(GITLAB_SELF, acct, {"StringLike": {
            f"{GITLAB_SELF}:sub": f"project_path:{org}/apps/*:ref_type:tag:ref:v*"}}),
            inline={"release": DEPLOY}, credential="federated", findings={"oidc-wildcard-sub"},
            trusts=[_trust_truth("gitlab", GITLAB_SELF, [f"{org}/apps/*"], ["refs/tags/v*"], wildcard=True)]),
        RolePlan("OrganizationAdmin", _doc({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{acct}:root"},
                                            "Action": "sts:AssumeRole"}), managed=[ADMIN], used=True,
                 description=printable[0] if printable else "admin"),
        RolePlan("AWSServiceRoleForElasticBeanstalk", None, service_linked=True),
        RolePlan("lambda-exec", _doc({"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                                      "Action": "sts:AssumeRole"}), inline={"logs": LOGS}, used=True),
    ]
    roles: list[RolePlan] = []
    for k in range(world.roles):
        if k < len(specials):
            r = specials[k]
        else:
            short = shorts[k % len(shorts)]
            desc = printable[k % len(printable)] if printable and k % 4 == 0 else ""
            if k % 5 == 0:
                r = RolePlan(f"gha-{short}-release-{k}", _oidc(gh, acct, {"ForAnyValue:StringLike": {
                    f"{gh}:sub": [f"repo:{org}/{short}:ref:refs/tags/v*"]}, "StringEquals": aud}),
                    inline={"release": DEPLOY}, credential="federated", description=desc,
                    trusts=[_trust_truth("github", gh, [f"{org}/{short}"], ["refs/tags/v*"])])
            elif k % 2 == 0:
                r = RolePlan(f"gha-{short}-deploy-{k}", _oidc(gh, acct, {"StringEquals": {**aud, f"{gh}:sub": [
                    f"repo:{org}/{short}:ref:refs/heads/main", f"repo:{org}/{short}:environment:production"]}}),
                    inline={"deploy": DEPLOY}, credential="federated", description=desc,
                    trusts=[_trust_truth("github", gh, [f"{org}/{short}"],
                                         ["refs/heads/main", "environment:production"])])
            else:
                r = RolePlan(f"ecs-task-{short}-{k}", _doc({"Effect": "Allow",
                                                             "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                                                             "Action": "sts:AssumeRole"}),
                             managed=[READONLY] if k % 3 == 0 else [], inline={} if k % 3 == 0 else {"data": S3_ALL},
                             description=desc)
        roles.append(_finish_role(r))
    return roles


def plan_secrets(world: World) -> list[SecretPlan]:
    shorts = [r.split("/", 1)[1] for r in world.repo_names()] or ["api"]
    secrets = [
        SecretPlan("prod/db/password", "us-east-1", rotation_days=30),
        SecretPlan("ci/npm-token", "us-east-1", description=world.hostile(4)),
        SecretPlan("legacy/stripe-api-key", "us-east-1", description=world.hostile(0)),
        SecretPlan("old/unused-token", "us-east-1", deleted=True),
        SecretPlan("eu/app/api-key", "eu-west-1", rotation_days=90),
        SecretPlan("eu/reporting/db", "eu-west-1"),
    ]
    for i in range(world.iam_users // 10):
        secrets.append(SecretPlan(f"app/{shorts[i % len(shorts)]}-{i}/token", REGIONS[i % 2],
                                  rotation_days=60 if i % 3 == 0 else 0))
    return secrets


# --- comparing a scan with the ground truth --------------------------------------------------------

# moto stamps "now" with sub-second precision while seeding runs: times compare within this margin.
TIME_TOLERANCE = timedelta(minutes=3)


def _same_time(got: Any, want: Any, tolerance: timedelta) -> bool:
    from nhitui.model import utc

    if got is None or want is None:
        return got is None and want is None
    g, w = utc(got), utc(want)
    return g is not None and w is not None and abs(g - w) <= tolerance


def ground_truth_diff(identities: Iterable[Any], world: World, source: str) -> list[str]:
    """Every difference between a scan and what the fake seeded, field by field (empty: identical)."""
    got = {i.uid: i for i in identities}
    expected = {f"{source}:{e.kind}:{e.native_id}": e for e in world.expected_for("aws")}
    problems = [f"missing {uid}" for uid in expected if uid not in got]
    problems += [f"unexpected {uid}" for uid in got if uid not in expected]
    for uid, exp in expected.items():
        ident = got.get(uid)
        if ident is None:
            continue
        for key, want in exp.fields.items():
            value = getattr(ident, key) if key in ident.__dataclass_fields__ else ident.details.get(key, "<absent>")
            if key in ("created_at", "last_used_at", "rotated_at"):
                ok = _same_time(value, want, TIME_TOLERANCE)
            elif key == "expires_at":
                ok = _same_time(value, want, timedelta(seconds=2))
            elif key == "trusts":
                ok = len(value) == len(want) and all(
                    all((list(g[k]) if isinstance(g[k], (list, tuple)) else g[k]) == v for k, v in w.items())
                    for g, w in zip(value, want))
            elif isinstance(want, (list, tuple)):
                ok = tuple(value) == tuple(want)
            else:
                ok = value == want
            if not ok:
                problems.append(f"{exp.kind} {ident.name}: {key} = {value!r}, want {want!r}")
    return problems


# --- key material for seeding (never a real credential) --------------------------------------------

def _ssh_body(rng: random.Random, comment: str) -> str:
    """A syntactically valid ssh-rsa public key (random 2048-bit odd modulus: parses, signs nothing)."""
    def mpint(n: int) -> bytes:
        raw = n.to_bytes((n.bit_length() + 8) // 8, "big")
        return struct.pack(">I", len(raw)) + raw

    n = rng.getrandbits(2048) | (1 << 2047) | 1
    blob = struct.pack(">I", 7) + b"ssh-rsa" + mpint(65537) + mpint(n)
    return f"ssh-rsa {base64.b64encode(blob).decode()} {comment}"


_CERT_KEY: Any = None
_CERT_LOCK = threading.Lock()


def _cert_body(user: str, serial: int, not_after: datetime) -> str:
    """A self-signed X.509 certificate in PEM (IAM validates the format)."""
    global _CERT_KEY
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    with _CERT_LOCK:
        if _CERT_KEY is None:
            _CERT_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, user), x509.NameAttribute(NameOID.ORGANIZATION_NAME,
                                                                                       "acme")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(_CERT_KEY.public_key())
            .serial_number(serial + 1).not_valid_before(not_after - timedelta(days=400))
            .not_valid_after(not_after).sign(_CERT_KEY, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


# --- the WSGI front -----------------------------------------------------------------------------------

def _iam_backend(account: str) -> Any:
    from moto.iam.models import iam_backends

    return iam_backends[account]["aws"]


def _find_key(access_key: str) -> tuple[str | None, Any]:
    """(account, moto AccessKey) of a key moto knows, across accounts; (None, None) if unknown."""
    from moto.iam.models import iam_backends

    for account, parts in list(iam_backends.items()):
        backend = dict.get(parts, "aws")   # never instantiate a backend just to look
        if backend is None:
            continue
        key = backend.access_keys.get(access_key)
        if key is not None:
            return account, key
    return None, None


_MANAGED_DATA: dict[str, Any] | None = None


def load_managed_policies(account: str) -> None:
    """Give an account the AWS managed policies (AdministratorAccess...) a real account has.

    moto's own switch (`iam.load_aws_managed_policies`) builds all 1,582 of them for every account
    and every partition it touches (about a second per scan of a new account); this builds them once
    per account, in the `aws` partition only, exactly as that switch would.
    """
    global _MANAGED_DATA
    from moto.iam.models import AWSManagedPolicy, aws_managed_policies_data, iam_backends

    backend = iam_backends[account]["aws"]
    if backend.aws_managed_policies:
        return
    if _MANAGED_DATA is None:
        _MANAGED_DATA = json.loads(aws_managed_policies_data)
    policies = [AWSManagedPolicy.from_data(name, account, backend.region_name, data)
                for name, data in _MANAGED_DATA.items()]
    backend.aws_managed_policies = policies
    backend.managed_policies.update({p.arn: p for p in policies})


def _now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


SEEDER_HEADER = "x-nhitui-seeder"
SEEDER_ENVIRON = "HTTP_X_NHITUI_SEEDER"


def _mark_seeder(request: Any, **_: Any) -> None:
    """Requests of the fake's own clients pass the front's gate while seeding runs."""
    request.headers[SEEDER_HEADER] = "1"


class _Front(FaultDice):
    """WSGI middleware between werkzeug's server and moto (see the module docstring)."""

    def __init__(self, app: Any, fake: AwsFake) -> None:
        self.app = app
        self.fake = fake
        super().__init__(fake.knobs)
        # Service-specific credentials (moto has none): account -> id -> fields.
        self.ssc: dict[str, dict[str, dict[str, Any]]] = {}

    @property
    def knobs(self) -> Knobs:   # type: ignore[override]
        """The fake's knobs, read live: tests change them between cases."""
        return self.fake.knobs

    def __call__(self, environ: dict, start_response: Any) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/moto-api"):
            return self.app(environ, start_response)
        if not self.fake.ready.is_set() and environ.get(SEEDER_ENVIRON) != "1":
            self.fake.ready.wait(300)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        auth = environ.get("HTTP_AUTHORIZATION", "")
        akid, service = "", ""
        if "Credential=" in auth:
            scope = auth.split("Credential=", 1)[1].split(",", 1)[0].split("/")
            if len(scope) >= 4:
                akid, service = scope[0], scope[3]
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        json_protocol = bool(target)
        params: dict[str, str] = {}
        if target:
            action = target.rsplit(".", 1)[-1]
        else:
            form = parse_qs(body.decode("utf-8", "replace")) if body else parse_qs(environ.get("QUERY_STRING", ""))
            params = {k: v[0] for k, v in form.items()}
            action = params.get("Action", "")
        with self._lock:
            self.calls[(service, action)] += 1
        fake = self.fake
        seeding = fake.seeding
        account = environ.get("HTTP_X_MOTO_ACCOUNT_ID") or ""
        err = self._error_for(json_protocol, service)

        if not seeding:
            if fake.knobs.latency:
                time.sleep(fake.knobs.latency)
            with self._lock:
                expiring = fake._expire_after is not None
                if expiring:
                    fake._expire_after -= 1
                expired = expiring and fake._expire_after < 0
            if expired or akid in fake.expired_keys:
                return err(start_response, 403 if not json_protocol else 400,
                           "ExpiredTokenException" if json_protocol else "ExpiredToken",
                           "The security token included in the request is expired")
        key_account, key = (None, None)
        if akid and akid not in (fake.access_key, fake.readonly_key):
            key_account, key = _find_key(akid)
            if key is None or getattr(key, "status", "Active") != "Active":
                return err(start_response, 403 if not json_protocol else 400,
                           "UnrecognizedClientException" if json_protocol else "InvalidClientTokenId",
                           "The security token included in the request is invalid.")
        elif not akid:
            return err(start_response, 403, "MissingAuthenticationToken", "Request is missing Authentication Token")
        account = account or key_account or DEFAULT_ACCOUNT

        mutating = not action.startswith(READ_PREFIXES) and action not in ("GetCallerIdentity",)
        denied_target = account
        if action == "AssumeRole":
            parts = params.get("RoleArn", "").split(":")
            denied_target = parts[4] if len(parts) > 4 else account
        rule = f"{service}:{action}"
        if not seeding and (rule in fake.deny or f"{rule}@{denied_target}" in fake.deny
                            or (akid == fake.readonly_key and mutating)):
            who = f"arn:aws:iam::{account}:user/nhitui-auditor"
            return err(start_response, 403 if not json_protocol else 400,
                       "AccessDeniedException" if json_protocol else "AccessDenied",
                       f"User: {who} is not authorized to perform: {rule} because no identity-based policy "
                       f"allows the {rule} action")

        broken = fake.fail.get(rule) if not seeding else None
        if broken:
            if broken == 503:
                return err(start_response, 503, "ServiceUnavailable", "Service is unavailable", kind="Receiver")
            return err(start_response, broken, "InternalFailure", "We encountered an internal error. Please try again.",
                       kind="Receiver")
        if not seeding and (not mutating or fake.knobs.writes_faulty):
            fault = self._fault(start_response, err, json_protocol, environ)
            if fault is not None:
                return fault

        if service == "iam" and action.endswith("ServiceSpecificCredential") or \
                action == "ListServiceSpecificCredentials":
            return self._ssc(start_response, err, account, action, params)

        if not seeding and not mutating and self._take("truncated", self.fake.knobs.truncate_rate):
            return self._truncated(environ, start_response)
        return self.app(environ, start_response)

    # --- faults in AWS's shapes --------------------------------------------------------------------

    def _fault(self, start_response: Any, err: Any, json_protocol: bool,
               environ: dict | None = None) -> Iterable[bytes] | None:
        k = self.fake.knobs
        if self._take("hang", k.hang_rate):
            self.stopping.wait(k.hang_seconds)
        if self._take("reset", k.reset_rate):
            drop_connection(environ or {})
        if self._take("", k.error_rate):
            code = k.error_status or (503 if self._roll() < 0.5 else 500)
            self.faults[str(code)] += 1
            if code == 503:
                return err(start_response, 503, "ServiceUnavailable", "Service is unavailable", kind="Receiver")
            return err(start_response, code, "InternalFailure",
                       "We encountered an internal error. Please try again.", kind="Receiver")
        if self._take("html", k.html_error_rate):
            body = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
            start_response("502 Bad Gateway", [("Content-Type", "text/html"), ("Content-Length", str(len(body)))])
            return [body]
        with self._lock:
            if self.fake._throttle_after > 0:
                self.fake._throttle_after -= 1
                forced = False
            else:
                forced = self.fake._throttle_next > 0
                if forced:
                    self.fake._throttle_next -= 1
            if forced:
                self.faults["throttle"] += 1
        if forced or self._take("throttle", k.throttle_rate):
            return err(start_response, 400, "ThrottlingException" if json_protocol else "Throttling",
                       "Rate exceeded")
        if self._take("empty", k.empty_rate):
            start_response("200 OK", [("Content-Type", "text/xml"), ("Content-Length", "0")])
            return [b""]
        return None

    def _truncated(self, environ: dict, start_response: Any) -> Iterable[bytes]:
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list, exc_info: Any = None) -> Any:
            captured["status"], captured["headers"] = status, headers
            return lambda _data: None

        body = b"".join(self.app(environ, capture))
        status = captured.get("status", "200 OK")
        headers = [(h, v) for h, v in captured.get("headers", []) if h.lower() != "content-length"]
        if status.startswith("200") and len(body) > 2:
            body = body[: len(body) // 2]
        headers.append(("Content-Length", str(len(body))))
        start_response(status, headers)
        return [body]

    @staticmethod
    def _error_for(json_protocol: bool, service: str) -> Any:
        def query_error(start_response: Any, status: int, code: str, message: str, kind: str = "Sender") -> list:
            ns = IAM_NS if service == "iam" else f"https://{service or 'iam'}.amazonaws.com/doc/"
            body = (f'<ErrorResponse xmlns="{ns}"><Error><Type>{kind}</Type><Code>{escape(code)}</Code>'
                    f"<Message>{escape(message)}</Message></Error><RequestId>{uuid.uuid4()}</RequestId>"
                    "</ErrorResponse>").encode()
            start_response(f"{status} {_REASONS.get(status, 'Error')}",
                           [("Content-Type", "text/xml"), ("Content-Length", str(len(body))),
                            ("x-amzn-RequestId", str(uuid.uuid4()))])
            return [body]

        def json_error(start_response: Any, status: int, code: str, message: str, kind: str = "Sender") -> list:
            body = json.dumps({"__type": code, "message": message}).encode()
            start_response(f"{status} {_REASONS.get(status, 'Error')}",
                           [("Content-Type", "application/x-amz-json-1.1"), ("Content-Length", str(len(body))),
                            ("x-amzn-ErrorType", code), ("x-amzn-RequestId", str(uuid.uuid4()))])
            return [body]

        return json_error if json_protocol else query_error

    # --- IAM service-specific credentials (not implemented by moto) ---------------------------------

    def _ssc(self, start_response: Any, err: Any, account: str, action: str, p: dict[str, str]) -> Iterable[bytes]:
        store = self.ssc.setdefault(account, {})
        backend = _iam_backend(account)
        user = p.get("UserName", "")
        if user and user not in backend.users:
            return err(start_response, 404, "NoSuchEntity", f"The user with name {user} cannot be found.")
        if action == "CreateServiceSpecificCredential":
            service = p.get("ServiceName", "")
            cred_id = "ACCA" + "".join(random.Random(uuid.uuid4().int).choices("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567",
                                                                                k=17))
            item = {"UserName": user, "Status": "Active", "ServiceName": service,
                    "ServiceUserName": f"{user}-at-{account}", "CreateDate": _now_iso(),
                    "ServiceSpecificCredentialId": cred_id}
            with self._lock:
                store[cred_id] = item
            password = base64.b64encode(uuid.uuid4().bytes).decode()   # shown once, never kept
            inner = _xml_member(item, extra={"ServicePassword": password})
            return _xml_ok(start_response, action, f"<ServiceSpecificCredential>{inner}</ServiceSpecificCredential>")
        if action == "ListServiceSpecificCredentials":
            if p.get("AllUsers", "").lower() == "true" and user:
                return err(start_response, 400, "InvalidInput", "AllUsers cannot be used with UserName")
            items = [v for v in store.values()
                     if (p.get("AllUsers", "").lower() == "true" or v["UserName"] == (user or "nhitui-auditor"))
                     and (not p.get("ServiceName") or v["ServiceName"] == p["ServiceName"])]
            items.sort(key=lambda v: v["ServiceSpecificCredentialId"])
            page = int(p.get("MaxItems") or self.fake.knobs.page_size or 100)
            start = int(p.get("Marker") or 0)
            chunk = items[start:start + page]
            truncated = start + page < len(items)
            members = "".join(f"<member>{_xml_member(v)}</member>" for v in chunk)
            marker = f"<Marker>{start + page}</Marker>" if truncated else ""
            return _xml_ok(start_response, action, f"<ServiceSpecificCredentials>{members}</ServiceSpecificCredentials>"
                                                   f"<IsTruncated>{str(truncated).lower()}</IsTruncated>{marker}")
        cred_id = p.get("ServiceSpecificCredentialId", "")
        item = store.get(cred_id)
        if item is None or (user and item["UserName"] != user):
            return err(start_response, 404, "NoSuchEntity",
                       f"No such ServiceSpecificCredential: {escape(cred_id)}")
        if action == "UpdateServiceSpecificCredential":
            if p.get("Status") not in ("Active", "Inactive"):
                return err(start_response, 400, "ValidationError", "Status must be Active or Inactive")
            item["Status"] = p["Status"]
            return _xml_ok(start_response, action, "")
        if action == "DeleteServiceSpecificCredential":
            with self._lock:
                store.pop(cred_id, None)
            return _xml_ok(start_response, action, "")
        return err(start_response, 400, "InvalidAction", f"{action} is not supported by the sandbox")


_REASONS = {400: "Bad Request", 403: "Forbidden", 404: "Not Found", 500: "Internal Server Error",
            503: "Service Unavailable"}


def _xml_member(item: dict[str, Any], extra: dict[str, str] | None = None) -> str:
    fields = {**item, **(extra or {})}
    return "".join(f"<{k}>{escape(str(v))}</{k}>" for k, v in fields.items() if v is not None)


def _xml_ok(start_response: Any, action: str, inner: str) -> list[bytes]:
    result = f"<{action}Result>{inner}</{action}Result>" if inner else ""
    body = (f'<{action}Response xmlns="{IAM_NS}">{result}<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId>'
            f"</ResponseMetadata></{action}Response>").encode()
    start_response("200 OK", [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))])
    return [body]


# --- the server -------------------------------------------------------------------------------------

def _moto_server_class() -> Any:
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from moto.server import ThreadedMotoServer
    from werkzeug.serving import make_server

    class FrontedMotoServer(ThreadedMotoServer):
        """ThreadedMotoServer on port 0 behind our front, that frees its socket on stop()."""

        def __init__(self, wrap: Any) -> None:
            super().__init__("127.0.0.1", 0, verbose=False)
            self._wrap = wrap
            self.error: BaseException | None = None

        def _server_entry(self) -> None:
            try:
                app = self._wrap(DomainDispatcherApplication(create_backend_app))
                self._server = make_server(self._ip_address, self._port, app, True,
                                           request_handler=MotoRequestHandler)
                self._server.daemon_threads = True
            except BaseException as exc:  # noqa: BLE001 - reported by start()
                self.error = exc
                self._server_ready_event.set()
                return
            self._server_ready_event.set()
            self._server.serve_forever(poll_interval=0.05)

        def start(self) -> None:
            super().start()
            if self.error is not None:
                raise self.error

        def stop(self) -> None:
            self._server_ready_event.clear()
            if self._server is not None:
                self._server.shutdown()
                self._server.server_close()
            if self._thread is not None:
                self._thread.join(timeout=5)
            self._server = None
            self._thread = None

    return FrontedMotoServer


class AwsFake:
    """moto, seeded from the World; `source(name)` is the [[source]] table pointing the connector at it.

    - `deny`: "service:Action" or "service:Action@<account>" entries answering AccessDenied
      (for sts:AssumeRole the account is the role's).
    - `readonly_key`: an access key id (any secret) that may read but is denied every write.
    - `fail`: {"service:Action": 500 or 503} answered on every call (an endpoint down for good).
    - `throttle_next(n)`: the next n reads answer `Throttling: Rate exceeded` (besides `knobs.throttle_rate`).
    - `expired_keys`: access key ids whose requests answer ExpiredToken; `expire_after(n)` expires
      every credential after n more requests (credentials expiring mid-scan).
    """

    def __init__(self, world: World, knobs: Knobs | None = None, deny: Iterable[str] = (),
                 readonly_key: str = READONLY_KEY, regions: Iterable[str] = REGIONS, **_ignored: Any) -> None:
        self.world = world
        self.knobs = knobs or Knobs()
        self.deny = set(deny)
        self.fail: dict[str, int] = {}        # "service:Action" -> HTTP status it always answers (500/503)
        self.readonly_key = readonly_key
        self.access_key = ACCESS_KEY
        self.regions = tuple(regions)
        self.expired_keys: set[str] = set()
        self._expire_after: int | None = None
        self._throttle_next = 0
        self._throttle_after = 0
        self.seeding = False
        self.front: _Front | None = None
        self._server: Any = None
        self.seed_seconds = 0.0
        self.start_seconds = 0.0
        self.canaries: list[str] = []          # secret values and passwords planted: must never surface
        self.seeded: dict[str, Any] = {}      # what was created, for tests (names -> ids/arns)
        # Set once seeding is done: until then the front holds every request but the seeder's own,
        # so `start(background=True)` can return as soon as the server listens.
        self.ready = threading.Event()
        self.seed_error: BaseException | None = None
        self._seeder: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------------------

    @property
    def server(self) -> AwsFake:
        return self

    @property
    def url(self) -> str:
        assert self._server is not None, "server not started"
        host, port = self._server.get_host_and_port()
        return f"http://{host}:{port}"

    @property
    def calls(self) -> Counter[tuple[str, str]]:
        return self.front.calls if self.front is not None else Counter()

    def writes(self) -> int:
        return sum(n for (_svc, action), n in self.calls.items()
                   if action and not action.startswith(READ_PREFIXES) and action != "GetCallerIdentity")

    def expire_after(self, requests: int | None) -> None:
        self._expire_after = requests

    def throttle_next(self, requests: int, after: int = 0) -> None:
        """Answer `requests` reads with `Throttling: Rate exceeded`, once `after` more reads went through."""
        self._throttle_next = requests
        self._throttle_after = after

    def start(self, background: bool = False) -> str:
        """Start moto and seed it; with `background`, return once it listens and seed in a thread
        (requests other than the seeder's wait until seeding is done)."""
        with _ACTIVE_LOCK:
            if _ACTIVE:
                raise RuntimeError("another AwsFake is running in this process (moto's state is per process)")
            _ACTIVE.append(self)
        t0 = time.perf_counter()
        try:
            from moto.moto_api._internal.models import moto_api_backend

            moto_api_backend.reset()
            self._server = _moto_server_class()(self._wrap)
            self._server.start()
            self.start_seconds = time.perf_counter() - t0
            if background:
                self._seeder = threading.Thread(target=self._seed_in_background, name="sandbox-aws-seed",
                                                daemon=True)
                self._seeder.start()
            else:
                self.seed()
                self.ready.set()
        except BaseException:
            self.stop()
            raise
        return self.url

    def _seed_in_background(self) -> None:
        try:
            self.seed()
        except BaseException as exc:  # noqa: BLE001 - kept for the caller; the scan then sees what exists
            self.seed_error = exc
        finally:
            self.ready.set()

    def _wrap(self, app: Any) -> _Front:
        self.front = _Front(app, self)
        return self.front

    def stop(self) -> None:
        if self.front is not None:
            self.front.stopping.set()
        self.ready.set()
        if self._seeder is not None:
            self._seeder.join(timeout=30)
            self._seeder = None
        if self._server is not None:
            try:
                self._server.stop()
            finally:
                self._server = None
        with _ACTIVE_LOCK:
            if self in _ACTIVE:
                _ACTIVE.remove(self)
                try:
                    from moto.moto_api._internal.models import moto_api_backend

                    moto_api_backend.reset()
                except Exception:  # noqa: BLE001,S110 - best effort on the way out
                    pass

    def __enter__(self) -> AwsFake:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- what the connector needs --------------------------------------------------------------------

    @property
    def env(self) -> dict[str, str]:
        return {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
                "AWS_DEFAULT_REGION": self.regions[0]}

    def source(self, name: str) -> dict[str, Any]:
        table: dict[str, Any] = {"type": "aws", "name": name, "endpoint_url": self.url,
                                 "regions": list(self.regions), "timeout": 10, "concurrency": 16}
        if self.world.aws_account != DEFAULT_ACCOUNT:
            # Default credentials land in moto's default account: reach the world's one by role.
            table.update(accounts=[self.world.aws_account], role_name="NHIAuditor")
        return table

    def client(self, service: str, account: str | None = None, region: str | None = None,
               access_key: str = ACCESS_KEY, secret_key: str = SECRET_KEY, session_token: str | None = None) -> Any:
        """A boto3 client on the fake; `account` sends moto's x-moto-account-id (seed another account)."""
        import boto3
        from botocore.config import Config

        c = boto3.client(service, endpoint_url=self.url, region_name=region or self.regions[0],
                         aws_access_key_id=access_key, aws_secret_access_key=secret_key,
                         aws_session_token=session_token,
                         config=Config(retries={"mode": "standard", "max_attempts": 3}, max_pool_connections=32))
        load_managed_policies(account or DEFAULT_ACCOUNT)
        c.meta.events.register("before-sign.*.*", _mark_seeder)
        if account:
            def add_header(request: Any, **_: Any) -> None:
                request.headers["x-moto-account-id"] = account

            c.meta.events.register("before-sign.*.*", add_header)
        return c

    def use_key(self, access_key: str, secret_key: str, service: str = "sts", region: str = "us-east-1",
                session_token: str | None = None) -> None:
        """Sign one request with a key, as its holder would: moto records the key's (or role's) last use."""
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        body = "Action=GetUser&Version=2010-05-08" if service == "iam" else \
            "Action=GetCallerIdentity&Version=2011-06-15"
        req = AWSRequest(method="POST", url=self.url + "/", data=body,
                         headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
        SigV4Auth(Credentials(access_key, secret_key, session_token), service, region).add_auth(req)
        request = urllib.request.Request(req.url, data=body.encode(), method="POST",
                                         headers={**dict(req.headers.items()), SEEDER_HEADER: "1"})
        with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310 - our own local server
            resp.read()

    # --- seeding ---------------------------------------------------------------------------------------

    def seed(self) -> None:
        """Create the world's AWS account through boto3 and record the ground truth."""
        t0 = time.perf_counter()
        self.seeded = self.seed_world(self.world)
        self.seed_seconds = time.perf_counter() - t0

    def seed_world(self, world: World) -> dict[str, Any]:
        """Seed `world` into its own account (`world.aws_account`) of this server; returns what was created.

        Another world in another account shares the server without touching the first one's objects.
        """
        self.seeding = True
        try:
            return self._seed(world)
        finally:
            self.seeding = False

    def _seed(self, world: World) -> dict[str, Any]:
        acct = world.aws_account
        account_header = acct if acct != DEFAULT_ACCOUNT else None
        iam = self.client("iam", account=account_header)
        sts = self.client("sts", account=account_header)
        rng = world.rng_for("aws")
        users = plan_users(world)
        roles = plan_roles(world)
        secrets = plan_secrets(world)
        seeded_at = datetime.now(timezone.utc).replace(microsecond=0)
        seeded: dict[str, Any] = {"users": {}, "keys": {}, "roles": {}, "ssh": {}, "certs": {}, "service_creds": {},
                                  "oidc": {}, "secrets": {}, "account": acct, "seeded_at": seeded_at}
        ssh_bodies = {u.name: [_ssh_body(rng, f"{u.name}@acme") for _ in u.ssh] for u in users}
        lock = threading.Lock()

        # The account baseline first: groups and OIDC providers.
        for group, policies in GROUPS.items():
            iam.create_group(GroupName=group)
            for arn in policies:
                iam.attach_group_policy(GroupName=group, PolicyArn=arn)
        providers = {
            GITHUB_HOST: (["sts.amazonaws.com"], ["6938fd4d98bab03faadb97b34396831e3780aea1"]),
            GITLAB_HOST: (["https://gitlab.com"], ["b3dd7606d2b5a8b4a13771dbecc9ee1cecafa38a"]),
            GITLAB_SELF: (["sts.amazonaws.com"], ["0123456789abcdef0123456789abcdef01234567"]),
        }
        for host, (clients, thumbs) in providers.items():
            arn = iam.create_open_id_connect_provider(Url=f"https://{host}", ClientIDList=clients,
                                                      ThumbprintList=thumbs)["OpenIDConnectProviderArn"]
            seeded["oidc"][host] = arn
            world.expect("aws", "oidc_provider", arn, name=host, target=acct, status="active",
                          credential="federated", created_at=seeded_at, client_ids=clients, thumbprints=thumbs)

        federated = {repo for r in roles for t in r.trusts for repo in t["repos"] if "*" not in repo}

        def seed_user(u: UserPlan) -> None:
            created = iam.create_user(UserName=u.name, Path=u.path,
                                      Tags=[{"Key": k, "Value": v} for k, v in u.tags.items()])["User"]
            for arn in u.managed:
                iam.attach_user_policy(UserName=u.name, PolicyArn=arn)
            for pname, doc in u.inline.items():
                iam.put_user_policy(UserName=u.name, PolicyName=pname, PolicyDocument=json.dumps(doc))
            for g in u.groups:
                iam.add_user_to_group(GroupName=g, UserName=u.name)
            if u.console:
                iam.create_login_profile(UserName=u.name, Password=f"Pw-{uuid.uuid4()}!")
            admin = u.privilege == "admin"
            common = {"owner": u.name, "target": acct, "privilege": u.privilege, "scopes": u.scopes}
            user_findings = {"admin-scope"} if admin else set()
            with lock:
                seeded["users"][u.name] = created["Arn"]
            world.expect("aws", "iam_user", created["Arn"], findings=user_findings, name=u.name, owner="",
                         target=acct, privilege=u.privilege, scopes=u.scopes, status="active",
                         created_at=seeded_at, has_console_password=u.console, tags=dict(u.tags), path=u.path,
                         last_used_at=seeded_at if any(k.use for k in u.keys) else None)
            key_findings = set(user_findings)
            if u.tags.get("repo") in federated:
                key_findings.add("static-where-federation-exists")
            for kp in u.keys:
                key = iam.create_access_key(UserName=u.name)["AccessKey"]
                if kp.use is not None:
                    self.use_key(key["AccessKeyId"], key["SecretAccessKey"], kp.use[0], kp.use[1])
                if kp.inactive:
                    iam.update_access_key(UserName=u.name, AccessKeyId=key["AccessKeyId"], Status="Inactive")
                with lock:
                    seeded["keys"][key["AccessKeyId"]] = u.name
                    self.canaries.append(key["SecretAccessKey"])
                world.expect("aws", "access_key", key["AccessKeyId"], findings=key_findings,
                             name=key["AccessKeyId"], status="inactive" if kp.inactive else "active",
                             credential="static", created_at=seeded_at,
                             last_used_at=seeded_at if kp.use else None,
                             last_used_service=kp.use[0] if kp.use else None,
                             last_used_region=kp.use[1] if kp.use else None, **common)
            for active, body in zip(u.ssh, ssh_bodies[u.name]):
                k = iam.upload_ssh_public_key(UserName=u.name, SSHPublicKeyBody=body)["SSHPublicKey"]
                if not active:
                    iam.update_ssh_public_key(UserName=u.name, SSHPublicKeyId=k["SSHPublicKeyId"], Status="Inactive")
                native = f"{acct}:{k['SSHPublicKeyId']}"
                with lock:
                    seeded["ssh"][native] = u.name
                world.expect("aws", "ssh_public_key", native, findings=set(user_findings),
                             name=k["SSHPublicKeyId"], status="active" if active else "inactive",
                             created_at=seeded_at, credential="static", **common)
            for n, (active, days) in enumerate(u.certs):
                not_after = (seeded_at + timedelta(days=days)).replace(microsecond=0)
                c = iam.upload_signing_certificate(UserName=u.name,
                                                   CertificateBody=_cert_body(u.name, n, not_after))["Certificate"]
                if not active:
                    iam.update_signing_certificate(UserName=u.name, CertificateId=c["CertificateId"],
                                                   Status="Inactive")
                native = f"{acct}:{c['CertificateId']}"
                with lock:
                    seeded["certs"][native] = u.name
                world.expect("aws", "signing_certificate", native, findings=set(user_findings),
                             name=c["CertificateId"], status="active" if active else "inactive",
                             created_at=seeded_at, expires_at=not_after, credential="static", **common)
            for service, active in u.service_creds:
                c = iam.create_service_specific_credential(UserName=u.name, ServiceName=service)
                cred = c["ServiceSpecificCredential"]
                with lock:
                    self.canaries.append(cred["ServicePassword"])
                if not active:
                    iam.update_service_specific_credential(UserName=u.name, Status="Inactive",
                                                           ServiceSpecificCredentialId=cred["ServiceSpecificCredentialId"])
                native = f"{acct}:{cred['ServiceSpecificCredentialId']}"
                with lock:
                    seeded["service_creds"][native] = u.name
                world.expect("aws", "service_credential", native, findings=set(user_findings),
                             name=cred["ServiceUserName"], status="active" if active else "inactive",
                             created_at=seeded_at, credential="static", service=service, **common)

        def seed_role(r: RolePlan) -> None:
            if r.service_linked:
                role = iam.create_service_linked_role(AWSServiceName="elasticbeanstalk.amazonaws.com")["Role"]
            else:
                extra = {"Description": r.description} if r.description else {}
                role = iam.create_role(RoleName=r.name, AssumeRolePolicyDocument=json.dumps(r.trust),
                                       Tags=[{"Key": "managed-by", "Value": "terraform"}], **extra)["Role"]
            for arn in r.managed:
                iam.attach_role_policy(RoleName=role["RoleName"], PolicyArn=arn)
            for pname, doc in r.inline.items():
                iam.put_role_policy(RoleName=role["RoleName"], PolicyName=pname, PolicyDocument=json.dumps(doc))
            if r.used:
                creds = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="seed-session")["Credentials"]
                self.use_key(creds["AccessKeyId"], creds["SecretAccessKey"], "sts", "us-east-1",
                             session_token=creds["SessionToken"])
            with lock:
                seeded["roles"][role["RoleName"]] = role["Arn"]
            world.expect("aws", "iam_role", role["Arn"], findings=set(r.findings), name=role["RoleName"], owner="",
                         target=acct, privilege=r.privilege, scopes=r.scopes, status="active",
                         credential=r.credential, created_at=seeded_at, last_used_at=seeded_at if r.used else None,
                         trusts=r.trusts, service_linked=r.service_linked)

        def seed_secret(s: SecretPlan) -> None:
            sm = sm_clients[s.region]
            value = f"AWSCANARY-{s.region}-{rng_values[s.name]}"
            with lock:
                self.canaries.append(value)
            extra = {"Description": s.description} if s.description else {}
            created = sm.create_secret(Name=s.name, SecretString=value, Tags=[{"Key": "team", "Value": "platform"}],
                                       **extra)
            if s.rotation_days:
                sm.rotate_secret(SecretId=s.name, RotationRules={"AutomaticallyAfterDays": s.rotation_days})
            if s.deleted:
                sm.delete_secret(SecretId=s.name, RecoveryWindowInDays=30)
            with lock:
                seeded["secrets"][s.name] = created["ARN"]
            world.expect("aws", "secret", created["ARN"], name=s.name, target=acct, status="inactive" if s.deleted
                         else "active", credential="static", created_at=seeded_at, last_used_at=None,
                         region=s.region, rotation_enabled=bool(s.rotation_days),
                         rotated_at=seeded_at if s.rotation_days else None, privilege="none")

        sm_clients = {r: self.client("secretsmanager", account=account_header, region=r) for r in self.regions}
        rng_values = {s.name: f"{rng.getrandbits(64):016x}" for s in secrets}
        secrets = [s for s in secrets if s.region in sm_clients]
        with ThreadPoolExecutor(max_workers=16, thread_name_prefix="aws-seed") as pool:
            jobs = [pool.submit(seed_role, r) for r in roles]
            jobs += [pool.submit(seed_user, u) for u in users]
            jobs += [pool.submit(seed_secret, s) for s in secrets]
            for job in jobs:
                job.result()
        for c in (iam, sts, *sm_clients.values()):
            c.close()
        return seeded
