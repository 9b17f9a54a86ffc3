"""The national reporting system (Hệ thống thông tin báo cáo): report templates, submissions and their checks.

A province sends each report table by its deadline; the central system checks every cell and answers with every
error at once, so a reporter fixes the whole table in one round instead of one error per attempt. A late report is
taken and flagged late, not refused, and sending the same report again makes a new version that replaces the last.
Accepted reports live in memory, per server process.
"""

from __future__ import annotations

import math
import operator
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone

import orjson
from fastapi import APIRouter, Request, Response

from lgsp_sandbox.national_api.errors import JSON, ApiError
from lgsp_sandbox.national_api.report_templates import TEMPLATES, Row, Rule, Template

VIETNAM = timezone(timedelta(hours=7), "Asia/Ho_Chi_Minh")  # no daylight saving since 1975, so no tzdata needed
RELATIONS: dict[str, Callable[[float, float], bool]] = {"≤": operator.le, "=": operator.eq}


# --- Checks -------------------------------------------------------------------------------------------------------


# Each error code's message, Vietnamese then English; the fields come from `problem(code, **facts)`.
MESSAGES = {
    "wrong_period": (
        "biểu {template} báo cáo kỳ {expected}, không phải kỳ “{given}”",
        "template {template} is for period {expected}, not “{given}”",
    ),
    "unknown_row": ("biểu {template} không có chỉ tiêu “{row}”", "template {template} has no row “{row}”"),
    "unknown_column": ("biểu {template} không có cột “{column}”", "template {template} has no column “{column}”"),
    "duplicate_cell": (
        "ô này được gửi nhiều lần; chỉ lần đầu được kiểm tra",
        "this cell is sent more than once; only the first is checked",
    ),
    "missing": ("thiếu giá trị (ô bắt buộc)", "value missing (a required cell)"),
    "not_a_number": ("giá trị không phải là số: {value}", "value is not a number: {value}"),
    "not_integer": ("giá trị phải là số nguyên, không phải {value}", "value must be a whole number, not {value}"),
    "below_min": ("giá trị {value} nhỏ hơn mức tối thiểu {min}", "value {value} is below the minimum {min}"),
    "above_max": ("giá trị {value} lớn hơn mức tối đa {max}", "value {value} is above the maximum {max}"),
    "wrong_unit": ("đơn vị tính phải là “{unit}”, không phải “{given}”", "unit must be “{unit}”, not “{given}”"),
    "rule": ("quy tắc {rule} ({formula}) không thỏa: {sides}. {vi}", "rule {rule} ({formula}) fails: {sides}. {en}"),
}


@dataclass(frozen=True)
class CellError:
    """One thing wrong with a submission; row and column are None when it is about the whole report."""

    row: str | None
    column: str | None
    code: str
    vi: str
    en: str

    def as_dict(self) -> dict:
        message = {"vi": self.vi, "en": self.en}
        return {"row": self.row, "column": self.column, "code": self.code, "message": message}

    def order(self) -> tuple[str, str, str]:
        return (self.row or "", self.column or "", self.code)


def problem(code: str, **facts: object) -> tuple[str, str, str]:
    """An error code with its two messages filled in."""
    vi, en = MESSAGES[code]
    return code, vi.format(**facts), en.format(**facts)


def _show(value: float) -> str:
    """A number as a reporter wrote it: 12 rather than 12.0."""
    return str(int(value)) if float(value).is_integer() and abs(value) < 2**53 else repr(value)


def check_value(row: Row, value: object, unit: str | None) -> list[tuple[str, str, str]]:
    """The problems (code, vi, en) of one cell's value and unit against its row."""
    problems = []
    if unit is not None and unit != row.unit:
        problems.append(problem("wrong_unit", unit=row.unit, given=unit))
    if value is None:
        return [*problems, problem("missing")] if row.required else problems
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return [*problems, problem("not_a_number", value=orjson.dumps(value).decode())]
    if row.kind == "integer" and not float(value).is_integer():
        problems.append(problem("not_integer", value=_show(value)))
    if row.min is not None and value < row.min:
        problems.append(problem("below_min", value=_show(value), min=_show(row.min)))
    if row.max is not None and value > row.max:
        problems.append(problem("above_max", value=_show(value), max=_show(row.max)))
    return problems


