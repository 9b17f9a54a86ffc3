"""The exchange log in PostgreSQL (the cluster profile): two `lgsp serve` processes writing at once
make one unbroken chain with every request in it once; an edited, deleted or cut-off row is named
by `audit verify`; a database that refuses the log stops the API until it takes it again; and the
statistics, anchors and exports read the table."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import SecretStr
from sqlalchemy import make_url

from lgsp.core.settings import Settings
from lgsp.sharing import checkpoints, consumers, registry, stats
from lgsp.sharing.audit import export, verify
from lgsp.sharing.exchange_log import log_paths, stamp
from lgsp.sharing.grants import add_grant
from lgsp.sharing.log_database import DatabaseLog, log_checkpoints, log_entries
from tests.lgsp.test_serve import served
from tests.sharing.test_log_signatures import N, write_signed

pytestmark = pytest.mark.postgres
ROWS = "/api/share/v1/datasets/driving_licences/rows"


@pytest.fixture
def cluster(published: Settings, postgres: Any) -> Iterator[Settings]:
    """The published hub in the cluster profile, on a fresh PostgreSQL database."""
    url = postgres.create_database(f"log_{uuid.uuid4().hex[:12]}")
    settings = published.model_copy(update={"profile": "cluster", "state_url": SecretStr(url)})
    yield settings
    registry.dispose(settings)


def sql(settings: Settings, statement: str) -> Any:
    with registry.engine(settings).begin() as con:
        return con.exec_driver_sql(statement)


@pytest.fixture
def written(cluster: Settings, key: Ed25519PrivateKey) -> Settings:
    """N entries in the table, checkpoints signed at entries 4, 8 and 12."""
    write_signed(DatabaseLog(cluster, key))
    return cluster


def test_an_intact_table_verifies_and_is_read_like_the_file(written: Settings, key: Ed25519PrivateKey) -> None:
    verdict = verify(written, key=key.public_key())
    assert verdict.ok and verdict.entries == N, verdict
    logged = list(log_entries(written))
    assert [e["seq"] for e in logged] == list(range(1, N + 1)) and logged[1]["prev_hash"] == logged[0]["hash"]
    assert [c["count"] for c in log_checkpoints(written)] == [4, 8, 12]
    assert not log_paths(written.sharing_dir)[0].exists()  # nothing in the file
    out = io.BytesIO()
    assert export(written, {"schools"}, out, {"publisher": "SGDDT"}) == N
    header = json.loads(out.getvalue().splitlines()[0])
    assert header["chain_ok"] and header["head"]["count"] == N
    (used,) = stats.operational(written)
    assert (used["consumer"], used["requests"], used["rows"]) == ("TTPVHCC", N, sum(range(N)))
    sql(written, "UPDATE exchange_log SET entry = 'not json' WHERE seq = 1")
    assert stats.operational(written)[0]["requests"] == N - 1  # skipped, as a broken line of the file is


def test_the_statistics_read_the_table_a_chunk_at_a_time_with_the_same_figures(
    written: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A long log is parsed LOG_CHUNK entries at a time into DuckDB, never held whole in Python:
    chunks of 5 (the last one short) give what one chunk gives, a broken row still skipped."""
    sql(written, "UPDATE exchange_log SET entry = 'not json' WHERE seq = 7")
    whole = stats.operational(written)
    monkeypatch.setattr(stats, "LOG_CHUNK", 5)
    assert stats.operational(written) == whole and whole[0]["requests"] == N - 1


