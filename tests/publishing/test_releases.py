"""Releases: immutable versions in three formats, checksums that move only with the data, and no
personal data or non-open dataset ever exported."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import struct
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
import yaml
from lgsp_sandbox.build import mutate_department
from typer.testing import CliRunner

from lgsp.cli import app
from lgsp.core.settings import Settings
from lgsp.pipeline import Pipeline
from lgsp.publishing.releases import BOM
from lgsp.publishing.versions import latest_release, list_releases, releases_dir


def _files(settings: Settings, dataset_id: str, version: int) -> dict[str, bytes]:
    folder = releases_dir(settings.home, dataset_id) / f"v{version}"
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def test_an_open_run_is_released_in_three_formats_with_checksums(hub: Settings) -> None:
    run = Pipeline(hub).run("schools")
    assert run.release == 1
    release = latest_release(hub.home, "schools")
    assert release is not None and release.rows == run.rows_published
    files = _files(hub, "schools", 1)
    for d in release.distributions:
        data = files[d.file]
        assert len(data) == d.bytes and hashlib.sha256(data).hexdigest() == d.sha256
    csv = files["schools.csv"]
    assert csv.startswith(BOM)
    lines = csv[len(BOM) :].decode("utf-8").splitlines()
    assert lines[0].split(",")[0] == "school_code" and len(lines) == release.rows + 1
    keys = [line.split(",")[0] for line in lines[1:]]
    assert keys == sorted(keys), "rows are ordered by the primary key"
    folder = releases_dir(hub.home, "schools") / "v1"
    con = duckdb.connect()
    assert con.execute(f"SELECT count(*) FROM '{folder / 'schools.parquet'}'").fetchone() == (release.rows,)
    assert len(json.loads(files["schools.json"])) == release.rows


def test_a_dataset_over_the_json_limit_is_released_without_json(hub: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    from frictionless import validate

    monkeypatch.setenv("LGSP_RELEASE_JSON_MAX_ROWS", "10")
    run = Pipeline(Settings.from_env()).run("schools")
    release = latest_release(hub.home, "schools")
    assert release is not None and release.rows > 10 and run.release == 1
    assert sorted(d.format for d in release.distributions) == ["csv", "csv.gz", "parquet"]
    assert not (releases_dir(hub.home, "schools") / "v1" / "schools.json").exists()
    package = releases_dir(hub.home, "schools") / "v1" / "datapackage.json"
    assert validate(str(package)).valid  # it lists what the release has, nothing missing
    # Under the limit (0: none), the same data gets its JSON again: a new release, as the files differ.
    monkeypatch.setenv("LGSP_RELEASE_JSON_MAX_ROWS", "0")
    assert Pipeline(Settings.from_env()).release("schools").version == 2
    assert "json" in {d.format for d in latest_release(hub.home, "schools").distributions}  # type: ignore[union-attr]


def test_unchanged_data_makes_no_new_release_and_changed_data_does(hub: Settings) -> None:
    pipeline = Pipeline(hub)
    assert pipeline.run("price_observations").release == 1
    before = _files(hub, "price_observations", 1)
    assert pipeline.run("price_observations").release == 1  # same data: same bytes, same version
    mutate_department("finance", f"sqlite:///{hub.sandbox_dir / 'finance.sqlite'}", seed=5, changed=3, added=2)
    assert pipeline.run("price_observations").release == 2
    assert [r.version for r in list_releases(hub.home, "price_observations")] == [1, 2]
    assert _files(hub, "price_observations", 1) == before, "a release never changes once made"
    v1, v2 = list_releases(hub.home, "price_observations")
    assert v2.rows == v1.rows + 2
    assert {d.sha256 for d in v1.distributions}.isdisjoint({d.sha256 for d in v2.distributions})


def test_personal_columns_never_leave_the_warehouse(hub: Settings, contracts_dir: Path) -> None:
    path = contracts_dir / "driving_licences.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["classification"] = "open"  # a mistake in a contract must not leak personal data
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    run = Pipeline(Settings.from_env()).run("driving_licences")
    assert run.release == 1
    release = latest_release(hub.home, "driving_licences")
    assert release is not None
    assert not {"citizen_id", "full_name", "birth_date"} & set(release.columns)
    source = sqlite3.connect(hub.sandbox_dir / "transport.sqlite")
    secrets = [
        v for row in source.execute("SELECT citizen_id, full_name FROM driving_licences LIMIT 300") for v in row if v
    ]
    for name, content in _files(hub, "driving_licences", 1).items():
        text = content.decode("utf-8", errors="ignore")
        assert "citizen_id" not in text and "full_name" not in text, name
        assert not [s for s in secrets if s in text], name


def test_non_open_datasets_are_never_released(hub: Settings) -> None:
    run = Pipeline(hub).run("driving_licences")
    assert run.status == "published" and "release" not in run
    assert not releases_dir(hub.home, "driving_licences").exists()
    result = CliRunner().invoke(app, ["release", "driving_licences"])
    assert result.exit_code != 0
    assert "only open datasets are released" in str(result.exception)


def test_release_commands(hub: Settings) -> None:
    Pipeline(hub).run("ict_indicators")
    again = CliRunner().invoke(app, ["release", "ict_indicators"])
    assert again.exit_code == 0 and "release v1" in again.output
    listed = CliRunner().invoke(app, ["releases", "ict_indicators"])
    assert listed.exit_code == 0 and "ict_indicators.parquet" in listed.output


def test_the_data_package_passes_frictionless_validation(hub: Settings) -> None:
    from frictionless import validate

    Pipeline(hub).run("price_observations")
    descriptor = releases_dir(hub.home, "price_observations") / "v1" / "datapackage.json"
    report = validate(str(descriptor))
    assert report.valid, report.flatten(["title", "message"])[:5]
    package = json.loads(descriptor.read_text(encoding="utf-8"))
    csv = next(r for r in package["resources"] if r["format"] == "csv")
    assert csv["hash"].startswith("sha256:") and csv["bytes"] > 0
    assert [f["name"] for f in csv["schema"]["fields"]][:2] == ["id", "item_code"]
    # A file changed after release no longer matches its descriptor.
    path = descriptor.parent / "price_observations.csv"
    path.write_bytes(path.read_bytes().replace(b"kg", b"KG", 1))
    assert not validate(str(descriptor)).valid


def test_the_bulk_dump_holds_the_catalogue_and_every_latest_release(hub: Settings, tmp_path: Path) -> None:
    import zipfile

    pipeline = Pipeline(hub)
    for dataset_id in ("schools", "ict_indicators", "driving_licences"):
        pipeline.run(dataset_id)
    path = tmp_path / "dump.zip"
    assert CliRunner().invoke(app, ["dump", str(path)]).exit_code == 0
    first = path.read_bytes()
    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None  # every member's CRC-32 checks
        names = archive.namelist()
        assert names[:2] == ["catalog.jsonld", "catalog.ttl"]
        assert "schools/v1/schools.csv" in names and "ict_indicators/v1/datapackage.json" in names
        assert not [n for n in names if n.startswith("driving_licences")]
        assert (
            archive.read("schools/v1/schools.csv")
            == (releases_dir(hub.home, "schools") / "v1" / "schools.csv").read_bytes()
        )
        assert {i.date_time for i in archive.infolist()} == {(2020, 1, 1, 0, 0, 0)}
        # Streaming readers see each member's CRC-32 in its local header: no data descriptors.
        raw = path.read_bytes()
        for info in archive.infolist():
            assert not info.flag_bits & 0x08
            assert struct.unpack_from("<I", raw, info.header_offset + 14)[0] == info.CRC
    pipeline.run("schools")  # unchanged data: the same release, and the same archive bytes
    assert CliRunner().invoke(app, ["dump", str(path)]).exit_code == 0
    assert path.read_bytes() == first


def test_the_bulk_dump_reads_in_standard_tools_and_any_range_of_it(tmp_path: Path) -> None:
    """zip64 throughout, which unzip and Python's zipfile read; the length announced is the
    length sent, and any byte range is the same bytes as in the whole."""
    import shutil
    import subprocess
    import zipfile
    import zlib

    from lgsp.publishing.dump import Dump, Member

    data = tmp_path / "big.bin"
    data.write_bytes(bytes(range(256)) * 40_000)
    content = data.read_bytes()
    parts = [
        Member("catalog.ttl", 5, zlib.crc32(b"@pref"), data=b"@pref"),
        Member("x/v1/Tệp dữ liệu.bin", len(content), zlib.crc32(content), path=data),
    ]
    archive = Dump(parts)
    body = b"".join(archive)
    assert len(body) == len(archive)
    for start, end in ((0, 1), (10, 70), (60, 70_000), (len(body) - 100, len(body)), (0, len(body))):
        assert b"".join(archive.read(start, end)) == body[start:end]
    path = tmp_path / "a.zip"
    path.write_bytes(body)
    with zipfile.ZipFile(path) as z:
        assert z.testzip() is None and z.read("x/v1/Tệp dữ liệu.bin") == content
    if shutil.which("unzip"):
        assert subprocess.run(["unzip", "-tq", str(path)], capture_output=True).returncode == 0
    data.write_bytes(b"short")  # a file that shrank after it was listed: an error, never a short archive
    with pytest.raises(OSError, match="shorter than"):
        b"".join(Dump(parts))


def test_rows_come_out_in_key_order_whatever_the_storage_order(hub: Settings) -> None:
    import duckdb as ddb

    from lgsp.core import duck
    from lgsp.publishing.releases import make_release
    from lgsp.schemas.loader import find_contract

    contract = find_contract(hub.contracts_dir, "schools")
    hub.home.mkdir(parents=True, exist_ok=True)
    con = duck.connect(hub.warehouse_path)
    con.execute("CREATE TABLE main.schools AS SELECT printf('%08d', 500 - range) AS school_code, 'x' AS name, 'THCS' AS level, "
                "NULL AS address, NULL AS commune_code, NULL AS commune_name, range AS pupils, 1 AS teachers, "
                "TIMESTAMP '2025-01-01' AS updated_at FROM range(500)")  # fmt: skip
    reversed_release = make_release(con, hub.home, contract, "r1")
    con.execute("CREATE OR REPLACE TABLE main.schools AS SELECT * FROM main.schools ORDER BY school_code")
    sorted_release = make_release(con, hub.home, contract, "r2")
    con.close()
    assert sorted_release.version == reversed_release.version == 1  # same data, same bytes
    folder = releases_dir(hub.home, "schools") / "v1"
    keys = [r[0] for r in ddb.connect().execute(f"SELECT school_code FROM '{folder / 'schools.parquet'}'").fetchall()]
    assert keys == sorted(keys)


def _released(hub: Settings, dataset_id: str, version: int = 1) -> tuple[list[dict], list[dict], list[dict], dict]:
    """The release's rows as each format gives them: CSV text, Parquet values, JSON values, and
    the Parquet column types."""
    import csv
    import io

    folder = releases_dir(hub.home, dataset_id) / f"v{version}"
    text = (folder / f"{dataset_id}.csv").read_text(encoding="utf-8-sig")
    con = duckdb.connect()
    parquet = con.execute(f"SELECT * FROM '{folder / f'{dataset_id}.parquet'}'")
    names = [d[0] for d in parquet.description]
    rows = [dict(zip(names, r, strict=True)) for r in parquet.fetchall()]
    types = dict(
        con.execute(f"SELECT column_name, column_type FROM (DESCRIBE '{folder / f'{dataset_id}.parquet'}')").fetchall()
    )
    as_json = json.loads((folder / f"{dataset_id}.json").read_text(encoding="utf-8"))
    return list(csv.DictReader(io.StringIO(text))), rows, as_json, types


def test_integers_are_integers_and_whole_numbers_have_no_fraction_in_every_format(hub: Settings) -> None:
    import re

    run = Pipeline(hub).run("ict_indicators")
    assert run.release == 1
    csv_rows, parquet_rows, json_rows, types = _released(hub, "ict_indicators")
    assert types["value"] == "DOUBLE" and types["line"] == "BIGINT"
    assert len(csv_rows) == len(parquet_rows) == len(json_rows) == run.rows_published
    whole = fractional = 0
    for text, value, from_json in zip(csv_rows, parquet_rows, json_rows, strict=True):
        # line: an integer column, an integer everywhere
        assert re.fullmatch(r"[0-9]+", text["line"]) and type(from_json["line"]) is int
        assert int(text["line"]) == value["line"] == from_json["line"]
        # value: a number column; the CSV writes a whole value as an integer, and each reads back exactly
        number = value["value"]
        assert float(text["value"]) == number == from_json["value"]
        if number.is_integer():
            whole += 1
            assert text["value"] == str(int(number)), text["value"]
        else:
            fractional += 1
            assert "." in text["value"] and not text["value"].endswith(".0")
    assert whole > 300 and fractional > 10  # the real indicators: counts and percentages


def test_the_csv_writes_every_kind_of_double_so_it_reads_back(hub: Settings, tmp_path: Path) -> None:
    from lgsp.core import duck
    from lgsp.publishing.releases import make_release
    from lgsp.schemas.loader import find_contract

    cases = {  # value: as the CSV gives it
        "596049": "596049", "12.5": "12.5", "-3": "-3", "0.0": "0", "-0.0": "0", "0.1": "0.1",
        "1.5e-7": "1.5e-07", "9007199254740991": "9007199254740991", "9007199254740992": "9007199254740992.0",
        "1e16": "1e+16", "-1e17": "-1e+17", "1e300": "1e+300", "5e-324": "5e-324",
        "'inf'": "inf", "'-inf'": "-inf", "'nan'": "nan",
    }  # fmt: skip
    contract = find_contract(hub.contracts_dir, "ict_indicators")
    columns = ", ".join(f"{duck.quote(c.name)} {c.duckdb_type}" for c in contract.columns)
    homes = []
    for name in ("a", "b"):
        home = tmp_path / name
        home.mkdir()
        con = duck.connect(home / "warehouse.duckdb")
        con.execute(f"CREATE TABLE main.ict_indicators ({columns})")
        for i, value in enumerate(cases):
            con.execute(
                f"INSERT INTO main.ict_indicators (province, period, indicator_vi, value, line) "
                f"VALUES ('QT', '2024', 'c{i:02d}', CAST({value} AS DOUBLE), {i})"
            )
        make_release(con, home, contract, "r1")
        con.close()
        homes.append(home)
    files = [releases_dir(home, "ict_indicators") / "v1" / "ict_indicators.csv" for home in homes]
    assert files[0].read_bytes() == files[1].read_bytes()  # the same data, the same bytes
    lines = files[0].read_text(encoding="utf-8-sig").splitlines()
    index = lines[0].split(",").index("value")
    assert [line.split(",")[index] for line in lines[1:]] == list(cases.values())
    from frictionless import validate

    report = validate(str(files[0].parent / "datapackage.json"))
    assert report.valid, report.flatten(["title", "message"])[:5]


def test_a_release_is_cut_under_a_small_memory_limit_with_the_same_bytes(
    hub: Settings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The export runs with DuckDB's memory lowered (its cache would otherwise grow the process by
    the connection's whole limit). Under a cap far too small to hold the table, sorted or not, the
    release has the bytes a roomy limit gives; under one too small to write it at all, the file is
    written again under the connection's limit; either way the connection's own limit is back,
    exactly as configured (1.5GB, which DuckDB shows rounded as 1.3 GiB)."""
    import contextlib

    from lgsp.core import duck
    from lgsp.publishing import releases
    from lgsp.schemas.loader import find_contract

    contract = find_contract(hub.contracts_dir, "schools")
    hub.home.mkdir(parents=True, exist_ok=True)
    con = duck.connect(hub.warehouse_path, memory_limit="1.5GB", threads=2, temp_dir=hub.home / "tmp")
    con.execute("CREATE TABLE main.schools AS SELECT printf('%08d', range) AS school_code, "
                "repeat('trường ', 8) || range AS name, 'THCS' AS level, NULL AS address, NULL AS commune_code, "
                "NULL AS commune_name, range AS pupils, 1 AS teachers, TIMESTAMP '2025-01-01' AS updated_at "
                "FROM range(300000) ORDER BY range")  # fmt: skip
    configured = con.execute("SELECT current_setting('memory_limit')").fetchone()
    inside: list[str] = []  # the limit each COPY ran under
    capped = duck.memory_at_most

    @contextlib.contextmanager
    def watched(c: duckdb.DuckDBPyConnection, limit: int) -> Iterator[None]:
        with capped(c, limit):
            inside.append(c.execute("SELECT current_setting('memory_limit')").fetchone()[0])  # type: ignore[index]
            yield

    def release(run_id: str) -> list[str]:
        shutil.rmtree(releases_dir(hub.home, "schools"), ignore_errors=True)
        inside.clear()
        made = releases.make_release(con, hub.home, contract, run_id)
        # Put back from the kept setting, not from DuckDB's rounded display of it.
        assert con.execute("SELECT getvariable('lgsp_memory_limit')").fetchone() == ("1.5GB",)
        assert con.execute("SELECT current_setting('memory_limit')").fetchone() == configured
        return [d.sha256 for d in made.distributions]

    monkeypatch.setattr(releases, "memory_at_most", watched)
    roomy = release("roomy")
    assert inside == ["256.0 MiB"] * 3  # csv, parquet, json: each under EXPORT_MEMORY on 2 threads
    monkeypatch.setattr(releases, "EXPORT_MEMORY", 64 * 2**20)
    assert release("small") == roomy and inside == ["64.0 MiB"] * 3
    con.execute("CREATE OR REPLACE TABLE main.schools AS SELECT * FROM main.schools ORDER BY school_code DESC")
    caplog.clear()
    assert release("sorted") == roomy and inside == ["64.0 MiB"] * 3  # sorted once, spilling, within the cap
    assert "failed" not in caplog.text
    monkeypatch.setattr(releases, "EXPORT_MEMORY", 2**20)
    monkeypatch.setattr(releases, "EXPORT_MEMORY_PER_THREAD", 2**20)  # 2 MiB in all
    with caplog.at_level("WARNING", logger="lgsp.publishing.releases"):
        assert release("too-small") == roomy
    assert "export under its memory cap failed" in caplog.text
    # Many threads need buffers each: 32 of them get EXPORT_MEMORY_PER_THREAD each.
    monkeypatch.undo()
    con.execute("SET threads = 32")
    assert releases._export_memory(con) == 1024 * 2**20
    con.close()


