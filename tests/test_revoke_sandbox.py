"""The revocation service against the sandbox: plans call nothing, every call is journaled,
a killed bulk revoke resumes, refusals are recorded, and secrets stay out of the journal."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from nhitui import config as config_mod
from nhitui.collect import scan
from nhitui.journal import Journal
from nhitui.revoke import Revoker
from nhitui.sandbox.chain import Sandbox
from nhitui.sandbox.server import Knobs
from nhitui.sandbox.world import World


def write_config(sandbox: Sandbox, tmp_path: Path, edit=None) -> Path:
    text = sandbox.config_text()
    text = text.replace(str(sandbox.config_dir()), str(tmp_path))
    if edit:
        text = edit(text)
    path = tmp_path / "config.toml"
    path.write_text(text)
    os.chmod(path, 0o600)
    return path


def npm_uids(inventory) -> list[str]:
    return sorted(i.uid for i in inventory.rows if i.kind == "npm_token")


def test_dry_run_and_plan_make_no_call(tmp_path):
    with Sandbox(World(registry_tokens=6), providers=("npm", "dockerhub")) as sandbox:
        cfg = config_mod.load(write_config(sandbox, tmp_path))
        inventory = scan(cfg.sources)
        uids = [i.uid for i in inventory.rows]
        revoker = Revoker(inventory, cfg.sources, Journal(cfg.journal_path))
        plan = revoker.plan(uids)
        assert len(plan.steps) == len(uids)
        assert all(s.call and s.credential for s in plan.steps)
        active = {i.uid for i in inventory.rows if i.provider == "dockerhub" and i.status == "active"}
        docker = [s for s in plan.steps if s.uid in active]
        assert docker and all(s.action == "deactivate" and s.reversible == "yes" for s in docker)  # reversible first
        inactive = [s for s in plan.steps if s.provider == "dockerhub" and s.uid not in active]
        assert all(s.action != "activate" for s in inactive)      # never gives access back by default
        proc = subprocess.run([sys.executable, "-m", "nhitui", "--config", str(cfg.path), "revoke", *uids,
                               "--dry-run"], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        assert "IRREVERSIBLE" in proc.stdout and "reversible" in proc.stdout
        mutations = [(m, p) for f in sandbox.fakes.values() for (m, p) in f.server.calls
                     if m != "GET" and not p.endswith("/auth/token")]      # a login is not an action
        assert mutations == []
        assert not Path(cfg.journal_path).exists()


def test_kill_minus_nine_mid_bulk_revoke_then_resume(tmp_path):
    knobs = Knobs(latency=0.25)
    with Sandbox(World(registry_tokens=20), knobs, providers=("npm",)) as sandbox:
        cfg_path = write_config(sandbox, tmp_path)
        cfg = config_mod.load(cfg_path)
        uids = npm_uids(scan(cfg.sources))
        assert len(uids) == 20
        journal_path = Path(cfg.journal_path)
        cmd = [sys.executable, "-m", "nhitui", "--config", str(cfg_path), "revoke", *uids, "--yes"]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.time() + 60
        while time.time() < deadline:
            results = [r for r in Journal(journal_path).read().records if r.get("event") == "result"]
            if len(results) >= 5:
                break
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()

        journal = Journal(journal_path)
        records = journal.read().records
        intents = {r["uid"] for r in records if r["event"] == "intent"}
        finished = {r["uid"] for r in records if r["event"] == "result"}
        pending = {r["uid"] for r in journal.pending()}
        assert 5 <= len(finished) < 20
        assert pending == intents - finished          # intents without results: exactly the unfinished
        assert len(pending) <= 4                       # never more than the bulk concurrency in flight
        remaining = set(npm_uids(scan(cfg.sources)))
        assert not (finished & remaining)              # every journaled ok is really gone
        assert set(uids) - intents <= remaining        # nothing was touched without an intent first

        deletes_before = dict(sandbox.fakes["npm"].server.calls)
        rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert rerun.returncode == 0, rerun.stdout + rerun.stderr
        assert npm_uids(scan(cfg.sources)) == []
        after = sandbox.fakes["npm"].server.calls
        for uid in finished:
            key = uid.rsplit(":", 1)[1]
            path = ("DELETE", f"/-/npm/v1/tokens/token/{key}")
            assert after[path] == deletes_before.get(path, 0) == 1, uid   # finished ones untouched
        assert Journal(journal_path).pending() == []


def test_refused_write_is_journaled_failed_and_identity_stays(tmp_path):
    def no_revoke_token(text: str) -> str:
        return "\n".join(line for line in text.splitlines() if not line.startswith("revoke_token"))

    with Sandbox(World(repos=6), providers=("github",)) as sandbox:
        cfg = config_mod.load(write_config(sandbox, tmp_path, no_revoke_token))
        inventory = scan(cfg.sources)
        key = next(i for i in inventory.rows if i.kind == "deploy_key")
        revoker = Revoker(inventory, cfg.sources, Journal(cfg.journal_path))
        plan = revoker.plan([key.uid])
        assert "read token" in plan.steps[0].credential and plan.steps[0].warning
        [outcome] = asyncio.run(revoker.execute(plan))
        assert outcome.state == "failed" and outcome.status_code == 403
        assert inventory.get(key.uid) is not None
        result = [r for r in Journal(cfg.journal_path).read().records if r["event"] == "result"][0]
        assert result["result"] == "failed" and result["status_code"] == 403 and result["message"]


def test_reversible_action_then_undo_round_trips(tmp_path):
    with Sandbox(World(registry_tokens=4), providers=("dockerhub",)) as sandbox:
        cfg = config_mod.load(write_config(sandbox, tmp_path))
        inventory = scan(cfg.sources)
        token = next(i for i in inventory.rows if i.status == "active")
        revoker = Revoker(inventory, cfg.sources, Journal(cfg.journal_path))
        [done] = asyncio.run(revoker.execute(revoker.plan([token.uid], "deactivate")))
        assert done.state == "ok" and inventory.get(token.uid).status == "inactive"
        undo = revoker.plan_undo()
        assert undo is not None and undo.steps[0].action == "activate"
        [undone] = asyncio.run(revoker.execute(undo))
        assert undone.state == "ok" and inventory.get(token.uid).status == "active"
        fresh = scan(cfg.sources).get(token.uid)
        assert fresh.status == "active"
        events = [(r["event"], r["action"]) for r in Journal(cfg.journal_path).read().records]
        assert events == [("intent", "deactivate"), ("result", "deactivate"), ("intent", "activate"),
                          ("result", "activate")]


def test_already_absent_is_not_an_error(tmp_path):
    with Sandbox(World(registry_tokens=3), providers=("npm",)) as sandbox:
        cfg = config_mod.load(write_config(sandbox, tmp_path))
        inventory = scan(cfg.sources)
        target = inventory.rows[0]
        other = Revoker(scan(cfg.sources), cfg.sources, Journal(tmp_path / "other.jsonl"))
        asyncio.run(other.execute(other.plan([target.uid])))       # someone else revoked it first
        revoker = Revoker(inventory, cfg.sources, Journal(cfg.journal_path))
        [outcome] = asyncio.run(revoker.execute(revoker.plan([target.uid])))
        assert outcome.state == "already-absent"
        assert inventory.get(target.uid) is None


def test_journal_is_private_and_json(tmp_path):
    with Sandbox(World(registry_tokens=2), providers=("npm",)) as sandbox:
        cfg = config_mod.load(write_config(sandbox, tmp_path))
        inventory = scan(cfg.sources)
        revoker = Revoker(inventory, cfg.sources, Journal(cfg.journal_path))
        asyncio.run(revoker.execute(revoker.plan([inventory.rows[0].uid])))
        path = Path(cfg.journal_path)
        assert (path.stat().st_mode & 0o777) == 0o600
        for line in path.read_text().splitlines():
            record = json.loads(line)
            assert {"time", "operator", "uid", "kind", "name", "action", "reversible", "plan"} <= set(record)
