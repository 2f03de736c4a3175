"""Load and validate the TOML config; every mistake names the file, line and key.

tomllib reports syntax errors with a position but forgets positions once parsed, so semantic
errors (unknown key, wrong type, literal secret...) are located by scanning the text for the
table and key they belong to. Secrets never sit in the file: credential keys must be references.
"""

from __future__ import annotations

import math
import os
import re
import stat
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

from nhitui import config_values
from nhitui.policy import RULES, Policy

PROVIDER_TYPES = ("github", "gitlab", "aws", "npm", "dockerhub", "jfrog", "gcp", "azure", "kubernetes", "vault")
CREDENTIAL_KEYS = ("token", "revoke_token", "app_private_key", "client_secret", "client_certificate",
                   "revoke_client_secret", "arm_token", "revoke_arm_token")
REF = re.compile(r"^(env:[A-Za-z_][A-Za-z0-9_]*|keyring:[^/\s]+/[^/\s]+)$")

_STR, _INT, _BOOL, _NUM = (str,), (int,), (bool,), (int, float)
_LIST = (list,)
COMMON = {"type": _STR, "name": _STR, "token": _STR, "revoke_token": _STR, "timeout": _NUM,
          "concurrency": _INT, "ca_bundle": _STR, "enabled": _BOOL}
SOURCE_KEYS: dict[str, dict[str, tuple[type, ...]]] = {
    "github": {"org": _STR, "orgs": _LIST, "api_url": _STR, "pacing": _BOOL, "budget_wait": _NUM,
               "app_id": (int, str), "app_private_key": _STR,
               "app_installation_id": (int, str)},
    "gitlab": {"url": _STR, "groups": _LIST, "instance": _BOOL, "requests_per_minute": _NUM},
    "aws": {"profile": _STR, "profiles": _LIST, "endpoint_url": _STR, "regions": _LIST, "accounts": _LIST,
            "role_name": _STR, "organization": _BOOL, "revoke_profile": _STR, "pacing": _BOOL},
    "npm": {"registry": _STR},
    "dockerhub": {"api_url": _STR, "username": _STR, "orgs": _LIST},
    "jfrog": {"url": _STR},
    "gcp": {"organization": (str, int), "folders": _LIST, "projects": _LIST, "impersonate": _STR,
            "revoke_impersonate": _STR, "quota_project": _STR, "endpoints": (dict,)},
    "azure": {"tenant_id": _STR, "subscriptions": _LIST, "client_id": _STR, "client_secret": _STR,
              "client_certificate": _STR, "arm_token": _STR, "revoke_client_id": _STR,
              "revoke_client_secret": _STR, "revoke_arm_token": _STR, "graph_url": _STR, "arm_url": _STR,
              "authority_host": _STR, "pacing": _BOOL, "graph_tenant_size": _STR},
    "kubernetes": {"kubeconfig": _STR, "contexts": _LIST, "namespaces": _LIST, "revoke_context": _STR},
    "vault": {"url": _STR, "namespace": _STR, "mounts": _LIST},
}
SECTIONS: dict[str, dict[str, tuple[type, ...]]] = {
    "policy": {"stale_after_days": _INT, "never_used_grace_days": _INT, "max_age_days": _INT,
               "sprawl_threshold": _INT, "rotation_grace_days": _INT, "disable": _LIST, "kind": (dict,)},
    "journal": {"path": _STR},
    "store": {"url": _STR, "password": _STR},
    "history": {"path": _STR, "save": _BOOL, "keep": _INT, "keep_days": _INT},
    "scan": {"timeout": _NUM, "processes": _BOOL},
    "ui": {"read_only": _BOOL, "theme": _STR},
    "keys": {},
}


KIND_KEYS = ("stale_after_days", "never_used_grace_days", "max_age_days")
MAX_DAYS = 36_500          # day thresholds beyond a century overflow date arithmetic


class ConfigError(Exception):
    """A config mistake, already phrased as `file:line: key: what is wrong`."""


@dataclass
class Config:
    path: Path | None
    sources: list[dict[str, Any]] = field(default_factory=list)
    policy: Policy = field(default_factory=Policy)
    journal_path: Path | None = None
    history_path: Path | None = None
    history_save: bool = True
    history_keep: int | None = None
    history_keep_days: int | None = None
    scan_timeout: float = 600.0
    read_only: bool = False
    theme: str = ""
    keys: dict[str, str] = field(default_factory=dict)
    store_url: str = ""
    store_password: str = ""
    scan_processes: bool = False

    def source(self, name: str) -> dict[str, Any] | None:
        return next((s for s in self.sources if s["name"] == name), None)


