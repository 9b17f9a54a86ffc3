"""The dataset contract: one YAML file says everything the hub needs to know about a dataset."""

from __future__ import annotations

import re
import unicodedata
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

IDENTIFIER = r"^[a-z][a-z0-9_]*$"


class Model(BaseModel):
    """Strict base: unknown keys are an error, so a typo (or a pasted password) never passes."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _nfc(value: Any) -> Any:
    return unicodedata.normalize("NFC", value) if isinstance(value, str) else value


class Text(Model):
    """Bilingual text: Vietnamese first, English second."""

    vi: str = Field(min_length=1)
    en: str = Field(min_length=1)

    _normalise = field_validator("vi", "en", mode="before")(_nfc)


class Keywords(Model):
    vi: list[str] = Field(default_factory=list)
    en: list[str] = Field(default_factory=list)

    @field_validator("vi", "en", mode="before")
    @classmethod
    def _normalise(cls, value: Any) -> Any:
        return [_nfc(v) for v in value] if isinstance(value, list) else value


class Publisher(Model):
    """The department that owns the source system and answers for the dataset."""

    code: str = Field(pattern=r"^[A-Z][A-Z0-9_]*$", description="Short department code, e.g. STC.")
    name: Text
    email: str | None = Field(None, description="Contact point for questions about the data.")


class SourceKind(str, Enum):
    sql = "sql"


class Engine(str, Enum):
    """How a SQL source is read: DuckDB's scanners where they exist, SQLAlchemy elsewhere."""

    auto = "auto"
    duckdb = "duckdb"
    sqlalchemy = "sqlalchemy"


class Source(Model):
    """Where the rows come from. Credentials live in the named connection, never here."""

    kind: SourceKind = SourceKind.sql
    connection: str = Field(
        pattern=IDENTIFIER,
        description="Connection name, resolved from LGSP_CONN_<NAME> or the Airflow Connection lgsp_<name>.",
    )
    table: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    db_schema: str | None = Field(None, alias="schema", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    query: str | None = Field(None, description="A SELECT in the source's own SQL dialect.")
    engine: Engine = Engine.auto

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _table_or_query(self) -> Source:
        if (self.table is None) == (self.query is None):
            raise ValueError("give exactly one of 'table' or 'query'")
        if self.query is not None and not re.match(r"^\s*(select|with)\b", self.query, re.I):
            raise ValueError("query: must be a SELECT (or WITH … SELECT); the hub only reads sources")
        return self


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
    nullable: bool = True
    personal_data: PersonalData = PersonalData.none

    @property
    def duckdb_type(self) -> str:
        return DUCKDB_TYPES[self.type]


class Classification(str, Enum):
    open = "open"
    shared = "shared"
    restricted = "restricted"


class Licence(Model):
    id: str = Field(description="SPDX-style identifier, e.g. CC-BY-4.0.")
    title: str
    url: str


class Frequency(str, Enum):
    """Update frequency, named as in the EU frequency vocabulary used by DCAT-AP."""

    continuous = "continuous"
    hourly = "hourly"
    daily = "daily"
    weekly = "weekly"
    monthly = "monthly"
    quarterly = "quarterly"
    semiannual = "semiannual"
    annual = "annual"
    irregular = "irregular"


class Theme(str, Enum):
    """EU data themes (DCAT-AP)."""

    AGRI = "AGRI"
    ECON = "ECON"
    EDUC = "EDUC"
    ENER = "ENER"
    ENVI = "ENVI"
    GOVE = "GOVE"
    HEAL = "HEAL"
    INTR = "INTR"
    JUST = "JUST"
    REGI = "REGI"
    SOCI = "SOCI"
    TECH = "TECH"
    TRAN = "TRAN"


class Severity(str, Enum):
    """What a failed expectation does to the run."""

    error = "error"  # nothing of the run is published; the previous version stays live
    quarantine = "quarantine"  # failing rows go to quarantine.<dataset>; the rest is published
    warn = "warn"  # published and reported


class Expectation(Model):
    """A Great Expectations 1.x expectation, by its snake_case type name, and what failing it does."""

    type: str = Field(pattern=r"^expect_[a-z0-9_]+$", description="e.g. expect_column_values_to_be_between")
    kwargs: dict[str, Any] = Field(default_factory=dict)
    severity: Severity = Severity.quarantine
    description: str | None = None

    @property
    def columns(self) -> list[str]:
        """Columns this expectation reads."""
        found: list[str] = []
        for key in ("column", "column_A", "column_B"):
            if isinstance(self.kwargs.get(key), str):
                found.append(self.kwargs[key])
        for key in ("column_list",):
            if isinstance(self.kwargs.get(key), list):
                found.extend(str(c) for c in self.kwargs[key])
        return found


class Incremental(Model):
    """Pull only rows whose cursor column moved past the last published value."""

    cursor: str = Field(pattern=IDENTIFIER, description="Column that grows when a row changes.")


class Contract(Model):
    """A dataset contract."""

    id: str = Field(pattern=IDENTIFIER, max_length=63)
    title: Text
    description: Text
    publisher: Publisher
    source: Source
    primary_key: list[str] = Field(min_length=1)
    incremental: Incremental | None = None
    columns: list[Column] = Field(min_length=1)
    classification: Classification
    licence: Licence
    update_frequency: Frequency
    keywords: Keywords = Field(default_factory=Keywords)
    theme: list[Theme] = Field(min_length=1)
    schedule: str | None = Field(
        None, description="Airflow schedule: a cron expression or preset such as @daily; null for manual."
    )
    expectations: list[Expectation] = Field(default_factory=list)

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str | None) -> str | None:
        if value is None or value.startswith("@") or re.fullmatch(r"(\S+\s+){4}\S+", value):
            return value
        raise ValueError(f"'{value}' is neither a cron expression (5 fields) nor a preset like @daily")

    @model_validator(mode="after")
    def _references(self) -> Contract:
        names = [c.name for c in self.columns]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"columns: duplicate column names {duplicates}")
        known = set(names)
        for key in self.primary_key:
            if key not in known:
                raise ValueError(f"primary_key: '{key}' is not a declared column")
        if self.incremental and self.incremental.cursor not in known:
            raise ValueError(f"incremental.cursor: '{self.incremental.cursor}' is not a declared column")
        for i, expectation in enumerate(self.expectations):
            for column in expectation.columns:
                if column not in known:
                    raise ValueError(
                        f"expectations[{i}] ({expectation.type}): column '{column}' is not a declared column"
                    )
        return self

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    @property
    def personal_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.personal_data is not PersonalData.none]
