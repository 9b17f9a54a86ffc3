"""The battery of bad submissions (issue 13): each is dropped into a department's inbox and run
through `lgsp run`. Each asserts the receipt, the run status and the exit code, that every row is
accounted for (extracted = published + quarantined + rejected + superseded, per run and per
submission), and that every byte of every file sent is still recoverable from the archive."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from lgsp.cli import app
from lgsp.core.settings import Settings
from lgsp.submissions import ledger, receipts
from lgsp.submissions.archive import Archive, sha256
from lgsp.submissions.ledger import Submission
from lgsp.warehouse.publish import held_table
from lgsp.warehouse.runs import RunRecord
from lgsp.warehouse.store import Warehouse
from tests.conftest import warehouse_rows
from tests.connectors.test_files import PRICES, ROWS, csv_bytes

HEADER, *GOOD = ROWS


@dataclass
class Dept:
    """A department's inbox for the `market_prices` contract, and what was sent to it."""

    hub: Settings
    inbox: Path
    contracts: Path
    sent: dict[str, bytes] = field(default_factory=dict)

    def drop(self, name: str, rows: list[list[str]] | bytes, encoding: str = "utf-8", taken: bool = True) -> None:
        data = rows if isinstance(rows, bytes) else csv_bytes(rows, encoding)
        (self.inbox / name).write_bytes(data)
        if taken:  # a file no pattern matches stays in the inbox, unarchived
            self.sent[f"{name}#{sha256(data)}"] = data

    def contract(self, **changes: Any) -> None:
        data = {**PRICES, **changes}
        path = self.contracts / "market_prices.yaml"
        path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")

    def run(self, expected_exit: int) -> tuple[RunRecord, list[Submission]]:
        result = CliRunner().invoke(app, ["run", "market_prices"])
        assert result.exit_code == expected_exit, result.output
        (run,) = Warehouse(self.hub).runs("market_prices", limit=1)
        with Warehouse(self.hub).reader() as con:
            taken = ledger.of_run(con, "market_prices", run.run_id)
        self.accounted(run, taken)
        return run, taken

    def accounted(self, run: RunRecord, taken: list[Submission]) -> None:
        """Every row and every byte: the run's counts add up, each submission's do, and the archive
        gives back each file sent."""
        published = run.rows_published or 0
        if run.status == "held":  # its rows wait for review
            held = f"main.{held_table('market_prices', run.run_id)}"
            published = warehouse_rows(self.hub, f"SELECT count(*) FROM {held}")[0][0]
        assert run.rows_extracted == (
            published + (run.rows_quarantined or 0) + (run.rows_rejected or 0) + (run.rows_superseded or 0)
        ), run
        for s in taken:
            if s.settled and s.status != "held":
                assert s.rows_total == (
                    (s.rows_published or 0)
                    + (s.rows_quarantined or 0)
                    + (s.rows_rejected or 0)
                    + (s.rows_superseded or 0)
                ), s
        archive = Archive(self.hub)
        for key, data in self.sent.items():
            assert archive.get(key.split("#")[1]) == data, key

    def receipt(self, submission: Submission) -> str:
        with Warehouse(self.hub).reader() as con:
            return receipts.text(submission, receipts.quarantined_rows(con, submission))

    def published(self) -> dict[str, tuple[Any, ...]]:
        rows = warehouse_rows(self.hub, "SELECT ma_mat_hang, gia, so_luong, muc_do FROM main.market_prices")
        return {r[0]: r[1:] for r in rows}


