"""Benchmark: launch `nhitui` on a saved 100k snapshot and time the first rows and the whole set. Prints, never asserts.

    python -m benchmarks open [--quick]          # --quick: 20k rows
    python benchmarks/bench_open.py [--rows N] [--runs K]

Issue 19: "the TUI shows the last saved snapshot at once (first rows < 0.5 s after launch at 100k
rows)". Each run starts `python -m nhitui --config X` as a child process in a pseudo-terminal
(200x50) and reads what it draws: "first rows" is the moment rows are first on screen: the first
screen drawn before Textual loads (nhitui/tui/prepaint.py, its title "N identities shown of M"),
or the dashboard's header counting a nonzero number of identities (painted in the same frame as the
table's rows), whichever comes first; the dashboard's own first frame with rows is printed too.
"All rows" is the moment the dashboard's header counts every saved row. The clock starts before the child's interpreter does, so imports count.
The child's CPU time (user+sys) is printed too, and the machine's load average: other processes
on the same cores stretch every wall-clock figure. `--fresh` (no snapshot) gives the floor: the
first frame of an empty table. A third set of launches types into the filter while the rows stream
in (`/` then a letter every 0.4 s) and times each letter's echo: the UI must stay responsive.
Figures are the median of the runs.
"""

from __future__ import annotations

import argparse
import os
import pty
import re
import select
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

Row = tuple[str, float, float, str]
TARGET_FIRST = 0.5      # issue 19
TARGET_ALL = 5.0        # our own bar for the whole 100k snapshot (scaled to the row count)
TARGET_ECHO = 0.1       # our own bar for a keystroke while rows stream in (the max gets 3x)
_ANSI = re.compile(rb"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[()][0-9A-B]|[=>NOM78])")
_COUNT = re.compile(rb"([\d,]+) identities \xc2\xb7")            # the dashboard's header
_FIRST_SCREEN = re.compile(rb"([\d,]+) identities shown of ")     # the screen drawn before Textual loads


def make_history(path: Path, rows: int) -> None:
    """A history holding one snapshot of `rows` synthetic identities, taken three hours ago."""
    from nhitui.history import History
    from nhitui.sandbox.synthetic import make_identities, statuses_of

    identities = make_identities(rows)
    history = History(path)
    try:
        history.save(identities, statuses_of(identities), taken_at=datetime.now(timezone.utc) - timedelta(hours=3))
    finally:
        history.close()


PROBE = b"zqxjkvwy"   # typed into the filter while rows stream in: no row matches, each echo is findable


def launch(config: Path, rows: int, fresh: bool = False, timeout: float = 120.0,
           probe: bool = False) -> dict[str, Any]:
    """One launch in a pseudo-terminal: seconds to the first frame, the first rows and all rows, and
    the child's CPU seconds until all rows were in. `probe`: from the dashboard's first rows on, type `/` and then
    one letter every 0.4 s, and record how long each takes to show in the filter box."""
    master, slave = pty.openpty()
    termios_size = struct.pack("HHHH", 50, 200, 0, 0)
    import fcntl

    fcntl.ioctl(slave, termios.TIOCSWINSZ, termios_size)
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "200", "LINES": "50"}
    env.pop("NO_COLOR", None)
    argv = [sys.executable, "-m", "nhitui", "--config", str(config)] + (["--fresh"] if fresh else [])
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True,
                            start_new_session=True)
    os.close(slave)
    seen = b""
    out: dict[str, Any] = {"echo": []}
    want = f"{rows:,}".encode()
    typed, sent_at, echoed, after = b"", 0.0, b"", b""
    try:
        while time.perf_counter() - started < timeout:
            now = time.perf_counter() - started
            if probe and "ui" in out and len(typed) < len(PROBE) and now - sent_at > 0.4 and typed == echoed:
                os.write(master, (b"/" if not typed else b"") + PROBE[len(typed):len(typed) + 1])
                typed, sent_at, after = PROBE[:len(typed) + 1], time.perf_counter() - started, b""
            ready, _, _ = select.select([master], [], [], 0.01 if probe else 0.05)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                data = os.read(master, 1 << 16)
            except OSError:
                break
            now = time.perf_counter() - started
            if typed != echoed:
                after += data
                if typed in _ANSI.sub(b"", after):
                    out["echo"].append(now - sent_at)
                    echoed = typed
            seen = (seen + data)[-(1 << 20):]
            text = _ANSI.sub(b"", seen[-(1 << 16):])
            counts = _COUNT.findall(text)
            if counts and "frame" not in out:
                out["frame"] = now
            if "first" not in out and (_FIRST_SCREEN.search(text) or any(c.strip(b",0") for c in counts)):
                out["first"] = now
            if "ui" not in out and any(c.strip(b",0") for c in counts):
                out["ui"] = now
            if fresh and "frame" in out:
                break
            if want in counts:
                out["all"] = now
                break
        usage = _cpu_of(proc.pid)
        out["cpu"] = usage
    finally:
        _stop(proc, master)
    return out


