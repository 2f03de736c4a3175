"""Regenerate screenshots/*.svg from the real app on the demo world.

    /work/venv/bin/python scripts/screenshots.py [--out screenshots] [--synthetic]

Starts the sandbox delivery chain (`nhitui.sandbox.chain.Sandbox`: the fake providers and moto
on 127.0.0.1), runs the dashboard headless on its config with the real connectors, and saves:
main.svg, filter.svg, detail.svg, confirm.svg, help.svg, trust.svg (the trust map, `t`). Nothing is revoked: the confirmation
modal is photographed and cancelled. If the sandbox cannot start, it falls back to synthetic
identities and says so.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nhitui.config import Config  # noqa: E402
from nhitui.inventory import Inventory  # noqa: E402
from nhitui.model import Action, ActionResult, Identity  # noqa: E402
from nhitui.tui.app import NhiApp  # noqa: E402
from nhitui.tui.screens.act import ActScreen  # noqa: E402

SIZE = (160, 45)
# AWS access key ids are identifiers, not secrets, but they are shaped like credentials: the pictures
# committed to the repository show the other stale admin identities.
STALE_ADMIN = "stale privilege>=admin !kind:access_key"


class PictureConnector:
    """Offers actions for the synthetic fallback; refuses to execute anything."""

    def actions(self, identity: Identity) -> list[Action]:
        return [Action("deactivate", "yes", "Deactivate the credential", f"PATCH {identity.native_id} "
                       "active=false", undo="activate"),
                Action("delete", "no", "Delete the credential", f"DELETE {identity.native_id}")]

    async def execute(self, identity: Identity, action: str) -> ActionResult:
        return ActionResult("failed", message="screenshots never act")


def quiet_logs() -> None:
    for name in ("werkzeug", "moto", "botocore", "urllib3", "flask"):
        logging.getLogger(name).setLevel(logging.ERROR)


def screen_text(app: NhiApp) -> str:
    strips = app.screen._compositor.render_strips()
    return "\n".join("".join(segment.text for segment in strip) for strip in strips)


async def shoot(app: NhiApp, out: Path, wait_for_scan: bool, text: bool = False) -> list[str]:
    saved: list[str] = []

    async def save(pilot: Any, name: str) -> None:
        await pilot.pause(0.4)      # the facet timer and the graph for the detail pane
        await pilot.pause()
        app.save_screenshot(f"{name}.svg", str(out))
        if text:
            (out / f"{name}.txt").write_text(screen_text(app), encoding="utf-8")
        saved.append(name)

    async with app.run_test(size=SIZE) as pilot:
        app.filter_input.cursor_blink = False
        if wait_for_scan:
            while app.collecting:
                await asyncio.sleep(0.1)
        await pilot.pause()
        app.sort_by("findings")
        app.table.action_first()
        await save(pilot, "main")

        await pilot.press("slash", *STALE_ADMIN)
        await save(pilot, "filter")
        await pilot.press("enter")

        app.set_filter("finding:oidc-wildcard-sub,oidc-no-sub,oidc-aud-only")
        if not len(app.view):
            app.set_filter("privilege>=admin")
        app.table.focus()
        await save(pilot, "detail")

        app.set_filter(STALE_ADMIN)
        await pilot.press("home", "space", "space")
        await pilot.press("ctrl+d")
        await pilot.pause()
        if isinstance(app.screen, ActScreen):
            await save(pilot, "confirm")
            await pilot.press("escape")
        await pilot.press("question_mark")
        await save(pilot, "help")
        await pilot.press("escape")

        app.set_filter("")
        await pilot.press("t")
        await save(pilot, "trust")
        await pilot.press("escape")
    return saved


def synthetic_app() -> NhiApp:
    from nhitui.model import SourceStatus
    from nhitui.sandbox.synthetic import SOURCES, make_identities

    inventory = Inventory()
    inventory.add(make_identities(400, seed=7))
    sources = [{"type": p, "name": n, "revoke_token": "keyring:nhitui/demo"} for p, n in SOURCES.items()]
    for provider, name in SOURCES.items():
        inventory.set_status(SourceStatus(name, provider, state="ok", count=len(inventory.by_source(name))))
    app = NhiApp(Config(path=None, sources=sources), inventory=inventory, title="nhitui demo (synthetic)",
                 collect=False)
    for name in SOURCES.values():
        app.collector.connectors[name] = PictureConnector()
    return app


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "screenshots"))
    parser.add_argument("--synthetic", action="store_true", help="skip the sandbox, use synthetic data")
    parser.add_argument("--text", action="store_true", help="also write NAME.txt, the screen as plain text")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    quiet_logs()

    sandbox = None
    if not args.synthetic:
        try:
            from nhitui import config as config_module
            from nhitui.sandbox.chain import Sandbox

            sandbox = Sandbox().start()
            cfg = config_module.load(sandbox.write_config())
            cfg.journal_path = Path(sandbox.config_dir()) / "journal.jsonl"
            app = NhiApp(cfg, title="nhitui demo")
            print("screenshots: the sandbox delivery chain (real connectors over local HTTP)")
        except Exception as exc:  # noqa: BLE001 - fall back, and say so
            print(f"screenshots: the sandbox is not available ({type(exc).__name__}: {exc}); "
                  "FALLING BACK to synthetic identities", file=sys.stderr)
            if sandbox is not None:
                sandbox.stop()
            sandbox = None
    if sandbox is None:
        app = synthetic_app()
        print("screenshots: synthetic identities (nhitui.sandbox.synthetic), not the sandbox")
    try:
        saved = asyncio.run(shoot(app, out, wait_for_scan=sandbox is not None, text=args.text))
    finally:
        if sandbox is not None:
            sandbox.stop()
    for name in saved:
        print(f"  {out / (name + '.svg')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
