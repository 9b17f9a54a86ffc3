"""The parts the cluster profile stands on, run for real on loopback: SeaweedFS's S3 API (signed
requests; a wrong key is refused) and DuckLake with its catalog in PostgreSQL and its data files
in that object store, the DuckDB extensions installed offline from their PyPI wheels."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from lgsp.core import duck

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from lgsp_sandbox.objectstore import ObjectStore

    with ObjectStore(tmp_path_factory.mktemp("s3")) as server:
        yield server


def _connect(extensions: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(config={"extension_directory": str(extensions), "autoinstall_known_extensions": False})
    duck.install_extensions(con, ("httpfs", "aws", "postgres", "ducklake"), extensions.parent / "ext-cache")
    return con


def test_the_object_store_keeps_files_for_the_right_key_only(store: object, tmp_path: Path) -> None:
    con = _connect(tmp_path / "extensions")
    con.execute(store.duckdb_secret())  # type: ignore[attr-defined]
    con.execute("COPY (SELECT range AS id, 'Quảng Trị' AS place FROM range(1000)) TO 's3://releases/t.parquet'")
    assert con.execute("SELECT count(*), min(place) FROM 's3://releases/t.parquet'").fetchone() == (1000, "Quảng Trị")
    con.execute(store.duckdb_secret(secret_key="wrong"))  # type: ignore[attr-defined]
    with pytest.raises(duckdb.Error, match="403"):
        con.execute("SELECT count(*) FROM 's3://releases/t.parquet'").fetchone()
    identities = Path(store.root) / "s3.json"  # type: ignore[attr-defined]
    assert identities.stat().st_mode & 0o777 == 0o600


def test_ducklake_with_a_postgresql_catalog_and_data_in_the_store(
    store: object, postgres: object, tmp_path: Path
) -> None:
    postgres.create_database("lake_catalog")  # type: ignore[attr-defined]
    dsn = f"dbname=lake_catalog host=127.0.0.1 port={postgres.port} user=postgres"  # type: ignore[attr-defined]
    attach = f"ATTACH 'ducklake:postgres:{dsn}' AS lake (DATA_PATH 's3://lake/data/')"
    con = _connect(tmp_path / "extensions")
    con.execute(store.duckdb_secret())  # type: ignore[attr-defined]
    con.execute(attach)
    con.execute("CREATE TABLE lake.readings AS SELECT range AS id, range % 30 AS station FROM range(100000)")
    con.execute("DELETE FROM lake.readings WHERE station = 0")
    assert con.execute("SELECT count(*) FROM lake.readings").fetchone() == (96666,)
    first = con.execute("SELECT min(snapshot_id) FROM lake.snapshots() WHERE snapshot_id > 0").fetchone()
    assert first and con.execute(f"SELECT count(*) FROM lake.readings AT (VERSION => {first[0]})").fetchone() == (
        100000,
    )  # time travel: the table as it was before the delete
    con.close()
    # Two writers in other processes, each committing to its own table at once, both land.
    script = (
        "import duckdb, sys\n"
        "con = duckdb.connect(config={'extension_directory': sys.argv[1], 'autoinstall_known_extensions': False})\n"
        "con.execute(sys.argv[2]); con.execute(sys.argv[3])\n"
        "con.execute(f'CREATE TABLE lake.t{sys.argv[4]} AS SELECT range AS id FROM range(50000)')\n"
        "for k in range(3):\n"
        "    con.execute(f'INSERT INTO lake.t{sys.argv[4]} SELECT range FROM range(10000)')\n"
    )
    writers = [
        subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "extensions"), store.duckdb_secret(), attach, n])  # type: ignore[attr-defined]
        for n in ("1", "2")
    ]
    assert [w.wait(timeout=120) for w in writers] == [0, 0]
    con = _connect(tmp_path / "extensions")
    con.execute(store.duckdb_secret())  # type: ignore[attr-defined]
    con.execute(attach)
    assert con.execute("SELECT (SELECT count(*) FROM lake.t1), (SELECT count(*) FROM lake.t2)").fetchone() == (
        80000,
        80000,
    )


def test_a_damaged_installed_extension_is_replaced_from_its_wheel(store: object, tmp_path: Path) -> None:
    _connect(tmp_path / "extensions").close()
    [installed] = list((tmp_path / "extensions").rglob("httpfs.duckdb_extension"))
    installed.write_bytes(installed.read_bytes()[:1000])  # a partial copy, as an interrupted install leaves
    con = _connect(tmp_path / "extensions")
    con.execute(store.duckdb_secret())  # type: ignore[attr-defined]
    con.execute("COPY (SELECT 1 AS x) TO 's3://releases/again.parquet'")
    assert con.execute("SELECT x FROM 's3://releases/again.parquet'").fetchone() == (1,)
