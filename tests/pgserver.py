"""A throwaway PostgreSQL server for the team-store tests (the distribution's PostgreSQL, no mocks).

initdb refuses to run as root, so as root the cluster is created and run as the `postgres` user
(runuser). The server listens on 127.0.0.1 on a free port, with fsync off (a test cluster), and
`scram-sha-256` for TCP: the tests connect as a password user through the store's own code path.
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg


def bin_dir() -> Path:
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if candidates:
        return Path(candidates[-1]).parent
    raise RuntimeError("PostgreSQL is not installed (no initdb): install the distribution's postgresql "
                       "package (apt-get install postgresql) to run the team-store tests")


class PgServer:
    def __init__(self) -> None:
        self.bin = bin_dir()
        self.dir = Path(tempfile.mkdtemp(prefix="nhitui-pg-"))
        self.data = self.dir / "data"
        self.port = 0
        self.password = secrets.token_hex(12)
        self.as_root = os.geteuid() == 0

    def _run(self, *cmd: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if self.as_root else []
        subprocess.run([*prefix, *cmd], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,  # noqa: S603
                       cwd=self.dir, timeout=120)

    def start(self) -> PgServer:
        if self.as_root:
            shutil.chown(self.dir, "postgres", "postgres")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth-local=trust",
                  "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync")
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.dir / "log"), "-w", "-t", "60",
                  "-o", f"-k {self.dir} -p {self.port} -c listen_addresses=127.0.0.1 -c fsync=off "
                        "-c synchronous_commit=off -c full_page_writes=off", "start")
        with psycopg.connect(host=str(self.dir), port=self.port, user="postgres", dbname="postgres",
                             autocommit=True) as conn:
            conn.execute(f"CREATE ROLE nhitui LOGIN PASSWORD '{self.password}'")
            conn.execute("CREATE DATABASE nhitui OWNER nhitui")
        return self

    def url(self, dbname: str = "nhitui") -> str:
        return f"postgresql://nhitui@127.0.0.1:{self.port}/{dbname}"

    def create_db(self, name: str) -> str:
        with psycopg.connect(host=str(self.dir), port=self.port, user="postgres", dbname="postgres",
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" OWNER nhitui')
        return self.url(name)

    def stop(self) -> None:
        try:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
            pass
        for _ in range(50):
            if not (self.data / "postmaster.pid").exists():
                break
            time.sleep(0.1)
        shutil.rmtree(self.dir, ignore_errors=True)
