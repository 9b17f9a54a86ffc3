"""Incremental runs that remove the rows a PostgreSQL source deleted (`incremental.deletes`): a
soft-delete column, a diff of the source's keys, or tombstones, through both engines."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from lgsp.core.settings import Settings
from lgsp.pipeline import Pipeline
from tests.conftest import warehouse_rows

pytestmark = pytest.mark.postgres

CONTRACT = """\
id: licences
title: {{vi: Giấy phép, en: Licences}}
description: {{vi: Bảng thử., en: A test table.}}
publisher: {{code: TEST, name: {{vi: Sở Thử, en: Test Department}}}}
source: {{kind: sql, connection: licences, table: licences, engine: {engine}}}
primary_key: [id]
incremental:
  cursor: updated_at
  deletes: {deletes}
columns:
  - {{name: id, type: integer, description: {{vi: Mã, en: Id}}}}
  - {{name: holder, type: string, description: {{vi: Người giữ, en: Holder}}}}
  - {{name: points, type: integer, description: {{vi: Điểm, en: Points}}}}
  - {{name: updated_at, type: timestamp, description: {{vi: Cập nhật, en: Updated}}}}
classification: open
licence: {{id: CC-BY-4.0, title: CC BY 4.0, url: https://creativecommons.org/licenses/by/4.0/}}
update_frequency: daily
theme: [GOVE]
refresh: {{max_shrink: {max_shrink}}}
"""

MODES = {
    "soft_delete": "{mode: soft_delete, column: deleted_at}",
    "soft_delete_flag": "{mode: soft_delete, column: is_deleted, when: 'true'}",
    "key_diff": "{mode: key_diff}",
    "tombstones": "{mode: tombstones, table: deleted_licences, cursor: deleted_at}",
}
# Tombstones numbered by a sequence, not stamped with the rows' kind of cursor (timestamps).
SEQUENCE = "{mode: tombstones, table: deleted_licences, cursor: seq, cursor_type: integer}"
T0 = dt.datetime(2026, 1, 1, 8, 0, 0)


class Source:
    """The department's table `licences` (and its tombstones) in a database of its own, deleted
    the way the contract's mode says the department deletes."""

    def __init__(self, url: str, mode: str) -> None:
        self.url, self.mode = url, mode
        self.clock = T0
        self.execute(
            "CREATE TABLE licences (id INTEGER PRIMARY KEY, holder TEXT, points INTEGER, updated_at TIMESTAMP, "
            "deleted_at TIMESTAMP, is_deleted BOOLEAN NOT NULL DEFAULT false)",
            "CREATE TABLE deleted_licences (id INTEGER, deleted_at TIMESTAMP, seq BIGSERIAL)",
        )

    def execute(self, *statements: str, params: tuple[Any, ...] = ()) -> None:
        conn = psycopg2.connect(self.url.replace("postgresql+psycopg2", "postgresql"))
        try:
            with conn, conn.cursor() as cur:
                for sql in statements:
                    cur.execute(sql, params or None)
        finally:
            conn.close()

    def tick(self) -> dt.datetime:
        self.clock += dt.timedelta(minutes=1)
        return self.clock

    def insert(self, *ids: int, points: int = 10) -> None:
        for i in ids:
            self.execute(
                "INSERT INTO licences (id, holder, points, updated_at) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (id) DO UPDATE SET points = excluded.points, updated_at = excluded.updated_at, "
                "deleted_at = NULL, is_deleted = false",
                params=(i, f"Người {i}", points, self.tick()),
            )

    def update(self, i: int, points: int) -> None:
        self.execute("UPDATE licences SET points = %s, updated_at = %s WHERE id = %s", params=(points, self.tick(), i))

    def delete(self, i: int) -> None:
        """Delete row `i` as the source does: mark it, or remove it (and leave a tombstone)."""
        now = self.tick()
        if self.mode.startswith("soft_delete"):
            self.execute(
                "UPDATE licences SET deleted_at = %s, is_deleted = true, updated_at = %s WHERE id = %s",
                params=(now, now, i),
            )
        else:
            self.execute("DELETE FROM licences WHERE id = %s", params=(i,))
            if self.mode.startswith("tombstones"):
                self.execute("INSERT INTO deleted_licences (id, deleted_at) VALUES (%s, %s)", params=(i, now))

    def delete_unknown(self, i: int) -> None:
        """A deletion of a key the hub never published."""
        now = self.tick()
        if self.mode.startswith("soft_delete"):
            self.execute(
                "INSERT INTO licences VALUES (%s, 'x', 0, %s, %s, true)",
                params=(i, now, now),
            )
        elif self.mode.startswith("tombstones"):
            self.execute("INSERT INTO deleted_licences (id, deleted_at) VALUES (%s, %s)", params=(i, now))


@pytest.fixture
def licences(tmp_path: Path, postgres: Any, monkeypatch: pytest.MonkeyPatch):
    """(source, write_contract(mode, engine, max_shrink), settings) for a fresh database and hub."""
    contracts = tmp_path / "contracts"
    contracts.mkdir()
    monkeypatch.setenv("LGSP_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LGSP_CONTRACTS", str(contracts))
    url = postgres.create_database(f"licences_{uuid.uuid4().hex[:8]}")
    monkeypatch.setenv("LGSP_CONN_LICENCES", url)
    made: dict[str, Source] = {}

    def setup(mode: str, engine: str = "auto", max_shrink: float = 0.5) -> tuple[Source, Settings]:
        deletes = SEQUENCE if mode == "tombstones_seq" else MODES[mode]
        text = CONTRACT.format(engine=engine, deletes=deletes, max_shrink=max_shrink)
        (contracts / "licences.yaml").write_text(text, encoding="utf-8")
        if "source" not in made:
            made["source"] = Source(url, mode)
        return made["source"], Settings.from_env()

    return setup


def published(settings: Settings) -> dict[int, int]:
    return dict(warehouse_rows(settings, "SELECT id, points FROM main.licences"))  # type: ignore[arg-type]


@pytest.mark.parametrize("engine", ["auto", "sqlalchemy"])
@pytest.mark.parametrize("mode", list(MODES))
def test_an_incremental_run_updates_inserts_and_deletes(licences, mode: str, engine: str) -> None:
    source, settings = licences(mode, engine)
    source.insert(*range(1, 11))
    if mode != "key_diff":
        source.delete(10)  # deleted before the first run: a full load leaves it out
    first = Pipeline(settings).run("licences")
    assert first.status == "published", first.error
    expected = {i: 10 for i in range(1, 11 if mode == "key_diff" else 10)}
    assert published(settings) == expected
    assert first.rows_deleted == 0

    source.update(2, 55)
    source.insert(11, points=7)
    source.delete(3)
    source.delete_unknown(99)  # never published: harmless
    second = Pipeline(settings).run("licences")
    assert (second.status, second.mode, second.error) == ("published", "incremental", None)
    assert second.rows_deleted == 1
    assert second.rows_extracted == second.rows_published + second.rows_quarantined
    expected.update({2: 55, 11: 7})
    del expected[3]
    assert published(settings) == expected
    stored = warehouse_rows(settings, "SELECT rows_deleted FROM meta.runs WHERE run_id = ?", [second.run_id])
    assert stored == [(1,)]
    note = warehouse_rows(settings, "SELECT note FROM meta.changes WHERE run_id = ?", [second.run_id])
    assert note and "1 deleted at the source" in note[0][0]

    third = Pipeline(settings).run("licences")  # nothing changed since: nothing deleted twice
    assert third.rows_deleted == 0 and published(settings) == expected


@pytest.mark.parametrize("mode", list(MODES))
def test_a_deleted_row_inserted_again_comes_back(licences, mode: str) -> None:
    source, settings = licences(mode)
    source.insert(1, 2, 3, 4)
    assert Pipeline(settings).run("licences").status == "published"
    source.delete(4)
    deleted = Pipeline(settings).run("licences")
    assert deleted.rows_deleted == 1 and 4 not in published(settings)

    source.insert(4, points=40)  # inserted again in a later run
    back = Pipeline(settings).run("licences")
    assert back.rows_deleted == 0 and published(settings)[4] == 40

    source.delete(2)
    source.insert(2, points=20)  # deleted and inserted again between two runs: the row wins
    again = Pipeline(settings).run("licences")
    assert (again.status, again.rows_deleted) == ("published", 0)
    assert published(settings) == {1: 10, 2: 20, 3: 10, 4: 40}


@pytest.mark.parametrize("mode", ["soft_delete", "key_diff", "tombstones"])
def test_a_run_deleting_too_much_is_held_for_review(licences, mode: str) -> None:
    source, settings = licences(mode, max_shrink=0.3)
    source.insert(*range(1, 11))
    assert Pipeline(settings).run("licences").status == "published"
    for i in (1, 2, 3, 4):
        source.delete(i)
    source.update(5, 99)
    held = Pipeline(settings).run("licences")
    assert held.status == "held", held.error
    assert "4" in (held.error or "") and "max_shrink" in (held.error or "")
    assert held.rows_published == 0 and held.rows_deleted == 0
    assert published(settings) == {i: 10 for i in range(1, 11)}  # nothing changed yet

    confirmed = Pipeline(settings).review("licences", held.run_id, publish=True, by="staff:lan")
    assert confirmed.status == "published" and confirmed.rows_deleted == 4
    assert published(settings) == {5: 99, **{i: 10 for i in range(6, 11)}}
    # The cursors stayed where they were: the next run reads those changes again, harmlessly.
    after = Pipeline(settings).run("licences")
    assert after.status in ("published", "unchanged") and after.rows_deleted == 0
    assert published(settings) == {5: 99, **{i: 10 for i in range(6, 11)}}


def test_an_emptied_source_is_held_not_published_as_empty(licences) -> None:
    source, settings = licences("key_diff")
    source.insert(*range(1, 6))
    assert Pipeline(settings).run("licences").status == "published"
    source.execute("DELETE FROM licences")
    held = Pipeline(settings).run("licences")
    assert held.status == "held" and len(published(settings)) == 5


def test_a_failed_read_of_deletions_fails_the_run_and_deletes_nothing(licences) -> None:
    source, settings = licences("tombstones")
    source.insert(1, 2, 3)
    assert Pipeline(settings).run("licences").status == "published"
    source.delete(3)
    source.execute("DROP TABLE deleted_licences")
    failed = Pipeline(settings).run("licences")
    assert failed.status == "failed" and "deleted_licences" in (failed.error or "")
    assert published(settings) == {1: 10, 2: 10, 3: 10}
    assert warehouse_rows(settings, "SELECT deletes_cursor FROM meta.state") == [(None,)]
    assert warehouse_rows(settings, "SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE '_lgsp_%'") == [(0,)]


def test_tombstones_are_read_past_their_own_cursor(licences) -> None:
    source, settings = licences("tombstones")
    source.insert(1, 2, 3, 4)
    assert Pipeline(settings).run("licences").status == "published"
    source.delete(1)
    first = Pipeline(settings).run("licences")
    cursor = warehouse_rows(settings, "SELECT deletes_cursor FROM meta.state")[0][0]
    assert first.rows_deleted == 1 and cursor == str(source.clock)
    source.delete(2)  # a tombstone alone: no row changed, the run still publishes the deletion
    second = Pipeline(settings).run("licences")
    assert (second.status, second.rows_deleted) == ("published", 1)
    assert warehouse_rows(settings, "SELECT deletes_cursor FROM meta.state")[0][0] == str(source.clock)
    assert published(settings) == {3: 10, 4: 10}


def test_soft_deleted_rows_need_not_be_published_columns(licences) -> None:
    source, settings = licences("soft_delete")
    source.insert(1, 2)
    source.delete(2)
    assert Pipeline(settings).run("licences").status == "published"
    columns = [r[0] for r in warehouse_rows(settings, "DESCRIBE main.licences")]
    assert columns == ["id", "holder", "points", "updated_at"]
    assert warehouse_rows(settings, "SELECT count(*) FROM quarantine.licences") == [(0,)]


@pytest.mark.parametrize("mode", ["tombstones", "tombstones_seq"])
def test_a_tombstone_read_again_never_deletes_a_row_inserted_after_it(licences, mode: str) -> None:
    """With timestamps on both sides the row's own cursor shows it came back; with a sequence the
    tombstones the last run applied are not applied again."""
    source, settings = licences(mode)
    source.insert(1, 2, 3)
    assert Pipeline(settings).run("licences").status == "published"
    source.delete(2)
    assert Pipeline(settings).run("licences").rows_deleted == 1
    source.insert(2, points=20)  # inserted again after its tombstone
    source.update(3, 30)  # a later change: row 2 is behind the rows' cursor from now on
    assert Pipeline(settings).run("licences").rows_deleted == 0
    source.update(1, 11)
    third = Pipeline(settings).run("licences")  # reads the tombstone at its cursor again
    assert (third.status, third.rows_deleted) == ("published", 0)
    assert published(settings) == {1: 11, 2: 20, 3: 30}


def test_tombstones_older_than_the_first_load_delete_nothing(licences) -> None:
    source, settings = licences("tombstones")
    source.insert(1, 2, 3)
    source.delete(2)
    source.insert(2, points=20)  # deleted and inserted again before the hub's first run
    source.update(3, 30)
    first = Pipeline(settings).run("licences")
    assert first.status == "published" and first.mode == "full"
    assert warehouse_rows(settings, "SELECT deletes_cursor IS NOT NULL FROM meta.state") == [(True,)]
    source.update(1, 11)
    second = Pipeline(settings).run("licences")
    assert (second.status, second.rows_deleted) == ("published", 0)
    assert published(settings) == {1: 11, 2: 20, 3: 30}


def test_lgsp_run_says_how_many_rows_it_removed(licences) -> None:
    from typer.testing import CliRunner

    from lgsp.cli import app

    source, _settings = licences("soft_delete")
    source.insert(1, 2, 3, 4, 5)
    assert CliRunner().invoke(app, ["run", "licences"]).exit_code == 0
    source.delete(1)
    source.delete(2)
    result = CliRunner().invoke(app, ["run", "licences"])
    assert result.exit_code == 0, result.output
    assert "gỡ 2 dòng đã bị xoá ở nguồn / removed 2 rows deleted at the source" in result.output


DERIVED = """\
id: licences_by_points
title: {vi: Giấy phép theo điểm, en: Licences by points}
description: {vi: Bảng thử., en: A test table.}
publisher: {code: TEST, name: {vi: Sở Thử, en: Test Department}}
source:
  kind: derived
  inputs: [licences]
  sql: SELECT points, count(*) AS licences FROM licences GROUP BY points
  incremental: {input: licences, keys: {points: points}}
primary_key: [points]
columns:
  - {name: points, type: integer, description: {vi: Điểm, en: Points}}
  - {name: licences, type: integer, description: {vi: Số giấy phép, en: Licences}}
classification: open
licence: {id: CC-BY-4.0, title: CC BY 4.0, url: https://creativecommons.org/licenses/by/4.0/}
update_frequency: daily
theme: [GOVE]
"""


def test_the_change_feed_keeps_deleted_rows_so_a_derived_dataset_recomputes_their_group(licences) -> None:
    source, settings = licences("key_diff")
    (settings.contracts_dir / "licences_by_points.yaml").write_text(DERIVED, encoding="utf-8")
    source.insert(1, 2, 3, 4, points=10)
    source.insert(5, points=7)
    assert Pipeline(settings).run("licences").status == "published"
    assert Pipeline(settings).run("licences_by_points").status == "published"
    source.delete(2)
    deleted = Pipeline(settings).run("licences")
    assert deleted.rows_deleted == 1
    kept = warehouse_rows(settings, "SELECT _change, id, points FROM changes.licences")
    assert kept == [("deleted", 2, 10)]
    derived = Pipeline(settings).run("licences_by_points")
    assert derived.status == "published" and derived.mode == "incremental"
    recompute = warehouse_rows(
        settings, 'SELECT mode, "groups" FROM meta.recomputes WHERE run_id = ?', [derived.run_id]
    )
    assert recompute == [("incremental", 1)]
    by_points = warehouse_rows(settings, "SELECT points, licences FROM main.licences_by_points ORDER BY points")
    assert by_points == [(7, 1), (10, 3)]
