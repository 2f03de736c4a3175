"""Organisation and repository webhooks; the secret is served masked (`********`) when set.

Routes: `/orgs/{org}/hooks[/{id}]` and `/repos/{owner}/{repo}/hooks[/{id}]` (GET, PATCH, DELETE).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, request

from nhitui.sandbox.github.state import iso, public

if TYPE_CHECKING:
    from nhitui.sandbox.github.fake import GitHubFake


def hook_json(fake: GitHubFake, url: str, hook_id: int, api: str, secret: str | None, active: bool,
              events: list[str], created: int, insecure: str = "0",
              last_response: dict | None = None) -> dict[str, Any]:
    w = fake.world
    config: dict[str, Any] = {"url": url, "content_type": "json", "insecure_ssl": insecure}
    body: dict[str, Any] = {
        "type": "Organization" if last_response is None else "Repository", "id": hook_id, "name": "web",
        "active": active, "events": events, "config": config, "updated_at": iso(w.days_ago(min(created, 10))),
        "created_at": iso(w.days_ago(created)), "url": f"{api}/{hook_id}", "ping_url": f"{api}/{hook_id}/pings",
        "deliveries_url": f"{api}/{hook_id}/deliveries", "_secret": secret,
    }
    if last_response is not None:
        body["test_url"] = f"{api}/{hook_id}/test"
        body["last_response"] = last_response
    if secret:
        fake.canaries.append(secret)
    return body


def seed_hooks(fake: GitHubFake, org_login: str, repo_names: list[str]) -> None:
    w = fake.world
    org = fake.orgs[org_login]
    api = f"https://api.github.com/orgs/{org_login}/hooks"
    plan = [("https://hooks.slack.example.com/services/T000/B000/XXXX", True, True, ["push", "pull_request"], 200,
             "0", set()),
            ("http://insecure.example.net/hook", False, True, ["*"], 100, "1", set())]
    for url, has_secret, active, events, created, insecure, findings in plan:
        hook_id = fake.new_id(4_000_000)
        secret = f"whsec-CANARY-{hook_id}" if has_secret else None
        org.hooks.append(hook_json(fake, url, hook_id, api, secret, active, events, created, insecure))
        expect_hook(fake, f"org:{org_login}:{hook_id}", org_login, url, secret, active, events, created, None,
                    findings)
    m = 0
    for i, full_name in enumerate(repo_names):
        if i % 6 != 1:
            continue
        hook_id = fake.new_id(4_000_000)
        api = f"https://api.github.com/repos/{full_name}/hooks"
        profile = m % 4
        url = f"https://ci.example.com/{full_name.split('/')[1]}/hook"
        secret: str | None = f"whsec-CANARY-{hook_id}"
        active, created, findings = True, 50, set()
        response = {"code": 200, "status": "active", "message": "OK"}
        if profile == 1:
            secret, created = None, 80
            url = f"https://ci.example.com/hook?name={w.hostile(m)}"
        elif profile == 2:
            active, created = False, 150
            response = {"code": 410, "status": "failed", "message": "Invalid HTTP Response: 410"}
        elif profile == 3:
            created, findings = 500, {"old-rotation"}
        fake.repos[full_name].hooks.append(hook_json(fake, url, hook_id, api, secret, active, ["push"], created,
                                                     last_response=response))
        expect_hook(fake, f"repo:{full_name}:{hook_id}", full_name, url, secret, active, ["push"], created,
                    response, findings)
        m += 1


def expect_hook(fake: GitHubFake, native: str, target: str, url: str, secret: str | None, active: bool,
                events: list[str], created: int, response: dict | None, findings: set[str]) -> None:
    details: dict[str, Any] = {"secret_set": bool(secret), "active": active, "events": list(events)}
    if response is not None:
        details["last_response"] = dict(response)
    fake.expect("webhook", native, findings, name=url, owner="", target=target, privilege="none", scopes=(),
                status="active" if active else "inactive", credential="static", usage_tracked=False,
                created_at=fake.world.days_ago(created),
                actions=("deactivate", "delete") if active else ("activate", "delete"), details=details)


def routes(app: Flask, fake: GitHubFake) -> None:
    """List, read, update (active, events, config) and delete webhooks."""
    def hook_view(h: dict) -> dict:
        out = public(h)
        out["config"] = dict(h["config"])
        if h.get("_secret"):
            out["config"]["secret"] = "********"
        return out

    def hook_write(hooks: list[dict], hook_id: int) -> Response:
        h = next((h for h in hooks if h["id"] == hook_id), None)
        if h is None:
            return fake.not_found()
        if request.method == "DELETE":
            with fake.lock:
                hooks.remove(h)
            return fake.respond(None, 204)
        if request.method == "PATCH":
            body = request.get_json(silent=True)
            if not isinstance(body, dict):
                return fake.error(400, "Problems parsing JSON")
            if "active" in body and not isinstance(body["active"], bool):
                return fake.error(422, "Validation Failed")
            with fake.lock:
                if "active" in body:
                    h["active"] = body["active"]
                if "events" in body and isinstance(body["events"], list):
                    h["events"] = [str(e) for e in body["events"]]
                if isinstance(body.get("config"), dict):
                    # GitHub's warning: a config update without the secret drops it.
                    cfg = body["config"]
                    h["config"] = {k: v for k, v in cfg.items() if k != "secret"}
                    h["_secret"] = cfg.get("secret") or None
                h["updated_at"] = iso(datetime.now(timezone.utc))
        return fake.respond(hook_view(h))

    @app.get("/orgs/<org>/hooks")
    def org_hooks(org: str) -> Response:
        o = fake.orgs.get(org)
        return fake.not_found() if o is None else fake.page([hook_view(h) for h in o.hooks])

    @app.route("/orgs/<org>/hooks/<int:hook_id>", methods=["GET", "PATCH", "DELETE"])
    def org_hook(org: str, hook_id: int) -> Response:
        o = fake.orgs.get(org)
        return fake.not_found() if o is None else hook_write(o.hooks, hook_id)

    @app.get("/repos/<owner>/<repo>/hooks")
    def repo_hooks(owner: str, repo: str) -> Response:
        r = fake.repo(owner, repo)
        return fake.not_found() if r is None else fake.page([hook_view(h) for h in r.hooks])

    @app.route("/repos/<owner>/<repo>/hooks/<int:hook_id>", methods=["GET", "PATCH", "DELETE"])
    def repo_hook(owner: str, repo: str, hook_id: int) -> Response:
        r = fake.repo(owner, repo)
        return fake.not_found() if r is None else hook_write(r.hooks, hook_id)
