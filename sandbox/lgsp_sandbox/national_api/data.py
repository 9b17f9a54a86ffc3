"""The three national datasets the simulator serves, built so that any page costs about the same to produce.

Administrative units and legal documents are small and materialised at start-up. The business register is
computed: record i is a pure function of (seed, i) plus the changes `advance` applied to it, so a register of
a million enterprises starts in well under a second and a page costs a few microseconds per record.
"""

from __future__ import annotations

import json
import sqlite3
from bisect import bisect_right
from collections.abc import Callable, Hashable
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, date, datetime

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from lgsp_sandbox.catalogue import dataset_path
from lgsp_sandbox.national_api import pools

MERGER_DAY = "2025-07-01"
"""Day the 34-province map took effect; legacy units end (exclusive) and current units start on it."""
CODE_LIST_DAY = "2004-07-08"
"""QĐ 124/2004/QĐ-TTg, the GSO code list: the package has no founding dates, so legacy units start here."""
CATALOGUE_UPDATED_AT = "2025-07-01T00:00:00Z"
CLOCK_START = int(datetime(2026, 11, 1, tzinfo=UTC).timestamp())
"""Sandbox 'now' before any advance; every generated timestamp lies before it."""
_UPDATES_FROM = int(datetime(2015, 1, 1, tzinfo=UTC).timestamp())
_REGISTERED_FROM = date(2000, 1, 1).toordinal() - date(1970, 1, 1).toordinal()


