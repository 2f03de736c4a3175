"""Regenerate tests/openapi/github-subset.json from GitHub's published OpenAPI description.

The description is the npm package `@octokit/openapi` (MIT, see LICENSE next to this file). We
keep only the operations the fake GitHub API serves (OPERATIONS below) and the components they
reference, so the contract test stays small and fast. Everything comes from the api.github.com
flavour except the SAML credential-authorization endpoints, which exist only in the ghec flavour.

    python tests/openapi/regenerate.py                 # npm pack @octokit/openapi@VERSION into a temp dir
    python tests/openapi/regenerate.py --package DIR   # use an unpacked package (DIR/generated/*.json)
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Any

VERSION = "23.0.2"
HERE = Path(__file__).resolve().parent
OUTPUT = HERE / "github-subset.json"

# (method, path, flavour): every operation the fake serves.
OPERATIONS: list[tuple[str, str, str]] = [
    ("get", "/orgs/{org}/repos", "api.github.com"),
    ("get", "/orgs/{org}/members", "api.github.com"),
    ("get", "/orgs/{org}/actions/secrets", "api.github.com"),
    ("get", "/orgs/{org}/actions/secrets/{secret_name}/repositories", "api.github.com"),
    ("delete", "/orgs/{org}/actions/secrets/{secret_name}", "api.github.com"),
    ("get", "/orgs/{org}/dependabot/secrets", "api.github.com"),
    ("get", "/orgs/{org}/dependabot/secrets/{secret_name}/repositories", "api.github.com"),
    ("delete", "/orgs/{org}/dependabot/secrets/{secret_name}", "api.github.com"),
    ("get", "/orgs/{org}/actions/runner-groups", "api.github.com"),
    ("get", "/orgs/{org}/actions/runner-groups/{runner_group_id}/repositories", "api.github.com"),
    ("get", "/orgs/{org}/actions/runners", "api.github.com"),
    ("get", "/orgs/{org}/actions/runners/{runner_id}", "api.github.com"),
    ("delete", "/orgs/{org}/actions/runners/{runner_id}", "api.github.com"),
    ("get", "/orgs/{org}/installations", "api.github.com"),
    ("get", "/orgs/{org}/personal-access-tokens", "api.github.com"),
    ("post", "/orgs/{org}/personal-access-tokens", "api.github.com"),
    ("post", "/orgs/{org}/personal-access-tokens/{pat_id}", "api.github.com"),
    ("get", "/orgs/{org}/personal-access-tokens/{pat_id}/repositories", "api.github.com"),
    ("get", "/orgs/{org}/personal-access-token-requests", "api.github.com"),
    ("post", "/orgs/{org}/personal-access-token-requests/{pat_request_id}", "api.github.com"),
    ("get", "/orgs/{org}/personal-access-token-requests/{pat_request_id}/repositories", "api.github.com"),
    ("get", "/orgs/{org}/credential-authorizations", "ghec"),
    ("delete", "/orgs/{org}/credential-authorizations/{credential_id}", "ghec"),
    ("get", "/orgs/{org}/hooks", "api.github.com"),
    ("get", "/orgs/{org}/hooks/{hook_id}", "api.github.com"),
    ("patch", "/orgs/{org}/hooks/{hook_id}", "api.github.com"),
    ("delete", "/orgs/{org}/hooks/{hook_id}", "api.github.com"),
    ("get", "/orgs/{org}/actions/oidc/customization/sub", "api.github.com"),
    ("get", "/repos/{owner}/{repo}/keys", "api.github.com"),
    ("get", "/repos/{owner}/{repo}/keys/{key_id}", "api.github.com"),
    ("delete", "/repos/{owner}/{repo}/keys/{key_id}", "api.github.com"),
    ("get", "/repos/{owner}/{repo}/actions/secrets", "api.github.com"),
    ("delete", "/repos/{owner}/{repo}/actions/secrets/{secret_name}", "api.github.com"),
    ("get", "/repos/{owner}/{repo}/dependabot/secrets", "api.github.com"),
    ("delete", "/repos/{owner}/{repo}/dependabot/secrets/{secret_name}", "api.github.com"),
    ("get", "/repos/{owner}/{repo}/environments", "api.github.com"),
    ("get", "/repos/{owner}/{repo}/environments/{environment_name}/secrets", "api.github.com"),
    ("delete", "/repos/{owner}/{repo}/environments/{environment_name}/secrets/{secret_name}", "api.github.com"),
    ("get", "/repos/{owner}/{repo}/actions/runners", "api.github.com"),
    ("get", "/repos/{owner}/{repo}/actions/runners/{runner_id}", "api.github.com"),
    ("delete", "/repos/{owner}/{repo}/actions/runners/{runner_id}", "api.github.com"),
    ("get", "/repos/{owner}/{repo}/hooks", "api.github.com"),
    ("get", "/repos/{owner}/{repo}/hooks/{hook_id}", "api.github.com"),
    ("patch", "/repos/{owner}/{repo}/hooks/{hook_id}", "api.github.com"),
    ("delete", "/repos/{owner}/{repo}/hooks/{hook_id}", "api.github.com"),
    ("get", "/repos/{owner}/{repo}/actions/oidc/customization/sub", "api.github.com"),
    ("post", "/app/installations/{installation_id}/access_tokens", "api.github.com"),
    # Codespaces secrets (issue 25)
    ("get", "/orgs/{org}/codespaces/secrets", "api.github.com"),
    ("get", "/orgs/{org}/codespaces/secrets/{secret_name}/repositories", "api.github.com"),
    ("delete", "/orgs/{org}/codespaces/secrets/{secret_name}", "api.github.com"),
    ("get", "/repos/{owner}/{repo}/codespaces/secrets", "api.github.com"),
    ("delete", "/repos/{owner}/{repo}/codespaces/secrets/{secret_name}", "api.github.com"),
    # Copilot agents secrets (issue 25; github.com and GHEC only)
    ("get", "/orgs/{org}/agents/secrets", "api.github.com"),
    ("get", "/orgs/{org}/agents/secrets/{secret_name}/repositories", "api.github.com"),
    ("delete", "/orgs/{org}/agents/secrets/{secret_name}", "api.github.com"),
    ("get", "/repos/{owner}/{repo}/agents/secrets", "api.github.com"),
    ("delete", "/repos/{owner}/{repo}/agents/secrets/{secret_name}", "api.github.com"),
    # Runner-group containment (issue 25)
    ("get", "/orgs/{org}/actions/runner-groups/{runner_group_id}", "api.github.com"),
    ("patch", "/orgs/{org}/actions/runner-groups/{runner_group_id}", "api.github.com"),
    ("put", "/orgs/{org}/actions/runner-groups/{runner_group_id}/repositories", "api.github.com"),
]


def fetch(dest: Path) -> Path:
    """`npm pack` the pinned package into dest and unpack it; returns the package directory."""
    subprocess.run(["npm", "pack", f"@octokit/openapi@{VERSION}", "--silent"], cwd=dest, check=True,
                   stdout=subprocess.DEVNULL)
    tgz = next(dest.glob("octokit-openapi-*.tgz"))
    with tarfile.open(tgz) as tar:
        tar.extractall(dest, filter="data")
    return dest / "package"


def _refs(node: Any, found: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/"):
            found.add(ref)
        for value in node.values():
            _refs(value, found)
    elif isinstance(node, list):
        for value in node:
            _refs(value, found)


def build(package: Path) -> dict[str, Any]:
    specs = {name: json.loads((package / "generated" / f"{name}.json").read_text()) for name in
             {flavour for _, _, flavour in OPERATIONS}}
    out: dict[str, Any] = {
        "openapi": specs["api.github.com"]["openapi"],
        "info": {"title": "GitHub REST API (subset served by nhitui's fake)",
                 "version": specs["api.github.com"]["info"]["version"],
                 "x-source": f"npm @octokit/openapi@{VERSION}, generated/api.github.com.json "
                             "(credential-authorizations from generated/ghec.json)",
                 "x-regenerate": "python tests/openapi/regenerate.py"},
        "paths": {},
        "components": {},
    }
    for method, path, flavour in OPERATIONS:
        spec = specs[flavour]
        op = spec["paths"][path][method]
        kept = {"operationId": op.get("operationId"), "responses": op["responses"]}
        out["paths"].setdefault(path, {})[method] = kept
        # Pull every component this operation references, transitively, from the same flavour.
        pending: set[str] = set()
        _refs(kept, pending)
        done: set[str] = set()
        while pending:
            ref = pending.pop()
            if ref in done:
                continue
            done.add(ref)
            _, _, section, name = ref.split("/", 3)
            node = spec["components"][section][name]
            out["components"].setdefault(section, {})[name] = node
            _refs(node, pending)
    out["components"] = {section: dict(sorted(items.items())) for section, items in sorted(out["components"].items())}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--package", type=Path, help="an unpacked @octokit/openapi package directory")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        package = args.package or fetch(Path(tmp))
        subset = build(package)
        OUTPUT.write_text(json.dumps(subset, indent=1, sort_keys=False) + "\n")
        shutil.copyfile(package / "LICENSE", HERE / "LICENSE")
    print(f"wrote {OUTPUT.relative_to(HERE.parent.parent)}: {len(subset['paths'])} paths, "
          f"{sum(len(v) for v in subset['components'].values())} components")


if __name__ == "__main__":
    main()