@pytest.fixture
def dept(hub: Settings, contracts_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Dept:
    folder = tmp_path / "inbox" / "stc"
    folder.mkdir(parents=True)
    monkeypatch.setenv("LGSP_CONN_PRICE_INBOX", str(folder))
    d = Dept(Settings.from_env(), folder, contracts_dir)
    d.contract()
    return d


def with_cell(row: int, column: int, value: str) -> list[list[str]]:
    rows = [r[:] for r in ROWS]
    rows[row][column] = value
    return rows


# -- files rejected whole --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("rong.csv", b"", "tệp trống / the file is empty"),
        ("khoang_trang.csv", b"  \r\n\r\n ", "tệp trống / the file is empty"),
        ("chi_tieu_de.csv", [HEADER], "only a header, no data rows"),
        ("hong.xlsx", b"PK\x03\x04 not a workbook", "not a readable XLSX workbook"),
        ("sai_cot.csv", [["Ma mat hang cu", *HEADER[1:]], *GOOD], "did you mean 'Ma mat hang cu'?"),
        ("thieu_khoa.csv", [r[1:] for r in ROWS], "missing column(s) 'Mã mặt hàng'"),
        ("le_dong.csv", [*ROWS[:3], [*ROWS[3], "thừa", "nữa"], *ROWS[4:]], "dòng / row 4: 8 giá trị cho 6 cột"),
        ("tieu_de_xa.csv", [*[[f"Ghi chú {i}"] for i in range(31)], *ROWS], "missing column(s)"),
    ],
)
def test_a_file_that_cannot_be_read_is_rejected_whole(
    dept: Dept, name: str, content: list[list[str]] | bytes, reason: str
) -> None:
    dept.drop(name, content)
    run, (submission,) = dept.run(expected_exit=1)
    assert run.status == "rejected" and run.rows_published == 0
    assert submission.status == "rejected" and submission.rows_rejected == submission.rows_total
    text = dept.receipt(submission)
    assert reason in text and "BỊ TỪ CHỐI / REJECTED" in text and "Sửa tệp và gửi lại" in text
    assert not (dept.inbox / name).exists()


def test_a_rejected_file_beside_a_good_one_makes_the_run_partial(dept: Dept) -> None:
    dept.drop("a_tot.csv", ROWS)
    dept.drop("b_hong.xlsx", b"PK\x03\x04 broken")
    run, taken = dept.run(expected_exit=3)
    assert run.status == "partial" and run.rows_published == 4
    assert [s.status for s in taken] == ["published", "rejected"]


def test_a_freeze_contract_rejects_an_undeclared_column(dept: Dept) -> None:
    dept.contract(source={**PRICES["source"], "schema_drift": "freeze"})
    dept.drop("them_cot.csv", [[*HEADER, "Ghi chú"], *[[*r, "x"] for r in GOOD]])
    _run, (submission,) = dept.run(expected_exit=1)
    assert "cột không khai báo / undeclared column(s) 'Ghi chú' (schema_drift: freeze)" in dept.receipt(submission)
    assert submission.rows_rejected == 4


# -- headers that fit, though not as written ------------------------------------------------------


def test_title_rows_above_the_header_are_skipped(dept: Dept) -> None:
    dept.drop("co_tieu_de.csv", [["BÁO CÁO GIÁ CHỢ THÁNG 3/2024"], ["Đơn vị: đồng"], [""], *ROWS])
    run, (submission,) = dept.run(expected_exit=0)
    assert run.rows_published == 4 and submission.info["header_row"] == 4
    assert "header found on row 4; the rows above it were skipped" in dept.receipt(submission)


def test_headers_match_without_case_diacritics_spacing_or_unicode_form(dept: Dept) -> None:
    header = [
        "MÃ MẶT HÀNG",
        "ten mat hang",
        "  Xã / phường ",
        unicodedata.normalize("NFD", "Giá (đồng):"),
        "SỐ LƯỢNG",
        "ngay",
    ]
    dept.drop("tieu_de_khac.csv", [header, *GOOD])
    run, _ = dept.run(expected_exit=0)
    assert run.rows_published == 4 and dept.published()["G01"] == (15500.0, 1305471, None)


def test_a_known_alias_matches(dept: Dept) -> None:
    columns = [dict(c) for c in PRICES["columns"]]
    columns[3]["aliases"] = ["Đơn giá"]
    dept.contract(columns=columns)
    dept.drop("don_gia.csv", [[*HEADER[:3], "Đơn giá", *HEADER[4:]], *GOOD])
    assert dept.run(expected_exit=0)[0].rows_published == 4


def test_a_missing_optional_column_is_accepted_and_said(dept: Dept) -> None:
    dept.drop("khong_ngay.csv", [r[:5] for r in ROWS])
    _, (submission,) = dept.run(expected_exit=0)
    assert "Columns not in the file (left empty): Ngày" in dept.receipt(submission)


