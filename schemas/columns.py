"""A dataset's columns: their types, personal-data classes, administrative units and roles."""

from __future__ import annotations

from enum import Enum

from pydantic import Field, field_validator

from lgsp.schemas.base import IDENTIFIER, Model, Text, _nfc
from lgsp.schemas.roles import ColumnRole, MinimumWhen, Reference


class ColumnType(str, Enum):
    string = "string"
    integer = "integer"
    number = "number"
    boolean = "boolean"
    date = "date"
    timestamp = "timestamp"


DUCKDB_TYPES: dict[ColumnType, str] = {
    ColumnType.string: "VARCHAR",
    ColumnType.integer: "BIGINT",
    ColumnType.number: "DOUBLE",
    ColumnType.boolean: "BOOLEAN",
    ColumnType.date: "DATE",
    ColumnType.timestamp: "TIMESTAMP",
}


class PersonalData(str, Enum):
    """Class under the Personal Data Protection Law 91/2025/QH15."""

    none = "none"
    basic = "basic"
    sensitive = "sensitive"


class UnitLevel(str, Enum):
    province = "province"
    ward = "ward"  # wards, communes and special zones: the level below the province since July 2025


class UnitMatch(str, Enum):
    code = "code"
    name = "name"


class AdminUnit(Model):
    """Standardise a column to the current administrative units of the national catalogue.

    Since the July 2025 merger, sources still carry pre-2025 codes and names (and spelling
    variants); the hub maps each to the unit it became. What cannot be mapped is quarantined.
    """

    level: UnitLevel = UnitLevel.ward
    match: UnitMatch = Field(UnitMatch.name, description="Whether the column holds unit codes or names.")
    province: str | None = Field(
        None, description="Only units of this province (name or code); default: the hub's province (LGSP_PROVINCE)."
    )
    catalogue: str = Field("admin_units", pattern=IDENTIFIER, description="Dataset holding the units catalogue.")


RESERVED = ("rowid",)  # DuckDB's row id; the hub identifies staged rows by it


class Column(Model):
    name: str = Field(pattern=IDENTIFIER)

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value in RESERVED or value.startswith(("__raw__", "_lgsp")):
            raise ValueError(f"'{value}' is reserved by the hub; rename it with a query source")
        return value

    type: ColumnType
    description: Text
    unit: str | None = Field(
        None, min_length=1, description="Unit of the values, e.g. đồng, %, µg/m³ (shown in submission templates)."
    )
    nullable: bool = True
    personal_data: PersonalData = PersonalData.none
    source: str | None = Field(
        None,
        min_length=1,
        description="Where the value comes from when not under the column's name: a dotted JSON path "
        "(address.ward_code) for APIs, a header for files.",
    )
    qualifier_of: str | None = Field(
        None,
        pattern=IDENTIFIER,
        description="File drops: this column receives the qualifier (hơn, gần, khoảng, ước…) written before "
        "the named number column's values.",
    )
    admin_unit: AdminUnit | None = Field(
        None,
        description="The column names an administrative unit: legacy names and codes are mapped to the current unit.",
    )
    aliases: list[str] = Field(
        default_factory=list,
        description="File drops: other headers departments use for this column (matched like the header: "
        "without case, diacritics or spacing).",
    )
    scale_words: bool = Field(
        False,
        description="File drops: numbers may carry words of scale (nghìn/ngàn, triệu/tr, tỷ/tỉ), read exactly "
        "(`1,2 triệu` → 1200000); without it such a cell is quarantined.",
    )
    role: ColumnRole | None = Field(
        None, description="What the column means to maps and charts: latitude, longitude, label or limit."
    )
    references: Reference | None = Field(None, description="The values are keys of another dataset's column.")
    minimum_when: MinimumWhen | None = Field(
        None,
        description="For a limit: the rows whose limit is a minimum (a value below it breaks the rule), "
        "e.g. {column: parameter, values: [DO]}; other rows' limit is a maximum.",
    )
    labels: dict[str, Text] = Field(
        default_factory=dict,
        description="For a text column of codes: what each value means, in Vietnamese and English "
        "(e.g. {air: {vi: Không khí, en: Air}}), shown by the portal instead of the code.",
    )

    _aliases_nfc = field_validator("aliases", mode="before")(
        classmethod(lambda cls, v: [_nfc(a) for a in v] if isinstance(v, list) else v)
    )

    _normalise = field_validator("unit", mode="before")(_nfc)

    @property
    def duckdb_type(self) -> str:
        return DUCKDB_TYPES[self.type]