def check(template: Template, period: str, cells: list[dict]) -> list[CellError]:
    """Every error of a submission, sorted by row, column and code; an empty list means it is accepted."""
    errors: list[CellError] = []
    if period != template.period:
        found = problem("wrong_period", template=template.code, expected=template.period, given=period)
        errors.append(CellError(None, None, *found))
    rows = {row.code: row for row in template.rows}
    columns = [code for code, _, _ in template.columns]
    seen: set[tuple[str, str]] = set()
    good: dict[tuple[str, str], float] = {}
    for cell in cells:
        row, column = cell["row"], cell["column"]
        problems = []
        if row not in rows:
            problems.append(problem("unknown_row", template=template.code, row=row))
        if column not in columns:
            problems.append(problem("unknown_column", template=template.code, column=column))
        if (row, column) in seen:
            problems.append(problem("duplicate_cell"))
        elif not problems:
            problems = check_value(rows[row], cell["value"], cell["unit"])
            if not problems and cell["value"] is not None:
                good[(row, column)] = cell["value"]
        seen.add((row, column))
        errors += [CellError(row, column, *found) for found in problems]
    for required in (r.code for r in template.rows if r.required):
        errors += [CellError(required, c, *problem("missing")) for c in columns if (required, c) not in seen]
    for rule in template.rules:
        errors += _broken(rule, columns, good)
    return sorted(errors, key=CellError.order)


def _broken(rule: Rule, columns: list[str], good: dict[tuple[str, str], float]) -> list[CellError]:
    """The rule's errors, one per column where all its cells hold valid numbers and the relation fails."""
    errors = []
    for column in columns:
        left, right = good.get((rule.left, column)), [good.get((code, column)) for code in rule.right]
        if left is None or any(value is None for value in right):
            continue
        total = sum(value for value in right if value is not None)
        if RELATIONS[rule.relation](left, total):
            continue
        sides = f"{rule.left} = {_show(left)}, {' + '.join(rule.right)} = {_show(total)}"
        found = problem("rule", rule=rule.code, formula=rule.formula, sides=sides, vi=rule.vi, en=rule.en)
        errors.append(CellError(rule.left, column, *found))
    return errors


# --- The request body ---------------------------------------------------------------------------------------------

BODY_FIELDS = ("template", "reporter", "period", "cells")
CELL_FIELDS = ("row", "column", "value", "unit", "note")


def invalid(vi: str, en: str) -> ApiError:
    return ApiError(400, "invalid_request", f"{vi} / {en}")


def _only(given: dict, allowed: tuple[str, ...], required: tuple[str, ...], where: str) -> None:
    """Refuse unknown and absent fields: a misspelt "vaule" would otherwise read as an empty cell."""
    unknown, absent = sorted(set(given) - set(allowed)), [name for name in required if name not in given]
    if unknown:
        raise invalid(f"{where} có trường lạ {unknown}", f"{where} has unknown fields {unknown}")
    if absent:
        raise invalid(f"{where} thiếu trường {absent}", f"{where} lacks fields {absent}")


