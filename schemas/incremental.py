"""Incremental pulls: the cursor that says which rows changed, and how rows deleted at the source
leave the published dataset (a soft-delete column, a diff of the source's keys, or tombstones)."""

from __future__ import annotations

import re
from enum import Enum

from pydantic import ConfigDict, Field, model_validator

from lgsp.schemas.base import IDENTIFIER, SOURCE_NAME, Model


class DeleteMode(str, Enum):
    """How a deletion at the source reaches the dataset."""

    soft_delete = "soft_delete"  # the source marks a deleted row; it arrives through the cursor like any change
    key_diff = "key_diff"  # each run also reads the source's keys: a published key that is gone is deleted
    tombstones = "tombstones"  # the source lists deleted keys in a table or query of their own, with a cursor


class DeletedWhen(str, Enum):
    not_null = "not_null"  # e.g. deleted_at holds a time
    true = "true"  # e.g. is_deleted is true (1, t, yes)


class TombstoneCursor(str, Enum):
    """The type the tombstones' cursor is compared in."""

    timestamp = "timestamp"
    date = "date"
    integer = "integer"
    string = "string"


class Deletes(Model):
    """How rows deleted at the source are removed from the published dataset by incremental runs."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    mode: DeleteMode = Field(description="soft_delete, key_diff or tombstones.")
    column: str | None = Field(
        None,
        pattern=SOURCE_NAME,
        description="soft_delete: the source column that marks a deleted row (need not be a declared column, "
        "and is not published unless declared).",
    )
    when: DeletedWhen | None = Field(
        None, description="soft_delete: a row is deleted when `column` is not_null (the default) or true."
    )
    table: str | None = Field(
        None,
        pattern=SOURCE_NAME,
        description="tombstones: the source table listing deleted keys (under the primary key's column names).",
    )
    db_schema: str | None = Field(
        None, alias="schema", pattern=SOURCE_NAME, description="tombstones: the table's schema."
    )
    query: str | None = Field(
        None,
        description="tombstones: a SELECT in the source's dialect giving the primary key's columns and `cursor` "
        "(instead of `table`).",
    )
    cursor: str | None = Field(
        None,
        pattern=SOURCE_NAME,
        description="tombstones: the column that grows with each deletion (e.g. deleted_at); each run reads "
        "tombstones at or past the last one it applied.",
    )
    cursor_type: TombstoneCursor | None = Field(
        None, description="tombstones: the type `cursor` is compared in (default timestamp)."
    )

    @model_validator(mode="after")
    def _fields_of_the_mode(self) -> Deletes:
        given = {
            name
            for name in ("column", "when", "table", "db_schema", "query", "cursor", "cursor_type")
            if getattr(self, name) is not None
        }
        allowed = {
            DeleteMode.soft_delete: {"column", "when"},
            DeleteMode.key_diff: set(),
            DeleteMode.tombstones: {"table", "db_schema", "query", "cursor", "cursor_type"},
        }[self.mode]
        stray = sorted(given - allowed)
        if stray:
            names = ", ".join("schema" if s == "db_schema" else s for s in stray)
            raise ValueError(f"mode {self.mode.value} takes no {names}")
        if self.mode is DeleteMode.soft_delete and self.column is None:
            raise ValueError("mode soft_delete needs `column`: the source column that marks a deleted row")
        if self.mode is DeleteMode.tombstones:
            if (self.table is None) == (self.query is None):
                raise ValueError("mode tombstones needs exactly one of `table` or `query`")
            if self.query is not None and not re.match(r"^\s*(select|with)\b", self.query, re.I):
                raise ValueError("query: must be a SELECT (or WITH … SELECT); the hub only reads sources")
            if self.cursor is None:
                raise ValueError("mode tombstones needs `cursor`: the tombstones' column that grows with each deletion")
        return self

    @property
    def deleted_when(self) -> DeletedWhen:
        return self.when or DeletedWhen.not_null

    @property
    def tombstone_cursor_type(self) -> TombstoneCursor:
        return self.cursor_type or TombstoneCursor.timestamp


class Incremental(Model):
    """Pull only rows whose cursor column moved past the last published value."""

    cursor: str = Field(pattern=IDENTIFIER, description="Column that grows when a row changes.")
    deletes: Deletes | None = Field(
        None,
        description="How rows deleted at the source leave the dataset; without it an incremental run never "
        "removes a row.",
    )