def state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "nhitui"


def default_path() -> Path:
    if os.environ.get("NHITUI_CONFIG"):
        return Path(os.environ["NHITUI_CONFIG"])
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "nhitui" / "config.toml"


class _Locator:
    """Finds the line of a key inside `[section]`, `[[source]]` #n or at the top of the file."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.lines = text.splitlines()

    def _header_lines(self, header: str) -> list[int]:
        pattern = re.compile(r"^\s*" + re.escape(header) + r"\s*(#.*)?$")
        return [n for n, line in enumerate(self.lines) if pattern.match(line)]

    def line(self, table: str | None = None, index: int = 0, key: str | None = None) -> int:
        start, end = 0, len(self.lines)
        if table == "source":
            heads = self._header_lines("[[source]]")
            if index < len(heads):
                start = heads[index]
        elif table:
            heads = self._header_lines(f"[{table}]")
            if heads:
                start = heads[0]
        if table:
            for n in range(start + 1, len(self.lines)):
                if re.match(r"^\s*\[", self.lines[n]):
                    end = n
                    break
        if key:
            pattern = re.compile(r"^\s*[\"']?" + re.escape(key) + r"[\"']?\s*=")
            for n in range(start, end):
                if pattern.match(self.lines[n]):
                    return n + 1
        return start + 1

    def error(self, message: str, table: str | None = None, index: int = 0, key: str | None = None) -> ConfigError:
        return ConfigError(f"{self.path}:{self.line(table, index, key)}: {message}")


def _type_name(types: tuple[type, ...]) -> str:
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false",
             list: "a list", dict: "a table"}
    return " or ".join(names.get(t, t.__name__) for t in types)


def _check_type(value: Any, types: tuple[type, ...]) -> bool:
    if isinstance(value, bool) and bool not in types:
        return False
    return isinstance(value, types)


def load(path: Path | str | None = None) -> Config:
    """Read and validate a config file; raise ConfigError with file:line on any mistake."""
    path = Path(path) if path else default_path()
    if not path.exists():
        raise ConfigError(f"{path}: no config file (copy config.example.toml there, or pass --config)")
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    if mode & stat.S_IWOTH:
        raise ConfigError(f"{path}:1: the file is world-writable; anyone could point nhitui at their own "
                          f"server. Fix it with: chmod 600 {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    return parse(text, path)


def parse(text: str, path: Path | str = "<config>") -> Config:
    path = Path(path)
    loc = _Locator(path, text)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        line = m.group(1) if m else "1"
        raise ConfigError(f"{path}:{line}: invalid TOML: {exc}") from None

    config = Config(path=path)
    for key, value in data.items():
        if key == "source":
            continue
        if key not in SECTIONS:
            raise loc.error(f"{key}: unknown key (known: source, {', '.join(SECTIONS)})", key=key)
        if not isinstance(value, dict):
            raise loc.error(f"{key}: must be a table like [{key}]", key=key)
        _check_section(loc, key, value)

    policy = data.get("policy", {})
    for rule in policy.get("disable", []):
        if not isinstance(rule, str) or rule not in RULES:
            raise loc.error(f"policy.disable: unknown rule {rule!r} (known: {', '.join(RULES)})", "policy",
                            key="disable")
    for key in ("stale_after_days", "never_used_grace_days", "max_age_days", "sprawl_threshold", "rotation_grace_days"):
        if key in policy and policy[key] < 0:
            raise loc.error(f"policy.{key}: must not be negative", "policy", key=key)
        if key in policy and policy[key] > MAX_DAYS:
            raise loc.error(f"policy.{key}: must be at most {MAX_DAYS}", "policy", key=key)
    _check_kinds(loc, policy.get("kind", {}))
    config.policy = Policy.from_config(policy)

    journal = data.get("journal", {})
    config.journal_path = Path(os.path.expanduser(journal["path"])) if journal.get("path") else None
    history = data.get("history", {})
    config.history_path = Path(os.path.expanduser(history["path"])) if history.get("path") else None
    config.history_save = history.get("save", True)
    config.history_keep = history.get("keep")
    config.history_keep_days = history.get("keep_days")
    config.scan_timeout = float(data.get("scan", {}).get("timeout", 600))
    config.scan_processes = bool(data.get("scan", {}).get("processes", False))
    if not 0 < config.scan_timeout < math.inf:
        raise loc.error("scan.timeout: must be a positive number of seconds", "scan", key="timeout")
    for key in ("keep", "keep_days"):
        if history.get(key, 0) < 0:
            raise loc.error(f"history.{key}: must not be negative", "history", key=key)
    ui = data.get("ui", {})
    config.read_only = ui.get("read_only", False)
    config.theme = ui.get("theme", "")
    config.keys = {k: v for k, v in data.get("keys", {}).items()}
    for k, v in config.keys.items():
        if not isinstance(v, str):
            raise loc.error(f"keys.{k}: must be a string like \"ctrl+r\"", "keys", key=k)
    store = data.get("store", {})
    config.store_url = store.get("url", "")
    config.store_password = store.get("password", "")
    if config.store_url:
        from nhitui.store import StoreConfigError, check_url

        try:
            check_url(config.store_url)
        except StoreConfigError as exc:
            raise loc.error(f"store.url: {exc}", "store", key="url") from None
    if config.store_password and not REF.match(config.store_password):
        raise loc.error("store.password: a literal secret is not allowed in the config file; write "
                        "password = \"env:VARIABLE\" or \"keyring:service/user\", or use PGPASSWORD / ~/.pgpass",
                        "store", key="password")

    sources = data.get("source", [])
    if not isinstance(sources, list):
        raise loc.error("source: must be an array of tables, written [[source]]", key="source")
    seen: dict[str, int] = {}
    for index, table in enumerate(sources):
        config.sources.append(_check_source(loc, index, table, seen))
    return config


def _check_kinds(loc: _Locator, kinds: Mapping[str, Any]) -> None:
    """[policy.kind.NAME] tables: the three day thresholds, as integers in range."""
    for kind, table in kinds.items():
        where = {"table": f"policy.kind.{kind}"}
        if not isinstance(table, dict):
            raise loc.error(f"policy.kind.{kind}: must be a table like [policy.kind.{kind}]", "policy", key="kind")
        for key, value in table.items():
            if key not in KIND_KEYS:
                raise loc.error(f"policy.kind.{kind}.{key}: unknown key (known: {', '.join(KIND_KEYS)})",
                                **where, key=key)
            if not _check_type(value, _INT) or not 0 <= value <= MAX_DAYS:
                raise loc.error(f"policy.kind.{kind}.{key}: must be an integer from 0 to {MAX_DAYS}", **where,
                                key=key)


def _check_section(loc: _Locator, name: str, table: Mapping[str, Any]) -> None:
    schema = SECTIONS[name]
    for key, value in table.items():
        if name == "keys":
            continue
        if key not in schema:
            raise loc.error(f"{name}.{key}: unknown key (known: {', '.join(schema)})", name, key=key)
        if not _check_type(value, schema[key]):
            raise loc.error(f"{name}.{key}: must be {_type_name(schema[key])}, not {value!r}", name, key=key)


def _check_source(loc: _Locator, index: int, table: Any, seen: dict[str, int]) -> dict[str, Any]:
    where = {"table": "source", "index": index}
    if not isinstance(table, dict):
        raise loc.error("source: each source must be a table", **where)
    kind = table.get("type")
    if kind is None:
        raise loc.error(f"source.type: missing (one of {', '.join(PROVIDER_TYPES)})", **where)
    if kind not in PROVIDER_TYPES:
        raise loc.error(f"source.type: unknown source type {kind!r} (one of {', '.join(PROVIDER_TYPES)})",
                        **where, key="type")
    name = table.get("name")
    if not isinstance(name, str) or not name.strip():
        raise loc.error("source.name: missing; every source needs a unique name", **where, key="name")
    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]*$", name):
        raise loc.error(f"source.name: {name!r} may hold only letters, digits, '.', '_' and '-' "
                        "(it prefixes every uid)", **where, key="name")
    if name in seen:
        raise loc.error(f"source.name: duplicate source name {name!r} (first defined at line "
                        f"{loc.line('source', seen[name], 'name')})", **where, key="name")
    seen[name] = index
    schema = {**COMMON, **SOURCE_KEYS[kind]}
    for key, value in table.items():
        if key not in schema:
            raise loc.error(f"source.{key}: unknown key for a {kind} source (known: {', '.join(schema)})",
                            **where, key=key)
        if not _check_type(value, schema[key]):
            raise loc.error(f"source.{key}: must be {_type_name(schema[key])}, not {type(value).__name__}",
                            **where, key=key)
        if key in CREDENTIAL_KEYS and not REF.match(value):
            raise loc.error(
                f"source.{key}: a literal secret is not allowed in the config file. Store it with "
                f"`nhitui auth set {name}` and write {key} = \"keyring:nhitui/{name}\", or export it and "
                f"write {key} = \"env:VARIABLE\"", **where, key=key)
        if key in ("concurrency",) and not 1 <= value <= 100:
            raise loc.error("source.concurrency: must be between 1 and 100", **where, key=key)
        if key == "budget_wait" and not 0 <= value <= 86_400:
            raise loc.error("source.budget_wait: must be 0 to 86400 seconds (how long to wait for the rate-limit "
                            "reset before stopping at a checkpoint)", **where, key=key)
        if key == "timeout" and not 0 < value < math.inf:
            raise loc.error("source.timeout: must be a positive number of seconds", **where, key=key)
        if isinstance(value, list) and not all(isinstance(v, str) for v in value):
            raise loc.error(f"source.{key}: must be a list of strings", **where, key=key)
        wrong = config_values.problem(kind, key, value)
        if wrong:
            raise loc.error(wrong, **where, key=key)
    missing = _missing(kind, table)
    if missing:
        raise loc.error(f"source.{missing}", **where)
    return dict(table)


def _missing(kind: str, t: Mapping[str, Any]) -> str | None:
    if kind == "github":
        if not t.get("org") and not t.get("orgs"):
            return "org: missing (the GitHub organisation to inventory, e.g. org = \"acme\")"
        if not t.get("token") and not t.get("app_id"):
            return "token: missing (token = \"env:GITHUB_TOKEN\", or a GitHub App: app_id, app_private_key, " \
                   "app_installation_id)"
        if t.get("app_id") and not (t.get("app_private_key") and t.get("app_installation_id")):
            return "app_private_key: a GitHub App needs app_id, app_private_key and app_installation_id"
    if kind == "gitlab":
        if not t.get("groups") and not t.get("instance"):
            return "groups: missing (groups = [\"acme\"], or instance = true with an admin token)"
        if not t.get("token"):
            return "token: missing (token = \"env:GITLAB_TOKEN\")"
    if kind == "jfrog" and not t.get("url"):
        return "url: missing (the JFrog platform URL, e.g. url = \"https://acme.jfrog.io\")"
    if kind == "dockerhub" and not t.get("username"):
        return "username: missing (the Docker Hub user or organisation that logs in)"
    if kind in ("npm", "dockerhub", "jfrog") and not t.get("token"):
        return f"token: missing (token = \"env:{kind.upper()}_TOKEN\")"
    if kind == "gcp" and not (t.get("organization") or t.get("folders") or t.get("projects")):
        return "organization: missing (organization = \"123456789012\", or folders = [...], or projects = [...])"
    if kind == "azure" and not t.get("tenant_id"):
        return "tenant_id: missing (the Entra tenant id, e.g. tenant_id = \"00000000-0000-0000-0000-000000000000\")"
    if kind == "azure" and t.get("client_id") and not (t.get("client_secret") or t.get("client_certificate")):
        return "client_secret: client_id needs client_secret or client_certificate (as env: or keyring:)"
    if kind == "azure" and t.get("revoke_client_id") and not t.get("revoke_client_secret"):
        return "revoke_client_secret: revoke_client_id needs revoke_client_secret (as env: or keyring:)"
    if kind == "vault" and not t.get("url"):
        return "url: missing (the Vault or OpenBao address, e.g. url = \"https://vault.acme.example:8200\")"
    if kind == "vault" and not t.get("token"):
        return "token: missing (token = \"env:VAULT_TOKEN\")"
    if kind == "aws" and t.get("organization") and not t.get("role_name"):
        return "role_name: organization = true needs the role to assume in each account"
    if kind == "aws" and t.get("accounts") and not t.get("role_name"):
        return "role_name: accounts need the role to assume in each account"
    return None
