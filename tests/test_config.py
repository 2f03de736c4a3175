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


# --- values checked at load time --------------------------------------------------------------------

GUID = "2f0c3a4e-1b2c-4d5e-8f90-123456789abc"
BASES = {
    "github": {"org": '"acme"', "token": '"env:T"'},
    "gitlab": {"url": '"https://gitlab.example.com"', "groups": '["acme"]', "token": '"env:T"'},
    "aws": {"profile": '"prod"'},
    "npm": {"registry": '"https://registry.npmjs.org"', "token": '"env:T"'},
    "dockerhub": {"api_url": '"https://hub.docker.com"', "username": '"acme"', "token": '"env:T"'},
    "jfrog": {"url": '"https://acme.jfrog.io"', "token": '"env:T"'},
    "gcp": {"organization": '"123456789012"'},
    "azure": {"tenant_id": f'"{GUID}"'},
    "kubernetes": {"kubeconfig": '"{kubeconfig}"'},
    "vault": {"url": '"https://vault.example:8200"', "token": '"env:T"'},
}


@pytest.fixture
def kubeconfig(tmp_path):
    path = tmp_path / "kubeconfig"
    path.write_text("apiVersion: v1\nkind: Config\n")
    return path


def source_text(kind: str, kube_path, **settings: str) -> tuple[str, int]:
    """A [[source]] of `kind` with the base settings overridden by `settings` (TOML literals);
    the overridden keys come last. Returns (text, line of the last key)."""
    table = {k: v for k, v in BASES[kind].items() if k not in settings} | settings
    lines = ["[[source]]", f'type = "{kind}"', 'name = "s"']
    lines += [f"{k} = {v.replace('{kubeconfig}', str(kube_path))}" for k, v in table.items()]
    return "\n".join(lines) + "\n", len(lines)


@pytest.mark.parametrize("kind", sorted(BASES))
def test_every_base_source_loads(tmp_path, kubeconfig, kind):
    text, _ = source_text(kind, kubeconfig)
    assert config.load(write(tmp_path, text)).sources[0]["type"] == kind


URL_SETTINGS = [("github", "api_url"), ("gitlab", "url"), ("aws", "endpoint_url"), ("npm", "registry"),
                ("dockerhub", "api_url"), ("jfrog", "url"), ("vault", "url"), ("azure", "graph_url"),
                ("azure", "arm_url"), ("azure", "authority_host")]
BAD_URLS = [("ftp://files.example.com/x", "scheme ftp:// is not allowed"), ("files.example.com", "no scheme"),
            ("https://", "no host"), ("https:///path", "no host"), ("https://exa mple.com", "spaces"),
            (" https://example.com", "spaces"), ("", "empty"), ("file:///etc/passwd", "file://"),
            ("https://example.com:99999", "invalid port")]


@pytest.mark.parametrize("kind, key", URL_SETTINGS)
@pytest.mark.parametrize("url, why", BAD_URLS)
def test_every_url_setting_must_be_http_or_https(tmp_path, kubeconfig, kind, key, url, why):
    text, line = source_text(kind, kubeconfig, **{key: f'"{url}"'})
    message = error_of(tmp_path, text)
    assert message.startswith(f"{tmp_path / 'c.toml'}:{line}: source.{key}: "), message
    assert why in message and message.endswith("(allowed: http:// or https:// URL)") and "\n" not in message


@pytest.mark.parametrize("kind, key", URL_SETTINGS)
def test_good_urls_load(tmp_path, kubeconfig, kind, key):
    url = "https://ghe.example.com/api/v3" if kind == "github" else "http://127.0.0.1:8080/base"
    text, _ = source_text(kind, kubeconfig, **{key: f'"{url}"'})
    assert config.load(write(tmp_path, text)).sources[0][key] == url


def test_a_url_with_a_password_is_refused_without_echoing_it(tmp_path, kubeconfig):
    text, line = source_text("vault", kubeconfig, url='"https://admin:hunter2secret@vault.example"')
    message = error_of(tmp_path, text)
    assert f":{line}: source.url: " in message and "literal secret" in message
    assert "hunter2secret" not in message


