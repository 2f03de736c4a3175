"""The plan: what the world's AWS account holds. Pure and deterministic under the world's seed.

Users (with policies, groups, console passwords and credentials), roles (with their trust and the
findings it should raise), OIDC providers and secrets. Seeding (seed.py) creates exactly this
through boto3 and records each object's expected fields as the world's ground truth.

Ages are in days before seeding, as in a lived-in account: keys used yesterday and keys untouched for
months, a key never used past its grace, an old inactive key, a user rotating its key (60 and 5 days
old, both used yesterday) and users whose rotation never finished, roles unused for months. The
findings they must raise follow from the default `[policy]` (`aged_findings`), never chosen by hand.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from nhitui.sandbox.world import World

REGIONS = ("us-east-1", "eu-west-1")
GITHUB_HOST = "token.actions.githubusercontent.com"
GITLAB_HOST = "gitlab.com"
GITLAB_SELF = "gitlab.acme.internal"
ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
READONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"
POWERUSER = "arn:aws:iam::aws:policy/PowerUserAccess"


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
    age: timedelta = timedelta(0)    # created this long before seeding
    used_days: int | None = None     # last used this many days before seeding (None: never)


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
    age_days: int = 0


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
    age_days: int = 0
    used_days: int | None = None         # with `used`: days since its last use


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
    r.findings |= aged_findings(r.age_days, r.used_days if r.used else None)
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
    # Access keys: one per user first, then a second one (IAM allows two per user). Pattern by key:
    # old and used yesterday, stale, never used past its grace, recent, fresh, old and inactive.
    total = min(world.access_keys, 2 * len(users))
    uses = (("sts", "us-east-1"), ("iam", "us-east-1"), None, ("sts", "eu-west-1"), None, ("sts", "us-east-1"))
    ages = ((400, 1), (200, 120), (45, None), (30, 2), (3, None), (500, 300))
    for j in range(total):
        u = users[j % len(users)] if users else None
        if u is None:
            break
        age, used = ages[j % len(ages)]
        u.keys.append(KeyPlan(use=uses[j % len(uses)], inactive=(j % 6 == 5) or (j % 10 == 9),
                              age=timedelta(days=age, hours=j % 12), used_days=used))
    if users and len(users[0].keys) == 2:
        # The user: keys 60 and 5 days old, both used yesterday (two live credentials).
        users[0].keys = [KeyPlan(use=("sts", "us-east-1"), age=timedelta(days=60), used_days=1),
                         KeyPlan(use=("iam", "us-east-1"), age=timedelta(days=5), used_days=1)]
    for u in users:
        u.age_days = max((k.age.days for k in u.keys), default=10) + 10
    return [_finish_user(u) for u in users]


STALE_AFTER, NEVER_USED_GRACE, MAX_AGE, ROTATION_GRACE = 90, 30, 365, 7     # the default [policy]


def aged_findings(age_days: int, used_days: int | None) -> set[str]:
    """The staleness findings the default policy gives an identity of this age and last use."""
    if used_days is not None:
        return {"stale-unused"} if used_days >= STALE_AFTER else set()
    return {"never-used"} if age_days >= NEVER_USED_GRACE else set()


def key_findings(u: UserPlan, k: KeyPlan) -> set[str]:
    """Findings a key's age gives it: staleness, old rotation, and the user's two active keys."""
    found = aged_findings(k.age.days, k.used_days)
    if not k.inactive and k.age.days > MAX_AGE:
        found.add("old-rotation")
    active = [x for x in u.keys if not x.inactive]
    if not k.inactive and len(active) == 2:
        newer = min(x.age.days for x in active)
        # Both used since the newer key appeared: two live credentials, whatever the grace says.
        both_live = all(x.used_days is not None and x.used_days <= newer for x in active)
        if newer >= ROTATION_GRACE or both_live:
            found.add("two-active-keys")
    return found


def user_used_days(u: UserPlan) -> int | None:
    """Days since the user's latest key use (IAM users are as fresh as their freshest key)."""
    return min((k.used_days for k in u.keys if k.used_days is not None), default=None)


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
    # (days since creation, days since last use): admin and lambda roles unused for months.
    ages = {"gha-api-deploy": (300, 1), "gha-web-production": (20, None), "gha-org-wildcard": (200, None),
            "gha-no-sub": (100, None), "gha-aud-only": (60, None), "gitlab-deploy": (10, None),
            "gitlab-release": (150, None), "OrganizationAdmin": (900, 200),
            "AWSServiceRoleForElasticBeanstalk": (500, None), "lambda-exec": (400, 120)}
    roles: list[RolePlan] = []
    for k in range(world.roles):
        if k < len(specials):
            r = specials[k]
            r.age_days, r.used_days = ages[r.name]
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
            r.age_days = 5 if k % 3 == 0 else 60 + 7 * k
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
