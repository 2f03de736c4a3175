"""The table's order and the facet sidebar at scale: attention first, incremental orders that
equal a fresh sort, filters that keep the order, facet labels that never touch their counts."""

from __future__ import annotations

import random
import re
from dataclasses import replace
from datetime import timedelta

import pytest
from test_tui_support import NOW, ident, prefilled_app, screen_text
from textual.widgets import Static

from nhitui.inventory import Inventory
from nhitui.model import Finding
from nhitui.query import Context, parse
from nhitui.sandbox.synthetic import make_identities
from nhitui.tui.view import ATTENTION, SORT_CYCLE, SORT_KEYS, TableView, attention_key
from nhitui.tui.widgets.facets import LABEL, FacetList, count_facets, count_width, facet_cells, sidebar_width


def finding(severity: str, rule: str = "r") -> Finding:
    return Finding(rule, severity, "NHI1", "because")


def fresh_order(rows, key, reverse=False):
    """The reference: every row sorted by `key` from scratch (stable, arrival order on ties)."""
    function = SORT_KEYS[key]
    order = sorted(range(len(rows)), key=lambda i: function(rows[i]))
    return order[::-1] if reverse else order


# --- attention order -------------------------------------------------------------------------------

def test_default_order_is_severity_then_stale_then_oldest_use():
    rows = [
        ident(0, name="clean-recent", last_used_at=NOW - timedelta(days=1)),
        ident(1, name="clean-old", last_used_at=NOW - timedelta(days=300)),
        ident(2, name="stale-recentish", stale=True, last_used_at=NOW - timedelta(days=100)),
        ident(3, name="stale-never", stale=True, last_used_at=None, usage_tracked=True),
        ident(4, name="low", findings=(finding("low"),), last_used_at=NOW - timedelta(days=500)),
        ident(5, name="critical", findings=(finding("low"), finding("critical")), last_used_at=NOW),
        ident(6, name="high-old", findings=(finding("high"),), last_used_at=NOW - timedelta(days=90)),
        ident(7, name="high-new", findings=(finding("high"),), last_used_at=NOW - timedelta(days=2)),
        ident(8, name="high-stale", findings=(finding("high"),), stale=True, last_used_at=NOW),
        ident(9, name="clean-unknown", last_used_at=None, usage_tracked=False),
    ]
    inventory = Inventory()
    inventory.add(rows)
    view = TableView(inventory)
    view.recompute()
    assert view.sort_key == ATTENTION and not view.reverse
    assert [i.name for i in view.identities()] == [
        "critical", "high-stale", "high-old", "high-new", "low", "stale-never", "stale-recentish",
        "clean-old", "clean-recent", "clean-unknown"]


def test_attention_key_ranks_each_severity_above_any_stale_or_age():
    worst_low = attention_key(ident(0, findings=(finding("low"),), stale=False, last_used_at=NOW))
    best_clean = attention_key(ident(1, stale=True, last_used_at=None, usage_tracked=True))
    assert worst_low < best_clean
    medium = attention_key(ident(2, findings=(finding("medium"),), last_used_at=NOW))
    high = attention_key(ident(3, findings=(finding("high"),), last_used_at=NOW))
    assert high < medium < worst_low


# --- incremental orders equal a fresh sort ----------------------------------------------------------

def _check(view: TableView, inventory: Inventory) -> None:
    rows = inventory.rows
    expected = fresh_order(rows, view.sort_key, view.reverse)
    if view.query is not None:
        expected = [i for i in expected if view.query(rows[i], inventory.haystacks[i])]
    got = view.view
    # Equal keys may sit in any order among themselves; the keys must be in order and the rows the same.
    function = SORT_KEYS[view.sort_key]
    assert sorted(got) == sorted(expected)
    keys = [function(rows[i]) for i in got]
    assert keys == sorted(keys, reverse=view.reverse)


@pytest.mark.parametrize("key", SORT_CYCLE)
def test_orders_stay_exact_through_streaming_upserts_rescoring_and_removal(key):
    rng = random.Random(5)
    pool = make_identities(1200, seed=11)
    inventory = Inventory()
    inventory.add(pool[:400])
    view = TableView(inventory)
    view.set_sort(key, reverse=(key == "name"))
    view.recompute()
    _check(view, inventory)
    view.set_query(parse("key", NOW))
    _check(view, inventory)
    inventory.add(pool[400:800])                                   # streaming, filter active
    view.sync()
    _check(view, inventory)
    changed = [replace(r, stale=not r.stale, last_used_at=None, findings=()) for r in rng.sample(pool[:800], 60)]
    inventory.add(changed)                                         # upserts in place: new keys
    view.sync()
    _check(view, inventory)
    view.set_query(None)                                           # escape: the full order
    _check(view, inventory)
    assert len(view) == 800
    inventory.add(pool[800:])                                      # streaming, no filter
    view.sync()
    _check(view, inventory)
    inventory.replace_all(list(reversed(inventory.rows)))          # rescoring: every row new
    view.sync()
    _check(view, inventory)
    inventory.remove([r.uid for r in rng.sample(inventory.rows, 100)])
    view.sync()
    _check(view, inventory)
    view.set_sort(key, reverse=not view.reverse)
    _check(view, inventory)


