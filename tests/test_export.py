"""CSV/JSON export: exact columns, RFC 4180 round trips, formula neutralisation."""

from __future__ import annotations

import csv
import io
import json
import os

import pytest

from nhitui import export
from nhitui.model import COLUMNS, SourceStatus
from nhitui.policy import evaluate
from tests.helpers import NOW, ident


def test_columns_are_design_fields_in_order():
    text = export.render([ident()], {}, "csv")
    header = next(csv.reader(io.StringIO(text)))
    assert tuple(header) == COLUMNS


@pytest.mark.parametrize("value", ["=1+1", "+1", "-1", "@A1", "\tx", "\rx"])
def test_safe_cell_quotes_every_formula_prefix(value):
    assert export.safe_cell(value) == "'" + value
    assert export.safe_cell("plain") == "plain"


@pytest.mark.parametrize("name", ['=HYPERLINK("http://x")', "+1+1", "-2", "@SUM(A1)"])
def test_formula_prefixes_are_neutralised(name):
    text = export.render([ident(owner=name, target=name)], {}, "csv")
    row = list(csv.reader(io.StringIO(text)))[1]
    owner = row[COLUMNS.index("owner")]
    assert owner.startswith("'")
    assert not owner[1:].startswith("'")


def test_hyperlink_name_is_neutralised():
    # Names pass sanitize() (TAB/CR become U+FFFD) before export; the formula prefix is then quoted.
    text = export.render([ident(name='=HYPERLINK("http://x")')], {}, "csv")
    row = list(csv.reader(io.StringIO(text)))[1]
    assert row[COLUMNS.index("name")] == "'=HYPERLINK(\"http://x\")"


@pytest.mark.parametrize("name", ["a,b", 'say "hi"', "Zürich ключ 鍵 🔑", "semi;colon"])
def test_awkward_names_round_trip_csv_and_json(name):
    i = ident(name=name, owner=name, scopes=("repo", "admin:org"))
    row = list(csv.reader(io.StringIO(export.render([i], {}, "csv"))))[1]
    assert row[COLUMNS.index("name")] == name
    assert row[COLUMNS.index("scopes")] == "repo;admin:org"
    doc = json.loads(export.render([i], {}, "json"))
    assert doc["identities"][0]["name"] == name


def test_newlines_in_names_are_replaced_not_split():
    i = ident(name="line1\nline2")
    rows = list(csv.reader(io.StringIO(export.render([i], {}, "csv"))))
    assert len(rows) == 2 and rows[1][COLUMNS.index("name")] == "line1\ufffdline2"


def test_times_are_iso_utc_and_json_document_shape():
    i = evaluate([ident(privilege="admin")], None, now=NOW)[0]
    doc = json.loads(export.render([i], {"src": SourceStatus("src", "github", "partial", error="403 x", count=1)},
                                   "json"))
    assert set(doc) == {"generated_at", "sources", "identities"}
    assert doc["sources"][0]["status"] == "partial" and doc["sources"][0]["error"] == "403 x"
    row = doc["identities"][0]
    assert row["created_at"].endswith("Z") and "T" in row["created_at"]
    assert set(COLUMNS) <= set(row)
    detail = row["finding_details"][0]
    assert {"rule", "severity", "owasp", "explanation"} <= set(detail)


def test_save_is_private(tmp_path):
    path = tmp_path / "out.csv"
    export.save(path, [ident()], {}, "csv")
    assert (path.stat().st_mode & 0o777) == 0o600


def test_save_writes_into_a_pipe_instead_of_replacing_it(tmp_path):
    """`-o /dev/stdout` or a FIFO must be written to, never renamed over (it once replaced /dev/null)."""
    import stat
    import threading

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(open(fifo, "rb").read()))
    reader.start()
    export.save(fifo, [ident()], {}, "csv")
    reader.join(timeout=10)
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert received and received[0].startswith(b"uid,source,provider")


def test_hostile_ids_and_urls_export_cleanly(tmp_path):
    """A provider id with an escape sequence or a lone surrogate (JSON can carry "\\ud800") must not
    put control bytes in the CSV, nor make a UTF-8 export fail."""
    row = ident(1, uid="src:deploy_key:\x1b]52;c;ZXZpbA==\x07\ud800", url="https://x.test/\x1b[2J\udfff")
    assert "\ud800" not in row.uid and "\x1b" in row.uid            # kept for revocation, minus the surrogate
    assert row.url == "https://x.test/\ufffd[2J\ufffd"
    statuses = {"src": SourceStatus("src", "github", "ok")}
    for fmt in ("csv", "json"):
        out = tmp_path / f"x.{fmt}"
        export.save(out, [row], statuses, fmt)
        text = out.read_text(encoding="utf-8")
        if fmt == "csv":
            assert "\x1b" not in text and "\x07" not in text
        else:
            assert json.loads(text)["identities"][0]["uid"] == row.uid
