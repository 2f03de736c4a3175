"""Seeding: the plan (plan.py) created through boto3 like a real account, and the ground truth recorded.

Roles, users and secrets are created concurrently; keys and roles the plan marks as used are used
once with a signed request, as their holder would, so moto records their last use. moto stamps all
of that "now"; once every request is done, `plant_ages` backdates moto's IAM objects in place (moto
runs in this process): users', keys', roles' and OIDC providers' creation, keys' and roles' last use.
It runs last, so no request of the seeding can stamp a key again, and it clears the last use of a
key the plan says was never used.
"""

from __future__ import annotations

import base64
import json
import random
import struct
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from nhitui.sandbox.aws.front import DEFAULT_ACCOUNT
from nhitui.sandbox.aws.plan import (
    GITHUB_HOST,
    GITLAB_HOST,
    GITLAB_SELF,
    GROUPS,
    KeyPlan,
    RolePlan,
    SecretPlan,
    UserPlan,
    aged_findings,
    key_findings,
    plan_roles,
    plan_secrets,
    plan_users,
    user_used_days,
)
from nhitui.sandbox.world import World

if TYPE_CHECKING:
    from nhitui.sandbox.aws.fake import AwsFake


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


def seed_world(fake: AwsFake, world: World) -> dict[str, Any]:
    """Seed `world` into its own account (`world.aws_account`) of the fake; returns what was created."""
    acct = world.aws_account
    account_header = acct if acct != DEFAULT_ACCOUNT else None
    iam = fake.client("iam", account=account_header)
    sts = fake.client("sts", account=account_header)
    rng = world.rng_for("aws")
    users = plan_users(world)
    roles = plan_roles(world)
    secrets = plan_secrets(world)
    seeded_at = datetime.now(timezone.utc).replace(microsecond=0)
    seeded: dict[str, Any] = {"users": {}, "keys": {}, "roles": {}, "ssh": {}, "certs": {}, "service_creds": {},
                              "oidc": {}, "secrets": {}, "account": acct, "seeded_at": seeded_at}
    ssh_bodies = {u.name: [_ssh_body(rng, f"{u.name}@acme") for _ in u.ssh] for u in users}
    lock = threading.Lock()
    planted_keys: dict[str, KeyPlan] = {}
    planted_roles: dict[str, RolePlan] = {}

    def ago(days: int | timedelta | None) -> datetime | None:
        return None if days is None else seeded_at - (days if isinstance(days, timedelta) else timedelta(days=days))

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
    provider_ages = {GITHUB_HOST: 700, GITLAB_HOST: 400, GITLAB_SELF: 90}
    for host, (clients, thumbs) in providers.items():
        arn = iam.create_open_id_connect_provider(Url=f"https://{host}", ClientIDList=clients,
                                                  ThumbprintList=thumbs)["OpenIDConnectProviderArn"]
        seeded["oidc"][host] = arn
        world.expect("aws", "oidc_provider", arn, name=host, target=acct, status="active",
                      credential="federated", created_at=ago(provider_ages[host]), client_ids=clients,
                      thumbprints=thumbs)

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
        world.expect("aws", "iam_user", created["Arn"], name=u.name, owner="",
                     findings=user_findings | aged_findings(u.age_days, user_used_days(u)),
                     target=acct, privilege=u.privilege, scopes=u.scopes, status="active",
                     created_at=ago(u.age_days), has_console_password=u.console, tags=dict(u.tags), path=u.path,
                     last_used_at=ago(user_used_days(u)))
        risk = set(user_findings)
        if u.tags.get("repo") in federated:
            risk.add("static-where-federation-exists")
        for kp in u.keys:
            key = iam.create_access_key(UserName=u.name)["AccessKey"]
            if kp.use is not None:
                fake.use_key(key["AccessKeyId"], key["SecretAccessKey"], kp.use[0], kp.use[1])
            if kp.inactive:
                iam.update_access_key(UserName=u.name, AccessKeyId=key["AccessKeyId"], Status="Inactive")
            with lock:
                seeded["keys"][key["AccessKeyId"]] = u.name
                planted_keys[key["AccessKeyId"]] = kp
                fake.canaries.append(key["SecretAccessKey"])
            world.expect("aws", "access_key", key["AccessKeyId"], findings=risk | key_findings(u, kp),
                         name=key["AccessKeyId"], status="inactive" if kp.inactive else "active",
                         credential="static", created_at=ago(kp.age), last_used_at=ago(kp.used_days),
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
                fake.canaries.append(cred["ServicePassword"])
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
            fake.use_key(creds["AccessKeyId"], creds["SecretAccessKey"], "sts", "us-east-1",
                         session_token=creds["SessionToken"])
        with lock:
            seeded["roles"][role["RoleName"]] = role["Arn"]
            planted_roles[role["RoleName"]] = r
        world.expect("aws", "iam_role", role["Arn"], findings=set(r.findings), name=role["RoleName"], owner="",
                     target=acct, privilege=r.privilege, scopes=r.scopes, status="active",
                     credential=r.credential, created_at=ago(r.age_days),
                     last_used_at=ago(r.used_days) if r.used else None,
                     last_used_region="us-east-1" if r.used else None,
                     trusts=r.trusts, service_linked=r.service_linked)

    def seed_secret(s: SecretPlan) -> None:
        sm = sm_clients[s.region]
        value = f"AWSCANARY-{s.region}-{rng_values[s.name]}"
        with lock:
            fake.canaries.append(value)
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

    sm_clients = {r: fake.client("secretsmanager", account=account_header, region=r) for r in fake.regions}
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
    plant_ages(acct, seeded_at, users, planted_keys, planted_roles,
               {seeded["oidc"][h]: d for h, d in provider_ages.items()})
    return seeded


def plant_ages(account: str, seeded_at: datetime, users: list[UserPlan], keys: dict[str, KeyPlan],
               roles: dict[str, RolePlan], providers: dict[str, int]) -> None:
    """Backdate moto's IAM objects of `account` to the plan's ages (moto keeps naive UTC datetimes)."""
    from moto.iam.models import AccessKeyLastUsed, iam_backends

    backend = iam_backends[account]["aws"]

    def ago(delta: timedelta) -> datetime:
        return (seeded_at - delta).replace(tzinfo=None)

    for u in users:
        user = backend.get_user(u.name)
        user.create_date = ago(timedelta(days=u.age_days))
        for key in user.access_keys:
            kp = keys[key.access_key_id]
            key.create_date = ago(kp.age)
            key.last_used = None if kp.used_days is None or kp.use is None else AccessKeyLastUsed(
                ago(timedelta(days=kp.used_days)), kp.use[0], kp.use[1])
    for name, r in roles.items():
        role = backend.get_role(name)
        role.create_date = ago(timedelta(days=r.age_days))
        role.last_used = ago(timedelta(days=r.used_days)) if r.used and r.used_days is not None else None
        role.last_used_region = "us-east-1" if role.last_used else None
    for arn, days in providers.items():
        backend.open_id_providers[arn].create_date = ago(timedelta(days=days))
