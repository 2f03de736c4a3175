"""Trim Google's discovery documents to the methods and schemas nhitui's GCP connector uses.

    pip download google-api-python-client==2.202.0 --no-deps -d /tmp/x && cd /tmp/x && unzip -q *.whl
    python tests/discovery/trim.py /tmp/x/googleapiclient/discovery_cache/documents tests/discovery

Descriptions are dropped (size); paths, HTTP methods, parameters and schemas are kept as published.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

METHODS = {
    "cloudresourcemanager.v3": ["cloudresourcemanager.projects.get", "cloudresourcemanager.projects.list",
                                "cloudresourcemanager.projects.search", "cloudresourcemanager.projects.getIamPolicy",
                                "cloudresourcemanager.folders.list", "cloudresourcemanager.folders.getIamPolicy",
                                "cloudresourcemanager.organizations.getIamPolicy"],
    "iam.v1": ["iam.projects.serviceAccounts.list", "iam.projects.serviceAccounts.get",
               "iam.projects.serviceAccounts.disable", "iam.projects.serviceAccounts.enable",
               "iam.projects.serviceAccounts.getIamPolicy", "iam.projects.serviceAccounts.keys.list",
               "iam.projects.serviceAccounts.keys.get", "iam.projects.serviceAccounts.keys.delete",
               "iam.projects.serviceAccounts.keys.disable", "iam.projects.serviceAccounts.keys.enable",
               "iam.projects.locations.workloadIdentityPools.list",
               "iam.projects.locations.workloadIdentityPools.providers.list",
               "iam.projects.locations.workloadIdentityPools.providers.patch",
               "iam.projects.locations.workloadIdentityPools.providers.operations.get"],
    "policyanalyzer.v1": ["policyanalyzer.projects.locations.activityTypes.activities.query"],
    "orgpolicy.v2": ["orgpolicy.projects.policies.getEffectivePolicy"],
    "iamcredentials.v1": ["iamcredentials.projects.serviceAccounts.generateAccessToken"],
}


def _methods(node: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out = {}
    for m in (node.get("methods") or {}).values():
        out[m["id"]] = m
    for r in (node.get("resources") or {}).values():
        out.update(_methods(r))
    return out


def _strip(obj: Any) -> Any:
    if isinstance(obj, dict):
        # doc text only: a property *named* description (a schema, a dict) stays
        return {k: _strip(v) for k, v in obj.items()
                if not (k in ("description", "enumDescriptions") and not isinstance(v, dict))}
    if isinstance(obj, list):
        return [_strip(v) for v in obj]
    return obj


def _refs(obj: Any, out: set[str]) -> None:
    if isinstance(obj, dict):
        if "$ref" in obj:
            out.add(obj["$ref"])
        for v in obj.values():
            _refs(v, out)
    elif isinstance(obj, list):
        for v in obj:
            _refs(v, out)


def trim(doc: dict[str, Any], wanted: list[str]) -> dict[str, Any]:
    methods = _methods(doc)
    kept = {mid: _strip(methods[mid]) for mid in wanted}
    todo: set[str] = set()
    _refs(kept, todo)
    schemas: dict[str, Any] = {}
    while todo:
        name = todo.pop()
        if name in schemas:
            continue
        schemas[name] = _strip(doc["schemas"][name])
        found: set[str] = set()
        _refs(schemas[name], found)
        todo |= found - set(schemas)
    return {"name": doc["name"], "version": doc["version"], "revision": doc["revision"], "rootUrl": doc["rootUrl"],
            "methods": kept, "schemas": dict(sorted(schemas.items()))}


def main(src: str, dst: str) -> None:
    for name, wanted in METHODS.items():
        doc = json.loads((Path(src) / f"{name}.json").read_text())
        out = trim(doc, wanted)
        (Path(dst) / f"{name}.json").write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
