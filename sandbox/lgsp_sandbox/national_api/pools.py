"""Vietnamese content the national datasets are built from: name parts, addresses, document titles, real documents.

Small pools that combine into many records; every string is NFC, as the national systems serve it.
"""

from __future__ import annotations

import unicodedata
from datetime import date

import numpy as np

_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def _nfc(items: list) -> list:
    """Pools typed by hand may hide decomposed accents; normalise once so every served string is NFC."""

    def norm(value: object) -> object:
        if isinstance(value, str):
            return unicodedata.normalize("NFC", value)
        if isinstance(value, tuple):
            return tuple(norm(v) for v in value)
        return value

    return [norm(item) for item in items]


def ascii_upper(text: str) -> str:
    """'HOÀNG PHÁT' -> 'HOANG PHAT', the way English trade names drop Vietnamese accents."""
    plain = unicodedata.normalize("NFD", text.replace("Đ", "D").replace("đ", "d"))
    return "".join(c for c in plain if not unicodedata.combining(c)).upper()


# (legal form, name prefixes by variant, English suffix or None when such firms rarely register one)
FORMS = _nfc(
    [
        ("Công ty TNHH một thành viên", ("CÔNG TY TNHH", "CÔNG TY TNHH MTV", "CÔNG TY TNHH MỘT THÀNH VIÊN", "CÔNG TY TNHH"), "COMPANY LIMITED"),
        ("Công ty TNHH hai thành viên trở lên", ("CÔNG TY TNHH",) * 4, "COMPANY LIMITED"),
        ("Công ty cổ phần", ("CÔNG TY CỔ PHẦN",) * 4, "JOINT STOCK COMPANY"),
        ("Doanh nghiệp tư nhân", ("DOANH NGHIỆP TƯ NHÂN",) * 4, None),
        ("Công ty hợp danh", ("CÔNG TY HỢP DANH",) * 4, "PARTNERSHIP"),
    ]
)  # fmt: skip
FORM_WEIGHTS = np.cumsum([440, 260, 170, 128, 2])
"""Roughly the national mix: limited companies dominate, partnerships are rare."""

STATUSES = _nfc(["Đang hoạt động", "Tạm ngừng kinh doanh", "Đã giải thể", "Không hoạt động tại địa chỉ đã đăng ký"])
STATUS_WEIGHTS = np.cumsum([76, 9, 10, 5])
STATUS_CHANGES: dict[int, list[int]] = {0: [1, 2, 3], 1: [0, 2], 2: [], 3: [0, 2]}
"""Allowed transitions by index into STATUSES; a dissolved enterprise does not come back, only gets corrected."""

SECTORS = _nfc(
    [
        ("THƯƠNG MẠI VÀ DỊCH VỤ", "TRADING AND SERVICES"), ("XÂY DỰNG", "CONSTRUCTION"),
        ("XÂY DỰNG VÀ THƯƠNG MẠI", "CONSTRUCTION AND TRADING"), ("VẬN TẢI", "TRANSPORT"), ("DU LỊCH", "TOURISM"),
        ("ĐẦU TƯ VÀ PHÁT TRIỂN", "INVESTMENT AND DEVELOPMENT"), ("TƯ VẤN THIẾT KẾ", "DESIGN CONSULTING"),
        ("NÔNG NGHIỆP", "AGRICULTURE"), ("THỦY SẢN", "SEAFOOD"), ("LÂM SẢN", "FORESTRY PRODUCTS"),
        ("CHẾ BIẾN GỖ", "WOOD PROCESSING"), ("CÀ PHÊ", "COFFEE"), ("DƯỢC PHẨM", "PHARMACEUTICAL"),
        ("CÔNG NGHỆ", "TECHNOLOGY"), ("NĂNG LƯỢNG", "ENERGY"), ("ĐIỆN GIÓ", "WIND POWER"),
        ("VẬT LIỆU XÂY DỰNG", "CONSTRUCTION MATERIALS"), ("KHOÁNG SẢN", "MINERALS"), ("MÔI TRƯỜNG", "ENVIRONMENT"),
        ("GIÁO DỤC", "EDUCATION"), ("THỰC PHẨM", "FOOD"), ("XĂNG DẦU", "PETROLEUM"), ("KHÁCH SẠN", "HOTEL"),
        ("IN ẤN", "PRINTING"), ("THIẾT BỊ Y TẾ", "MEDICAL EQUIPMENT"), ("CƠ KHÍ", "MECHANICAL ENGINEERING"),
        ("ĐIỆN NƯỚC", "ELECTRICAL AND PLUMBING"), ("NỘI THẤT", "FURNITURE"), ("BẤT ĐỘNG SẢN", "REAL ESTATE"),
        ("DỊCH VỤ NÔNG NGHIỆP", "AGRICULTURAL SERVICES"), ("CAO SU", "RUBBER"), ("HỒ TIÊU", "PEPPER"),
        ("VẬN TẢI BIỂN", "SHIPPING"), ("LOGISTICS", "LOGISTICS"), ("PHẦN MỀM", "SOFTWARE"), ("QUẢNG CÁO", "ADVERTISING"),
    ]
)  # fmt: skip
BRANDS = _nfc(
    "HOÀNG MINH PHÚ THÀNH AN HƯNG THỊNH PHÁT ĐẠT LỘC TÂN NAM VIỆT TRƯỜNG SƠN HẢI QUANG THIÊN KIM NGỌC BẢO GIA "
    "HÒA BÌNH THUẬN LONG VINH HẬU KHANG TÍN NHẬT HUY PHONG TIẾN ĐỨC TRUNG".split()
)
PLACES = _nfc(["", "", "", "", "", " QUẢNG TRỊ", " MIỀN TRUNG", " ĐÔNG HÀ", " QUẢNG BÌNH", " ĐỒNG HỚI", " SÔNG HIẾU", " CỬA VIỆT", " LAO BẢO", " VIỆT NAM"])  # fmt: skip
BRANDS_EN, PLACES_EN = [ascii_upper(b) for b in BRANDS], [ascii_upper(p) for p in PLACES]


