"""The first screen drawn before Textual loads (nhitui/tui/prepaint.py, issue 19: rows < 0.5 s).

It must show the snapshot's most urgent rows in the table's columns, never pass a provider's
control characters to the terminal, fit the terminal by cell width, hand the terminal to the
dashboard without losing typed keys, and leave the user's terminal exactly as it found it, whether
the dashboard takes over or the program dies first. The last two run the real program in a
pseudo-terminal. Timings live in benchmarks/bench_open.py."""

from __future__ import annotations

import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from rich.cells import cell_len

from nhitui.history import History
from nhitui.model import Finding
from nhitui.sandbox.synthetic import make_identities, statuses_of
from nhitui.tui import prepaint
from nhitui.tui.view import attention_key

SGR = re.compile(r"\x1b\[[0-9;]*m")
HOSTILE = "evil\x1b]0;pwned\x07\x1b[2J\u202ename"
WIDE = "\u9375\u306e\u540d\u524d-\U0001f511-key"


def _rows(n: int = 60):
    """Synthetic rows, most urgent first; the two most urgent (critical, never used) have a hostile
    and a wide-glyph name."""
    rows = sorted(make_identities(n, seed=11), key=attention_key)
    critical = (Finding("oidc-no-sub", "critical", "NHI5", "x"),)
    return [replace(rows[0], name=HOSTILE, findings=critical, last_used_at=None),
            replace(rows[1], name=WIDE, findings=critical, last_used_at=None), *rows[2:]]


@pytest.mark.parametrize("width,height", [(200, 50), (80, 24), (41, 10), (12, 5)])
def test_every_line_fits_the_terminal_and_no_provider_control_character_gets_through(width, height) -> None:
    rows = _rows()
    text = prepaint.frame(rows, 100_000, "2026-12-03 16:59 UTC (3 h old)", width, height)
    lines = text.split("\r\n")
    assert len(lines) == height
    for line in lines:
        plain = SGR.sub("", line)
        assert cell_len(plain) == width, (width, plain)
        assert "\x1b" not in plain and "\x07" not in plain and "\u202e" not in plain
    assert "pwned" not in text or "\x1b]0;pwned" not in text


def test_the_rows_come_in_the_given_order_under_the_tables_column_titles() -> None:
    rows = _rows()
    text = prepaint.frame(rows, 100_000, "then", 200, 30, colour=False)
    lines = text.split("\r\n")
    assert "60 identities shown of 100,000" in lines[0]
    assert lines[1].split() == ["provider", "kind", "name", "owner", "target", "priv", "age", "used", "expires",
                                "status", "findings"]
    shown = lines[2:-1]
    assert len(shown) == 27                            # as many rows as fit above the last line
    for identity, line in zip(rows[2:27], shown[2:]):
        assert identity.name[:20] in line
    assert "evil" in shown[0] and "name" in shown[0]   # the hostile name, its control characters replaced
    assert "\u9375\u306e\u540d\u524d" in shown[1]
    assert "\x1b" not in text                          # colour=False: no styling at all


# --- the real program in a pseudo-terminal ------------------------------------------------------------

def _snapshot(tmp: Path, rows) -> Path:
    history = tmp / "history.sqlite"
    h = History(history)
    try:
        h.save(rows, statuses_of(rows), taken_at=datetime.now(timezone.utc) - timedelta(hours=2))
    finally:
        h.close()
    config = tmp / "config.toml"
    config.write_text(f'[history]\npath = "{history}"\n')
    return config


class Terminal:
    """A child in a pseudo-terminal of 120x30; keeps the slave end open to read its modes after."""

    def __init__(self, argv: list[str]) -> None:
        import fcntl

        self.master, self.slave = pty.openpty()
        fcntl.ioctl(self.slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 120, 0, 0))
        self.modes = termios.tcgetattr(self.slave)
        env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "30"}
        env.pop("NO_COLOR", None)
        self.proc = subprocess.Popen(argv, stdin=self.slave, stdout=self.slave, stderr=self.slave, env=env,
                                     close_fds=True, start_new_session=True)
        self.out = b""

    def _read(self) -> bool:
        """What the child drew in the next 0.1 s, added to `out`; False once the terminal is closed."""
        ready, _, _ = select.select([self.master], [], [], 0.1)
        if ready:
            try:
                self.out += os.read(self.master, 1 << 16)
            except OSError:
                return False
        return True

    def read_until(self, pattern: bytes, timeout: float = 60.0) -> bytes:
        deadline = time.monotonic() + timeout
        while pattern not in self.out:
            assert time.monotonic() < deadline, f"{pattern!r} never drawn; last output {self.out[-600:]!r}"
            if not self._read():
                break
        return self.out

    def drain(self, timeout: float = 30.0) -> int:
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            if not self._read():
                break
        if self.proc.poll() is None:
            self.proc.kill()
        return self.proc.wait()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)
        os.close(self.slave)


