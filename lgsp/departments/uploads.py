"""What an uploaded file must be before it becomes a submission: small enough, and a CSV or an
XLSX workbook by its bytes, not only by its name."""

from __future__ import annotations

import os
from pathlib import PurePath

DEFAULT_LIMIT = 20 * 1024 * 1024  # bytes; LGSP_UPLOAD_LIMIT changes it
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # the binary .xls of Excel 97–2003 (and .doc)
_ZIP = b"PK\x03\x04"


class Refused(ValueError):
    """The upload is refused before it is kept; the message says why (vi / en)."""


def limit() -> int:
    text = os.environ.get("LGSP_UPLOAD_LIMIT", "")
    return int(text) if text.isdigit() else DEFAULT_LIMIT


def check(name: str, data: bytes, max_bytes: int | None = None) -> str:
    """The file's kind (`csv` or `xlsx`), or Refused naming what is wrong."""
    max_bytes = max_bytes or limit()
    suffix = PurePath(name).suffix.lower()
    if not data:
        raise Refused("tệp trống / the file is empty")
    if len(data) > max_bytes:
        raise Refused(
            f"tệp quá lớn ({len(data) / 1e6:.1f} MB, tối đa {max_bytes / 1e6:.0f} MB) / "
            f"the file is too large ({len(data) / 1e6:.1f} MB; at most {max_bytes / 1e6:.0f} MB)"
        )
    if data.startswith(_OLE):
        raise Refused(
            "tệp Excel 97–2003 (.xls): hãy lưu lại dưới dạng .xlsx / an Excel 97–2003 file (.xls): "
            "save it as .xlsx and upload it again"
        )
    if data.startswith(_ZIP):
        if suffix not in (".xlsx", ".xlsm"):
            raise Refused(f"tệp nén không phải bảng tính .xlsx / a zip archive named '{name}' is not an .xlsx workbook")
        return "xlsx"
    if suffix in (".xlsx", ".xlsm"):
        raise Refused(f"'{name}' không phải tệp .xlsx thật / '{name}' is not really an .xlsx workbook")
    if suffix not in (".csv", ".txt"):
        raise Refused(f"chỉ nhận tệp .csv hoặc .xlsx / only .csv and .xlsx files are taken, not '{suffix or name}'")
    head = data[:4096]
    if b"\x00" in head and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise Refused("tệp không phải văn bản CSV / the file is not CSV text")
    return "csv"