def test_a_contract_that_changed_is_blamed_not_the_department(dept: Dept) -> None:
    dept.drop("thang_1.csv", ROWS)
    dept.run(expected_exit=0)
    columns = [dict(c) for c in PRICES["columns"]]
    columns[1].update(source="Tên hàng hoá", nullable=False)  # the data engineer renames a required header
    dept.contract(columns=columns)
    dept.drop("thang_2.csv", with_cell(1, 3, "16.000"))
    _, (submission,) = dept.run(expected_exit=1)
    text = dept.receipt(submission)
    assert "không phải lỗi của Sở" in text and "the data engineer must fix the contract" in text
    checked = CliRunner().invoke(app, ["check", "--strict"])
    assert checked.exit_code == 1 and "the contract changed since" in checked.output


# -- cells that cannot be read exactly --------------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        (3, "1,2 triệu", "không cho phép từ chỉ quy mô 'triệu'"),
        (3, "gần 15.000", "the contract has no column for it (qualifier_of)"),
        (3, "10-15", "is a range, not one number"),
        (3, "từ 10 đến 15", "is a range, not one number"),
        (3, "15.000*", "has a footnote mark after the number"),
        (3, "15.000 (1)", "has a footnote mark after the number"),
        (3, "15.000¹", "has a footnote mark after the number"),
        (4, "1,5", "is not a whole number"),
        (5, "32/13/2024", "không phải ngày hợp lệ cho cột ngay / is not a valid date for ngay"),
        (0, "", "thiếu giá trị bắt buộc ở cột ma_mat_hang / required value missing in ma_mat_hang"),
    ],
)
def test_a_cell_that_cannot_be_read_exactly_is_quarantined_as_typed(
    dept: Dept, column: int, value: str, reason: str
) -> None:
    dept.drop("o_loi.csv", with_cell(2, column, value))
    run, (submission,) = dept.run(expected_exit=0)
    assert (run.status, run.rows_published, run.rows_quarantined) == ("published", 3, 1)
    assert submission.status == "partial"
    (row,) = receipts_rows(dept, submission)
    assert row.line == 3 and reason in row.reasons and "nan" not in row.reasons
    name = ["ma_mat_hang", "ten", "xa", "gia", "so_luong", "ngay"][column]
    assert row.values[name] == (value or None)  # exactly as typed


def receipts_rows(dept: Dept, submission: Submission) -> list[receipts.QuarantinedRow]:
    with Warehouse(dept.hub).reader() as con:
        return receipts.quarantined_rows(con, submission)


def test_words_of_scale_are_read_exactly_where_the_contract_allows_them(dept: Dept) -> None:
    columns = [dict(c) for c in PRICES["columns"]]
    columns[3]["scale_words"] = True
    dept.contract(columns=columns)
    rows = with_cell(1, 3, "1,2 triệu")
    rows[2][3], rows[3][3], rows[4][3] = "2 tỷ", "1.5tr", "1.200 nghìn"
    dept.drop("quy_mo.csv", rows)
    run, (submission,) = dept.run(expected_exit=0)
    assert run.rows_quarantined == 1  # 1.200 nghìn: 1 200 000 or 1 200?
    assert [dept.published()[k][0] for k in ("G01", "G02", "G03")] == [1_200_000, 2_000_000_000, 1_500_000]
    assert "can be read two ways" in receipts_rows(dept, submission)[0].reasons


def test_a_qualifier_goes_to_its_column_where_the_contract_has_one(dept: Dept) -> None:
    dept.drop("uoc.csv", with_cell(1, 4, "khoảng 20"))
    dept.run(expected_exit=0)
    assert dept.published()["G01"] == (15500.0, 20, "about")


def test_integers_are_integers_in_the_quarantine_and_the_table(dept: Dept) -> None:
    dept.drop("so.csv", with_cell(2, 3, "C"))
    dept.run(expected_exit=0)
    typed = warehouse_rows(dept.hub, "SELECT so_luong FROM quarantine.market_prices")
    assert typed == [("hơn 2.000",)]  # as typed, not 2000.0