def _lflag(modes) -> int:
    return modes[3] & (termios.ECHO | termios.ICANON | termios.ISIG)


def test_launch_draws_the_first_screen_then_the_dashboard_takes_typed_keys_and_restores_the_terminal(tmp_path):
    rows = _rows(400)
    config = _snapshot(tmp_path, rows)
    term = Terminal([sys.executable, "-m", "nhitui", "--config", str(config)])
    try:
        first = term.read_until(b"identities shown of 400")
        os.write(term.master, b"/zqx")              # typed while the first screen is up (or just after)
        head = first[first.index(b"identities shown of 400"):]
        assert b"\x1b[?1049h" in first               # on the alternate screen
        assert b"\x1b]0;pwned" not in term.out and b"\x1b[2Jname" not in term.out
        assert b"evil" in head                       # the most urgent row is the hostile one: drawn, defused
        term.read_until("identities \u00b7".encode())   # the dashboard's header
        term.read_until(b"zqx")                      # the typed-ahead filter reached the dashboard
        os.write(term.master, b"\x1b")
        time.sleep(0.3)                              # Textual tells a lone Escape from a sequence by waiting
        os.write(term.master, b"q")
        assert term.drain() == 0
        # The dashboard did not enter (and so clear) the alternate screen again: its first frame
        # overwrote the first screen, with no blank between them.
        assert term.out.count(b"\x1b[?1049h") == 1 and b"\x1b[2J" not in term.out[len(first):]
        assert term.out.rstrip().endswith(b"\x1b[?1049l") or b"\x1b[?1049l" in term.out[-400:]
        assert _lflag(termios.tcgetattr(term.slave)) == _lflag(term.modes)    # echo and line editing back
    finally:
        term.close()


def test_a_death_before_the_dashboard_takes_over_restores_the_terminal(tmp_path):
    """An error (or Ctrl+C) between the first screen and the dashboard: the alternate screen is left,
    the cursor shown and the modes restored, by the launcher's `finally` or, failing that, at exit."""
    script = (
        "from nhitui.sandbox.synthetic import make_identities\n"
        "from nhitui.tui import prepaint\n"
        "assert prepaint.show(make_identities(30, seed=1), 30, 'then')\n"
        "raise SystemExit(7)\n"
    )
    term = Terminal([sys.executable, "-c", script])
    try:
        term.read_until(b"identities shown of 30")
        assert term.drain() == 7
        assert term.out.endswith(prepaint.LEAVE.encode())
        assert _lflag(termios.tcgetattr(term.slave)) == _lflag(term.modes)
    finally:
        term.close()


def test_nothing_is_drawn_when_output_is_not_a_terminal(tmp_path):
    proc = subprocess.run([sys.executable, "-c",
                           "from nhitui.sandbox.synthetic import make_identities\n"
                           "from nhitui.tui import prepaint\n"
                           "print(prepaint.show(make_identities(5, seed=1), 5, 'then'))\n"],
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0 and proc.stdout == "False\n"


def test_the_first_screen_shows_only_the_sources_still_configured(tmp_path):
    """As the dashboard does: a source dropped from the config since the snapshot is not shown."""
    from nhitui.cli import _first_rows
    from nhitui.snapshot_open import SnapshotReader

    rows = _rows(300)
    config = _snapshot(tmp_path, rows)
    reader = SnapshotReader.open(config.parent / "history.sqlite")
    assert reader is not None
    try:
        everything, total = _first_rows(reader, set())
        assert total == 300 and len(everything) == 200
        kept = {"acme-github", "acme-aws"}
        some, total = _first_rows(reader, kept)
        assert {r.source for r in some} == kept & {r.source for r in everything}
        assert total == sum(1 for r in rows if r.source in kept)
        assert [r.uid for r in some] == [r.uid for r in everything if r.source in kept]
    finally:
        reader.close()
