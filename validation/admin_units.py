"""Administrative units: legacy codes and names mapped to the unit they became on 1 July 2025.

Departmental systems still write pre-merger units ("Xã Hải Thượng", "huyện Hải Lăng", old GSO
codes), spelled every way ("Hai Thuong", "X. Hải Thượng"). A contract column marked `admin_unit`
is rewritten to the current unit's code or name from the national catalogue the hub pulls in
(the `admin_units` dataset); a value that matches no unit, or a legacy unit that was split
between several, is quarantined with the reason. Matching ignores case, diacritics, punctuation
and the unit-type word.
"""

from __future__ import annotations

import json
import unicodedata
from collections import defaultdict
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from lgsp.core.duck import quote
from lgsp.core.errors import LgspError
from lgsp.core.text import plain_words
from lgsp.schemas.columns import UnitLevel, UnitMatch
from lgsp.schemas.contract import Column, Contract
from lgsp.validation.report import CheckResult

_TYPES = (
    "thanh pho trung uong",
    "thanh pho",
    "thi tran",
    "thi xa",
    "dac khu",
    "phuong",
    "huyen",
    "quan",
    "tinh",
    "xa",
)
_ABBREVIATIONS = {
    "p": "phuong",
    "x": "xa",
    "tt": "thi tran",
    "tx": "thi xa",
    "tp": "thanh pho",
    "h": "huyen",
    "q": "quan",
}
_SAMPLE = 20
WITHHELD = "(withheld: personal data)"


def unit_key(text: str) -> str:
    """A unit name reduced to what identifies it: 'X. Hải Thượng' → 'hai thuong', 'Phường 1' → 'phuong 1'."""
    words = plain_words(text)
    head, _, rest = words.partition(" ")
    if head in _ABBREVIATIONS and rest:
        words = f"{_ABBREVIATIONS[head]} {rest}"
    for kind in _TYPES:
        if words.startswith(kind + " "):
            rest = words[len(kind) + 1 :]
            return words if rest.isdigit() else rest  # "Phường 1" keeps its type: "1" alone says little
    return words


def _exact(text: str) -> str:
    """A name as written, give or take case, spacing and Unicode form."""
    return " ".join(unicodedata.normalize("NFC", text).casefold().split())


@dataclass(frozen=True)
class Unit:
    code: str
    name: str
    era: str
    successors: tuple[tuple[str, str], ...]  # (code, name) of the current units a legacy unit became


@dataclass(frozen=True)
class Mapping:
    code: str | None
    name: str | None
    reason: str | None  # why the value could not be mapped


class Catalogue:
    """Current and legacy units of one level (and, for wards, one province) from the catalogue table."""

    def __init__(self, con: duckdb.DuckDBPyConnection, column: Column, province: str) -> None:
        assert column.admin_unit is not None
        spec = column.admin_unit
        table = f"main.{quote(spec.catalogue)}"
        try:
            rows = con.execute(
                f"SELECT code, name, era, level, province_code, province_name, successors FROM {table}"
            ).fetchall()
        except duckdb.CatalogException:
            raise LgspError(
                f"columns.{column.name}.admin_unit: the units catalogue '{spec.catalogue}' has not been published "
                f"yet; run it first (lgsp run {spec.catalogue})",
                field=f"columns.{column.name}.admin_unit",
            ) from None
        self.level = spec.level
        wanted = spec.level.value
        current = [r for r in rows if r[2] == "2025" and r[3] == wanted]
        self.scope = ""
        if spec.level is UnitLevel.ward:
            target = spec.province or province
            provinces = {r[4] for r in current if r[4] == target or unit_key(r[5] or "") == unit_key(target)}
            if not provinces:
                raise LgspError(
                    f"columns.{column.name}.admin_unit: no province '{target}' in the catalogue",
                    field=f"columns.{column.name}.admin_unit.province",
                )
            current = [r for r in current if r[4] in provinces]
            self.scope = next(r[5] for r in current)
        current_codes = {r[0] for r in current}
        legacy = []
        for r in rows:
            if r[2] == "2025" or r[3] != wanted:
                continue
            successors = tuple((s["code"], s["name"]) for s in json.loads(r[6] or "[]"))
            if successors and all(code in current_codes for code, _ in successors):
                legacy.append(Unit(r[0], r[1], r[2], successors))
        self.current = {r[0]: Unit(r[0], r[1], r[2], ()) for r in current}
        self.by_name: dict[str, list[Unit]] = defaultdict(list)
        self.current_exact: dict[str, list[Unit]] = defaultdict(list)
        for unit in self.current.values():
            self.by_name[unit_key(unit.name)].append(unit)
            self.current_exact[_exact(unit.name)].append(unit)
        self.legacy_by_name: dict[str, list[Unit]] = defaultdict(list)
        self.legacy_exact: dict[str, list[Unit]] = defaultdict(list)
        self.legacy_by_code: dict[str, Unit] = {}
        for unit in legacy:
            self.legacy_by_name[unit_key(unit.name)].append(unit)
            self.legacy_exact[_exact(unit.name)].append(unit)
            self.legacy_by_code.setdefault(unit.code, unit)

    def _of(self, unit: Unit) -> Mapping:
        return Mapping(unit.code, unit.name, None)

    def _legacy(self, value: str, units: list[Unit]) -> Mapping:
        targets = sorted({s for u in units for s in u.successors})
        if len(targets) == 1:
            return Mapping(targets[0][0], targets[0][1], None)
        listed = ", ".join(f"{name} ({code})" for code, name in targets)
        if len(units) == 1:
            return Mapping(None, None, f"'{value}' (before July 2025) was split between {listed}: cannot choose one")
        return Mapping(
            None, None, f"'{value}' matches {len(units)} former units that became {listed}: cannot choose one"
        )

    def map(self, value: str, match: UnitMatch) -> Mapping:
        where = f" of {self.scope}" if self.scope else ""
        if match is UnitMatch.code:
            code = value.strip()
            if code.isdigit():
                code = code.zfill(5 if self.level is UnitLevel.ward else 2)
            if code in self.current:
                return self._of(self.current[code])
            if code in self.legacy_by_code:
                return self._legacy(value, [self.legacy_by_code[code]])
            return Mapping(None, None, f"'{value}' is not the code of a {self.level.value}{where}, current or former")
        # The name as written first (current, then former units): loose matching would take
        # "Phường Chương Dương" (former) for "Xã Chương Dương" (current), another unit.
        # A current unit's official name is read as that unit, even where a former unit that
        # became another one had the same name: after the merger, sources use current names.
        exact = _exact(value)
        now, before = self.current_exact.get(exact, []), self.legacy_exact.get(exact, [])
        if len(now) == 1:
            return self._of(now[0])
        if before:
            return self._legacy(value, before)
        key = unit_key(value)
        found = self.by_name.get(key, [])
        former = self.legacy_by_name.get(key, [])
        if len(found) == 1 and all(code == found[0].code for u in former for code, _ in u.successors):
            return self._of(found[0])
        if found:
            listed = ", ".join(f"{u.name} ({u.code})" for u in found)
            if former:
                listed += ", or the former " + ", ".join(f"{u.name} ({u.code})" for u in former)
            return Mapping(None, None, f"'{value}' could be several units: {listed}")
        if former:
            return self._legacy(value, former)
        return Mapping(None, None, f"'{value}' is not a {self.level.value}{where} in the national catalogue")


