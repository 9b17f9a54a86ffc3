"""The dataset contract: one YAML file says everything the hub needs to know about a dataset."""

from __future__ import annotations

import re
from enum import Enum
from typing import Any

from pydantic import Field, field_validator, model_validator

from lgsp.schemas.base import IDENTIFIER, Keywords, Model, Text
from lgsp.schemas.columns import (
    Column,
    ColumnType,
    PersonalData,
)
from lgsp.schemas.incremental import DeletedWhen, DeleteMode, Deletes, Incremental
from lgsp.schemas.roles import NUMERIC_ROLES, ColumnRole, MinimumWhen, Reference
from lgsp.schemas.sources import (
    Auth,
    AuthType,
    DerivedIncremental,
    DerivedSource,
    Duplicates,
    Engine,
    FileFormat,
    FileSource,
    Paging,
    PagingStyle,
    RestSource,
    SchemaDrift,
    Source,
    SourceKind,
    SqlSource,
)


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
            if column.source is not None and self.source.kind in ("sql", "derived"):
                raise ValueError(
                    f"columns.{column.name}.source: SQL sources name columns themselves; use AS in the SQL"
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
            if column.role in NUMERIC_ROLES and column.type is not ColumnType.number:
                raise ValueError(f"columns.{column.name}.role: a {column.role.value} is a number column")
            if column.labels and column.type is not ColumnType.string:
                raise ValueError(f"columns.{column.name}.labels: only a text column's values have labels")
            if column.minimum_when is not None:
                if column.role is not ColumnRole.limit:
                    raise ValueError(f"columns.{column.name}.minimum_when: only a column with role limit has one")
                target = next((c for c in self.columns if c.name == column.minimum_when.column), None)
                if target is None or target.type is not ColumnType.string:
                    raise ValueError(
                        f"columns.{column.name}.minimum_when.column: '{column.minimum_when.column}' is not a text "
                        "column of this dataset"
                    )
        roles = [c.role for c in self.columns if c.role is not None]
        if len(roles) != len(set(roles)):
            raise ValueError("columns: each role (latitude, longitude, label, limit) belongs to one column at most")
        if (ColumnRole.latitude in roles) != (ColumnRole.longitude in roles):
            raise ValueError("columns: a latitude needs a longitude, and a longitude a latitude")
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
        if self.incremental and self.incremental.deletes:
            self._check_deletes(self.incremental.deletes)
        if isinstance(self.source, DerivedSource):
            if self.incremental:
                raise ValueError("incremental: a derived dataset is recomputed in full from its inputs")
            if self.schedule:
                raise ValueError("schedule: a derived dataset runs when any of its inputs publishes, on no schedule")
            if self.id in self.source.inputs:
                raise ValueError(f"source.inputs: '{self.id}' cannot be computed from itself")
            keys = self.source.incremental.keys if self.source.incremental else None
            if keys is not None and sorted(keys) != sorted(self.primary_key):
                raise ValueError(
                    f"source.incremental.keys: {sorted(keys)} must be exactly the primary key {sorted(self.primary_key)}"
                )
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

    def _check_deletes(self, deletes: Deletes) -> None:
        """Deletions reach a dataset that merges by key, from a source that can say what was deleted."""
        if self.source.kind != "sql":
            raise ValueError(
                f"incremental.deletes: deletions are read from SQL sources only, not from a {self.source.kind} source"
            )
        if self.refresh.mode is RefreshMode.REPLACE:
            raise ValueError("incremental.deletes: a dataset each run replaces needs no deletions")
        if deletes.mode is DeleteMode.soft_delete:
            column = next((c for c in self.columns if c.name == deletes.column), None)
            if column is not None and column.name in self.primary_key:
                raise ValueError(f"incremental.deletes.column: '{column.name}' is a primary-key column")
            if column is not None and column.name == self.incremental.cursor:  # type: ignore[union-attr]
                raise ValueError(f"incremental.deletes.column: '{column.name}' is the cursor")
            if column is not None and column.type is ColumnType.boolean and deletes.when is not DeletedWhen.true:
                raise ValueError(
                    f"incremental.deletes.when: '{column.name}' is a boolean column; say `when: true` (a false "
                    "value is not null, so `not_null` would delete every row)"
                )

    def merges(self, full_each_run: bool) -> bool:
        """Whether a run's rows are merged by key into the published ones (else they replace them)."""
        if self.refresh.mode is RefreshMode.AUTO:
            return not full_each_run or self.incremental is not None
        return self.refresh.mode is RefreshMode.MERGE

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    def with_role(self, role: ColumnRole) -> Column | None:
        return next((c for c in self.columns if c.role is role), None)

    @property
    def personal_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.personal_data is not PersonalData.none]


__all__ = [  # the contract's parts, importable from here as before the split
    "IDENTIFIER",
    "Auth",
    "AuthType",
    "ColumnRole",
    "DeleteMode",
    "DeletedWhen",
    "Deletes",
    "DerivedIncremental",
    "DerivedSource",
    "Duplicates",
    "Engine",
    "FileFormat",
    "FileSource",
    "Incremental",
    "Keywords",
    "MinimumWhen",
    "Model",
    "Paging",
    "PagingStyle",
    "Reference",
    "RestSource",
    "SchemaDrift",
    "Source",
    "SourceKind",
    "SqlSource",
    "Text",
]  # fmt: skip
