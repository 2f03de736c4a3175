"""Shared doubles for the TUI tests: a scripted connector, an app factory, screen text helpers.

The fake connector stands in for a provider (collection and actions) so the Pilot tests run
without network; real providers are tested against the sandbox elsewhere.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from connectors.base import ConnectorError
from nhitui import collect
from nhitui.config import Config
from nhitui.inventory import Inventory
from nhitui.model import Action, ActionResult, Identity, make_uid
from nhitui.policy import Policy, evaluate
from nhitui.sandbox.world import HOSTILE_NAMES
from nhitui.tui.app import NhiApp

NOW = datetime.now(timezone.utc).replace(microsecond=0)
SIZE = (140, 40)


def ident(n: int, source: str = "acme-aws", provider: str = "aws", kind: str = "access_key", **kw: Any) -> Identity:
    base: dict[str, Any] = dict(
        uid=make_uid(source, kind, f"K{n:04d}"), source=source, provider=provider, kind=kind,
        name=f"key-{n:04d}", owner="alice", target="123456789012", privilege="read",
        created_at=NOW - timedelta(days=400 - n % 300), last_used_at=NOW - timedelta(days=n % 200),
        url=f"https://console.aws.amazon.com/iam/home#/users/key-{n}", actions=("deactivate", "delete"),
    )
    base.update(kw)
    return Identity(**base)


def scored(rows: list[Identity]) -> list[Identity]:
    return evaluate(rows, None, Policy(), NOW)


def hostile_rows(source: str = "acme-aws") -> list[Identity]:
    return [ident(900 + n, source=source, name=name, owner=name if n % 2 else "dependabot[bot]")
            for n, name in enumerate(HOSTILE_NAMES)]


class FakeConnector:
    """A provider double: scripted batches (optionally gated), then success or a failure."""

    def __init__(self, name: str, provider: str = "aws", batches: list[list[Identity]] | None = None,
                 gates: list[asyncio.Event] | None = None, fail: str = "", secret: str = "") -> None:
        self.name = name
        self.provider = provider
        self.batches = batches or []
        self.gates = gates or []
        self.fail = fail
        self.secret = secret
        self.executed: list[tuple[str, str]] = []
        self.collected = 0

    async def collect(self):  # noqa: ANN201 - async generator
        self.collected += 1
        for n, batch in enumerate(self.batches):
            if n < len(self.gates):
                await self.gates[n].wait()
            yield batch
        if self.fail:
            raise ConnectorError(self.fail)

    def actions(self, identity: Identity) -> list[Action]:
        if identity.status == "inactive":
            first = Action("activate", "yes", "Reactivate the access key", f"UpdateAccessKey {identity.native_id} "
                                                                           "Status=Active", undo="deactivate")
        else:
            first = Action("deactivate", "yes", "Deactivate the access key",
                           f"UpdateAccessKey {identity.native_id} Status=Inactive", undo="activate")
        out = [first, Action("delete", "no", "Delete the access key", f"DeleteAccessKey {identity.native_id}")]
        if self.secret:
            out.append(Action("rotate", "holder", "Create a new key and delete this one", "CreateAccessKey"))
        return out

    async def execute(self, identity: Identity, action: str) -> ActionResult:
        self.executed.append((identity.uid, action))
        await asyncio.sleep(0)
        if identity.name.startswith("fails"):
            return ActionResult("failed", 403, "AccessDenied: not allowed")
        if action == "deactivate":
            return ActionResult("ok", 200, "deactivated", identity=replace(identity, status="inactive"))
        if action == "activate":
            return ActionResult("ok", 200, "activated", identity=replace(identity, status="active"))
        if action == "delete":
            return ActionResult("ok", 204, "deleted", removed=True)
        if action == "rotate":
            return ActionResult("ok", 200, "rotated", identity=identity, secret=self.secret)
        return ActionResult("failed", 400, f"unknown action {action}")


def config(tmp_path: Path, names: list[str] = ("acme-aws",), **kw: Any) -> Config:
    sources = [{"type": "aws", "name": n, "revoke_profile": "admin"} for n in names]
    return Config(path=None, sources=sources, journal_path=tmp_path / "journal.jsonl", **kw)


def install(monkeypatch, fakes: dict[str, FakeConnector]) -> None:
    """Make the collector build our doubles instead of real connectors."""
    monkeypatch.setattr(collect, "make_connector", lambda settings, resolve=None: fakes[settings["name"]])


def prefilled_app(tmp_path: Path, rows: list[Identity], fake: FakeConnector | None = None,
                  read_only: bool = False, **kw: Any) -> NhiApp:
    inventory = Inventory()
    inventory.add(scored(rows))
    app = NhiApp(config(tmp_path, **kw), read_only=read_only, inventory=inventory, collect=False)
    if fake is not None:
        app.collector.connectors[fake.name] = fake
    return app


def record_notifications(app: NhiApp) -> list[tuple[str, dict[str, Any]]]:
    """Capture notify() calls (message, kwargs); run_test hides toasts."""
    seen: list[tuple[str, dict[str, Any]]] = []
    original = app.notify

    def notify(message: str, **kwargs: Any) -> None:
        seen.append((message, kwargs))
        original(message, **kwargs)

    app.notify = notify  # type: ignore[method-assign]
    return seen


def screen_text(app: NhiApp) -> str:
    """Every character the compositor would send for the current screen."""
    strips = app.screen._compositor.render_strips()
    return "\n".join("".join(segment.text for segment in strip) for strip in strips)


async def shown(pilot) -> str:
    """The screen's text once its layout has settled (a pending reflow renders blank)."""
    text = ""
    for _ in range(30):
        await pilot.pause()
        text = screen_text(pilot.app)
        if text.strip():
            return text
        await asyncio.sleep(0.02)
    raise AssertionError("blank screen: " + repr(text[:200]))


def visible_names(app: NhiApp) -> list[str]:
    return [i.name for i in app.view.identities()]


async def wait_until(pilot, condition, timeout: float = 10.0) -> None:
    """Pause until `condition()` holds (repaints are coalesced on a timer; the machine may be slow)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await pilot.pause(0.05)


async def settle(pilot, app: NhiApp | None = None) -> None:
    """Wait for workers, coalesced repaints and the facet timer."""
    app = app or pilot.app
    await app.workers.wait_for_complete()
    await pilot.pause(0.15)
    await pilot.pause()
