"""The portal's words, Vietnamese first, English second."""

from __future__ import annotations

import datetime as dt
from typing import Any

FREQUENCIES = {
    "vi": {
        "continuous": "liên tục", "hourly": "hằng giờ", "daily": "hằng ngày", "weekly": "hằng tuần",
        "monthly": "hằng tháng", "quarterly": "hằng quý", "semiannual": "6 tháng một lần", "annual": "hằng năm",
        "irregular": "không định kỳ",
    },
    "en": {
        "continuous": "continuous", "hourly": "hourly", "daily": "daily", "weekly": "weekly", "monthly": "monthly",
        "quarterly": "quarterly", "semiannual": "every 6 months", "annual": "annual", "irregular": "irregular",
    },
}  # fmt: skip

TEXTS: dict[str, dict[str, Any]] = {
    "vi": {
        "site": "Cổng dữ liệu mở", "switch": "English", "skip": "Bỏ qua, đến nội dung chính",
        "error_status": "Mã lỗi HTTP", "error_home": "Về trang danh mục dữ liệu",
        "error_400": "Yêu cầu không hợp lệ", "error_401": "Cần đăng nhập", "error_404": "Không tìm thấy trang",
        "error_405": "Phương thức không được phép", "error_409": "Giá trị không hợp lệ",
        "error_500": "Lỗi máy chủ", "error_503": "Tạm thời chưa phục vụ được, xin thử lại sau",
        "catalogue": "Danh mục dữ liệu mở", "search": "Tìm kiếm", "search_label": "Tìm bộ dữ liệu",
        "search_placeholder": "Tìm bộ dữ liệu, ví dụ: giá cả, trường học…", "filters": "Bộ lọc",
        "found": "{count} bộ dữ liệu", "publisher": "Cơ quan công bố", "theme": "Chủ đề", "format": "Định dạng",
        "frequency": "Tần suất cập nhật", "licence": "Giấy phép", "updated": "Cập nhật lần cuối",
        "compliance": "Nghị định 47", "quality": "Chất lượng", "report": "báo cáo kiểm tra",
        "downloads": "Tải xuống", "size": "Dung lượng", "preview": "Xem trước",
        "rows_of": "Dòng {first}–{last} trên {total}", "pages": "Trang", "prev": "Trang trước", "next": "Trang sau",
        "history": "Các phiên bản", "rows": "dòng", "no_report": "chưa có báo cáo", "formerly": "trước đây",
        "q_published": "{n} dòng được công bố", "q_quarantined": "{n} dòng bị cách ly",
        "q_warned": "{n} dòng có cảnh báo", "q_rejected": "{n} dòng trong tệp bị từ chối",
        "q_checks": "đạt {passed}/{total} kiểm tra", "derived_from": "Tính từ",
        "reports": "Báo cáo chỉ tiêu", "version": "phiên bản", "cells": "{n} ô số liệu",
        "reports_intro": "Các biểu báo cáo của tỉnh, tính từ dữ liệu các sở gửi; mỗi ô ghi rõ nguồn.",
        "disputed_cells": "{n} ô đang có hai số liệu khác nhau",
        "disputed_help": "Sở chủ quản chưa xác định số liệu; các nguồn được nêu trong ô.",
        "latest_version": "xem phiên bản mới nhất", "sent": "Đã gửi hệ thống báo cáo", "accepted": "được chấp nhận",
        "rejected": "bị từ chối", "no_reports": "Chưa có báo cáo nào.", "not_sent": "không gửi được",
        "dictionary": "Từ điển dữ liệu", "column": "Cột", "description": "Mô tả", "type": "Kiểu", "unit": "Đơn vị",
        "nullable": "Được để trống", "yes": "có", "no": "không",
        "types": {"string": "văn bản", "integer": "số nguyên", "number": "số", "boolean": "đúng/sai",
                  "date": "ngày", "timestamp": "ngày giờ"},
        "filter": "Lọc", "filter_text": "Chứa từ", "filter_column": "Cột", "filter_value": "bằng giá trị",
        "apply": "Áp dụng", "clear": "Bỏ lọc", "sort_by": "Sắp xếp theo {col}", "sorted_asc": "tăng dần",
        "sorted_desc": "giảm dần", "any_column": "(mọi cột)", "no_rows": "Không có dòng nào khớp.",
        "charts": "Biểu đồ", "chart_time": "{measure} theo {time}", "chart_bars": "{measure} theo {category}",
        "agg_avg": "trung bình", "agg_sum": "tổng", "chart_for": "Chỉ tính {column} = {value}",
        "chart_choose": "Chọn", "measure": "Đại lượng", "show": "Hiển thị", "chart_top": "{n} nhóm lớn nhất",
        "examples": "Cách gọi dữ liệu",
        "example_curl": "API CKAN (datastore_search) bằng curl", "example_ckanapi": "Python với ckanapi",
        "example_pandas": "Python với pandas (tệp CSV)", "example_duckdb": "DuckDB trên tệp Parquet",
        "added": "thêm {n}", "removed": "bớt {n}", "changed": "sửa {n}", "first_release": "phiên bản đầu tiên",
        "columns_changed": "đổi cột", "not_compared": "không so sánh được với phiên bản trước", "feed": "Theo dõi thay đổi (Atom)", "feed_catalogue": "Các phiên bản mới của cổng dữ liệu mở",
        "release_title": "{title}: phiên bản {version}", "release_summary": "{rows} dòng; so với phiên bản trước: {diff}",
        "map": "Bản đồ", "map_place": "Vị trí", "map_places": "{n} vị trí theo tọa độ của bộ dữ liệu",
        "map_values": "{measure} (trung bình) tại {n} trạm", "map_above": "Trung bình không đạt giới hạn cho phép",
        "map_within": "Trung bình đạt giới hạn cho phép", "map_no_value": "không có số liệu",
        "map_mean": "trung bình", "map_limit": "giới hạn", "map_limit_min": "giới hạn tối thiểu", "map_readings": "{n} lần đo", "map_from": "Tọa độ từ",
    },
    "en": {
        "site": "Open-data portal", "switch": "Tiếng Việt", "skip": "Skip to main content",
        "error_status": "HTTP status", "error_home": "Back to the data catalogue",
        "error_400": "Bad request", "error_401": "Login needed", "error_404": "Page not found",
        "error_405": "Method not allowed", "error_409": "Invalid value",
        "error_500": "Server error", "error_503": "Unavailable for now; please try again later",
        "catalogue": "Open-data catalogue", "search": "Search", "search_label": "Search datasets",
        "search_placeholder": "Search datasets, e.g. prices, schools…", "filters": "Filters",
        "found": "{count} datasets", "publisher": "Publisher", "theme": "Theme", "format": "Format",
        "frequency": "Update frequency", "licence": "Licence", "updated": "Last updated",
        "compliance": "Decree 47", "quality": "Quality", "report": "validation report",
        "downloads": "Downloads", "size": "Size", "preview": "Preview",
        "rows_of": "Rows {first}–{last} of {total}", "pages": "Pages", "prev": "Previous", "next": "Next",
        "history": "Releases", "rows": "rows", "no_report": "no report yet", "formerly": "formerly",
        "derived_from": "Computed from",
        "q_published": "{n} rows published", "q_quarantined": "{n} quarantined",
        "q_warned": "{n} warned", "q_rejected": "{n} in rejected files",
        "q_checks": "{passed} of {total} checks passed",
        "reports": "Indicator reports", "version": "version", "cells": "{n} cells",
        "reports_intro": "The province's report tables, computed from what the departments sent; every cell names its sources.",
        "disputed_cells": "{n} cells where the sources disagree",
        "disputed_help": "The owning department has not decided yet; the cell shows each source's value.",
        "latest_version": "see the latest version", "sent": "Sent to the reporting system", "accepted": "accepted",
        "rejected": "rejected", "no_reports": "No reports yet.", "not_sent": "could not be sent",
        "dictionary": "Data dictionary", "column": "Column", "description": "Description", "type": "Type", "unit": "Unit",
        "nullable": "May be empty", "yes": "yes", "no": "no",
        "types": {"string": "text", "integer": "integer", "number": "number", "boolean": "true/false",
                  "date": "date", "timestamp": "date and time"},
        "filter": "Filter", "filter_text": "Containing", "filter_column": "Column", "filter_value": "equal to",
        "apply": "Apply", "clear": "Clear filters", "sort_by": "Sort by {col}", "sorted_asc": "ascending",
        "sorted_desc": "descending", "any_column": "(any column)", "no_rows": "No rows match.",
        "charts": "Charts", "chart_time": "{measure} by {time}", "chart_bars": "{measure} by {category}",
        "agg_avg": "mean", "agg_sum": "total", "chart_for": "Only {column} = {value}",
        "chart_choose": "Choose", "measure": "Measure", "show": "Show", "chart_top": "the {n} largest groups",
        "examples": "Example calls",
        "example_curl": "The CKAN API (datastore_search) with curl", "example_ckanapi": "Python with ckanapi",
        "example_pandas": "Python with pandas (the CSV file)", "example_duckdb": "DuckDB over the Parquet file",
        "added": "{n} added", "removed": "{n} removed", "changed": "{n} changed", "first_release": "first release",
        "columns_changed": "columns changed", "not_compared": "cannot be compared with the previous release", "feed": "Follow changes (Atom)", "feed_catalogue": "New releases of the open-data portal",
        "release_title": "{title}: release {version}", "release_summary": "{rows} rows; against the previous release: {diff}",
        "map": "Map", "map_place": "Location", "map_places": "{n} locations from the dataset's coordinates",
        "map_values": "{measure} (mean) at {n} stations", "map_above": "Mean outside the allowed limit",
        "map_within": "Mean within the allowed limit", "map_no_value": "no readings",
        "map_mean": "mean", "map_limit": "limit", "map_limit_min": "minimum", "map_readings": "{n} readings", "map_from": "Coordinates from",
    },
}  # fmt: skip


