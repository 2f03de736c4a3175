"""Benchmark: the team store on PostgreSQL beside the embedded SQLite history, at 100k identities.

Figures (targets from issue 20): save a 100k snapshot (< 3 s), open the merged latest 100k (< 1 s
to the first rows, which the TUI shows while the rest streams in; the whole set is printed too),
diff two 100k snapshots where 1% changed (< 1.5 s). PostgreSQL runs locally
(started here as in the tests, fsync off like a test cluster: the figures measure nhitui's side,
not a disk). SQLite figures come from the same rows through `nhitui.history.History`.

    python -m benchmarks store [--quick]        # --quick: 20k identities
"""

from __future__ import annotations

import sys
import tempfile
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from nhitui.history import History  # noqa: E402
from nhitui.model import SourceStatus  # noqa: E402
from nhitui.sandbox.synthetic import make_identities  # noqa: E402
from nhitui.store import open_store  # noqa: E402


def _statuses(rows: list) -> dict[str, SourceStatus]:
    now = datetime.now(timezone.utc)
    sources = {(i.source, i.provider) for i in rows}
    return {s: SourceStatus(source=s, provider=p, state="ok", finished_at=now) for s, p in sources}


def run(quick: bool = False) -> list[tuple[str, float, float, str]]:
    from pgserver import PgServer

    n = 20_000 if quick else 100_000
    rows = make_identities(n)
    changed = [replace(i, privilege="admin") if k % 100 == 0 else i for k, i in enumerate(rows)]
    statuses = _statuses(rows)
    server = PgServer().start()
    try:
        store = open_store(server.url(), password=server.password)
        t = time.perf_counter()
        store.save(rows, statuses)
        pg_save = time.perf_counter() - t
        between = datetime.now(timezone.utc)
        time.sleep(0.01)
        store.save(changed, _statuses(rows))
        t = time.perf_counter()
        first = next(store.stream_current(4000))
        pg_first = time.perf_counter() - t      # what the TUI needs for its first screen
        t = time.perf_counter()
        loaded, _ = store.load_current()
        pg_open = time.perf_counter() - t
        t = time.perf_counter()
        d = store.diff_team(old_at=between)
        pg_diff = time.perf_counter() - t
        assert len(loaded) == n and len(d.changed) == sum(1 for k, i in enumerate(rows) if k % 100 == 0
                                                          and i.privilege != "admin")
        store.close()
    finally:
        server.stop()
    with tempfile.TemporaryDirectory() as tmp:
        h = History(Path(tmp) / "h.sqlite")
        t = time.perf_counter()
        older = h.save(rows, statuses)
        sq_save = time.perf_counter() - t
        newer = h.save(changed, statuses)
        t = time.perf_counter()
        h.diff(older, newer)
        sq_diff = time.perf_counter() - t
        h.close()
    k = f"{n // 1000}k"
    return [
        (f"postgres: save a {k} snapshot", pg_save, 3.0 * n / 100_000, "s"),
        (f"sqlite:   save a {k} snapshot (first, every row new)", sq_save, 3.0 * n / 100_000, "s"),
        (f"postgres: first {len(first)} rows of the merged latest {k} (TUI first screen)", pg_first, 1.0, "s"),
        (f"postgres: open the merged latest {k} as rows, all of them", pg_open, 1.0 * n / 100_000, "s"),
        (f"postgres: diff two {k} snapshots (1% changed)", pg_diff, 1.5 * n / 100_000, "s"),
        (f"sqlite:   diff two {k} snapshots (1% changed)", sq_diff, 1.5 * n / 100_000, "s"),
    ]


if __name__ == "__main__":
    from benchmarks.report import print_rows

    print_rows("bench_store", run(quick="--quick" in sys.argv))
