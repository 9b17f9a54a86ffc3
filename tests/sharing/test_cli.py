"""The administration commands: consumers, grants, requests (overdue flagged), audit and staff.
Secrets are printed once and only their hashes are stored."""

from __future__ import annotations

import datetime as dt
import json
import re
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lgsp.cli import app
from lgsp.core.settings import Settings
from lgsp.sharing import registry
from lgsp.sharing.exchange_log import ExchangeLog
from lgsp.sharing.stats import K_ANONYMITY

runner = CliRunner()


def lgsp(*args: str, ok: bool = True) -> str:
    result = runner.invoke(app, list(args))
    assert (result.exit_code == 0) is ok, result.output
    return result.output


@pytest.fixture
def home(hub: Settings) -> Settings:
    return hub


def test_consumers_keys_rotation_and_revocation(home: Settings) -> None:
    out = lgsp("consumers", "add", "TTPVHCC", "--name", "Trung tâm Phục vụ hành chính công", "--contact",
               "a@example.gov.vn", "--kind", "provincial", "--client")  # fmt: skip
    key = re.search(r"lgsp_k[0-9a-f]{12}\.\S+", out).group(0)  # type: ignore[union-attr]
    assert "client_secret" in out
    stored = sqlite3.connect(registry.registry_path(home)).execute("SELECT hash FROM api_keys").fetchone()[0]
    assert key.split(".")[1] not in stored and stored.startswith("scrypt$")  # only the hash is kept
    assert "TTPVHCC" in lgsp("consumers", "list")
    assert "already registered" in lgsp("consumers", "add", "TTPVHCC", "--name", "x", "--contact", "y", ok=False)
    assert "upper-case" in lgsp("consumers", "add", "bad code", "--name", "x", "--contact", "y", ok=False)
    new = re.search(r"lgsp_k[0-9a-f]{12}\.\S+", lgsp("consumers", "rotate-key", "TTPVHCC")).group(0)  # type: ignore[union-attr]
    listed = lgsp("consumers", "list")
    assert new.split(".")[0].removeprefix("lgsp_") in listed and key.split(".")[0].removeprefix("lgsp_") not in listed
    assert "Revoked consumer TTPVHCC" in lgsp("consumers", "revoke", "TTPVHCC")
    assert "revoked" in lgsp("consumers", "list")
    assert "nothing called" in lgsp("consumers", "revoke", "NOBODY", ok=False)


def test_grants_need_the_key_and_name_personal_columns(home: Settings) -> None:
    lgsp("consumers", "add", "AGENCY", "--name", "Agency", "--contact", "a@example.gov.vn")
    common = ["--purpose", "kiểm tra", "--by", "sxd"]
    out = lgsp("grants", "add", "AGENCY", "driving_licences", *common, "--column", "licence_no", "--column",
               "full_name", "--where", "commune_code=19333", "--where", "commune_code=19334", "--expires", "2099-12-31")  # fmt: skip
    assert "licence_no, full_name" in out and "19333, 19334" in out
    assert "primary key licence_no must be granted" in lgsp(
        "grants", "add", "AGENCY", "driving_licences", *common, "--column", "full_name", ok=False)  # fmt: skip
    assert "not in driving_licences" in lgsp(
        "grants", "add", "AGENCY", "driving_licences", *common, "--where", "nope=1", ok=False)  # fmt: skip
    assert "no dataset" in lgsp("grants", "add", "AGENCY", "no_such", *common, ok=False)
    assert "in the past" in lgsp("grants", "add", "AGENCY", "schools", *common, "--expires", "2020-01-01", ok=False)
    lgsp("grants", "add", "AGENCY", "schools", *common)
    listed = lgsp("grants", "list", "--consumer", "AGENCY")
    assert "driving_licences" in listed and "schools" in listed and "non-personal" in listed
    lgsp("grants", "revoke", "1")
    assert "driving_licences" not in lgsp("grants", "list")
    assert "revoked" in lgsp("grants", "list", "--all")


