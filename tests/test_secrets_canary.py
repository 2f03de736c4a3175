"""Secrets stay secret: a canary credential and planted secret values never leave the fakes.

Every configured credential is a canary (`CRED` + a suffix per provider and role: GitHub read and
admin tokens, GitLab tokens, npm / Docker Hub / JFrog tokens and read-only tokens, the AWS secret
access key), and the fakes hold planted secret values (GitLab CI variable values and trigger /
runner tokens, registry token secrets, GitHub Actions and webhook secrets, AWS secret values and
passwords). Then everything the tool writes is grepped:

- `nhitui scan` stdout/stderr (table, CSV, JSON) and the exported files;
- DEBUG logging of every library, captured to a file (the scan runs under `logging.basicConfig`);
- `nhitui revoke` output and the journal; the history database (sqlite file bytes, WAL included);
- a TUI screenshot of the real app on the same config, with DEBUG logs captured too;
- a forced internal failure and a connector failure carrying the credential (NHITUI_DEBUG unset).

File modes: the config the sandbox writes, the journal, exports and history are 0600. A
world-writable config is refused: tests/test_config.py::test_world_writable_config_is_refused.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

from test_tui_support import shown, wait_until

from nhitui import config as config_mod
from nhitui.sandbox.chain import Sandbox
from nhitui.sandbox.gitlab import CANARY as GITLAB_CANARY
from nhitui.sandbox.registries import CANARY as REGISTRY_CANARY
from nhitui.sandbox.world import World
from nhitui.tui.app import NhiApp

CRED = "CANARY-cred-5e1d"
WORLD = dict(repos=4, projects=6, iam_users=3, access_keys=4, roles=3, registry_tokens=6)
FAKE_KWARGS = {
    "github": {"token": f"ghp_{CRED}-gh-admin", "readonly_token": f"ghp_{CRED}-gh-read"},
    "gitlab": {"token": f"glpat-{CRED}-gl-admin", "readonly_token": f"glpat-{CRED}-gl-read",
               "user_token": f"glpat-{CRED}-gl-user"},
    "npm": {"token": f"npm_{CRED}-npm", "readonly_token": f"npm_{CRED}-npm-read"},
    "dockerhub": {"token": f"dckr_pat_{CRED}-dh", "readonly_token": f"dckr_pat_{CRED}-dh-read"},
    "jfrog": {"token": f"{CRED}-jf", "readonly_token": f"{CRED}-jf-read"},
    "azure": {"token": f"{CRED}-az", "readonly_token": f"{CRED}-az-read"},
}
AWS_SECRET = f"{CRED}-aws-secret-key"
LOGGED_RUN = ("import logging, sys; logging.basicConfig(filename=sys.argv[1], level=logging.DEBUG, "
              "format='%(name)s %(levelname)s %(message)s'); from nhitui.cli import main; sys.exit(main(sys.argv[2:]))")
# A bug that puts a credential into an exception message, in the CLI and inside a connector.
FAILING_RUN = (
    "import os, sys, nhitui.export, connectors.npm\n"
    "token = os.environ['NHITUI_SANDBOX_NPM_TOKEN']\n"
    "def boom(*a, **k): raise RuntimeError('export failed for token ' + token)\n"
    "async def whoami(self, s): raise ValueError('whoami with ' + token)\n"
    "nhitui.export.render = boom\n"
    "connectors.npm.NpmConnector._whoami = whoami\n"
    "from nhitui.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


def run(code_or_args: list[str], env: dict[str, str], timeout: int = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *code_or_args], capture_output=True, text=True, timeout=timeout,
                          env=env)


def secret_values(sandbox: Sandbox) -> list[str]:
    values = [CRED, GITLAB_CANARY, REGISTRY_CANARY, AWS_SECRET]
    values += [v for kw in FAKE_KWARGS.values() for v in kw.values()]
    values += sandbox.fakes["github"].canaries + sandbox.fakes["aws"].canaries
    assert sandbox.fakes["github"].canaries and sandbox.fakes["aws"].canaries
    if "vault" in sandbox.fakes:       # every token value and secret ID the OpenBao seeding made
        values += sandbox.fakes["vault"].secrets
    return sorted(set(values))


def leaks(text: str | bytes, values: list[str]) -> list[str]:
    data = text.encode("utf-8", "replace") if isinstance(text, str) else text
    found = []
    for value in values:
        for form in {value.encode(), value.encode("utf-16-le")}:
            if form in data:
                found.append(value)
    return found


def test_no_credential_or_planted_secret_leaves_the_fakes(tmp_path, monkeypatch):
    world = World(**WORLD)
    with Sandbox(world, **FAKE_KWARGS) as sandbox:
        # The planted values are really there to leak.
        gitlab = sandbox.fakes["gitlab"]
        assert any(GITLAB_CANARY in str(v.get("value")) for v in gitlab.variables)
        assert any(REGISTRY_CANARY == t.get("secret") for t in sandbox.fakes["npm"].tokens.values())
        values = secret_values(sandbox)

        text = sandbox.config_text().replace(str(sandbox.config_dir()), str(tmp_path))
        cfg_path = tmp_path / "config.toml"
        fd = os.open(cfg_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        assert not leaks(text, values)                         # references only, never a value
        assert (sandbox.write_config().stat().st_mode & 0o777) == 0o600
        env = {**os.environ, "AWS_SECRET_ACCESS_KEY": AWS_SECRET}
        env.pop("NHITUI_DEBUG", None)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", AWS_SECRET)
        monkeypatch.delenv("NHITUI_DEBUG", raising=False)
        outputs: dict[str, str | bytes] = {}

        # 1. scans, with every library's DEBUG log captured to a file
        log = tmp_path / "debug.log"
        for fmt in ("json", "csv", "table"):
            out = tmp_path / f"scan.{fmt}"
            args = ["--config", str(cfg_path), "scan", "--format", fmt]
            args += ["-o", str(out)] if fmt != "table" else []
            proc = run(["-c", LOGGED_RUN, str(log), *args], env)
            assert proc.returncode in (0, 4), proc.stderr[-2000:]
            outputs[f"scan {fmt} stdout"], outputs[f"scan {fmt} stderr"] = proc.stdout, proc.stderr
            if fmt != "table":
                outputs[f"export {fmt}"] = out.read_bytes()
                assert (out.stat().st_mode & 0o777) == 0o600
        document = json.loads(outputs["export json"])
        assert {s["status"] for s in document["sources"]} == {"ok"}, document["sources"]
        assert len(document["identities"]) > 100
        outputs["debug log"] = log.read_bytes()
        assert len(outputs["debug log"]) > 10_000                  # DEBUG really was on

        # 2. revocations through the CLI: npm delete, Docker Hub deactivate, GitLab trigger token delete
        rows = document["identities"]
        targets = [next(r["uid"] for r in rows if r["provider"] == p and r["kind"] == k)
                   for p, k in (("npm", "npm_token"), ("dockerhub", "dockerhub_token"), ("gitlab", "trigger_token"),
                                ("github", "deploy_key"))]
        proc = run(["-c", LOGGED_RUN, str(log), "--config", str(cfg_path), "revoke", *targets, "--yes"], env)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        outputs["revoke stdout"], outputs["revoke stderr"] = proc.stdout, proc.stderr
        journal = Path(config_mod.load(cfg_path).journal_path)
        assert (journal.stat().st_mode & 0o777) == 0o600
        records = [json.loads(line) for line in journal.read_text().splitlines()]
        assert sum(r["event"] == "result" and r["result"] == "ok" for r in records) == len(targets), records
        outputs["journal"] = journal.read_bytes()
        proc = run(["-m", "nhitui", "--config", str(cfg_path), "journal", "--format", "json"], env)
        outputs["journal cli"] = proc.stdout + proc.stderr

        # 3. the history database, byte for byte (WAL and journal files too)
        history = Path(config_mod.load(cfg_path).history_path)
        assert history.exists()
        assert (history.stat().st_mode & 0o777) == 0o600
        for path in history.parent.glob(history.name + "*"):
            outputs[f"history {path.name}"] = path.read_bytes()
        proc = run(["-m", "nhitui", "--config", str(cfg_path), "history"], env)
        outputs["history cli"] = proc.stdout + proc.stderr

        # 4. a forced internal failure and a connector failure that both carry the npm token
        proc = run(["-c", FAILING_RUN, "--config", str(cfg_path), "scan", "--no-save", "--format", "json"], env)
        assert proc.returncode == 1, proc.stderr[-2000:]
        assert "internal error: unexpected error: RuntimeError: export failed for token ***" in proc.stderr
        assert "Traceback" not in proc.stderr
        outputs["failure stdout"], outputs["failure stderr"] = proc.stdout, proc.stderr
        outputs["debug log (after revoke)"] = log.read_bytes()

        # 5. the TUI on the same config: a screenshot, with DEBUG logging captured
        tui_log = tmp_path / "tui.log"
        handler = logging.FileHandler(tui_log)
        handler.setLevel(logging.DEBUG)
        root = logging.getLogger()
        old_level = root.level
        root.addHandler(handler)
        root.setLevel(logging.DEBUG)
        try:
            app = NhiApp(config_mod.load(cfg_path))
            async_run = app.run_test(size=(160, 50))

            async def shoot() -> None:
                async with async_run as pilot:
                    await wait_until(pilot, lambda: not app.collecting and len(app.inventory.statuses) == len(sandbox.sources()) and
                                     all(s.state != "running" for s in app.inventory.statuses.values()), timeout=120)
                    await pilot.press("i")
                    outputs["tui sources screen"] = await shown(pilot)
                    app.save_screenshot(filename="sources.svg", path=str(tmp_path))
                    await pilot.press("escape", "slash", *"provider:gitlab kind:ci_variable", "enter")
                    await pilot.pause()
                    outputs["tui table"] = await shown(pilot)
                    app.save_screenshot(filename="variables.svg", path=str(tmp_path))

            import asyncio

            asyncio.run(shoot())
        finally:
            root.removeHandler(handler)
            root.setLevel(old_level)
            handler.close()
        outputs["tui log"] = tui_log.read_bytes()
        for svg in ("sources.svg", "variables.svg"):
            outputs[svg] = (tmp_path / svg).read_bytes()

    found = {where: leaks(data, values) for where, data in outputs.items()}
    assert {where: hits for where, hits in found.items() if hits} == {}
