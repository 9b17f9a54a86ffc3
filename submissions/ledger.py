"""The ledger of submissions (`meta.submissions` in the warehouse): one row per file sent.

A submission is received (its bytes archived) before anything else happens to it, so a run that
dies leaves it `received`, and the next run reads it again from the archive. Its outcome is
written in the same transaction that publishes (or holds) its rows: the ledger never says
`published` for rows readers cannot see.
"""

from __future__ import annotations

import datetime as dt
import json
from enum import StrEnum
from typing import Any

import duckdb
from pydantic import BaseModel, Field

from lgsp.core import duck
from lgsp.core.duck import quote
from lgsp.submissions import corrections
from lgsp.warehouse.projection import SUBMISSION

_DDL = """
CREATE SCHEMA IF NOT EXISTS meta;
CREATE SEQUENCE IF NOT EXISTS meta.submission_ids START 1;
CREATE TABLE IF NOT EXISTS meta.submissions (
    id BIGINT PRIMARY KEY,
    dataset_id VARCHAR NOT NULL,
    name VARCHAR NOT NULL,
    sha256 VARCHAR NOT NULL,
    size BIGINT NOT NULL,
    sender VARCHAR NOT NULL,
    channel VARCHAR NOT NULL,
    received_at TIMESTAMP NOT NULL,
    run_id VARCHAR,
    status VARCHAR NOT NULL,
    rows_total BIGINT,
    rows_published BIGINT,
    rows_quarantined BIGINT,
    rows_rejected BIGINT,
    rows_superseded BIGINT,
    reasons VARCHAR,
    info VARCHAR,
    same_as BIGINT,
    corrects BIGINT,
    settled_at TIMESTAMP,
    receipt VARCHAR
);
"""


class SubmissionStatus(StrEnum):
    RECEIVED = "received"  # archived; its run has not finished (a dead run's are read again)
    PUBLISHED = "published"  # every row published
    PARTIAL = "partial"  # published, but some rows quarantined
    REJECTED = "rejected"  # nothing of it published: the file or every row of it was refused
    HELD = "held"  # its run would have removed too many rows: waiting for review


class Channel(StrEnum):
    INBOX = "inbox"  # dropped into the department's inbox folder
    UPLOAD = "upload"  # uploaded on the department pages
    CORRECTION = "correction"  # a correction sheet of quarantined rows, uploaded


class Submission(BaseModel):
    id: int
    dataset_id: str
    name: str
    sha256: str
    size: int
    sender: str = Field(description="Who sent it: inbox:<connection> or staff:<username>.")
    channel: Channel
    received_at: dt.datetime
    run_id: str | None = None
    status: SubmissionStatus = SubmissionStatus.RECEIVED
    rows_total: int | None = None
    rows_published: int | None = None
    rows_quarantined: int | None = None
    rows_rejected: int | None = None
    rows_superseded: int | None = None
    reasons: list[dict[str, Any]] = Field(default_factory=list, description="Why it was rejected: row and reason.")
    info: dict[str, Any] = Field(default_factory=dict, description="What the reader found: encoding, header row…")
    same_as: int | None = Field(default=None, description="An earlier submission with the same bytes.")
    corrects: int | None = Field(default=None, description="The submission whose quarantined rows this one corrects.")
    settled_at: dt.datetime | None = None
    receipt: str | None = Field(default=None, description="Where its receipt was written for the department.")

    @property
    def settled(self) -> bool:
        return self.status is not SubmissionStatus.RECEIVED


COLUMNS = tuple(Submission.model_fields)
_JSON = ("reasons", "info")


def ensure(con: duckdb.DuckDBPyConnection) -> None:
    duck.create_schema(con, _DDL)


def _row(values: tuple[Any, ...]) -> Submission:
    data = dict(zip(COLUMNS, values, strict=True))
    for name in _JSON:
        data[name] = json.loads(data[name]) if data[name] else ({} if name == "info" else [])
    return Submission.model_validate(data)


def _select(where: str = "", order: str = "id") -> str:
    return f"SELECT {', '.join(COLUMNS)} FROM meta.submissions {where} ORDER BY {order}"


def receive(
    con: duckdb.DuckDBPyConnection,
    *,
    dataset_id: str,
    name: str,
    checksum: str,
    size: int,
    sender: str,
    channel: Channel,
    run_id: str | None,
    corrects: int | None = None,
) -> Submission:
    """Record a file whose bytes are archived. A file still `received` under the same name and
    bytes (its run died before it left the inbox) is that submission, not a new one."""
    ensure(con)
    again = con.execute(
        _select("WHERE dataset_id = ? AND name = ? AND sha256 = ? AND status = 'received'"),
        [dataset_id, name, checksum],
    ).fetchone()
    if again is not None:
        con.execute("UPDATE meta.submissions SET run_id = ? WHERE id = ?", [run_id, again[0]])
        return _row(again).model_copy(update={"run_id": run_id})
    earlier = con.execute(
        "SELECT max(id) FROM meta.submissions WHERE dataset_id = ? AND sha256 = ?", [dataset_id, checksum]
    ).fetchone()
    submission_id = duck.next_id(con, "meta.submission_ids")
    submission = Submission(
        id=submission_id,
        dataset_id=dataset_id,
        name=name,
        sha256=checksum,
        size=size,
        sender=sender,
        channel=channel,
        received_at=dt.datetime.now(dt.UTC).replace(tzinfo=None),
        run_id=run_id,
        same_as=earlier[0] if earlier else None,
        corrects=corrects,
    )
    save(con, submission)
    return submission


