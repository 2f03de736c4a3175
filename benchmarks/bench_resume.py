"""Benchmark: a ~20,000-request organisation against a 5,000-per-window primary budget (issue 19).

GitHub gives a personal access token 5,000 requests an hour; an organisation whose full scan needs
20,000 GETs cannot be read in one window. nhitui says so up front, stops the source `partial` at a
checkpoint ("resumes at HH:MM UTC"), and `nhitui scan --resume` after each reset continues from it.
This benchmark does that the way a user would: `nhitui scan` in a subprocess with a config file,
against the fake GitHub API in a child process (a real server runs elsewhere too), with the hour
scaled to `--window` seconds (default 60) and no latency.

    python benchmarks/bench_resume.py [--repos 2125] [--budget 5000] [--window 60] [--pacing off]
    python benchmarks/bench_resume.py --pacing on --window 150

1. a complete scan with an unlimited budget and no ETag cache: the minimum number of charged
   requests, and the size the forecast of the next scan is made from;
2. the budget drops to `--budget` per window and a fresh window opens: `nhitui scan` (history on, so
   ETags are kept) must forecast the shortfall, stop `partial` with exit 3 and leave a checkpoint;
3. after each reset, `nhitui scan --resume` until the source is `ok` (exit 0);
4. one more `nhitui scan` in a fresh window: with the ETags kept across the pauses, an unchanged
   organisation is answered with 304s, which GitHub does not charge, and completes at once.

Checked and printed: identities lost / duplicated against the world's ground truth, charged
requests of 2-3 over those of 1 (target <= 1.05), the forecast, every exit code, the 304s of 4.
"Charged" is counted at the server: every GET answered other than a 304 or a spent-budget 403
("refused": GitHub does not charge them, but asks for none while the budget is spent).
With `--pacing on` the sources set `pacing = true` (the default on api.github.com): the pacer stops
before the budget is crossed; with `off` (the default here) the server's 403 (remaining 0) stops the
scan. Only the hour is scaled: the secondary limits the pacer keeps (900 GETs a minute per endpoint,
90 s of response time a minute) are GitHub's own and cannot be scaled from a config file, so a paced
window of 5,000 GETs takes about 40 s or more on a loaded machine: give `--pacing on` a window of
150 s or so, or its runs span resets (still correct: they just stop later).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

GETS_PER_REPO = 9.4      # measured: World(repos=n) needs about 23 + 9.4 n GETs


class Charged:
    """WSGI middleware in the fake's process: counts what GitHub would charge to the primary limit."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.charged = 0
        self.not_modified = 0
        self.refused = 0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        def start(status: str, headers: list[tuple[str, str]], *exc: Any) -> Any:
            code = int(status.split()[0])
            remaining = next((v for k, v in headers if k.lower() == "x-ratelimit-remaining"), None)
            if environ.get("REQUEST_METHOD") == "GET" and not environ.get("PATH_INFO", "").startswith("/rate_limit"):
                if code == 304:
                    self.not_modified += 1
                elif code in (403, 429) and remaining == "0":
                    self.refused += 1       # a spent budget: GitHub answers without charging
                else:
                    self.charged += 1
            return start_response(status, headers, *exc)

        return self.app(environ, start_response=start)


def serve(repos: int, window: float, conn: Any, log: str) -> None:
    """Child process: the fake GitHub API; answers commands from the parent until "stop".

    Its stderr (the HTTP server's own error reports) goes to `log`; the parent counts the lines."""
    sys.stderr = open(log, "w", encoding="utf-8")  # noqa: SIM115 - for the life of the process
    from nhitui.model import make_uid
    from nhitui.sandbox.github import GitHubFake
    from nhitui.sandbox.world import World

    world = World(repos=repos)
    fake = GitHubFake(world, rate_limit=10**9, rate_window=window)
    counter = Charged(fake.flask.wsgi_app)
    fake.flask.wsgi_app = counter       # the fake's WSGI entry calls flask.wsgi_app at each request
    with fake:
        truth = sorted(make_uid("gh", e.kind, e.native_id) for e in world.expected_for("github"))
        conn.send((fake.source("gh"), fake.env, truth))
        while True:
            cmd, *args = conn.recv()
            if cmd == "stop":
                break
            if cmd == "budget":             # a new limit, and the next request opens a fresh window
                with fake.lock:
                    fake.rate_limit, fake._window_reset = args[0], 0
            if cmd == "expire":             # close the current window now (a clock jump to the reset)
                with fake.lock:
                    fake._window_reset = 0
            with fake.lock:
                conn.send({"charged": counter.charged, "not_modified": counter.not_modified,
                           "refused": counter.refused, "reset": fake._window_reset, "used": fake._used})