def test_gcp_endpoints_are_checked_per_service(tmp_path, kubeconfig):
    good = '{iam = "http://127.0.0.1:1", cloudresourcemanager = "https://crm.example", orgpolicy = "https://o.example"}'
    text, _ = source_text("gcp", kubeconfig, endpoints=good)
    assert config.load(write(tmp_path, text)).sources[0]["endpoints"]["iam"] == "http://127.0.0.1:1"
    text, line = source_text("gcp", kubeconfig, endpoints='{iam = "ftp://x.example"}')
    message = error_of(tmp_path, text)
    assert message.startswith(f"{tmp_path / 'c.toml'}:{line}: source.endpoints.iam: scheme ftp://")
    assert message.endswith("(allowed: http:// or https:// URL)")
    text, line = source_text("gcp", kubeconfig, endpoints='{storage = "https://s.example"}')
    message = error_of(tmp_path, text)
    assert f":{line}: source.endpoints.storage: unknown service" in message
    assert "iam, cloudresourcemanager, policyanalyzer, orgpolicy" in message


@pytest.mark.parametrize("url", ["https://ghe.example.com", "https://ghe.example.com/", "https://ghe.example.com/api",
                                 "http://10.0.0.5:8080/api/v4"])
def test_ghes_api_url_without_api_v3_is_refused_with_the_fix(tmp_path, kubeconfig, url):
    text, line = source_text("github", kubeconfig, api_url=f'"{url}"')
    message = error_of(tmp_path, text)
    host = url.split("/")[2]
    scheme = url.split(":")[0]
    assert message.startswith(f"{tmp_path / 'c.toml'}:{line}: source.api_url: ")
    assert f'api_url = "{scheme}://{host}/api/v3"' in message


@pytest.mark.parametrize("url", ["https://api.github.com", "https://api.github.com/", "https://ghe.example.com/api/v3",
                                 "https://ghe.example.com/api/v3/", "https://api.acme.ghe.com",
                                 "http://127.0.0.1:5000", "http://localhost:5000"])
def test_dotcom_ghec_ghes_and_local_fakes_load(tmp_path, kubeconfig, url):
    text, _ = source_text("github", kubeconfig, api_url=f'"{url}"')
    assert config.load(write(tmp_path, text)).sources[0]["api_url"] == url


BAD_VALUES = [
    ("gcp", "organization", '"organizations/123"', "digits only"),
    ("gcp", "organization", '"acme"', "digits only"),
    ("gcp", "organization", "-5", "digits only"),
    ("gcp", "folders", '[""]', "folder ids"),
    ("gcp", "folders", "[]", "empty list"),
    ("gcp", "projects", '["My Project"]', "project id"),
    ("gcp", "quota_project", '" "', "project id"),
    ("gcp", "impersonate", '"nhitui"', "service account email"),
    ("gcp", "revoke_impersonate", '"alice@example.com"', "service account email"),
    ("azure", "tenant_id", '"not a tenant"', "GUID"),
    ("azure", "tenant_id", '"common"', "GUID"),
    ("azure", "client_id", '"my-app"', "GUID"),
    ("azure", "subscriptions", '["", "x"]', "non-empty"),
    ("kubernetes", "contexts", '[" "]', "non-empty"),
    ("kubernetes", "contexts", "[]", "empty list"),
    ("kubernetes", "namespaces", '["Kube_System"]', "DNS labels"),
    ("kubernetes", "revoke_context", '""', "non-empty"),
    ("kubernetes", "kubeconfig", '"/nonexistent/kube/config"', "does not exist"),
    ("vault", "namespace", '"/team-a"', "leading or trailing slash"),
    ("vault", "namespace", '"team-a/"', "leading or trailing slash"),
    ("vault", "namespace", '""', "namespace path"),
    ("vault", "mounts", '["kv", " "]', "non-empty"),
    ("github", "org", '"acme/api"', "organisation login"),
    ("github", "orgs", '["acme", "a b"]', "organisation logins"),
    ("github", "app_id", '"twelve"', "positive number"),
    ("github", "app_installation_id", "0", "positive number"),
    ("gitlab", "groups", '["/acme"]', "group paths"),
    ("aws", "regions", '["us-east"]', "region names"),
    ("aws", "accounts", '["12345"]', "12-digit"),
    ("aws", "role_name", '"arn:aws:iam::1:role/x"', "IAM role name"),
    ("aws", "profile", '""', "non-empty"),
    ("dockerhub", "username", '"a b"', "non-empty"),
]


