"""A submission's receipt: what became of every row of the file, in Vietnamese and English.

The department gets it where it sent the file: in the inbox's `receipts/` folder, on the
department pages, and from `lgsp submissions show`. It says how many rows were published,
quarantined (each with its line, the values as typed and the reason) or rejected with the file,
so that published + quarantined + rejected (+ superseded) is every row the file held.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from lgsp.core import duck
from lgsp.core.duck import quote
from lgsp.core.settings import Settings
from lgsp.submissions import corrections, ledger
from lgsp.submissions.errors import SubmissionError
from lgsp.submissions.inbox import RECEIPTS
from lgsp.submissions.ledger import Submission, SubmissionStatus
from lgsp.warehouse.projection import HUB_COLUMNS, ORIGIN, SUBMISSION
from lgsp.warehouse.store import Warehouse

OUTCOMES = {  # (vi, en)
    SubmissionStatus.RECEIVED: ("ĐANG XỬ LÝ", "PENDING"),
    SubmissionStatus.PUBLISHED: ("ĐÃ CÔNG BỐ", "PUBLISHED"),
    SubmissionStatus.PARTIAL: ("CÔNG BỐ MỘT PHẦN", "PARTLY PUBLISHED"),
    SubmissionStatus.REJECTED: ("BỊ TỪ CHỐI", "REJECTED"),
    SubmissionStatus.HELD: ("CHỜ XEM XÉT", "HELD FOR REVIEW"),
}


@dataclass(frozen=True)
class QuarantinedRow:
    """One quarantined row of a submission: where it was, its values as typed, and why."""

    origin: str | None
    line: int | None
    values: dict[str, str | None]
    reasons: str
    checks: list[str]
    ref: str | None = None  # the row's ref in a correction sheet, `<submission>:<line>`
    resolved_by: int | None = None  # the correction submission that sent the row again


def quarantined_rows(
    con: duckdb.DuckDBPyConnection, submission: Submission, limit: int | None = None
) -> list[QuarantinedRow]:
    """The submission's rows in the quarantine, in file order, each with the correction
    submission that resolved it (None while it waits for one)."""
    table = f"quarantine.{quote(submission.dataset_id)}"
    if not duck.table_exists(con, "quarantine", submission.dataset_id):
        return []
    columns = [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()]
    if SUBMISSION not in columns:
        return []
    data = [c for c in columns if not c.startswith("_") and c not in HUB_COLUMNS]
    origin = quote(ORIGIN) if ORIGIN in columns else "NULL"
    resolved = "_resolved_by" if "_resolved_by" in columns else "NULL"
    sql = (
        f"SELECT {origin}, _reasons, _checks, {resolved}, {', '.join(quote(c) for c in data)} FROM {table} "
        f"WHERE {quote(SUBMISSION)} = ? AND _run_id = ? ORDER BY _row"
    )
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    out = []
    for row in con.execute(sql, [str(submission.id), submission.run_id]).fetchall():
        where = row[0]
        line = int(where.rsplit(":", 1)[1]) if where and where.rsplit(":", 1)[-1].isdigit() else None
        values = dict(zip(data, row[4:], strict=True))
        ref = corrections.ref(submission.id, line) if line is not None else None
        out.append(QuarantinedRow(where, line, values, row[1] or "", list(row[2] or []), ref, row[3]))
    return out


def text(submission: Submission, rows: list[QuarantinedRow], release: Any = None) -> str:
    """The receipt as plain text (the inbox copy and the CLI)."""
    vi, en = OUTCOMES[submission.status]
    lines = [
        "BIÊN NHẬN NỘP DỮ LIỆU / SUBMISSION RECEIPT",
        f"Mã nộp / Submission: {submission.id}",
        f"Tệp / File: {submission.name} ({submission.size} bytes, SHA-256 {submission.sha256})",
        f"Tập dữ liệu / Dataset: {submission.dataset_id}",
        f"Người gửi / Sent by: {submission.sender} ({submission.channel.value})",
        f"Nhận lúc / Received: {submission.received_at:%Y-%m-%d %H:%M:%S} UTC",
        f"Kết quả / Outcome: {vi} / {en}",
    ]
    if submission.same_as is not None:
        lines.append(
            f"Cùng nội dung với lần nộp {submission.same_as} / Same bytes as submission {submission.same_as}: "
            "đọc lại như lần nộp mới nhất / read again as the newest submission"
        )
    if submission.corrects is not None:
        lines.append(
            f"Sửa các dòng bị cách ly của lần nộp / Corrects the quarantined rows of submission {submission.corrects}"
        )
    if sheet := submission.info.get("correction"):
        lines.append(
            f"Bảng sửa lỗi: {sheet['read']} dòng sửa các dòng bị cách ly, {sheet['refused']} dòng không đọc / "
            f"Correction sheet: {sheet['read']} rows correct quarantined rows, {sheet['refused']} rows not read"
        )
    if submission.settled:
        lines.append(
            f"Số dòng / Rows: {submission.rows_total or 0} = {submission.rows_published or 0} công bố / published"
            f" + {submission.rows_quarantined or 0} cách ly / quarantined"
            f" + {submission.rows_rejected or 0} bị loại cùng tệp / rejected with the file"
            f" + {submission.rows_superseded or 0} được thay bằng lần nộp mới hơn / replaced by a newer submission"
        )
    if submission.run_id:
        lines.append(f"Lần chạy / Run: {submission.run_id}")
    if release is not None:
        lines.append(f"Phiên bản dữ liệu mở / Open-data release: {release}")
    info = submission.info
    if info.get("header_row", 1) != 1:
        lines.append(
            f"Dòng tiêu đề ở dòng {info['header_row']}; các dòng phía trên được bỏ qua / "
            f"header found on row {info['header_row']}; the rows above it were skipped"
        )
    if info.get("missing_columns"):
        lines.append(
            f"Cột không có trong tệp (để trống) / Columns not in the file (left empty): {', '.join(info['missing_columns'])}"
        )
    if submission.reasons:
        lines.append("Lý do / Reasons:")
        lines += [
            f"  - dòng / row {r['row']}: {r['reason']}" if r.get("row") else f"  - {r['reason']}"
            for r in submission.reasons
        ]
    if rows:
        lines.append("Dòng bị cách ly / Quarantined rows:")
        for row in rows:
            where = f"dòng / row {row.line}" if row.line else row.origin or "?"
            done = (
                f" (đã sửa bởi lần nộp {row.resolved_by} / corrected by submission {row.resolved_by})"
                if row.resolved_by is not None
                else ""
            )
            lines.append(f"  - {where}: {row.reasons}{done}")
    if submission.status is SubmissionStatus.REJECTED:
        lines.append("Sửa tệp và gửi lại / Fix the file and send it again.")
    elif any(row.resolved_by is None for row in rows):
        lines.append(
            "Sửa các dòng bị cách ly (bảng sửa lỗi trên trang của Sở) rồi gửi lại / Fix the quarantined rows "
            "(the correction sheet on the department pages) and send them again."
        )
    elif submission.status is SubmissionStatus.HELD:
        lines.append(
            "Lần chạy này sẽ xoá nhiều dòng đã công bố nên đang chờ Sở xác nhận / This run would remove many "
            "published rows, so it waits for the department to confirm (lgsp review)."
        )
    return "\n".join(lines) + "\n"


def write_for_run(
    settings: Settings,
    dataset_id: str,
    run_id: str,
    inbox: Path,
    release: Any = None,
    since: dt.datetime | None = None,
) -> list[Path]:
    """Write the receipts of a run's settled submissions into the inbox's receipts/ folder, and
    rewrite those of earlier submissions the run settled otherwise (a held file it discarded)."""
    written = []
    with Warehouse(settings).writer() as con:
        changed = [
            s
            for s in ledger.listing(con, dataset_ids=[dataset_id], limit=500)
            if since and s.run_id != run_id and s.receipt and s.settled_at and s.settled_at >= since
        ]
        for submission in [*ledger.of_run(con, dataset_id, run_id), *changed]:
            if not submission.settled:
                continue
            folder = inbox / RECEIPTS
            folder.mkdir(parents=True, exist_ok=True)
            if folder.is_symlink() or not folder.is_dir():
                raise SubmissionError(
                    f"thư mục biên nhận không phải thư mục thật / the receipts folder {folder} is a link or a file",
                    file=str(folder),
                )
            path = folder / f"{submission.received_at:%Y%m%dT%H%M%S}__{submission.id}__{submission.name}.txt"
            _write(path, text(submission, quarantined_rows(con, submission), release))
            con.execute("UPDATE meta.submissions SET receipt = ? WHERE id = ?", [str(path), submission.id])
            written.append(path)
    return written


def _write(path: Path, content: str) -> None:
    """Write a receipt without following a link planted in its place."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(content)


def as_json(submission: Submission, rows: list[QuarantinedRow]) -> dict[str, Any]:
    """The receipt as JSON (the CLI's --json and the department pages' ?format=json)."""
    out = json.loads(submission.model_dump_json())
    out["quarantined"] = [row.__dict__ for row in rows]
    return out