@pytest.mark.parametrize(
    ("tamper", "row", "finding"),
    [
        ("UPDATE exchange_log SET entry = replace(entry, '\"rows\":', '\"rows\":1') WHERE seq = 5", 5, "edited"),
        ("DELETE FROM exchange_log WHERE seq = 5", 5, "entry 5 deleted (this row holds entry 6)"),
        ("DELETE FROM exchange_log WHERE seq IN (6, 7)", 6, "entries 6–7 deleted"),
        ("DELETE FROM exchange_log WHERE seq > 9", 10, "entries 10–12 were signed"),
        ("UPDATE exchange_log SET entry = '{\"seq\": 3}' WHERE seq = 3", 3, "edited"),
        ("UPDATE exchange_log SET seq = 100 WHERE seq = 2", 2, "entry 2 deleted"),  # moved to the end
    ],
)
def test_a_row_edited_deleted_or_cut_off_is_named(
    written: Settings, key: Ed25519PrivateKey, tamper: str, row: int, finding: str
) -> None:
    sql(written, tamper)
    verdict = verify(written, key=key.public_key())
    assert not verdict.ok and verdict.line == row and finding in str(verdict), verdict
    assert f"row {row}:" in str(verdict)


def test_a_cut_off_end_is_named_by_the_head_without_the_signatures(written: Settings) -> None:
    sql(written, "DELETE FROM exchange_log WHERE seq > 10")
    sql(written, "DELETE FROM exchange_log_checkpoints")
    verdict = verify(written)
    assert not verdict.ok and verdict.line == 11 and "rows 11–12 deleted from the end" in str(verdict)


def test_checkpoint_rows_deleted_or_forged_are_found(written: Settings, key: Ed25519PrivateKey) -> None:
    sql(written, "UPDATE exchange_log_checkpoints SET count = 7 WHERE count = 8")
    assert "not signed by the hub's audit key" in str(verify(written, key=key.public_key()))
    sql(written, "DELETE FROM exchange_log_checkpoints")
    verdict = verify(written, key=key.public_key())
    assert not verdict.ok and "checkpoint rows were deleted" in str(verdict)


