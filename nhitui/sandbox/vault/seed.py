"""Seed an OpenBao dev server with the demo world's Vault, and record the ground truth.

Follows the reference's recipe (reference/vault.md §10.2): policies from admin to read-only,
tokens (admin, operators, services, an orphan that never expires, a periodic admin orphan, a
second root token, use-limited ones, one with a hostile owner), AppRole roles and secret IDs
(never-expiring, CIDR-bound, single-use admin, role-ID-only), JWT roles trusting GitHub and GitLab
from pinned to any-repository, Kubernetes roles (any SA anywhere, one pinned), and a child
namespace with its own token. Tokens are made by the server; their accessors become native ids.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from nhitui.sandbox.world import World

P_ALL = '["create", "read", "update", "delete", "list", "sudo"]'
POLICIES = {
    "admin-all": f'path "*" {{ capabilities = {P_ALL} }}',
    "sys-operator": 'path "sys/*" { capabilities = ["create", "read", "update", "delete", "list"] }\n'
                    'path "auth/token/create" { capabilities = ["update"] }',
    "token-minter": 'path "auth/token/create*" { capabilities = ["update", "sudo"] }',
    "app-write": 'path "secret/data/app/*" { capabilities = ["create", "read", "update", "delete"] }',
    "app-read": 'path "secret/data/app/*" { capabilities = ["read"] }\n'
                'path "secret/metadata/app/*" { capabilities = ["list"] }',
    "ci-deploy": '{"path": {"secret/data/deploy/*": {"capabilities": ["read"]}, '
                 '"database/creds/app": {"capabilities": ["read"]}}}',
    "legacy-ops": 'path "secret/*" { policy = "write" }',
}
INVENTORY_RULES = [
    ("sys/auth", ["read"]), ("sys/mounts", ["read"]), ("sys/policies/acl/", ["list"]),
    ("sys/policies/acl/*", ["read"]), ("auth/token/accessors/", ["list", "sudo"]),
    ("auth/token/lookup-accessor", ["update"]), ("auth/+/role/", ["list"]), ("auth/+/role/+", ["read"]),
    ("auth/+/role/+/secret-id/", ["list"]), ("auth/+/role/+/secret-id-accessor/lookup", ["update"]),
    ("auth/+/config", ["read"]), ("identity/entity/id/", ["list"]), ("identity/entity/id/+", ["read"]),
    ("sys/leases/lookup/*", ["list", "sudo"]), ("+/static-roles/", ["list"]), ("+/static-roles/+", ["read"]),
    ("sys/namespaces/", ["list"]),
]
REVOKER_RULES = [
    ("auth/token/revoke-accessor", ["update"]), ("auth/+/role/+/secret-id-accessor/lookup", ["update"]),
    ("auth/+/role/+/secret-id-accessor/destroy", ["update"]), ("identity/entity/id/*", ["read", "update"]),
    ("auth/+/role/+", ["read", "delete"]),
]
NAMESPACE = "team-a"
GITHUB = "https://token.actions.githubusercontent.com"


def _hcl(rules: list[tuple[str, list[str]]], prefixes: tuple[str, ...] = ("",)) -> str:
    return "\n".join(f'path "{p}{path}" {{ capabilities = {json.dumps(caps)} }}'
                     for p in prefixes for path, caps in rules)


def _keys() -> tuple[str, str]:
    """An RSA public key (JWT validation) and a self-signed CA (Kubernetes auth config), PEM."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pub = key.public_key().public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-k8s-ca")])
    import datetime as dt
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + dt.timedelta(days=30))
            .sign(key, hashes.SHA256()))
    return pub, cert.public_bytes(serialization.Encoding.PEM).decode()


