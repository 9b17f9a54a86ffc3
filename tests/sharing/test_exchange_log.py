"""The exchange log is tamper-evident: editing, deleting, re-hashing or cutting off any line is
detected, and the line is named, by `verify` and by `lgsp audit verify`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lgsp.cli import app
from lgsp.sharing.audit import export, verify
from lgsp.sharing.exchange_log import ExchangeLog, entry_hash, log_paths

N = 10


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    log = ExchangeLog(tmp_path)
    for i in range(N):
        log.append({"operation": "rows", "consumer": "TTPVHCC", "dataset": "driving_licences" if i % 2 else "schools",
                    "filters": {"commune_code": ["19333"]}, "rows": i, "outcome": "data", "latency_ms": 1.5 + i})  # fmt: skip
    log.close()
    return tmp_path


def lines(directory: Path) -> list[str]:
    return log_paths(directory)[0].read_text(encoding="utf-8").splitlines(keepends=True)


def rewrite(directory: Path, new: list[str]) -> None:
    log_paths(directory)[0].write_text("".join(new), encoding="utf-8")


def test_an_intact_log_verifies(log_dir: Path) -> None:
    verdict = verify(log_dir)
    assert verdict.ok and verdict.entries == N
    first, second = (json.loads(line) for line in lines(log_dir)[:2])
    assert first["seq"] == 1 and second["prev_hash"] == first["hash"] == entry_hash(first)


@pytest.mark.parametrize("line", [1, 5, N])
def test_an_edited_line_is_named(log_dir: Path, line: int) -> None:
    content = lines(log_dir)
    content[line - 1] = content[line - 1].replace('"rows":', '"rows":1', 1)  # 4 → 14 rows returned
    rewrite(log_dir, content)
    verdict = verify(log_dir)
    assert not verdict.ok and verdict.line == line and "edited" in str(verdict)


@pytest.mark.parametrize("line", [1, 5, N - 1])
def test_a_deleted_line_is_named(log_dir: Path, line: int) -> None:
    content = lines(log_dir)
    del content[line - 1]
    rewrite(log_dir, content)
    verdict = verify(log_dir)
    assert not verdict.ok and verdict.line == line and f"entry {line} deleted" in str(verdict)


def test_cutting_off_the_tail_is_named(log_dir: Path) -> None:
    rewrite(log_dir, lines(log_dir)[: N - 2])
    verdict = verify(log_dir)
    assert not verdict.ok and verdict.line == N - 1
    assert f"lines {N - 1}–{N} deleted from the end" in str(verdict)


def test_an_edit_that_recomputes_its_own_hash_is_caught_by_the_next_line(log_dir: Path) -> None:
    content = lines(log_dir)
    entry = json.loads(content[4])
    entry["consumer"] = "SOMEONE_ELSE"
    entry["hash"] = entry_hash(entry)
    content[4] = json.dumps(entry, ensure_ascii=False) + "\n"
    rewrite(log_dir, content)
    verdict = verify(log_dir)
    assert not verdict.ok and verdict.line == 6 and "line 5 was edited" in str(verdict)


def test_a_rehashed_last_line_is_caught_by_the_head(log_dir: Path) -> None:
    content = lines(log_dir)
    entry = json.loads(content[-1])
    entry["rows"] = 0
    entry["hash"] = entry_hash(entry)
    content[-1] = json.dumps(entry) + "\n"
    rewrite(log_dir, content)
    verdict = verify(log_dir)
    assert not verdict.ok and verdict.line == N and "head" in str(verdict)


def test_garbage_in_a_line_is_named(log_dir: Path) -> None:
    content = lines(log_dir)
    content[2] = "not json\n"
    rewrite(log_dir, content)
    assert verify(log_dir).line == 3


def test_lgsp_audit_verify_exits_1_and_names_the_line(log_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (log_dir / "sharing").mkdir()
    for path in log_paths(log_dir):
        path.rename(log_dir / "sharing" / path.name)
    monkeypatch.setenv("LGSP_HOME", str(log_dir))
    runner = CliRunner()
    ok = runner.invoke(app, ["audit", "verify"])
    assert ok.exit_code == 0 and f"{N} entries" in ok.output
    content = lines(log_dir / "sharing")
    del content[6]
    rewrite(log_dir / "sharing", content)
    bad = runner.invoke(app, ["audit", "verify"])
    assert bad.exit_code == 1 and "line 7" in bad.output and "entry 7 deleted" in bad.output


def test_export_holds_only_the_departments_datasets(log_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "export.jsonl"
    with out.open("wb") as handle:
        written = export(log_dir, {"driving_licences"}, handle, {"publisher": "SXD"})
    header, *rest = (json.loads(line) for line in out.read_text(encoding="utf-8").splitlines())
    assert written == len(rest) == N // 2 and header["chain_ok"] and header["head"]["count"] == N
    assert {e["dataset"] for e in rest} == {"driving_licences"}
    assert all(e["hash"] == entry_hash(e) for e in rest)  # each entry checks against its own hash


def test_two_appenders_share_one_chain(tmp_path: Path) -> None:
    first, second = ExchangeLog(tmp_path), ExchangeLog(tmp_path)  # as two server processes would
    for i in range(6):
        (first if i % 2 else second).append({"operation": "list", "n": i})
        assert (first if i % 2 else second).flush()
    first.close()
    second.close()
    assert verify(tmp_path).ok and verify(tmp_path).entries == 6