def test_a_database_that_refuses_the_log_stops_the_api_until_it_takes_it(
    cluster: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As for the file on a full disk (test_fail_closed): the table refuses inserts (a trigger
    raising PostgreSQL's disk_full), every request is refused with 503 and the reason's SQLSTATE
    only; then the database takes writes again and every request of the outage is in the chain."""
    from lgsp.sharing import api
    from tests.conftest import serve

    monkeypatch.setattr(api, "LOG_WAIT", 1.0)
    consumers.add_consumer(cluster, "TTPVHCC", "Trung tâm", "a@example.gov.vn", "provincial")
    add_grant(cluster, "TTPVHCC", "driving_licences", purpose="thủ tục hành chính", granted_by="sxd")
    api_key = consumers.issue_key(cluster, "TTPVHCC")
    sql(cluster, """CREATE FUNCTION full_disk() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
                    RAISE EXCEPTION 'could not extend file: No space left on device' USING ERRCODE = 'disk_full';
                    END $$""")  # fmt: skip
    for url, app in serve(cluster):
        log = app.state.sharing.log
        with httpx.Client(base_url=url, timeout=30, headers={"X-API-Key": api_key}) as http:
            assert http.get(ROWS, params={"limit": 1}).status_code == 200
            assert log.flush()
            before = len(list(log_entries(cluster)))
            sql(cluster, "CREATE TRIGGER full_disk BEFORE INSERT ON exchange_log EXECUTE FUNCTION full_disk()")
            try:
                first = http.get(ROWS, params={"limit": 1})  # its entry cannot be stored: withheld
                assert first.status_code == 503 and "no data was sent" in first.json()["error"]["message"]
                assert not log.flush(timeout=2) and not log.healthy
                refused = [http.get(ROWS, params={"limit": 1}) for _ in range(3)]
                assert {r.status_code for r in refused} == {503}
                error = refused[0].json()["error"]
                assert error["code"] == "log_unavailable" and "SQLSTATE 53100" in error["message"]
                assert "INSERT" not in error["message"] and "TTPVHCC" not in error["message"]
            finally:
                sql(cluster, "DROP TRIGGER full_disk ON exchange_log")
            assert log.flush(timeout=10) and log.healthy
            assert http.get(ROWS, params={"limit": 1}).status_code == 200
            assert log.flush()
        logged = list(log_entries(cluster))
        outcomes = [e["outcome"] for e in logged[before:]]
        assert first.status_code == 503 and outcomes[:2] == ["data", "withheld"]
        assert outcomes.count("log_unavailable") == 3 and outcomes[-1] == "data" and len(outcomes) == 6
        assert [e["seq"] for e in logged] == list(range(1, len(logged) + 1))
        seed = registry.hub_secret(cluster, checkpoints.KEY_NAME)
        assert verify(cluster, key=checkpoints.private_key(seed).public_key()).ok


def test_a_database_that_goes_down_stops_the_api_until_it_is_back(
    cluster: Settings, postgres: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The PostgreSQL server is killed (as a power cut would) and started again: meanwhile the API
    answers 503 (the log cannot be written), then serves, and every request is in one chain."""
    from lgsp.sharing import api
    from tests.conftest import serve

    monkeypatch.setattr(api, "LOG_WAIT", 1.0)
    consumers.add_consumer(cluster, "TTPVHCC", "Trung tâm", "a@example.gov.vn", "provincial")
    add_grant(cluster, "TTPVHCC", "driving_licences", purpose="thủ tục hành chính", granted_by="sxd")
    api_key = consumers.issue_key(cluster, "TTPVHCC")
    database = make_url(cluster.registry_url).database
    sql(cluster, f"ALTER DATABASE {database} SET synchronous_commit = on")  # the sandbox's is off: no durable commits
    registry.dispose(cluster)  # sessions with the setting from now on
    for url, app in serve(cluster):
        log = app.state.sharing.log
        with httpx.Client(base_url=url, timeout=30, headers={"X-API-Key": api_key}) as http:
            assert http.get(ROWS, params={"limit": 1}).status_code == 200 and log.flush()
            postgres.crash()
            try:
                http.get(ROWS, params={"limit": 1})  # the writer learns of it on this request's entry
                assert not log.flush(timeout=3) and not log.healthy
                refused = http.get(ROWS, params={"limit": 1})
                assert refused.status_code == 503 and "cannot be reached" in refused.json()["error"]["message"]
                assert str(postgres.port) not in refused.json()["error"]["message"]
            finally:
                postgres.restart()
            assert log.flush(timeout=15) and log.healthy
            assert http.get(ROWS, params={"limit": 1}).status_code == 200 and log.flush()
    logged = list(log_entries(cluster))
    outcomes = [(e["outcome"], e["status"]) for e in logged]
    assert outcomes == [("data", 200), ("error", 500), ("log_unavailable", 503), ("data", 200)], outcomes
    assert verify(cluster).ok


def test_a_replica_stuck_holding_the_head_fails_the_others_closed(
    cluster: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A replica that holds the head's lock and hangs (a stopped process, a lost network) does not
    leave the others appending into memory while they serve: after the lock timeout their writes
    fail, they refuse service, and they go on once the lock is gone."""
    from lgsp.sharing import log_database
    from lgsp.sharing.exchange_log import LogUnavailable

    monkeypatch.setattr(log_database, "LOCK_TIMEOUT", "200ms")
    log = DatabaseLog(cluster)
    log.append({"operation": "rows", "n": 0})
    assert log.flush()
    with registry.engine(cluster).connect() as stuck:
        holding = stuck.begin()
        stuck.exec_driver_sql("SELECT * FROM exchange_log_head FOR UPDATE")
        log.append({"operation": "rows", "n": 1})
        assert not log.flush(timeout=2) and not log.healthy
        with pytest.raises(LogUnavailable, match="SQLSTATE 55P03"):  # lock_not_available
            log.check()
        holding.rollback()
    assert log.flush(timeout=5) and log.healthy
    log.close()
    assert [e["n"] for e in log_entries(cluster)] == [0, 1] and verify(cluster).ok


def test_the_table_takes_anything_a_caller_can_put_in_an_entry(cluster: Settings) -> None:
    """As the file does (test_fail_closed): text that is not Unicode, a NUL, types JSON lacks."""
    log = DatabaseLog(cluster)
    odd: list[Any] = [b"bytes", {1: "int key"}, 2**70, float("nan"), object(), "\ud800", "nul \x00 here"]
    for value in odd:
        log.append({"operation": "rows", "filters": value})
    assert log.flush() and log.healthy
    log.close()
    logged = list(log_entries(cluster))
    assert len(logged) == len(odd) and logged[-1]["filters"] == "nul \x00 here" and verify(cluster).ok


def test_the_anchors_are_each_days_last_checkpoint_in_the_table(cluster: Settings) -> None:
    """`lgsp audit stats` writes the anchors the `exchange_log_anchors` dataset publishes from the
    table's checkpoints, signed with the hub's key."""
    import sqlite3

    log = DatabaseLog(cluster, checkpoints.private_key(registry.hub_secret(cluster, checkpoints.KEY_NAME)))
    for i in range(3):
        log.append({"operation": "rows", "at": stamp(time.time()), "outcome": "data", "rows": i})
    log.close()
    assert stats.write_open_stats(cluster, set()) == 1  # one (other) row: fewer requests than K_ANONYMITY
    con = sqlite3.connect(stats.stats_path(cluster))
    try:
        anchors = con.execute(f"SELECT count, hash FROM {stats.ANCHORS_TABLE}").fetchall()
    finally:
        con.close()
    assert anchors == [(3, list(log_entries(cluster))[-1]["hash"])]


def _lgsp(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lgsp.cli", *args], env=_environment(settings), capture_output=True, text=True
    )


def _environment(settings: Settings) -> dict[str, str]:
    assert settings.state_url is not None
    return {
        **os.environ,
        "LGSP_HOME": str(settings.home),
        "LGSP_CONTRACTS": str(settings.contracts_dir),
        "LGSP_PROFILE": "cluster",
        "LGSP_STATE_URL": settings.state_url.get_secret_value(),
    }


def test_two_lgsp_serve_replicas_write_one_chain(cluster: Settings) -> None:
    """Two `lgsp serve` processes on one PostgreSQL answer requests at once: each request is in
    the one chain exactly once, `lgsp audit verify` says intact, and a row edited afterwards is
    named by it."""
    consumers.add_consumer(cluster, "TTPVHCC", "Trung tâm", "a@example.gov.vn", "provincial")
    add_grant(cluster, "TTPVHCC", "driving_licences", purpose="thủ tục hành chính", granted_by="sxd")
    api_key = consumers.issue_key(cluster, "TTPVHCC")
    env = {k: v for k, v in _environment(cluster).items() if k.startswith("LGSP_") and k != "LGSP_HOME"}
    requests = 300
    with served(cluster, **env) as first, served(cluster, **env) as second:
        with httpx.Client(timeout=60, headers={"X-API-Key": api_key}) as http:

            def ask(n: int) -> int:
                where = first if n % 2 else second
                marker = json.dumps({"commune_code": f"M{n:05d}"})
                return http.get(f"http://{where}{ROWS}", params={"filters": marker, "limit": 1}).status_code

            with ThreadPoolExecutor(16) as pool:
                answers = list(pool.map(ask, range(requests)))
        assert all(code < 500 for code in answers), answers
        deadline = time.monotonic() + 30
        while sql(cluster, "SELECT count(*) FROM exchange_log").scalar() < requests:
            assert time.monotonic() < deadline, "the replicas did not write every entry"
            time.sleep(0.2)
    logged = list(log_entries(cluster))
    markers = sorted(m for e in logged for m in e["filters"]["commune_code"])
    assert markers == [f"M{n:05d}" for n in range(requests)]  # every request once, none twice
    assert [e["seq"] for e in logged] == list(range(1, requests + 1))
    checked = _lgsp(cluster, "audit", "verify")
    assert checked.returncode == 0 and f"{requests} entries" in checked.stdout, checked.stdout + checked.stderr
    assert "every checkpoint signed" in checked.stdout
    sql(cluster, "UPDATE exchange_log SET entry = replace(entry, 'M0', 'X0') WHERE seq = 123")
    tampered = _lgsp(cluster, "audit", "verify")
    assert tampered.returncode == 1 and "row 123" in tampered.stdout and "edited" in tampered.stdout
