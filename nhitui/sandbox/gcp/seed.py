"""The GCP part of the demo world: an organization, folders, projects and the planted mess.

Planted (and recorded as ground truth with `world.expect`): a deploy account with a fresh key, a
key unused for 200 days and 400 days old, a user-disabled key and a key Google disabled as exposed;
a default Compute Engine account and a default App Engine account holding Editor; a disabled
account whose key was never used; a legacy Cloud Build service agent listed with a user-managed
key; keys that expired, that predate the org's 90-day key expiry policy, and that have no recorded
use since the observation window opened; WIF providers pinned to `acme/api@main`, conditioned only
on `repository_owner` with a whole-pool grant, with `google.subject` mapped to a group path, and a
disabled legacy one; a GKE system pool. Scale: `extra_projects` x `sas_per_project` x
`keys_per_sa` clean accounts and keys under a nested folder.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from nhitui.sandbox.world import World

NEVER = "9999-12-31T23:59:59Z"
GITHUB = "https://token.actions.githubusercontent.com"


def stamp(dt: datetime, millis: bool = False) -> str:
    text = dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return text + (".000Z" if millis else "Z")


def pacific_day(dt: datetime) -> datetime:
    """The US Pacific *standard* date of an instant, as midnight UTC (what the connector reports)."""
    d = (dt - timedelta(hours=8)).date()
    return datetime(d.year, d.month, d.day, tzinfo=timezone.utc)


@dataclass
class GcpState:
    org: str
    window_start: datetime
    window_end: datetime
    folders: dict[str, dict[str, Any]] = field(default_factory=dict)           # folders/N -> folder
    projects: dict[str, dict[str, Any]] = field(default_factory=dict)          # project id -> project
    accounts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)    # project id -> accounts
    keys: dict[str, list[dict[str, Any]]] = field(default_factory=dict)        # SA email -> keys (all types)
    sa_policies: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # SA email -> bindings
    policies: dict[str, list[dict[str, Any]]] = field(default_factory=dict)    # projects/ID|organizations/N -> bindings
    pools: dict[str, list[dict[str, Any]]] = field(default_factory=dict)       # project id -> pools
    providers: dict[str, list[dict[str, Any]]] = field(default_factory=dict)   # pool name -> providers
    used: dict[str, datetime | None] = field(default_factory=dict)             # SA uniqueId / key id -> last use
    unlisted: set[str] = field(default_factory=set)        # never-used objects with no activity entry at all
    org_policies: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)


class Seeder:
    def __init__(self, world: World, extra_projects: int, sas_per_project: int, keys_per_sa: int,
                 record: bool) -> None:
        self.w = world
        self.rng = world.rng_for("gcp")
        self.record = record
        self.extra = (extra_projects, sas_per_project, keys_per_sa)
        now = world.now
        start = pacific_day(now - timedelta(days=500)) + timedelta(hours=7)
        end = pacific_day(now - timedelta(days=1)) + timedelta(hours=7)
        self.s = GcpState(org="222222222222", window_start=start, window_end=end)
        self.counter = 0

    # --- helpers -----------------------------------------------------------------------------

    def number(self) -> str:
        return str(self.rng.randrange(100_000_000_000, 999_999_999_999))

    def uid(self) -> str:
        self.counter += 1
        return str(104857600000000000000 + self.counter * 7919 + self.rng.randrange(1000))

    def key_id(self, label: str) -> str:
        return hashlib.sha1(f"{self.w.seed}:{label}:{self.counter}".encode()).hexdigest()  # noqa: S324 - an id

    def project(self, pid: str, parent: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
        p = {"name": f"projects/{self.number()}", "parent": parent, "projectId": pid, "state": "ACTIVE",
             "displayName": pid, "createTime": stamp(self.w.days_ago(900), millis=True),
             "updateTime": stamp(self.w.days_ago(30)), "etag": f'W/"{pid}"'}
        if labels:
            p["labels"] = labels
        self.s.projects[pid] = p
        self.s.accounts[pid] = []
        self.s.policies[f"projects/{pid}"] = []
        return p

    def num(self, pid: str) -> str:
        return self.s.projects[pid]["name"].split("/")[1]

    def grant(self, resource: str, role: str, member: str, condition: dict[str, str] | None = None) -> None:
        bindings = self.s.policies.setdefault(resource, [])
        for b in bindings:
            if b["role"] == role and b.get("condition") == condition:
                b["members"].append(member)
                return
        b: dict[str, Any] = {"role": role, "members": [member]}
        if condition:
            b["condition"] = condition
        bindings.append(b)

    def account(self, pid: str, email: str, display: str = "", description: str = "", disabled: bool = False,
                roles: tuple[str, ...] = (), used: float | None = None, findings: set[str] | None = None,
                privilege: str = "none", agent: bool = False,
                unlisted: bool = False) -> dict[str, Any]:
        uid = self.uid()
        sa = {"name": f"projects/{pid}/serviceAccounts/{email}", "projectId": pid, "uniqueId": uid,
              "email": email, "displayName": display, "description": description, "disabled": disabled,
              "etag": "MDEwMjE5MjA=", "oauth2ClientId": uid}
        self.s.accounts[pid].append(sa)
        self.s.keys[email] = []
        for role in roles:
            self.grant(f"projects/{pid}", role, f"serviceAccount:{email}")
        when = self.w.days_ago(used) if used is not None else None
        self.s.used[uid] = when
        if unlisted:
            self.s.unlisted.add(uid)
        if self.record:
            if agent:
                last, tracked = None, False
            elif when is not None:
                last, tracked = pacific_day(when), True
            else:
                last, tracked = None, False          # no recorded use since the window opened
            self.w.expect("gcp", "gcp_service_account", uid, findings=findings or set(), name=email, target=pid,
                          owner="", status="inactive" if disabled else "active", privilege=privilege,
                          last_used_at=last, usage_tracked=tracked, credential="ephemeral", created_at=None)
        return sa

    def key(self, sa: dict[str, Any], created: float, used: float | None = None, expires: float | None = None,
            disabled: bool = False, exposed: bool = False, findings: set[str] | None = None,
            privilege: str = "none", unlisted: bool = False) -> str:
        self.counter += 1
        kid = self.key_id(sa["email"])
        created_at = self.w.days_ago(created)
        expires_at = self.w.days_ago(-expires) if expires is not None else None
        obj: dict[str, Any] = {
            "name": f"{sa['name']}/keys/{kid}", "validAfterTime": stamp(created_at, millis=self.counter % 3 == 0),
            "validBeforeTime": stamp(expires_at) if expires_at else NEVER, "keyAlgorithm": "KEY_ALG_RSA_2048",
            "keyOrigin": "GOOGLE_PROVIDED", "keyType": "USER_MANAGED", "disabled": disabled}
        if exposed:
            obj["disableReason"] = "SERVICE_ACCOUNT_KEY_DISABLE_REASON_EXPOSED"
            obj["extendedStatus"] = [{"key": "SERVICE_ACCOUNT_KEY_EXTENDED_STATUS_KEY_EXPOSED",
                                      "value": "public GitHub repository"}]
        elif disabled:
            obj["disableReason"] = "SERVICE_ACCOUNT_KEY_DISABLE_REASON_USER_INITIATED"
        self.s.keys[sa["email"]].append(obj)
        when = self.w.days_ago(used) if used is not None else None
        self.s.used[kid] = when
        if unlisted:
            self.s.unlisted.add(kid)
        if self.record:
            status = "inactive" if disabled else ("expired" if expires_at and expires_at <= self.w.now else "active")
            if disabled:
                last, tracked = None, False
            elif when is not None:
                last, tracked = pacific_day(when), True
            else:
                tracked = created_at >= self.s.window_start
                last = None
            self.w.expect("gcp", "sa_key", kid, findings=findings or set(), name=kid, owner=sa["email"],
                          target=sa["projectId"], status=status, privilege=privilege, created_at=created_at,
                          expires_at=expires_at, last_used_at=last, usage_tracked=tracked, credential="static")
        return kid

    def system_key(self, sa: dict[str, Any]) -> None:
        self.counter += 1
        kid = self.key_id("system")
        self.s.keys[sa["email"]].append({
            "name": f"{sa['name']}/keys/{kid}", "validAfterTime": stamp(self.w.days_ago(3)),
            "validBeforeTime": stamp(self.w.days_ago(-13)), "keyAlgorithm": "KEY_ALG_RSA_2048",
            "keyOrigin": "GOOGLE_PROVIDED", "keyType": "SYSTEM_MANAGED"})

    def pool(self, pid: str, pool_id: str, mode: str = "FEDERATION_ONLY", display: str = "") -> str:
        name = f"projects/{self.num(pid)}/locations/global/workloadIdentityPools/{pool_id}"
        self.s.pools.setdefault(pid, []).append({"name": name, "displayName": display, "state": "ACTIVE",
                                                 "mode": mode, "disabled": False})
        self.s.providers[name] = []
        return name

    def provider(self, pool: str, provider_id: str, mapping: dict[str, str], condition: str | None,
                 issuer: str = GITHUB, disabled: bool = False, findings: set[str] | None = None,
                 privilege: str = "none", audiences: list[str] | None = None) -> None:
        name = f"{pool}/providers/{provider_id}"
        obj: dict[str, Any] = {"name": name, "displayName": provider_id, "state": "ACTIVE", "disabled": disabled,
                               "attributeMapping": mapping, "oidc": {"issuerUri": issuer,
                                                                     "allowedAudiences": audiences or []}}
        if condition is not None:
            obj["attributeCondition"] = condition
        self.s.providers[pool].append(obj)
        if self.record:
            pid = next(p for p, v in self.s.pools.items() if any(x["name"] == pool for x in v))
            self.w.expect("gcp", "wif_provider", name, findings=findings or set(),
                          name=f"{pool.rsplit('/', 1)[1]}/{provider_id}", target=pid, owner="",
                          status="inactive" if disabled else "active", privilege=privilege,
                          credential="federated", usage_tracked=False, last_used_at=None)

    # --- the world ----------------------------------------------------------------------------

    def build(self) -> GcpState:
        w, s = self.w, self.s
        org = f"organizations/{s.org}"
        eng = "folders/333333333333"
        teams = "folders/444444444444"
        s.folders[eng] = {"name": eng, "parent": org, "displayName": "engineering", "state": "ACTIVE"}
        s.folders[teams] = {"name": teams, "parent": eng, "displayName": "teams", "state": "ACTIVE"}
        self.project("acme-prod", org, {"env": "prod"})
        self.project("acme-data", eng)
        self.project("acme-staging", eng, {"env": "staging"})
        gone = self.project("acme-old", eng)
        gone["state"] = "DELETE_REQUESTED"
        prod, pnum = "acme-prod", self.num("acme-prod")

        deployer = self.account(prod, f"deployer@{prod}.iam.gserviceaccount.com", "CI deployer",
                                roles=("roles/run.admin", "roles/iam.serviceAccountUser"), used=1,
                                findings={"admin-scope"}, privilege="admin")
        self.key(deployer, created=20, used=1, findings={"admin-scope"}, privilege="admin")
        self.key(deployer, created=400, used=200, findings={"admin-scope", "old-rotation", "stale-unused"},
                 privilege="admin")
        self.key(deployer, created=50, disabled=True, findings={"admin-scope"}, privilege="admin")
        self.key(deployer, created=300, disabled=True, exposed=True, findings={"admin-scope", "gcp-key-exposed"},
                 privilege="admin")
        self.system_key(deployer)
        self.account(prod, f"{pnum}-compute@developer.gserviceaccount.com", "Compute Engine default service account",
                     roles=("roles/editor",), used=3, findings={"gcp-default-sa-editor"}, privilege="write")
        etl = self.account(prod, f"old-etl@{prod}.iam.gserviceaccount.com", disabled=True,
                           roles=("roles/bigquery.dataEditor",), used=None, privilege="write")
        self.key(etl, created=100, used=None, findings={"never-used"}, privilege="write", unlisted=True)
        agent = self.account(prod, f"{pnum}@cloudbuild.gserviceaccount.com", roles=("roles/cloudbuild.builds.builder",),
                             used=2, privilege="write", agent=True)
        self.key(agent, created=30, used=2, findings={"gcp-service-agent-key"}, privilege="write")
        terraform = self.account(prod, f"terraform@{prod}.iam.gserviceaccount.com", "Terraform",
                                 roles=("roles/owner",), used=5, findings={"admin-scope"}, privilege="admin")
        self.grant(org, "roles/browser", f"serviceAccount:{terraform['email']}")
        self.account(prod, f"notifier@{prod}.iam.gserviceaccount.com", description=w.hostile(0), used=10)
        reader = self.account(prod, f"ci-reader@{prod}.iam.gserviceaccount.com", "CI reader",
                              roles=("roles/storage.objectViewer",), used=1, privilege="read")
        self.key(reader, created=10, used=1, expires=80, privilege="read")
        self.key(reader, created=120, used=35, expires=-30, findings={"expired-present"}, privilege="read")
        # Members that are not accounts of ours: an agent holding Editor by design, people, a deleted SA.
        self.grant(f"projects/{prod}", "roles/editor", f"serviceAccount:{pnum}@cloudservices.gserviceaccount.com")
        self.grant(f"projects/{prod}", "roles/owner", "user:alice@acme.com")
        self.grant(f"projects/{prod}", "roles/iam.serviceAccountTokenCreator", "group:ci@acme.com")
        self.grant(f"projects/{prod}", "roles/viewer",
                   f"deleted:serviceAccount:old@{prod}.iam.gserviceaccount.com?uid=104857600000000000009")
        self.grant(org, "roles/iam.securityReviewer", "group:security@acme.com")

        pool_base = f"principalSet://iam.googleapis.com/projects/{pnum}/locations/global/workloadIdentityPools"
        github = self.pool(prod, "github", display="GitHub")
        gh_map = {"google.subject": "assertion.sub", "attribute.repository": "assertion.repository",
                  "attribute.ref": "assertion.ref", "attribute.repository_owner": "assertion.repository_owner"}
        self.provider(github, "gh-api", gh_map,
                      "assertion.repository == 'acme/api' && assertion.ref == 'refs/heads/main'",
                      findings={"admin-scope"}, privilege="admin")
        self.provider(github, "legacy", {"google.subject": "assertion.sub"}, None, issuer=GITHUB + "/",
                      disabled=True)     # maps no attribute.repository: the repository grants never match it
        s.sa_policies[deployer["email"]] = [{"role": "roles/iam.workloadIdentityUser",
                                             "members": [f"{pool_base}/github/attribute.repository/acme/api"]}]
        self.grant(f"projects/{prod}", "roles/storage.admin", f"{pool_base}/github/attribute.repository/acme/infra",
                   {"title": "until 2027", "expression": "request.time < timestamp('2027-01-01T00:00:00Z')"})
        legacy = self.pool(prod, "github-legacy")
        self.provider(legacy, "gh-owner", {"google.subject": "assertion.sub",
                                           "attribute.repository_owner": "assertion.repository_owner"},
                      "assertion.repository_owner=='acme'",
                      findings={"admin-scope", "gcp-wif-whole-pool", "oidc-wildcard-sub", "oidc-any-ref-admin",
                                "oidc-pull-request-write"},
                      privilege="admin")
        s.sa_policies[terraform["email"]] = [{"role": "roles/iam.workloadIdentityUser",
                                              "members": [f"{pool_base}/github-legacy/*"]}]
        self.grant(org, "roles/browser", f"{pool_base}/github/attribute.repository/acme/api")   # inherited, read
        gitlab = self.pool(prod, "gitlab")
        self.provider(gitlab, "gl", {"google.subject": "assertion.namespace_path",
                                     "attribute.namespace_id": "assertion.namespace_id"},
                      "assertion.namespace_id == '4242'", issuer="https://gitlab.com",
                      findings={"gcp-wif-subject-not-unique", "oidc-wildcard-sub"}, privilege="read")
        s.sa_policies[reader["email"]] = [{"role": "roles/iam.workloadIdentityUser", "members": [
            f"principal://iam.googleapis.com/projects/{pnum}/locations/global/workloadIdentityPools/gitlab/subject/acme"]}]
        self.pool(prod, f"{prod}.svc.id.goog", mode="SYSTEM_TRUST_DOMAIN")

        data = "acme-data"
        s.org_policies[(data, "iam.serviceAccountKeyExpiryHours")] = {
            "spec": {"rules": [{"values": {"allowedValues": ["2160h"]}}]}}
        s.org_policies[(data, "iam.disableServiceAccountKeyCreation")] = {"spec": {"rules": [{"enforce": True}]}}
        analytics = self.account(data, f"analytics@{data}.iam.gserviceaccount.com", "Analytics",
                                 roles=("roles/bigquery.dataViewer",), used=2, privilege="write")
        self.grant(eng, "roles/storage.objectCreator", f"serviceAccount:{analytics['email']}")   # inherited
        self.key(analytics, created=200, used=3, findings={"gcp-key-exceeds-expiry-policy"}, privilege="write")
        self.key(analytics, created=800, used=None,
                 findings={"old-rotation", "stale-unused", "gcp-key-exceeds-expiry-policy"}, privilege="write")
        self.account(data, f"batch@{data}.iam.gserviceaccount.com", used=None, findings={"stale-unused"},
                     unlisted=True)

        staging = "acme-staging"
        web = self.account(staging, f"web@{staging}.iam.gserviceaccount.com", roles=("roles/viewer",), used=40,
                           privilege="read")
        self.key(web, created=60, used=40, privilege="read")
        self.account(staging, f"{staging}@appspot.gserviceaccount.com", "App Engine default service account",
                     roles=("roles/editor",), used=100, findings={"gcp-default-sa-editor", "stale-unused"},
                     privilege="write")

        n_proj, n_sa, n_key = self.extra
        for i in range(n_proj):
            pid = f"acme-svc-{i + 1}"
            self.project(pid, teams)
            for j in range(n_sa):
                sa = self.account(pid, f"svc-{j + 1}@{pid}.iam.gserviceaccount.com", f"service {j + 1}",
                                  roles=("roles/pubsub.publisher",), used=self.rng.randint(1, 60), privilege="write")
                for _ in range(n_key):
                    created = self.rng.randint(31, 300)
                    self.key(sa, created=created, used=self.rng.randint(1, min(60, created - 1)), privilege="write")
        return s
