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
        broken = {**sources[0], "name": "broken-gitlab", "url": "http://127.0.0.1:9", "timeout": 2}
        here = scan(sources)
        apart = scan(sources + [broken], processes=True)
    assert _key(here) == {uid: v for uid, v in _key(apart).items() if not uid.startswith("broken-gitlab:")}
    assert len(here.rows) > 100
    assert {n: s.state for n, s in apart.statuses.items()} == {
        "acme-gitlab": "ok", "acme-npm": "ok", "acme-jfrog": "ok", "broken-gitlab": "failed"}
    assert "cannot reach http://127.0.0.1:9" in apart.statuses["broken-gitlab"].error
    assert apart.statuses["acme-gitlab"].requests == here.statuses["acme-gitlab"].requests
    # Where each ran: a child process reports its CPU; the registries' token listings stay in this one.
    ran_apart = {n for n, s in apart.statuses.items() if "process_cpu_seconds" in s.facts}
    assert ran_apart == {"acme-gitlab", "broken-gitlab"}
    assert not any("process_cpu_seconds" in s.facts for s in here.statuses.values())


def test_a_running_sources_count_is_what_it_has_read_so_far() -> None:
    """Its header chip counts the rows already in the table, in process and in a child process,
    never more than the rows of that source the inventory holds at that moment."""
    import asyncio

    from nhitui.collect import Collector
    from nhitui.inventory import Inventory

    with Sandbox(World(seed=3), providers=("gitlab",)) as sandbox:
        sources = sandbox.sources()
        name = sources[0]["name"]
        for processes in (False, True):
            inventory = Inventory()
            seen: list[tuple[int, int]] = []

            def changed(source: str, inventory=inventory, seen=seen) -> None:
                status = inventory.statuses[source]
                if status.state == "running":
                    seen.append((status.count, len(inventory.by_source(source))))

            asyncio.run(Collector(inventory, sources, on_change=changed,
                                  processes=processes).run())
            final = inventory.statuses[name].count
            assert len(seen) > 1 and final > 100
            assert all(count == held for count, held in seen)
            assert [c for c, _ in seen] == sorted(c for c, _ in seen) and 0 < seen[0][0] < final
