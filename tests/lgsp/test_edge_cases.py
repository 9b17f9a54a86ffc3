"""Edge cases found in review, each on a tiny source of its own: cursors, retries, empty runs."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from lgsp.connectors.sql import _redact
from lgsp.connectors.sql_scanners import attach_string
from lgsp.core.settings import Settings
from lgsp.pipeline import Pipeline
from tests.conftest import warehouse_rows

CONTRACT = """\
id: items
title: {{vi: Mục, en: Items}}
description: {{vi: Bảng thử., en: A test table.}}
publisher: {{code: TEST, name: {{vi: Sở Thử, en: Test Department}}}}
source: {{kind: sql, connection: items, table: items{engine}}}
primary_key: [id]
{incremental}
columns:
  - {{name: id, type: integer, description: {{vi: Mã, en: Id}}}}
  - {{name: amount, type: integer, description: {{vi: Số lượng, en: Amount}}}}
  - {{name: changed, type: {cursor_type}, description: {{vi: Thay đổi, en: Changed}}}}
{extra}
classification: open
licence: {{id: CC-BY-4.0, title: CC BY 4.0, url: https://creativecommons.org/licenses/by/4.0/}}
update_frequency: daily
theme: [GOVE]
expectations:
{expectations}
"""


@pytest.fixture
def items(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A SQLite table `items` and a contract for it; returns (write_contract, execute, settings)."""
    db = tmp_path / "items.sqlite"
    sqlite3.connect(db).execute("CREATE TABLE items (id TEXT, amount TEXT, changed TEXT, note TEXT)")
    contracts = tmp_path / "contracts"
    contracts.mkdir()
    monkeypatch.setenv("LGSP_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LGSP_CONTRACTS", str(contracts))
    monkeypatch.setenv("LGSP_CONN_ITEMS", f"sqlite:///{db}")

    def write(
        *,
        cursor_type: str = "integer",
        incremental: bool = True,
        expectations: str = "  []",
        extra: str = "",
        engine: str = "",
    ) -> None:
        text = CONTRACT.format(
            cursor_type=cursor_type,
            incremental="incremental: {cursor: changed}" if incremental else "",
            expectations=expectations,
            extra=extra,
            engine=f", engine: {engine}" if engine else "",
        )
        (contracts / "items.yaml").write_text(text.replace("expectations:\n  []", "expectations: []"), encoding="utf-8")

    def execute(sql: str, rows: list[tuple] | None = None) -> None:
        con = sqlite3.connect(db)
        con.executemany(sql, rows) if rows else con.execute(sql)
        con.commit()

    write()
    return write, execute, Settings.from_env()


def published(settings: Settings, sql: str = "SELECT * FROM main.items ORDER BY id") -> list[tuple]:
    return warehouse_rows(settings, sql)


def test_an_integer_cursor_kept_as_text_is_compared_as_a_number(items) -> None:
    _write, execute, settings = items
    execute("INSERT INTO items VALUES (?, ?, ?, '')", [(str(i), "1", str(i)) for i in range(1, 10)])
    assert Pipeline(settings).run("items").cursor_to == "9"
    execute("INSERT INTO items VALUES (?, ?, ?, '')", [("10", "1", "10"), ("11", "1", "11")])
    second = Pipeline(settings).run("items")
    assert second.rows_extracted == 3  # the boundary row 9, then 10 and 11 ('10' < '9' as text)
    assert second.cursor_to == "11"
    assert published(settings, "SELECT count(*) FROM main.items") == [(11,)]


def test_the_cursor_never_moves_past_a_quarantined_row(items) -> None:
    write, execute, settings = items
    write(expectations="  - {type: expect_column_values_to_be_between, kwargs: {column: changed, max_value: 1000}}")
    execute("INSERT INTO items VALUES (?, ?, ?, '')", [("1", "5", "10"), ("2", "5", "20"), ("3", "5", "999999")])
    first = Pipeline(settings).run("items")
    assert (first.rows_published, first.rows_quarantined, first.cursor_to) == (2, 1, "20")
    execute("UPDATE items SET amount = '6', changed = '30' WHERE id = '1'")
    second = Pipeline(settings).run("items")
    assert second.status == "published"
    assert published(settings, "SELECT amount FROM main.items WHERE id = 1") == [(6,)]


def test_integers_with_a_fraction_are_quarantined_not_rounded(items) -> None:
    write, execute, settings = items
    write(incremental=False)
    execute("INSERT INTO items VALUES (?, ?, ?, '')", [("1", "1.5", "1"), ("2", " 7 ", "1"), ("3", "2,0", "1")])
    run = Pipeline(settings).run("items")
    assert (run.rows_published, run.rows_quarantined) == (1, 2)
    assert published(settings) == [(2, 7, 1)]
    reasons = published(settings, "SELECT amount, _reasons FROM quarantine.items ORDER BY _row")
    assert reasons == [
        ("1.5", "'1.5' không phải số nguyên hợp lệ cho cột amount / is not a valid whole number for amount"),
        ("2,0", "'2,0' không phải số nguyên hợp lệ cho cột amount / is not a valid whole number for amount"),
    ]


def test_an_empty_source_is_validated_and_can_be_rejected(items) -> None:
    write, execute, settings = items
    write(
        incremental=False,
        expectations="  - {type: expect_table_row_count_to_be_between, kwargs: {min_value: 1}, severity: error}",
    )
    execute("INSERT INTO items VALUES ('1', '1', '1', '')")
    assert Pipeline(settings).run("items").status == "published"
    execute("DELETE FROM items")
    emptied = Pipeline(settings).run("items")
    assert emptied.status == "rejected" and emptied.rows_extracted == 0
    assert published(settings, "SELECT count(*) FROM main.items") == [(1,)]


def test_a_retried_publish_keeps_the_quarantine(items, monkeypatch: pytest.MonkeyPatch) -> None:
    write, execute, settings = items
    write(incremental=False)
    execute("INSERT INTO items VALUES (?, ?, ?, '')", [("1", "1", "1"), ("2", "x", "1"), ("3", "y", "1")])
    pipeline = Pipeline(settings)
    pipeline.extract("items", "r1")
    pipeline.validate("items", "r1")
    import lgsp.warehouse.publish as publish

    def crash(*args, **kwargs):
        raise RuntimeError("machine lost between the two publish transactions")

    with monkeypatch.context() as m:
        m.setattr(publish, "_swap", crash)
        with pytest.raises(RuntimeError):
            pipeline.publish("items", "r1")
    run = pipeline.publish("items", "r1")
    assert (run.rows_extracted, run.rows_published, run.rows_quarantined) == (3, 1, 2)
    assert published(settings, "SELECT count(*) FROM quarantine.items") == [(2,)]
    # A late failure report for the finished run does not overwrite it.
    assert pipeline.fail("items", "r1", RuntimeError("task cleared")).status == "published"


def test_an_incremental_table_gains_a_new_column(items) -> None:
    write, execute, settings = items
    execute("INSERT INTO items VALUES ('1', '1', '1', 'một')")
    Pipeline(settings).run("items")
    write(extra="  - {name: note, type: string, description: {vi: Ghi chú, en: Note}}")
    execute("INSERT INTO items VALUES ('2', '2', '2', 'hai')")
    run = Pipeline(settings).run("items")
    assert run.status == "published", run
    assert published(settings, "SELECT id, note FROM main.items ORDER BY id") == [(1, "một"), (2, "hai")]


@pytest.mark.parametrize("memory", [512 * 2**20, 20_000], ids=["one frame", "batches read ahead"])
def test_a_check_gx_cannot_evaluate_fails_the_run(items, memory: int) -> None:
    """Also when the frames are read ahead in a thread: the error reaches the run, nothing hangs."""
    write, execute, settings = items
    write(
        incremental=False,
        extra="  - {name: note, type: string, description: {vi: Ghi chú, en: Note}}",
        expectations="  - {type: expect_column_values_to_be_between, kwargs: {column: note, min_value: 0}}",
    )
    execute("INSERT INTO items VALUES (?, ?, ?, ?)", [(str(i), "1", "1", "abc") for i in range(5000)])
    run = Pipeline(settings.model_copy(update={"validation_memory": memory})).run("items")
    assert run.status == "failed"
    assert "could not evaluate expect_column_values_to_be_between" in run.error
    assert published(settings, "SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE '_lgsp_%'") == [(0,)]


def test_sqlalchemy_source_errors_keep_their_message(items) -> None:
    write, execute, settings = items
    write(engine="sqlalchemy", incremental=False)
    execute("DROP TABLE items")
    run = Pipeline(settings).run("items")
    assert run.status == "failed"
    assert run.error.startswith("cannot read from 'items': (sqlite3.OperationalError) no such table: items") or (
        "no such table: items" in run.error and "InvalidInput" not in run.error
    )


def test_connection_strings_are_quoted_and_keep_tls_options() -> None:
    url = make_url("postgresql://hub:Sup3r Secret'x@db.local:5432/gia?sslmode=verify-full&sslrootcert=/etc/ca.pem")
    text = attach_string(url, "postgres")
    assert "password='Sup3r Secret\\'x'" in text
    assert "sslmode='verify-full'" in text and "sslrootcert='/etc/ca.pem'" in text
    leaked = 'failed: missing "=" after "Secret\'x" in connection info string'
    assert "Secret" not in _redact(leaked, url)


def test_reserved_and_unsafe_contract_values_are_refused(tmp_path: Path) -> None:
    from lgsp.schemas.loader import problems_in

    path = tmp_path / "items.yaml"
    text = CONTRACT.format(cursor_type="integer", incremental="", expectations="  []", extra="", engine="")
    path.write_text(
        text.replace("expectations:\n  []", "expectations: []")
        .replace("name: amount", "name: rowid")
        .replace("table: items", 'query: "DELETE FROM items"'),
        encoding="utf-8",
    )
    _, problems = problems_in(path)
    reasons = " | ".join(f"{p.field}: {p.reason}" for p in problems)
    assert "reserved by the hub" in reasons and "must be a SELECT" in reasons
