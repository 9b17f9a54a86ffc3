"""Table and department definitions: the column names here are a contract with the connectors and datasets."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import pyarrow as pa

ARROW_TYPES: Mapping[str, pa.DataType] = MappingProxyType(
    {"INTEGER": pa.int64(), "BIGINT": pa.int64(), "TEXT": pa.string(), "REAL": pa.float64(), "DOUBLE": pa.float64()}
)


@dataclass(frozen=True)
class Column:
    """A source column: its SQL type (INTEGER, BIGINT, TEXT, REAL, DOUBLE) and whether a clean row always has it."""

    name: str
    type: str
    required: bool = True


@dataclass(frozen=True)
class TableSpec:
    """A legacy source table: no primary-key constraint, only a logical key and a change-tracking column."""

    name: str
    columns: tuple[Column, ...]
    key: str
    cursor: str | None
    """The column an incremental load can follow (updated_at, or measured_at for append-only readings)."""

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def arrow_schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, ARROW_TYPES[c.type]) for c in self.columns])


@dataclass(frozen=True)
class Former:
    """A department as it was before the 2025 reorganisation; its name is still in files and documents."""

    code: str
    name_vi: str
    name_en: str


@dataclass(frozen=True)
class Department:
    """A provincial department (Sở) that owns one source system of the sandbox, named as it is
    after the 2025 reorganisation of the provincial departments."""

    name: str
    code: str
    name_vi: str
    name_en: str
    system_vi: str
    tables: tuple[str, ...]
    former: tuple[Former, ...] = ()
    """The departments merged into this one whose names the source's data may still carry."""


def _cols(spec: str) -> tuple[Column, ...]:
    out = []
    for item in spec.split(","):
        name, type_, *flags = item.split()
        out.append(Column(name, type_, required="optional" not in flags))
    return tuple(out)


TABLES: Mapping[str, TableSpec] = MappingProxyType(
    {
        "price_observations": TableSpec(
            "price_observations",
            _cols(
                "id INTEGER, item_code TEXT, item_name TEXT, unit TEXT, market_name TEXT, commune_code TEXT,"
                "commune_name TEXT, price REAL, observed_on TEXT, updated_at TEXT"
            ),
            key="id",
            cursor="updated_at",
        ),
        "schools": TableSpec(
            "schools",
            _cols(
                "school_code TEXT, name TEXT, level TEXT, address TEXT, commune_code TEXT, commune_name TEXT,"
                "pupils INTEGER, teachers INTEGER, updated_at TEXT"
            ),
            key="school_code",
            cursor="updated_at",
        ),
        "driving_licences": TableSpec(
            "driving_licences",
            _cols(
                "licence_no TEXT, citizen_id TEXT, full_name TEXT, birth_date TEXT, licence_class TEXT,"
                "issued_on TEXT, expires_on TEXT optional, commune_code TEXT, commune_name TEXT, updated_at TEXT"
            ),
            key="licence_no",
            cursor="updated_at",
        ),
        "env_readings": TableSpec(
            "env_readings",
            _cols(
                "reading_id BIGINT, station_code TEXT, parameter TEXT, value DOUBLE, limit_value DOUBLE,"
                "unit TEXT, measured_at TEXT"
            ),
            key="reading_id",
            cursor="measured_at",
        ),
        "env_stations": TableSpec(
            "env_stations",
            _cols(
                "station_code TEXT, station_name TEXT, kind TEXT, commune_name TEXT, latitude DOUBLE,"
                "longitude DOUBLE, installed_on TEXT"
            ),
            key="station_code",
            cursor=None,
        ),
        "ict_indicators": TableSpec(
            "ict_indicators",
            _cols(
                "indicator_id INTEGER, province TEXT, period TEXT, indicator_vi TEXT, indicator_en TEXT,"
                "value TEXT, unit TEXT, source_file TEXT, line INTEGER"
            ),
            key="indicator_id",
            cursor=None,
        ),
    }
)

DEPARTMENTS: Mapping[str, Department] = MappingProxyType(
    {
        "finance": Department(
            "finance", "STC", "Sở Tài chính", "Department of Finance", "CSDL Giá", ("price_observations",)
        ),
        "education": Department(
            "education",
            "SGDDT",
            "Sở Giáo dục và Đào tạo",
            "Department of Education and Training",
            "CSDL Giáo dục",
            ("schools",),
        ),
        "transport": Department(  # the transport department's register, now the construction department's
            "transport",
            "SXD",
            "Sở Xây dựng",
            "Department of Construction",
            "CSDL Giấy phép lái xe",
            ("driving_licences",),
            (Former("SGTVT", "Sở Giao thông vận tải", "Department of Transport"),),
        ),
        "environment": Department(
            "environment",
            "SNNMT",
            "Sở Nông nghiệp và Môi trường",
            "Department of Agriculture and Environment",
            "Hệ thống quan trắc môi trường tự động",
            ("env_readings", "env_stations"),
            (Former("STNMT", "Sở Tài nguyên và Môi trường", "Department of Natural Resources and Environment"),),
        ),
        "ict": Department(
            "ict",
            "SKHCN",
            "Sở Khoa học và Công nghệ",
            "Department of Science and Technology",
            "Báo cáo chỉ tiêu chuyển đổi số",
            ("ict_indicators",),
            (Former("STTTT", "Sở Thông tin và Truyền thông", "Department of Information and Communications"),),
        ),
    }
)
