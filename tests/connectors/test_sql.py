"""The SQL connector reads the same rows whichever engine and backend, fully or from a cursor."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from lgsp_sandbox.build import build_department

from lgsp.connectors.errors import ConnectorError
from lgsp.connectors.sql import SqlConfig, engine_for, extract

COLUMNS = ["school_code", "name", "level", "pupils", "updated_at"]


@pytest.fixture(scope="module")
def backends(tmp_path_factory: pytest.TempPathFactory, postgres) -> dict[str, str]:
    """The education department in SQLite and in a real PostgreSQL server."""
    directory = tmp_path_factory.mktemp("education")
    sqlite = f"sqlite:///{directory / 'education.sqlite'}"
    build_department("education", sqlite)
    pg = postgres.create_database("education")
    build_department("education", pg)
    return {"sqlite": sqlite, "postgresql": pg}


def config(url: str, tmp_path: Path, **extra: object) -> SqlConfig:
    values: dict = {
        "dataset": "schools",
        "connection": "education",
        "url": url,
        "columns": COLUMNS,
        "table": "schools",
        "batch_rows": 100,
        "extension_dir": tmp_path / "ext",
    }
    values.update(extra)
    return SqlConfig(**values)


def rows(reader: pa.RecordBatchReader) -> list[tuple[str | None, ...]]:
    """Rows as text, so engines that type differently can be compared."""
    table = reader.read_all()
    out = []
    for row in table.to_pylist():
        out.append(tuple(None if row[c] is None else str(row[c]) for c in COLUMNS))
    return sorted(out, key=lambda r: tuple("" if v is None else v for v in r))


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_both_engines_read_the_same_rows_in_batches(backends: dict[str, str], backend: str, tmp_path: Path) -> None:
    url = backends[backend]
    fast = config(url, tmp_path)
    assert engine_for(fast) == "duckdb"
    slow = config(url, tmp_path, engine="sqlalchemy")
    assert engine_for(slow) == "sqlalchemy"
    reader = extract(slow, None)
    batches = list(reader)
    assert len(batches) >= 8 and all(b.num_rows <= 100 for b in batches)
    expected = rows(pa.RecordBatchReader.from_batches(batches[0].schema, batches))
    assert len(expected) == 800
    assert rows(extract(fast, None)) == expected


@pytest.mark.postgres
@pytest.mark.parametrize("engine", ["duckdb", "sqlalchemy"])
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_incremental_reads_rows_at_or_past_the_cursor(
    backends: dict[str, str], backend: str, engine: str, tmp_path: Path
) -> None:
    cfg = config(backends[backend], tmp_path, engine=engine, cursor="updated_at")
    everything = rows(extract(cfg, None))
    stamps = sorted(r[4] for r in everything if r[4])
    cursor = stamps[len(stamps) // 2]
    recent = rows(extract(cfg, {"cursor": cursor}))
    assert recent and len(recent) < len(everything)
    assert all(r[4] is not None and r[4] >= cursor for r in recent)


def test_query_source_runs_in_the_source_dialect(backends: dict[str, str], tmp_path: Path) -> None:
    cfg = config(
        backends["sqlite"],
        tmp_path,
        table=None,
        query="SELECT school_code, name, level, pupils, updated_at FROM schools WHERE level = 'THPT'",
    )
    assert engine_for(cfg) == "sqlalchemy"  # DuckDB has no sqlite_query(): SQLAlchemy runs it
    got = rows(extract(cfg, None))
    assert got and all(r[2] == "THPT" for r in got)


@pytest.mark.postgres
def test_postgres_query_source_uses_the_scanner(backends: dict[str, str], tmp_path: Path) -> None:
    cfg = config(backends["postgresql"], tmp_path, table=None, query="SELECT * FROM schools WHERE pupils > 500")
    assert engine_for(cfg) == "duckdb"
    got = rows(extract(cfg, None))
    assert got and all(int(r[3]) > 500 for r in got)


@pytest.mark.parametrize("engine", ["duckdb", "sqlalchemy"])
def test_missing_table_is_a_terminal_error_naming_the_connection(
    backends: dict[str, str], engine: str, tmp_path: Path
) -> None:
    cfg = config(backends["sqlite"], tmp_path, table="no_such_table", engine=engine)
    with pytest.raises(ConnectorError) as info:
        extract(cfg, None).read_all()
    assert "education" in str(info.value) and "no_such_table" in str(info.value)
    assert not info.value.transient


def test_missing_sqlite_file_is_reported(tmp_path: Path) -> None:
    cfg = config(f"sqlite:///{tmp_path / 'absent.sqlite'}", tmp_path)
    with pytest.raises(ConnectorError, match="does not exist"):
        extract(cfg, None)


@pytest.mark.parametrize("engine", ["duckdb", "sqlalchemy"])
def test_unreachable_server_is_transient_and_retried(
    engine: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import lgsp.connectors.sql as sql

    monkeypatch.setattr(sql._retry_wait, "multiplier", 0.01)
    monkeypatch.setattr(sql._retry_wait, "jitter", 0.01)
    monkeypatch.setattr(sql._retry_wait, "max", 0.02)
    attempts = []
    original = sql.Scan._attach

    def counting(self, con):
        attempts.append(1)
        return original(self, con)

    monkeypatch.setattr(sql.Scan, "_attach", counting)
    cfg = config("postgresql+psycopg2://nobody:secret@127.0.0.1:9/none", tmp_path, engine=engine)
    with pytest.raises(ConnectorError) as info:
        extract(cfg, None).read_all()
    assert info.value.transient
    assert "secret" not in str(info.value)
    if engine == "duckdb":
        assert len(attempts) == 4


@pytest.mark.parametrize(
    ("url", "missing"),
    [
        ("mssql+pyodbc://hub:secret@db.sct.local/thongke?driver=ODBC+Driver+18+for+SQL+Server", "pyodbc"),
        ("oracle+oracledb://hub:secret@db.sxd.local:1521/?service_name=CAPPHEP", "oracledb"),
    ],
)
def test_a_dialect_whose_driver_is_not_installed_says_which(url: str, missing: str, tmp_path: Path) -> None:
    """SQL Server and Oracle go through SQLAlchemy; their drivers are installed beside the hub."""
    cfg = config(url, tmp_path)
    assert engine_for(cfg) == "sqlalchemy"
    with pytest.raises(ConnectorError, match=f"dialect or driver for .* is not installed.*{missing}") as info:
        extract(cfg, None)
    assert "education" in str(info.value) and not info.value.transient
    assert "secret" not in str(info.value)
