"""The driving-licence register of Sở Xây dựng (Sở GTVT's until the 2025 merger; personal data: names, CCCD
numbers, birth dates)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime

import numpy as np
import pyarrow as pa
from faker import Faker

from lgsp_sandbox import dirt
from lgsp_sandbox.common import BUILD, DIRT, date_text, days, faker, rng, seconds, timestamp_text
from lgsp_sandbox.schema import TABLES
from lgsp_sandbox.units import Commune, communes

DEPARTMENT = 3
SPEC = TABLES["driving_licences"]
ROWS = 3_000
TODAY = date(2025, 12, 15)
FIRST_ISSUE = date(2015, 1, 1)

# Classes of the Road Traffic Order and Safety Law 2024 (in force 1 Jan 2025), with a plausible share of holders.
CLASSES: dict[str, float] = {
    "A1": 0.42, "A": 0.10, "B1": 0.02, "B": 0.28, "C1": 0.07, "C": 0.05, "D1": 0.01, "D2": 0.01, "D": 0.015,
    "BE": 0.005, "C1E": 0.005, "CE": 0.01, "D1E": 0.0025, "D2E": 0.0025, "DE": 0.0025,
}  # fmt: skip
VALID_YEARS: dict[str, int | None] = {"A1": None, "A": None, "B1": None, "B": 10, "C1": 10}
"""Motorcycle classes never expire; B and C1 last 10 years, every other class 5 years."""

SURNAMES: dict[str, float] = {
    "Nguyễn": 0.38, "Trần": 0.11, "Lê": 0.095, "Phạm": 0.07, "Hoàng": 0.05, "Phan": 0.045, "Võ": 0.039,
    "Đặng": 0.021, "Bùi": 0.02, "Đỗ": 0.014, "Hồ": 0.013, "Ngô": 0.013, "Dương": 0.01, "Lý": 0.005,
    "Trương": 0.01, "Đoàn": 0.008, "Mai": 0.006, "Lương": 0.005,
}  # fmt: skip
MIDDLE_MALE = ("Văn", "Đức", "Minh", "Quang", "Hữu", "Công", "Thanh", "Xuân", "Đình", "Ngọc")
MIDDLE_FEMALE = ("Thị", "Thị", "Ngọc", "Thu", "Thanh", "Minh", "Hồng", "Kim", "Phương", "Diệu")
GIVEN_MALE = ("Hùng", "Dũng", "Tuấn", "Long", "Hải", "Sơn", "Thắng", "Cường", "Phong", "Tài", "Lâm", "Hiếu")
GIVEN_FEMALE = ("Hà", "Trang", "Nhung", "Thủy", "Hoa", "Loan", "Huyền", "Phương", "Nga", "Tâm", "Oanh", "Hạnh")
# CCCD birth-place prefixes: mostly the two old provinces merged into Quảng Trị, some born elsewhere.
BIRTH_PROVINCES: dict[str, float] = {
    "045": 0.48, "044": 0.37, "042": 0.03, "040": 0.03, "046": 0.03, "048": 0.02, "038": 0.01, "001": 0.015,
    "079": 0.015,
}  # fmt: skip


def _weighted(table: dict[str, float]) -> tuple[list[str], np.ndarray]:
    p = np.array(list(table.values()))
    return list(table), p / p.sum()


def _full_names(g: np.random.Generator, fake: Faker, male: np.ndarray) -> list[str]:
    """'Họ Đệm Tên' with real surname frequencies; half the given names come from Faker's vi_VN pool."""
    surnames, p = _weighted(SURNAMES)
    family = g.choice(len(surnames), size=len(male), p=p)
    out = []
    for i, is_male in enumerate(male.tolist()):
        middles, pool = (MIDDLE_MALE, GIVEN_MALE) if is_male else (MIDDLE_FEMALE, GIVEN_FEMALE)
        middle = middles[int(g.integers(len(middles)))]
        given = middle
        while given == middle:
            if g.random() < 0.5:
                given = fake.first_name_male() if is_male else fake.first_name_female()
            else:
                given = pool[int(g.integers(len(pool)))]
        out.append(f"{surnames[family[i]]} {middle} {given}")
    return out


