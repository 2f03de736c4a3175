"""History on the sandbox: what a reviewer sees after revocations, a rotation and an outage."""

from __future__ import annotations

import asyncio

from nhitui.collect import scan
from nhitui.history import History
from nhitui.journal import Journal
from nhitui.revoke import Revoker
from nhitui.sandbox.chain import Sandbox
from nhitui.sandbox.world import World


def test_two_revoked_one_rotated_then_a_failing_source(tmp_path):
    with Sandbox(World(projects=6, registry_tokens=5), providers=("gitlab", "npm")) as sandbox:
        sources = sandbox.sources()
        history = History(tmp_path / "h.sqlite")
        first = scan(sources)
        old = history.save(first.rows, first.statuses)

        revoker = Revoker(first, sources, Journal(tmp_path / "j.jsonl"))
        npm = [i.uid for i in first.rows if i.kind == "npm_token"][:2]
        pat = next(i for i in first.rows if i.kind == "personal_access_token" and i.status == "active"
                   and not i.name.startswith("nhitui-sandbox"))       # not the token the scan itself uses
        outcomes = asyncio.run(revoker.execute(revoker.plan(npm, "delete")))
        rotated = asyncio.run(revoker.execute(revoker.plan([pat.uid], "rotate")))
        assert [o.state for o in outcomes + rotated] == ["ok", "ok", "ok"]
        assert rotated[0].secret                              # shown once to the operator...
        journal_text = (tmp_path / "j.jsonl").read_text()
        assert rotated[0].secret not in journal_text          # ...never journaled

        second = scan(sources)
        new = history.save(second.rows, second.statuses)
        diff = history.diff(old, new)
        assert sorted(r["uid"] for r in diff.removed) == sorted(npm)
        assert [c.uid for c in diff.changed] == [pat.uid]     # the rotated token: now revoked
        assert "status changed" in diff.changed[0].what
        assert [r["name"] for r in diff.added] == [pat.name]  # its successor
        assert diff.unknown == []

        sandbox.fakes["npm"].stop()                           # the registry is down for the next scan
        third = scan(sources)
        assert third.statuses["acme-npm"].state == "failed"
        latest = history.save(third.rows, third.statuses)
        outage = history.diff(new, latest)
        assert outage.removed == []
        assert {r["source"] for r in outage.unknown} == {"acme-npm"}
        assert len(outage.unknown) == len([i for i in second.rows if i.kind == "npm_token"])
