"""Conditional requests: a re-scan of an unchanged GitHub org is answered with free 304s.

The connector sends `If-None-Match` with the ETag of each body it cached; the fake answers 304
without charging the primary rate limit (as GitHub does for authorised 304s). The cache lives in
the history database between scans (`HttpCache`), keyed by source and URL, never by a token.
"""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

import pytest
import requests

from connectors.github import GitHubConnector
from nhitui.collect import Collector
from nhitui.history import SCHEMA_VERSION, History, HttpCache
from nhitui.inventory import Inventory
from nhitui.model import Identity
from nhitui.sandbox.github import GitHubFake
from nhitui.sandbox.server import Knobs
from nhitui.sandbox.world import World


@pytest.fixture
def fake():
    f = GitHubFake(World(repos=30))
    f.start()
    yield f
    f.stop()


def resolver(fake: GitHubFake):
    return lambda ref: fake.env[ref.split(":", 1)[1]]


async def collect(connector: GitHubConnector) -> list[Identity]:
    rows: list[Identity] = []
    async for batch in connector.collect():
        rows.extend(batch)
    return rows


def scan(fake: GitHubFake, cache: Any) -> tuple[GitHubConnector, dict[str, Identity], int]:
    """One scan with `cache`: (connector, identities by uid, units the fake charged)."""
    before = fake.rate_used
    connector = GitHubConnector(fake.source("gh"), resolver(fake), cache=cache)
    rows = asyncio.run(collect(connector))
    assert not connector.report.blind_spots
    return connector, {r.uid: r for r in rows}, fake.rate_used - before


def delete_a_deploy_key(fake: GitHubFake) -> tuple[str, int]:
    repo = next(r for r in fake.repos.values() if r.keys)
    full = repo.full_name
    key_id = repo.keys[0]["id"]
    resp = requests.delete(f"{fake.api_url}/repos/{full}/keys/{key_id}",
                           headers={"Authorization": f"token {fake.token}"}, timeout=5)
    assert resp.status_code == 204
    return full, key_id


def test_rescan_of_an_unchanged_org_costs_under_a_tenth_of_the_first(fake):
    cache: dict[str, tuple[str, bytes]] = {}
    first, rows1, units1 = scan(fake, cache)
    second, rows2, units2 = scan(fake, cache)

    assert rows1 == rows2                     # identical identities, field by field
    assert units1 > 100 and first.report.facts["rate_limit_used"] == units1
    assert units2 <= 0.10 * units1, (units1, units2)
    assert second.report.facts["rate_limit_used"] == units2
    assert second.report.facts["not_modified"] == second.report.requests - units2
    assert second.report.requests == first.report.requests   # same requests, answered for free
    assert fake.not_modified == second.report.facts["not_modified"]


def test_a_change_at_the_provider_shows_on_rescan(fake):
    cache: dict[str, tuple[str, bytes]] = {}
    _, rows1, units1 = scan(fake, cache)
    full, key_id = delete_a_deploy_key(fake)
    keys_url = next(u for u in cache if u.endswith(f"/repos/{full}/keys?per_page=100"))
    old_tag = cache[keys_url][0]

    _, rows2, units2 = scan(fake, cache)
    gone = {u for u in rows1 if u not in rows2}
    assert gone == {f"gh:deploy_key:{key_id}"}
    assert set(rows2) < set(rows1)
    assert cache[keys_url][0] != old_tag          # the changed list got a new ETag and body
    assert str(key_id).encode() not in cache[keys_url][1]
    assert 1 <= units2 <= 0.10 * units1           # only the changed list was charged


@pytest.mark.parametrize("link_on_304", [True, False])
def test_paged_lists_rescan_for_free_whether_or_not_a_304_repeats_link(link_on_304):
    fake = GitHubFake(World(repos=30), Knobs(page_size=7), link_on_304=link_on_304)
    with fake:
        cache: dict[str, tuple[str, bytes]] = {}
        first, rows1, units1 = scan(fake, cache)
        second, rows2, units2 = scan(fake, cache)
    assert rows1 == rows2
    assert any("page=2" in u for u in cache)
    assert units2 == 0 and second.report.requests == first.report.requests == units1


def test_without_a_cache_every_scan_is_charged(fake):
    _, rows1, units1 = scan(fake, None)
    _, rows2, units2 = scan(fake, None)
    assert rows1 == rows2 and units1 == units2 > 0


