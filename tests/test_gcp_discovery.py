"""The GCP fake and the connector checked against Google's published discovery documents.

tests/discovery/ holds trimmed copies (see its README): every method the connector calls must be
served by the fake at the documented path and HTTP method, with the query parameters the connector
sends; every response the fake gives must use only the documented field names and JSON types; and
the fields the connector reads must exist in the documented schemas.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from nhitui.sandbox.gcp import READ_SA, GcpFake
from nhitui.sandbox.world import World

DOCS = {p.stem.split(".")[0]: json.loads(p.read_text()) for p in (Path(__file__).parent / "discovery").glob("*.json")}
SERVICE_OF = {"cloudresourcemanager": "cloudresourcemanager", "iam": "iam", "policyanalyzer": "policyanalyzer",
              "orgpolicy": "orgpolicy", "iamcredentials": "iam"}     # the IAM fake serves IAM Credentials too
NOT_SERVED = {"cloudresourcemanager.projects.search": "the connector walks folders.list + projects.list",
              "iam.projects.locations.workloadIdentityPools.providers.operations.get":
              "the fake's operations finish at once (done: true)"}
# Query parameters the connector sends, per method.
SENT = {
    "cloudresourcemanager.projects.list": {"parent", "pageSize", "pageToken"},
    "cloudresourcemanager.folders.list": {"parent", "pageSize", "pageToken"},
    "iam.projects.serviceAccounts.list": {"pageSize", "pageToken"},
    "iam.projects.serviceAccounts.getIamPolicy": {"options.requestedPolicyVersion"},
    "iam.projects.locations.workloadIdentityPools.list": {"pageSize", "pageToken"},
    "iam.projects.locations.workloadIdentityPools.providers.list": {"pageSize", "pageToken"},
    "iam.projects.locations.workloadIdentityPools.providers.patch": {"updateMask"},
    "policyanalyzer.projects.locations.activityTypes.activities.query": {"filter", "pageSize", "pageToken"},
}
# Fields the connector reads, per schema (connectors/gcp/*.py).
READS = {
    ("cloudresourcemanager", "Project"): {"name", "projectId", "parent", "displayName", "state"},
    ("cloudresourcemanager", "Folder"): {"name", "state"},
    ("cloudresourcemanager", "ListProjectsResponse"): {"projects", "nextPageToken"},
    ("cloudresourcemanager", "Binding"): {"role", "members", "condition"},
    ("cloudresourcemanager", "Expr"): {"title", "expression"},
    ("iam", "ServiceAccount"): {"email", "uniqueId", "displayName", "description", "disabled", "oauth2ClientId"},
    ("iam", "ListServiceAccountsResponse"): {"accounts", "nextPageToken"},
    ("iam", "ServiceAccountKey"): {"name", "validAfterTime", "validBeforeTime", "disabled", "keyAlgorithm",
                                   "keyOrigin", "keyType", "disableReason", "extendedStatus"},
    ("iam", "ExtendedStatus"): {"key", "value"},
    ("iam", "ListServiceAccountKeysResponse"): {"keys"},
    ("iam", "Policy"): {"bindings"},
    ("iam", "WorkloadIdentityPool"): {"name", "state", "disabled", "mode", "displayName"},
    ("iam", "WorkloadIdentityPoolProvider"): {"name", "displayName", "disabled", "state", "attributeMapping",
                                              "attributeCondition", "oidc", "aws", "saml", "x509"},
    ("iam", "Oidc"): {"issuerUri", "allowedAudiences"},
    ("iam", "Aws"): {"accountId"},
    ("iam", "Operation"): {"name", "done", "error"},
    ("policyanalyzer", "GoogleCloudPolicyanalyzerV1Activity"): {"fullResourceName", "observationPeriod", "activity"},
    ("policyanalyzer", "GoogleCloudPolicyanalyzerV1ObservationPeriod"): {"startTime", "endTime"},
    ("policyanalyzer", "GoogleCloudPolicyanalyzerV1QueryActivityResponse"): {"activities", "nextPageToken"},
    ("orgpolicy", "GoogleCloudOrgpolicyV2Policy"): {"name", "spec"},
    ("orgpolicy", "GoogleCloudOrgpolicyV2PolicySpec"): {"rules"},
    ("orgpolicy", "GoogleCloudOrgpolicyV2PolicySpecPolicyRule"): {"enforce", "values", "condition"},
    ("orgpolicy", "GoogleCloudOrgpolicyV2PolicySpecPolicyRuleStringValues"): {"allowedValues"},
    ("iamcredentials", "GenerateAccessTokenResponse"): {"accessToken", "expireTime"},
}


@pytest.fixture(scope="module")
def fake() -> Iterator[GcpFake]:
    f = GcpFake(World(seed=5), extra_projects=1, sas_per_project=1)
    f.start()
    try:
        yield f
    finally:
        f.stop()


def check(obj: Any, schema: dict[str, Any], doc: dict[str, Any], where: str) -> None:
    """`obj` uses only documented fields with documented JSON types (raises AssertionError)."""
    if "$ref" in schema:
        schema = doc["schemas"][schema["$ref"]]
    kind = schema.get("type")
    if kind == "any":
        return
    if kind == "string":
        assert isinstance(obj, str), (where, obj)
        if schema.get("enum"):
            assert obj in schema["enum"], (where, obj)
        return
    if kind == "boolean":
        assert isinstance(obj, bool), (where, obj)
        return
    if kind == "integer":
        assert isinstance(obj, int) and not isinstance(obj, bool), (where, obj)
        return
    if kind == "array":
        assert isinstance(obj, list), (where, obj)
        for n, item in enumerate(obj):
            check(item, schema["items"], doc, f"{where}[{n}]")
        return
    assert kind == "object" and isinstance(obj, dict), (where, obj)
    props = schema.get("properties") or {}
    extra = schema.get("additionalProperties")
    for key, value in obj.items():
        if key in props:
            check(value, props[key], doc, f"{where}.{key}")
        elif key == "@type" and "response" in where:
            continue        # an Operation's response is a google.protobuf.Any
        else:
            assert extra is not None, f"{where}: undocumented field {key!r}"
            check(value, extra, doc, f"{where}.{key}")


def method(mid: str) -> tuple[str, dict[str, Any]]:
    service = mid.split(".")[0]
    return service, DOCS[service]["methods"][mid]


def url_of(fake: GcpFake, mid: str) -> str:
    service, m = method(mid)
    values = {"projectsId": "acme-prod", "serviceAccountsId": "deployer@acme-prod.iam.gserviceaccount.com",
              "keysId": fake.state.keys["deployer@acme-prod.iam.gserviceaccount.com"][0]["name"].rsplit("/", 1)[1],
              "locationsId": "global", "workloadIdentityPoolsId": "github", "providersId": "gh-api",
              "foldersId": "333333333333", "organizationsId": "222222222222",
              "activityTypesId": "serviceAccountLastAuthentication", "policiesId": "iam.disableServiceAccountKeyCreation"}
    path = m["flatPath"]
    if mid.startswith("iamcredentials."):
        values["projectsId"], values["serviceAccountsId"] = "-", READ_SA
    path = re.sub(r"\{(\w+)\}", lambda x: values[x.group(1)], path)
    return f"{fake.endpoints[SERVICE_OF[service]]}/{path}"


ALL_METHODS = sorted(mid for doc in DOCS.values() for mid in doc["methods"])
SERVED = [mid for mid in ALL_METHODS if mid not in NOT_SERVED]


def test_the_trimmed_documents_are_the_ones_described() -> None:
    assert set(DOCS) == {"cloudresourcemanager", "iam", "policyanalyzer", "orgpolicy", "iamcredentials"}
    assert DOCS["iam"]["revision"] == "20261023" and DOCS["cloudresourcemanager"]["revision"] == "20261107"
    for mid, params in SENT.items():
        assert params <= set(method(mid)[1].get("parameters") or {}), mid
    for (service, schema), fields in READS.items():
        assert fields <= set(DOCS[service]["schemas"][schema]["properties"]), (service, schema)
    assert set(NOT_SERVED) < set(ALL_METHODS) and len(SERVED) == len(ALL_METHODS) - len(NOT_SERVED)


@pytest.mark.parametrize("mid", SERVED)
def test_every_documented_method_is_served_with_documented_shapes(fake: GcpFake, mid: str) -> None:
    service, m = method(mid)
    doc = DOCS[service]
    params: dict[str, Any] = {}
    body: Any = None
    if mid.endswith((".projects.list", ".folders.list")):
        params["parent"] = "organizations/222222222222"
    if mid.endswith("serviceAccounts.getIamPolicy"):
        params["options.requestedPolicyVersion"] = 3
    elif mid.endswith("getIamPolicy"):
        body = {"options": {"requestedPolicyVersion": 3}}
    if mid.endswith("providers.patch"):
        params["updateMask"] = "disabled"
        body = {"disabled": False}
    if mid.endswith(("disable", "enable")) and m["httpMethod"] == "POST":
        body = {}
    if mid.endswith("generateAccessToken"):
        body = {"scope": ["https://www.googleapis.com/auth/cloud-platform"], "lifetime": "3600s"}
    assert set(params) <= set(m.get("parameters") or {}), mid
    resp = httpx.request(m["httpMethod"], url_of(fake, mid), params=params, json=body,
                         headers={"Authorization": f"Bearer {fake.token}"}, timeout=10)
    assert resp.status_code == 200, (mid, resp.status_code, resp.text[:300])
    if "response" in m:
        check(resp.json(), m["response"], doc, f"{mid} response")
    if mid.endswith(".keys.disable"):
        fake.state.keys["deployer@acme-prod.iam.gserviceaccount.com"][0]["disabled"] = False


def test_list_answers_and_errors_use_the_documented_envelope(fake: GcpFake) -> None:
    """Lists with data, policies of the fake's accounts, pools, providers and activities by key, in detail."""
    auth = {"Authorization": f"Bearer {fake.token}"}
    iam, pa = DOCS["iam"], DOCS["policyanalyzer"]
    for email in [a["email"] for a in fake.state.accounts["acme-prod"]]:
        r = httpx.get(f"{fake.endpoints['iam']}/v1/projects/acme-prod/serviceAccounts/{email}/keys", headers=auth)
        check(r.json(), {"$ref": "ListServiceAccountKeysResponse"}, iam, f"keys of {email}")
        r = httpx.post(f"{fake.endpoints['iam']}/v1/projects/acme-prod/serviceAccounts/{email}:getIamPolicy",
                       params={"options.requestedPolicyVersion": 3}, headers=auth)
        check(r.json(), {"$ref": "Policy"}, iam, f"policy of {email}")
    for pool in ("github", "github-legacy", "gitlab"):
        r = httpx.get(f"{fake.endpoints['iam']}/v1/projects/acme-prod/locations/global/workloadIdentityPools/"
                      f"{pool}/providers", headers=auth)
        check(r.json(), {"$ref": "ListWorkloadIdentityPoolProvidersResponse"}, iam, pool)
    r = httpx.get(f"{fake.endpoints['policyanalyzer']}/v1/projects/acme-prod/locations/global/activityTypes/"
                  "serviceAccountKeyLastAuthentication/activities:query", headers=auth)
    check(r.json(), {"$ref": "GoogleCloudPolicyanalyzerV1QueryActivityResponse"}, pa, "key activities")
    assert r.json()["activities"]
    denied = httpx.get(f"{fake.endpoints['iam']}/v1/projects/nope/serviceAccounts", headers=auth).json()
    info = denied["error"]["details"][0]
    assert info["@type"] == "type.googleapis.com/google.rpc.ErrorInfo" and info["reason"] == "IAM_PERMISSION_DENIED"
    assert info["metadata"]["permission"] == "iam.serviceAccounts.list"