# -- keys -----------------------------------------------------------------------------------------


def test_the_same_key_twice_in_one_file_quarantines_both_naming_each_other(dept: Dept) -> None:
    rows = [r[:] for r in ROWS]
    rows[3][0] = "G01"
    dept.drop("trung.csv", rows)
    run, (submission,) = dept.run(expected_exit=0)
    assert (run.rows_published, run.rows_quarantined) == (2, 2)
    reasons = {r.line: r.reasons for r in receipts_rows(dept, submission)}
    assert "same key as trung.csv:4" in reasons[2] and "same key as trung.csv:2" in reasons[4]


def test_the_same_key_in_two_files_the_newest_wins(dept: Dept) -> None:
    dept.drop("a_cu.csv", ROWS)
    dept.drop("b_moi.csv", [HEADER, ["G01", "Gạo", "Xã A", "16.000", "1", "05/03/2024"]])
    run, (older, newer) = dept.run(expected_exit=0)
    assert (run.rows_published, run.rows_superseded) == (4, 1)
    assert (older.rows_published, older.rows_superseded, newer.rows_published) == (3, 1, 1)
    assert dept.published()["G01"][0] == 16000.0
    assert "1 được thay bằng lần nộp mới hơn / replaced by a newer submission" in dept.receipt(older)


def test_the_same_key_in_two_files_rejected_when_the_contract_says_so(dept: Dept) -> None:
    dept.contract(source={**PRICES["source"], "duplicates": "reject"})
    dept.drop("a_cu.csv", ROWS)
    dept.drop("b_moi.csv", [HEADER, ["G01", "Gạo", "Xã A", "16.000", "1", "05/03/2024"]])
    run, (older, newer) = dept.run(expected_exit=3)  # b_moi.csv is refused whole: the run is partial
    assert (run.rows_published, run.rows_quarantined) == (3, 2)
    (row,) = receipts_rows(dept, newer)
    assert "same key as a_cu.csv:2" in row.reasons
    assert newer.status == "rejected" and older.status == "partial"


# -- nothing published by accident -------------------------------------------------------------


def test_a_run_whose_every_row_is_quarantined_publishes_nothing(dept: Dept) -> None:
    dept.drop("tot.csv", ROWS)
    dept.run(expected_exit=0)
    before = dept.published()
    dept.drop("toan_loi.csv", [HEADER, *[[r[0], r[1], r[2], "không rõ", r[4], r[5]] for r in GOOD]])
    run, (submission,) = dept.run(expected_exit=1)
    assert run.status == "rejected" and "every row quarantined" in (run.error or "")
    assert submission.status == "rejected" and submission.rows_quarantined == 4
    assert dept.published() == before


def test_an_empty_inbox_changes_nothing(dept: Dept) -> None:
    run, taken = dept.run(expected_exit=0)
    assert run.status == "unchanged" and taken == []


def test_a_shrink_past_the_threshold_is_held_until_confirmed(dept: Dept) -> None:
    dept.contract(refresh={"mode": "replace"})
    dept.drop("day_du.csv", ROWS)
    dept.run(expected_exit=0)
    dept.drop("mot_dong.csv", ROWS[:2])  # 1 of 4 rows: 75 % would go
    run, (submission,) = dept.run(expected_exit=3)
    assert run.status == "held" and "more than refresh.max_shrink (50%)" in (run.error or "")
    assert submission.status == "held" and len(dept.published()) == 4  # readers see no change
    listed = CliRunner().invoke(app, ["review", "market_prices"])
    assert run.run_id in listed.output
    decided = CliRunner().invoke(app, ["review", "market_prices", run.run_id, "--publish", "--by", "stc.lan"])
    assert decided.exit_code == 0, decided.output
    assert list(dept.published()) == ["G01"]
    with Warehouse(dept.hub).reader() as con:
        assert ledger.get(con, submission.id).status == "published"  # type: ignore[union-attr]
    record = Warehouse(dept.hub).run("market_prices", run.run_id)
    assert record is not None and record.status == "published" and "confirmed by stc.lan" in (record.error or "")