class Seeder:
    def __init__(self, url: str, root: str, world: World) -> None:
        self.world = world
        self.client = httpx.Client(base_url=url + "/v1/", headers={"X-Vault-Token": root}, timeout=10.0,
                                   trust_env=False)
        self.root = root
        self.secrets: list[str] = []
        self.inventory_token = ""
        self.revoker_token = ""
        self.accessors: dict[str, str] = {}       # display name -> accessor
        self.secret_ids: dict[str, list[str]] = {}  # role -> secret-id accessors

    def close(self) -> None:
        self.client.close()

    def _call(self, method: str, path: str, body: Any = None, token: str | None = None,
              namespace: str = "") -> dict[str, Any]:
        headers = {}
        if token:
            headers["X-Vault-Token"] = token
        if namespace:
            headers["X-Vault-Namespace"] = namespace
        r = self.client.request(method, path, json=body, headers=headers)
        if r.status_code >= 400:
            raise RuntimeError(f"seeding OpenBao: {method} {path} -> {r.status_code} {r.text[:300]}")
        return r.json() if r.content else {}

    def _expect(self, kind: str, native: str, findings: set[str], **fields: Any) -> None:
        self.world.expect("vault", kind, native, findings, **fields)

    # --- tokens --------------------------------------------------------------------------------

    def _token(self, display: str, policies: list[str], privilege: str, findings: set[str], *,
               path: str = "auth/token/create", namespace: str = "", token: str | None = None,
               **body: Any) -> str:
        out = self._call("POST", path, {"policies": policies, "display_name": display, **body}, token=token,
                         namespace=namespace)
        auth = out["auth"]
        self.secrets.append(auth["client_token"])
        accessor = auth["accessor"]
        self.accessors[display] = accessor
        native = f"{namespace}//{accessor}" if namespace else accessor
        scopes = sorted(set(policies) | ({"default"} if "root" not in policies else set()))
        self._expect("vault_token", native, findings, name=f"token-{display}", privilege=privilege,
                     scopes=scopes, usage_tracked=False)
        return auth["client_token"]

    def seed(self) -> None:
        for name, text in POLICIES.items():
            self._call("PUT", f"sys/policies/acl/{name}", {"policy": text})
        self._call("POST", f"sys/namespaces/{NAMESPACE}", {})
        self._call("PUT", f"sys/policies/acl/{'app-read'}", {"policy": POLICIES["app-read"]}, namespace=NAMESPACE)
        self._call("PUT", "sys/policies/acl/nhi-inventory",
                   {"policy": _hcl(INVENTORY_RULES, ("", f"{NAMESPACE}/"))})
        self._call("PUT", "sys/policies/acl/nhi-revoker", {"policy": _hcl(REVOKER_RULES, ("", f"{NAMESPACE}/"))})
        root = self._call("GET", "auth/token/lookup-self")["data"]
        self._expect("vault_token", root["accessor"], {"admin-scope", "vault-root-token", "vault-token-no-expiry"},
                     name="token", privilege="admin", scopes=["root"], usage_tracked=False)
        self._seed_tokens()
        self._seed_approle()
        self._seed_jwt()
        self._seed_kubernetes()
        self._call("POST", "sys/auth/userpass", {"type": "userpass"})

    def _seed_tokens(self) -> None:
        w = self.world
        self.inventory_token = self._token("nhi-inventory", ["nhi-inventory"], "admin", {"admin-scope"}, ttl="768h")
        self.revoker_token = self._token("nhi-revoker", ["nhi-revoker"], "admin", {"admin-scope"}, ttl="768h")
        self._token("break-glass-admin", ["admin-all"], "admin", {"admin-scope"}, ttl="8760h",
                    meta={"owner": "platform-team", "ticket": "SEC-101"})
        self._token("terraform-ci", ["sys-operator"], "admin", {"admin-scope"}, ttl="720h",
                    meta={"owner": w.hostile(0)})
        self._token("svc-web", ["app-read"], "read", set(), ttl="24h", meta={"owner": "web"})
        self._token("svc-batch", ["app-write"], "write", set(), ttl="168h")
        self._token("jenkins-deploy", ["ci-deploy"], "write", set(), ttl="1h")
        self._token("legacy-ops", ["legacy-ops"], "write", set(), ttl="48h")
        broker = self._token("token-broker", ["token-minter", "app-read"], "admin", {"admin-scope"}, ttl="720h")
        self._token("broker-child-1", ["app-read"], "read", set(), ttl="12h", token=broker)
        self._token("limited-uses", ["app-read"], "read", set(), ttl="1h", explicit_max_ttl="4h", num_uses=10)
        self._token("orphan-forever", ["app-write"], "write", set(), path="auth/token/create-orphan",
                    ttl="87600h")
        self._token("periodic-admin-orphan", ["admin-all"], "admin", {"admin-scope", "vault-periodic-token"},
                    path="auth/token/create-orphan", period="768h")
        self._token("legacy-root", ["root"], "admin", {"admin-scope", "vault-root-token", "vault-token-no-expiry"},
                    ttl="0")
        self._token("team-a-deployer", ["app-read"], "read", set(), namespace=NAMESPACE, ttl="24h")
        # A batch token: never stored, so never listed (the inventory must not pretend otherwise).
        self._call("POST", "auth/token/create", {"policies": ["app-read"], "ttl": "1h", "type": "batch",
                                                 "no_parent": True})

    # --- AppRole -------------------------------------------------------------------------------

    def _seed_approle(self) -> None:
        self._call("POST", "sys/auth/approle", {"type": "approle"})
        roles = {
            "payments": ({"token_policies": ["app-write"], "secret_id_ttl": "0", "secret_id_num_uses": 0,
                          "token_ttl": "1h", "token_max_ttl": "24h"}, "write", {"vault-approle-unbound"}),
            "reporting": ({"token_policies": ["app-read"], "secret_id_ttl": "720h",
                           "secret_id_bound_cidrs": ["10.30.0.0/16"], "token_bound_cidrs": ["10.30.0.0/16"],
                           "token_ttl": "20m", "token_max_ttl": "1h"}, "read", set()),
            "ci-bootstrap": ({"token_policies": ["admin-all"], "secret_id_ttl": "10m", "secret_id_num_uses": 1,
                              "token_ttl": "10m", "token_num_uses": 5}, "admin", {"admin-scope"}),
            "roleid-only": ({"token_policies": ["app-read"], "bind_secret_id": False,
                             "token_bound_cidrs": ["10.0.0.0/8"], "token_type": "batch"}, "read",
                            {"vault-approle-role-id-only", "vault-batch-tokens"}),
        }
        for name, (body, privilege, findings) in roles.items():
            self._call("POST", f"auth/approle/role/{name}", body)
            self._expect("approle_role", f"approle/{name}", findings, name=name, privilege=privilege)
        ids = {"payments": [{"metadata": json.dumps({"host": f"pay-{i}"})} for i in range(3)],
               "reporting": [{"cidr_list": ["10.30.1.0/24"]}], "ci-bootstrap": [{}]}
        for role, bodies in ids.items():
            for body in bodies:
                out = self._call("POST", f"auth/approle/role/{role}/secret-id", body)["data"]
                self.secrets.append(out["secret_id"])
                self.secret_ids.setdefault(role, []).append(out["secret_id_accessor"])
                findings = {"vault-secret-id-no-expiry"} if role == "payments" else set()
                if role == "ci-bootstrap":
                    findings.add("admin-scope")
                self._expect("approle_secret_id", f"approle/{role}/{out['secret_id_accessor']}", findings,
                             owner=role, privilege=roles[role][1])
        # One login: its token is an orphan with an entity (the reversible "disable entity" target).
        role_id = self._call("GET", "auth/approle/role/payments/role-id")["data"]["role_id"]
        secret = self._call("POST", "auth/approle/role/payments/secret-id", {})["data"]
        self.secrets.append(secret["secret_id"])
        self._expect("approle_secret_id", f"approle/payments/{secret['secret_id_accessor']}",
                     {"vault-secret-id-no-expiry"}, owner="payments", privilege="write")
        login = self.client.post("auth/approle/login", json={"role_id": role_id, "secret_id": secret["secret_id"]},
                                 headers={"X-Vault-Token": ""}).json()["auth"]
        self.secrets.append(login["client_token"])
        self.accessors["approle-login"] = login["accessor"]
        self._expect("vault_token", login["accessor"], set(), name="approle", privilege="write",
                     scopes=["app-write", "default"], credential="ephemeral", owner="payments")

    # --- auth roles trusting CI and clusters ---------------------------------------------------

    def _role(self, mount: str, name: str, body: dict[str, Any], privilege: str, findings: set[str]) -> None:
        self._call("POST", f"auth/{mount}/role/{name}", body)
        self._expect("vault_auth_role", f"{mount}/{name}", findings, name=f"{mount}/{name}", privilege=privilege,
                     credential="federated")

    def _seed_jwt(self) -> None:
        pub, _ = _keys()
        self._call("POST", "sys/auth/jwt-github", {"type": "jwt"})
        self._call("POST", "auth/jwt-github/config", {"jwt_validation_pubkeys": [pub], "bound_issuer": GITHUB})
        self._role("jwt-github", "deploy-prod", {
            "role_type": "jwt", "user_claim": "sub", "bound_audiences": ["https://vault.acme.example"],
            "bound_subject": "repo:acme/api:environment:production",
            "bound_claims": {"repository_id": "123456789",
                             "job_workflow_ref": "acme/api/.github/workflows/deploy.yml@refs/heads/main"},
            "token_policies": ["ci-deploy"], "token_ttl": "10m", "token_type": "batch"},
            "write", {"vault-batch-tokens"})
        self._role("jwt-github", "org-main-branch", {
            "role_type": "jwt", "user_claim": "repository", "bound_audiences": ["https://vault.acme.example"],
            "bound_claims_type": "glob", "bound_claims": {"repository": "acme/*", "ref": "refs/heads/main"},
            "token_policies": ["app-read"], "token_ttl": "15m"}, "read", {"oidc-wildcard-sub"})
        self._role("jwt-github", "owner-prefix-glob", {
            "role_type": "jwt", "user_claim": "actor", "bound_audiences": ["https://github.com/acme"],
            "bound_claims_type": "glob", "bound_claims": {"repository": "acme*"},
            "token_policies": ["app-write"], "token_ttl": "1h"}, "write",
            {"vault-shared-user-claim", "oidc-wildcard-sub", "oidc-pull-request-write"})
        self._role("jwt-github", "any-repo-admin", {
            "role_type": "jwt", "user_claim": "sub", "bound_audiences": ["https://github.com/acme"],
            "bound_claims_type": "glob", "bound_claims": {"sub": "repo:*"},
            "token_policies": ["admin-all"], "token_ttl": "24h"}, "admin",
            {"admin-scope", "oidc-wildcard-sub", "oidc-pull-request-write", "oidc-any-ref-admin"})
        self._role("jwt-github", "audience-only", {
            "role_type": "jwt", "user_claim": "sub", "bound_audiences": ["https://github.com/acme"],
            "token_policies": ["app-write"], "token_ttl": "1h"}, "write", {"oidc-aud-only"})
        self._call("POST", "sys/auth/jwt-gitlab", {"type": "jwt"})
        self._call("POST", "auth/jwt-gitlab/config", {"jwt_validation_pubkeys": [pub],
                                                     "bound_issuer": "https://gitlab.com"})
        self._role("jwt-gitlab", "protected-main", {
            "role_type": "jwt", "user_claim": "project_path", "bound_audiences": ["https://vault.acme.example"],
            "bound_claims": {"project_id": "4242", "ref": "main", "ref_type": "branch", "ref_protected": "true"},
            "token_policies": ["ci-deploy"], "token_ttl": "10m"}, "write", set())
        self._role("jwt-gitlab", "any-project-admin", {
            "role_type": "jwt", "user_claim": "user_login", "bound_audiences": ["https://vault.acme.example"],
            "bound_claims_type": "glob", "bound_claims": {"project_path": "*"},
            "token_policies": ["admin-all"], "token_ttl": "1h"}, "admin",
            {"admin-scope", "vault-shared-user-claim", "oidc-wildcard-sub", "oidc-any-ref-admin"})

    def _seed_kubernetes(self) -> None:
        _, ca = _keys()
        self._call("POST", "sys/auth/kubernetes", {"type": "kubernetes"})
        self._call("POST", "auth/kubernetes/config", {"kubernetes_host": "https://127.0.0.1:6443",
                                                     "kubernetes_ca_cert": ca, "disable_local_ca_jwt": True})
        self._role("kubernetes", "any-sa-any-ns", {
            "bound_service_account_names": ["*"], "bound_service_account_namespaces": ["*"],
            "token_policies": ["app-write"], "token_ttl": "1h"}, "write", {"oidc-no-sub"})
        self._role("kubernetes", "payments-sa", {
            "bound_service_account_names": ["payments"], "bound_service_account_namespaces": ["payments"],
            "audience": "vault", "token_policies": ["app-read"], "token_ttl": "20m"}, "read", set())