def standardise(
    con: duckdb.DuckDBPyConnection, contract: Contract, stage: str, failures: str, province: str, rows: int
) -> list[CheckResult]:
    """Rewrite each admin_unit column of the stage to current units; record what cannot be mapped
    in the failures table (so it is quarantined). Returns one check result per column."""
    results = []
    personal = set(contract.personal_columns)
    for i, column in enumerate(contract.columns):
        if column.admin_unit is None:
            continue
        catalogue = Catalogue(con, column, province)
        ref = quote(column.name)
        distinct = [r[0] for r in con.execute(f"SELECT DISTINCT {ref} FROM {stage} WHERE {ref} IS NOT NULL").fetchall()]
        mapped = {v: catalogue.map(v, column.admin_unit.match) for v in distinct}
        use_code = column.admin_unit.match is UnitMatch.code
        table = pa.table(
            {
                "value": list(mapped),
                "target": [(m.code if use_code else m.name) for m in mapped.values()],
                "reason": [m.reason for m in mapped.values()],
            },
            schema=pa.schema([("value", pa.string()), ("target", pa.string()), ("reason", pa.string())]),
        )
        con.register("unit_map", table)
        try:
            changed = con.execute(
                f"SELECT count(*) FROM {stage} s JOIN unit_map m ON s.{ref} = m.value "
                "WHERE m.target IS NOT NULL AND m.target <> m.value"
            ).fetchone()[0]  # type: ignore[index]
            con.execute(
                f"UPDATE {stage} AS s SET {ref} = m.target FROM unit_map m "
                f"WHERE s.{ref} = m.value AND m.target IS NOT NULL AND m.target <> m.value"
            )
            key = f"admin_unit:{column.name}"
            con.execute(
                f"INSERT INTO {failures} SELECT s.rowid, ?, m.reason FROM {stage} s JOIN unit_map m "
                f"ON s.{ref} = m.value WHERE m.reason IS NOT NULL",
                [key],
            )
            bad = con.execute(
                f"SELECT count(*) FROM {stage} s JOIN unit_map m ON s.{ref} = m.value WHERE m.reason IS NOT NULL"
            ).fetchone()[0]  # type: ignore[index]
        finally:
            con.unregister("unit_map")
        unmapped = sorted(v for v, m in mapped.items() if m.reason)
        results.append(
            CheckResult(
                key=key,
                expectation="admin_unit",
                kwargs={
                    "column": column.name,
                    "level": column.admin_unit.level.value,
                    "match": column.admin_unit.match.value,
                },
                severity="quarantine",
                origin=f"columns[{i}].admin_unit",
                scope="row",
                evaluated=rows,
                unexpected=int(bad),
                success=int(bad) == 0,
                sample=[WITHHELD] if unmapped and column.name in personal else unmapped[:_SAMPLE],
                changed=int(changed),
            )
        )
    return results
