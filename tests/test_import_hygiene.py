"""Static contracts live in pyproject (import-linter); this checks what really gets imported."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("textual", "rich", "boto3", "botocore", "github", "gitlab", "httpx", "moto")


def loaded_after(code: str) -> set[str]:
    probe = f"{code}\nimport sys\nprint(' '.join(sorted(m for m in sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60)
    return set(out.stdout.split())


@pytest.mark.parametrize("module", ["nhitui.model", "nhitui.inventory", "nhitui.query", "nhitui.policy",
                                    "nhitui.config", "nhitui.export", "nhitui.journal", "nhitui.history",
                                    "nhitui.collect", "nhitui.revoke", "connectors.base"])
def test_core_modules_do_not_import_textual(module):
    loaded = loaded_after(f"import {module}")
    assert not {"textual", "rich"} & loaded


def test_help_and_version_stay_light():
    for argv in (["--help"], ["--version"]):
        code = ("import sys, contextlib, io\nfrom nhitui.cli import main\nsys.argv=['nhitui']\n"
                f"with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()): main({argv!r})")
        loaded = loaded_after(code)
        assert not set(HEAVY) & {m.split(".")[0] for m in loaded}, argv