@pytest.mark.parametrize("kind, key, value, needle", BAD_VALUES)
def test_each_setting_value_is_checked_at_load_time(tmp_path, kubeconfig, kind, key, value, needle):
    text, line = source_text(kind, kubeconfig, **{key: value})
    message = error_of(tmp_path, text)
    assert message.startswith(f"{tmp_path / 'c.toml'}:{line}: source.{key}: "), message
    assert needle in message and "\n" not in message


GOOD_VALUES = [
    ("gcp", "organization", "123456789012"), ("gcp", "folders", '["123", "folders/456"]'),
    ("gcp", "projects", '["my-project-123", "example.com:legacy-proj"]'),
    ("gcp", "impersonate", '"nhitui@my-project.iam.gserviceaccount.com"'),
    ("gcp", "revoke_impersonate", '"123456789-compute@developer.gserviceaccount.com"'),
    ("azure", "tenant_id", '"acme.onmicrosoft.com"'), ("azure", "client_id", f'"{GUID.upper()}"'),
    ("kubernetes", "namespaces", '["ci", "kube-system"]'), ("vault", "namespace", '"team-a/app"'),
    ("aws", "regions", '["us-east-1", "us-gov-west-1"]'), ("aws", "accounts", '["111111111111"]'),
    ("gitlab", "groups", '["acme", "acme/platform"]'), ("github", "app_installation_id", '"67890"'),
]


@pytest.mark.parametrize("kind, key, value", GOOD_VALUES)
def test_valid_values_load(tmp_path, kubeconfig, kind, key, value):
    extra = {"app_installation_id": {"app_id": "1", "app_private_key": '"env:K"'},
             "client_id": {"client_secret": '"env:S"'}, "accounts": {"role_name": '"Audit"'}}.get(key, {})
    text, _ = source_text(kind, kubeconfig, **extra, **{key: value})
    assert key in config.load(write(tmp_path, text)).sources[0]


def test_kubeconfig_must_be_a_file_and_ca_bundle_must_exist(tmp_path, kubeconfig):
    text, line = source_text("kubernetes", kubeconfig, kubeconfig=f'"{tmp_path}"')
    assert f":{line}: source.kubeconfig: {tmp_path} is not a file" in error_of(tmp_path, text)
    text, line = source_text("github", kubeconfig, ca_bundle='"/nonexistent/ca.pem"')
    assert f":{line}: source.ca_bundle: /nonexistent/ca.pem does not exist" in error_of(tmp_path, text)


def test_cli_ftp_url_is_a_config_error_exit_2(tmp_path):
    path = write(tmp_path, GOOD.replace('org = "acme"', 'org = "acme"\napi_url = "ftp://ghe.example.com/api/v3"'))
    proc = subprocess.run([sys.executable, "-m", "nhitui", "--config", str(path), "scan"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip() == (f"nhitui: {path}:8: source.api_url: scheme ftp:// is not allowed "
                                   "(allowed: http:// or https:// URL)")


def test_pacing_is_a_known_key_for_the_paced_providers(tmp_path):
    for kind in ("aws", "azure"):
        extra = 'tenant_id = "acme.onmicrosoft.com"\n' if kind == "azure" else ""
        cfg = config.load(write(tmp_path, f'[[source]]\ntype = "{kind}"\nname = "x"\n{extra}pacing = false\n'))
        assert cfg.sources[0]["pacing"] is False
    with pytest.raises(ConfigError, match="pacing"):
        config.load(write(tmp_path, '[[source]]\ntype = "aws"\nname = "x"\npacing = "slow"\n'))