def _trades(brands: list[str]) -> list[str]:
    """Every two-word trade name ('HOÀNG PHÁT'), indexed by first * len(brands) + second; no word twice."""
    n = len(brands)
    return [f"{brands[i // n]} {brands[(i % n + (i // n == i % n)) % n]}" for i in range(n * n)]


TRADES, TRADES_EN = _trades(BRANDS), _trades(BRANDS_EN)
# A name is looked up in two tables, not formatted: head = legal-form prefix and sector ('CÔNG TY TNHH XÂY DỰNG '),
# tail = trade name and place ('HOÀNG PHÁT QUẢNG TRỊ'). Half of the sole proprietorships carry no sector.
NAME_HEADS = [
    f"{prefixes[p]} " if suffix is None and p % 2 else f"{prefixes[p]} {sector} "
    for _, prefixes, suffix in FORMS
    for p in range(4)
    for sector, _ in SECTORS
]
NAME_TAILS = [trade + place for trade in TRADES for place in PLACES]
HAS_ENGLISH = np.array([suffix is not None for _, _, suffix in FORMS])


FAMILIES = _nfc("Nguyễn Trần Lê Phạm Hoàng Phan Võ Hồ Đặng Bùi Đỗ Ngô Dương Trương Đoàn Lý Huỳnh Mai Hà Cao".split())
FAMILY_WEIGHTS = np.cumsum([380, 110, 100, 70, 50, 45, 45, 35, 20, 20, 14, 13, 10, 10, 8, 5, 5, 4, 4, 4])
MIDDLE_MEN = _nfc("Văn Văn Đức Minh Hữu Quang Công Thanh Xuân Ngọc Đình Trọng Anh".split())
MIDDLE_WOMEN = _nfc("Thị Thị Thị Ngọc Thu Thanh Minh Hồng Kim Phương Khánh".split())
GIVEN_MEN = _nfc("Hùng Dũng Tuấn Nam Hải Long Thắng Sơn Quân Phong Khoa Hiếu Cường Bình Trung Vinh Tâm Lâm Phúc Hoàng Việt Toàn Lợi Thành".split())  # fmt: skip
GIVEN_WOMEN = _nfc("Lan Hương Hoa Mai Linh Trang Thảo Hà Nga Huyền Yến Vân Anh Dung Thủy Nhung Hạnh Phương Loan Hằng Ngân Oanh".split())  # fmt: skip


PEOPLE = [
    f"{family} {middle} {given}"
    for family in FAMILIES
    for middles, givens in ((MIDDLE_MEN, GIVEN_MEN), (MIDDLE_WOMEN, GIVEN_WOMEN))
    for middle in middles
    for given in givens
]
"""Every full name (family, middle, given), so a record picks one by index instead of formatting it."""
_MEN, _WOMEN = len(MIDDLE_MEN) * len(GIVEN_MEN), len(MIDDLE_WOMEN) * len(GIVEN_WOMEN)