def test_the_memory_cap_leaves_other_connections_alone_and_nests(tmp_path: Path) -> None:
    """Only a connection `duck.connect` made (its exact limit kept) is capped: a cursor or a plain
    connection keeps its limit. A cap inside a cap puts back the outer one. A failing block's error
    is the one raised, even in an aborted transaction where the limit cannot be set back."""
    from lgsp.core import duck

    con = duck.connect(tmp_path / "w.duckdb", memory_limit="1GB")
    limit = "SELECT current_setting('memory_limit')"
    cursor = con.cursor()
    with duck.memory_at_most(cursor, 2**27):
        assert cursor.execute(limit).fetchone() == ("953.6 MiB",)  # a cursor has no kept limit: untouched
    plain = duckdb.connect()
    plain.execute("SET memory_limit = '-1'")
    with duck.memory_at_most(plain, 2**27):
        assert plain.execute(limit).fetchone() == ("16383.9 PiB",)
    with duck.memory_at_most(con, 2**28):
        with duck.memory_at_most(con, 2**27):
            assert con.execute(limit).fetchone() == ("128.0 MiB",)
        assert con.execute(limit).fetchone() == ("256.0 MiB",)
    assert con.execute(limit).fetchone() == ("953.6 MiB",)
    assert con.execute("SELECT getvariable('lgsp_memory_limit')").fetchone() == ("1GB",)
    con.execute("CREATE TABLE t (i INTEGER)")
    con.execute("BEGIN TRANSACTION")
    with pytest.raises(duckdb.ConversionException), duck.memory_at_most(con, 2**27):
        con.execute("INSERT INTO t VALUES ('not a number')")  # aborts the transaction
    con.execute("ROLLBACK")
    con.close()
