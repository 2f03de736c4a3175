"""GitHub's documented limits against the fake that enforces them (issue 19).

The fake's secondary limits are GitHub's scaled from a 60 s window to 2 s (same ratios: 90 s of
response time per 60 s -> 3 s per 2 s; the per-endpoint points are lowered so a small world
meets them), with 50 ms of latency so response time matters. The connector is given the same
window and `pacing = true` (the default only on GitHub's cloud hosts, which the fake's 127.0.0.1
is not); everything else is its ordinary behaviour.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest

from connectors.github import GitHubConnector
from nhitui.model import Identity, make_uid
from nhitui.sandbox.github import GitHubFake
from nhitui.sandbox.github.serving import SecondaryLimits
from nhitui.sandbox.server import Knobs
from nhitui.sandbox.world import World

SCALED = {"secondary_window": 2.0, "server_seconds": 3.0, "endpoint_points": 6}


def limited_fake(world: World) -> GitHubFake:
    fake = GitHubFake(world, Knobs(latency=0.05))
    fake.secondary = SecondaryLimits(window=2.0, server_seconds=3.0, points=6, retry_after=1)
    return fake


def connector_for(fake: GitHubFake, **overrides: Any) -> GitHubConnector:
    return GitHubConnector(fake.source("gh", **overrides), lambda ref: fake.env[ref.split(":", 1)[1]])


async def scan(connector: GitHubConnector) -> list[Identity]:
    rows: list[Identity] = []
    async for batch in connector.collect():
        rows.extend(batch)
    return rows


def truth(world: World) -> set[str]:
    return {make_uid("gh", e.kind, e.native_id) for e in world.expected_for("github")}


async def test_a_paced_scan_stays_inside_the_secondary_limits_and_is_complete():
    world = World(repos=8)
    with limited_fake(world) as fake:
        connector = connector_for(fake, pacing=True, **SCALED)
        rows = await scan(connector)
        hits = dict(fake.secondary.hits)
    assert hits == {}
    assert connector.report.facts["secondary_limit_hits"] == 0
    assert [r.uid for r in rows] and sorted(r.uid for r in rows) == sorted(truth(world))
    assert connector.report.blind_spots == []
    assert connector.report.facts["pacer_waits"] > 0          # the limits did bind: it waited, not hit


async def test_without_pacing_the_fake_throttles_and_the_hits_are_counted():
    """The same scan with pacing off crosses the limits: proof the fake enforces them and the
    connector still waits as GitHub asks (retry-after) and counts every hit."""
    world = World(repos=8)
    with limited_fake(world) as fake:
        connector = connector_for(fake, pacing=False)
        rows = await scan(connector)
        hits = sum(fake.secondary.hits.values())
    assert hits > 0 and connector.report.facts["secondary_limit_hits"] == hits
    assert {r.uid for r in rows} == truth(world)


def use_credentials(fake: GitHubFake, monkeypatch) -> None:
    """The fake's token in the environment, where the source's `env:` reference reads it."""
    for k, v in fake.env.items():
        monkeypatch.setenv(k, v)


def charged(fake: GitHubFake) -> int:
    """GETs the fake answered, less the free /rate_limit."""
    return sum(n for (m, p), n in fake.requests_log.items() if m == "GET" and not p.startswith("/rate_limit"))


def test_a_spent_budget_stops_at_a_checkpoint_and_resume_completes_it(tmp_path, monkeypatch):
    """A budget of 60 on a world needing ~100 GETs (a 5,000/h budget on a 20,000-request org, scaled):
    the scan says so up front, stops `partial` at a checkpoint, and `--resume` after the reset
    completes it with every identity once and at most 5 % more requests than one uninterrupted scan."""
    from nhitui.collect import scan as collect

    world = World(repos=8)
    fake = GitHubFake(world, rate_limit=1_000_000, rate_window=3.0)
    with fake:
        use_credentials(fake, monkeypatch)
        source = fake.source("gh", checkpoint_dir=str(tmp_path), budget_wait=0, pacing=True)
        whole = collect([dict(source)])                     # the last complete scan: its size is kept
        assert whole.statuses["gh"].state == "ok"
        single = charged(fake)
        assert {r.uid for r in whole.rows} == truth(world)

        fake.rate_limit = 60
        fake._window_reset = 0          # the next request opens a fresh window of 60
        fake.requests_log.clear()
        first = collect([dict(source)])
        status = first.statuses["gh"]
        assert status.state == "partial"
        assert re.fullmatch(r"rate-limit budget spent; resumes at \d\d:\d\d UTC \(nhitui scan --resume\)",
                            status.error), status.error
        assert "stops at a checkpoint" in status.facts["budget_forecast"]
        kept = {r.uid for r in first.rows}
        assert kept and kept < truth(world)
        assert charged(fake) <= 60
        assert list(tmp_path.glob("*.checkpoint.json"))

        time.sleep(max(0.0, fake._window_reset - time.time()) + 0.05)   # the (short) reset itself
        second = collect([dict(source, resume=True)])
        status = second.statuses["gh"]
        assert status.state == "ok", status.error
        rows = [r.uid for r in second.rows]
        assert len(rows) == len(set(rows)) and set(rows) == truth(world)
        assert kept <= set(rows)
        assert status.facts["resumed_from_checkpoint"] > 0
        assert charged(fake) <= 1.05 * single, (charged(fake), single)
        assert not list(tmp_path.glob("*.checkpoint.json"))


def cli_config(tmp_path, fake: GitHubFake, history: bool, pacing: bool) -> str:
    """A config file as a user writes one: the fake's source, `budget_wait = 0` (stop, do not sleep)."""
    source = fake.source("gh")
    lines = ["[[source]]", *(f'{k} = "{source[k]}"' for k in ("type", "name", "api_url", "org", "token",
                                                               "revoke_token")),
             "budget_wait = 0", f"pacing = {str(pacing).lower()}", "",
             "[history]", f"save = {str(history).lower()}", f'path = "{tmp_path / "history.sqlite"}"']
    path = tmp_path / f"config-{history}.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def cli_scan(capsys, config: str, out, *extra: str) -> tuple[int, list[str], str]:
    """`nhitui scan --config F -o out.json [extra]`: exit code, the uids written, stderr."""
    from nhitui import cli

    capsys.readouterr()
    code = cli.main(["scan", "--config", config, "-o", str(out), *extra])
    err = capsys.readouterr().err
    uids = [r["uid"] for r in json.loads(out.read_text(encoding="utf-8"))["identities"]]
    return code, uids, err


