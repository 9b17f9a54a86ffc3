"""The report templates (biểu mẫu báo cáo) of the simulated national reporting system, as data.

Apart from the checks and routes in reporting.py so that adding an indicator or a template touches only this file.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class Row:
    """One indicator of a template: what it counts, in which unit, and the bounds a value must keep."""

    code: str
    vi: str
    en: str
    unit: str
    kind: str = "integer"
    min: float | None = 0
    max: float | None = None
    required: bool = True

    def describe(self) -> dict:
        name = {"vi": self.vi, "en": self.en}
        bounds = {"min": self.min, "max": self.max, "required": self.required}
        return {"code": self.code, "name": name, "unit": self.unit, "kind": self.kind, **bounds}


@dataclass(frozen=True)
class Rule:
    """A cross-cell check: the `left` row against the sum of the `right` rows; its error is reported on `left`."""

    code: str
    left: str
    relation: str
    right: tuple[str, ...]
    vi: str
    en: str

    @property
    def formula(self) -> str:
        return f"{self.left} {self.relation} {' + '.join(self.right)}"


@dataclass(frozen=True)
class Template:
    """A report table (biểu mẫu): its rows are indicators, its columns periods, checked cell by cell and by rules."""

    code: str
    vi: str
    en: str
    rows: tuple[Row, ...]
    rules: tuple[Rule, ...]
    period: str = "2024"
    deadline: date = date(2025, 1, 15)
    columns: tuple[tuple[str, str, str], ...] = (("2024", "Năm 2024", "2024"),)

    def summary(self) -> dict:
        title = {"vi": self.vi, "en": self.en}
        return {"code": self.code, "title": title, "period": self.period, "deadline": self.deadline.isoformat()}

    def describe(self) -> dict:
        return {
            **self.summary(),
            "columns": [{"code": code, "label": {"vi": vi, "en": en}} for code, vi, en in self.columns],
            "rows": [row.describe() for row in self.rows],
            "rules": [
                {"code": r.code, "row": r.left, "description": {"vi": r.vi, "en": r.en}, "formula": r.formula}
                for r in self.rules
            ],
        }


def _services(code: str, vi: str, en: str) -> Row:
    return Row(code, vi, en, "services")


def _subscriptions(code: str, vi: str, en: str) -> Row:
    return Row(code, vi, en, "subscriptions")


TEMPLATES = (
    Template(
        "BCCDS-DVC-2024",
        "Dịch vụ công trực tuyến năm 2024",
        "Online public services, 2024",
        rows=(
            _services(
                "DVC.01",
                "Số DVCTT toàn trình trên Cổng Dịch vụ công quốc gia",
                "Full online public services on the National Public Service Portal",
            ),
            _services(
                "DVC.02",
                "Số DVCTT một phần trên Cổng Dịch vụ công quốc gia",
                "Partly online public services on the National Public Service Portal",
            ),
            _services(
                "DVC.03",
                "Số DVCTT toàn trình trên Hệ thống thông tin giải quyết TTHC tỉnh",
                "Full online public services on the provincial administrative-procedure system",
            ),
            _services(
                "DVC.04",
                "Số DVCTT một phần trên Hệ thống thông tin giải quyết TTHC tỉnh",
                "Partly online public services on the provincial administrative-procedure system",
            ),
        ),
        rules=(
            Rule(
                "R1",
                "DVC.01",
                "≤",
                ("DVC.03",),
                "Số DVCTT toàn trình trên Cổng Dịch vụ công quốc gia không thể vượt quá số DVCTT toàn trình"
                " trên Hệ thống thông tin giải quyết TTHC tỉnh",
                "Full online services on the national portal cannot exceed those of the provincial system",
            ),
        ),
    ),
    Template(
        "BCCDS-HTVT-2024",
        "Hạ tầng viễn thông và Internet năm 2024",
        "Telecommunications and Internet infrastructure, 2024",
        rows=(
            _subscriptions("HTVT.01", "Tổng số thuê bao điện thoại", "Telephone subscriptions, total"),
            _subscriptions("HTVT.02", "Số thuê bao điện thoại cố định", "Fixed telephone subscriptions"),
            _subscriptions("HTVT.03", "Số thuê bao điện thoại di động", "Mobile telephone subscriptions"),
            _subscriptions(
                "HTVT.04", "Số thuê bao Internet băng rộng cố định", "Fixed broadband Internet subscriptions"
            ),
            Row("HTVT.05", "Tỷ lệ người sử dụng Internet", "Internet users", "%", "number", 0, 200, required=False),
        ),
        rules=(
            Rule(
                "R1",
                "HTVT.01",
                "=",
                ("HTVT.02", "HTVT.03"),
                "Tổng số thuê bao điện thoại bằng số thuê bao cố định cộng số thuê bao di động",
                "Total telephone subscriptions equal fixed plus mobile subscriptions",
            ),
        ),
    ),
)