def iso(seconds: int) -> str:
    """'2026-11-01T00:00:00Z' for epoch seconds; every updated_at uses this one shape so text order is time order."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def epoch(text: str) -> int:
    """Epoch seconds of an ISO timestamp or date; naive values are taken as UTC. Raises ValueError."""
    moment = datetime.fromisoformat(text.strip())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() // 1)


@dataclass(frozen=True)
class Slice:
    """One page of a collection: its records, how many match the filters, and where the page ended."""

    records: list[dict] | orjson.Fragment
    """Dicts, or for the computed register the JSON array already encoded."""
    total: int
    has_more: bool
    last_key: tuple[str, Hashable] | None


class Table:
    """A materialised collection ordered by (updated_at, key), paged by position or by key."""

    def __init__(self, rows: list[dict], key: Callable[[dict], Hashable]) -> None:
        order = sorted((((r["updated_at"], key(r)), r) for r in rows), key=lambda pair: pair[0])
        self.keys = [k for k, _ in order]
        self.updated = [k[0] for k in self.keys]
        self.rows = [r for _, r in order]

    def select(self, since: str | None, after: tuple[str, Hashable] | None, skip: int, limit: int) -> Slice:
        """Records with updated_at > since, strictly after the key `after`, skipping `skip`, at most `limit`."""
        first = bisect_right(self.updated, since) if since is not None else 0
        start = max(first, bisect_right(self.keys, after) if after is not None else 0) + skip
        end = min(start + limit, len(self.rows))
        rows = self.rows[start:end] if start < end else []
        return Slice(rows, len(self.rows) - first, end < len(self.rows), self.keys[end - 1] if rows else None)


# --- Administrative units -------------------------------------------------------------------------------------


def _unit(code, era, level, kind, name, short, province, district, successors) -> dict:
    return {
        "code": code,
        "era": era,
        "level": level,
        "type": kind,
        "name": name,
        "short_name": short,
        "province": province,
        "district": district,
        "successors": successors,
        "effective_from": MERGER_DAY if era == "2025" else CODE_LIST_DAY,
        "effective_to": None if era == "2025" else MERGER_DAY,
        "updated_at": CATALOGUE_UPDATED_AT,
    }


def _kind(name: str) -> str:
    return "Thành phố" if name.startswith("Thành phố") else "Tỉnh"


def build_units() -> list[dict]:
    """The national catalogue from vietnamadminunits: current (era 2025) and pre-merger (era legacy) units.

    A legacy ward's successors come from the package's converter_2025.json: the current ward it was merged into,
    or, for the wards it split, every current ward that took a part (the package's default one first).
    A legacy district's successors are its wards' successors; a legacy province's, the province it joined.
    """
    path = dataset_path()
    with closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as db:
        current = db.execute(
            "SELECT provinceCode, province, provinceShort, provinceKey, wardCode, ward, wardShort, wardType, wardKey "
            "FROM admin_units ORDER BY wardCode"
        ).fetchall()
        legacy = db.execute(
            "SELECT provinceCode, province, provinceShort, provinceKey, districtCode, district, districtShort, "
            "districtType, districtKey, wardCode, ward, wardShort, wardType, wardKey "
            "FROM admin_units_legacy ORDER BY provinceCode, districtCode, wardCode"
        ).fetchall()
    converter = json.loads((path.parent / "converter_2025.json").read_text(encoding="utf-8"))

    units: list[dict] = []
    new_province: dict[str, dict] = {}
    new_ward: dict[tuple[str, str], dict] = {}
    for pcode, pname, pshort, pkey, wcode, wname, wshort, wtype, wkey in current:
        province = {"code": pcode, "name": pname}
        if pkey not in new_province:
            new_province[pkey] = province
            units.append(_unit(pcode, "2025", "province", _kind(pname), pname, pshort, province, None, []))
        new_ward[pkey, wkey] = {"code": wcode, "name": wname}
        units.append(_unit(wcode, "2025", "ward", wtype, wname, wshort, province, None, []))

    successors: dict[str, list[dict]] = {}
    for pkey, wards in converter["DICT_PROVINCE_WARD_NO_DIVIDED"].items():
        for wkey, olds in wards.items():
            for old in olds:
                successors[old] = [new_ward[pkey, wkey]]
    for pkey, olds in converter["DICT_PROVINCE_WARD_DIVIDED"].items():
        for old, parts in olds.items():
            ranked = sorted(parts, key=lambda p: (not p["isDefaultNewWard"], new_ward[pkey, p["newWardKey"]]["code"]))
            successors[old] = [new_ward[pkey, p["newWardKey"]] for p in ranked]
    joined = {old: new_province[new] for new, olds in converter["DICT_PROVINCE"].items() for old in olds}

    seen_province: set[str] = set()
    district_units: dict[str, dict] = {}
    for pcode, pname, pshort, pkey, dcode, dname, dshort, dtype, dkey, wcode, wname, wshort, wtype, wkey in legacy:
        province = {"code": pcode, "name": pname}
        district = {"code": dcode, "name": dname}
        if pcode not in seen_province:
            seen_province.add(pcode)
            units.append(
                _unit(pcode, "legacy", "province", _kind(pname), pname, pshort, province, None, [joined[pkey]])
            )
        if dcode not in district_units:
            district_units[dcode] = _unit(dcode, "legacy", "district", dtype, dname, dshort, province, district, [])
            units.append(district_units[dcode])
        became = successors[f"{pkey}_{dkey}_{wkey or ''}"]
        merged = district_units[dcode]["successors"]
        merged.extend(s for s in became if s not in merged)
        if wcode:
            units.append(_unit(wcode, "legacy", "ward", wtype, wname, wshort, province, district, became))
    for unit in district_units.values():
        unit["successors"].sort(key=lambda s: s["code"])
    return units


# --- Business register ------------------------------------------------------------------------------------------

_GOLDEN, _M1, _M2 = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_MASK = (1 << 64) - 1
(F_UPDATED, F_BRANCH, F_FORM, F_PREFIX, F_SECTOR, F_BRAND, F_PLACE, F_EN, F_STATUS, F_WARD, F_STREET, F_NUMBER,
 F_FAMILY, F_MIDDLE, F_GIVEN, F_TAX, F_CHANGE) = range(17)  # fmt: skip


def _h64(x: int) -> int:
    """splitmix64 of one Python int: the scalar twin of _mix, for salts and single changes."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def _mix(indices: np.ndarray, salt: int) -> np.ndarray:
    """splitmix64 over a uint64 array: independent, reproducible draws per (seed, field, record)."""
    x = indices * _GOLDEN + np.uint64(salt)
    x = (x ^ (x >> np.uint64(30))) * _M1
    x = (x ^ (x >> np.uint64(27))) * _M2
    return x ^ (x >> np.uint64(31))


def _pick(draws: np.ndarray, cumulative: np.ndarray) -> np.ndarray:
    """Weighted choice: index i with probability proportional to the i-th weight."""
    return np.searchsorted(cumulative, draws % np.uint64(cumulative[-1]), side="right")


def _mod(draws: np.ndarray, n: int) -> np.ndarray:
    return (draws % np.uint64(n)).astype(np.int64)


class Enterprises:
    """The province's slice of the national business register, ordered by (updated_at, tax_code).

    The order is untouched originals (by index, since their updated_at grows with the index) followed by
    events: records changed or registered by `advance`, in time order. That makes position, keyset and
    updated_since look-ups binary searches, whatever the size.
    """

    def __init__(self, count: int, seed: int, wards: list[dict]) -> None:
        self.count, self.seed = count, seed
        self.salt = [_h64(seed * 1_000_003 + field) for field in range(17)]
        self.capacity = max(2 * count, count + 100_000)
        self.stride = 89_999_999 // self.capacity
        index = np.arange(count, dtype=np.uint64)
        slot = (CLOCK_START - 86_400 - _UPDATES_FROM) // max(count, 1)
        if slot < 1:
            raise ValueError(f"at most {CLOCK_START - _UPDATES_FROM} enterprises fit the sandbox timeline")
        jitter = (_mix(index, self.salt[F_UPDATED]) % np.uint64(slot)).astype(np.int64)
        self.base_updated = _UPDATES_FROM + np.arange(count, dtype=np.int64) * slot + jitter
        # Registrations grow over the years (sqrt spacing) and never follow the record's last update.
        span = (CLOCK_START // 86_400) - 1 - _REGISTERED_FROM
        grown = _REGISTERED_FROM + (np.sqrt(np.arange(count) / max(count, 1)) * span).astype(np.int64)
        self.base_registered = np.minimum(grown, self.base_updated // 86_400)
        self.wards = wards
        self.ward_weights = np.cumsum([pools.WARD_WEIGHT[w["type"]] for w in wards])
        self.ward_urban = np.array([w["type"] == "Phường" for w in wards])
        # Pools as Arrow arrays, spliced into JSON unescaped (json_safe checks that nothing needs escaping).
        safe = pools.json_safe
        self.arrow = {
            name: pa.array(safe(values), pa.string())
            for name, values in {
                "heads": pools.NAME_HEADS,
                "tails": pools.NAME_TAILS,
                "trades_en": pools.TRADES_EN,
                "sectors_en": [en for _, en in pools.SECTORS],
                "places_en": pools.PLACES_EN,
                "suffixes": [suffix or "" for _, _, suffix in pools.FORMS],
                "forms": [legal for legal, _, _ in pools.FORMS],
                "statuses": pools.STATUSES,
                "streets": pools.STREETS_URBAN + pools.STREETS_RURAL,
                "people": pools.PEOPLE,
                "branch": [f"CHI NHÁNH {w['short_name'].upper()} - " for w in wards],
            }.items()
        }
        codes, names = safe([w["code"] for w in wards]), safe([w["name"] for w in wards])
        self.arrow["ward_json"] = pa.array(
            f'","ward_code":"{code}","ward_name":"{name}","province_code":"{w["province"]["code"]}"'
            '},"representative":{"name":"'
            for code, name, w in zip(codes, names, wards, strict=True)
        )
        self.added = 0
        self.registered: dict[int, int] = {}
        self.state: dict[int, tuple[int, int]] = {}  # index -> (version, updated_at) once advance touched it
        self.touched = np.empty(0, dtype=np.int64)
        self._gaps = np.empty(0, dtype=np.int64)
        self.events: list[tuple[int, str, int]] = []  # (updated_at, tax_code, index), ascending
        self.clock = CLOCK_START
        self.advances = 0

    @property
    def total(self) -> int:
        return self.count + self.added

    def _untouched(self) -> int:
        return self.count - len(self.touched)

    def _rank(self, first_original: int) -> int:
        """How many untouched originals come before original index `first_original`."""
        return first_original - int(np.searchsorted(self.touched, first_original, side="left"))

    def _after_time(self, seconds: int) -> int:
        rank = self._rank(int(np.searchsorted(self.base_updated, seconds, side="right")))
        return rank + bisect_right(self.events, (seconds, "\uffff"))

    def _after_key(self, seconds: int, tax_code: str) -> int:
        first = int(np.searchsorted(self.base_updated, seconds, side="left"))
        if first < self.count and self.base_updated[first] == seconds and self.tax_codes([first])[0] <= tax_code:
            first += 1
        return self._rank(first) + bisect_right(self.events, (seconds, tax_code, self.capacity))

    def select(self, since: str | None, after: tuple[str, Hashable] | None, skip: int, limit: int) -> Slice:
        """Same contract as Table.select."""
        size = self._untouched() + len(self.events)
        first = self._after_time(epoch(since)) if since is not None else 0
        start = max(first, self._after_key(epoch(after[0]), str(after[1])) if after is not None else 0) + skip
        end = min(start + limit, size)
        if start >= end:
            return Slice([], size - first, False, None)
        untouched = self._untouched()
        ranks = np.arange(start, min(end, untouched), dtype=np.int64)
        originals = ranks + np.searchsorted(self._gaps, ranks, side="right")
        events = self.events[max(start - untouched, 0) : max(end - untouched, 0)]
        indices = originals.tolist() + [e[2] for e in events]
        encoded, last_key = self.encode(indices)
        return Slice(orjson.Fragment(encoded), size - first, end < size, last_key)

    def tax_codes(self, indices: list[int]) -> list[str]:
        """'32' + eight digits, growing with the registration order; a branch adds '-001' to its parent's code."""
        index = np.asarray(indices, dtype=np.uint64)
        branch = ((index & np.uint64(1)) == 1) & (_mix(index, self.salt[F_BRANCH]) % np.uint64(25) == 0)
        root = np.where(branch, index - np.uint64(1), index)
        serial = 10_000_000 + root * np.uint64(self.stride) + _mix(root, self.salt[F_TAX]) % np.uint64(self.stride)
        return [f"32{s:08d}-001" if b else f"32{s:08d}" for s, b in zip(serial.tolist(), branch.tolist(), strict=True)]

    def records(self, indices: list[int]) -> list[dict]:
        """The current version of the given records as dicts (tests and tools; serving uses encode)."""
        return orjson.loads(self.encode(indices)[0]) if indices else []

    def encode(self, indices: list[int]) -> tuple[bytes, tuple[str, str]]:
        """The records as one JSON array, and the (updated_at, tax_code) of the last one.

        Draws are vectorised with numpy and every string is taken from a pool and spliced with Arrow
        kernels, so no per-record Python runs except for the few records `advance` changed.
        """
        index = np.asarray(indices, dtype=np.uint64)
        salt, count, state, a = self.salt, self.count, self.state, self.arrow
        branch = ((index & np.uint64(1)) == 1) & (_mix(index, salt[F_BRANCH]) % np.uint64(25) == 0)
        root = np.where(branch, index - np.uint64(1), index)
        serial = 10_000_000 + root * np.uint64(self.stride) + _mix(root, salt[F_TAX]) % np.uint64(self.stride)
        form = _pick(_mix(root, salt[F_FORM]), pools.FORM_WEIGHTS)
        sector = _mod(_mix(root, salt[F_SECTOR]), len(pools.SECTORS))
        brand = _mod(_mix(root, salt[F_BRAND]), len(pools.TRADES))
        place = _mod(_mix(root, salt[F_PLACE]), len(pools.PLACES))
        head = (form * 4 + _mod(_mix(root, salt[F_PREFIX]), 4)) * len(pools.SECTORS) + sector
        english = pools.HAS_ENGLISH[form] & (_mod(_mix(root, salt[F_EN]), 100) < 45) & ~branch
        ward = _pick(_mix(index, salt[F_WARD]), self.ward_weights)
        draw = _mix(index, salt[F_STREET])
        urban = len(pools.STREETS_URBAN)
        street = np.where(self.ward_urban[ward], _mod(draw, urban), urban + _mod(draw, len(pools.STREETS_RURAL)))
        family = _pick(_mix(index, salt[F_FAMILY]), pools.FAMILY_WEIGHTS)
        middle, given = _mod(_mix(index, salt[F_MIDDLE]), 1 << 30), _mod(_mix(index, salt[F_GIVEN]), 1 << 30)
        status = np.where(index < count, _pick(_mix(index, salt[F_STATUS]), pools.STATUS_WEIGHTS), 0)
        known = np.minimum(index, max(count - 1, 0)).astype(np.int64)
        updated = np.where(index < count, self.base_updated[known], 0) if count else np.zeros(len(index), np.int64)
        registered = np.where(index < count, self.base_registered[known], 0) if count else np.zeros_like(updated)
        for k, i in enumerate(indices):
            if i in state:
                version, updated[k] = state[i]
                if i >= count:
                    registered[k] = self.registered[i]
                for change in range(1, version + 1):
                    draw_k = _h64(salt[F_CHANGE] ^ (i * 1_000_003 + change))
                    status[k], ward[k], street[k] = self._change(int(status[k]), int(ward[k]), int(street[k]), draw_k)
        english_name = pc.binary_join_element_wise(
            '"', a["trades_en"].take(brand), " ", a["sectors_en"].take(sector), a["places_en"].take(place), " ", a["suffixes"].take(form), '"', ""
        )  # fmt: skip
        stamps = pc.replace_substring(pc.cast(pa.array(updated, pa.timestamp("s")), pa.string()), " ", "T", max_replacements=1)  # fmt: skip
        records = pc.binary_join_element_wise(
            '{"tax_code":"32', pc.cast(pa.array(serial), pa.string()), pc.if_else(branch, "-001", ""),
            '","name":"', pc.if_else(branch, a["branch"].take(ward), ""), a["heads"].take(head), a["tails"].take(brand * len(pools.PLACES) + place),
            '","name_en":', pc.if_else(english, english_name, "null"),
            ',"legal_form":"', a["forms"].take(form),
            '","status":"', a["statuses"].take(status),
            '","address":{"street":"', a["streets"].take(street),
            a["ward_json"].take(ward),
            a["people"].take(pools.person_index(family, middle, given)),
            '"},"registered_on":"', pc.cast(pa.array(registered.astype(np.int32), pa.date32()), pa.string()),
            '","updated_at":"', stamps,
            'Z"}', "",
        )  # fmt: skip
        joined = pc.binary_join(pa.ListArray.from_arrays(pa.array([0, len(records)], pa.int32()), records), ",")
        body = b"[" + pc.cast(joined, pa.binary())[0].as_py() + b"]"
        last = orjson.loads(records[-1].as_py())
        return body, (last["updated_at"], last["tax_code"])

    def _change(self, status: int, ward: int, street: int, draw: int) -> tuple[int, int, int]:
        """One registered change: a status transition where the law allows one, otherwise a move."""
        options = pools.STATUS_CHANGES[status]
        if options and draw % 2 == 0:
            return options[(draw >> 8) % len(options)], ward, street
        ward = int(np.searchsorted(self.ward_weights, (draw >> 8) % int(self.ward_weights[-1]), side="right"))
        urban = len(pools.STREETS_URBAN)
        street = (draw >> 24) % urban if self.ward_urban[ward] else urban + (draw >> 24) % len(pools.STREETS_RURAL)
        return status, ward, street

    def advance(self, updated: int, new: int, seconds: int) -> dict:
        """Move the clock by `seconds`; change `updated` existing enterprises and register `new` ones.

        Deterministic for (seed, number of earlier advances, arguments). Returns the clock and the tax codes.
        """
        if self.total + new > self.capacity:
            raise ValueError(f"the register holds at most {self.capacity} enterprises")
        self.advances += 1
        rng = np.random.default_rng([self.seed, 99, self.advances])
        changed = rng.choice(self.total, size=min(updated, self.total), replace=False).tolist()
        fresh = list(range(self.total, self.total + new))
        steps = len(changed) + len(fresh)
        span = max(seconds, steps + 1)
        order = rng.permutation(steps).tolist()
        times = [self.clock + 1 + (k * (span - 1)) // max(steps, 1) for k in range(steps)]
        moved = [i for i in changed if i < self.count and i not in self.state]
        again = {i for i in changed if i in self.state}
        self.events = [e for e in self.events if e[2] not in again]
        self.added += new
        codes = dict(zip(changed + fresh, self.tax_codes(changed + fresh), strict=True))
        for slot, i in zip(order, changed + fresh, strict=True):
            if i in self.state or i < self.count:
                self.state[i] = (self.state.get(i, (0, 0))[0] + 1, times[slot])
            else:
                self.registered[i] = times[slot] // 86_400
                self.state[i] = (0, times[slot])
        self.events.extend((self.state[i][1], codes[i], i) for i in changed + fresh)
        self.events.sort()
        if moved:
            self.touched = np.union1d(self.touched, np.asarray(moved, dtype=np.int64))
            self._gaps = self.touched - np.arange(len(self.touched), dtype=np.int64)
        self.clock += span
        return {"clock": iso(self.clock), "updated": [codes[i] for i in changed], "new": [codes[i] for i in fresh]}


# --- Legal documents --------------------------------------------------------------------------------------------

# Who issued provincial documents: before the merger Quảng Trị (45) and Quảng Bình (44); after it, the merged
# Quảng Trị, which took over code 44. The same issuer code therefore names two provinces, as in real archives.
_PROVINCES_BEFORE = [("45", "tỉnh Quảng Trị"), ("44", "tỉnh Quảng Bình")]
_PROVINCE_AFTER = ("44", "tỉnh Quảng Trị")
_KINDS = {"QĐ": ("Quyết định", "UBND"), "NQ": ("Nghị quyết", "HĐND"), "CT": ("Chỉ thị", "UBND")}


def _days(text: str) -> int:
    return date.fromisoformat(text).toordinal() - date(1970, 1, 1).toordinal()


def build_documents(seed: int, count: int) -> list[dict]:
    """The real national documents plus generated provincial ones, `count` in all, deterministic for the seed."""
    import random

    rng = random.Random(_h64(seed * 1_000_003 + 4242))
    today = CLOCK_START // 86_400
    out = []
    for k, real in enumerate(pools.REAL_DOCUMENTS):  # number, kind, issuer, dates, status, title, fields; changed
        stamp = _days(real[9]) * 86_400 + 3_600 + 37 * k
        out.append(_document(900_001 + k, *real[:9], stamp))
    merger = _days(MERGER_DAY)
    signed_days = sorted(rng.randrange(_days("2012-01-01"), today - 2) for _ in range(max(0, count - len(out))))
    serials: dict[tuple[str, int, str], int] = {}
    issued: dict[str, list[str]] = {}
    for k, signed in enumerate(signed_days):
        code, province = _PROVINCE_AFTER if signed >= merger else rng.choice(_PROVINCES_BEFORE)
        year = date.fromordinal(signed + date(1970, 1, 1).toordinal()).year
        suffix, field, template, since = rng.choice(pools.DOCUMENT_TEMPLATES)
        if since > year or ("{ref}" in template and not issued.get(code + province)):
            suffix, field, template, since = pools.DOCUMENT_TEMPLATES[0]
        kind, body = _KINDS[suffix]
        serial = serials[code, year, suffix] = serials.get((code, year, suffix), 0) + 1
        number = f"{serial}/{year}/{suffix}-{body}"
        issuer = {"code": f"{body}-{code}", "name": f"{body} {province}"}
        departments = pools.DEPARTMENTS_2025 if signed >= merger else pools.DEPARTMENTS_LEGACY
        title = template.format(
            tinh=province,
            so=rng.choice(departments),
            nam=year + (suffix == "NQ"),
            gd=f"{year - year % 5 + 1}-{year - year % 5 + 5}",
            nk=f"{year - (year - 2011) % 5}-{year - (year - 2011) % 5 + 5}",
            nh=f"năm học {year}-{year + 1}",
            ref=rng.choice(issued.get(code + province, [""])),
        )
        if suffix == "QĐ":
            issued.setdefault(code + province, []).append(number)
        start = signed + rng.randint(10, 20)
        end, status, changed = None, pools.IN_FORCE, signed + rng.randint(0, 5)
        draw, age = rng.random(), (today - start) / 365
        if start > today:
            status = pools.NOT_YET
        elif draw < min(0.55, 0.05 * age) and today - start > 365:
            end = rng.randint(start + 365, today)
            status, changed = pools.EXPIRED, end
        elif draw > 0.88 and today - start > 180:
            status, changed = pools.PARTLY_EXPIRED, rng.randint(start + 180, today)
        extra = [f for f in {rng.choice(pools.DOCUMENT_TEMPLATES)[1]} if f != field and rng.random() < 0.3]
        stamp = min(changed * 86_400 + rng.randrange(3_600, 36_000), CLOCK_START - 1)
        out.append(
            _document(
                100_001 + k, number, kind, issuer, pools.day(signed), pools.day(start),
                pools.day(end) if end else None, status, title, [field, *extra], stamp,
            )
        )  # fmt: skip
    return out


def _document(ident, number, kind, issuer, signed, start, end, status, title, fields, stamp) -> dict:
    return {
        "id": ident,
        "number": number,
        "type": kind,
        "issuer": issuer,
        "signed_on": signed,
        "effective_from": start,
        "effective_to": end,
        "title": title,
        "status": status,
        "fields": fields,
        "updated_at": iso(stamp),
    }