def read_submission(raw: bytes) -> dict:
    """The body with its shape checked (cell values are checked later, per cell). Raises ApiError (400)."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise invalid(
            "nội dung không phải JSON", f"body is not JSON (NaN and Infinity are not either): {error}"
        ) from None
    if not isinstance(body, dict):
        raise invalid(
            "nội dung phải là một đối tượng JSON", f"body must be a JSON object with fields {list(BODY_FIELDS)}"
        )
    _only(body, BODY_FIELDS, BODY_FIELDS, "body")
    for name in ("template", "reporter", "period"):
        if not isinstance(body[name], str) or not body[name].strip():
            raise invalid(f"{name} phải là chuỗi không rỗng", f"{name} must be a non-empty string, got {body[name]!r}")
    if not isinstance(body["cells"], list):
        raise invalid("cells phải là một danh sách", f"cells must be a list, got {body['cells']!r}")
    cells = []
    for index, cell in enumerate(body["cells"]):
        where = f"cells[{index}]"
        if not isinstance(cell, dict):
            raise invalid(f"{where} phải là một đối tượng", f"{where} must be an object, got {cell!r}")
        _only(cell, CELL_FIELDS, ("row", "column"), where)
        for name in ("row", "column", "unit", "note"):
            value = cell.get(name)
            if not isinstance(value, str) and (value is not None or name in ("row", "column")):
                raise invalid(f"{where}.{name} phải là chuỗi", f"{where}.{name} must be a string, got {value!r}")
        cells.append({name: cell.get(name) for name in CELL_FIELDS})
    return {**body, "cells": cells}


# --- Accepted reports and the routes ------------------------------------------------------------------------------


@dataclass
class Submissions:
    """Accepted reports by receipt; the same template, reporter and period sent again is a new version.

    No lock: the routes are async and never await while they change it, so one event loop serialises them.
    """

    by_receipt: dict[str, dict] = field(default_factory=dict)
    numbers: Counter[str] = field(default_factory=Counter)
    current: dict[tuple[str, str, str], str] = field(default_factory=dict)

    def accept(self, template: Template, body: dict, received: datetime) -> dict:
        received = received.astimezone(VIETNAM)  # the service's own clock reads Vietnamese time
        key = (template.code, body["reporter"], body["period"])
        previous = self.by_receipt.get(self.current.get(key, ""))
        self.numbers[template.code] += 1
        receipt = f"{template.code}-{self.numbers[template.code]:06d}"
        if previous is not None:
            previous.update(current=False, superseded_by=receipt)
        self.current[key] = receipt
        stored = {
            "receipt": receipt,
            "template": template.code,
            "reporter": body["reporter"],
            "period": body["period"],
            "version": previous["version"] + 1 if previous else 1,
            "late": received.date() > template.deadline,
            "received_at": received.isoformat(timespec="milliseconds"),
            "current": True,
            "superseded_by": None,
            "cells": body["cells"],
        }
        self.by_receipt[receipt] = stored
        return stored


def _json(body: object, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type=JSON)


def reporting_router(bearer: Callable[[Request], str], deadline: date | None = None) -> APIRouter:
    """The reporting routes behind the simulator's OAuth2 tokens; `deadline` moves every template's deadline."""
    templates = {t.code: replace(t, deadline=deadline or t.deadline) for t in TEMPLATES}
    store = Submissions()
    router = APIRouter(prefix="/reporting/v1")

    def template(code: str) -> Template:
        if code not in templates:
            vi, en = f"không có biểu mẫu “{code}”", f"no template “{code}”; GET /reporting/v1/templates lists them"
            raise ApiError(404, "unknown_template", f"{vi} / {en}")
        return templates[code]

    @router.get("/templates")
    async def list_templates(request: Request) -> Response:
        """The report templates a province sends, with their period and deadline."""
        bearer(request)
        return _json({"templates": [templates[code].summary() for code in sorted(templates)]})

    @router.get("/templates/{code}")
    async def get_template(request: Request, code: str) -> Response:
        """One template in full: columns, rows with their unit and bounds, and the cross-cell rules."""
        bearer(request)
        return _json(template(code).describe())

    @router.post("/submissions")
    async def submit(request: Request) -> Response:
        """Check a report and keep it (201), or answer every error at once and keep nothing (422)."""
        bearer(request)
        body = read_submission(await request.body())
        chosen = template(body["template"])
        errors = check(chosen, body["period"], body["cells"])
        if errors:
            return _json({"status": "rejected", "errors": [e.as_dict() for e in errors]}, 422)
        stored = store.accept(chosen, body, datetime.now(VIETNAM))
        what = f"{chosen.code}, {stored['reporter']}, {stored['period']}"
        vi, en = (
            f"Đã tiếp nhận báo cáo {what}, lần {stored['version']}",
            f"Report {what} accepted, version {stored['version']}",
        )
        if stored["late"]:
            vi += f"; nộp muộn sau hạn {chosen.deadline:%d/%m/%Y}"
            en += f"; late, the deadline was {chosen.deadline.isoformat()}"
        answer = {key: stored[key] for key in ("receipt", "version", "late", "received_at")}
        return _json({"status": "accepted", **answer, "message": {"vi": vi, "en": en}}, 201)

    @router.get("/submissions")
    async def list_submissions(request: Request) -> Response:
        """Receipts in the order they were given, filtered by ?template= and ?reporter=; old versions included."""
        bearer(request)
        wanted = {name: request.query_params.get(name) or None for name in ("template", "reporter")}  # "" is no filter
        found = [
            {key: value for key, value in stored.items() if key != "cells"}
            for stored in store.by_receipt.values()
            if all(value is None or stored[name] == value for name, value in wanted.items())
        ]
        return _json({"submissions": found})

    @router.get("/submissions/{receipt}")
    async def get_submission(request: Request, receipt: str) -> Response:
        """A report as it was accepted; a replaced version says which receipt replaced it."""
        bearer(request)
        if receipt not in store.by_receipt:
            raise ApiError(404, "unknown_receipt", f"không có biên nhận “{receipt}” / no receipt “{receipt}”")
        return _json(store.by_receipt[receipt])

    return router