SEARCH_TEXTS: dict[str, dict[str, Any]] = {
    "vi": {
        "classification": "Phân loại", "sort": "Sắp xếp", "relevance": "Phù hợp nhất", "newest": "Mới cập nhật",
        "name": "Tên (A–Z)", "apply": "Áp dụng",
        "classifications": {"open": "Dữ liệu mở", "shared": "Dữ liệu dùng chung", "restricted": "Hạn chế"},
    },
    "en": {
        "classification": "Classification", "sort": "Sort by", "relevance": "Relevance", "newest": "Newest",
        "name": "Name (A–Z)", "apply": "Apply",
        "classifications": {"open": "Open data", "shared": "Shared", "restricted": "Restricted"},
    },
}  # fmt: skip


def texts(lang: str) -> dict[str, Any]:
    return {**TEXTS[lang], **SEARCH_TEXTS[lang], "frequencies": FREQUENCIES[lang]}


def size(n: int, lang: str = "en") -> str:
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{number(value, lang, 0 if unit == 'B' else 1)} {unit}"
        value /= 1024
    return str(n)


def number(value: float | int | None, lang: str, digits: int | None = None) -> str:
    """1.234.567,5 in Vietnamese, 1,234,567.5 in English; integers without decimals."""
    if value is None:
        return ""
    if digits is None:
        digits = 0 if float(value).is_integer() else 2
    text = f"{value:,.{digits}f}"
    if digits:
        text = text.rstrip("0").rstrip(".")
    return text.translate(str.maketrans(",.", ".,")) if lang == "vi" else text


def date(value: dt.date | None, lang: str) -> str:
    """07/12/2026 in Vietnamese, 7 Dec 2026 in English."""
    if value is None:
        return ""
    return f"{value:%d/%m/%Y}" if lang == "vi" else f"{value.day} {value:%b %Y}"


def datetime(value: dt.datetime | None, lang: str) -> str:
    """07/12/2026 08:14 in Vietnamese, 7 Dec 2026 08:14 in English."""
    if value is None:
        return ""
    return f"{date(value, lang)} {value:%H:%M}"
