"""The command line as a user drives it: exit codes, journal, auth, diff, revoke guards."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import keyring
import pytest

from nhitui import cli
from nhitui.journal import Journal

CONFIG = """\
[journal]
path = "{state}/journal.jsonl"

[history]
path = "{state}/history.sqlite"

[[source]]
type = "npm"
name = "npm"
registry = "http://127.0.0.1:9"
token = "env:NHITUI_TEST_NPM"
timeout = 1
"""


@pytest.fixture
def cfg(tmp_path, monkeypatch):
    path = tmp_path / "config.toml"
    path.write_text(CONFIG.format(state=tmp_path))
    os.chmod(path, 0o600)
    monkeypatch.setenv("NHITUI_TEST_NPM", "npm-test-token-value")
    return path


def test_unreachable_source_exits_3_with_reason_and_no_traceback(cfg):
    proc = subprocess.run([sys.executable, "-m", "nhitui", "--config", str(cfg), "scan", "--format", "json"],
                          capture_output=True, text=True, timeout=120, env=os.environ.copy())
    assert proc.returncode == 3
    doc = json.loads(proc.stdout)
    assert doc["sources"][0]["status"] == "failed" and doc["sources"][0]["error"]
    assert "Traceback" not in proc.stderr and "npm-test-token-value" not in proc.stderr + proc.stdout


def test_missing_credential_is_a_clear_failure(cfg, monkeypatch, capsys):
    monkeypatch.delenv("NHITUI_TEST_NPM")
    assert cli.main(["--config", str(cfg), "scan", "--no-save"]) == 3
    err = capsys.readouterr().err
    assert "NHITUI_TEST_NPM" in err and "not set" in err


def test_journal_command_prints_table_and_reports_torn_lines(cfg, tmp_path, capsys):
    j = Journal(tmp_path / "journal.jsonl")
    j.append({"event": "intent", "plan": "p", "attempt": "a", "uid": "npm:npm_token:k", "action": "delete"})
    with open(tmp_path / "journal.jsonl", "a") as fh:
        fh.write('{"torn')
    assert cli.main(["--config", str(cfg), "journal"]) == 0
    out, err = capsys.readouterr()
    assert "npm:npm_token:k" in out and "delete" in out
    assert "unreadable line" in err and "without a result" in err
    assert cli.main(["--config", str(cfg), "journal", "--since", "2999-01-01"]) == 0
    assert "npm:npm_token:k" not in capsys.readouterr().out


def test_revoke_is_refused_in_read_only_mode(cfg, capsys):
    assert cli.main(["--config", str(cfg), "revoke", "npm:npm_token:k", "--read-only"]) == 2
    assert "read-only" in capsys.readouterr().err


def test_revoke_unknown_source_is_a_usage_error(cfg, capsys):
    assert cli.main(["--config", str(cfg), "revoke", "nope:npm_token:k", "--dry-run"]) == 2
    assert "unknown source" in capsys.readouterr().err


def test_diff_of_two_json_exports(cfg, tmp_path, capsys):
    def doc(uids):
        return {"generated_at": "", "sources": [{"name": "npm", "provider": "npm", "status": "ok"}],
                "identities": [{"uid": u, "source": "npm", "kind": "npm_token", "name": u, "created_at": "x"}
                               for u in uids]}
    (tmp_path / "a.json").write_text(json.dumps(doc(["npm:t:1", "npm:t:2"])))
    (tmp_path / "b.json").write_text(json.dumps(doc(["npm:t:2", "npm:t:3"])))
    assert cli.main(["--config", str(cfg), "diff", str(tmp_path / "a.json"), str(tmp_path / "b.json"),
                     "--format", "json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert [r["uid"] for r in result["added"]] == ["npm:t:3"]
    assert [r["uid"] for r in result["removed"]] == ["npm:t:1"]
    assert cli.main(["--config", str(cfg), "diff"]) == 2          # no snapshots yet: clear usage error
    assert "at least 2" in capsys.readouterr().err


def test_auth_set_stores_in_keyring_without_echo(cfg, monkeypatch, capsys):
    from tests.memory_keyring import STORE, MemoryKeyring

    keyring.set_keyring(MemoryKeyring())
    prompts = []
    monkeypatch.setattr("getpass.getpass", lambda prompt: prompts.append(prompt) or "  typed-secret  ")
    try:
        assert cli.main(["--config", str(cfg), "auth", "set", "npm"]) == 0
    finally:
        keyring.set_keyring(keyring.backends.fail.Keyring())
    assert STORE[("nhitui", "npm")] == "typed-secret"
    out = capsys.readouterr().out
    assert 'token = "keyring:nhitui/npm"' in out and "typed-secret" not in out
    assert "not echoed" in prompts[0]


# --- commands that need no sources need no config ----------------------------------------------------

def _export(path, uids):
    path.write_text(json.dumps({"generated_at": "", "sources": [{"name": "npm", "provider": "npm", "status": "ok"}],
                                "identities": [{"uid": u, "source": "npm", "kind": "npm_token", "name": u,
                                                "created_at": "x"} for u in uids]}))
    return str(path)


@pytest.fixture
def fresh_host(tmp_path, monkeypatch):
    """A machine with no config file: HOME and the XDG directories point at empty tmp dirs."""
    for var, sub in (("HOME", "home"), ("XDG_CONFIG_HOME", "config"), ("XDG_STATE_HOME", "state")):
        (tmp_path / sub).mkdir()
        monkeypatch.setenv(var, str(tmp_path / sub))
    monkeypatch.delenv("NHITUI_CONFIG", raising=False)
    return tmp_path


def test_diff_of_two_exports_needs_no_config_nor_history(fresh_host, capsys):
    a, b = _export(fresh_host / "a.json", ["npm:t:1"]), _export(fresh_host / "b.json", ["npm:t:1", "npm:t:9"])
    assert cli.main(["diff", a, b, "--format", "json"]) == 0
    assert [r["uid"] for r in json.loads(capsys.readouterr().out)["added"]] == ["npm:t:9"]
    assert not (fresh_host / "state" / "nhitui").exists()      # comparing two files writes nothing


def test_history_needs_no_config_and_reads_the_default_xdg_path(fresh_host, capsys):
    from nhitui.history import History
    from nhitui.model import SourceStatus

    assert cli.main(["history"]) == 0
    assert capsys.readouterr().out == ""
    db = History(fresh_host / "state" / "nhitui" / "history.sqlite")
    db.save([], {"npm": SourceStatus(source="npm", provider="npm", state="ok")})
    db.close()
    assert cli.main(["history"]) == 0
    assert "npm:ok" in capsys.readouterr().out


def test_journal_needs_no_config_and_reads_the_default_xdg_path(fresh_host, capsys):
    Journal(fresh_host / "state" / "nhitui" / "journal.jsonl").append(
        {"event": "intent", "plan": "p", "attempt": "a", "uid": "npm:npm_token:default-path", "action": "delete"})
    assert cli.main(["journal"]) == 0
    assert "npm:npm_token:default-path" in capsys.readouterr().out


def test_journal_with_config_uses_the_configs_path(fresh_host, cfg, tmp_path, capsys):
    Journal(fresh_host / "state" / "nhitui" / "journal.jsonl").append(
        {"event": "intent", "plan": "p", "attempt": "a", "uid": "npm:npm_token:default-path", "action": "delete"})
    Journal(tmp_path / "journal.jsonl").append(
        {"event": "intent", "plan": "p", "attempt": "a", "uid": "npm:npm_token:config-path", "action": "delete"})
    assert cli.main(["--config", str(cfg), "journal"]) == 0
    out = capsys.readouterr().out
    assert "config-path" in out and "default-path" not in out


def test_without_config_the_three_commands_exit_0_in_a_fresh_process(fresh_host):
    a, b = _export(fresh_host / "a.json", ["npm:t:1"]), _export(fresh_host / "b.json", ["npm:t:2"])
    env = {k: v for k, v in os.environ.items() if k != "NHITUI_CONFIG"}
    for argv in (["diff", a, b], ["history"], ["journal"]):
        proc = subprocess.run([sys.executable, "-m", "nhitui", *argv], capture_output=True, text=True,
                              timeout=60, env=env)
        assert proc.returncode == 0, (argv, proc.stderr)
        assert "no config file" not in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "nhitui", "scan"], capture_output=True, text=True, timeout=60,
                          env=env)
    assert proc.returncode == 2 and "no config file" in proc.stderr and "Traceback" not in proc.stderr


def test_explicit_config_that_is_missing_is_still_an_error(fresh_host, capsys):
    assert cli.main(["--config", str(fresh_host / "nope.toml"), "history"]) == 2
    assert "no config file" in capsys.readouterr().err