def person_index(family: np.ndarray, middle: np.ndarray, given: np.ndarray) -> np.ndarray:
    """Index into PEOPLE: three in five representatives are men, whose middle and given names differ."""
    men = middle % 5 < 3
    man = (middle >> 3) % len(MIDDLE_MEN) * len(GIVEN_MEN) + given % len(GIVEN_MEN)
    woman = _MEN + (middle >> 3) % len(MIDDLE_WOMEN) * len(GIVEN_WOMEN) + given % len(GIVEN_WOMEN)
    return family * (_MEN + _WOMEN) + np.where(men, man, woman)


STREETS = _nfc(
    "Lê Duẩn,Hùng Vương,Trần Hưng Đạo,Quang Trung,Nguyễn Huệ,Lê Lợi,Lý Thường Kiệt,Hàm Nghi,Trần Phú,Nguyễn Trãi,"
    "Phan Bội Châu,Hai Bà Trưng,Lê Thánh Tông,Nguyễn Du,Điện Biên Phủ,Hữu Nghị,Lý Thái Tổ,Tôn Đức Thắng,"
    "Nguyễn Hữu Cảnh,Quốc lộ 9,Quốc lộ 1,Trường Chinh,Võ Nguyên Giáp,Đặng Dung,Hoàng Diệu".split(",")
)
HAMLETS = _nfc(
    "Đông,Tây,Trung,Phú Hưng,An Lợi,Mỹ Thủy,Tân Định,Bích La,Lập Thạch,Hà Thượng,Vinh Quang,Cam Lộ,Phước Mỹ,"
    "Thượng Nghĩa,Hạ Nghĩa,Xuân Mỹ,Đại Hòa,Tân Phong,Lương Điền,An Thái".split(",")
)
INDUSTRIAL_PARKS = _nfc(["Khu công nghiệp Nam Đông Hà", "Khu công nghiệp Quán Ngang", "Khu công nghiệp Tây Bắc Đồng Hới", "Khu kinh tế Đông Nam Quảng Trị"])  # fmt: skip
WARD_WEIGHT = {"Phường": 30, "Xã": 2, "Đặc khu": 1}
"""Businesses cluster in the towns' wards (phường); rural communes (xã) hold far fewer."""


def street(kind: str, draw: int) -> str:
    """The part of an address below the ward: a house on a street in a phường, a hamlet (thôn) in a xã."""
    number, shape = 1 + (draw >> 6) % 350, draw % 16
    if kind == "Phường" or shape == 15:
        road = STREETS[(draw >> 16) % len(STREETS)]
        if shape < 3:
            return f"Số {number}/{2 + (draw >> 24) % 40} {road}"
        if shape == 3:
            return f"Lô {'ABCD'[(draw >> 24) % 4]}{number % 60 + 1}, {INDUSTRIAL_PARKS[(draw >> 26) % 4]}"
        return f"Số {number} {road}"
    hamlet = HAMLETS[(draw >> 16) % len(HAMLETS)]
    return f"Thôn {(draw >> 24) % 12 + 1}" if shape < 4 else f"Thôn {hamlet}"


STREETS_URBAN = [street("Phường", (k * 0x9E3779B97F4A7C15 & (1 << 64) - 1) >> 20) for k in range(8192)]
STREETS_RURAL = [street("Xã", (k * 0x9E3779B97F4A7C15 & (1 << 64) - 1) >> 20) for k in range(512)]
"""Addresses below the ward, drawn once: a record picks one, so 1M records do not format 1M strings."""


def json_safe(strings: list[str]) -> list[str]:
    """Pool strings are spliced into JSON unescaped, so they must need no escaping. Raises ValueError."""
    for text in strings:
        if any(c in text for c in '"\\') or any(ord(c) < 0x20 for c in text):
            raise ValueError(f"pool string needs JSON escaping: {text!r}")
    return strings


def day(days: int) -> str:
    """ISO date of days since 1970-01-01."""
    return date.fromordinal(_EPOCH_ORDINAL + days).isoformat()