def test_a_held_run_can_be_discarded(dept: Dept) -> None:
    dept.contract(refresh={"mode": "replace"})
    dept.drop("day_du.csv", ROWS)
    dept.run(expected_exit=0)
    dept.drop("trong.csv", [HEADER, ["", "", "", "", "", ""], ROWS[1]])
    run, _ = dept.run(expected_exit=3)
    assert CliRunner().invoke(app, ["review", "market_prices", run.run_id, "--discard"]).exit_code == 0
    assert len(dept.published()) == 4
    assert Warehouse(dept.hub).run("market_prices", run.run_id).status == "rejected"  # type: ignore[union-attr]


def test_a_shrink_within_the_threshold_is_published(dept: Dept) -> None:
    dept.contract(refresh={"mode": "replace"})
    dept.drop("day_du.csv", ROWS)
    dept.run(expected_exit=0)
    dept.drop("hai_dong.csv", ROWS[:3])
    assert dept.run(expected_exit=0)[0].rows_published == 2 and len(dept.published()) == 2


# -- nothing lost ------------------------------------------------------------------------------


def test_a_file_resent_after_its_archive_copy_was_deleted_is_archived_again(dept: Dept) -> None:
    dept.drop("gia.csv", ROWS)
    dept.run(expected_exit=0)
    data = csv_bytes(ROWS, "utf-8")
    Archive(dept.hub).path(sha256(data)).unlink()
    dept.drop("gia.csv", ROWS)
    run, (submission,) = dept.run(expected_exit=0)
    assert submission.same_as is not None and run.rows_published == 4
    assert Archive(dept.hub).get(sha256(data)) == data


