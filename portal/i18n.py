"""The portal's words, Vietnamese first, English second."""

from __future__ import annotations

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
        "rejected": "bị từ chối", "no_reports": "Chưa có báo cáo nào.",
    },
    "en": {
        "site": "Open-data portal", "switch": "Tiếng Việt", "skip": "Skip to main content",
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
        "rejected": "rejected", "no_reports": "No reports yet.",
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


def size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)
