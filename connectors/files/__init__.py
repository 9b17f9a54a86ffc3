"""File-drop connector: CSV and XLSX files a department sends, dropped into its inbox folder or
uploaded on the department pages.

Departments type numbers the Vietnamese way (`9.748`, `103,97`, `1,2 triệu`), save CSV in
whatever their office suite offers (UTF-8, Windows-1258, or the TCVN3/VNI of older machines),
put a title above the header and send the same file twice. Every file is a submission
(lgsp.submissions): its bytes are archived and recorded before it leaves the inbox, and the
run reads the dataset's waiting submissions from the archive, oldest first. Each is decoded to
NFC Unicode, its header found and matched to the contract, its numbers and dates read by
Vietnamese conventions (`connectors.vietnamese`), and every row keeps its origin (`file:line`)
and its submission. A file that cannot be read is rejected whole, with the reason, in its
receipt; a cell that cannot be read exactly sends its row to the quarantine with the reason. A
correction sheet of quarantined rows sent back (lgsp.submissions.corrections) is read only for
its rows whose ref names an open quarantine entry; the receipt says why each other row was not.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from lgsp.connectors.errors import ConnectorError
from lgsp.connectors.files.config import FilesConfig, configure
from lgsp.connectors.files.reading import FileReader, Ingested
from lgsp.connectors.files.sheets import Unreadable
from lgsp.connectors.registry import register
from lgsp.schemas.contract import Duplicates
from lgsp.submissions import corrections, inbox, ledger, receipts
from lgsp.submissions.archive import Archive
from lgsp.submissions.errors import SubmissionError
from lgsp.submissions.ledger import Channel, Submission, SubmissionStatus
from lgsp.warehouse.projection import ORIGIN, SUBMISSION
from lgsp.warehouse.runs import RunRecord
from lgsp.warehouse.store import Warehouse

DECISIONS_KEPT = 200  # rows listed per run in the notes; the count is always complete


def extract(config: FilesConfig, state: dict[str, Any] | None, notes: dict[str, Any]) -> pa.RecordBatchReader:
    """Take the inbox's new files in, then stream the rows of every waiting submission."""
    del state  # the ledger is the state: a submission waits until a run settles it
    run_id = notes.get("run_id") or "unknown"
    warehouse, archive = Warehouse(config.settings), Archive(config.settings)
    if not config.inbox.is_dir():
        raise ConnectorError(
            f"thư mục hộp thư không tồn tại / the inbox folder {config.inbox} does not exist",
            dataset=config.dataset,
            connector=config.connection,
        )
    inbox.take(
        warehouse,
        archive,
        dataset_id=config.dataset,
        inbox=config.inbox,
        patterns=config.source.pattern,
        connection=config.connection,
        run_id=run_id,
    )
    with warehouse.writer() as con:
        waiting = ledger.claim(con, config.dataset, run_id)
        # A retried extract (same run id) finds the files its first try rejected already settled.
        rejected_before = [
            s for s in ledger.of_run(con, config.dataset, run_id) if s.status is SubmissionStatus.REJECTED
        ]
    reader = FileReader(config)
    notes.update(submissions=[], rejected=[], decisions=[], decisions_total=0, rows_rejected=0)
    for s in rejected_before:
        reasons = "; ".join(r["reason"] for r in s.reasons)
        notes["rejected"].append({"submission": s.id, "name": s.name, "reasons": reasons})
        notes["rows_rejected"] += s.rows_rejected or 0

    def batches() -> Iterator[pa.RecordBatch]:
        read: list[tuple[Submission, pa.RecordBatch]] = []
        sheets = 0  # correction sheets among them
        for submission in waiting:
            try:
                data = archive.get(submission.sha256)
                ingested = reader.read(Path(submission.name), data, correction=submission.channel is Channel.CORRECTION)
                refused, corrected = _screen(warehouse, submission, ingested)
            except Exception as exc:  # a damaged file is rejected with the reason; it never blocks the dataset
                problems: list[tuple[int | None, str]] = (
                    exc.problems
                    if isinstance(exc, Unreadable)
                    else [(None, exc.message)]
                    if isinstance(exc, SubmissionError)
                    else [(None, f"không đọc được tệp / the file cannot be read: {type(exc).__name__}: {exc}")]
                )
                rows = exc.rows if isinstance(exc, Unreadable) else 0
                if isinstance(exc, Unreadable) and exc.headers:
                    problems += _blame(warehouse, submission, exc.headers)
                with warehouse.writer() as con:
                    ledger.reject(con, submission, run_id, problems, rows)
                notes["rejected"].append({"submission": submission.id, "name": submission.name, "reasons": str(exc)})
                notes["rows_rejected"] += rows
                continue
            notes["submissions"].append({**ingested.info, "submission": submission.id, "sha256": submission.sha256})
            notes["decisions_total"] += len(ingested.decisions)
            room = DECISIONS_KEPT - len(notes["decisions"])
            notes["decisions"].extend(ingested.decisions[: max(room, 0)])
            kept = {**ingested.info, corrections.CORRECTED: corrected} if ingested.refs is not None else ingested.info
            with warehouse.writer() as con:
                ledger.record_read(con, submission.id, rows=len(ingested.lines), refused=refused, info=kept)
            notes["rows_rejected"] += len(refused)
            sheets += ingested.refs is not None
            read.append((submission, ingested.batch))
        # A run of correction sheets only adds their rows, even to a dataset each file replaces.
        notes["corrections_only"] = bool(read) and sheets == len(read)
        yield from _newest_wins(read, config, notes)

    schema = reader.schema.append(pa.field(SUBMISSION, pa.string()))
    return pa.RecordBatchReader.from_batches(schema, batches())


