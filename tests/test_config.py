"""Config validation: every mistake is one line naming file:line and key, exit 2 from the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nhitui import config
from nhitui.config import ConfigError

GOOD = """\
[policy]
stale_after_days = 90

[[source]]
type = "github"
name = "acme-github"
org = "acme"
token = "env:GITHUB_TOKEN"
"""


def write(tmp_path, text: str):
    path = tmp_path / "c.toml"
    path.write_text(textwrap.dedent(text))
    os.chmod(path, 0o600)
    return path


def error_of(tmp_path, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        config.load(write(tmp_path, text))
    return str(info.value)


def test_good_config_loads(tmp_path):
    cfg = config.load(write(tmp_path, GOOD))
    assert cfg.sources[0]["org"] == "acme"
    assert cfg.policy.stale_after_days == 90


def test_example_config_is_valid():
    from pathlib import Path

    cfg = config.load(Path(__file__).parent.parent / "config.example.toml")
    assert {s["type"] for s in cfg.sources} == {"github", "gitlab", "aws"}


@pytest.mark.parametrize("text, line, needle", [
    (GOOD + 'colour = "red"\n', 9, "source.colour: unknown key"),
    (GOOD.replace("stale_after_days = 90", 'stale_after_days = "ninety"'), 2, "policy.stale_after_days: must be an integer"),
    (GOOD + '\n[[source]]\ntype = "gitlab"\nname = "acme-github"\ngroups = ["x"]\ntoken = "env:X"\n', 12,
     "duplicate source name 'acme-github'"),
    (GOOD.replace('type = "github"', 'type = "bitbucket"'), 5, "unknown source type 'bitbucket'"),
    (GOOD.replace('org = "acme"\n', ""), 4, "org: missing"),
    (GOOD.replace('"env:GITHUB_TOKEN"', '"ghp_abcdefabcdefabcdefabcdef"'), 8, "literal secret is not allowed"),
    ('[[source]]\ntype = "jfrog"\nname = "j"\ntoken = "env:J"\n', 1, "url: missing"),
    ('[polcy]\nx = 1\n', 1, "polcy: unknown key"),
    ('[[source]]\ntype = "github"\nname = "a"\norg = "x"\ntoken = "env:T"\nconcurrency = 500\n', 6,
     "between 1 and 100"),
])
def test_each_mistake_names_file_line_and_key(tmp_path, text, line, needle):
    message = error_of(tmp_path, text)
    assert message.startswith(f"{tmp_path / 'c.toml'}:{line}: "), message
    assert needle in message
    assert "\n" not in message


def test_literal_secret_error_gives_advice_and_hides_nothing_else(tmp_path):
    message = error_of(tmp_path, GOOD.replace('"env:GITHUB_TOKEN"', '"supersecretvalue123"'))
    assert "nhitui auth set acme-github" in message and "env:" in message
    assert "supersecretvalue123" not in message


def test_syntax_error_has_line(tmp_path):
    message = error_of(tmp_path, '[policy]\nstale_after_days = = 3\n')
    assert ":2: invalid TOML" in message


def test_world_writable_config_is_refused(tmp_path):
    path = write(tmp_path, GOOD)
    os.chmod(path, 0o666)
    with pytest.raises(ConfigError, match="world-writable"):
        config.load(path)


def test_cli_exits_2_without_traceback(tmp_path):
    path = write(tmp_path, GOOD.replace('type = "github"', 'type = "svn"'))
    proc = subprocess.run([sys.executable, "-m", "nhitui", "--config", str(path), "scan"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert f"{path}:5: source.type" in proc.stderr


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=300))
def test_fuzzed_config_text_ends_in_config_or_clear_error(text):
    try:
        config.parse(text, "fuzz.toml")
    except ConfigError as exc:
        assert str(exc).startswith("fuzz.toml:")


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from(["type", "name", "org", "token", "groups", "url", "concurrency",
                                        "timeout", "instance", "orgs", "profile", "x"]),
                       st.one_of(st.text(max_size=10), st.integers(-5, 200), st.booleans(),
                                 st.lists(st.text(max_size=5), max_size=3)), max_size=8))
def test_fuzzed_source_tables_end_in_config_or_clear_error(table):
    import json

    lines = ["[[source]]"] + [f"{k} = {json.dumps(v)}" for k, v in table.items()]
    try:
        config.parse("\n".join(lines), "fuzz.toml")
    except ConfigError as exc:
        assert str(exc).startswith("fuzz.toml:")