def test_filters_walk_the_sorted_order_and_escape_restores_it():
    inventory = Inventory()
    inventory.add(make_identities(3000, seed=4))
    view = TableView(inventory)
    view.recompute()
    full = list(view.view)
    for text in ("d", "de", "dep", "d", "stale", "stale privilege>=admin", "provider:github", "a"):
        view.set_query(parse(text, NOW))
        assert view.view == [i for i in full if view.query(inventory.rows[i], inventory.haystacks[i])]
        view.set_query(None)
        assert view.view == full and view.view is not full


TERMS = ("provider:github", "provider:gitlab,aws", "kind:deploy_key", "status:active", "credential:static",
         "source:*git*", "owner:alice", "name:*key*", "stale", "federated", "static", "never-used", "no-expiry",
         "expired", "privilege>=write", "privilege<admin", "age>90d", "age<30d", "expires<30d", "unused>30d",
         "finding:*", "target:*-1*", "marked", "new", "acme", "key", "zz-none")


@pytest.mark.parametrize("sort", [ATTENTION, "name", "last_used"])
def test_every_term_filters_like_its_predicate_in_every_order(sort):
    """The view reads columns at C speed for most terms; the predicate is the reference."""
    inventory = Inventory()
    inventory.add(make_identities(2500, seed=6))
    rows = inventory.rows
    view = TableView(inventory)
    view.set_sort(sort, reverse=(sort == "name"))
    view.marked.update(r.uid for r in rows[::7])
    view.set_new({r.uid for r in rows[::11]})
    context = Context(new_uids=view.new_uids, marked=view.marked)
    rng = random.Random(2)
    texts = [*TERMS, *(f"!{t}" for t in TERMS)]
    texts += [" ".join(rng.sample(texts, 3)) for _ in range(40)]
    proper = 0
    for text in texts:
        query = parse(text, NOW, context)
        view.set_query(query)
        expected = [i for i in view.full_order() if query(rows[i], inventory.haystacks[i])]
        assert view.view == expected, text
        proper += 0 < len(expected) < len(rows)
    assert proper > len(texts) * 3 // 4      # the data makes most terms pick a real subset
    # narrowing keeps the same answer as a fresh filter
    for steps in (["provider:github", "provider:github stale", "provider:github stale privilege>=write"],
                  ["k", "ke", "key", "key !stale"]):
        for text in steps:
            query = parse(text, NOW, context)
            view.set_query(query)
            assert view.view == [i for i in view.full_order() if query(rows[i], inventory.haystacks[i])], text


def test_backspace_recalls_a_recent_filter_only_while_the_rows_are_the_same():
    pool = make_identities(1500, seed=8)
    inventory = Inventory()
    inventory.add(pool[:1000])
    view = TableView(inventory)
    rows = inventory.rows

    def reference(text):
        query = parse(text, NOW)
        return [i for i in view.full_order() if query(rows[i], inventory.haystacks[i])]

    for text in ("k", "ke", "key", "ke", "k"):
        view.set_query(parse(text, NOW))
        assert view.view == reference(text), text
    inventory.add(pool[1000:])            # new rows: "k" must be filtered again, not recalled
    view.sync()
    for text in ("ke", "k"):
        view.set_query(parse(text, NOW))
        assert view.view == reference(text), text
    assert any(i >= 1000 for i in view.view)


# --- facet labels -------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["write-deploy-key-rotation", "dependabot_secret", "a", "x" * 18, "x" * 19,
                                   "\u30c7\u30d7\u30ed\u30a4\u30ad\u30fc\u306e\u540d\u524d\u304c\u9577\u3044",
                                   "weird[/]kind \x1b[2J"])
@pytest.mark.parametrize("count", [1, 42, 14_000, 100_000, 1_234_567])
def test_a_facet_label_never_touches_its_count(value, count):
    from rich.cells import cell_len

    digits = count_width([count, 7])
    mark, label, number = facet_cells(value, count, digits)
    assert cell_len(label) == LABEL
    assert number == " " + f"{count:,}".rjust(digits)            # one space, then the right-aligned count
    if cell_len(value) > LABEL:
        assert label.endswith("\u2026")
    assert "\x1b" not in label


def test_sidebar_width_follows_the_widest_count():
    assert count_width([5, 42]) == 3 and count_width([100_000]) == 7 and count_width([]) == 3
    assert sidebar_width(7) - sidebar_width(3) == 4 and sidebar_width(3) == 26


