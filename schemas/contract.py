"""The dataset contract: one YAML file says everything the hub needs to know about a dataset."""

from __future__ import annotations

import re
import unicodedata
from enum import Enum
from typing import Annotated, Any, Literal

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
    former_names: list[Text] = Field(
        default_factory=list,
        description="Names the department had before a reorganisation (e.g. the departments merged in 2025), "
        "which its data and users may still use.",
    )


class SourceKind(str, Enum):
    sql = "sql"
    rest = "rest"
    files = "files"


class Engine(str, Enum):
    """How a SQL source is read: DuckDB's scanners where they exist, SQLAlchemy elsewhere."""

    auto = "auto"
    duckdb = "duckdb"
    sqlalchemy = "sqlalchemy"


def _connection() -> Any:
    return Field(
        pattern=IDENTIFIER,
        description="Connection name, resolved from LGSP_CONN_<NAME> or the Airflow Connection lgsp_<name>.",
    )


class SqlSource(Model):
    """A departmental database. Credentials live in the named connection, never here."""

    kind: Literal["sql"] = "sql"
    connection: str = _connection()
    table: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    db_schema: str | None = Field(None, alias="schema", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    query: str | None = Field(None, description="A SELECT in the source's own SQL dialect.")
    engine: Engine = Engine.auto

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _table_or_query(self) -> SqlSource:
        if (self.table is None) == (self.query is None):
            raise ValueError("give exactly one of 'table' or 'query'")
        if self.query is not None and not re.match(r"^\s*(select|with)\b", self.query, re.I):
            raise ValueError("query: must be a SELECT (or WITH … SELECT); the hub only reads sources")
        return self


class AuthType(str, Enum):
    oauth2 = "oauth2"  # client credentials: the connection's login and password are the client id and secret
    api_key = "api_key"  # the connection's password is the key
    none = "none"


class Auth(Model):
    """How the hub authenticates to an API; the secrets themselves come from the connection."""

    type: AuthType = AuthType.none
    token_path: str = Field(
        default="/oauth2/token", description="OAuth2 token endpoint, relative to the connection URL."
    )
    scope: str | None = None
    header: str = Field(default="X-API-Key", description="Header that carries the API key.")


class PagingStyle(str, Enum):
    page = "page"  # ?page=1&page_size=N
    offset = "offset"  # ?offset=0&limit=N
    cursor = "cursor"  # ?limit=N, then ?cursor=<next cursor from the body>
    link = "link"  # follow the Link: <...>; rel="next" header
    none = "none"  # one response holds everything


class Paging(Model):
    style: PagingStyle = PagingStyle.cursor
    page_size: int = Field(default=500, ge=1, le=100_000)
    page_param: str = "page"
    size_param: str = Field(default="page_size", description="Page-size parameter of the page style.")
    first_page: int = 1
    offset_param: str = "offset"
    limit_param: str = Field(default="limit", description="Page-size parameter of the offset, cursor and link styles.")
    cursor_param: str = "cursor"
    next_cursor: str = Field(default="next_cursor", description="Dotted path of the next cursor in the response body.")


class SchemaDrift(str, Enum):
    """What a run does when the source's fields differ from the contract's columns (always reported)."""

    evolve = "evolve"  # undeclared fields are kept, as JSON, in the hub-only column _lgsp_extra
    freeze = "freeze"  # any undeclared or missing field fails the run; nothing is published
    discard = "discard"  # undeclared fields are dropped; missing ones are null


class RestSource(Model):
    """A REST API, e.g. a national system reached through the national data-exchange platform."""

    kind: Literal["rest"]
    connection: str = _connection()
    path: str = Field(pattern=r"^/", description="Endpoint path, relative to the connection URL.")
    records: str = Field("data", description="Dotted path of the record list in the body; empty: the body is the list.")
    params: dict[str, str | int | float | bool] = Field(default_factory=dict, description="Fixed query parameters.")
    auth: Auth = Field(default_factory=Auth)
    paging: Paging = Field(default_factory=Paging)
    updated_since: str | None = Field(
        None, description="Query parameter for incremental pulls; it gets the last published cursor value."
    )
    lookback: int = Field(
        default=0,
        ge=0,
        le=7 * 86_400,
        description=(
            "Seconds an incremental pull reaches back before the last published cursor, for records the "
            "source makes visible late; records pulled again are merged by key."
        ),
    )
    rate_limit: float | None = Field(None, gt=0, description="At most this many requests per second.")
    timeout: float = Field(30, gt=0, description="Seconds to wait for a response.")
    retries: int = Field(6, ge=0, le=20, description="Retries of a failed request before the run fails.")
    schema_drift: SchemaDrift = SchemaDrift.evolve


class FileFormat(str, Enum):
    auto = "auto"
    csv = "csv"
    xlsx = "xlsx"


class Duplicates(str, Enum):
    latest = "latest"
    reject = "reject"


class FileSource(Model):
    """Files a department drops into its inbox folder (CSV or XLSX), read by Vietnamese conventions."""

    kind: Literal["files"]
    connection: str = Field(
        pattern=IDENTIFIER,
        description="Connection name of the department's inbox folder (a path or a file:// URL).",
    )
    pattern: list[str] = Field(["*.csv", "*.xlsx"], min_length=1, description="File-name patterns to ingest.")
    format: FileFormat = FileFormat.auto
    encoding: str | None = Field(None, description="utf-8, windows-1258, tcvn3 or vni; detected when not given.")
    delimiter: str | None = Field(
        None, min_length=1, max_length=1, description="CSV delimiter; sniffed when not given."
    )
    sheet: str | None = Field(None, description="XLSX sheet; the first when not given.")
    header_row: int = Field(
        1, ge=1, description="Line (CSV) or row (XLSX) of the column headers; title rows above it are skipped."
    )
    schema_drift: SchemaDrift = SchemaDrift.evolve
    duplicates: Duplicates = Field(
        Duplicates.latest,
        description="The same key in two submissions of one run: the newest submission's row wins (latest), "
        "or both rows are quarantined (reject). Twice in one file is always quarantined.",
    )


Source = Annotated[SqlSource | RestSource | FileSource, Field(discriminator="kind")]


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

    _aliases_nfc = field_validator("aliases", mode="before")(
        classmethod(lambda cls, v: [_nfc(a) for a in v] if isinstance(v, list) else v)
    )

    _normalise = field_validator("unit", mode="before")(_nfc)

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


class RefreshMode(str, Enum):
    AUTO = "auto"  # the source's way: a full pull replaces the dataset, file drops and incremental pulls merge
    MERGE = "merge"  # rows are merged by key: a run adds and updates rows, never removes them
    REPLACE = "replace"  # each run's rows are the whole dataset


class Refresh(Model):
    """How a run's rows become the dataset, and when a run must wait for a person instead."""

    mode: RefreshMode = RefreshMode.AUTO
    max_shrink: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="A run that would remove more than this share of the published rows (all of them, for an "
        "empty result) is held for review instead of published (lgsp review).",
    )


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
    refresh: Refresh = Field(default_factory=lambda: Refresh())

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str | None) -> str | None:
        if value is None or value.startswith("@") or re.fullmatch(r"(\S+\s+){4}\S+", value):
            return value
        raise ValueError(f"'{value}' is neither a cron expression (5 fields) nor a preset like @daily")

    @field_validator("source", mode="before")
    @classmethod
    def _sql_by_default(cls, value: Any) -> Any:
        if isinstance(value, dict) and "kind" not in value:
            return {**value, "kind": "sql"}
        return value

    @model_validator(mode="after")
    def _references(self) -> Contract:
        names = [c.name for c in self.columns]
        for column in self.columns:
            if column.source is not None and self.source.kind == "sql":
                raise ValueError(
                    f"columns.{column.name}.source: SQL sources name columns themselves; use a query with AS"
                )
            if column.qualifier_of is not None:
                if self.source.kind != "files":
                    raise ValueError(f"columns.{column.name}.qualifier_of: only file drops carry qualifiers")
                target = next((c for c in self.columns if c.name == column.qualifier_of), None)
                if target is None or target.type not in (ColumnType.number, ColumnType.integer):
                    raise ValueError(
                        f"columns.{column.name}.qualifier_of: '{column.qualifier_of}' is not a number column"
                    )
                if column.type is not ColumnType.string:
                    raise ValueError(f"columns.{column.name}.qualifier_of: a qualifier column must be a string")
            if (column.aliases or column.scale_words) and self.source.kind != "files":
                raise ValueError(f"columns.{column.name}: aliases and scale_words are for file drops")
            if column.scale_words and column.type not in (ColumnType.number, ColumnType.integer):
                raise ValueError(f"columns.{column.name}.scale_words: only number and integer columns have scale")
            if column.admin_unit is not None and column.type is not ColumnType.string:
                raise ValueError(f"columns.{column.name}.admin_unit: unit codes and names are strings")
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"columns: duplicate column names {duplicates}")
        known = set(names)
        for key in self.primary_key:
            if key not in known:
                raise ValueError(f"primary_key: '{key}' is not a declared column")
        if self.refresh.mode is RefreshMode.REPLACE and self.incremental:
            raise ValueError("refresh.mode: an incremental pull brings only changed rows, so it cannot replace")
        if self.incremental and self.incremental.cursor not in known:
            raise ValueError(f"incremental.cursor: '{self.incremental.cursor}' is not a declared column")
        if isinstance(self.source, RestSource) and self.source.lookback:
            cursor = self.column(self.incremental.cursor) if self.incremental else None
            if not self.source.updated_since or cursor is None or cursor.type is not ColumnType.timestamp:
                raise ValueError(
                    "source.lookback: reaching back needs `updated_since` and an incremental cursor of type timestamp"
                )
        for i, expectation in enumerate(self.expectations):
            for name in expectation.columns:
                if name not in known:
                    raise ValueError(
                        f"expectations[{i}] ({expectation.type}): column '{name}' is not a declared column"
                    )
        return self

    def merges(self, full_each_run: bool) -> bool:
        """Whether a run's rows are merged by key into the published ones (else they replace them)."""
        if self.refresh.mode is RefreshMode.AUTO:
            return not full_each_run or self.incremental is not None
        return self.refresh.mode is RefreshMode.MERGE

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    @property
    def personal_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.personal_data is not PersonalData.none]
