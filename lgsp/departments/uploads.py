"""What an uploaded file must be before it becomes a submission: small enough, and a CSV or an
XLSX workbook by its bytes, not only by its name."""

from __future__ import annotations

import io
import os
import zipfile
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
        _unpacked(data, max_bytes)
        return "xlsx"
    if suffix in (".xlsx", ".xlsm"):
        raise Refused(f"'{name}' không phải tệp .xlsx thật / '{name}' is not really an .xlsx workbook")
    if suffix not in (".csv", ".txt"):
        raise Refused(f"chỉ nhận tệp .csv hoặc .xlsx / only .csv and .xlsx files are taken, not '{suffix or name}'")
    head = data[:4096]
    if b"\x00" in head and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise Refused("tệp không phải văn bản CSV / the file is not CSV text")
    return "csv"


UNPACK_FACTOR = 10  # a workbook's sheets may unpack to this many times the upload limit


def _unpacked(data: bytes, max_bytes: int) -> None:
    """A workbook is read whole in memory (a cell costs far more than its bytes in the file), so
    one whose sheets unpack to more than UNPACK_FACTOR times the upload limit is refused before it
    is read: a small file can hold millions of cells, or be a zip bomb."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as book:
            sheets = sum(i.file_size for i in book.infolist() if i.filename.startswith("xl/worksheets/"))
    except zipfile.BadZipFile:
        raise Refused("tệp .xlsx bị hỏng / the .xlsx file is damaged") from None
    if sheets > UNPACK_FACTOR * max_bytes:
        raise Refused(
            f"bảng tính quá lớn khi giải nén ({sheets / 1e6:.0f} MB) / the workbook's sheets unpack to "
            f"{sheets / 1e6:.0f} MB, more than {UNPACK_FACTOR * max_bytes / 1e6:.0f} MB: split it or send CSV"
        )