def _licences(
    g: np.random.Generator, fake: Faker, n: int, issue_from: date, issue_to: date, taken: set[str], units: list[Commune]
) -> pa.Table:
    """n licences issued between two dates, with licence and CCCD numbers not in `taken`."""
    weight = np.array([3.0 if u.kind == "Phường" else 0.1 if u.kind == "Đặc khu" else 1.0 for u in units])
    where = g.choice(len(units), size=n, p=weight / weight.sum())
    male = g.random(n) < 0.65
    age_days = (g.beta(1.6, 2.6, size=n) * (75 - 18) + 18) * 365.25
    issue_lo, issue_hi = days(issue_from), days(issue_to)
    issued = issue_lo + g.integers(0, issue_hi - issue_lo + 1, size=n)
    born = (days(TODAY) - age_days).astype(np.int64)
    born = np.minimum(born, issued - int(18 * 365.25) - 1)  # old enough on the day of issue
    classes, cp = _weighted(CLASSES)
    klass = g.choice(len(classes), size=n, p=cp)
    years = np.array([VALID_YEARS.get(c, 5) or 0 for c in classes])[klass]
    expires = np.where(years > 0, issued + np.round(years * 365.25).astype(np.int64), 0)
    birth_year = born.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970
    issue_year = issued.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970
    prefixes, bp = _weighted(BIRTH_PROVINCES)
    birth_prov = np.array(prefixes)[g.choice(len(prefixes), size=n, p=bp)]
    local = np.array([u.legacy_province_code == "44" for u in units])[where]
    birth_prov = np.where(np.isin(birth_prov, ["044", "045"]), np.where(local, "044", "045"), birth_prov)
    licence_nos, citizen_ids = [], []
    for i in range(n):
        century_sex = (0 if birth_year[i] < 2000 else 2) + (0 if male[i] else 1)
        while True:
            cid = f"{birth_prov[i]}{century_sex}{birth_year[i] % 100:02d}{int(g.integers(0, 1_000_000)):06d}"
            lic = f"{units[where[i]].legacy_province_code}{issue_year[i] % 100:02d}{int(g.integers(0, 10**8)):08d}"
            if cid not in taken and lic not in taken:
                taken.update((cid, lic))
                break
        citizen_ids.append(cid)
        licence_nos.append(lic)
    names = _full_names(g, fake, male)
    entered = issued * 86_400 + g.integers(7 * 3600 + 1800, 17 * 3600, size=n)
    expires_text = date_text(expires)
    cols = {
        "licence_no": pa.array(licence_nos),
        "citizen_id": pa.array(citizen_ids),
        "full_name": pa.array(names),
        "birth_date": date_text(born),
        "licence_class": pa.array(classes).take(pa.array(klass)),
        "issued_on": date_text(issued),
        "expires_on": pa.array(expires_text.to_pylist(), mask=years == 0, type=pa.string()),
        "commune_code": pa.array([u.code for u in units]).take(pa.array(where)),
        "commune_name": pa.array([u.name for u in units]).take(pa.array(where)),
        "updated_at": timestamp_text(entered),
    }
    return pa.table(cols, schema=SPEC.arrow_schema)


def generate(seed: int, *, scale: int, dirty_share: float) -> Iterator[pa.Table]:
    """Licences issued since 2015 to residents, one block; `scale` does not apply."""
    del scale
    g, fake = rng(seed, DEPARTMENT, BUILD), faker(seed, DEPARTMENT, BUILD)
    table = _licences(g, fake, ROWS, FIRST_ISSUE, TODAY, set(), communes())
    order = np.lexsort(
        (
            table.column("licence_no").to_numpy(zero_copy_only=False),
            table.column("updated_at").to_numpy(zero_copy_only=False),
        )
    )
    table = table.take(pa.array(order))
    d = rng(seed, DEPARTMENT, DIRT)
    rows = dirt.pick(d, table.num_rows, dirty_share, dirt.KINDS)
    table = dirt.nulls(table, "full_name", rows["null"])
    issued = [date.fromisoformat(t) for t in table.column("issued_on").take(pa.array(rows["out_of_range"])).to_pylist()]
    born_later = [date.fromordinal(t.toordinal() + int(d.integers(30, 3650))).isoformat() for t in issued]
    table = dirt.replace(table, "birth_date", rows["out_of_range"], born_later)  # born after the licence was issued
    table = dirt.duplicate_keys(table, "licence_no", rows["duplicate_key"], d)
    table = dirt.bad_dates(table, "issued_on", rows["bad_date"])
    table = dirt.nfd(table, ["full_name", "commune_name"], rows["nfd"])
    yield table


def added(g: np.random.Generator, fake: Faker, n: int, after: datetime, taken: set[str]) -> pa.Table:
    """n licences issued on the day of `after` and entered after it; licence and CCCD numbers avoid `taken`."""
    day = after.date()
    table = _licences(g, fake, n, day, day, taken, communes())
    entered = seconds(after) + 1 + np.sort(g.integers(0, 86_400, size=n))
    return table.set_column(SPEC.column_names.index("updated_at"), "updated_at", timestamp_text(entered))


def changed(g: np.random.Generator, row: dict[str, object]) -> dict[str, object]:
    """The holder moved to another commune."""
    units = communes()
    commune = units[int(g.integers(len(units)))]
    return {"commune_code": commune.code, "commune_name": commune.name}
