"""Hostile provider strings end to end: fake API -> real connector -> inventory -> TUI -> CSV/JSON
export -> revocation journal (and `nhitui journal`).

Token names are planted in the sandbox fakes' own state (npm token names, JFrog descriptions), so they
travel over HTTP exactly as a provider would send them; GitLab adds the world's hostile names where
its generator put them. Every string must be shown literally (control characters replaced, never
interpreted as markup or actions), exported safely (no formula cell, no raw control byte) and
journaled as plain JSON, and nothing may crash.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys

from rich.cells import cell_len
from test_tui_support import screen_text, settle, shown, wait_until
from textual.widgets import Input

from nhitui.config import Config
from nhitui.export import FORMULA_START
from nhitui.model import MAX_TEXT, sanitize
from nhitui.sandbox.chain import Sandbox
from nhitui.sandbox.world import HOSTILE_NAMES, World
from nhitui.tui.app import NhiApp
from nhitui.tui.screens.act import ActScreen
from nhitui.tui.screens.export import ExportScreen

TEN_KB = "T" * 10_240
MARKUP_BOMB = "[b]" * 3_400 + "end"
HOSTILE = [
    *HOSTILE_NAMES,
    TEN_KB,
    MARKUP_BOMB,
    "osc8 \x1b]8;;https://evil.example/\x1b\\click me\x1b]8;;\x1b\\",
    "[link=https://evil.example]phish[/link]",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=cmd",
    "zero\u200bwidth \u2066isolate\u2069 \ufeffbom",
    "bell\x07 backspace\x08 del\x7f",
    "wide \U0001f511\U0001f9ea \u6f22\u5b57\u304b\u306a \ud55c\uad6d\uc5b4 \uff37\uff29\uff24\uff25",
    "lone \ud800 surrogate \udfff",
]
# C0, DEL, C1, zero-width, bidi: nothing of these may reach a screen, an export or the journal.
CONTROL = re.compile("[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff\ud800-\udfff]")
WIDTH, HEIGHT = 160, 50


def plant(sandbox: Sandbox) -> dict[str, str]:
    """Give every npm token and JFrog token a hostile name; return planted -> expected (sanitized)."""
    npm = sandbox.fakes["npm"]
    keys = [k for k in npm.order if k in npm.tokens]
    assert len(keys) >= len(HOSTILE)
    # Every token is named here (the extra ones plainly), so each planted name occurs exactly once.
    plain = [f"plain-{n}" for n in range(len(keys))]
    for key, name in zip(keys, [*HOSTILE, *plain]):
        npm.tokens[key]["name"] = name
    jfrog = sandbox.fakes["jfrog"]
    for tid, name in zip(list(jfrog.tokens), [*reversed(HOSTILE), *plain]):
        jfrog.tokens[tid]["description"] = name
    return {name: sanitize(name) for name in HOSTILE}


def assert_clean(text: str, where: str) -> None:
    bad = CONTROL.findall(text)
    assert not bad, f"control characters in {where}: {sorted(set(bad))!r}"


async def test_hostile_names_from_the_fakes_through_tui_exports_and_journal(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    world = World(registry_tokens=len(HOSTILE) + 2, projects=6, repos=3)
    with Sandbox(world, providers=("npm", "jfrog", "gitlab")) as sandbox:
        expected = plant(sandbox)
        config = Config(path=None, sources=sandbox.sources(), journal_path=tmp_path / "journal.jsonl",
                        history_path=tmp_path / "history.sqlite")
        app = NhiApp(config)
        async with app.run_test(size=(WIDTH, HEIGHT)) as pilot:
            await wait_until(pilot, lambda: not app.collecting and len(app.inventory.statuses) == 3
                             and all(s.state != "running" for s in app.inventory.statuses.values()), timeout=60)
            await settle(pilot)
            states = {n: s.state for n, s in app.inventory.statuses.items()}
            assert set(states.values()) == {"ok"}, states

            # connector -> inventory: each planted name arrives once, sanitized, never longer than the cap
            names = [i.name for i in app.inventory.rows if i.provider in ("npm", "jfrog")]
            for planted, want in expected.items():
                assert names.count(want) == 2, (planted[:40], names.count(want))
                assert len(want) <= MAX_TEXT + 1
            assert sanitize(TEN_KB) == "T" * MAX_TEXT + "\u2026"
            for name in (i.name for i in app.inventory.rows):
                assert_clean(name, "an identity name")

            # TUI: the whole screen, each row's detail pane, every modal
            text = await shown(pilot)
            assert_clean(text, "the screen")
            for line in text.splitlines():
                assert cell_len(line) == WIDTH, f"a wide name broke the layout: {line!r}"
            await pilot.press("slash", *"provider:npm", "enter")
            await settle(pilot)
            seen_detail = ""
            for position in range(len(app.view)):
                app.table.move_cursor(position)
                await pilot.pause()
                screen = screen_text(app)
                assert_clean(screen, f"the screen at row {position}")
                for line in screen.splitlines():
                    assert cell_len(line) == WIDTH, f"row {position}: {line!r}"
                seen_detail += app.query_one("#detail").text
            for literal in ("[@click=app.quit]x[/]", "weird[/]name", "[bold red]not bold[/bold red]",
                            "[link=https://evil.example]phish[/link]", "=HYPERLINK(", "[b][b][b]",
                            "rtl\ufffdgnp.exe", "osc52\ufffd]52;c;ZXZpbA==\ufffdclipboard",
                            "nul\ufffdbyte", "\U0001f511\U0001f9ea \u6f22\u5b57"):
                assert literal in seen_detail, literal
            assert_clean(seen_detail, "the detail pane")
            for key in ("i", "escape", "question_mark", "escape", "f", "f"):
                await pilot.press(key)
                await pilot.pause()
                assert_clean(screen_text(app), f"the screen after {key}")
            app.save_screenshot(filename="hostile.svg", path=str(tmp_path))

            # export the hostile rows (CSV, then JSON) from the TUI's own export screen
            for fmt, name in (("csv", "hostile.csv"), ("json", "hostile.json")):
                await pilot.press("e")
                await pilot.pause()
                assert isinstance(app.screen, ExportScreen)
                if fmt == "json":
                    app.screen.query_one("#fmt-json").value = True
                    await pilot.pause()
                app.screen.query_one("#path", Input).value = str(tmp_path / name)
                await pilot.press("enter")
                await app.workers.wait_for_complete()
                await pilot.pause()

            # revoke them all (npm delete, irreversible, bulk: typed count), with the real connector
            count = len(app.view)
            await pilot.press("a", "ctrl+d")
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, ActScreen) and screen.expected_word == str(count)
            assert_clean(await shown(pilot), "the confirmation")
            screen.query_one("#confirm-input", Input).focus()
            await pilot.press(*str(count), "enter")
            await app.workers.wait_for_complete()
            await pilot.pause()
            result = await shown(pilot)
            assert f"{count} done" in result, result[-400:]
            assert_clean(result, "the result screen")
            await pilot.press("enter")
            await settle(pilot)
            assert not [i for i in app.inventory.rows if i.provider == "npm"]
            assert app.is_running
        assert not [k for k in sandbox.fakes["npm"].tokens]        # really gone at the provider

    svg = (tmp_path / "hostile.svg").read_text(encoding="utf-8")
    assert_clean(svg.replace("\n", ""), "the screenshot")

    raw_csv = (tmp_path / "hostile.csv").read_text(encoding="utf-8")
    assert_clean(raw_csv.replace("\r\n", ""), "the CSV")
    table = list(csv.DictReader(io.StringIO(raw_csv, newline="")))
    assert len(table) == count
    for row in table:
        for column, cell in row.items():
            assert not cell.startswith(FORMULA_START), (column, cell[:40])
    # A formula-looking name gets a leading ' (and only those): the rest of the cell is the name.
    exported = {r["name"][1:] if r["name"].startswith("'") and r["name"][1:].startswith(FORMULA_START)
                else r["name"] for r in table}
    assert set(expected.values()) <= exported
    assert "'=HYPERLINK(\"http://x\")" in {r["name"] for r in table}
    assert "'@SUM(1+1)*cmd|' /C calc'!A0" in {r["name"] for r in table}

    raw_json = (tmp_path / "hostile.json").read_text(encoding="utf-8")
    assert_clean(raw_json, "the JSON")
    document = json.loads(raw_json)
    assert set(expected.values()) <= {r["name"] for r in document["identities"]}

    journal = (tmp_path / "journal.jsonl").read_text(encoding="utf-8")
    assert_clean(journal, "the journal")
    records = [json.loads(line) for line in journal.splitlines()]
    assert len(records) == 2 * count and {r["event"] for r in records} == {"intent", "result"}
    assert set(expected.values()) <= {r["name"] for r in records}
    assert all(r["result"] == "ok" for r in records if r["event"] == "result")

    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[journal]\npath = "{tmp_path / "journal.jsonl"}"\n')
    os.chmod(cfg, 0o600)
    for fmt in ("table", "json"):
        proc = subprocess.run([sys.executable, "-m", "nhitui", "--config", str(cfg), "journal", "--format", fmt],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        assert_clean(proc.stdout.replace("\n", ""), f"`nhitui journal --format {fmt}`")
        assert proc.stdout.count("\n") >= 2 * count


def test_scan_cli_exports_hostile_names_safely(tmp_path):
    """The headless path: `nhitui scan --format csv|json` on a config written from the sandbox."""
    world = World(registry_tokens=len(HOSTILE) + 2)
    with Sandbox(world, providers=("npm", "jfrog")) as sandbox:
        expected = plant(sandbox)
        cfg = sandbox.write_config(tmp_path / "config.toml")
        outputs = {}
        for fmt in ("csv", "json", "table"):
            proc = subprocess.run([sys.executable, "-m", "nhitui", "--config", str(cfg), "scan", "--no-save",
                                   "--format", fmt], capture_output=True, text=True, timeout=120,
                                  env={**os.environ})
            assert proc.returncode in (0, 4), proc.stderr
            assert "Traceback" not in proc.stderr
            assert_clean(proc.stdout.replace("\r\n", "").replace("\n", ""), f"scan --format {fmt}")
            assert_clean(proc.stderr.replace("\n", ""), "stderr")
            outputs[fmt] = proc.stdout
    document = json.loads(outputs["json"])
    assert set(expected.values()) <= {r["name"] for r in document["identities"]}
    rows = list(csv.reader(io.StringIO(outputs["csv"], newline="")))
    assert all(not cell.startswith(FORMULA_START) for row in rows for cell in row)
    assert "[@click=app.quit]x[/]" in outputs["table"]
