"""The PostgreSQL team store against a real PostgreSQL server started by the suite (no mocks)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest

from nhitui.journal import Journal
from nhitui.model import SourceStatus
from nhitui.sandbox.synthetic import make_identities
from nhitui.store import StoreConfigError, check_url, open_store
from nhitui.store.mirror import JournalMirror
from nhitui.store.postgres import SCHEMA_VERSION, PostgresStore, StoreError
from nhitui.store.rows import Decoder, doc_of, doc_text, from_doc, paused_gc, to_doc

sys.path.insert(0, str(Path(__file__).parent))
from pgserver import PgServer  # noqa: E402


@pytest.fixture(scope="module")
def pg() -> Iterator[PgServer]:
    server = PgServer().start()
    try:
        yield server
    finally:
        server.stop()


_dbs = iter(range(1000))


@pytest.fixture()
def store(pg: PgServer) -> Iterator[PostgresStore]:
    url = pg.create_db(f"t{next(_dbs)}_{os.getpid()}")
    s = open_store(url, password=pg.password)
    try:
        yield s
    finally:
        s.close()


def statuses_of(rows, state: str = "ok") -> dict[str, SourceStatus]:
    out = {}
    for i in rows:
        out.setdefault(i.source, SourceStatus(source=i.source, provider=i.provider, state=state,
                                              finished_at=datetime.now(timezone.utc)))
    return {k: replace(v, count=sum(1 for i in rows if i.source == k)) for k, v in out.items()}


def test_rows_round_trip_keeps_columns_and_findings() -> None:
    import json

    def sec(t):
        return t.replace(microsecond=0) if t else t

    rows = make_identities(300)
    for i in rows:
        i = replace(i, created_at=sec(i.created_at), expires_at=sec(i.expires_at), last_used_at=sec(i.last_used_at))
        back = from_doc(json.loads(to_doc(i)[0]))
        assert (back.uid, back.name, back.owner, back.scopes, back.privilege, back.created_at, back.expires_at,
                back.last_used_at, back.status, back.stale, back.findings, back.actions, back.usage_tracked) == (
            i.uid, i.name, i.owner, i.scopes, i.privilege, i.created_at, i.expires_at, i.last_used_at, i.status,
            i.stale, i.findings, i.actions, i.usage_tracked)


def test_stored_document_is_the_json_export_plus_usage_tracking() -> None:
    from nhitui.export import json_identity

    for i in make_identities(200):
        assert doc_of(i) == {**json_identity(i), "usage_tracked": i.usage_tracked}


def test_the_direct_document_writer_matches_the_json_encoder() -> None:
    import json

    encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode
    rows = make_identities(300)
    hostile = 'q"uo\\te \x00\x1b[31m \u2028 \u00e9\u2603 \U0001f600 </script>'
    base = rows[0]
    rows += [replace(base, uid="s:k:" + hostile, name=hostile, owner=hostile, target=hostile, scopes=(hostile, ""),
                     url=hostile, actions=(hostile,), privilege=hostile, status=hostile, credential=hostile,
                     usage_tracked=False, stale=True, findings=(replace(base.findings[0], explanation=hostile,
                                                                        owasp=hostile),) if base.findings else ()),
             replace(base, stale=1, findings=())]        # not a bool: the general path
    for i in rows:
        assert doc_text(i) == encode(doc_of(i))


def test_decoder_shares_findings_parses_our_timestamps_and_still_sanitises() -> None:
    dec = Decoder()
    detail = {"rule": "stale", "severity": "high", "owasp": "NHI7", "explanation": "unused for 400 days"}
    docs = [{"uid": f"s:k:{n}", "name": "evil\x1b[2Jname", "created_at": "2024-02-03T04:05:06Z",
             "expires_at": "2024-02-03", "last_used_at": "", "finding_details": [dict(detail)],
             "usage_tracked": False} for n in range(2)]
    a, b = (dec.identity(d) for d in docs)
    assert a.findings == b.findings and a.findings[0] is b.findings[0]
    assert (a.findings[0].severity, a.findings[0].owasp, a.findings[0].explanation) == ("high", "NHI7",
                                                                                     "unused for 400 days")
    assert a.created_at == datetime(2024, 2, 3, 4, 5, 6, tzinfo=timezone.utc)
    assert a.expires_at == datetime(2024, 2, 3, tzinfo=timezone.utc) and a.last_used_at is None
    assert "\x1b" not in a.name and a.usage_tracked is False


def test_the_decoders_fast_path_equals_its_general_one() -> None:
    import json

    docs = [json.loads(to_doc(i)[0]) for i in make_identities(300)]
    d0 = docs[0]
    odd = [{**d0, "stale": "true"}, {**d0, "scopes": "a;b"}, {**d0, "actions": None},
           {k: v for k, v in d0.items() if k != "owner"}, {**d0, "privilege": None, "status": ""},
           {**d0, "finding_details": [{"rule": 7, "severity": "high", "owasp": "", "explanation": ["x"]}]},
           {**d0, "finding_details": [{"rule": "r"}]}, {**d0, "usage_tracked": "no"}, {**d0, "name": 12}]
    fast, general = Decoder(), Decoder()
    for doc in docs + odd:
        a, b = fast.identity(doc), general.general(doc)
        assert (a, a.usage_tracked, a.findings) == (b, b.usage_tracked, b.findings)
    assert fast.identity(odd[0]).stale is True and fast.identity(odd[1]).scopes == ("a", "b")
    assert fast.identity(odd[5]).findings[0].rule == "7" and fast.identity(odd[6]).findings[0].severity == "info"


def test_paused_gc_restores_the_collectors_state_even_on_error() -> None:
    import gc

    assert gc.isenabled()
    with pytest.raises(ValueError), paused_gc():
        assert not gc.isenabled()
        raise ValueError
    assert gc.isenabled()
    gc.disable()
    try:
        with paused_gc():
            pass
        assert not gc.isenabled()          # a caller's own pause is left alone
    finally:
        gc.enable()


def test_url_checks() -> None:
    assert check_url("postgresql://u@h/db?sslmode=require")
    with pytest.raises(StoreConfigError, match="password in the URL"):
        check_url("postgresql://u:hunter2@h/db")
    with pytest.raises(StoreConfigError, match="postgresql://"):
        check_url("mysql://u@h/db")


def test_unreachable_store_names_host_not_password() -> None:
    with pytest.raises(StoreError) as err:
        open_store("postgresql://nobody@127.0.0.1:1/x", password="sekret-pw", connect_timeout=1)
    assert "127.0.0.1:1" in str(err.value) and "sekret-pw" not in str(err.value)


def test_migrations_from_empty_and_from_the_previous_schema(pg: PgServer) -> None:
    url = pg.create_db(f"mig_{os.getpid()}")
    with psycopg.connect(url, password=pg.password, autocommit=True) as conn:
        PostgresStore.migrate(type("Old", (), {"conn": conn, "where": "x"})(), target=1)   # a schema-1 store
        conn.execute("INSERT INTO snapshots (source, provider, state, taken_at, count) "
                     "VALUES ('old-src', 'github', 'ok', now(), 1)")
        old = make_identities(1)[0]
        text, digest = to_doc(old)
        conn.execute("INSERT INTO snapshot_rows SELECT id, %s, %s, %s::jsonb FROM snapshots",
                     (old.uid, digest, text))
    s = open_store(url, password=pg.password)
    try:
        assert s.version() == SCHEMA_VERSION == 3
        assert [x.source for x in s.snapshots()] == ["old-src"]       # data kept across the migration
        back = s.load_current()[0]
        assert [(i.uid, i.name, i.findings) for i in back] == [(old.uid, old.name, old.findings)]
        s.migrate()                                                     # idempotent
        assert s.version() == 3
    finally:
        s.close()
    fresh = open_store(pg.create_db(f"fresh_{os.getpid()}"), password=pg.password)
    assert fresh.version() == 3 and fresh.snapshots() == []
    fresh.close()


def test_current_inventory_is_the_latest_good_snapshot_of_each_source(store: PostgresStore) -> None:
    rows = make_identities(2000)
    store.save(rows, statuses_of(rows))
    loaded, statuses = store.load_current()
    assert sorted(i.uid for i in loaded) == sorted(i.uid for i in rows)
    assert set(statuses) == {i.source for i in rows}
    # A failed rescan of one source keeps that source's rows, marked failed with the reason.
    gh = statuses_of(rows)["acme-github"]
    store.save_source(replace(gh, state="failed", error="401 bad credentials", count=0), [])
    loaded2, statuses2 = store.load_current()
    assert len(loaded2) == len(rows)
    assert statuses2["acme-github"].state == "failed" and "401" in statuses2["acme-github"].error
    assert statuses2["acme-github"].facts["snapshot_id"] is not None
    # A newer good scan of one source replaces only that source's rows.
    fewer = [i for i in rows if i.source == "acme-npm"][:3]
    store.save_source(replace(statuses_of(rows)["acme-npm"], count=3), fewer)
    loaded3, _ = store.load_current()
    assert sum(i.source == "acme-npm" for i in loaded3) == 3
    assert sum(i.source == "acme-github" for i in loaded3) == sum(i.source == "acme-github" for i in rows)


def test_diff_between_two_team_states(store: PostgresStore) -> None:
    rows = make_identities(1000)
    store.save(rows, statuses_of(rows))
    changed = [replace(i, privilege="admin") if i.privilege != "admin" and n % 50 == 0 else i
               for n, i in enumerate(rows)]
    newer = changed[5:] + [replace(make_identities(1, seed=99)[0], uid="acme-github:deploy_key:new-one")]
    newer = [i for i in newer if i.source != "acme-jfrog"] + [i for i in changed if i.source == "acme-jfrog"]
    between = datetime.now(timezone.utc)
    time.sleep(0.01)
    store.save(newer, statuses_of(rows))
    d = store.diff_team(old_at=between)
    assert {c.uid for c in d.changed} == {i.uid for n, i in enumerate(rows) if n % 50 == 0 and n >= 5
                                          and i.privilege != "admin" and i.source != "acme-jfrog"}
    assert {r["uid"] for r in d.removed} == {i.uid for i in rows[:5] if i.source != "acme-jfrog"}
    assert [r["uid"] for r in d.added] == ["acme-github:deploy_key:new-one"] and all("privilege/scopes changed" in c.what for c in d.changed)


def test_two_scanners_at_once_and_a_reader_during_a_write(pg: PgServer, store: PostgresStore) -> None:
    url = store.url
    a_rows = [i for i in make_identities(20_000, seed=3, score=False) if i.source in ("acme-github", "acme-gitlab")]
    b_rows = [i for i in make_identities(4000, seed=4, score=False) if i.source == "acme-aws"]
    seen_counts: list[int] = []
    errors: list[BaseException] = []

    def scanner(rows) -> None:
        try:
            with open_store(url, password=pg.password) as s:
                s.save(rows, statuses_of(rows))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=scanner, args=(r,)) for r in (a_rows, b_rows)]
    with open_store(url, password=pg.password) as reader:
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            seen_counts.append(len(reader.load_current()[0]))
        for t in threads:
            t.join()
        final, statuses = reader.load_current()
    assert not errors
    assert len(final) == len(a_rows) + len(b_rows) and set(statuses) == {"acme-github", "acme-gitlab", "acme-aws"}
    # Every read saw whole snapshots only: sums of complete sources, never a part of one.
    sizes = {s: sum(i.source == s for i in a_rows + b_rows) for s in statuses}
    possible = {sum(sizes[s] for s in combo) for n in range(4) for combo in _combos(list(sizes), n)}
    assert seen_counts and set(seen_counts) <= possible


def _combos(items, n):
    import itertools

    return itertools.combinations(items, n)


def test_a_scanner_killed_mid_write_leaves_no_half_snapshot(pg: PgServer, store: PostgresStore) -> None:
    rows = make_identities(500)
    store.save(rows, statuses_of(rows))
    before = store.current()
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(Path(__file__).parents[1])!r})
        from datetime import datetime, timezone
        from nhitui.model import SourceStatus
        from nhitui.sandbox.synthetic import make_identities
        from nhitui.store import open_store
        from dataclasses import replace
        base = [i for i in make_identities(30_000, score=False) if i.source == "acme-github"]
        rows = [replace(i, uid=f"{{i.uid}}-{{n}}") for n in range(12) for i in base]
        s = open_store({store.url!r}, password={pg.password!r})
        print("ready", flush=True)
        s.save_source(SourceStatus("acme-github", "github", "ok", finished_at=datetime.now(timezone.utc)), rows)
        print("done", flush=True)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)  # noqa: S603
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    # Wait until the COPY is running inside its transaction, then kill the scanner outright.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with psycopg.connect(store.url, password=pg.password, autocommit=True) as c:
            busy = c.execute("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY snapshot_rows%%'"
                             ).fetchone()[0]
        if busy:
            break
        time.sleep(0.02)
    assert busy, "the scanner never started writing"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(0.5)
    assert store.current() == before
    assert len(store.snapshots()) == len(before)


def test_the_current_inventory_streams_in_chunks(store: PostgresStore) -> None:
    rows = make_identities(2500)
    store.save(rows, statuses_of(rows))
    chunks = list(store.stream_current(chunk=1000))
    assert [len(c) for c in chunks] == [1000, 1000, 500]
    assert sorted(i.uid for c in chunks for i in c) == sorted(i.uid for i in rows)


def test_hostile_uids_and_text_survive_the_copy(store: PostgresStore) -> None:
    base = make_identities(3)
    odd = ["s:k:tab\there", "s:k:back\\slash\\N", "s:k:new\nline\r", "s:k:\\x41 quote\" \u00e9\u2603"]
    rows = [replace(base[n % 3], uid=u, source="s", name=u + " \\ \t name") for n, u in enumerate(odd)]
    store.save(rows, statuses_of(rows))
    back = {i.uid: i for i in store.load_current()[0]}
    assert set(back) == set(odd)
    for i in rows:
        assert (back[i.uid].name, back[i.uid].findings) == (i.name, i.findings)


def test_store_down_during_an_action_journal_intact_and_caught_up(pg: PgServer, store: PostgresStore,
                                                                    tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.jsonl")
    down = JournalMirror(journal, lambda: open_store("postgresql://x@127.0.0.1:1/x", connect_timeout=1),
                         store_id="team", actor="oncall-alice")
    journal.append({"plan": "p-1", "uid": "acme-github:deploy_key:1", "action": "delete", "phase": "intent"})
    journal.append({"plan": "p-1", "uid": "acme-github:deploy_key:1", "action": "delete", "phase": "result",
                    "result": "ok"})
    assert down.sync() is False and "2 records pending" in down.last_error
    assert len(journal.read().records) == 2                    # the local journal is whole
    up = JournalMirror(journal, lambda: open_store(store.url, password=pg.password), store_id="team",
                       actor="oncall-alice")
    assert up.sync() is True
    journal.append({"plan": "p-2", "uid": "acme-aws:access_key:AKIA1", "action": "deactivate", "phase": "intent"})
    assert up.sync() is True and up.sync() is True              # nothing sent twice
    mirrored = store.journal()
    assert [(r["uid"], r["phase"]) for r in mirrored] == [("acme-github:deploy_key:1", "intent"),
                                                          ("acme-github:deploy_key:1", "result"),
                                                          ("acme-aws:access_key:AKIA1", "intent")]
    assert {r["actor"] for r in mirrored} == {"oncall-alice"} and all(r["host"] for r in mirrored)


def test_http_cache_and_prune(store: PostgresStore) -> None:
    store.save_cache("acme-github", {"https://api/x": ('"e1"', b"{}"), "https://api/y": ('"e2"', b"[1]")})
    store.save_cache("acme-github", {"https://api/x": ('"e3"', b"{2}")})
    assert store.cache_entries("acme-github") == {"https://api/x": ('"e3"', b"{2}"), "https://api/y": ('"e2"', b"[1]")}
    store.save_cache("acme-github", {"https://api/z": ('"e4"', b"")}, complete=True)
    assert set(store.cache_entries("acme-github")) == {"https://api/z"}
    rows = make_identities(100)
    for _ in range(3):
        store.save(rows, statuses_of(rows))
    assert store.prune(keep=1) == 2 * len(statuses_of(rows))
    assert len(store.load_current()[0]) == len(rows)


def test_age_is_reported(store: PostgresStore) -> None:
    rows = make_identities(50)
    old = datetime.now(timezone.utc) - timedelta(hours=5)
    store.save(rows, {k: replace(v, finished_at=old) for k, v in statuses_of(rows).items()})
    snaps = store.current()
    assert all(4.9 * 3600 < s.age_seconds < 5.1 * 3600 for s in snaps)


def test_cli_scheduled_scanners_readers_and_the_team_journal(pg: PgServer, tmp_path: Path, capsys,
                                                              monkeypatch) -> None:
    """Two scanners for different sources, then a responder's history, diff, revoke and journal."""
    from nhitui.cli import main
    from nhitui.sandbox.chain import Sandbox

    url = pg.create_db(f"cli_{os.getpid()}")
    monkeypatch.setenv("NHITUI_TEST_PG", pg.password)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    with Sandbox(providers=("npm", "jfrog")) as sandbox:
        cfg = tmp_path / "config.toml"
        cfg.write_text(sandbox.config_text(f'\n[store]\nurl = "{url}"\npassword = "env:NHITUI_TEST_PG"\n'))
        cfg.chmod(0o600)
        assert main(["scan", "--config", str(cfg), "--source", "acme-npm", "--format", "json", "-o",
                     str(tmp_path / "a.json")]) == 0
        assert main(["scan", "--config", str(cfg), "--source", "acme-jfrog", "--format", "json", "-o",
                     str(tmp_path / "b.json")]) == 0
        err = capsys.readouterr().err
        assert err.count("saved 1 source snapshot(s) to the team store") == 2 and "acme-jfrog" in err
        assert main(["scan", "--config", str(cfg), "--source", "nope"]) == 2
        assert "not a configured source" in capsys.readouterr().err

        assert main(["history", "--config", str(cfg)]) == 0
        out = capsys.readouterr().out
        assert "acme-npm" in out and "acme-jfrog" in out
        with open_store(url, password=pg.password) as s:
            rows, statuses = s.load_current()
            assert set(statuses) == {"acme-npm", "acme-jfrog"}
            victim = next(i for i in rows if i.source == "acme-npm")

        assert main(["revoke", victim.uid, "--config", str(cfg), "--yes", "--actor", "oncall-bob"]) == 0
        capsys.readouterr()
        assert main(["journal", "--config", str(cfg), "--format", "json"]) == 0
        import json

        team = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert {r["uid"] for r in team} == {victim.uid} and {r["actor"] for r in team} == {"oncall-bob"}
        assert len(team) == 2                  # intent and result

        assert main(["scan", "--config", str(cfg), "--source", "acme-npm", "-o", str(tmp_path / "c.json")]) == 0
        capsys.readouterr()
        assert main(["diff", "--config", str(cfg), "--format", "json"]) == 0
        d = json.loads(capsys.readouterr().out)
        assert [r["uid"] for r in d["removed"]] == [victim.uid] and d["added"] == []


async def test_tui_opens_the_team_inventory_and_r_reloads_it(pg: PgServer, store: PostgresStore) -> None:
    from test_tui_support import SIZE, wait_until

    from nhitui import team
    from nhitui.config import Config
    from nhitui.tui.app import NhiApp

    rows = [i for i in make_identities(3000) if i.source in ("acme-github", "acme-aws")]
    store.save(rows, statuses_of(rows))

    def reload():
        with open_store(store.url, password=pg.password) as s:
            return team.load_inventory(s)

    def reader():
        return team.StoreReader(open_store(store.url, password=pg.password))

    app = NhiApp(Config(path=None), reload=reload, reader=reader, snapshot=True, collect=False)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: len(app.view) == len(rows))
        assert "team store snapshot of" in app.inventory.statuses["acme-github"].facts["note"]
        newer = [i for i in rows if i.source == "acme-github"][:7]
        store.save_source(statuses_of(newer)["acme-github"], newer)
        await pilot.press("r")
        await wait_until(pilot, lambda: len(app.inventory.by_source("acme-github")) == 7)
        assert len(app.inventory.by_source("acme-aws")) == sum(i.source == "acme-aws" for i in rows)