# Provincial normative documents: (kind suffix, field, title template, first year it makes sense). {tinh}: 'tỉnh Quảng Trị'; {so}: a department;
# {nam}: a year; {gd}: a five-year plan period; {nk}: a council term; {nh}: a school year; {ref}: an earlier decision of the same issuer.
DOCUMENT_TEMPLATES = _nfc(
    [
        ("QĐ", "Đất đai", "Ban hành Bảng giá đất trên địa bàn {tinh} giai đoạn {gd}", 0),
        ("QĐ", "Đất đai", "Quy định hệ số điều chỉnh giá đất năm {nam} trên địa bàn {tinh}", 0),
        ("QĐ", "Đất đai", "Quy định hạn mức giao đất ở, hạn mức công nhận đất ở trên địa bàn {tinh}", 0),
        ("QĐ", "Bộ máy hành chính", "Quy định chức năng, nhiệm vụ, quyền hạn và cơ cấu tổ chức của {so} {tinh}", 0),
        ("QĐ", "Bộ máy hành chính", "Ban hành Quy chế làm việc của Ủy ban nhân dân {tinh} nhiệm kỳ {nk}", 0),
        ("QĐ", "Công nghệ thông tin", "Ban hành Quy chế quản lý, vận hành, khai thác Nền tảng tích hợp, chia sẻ dữ liệu {tinh}", 2019),
        ("QĐ", "Công nghệ thông tin", "Ban hành Danh mục dữ liệu mở của cơ quan nhà nước {tinh} năm {nam}", 2021),
        ("QĐ", "Công nghệ thông tin", "Ban hành Quy chế bảo đảm an toàn thông tin mạng trong hoạt động của cơ quan nhà nước {tinh}", 2017),
        ("QĐ", "Công nghệ thông tin", "Quy định quản lý, sử dụng chữ ký số, chứng thư số trong cơ quan nhà nước {tinh}", 2015),
        ("QĐ", "Giao thông vận tải", "Quy định tải trọng, khổ giới hạn của đường bộ địa phương trên địa bàn {tinh}", 0),
        ("QĐ", "Giao thông vận tải", "Quy định giá cước vận chuyển hành khách bằng xe buýt trên địa bàn {tinh}", 0),
        ("QĐ", "Xây dựng", "Quy định phân cấp quản lý chất lượng công trình xây dựng trên địa bàn {tinh}", 0),
        ("QĐ", "Tài nguyên - Môi trường", "Quy định quản lý chất thải rắn sinh hoạt trên địa bàn {tinh}", 0),
        ("QĐ", "Tài nguyên - Môi trường", "Ban hành Quy chế phối hợp quản lý hoạt động khoáng sản trên địa bàn {tinh}", 0),
        ("QĐ", "Thương mại", "Ban hành Quy chế quản lý cụm công nghiệp trên địa bàn {tinh}", 0),
        ("QĐ", "Y tế", "Quy định giá dịch vụ khám bệnh, chữa bệnh tại các cơ sở y tế công lập thuộc {tinh}", 0),
        ("QĐ", "Nông nghiệp", "Quy định mức hỗ trợ phát triển sản xuất nông nghiệp trên địa bàn {tinh} giai đoạn {gd}", 0),
        ("QĐ", "Văn hóa - Xã hội", "Quy định về quản lý hoạt động lễ hội trên địa bàn {tinh}", 0),
        ("QĐ", "Tài chính nhà nước", "Quy định phân cấp quản lý, sử dụng tài sản công thuộc phạm vi quản lý của {tinh}", 0),
        ("QĐ", "Bộ máy hành chính", "Bãi bỏ Quyết định số {ref} của Ủy ban nhân dân {tinh}", 0),
        ("NQ", "Thuế - Phí - Lệ phí", "Quy định mức thu, miễn, giảm, quản lý và sử dụng phí tham quan di tích trên địa bàn {tinh}", 0),
        ("NQ", "Thuế - Phí - Lệ phí", "Quy định mức thu lệ phí đăng ký cư trú trên địa bàn {tinh}", 0),
        ("NQ", "Giáo dục", "Quy định mức thu học phí đối với cơ sở giáo dục công lập trên địa bàn {tinh} {nh}", 0),
        ("NQ", "Tài chính nhà nước", "Quy định phân cấp nguồn thu, nhiệm vụ chi giữa các cấp ngân sách {tinh} giai đoạn {gd}", 0),
        ("NQ", "Tài chính nhà nước", "Quy định định mức phân bổ dự toán chi thường xuyên ngân sách địa phương {tinh} năm {nam}", 0),
        ("NQ", "Lao động - Tiền lương", "Quy định chính sách hỗ trợ người lao động đi làm việc ở nước ngoài theo hợp đồng, {tinh}", 0),
        ("NQ", "Y tế", "Quy định chính sách hỗ trợ đóng bảo hiểm y tế cho một số đối tượng trên địa bàn {tinh}", 0),
        ("CT", "Công nghệ thông tin", "Về đẩy mạnh chuyển đổi số trên địa bàn {tinh} năm {nam}", 2020),
        ("CT", "Tài nguyên - Môi trường", "Về tăng cường công tác quản lý nhà nước về tài nguyên nước trên địa bàn {tinh}", 0),
        ("CT", "Giao thông vận tải", "Về tăng cường bảo đảm trật tự, an toàn giao thông trên địa bàn {tinh}", 0),
        ("CT", "Bộ máy hành chính", "Về tăng cường kỷ luật, kỷ cương hành chính trong cơ quan nhà nước {tinh}", 0),
    ]
)  # fmt: skip
DEPARTMENTS_LEGACY = _nfc(["Sở Tài nguyên và Môi trường", "Sở Thông tin và Truyền thông", "Sở Giao thông vận tải", "Sở Kế hoạch và Đầu tư", "Sở Lao động - Thương binh và Xã hội", "Sở Tài chính", "Sở Y tế"])  # fmt: skip
DEPARTMENTS_2025 = _nfc(["Sở Nông nghiệp và Môi trường", "Sở Khoa học và Công nghệ", "Sở Xây dựng", "Sở Tài chính", "Sở Nội vụ", "Sở Y tế", "Sở Giáo dục và Đào tạo"])  # fmt: skip