def _newest_wins(
    read: list[tuple[Submission, pa.RecordBatch]], config: FilesConfig, notes: dict[str, Any]
) -> Iterator[pa.RecordBatch]:
    """The rows of the run's submissions, newest submission first. Under `duplicates: latest`, a
    row whose key a newer submission of the run also sends is superseded by it (counted per
    submission in the notes; its bytes stay in the archive); the same key twice in one file stays,
    for the key check to quarantine both."""
    latest = config.source.duplicates is Duplicates.latest
    seen: dict[tuple[Any, ...], str] = {}
    superseded: dict[str, int] = {}
    examples: list[dict[str, str]] = []
    for submission, batch in reversed(read):
        keys = list(zip(*(batch.column(k).to_pylist() for k in config.key), strict=True))
        origins = batch.column(ORIGIN).to_pylist()
        keep = [True] * batch.num_rows
        if latest:
            for i, key in enumerate(keys):
                if any(part is None for part in key):
                    continue
                newer = seen.get(key)
                if newer is not None and not newer.startswith(f"{submission.id}|"):
                    keep[i] = False
                    superseded[str(submission.id)] = superseded.get(str(submission.id), 0) + 1
                    if len(examples) < DECISIONS_KEPT:
                        examples.append({"row": origins[i], "by": newer.split("|", 1)[1]})
            for i, key in enumerate(keys):
                if keep[i] and all(part is not None for part in key):
                    seen.setdefault(key, f"{submission.id}|{origins[i]}")
        if not all(keep):
            batch = batch.filter(pa.array(keep))
        if batch.num_rows:
            yield batch.append_column(SUBMISSION, pa.array([str(submission.id)] * batch.num_rows, pa.string()))
    notes["superseded"], notes["superseded_rows"] = superseded, examples


def _screen(
    warehouse: Warehouse, submission: Submission, ingested: Ingested
) -> tuple[list[tuple[int | None, str]], dict[str, str]]:
    """A correction sheet keeps only its rows whose ref names an open quarantine entry; returns
    why each other row is not read, and the rows read (line → ref). Raises Unreadable when no
    row is left."""
    if ingested.refs is None:
        return [], {}
    with warehouse.reader() as con:
        screened = corrections.screen(con, submission.dataset_id, ingested.lines, ingested.refs)
    if not screened.read:
        raise Unreadable(screened.problems, rows=len(ingested.lines))
    if screened.problems:
        ingested.batch = ingested.batch.filter(pa.array(screened.keep))
    ingested.info["correction"] = {"read": len(screened.read), "refused": len(screened.problems)}
    return screened.problems, {str(line): ref for line, ref in screened.read.items()}


def _blame(warehouse: Warehouse, submission: Submission, headers: list[str]) -> list[tuple[int | None, str]]:
    """A file whose header was accepted before and is refused now: the contract changed, not the
    department's file. Say so, so the department does not hunt for a mistake it did not make."""
    with warehouse.reader() as con:
        earlier = ledger.accepted_with_headers(con, submission.dataset_id, headers)
    if earlier is None:
        return []
    return [
        (
            None,
            f"Tiêu đề giống hệt lần nộp {earlier.id} ({earlier.name}, {earlier.received_at:%Y-%m-%d}) đã được "
            "chấp nhận: hợp đồng dữ liệu đã thay đổi, không phải lỗi của Sở; kỹ sư dữ liệu cần sửa hợp đồng / "
            f"The header is exactly that of submission {earlier.id}, which was accepted: the dataset's contract "
            "changed since. This is not the department's mistake; the data engineer must fix the contract "
            "(lgsp check shows it).",
        )
    ]


def commit(config: FilesConfig, notes: dict[str, Any], run: RunRecord) -> None:
    """After the run: a receipt in the inbox for each of its settled submissions."""
    del notes
    receipts.write_for_run(
        config.settings, config.dataset, run.run_id, config.inbox, release=run.release, since=run.started_at
    )


register("files", configure=configure, commit=commit, full_each_run=False)(extract)
