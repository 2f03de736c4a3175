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
