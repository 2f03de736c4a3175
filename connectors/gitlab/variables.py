"""CI/CD variables (secrets handed to pipelines), at project, group and instance level.

| kind | endpoint | native id |
|---|---|---|
| ci_variable | `GET /projects/:id/variables`, `GET /groups/:id/variables` (Maintainer); admin `GET /admin/ci/variables` | `project:<id>:<key>:<environment_scope>`, `group:<id>:<key>:<scope>`, `instance:<key>` |

Fields read: `key, environment_scope, masked, protected, hidden, raw, variable_type, description`.
Target: the project or group path, with `:<environment_scope>` when the scope is not `*`
(`acme/api-0:production`); `details["project"]` / `details["group"]` hold the bare path, so the
delivery-chain graph still attaches the variable to its project. The `value` is never kept (scrubbed on arrival and dropped again here); GitLab reports neither
creation nor use. The same key may exist once per environment scope: each is its own identity.

Privilege: none (a variable holds a value, not an API scope). Action: delete (`actions.py`), with
`filter[environment_scope]` so only that scope's variable goes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from connectors.gitlab.scan import Scan, identity
from nhitui.model import Identity, sanitize

if TYPE_CHECKING:
    from connectors.gitlab import GitLabConnector


def parse_variable(site: GitLabConnector, d: Mapping[str, Any], scope: str, scope_id: Any, target: str,
                   web_url: str = "") -> Identity:
    if "value" in d:        # never kept, even by accident
        d = {k: v for k, v in d.items() if k != "value"}
    key = str(d.get("key") or "")
    env = str(d.get("environment_scope") or "*")
    native = f"instance:{key}" if scope == "instance" else f"{scope}:{scope_id}:{key}:{env}"
    details = {"scope": scope, f"{scope}_id": scope_id, "key": key, "environment_scope": env,
               "masked": bool(d.get("masked")), "protected": bool(d.get("protected")),
               "hidden": bool(d.get("hidden")), "raw": bool(d.get("raw")),
               "variable_type": sanitize(d.get("variable_type") or "env_var"),
               "description": sanitize(d.get("description") or ""), "secret_name": key}
    if scope == "instance":
        url = f"{site.url}/admin/application_settings/ci_cd#js-ci-cd-variables"
    else:
        details[scope] = target
        base = (web_url or (f"{site.url}/groups/{target}" if scope == "group" else f"{site.url}/{target}"))
        url = f"{base.rstrip('/')}/-/settings/ci_cd#js-cicd-variables-settings"
    # The environment is part of where the secret lives: `acme/api-0:production` and `…:staging` are two
    # rows a reader must tell apart (`*`, every environment, shows no suffix).
    shown = target if scope == "instance" or env == "*" else f"{target}:{env}"
    if shown != target:
        details["environment"] = env        # the same key GitHub environment secrets use
    return identity(site, "ci_variable", native, name=key, owner="", target=shown, scopes=(),
                    privilege="none", created_at=None, expires_at=None, last_used_at=None,
                    status="active", credential="static", actions=("delete",), url=url,
                    usage_tracked=False, details=details)


def group_variables(scan: Scan, g: dict[str, Any]) -> None:
    path = str(g.get("full_path"))
    for page in scan.read("GET /groups/:id/variables", path, "maintainer_group", f"/groups/{g['id']}/variables"):
        scan.emit([parse_variable(scan.c, d, "group", g["id"], path, str(g.get("web_url") or "")) for d in page])


def project_variables(scan: Scan, p: dict[str, Any]) -> None:
    path = str(p.get("path_with_namespace"))
    for page in scan.read("GET /projects/:id/variables", path, "maintainer_project",
                          f"/projects/{p['id']}/variables"):
        scan.emit([parse_variable(scan.c, d, "project", p["id"], path, str(p.get("web_url") or "")) for d in page])


def instance_variables(scan: Scan) -> None:
    for page in scan.read("GET /admin/ci/variables", "", "admin", "/admin/ci/variables"):
        scan.emit([parse_variable(scan.c, d, "instance", None, "instance") for d in page])
