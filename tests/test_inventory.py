from __future__ import annotations

from nhitui.inventory import Inventory
from tests.helpers import ident


def test_replace_by_source_is_atomic_and_keeps_other_sources():
    inv = Inventory()
    inv.add([ident(n, source="a", uid=f"a:k:{n}") for n in range(3)])
    inv.add([ident(n, source="b", uid=f"b:k:{n}") for n in range(2)])
    inv.replace_source("a", [ident(9, source="a", uid="a:k:9")])
    assert {i.uid for i in inv} == {"a:k:9", "b:k:0", "b:k:1"}
    assert inv.get("a:k:0") is None and inv.get("a:k:9").source == "a"


def test_upsert_and_counts():
    inv = Inventory()
    inv.add([ident(1, provider="github"), ident(2, provider="gitlab", uid="x:y:2")])
    inv.add([ident(1, provider="github", name="renamed")])
    assert len(inv) == 2 and inv.get(ident(1).uid).name == "renamed"
    assert inv.counts("provider") == {"github": 1, "gitlab": 1}


def test_remove_and_version():
    inv = Inventory()
    inv.add([ident(1)])
    v = inv.version
    assert inv.remove([ident(1).uid]) == 1
    assert inv.version > v and len(inv) == 0


def test_holds_100k():
    from nhitui.sandbox.synthetic import make_identities

    inv = Inventory()
    inv.add(make_identities(100_000, score=False))
    assert len(inv) == 100_000
    assert sum(inv.counts("provider").values()) == 100_000