def test_requests_are_answered_and_overdue_ones_flagged(home: Settings) -> None:
    lgsp("consumers", "add", "BCA_CSGT", "--name", "Cục CSGT", "--contact", "c@example.gov.vn", "--kind", "ministry")
    lgsp("requests", "add", "BCA_CSGT", "driving_licences", "--purpose", "đối chiếu vi phạm")
    lgsp("requests", "add", "BCA_CSGT", "schools", "--purpose", "thống kê")
    con = sqlite3.connect(registry.registry_path(home))  # the first arrived two weeks ago, unanswered
    two_weeks = registry.now() - dt.timedelta(days=14)
    con.execute("UPDATE access_requests SET requested_at = ?, due_on = ? WHERE id = 1",
                [registry.stamp(two_weeks), (two_weeks.date() + dt.timedelta(days=4)).isoformat()])  # fmt: skip
    con.commit()
    con.close()
    listed = lgsp("requests", "list")
    assert listed.count("OVERDUE") == 1
    assert "a refusal says why" in lgsp("requests", "refuse", "2", "--by", "sgddt", "--reason", " ", ok=False)
    assert "refused: không cần" in lgsp("requests", "refuse", "2", "--by", "sgddt", "--reason", "không cần")
    out = lgsp("requests", "approve", "1", "--by", "sxd", "--where", "commune_code=19333")
    assert "đối chiếu vi phạm" in out and "19333" in out
    assert "already approved" in lgsp("requests", "approve", "1", "--by", "sxd", ok=False)
    assert "BCA_CSGT" not in lgsp("requests", "list", "--status", "pending")
    assert "OVERDUE" in lgsp("requests", "list", "--status", "approved")  # answered late stays flagged


def test_audit_export_and_stats(home: Settings, tmp_path: Path) -> None:
    lgsp("consumers", "add", "TTPVHCC", "--name", "x", "--contact", "y", "--kind", "provincial")
    log = ExchangeLog(home.sharing_dir)
    for dataset, outcome, rows in [
        ("driving_licences", "data", 10),
        ("schools", "no_data", 0),
        ("driving_licences", "not_permitted", 0),
        ("nope", "unknown_dataset", 0),
    ]:
        log.append({"operation": "rows", "consumer": "TTPVHCC", "dataset": dataset, "rows": rows,
                    "outcome": outcome, "latency_ms": 2.0, "at": "2026-11-20T03:00:00.000Z",
                    "filters": {"commune_code": ["19333"]}})  # fmt: skip
    log.close()
    assert "4 entries" in lgsp("audit", "verify")
    out = tmp_path / "sxd.jsonl"
    assert "2 entries" in lgsp("audit", "export", "--publisher", "SXD", "--output", str(out))
    exported = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert exported[0]["publisher"] == "SXD" and exported[0]["chain_ok"]
    assert {e["dataset"] for e in exported[1:]} == {"driving_licences"}
    printed = lgsp("audit", "stats")
    assert "TTPVHCC" in printed and "Anonymised daily statistics: 1 rows" in printed
    con = sqlite3.connect(home.sharing_dir / "exchange_stats.sqlite")
    rows = con.execute("SELECT * FROM exchange_stats ORDER BY dataset_id").fetchall()
    con.close()
    text = json.dumps(rows, ensure_ascii=False)
    assert "TTPVHCC" not in text and "19333" not in text  # anonymised: agency type, no filters
    # Four requests: every cell is smaller than K_ANONYMITY, so the day has one (other) row.
    assert [r[1:5] for r in rows] == [("(other)", "(other)", "(other)", 4)]


def test_open_statistics_name_no_restricted_dataset_and_no_small_cell(home: Settings) -> None:
    """Issue 14, point 11: the statistics named restricted datasets, and a cell of one request
    pointed at one agency."""
    lgsp("consumers", "add", "TTPVHCC", "--name", "x", "--contact", "y", "--kind", "provincial")
    lgsp("consumers", "add", "UBND_X", "--name", "x", "--contact", "y", "--kind", "commune")
    log = ExchangeLog(home.sharing_dir)
    entries = (
        [("TTPVHCC", "driving_licences")] * 6 + [("TTPVHCC", "ict_indicators")] * 7 + [("UBND_X", "ict_indicators")] * 2
    )
    for consumer, dataset in entries:
        log.append({"operation": "rows", "consumer": consumer, "dataset": dataset, "rows": 1, "outcome": "data",
                    "latency_ms": 2.0, "at": "2026-11-20T03:00:00.000Z"})  # fmt: skip
    log.close()
    lgsp("audit", "stats")
    con = sqlite3.connect(home.sharing_dir / "exchange_stats.sqlite")
    rows = con.execute("SELECT agency_type, dataset_id, requests FROM exchange_stats ORDER BY 1, 2").fetchall()
    con.close()
    assert rows == [
        ("(other)", "(other)", 2),
        ("provincial", "(restricted or unknown)", 6),
        ("provincial", "ict_indicators", 7),
    ]
    assert all(r[2] >= K_ANONYMITY for r in rows if r[0] != "(other)")


def test_staff_passwords_are_shown_once(home: Settings) -> None:
    out = lgsp("staff", "add", "sxd", "--department", "SXD")
    assert "Password for sxd" in out
    assert "sxd" in lgsp("staff", "list") and "SXD" in lgsp("staff", "list")
    assert "publisher code" in lgsp("staff", "add", "x1", "--department", "lower", ok=False)
