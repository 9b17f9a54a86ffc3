"""SQL that turns raw source columns into the contract's types, NFC text included.

Staging applies it while the rows come in, so published data needs no second pass; a value that
does not fit its declared type becomes NULL there, and its raw text is kept beside it in
`__raw__<column>` for the quarantine.
"""

from __future__ import annotations

from lgsp.duck import quote
from schemas.contract import Column, ColumnType, Contract

RAW_PREFIX = "__raw__"
# Columns a connector adds for the hub itself: kept with the rows (published and quarantined) but
# never released or shared, because no contract declares them.
EXTRA = "_lgsp_extra"  # undeclared source fields, as JSON, under the `evolve` drift policy
ORIGIN = "_lgsp_origin"  # where a row came from, e.g. the file and line of a file drop
HUB_COLUMNS = (EXTRA, ORIGIN)

_NATIVE = {
    ColumnType.integer: {"BIGINT", "INTEGER", "SMALLINT", "TINYINT", "HUGEINT", "UBIGINT", "UINTEGER"},
    ColumnType.number: {"DOUBLE", "FLOAT", "REAL"},
    ColumnType.boolean: {"BOOLEAN"},
    ColumnType.date: {"DATE"},
    ColumnType.timestamp: {"TIMESTAMP", "TIMESTAMP WITH TIME ZONE"},
    ColumnType.string: {"VARCHAR"},
}


def needs_cast(column: Column, source_type: str) -> bool:
    """True when the source value must be cast (and may fail to cast) to the declared type."""
    return source_type.upper() not in _NATIVE[column.type]


def typed(column: Column, source_type: str) -> str:
    """Expression giving the column in its declared type (NULL where the raw value does not fit)."""
    ref = quote(column.name)
    if column.type is ColumnType.string:
        return f"nfc_normalize(CAST({ref} AS VARCHAR))"
    if column.type is ColumnType.timestamp and source_type.upper() == "TIMESTAMP WITH TIME ZONE":
        return f"CAST({ref} AS TIMESTAMP)"
    if not needs_cast(column, source_type):
        return ref
    if column.type is ColumnType.integer:
        # A cast would round 1.5 to 2: a value with a fraction does not fit an integer column.
        if source_type.upper() == "VARCHAR":
            text = f"trim({ref})"  # sources pad numbers with spaces
            return f"CASE WHEN regexp_full_match({text}, '[+-]?[0-9]+') THEN TRY_CAST({text} AS BIGINT) END"
        return f"CASE WHEN {ref} = trunc({ref}) THEN TRY_CAST({ref} AS BIGINT) END"
    if column.type is ColumnType.number:
        return f"TRY_CAST(trim(CAST({ref} AS VARCHAR)) AS {column.duckdb_type})"
    if column.type is ColumnType.timestamp and source_type.upper() == "VARCHAR":
        # Text from APIs and files may carry an offset (…+07:00): convert to UTC, don't drop it.
        return f"CAST(TRY_CAST(trim({ref}) AS TIMESTAMPTZ) AS TIMESTAMP)"
    return f"TRY_CAST({ref} AS {column.duckdb_type})"


def castable(contract: Contract, source_types: dict[str, str]) -> list[Column]:
    """Columns whose raw values can fail their declared type."""
    return [c for c in contract.columns if c.type is not ColumnType.string and needs_cast(c, source_types[c.name])]


def stage_select(contract: Contract, source_types: dict[str, str]) -> str:
    """Select list for the stage: typed columns, then the raw text of values that did not fit."""
    items = [f"{typed(c, source_types[c.name])} AS {quote(c.name)}" for c in contract.columns]
    for c in castable(contract, source_types):
        raw = quote(c.name)
        items.append(
            f"CASE WHEN {raw} IS NOT NULL AND {typed(c, source_types[c.name])} IS NULL "
            f"THEN CAST({raw} AS VARCHAR) END AS {quote(RAW_PREFIX + c.name)}"
        )
    items.extend(f"CAST({quote(h)} AS VARCHAR) AS {quote(h)}" for h in HUB_COLUMNS if h in source_types)
    return ", ".join(items)


def hub_columns(table_columns: list[str]) -> list[str]:
    return [c for c in HUB_COLUMNS if c in table_columns]


def raw_columns(table_columns: list[str]) -> list[str]:
    return [c for c in table_columns if c.startswith(RAW_PREFIX)]