def save(con: duckdb.DuckDBPyConnection, submission: Submission) -> None:
    values = [
        json.dumps(v, ensure_ascii=False, sort_keys=True) if name in _JSON else v
        for name, v in submission.model_dump(mode="python").items()
    ]
    # DELETE then INSERT, not INSERT OR REPLACE: a DuckLake table has no key to replace on.
    con.execute("DELETE FROM meta.submissions WHERE id = ?", [submission.id])
    con.execute(
        f"INSERT INTO meta.submissions ({', '.join(COLUMNS)}) VALUES ({', '.join('?' for _ in COLUMNS)})",
        [v.value if isinstance(v, StrEnum) else v for v in values],
    )


def get(con: duckdb.DuckDBPyConnection, submission_id: int) -> Submission | None:
    ensure(con)
    row = con.execute(_select("WHERE id = ?"), [submission_id]).fetchone()
    return None if row is None else _row(row)


def pending(con: duckdb.DuckDBPyConnection, dataset_id: str) -> list[Submission]:
    """Submissions received whose run never finished, oldest first: the next run reads them."""
    ensure(con)
    rows = con.execute(_select("WHERE dataset_id = ? AND status = 'received'"), [dataset_id]).fetchall()
    return [_row(r) for r in rows]


def last_accepted(con: duckdb.DuckDBPyConnection, dataset_id: str) -> Submission | None:
    """The newest submission of the dataset that was read and published (fully or partly)."""
    ensure(con)
    row = con.execute(
        _select("WHERE dataset_id = ? AND status IN ('published', 'partial')", "id DESC") + " LIMIT 1", [dataset_id]
    ).fetchone()
    return None if row is None else _row(row)


def accepted_with_headers(con: duckdb.DuckDBPyConnection, dataset_id: str, headers: list[str]) -> Submission | None:
    """The newest published submission of the dataset whose file had exactly these headers."""
    ensure(con)
    rows = con.execute(
        _select("WHERE dataset_id = ? AND status IN ('published', 'partial')", "id DESC") + " LIMIT 200", [dataset_id]
    ).fetchall()
    for row in rows:
        submission = _row(row)
        if submission.info.get("headers") == headers:
            return submission
    return None


def claim(con: duckdb.DuckDBPyConnection, dataset_id: str, run_id: str) -> list[Submission]:
    """The submissions waiting for a run (`pending`), now this run's."""
    waiting = pending(con, dataset_id)
    if waiting:
        con.execute(
            f"UPDATE meta.submissions SET run_id = ? WHERE id IN ({', '.join('?' for _ in waiting)})",
            [run_id, *(s.id for s in waiting)],
        )
    return [s.model_copy(update={"run_id": run_id}) for s in waiting]


def record_read(
    con: duckdb.DuckDBPyConnection,
    submission_id: int,
    *,
    rows: int,
    refused: list[tuple[int | None, str]],
    info: dict[str, Any],
) -> None:
    """What reading a submission found: its rows, the rows refused on reading (a correction
    sheet's rows whose ref names no open entry) and what the reader noticed."""
    con.execute(
        "UPDATE meta.submissions SET rows_total = ?, rows_rejected = ?, reasons = ?, info = ? WHERE id = ?",
        [
            rows,
            len(refused),
            json.dumps([{"row": r, "reason": m} for r, m in refused], ensure_ascii=False),
            json.dumps(info, ensure_ascii=False, sort_keys=True),
            submission_id,
        ],
    )


def reject(
    con: duckdb.DuckDBPyConnection,
    submission: Submission,
    run_id: str,
    problems: list[tuple[int | None, str]],
    rows: int,
) -> None:
    """A file that cannot be read is settled at once: rejected whole, every row of it counted."""
    save(
        con,
        submission.model_copy(
            update={
                "run_id": run_id,
                "status": SubmissionStatus.REJECTED,
                "rows_total": rows,
                "rows_rejected": rows,
                "rows_published": 0,
                "rows_quarantined": 0,
                "rows_superseded": 0,
                "reasons": [{"row": row, "reason": reason} for row, reason in problems],
                "settled_at": dt.datetime.now(dt.UTC).replace(tzinfo=None),
            }
        ),
    )


def of_run(con: duckdb.DuckDBPyConnection, dataset_id: str, run_id: str) -> list[Submission]:
    ensure(con)
    rows = con.execute(_select("WHERE dataset_id = ? AND run_id = ?"), [dataset_id, run_id]).fetchall()
    return [_row(r) for r in rows]