async def test_sidebar_renders_each_count_apart_from_its_label(tmp_path):
    rows = [ident(n, kind="write-deploy-key-rotation-secret" if n % 3 else "dependabot_secret") for n in range(40)]
    app = prefilled_app(tmp_path, rows)
    async with app.run_test(size=(180, 40)) as pilot:
        facets = app.query_one(FacetList)
        counts = count_facets([r for r in app.inventory.rows])
        counts["kind"]["dependabot_secret"] = 14_000                # a count as wide as at 100k rows
        facets.update_counts(counts, set())
        await pilot.pause()
        assert facets.outer_size.width == sidebar_width(6)
        region = facets.region
        lines = screen_text(app).splitlines()[region.y:region.y + region.height]
        text = [line[region.x:region.x + region.width] for line in lines]
        shown = [t for t in text if re.search(r"\d\s*\S?\s*$", t.rstrip("\u2502\u2503\u258f\u2595 "))]
        assert any("14,000" in t for t in shown) and any("write-deploy-key-\u2026" in t for t in shown)
        for t in shown:
            m = re.search(r"(\S)( +)([\d,]+)\W*$", t)
            assert m and m.group(2), t                              # a space before every count


# --- the app: default order on screen, sort indicator, s/S cycle ----------------------------------------

async def test_first_screen_shows_findings_first_and_s_cycles_back_to_it(tmp_path):
    rows = [ident(n) for n in range(30)] + [ident(100, name="the-admin-key", findings=(finding("critical"),))]
    app = prefilled_app(tmp_path, rows)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        sortinfo = str(app.query_one("#sortinfo", Static).render())
        assert "attention" in sortinfo and "\u25b2" in sortinfo
        assert app.table.cursor_identity.findings and app.table.row_text(0).split()[2] == "the-admin-key"
        seen = [app.view.sort_key]
        for _ in SORT_CYCLE:
            await pilot.press("s")
            seen.append(app.view.sort_key)
        assert seen == [*SORT_CYCLE, ATTENTION]
        assert app.view.identity(0).name == "the-admin-key"
        await pilot.press("S")
        assert app.view.reverse and "\u25bc" in str(app.query_one("#sortinfo", Static).render())
        assert app.view.identity(len(app.view) - 1).name == "the-admin-key"
        await pilot.press("S")
        assert not app.view.reverse and app.view.identity(0).name == "the-admin-key"


async def test_slash_then_a_letter_in_one_burst_never_acts(tmp_path):
    """`/d` arriving together (fast typing, a paste, tmux send-keys): the focus moves to the filter
    before `d` is handled, so `d` never opens the act dialog on the table's row (it did when the
    focus change waited behind the queued keys)."""
    from textual import events

    from nhitui.tui.screens.act import ActScreen

    app = prefilled_app(tmp_path, [ident(n) for n in range(20)] + [ident(99, name="deploy-key")])
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        for key, char in (("slash", "/"), ("d", "d"), ("e", "e")):
            app._driver.send_message(events.Key(key, char))    # no pause between them
        await pilot.pause()
        await pilot.pause()
        assert not isinstance(app.screen, ActScreen) and app.focused is app.filter_input
        assert app.filter_input.value == "de"            # the burst's letters are typed, not lost
        await pilot.press(*"ploy")
        assert [i.name for i in app.view.identities()] == ["deploy-key"]


def test_sources_screen_shows_throttling_and_the_budget_forecast():
    from nhitui.model import SourceStatus
    from nhitui.tui.screens.info import sources_content

    paced = SourceStatus("acme-github", "github", state="partial", count=5, requests=9,
                         facts={"secondary_limit_hits": 2, "budget_forecast": "stops at a checkpoint\x1b[2J"})
    quiet = SourceStatus("acme-entra", "azure", state="ok", count=3, requests=4, facts={"rate_limit_hits": 0})
    text = sources_content({"a": paced, "b": quiet}).plain
    first, second = text.split("acme-entra")
    assert "throttled 2 time(s)" in first and "budget: stops at a checkpoint" in first
    assert "throttled" not in second and "\x1b" not in text


async def test_footer_draws_the_keys_as_text_and_a_click_runs_the_key(tmp_path):
    from test_tui_support import shown

    from nhitui.tui.screens.info import HelpScreen
    from nhitui.tui.widgets.footer import KeyFooter

    app = prefilled_app(tmp_path, [ident(1), ident(2)])
    async with app.run_test(size=(200, 40)) as pilot:
        footer_line = (await shown(pilot)).splitlines()[-1]
        assert "/ Filter" in footer_line and "? Help" in footer_line and "^p palette" in footer_line
        footer = app.query_one(KeyFooter)
        x = footer_line.index("? Help")
        assert footer.key_at(x) == ("question_mark", True) and footer.key_at(x + 3)[0] == "question_mark"
        assert footer.key_at(x - 1) is None                     # the gap between two keys
        await pilot.click(KeyFooter, offset=(x + 2, 0))
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        app.filter_input.focus()                                # the box hides the letter keys ...
        await pilot.pause()
        assert "s Sort" in (await shown(pilot)).splitlines()[-1]  # ... the footer keeps them on display
        await pilot.resize_terminal(90, 30)                     # narrow: whole keys left out, palette kept
        narrow = (await shown(pilot)).splitlines()[-1]
        assert narrow.rstrip().endswith("^p palette") and "? Help" not in narrow and "/ Filter" in narrow