def _cpu_of(pid: int) -> float:
    """The child's user+sys CPU seconds so far (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks
    except (OSError, IndexError, ValueError):
        return 0.0


def _stop(proc: subprocess.Popen, master: int) -> None:
    try:
        os.write(master, b"q")
        proc.wait(timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        proc.kill()
        proc.wait()
    finally:
        os.close(master)


def measure(rows: int, runs: int) -> list[Row]:
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        history = Path(tmp) / "history.sqlite"
        config = Path(tmp) / "config.toml"
        config.write_text(f'[history]\npath = "{history}"\n')
        t = time.perf_counter()
        make_history(history, rows)
        print(f"  (a {rows:,}-row history saved in {time.perf_counter() - t:.1f} s)", file=sys.stderr)
        floor = [launch(config, rows, fresh=True) for _ in range(runs)]
        opened = [launch(config, rows) for _ in range(runs)]
        probed = [launch(config, rows, probe=True) for _ in range(runs)]
    load_after = os.getloadavg()
    k = f"{rows // 1000}k"

    def median(results: list[dict[str, float]], key: str) -> float:
        values = [r[key] for r in results if key in r]
        return statistics.median(values) if values else float("nan")

    nan = float("nan")
    echoes = [e for r in probed for e in r["echo"]]
    cores = os.cpu_count() or 1
    load = f"load {load_before[0]:.1f}->{load_after[0]:.1f} on {cores} cores"
    print(f"  machine: {load}; {runs} run(s) each, medians", file=sys.stderr)
    return [
        ("launch -> first frame, --fresh (no rows: the UI's floor)", median(floor, "frame"), TARGET_FIRST, "s"),
        (f"launch -> first rows of a saved {k} snapshot", median(opened, "first"), TARGET_FIRST, "s"),
        ("  launch -> the dashboard's first frame with rows", median(opened, "ui"), float("nan"), "s"),
        (f"launch -> all {k} rows in", median(opened, "all"), TARGET_ALL * rows / 100_000, "s"),
        (f"  child CPU time (user+sys) to all {k} rows", median(opened, "cpu"), TARGET_ALL * rows / 100_000, "s"),
        ("filter keystroke -> echo while rows stream in, median", statistics.median(echoes) if echoes else nan,
         TARGET_ECHO, "s"),
        ("filter keystroke -> echo while rows stream in, max", max(echoes) if echoes else nan, TARGET_ECHO * 3, "s"),
        (f"  ({load})", load_after[0], float(cores), ""),
    ]


def run(quick: bool = False) -> list[Row]:
    """From `python -m benchmarks`: the launch figures (each launch is its own child process)."""
    return measure(20_000 if quick else 100_000, 1 if quick else 3)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    from benchmarks.report import print_rows

    print_rows(f"bench_open ({args.rows:,} rows)", measure(args.rows, args.runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