def test_a_damaged_cache_entry_is_refetched(fake):
    cache: dict[str, tuple[str, bytes]] = {}
    _, rows1, _ = scan(fake, cache)
    url = next(u for u in cache if u.endswith("/keys?per_page=100"))
    etag, body = cache[url]
    cache[url] = (etag, body[: len(body) // 2] + b"\x00garbage")
    connector, rows2, units = scan(fake, cache)
    assert rows1 == rows2
    assert units == 1 and connector.report.retries == 1
    assert cache[url] == (etag, body)


def test_writes_are_never_cached_and_keys_hold_no_credential(fake):
    cache: dict[str, tuple[str, bytes]] = {}
    connector, rows, _ = scan(fake, cache)
    key = next(r for r in rows.values() if r.kind == "deploy_key")
    connector.write_interval = 0.0
    before = dict(cache)
    result = asyncio.run(connector.execute(key, "delete"))
    assert result.state == "ok"
    assert cache == before
    for url, (etag, body) in cache.items():
        assert url.startswith(fake.api_url) and "/keys/" not in url
        for secret in (fake.token, fake.readonly_token, *fake.canaries):
            assert secret not in url and secret not in etag and secret.encode() not in body


def collector_scan(fake: GitHubFake, db, monkeypatch) -> tuple[Inventory, dict[str, Any], int]:
    for k, v in fake.env.items():
        monkeypatch.setenv(k, v)
    inventory = Inventory()
    before = fake.rate_used
    collector = Collector(inventory, [{**fake.source("gh"), "type": "github"}], cache_path=db)
    statuses = asyncio.run(collector.run())
    return inventory, statuses["gh"].facts, fake.rate_used - before


def test_the_cache_persists_in_the_history_database(fake, tmp_path, monkeypatch):
    db = tmp_path / "history.sqlite"
    inv1, facts1, units1 = collector_scan(fake, db, monkeypatch)
    inv2, facts2, units2 = collector_scan(fake, db, monkeypatch)
    assert {r.uid: r for r in inv1.rows} == {r.uid: r for r in inv2.rows}
    assert facts1["rate_limit_used"] == units1 and facts2["rate_limit_used"] == units2
    assert units2 <= 0.10 * units1, (units1, units2)

    raw = db.read_bytes() + (db.with_name(db.name + "-wal").read_bytes()
                             if db.with_name(db.name + "-wal").exists() else b"")
    for secret in (fake.token, fake.readonly_token, *fake.canaries):
        assert secret.encode() not in raw

    # Entries the last complete scan did not use are pruned; others stay.
    cache = HttpCache(db)
    entries = cache.for_source("gh")
    n = len(entries)
    entries["http://127.0.0.1:1/gone?per_page=100"] = ('"x"', b"[]")
    cache.save(entries)
    assert len(cache.for_source("gh")) == n + 1
    cache.close()
    collector_scan(fake, db, monkeypatch)
    cache = HttpCache(db)
    assert len(cache.for_source("gh")) == n
    assert len(cache.for_source("other")) == 0
    cache.close()


def test_a_partial_scan_does_not_prune(fake, tmp_path):
    db = tmp_path / "h.sqlite"
    cache = HttpCache(db)
    entries = cache.for_source("gh")
    entries["http://x/a"] = ('"1"', b"[]")
    entries["http://x/b"] = ('"2"', b"[]")
    cache.save(entries)
    entries = cache.for_source("gh")
    assert entries.get("http://x/a") == ('"1"', b"[]")
    cache.save(entries, complete=False)
    assert set(cache.for_source("gh")) == {"http://x/a", "http://x/b"}
    entries = cache.for_source("gh")
    _ = entries["http://x/a"]
    cache.save(entries, complete=True)
    assert set(cache.for_source("gh")) == {"http://x/a"}
    cache.close()


def test_schema_2_databases_gain_the_cache_table(tmp_path):
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE snapshots (id INTEGER PRIMARY KEY, taken_at TEXT NOT NULL, config TEXT,
                                count INTEGER NOT NULL, summary TEXT, members BLOB NOT NULL);
        CREATE TABLE sources (snapshot_id INTEGER NOT NULL, name TEXT, provider TEXT, state TEXT, error TEXT,
                              count INTEGER, blind_spots TEXT);
        CREATE TABLE rows (id INTEGER PRIMARY KEY, uid TEXT NOT NULL, data BLOB NOT NULL);
        PRAGMA user_version=2;
    """)
    db.commit()
    db.close()
    h = History(path)
    assert h.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert h.db.execute("SELECT count(*) FROM http_cache").fetchone()[0] == 0
    h.close()
    cache = HttpCache(path)
    entries = cache.for_source("gh")
    entries["u"] = ("e", b"b")
    cache.save(entries)
    assert dict(cache.for_source("gh")) == {"u": ("e", b"b")}
    cache.close()