def toml_config(source: dict[str, Any], history: Path, save: bool, pacing: bool) -> str:
    lines = ["[[source]]"]
    for key in ("type", "name", "api_url", "org", "token", "revoke_token"):
        lines.append(f"{key} = {json.dumps(source[key])}")
    lines += ["budget_wait = 0", f"pacing = {str(pacing).lower()}", "concurrency = 16", "",
              "[history]", f"save = {str(save).lower()}", f"path = {json.dumps(str(history))}", "",
              "[scan]", "timeout = 900"]
    return "\n".join(lines) + "\n"


def nhitui_scan(home: Path, config: str, env: dict[str, str], *extra: str) -> tuple[int, dict[str, Any], str, float]:
    """`nhitui scan --config F -o out.json [extra]`: exit code, JSON document, stderr, seconds."""
    cfg = home / "config.toml"
    cfg.write_text(config, encoding="utf-8")
    out = home / "out.json"
    out.unlink(missing_ok=True)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "nhitui", "scan", "--config", str(cfg), "-o", str(out), *extra],
                          env=env, capture_output=True, text=True, timeout=900, cwd=ROOT)
    wall = time.perf_counter() - t0
    doc = json.loads(out.read_text(encoding="utf-8")) if out.exists() else {}
    return proc.returncode, doc, proc.stderr, wall


def status_line(stderr: str) -> str:
    return next((ln for ln in stderr.splitlines() if ln.startswith("nhitui: source gh")), "?")


def forecast_line(stderr: str) -> str:
    return next((ln.strip() for ln in stderr.splitlines() if "the last scan needed" in ln), "")


def ask(parent: Any, *cmd: Any) -> dict[str, Any]:
    parent.send(cmd)
    return parent.recv()


def wait_for_reset(parent: Any) -> None:
    """Sleep until the fake's current primary window has ended (the next request opens a new one)."""
    reset = ask(parent, "stats")["reset"]
    time.sleep(max(0.0, reset - time.time()) + 0.1)


def series(parent: Any, home: Path, source: dict[str, Any], env: dict[str, str], truth: set[str],
           budget: int, pacing: bool, minimum: int) -> bool:
    """Steps 2-4 with pacing on or off; True when every check passed."""
    history = home / f"history-{'paced' if pacing else 'unpaced'}.sqlite"
    cfg = toml_config(source, history, save=True, pacing=pacing)
    ok = True
    before = ask(parent, "budget", budget)
    runs: list[tuple[str, int, int, int, float, str]] = []
    code, doc, err, wall = nhitui_scan(home, cfg, env)
    after = ask(parent, "stats")
    runs.append(("scan", code, after["charged"] - before["charged"], after["refused"] - before["refused"], wall,
                 status_line(err)))
    forecast = forecast_line(err)
    first_status = status_line(err)
    stopped_ok = code == 3 and re.search(r"partial, .* resumes at \d\d:\d\d UTC \(nhitui scan --resume\)", first_status)
    checkpoint = list((home / "state" / "nhitui" / "checkpoints").glob("*.checkpoint.json"))
    ok &= bool(stopped_ok) and bool(checkpoint) and "stops at a checkpoint" in forecast
    kept = {r["uid"] for r in doc.get("identities", [])}
    while code == 3 and len(runs) < 12:
        wait_for_reset(parent)
        before = ask(parent, "stats")
        code, doc, err, wall = nhitui_scan(home, cfg, env, "--resume")
        after = ask(parent, "stats")
        runs.append(("scan --resume", code, after["charged"] - before["charged"],
                     after["refused"] - before["refused"], wall, status_line(err)))
    charged = sum(r[2] for r in runs)
    uids = [r["uid"] for r in doc.get("identities", [])]
    lost, dup = truth - set(uids), len(uids) - len(set(uids))
    extra = set(uids) - truth
    print(f"\n-- pacing {'on' if pacing else 'off'}: budget {budget} per {ARGS.window:g} s window")
    print(f"forecast        {forecast or '(none)'}")
    for what, c, n, refused, w, line in runs:
        print(f"  {what:<14} exit {c}  {n:>6} charged {refused:>3} refused  {w:5.1f} s  "
              f"{line.split(': ', 1)[-1][:100]}")
    print(f"resumes         {len(runs) - 1}; checkpoint files left: "
          f"{len(list((home / 'state' / 'nhitui' / 'checkpoints').glob('*.checkpoint.json')))}")
    print(f"identities      {len(set(uids))} of {len(truth)}: {len(lost)} lost, {dup} duplicated, {len(extra)} unexpected; "
          f"the first stop's {len(kept)} all kept: {kept <= set(uids)}")
    ratio = charged / minimum
    print(f"charged         {charged} over {len(runs)} runs / {minimum} of one complete scan = {ratio:.3f}  "
          f"(target <= 1.05)")
    ok &= code == 0 and not lost and not dup and not extra and kept <= set(uids) and ratio <= 1.05 and len(runs) > 2

    # 4: a fresh window, the same organisation: the ETags kept across the pauses make it nearly free.
    wait_for_reset(parent)
    before = ask(parent, "stats")
    code, doc, err, wall = nhitui_scan(home, cfg, env)
    after = ask(parent, "stats")
    n304 = after["not_modified"] - before["not_modified"]
    again = after["charged"] - before["charged"]
    uids2 = {r["uid"] for r in doc.get("identities", [])}
    print(f"rescan (ETags)  exit {code}, {n304} answered 304 (free), {again} charged, {wall:.1f} s; "
          f"identities equal: {uids2 == truth}")
    ok &= code == 0 and uids2 == truth and again <= 0.05 * minimum
    print(f"checks          {'all passed' if ok else 'FAILED'}")
    return ok


