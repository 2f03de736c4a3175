"""Sources scanned in their own processes give exactly what an in-process scan gives."""

from __future__ import annotations

from nhitui.collect import scan
from nhitui.sandbox.chain import Sandbox
from nhitui.sandbox.world import World


def _key(inventory):
    return {i.uid: (i.name, i.privilege, i.status, i.finding_ids, i.stale) for i in inventory.rows}


def test_processes_match_in_process_and_a_failing_source_is_contained() -> None:
    with Sandbox(World(seed=3), providers=("gitlab", "npm", "jfrog")) as sandbox:
        sources = sandbox.sources()
        broken = {**sources[1], "name": "broken-npm", "registry": "http://127.0.0.1:9", "timeout": 2,
                  "max_attempts": 1}
        here = scan(sources)
        apart = scan(sources + [broken], processes=True)
    assert _key(here) == {uid: v for uid, v in _key(apart).items() if not uid.startswith("broken-npm:")}
    assert len(here.rows) > 100
    assert {n: s.state for n, s in apart.statuses.items()} == {
        "acme-gitlab": "ok", "acme-npm": "ok", "acme-jfrog": "ok", "broken-npm": "failed"}
    assert "network error" in apart.statuses["broken-npm"].error or "gave up" in apart.statuses["broken-npm"].error
    assert apart.statuses["acme-gitlab"].requests == here.statuses["acme-gitlab"].requests