def test_a_file_dropped_into_a_fresh_hub_is_taken_in(
    dept: Dept, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dept.drop("gia.csv", ROWS)
    dept.run(expected_exit=0)
    monkeypatch.setenv("LGSP_HOME", str(tmp_path / "fresh"))
    dept.hub = Settings.from_env()
    dept.drop("gia.csv", ROWS)
    run, (submission,) = dept.run(expected_exit=0)
    assert run.rows_published == 4 and submission.same_as is None


def test_a_resent_older_file_is_published_as_the_newest(dept: Dept) -> None:
    dept.drop("a.csv", ROWS)
    dept.run(expected_exit=0)
    dept.drop("b.csv", with_cell(1, 3, "17.000"))
    dept.run(expected_exit=0)
    dept.drop("a.csv", ROWS)  # revert to A
    _, (submission,) = dept.run(expected_exit=0)
    assert dept.published()["G01"][0] == 15500.0 and submission.same_as is not None
    assert "Same bytes as submission" in dept.receipt(submission)


def test_names_match_without_case_and_an_unmatched_file_stays(dept: Dept) -> None:
    dept.drop("GIA_THANG_3.CSV", ROWS)
    dept.drop("ghi_chu.txt", b"not data", taken=False)
    run, (submission,) = dept.run(expected_exit=0)
    assert submission.name == "GIA_THANG_3.CSV" and run.rows_published == 4
    assert (dept.inbox / "ghi_chu.txt").exists()
    listed = CliRunner().invoke(app, ["inbox", "--unmatched"])
    assert "ghi_chu.txt" in listed.output and "unmatched" in listed.output


PAUSES = {
    # the bytes are archived, the submission not yet recorded
    "archived": "lgsp.submissions.ledger.receive",
    # recorded, the file still in the inbox
    "recorded": "pathlib.Path.unlink",
    # rows staged and validated, the publishing transaction not yet committed
    "publishing": "lgsp.warehouse.store.Warehouse.record_run",
}


@pytest.mark.parametrize("where", list(PAUSES))
def test_a_run_killed_between_archive_and_publish_loses_nothing(dept: Dept, where: str, tmp_path: Path) -> None:
    dept.drop("gia.csv", ROWS)
    target = PAUSES[where]
    script = tmp_path / "killed.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import importlib, time
            path, name = {target!r}.rsplit(".", 1)
            try:
                holder = importlib.import_module(path)
            except ModuleNotFoundError:
                module, cls = path.rsplit(".", 1)
                holder = getattr(importlib.import_module(module), cls)
            real = getattr(holder, name)
            def pause(*args, **kwargs):
                if {where!r} == "publishing":
                    real(*args, **kwargs)
                print("STOPPED", flush=True)
                time.sleep(120)
            setattr(holder, name, staticmethod(pause) if {where!r} == "publishing" else pause)
            from lgsp.pipeline import Pipeline
            Pipeline().run("market_prices")
            """
        )
    )
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True, env=dict(os.environ))
    assert proc.stdout is not None
    for line in proc.stdout:
        if "STOPPED" in line:
            break
    else:
        pytest.fail(f"the run never reached {where}: exit {proc.wait()}")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    run, _taken = dept.run(expected_exit=0)
    assert run.status == "published" and dept.published()["G01"][0] == 15500.0
    with Warehouse(dept.hub).reader() as con:
        every = ledger.listing(con, dataset_ids=["market_prices"])
    assert len(every) == 1 and every[0].status == "published"  # one submission, not two
    assert not (dept.inbox / "gia.csv").exists()


# -- found in review: each was a way to lose a file, publish wrong numbers or look successful ---


def test_a_held_files_receipt_survives_a_run_with_nothing_new(dept: Dept) -> None:
    dept.contract(refresh={"mode": "replace"})
    dept.drop("day_du.csv", ROWS)
    dept.run(expected_exit=0)
    dept.drop("mot_dong.csv", ROWS[:2])
    held, (submission,) = dept.run(expected_exit=3)
    assert dept.run(expected_exit=0)[0].status == "unchanged"
    CliRunner().invoke(app, ["review", "market_prices", held.run_id, "--publish"])
    with Warehouse(dept.hub).reader() as con:
        assert ledger.get(con, submission.id).status == "published"  # type: ignore[union-attr]


def _held_submission(dept: Dept) -> Submission:
    """A full replace published, then a run held for shrinking it: the held run's one submission."""
    dept.contract(refresh={"mode": "replace"})
    dept.drop("day_du.csv", ROWS)
    dept.run(expected_exit=0)
    dept.drop("mot_dong.csv", ROWS[:2])
    _, (held,) = dept.run(expected_exit=3)
    return held


def test_a_newer_run_discards_what_an_older_run_held_and_says_so(dept: Dept) -> None:
    held = _held_submission(dept)
    dept.drop("day_du_moi.csv", with_cell(1, 3, "16.000"))
    dept.run(expected_exit=0)
    with Warehouse(dept.hub).reader() as con:
        discarded = ledger.get(con, held.id)
    assert discarded is not None and discarded.status == "rejected"
    assert (discarded.rows_published, discarded.rows_rejected) == (0, 1)
    assert "a newer run decided the dataset" in Path(discarded.receipt or "").read_text(encoding="utf-8")


def test_a_newer_run_discards_what_was_held_whatever_its_last_file_became(dept: Dept) -> None:
    """The run's status decides, not its last submission's (a loop variable once shadowed it)."""
    held = _held_submission(dept)
    dept.drop("a_day_du_moi.csv", with_cell(1, 3, "16.000"))
    dept.drop("b_toan_loi.csv", [HEADER, *[["K" + r[0], r[1], r[2], "không rõ", r[4], r[5]] for r in GOOD]])
    run, taken = dept.run(expected_exit=3)  # partial
    assert run.status == "partial" and [s.status for s in taken] == ["published", "rejected"]
    with Warehouse(dept.hub).reader() as con:
        discarded = ledger.get(con, held.id)
    assert discarded is not None and discarded.status == "rejected"


def test_an_extract_retried_after_a_rejection_keeps_the_rejection(dept: Dept) -> None:
    from lgsp.pipeline import Pipeline

    dept.drop("a_tot.csv", ROWS)
    dept.drop("b_hong.csv", [HEADER])
    pipeline = Pipeline(dept.hub)
    pipeline.extract("market_prices", "r1")
    pipeline.extract("market_prices", "r1")  # Airflow retries the task with the same run id
    pipeline.validate("market_prices", "r1")
    run = pipeline.publish("market_prices", "r1")
    assert run.status == "partial" and not run.succeeded


def test_a_damaged_workbook_is_rejected_and_blocks_nothing(dept: Dept, tmp_path: Path) -> None:
    import io
    import zipfile

    import openpyxl

    book = openpyxl.Workbook()
    book.active.append(HEADER)
    buffer = io.BytesIO()
    book.save(buffer)
    damaged = io.BytesIO()
    with zipfile.ZipFile(buffer) as src, zipfile.ZipFile(damaged, "w") as out:
        for item in src.infolist():
            data = src.read(item)
            out.writestr(item, data[: len(data) // 2] if item.filename.endswith("sheet1.xml") else data)
    dept.drop("hong.xlsx", damaged.getvalue())
    dept.drop("tot.csv", ROWS)
    run, (broken, good) = dept.run(expected_exit=3)
    assert (broken.status, good.status, run.rows_published) == ("rejected", "published", 4)
    assert "the file cannot be read" in dept.receipt(broken)


def test_links_in_the_inbox_are_not_followed(dept: Dept) -> None:
    secret = dept.hub.home / "secrets" / "canary.key"
    secret.parent.mkdir(parents=True, exist_ok=True)
    secret.write_text("Mã mặt hàng\nbí mật\n", encoding="utf-8")
    (dept.inbox / "bao_cao.csv").symlink_to(secret)
    run, taken = dept.run(expected_exit=0)
    assert run.status == "unchanged" and taken == []
    (dept.inbox / "receipts").symlink_to(dept.hub.home / "reports", target_is_directory=True)
    dept.drop("gia.csv", ROWS)
    CliRunner().invoke(app, ["run", "market_prices"])
    assert not any((dept.hub.home / "reports").glob("*.txt"))  # the receipt is not written through the link
    with Warehouse(dept.hub).reader() as con:
        assert [s.receipt for s in ledger.listing(con, dataset_ids=["market_prices"])] == [None]


def test_the_file_that_arrived_last_is_the_newest(dept: Dept) -> None:
    import os

    dept.drop("gia_T9.csv", [HEADER, ["G01", "Gạo", "Xã A", "15.000", "1", "30/09/2024"]])
    dept.drop("gia_T10.csv", [HEADER, ["G01", "Gạo", "Xã A", "16.000", "1", "31/10/2024"]])
    os.utime(dept.inbox / "gia_T9.csv", (1, 1))  # September's was written first
    dept.run(expected_exit=0)
    assert dept.published()["G01"][0] == 16000.0


def test_a_misspelled_optional_header_rejects_the_file_not_the_values(dept: Dept) -> None:
    dept.drop("tot.csv", ROWS)
    dept.run(expected_exit=0)
    dept.drop("go_sai.csv", [[*HEADER[:3], "Gía cả (đồng)", *HEADER[4:]], *GOOD])
    _, (submission,) = dept.run(expected_exit=1)
    assert "did you mean 'Gía cả (đồng)'?" in dept.receipt(submission)
    assert dept.published()["G01"][0] == 15500.0  # the published prices are not blanked


def test_vietnamese_minimal_pairs_in_headers_are_not_swapped(dept: Dept) -> None:
    columns = [*[dict(c) for c in PRICES["columns"]], {"name": "nam", "type": "integer", "source": "Nam",
               "description": {"vi": "Nam", "en": "Men"}}, {"name": "so_nam", "type": "integer", "source": "Năm",
               "description": {"vi": "Năm", "en": "Year"}}]  # fmt: skip
    dept.contract(columns=columns)
    dept.drop("nam.csv", [[*HEADER, "Năm", "Nam"], *[[*r, "2024", "7"] for r in GOOD]])
    dept.run(expected_exit=0)
    assert warehouse_rows(dept.hub, "SELECT DISTINCT so_nam, nam FROM main.market_prices") == [(2024, 7)]


@pytest.mark.parametrize(
    "value", ["nan", "Infinity", "1_000", "150 trđ", "2 triệu/tháng", "100 (ước tính)", "2.000 trở lên"]
)
def test_text_duckdb_could_read_is_still_quarantined(dept: Dept, value: str) -> None:
    dept.drop("gia.csv", with_cell(2, 3, value))
    run, _ = dept.run(expected_exit=0)
    assert run.rows_quarantined == 1 and "G02" not in dept.published()
