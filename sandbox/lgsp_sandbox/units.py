"""Real communes of the sandbox province, so generated rows carry codes the national catalogue knows."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import dataclass
from functools import cache

from lgsp_sandbox.catalogue import dataset_path
from lgsp_sandbox.names import name_key

PROVINCE_CODE = "44"
"""GSO code of Quảng Trị after the 1 July 2025 merger (it absorbed Quảng Bình, whose old code was 44)."""
PROVINCE_NAME = "Tỉnh Quảng Trị"
LEGACY_PROVINCE_CODES: tuple[str, ...] = ("44", "45")
"""Pre-2025 codes: 44 Quảng Bình, 45 Quảng Trị; old CCCD numbers and school codes still start with them."""


@dataclass(frozen=True)
class Commune:
    """A post-2025 commune-level unit (phường, xã or đặc khu) and the pre-2025 district it came from."""

    code: str
    name: str
    short_name: str
    kind: str
    legacy_province_code: str | None
    legacy_province_name: str | None
    legacy_district_code: str | None
    legacy_district_name: str | None


def _connect() -> sqlite3.Connection:
    return sqlite3.connect(f"{dataset_path().as_uri()}?mode=ro", uri=True)


@cache
def _communes(province_code: str) -> tuple[Commune, ...]:
    with closing(_connect()) as db:
        wards = db.execute(
            "SELECT wardCode, ward, wardShort, wardType FROM admin_units WHERE provinceCode = ? ORDER BY wardCode",
            (province_code,),
        ).fetchall()
        # A merged commune usually keeps the GSO code of one of the old communes it absorbed,
        # which tells us the old district; an island district (Cồn Cỏ) had no communes, so match by name.
        legacy_by_ward = {
            code: (pcode, pname, dcode, dname)
            for code, pcode, pname, dcode, dname in db.execute(
                "SELECT wardCode, provinceCode, province, districtCode, district FROM admin_units_legacy "
                "WHERE wardCode IS NOT NULL"
            )
        }
        if not wards:
            raise LookupError(f"province {province_code} not found in {dataset_path()}")
        old_provinces = {legacy_by_ward[w[0]][0] for w in wards if w[0] in legacy_by_ward}
        legacy_by_district = {
            short: (pcode, pname, dcode, dname)
            for short, pcode, pname, dcode, dname in db.execute(
                "SELECT DISTINCT districtShort, provinceCode, province, districtCode, district FROM admin_units_legacy"
            )
            if pcode in old_provinces
        }
    out = []
    for code, name, short, kind in wards:
        legacy = legacy_by_ward.get(code) or legacy_by_district.get(short) or (None, None, None, None)
        out.append(Commune(code, name, short, kind, *legacy))
    return tuple(out)


def communes(province_code: str = PROVINCE_CODE) -> list[Commune]:
    """The communes of a post-2025 province (default: the sandbox province, Quảng Trị), by GSO code."""
    return list(_communes(province_code))


def commune_by_name(name: str, province_code: str = PROVINCE_CODE) -> Commune:
    """One commune by its full name, e.g. 'Phường Đông Hà'."""
    for commune in _communes(province_code):
        if commune.name == name:
            return commune
    raise KeyError(f"no commune named {name!r} in province {province_code}")


@cache
def legacy_names(province_code: str = PROVINCE_CODE) -> dict[str, tuple[str, ...]]:
    """Pre-2025 commune names that unambiguously became each current commune (by its code).

    Departmental systems still write these; the hub must map them back. A name shared by two
    former communes, or equal to a current one, is left out: it would not say which unit it was.
    """
    from lgsp_sandbox.national_api.data import build_units

    units = build_units()
    current = {
        u["code"]
        for u in units
        if u["era"] == "2025" and u["level"] == "ward" and u["province"]["code"] == province_code
    }
    current_keys = {
        name_key(u["name"]) for u in units if u["era"] == "2025" and u["level"] == "ward" and u["code"] in current
    }
    legacy = [
        u
        for u in units
        if u["era"] == "legacy"
        and u["level"] == "ward"
        and len(u["successors"]) == 1
        and u["successors"][0]["code"] in current
    ]
    counts: dict[str, int] = {}
    for u in legacy:
        counts[name_key(u["name"])] = counts.get(name_key(u["name"]), 0) + 1
    found: dict[str, list[str]] = {}
    for u in legacy:
        key = name_key(u["name"])
        if counts[key] == 1 and key not in current_keys:
            found.setdefault(u["successors"][0]["code"], []).append(u["name"])
    return {code: tuple(sorted(names)) for code, names in sorted(found.items())}