def listing(
    con: duckdb.DuckDBPyConnection, *, dataset_ids: list[str] | None = None, limit: int = 100
) -> list[Submission]:
    """The latest submissions, newest first (of these datasets only, when given)."""
    ensure(con)
    where, params = "", []
    if dataset_ids is not None:
        if not dataset_ids:
            return []
        where = f"WHERE dataset_id IN ({', '.join('?' for _ in dataset_ids)})"
        params = list(dataset_ids)
    rows = con.execute(_select(where, "id DESC") + " LIMIT ?", [*params, limit]).fetchall()
    return [_row(r) for r in rows]


def settle(
    con: duckdb.DuckDBPyConnection,
    *,
    dataset_id: str,
    run_id: str,
    stage: str | None,
    quarantine: str,
    status: str,
    superseded: dict[int, int],
) -> list[Submission]:
    """Write what became of each of the run's submissions that were read (rows published from
    the stage, quarantined, superseded by a newer submission; a correction sheet's rows refused
    for their ref were counted when it was read), inside the publishing transaction, and resolve
    the quarantine entries its correction sheets sent again (unless the run is held). Rejected
    ones were settled when they were read. `status` is the run's: a held run's submissions are
    held; a run that decides the dataset (published, partial or held) discards what older runs
    held."""
    held = status == "held"
    column = quote(SUBMISSION)
    published = (
        dict(con.execute(f"SELECT CAST({column} AS BIGINT), count(*) FROM {stage} GROUP BY ALL").fetchall())
        if stage
        else {}
    )
    quarantined = dict(
        con.execute(
            f"SELECT CAST({column} AS BIGINT), count(*) FROM {quarantine} WHERE _run_id = ? GROUP BY ALL", [run_id]
        ).fetchall()
    )
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    settled = []
    for submission in of_run(con, dataset_id, run_id):
        if submission.settled:
            continue
        n_published = int(published.get(submission.id, 0))
        n_quarantined = int(quarantined.get(submission.id, 0))
        n_superseded = int(superseded.get(submission.id, 0))
        n_rejected = int(submission.rows_rejected or 0)
        if held:
            outcome = SubmissionStatus.HELD
        elif n_published + n_superseded == 0:
            outcome = SubmissionStatus.REJECTED
        elif n_quarantined or n_rejected:
            outcome = SubmissionStatus.PARTIAL
        else:
            outcome = SubmissionStatus.PUBLISHED
        submission = submission.model_copy(
            update={
                "status": outcome,
                "rows_published": n_published,
                "rows_quarantined": n_quarantined,
                "rows_superseded": n_superseded,
                "rows_rejected": n_rejected,
                "settled_at": now,
            }
        )
        save(con, submission)
        if not held:
            corrections.resolve(con, quarantine, submission.id, submission.info.get(corrections.CORRECTED, {}), now)
        settled.append(submission)
    if status in ("published", "partial", "held"):
        # A newer run decided the dataset: what an older run held can no longer be confirmed.
        older = con.execute(
            "SELECT DISTINCT run_id FROM meta.submissions WHERE dataset_id = ? AND status = 'held' AND run_id <> ?",
            [dataset_id, run_id],
        ).fetchall()
        corrections.close(con, quarantine, sorted(r[0] for r in older), now)
        con.execute(
            "UPDATE meta.submissions SET status = 'rejected', settled_at = ?, reasons = ?, "
            "rows_rejected = coalesce(rows_published, 0), rows_published = 0 "
            "WHERE dataset_id = ? AND status = 'held' AND run_id <> ?",
            [now, json.dumps([{"row": None, "reason": _REPLACED}], ensure_ascii=False), dataset_id, run_id],
        )
    return settled


_REPLACED = (
    "bỏ vì có lần chạy mới hơn / discarded: a newer run decided the dataset; send the file again if it still holds"
)


def confirm(
    con: duckdb.DuckDBPyConnection, dataset_id: str, run_id: str, *, published: bool, by: str
) -> list[Submission]:
    """A held run was confirmed (its submissions are published, and the entries its correction
    sheets sent again are resolved) or discarded (rejected, and its quarantine entries closed)."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    quarantine = f"quarantine.{quote(dataset_id)}" if duck.table_exists(con, "quarantine", dataset_id) else None
    if quarantine and not published:
        corrections.close(con, quarantine, [run_id], now)
    out = []
    for submission in of_run(con, dataset_id, run_id):
        if submission.status is not SubmissionStatus.HELD:
            continue
        if published:
            partly = submission.rows_quarantined or submission.rows_rejected
            status = SubmissionStatus.PARTIAL if partly else SubmissionStatus.PUBLISHED
            update: dict[str, Any] = {"status": status, "settled_at": now}
        else:
            reason = f"lần chạy bị {by} bỏ khi xem xét / the run was discarded on review by {by}"
            update = {
                "status": SubmissionStatus.REJECTED,
                "settled_at": now,
                "rows_published": 0,
                "rows_rejected": (submission.rows_rejected or 0) + (submission.rows_published or 0),
                "reasons": [*submission.reasons, {"row": None, "reason": reason}],
            }
        submission = submission.model_copy(update=update)
        save(con, submission)
        if quarantine and published:
            corrections.resolve(con, quarantine, submission.id, submission.info.get(corrections.CORRECTED, {}), now)
        out.append(submission)
    return out
