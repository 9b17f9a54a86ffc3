"""Department file drops: the ICT indicators as Sở KH&CN staff would send them, and the provincial
office's online-public-service statistics.

The real indicators (`lgsp_sandbox/data/ict_indicators/`) are written the way provincial offices write
them: Vietnamese headers, `9.748` and `103,97`, `hơn 2.000` where the report said "more than",
one province's file saved as Windows-1258 CSV with semicolons, another typed on an old machine in
TCVN3 (ABC), the third an Excel workbook whose indicator names were typed in a .VnTime font and whose
author is still the department's name before the 2025 merger (Sở Thông tin và Truyền thông).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import zipfile
from pathlib import Path

from lgsp_sandbox.departments.ict import csv_path
from lgsp_sandbox.legacy_fonts import encode

HEADERS = ["Tỉnh", "Kỳ báo cáo", "Chỉ tiêu", "Chỉ tiêu (tiếng Anh)", "Giá trị", "Đơn vị", "Tệp nguồn", "Dòng"]
FIELDS = ["province", "period", "indicator_vi", "indicator_en", "value", "unit", "source_file", "line"]
QUALIFIERS = {"('more than')": "hơn", "('nearly')": "gần"}
FILES = {
    "Quang Tri": ("chi_tieu_quang_tri_2024.csv", "windows-1258", ";"),
    "Ha Tinh": ("chi_tieu_ha_tinh_2024.csv", "tcvn3", ","),
    "Lạng Sơn": ("chi_tieu_lang_son_2024.xlsx", None, None),
}


def vietnamese_number(text: str) -> str:
    """'9748' → '9.748', '103.97' → '103,97', '1305471' → '1.305.471'; other text as written."""
    if not re.fullmatch(r"\d+(\.\d+)?", text):
        return text
    whole, _, fraction = text.partition(".")
    grouped = f"{int(whole):,}".replace(",", ".")
    return grouped + ("," + fraction if fraction else "")


def _rows(records: list[dict[str, str]]) -> list[list[str]]:
    out = []
    for record in records:
        value = vietnamese_number(record["value"])
        for marker, word in QUALIFIERS.items():
            if marker in record["indicator_en"]:
                value = f"{word} {value}"
        out.append([value if f == "value" else record[f] for f in FIELDS])
    return out


def _csv_bytes(rows: list[list[str]], encoding: str, delimiter: str) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(HEADERS)
    writer.writerows(rows)
    return encode(buffer.getvalue(), encoding)


def _as_shown(data: bytes) -> str:
    """Legacy-font bytes as Excel stores them: Windows-1252 characters (Latin-1 where 1252 has none)."""
    return "".join(bytes([b]).decode("cp1252", errors="ignore") or chr(b) for b in data)


def _xlsx(path: Path, rows: list[list[str]]) -> None:
    import openpyxl

    book = openpyxl.Workbook()
    book.properties.creator = "Sở Thông tin và Truyền thông"
    book.properties.created = book.properties.modified = dt.datetime(2024, 7, 15, 8, 0)  # same bytes every build
    sheet = book.active
    sheet.title = "Chỉ tiêu"
    sheet.append(HEADERS)
    for row in rows:
        cells: list[object] = list(row)
        # Typed in a .VnTime font: the cell holds TCVN3 bytes shown as Windows-1252 characters.
        cells[2] = _as_shown(encode(row[2], "tcvn3"))
        cells[7] = int(row[7])  # line numbers typed as numbers, values as text
        sheet.append(cells)
    buffer = io.BytesIO()
    book.save(buffer)
    _fixed_zip(buffer.getvalue(), path)


def _fixed_zip(data: bytes, path: Path) -> None:
    """Rewrite a workbook's zip with fixed entry times, so the same seed gives the same bytes."""
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for entry in source.infolist():
            fixed = zipfile.ZipInfo(entry.filename, date_time=(2024, 7, 15, 8, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            data = source.read(entry.filename)
            if entry.filename == "docProps/core.xml":  # openpyxl stamps the save time here
                data = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*", rb"\g<1>2024-07-15T08:00:00Z", data)
            target.writestr(fixed, data)


def drop_ict_files(inbox: Path) -> list[Path]:
    """Write the three provinces' indicator files into the inbox; returns their paths."""
    inbox.mkdir(parents=True, exist_ok=True)
    with csv_path().open(encoding="utf-8", newline="") as handle:
        records = list(csv.DictReader(handle))
    written = []
    for province, (name, encoding, delimiter) in FILES.items():
        rows = _rows([r for r in records if r["province"] == province])
        path = inbox / name
        if encoding is None:
            _xlsx(path, rows)
        else:
            path.write_bytes(_csv_bytes(rows, encoding, delimiter or ","))
        written.append(path)
    return written


OFFICE_HEADERS = ["Tỉnh", "Năm", "Hệ thống", "Mức độ", "Số dịch vụ"]
OFFICE_ROWS = [
    # The office runs the provincial administrative-procedure system and counts its own services. Its
    # count of full online services on the national portal is not the ICT department's 777: the same
    # indicator from two agencies with two values, as the provinces' reports complain.
    ["Quảng Trị", "2024", "Cổng Dịch vụ công quốc gia", "Toàn trình", "781"],
    ["Quảng Trị", "2024", "Cổng Dịch vụ công quốc gia", "Một phần", "207"],
    ["Quảng Trị", "2024", "Hệ thống thông tin giải quyết TTHC tỉnh", "Toàn trình", "1.197"],
    ["Quảng Trị", "2024", "Hệ thống thông tin giải quyết TTHC tỉnh", "Một phần", "562"],
]


def drop_office_files(inbox: Path) -> list[Path]:
    """Write the provincial office's statistics of online public services (CSV UTF-8 as Excel saves it)."""
    inbox.mkdir(parents=True, exist_ok=True)
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(OFFICE_HEADERS)
    writer.writerows(OFFICE_ROWS)
    path = inbox / "dvc_quang_tri_2024.csv"
    path.write_bytes(buffer.getvalue().encode("utf-8-sig"))
    return [path]
