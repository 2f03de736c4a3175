"""`nhitui trust --demo --format json`: the real connectors over the sandbox, one (slow) run."""

from __future__ import annotations

import json
import subprocess
import sys


def test_trust_demo_json_shows_a_risky_and_a_pinned_aws_trust(tmp_path):
    out = tmp_path / "trust.json"
    proc = subprocess.run([sys.executable, "-m", "nhitui", "trust", "--demo", "--scale", "0.1", "--format", "json",
                           "-o", str(out)], capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    rows = json.loads(out.read_text())["trust_map"]
    aws = {r["becomes"]: r for r in rows if r["provider"] == "aws" and r["via"] == "aws-iam"}
    assert aws["gha-no-sub"]["scope"] == "any" and aws["gha-no-sub"]["findings"] == ["oidc-no-sub"]
    assert aws["gha-org-wildcard"]["scope"] == "org" and "oidc-wildcard-sub" in aws["gha-org-wildcard"]["findings"]
    pinned = aws["gha-api-deploy"]
    assert pinned["scope"] == "exact" and pinned["findings"] == [] and pinned["refs"] == ["refs/heads/main"]
    assert pinned["who"].endswith("/api")
    scopes = [r["scope"] for r in rows]
    order = ("unknown", "any", "pattern", "org", "exact", "none")
    assert scopes == sorted(scopes, key=order.index)                 # widest first
