"""CI/CD variables in the fake GitLab: seeding, JSON and routes.

Values carry `CANARY`; hidden variables answer `value: null` (GitLab 17.4+). The same key may
exist under several environment scopes: DELETE without `filter[environment_scope]` then answers 409,
as GitLab does. Seeded: `NPM_TOKEN` in every other project (secret-name sprawl), a
`DATABASE_URL_<i>` per project scoped to `production` (and, for some, a second one in `staging`), a
variable per group and two instance variables.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import request

from nhitui.sandbox.gitlab.http import Abort, Route, not_found, page
from nhitui.sandbox.gitlab.truth import CANARY

if TYPE_CHECKING:
    from nhitui.sandbox.gitlab.fake import GitLabFake

Scope = tuple[str, "int | None"]


def _variable(fake: GitLabFake, scope: Scope, key: str, target: str, n: int, env: str = "*",
              masked: bool = False, hidden: bool = False, protected: bool = False) -> None:
    var = {"scope": scope, "key": key, "value": f"{CANARY}-{n}", "masked": masked or hidden,
           "hidden": hidden, "protected": protected, "raw": n % 2 == 0, "environment_scope": env,
           "variable_type": "file" if n % 7 == 0 else "env_var",
           "description": fake.world.hostile(n) if n % 5 == 0 else f"variable {n}"}
    fake.variables.append(var)
    kind, sid = scope
    nid = f"instance:{key}" if kind == "instance" else f"{kind}:{sid}:{key}:{env}"
    shown = target if kind == "instance" or env == "*" else f"{target}:{env}"
    truth = {"name": key, "owner": "", "target": shown, "privilege": "none", "status": "active",
             "created_at": None, "expires_at": None, "last_used_at": None, "scopes": ()}
    fake.expect("ci_variable", nid, truth, {"usage_tracked": False})
    if kind == "instance":
        fake.instance_only.add(("ci_variable", nid))


def seed(fake: GitLabFake) -> None:
    n = 0
    for i, (pid, p) in enumerate(sorted(fake.projects.items())):
        path = p["path_with_namespace"]
        if i % 2 == 0:
            # NPM_TOKEN copied into many projects: secret-name sprawl.
            _variable(fake, ("project", pid), "NPM_TOKEN", path, n, masked=True)
            n += 1
        _variable(fake, ("project", pid), f"DATABASE_URL_{i}", path, n, env="production", protected=True,
                  hidden=i % 3 == 0)
        n += 1
        if i % 6 == 1:
            # The same key under a second environment scope.
            _variable(fake, ("project", pid), f"DATABASE_URL_{i}", path, n, env="staging")
            n += 1
    for gid, g in sorted(fake.groups.items()):
        _variable(fake, ("group", gid), f"GROUP_DEPLOY_{gid}", g["full_path"], n, masked=True)
        n += 1
    _variable(fake, ("instance", None), "INSTANCE_REGISTRY_PASSWORD", "instance", n, masked=True)
    n += 1
    _variable(fake, ("instance", None), "INSTANCE_PROXY", "instance", n)


def variable_json(v: dict[str, Any]) -> dict[str, Any]:
    body = {"variable_type": v["variable_type"], "key": v["key"], "value": None if v["hidden"] else v["value"],
            "hidden": v["hidden"], "protected": v["protected"], "masked": v["masked"], "raw": v["raw"],
            "description": v["description"]}
    if v["scope"][0] != "instance":
        body["environment_scope"] = v["environment_scope"]
    return body


def routes(fake: GitLabFake, route: Route) -> None:
    def of(scope: Scope) -> list[dict[str, Any]]:
        return [v for v in fake.variables if v["scope"] == scope]

    def delete(scope: Scope, key: str) -> None:
        env = request.args.get("filter[environment_scope]")
        matches = [v for v in of(scope) if v["key"] == key and (env is None or v["environment_scope"] == env)]
        if not matches:
            raise not_found("Variable Not Found")
        if len(matches) > 1:
            raise Abort(409, {"message": "There are multiple variables with provided parameters. "
                                         "Please use 'filter[environment_scope]'"})
        fake.variables.remove(matches[0])

    @route("GET", "projects/{id}/variables")
    def project_vars(caller: dict[str, Any], ref: str) -> Any:
        return page(fake, [variable_json(v) for v in of(("project", fake.project(ref)["id"]))])

    @route("GET", "groups/{id}/variables")
    def group_vars(caller: dict[str, Any], ref: str) -> Any:
        return page(fake, [variable_json(v) for v in of(("group", fake.group(ref)["id"]))])

    @route("GET", "admin/ci/variables")
    def instance_vars(caller: dict[str, Any]) -> Any:
        fake.require_admin(caller)
        return page(fake, [variable_json(v) for v in of(("instance", None))])

    @route("DELETE", "projects/{id}/variables/{key}")
    def delete_project_var(caller: dict[str, Any], ref: str, key: str) -> Any:
        delete(("project", fake.project(ref)["id"]), key)

    @route("DELETE", "groups/{id}/variables/{key}")
    def delete_group_var(caller: dict[str, Any], ref: str, key: str) -> Any:
        delete(("group", fake.group(ref)["id"]), key)

    @route("DELETE", "admin/ci/variables/{key}")
    def delete_instance_var(caller: dict[str, Any], key: str) -> Any:
        fake.require_admin(caller)
        delete(("instance", None), key)