ARGS: Any = None


def main() -> int:
    global ARGS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repos", type=int, default=2125, help="2,125 repositories need about 20,000 GETs")
    parser.add_argument("--budget", type=int, default=5000)
    parser.add_argument("--window", type=float, default=60.0, help="GitHub's hour, scaled (s)")
    parser.add_argument("--pacing", choices=("on", "off", "both"), default="off")
    ARGS = args = parser.parse_args()
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = float("nan")
    tmp = tempfile.TemporaryDirectory(prefix="bench-resume-")
    home = Path(tmp.name)
    parent, child = multiprocessing.Pipe()
    server = multiprocessing.get_context("spawn").Process(target=serve, args=(args.repos, args.window, child,
                                                                              str(home / "server.log")), daemon=True)
    server.start()
    source, fake_env, truth_list = parent.recv()
    truth = set(truth_list)
    ok = True
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("NHITUI_")}
        env.update(fake_env, XDG_STATE_HOME=str(home / "state"), XDG_CONFIG_HOME=str(home / "config"),
                   XDG_DATA_HOME=str(home / "data"), PYTHONPATH=str(ROOT))
        print(f"{args.repos} repositories, {len(truth)} identities; budget {args.budget} per window of "
              f"{args.window:g} s (GitHub's hour, scaled); no latency; load {load:.2f}")
        # 1: the complete scan: unlimited budget, no ETag cache (history off), unpaced.
        before = ask(parent, "stats")
        code, doc, err, wall = nhitui_scan(home, toml_config(source, home / "h0.sqlite", False, False), env)
        minimum = ask(parent, "stats")["charged"] - before["charged"]
        uids = [r["uid"] for r in doc.get("identities", [])]
        print(f"complete scan   exit {code}, {minimum} charged GETs, {wall:.1f} s, "
              f"identities {len(set(uids))} (ground truth {len(truth)}, equal: {set(uids) == truth})")
        ok &= code == 0 and set(uids) == truth and len(uids) == len(set(uids))
        for pacing in ((True, False) if args.pacing == "both" else (args.pacing == "on",)):
            ok &= series(parent, home, source, env, truth, args.budget, pacing, minimum)
    finally:
        parent.send(("stop",))
        server.join(timeout=10)
        if server.is_alive():
            server.terminate()
        errors = (home / "server.log").read_text(encoding="utf-8", errors="replace").count("Traceback")
        print(f"server errors   {errors} tracebacks in the fake's log")
        tmp.cleanup()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