def next_window(fake: GitHubFake) -> None:
    """GitHub's hourly reset, without the hour: the fake's next request opens a fresh window."""
    with fake.lock:
        fake._window_reset = 0


@pytest.mark.parametrize("pacing", [False, True], ids=["unpaced", "paced"])
def test_the_cli_stops_an_org_four_budgets_big_and_resumes_it_window_by_window(tmp_path, monkeypatch, capsys,
                                                                                caplog, pacing):
    """Issue 19 at a quarter budget, through `nhitui scan` as a user runs it: a world of ~400 GETs and a
    budget of 100 an hour (20,000 against 5,000, scaled). The scan forecasts the shortfall and stops
    at a checkpoint (exit 3); a `--resume` before the reset asks nothing and loses none of the
    checkpoint; a `--resume` after each reset continues until complete, every identity once, with at
    most 5 % more charged requests than one uninterrupted scan. The ETags kept across the pauses
    answer the next scan with 304s, which cost no budget (unpaced, a spent budget is the server's
    403 (remaining 0); paced, the pacer stops before it and a 304 gives its unit back).

    The whole series at the issue's scale (20,000 GETs, 5,000 a window) is benchmarks/bench_resume.py.
    """
    world = World(repos=40)
    out = tmp_path / "out.json"
    checkpoints = tmp_path / "state" / "nhitui" / "checkpoints"
    fake = GitHubFake(world, rate_limit=1_000_000)      # GitHub's hour: the test moves to the next window
    with fake:
        use_credentials(fake, monkeypatch)
        code, uids, err = cli_scan(capsys, cli_config(tmp_path, fake, False, pacing), out)
        assert code == 0, err
        assert sorted(uids) == sorted(truth(world))
        single = fake.rate_used                          # the minimum: one uninterrupted scan, no ETags

        config = cli_config(tmp_path, fake, True, pacing)
        with fake.lock:
            fake.rate_limit, fake._window_reset = 100, 0
        assert single > 3 * fake.rate_limit              # four windows' worth
        code, uids, err = cli_scan(capsys, config, out)
        charged = [fake.rate_used]
        assert code == 3, err
        assert re.search(r"source gh \(github\): partial, \d+ identities, .* - rate-limit budget spent; resumes "
                         r"at \d\d:\d\d UTC \(nhitui scan --resume\)", err), err
        assert f"the last scan needed about {single} requests and" in err and "stops at a checkpoint" in err
        kept = set(uids)
        assert kept and kept < truth(world) and len(uids) == len(kept)
        [checkpoint] = checkpoints.glob("*.checkpoint.json")
        answers = len(json.loads(checkpoint.read_text())["responses"])

        code, uids, err = cli_scan(capsys, config, out, "--resume")     # before the reset
        assert code == 3 and "resumes at" in err
        if not pacing:      # the budget was spent to the last unit (paced, the few the pacer held back)
            assert fake.rate_used == charged[0]
        charged[0] = fake.rate_used
        assert len(json.loads(checkpoint.read_text())["responses"]) >= answers   # nothing of it lost
        assert kept <= set(uids) and len(uids) == len(set(uids))
        kept = set(uids)

        resumes = 0
        while code == 3:
            assert resumes < 8, err
            next_window(fake)
            code, uids, err = cli_scan(capsys, config, out, "--resume")
            charged.append(fake.rate_used)
            resumes += 1
            assert code in (0, 3), err
            assert len(uids) == len(set(uids)) and kept <= set(uids)
            kept = set(uids)
        assert code == 0 and resumes >= 3, (resumes, err)
        assert sorted(uids) == sorted(truth(world))
        assert max(charged) <= fake.rate_limit
        assert sum(charged) <= 1.05 * single, (charged, single)
        assert not list(checkpoints.glob("*.checkpoint.json"))

        next_window(fake)
        not_modified = fake.not_modified
        caplog.clear()
        code, uids, err = cli_scan(capsys, config, out)
        assert code == 0, err
        assert "have an ETag (an unchanged answer, 304, is free): this scan fits if little changed" in caplog.text
        assert sorted(uids) == sorted(truth(world))
        assert fake.not_modified - not_modified >= 0.95 * single        # the ETags survived every pause
        assert fake.rate_used <= 0.05 * single