QH, CP, BTTTT = ({"code": c, "name": n} for c, n in [("QH", "Quốc hội"), ("CP", "Chính phủ"), ("BTTTT", "Bộ Thông tin và Truyền thông")])  # fmt: skip
IN_FORCE, PARTLY_EXPIRED, EXPIRED, NOT_YET = (
    "Còn hiệu lực",
    "Hết hiệu lực một phần",
    "Hết hiệu lực toàn bộ",
    "Chưa có hiệu lực",
)
# Real national documents the hub lives under (DOMAIN.md): number, type, issuer, signed, effective from, to,
# status, title, fields, last change. 278/2025's effective date is not verified: its signing date stands in.
REAL_DOCUMENTS = [
    ("13/2017/TT-BTTTT", "Thông tư", BTTTT, "2017-06-23", "2017-08-15", None, IN_FORCE, "Quy định các yêu cầu kỹ thuật về kết nối các hệ thống thông tin, cơ sở dữ liệu với cơ sở dữ liệu quốc gia", ["Công nghệ thông tin"], "2017-08-15"),
    ("47/2020/NĐ-CP", "Nghị định", CP, "2020-04-09", "2020-05-25", None, PARTLY_EXPIRED, "Về quản lý, kết nối và chia sẻ dữ liệu số của cơ quan nhà nước", ["Công nghệ thông tin", "Bộ máy hành chính"], "2025-08-19"),
    ("59/2020/QH14", "Luật", QH, "2020-06-17", "2021-01-01", None, IN_FORCE, "Luật Doanh nghiệp", ["Doanh nghiệp"], "2021-01-01"),
    ("13/2023/NĐ-CP", "Nghị định", CP, "2023-04-17", "2023-07-01", "2026-01-01", EXPIRED, "Bảo vệ dữ liệu cá nhân", ["Công nghệ thông tin", "Quyền dân sự"], "2026-01-01"),
    ("20/2023/QH15", "Luật", QH, "2023-06-22", "2024-07-01", None, IN_FORCE, "Luật Giao dịch điện tử", ["Công nghệ thông tin", "Thương mại"], "2024-07-01"),
    ("60/2024/QH15", "Luật", QH, "2024-11-30", "2025-07-01", None, IN_FORCE, "Luật Dữ liệu", ["Công nghệ thông tin"], "2025-07-01"),
    ("202/2025/QH15", "Nghị quyết", QH, "2025-06-12", "2025-06-12", None, IN_FORCE, "Về việc sắp xếp đơn vị hành chính cấp tỉnh", ["Bộ máy hành chính"], "2025-06-12"),
    ("91/2025/QH15", "Luật", QH, "2025-06-26", "2026-01-01", None, IN_FORCE, "Luật Bảo vệ dữ liệu cá nhân", ["Công nghệ thông tin", "Quyền dân sự"], "2026-01-01"),
    ("194/2025/NĐ-CP", "Nghị định", CP, "2025-07-03", "2025-08-19", None, IN_FORCE, "Quy định chi tiết một số điều của Luật Giao dịch điện tử về cơ sở dữ liệu quốc gia, kết nối và chia sẻ dữ liệu, dữ liệu mở phục vụ giao dịch điện tử của cơ quan nhà nước", ["Công nghệ thông tin", "Bộ máy hành chính"], "2025-08-19"),
    ("278/2025/NĐ-CP", "Nghị định", CP, "2025-10-22", "2025-10-22", None, IN_FORCE, "Quy định về kết nối, chia sẻ dữ liệu bắt buộc giữa các cơ quan thuộc hệ thống chính trị", ["Công nghệ thông tin", "Bộ máy hành chính"], "2025-10-22"),
]  # fmt: skip
