"""Sở GD&ĐT's school register: every kindergarten and general school of the province, by commune."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import numpy as np
import pyarrow as pa
from faker import Faker

from lgsp_sandbox import dirt
from lgsp_sandbox.common import BUILD, DIRT, faker, rng, seconds, timestamp_text
from lgsp_sandbox.names import without_diacritics
from lgsp_sandbox.schema import TABLES
from lgsp_sandbox.units import PROVINCE_NAME, Commune, communes, legacy_names

DEPARTMENT = 2
SPEC = TABLES["schools"]

LEVELS: tuple[str, ...] = ("Mầm non", "Tiểu học", "THCS", "THPT")
COUNTS: tuple[int, ...] = (280, 270, 190, 60)
"""Schools per level; about 800 in all, every commune has at least a kindergarten, a primary and a lower-secondary."""
MEAN_PUPILS = np.array([220, 480, 450, 950])
PUPILS_PER_TEACHER = np.array([13.0, 20.0, 17.0, 19.0])
KINDERGARTEN_NAMES = ("Hoa Sen", "Hoa Mai", "Hoa Phượng", "Sơn Ca", "Họa Mi", "Bình Minh", "Tuổi Thơ", "Hướng Dương")
PERSON_NAMES = (
    "Lê Lợi", "Nguyễn Trãi", "Trần Hưng Đạo", "Lê Quý Đôn", "Phan Bội Châu", "Nguyễn Du", "Kim Đồng",
    "Võ Thị Sáu", "Lê Văn Tám", "Nguyễn Huệ", "Chu Văn An", "Hùng Vương", "Lý Tự Trọng", "Phan Châu Trinh",
    "Huỳnh Thúc Kháng", "Trần Phú", "Nguyễn Hoàng", "Lê Duẩn", "Võ Nguyên Giáp", "Nguyễn Hữu Thận",
)  # fmt: skip
VILLAGES = ("Đông", "Tây", "Nam", "Bắc", "Trung", "Thượng", "Hạ", "An Lộc", "Phú Xuân", "Tân Định", "Hòa Bình",
            "Bình An", "Xuân Lộc", "Phước Thủy", "Mỹ Thủy", "Đại Hòa")  # fmt: skip
SURVEY_START = datetime(2025, 9, 15)


def _name(g: np.random.Generator, level: int, commune: Commune, nth: int, used: set[str]) -> str:
    """'Trường THCS Đông Hà', then 'Trường THCS Số 2 Đông Hà' or 'Trường THCS Lê Lợi' for the next ones."""
    if nth == 0:
        suffix = commune.short_name
    elif g.random() < 0.5:
        suffix = f"Số {nth + 1} {commune.short_name}"
    else:
        pool = KINDERGARTEN_NAMES if level == 0 else PERSON_NAMES
        free = [p for p in pool if p not in used] or [f"Số {nth + 1} {commune.short_name}"]
        suffix = free[int(g.integers(len(free)))]
    used.add(suffix)
    return f"Trường {LEVELS[level]} {suffix}"


def _address(g: np.random.Generator, fake: Faker, commune: Commune) -> str:
    if commune.kind == "Phường":
        place = f"{int(g.integers(1, 400))} {fake.street_name()}"
    else:
        village = VILLAGES[int(g.integers(len(VILLAGES)))]
        place = f"Thôn {int(g.integers(1, 12))}" if g.random() < 0.6 else f"Thôn {village}"
    return f"{place}, {commune.name}, {PROVINCE_NAME[0].lower()}{PROVINCE_NAME[1:]}"


def _schools(
    g: np.random.Generator,
    fake: Faker,
    first_seq: int,
    level: np.ndarray,
    where: np.ndarray,
    when: np.ndarray,
    units: list[Commune],
    taken: dict[tuple[int, int], set[str]],
) -> pa.Table:
    codes, names, addresses, pupils, teachers = [], [], [], [], []
    for i, (lv, c) in enumerate(zip(level.tolist(), where.tolist(), strict=True)):
        commune = units[c]
        used = taken.setdefault((c, lv), set())
        codes.append(f"{commune.legacy_province_code or '44'}{first_seq + i:06d}")
        names.append(_name(g, lv, commune, len(used), used))
        addresses.append(_address(g, fake, commune))
        size = MEAN_PUPILS[lv] * (1.5 if commune.kind == "Phường" else 1.0) * g.lognormal(0.0, 0.3)
        if commune.kind == "Đặc khu":
            size = g.integers(10, 40)
        pupils.append(round(float(size)))
        teachers.append(max(1, round(float(size / PUPILS_PER_TEACHER[lv] * g.uniform(0.85, 1.15)))))
    cols = {
        "school_code": pa.array(codes),
        "name": pa.array(names),
        "level": pa.array(LEVELS).take(pa.array(level)),
        "address": pa.array(addresses),
        "commune_code": pa.array([u.code for u in units]).take(pa.array(where)),
        "commune_name": pa.array([u.name for u in units]).take(pa.array(where)),
        "pupils": pa.array(pupils, type=pa.int64()),
        "teachers": pa.array(teachers, type=pa.int64()),
        "updated_at": timestamp_text(when),
    }
    return pa.table(cols, schema=SPEC.arrow_schema)


def _office_hours(g: np.random.Generator, start: int, n: int, span_days: int) -> np.ndarray:
    return start + g.integers(0, span_days, size=n) * 86_400 + g.integers(7 * 3600 + 1800, 17 * 3600, size=n)


def generate(seed: int, *, scale: int, dirty_share: float) -> Iterator[pa.Table]:
    """The register as of the 2025-2026 school-year survey, one block; `scale` does not apply."""
    del scale
    g, fake = rng(seed, DEPARTMENT, BUILD), faker(seed, DEPARTMENT, BUILD)
    units = communes()
    weight = np.array([3.0 if u.kind == "Phường" else 0.2 if u.kind == "Đặc khu" else 1.0 for u in units])
    level, where = [], []
    for lv, count in enumerate(COUNTS):
        floor = np.arange(len(units)) if lv < 3 else np.empty(0, dtype=np.int64)
        extra = g.choice(len(units), size=count - len(floor), p=weight / weight.sum())
        level.append(np.full(count, lv))
        where.append(np.concatenate([floor, extra]))
    lv_all, c_all = np.concatenate(level), np.concatenate(where)
    order = np.lexsort((lv_all, c_all))
    lv_all, c_all = lv_all[order], c_all[order]
    when = _office_hours(g, seconds(SURVEY_START), len(lv_all), 45)
    table = _schools(g, fake, 1, lv_all, c_all, when, units, {})
    d = rng(seed, DEPARTMENT, DIRT)
    rows = dirt.pick(d, table.num_rows, dirty_share, dirt.KINDS)
    table = dirt.nulls(table, "name", rows["null"])
    pupils = table.column("pupils").to_numpy()
    table = dirt.replace(table, "pupils", rows["out_of_range"], (-pupils[rows["out_of_range"]]).tolist())
    table = dirt.duplicate_keys(table, "school_code", rows["duplicate_key"], d)
    table = dirt.bad_dates(table, "updated_at", rows["bad_date"], timestamp=True)
    table = dirt.nfd(table, ["name", "address", "commune_name"], rows["nfd"])
    yield _legacy_units(table, rng(seed, DEPARTMENT, DIRT, LEGACY_STREAM), dirty_share)


LEGACY_STREAM = 7
UNKNOWN_UNITS = ("Xã Hải Tây Bắc", "Phường 12", "Xa Trieu Thuong Hai")
"""Names no catalogue knows (typos, a ward number that never existed): quarantined by the hub."""


def _legacy_units(table: pa.Table, g: np.random.Generator, dirty_share: float) -> pa.Table:
    """Schools whose record still names the commune as it was before the July 2025 merger, spelled
    with or without diacritics or abbreviated ("X. Hải Thượng"), as many school registers do."""
    names = legacy_names()
    codes = table.column("commune_code").to_pylist()
    values = table.column("commune_name").to_pylist()
    candidates = [i for i, code in enumerate(codes) if code in names]
    share = min(1.0, dirty_share * 4)
    chosen = sorted(g.choice(len(candidates), size=int(len(candidates) * share), replace=False).tolist())
    for n, pick in enumerate(chosen):
        i = candidates[pick]
        options = names[codes[i]]
        old = options[int(g.integers(0, len(options)))]
        style = n % 3
        if style == 1:
            old = without_diacritics(old)
        elif style == 2:
            old = old.replace("Xã ", "X. ").replace("Phường ", "P. ").replace("Thị trấn ", "TT. ")
        values[i] = old
    unknown = g.choice(len(values), size=max(1, int(len(values) * dirty_share / 4)), replace=False)
    for n, i in enumerate(sorted(unknown.tolist())):
        values[i] = UNKNOWN_UNITS[n % len(UNKNOWN_UNITS)]
    position = table.schema.get_field_index("commune_name")
    return table.set_column(position, "commune_name", pa.array(values, type=pa.string()))


def added(g: np.random.Generator, fake: Faker, first_seq: int, n: int, after: datetime) -> pa.Table:
    """n newly licensed schools (mostly kindergartens), codes numbered from first_seq, registered after `after`."""
    units = communes()
    level = g.choice(len(LEVELS), size=n, p=[0.7, 0.15, 0.1, 0.05])
    where = g.integers(0, len(units), size=n)
    when = seconds(after) + 1 + np.sort(g.integers(0, 86_400, size=n))
    # A new school is never the first of its level in its commune, so it gets a "Số 2 …" or a person's name.
    taken = {(int(c), int(lv)): {units[c].short_name} for c, lv in zip(where, level, strict=True)}
    return _schools(g, fake, first_seq, level, where, when, units, taken)


def changed(g: np.random.Generator, row: dict[str, object]) -> dict[str, object]:
    """Pupils transferred in or out during the term."""
    pupils = row["pupils"] if isinstance(row["pupils"], int) else 0
    return {"pupils": max(0, abs(pupils) + int(g.integers(-15, 26)))}