def test_a_reset_sooner_than_pygithub_waits_still_stops_at_budget_wait_and_a_second_stop_keeps_the_checkpoint(
        tmp_path, monkeypatch):
    """Unpaced, a spent budget whose reset is 60 s away (inside PyGithub's own wait) stops at once when
    `budget_wait = 0` says not to wait, and sends no more requests than those in flight; a `--resume`
    that stops again before reaching every answer of the checkpoint (here one it never reaches) keeps
    them all for the next one."""
    from nhitui.collect import scan as collect

    world = World(repos=30)
    fake = GitHubFake(world, rate_limit=40, rate_window=60.0)
    with fake:
        use_credentials(fake, monkeypatch)
        source = fake.source("gh", checkpoint_dir=str(tmp_path), budget_wait=0, pacing=False)
        t0 = time.monotonic()
        first = collect([dict(source)])
        assert time.monotonic() - t0 < 20               # not a sleep to the reset
        assert first.statuses["gh"].state == "partial"
        assert "resumes at" in first.statuses["gh"].error
        refused = sum(n for (m, _p), n in fake.requests_log.items() if m == "GET") - fake.rate_used
        assert 0 < refused <= 16        # the requests in flight when it was spent, not the whole queue
        [path] = tmp_path.glob("*.checkpoint.json")
        data = json.loads(path.read_text())
        late = next(iter(data["responses"])).split("/orgs/", 1)[0] + "/repos/acme/late-repo/keys?per_page=100"
        data["responses"][late] = ["", "[]"]          # an answer the next run stops before reaching
        path.write_text(json.dumps(data))

        again = collect([dict(source, resume=True)])   # before the reset: stops again
        assert again.statuses["gh"].state == "partial"
        kept = json.loads(path.read_text())["responses"]
        assert set(data["responses"]) <= set(kept) and kept[late] == ["", "[]"]


def test_a_refresh_stopped_by_the_budget_keeps_the_rows_it_did_not_reach(monkeypatch):
    """The TUI refreshes a loaded inventory in place: a refresh that runs out of budget part way shows
    what it read and keeps the earlier rows it never reached (unknown, not gone), and says so."""
    from nhitui.collect import scan as collect
    from nhitui.inventory import Inventory

    world = World(repos=8)
    fake = GitHubFake(world, rate_limit=1_000_000)
    with fake:
        use_credentials(fake, monkeypatch)
        source = fake.source("gh", budget_wait=0)
        inventory = collect([dict(source)], inventory=Inventory())
        assert {r.uid for r in inventory.rows} == truth(world)
        with fake.lock:
            fake.rate_limit, fake._window_reset = 40, 0
        collect([dict(source)], inventory=inventory)
        status = inventory.statuses["gh"]
    assert status.state == "partial" and "resumes at" in status.error
    earlier = int(re.search(r"showing (\d+) rows of an earlier scan it did not reach", status.error).group(1))
    assert 0 < earlier < len(truth(world))
    assert sorted(r.uid for r in inventory.rows) == sorted(truth(world))
